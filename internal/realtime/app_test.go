package realtime_test

// The realtime hub wired for real: started hookd instances (internal/app)
// with the auth service, the item service, the query compiler and the hook
// bus, on one database.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/hooks"
	"github.com/hookd/hookd/hooks/notifications"
	"github.com/hookd/hookd/internal/app"
	"github.com/hookd/hookd/internal/config"
	"github.com/hookd/hookd/internal/realtime"
	"github.com/hookd/hookd/internal/testdb"
)

const (
	adminEmail    = "admin@example.com"
	adminPassword = "admin-password"
)

type instance struct {
	t    testing.TB
	app  *app.App
	base string // http://host:port
	ws   string // ws://host:port/websocket
}

// startInstance starts hookd on d. Every instance of a test shares the
// SECRET, so tokens cross instances.
func startInstance(t testing.TB, d *testdb.DB, env map[string]string, exts ...hooks.Extension) *instance {
	t.Helper()
	vars := map[string]string{"DATABASE_URL": d.URL, "HOST": "127.0.0.1", "PORT": "0", "SECRET": "realtime-test",
		"ADMIN_EMAIL": adminEmail, "ADMIN_PASSWORD": adminPassword, "LOG_LEVEL": "warn"}
	for k, v := range env {
		vars[k] = v
	}
	cfg, err := config.Load(func(k string) (string, bool) { v, ok := vars[k]; return v, ok })
	require.NoError(t, err)
	ctx := context.Background()
	a, err := app.New(ctx, &app.Config{Config: cfg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		InstanceID: fmt.Sprintf("rt-%s-%d", d.Name, time.Now().UnixNano()), Extensions: exts})
	require.NoError(t, err)
	require.NoError(t, a.Start(ctx))
	t.Cleanup(func() { _ = a.Stop(context.Background()) })
	return &instance{t: t, app: a, base: "http://" + a.Addr(), ws: "ws://" + a.Addr() + "/websocket"}
}

// appDB is a database with an articles table (created before the
// instances start, so their first schema snapshot has it).
func appDB(t testing.TB) *testdb.DB {
	t.Helper()
	d := testdb.New(t)
	_, err := d.Pool.Exec(context.Background(), `CREATE TABLE articles (id serial PRIMARY KEY, title text,
		status text NOT NULL DEFAULT 'draft', secret text)`)
	require.NoError(t, err)
	return d
}

// call makes a JSON request and returns the status and decoded body.
func (in *instance) call(method, path, token string, body any) (int, map[string]any) {
	in.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(in.t, err)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, in.base+path, rd)
	require.NoError(in.t, err)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(in.t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(in.t, err)
	var out map[string]any
	if len(raw) > 0 {
		require.NoError(in.t, json.Unmarshal(raw, &out), "%s %s: %s", method, path, raw)
	}
	return resp.StatusCode, out
}

func (in *instance) login(email, password string) string {
	in.t.Helper()
	status, body := in.call("POST", "/auth/login", "", map[string]any{"email": email, "password": password, "mode": "json"})
	require.Equal(in.t, http.StatusOK, status, "%v", body)
	return body["data"].(map[string]any)["access_token"].(string)
}

func (in *instance) create(token, collection string, item map[string]any) any {
	in.t.Helper()
	status, body := in.call("POST", "/items/"+collection, token, item)
	require.Equal(in.t, http.StatusOK, status, "%v", body)
	return body["data"].(map[string]any)["id"]
}

// dialWS connects and authenticates in handshake mode.
func (in *instance) dialWS(token string) *wsClient {
	in.t.Helper()
	c := dial(in.t.(*testing.T), in.ws)
	c.send(map[string]any{"type": "auth", "access_token": token})
	m := c.next()
	require.Equal(in.t, "ok", m["status"], "%v", m)
	return c
}

