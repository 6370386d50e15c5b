package realtime_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/hooks"
	"github.com/hookd/hookd/internal/config"
	"github.com/hookd/hookd/internal/realtime"
)

func TestSubscribeInitAndEvents(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	ctx := context.Background()
	items := e.items()
	first, err := items.CreateOne(ctx, hooks.Item{"title": "first", "status": "published"})
	require.NoError(t, err)

	c := dialAuthed(t, e, "admin-token")
	init := c.subscribe(map[string]any{"collection": "articles", "uid": "s1"})
	require.Equal(t, "s1", init["uid"])
	require.Equal(t, []any{map[string]any{"id": first, "title": "first", "status": "published", "secret": nil}}, init["data"])

	key, err := items.CreateOne(ctx, hooks.Item{"title": "second"})
	require.NoError(t, err)
	m := c.nextOf("subscription")
	require.Equal(t, "create", m["event"])
	require.Equal(t, "s1", m["uid"])
	require.Equal(t, []any{map[string]any{"id": key, "title": "second", "status": "draft", "secret": nil}}, m["data"])

	_, err = items.UpdateOne(ctx, key, hooks.Item{"title": "second, edited"})
	require.NoError(t, err)
	m = c.nextOf("subscription")
	require.Equal(t, "update", m["event"])
	require.Equal(t, "second, edited", m["data"].([]any)[0].(map[string]any)["title"])

	_, err = items.DeleteOne(ctx, key)
	require.NoError(t, err)
	m = c.nextOf("subscription")
	require.Equal(t, map[string]any{"type": "subscription", "event": "delete", "data": []any{key}, "uid": "s1"}, m)

	// Unsubscribe is confirmed, and nothing arrives after it.
	c.send(map[string]any{"type": "unsubscribe", "uid": "s1"})
	require.Equal(t, map[string]any{"type": "subscription", "event": "unsubscribe", "uid": "s1"}, c.nextOf("subscription"))
	_, err = items.CreateOne(ctx, hooks.Item{"title": "unseen"})
	require.NoError(t, err)
	c.send(map[string]any{"type": "ping", "uid": "after"})
	require.Equal(t, map[string]any{"type": "pong", "uid": "after"}, c.next())
}

func TestSubscribeOptions(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	ctx := context.Background()
	items := e.items()
	a, err := items.CreateOne(ctx, hooks.Item{"title": "a", "status": "published"})
	require.NoError(t, err)
	b, err := items.CreateOne(ctx, hooks.Item{"title": "b", "status": "draft"})
	require.NoError(t, err)
	c := dialAuthed(t, e, "admin-token")

	// event: init without data, then only that event.
	init := c.subscribe(map[string]any{"collection": "articles", "event": "update", "uid": "ev"})
	require.Equal(t, map[string]any{"type": "subscription", "event": "init", "uid": "ev"}, init)

	// query in the SDK's string form: fields and a filter.
	init = c.subscribe(map[string]any{"collection": "articles", "uid": "q",
		"query": map[string]any{"fields": "id,title", "filter": `{"status":{"_eq":"published"}}`}})
	require.Equal(t, []any{map[string]any{"id": a, "title": "a"}}, init["data"])

	// item: init is the object; only that item's events arrive.
	init = c.subscribe(map[string]any{"collection": "articles", "item": b, "uid": "item",
		"query": map[string]any{"fields": []any{"title"}}})
	require.Equal(t, map[string]any{"title": "b"}, init["data"])

	// A draft is created: the filtered subscription skips it, event-only
	// ("update") skips it, the item one is for another key.
	_, err = items.CreateOne(ctx, hooks.Item{"title": "c"})
	require.NoError(t, err)
	// b is updated: "ev" gets it, "item" gets the object, "q" skips (draft).
	_, err = items.UpdateOne(ctx, b, hooks.Item{"title": "b2"})
	require.NoError(t, err)
	got := map[string]map[string]any{}
	for len(got) < 2 {
		m := c.nextOf("subscription")
		uid := m["uid"].(string)
		require.NotContains(t, got, uid, "second frame for %s: %v", uid, m)
		got[uid] = m
	}
	require.Equal(t, "update", got["ev"]["event"])
	require.Equal(t, map[string]any{"title": "b2"}, got["item"]["data"])
	// a is published and updated: now "q" gets it, projected.
	_, err = items.UpdateOne(ctx, a, hooks.Item{"title": "a2"})
	require.NoError(t, err)
	seen := map[string]any{}
	for len(seen) < 2 {
		m := c.nextOf("subscription")
		seen[m["uid"].(string)] = m["data"]
	}
	require.Equal(t, []any{map[string]any{"id": a, "title": "a2"}}, seen["q"])
	require.Contains(t, seen, "ev")

	// Same uid replaces the subscription; unsubscribe without uid removes all.
	c.subscribe(map[string]any{"collection": "articles", "event": "delete", "uid": "ev"})
	c.send(map[string]any{"type": "unsubscribe"})
	require.Equal(t, map[string]any{"type": "subscription", "event": "unsubscribe"}, c.nextOf("subscription"))
	_, err = items.UpdateOne(ctx, a, hooks.Item{"title": "a3"})
	require.NoError(t, err)
	c.send(map[string]any{"type": "ping", "uid": "end"})
	require.Equal(t, map[string]any{"type": "pong", "uid": "end"}, c.next())
}

