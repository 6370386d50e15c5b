package item_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/hooks"
	"github.com/hookd/hookd/internal/event"
	"github.com/hookd/hookd/internal/item"
	"github.com/hookd/hookd/internal/schema"
	"github.com/hookd/hookd/internal/store"
	"github.com/hookd/hookd/internal/testdb"
)

const ddl = `
CREATE TABLE articles (
    id         serial PRIMARY KEY,
    title      text NOT NULL,
    body       text,
    status     varchar(20) NOT NULL DEFAULT 'draft',
    views      integer NOT NULL DEFAULT 0,
    author     text,
    price      numeric(10,2),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE tags (
    id   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name text UNIQUE NOT NULL
);
CREATE TABLE audit (id serial PRIMARY KEY, note text NOT NULL);
CREATE TABLE nokey (a int);
CREATE TABLE twokeys (a int, b int, PRIMARY KEY (a, b));
`

type bundle struct {
	db    *testdb.DB
	svc   *item.Service
	calls *callLog
}

// callLog records what hooks saw, for assertions.
type callLog struct {
	mu    sync.Mutex
	calls []hookCall
}

type hookCall struct {
	event   string
	payload any
	meta    hooks.Meta
	inTx    bool
}

func (l *callLog) add(c hookCall) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, c)
}

func (l *callLog) byEvent(name string) []hookCall {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []hookCall
	for _, c := range l.calls {
		if c.event == name {
			out = append(out, c)
		}
	}
	return out
}

type setupOpts struct {
	extensions  []hooks.Extension
	permissions item.PermissionSource
	committed   item.CommittedFunc
	noHooks     bool
}

func setup(t *testing.T, opts *setupOpts) *bundle {
	t.Helper()
	if opts == nil {
		opts = &setupOpts{}
	}
	ctx := context.Background()
	d := testdb.New(t)
	_, err := d.Pool.Exec(ctx, ddl)
	require.NoError(t, err)
	loader, err := schema.NewLoader(&schema.Config{Pool: d.Pool})
	require.NoError(t, err)
	_, err = loader.Reload(ctx)
	require.NoError(t, err)

	b := &bundle{db: d, calls: &callLog{}}
	cfg := &item.Config{Pool: d.Pool, Schema: loader.Current, Permissions: opts.permissions,
		Committed: opts.committed}
	if !opts.noHooks {
		// A recording extension: filters on every item event, and a
		// durable action on articles creates/updates/deletes.
		record := hooks.Extension{ID: "record", Register: func(r hooks.Registrar, _ *hooks.Context) error {
			for _, name := range []string{"items.create", "items.update", "items.delete", "items.query", "items.read",
				"articles.items.create"} {
				r.Filter(name, func(_ context.Context, payload any, meta hooks.Meta, ec hooks.EventContext) (any, error) {
					_, inTx := ec.Database.(pgx.Tx)
					b.calls.add(hookCall{event: meta.Event, payload: payload, meta: meta, inTx: inTx})
					return nil, nil
				})
			}
			for _, name := range []string{"articles.items.create", "articles.items.update", "articles.items.delete"} {
				r.Action(name, func(context.Context, hooks.Meta, hooks.EventContext) error { return nil })
			}
			return nil
		}}
		bus, err := event.NewBus(ctx, &event.BusConfig{Extensions: append([]hooks.Extension{record}, opts.extensions...),
			Pool: d.Pool})
		require.NoError(t, err)
		cfg.Hooks = bus
	}
	b.svc, err = item.NewService(cfg)
	require.NoError(t, err)
	if bus, ok := cfg.Hooks.(*event.Bus); ok {
		bus.Services().SetItems(b.svc.Items)
	}
	return b
}

func (b *bundle) items(t *testing.T, collection string, acc *hooks.Accountability) *item.Items {
	t.Helper()
	it, err := b.svc.Collection(collection, &hooks.ServiceOptions{Accountability: acc})
	require.NoError(t, err)
	return it
}

func (b *bundle) events(t *testing.T) []*store.Event {
	t.Helper()
	rows, err := b.db.Pool.Query(context.Background(), "SELECT id FROM hookd_event ORDER BY id")
	require.NoError(t, err)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	require.NoError(t, err)
	events, err := store.EventsByIDs(context.Background(), b.db.Pool, ids)
	require.NoError(t, err)
	return events
}

