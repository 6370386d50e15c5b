package auth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"

	"github.com/hookd/hookd/hooks"
	"github.com/hookd/hookd/internal/store"
)

// Actions a permission can grant.
var permissionActions = []string{"create", "read", "update", "delete"}

type permKey struct{ role, collection, action string }

// permCache caches permissions per (role, collection, action), including
// the absence of one. Entries are only stored and served while the LISTEN
// connection is up, and a fill that raced with an invalidation is dropped
// (generation check), so the cache never serves a permission older than the
// last change it was told about.
type permCache struct {
	mu        sync.Mutex
	gen       uint64
	listening bool
	entries   map[permKey]*hooks.Permission
}

func newPermCache() *permCache { return &permCache{entries: map[permKey]*hooks.Permission{}} }

// get returns a cached entry and the generation to fill with on a miss.
func (c *permCache) get(k permKey) (p *hooks.Permission, hit bool, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.listening {
		return nil, false, c.gen
	}
	p, hit = c.entries[k]
	return p, hit, c.gen
}

func (c *permCache) put(k permKey, p *hooks.Permission, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.listening && gen == c.gen {
		c.entries[k] = p
	}
}

func (c *permCache) invalidate() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	clear(c.entries)
}

func (c *permCache) setListening(on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.listening = on
	c.gen++
	clear(c.entries)
}

// Permission returns the permission of acc's role (the public role when
// acc.Role is "") for action on collection, or nil when there is none. Admins
// (and system access, nil) get every field of every item. The result is the
// caller's to modify.
func (s *Service) Permission(ctx context.Context, acc *hooks.Accountability, collection, action string) (*hooks.Permission, error) {
	if acc == nil || acc.Admin {
		role := ""
		if acc != nil {
			role = acc.Role
		}
		return &hooks.Permission{Role: role, Collection: collection, Action: action, Fields: []string{"*"}}, nil
	}
	key := permKey{role: acc.Role, collection: collection, action: action}
	p, hit, gen := s.perms.get(key)
	if hit {
		return clonePermission(p), nil
	}
	var role *string
	if acc.Role != "" {
		role = &acc.Role
	}
	row, err := store.PermissionFind(ctx, s.pool, role, collection, action)
	switch {
	case errors.Is(err, store.ErrNotFound):
		p = nil
	case err != nil:
		return nil, fmt.Errorf("reading permission %s/%s for role %q: %w", collection, action, acc.Role, err)
	default:
		p = toHooksPermission(row)
	}
	s.perms.put(key, p, gen)
	return clonePermission(p), nil
}

func toHooksPermission(p *store.Permission) *hooks.Permission {
	hp := &hooks.Permission{Collection: p.Collection, Action: p.Action, Permissions: p.Permissions,
		Validation: p.Validation, Presets: p.Presets, Fields: p.Fields}
	if p.Role != nil {
		hp.Role = *p.Role
	}
	return hp
}

func clonePermission(p *hooks.Permission) *hooks.Permission {
	if p == nil {
		return nil
	}
	c := *p
	c.Permissions = cloneMap(p.Permissions)
	c.Validation = cloneMap(p.Validation)
	c.Presets = cloneMap(p.Presets)
	c.Fields = slices.Clone(p.Fields)
	return &c
}

func cloneMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = cloneValue(v)
	}
	return out
}

func cloneValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		return cloneMap(v)
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = cloneValue(e)
		}
		return out
	}
	return v
}

// PermissionItem is a permission in Directus's shape.
func PermissionItem(p *store.Permission) hooks.Item {
	item := hooks.Item{"id": p.ID, "role": nil, "collection": p.Collection, "action": p.Action,
		"permissions": nilIfEmptyMap(p.Permissions), "validation": nilIfEmptyMap(p.Validation),
		"presets": nilIfEmptyMap(p.Presets), "fields": nil}
	if p.Role != nil {
		item["role"] = *p.Role
	}
	if p.Fields != nil {
		item["fields"] = p.Fields
	}
	return item
}