func TestAppTwoInstances(t *testing.T) {
	t.Parallel()
	d := appDB(t)
	a := startInstance(t, d, nil)
	b := startInstance(t, d, nil)
	token := a.login(adminEmail, adminPassword)
	// A bad token at the upgrade is refused before the socket opens.
	require.Equal(t, http.StatusUnauthorized, dialStatus(t, b.ws+"?access_token=not-a-token", nil))

	onB := b.dialWS(token)
	init := onB.subscribe(map[string]any{"collection": "articles", "uid": "s",
		"query": map[string]any{"fields": "id,title", "filter": `{"status":{"_eq":"published"}}`}})
	require.Equal(t, []any{}, init["data"])

	// A change written through A reaches B's subscriber.
	id := a.create(token, "articles", map[string]any{"title": "hello", "status": "published"})
	m := onB.nextOf("subscription")
	require.Equal(t, map[string]any{"type": "subscription", "event": "create", "uid": "s",
		"data": []any{map[string]any{"id": id, "title": "hello"}}}, m)

	// A broadcast from A reaches B's clients (and is larger than NOTIFY allows).
	big := strings.Repeat("b", 20_000)
	require.NoError(t, a.app.Realtime().Broadcast(context.Background(), map[string]any{"type": "big", "data": big}, nil))
	m = onB.nextOf("big")
	require.Equal(t, big, m["data"])

	// Killing B's LISTEN connection loses nothing.
	_, err := d.Pool.Exec(context.Background(), `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE application_name = $1`, realtime.ListenerApplicationName(b.app.Realtime().InstanceID()))
	require.NoError(t, err)
	var ids []any
	for i := 0; i < 3; i++ {
		ids = append(ids, a.create(token, "articles", map[string]any{"title": fmt.Sprint("after kill ", i), "status": "published"}))
	}
	var got []any
	for len(got) < 3 {
		got = append(got, onB.nextOf("subscription")["data"].([]any)[0].(map[string]any)["id"])
	}
	require.Equal(t, ids, got)

	// Items over B's socket write through B's item service; A's client sees it.
	onA := a.dialWS(token)
	onA.subscribe(map[string]any{"collection": "articles", "event": "update", "uid": "u"})
	onB.send(map[string]any{"type": "items", "collection": "articles", "action": "update", "id": id,
		"data": map[string]any{"title": "edited"}, "uid": "i"})
	require.Equal(t, "edited", onB.nextOf("items")["data"].(map[string]any)["title"])
	m = onA.nextOf("subscription")
	require.Equal(t, "update", m["event"])
	require.Equal(t, "edited", m["data"].([]any)[0].(map[string]any)["title"])
}

// A non-admin subscriber never receives a forbidden row, field or deleted
// key, through the real auth and item services.
func TestAppPermissions(t *testing.T) {
	t.Parallel()
	d := appDB(t)
	in := startInstance(t, d, nil)
	admin := in.login(adminEmail, adminPassword)

	status, body := in.call("POST", "/roles", admin, map[string]any{"name": "Reader"})
	require.Equal(t, http.StatusOK, status, "%v", body)
	role := body["data"].(map[string]any)["id"]
	status, body = in.call("POST", "/permissions", admin, map[string]any{"role": role, "collection": "articles",
		"action": "read", "permissions": map[string]any{"status": map[string]any{"_eq": "published"}},
		"fields": []any{"id", "title"}})
	require.Equal(t, http.StatusOK, status, "%v", body)
	status, body = in.call("POST", "/users", admin, map[string]any{"email": "reader@example.com",
		"password": "reader-password", "role": role})
	require.Equal(t, http.StatusOK, status, "%v", body)

	draft := in.create(admin, "articles", map[string]any{"title": "draft", "secret": "x"})
	// The reader authenticates over the socket with email and password.
	c := dial(t, in.ws)
	c.send(map[string]any{"type": "auth", "email": "reader@example.com", "password": "reader-password"})
	ok := c.next()
	require.Equal(t, "ok", ok["status"], "%v", ok)
	require.NotEmpty(t, ok["refresh_token"])

	init := c.subscribe(map[string]any{"collection": "articles", "uid": "all"})
	require.Equal(t, []any{}, init["data"])
	c.subscribe(map[string]any{"collection": "articles", "event": "delete", "uid": "del"})

	pub := in.create(admin, "articles", map[string]any{"title": "published", "status": "published", "secret": "y"})
	status, _ = in.call("PATCH", fmt.Sprint("/items/articles/", draft), admin, map[string]any{"title": "still draft"})
	require.Equal(t, http.StatusOK, status)
	status, _ = in.call("DELETE", fmt.Sprint("/items/articles/", draft), admin, nil)
	require.Equal(t, http.StatusNoContent, status)
	status, _ = in.call("DELETE", fmt.Sprint("/items/articles/", pub), admin, nil)
	require.Equal(t, http.StatusNoContent, status)

	require.Equal(t, map[string]any{"type": "subscription", "event": "create", "uid": "all",
		"data": []any{map[string]any{"id": pub, "title": "published"}}}, c.nextOf("subscription"))
	deletes := map[string]any{}
	for len(deletes) < 2 {
		m := c.nextOf("subscription")
		require.Equal(t, "delete", m["event"], "%v", m)
		deletes[m["uid"].(string)] = m["data"]
	}
	require.Equal(t, map[string]any{"all": []any{pub}, "del": []any{pub}}, deletes)
	c.send(map[string]any{"type": "ping", "uid": "end"})
	require.Equal(t, map[string]any{"type": "pong", "uid": "end"}, c.nextOf("pong"))
}

