package auth

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/hookd/hookd/hooks"
	"github.com/hookd/hookd/internal/store"
)

// resource describes one of the system collections the service manages
// (users, roles, permissions), so that key parsing, reads, lists and
// deletes are written once for all three.
type resource[K any, R any] struct {
	// noun names a record in errors ("user 1234: not found").
	noun     string
	parseKey func(string) (K, bool)
	byID     func(context.Context, store.Querier, K) (R, error)
	list     func(ctx context.Context, q store.Querier, limit *int, offset int) ([]R, error)
	remove   func(context.Context, store.Querier, K) (R, error)
	item     func(R) hooks.Item
}

var (
	userResource = resource[string, *store.User]{noun: "user", parseKey: parseUUIDKey,
		byID: store.UserByID, list: store.UserList, remove: store.UserDelete, item: UserItem}
	roleResource = resource[string, *store.Role]{noun: "role", parseKey: parseUUIDKey,
		byID: store.RoleByID, list: store.RoleList, remove: store.RoleDelete, item: RoleItem}
	permissionResource = resource[int64, *store.Permission]{noun: "permission", parseKey: parsePermissionKey,
		byID: store.PermissionByID, list: store.PermissionList, remove: store.PermissionDelete, item: PermissionItem}
)

// ids parses the keys of a write; a malformed key answers like a missing
// record.
func (r resource[K, R]) ids(keys []string) ([]K, error) {
	if len(keys) == 0 {
		return nil, hooks.InvalidPayload(`"keys" must list at least one key`)
	}
	ids := make([]K, len(keys))
	for i, k := range keys {
		id, ok := r.parseKey(k)
		if !ok {
			return nil, fmt.Errorf("%s %q: %w", r.noun, k, store.ErrNotFound)
		}
		ids[i] = id
	}
	return ids, nil
}

// read returns one record (admins only).
func (r resource[K, R]) read(ctx context.Context, q store.Querier, acc *hooks.Accountability, key string) (hooks.Item, error) {
	if err := requireAdmin(acc); err != nil {
		return nil, err
	}
	id, ok := r.parseKey(key)
	if !ok {
		return nil, fmt.Errorf("%s %q: %w", r.noun, key, store.ErrNotFound)
	}
	rec, err := r.byID(ctx, q, id)
	if err != nil {
		return nil, err
	}
	return r.item(rec), nil
}

// listItems returns a page of records (admins only).
func (r resource[K, R]) listItems(ctx context.Context, q store.Querier, acc *hooks.Accountability, lp *ListParams) ([]hooks.Item, error) {
	if err := requireAdmin(acc); err != nil {
		return nil, err
	}
	lp = lp.orDefault()
	recs, err := r.list(ctx, q, lp.Limit, lp.Offset)
	if err != nil {
		return nil, err
	}
	out := make([]hooks.Item, len(recs))
	for i, rec := range recs {
		out[i] = r.item(rec)
	}
	return out, nil
}

// deleteChanges deletes each record in tx and records its old image for
// the event log.
func (r resource[K, R]) deleteChanges(ctx context.Context, tx pgx.Tx, ids []K) ([]change, error) {
	changes := make([]change, 0, len(ids))
	for _, id := range ids {
		rec, err := r.remove(ctx, tx, id)
		if err != nil {
			return nil, fmt.Errorf("%s %v: %w", r.noun, id, err)
		}
		changes = append(changes, change{key: id, old: r.item(rec)})
	}
	return changes, nil
}

// updateChanges updates each record in tx: current reads the record as it
// is (locking it where the caller needs to), update writes it and returns
// the new version. Both images go to the event log.
func (r resource[K, R]) updateChanges(ids []K, current, update func(K) (R, error)) ([]change, error) {
	changes := make([]change, 0, len(ids))
	for _, id := range ids {
		old, err := current(id)
		if err != nil {
			return nil, fmt.Errorf("%s %v: %w", r.noun, id, err)
		}
		rec, err := update(id)
		if err != nil {
			return nil, err
		}
		changes = append(changes, change{key: id, data: r.item(rec), old: r.item(old)})
	}
	return changes, nil
}
