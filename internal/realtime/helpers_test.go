package realtime_test

// Small real implementations of the interfaces the hub needs, so the
// protocol is tested on its own: an in-memory token table, an items service
// over a real table that appends real events and wakes the hub after
// commit, a filter compiler for _eq/_neq/_in/_and/_or. The full wiring
// (auth, item, query packages through internal/app) is tested in app_test.go.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/hooks"
	"github.com/hookd/hookd/internal/config"
	"github.com/hookd/hookd/internal/realtime"
	"github.com/hookd/hookd/internal/store"
	"github.com/hookd/hookd/internal/testdb"
)

const articlesDDL = `CREATE TABLE articles (id serial PRIMARY KEY, title text, status text NOT NULL DEFAULT 'draft', secret text)`

var articles = &hooks.Collection{
	Name: "articles", PrimaryKey: "id",
	Fields: map[string]*hooks.Field{
		"id":     {Name: "id", Type: "integer", IsPrimaryKey: true, Generated: true},
		"title":  {Name: "title", Type: "string", Nullable: true},
		"status": {Name: "status", Type: "string"},
		"secret": {Name: "secret", Type: "string", Nullable: true},
	},
	FieldOrder: []string{"id", "title", "status", "secret"},
}

var testSchema = &hooks.Schema{Collections: map[string]*hooks.Collection{
	"articles":        articles,
	"directus_users":  {Name: "directus_users", PrimaryKey: "id", System: true, Fields: map[string]*hooks.Field{}},
	"hookd_unrelated": {Name: "hookd_unrelated", PrimaryKey: "id", Fields: map[string]*hooks.Field{}},
}}

// testAuth is a token table in memory.
type testAuth struct {
	mu       sync.Mutex
	tokens   map[string]tokenEntry
	refresh  map[string]string // refresh token → access token
	password map[string]string // email → password
	users    map[string]string // email → access token
	counter  int
}

type tokenEntry struct {
	acc     hooks.Accountability
	expires *time.Time
}

func newTestAuth() *testAuth {
	return &testAuth{tokens: map[string]tokenEntry{}, refresh: map[string]string{},
		password: map[string]string{}, users: map[string]string{}}
}

func (a *testAuth) addToken(token string, acc hooks.Accountability, expires *time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.tokens[token] = tokenEntry{acc: acc, expires: expires}
}

func (a *testAuth) addUser(email, password, token string, acc hooks.Accountability) {
	a.addToken(token, acc, nil)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.password[email], a.users[email] = password, token
}

func (a *testAuth) AuthenticateToken(_ context.Context, token string) (*hooks.Accountability, *time.Time, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	e, ok := a.tokens[token]
	if !ok || e.expires != nil && time.Now().After(*e.expires) {
		return nil, nil, hooks.NewError("INVALID_TOKEN", 401, "Invalid token.")
	}
	acc := e.acc
	return &acc, e.expires, nil
}

func (a *testAuth) session(token string) *realtime.Session {
	a.counter++
	rt := fmt.Sprintf("refresh-%d", a.counter)
	a.refresh[rt] = token
	e := a.tokens[token]
	acc := e.acc
	return &realtime.Session{Accountability: &acc, AccessToken: token, RefreshToken: rt, ExpiresAt: e.expires}
}

func (a *testAuth) Login(_ context.Context, email, password string, _ *realtime.ClientInfo) (*realtime.Session, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if p, ok := a.password[email]; !ok || p != password {
		return nil, hooks.InvalidCredentials()
	}
	return a.session(a.users[email]), nil
}

func (a *testAuth) Refresh(_ context.Context, refreshToken string) (*realtime.Session, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	token, ok := a.refresh[refreshToken]
	if !ok {
		return nil, hooks.InvalidCredentials()
	}
	delete(a.refresh, refreshToken) // rotated
	return a.session(token), nil
}