func nilIfEmptyMap(m map[string]any) any {
	if m == nil {
		return nil
	}
	return m
}

// parsePermissionKey reads a permission id.
func parsePermissionKey(key string) (int64, bool) {
	id, err := strconv.ParseInt(key, 10, 64)
	return id, err == nil && id > 0
}

// permissionPatch reads a permission payload. On create, collection and
// action are required and fields default to all ("*").
func permissionPatch(payload any, create bool) (*store.PermissionPatch, error) {
	m, err := payloadObject(payload)
	if err != nil {
		return nil, err
	}
	p := &store.PermissionPatch{}
	for k, v := range m {
		switch k {
		case "id":
			if create {
				return nil, hooks.InvalidPayload(`"id" is generated and can't be set`)
			}
			return nil, hooks.InvalidPayload(`"id" can't be changed`)
		case "role":
			role, err := optionalUUID(k, v)
			if err != nil {
				return nil, err
			}
			p.Role = store.To(role)
		case "collection":
			c, ok := v.(string)
			if !ok || c == "" {
				return nil, hooks.InvalidPayload(`"collection" must be a non-empty string`)
			}
			p.Collection = store.To(c)
		case "action":
			a, ok := v.(string)
			if !ok || !slices.Contains(permissionActions, a) {
				return nil, hooks.InvalidPayload(`"action" must be one of create, read, update, delete`)
			}
			p.Action = store.To(a)
		case "permissions", "validation", "presets":
			obj, err := optionalObject(k, v)
			if err != nil {
				return nil, err
			}
			switch k {
			case "permissions":
				p.Permissions = store.To(obj)
			case "validation":
				p.Validation = store.To(obj)
			default:
				p.Presets = store.To(obj)
			}
		case "fields":
			fields, err := fieldList(v)
			if err != nil {
				return nil, err
			}
			p.Fields = store.To(fields)
		default:
			return nil, hooks.InvalidPayload(fmt.Sprintf("%q is not a field of directus_permissions", k))
		}
	}
	if create {
		if !p.Collection.Set {
			return nil, hooks.InvalidPayload(`"collection" is required`)
		}
		if !p.Action.Set {
			return nil, hooks.InvalidPayload(`"action" is required`)
		}
		if !p.Fields.Set {
			p.Fields = store.To([]string{"*"})
		}
	}
	return p, nil
}

// fieldList reads `fields` as an array of names or a comma-separated string
// (both forms appear in Directus payloads); null = no fields.
func fieldList(v any) ([]string, error) {
	switch v := v.(type) {
	case nil:
		return nil, nil
	case string:
		var out []string
		for _, f := range strings.Split(v, ",") {
			if f = strings.TrimSpace(f); f != "" {
				out = append(out, f)
			}
		}
		return out, nil
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			f, ok := e.(string)
			if !ok || f == "" {
				return nil, hooks.InvalidPayload(`"fields" must be an array of field names`)
			}
			out = append(out, f)
		}
		return out, nil
	case []string:
		return v, nil
	}
	return nil, hooks.InvalidPayload(`"fields" must be an array of field names`)
}

func permissionFromPatch(p *store.PermissionPatch) *store.Permission {
	return &store.Permission{Role: p.Role.Value, Collection: p.Collection.Value, Action: p.Action.Value,
		Permissions: p.Permissions.Value, Validation: p.Validation.Value, Presets: p.Presets.Value,
		Fields: p.Fields.Value}
}

// permissionWrite runs a permission write and drops this instance's cache.
func (s *Service) permissionWrite(ctx context.Context, fn func(tx pgx.Tx) error) error {
	err := s.inEventTx(ctx, fn)
	// Committed or not, this instance's cache must not outlive the change;
	// the trigger's NOTIFY tells the other instances.
	s.perms.invalidate()
	return err
}