type job struct {
	HookID   string  `json:"hook_id"`
	Event    string  `json:"event"`
	EventIDs []int64 `json:"event_ids"`
}

func (b *bundle) jobs(t *testing.T) []job {
	t.Helper()
	rows, err := b.db.Pool.Query(context.Background(),
		"SELECT args FROM river_job WHERE kind = $1 ORDER BY id", event.ActionKind)
	require.NoError(t, err)
	raw, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	require.NoError(t, err)
	out := make([]job, len(raw))
	for i, r := range raw {
		require.NoError(t, json.Unmarshal(r, &out[i]))
	}
	return out
}

func (b *bundle) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, b.db.Pool.QueryRow(context.Background(), sql, args...).Scan(&n))
	return n
}

func requireCode(t *testing.T, err error, code string) *hooks.Error {
	t.Helper()
	require.Error(t, err)
	he, ok := hooks.AsError(err)
	require.True(t, ok, "want a *hooks.Error with code %s, got %v", code, err)
	require.Equal(t, code, he.Code, he.Message)
	return he
}

func num(v any) float64 {
	switch x := v.(type) {
	case json.Number:
		f, _ := x.Float64()
		return f
	case float64:
		return x
	case int64:
		return float64(x)
	}
	return -1
}

func TestNewServiceValidates(t *testing.T) {
	t.Parallel()
	_, err := item.NewService(&item.Config{})
	require.ErrorContains(t, err, "Pool")
	_, err = item.NewService(nil)
	require.Error(t, err)
}

func TestCollectionErrors(t *testing.T) {
	t.Parallel()
	b := setup(t, &setupOpts{noHooks: true})
	_, err := b.svc.Collection("nope", nil)
	requireCode(t, err, "FORBIDDEN")
	_, err = b.svc.Collection("hookd_event", nil)
	requireCode(t, err, "FORBIDDEN")
	_, err = b.svc.Collection("nokey", nil)
	he := requireCode(t, err, "INVALID_PAYLOAD")
	require.Contains(t, he.Message, "no primary key")
	_, err = b.svc.Collection("twokeys", nil)
	he = requireCode(t, err, "INVALID_PAYLOAD")
	require.Contains(t, he.Message, "composite primary key")
}

func TestCreateManyEventsFiltersAndJobs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var committed []int64
	b := setup(t, &setupOpts{
		committed: func(_ context.Context, collection string, ids []int64) {
			require.Equal(t, "articles", collection)
			committed = append(committed, ids...)
		},
		extensions: []hooks.Extension{{ID: "upper", Register: func(r hooks.Registrar, _ *hooks.Context) error {
			// Replaces the payload: the write and the event see the result.
			r.Filter("articles.items.create", func(_ context.Context, payload any, _ hooks.Meta, _ hooks.EventContext) (any, error) {
				item := payload.(hooks.Item)
				out := hooks.Item{}
				for k, v := range item {
					out[k] = v
				}
				out["status"] = "filtered"
				return out, nil
			})
			return nil
		}}},
	})
	acc := &hooks.Accountability{User: "u1", Role: "r1", Admin: true}
	keys, err := b.items(t, "articles", acc).CreateMany(ctx, []hooks.Item{
		{"title": "one", "views": json.Number("3")},
		{"title": "two", "price": "12.50"},
	})
	require.NoError(t, err)
	require.Equal(t, []any{int64(1), int64(2)}, keys)

	// N items = N filter calls per name, each inside the transaction.
	creates := b.calls.byEvent("items.create")
	require.Len(t, creates, 2)
	for _, c := range creates {
		require.True(t, c.inTx, "create filters run in the write's transaction")
		require.Equal(t, "articles", c.meta.Collection)
	}
	require.Len(t, b.calls.byEvent("articles.items.create"), 2)

	events := b.events(t)
	require.Len(t, events, 2)
	require.Equal(t, committed, []int64{events[0].ID, events[1].ID}, "Committed reports the events after commit")
	for i, e := range events {
		require.Equal(t, "items.create", e.Name)
		require.Equal(t, "items", e.Scope)
		require.Equal(t, "create", e.Action)
		require.Equal(t, "articles", e.Collection)
		require.JSONEq(t, []string{"1", "2"}[i], string(e.ItemKey))
		require.Nil(t, e.OldData)
		require.Equal(t, acc, e.Accountability)
		var data, payload map[string]any
		require.NoError(t, json.Unmarshal(e.Data, &data))
		require.NoError(t, json.Unmarshal(e.Payload, &payload))
		require.Equal(t, "filtered", data["status"], "the row image is the written row")
		require.Equal(t, "filtered", payload["status"], "the payload is the post-filter payload")
		require.Contains(t, data, "created_at", "defaults are in the image")
	}
	require.Equal(t, 2, b.count(t, "SELECT count(*) FROM articles WHERE status = 'filtered'"))

	// One durable job per item and action hook, pointing at its event.
	jobs := b.jobs(t)
	require.Len(t, jobs, 2)
	for i, j := range jobs {
		require.Equal(t, "articles.items.create", j.Event)
		require.Equal(t, []int64{events[i].ID}, j.EventIDs)
	}
}

