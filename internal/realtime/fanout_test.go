package realtime_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/hooks"
	"github.com/hookd/hookd/internal/config"
	"github.com/hookd/hookd/internal/realtime"
	"github.com/hookd/hookd/internal/store"
	"github.com/hookd/hookd/internal/testdb"
)

// twoHubs are two instances on one database.
func twoHubs(t *testing.T, ws func(*config.Websockets)) (*env, *env) {
	t.Helper()
	a := setup(t, &envOpts{ws: ws})
	b := setup(t, &envOpts{db: a.db, ws: ws})
	return a, b
}

func TestEventsCrossInstances(t *testing.T) {
	t.Parallel()
	a, b := twoHubs(t, nil)
	onB := dialAuthed(t, b, "admin-token")
	onB.subscribe(map[string]any{"collection": "articles", "uid": "s"})

	// Written through A (whose Wake notifies every instance).
	key := err0(a.items().CreateOne(context.Background(), hooks.Item{"title": "from A"}))
	m := onB.nextOf("subscription")
	require.Equal(t, "create", m["event"])
	require.Equal(t, key, m["data"].([]any)[0].(map[string]any)["id"])
}

func TestBroadcastCrossesInstances(t *testing.T) {
	t.Parallel()
	a, b := twoHubs(t, func(ws *config.Websockets) { ws.RESTAuth = "public" })
	pubA := dial(t, a.url)
	pubB := dial(t, b.url)
	adminB := dialAuthed(t, b, "admin-token")
	require.Eventually(t, func() bool { return len(a.hub.Clients()) == 1 && len(b.hub.Clients()) == 2 },
		5*time.Second, 10*time.Millisecond)

	// Far beyond NOTIFY's 8000-byte payload limit.
	big := `{"type":"notification","data":"` + strings.Repeat("n", 100_000) + `"}`
	require.NoError(t, a.hub.Broadcast(context.Background(), big, nil))
	for _, c := range []*wsClient{pubA, pubB, adminB} {
		require.Equal(t, big, string(c.nextRaw()))
	}

	// Filtered by user, and objects are JSON-encoded.
	require.NoError(t, b.hub.Broadcast(context.Background(), map[string]any{"type": "to-admin"},
		&hooks.BroadcastFilter{User: "u-admin"}))
	require.Equal(t, `{"type":"to-admin"}`, string(adminB.nextRaw()))
	require.NoError(t, a.hub.Broadcast(context.Background(), `{"type":"to-role"}`,
		&hooks.BroadcastFilter{Role: "r-admin"}))
	require.Equal(t, `{"type":"to-role"}`, string(adminB.nextRaw()))
	pubA.send(map[string]any{"type": "ping"})
	require.Equal(t, "pong", pubA.next()["type"], "public clients got neither")
	pubB.send(map[string]any{"type": "ping"})
	require.Equal(t, "pong", pubB.next()["type"])
}

// Killing an instance's LISTEN connection loses nothing: polling and the
// reconnection catch up.
func TestListenConnectionKilled(t *testing.T) {
	t.Parallel()
	a, b := twoHubs(t, nil)
	onB := dialAuthed(t, b, "admin-token")
	onB.subscribe(map[string]any{"collection": "articles", "uid": "s"})
	ctx := context.Background()
	appName := realtime.ListenerApplicationName(b.hub.InstanceID())
	listenerPID := func() int {
		var pid int
		err := a.db.Pool.QueryRow(ctx, `SELECT coalesce(max(pid), 0) FROM pg_stat_activity WHERE application_name = $1`, appName).Scan(&pid)
		require.NoError(t, err)
		return pid
	}
	require.Eventually(t, func() bool { return listenerPID() != 0 }, 5*time.Second, 10*time.Millisecond)
	old := listenerPID()
	_, err := a.db.Pool.Exec(ctx, `SELECT pg_terminate_backend($1)`, old)
	require.NoError(t, err)

	var keys []any
	for i := 0; i < 5; i++ {
		keys = append(keys, err0(a.items().CreateOne(ctx, hooks.Item{"title": "while reconnecting"})))
	}
	var got []any
	for len(got) < len(keys) {
		m := onB.nextOf("subscription")
		got = append(got, m["data"].([]any)[0].(map[string]any)["id"])
	}
	require.Equal(t, keys, got)
	require.Eventually(t, func() bool { pid := listenerPID(); return pid != 0 && pid != old },
		10*time.Second, 20*time.Millisecond, "the LISTEN connection comes back")
}