func TestSubscribeErrors(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	c := dialAuthed(t, e, "admin-token")
	for _, tc := range []struct {
		msg  map[string]any
		code string
	}{
		{map[string]any{"uid": 1}, "INVALID_PAYLOAD"},
		{map[string]any{"collection": "nope", "uid": 2}, "FORBIDDEN"},
		{map[string]any{"collection": "articles", "event": "upsert", "uid": 3}, "INVALID_PAYLOAD"},
		{map[string]any{"collection": "articles", "query": map[string]any{"filter": "{bad json"}, "uid": 4}, "INVALID_QUERY"},
		{map[string]any{"collection": "articles", "query": map[string]any{"filter": map[string]any{"nofield": map[string]any{"_eq": 1}}}, "uid": 5}, "INVALID_QUERY"},
		{map[string]any{"collection": "articles", "query": "fields=a", "uid": 6}, "INVALID_QUERY"},
	} {
		tc.msg["type"] = "subscribe"
		c.send(tc.msg)
		m := c.next()
		require.Equal(t, "subscribe", m["type"], "%v", tc.msg)
		require.Equal(t, "error", m["status"])
		require.Equal(t, tc.code, errorCode(m), "%v → %v", tc.msg, m)
		require.Equal(t, tc.msg["uid"], int(m["uid"].(float64)))
	}

	// A role without read permission gets FORBIDDEN and no subscription.
	ed := dialAuthed(t, e, "editor-token")
	ed.send(map[string]any{"type": "subscribe", "collection": "articles", "uid": "x"})
	m := ed.next()
	require.Equal(t, "FORBIDDEN", errorCode(m))
	_, err := e.items().CreateOne(context.Background(), hooks.Item{"title": "t"})
	require.NoError(t, err)
	ed.send(map[string]any{"type": "ping"})
	require.Equal(t, "pong", ed.next()["type"])
}

// editorReadsPublished is a hub whose r-editor role may read published
// articles, and only their id and title, with the items service that writes.
func editorReadsPublished(t *testing.T) (*env, hooks.ItemsService) {
	t.Helper()
	e := setup(t, nil)
	e.setPermission("r-editor", &hooks.Permission{Role: "r-editor", Collection: "articles", Action: "read",
		Permissions: map[string]any{"status": map[string]any{"_eq": "published"}}, Fields: []string{"id", "title"}})
	return e, e.items()
}