// PermissionCreateMany creates permissions; one filter and one action per
// item.
func (s *Service) PermissionCreateMany(ctx context.Context, acc *hooks.Accountability, payloads []map[string]any) ([]hooks.Item, error) {
	if err := requireAdmin(acc); err != nil {
		return nil, err
	}
	var out []hooks.Item
	err := s.permissionWrite(ctx, func(tx pgx.Tx) error {
		out = out[:0]
		for _, payload := range payloads {
			changes, err := s.writeTx(ctx, tx, &write{scope: "permissions", action: "create",
				collection: "directus_permissions", acc: acc, payload: payload,
				apply: func(payload any) ([]change, error) {
					patch, err := permissionPatch(payload, true)
					if err != nil {
						return nil, err
					}
					p, err := store.PermissionInsert(ctx, tx, permissionFromPatch(patch))
					if err != nil {
						return nil, err
					}
					return []change{{key: p.ID, data: PermissionItem(p)}}, nil
				}})
			if err != nil {
				return err
			}
			out = append(out, changes[0].data)
		}
		return nil
	})
	return out, err
}

// PermissionUpdateMany applies one partial payload to permissions by id;
// one filter and one action for the call.
func (s *Service) PermissionUpdateMany(ctx context.Context, acc *hooks.Accountability, keys []string, payload map[string]any) ([]hooks.Item, error) {
	if err := requireAdmin(acc); err != nil {
		return nil, err
	}
	ids, err := permissionResource.ids(keys)
	if err != nil {
		return nil, err
	}
	var out []hooks.Item
	err = s.permissionWrite(ctx, func(tx pgx.Tx) error {
		changes, err := s.writeTx(ctx, tx, &write{scope: "permissions", action: "update",
			collection: "directus_permissions", acc: acc, payload: payload, keys: anyKeys(ids),
			apply: func(payload any) ([]change, error) {
				patch, err := permissionPatch(payload, false)
				if err != nil {
					return nil, err
				}
				return permissionResource.updateChanges(ids,
					func(id int64) (*store.Permission, error) { return store.PermissionByID(ctx, tx, id) },
					func(id int64) (*store.Permission, error) { return store.PermissionUpdate(ctx, tx, id, patch) })
			}})
		out = dataOf(changes)
		return err
	})
	return out, err
}

// PermissionDeleteMany deletes permissions by id.
func (s *Service) PermissionDeleteMany(ctx context.Context, acc *hooks.Accountability, keys []string) error {
	if err := requireAdmin(acc); err != nil {
		return err
	}
	ids, err := permissionResource.ids(keys)
	if err != nil {
		return err
	}
	return s.permissionWrite(ctx, func(tx pgx.Tx) error {
		_, err := s.writeTx(ctx, tx, &write{scope: "permissions", action: "delete",
			collection: "directus_permissions", acc: acc, payload: anyKeys(ids), keys: anyKeys(ids),
			apply: func(any) ([]change, error) { return permissionResource.deleteChanges(ctx, tx, ids) }})
		return err
	})
}

// PermissionRead returns one permission.
func (s *Service) PermissionRead(ctx context.Context, acc *hooks.Accountability, key string) (hooks.Item, error) {
	return permissionResource.read(ctx, s.pool, acc, key)
}

// PermissionList lists permissions.
func (s *Service) PermissionList(ctx context.Context, acc *hooks.Accountability, lp *ListParams) ([]hooks.Item, map[string]any, error) {
	return permissionResource.listItems(ctx, s.pool, acc, lp)
}

func anyKeys[T any](keys []T) []any {
	out := make([]any, len(keys))
	for i, k := range keys {
		out[i] = k
	}
	return out
}

func dataOf(changes []change) []hooks.Item {
	out := make([]hooks.Item, len(changes))
	for i, c := range changes {
		out[i] = c.data
	}
	return out
}