// Transactions commit out of id order; the reader's cursor must not skip
// the earlier id that commits later.
func TestOutOfOrderCommits(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	c := dialAuthed(t, e, "admin-token")
	c.subscribe(map[string]any{"collection": "articles", "uid": "s"})
	ctx := context.Background()
	appendEvent := func(tx interface {
		store.Querier
	}, title string) {
		_, err := store.EventAppendTx(ctx, tx, []store.EventAppendParams{{Name: "items.create", Scope: "items",
			Action: "create", Collection: "articles", ItemKey: title, Data: map[string]any{"id": title, "title": title}}})
		require.NoError(t, err)
	}
	first, err := e.db.Pool.Begin(ctx)
	require.NoError(t, err)
	defer first.Rollback(ctx)   //nolint:errcheck
	appendEvent(first, "first") // lower id, commits last
	second, err := e.db.Pool.Begin(ctx)
	require.NoError(t, err)
	appendEvent(second, "second")
	require.NoError(t, second.Commit(ctx))
	e.hub.Wake()
	require.NoError(t, first.Commit(ctx))
	e.hub.Wake()
	var titles []any
	for len(titles) < 2 {
		m := c.nextOf("subscription")
		titles = append(titles, m["data"].([]any)[0].(map[string]any)["title"])
	}
	require.ElementsMatch(t, []any{"first", "second"}, titles)
}

// A bulk write's burst of events fills a healthy client's queue far beyond
// a handful of frames without disconnecting it.
func TestBurstReachesHealthyClient(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	c := dialAuthed(t, e, "admin-token")
	c.subscribe(map[string]any{"collection": "articles", "uid": "s"})
	ctx := context.Background()
	const n = 2000
	events := make([]store.EventAppendParams, n)
	for i := range events {
		events[i] = store.EventAppendParams{Name: "items.create", Scope: "items", Action: "create",
			Collection: "articles", ItemKey: i, Data: map[string]any{"id": i, "title": strings.Repeat("t", 200)}}
	}
	tx, err := e.db.Pool.Begin(ctx)
	require.NoError(t, err)
	_, err = store.EventAppendTx(ctx, tx, events)
	require.NoError(t, err)
	require.NoError(t, tx.Commit(ctx))
	e.hub.Wake()
	for i := 0; i < n; i++ {
		m := c.nextOf("subscription")
		require.Equal(t, float64(i), m["data"].([]any)[0].(map[string]any)["id"])
	}
}

// A transaction left open in another database of the cluster cannot write
// our tables, so it must not hold our events back (pg_snapshot_xmin alone
// would, until it ends). Polling is off: only the wake-up may deliver.
func TestForeignDatabaseTransactionDoesNotDelayEvents(t *testing.T) {
	t.Parallel()
	e := setup(t, &envOpts{config: func(c *realtime.Config) { c.PollInterval = time.Hour }})
	ctx := context.Background()
	other := testdb.New(t)
	tx, err := other.Pool.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx) //nolint:errcheck
	var xid uint64
	require.NoError(t, tx.QueryRow(ctx, "SELECT pg_current_xact_id()").Scan(&xid)) // holds the cluster's xmin
	var xmin uint64
	require.NoError(t, e.db.Pool.QueryRow(ctx, "SELECT pg_snapshot_xmin(pg_current_snapshot())").Scan(&xmin))
	require.LessOrEqual(t, xmin, xid, "the foreign transaction holds the cluster-wide horizon")

	c := dialAuthed(t, e, "admin-token")
	c.subscribe(map[string]any{"collection": "articles", "uid": "s"})
	key := err0(e.items().CreateOne(ctx, hooks.Item{"title": "not held back"}))
	m := c.nextOf("subscription")
	require.Equal(t, key, m["data"].([]any)[0].(map[string]any)["id"])
}

