package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/hooks"
	"github.com/hookd/hookd/internal/api"
	"github.com/hookd/hookd/internal/event"
	"github.com/hookd/hookd/internal/item"
	"github.com/hookd/hookd/internal/schema"
	"github.com/hookd/hookd/internal/testdb"
)

const itemsDDL = `
CREATE TABLE articles (
    id      serial PRIMARY KEY,
    title   varchar(50) NOT NULL,
    body    text,
    status  text NOT NULL DEFAULT 'draft',
    views   integer NOT NULL DEFAULT 0,
    author  text,
    editor  uuid REFERENCES editors(id)
);
CREATE UNIQUE INDEX articles_title_key ON articles (title);
`

// rolePermissions is a PermissionSource over fixed data.
type rolePermissions map[string]map[string]*hooks.Permission

func (p rolePermissions) Permission(_ context.Context, acc *hooks.Accountability, collection, action string) (*hooks.Permission, error) {
	if perm := p[acc.Role][action]; perm != nil && perm.Collection == collection {
		return perm, nil
	}
	return nil, nil
}

type itemsBundle struct {
	url  string
	db   *testdb.DB
	seen *[]string
}

func setupItems(t *testing.T) *itemsBundle {
	t.Helper()
	ctx := context.Background()
	d := testdb.New(t)
	_, err := d.Pool.Exec(ctx, "CREATE TABLE editors (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), name text)")
	require.NoError(t, err)
	_, err = d.Pool.Exec(ctx, itemsDDL)
	require.NoError(t, err)
	loader, err := schema.NewLoader(&schema.Config{Pool: d.Pool})
	require.NoError(t, err)
	_, err = loader.Reload(ctx)
	require.NoError(t, err)

	var seen []string
	bus, err := event.NewBus(ctx, &event.BusConfig{Pool: d.Pool, Extensions: []hooks.Extension{{ID: "t",
		Register: func(r hooks.Registrar, _ *hooks.Context) error {
			r.Filter("articles.items.create", func(_ context.Context, payload any, meta hooks.Meta, _ hooks.EventContext) (any, error) {
				seen = append(seen, meta.Event)
				if payload.(hooks.Item)["title"] == "forbidden word" {
					return nil, hooks.InvalidPayload("that word is not allowed")
				}
				return nil, nil
			})
			return nil
		}}}})
	require.NoError(t, err)
	perms := rolePermissions{"reader": {
		"read": {Collection: "articles", Action: "read", Fields: []string{"id", "title"},
			Permissions: map[string]any{"status": map[string]any{"_eq": "published"}}},
		"create": {Collection: "articles", Action: "create", Fields: []string{"title", "status"}},
	}}
	items, err := item.NewService(&item.Config{Pool: d.Pool, Schema: loader.Current, Hooks: bus, Permissions: perms})
	require.NoError(t, err)
	srv, err := api.NewServer(&api.Config{
		Logger: slog.New(slog.DiscardHandler),
		Mount:  []func(*api.Server, chi.Router){api.ItemsRoutes(items)},
		// Test seam until the auth middleware exists: the X-Test-Role header
		// picks the caller (admin or a role); without it the caller is
		// public, exactly as in production without auth.
		Middlewares: []func(http.Handler) http.Handler{func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch role := r.Header.Get("X-Test-Role"); role {
				case "":
				case "admin":
					r = r.WithContext(api.WithAccountability(r.Context(), &hooks.Accountability{User: "admin", Admin: true}))
				default:
					r = r.WithContext(api.WithAccountability(r.Context(), &hooks.Accountability{User: "u-" + role, Role: role}))
				}
				next.ServeHTTP(w, r)
			})
		}},
	})
	require.NoError(t, err)
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return &itemsBundle{url: ts.URL, db: d, seen: &seen}
}

type response struct {
	status int
	body   map[string]any
	raw    string
}

func (b *itemsBundle) do(t *testing.T, role, method, path, body string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, b.url+path, rd)
	require.NoError(t, err)
	if role != "" {
		req.Header.Set("X-Test-Role", role)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	out := response{status: res.StatusCode, raw: string(raw)}
	if len(bytes.TrimSpace(raw)) > 0 {
		require.NoError(t, json.Unmarshal(raw, &out.body), string(raw))
	}
	return out
}