func TestFilterErrorRollsBackEverything(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, &setupOpts{extensions: []hooks.Extension{{ID: "guard", Register: func(r hooks.Registrar, _ *hooks.Context) error {
		r.Filter("articles.items.create", func(ctx context.Context, payload any, _ hooks.Meta, ec hooks.EventContext) (any, error) {
			// What a filter writes through the transaction shares its fate.
			if _, err := ec.Database.Exec(ctx, "INSERT INTO audit (note) VALUES ('seen')"); err != nil {
				return nil, err
			}
			if payload.(hooks.Item)["title"] == "bad" {
				return nil, hooks.InvalidPayload("titles may not be bad")
			}
			return nil, nil
		})
		return nil
	}}}})
	_, err := b.items(t, "articles", nil).CreateMany(ctx, []hooks.Item{{"title": "good"}, {"title": "bad"}})
	he := requireCode(t, err, "INVALID_PAYLOAD")
	require.Equal(t, "Invalid payload. titles may not be bad.", he.Message)
	require.Zero(t, b.count(t, "SELECT count(*) FROM articles"))
	require.Zero(t, b.count(t, "SELECT count(*) FROM audit"))
	require.Empty(t, b.events(t))
	require.Empty(t, b.jobs(t))
}

func TestUpdateAndDeleteBulkSemantics(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, nil)
	svc := b.items(t, "articles", nil)
	keys, err := svc.CreateMany(ctx, []hooks.Item{{"title": "a"}, {"title": "b"}, {"title": "c"}})
	require.NoError(t, err)

	updated, err := svc.UpdateMany(ctx, []any{"1", 2, json.Number("3")}, hooks.Item{"status": "published"})
	require.NoError(t, err)
	require.Equal(t, keys, updated, "keys are coerced to the key type")
	updates := b.calls.byEvent("items.update")
	require.Len(t, updates, 1, "one filter for all keys")
	require.Equal(t, keys, updates[0].meta.Keys)
	require.Equal(t, hooks.Item{"status": "published"}, updates[0].payload)

	events := b.events(t)[3:]
	require.Len(t, events, 3, "one event per key")
	for _, e := range events {
		require.Equal(t, "items.update", e.Name)
		var oldImg, newImg map[string]any
		require.NoError(t, json.Unmarshal(e.OldData, &oldImg))
		require.NoError(t, json.Unmarshal(e.Data, &newImg))
		require.Equal(t, "draft", oldImg["status"])
		require.Equal(t, "published", newImg["status"])
	}
	jobs := b.jobs(t)[3:]
	require.Len(t, jobs, 1, "one action for all keys")
	require.Equal(t, []int64{events[0].ID, events[1].ID, events[2].ID}, jobs[0].EventIDs)

	// By query: only the matching items.
	byQuery, err := svc.UpdateByQuery(ctx, &hooks.Query{Filter: map[string]any{"title": map[string]any{"_in": []any{"a", "b"}}}},
		hooks.Item{"views": 7})
	require.NoError(t, err)
	require.Equal(t, []any{int64(1), int64(2)}, byQuery)
	require.Equal(t, 2, b.count(t, "SELECT count(*) FROM articles WHERE views = 7"))

	// Batch: one filter per item.
	before := len(b.calls.byEvent("items.update"))
	_, err = svc.UpdateBatch(ctx, []hooks.Item{{"id": 1, "title": "A"}, {"id": 3, "title": "C"}})
	require.NoError(t, err)
	require.Len(t, b.calls.byEvent("items.update"), before+2)
	require.Equal(t, 1, b.count(t, "SELECT count(*) FROM articles WHERE title = 'C'"))

	deleted, err := svc.DeleteMany(ctx, []any{1, 2})
	require.NoError(t, err)
	require.Equal(t, []any{int64(1), int64(2)}, deleted)
	deletes := b.calls.byEvent("items.delete")
	require.Len(t, deletes, 1)
	require.Equal(t, []any{int64(1), int64(2)}, deletes[0].payload, "the delete filter's payload is the keys")
	all := b.events(t)
	delEvents := all[len(all)-2:]
	for _, e := range delEvents {
		require.Equal(t, "items.delete", e.Name)
		require.Nil(t, e.Data)
		require.NotNil(t, e.OldData, "a delete keeps the old image")
	}
	allJobs := b.jobs(t)
	last := allJobs[len(allJobs)-1]
	require.Equal(t, "articles.items.delete", last.Event)
	require.Len(t, last.EventIDs, 2)

	n, err := svc.DeleteByQuery(ctx, &hooks.Query{Filter: map[string]any{"title": map[string]any{"_eq": "C"}}})
	require.NoError(t, err)
	require.Equal(t, []any{int64(3)}, n)
	require.Zero(t, b.count(t, "SELECT count(*) FROM articles"))
}