// Events reach a client in log order even when they land in the same read
// and belong to different subscriptions of the client.
func TestOrderAcrossSubscriptions(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	c := dialAuthed(t, e, "admin-token")
	c.subscribe(map[string]any{"collection": "articles", "event": "create", "uid": "c"})
	c.subscribe(map[string]any{"collection": "articles", "event": "delete", "uid": "d"})
	ctx := context.Background()
	var events []store.EventAppendParams
	for i := range 20 {
		action := "create"
		if i%2 == 1 {
			action = "delete"
		}
		events = append(events, store.EventAppendParams{Name: "items." + action, Scope: "items", Action: action,
			Collection: "articles", ItemKey: i, Data: map[string]any{"id": i}, OldData: map[string]any{"id": i}})
	}
	tx, err := e.db.Pool.Begin(ctx)
	require.NoError(t, err)
	_, err = store.EventAppendTx(ctx, tx, events) // one transaction: one read
	require.NoError(t, err)
	require.NoError(t, tx.Commit(ctx))
	e.hub.Wake()
	for i := range 20 {
		m := c.nextOf("subscription")
		require.Equal(t, []string{"c", "d"}[i%2], m["uid"], "frame %d: %v", i, m)
	}
}

// appendArticleEvent appends one event for articles in tx.
func appendArticleEvent(t *testing.T, tx store.Querier, action string, id int) {
	t.Helper()
	_, err := store.EventAppendTx(context.Background(), tx, []store.EventAppendParams{{Name: "items." + action,
		Scope: "items", Action: action, Collection: "articles", ItemKey: id,
		Data: map[string]any{"id": id, "title": fmt.Sprint("t", id)}, OldData: map[string]any{"id": id}}})
	require.NoError(t, err)
}

// eventID is the id of an event frame's (create or delete) first row.
func eventID(t *testing.T, m map[string]any) float64 {
	t.Helper()
	require.Equal(t, "subscription", m["type"], "%v", m)
	switch row := m["data"].([]any)[0].(type) {
	case map[string]any:
		return row["id"].(float64)
	case float64: // a delete carries keys
		return row
	}
	t.Fatalf("unexpected event data: %v", m)
	return 0
}

// Subscribers of one class share the page's frames, but one that
// subscribed after some of the page's transactions committed gets exactly
// the others, in order.
func TestClassPageWithSinceCutoff(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	ctx := context.Background()
	sub := func() *wsClient {
		c := dialAuthed(t, e, "admin-token")
		c.subscribe(map[string]any{"collection": "articles", "uid": "s"})
		return c
	}
	early1, early2 := sub(), sub()

	// An open transaction holds back every later one's events: they are
	// read together, in one page, once it commits.
	held, err := e.db.Pool.Begin(ctx)
	require.NoError(t, err)
	defer held.Rollback(ctx) //nolint:errcheck
	appendArticleEvent(t, held, "create", 1)
	commit := func(id int) {
		tx, err := e.db.Pool.Begin(ctx)
		require.NoError(t, err)
		appendArticleEvent(t, tx, "create", id)
		require.NoError(t, tx.Commit(ctx))
		e.hub.Wake()
	}
	commit(2) // before late's subscription: its init had the row
	late := sub()
	commit(3)
	require.NoError(t, held.Commit(ctx))
	e.hub.Wake()
	commit(4) // a later page

	for _, c := range []*wsClient{early1, early2} {
		for _, id := range []float64{1, 2, 3, 4} {
			require.Equal(t, id, eventID(t, c.nextOf("subscription")))
		}
	}
	for _, id := range []float64{1, 3, 4} {
		require.Equal(t, id, eventID(t, late.nextOf("subscription")))
	}
}