func errorCode(t *testing.T, r response) string {
	t.Helper()
	errs, ok := r.body["errors"].([]any)
	require.True(t, ok, "want an error envelope, got %s", r.raw)
	require.Len(t, errs, 1)
	e := errs[0].(map[string]any)
	require.NotEmpty(t, e["message"])
	return e["extensions"].(map[string]any)["code"].(string)
}

func TestItemsCRUD(t *testing.T) {
	t.Parallel()
	b := setupItems(t)

	// Create one: the item comes back as read with the query's fields.
	r := b.do(t, "admin", "POST", "/items/articles?fields=id,title,status", `{"title":"Hello","views":2}`)
	require.Equal(t, http.StatusOK, r.status, r.raw)
	require.Equal(t, map[string]any{"id": float64(1), "title": "Hello", "status": "draft"}, r.body["data"])
	require.NotContains(t, r.body, "meta")
	require.Equal(t, []string{"articles.items.create"}, *b.seen)

	// Create many.
	r = b.do(t, "admin", "POST", "/items/articles?fields=id", `[{"title":"A","status":"published"},{"title":"B"}]`)
	require.Equal(t, http.StatusOK, r.status, r.raw)
	require.Equal(t, []any{map[string]any{"id": float64(2)}, map[string]any{"id": float64(3)}}, r.body["data"])

	// List with filter, sort, meta.
	q := url.Values{"filter": {`{"views":{"_lt":1}}`}, "sort": {"-id"}, "fields": {"title"},
		"meta": {"total_count,filter_count"}}
	r = b.do(t, "admin", "GET", "/items/articles?"+q.Encode(), "")
	require.Equal(t, http.StatusOK, r.status, r.raw)
	require.Equal(t, []any{map[string]any{"title": "B"}, map[string]any{"title": "A"}}, r.body["data"])
	require.Equal(t, map[string]any{"total_count": float64(3), "filter_count": float64(2)}, r.body["meta"])

	// Bracket filter form and aggregate with groupBy.
	r = b.do(t, "admin", "GET", "/items/articles?filter[status][_eq]=published&fields=title", "")
	require.Equal(t, []any{map[string]any{"title": "A"}}, r.body["data"], r.raw)
	r = b.do(t, "admin", "GET", "/items/articles?aggregate[count]=*&groupBy[]=status&sort=status", "")
	require.Equal(t, http.StatusOK, r.status, r.raw)
	require.Equal(t, []any{
		map[string]any{"status": "draft", "count": float64(2)},
		map[string]any{"status": "published", "count": float64(1)},
	}, r.body["data"])

	// Read one.
	r = b.do(t, "admin", "GET", "/items/articles/2?fields=title", "")
	require.Equal(t, map[string]any{"title": "A"}, r.body["data"], r.raw)

	// Update one and many (keys, query, batch).
	r = b.do(t, "admin", "PATCH", "/items/articles/1?fields=title,views", `{"views":10}`)
	require.Equal(t, map[string]any{"title": "Hello", "views": float64(10)}, r.body["data"], r.raw)
	r = b.do(t, "admin", "PATCH", "/items/articles?fields=id,status", `{"keys":[1,2],"data":{"status":"archived"}}`)
	require.Equal(t, http.StatusOK, r.status, r.raw)
	require.Len(t, r.body["data"], 2)
	r = b.do(t, "admin", "PATCH", "/items/articles?fields=id", `{"query":{"filter":{"status":{"_eq":"archived"}}},"data":{"views":5}}`)
	require.Equal(t, []any{map[string]any{"id": float64(1)}, map[string]any{"id": float64(2)}}, r.body["data"], r.raw)
	r = b.do(t, "admin", "PATCH", "/items/articles?fields=id,title", `[{"id":3,"title":"B2"}]`)
	require.Equal(t, []any{map[string]any{"id": float64(3), "title": "B2"}}, r.body["data"], r.raw)

	// Delete one, by keys, by query, as a bare array.
	r = b.do(t, "admin", "DELETE", "/items/articles/3", "")
	require.Equal(t, http.StatusNoContent, r.status, r.raw)
	r = b.do(t, "admin", "DELETE", "/items/articles", `{"query":{"filter":{"id":{"_eq":2}}}}`)
	require.Equal(t, http.StatusNoContent, r.status, r.raw)
	r = b.do(t, "admin", "DELETE", "/items/articles", `[1]`)
	require.Equal(t, http.StatusNoContent, r.status, r.raw)
	r = b.do(t, "admin", "DELETE", "/items/articles", `{"keys":[]}`)
	require.Equal(t, http.StatusNoContent, r.status, r.raw)
	r = b.do(t, "admin", "GET", "/items/articles", "")
	require.Equal(t, []any{}, r.body["data"], r.raw)

	// Every write left its events.
	var n int
	require.NoError(t, b.db.Pool.QueryRow(context.Background(),
		"SELECT count(*) FROM hookd_event WHERE collection = 'articles'").Scan(&n))
	require.Equal(t, 3+(1+2+2+1)+3, n, "3 creates, 6 updated rows, 3 deletes")
}