func TestJoinsCallerTransaction(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, &setupOpts{noHooks: true})
	tx, err := b.db.Pool.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx) //nolint:errcheck // a failing test must still release the connection
	svc, err := b.svc.Items("articles", &hooks.ServiceOptions{Database: tx})
	require.NoError(t, err)
	key, err := svc.CreateOne(ctx, hooks.Item{"title": "in tx"})
	require.NoError(t, err)
	got, err := svc.ReadOne(ctx, key, nil)
	require.NoError(t, err, "the caller's transaction sees its own write")
	require.Equal(t, "in tx", got["title"])
	require.NoError(t, tx.Rollback(ctx))
	require.Zero(t, b.count(t, "SELECT count(*) FROM articles"))
	require.Empty(t, b.events(t), "the event rolled back with the caller's transaction")
}

func TestBadValues(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, &setupOpts{noHooks: true})
	svc := b.items(t, "articles", nil)
	cases := []struct {
		item  hooks.Item
		code  string
		field string
	}{
		{hooks.Item{"title": "x", "views": "many"}, "INVALID_PAYLOAD", "views"},
		{hooks.Item{"title": "x", "views": 1.5}, "INVALID_PAYLOAD", "views"},
		{hooks.Item{"title": "x", "views": 1 << 40}, "INVALID_PAYLOAD", "views"},
		{hooks.Item{"title": "x", "nope": 1}, "INVALID_PAYLOAD", "nope"},
		{hooks.Item{"title": map[string]any{"a": 1}}, "INVALID_PAYLOAD", "title"},
		{hooks.Item{"title": "x", "created_at": "yesterday-ish"}, "INVALID_PAYLOAD", ""},
		{hooks.Item{"title": nil}, "NOT_NULL_VIOLATION", "title"},
		{hooks.Item{"title": "x", "status": "this status is far too long"}, "VALUE_TOO_LONG", ""},
	}
	for _, tc := range cases {
		_, err := svc.CreateOne(ctx, tc.item)
		require.Error(t, err, "%v", tc.item)
		var ce *store.ConstraintError
		if errors.As(err, &ce) {
			require.Equal(t, tc.code, ce.Code, "%v", tc.item)
			if tc.field != "" {
				require.Equal(t, tc.field, ce.Column)
			}
			continue
		}
		he := requireCode(t, err, tc.code)
		if tc.field != "" {
			require.Equal(t, tc.field, he.Extensions["field"], "%v", tc.item)
		}
	}
	_, err := b.items(t, "tags", nil).CreateOne(ctx, hooks.Item{"id": "not-a-uuid", "name": "x"})
	requireCode(t, err, "INVALID_PAYLOAD")
	_, err = svc.ReadOne(ctx, "abc", nil)
	requireCode(t, err, "FORBIDDEN")
	_, err = svc.ReadOne(ctx, "99", nil)
	requireCode(t, err, "FORBIDDEN")
}