// The seed's WebSocket examples, as extensions of a started hookd: a
// typing indicator (custom message type), the notification broadcast from
// an items.create action, and the admin-only send loop over Clients().
func TestAppSeedExamples(t *testing.T) {
	t.Parallel()
	d := appDB(t)
	_, err := d.Pool.Exec(context.Background(), `CREATE TABLE notifications (id serial PRIMARY KEY, message text, "user" text, role text)`)
	require.NoError(t, err)
	var adminRole string
	typing := hooks.Extension{ID: "typing", Register: func(r hooks.Registrar, c *hooks.Context) error {
		r.Action("websocket.message", func(_ context.Context, meta hooks.Meta, _ hooks.EventContext) error {
			msg, _ := meta.Extra["message"].(map[string]any)
			if msg["type"] != "typing-indicator" {
				return nil
			}
			client := meta.Extra["client"].(hooks.WebSocketClient)
			for _, other := range c.Services.WebSocket().Clients() {
				if other.UID() != client.UID() {
					_ = other.Send(map[string]any{"type": "typing", "user": client.Accountability().User, "channel": msg["channel"]})
				}
			}
			return nil
		})
		// Admin-only send loop: every item created in articles is pushed to
		// the admin role's clients of this instance.
		r.Action("items.create", func(_ context.Context, meta hooks.Meta, _ hooks.EventContext) error {
			for _, client := range c.Services.WebSocket().Clients() {
				if acc := client.Accountability(); acc != nil && acc.Role == adminRole {
					_ = client.Send(map[string]any{"type": "alert", "data": meta.Payload})
				}
			}
			return nil
		}, hooks.Collections("articles"))
		return nil
	}}
	in := startInstance(t, d, nil, typing, notifications.Extension)
	admin := in.login(adminEmail, adminPassword)
	status, body := in.call("GET", "/users/me", admin, nil)
	require.Equal(t, http.StatusOK, status, "%v", body)
	adminRole = fmt.Sprint(body["data"].(map[string]any)["role"])

	c1 := in.dialWS(admin)
	c2 := in.dialWS(admin)
	c1.send(map[string]any{"type": "typing-indicator", "channel": "general"})
	m := c2.nextOf("typing")
	require.Equal(t, "general", m["channel"])

	in.create(admin, "notifications", map[string]any{"message": "hello all"})
	for _, c := range []*wsClient{c1, c2} {
		m := c.nextOf("notification")
		require.Equal(t, "hello all", m["data"].(map[string]any)["message"])
	}

	in.create(admin, "articles", map[string]any{"title": "for admins"})
	require.Equal(t, "for admins", c1.nextOf("alert")["data"].(map[string]any)["title"])
}

// $NOW in a subscription filter is the time each event is matched, as a
// Directus subscriber re-reads with the current time: a reminder that falls
// due after the subscription was made still matches `due_at <= $NOW`.
// (The wait is the point of the test: time has to pass.)
func TestAppSubscriptionNowIsEvaluatedPerEvent(t *testing.T) {
	t.Parallel()
	d := testdb.New(t)
	_, err := d.Pool.Exec(context.Background(), `CREATE TABLE reminders (id serial PRIMARY KEY, title text,
		due_at timestamptz NOT NULL)`)
	require.NoError(t, err)
	in := startInstance(t, d, nil)
	token := in.login(adminEmail, adminPassword)
	c := in.dialWS(token)
	subscribed := time.Now()
	c.subscribe(map[string]any{"collection": "reminders", "uid": "due",
		"query": map[string]any{"filter": `{"due_at":{"_lte":"$NOW"}}`}})

	time.Sleep(1500 * time.Millisecond)
	due := subscribed.Add(time.Second).UTC().Format(time.RFC3339Nano)
	id := in.create(token, "reminders", map[string]any{"title": "now due", "due_at": due})
	m := c.nextOf("subscription")
	require.Equal(t, "create", m["event"])
	require.Equal(t, id, m["data"].([]any)[0].(map[string]any)["id"])
}

// A subscription whose query asks for meta gets it in init, as Directus
// answers (reference §4.7).
func TestAppSubscriptionInitCarriesMeta(t *testing.T) {
	t.Parallel()
	d := appDB(t)
	in := startInstance(t, d, nil)
	token := in.login(adminEmail, adminPassword)
	for _, status := range []string{"published", "published", "draft"} {
		in.create(token, "articles", map[string]any{"title": status, "status": status})
	}
	c := in.dialWS(token)
	init := c.subscribe(map[string]any{"collection": "articles", "uid": "m",
		"query": map[string]any{"fields": "id", "filter": `{"status":{"_eq":"published"}}`, "meta": "total_count,filter_count"}})
	require.Len(t, init["data"], 2)
	require.Equal(t, map[string]any{"total_count": float64(3), "filter_count": float64(2)}, init["meta"])

	// Without meta in the query, init has none.
	init = c.subscribe(map[string]any{"collection": "articles", "uid": "n", "query": map[string]any{"fields": "id"}})
	require.NotContains(t, init, "meta")
}