// compileFilter handles {field:{_eq|_neq|_in:v}}, _and, _or and
// $CURRENT_USER; dotted (relational) paths need the database.
func compileFilter(c *hooks.Collection, filter map[string]any, vars *realtime.FilterVars) (func(hooks.Item) bool, error) {
	var preds []func(hooks.Item) bool
	for k, v := range filter {
		switch k {
		case "_and", "_or":
			list, _ := v.([]any)
			var subs []func(hooks.Item) bool
			for _, x := range list {
				m, _ := x.(map[string]any)
				p, err := compileFilter(c, m, vars)
				if err != nil {
					return nil, err
				}
				subs = append(subs, p)
			}
			or := k == "_or"
			preds = append(preds, func(row hooks.Item) bool {
				for _, p := range subs {
					if p(row) == or {
						return or
					}
				}
				return !or
			})
			continue
		}
		if strings.Contains(k, ".") {
			return nil, fmt.Errorf("relational path %q: %w", k, realtime.ErrNotInMemory)
		}
		if c.Fields[k] == nil {
			return nil, hooks.InvalidQuery(fmt.Sprintf("unknown field %q", k))
		}
		ops, ok := v.(map[string]any)
		if !ok {
			return nil, hooks.InvalidQuery("bad filter")
		}
		for op, want := range ops {
			if want == "$CURRENT_USER" {
				want = vars.User
			}
			field := k
			w := fmt.Sprint(want)
			switch op {
			case "_eq":
				preds = append(preds, func(row hooks.Item) bool { return fmt.Sprint(row[field]) == w })
			case "_neq":
				preds = append(preds, func(row hooks.Item) bool { return fmt.Sprint(row[field]) != w })
			case "_in":
				list, _ := want.([]any)
				var ws []string
				for _, x := range list {
					ws = append(ws, fmt.Sprint(x))
				}
				preds = append(preds, func(row hooks.Item) bool { return slices.Contains(ws, fmt.Sprint(row[field])) })
			default:
				return nil, hooks.InvalidQuery("unsupported operator " + op)
			}
		}
	}
	return func(row hooks.Item) bool {
		for _, p := range preds {
			if !p(row) {
				return false
			}
		}
		return true
	}, nil
}

// parseQuery accepts the object and the SDK's string form.
func parseQuery(raw map[string]any) (*hooks.Query, error) {
	q := &hooks.Query{}
	for k, v := range raw {
		switch k {
		case "fields":
			switch f := v.(type) {
			case string:
				q.Fields = strings.Split(f, ",")
			case []any:
				for _, x := range f {
					q.Fields = append(q.Fields, fmt.Sprint(x))
				}
			default:
				return nil, hooks.InvalidQuery(`"fields" must be a string or an array`)
			}
		case "filter":
			switch f := v.(type) {
			case string:
				if err := json.Unmarshal([]byte(f), &q.Filter); err != nil {
					return nil, hooks.InvalidQuery(`"filter" is not valid JSON`)
				}
			case map[string]any:
				q.Filter = f
			default:
				return nil, hooks.InvalidQuery(`"filter" must be an object`)
			}
		case "limit":
			n, err := strconv.Atoi(fmt.Sprint(v))
			if err != nil {
				return nil, hooks.InvalidQuery(`"limit" must be a number`)
			}
			q.Limit = &n
		case "sort":
		default:
			return nil, hooks.InvalidQuery(fmt.Sprintf("unknown query parameter %q", k))
		}
	}
	return q, nil
}

// testItems is an items service over the articles table: reads apply the
// role's permission (rule and fields) in Go; writes append events and wake
// the hub after commit, as the real item service does.
type testItems struct {
	env *env
	acc *hooks.Accountability
}

func (it *testItems) perm(ctx context.Context) (*hooks.Permission, error) {
	if it.acc == nil || it.acc.Admin {
		return &hooks.Permission{Fields: []string{"*"}}, nil
	}
	p, err := it.env.permission(ctx, it.acc, "articles", "read")
	if err != nil {
		return nil, err
	}
	if p == nil {
		return nil, hooks.Forbidden()
	}
	return p, nil
}

