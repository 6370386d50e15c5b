package jobs_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/hooks"
	"github.com/hookd/hookd/internal/config"
	"github.com/hookd/hookd/internal/jobs"
	"github.com/hookd/hookd/internal/store"
	"github.com/hookd/hookd/internal/testdb"
)

// BenchmarkActionHooksCompleted measures completed no-op durable action
// hooks per second: b.N jobs (each loading its event, as every action run
// does) are queued, then one River client with an app instance's queue
// configuration works them all.
func BenchmarkActionHooksCompleted(b *testing.B) {
	d := testdb.New(b)
	ctx := context.Background()
	bus := newBus(b, d.Pool, func(r hooks.Registrar, _ *hooks.Context) error {
		r.Action("items.create", func(context.Context, hooks.Meta, hooks.EventContext) error { return nil })
		return nil
	})
	tx, err := d.Pool.Begin(ctx)
	require.NoError(b, err)
	ids, err := store.EventAppendTx(ctx, tx, []store.EventAppendParams{{Name: "items.create", Scope: "items",
		Action: "create", Collection: "notes", ItemKey: 1, Payload: hooks.Item{"title": "x"}}})
	require.NoError(b, err)
	// Enqueue in batches the way writes do, b.N jobs in all.
	for left := b.N; left > 0; left -= 1000 {
		n := min(left, 1000)
		names := make([]string, n)
		for i := range names {
			names[i] = "items.create"
		}
		require.NoError(b, bus.EnqueueActionsTx(ctx, tx, names, hooks.Meta{Collection: "notes", EventIDs: ids}))
	}
	require.NoError(b, tx.Commit(ctx))

	workers, err := jobs.Workers(&jobs.Config{Bus: bus})
	require.NoError(b, err)
	// The queues an app instance runs: its default HOOK_WORKERS.
	cfg, err := config.Load(func(string) (string, bool) { return "", false })
	require.NoError(b, err)
	client, err := river.NewClient(riverpgxv5.New(d.Pool), &river.Config{Logger: slog.New(slog.DiscardHandler),
		Queues: jobs.Queues(bus, cfg.HookWorkers), Workers: workers})
	require.NoError(b, err)
	// A subscriber that falls behind loses events: size the buffer for all.
	completed, cancel := client.SubscribeConfig(&river.SubscribeConfig{ChanSize: b.N + 1,
		Kinds: []river.EventKind{river.EventKindJobCompleted}})
	defer cancel()
	b.ResetTimer()
	start := time.Now()
	require.NoError(b, client.Start(ctx))
	for range b.N {
		<-completed
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "hooks/s")
	stopCtx, stop := context.WithTimeout(ctx, 10*time.Second)
	defer stop()
	_ = client.Stop(stopCtx)
}