// A non-admin subscriber never receives a forbidden row, field or deleted
// key: the role may read published articles, and only id and title.
func TestEventPermissions(t *testing.T) {
	t.Parallel()
	e, items := editorReadsPublished(t)
	ctx := context.Background()
	draft, err := items.CreateOne(ctx, hooks.Item{"title": "draft", "secret": "s"})
	require.NoError(t, err)

	editor := dialAuthed(t, e, "editor-token")
	init := editor.subscribe(map[string]any{"collection": "articles", "uid": "all"})
	require.Equal(t, []any{}, init["data"])
	editor.subscribe(map[string]any{"collection": "articles", "event": "delete", "uid": "del"})
	admin := dialAuthed(t, e, "admin-token")
	admin.subscribe(map[string]any{"collection": "articles", "uid": "adm"})

	pub, err := items.CreateOne(ctx, hooks.Item{"title": "public", "status": "published", "secret": "s2"})
	require.NoError(t, err)
	_, err = items.UpdateOne(ctx, draft, hooks.Item{"title": "draft edited"})
	require.NoError(t, err)
	_, err = items.DeleteOne(ctx, draft) // a draft: its key must not reach the editor
	require.NoError(t, err)
	_, err = items.DeleteOne(ctx, pub)
	require.NoError(t, err)

	// The admin sees all four events, in order, with every field.
	var adminEvents []string
	for len(adminEvents) < 4 {
		m := admin.nextOf("subscription")
		adminEvents = append(adminEvents, m["event"].(string))
		if m["event"] == "create" {
			require.Equal(t, "s2", m["data"].([]any)[0].(map[string]any)["secret"])
		}
	}
	require.Equal(t, []string{"create", "update", "delete", "delete"}, adminEvents)

	// The editor: the create of the published row without the secret; the
	// published row's delete on both subscriptions; nothing about the draft.
	m := editor.nextOf("subscription")
	require.Equal(t, map[string]any{"type": "subscription", "event": "create", "uid": "all",
		"data": []any{map[string]any{"id": pub, "title": "public"}}}, m)
	deletes := map[string]any{}
	for len(deletes) < 2 {
		m := editor.nextOf("subscription")
		require.Equal(t, "delete", m["event"], "%v", m)
		deletes[m["uid"].(string)] = m["data"]
	}
	require.Equal(t, map[string]any{"all": []any{pub}, "del": []any{pub}}, deletes)
	editor.send(map[string]any{"type": "ping", "uid": "end"})
	require.Equal(t, map[string]any{"type": "pong", "uid": "end"}, editor.next())
}

// Subscribers are grouped by accountability between pages; a socket that
// authenticates again is regrouped before the next event, which it gets
// under its new permissions only.
func TestEventsFollowReauthentication(t *testing.T) {
	t.Parallel()
	e, items := editorReadsPublished(t)
	ctx := context.Background()
	c := dialAuthed(t, e, "admin-token")
	c.subscribe(map[string]any{"collection": "articles", "uid": "s"})
	// A second admin socket keeps the group the first one leaves.
	other := dialAuthed(t, e, "admin-token")
	other.subscribe(map[string]any{"collection": "articles", "uid": "s"})
	create := func(item hooks.Item) any {
		key, err := items.CreateOne(ctx, item)
		require.NoError(t, err)
		return key
	}

	create(hooks.Item{"title": "one", "secret": "s1"})
	require.Equal(t, "s1", c.nextOf("subscription")["data"].([]any)[0].(map[string]any)["secret"])
	require.Equal(t, "s1", other.nextOf("subscription")["data"].([]any)[0].(map[string]any)["secret"])

	c.send(map[string]any{"type": "auth", "access_token": "editor-token"})
	require.Equal(t, "ok", c.nextOf("auth")["status"])
	create(hooks.Item{"title": "draft", "secret": "s2"}) // the editor may not read drafts
	pub := create(hooks.Item{"title": "two", "status": "published", "secret": "s3"})
	require.Equal(t, map[string]any{"type": "subscription", "event": "create", "uid": "s",
		"data": []any{map[string]any{"id": pub, "title": "two"}}}, c.nextOf("subscription"))
	require.Equal(t, "s2", other.nextOf("subscription")["data"].([]any)[0].(map[string]any)["secret"])
	require.Equal(t, "s3", other.nextOf("subscription")["data"].([]any)[0].(map[string]any)["secret"])

	c.send(map[string]any{"type": "auth", "access_token": "admin-token"})
	require.Equal(t, "ok", c.nextOf("auth")["status"])
	create(hooks.Item{"title": "three", "secret": "s4"})
	require.Equal(t, "s4", c.nextOf("subscription")["data"].([]any)[0].(map[string]any)["secret"])
}