func (it *testItems) read(ctx context.Context, where string, args []any, q *hooks.Query) ([]hooks.Item, error) {
	perm, err := it.perm(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := it.env.db.Pool.Query(ctx, "SELECT id, title, status, secret FROM articles WHERE "+where+" ORDER BY id", args...)
	if err != nil {
		return nil, err
	}
	all, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (hooks.Item, error) {
		var id int64
		var title, status, secret *string
		if err := r.Scan(&id, &title, &status, &secret); err != nil {
			return nil, err
		}
		return hooks.Item{"id": float64(id), "title": deref(title), "status": deref(status), "secret": deref(secret)}, nil
	})
	if err != nil {
		return nil, err
	}
	vars := &realtime.FilterVars{}
	if it.acc != nil {
		vars.User = it.acc.User
	}
	rule := func(hooks.Item) bool { return true }
	if len(perm.Permissions) > 0 {
		local := map[string]any{}
		for k, v := range perm.Permissions {
			if !strings.Contains(k, ".") { // no relations here: such conditions hold
				local[k] = v
			}
		}
		if rule, err = compileFilter(articles, local, vars); err != nil {
			return nil, err
		}
	}
	sub := func(hooks.Item) bool { return true }
	var fields []string
	if q != nil {
		if len(q.Filter) > 0 {
			if sub, err = compileFilter(articles, q.Filter, vars); err != nil {
				return nil, err
			}
		}
		fields = q.Fields
	}
	out := []hooks.Item{}
	for _, row := range all {
		if !rule(row) || !sub(row) {
			continue
		}
		o := hooks.Item{}
		for k, v := range row {
			if (perm.Fields[0] == "*" || slices.Contains(perm.Fields, k)) &&
				(len(fields) == 0 || slices.Contains(fields, "*") || slices.Contains(fields, k)) {
				o[k] = v
			}
		}
		out = append(out, o)
	}
	return out, nil
}

func deref(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}

func (it *testItems) ReadByQuery(ctx context.Context, q *hooks.Query) ([]hooks.Item, error) {
	return it.read(ctx, "true", nil, q)
}

func (it *testItems) ReadOne(ctx context.Context, key any, q *hooks.Query) (hooks.Item, error) {
	items, err := it.ReadMany(ctx, []any{key}, q)
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, hooks.Forbidden()
	}
	return items[0], nil
}

func (it *testItems) ReadMany(ctx context.Context, keys []any, q *hooks.Query) ([]hooks.Item, error) {
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = fmt.Sprint(k)
	}
	return it.read(ctx, "id::text = ANY($1)", []any{ids}, q)
}

// write runs fn in a transaction that also appends the event, then wakes
// the hub after commit.
func (it *testItems) write(ctx context.Context, action string, fn func(tx pgx.Tx) (int64, hooks.Item, hooks.Item, error)) (any, error) {
	if it.acc != nil && !it.acc.Admin {
		return nil, hooks.Forbidden()
	}
	tx, err := it.env.db.Pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(ctx) //nolint:errcheck
	id, data, old, err := fn(tx)
	if err != nil {
		return nil, store.Translate(err)
	}
	if _, err := store.EventAppendTx(ctx, tx, []store.EventAppendParams{{Name: "items." + action, Scope: "items",
		Action: action, Collection: "articles", ItemKey: id, Data: data, OldData: old}}); err != nil {
		return nil, err
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, err
	}
	it.env.hub.Wake()
	return float64(id), nil
}

func scanRow(row pgx.Row) (int64, hooks.Item, error) {
	var id int64
	var title, status, secret *string
	if err := row.Scan(&id, &title, &status, &secret); err != nil {
		return 0, nil, err
	}
	return id, hooks.Item{"id": id, "title": deref(title), "status": deref(status), "secret": deref(secret)}, nil
}

func (it *testItems) CreateOne(ctx context.Context, data hooks.Item) (any, error) {
	return it.write(ctx, "create", func(tx pgx.Tx) (int64, hooks.Item, hooks.Item, error) {
		status, _ := data["status"].(string)
		if status == "" {
			status = "draft"
		}
		id, row, err := scanRow(tx.QueryRow(ctx, `INSERT INTO articles (title, status, secret) VALUES ($1, $2, $3)
			RETURNING id, title, status, secret`, data["title"], status, data["secret"]))
		return id, row, nil, err
	})
}