func TestReadMetaAndAggregate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, &setupOpts{extensions: []hooks.Extension{{ID: "mark", Register: func(r hooks.Registrar, _ *hooks.Context) error {
		// A read filter's result is what the caller gets.
		r.Filter("articles.items.read", func(_ context.Context, payload any, _ hooks.Meta, _ hooks.EventContext) (any, error) {
			items := payload.([]hooks.Item)
			out := make([]hooks.Item, len(items))
			for i, it := range items {
				out[i] = hooks.Item{"marked": true}
				for k, v := range it {
					out[i][k] = v
				}
			}
			return out, nil
		})
		return nil
	}}}})
	svc := b.items(t, "articles", nil)
	_, err := svc.CreateMany(ctx, []hooks.Item{{"title": "a", "views": 1}, {"title": "b", "views": 2}, {"title": "c", "views": 3}})
	require.NoError(t, err)
	limit := 1
	res, err := svc.Read(ctx, &hooks.Query{Filter: map[string]any{"views": map[string]any{"_gte": 2}},
		Sort: []string{"-views"}, Limit: &limit, Meta: []string{"total_count", "filter_count"}, Fields: []string{"title"}})
	require.NoError(t, err)
	items, err := res.Items()
	require.NoError(t, err)
	require.Equal(t, []hooks.Item{{"title": "c", "marked": true}}, items)
	require.Equal(t, map[string]any{"total_count": int64(3), "filter_count": int64(2)}, res.Meta)
	require.Len(t, b.calls.byEvent("items.query"), 1)
	reads := b.calls.byEvent("items.read")
	require.Len(t, reads, 1)
	require.Equal(t, []hooks.Item{{"title": "c"}}, reads[0].payload, "the first read filter sees the rows as read")

	agg, err := svc.Read(ctx, &hooks.Query{Aggregate: map[string][]string{"sum": {"views"}, "count": {"*"}}})
	require.NoError(t, err)
	rows, err := agg.Items()
	require.NoError(t, err)
	require.Len(t, rows, 1)
	require.Equal(t, float64(6), num(rows[0]["sum"].(map[string]any)["views"]))
	require.Equal(t, float64(3), num(rows[0]["count"]))

	_, err = svc.Read(ctx, &hooks.Query{Meta: []string{"bogus"}})
	requireCode(t, err, "INVALID_QUERY")
	_, err = svc.Read(ctx, &hooks.Query{Fields: []string{"nope"}})
	requireCode(t, err, "INVALID_QUERY")

	many, err := svc.ReadMany(ctx, []any{3, "1", "junk", 99}, &hooks.Query{Sort: []string{"id"}})
	require.NoError(t, err)
	require.Len(t, many, 2)
	require.Equal(t, "a", many[0]["title"])
}

// permissions is a PermissionSource over fixed data: role → action →
// permission.
type permissions map[string]map[string]*hooks.Permission

func (p permissions) Permission(_ context.Context, acc *hooks.Accountability, collection, action string) (*hooks.Permission, error) {
	if acc == nil || acc.Admin {
		panic("Permission must not be called for system or admin callers")
	}
	perm := p[acc.Role][action]
	if perm == nil || perm.Collection != collection {
		return nil, nil
	}
	return perm, nil
}