// A socket with two subscriptions in a page gets both's frames merged in
// log order, while sockets with one of them each get the class's page.
func TestTwoSubscriptionsOnOneSocketBesideSharedPages(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	both := dialAuthed(t, e, "admin-token")
	both.subscribe(map[string]any{"collection": "articles", "event": "create", "uid": "c"})
	both.subscribe(map[string]any{"collection": "articles", "uid": "all"})
	creates := dialAuthed(t, e, "admin-token")
	creates.subscribe(map[string]any{"collection": "articles", "event": "create", "uid": "c"})
	all := dialAuthed(t, e, "admin-token")
	all.subscribe(map[string]any{"collection": "articles", "uid": "all"})

	ctx := context.Background()
	const n = 30
	tx, err := e.db.Pool.Begin(ctx)
	require.NoError(t, err)
	for i := range n { // one transaction: one read
		appendArticleEvent(t, tx, []string{"create", "delete"}[i%3/2], i)
	}
	require.NoError(t, tx.Commit(ctx))
	e.hub.Wake()

	for i := range n {
		isCreate := i%3 != 2
		if isCreate {
			m := creates.nextOf("subscription")
			require.Equal(t, "c", m["uid"])
			require.Equal(t, float64(i), eventID(t, m))
		}
		m := all.nextOf("subscription")
		require.Equal(t, "all", m["uid"])
		require.Equal(t, float64(i), eventID(t, m))
		// Both of one event's frames (in either order) before the next's.
		want := []any{"all"}
		if isCreate {
			want = []any{"c", "all"}
		}
		var got []any
		for range want {
			m := both.nextOf("subscription")
			require.Equal(t, float64(i), eventID(t, m), "frame %v", m)
			got = append(got, m["uid"])
		}
		require.ElementsMatch(t, want, got)
	}
	// Nothing more: the next frame is the answer to a ping.
	for _, c := range []*wsClient{both, creates, all} {
		c.send(map[string]any{"type": "ping"})
		require.Equal(t, "pong", c.next()["type"])
	}
}

// A subscriber that stops reading is dropped when the shared pages it is
// handed overflow its queue, while a subscriber of the same class gets
// every event in order.
func TestSlowSubscriberOfASharedPageIsDisconnected(t *testing.T) {
	t.Parallel()
	// (A write blocked for WriteTimeout would drop it too: not this test.)
	e := setup(t, &envOpts{config: func(c *realtime.Config) { c.SendQueueBytes, c.WriteTimeout = 2<<20, time.Minute }})
	slow, fast := idleAndReadingSubscribers(t, e)
	defer slow.Close()
	require.Len(t, e.hub.Clients(), 2)

	// 20 MiB in all, far past the socket buffers and the queue bound; the
	// fast client reads each 1 MiB transaction before the next is written,
	// so it never holds more than half its bound.
	appendLargeEvents(t, e, fast, 20, 500, 2<<10)
	require.Eventually(t, func() bool { return len(e.hub.Clients()) == 1 }, 5*time.Second, 10*time.Millisecond,
		"the client that stopped reading is disconnected")
}

// A subscriber that pauses reading while more than its socket buffers
// hold is written to partially (what the kernel takes at once), has the
// rest queued, and once it reads again gets every event whole and in
// order, including those dispatched while the remainder was still queued.
func TestPausedSubscriberGetsEveryEventInOrder(t *testing.T) {
	t.Parallel()
	e := setup(t, &envOpts{config: func(c *realtime.Config) {
		c.SendQueueSize, c.SendQueueBytes, c.WriteTimeout = 1<<14, 64<<20, time.Minute
	}})
	paused, fast := idleAndReadingSubscribers(t, e)
	defer paused.Close()

	// 32 MiB while the paused client reads nothing: far past the socket
	// buffers, well under its queue bound.
	const txs, perTx = 16, 512
	appendLargeEvents(t, e, fast, txs, perTx, 4<<10)
	require.Len(t, e.hub.Clients(), 2, "the paused client stays connected")
	require.NoError(t, paused.SetReadDeadline(time.Now().Add(30*time.Second)))
	for want := range txs * perTx {
		_, msg, err := paused.ReadMessage()
		require.NoError(t, err)
		var m map[string]any
		require.NoError(t, json.Unmarshal(msg, &m), "frame %d is whole JSON", want)
		require.Equal(t, float64(want), eventID(t, m))
	}
}

