package auth

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/hookd/hookd/hooks"
	"github.com/hookd/hookd/internal/query"
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
	byIDs    func(context.Context, store.Querier, []K) ([]R, error)
	remove   func(context.Context, store.Querier, K) (R, error)
	item     func(R) hooks.Item
	// queryable is what a list's filter, sort and search may name: the
	// table's columns that are also the collection's fields, never a
	// password hash or a token's hash.
	queryable *hooks.Collection
	// table holds the records; defaultSort orders a list that names no
	// sort, ending on the key so that pages are stable.
	table       string
	defaultSort []string
}

var (
	userResource = resource[string, *store.User]{noun: "user", parseKey: parseUUIDKey,
		byID: store.UserByID, byIDs: store.UsersByIDs, remove: store.UserDelete, item: UserItem,
		queryable: systemCollection("directus_users", []*hooks.Field{
			{Name: "id", Type: "uuid", DBType: "uuid"},
			{Name: "email", Type: "text", DBType: "text", Nullable: true},
			{Name: "first_name", Type: "text", DBType: "text", Nullable: true},
			{Name: "last_name", Type: "text", DBType: "text", Nullable: true},
			{Name: "role", Type: "uuid", DBType: "uuid", Nullable: true},
			{Name: "status", Type: "text", DBType: "text"},
			{Name: "last_access", Type: "timestamp", DBType: "timestamp with time zone", Nullable: true},
		}),
		table: "hookd_users", defaultSort: []string{"email", "id"}}
	roleResource = resource[string, *store.Role]{noun: "role", parseKey: parseUUIDKey,
		byID: store.RoleByID, byIDs: store.RolesByIDs, remove: store.RoleDelete, item: RoleItem,
		queryable: systemCollection("directus_roles", []*hooks.Field{
			{Name: "id", Type: "uuid", DBType: "uuid"},
			{Name: "name", Type: "text", DBType: "text"},
			{Name: "icon", Type: "text", DBType: "text"},
			{Name: "description", Type: "text", DBType: "text", Nullable: true},
			{Name: "admin_access", Type: "boolean", DBType: "boolean"},
			{Name: "app_access", Type: "boolean", DBType: "boolean"},
		}),
		table: "hookd_roles", defaultSort: []string{"name", "id"}}
	permissionResource = resource[int64, *store.Permission]{noun: "permission", parseKey: parsePermissionKey,
		byID: store.PermissionByID, byIDs: store.PermissionsByIDs, remove: store.PermissionDelete, item: PermissionItem,
		queryable: systemCollection("directus_permissions", []*hooks.Field{
			{Name: "id", Type: "bigInteger", DBType: "bigint"},
			{Name: "role", Type: "uuid", DBType: "uuid", Nullable: true},
			{Name: "collection", Type: "text", DBType: "text"},
			{Name: "action", Type: "text", DBType: "text"},
			{Name: "permissions", Type: "json", DBType: "jsonb", Nullable: true},
			{Name: "validation", Type: "json", DBType: "jsonb", Nullable: true},
			{Name: "presets", Type: "json", DBType: "jsonb", Nullable: true},
			{Name: "fields", Type: "csv", DBType: "text[]", Nullable: true},
		}),
		table: "hookd_permissions", defaultSort: []string{"id"}}
)

// systemCollection describes a system collection to the query compiler;
// its first field is the primary key.
func systemCollection(name string, fields []*hooks.Field) *hooks.Collection {
	c := &hooks.Collection{Name: name, PrimaryKey: fields[0].Name, Fields: map[string]*hooks.Field{}, System: true}
	fields[0].IsPrimaryKey = true
	for _, f := range fields {
		c.Fields[f.Name] = f
		c.FieldOrder = append(c.FieldOrder, f.Name)
	}
	return c
}

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

// listItems returns the page of records lp's query selects (filter,
// search, sort, limit, offset, page) and the meta counts it asks for
// (admins only).
func (r resource[K, R]) listItems(ctx context.Context, q store.Querier, acc *hooks.Accountability, lp *ListParams) ([]hooks.Item, map[string]any, error) {
	if err := requireAdmin(acc); err != nil {
		return nil, nil, err
	}
	lp = lp.orDefault()
	var qq hooks.Query
	if lp.Query != nil {
		qq = *lp.Query
	}
	if len(qq.Aggregate) > 0 || len(qq.GroupBy) > 0 {
		return nil, nil, hooks.InvalidQuery(fmt.Sprintf("aggregate and groupBy are not supported on %s", r.queryable.Name))
	}
	if len(qq.Sort) == 0 {
		qq.Sort = r.defaultSort
	}
	o := &query.Options{Table: r.table, DefaultLimit: lp.DefaultLimit, MaxLimit: lp.MaxLimit,
		Vars: query.Vars{CurrentUser: acc.User, CurrentRole: acc.Role}}
	stmt, err := query.Keys(r.queryable, &qq, o)
	if err != nil {
		return nil, nil, err
	}
	ids, err := store.Column[K](ctx, q, stmt.SQL, stmt.Args...)
	if err != nil {
		return nil, nil, fmt.Errorf("listing %ss: %w", r.noun, err)
	}
	recs, err := r.byIDs(ctx, q, ids)
	if err != nil {
		return nil, nil, err
	}
	out := make([]hooks.Item, len(recs))
	for i, rec := range recs {
		out[i] = r.item(rec)
	}
	meta, err := query.MetaCounts(r.queryable, &qq, o, func(stmt *query.Statement) (int64, error) {
		var n int64
		if err := store.ItemsScalar(ctx, q, &n, stmt.SQL, stmt.Args...); err != nil {
			return 0, fmt.Errorf("counting %ss: %w", r.noun, err)
		}
		return n, nil
	})
	if err != nil {
		return nil, nil, err
	}
	return out, meta, nil
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
