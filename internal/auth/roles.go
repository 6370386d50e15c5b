package auth

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/hookd/hookd/hooks"
	"github.com/hookd/hookd/internal/store"
)

// RoleItem is a role in Directus's shape.
func RoleItem(r *store.Role) hooks.Item {
	return hooks.Item{"id": r.ID, "name": r.Name, "icon": r.Icon, "description": deref(r.Description),
		"admin_access": r.AdminAccess, "app_access": r.AppAccess}
}

func rolePatch(payload any, create bool) (*store.RolePatch, *string, error) {
	m, err := payloadObject(payload)
	if err != nil {
		return nil, nil, err
	}
	p := &store.RolePatch{}
	var id *string
	for k, v := range m {
		switch k {
		case "id":
			if !create {
				return nil, nil, hooks.InvalidPayload(`"id" can't be changed`)
			}
			if id, err = optionalUUID(k, v); err != nil {
				return nil, nil, err
			}
		case "name":
			name, err := requiredString(k, v)
			if err != nil {
				return nil, nil, err
			}
			p.Name = store.To(name)
		case "icon":
			icon, err := requiredString(k, v)
			if err != nil {
				return nil, nil, err
			}
			p.Icon = store.To(icon)
		case "description":
			d, err := optionalString(k, v)
			if err != nil {
				return nil, nil, err
			}
			p.Description = store.To(d)
		case "admin_access", "app_access":
			b, err := boolean(k, v)
			if err != nil {
				return nil, nil, err
			}
			if k == "admin_access" {
				p.AdminAccess = store.To(b)
			} else {
				p.AppAccess = store.To(b)
			}
		default:
			return nil, nil, hooks.InvalidPayload(fmt.Sprintf("%q is not a field of directus_roles", k))
		}
	}
	if create && !p.Name.Set {
		return nil, nil, hooks.InvalidPayload(`"name" is required`)
	}
	return p, id, nil
}

// RoleCreateMany creates roles (one filter and one action per role).
func (s *Service) RoleCreateMany(ctx context.Context, acc *hooks.Accountability, payloads []map[string]any) ([]hooks.Item, error) {
	if err := requireAdmin(acc); err != nil {
		return nil, err
	}
	var out []hooks.Item
	err := s.inEventTx(ctx, func(tx pgx.Tx) error {
		if _, err := lockAdmins(ctx, tx); err != nil {
			return err
		}
		out = out[:0]
		for _, payload := range payloads {
			item, err := s.roleCreateTx(ctx, tx, acc, payload)
			if err != nil {
				return err
			}
			out = append(out, item)
		}
		return nil
	})
	return out, err
}

func (s *Service) roleCreateTx(ctx context.Context, tx pgx.Tx, acc *hooks.Accountability, payload map[string]any) (hooks.Item, error) {
	changes, err := s.writeTx(ctx, tx, &write{scope: "roles", action: "create", collection: "directus_roles",
		acc: acc, payload: payload,
		apply: func(payload any) ([]change, error) {
			p, id, err := rolePatch(payload, true)
			if err != nil {
				return nil, err
			}
			params := &store.RoleInsertParams{ID: id, Name: p.Name.Value, Description: p.Description.Value}
			if p.Icon.Set {
				params.Icon = &p.Icon.Value
			}
			if p.AdminAccess.Set {
				params.AdminAccess = &p.AdminAccess.Value
			}
			if p.AppAccess.Set {
				params.AppAccess = &p.AppAccess.Value
			}
			r, err := store.RoleInsert(ctx, tx, params)
			if err != nil {
				return nil, err
			}
			return []change{{key: r.ID, data: RoleItem(r)}}, nil
		}})
	if err != nil {
		return nil, err
	}
	return changes[0].data, nil
}

// RoleUpdateMany applies one partial payload to roles by id.
func (s *Service) RoleUpdateMany(ctx context.Context, acc *hooks.Accountability, keys []string, payload map[string]any) ([]hooks.Item, error) {
	if err := requireAdmin(acc); err != nil {
		return nil, err
	}
	ids, err := roleResource.ids(keys)
	if err != nil {
		return nil, err
	}
	var out []hooks.Item
	err = s.inEventTx(ctx, func(tx pgx.Tx) error {
		changes, err := s.writeKeepingAdminTx(ctx, tx, &write{scope: "roles", action: "update", collection: "directus_roles",
			acc: acc, payload: payload, keys: anyKeys(ids),
			apply: func(payload any) ([]change, error) {
				p, _, err := rolePatch(payload, false)
				if err != nil {
					return nil, err
				}
				return roleResource.updateChanges(ids,
					func(id string) (*store.Role, error) { return store.RoleByID(ctx, tx, id) },
					func(id string) (*store.Role, error) { return store.RoleUpdate(ctx, tx, id, p) })
			}})
		if err != nil {
			return err
		}
		out = dataOf(changes)
		return nil
	})
	return out, err
}

// RoleDeleteMany deletes roles: their users keep existing without a role
// (public permissions), their permissions are deleted.
func (s *Service) RoleDeleteMany(ctx context.Context, acc *hooks.Accountability, keys []string) error {
	if err := requireAdmin(acc); err != nil {
		return err
	}
	ids, err := roleResource.ids(keys)
	if err != nil {
		return err
	}
	// Deleting a role cascades to its permissions.
	return s.permissionWrite(ctx, func(tx pgx.Tx) error {
		_, err := s.writeKeepingAdminTx(ctx, tx, &write{scope: "roles", action: "delete", collection: "directus_roles",
			acc: acc, payload: anyKeys(ids), keys: anyKeys(ids),
			apply: func(any) ([]change, error) { return roleResource.deleteChanges(ctx, tx, ids) }})
		return err
	})
}

// RoleRead returns one role.
func (s *Service) RoleRead(ctx context.Context, acc *hooks.Accountability, key string) (hooks.Item, error) {
	return roleResource.read(ctx, s.pool, acc, key)
}

// RoleList lists roles.
func (s *Service) RoleList(ctx context.Context, acc *hooks.Accountability, lp *ListParams) ([]hooks.Item, map[string]any, error) {
	return roleResource.listItems(ctx, s.pool, acc, lp)
}