func TestPermissions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	own := map[string]any{"author": map[string]any{"_eq": "$CURRENT_USER"}}
	perms := permissions{
		"writer": {
			"read": {Collection: "articles", Action: "read", Permissions: own,
				Fields: []string{"id", "title", "status", "author"}},
			"create": {Collection: "articles", Action: "create", Permissions: own,
				Presets:    map[string]any{"author": "$CURRENT_USER", "status": "review"},
				Validation: map[string]any{"views": map[string]any{"_lt": 100}},
				Fields:     []string{"title", "author", "status", "views"}},
			"update": {Collection: "articles", Action: "update", Permissions: own, Fields: []string{"title", "status"}},
			"delete": {Collection: "articles", Action: "delete", Permissions: own},
		},
		"reader": {"read": {Collection: "articles", Action: "read", Fields: []string{"*"}}},
	}
	b := setup(t, &setupOpts{permissions: perms, noHooks: true})
	admin := b.items(t, "articles", &hooks.Accountability{Admin: true})
	_, err := admin.CreateMany(ctx, []hooks.Item{{"title": "mine", "author": "u1"}, {"title": "theirs", "author": "u2"}})
	require.NoError(t, err)

	writer := b.items(t, "articles", &hooks.Accountability{User: "u1", Role: "writer"})
	public := b.items(t, "articles", &hooks.Accountability{})
	reader := b.items(t, "articles", &hooks.Accountability{User: "u3", Role: "reader"})

	// No permission at all: 403 for every action.
	_, err = public.ReadByQuery(ctx, nil)
	requireCode(t, err, "FORBIDDEN")
	_, err = public.CreateOne(ctx, hooks.Item{"title": "x"})
	requireCode(t, err, "FORBIDDEN")
	_, err = reader.DeleteOne(ctx, 1)
	requireCode(t, err, "FORBIDDEN")
	noSource, err := item.NewService(&item.Config{Pool: b.db.Pool, Schema: func() *hooks.Schema {
		return &hooks.Schema{Collections: map[string]*hooks.Collection{"articles": admin.Collection()}}
	}})
	require.NoError(t, err)
	ns, err := noSource.Collection("articles", &hooks.ServiceOptions{Accountability: &hooks.Accountability{Role: "writer"}})
	require.NoError(t, err)
	_, err = ns.ReadByQuery(ctx, nil)
	requireCode(t, err, "FORBIDDEN")

	// Reads: the rule filters rows, unreadable fields are stripped from *,
	// asked-for unreadable fields are 403, a hidden item is like a missing
	// one.
	items, err := writer.ReadByQuery(ctx, nil)
	require.NoError(t, err)
	require.Len(t, items, 1)
	require.Equal(t, "mine", items[0]["title"])
	require.NotContains(t, items[0], "views")
	require.NotContains(t, items[0], "body")
	_, err = writer.ReadByQuery(ctx, &hooks.Query{Fields: []string{"views"}})
	requireCode(t, err, "FORBIDDEN")
	_, err = writer.ReadOne(ctx, 2, nil)
	requireCode(t, err, "FORBIDDEN")
	all, err := reader.ReadByQuery(ctx, nil)
	require.NoError(t, err)
	require.Len(t, all, 2)

	// Create: presets are defaults (payload wins), fields are checked,
	// validation names the field, the rule is checked on the new row.
	key, err := writer.CreateOne(ctx, hooks.Item{"title": "new", "status": "draft"})
	require.NoError(t, err)
	got, err := admin.ReadOne(ctx, key, nil)
	require.NoError(t, err)
	require.Equal(t, "u1", got["author"], "the $CURRENT_USER preset is resolved")
	require.Equal(t, "draft", got["status"], "the payload wins over the preset")
	_, err = writer.CreateOne(ctx, hooks.Item{"title": "x", "body": "not allowed"})
	requireCode(t, err, "FORBIDDEN")
	_, err = writer.CreateOne(ctx, hooks.Item{"title": "x", "views": 500})
	he := requireCode(t, err, "FAILED_VALIDATION")
	require.Equal(t, "views", he.Extensions["field"])
	require.Equal(t, 400, he.Status)
	_, err = writer.CreateOne(ctx, hooks.Item{"title": "for someone else", "author": "u2"})
	requireCode(t, err, "FORBIDDEN")
	require.Zero(t, b.count(t, "SELECT count(*) FROM articles WHERE title IN ('x', 'for someone else')"),
		"rejected creates rolled back")

	// Update: by keys outside the rule is 403 and changes nothing; by query
	// affects only rows inside the rule; writing a non-allowed field is 403;
	// moving a row out of the rule is 403.
	_, err = writer.UpdateMany(ctx, []any{1, 2}, hooks.Item{"title": "hijacked"})
	requireCode(t, err, "FORBIDDEN")
	require.Zero(t, b.count(t, "SELECT count(*) FROM articles WHERE title = 'hijacked'"))
	keys, err := writer.UpdateByQuery(ctx, &hooks.Query{}, hooks.Item{"status": "published"})
	require.NoError(t, err)
	require.ElementsMatch(t, []any{int64(1), key}, keys)
	require.Equal(t, 1, b.count(t, "SELECT count(*) FROM articles WHERE status <> 'published'"))
	_, err = writer.UpdateOne(ctx, 1, hooks.Item{"views": 3})
	requireCode(t, err, "FORBIDDEN")
	_, err = writer.UpdateOne(ctx, "not a number", hooks.Item{"title": "x"})
	requireCode(t, err, "FORBIDDEN")

	// Delete: outside the rule is 403 and deletes nothing; by query only
	// inside.
	_, err = writer.DeleteMany(ctx, []any{1, 2})
	requireCode(t, err, "FORBIDDEN")
	require.Equal(t, 3, b.count(t, "SELECT count(*) FROM articles"))
	deleted, err := writer.DeleteByQuery(ctx, &hooks.Query{})
	require.NoError(t, err)
	require.ElementsMatch(t, []any{int64(1), key}, deleted)
	remaining, err := admin.ReadByQuery(ctx, nil)
	require.NoError(t, err)
	require.Len(t, remaining, 1)
	require.Equal(t, "theirs", remaining[0]["title"])
	require.True(t, slices.ContainsFunc(b.events(t), func(e *store.Event) bool {
		return e.Accountability != nil && e.Accountability.User == "u1" && e.Name == "items.delete"
	}), "events record the caller")
}