func (it *testItems) CreateMany(ctx context.Context, data []hooks.Item) ([]any, error) {
	var keys []any
	for _, d := range data {
		k, err := it.CreateOne(ctx, d)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, nil
}

func (it *testItems) UpdateOne(ctx context.Context, key any, data hooks.Item) (any, error) {
	return it.write(ctx, "update", func(tx pgx.Tx) (int64, hooks.Item, hooks.Item, error) {
		_, old, err := scanRow(tx.QueryRow(ctx, `SELECT id, title, status, secret FROM articles WHERE id::text = $1 FOR UPDATE`, fmt.Sprint(key)))
		if err != nil {
			return 0, nil, nil, err
		}
		merged := hooks.Item{}
		for k, v := range old {
			merged[k] = v
		}
		for k, v := range data {
			merged[k] = v
		}
		id, row, err := scanRow(tx.QueryRow(ctx, `UPDATE articles SET title = $2, status = $3, secret = $4 WHERE id::text = $1
			RETURNING id, title, status, secret`, fmt.Sprint(key), merged["title"], merged["status"], merged["secret"]))
		return id, row, old, err
	})
}

func (it *testItems) UpdateMany(ctx context.Context, keys []any, data hooks.Item) ([]any, error) {
	var out []any
	for _, k := range keys {
		key, err := it.UpdateOne(ctx, k, data)
		if err != nil {
			return nil, err
		}
		out = append(out, key)
	}
	return out, nil
}

func (it *testItems) UpdateByQuery(ctx context.Context, q *hooks.Query, data hooks.Item) ([]any, error) {
	rows, err := it.ReadByQuery(ctx, q)
	if err != nil {
		return nil, err
	}
	var keys []any
	for _, r := range rows {
		keys = append(keys, r["id"])
	}
	return it.UpdateMany(ctx, keys, data)
}

func (it *testItems) UpdateBatch(ctx context.Context, data []hooks.Item) ([]any, error) {
	var out []any
	for _, d := range data {
		k, err := it.UpdateOne(ctx, d["id"], d)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, nil
}

func (it *testItems) DeleteOne(ctx context.Context, key any) (any, error) {
	return it.write(ctx, "delete", func(tx pgx.Tx) (int64, hooks.Item, hooks.Item, error) {
		id, old, err := scanRow(tx.QueryRow(ctx, `DELETE FROM articles WHERE id::text = $1 RETURNING id, title, status, secret`, fmt.Sprint(key)))
		return id, nil, old, err
	})
}

func (it *testItems) DeleteMany(ctx context.Context, keys []any) ([]any, error) {
	for _, k := range keys {
		if _, err := it.DeleteOne(ctx, k); err != nil {
			return nil, err
		}
	}
	return keys, nil
}

func (it *testItems) DeleteByQuery(ctx context.Context, q *hooks.Query) ([]any, error) {
	rows, err := it.ReadByQuery(ctx, q)
	if err != nil {
		return nil, err
	}
	var keys []any
	for _, r := range rows {
		keys = append(keys, r["id"])
	}
	return it.DeleteMany(ctx, keys)
}

// testHooks is a minimal hook runner: filters in order, actions recorded
// and run in a goroutine.
type testHooks struct {
	mu      sync.Mutex
	filters map[string][]func(payload any, meta *hooks.Meta) (any, error)
	actions map[string][]func(meta *hooks.Meta)
	fired   []string
}

func newTestHooks() *testHooks {
	return &testHooks{filters: map[string][]func(any, *hooks.Meta) (any, error){},
		actions: map[string][]func(*hooks.Meta){}}
}

func (th *testHooks) filter(event string, fn func(payload any, meta *hooks.Meta) (any, error)) {
	th.mu.Lock()
	defer th.mu.Unlock()
	th.filters[event] = append(th.filters[event], fn)
}

func (th *testHooks) action(event string, fn func(meta *hooks.Meta)) {
	th.mu.Lock()
	defer th.mu.Unlock()
	th.actions[event] = append(th.actions[event], fn)
}

func (th *testHooks) Filter(_ context.Context, event string, payload any, meta *hooks.Meta, _ *hooks.EventContext) (any, error) {
	th.mu.Lock()
	fns := slices.Clone(th.filters[event])
	th.mu.Unlock()
	for _, fn := range fns {
		var err error
		if payload, err = fn(payload, meta); err != nil {
			return nil, err
		}
	}
	return payload, nil
}

func (th *testHooks) Action(_ context.Context, event string, meta *hooks.Meta, _ *hooks.EventContext) {
	th.mu.Lock()
	th.fired = append(th.fired, event)
	fns := slices.Clone(th.actions[event])
	th.mu.Unlock()
	go func() {
		for _, fn := range fns {
			fn(meta)
		}
	}()
}

func (th *testHooks) firedEvents() []string {
	th.mu.Lock()
	defer th.mu.Unlock()
	return slices.Clone(th.fired)
}

// env is one hub on its own database, served by httptest.
type env struct {
	t     *testing.T
	db    *testdb.DB
	hub   *realtime.Hub
	srv   *httptest.Server
	url   string
	auth  *testAuth
	hooks *testHooks

	permMu sync.Mutex
	perms  map[string]*hooks.Permission // role → read permission on articles
}

type envOpts struct {
	db     *testdb.DB
	ws     func(*config.Websockets)
	config func(*realtime.Config)
}

func setup(t *testing.T, o *envOpts) *env {
	t.Helper()
	if o == nil {
		o = &envOpts{}
	}
	e := &env{t: t, db: o.db, auth: newTestAuth(), hooks: newTestHooks(), perms: map[string]*hooks.Permission{}}
	ctx := context.Background()
	if e.db == nil {
		e.db = testdb.New(t)
		_, err := e.db.Pool.Exec(ctx, articlesDDL)
		require.NoError(t, err)
	}
	ws := config.Websockets{Enabled: true, RESTEnabled: true, RESTPath: "/websocket", RESTAuth: "handshake",
		RESTAuthTimeout: 10 * time.Second, HeartbeatEnabled: true, HeartbeatPeriod: 30 * time.Second,
		MaxMessageSize: 1 << 20, RateLimitEnabled: true, RateLimitPoints: 50, RateLimitDuration: time.Second}
	if o.ws != nil {
		o.ws(&ws)
	}
	cfg := &realtime.Config{
		Websockets: ws,
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		Pool:       e.db.Pool,
		InstanceID: fmt.Sprintf("%s-%p", e.db.Name, e),
		Auth:       e.auth,
		Items: func(_ context.Context, collection string, acc *hooks.Accountability) (hooks.ItemsService, error) {
			if collection != "articles" {
				return nil, hooks.Forbidden()
			}
			return &testItems{env: e, acc: acc}, nil
		},
		Permission:    e.permission,
		Schema:        func(context.Context) (*hooks.Schema, error) { return testSchema, nil },
		ParseQuery:    parseQuery,
		CompileFilter: compileFilter,
		Hooks:         e.hooks,
		PollInterval:  time.Second,
	}
	if o.config != nil {
		o.config(cfg)
	}
	hub, err := realtime.New(cfg)
	require.NoError(t, err)
	e.hub = hub
	require.NoError(t, hub.Start(ctx))
	mux := http.NewServeMux()
	mux.Handle(ws.RESTPath, hub)
	e.srv = httptest.NewServer(mux)
	t.Cleanup(func() {
		hub.Stop()
		e.srv.Close()
	})
	e.url = "ws" + strings.TrimPrefix(e.srv.URL, "http") + ws.RESTPath
	e.auth.addToken("admin-token", hooks.Accountability{User: "u-admin", Role: "r-admin", Admin: true}, nil)
	e.auth.addToken("editor-token", hooks.Accountability{User: "u-editor", Role: "r-editor"}, nil)
	e.auth.addUser("admin@example.com", "secret", "admin-token", hooks.Accountability{User: "u-admin", Role: "r-admin", Admin: true})
	return e
}

func (e *env) permission(_ context.Context, acc *hooks.Accountability, collection, action string) (*hooks.Permission, error) {
	e.permMu.Lock()
	defer e.permMu.Unlock()
	if collection != "articles" || action != "read" {
		return nil, nil
	}
	return e.perms[acc.Role], nil
}

func (e *env) setPermission(role string, p *hooks.Permission) {
	e.permMu.Lock()
	defer e.permMu.Unlock()
	e.perms[role] = p
}

// items is the system items service (admin) for writing test data.
func (e *env) items() hooks.ItemsService { return &testItems{env: e} }

// wsClient is a test-side socket. A goroutine reads frames into a channel,
// so tests can wait for a frame, for silence, or for the close.
type wsClient struct {
	t      *testing.T
	conn   *websocket.Conn
	frames chan []byte
	done   chan struct{} // closed when reading stops; err is then set
	err    error
}

func dial(t *testing.T, url string) *wsClient {
	t.Helper()
	c, resp, err := websocket.DefaultDialer.Dial(url, nil)
	require.NoError(t, err)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	t.Cleanup(func() { c.Close() })
	wc := &wsClient{t: t, conn: c, frames: make(chan []byte, 1024), done: make(chan struct{})}
	go wc.read()
	return wc
}

func (c *wsClient) read() {
	defer close(c.done)
	for {
		_, b, err := c.conn.ReadMessage()
		if err != nil {
			c.err = err
			return
		}
		c.frames <- b
	}
}

// dialAuthed connects in handshake mode and authenticates with token.
func dialAuthed(t *testing.T, e *env, token string) *wsClient {
	t.Helper()
	c := dial(t, e.url)
	c.send(map[string]any{"type": "auth", "access_token": token})
	m := c.next()
	require.Equal(t, "auth", m["type"])
	require.Equal(t, "ok", m["status"], "auth reply: %v", m)
	return c
}

// dialStatus dials and returns the HTTP status of a refused upgrade.
func dialStatus(t *testing.T, url string, hdr http.Header) int {
	t.Helper()
	c, resp, err := websocket.DefaultDialer.Dial(url, hdr)
	if err == nil {
		c.Close()
		return http.StatusSwitchingProtocols
	}
	require.NotNil(t, resp, "dial error without response: %v", err)
	resp.Body.Close()
	return resp.StatusCode
}

func (c *wsClient) send(m any) {
	c.t.Helper()
	require.NoError(c.t, c.conn.WriteJSON(m))
}

func (c *wsClient) sendRaw(b []byte) {
	c.t.Helper()
	require.NoError(c.t, c.conn.WriteMessage(websocket.TextMessage, b))
}

// next returns the next frame, waiting 5s at most.
func (c *wsClient) next() map[string]any {
	c.t.Helper()
	return c.nextWithin(5 * time.Second)
}

func (c *wsClient) nextWithin(d time.Duration) map[string]any {
	c.t.Helper()
	b := c.nextRawWithin(d)
	var m map[string]any
	require.NoError(c.t, json.Unmarshal(b, &m), "frame: %s", b)
	return m
}

func (c *wsClient) nextRaw() []byte {
	c.t.Helper()
	return c.nextRawWithin(5 * time.Second)
}

func (c *wsClient) nextRawWithin(d time.Duration) []byte {
	c.t.Helper()
	select {
	case b := <-c.frames:
		return b
	case <-time.After(d):
		c.t.Fatalf("no frame within %v", d)
	case <-c.done:
		select {
		case b := <-c.frames:
			return b
		default:
		}
		c.t.Fatalf("socket closed while waiting for a frame: %v", c.err)
	}
	return nil
}

// nextOf returns the next frame of the given type, skipping others (pings).
func (c *wsClient) nextOf(typ string) map[string]any {
	c.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		m := c.nextWithin(time.Until(deadline))
		if m["type"] == typ {
			return m
		}
	}
}

// closed waits for the server to close the socket and returns the close
// error (nil when the connection just dropped). Frames before it are skipped.
func (c *wsClient) closed(within time.Duration) *websocket.CloseError {
	c.t.Helper()
	select {
	case <-c.done:
	case <-time.After(within):
		c.t.Fatalf("socket still open after %v", within)
	}
	var ce *websocket.CloseError
	if errors.As(c.err, &ce) {
		return ce
	}
	return nil
}

// quiet asserts that no frame arrives within d.
func (c *wsClient) quiet(d time.Duration) {
	c.t.Helper()
	select {
	case b := <-c.frames:
		c.t.Fatalf("unexpected frame: %s", b)
	case <-time.After(d):
	}
}

// subscribe sends a subscribe and returns the init frame.
func (c *wsClient) subscribe(m map[string]any) map[string]any {
	c.t.Helper()
	m["type"] = "subscribe"
	c.send(m)
	init := c.next()
	require.Equal(c.t, "subscription", init["type"], "init: %v", init)
	require.Equal(c.t, "init", init["event"])
	return init
}

func errorCode(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

func errorMessage(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	s, _ := e["message"].(string)
	return s
}