// Rules the hub cannot evaluate in memory are answered by one read shared
// by subscribers with the same role and query, and such a rule never lets a
// delete through.
func TestEventPermissionsNeedingARead(t *testing.T) {
	t.Parallel()
	reads := make(chan string, 100)
	env := setup(t, &envOpts{config: func(cfg *realtime.Config) {
		items := cfg.Items
		cfg.Items = func(ctx context.Context, collection string, acc *hooks.Accountability) (hooks.ItemsService, error) {
			svc, err := items(ctx, collection, acc)
			if err != nil {
				return nil, err
			}
			return &countingItems{ItemsService: svc, reads: reads, who: acc.User}, nil
		}
		compile := cfg.CompileFilter
		cfg.CompileFilter = func(c *hooks.Collection, f map[string]any, v *realtime.FilterVars) (func(hooks.Item) bool, error) {
			if _, ok := f["author.name"]; ok {
				return nil, fmt.Errorf("relational: %w", realtime.ErrNotInMemory)
			}
			return compile(c, f, v)
		}
	}})
	ctx := context.Background()
	// The rule mentions a relation: not evaluable in memory. (The test
	// items service has no relations and treats that condition as true.)
	env.auth.addToken("editor-2", hooks.Accountability{User: "u-editor-2", Role: "r-editor"}, nil)
	// Reads for this one fail: the others must still get their events.
	env.auth.addToken("broken", hooks.Accountability{User: "u-broken", Role: "r-editor"}, nil)
	env.setPermission("r-editor", &hooks.Permission{Role: "r-editor", Collection: "articles", Action: "read",
		Permissions: map[string]any{"author.name": map[string]any{"_eq": "x"}, "status": map[string]any{"_eq": "published"}},
		Fields:      []string{"*"}})

	broken := dialAuthed(t, env, "broken")
	broken.subscribe(map[string]any{"collection": "articles", "event": "create", "uid": "c",
		"query": map[string]any{"fields": "id"}}) // another query: a read of its own
	e1 := dialAuthed(t, env, "editor-token")
	e2 := dialAuthed(t, env, "editor-2")
	// event subscriptions: no init read.
	e1.subscribe(map[string]any{"collection": "articles", "event": "create", "uid": "c"})
	e2.subscribe(map[string]any{"collection": "articles", "event": "create", "uid": "c"})
	e1.subscribe(map[string]any{"collection": "articles", "event": "delete", "uid": "d"})
	drainReads(reads)

	_ = err0(env.items().CreateOne(ctx, hooks.Item{"title": "p", "status": "published"}))
	require.Equal(t, "create", e1.nextOf("subscription")["event"])
	require.Equal(t, "create", e2.nextOf("subscription")["event"])
	got := drainReads(reads)
	require.Len(t, got, 2, "one read serves both subscribers of the role and query; the other query has its own: %v", got)
	require.Contains(t, got, "u-broken")

	key := err0(env.items().CreateOne(ctx, hooks.Item{"title": "d", "status": "published"}))
	e1.nextOf("subscription")
	_ = err0(env.items().DeleteOne(ctx, key))
	e1.send(map[string]any{"type": "ping", "uid": "end"})
	require.Equal(t, map[string]any{"type": "pong", "uid": "end"}, e1.next(), "no delete when the rule needs a read")
}

type countingItems struct {
	hooks.ItemsService
	reads chan string
	who   string
}