// TestCreateOneReadShortPath covers the create nobody hooks: one statement
// for the row and its event, answered from the insert's row image, which
// must be exactly what a read returns.
func TestCreateOneReadShortPath(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var committed []int64
	b := setup(t, &setupOpts{noHooks: true, committed: func(_ context.Context, _ string, ids []int64) {
		committed = append(committed, ids...)
	}, permissions: permissions{"reader": {
		"create": {Collection: "articles", Action: "create", Fields: []string{"*"}},
		"read": {Collection: "articles", Action: "read", Fields: []string{"*"},
			Permissions: map[string]any{"status": map[string]any{"_eq": "published"}}},
	}}})
	admin := b.items(t, "articles", &hooks.Accountability{Admin: true})
	key, got, err := admin.CreateOneRead(ctx, hooks.Item{"title": "short", "price": "1.50"}, nil)
	require.NoError(t, err)
	read, err := admin.ReadOne(ctx, key, nil)
	require.NoError(t, err)
	require.Equal(t, read, got, "the row image answers exactly like a read")
	events := b.events(t)
	require.Len(t, events, 1)
	require.Equal(t, []int64{events[0].ID}, committed)
	require.JSONEq(t, `{"title":"short","price":"1.50"}`, string(events[0].Payload))

	_, got, err = admin.CreateOneRead(ctx, hooks.Item{"title": "fields"}, &hooks.Query{Fields: []string{"title"}})
	require.NoError(t, err)
	require.Equal(t, hooks.Item{"title": "fields"}, got, "other queries read back")

	// A caller who may create but not read the result gets no item.
	reader := b.items(t, "articles", &hooks.Accountability{User: "r", Role: "reader"})
	_, got, err = reader.CreateOneRead(ctx, hooks.Item{"title": "hidden draft"}, nil)
	require.NoError(t, err)
	require.Nil(t, got)
	_, got, err = reader.CreateOneRead(ctx, hooks.Item{"title": "visible", "status": "published"}, nil)
	require.NoError(t, err)
	require.Equal(t, "visible", got["title"])
	require.Len(t, b.events(t), 4)

	// CreateOneDoc answers the same as JSON: the row image as is, or the
	// read-back item encoded, or nothing.
	key, doc, err := admin.CreateOneDoc(ctx, hooks.Item{"title": "doc", "price": "2.50"}, nil)
	require.NoError(t, err)
	read, err = admin.ReadOne(ctx, key, nil)
	require.NoError(t, err)
	readJSON, err := json.Marshal(read)
	require.NoError(t, err)
	require.JSONEq(t, string(readJSON), string(doc))
	_, doc, err = admin.CreateOneDoc(ctx, hooks.Item{"title": "doc fields"}, &hooks.Query{Fields: []string{"title"}})
	require.NoError(t, err)
	require.JSONEq(t, `{"title":"doc fields"}`, string(doc))
	_, doc, err = reader.CreateOneDoc(ctx, hooks.Item{"title": "hidden doc"}, nil)
	require.NoError(t, err)
	require.Nil(t, doc)
}

