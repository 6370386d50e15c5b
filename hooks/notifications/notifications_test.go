package notifications_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/hooks"
	"github.com/hookd/hookd/hooks/notifications"
	"github.com/hookd/hookd/internal/event"
	"github.com/hookd/hookd/internal/jobs"
	"github.com/hookd/hookd/internal/store"
	"github.com/hookd/hookd/internal/testdb"
)

type broadcast struct {
	msg    any
	filter *hooks.BroadcastFilter
}

// wsRecorder is an in-process hooks.WebSocketService that keeps what is
// broadcast.
type wsRecorder struct {
	mu   sync.Mutex
	sent []broadcast
	got  chan struct{}
}

func (w *wsRecorder) Clients() []hooks.WebSocketClient { return nil }

func (w *wsRecorder) Broadcast(_ context.Context, msg any, f *hooks.BroadcastFilter) error {
	w.mu.Lock()
	w.sent = append(w.sent, broadcast{msg, f})
	w.mu.Unlock()
	w.got <- struct{}{}
	return nil
}

// A create in notifications becomes a durable action that broadcasts the
// payload after commit; other collections do not.
func TestNotificationsBroadcast(t *testing.T) {
	t.Parallel()
	d := testdb.New(t)
	ctx := context.Background()
	bus, err := event.NewBus(ctx, &event.BusConfig{Pool: d.Pool, Extensions: []hooks.Extension{notifications.Extension}})
	require.NoError(t, err)
	ws := &wsRecorder{got: make(chan struct{}, 4)}
	bus.Services().SetWebSocket(ws)

	workers, err := jobs.Workers(&jobs.Config{Bus: bus})
	require.NoError(t, err)
	client, err := river.NewClient(riverpgxv5.New(d.Pool), &river.Config{
		Logger: slog.New(slog.DiscardHandler), Queues: jobs.Queues(bus, 2), Workers: workers,
		FetchPollInterval: 50 * time.Millisecond, FetchCooldown: 20 * time.Millisecond,
	})
	require.NoError(t, err)
	require.NoError(t, client.Start(ctx))
	t.Cleanup(func() { _ = client.StopAndCancel(context.Background()) })

	create := func(collection string, item hooks.Item) {
		tx, err := d.Pool.Begin(ctx)
		require.NoError(t, err)
		defer tx.Rollback(ctx) //nolint:errcheck
		ids, err := store.EventAppendTx(ctx, tx, []store.EventAppendParams{{Name: "items.create", Scope: "items",
			Action: "create", Collection: collection, ItemKey: 1, Data: item, Payload: item}})
		require.NoError(t, err)
		require.NoError(t, bus.EnqueueActionsTx(ctx, tx, []string{"items.create", collection + ".items.create"},
			hooks.Meta{Collection: collection, EventIDs: ids}))
		require.NoError(t, tx.Commit(ctx))
	}
	create("articles", hooks.Item{"title": "not a notification"})
	create("notifications", hooks.Item{"text": "deploy done"})
	<-ws.got
	create("notifications", hooks.Item{"text": "for you", "user": "u-7"})
	<-ws.got

	ws.mu.Lock()
	defer ws.mu.Unlock()
	require.Equal(t, []broadcast{
		{notifications.Message{Type: "notification", Data: map[string]any{"text": "deploy done"}}, nil},
		{notifications.Message{Type: "notification", Data: map[string]any{"text": "for you", "user": "u-7"}},
			&hooks.BroadcastFilter{User: "u-7"}},
	}, ws.sent)
	var n int
	require.NoError(t, d.Pool.QueryRow(ctx, "SELECT count(*) FROM river_job WHERE kind = $1", event.ActionKind).Scan(&n))
	require.Equal(t, 2, n, "no job for the articles create")
}

// Without a realtime service the broadcast fails, so River retries it.
func TestNotificationsWithoutRealtimeFails(t *testing.T) {
	t.Parallel()
	bus, err := event.NewBus(context.Background(), &event.BusConfig{Extensions: []hooks.Extension{notifications.Extension}})
	require.NoError(t, err)
	hook, ok := bus.ActionHook("notifications:items.create:broadcast")
	require.True(t, ok)
	err = hook.Action(context.Background(), hooks.Meta{Collection: "notifications", Payload: map[string]any{}}, hooks.EventContext{})
	e, ok := hooks.AsError(err)
	require.True(t, ok, "got %v", err)
	require.Equal(t, "SERVICE_UNAVAILABLE", e.Code)
}