func TestItemsErrors(t *testing.T) {
	t.Parallel()
	b := setupItems(t)
	r := b.do(t, "admin", "POST", "/items/articles", `{"title":"taken"}`)
	require.Equal(t, http.StatusOK, r.status, r.raw)

	cases := []struct {
		name, role, method, path, body string
		status                         int
		code                           string
	}{
		{"unknown collection", "admin", "GET", "/items/nope", "", 403, "FORBIDDEN"},
		{"system table", "admin", "GET", "/items/hookd_event", "", 403, "FORBIDDEN"},
		{"missing item", "admin", "GET", "/items/articles/999", "", 403, "FORBIDDEN"},
		{"malformed integer id", "admin", "GET", "/items/articles/abc", "", 403, "FORBIDDEN"},
		{"unknown field in fields", "admin", "GET", "/items/articles?fields=nope", "", 400, "INVALID_QUERY"},
		{"unknown field in filter", "admin", "GET", "/items/articles?filter[nope][_eq]=1", "", 400, "INVALID_QUERY"},
		{"unknown field in sort", "admin", "GET", "/items/articles?sort=nope", "", 400, "INVALID_QUERY"},
		{"bad filter JSON", "admin", "GET", "/items/articles?filter={", "", 400, "INVALID_QUERY"},
		{"malformed JSON", "admin", "POST", "/items/articles", `{"title":`, 400, "INVALID_PAYLOAD"},
		{"trailing JSON", "admin", "POST", "/items/articles", `{"title":"x"} {}`, 400, "INVALID_PAYLOAD"},
		{"empty body", "admin", "POST", "/items/articles", ``, 400, "INVALID_PAYLOAD"},
		{"scalar body", "admin", "POST", "/items/articles", `42`, 400, "INVALID_PAYLOAD"},
		{"wrong value type", "admin", "POST", "/items/articles", `{"title":"x","views":"lots"}`, 400, "INVALID_PAYLOAD"},
		{"unknown field", "admin", "POST", "/items/articles", `{"title":"x","nope":1}`, 400, "INVALID_PAYLOAD"},
		{"not null", "admin", "POST", "/items/articles", `{"body":"x"}`, 400, "NOT_NULL_VIOLATION"},
		{"unique", "admin", "POST", "/items/articles", `{"title":"taken"}`, 400, "RECORD_NOT_UNIQUE"},
		{"too long", "admin", "POST", "/items/articles", `{"title":"` + strings.Repeat("x", 60) + `"}`, 400, "VALUE_TOO_LONG"},
		{"foreign key", "admin", "POST", "/items/articles",
			`{"title":"fk","editor":"5f1f5e0e-6a59-4b0e-8f3e-0a0a0a0a0a0a"}`, 400, "INVALID_FOREIGN_KEY"},
		{"filter error", "admin", "POST", "/items/articles", `{"title":"forbidden word"}`, 400, "INVALID_PAYLOAD"},
		{"patch without keys", "admin", "PATCH", "/items/articles", `{"data":{"title":"x"}}`, 400, "INVALID_PAYLOAD"},
		{"batch without key", "admin", "PATCH", "/items/articles", `[{"title":"x"}]`, 400, "INVALID_PAYLOAD"},
		{"delete without keys", "admin", "DELETE", "/items/articles", `{}`, 400, "INVALID_PAYLOAD"},
		{"public read", "", "GET", "/items/articles", "", 403, "FORBIDDEN"},
		{"public create", "", "POST", "/items/articles", `{"title":"x"}`, 403, "FORBIDDEN"},
		{"public delete", "", "DELETE", "/items/articles/1", "", 403, "FORBIDDEN"},
		{"role without update", "reader", "PATCH", "/items/articles/1", `{"title":"x"}`, 403, "FORBIDDEN"},
		{"role writing a field it may not", "reader", "POST", "/items/articles", `{"title":"x","views":1}`, 403, "FORBIDDEN"},
		{"role reading a hidden item", "reader", "GET", "/items/articles/1", "", 403, "FORBIDDEN"},
		{"role asking for a hidden field", "reader", "GET", "/items/articles?fields=views", "", 403, "FORBIDDEN"},
		{"SQL-looking value stays data", "admin", "GET", "/items/articles/1;DROP%20TABLE%20articles", "", 403, "FORBIDDEN"},
	}
	for _, tc := range cases {
		r := b.do(t, tc.role, tc.method, tc.path, tc.body)
		require.Equal(t, tc.status, r.status, "%s: %s", tc.name, r.raw)
		require.Equal(t, tc.code, errorCode(t, r), tc.name)
	}
	// SQL in a value is data.
	hostile := `x'); DROP TABLE articles; --`
	body, _ := json.Marshal(map[string]any{"title": hostile})
	r = b.do(t, "admin", "POST", "/items/articles?fields=title", string(body))
	require.Equal(t, http.StatusOK, r.status, r.raw)
	require.Equal(t, hostile, r.body["data"].(map[string]any)["title"])
	r = b.do(t, "admin", "DELETE", "/items/articles", `{"query":{"filter":{"title":{"_eq":"x'); DROP TABLE articles; --"}}}}`)
	require.Equal(t, http.StatusNoContent, r.status, r.raw)

	// The wrong-type error names the field.
	r = b.do(t, "admin", "POST", "/items/articles", `{"title":"x","views":"lots"}`)
	require.Contains(t, r.raw, `"field":"views"`)
	require.Contains(t, r.raw, `views`)
	var n int
	require.NoError(t, b.db.Pool.QueryRow(context.Background(), "SELECT count(*) FROM articles").Scan(&n))
	require.Equal(t, 1, n, "no failed request wrote anything")
}