// TestConcurrentShortCreates drives the group commit of unhooked creates:
// many concurrent creates share statements, yet each gets its own key,
// row and event, and a bad row fails only its own request.
func TestConcurrentShortCreates(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var mu sync.Mutex
	var committed []int64
	b := setup(t, &setupOpts{noHooks: true, committed: func(_ context.Context, _ string, ids []int64) {
		mu.Lock()
		committed = append(committed, ids...)
		mu.Unlock()
	}})
	tags := b.items(t, "tags", &hooks.Accountability{User: "u", Admin: true})
	const workers, each = 16, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				name := fmt.Sprintf("tag-%d-%d", w, i)
				if i == 3 {
					name = "duplicate" // every worker tries it; exactly one wins
				}
				key, item, err := tags.CreateOneRead(ctx, hooks.Item{"name": name}, nil)
				if err != nil {
					errs <- fmt.Errorf("%s: %w", name, err)
					continue
				}
				if item["name"] != name || item["id"] != key {
					errs <- fmt.Errorf("%s: got %v (key %v)", name, item, key)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	var unique int
	for err := range errs {
		var ce *store.ConstraintError
		if errors.As(err, &ce) && ce.Code == "RECORD_NOT_UNIQUE" {
			unique++
			continue
		}
		require.NoError(t, err)
	}
	require.Equal(t, workers-1, unique, "only the duplicates fail")
	want := workers*(each-1) + 1
	require.Equal(t, want, b.count(t, "SELECT count(*) FROM tags"))
	events := b.events(t)
	require.Len(t, events, want)
	require.Len(t, committed, want)
	for _, e := range events {
		var data, payload map[string]any
		require.NoError(t, json.Unmarshal(e.Data, &data))
		require.NoError(t, json.Unmarshal(e.Payload, &payload))
		require.Equal(t, data["name"], payload["name"], "each event carries its own row and payload")
		require.JSONEq(t, fmt.Sprintf("%q", data["id"]), string(e.ItemKey))
		require.Equal(t, "u", e.Accountability.User)
	}
	t.Logf("%d creates in %d statements", want, b.count(t, "SELECT count(DISTINCT tx_id) FROM hookd_event"))
}

// TestFilterUsesServiceInItsTransaction is a hook calling the item service
// from inside a filter with the filter's transaction: its write joins the
// outer one and shares its fate.
func TestFilterUsesServiceInItsTransaction(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, &setupOpts{extensions: []hooks.Extension{{ID: "audit", Register: func(r hooks.Registrar, c *hooks.Context) error {
		r.Filter("articles.items.create", func(ctx context.Context, payload any, _ hooks.Meta, ec hooks.EventContext) (any, error) {
			audit, err := c.Services.Items("audit", &hooks.ServiceOptions{Database: ec.Database})
			if err != nil {
				return nil, err
			}
			title, _ := payload.(hooks.Item)["title"].(string)
			if _, err := audit.CreateOne(ctx, hooks.Item{"note": "creating " + title}); err != nil {
				return nil, err
			}
			if title == "refused" {
				return nil, hooks.InvalidPayload("refused")
			}
			return nil, nil
		})
		return nil
	}}}})
	svc := b.items(t, "articles", nil)
	_, err := svc.CreateOne(ctx, hooks.Item{"title": "kept"})
	require.NoError(t, err)
	_, err = svc.CreateOne(ctx, hooks.Item{"title": "refused"})
	requireCode(t, err, "INVALID_PAYLOAD")
	require.Equal(t, 1, b.count(t, "SELECT count(*) FROM audit"))
	require.Equal(t, 1, b.count(t, "SELECT count(*) FROM audit WHERE note = 'creating kept'"))
	require.Equal(t, 1, b.count(t, "SELECT count(*) FROM articles"))
	var audits []string
	for _, e := range b.events(t) {
		audits = append(audits, e.Collection)
	}
	require.Equal(t, []string{"audit", "articles"}, audits, "the nested write logged its own event, in the same transaction")
}