func (c *countingItems) ReadMany(ctx context.Context, keys []any, q *hooks.Query) ([]hooks.Item, error) {
	c.reads <- c.who
	if c.who == "u-broken" {
		return nil, errors.New("this subscriber's read fails")
	}
	return c.ItemsService.ReadMany(ctx, keys, q)
}

func drainReads(ch chan string) []string {
	var out []string
	for {
		select {
		case s := <-ch:
			out = append(out, s)
		default:
			return out
		}
	}
}

func err0[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestItemsOverTheSocket(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	c := dialAuthed(t, e, "admin-token")
	req := func(m map[string]any) map[string]any {
		t.Helper()
		m["type"] = "items"
		c.send(m)
		return c.nextOf("items")
	}

	m := req(map[string]any{"collection": "articles", "action": "create", "data": map[string]any{"title": "one"}, "uid": "c1"})
	require.Equal(t, "c1", m["uid"])
	one := m["data"].(map[string]any)
	require.Equal(t, "one", one["title"])
	id := one["id"]

	m = req(map[string]any{"collection": "articles", "action": "create", "data": []any{
		map[string]any{"title": "two", "status": "published"}, map[string]any{"title": "three"}}})
	require.Len(t, m["data"], 2)

	m = req(map[string]any{"collection": "articles", "action": "read", "id": id})
	require.Equal(t, "one", m["data"].(map[string]any)["title"])
	m = req(map[string]any{"collection": "articles", "action": "read", "query": map[string]any{"filter": `{"status":{"_eq":"published"}}`, "fields": "title"}})
	require.Equal(t, []any{map[string]any{"title": "two"}}, m["data"])

	m = req(map[string]any{"collection": "articles", "action": "update", "id": id, "data": map[string]any{"title": "uno"}})
	require.Equal(t, "uno", m["data"].(map[string]any)["title"])
	// As Directus, the read-back applies the query: the rows no longer match.
	m = req(map[string]any{"collection": "articles", "action": "update", "query": map[string]any{"filter": `{"status":{"_eq":"draft"}}`},
		"data": map[string]any{"status": "archived"}})
	require.Equal(t, []any{}, m["data"])
	m = req(map[string]any{"collection": "articles", "action": "read", "query": map[string]any{"filter": `{"status":{"_eq":"archived"}}`}})
	require.Len(t, m["data"], 2)

	m = req(map[string]any{"collection": "articles", "action": "delete", "id": id})
	require.Equal(t, id, m["data"])
	m = req(map[string]any{"collection": "articles", "action": "delete", "query": map[string]any{"filter": `{"status":{"_eq":"archived"}}`}})
	require.Len(t, m["data"], 1)
	m = req(map[string]any{"collection": "articles", "action": "read"})
	require.Len(t, m["data"], 1)
	m = req(map[string]any{"collection": "articles", "action": "read", "ids": []any{id}})
	require.Equal(t, []any{}, m["data"])

	for _, tc := range []struct {
		msg     map[string]any
		code    string
		message string
	}{
		{map[string]any{"collection": "directus_users", "action": "read"}, "INVALID_COLLECTION", "Cannot trigger an action on a system collection."},
		{map[string]any{"collection": "articles", "action": "delete"}, "INVALID_PAYLOAD", "Invalid payload. Either 'ids', 'id' or 'query' is required for a DELETE request."},
		{map[string]any{"collection": "articles", "action": "upsert"}, "INVALID_PAYLOAD", ""},
		{map[string]any{"action": "read"}, "INVALID_PAYLOAD", ""},
		{map[string]any{"collection": "articles", "action": "create", "data": "x"}, "INVALID_PAYLOAD", ""},
		{map[string]any{"collection": "nope", "action": "read"}, "FORBIDDEN", ""},
	} {
		tc.msg["uid"] = "err"
		m := req(tc.msg)
		require.Equal(t, "error", m["status"], "%v", tc.msg)
		require.Equal(t, tc.code, errorCode(m), "%v", m)
		require.Equal(t, "err", m["uid"])
		if tc.message != "" {
			require.Equal(t, tc.message, errorMessage(m))
		}
	}

	// Writes as a role the items service refuses: FORBIDDEN, socket open.
	ed := dialAuthed(t, e, "editor-token")
	ed.send(map[string]any{"type": "items", "collection": "articles", "action": "create", "data": map[string]any{"title": "x"}})
	require.Equal(t, "FORBIDDEN", errorCode(ed.nextOf("items")))
}

func TestHooks(t *testing.T) {
	t.Parallel()
	e := setup(t, &envOpts{ws: func(ws *config.Websockets) { ws.RESTAuth = "public" }})
	// The seed's filter: add default fields to subscriptions without any.
	e.hooks.filter("websocket.message", func(payload any, meta *hooks.Meta) (any, error) {
		msg := payload.(map[string]any)
		require.NotNil(t, meta.Extra["client"])
		if msg["type"] == "subscribe" {
			q, _ := msg["query"].(map[string]any)
			if q == nil {
				q = map[string]any{}
			}
			if q["fields"] == nil {
				q["fields"] = []any{"id"}
			}
			msg["query"] = q
		}
		if msg["type"] == "blocked" {
			return nil, hooks.InvalidPayload("Blocked by a hook")
		}
		return msg, nil
	})
	// The seed's custom message type: a typing indicator answered by the
	// client object the action receives.
	e.hooks.action("websocket.message", func(meta *hooks.Meta) {
		msg := meta.Extra["message"].(map[string]any)
		if msg["type"] != "typing-indicator" {
			return
		}
		client := meta.Extra["client"].(hooks.WebSocketClient)
		_ = client.Send(map[string]any{"type": "typing", "channel": msg["channel"], "client": client.UID()})
	})
	// Custom authentication: a "key" in the auth message.
	e.hooks.filter("websocket.authenticate", func(payload any, meta *hooks.Meta) (any, error) {
		msg := meta.Extra["message"].(map[string]any)
		if msg["key"] == "let-me-in" {
			return &hooks.Accountability{User: "u-key", Role: "r-key"}, nil
		}
		return payload, nil
	})
	e.setPermission("", &hooks.Permission{Fields: []string{"*"}})
	_ = err0(e.items().CreateOne(context.Background(), hooks.Item{"title": "t"}))

	c := dial(t, e.url)
	init := c.subscribe(map[string]any{"collection": "articles", "uid": "s"})
	require.Len(t, init["data"], 1)
	require.Equal(t, []string{"id"}, keys(init["data"].([]any)[0].(map[string]any)), "the filter rewrote the query")

	c.send(map[string]any{"type": "blocked", "uid": "b"})
	m := c.nextOf("server")
	require.Equal(t, "server", m["type"])
	require.Equal(t, "b", m["uid"])
	require.Equal(t, "Invalid payload. Blocked by a hook.", errorMessage(m))

	c.send(map[string]any{"type": "typing-indicator", "channel": "general"})
	m = c.nextOf("typing")
	require.Equal(t, "general", m["channel"])
	require.Equal(t, c.uidOn(t, e), m["client"])

	c.send(map[string]any{"type": "auth", "key": "let-me-in"})
	require.Equal(t, "ok", c.next()["status"])
	require.Equal(t, "u-key", e.hub.Clients()[0].Accountability().User)
	c.conn.Close()
	require.Eventually(t, func() bool {
		fired := e.hooks.firedEvents()
		for _, ev := range []string{"websocket.connect", "websocket.message", "websocket.auth.success", "websocket.close"} {
			if !contains(fired, ev) {
				return false
			}
		}
		return true
	}, 5*time.Second, 10*time.Millisecond)
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// uidOn is the server-side uid of the hub's only client.
func (c *wsClient) uidOn(t *testing.T, e *env) string {
	t.Helper()
	clients := e.hub.Clients()
	require.Len(t, clients, 1)
	return clients[0].UID()
}