func TestItemsPermissionsOverHTTP(t *testing.T) {
	t.Parallel()
	b := setupItems(t)
	r := b.do(t, "admin", "POST", "/items/articles", `[{"title":"draft"},{"title":"live","status":"published"}]`)
	require.Equal(t, http.StatusOK, r.status, r.raw)

	// Reads: the rule hides the draft, unreadable fields are stripped.
	r = b.do(t, "reader", "GET", "/items/articles", "")
	require.Equal(t, http.StatusOK, r.status, r.raw)
	require.Equal(t, []any{map[string]any{"id": float64(2), "title": "live"}}, r.body["data"])

	// A create the caller cannot read back answers 204; one it can, 200.
	r = b.do(t, "reader", "POST", "/items/articles", `{"title":"mine"}`)
	require.Equal(t, http.StatusNoContent, r.status, r.raw)
	require.Empty(t, r.raw)
	r = b.do(t, "reader", "POST", "/items/articles", `{"title":"mine too","status":"published"}`)
	require.Equal(t, http.StatusOK, r.status, r.raw)
	require.Equal(t, map[string]any{"id": float64(4), "title": "mine too"}, r.body["data"])

	// The events carry the caller.
	var acc []byte
	require.NoError(t, b.db.Pool.QueryRow(context.Background(),
		"SELECT accountability FROM hookd_event WHERE item_key = '4'::jsonb").Scan(&acc))
	require.JSONEq(t, `{"user":"u-reader","role":"reader","admin":false,"app":false}`, string(acc))
}