// idleAndReadingSubscribers subscribes two admin sockets to articles in
// the same class: the first is a raw connection that, after its init,
// reads only when the test says so; the second reads as the test goes.
func idleAndReadingSubscribers(t *testing.T, e *env) (*websocket.Conn, *wsClient) {
	t.Helper()
	idle, _, err := websocket.DefaultDialer.Dial(e.url+"?access_token=admin-token", nil)
	require.NoError(t, err)
	require.NoError(t, idle.WriteJSON(map[string]any{"type": "subscribe", "collection": "articles", "uid": "s"}))
	_, init, err := idle.ReadMessage()
	require.NoError(t, err)
	require.Contains(t, string(init), `"init"`)
	reading := dialAuthed(t, e, "admin-token")
	reading.subscribe(map[string]any{"collection": "articles", "uid": "s"})
	return idle, reading
}

// appendLargeEvents appends txs transactions of perTx create events whose
// titles are size bytes, waking the hub after each, and has reader read
// each transaction's events, in order, before the next is appended: every
// one was dispatched to the whole class.
func appendLargeEvents(t *testing.T, e *env, reader *wsClient, txs, perTx, size int) {
	t.Helper()
	ctx := context.Background()
	data := strings.Repeat("x", size)
	for i := range txs {
		events := make([]store.EventAppendParams, perTx)
		for j := range events {
			events[j] = store.EventAppendParams{Name: "items.create", Scope: "items", Action: "create",
				Collection: "articles", ItemKey: i*perTx + j, Data: map[string]any{"id": i*perTx + j, "title": data}}
		}
		_, err := store.EventAppendTx(ctx, e.db.Pool, events)
		require.NoError(t, err)
		e.hub.Wake()
		for j := range perTx {
			require.Equal(t, float64(i*perTx+j), eventID(t, reader.nextOf("subscription")))
		}
	}
}

// A page to more sockets than one goroutine writes alone is split between
// two writers: every socket still gets each of its subscriptions' frames
// whole and in log order, those with one subscription in the page as well
// as those with several (whose frames are merged per client).
func TestPageToManySocketsReachesEachInOrder(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	const sockets, doubled, events = 150, 10, 30
	conns := make([]*websocket.Conn, sockets)
	for i := range conns {
		c, _, err := websocket.DefaultDialer.Dial(e.url+"?access_token=admin-token", nil)
		require.NoError(t, err)
		defer c.Close()
		uids := []string{"s"}
		if i < doubled {
			uids = []string{"a", "b"}
		}
		for _, uid := range uids {
			require.NoError(t, c.WriteJSON(map[string]any{"type": "subscribe", "collection": "articles", "uid": uid}))
			_, init, err := c.ReadMessage()
			require.NoError(t, err)
			require.Contains(t, string(init), `"init"`)
		}
		conns[i] = c
	}
	params := make([]store.EventAppendParams, events)
	for i := range params {
		params[i] = store.EventAppendParams{Name: "items.create", Scope: "items", Action: "create",
			Collection: "articles", ItemKey: i, Data: map[string]any{"id": i, "title": "t"}}
	}
	_, err := store.EventAppendTx(context.Background(), e.db.Pool, params)
	require.NoError(t, err)
	e.hub.Wake()
	for i, c := range conns {
		require.NoError(t, c.SetReadDeadline(time.Now().Add(30*time.Second)))
		next := map[string]float64{"s": 0, "a": 0, "b": 0}
		frames := events
		if i < doubled {
			frames = 2 * events
		}
		for range frames {
			_, msg, err := c.ReadMessage()
			require.NoError(t, err, "socket %d", i)
			var m map[string]any
			require.NoError(t, json.Unmarshal(msg, &m), "socket %d: a frame is whole JSON", i)
			uid := m["uid"].(string)
			require.Equal(t, next[uid], eventID(t, m), "socket %d, uid %s: events in log order", i, uid)
			next[uid]++
		}
	}
}
