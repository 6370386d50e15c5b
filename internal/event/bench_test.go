package event_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/hooks"
	"github.com/hookd/hookd/internal/event"
	"github.com/hookd/hookd/internal/item"
	"github.com/hookd/hookd/internal/schema"
	"github.com/hookd/hookd/internal/testdb"
)

// BenchmarkCreate measures item-service creates (parallel, one item each)
// with no hooks and with one filter plus two durable actions registered
// (enqueued in the write's transaction; not worked during the run). The
// ratio of the two ns/op is the write-throughput cost of hooks.
func BenchmarkCreate(b *testing.B) {
	for _, v := range []struct {
		name            string
		filter, actions bool
	}{{"no-hooks", false, false}, {"filter", true, false}, {"2-actions", false, true}, {"filter+2-actions", true, true}} {
		b.Run(v.name, func(b *testing.B) {
			ctx := context.Background()
			d := testdb.New(b)
			_, err := d.Pool.Exec(ctx, `CREATE TABLE notes (id serial PRIMARY KEY, title text NOT NULL, body text)`)
			require.NoError(b, err)
			loader, err := schema.NewLoader(&schema.Config{Pool: d.Pool})
			require.NoError(b, err)
			_, err = loader.Reload(ctx)
			require.NoError(b, err)
			cfg := &item.Config{Pool: d.Pool, Schema: loader.Current}
			if v.filter || v.actions {
				bus, err := event.NewBus(ctx, &event.BusConfig{Pool: d.Pool, Extensions: []hooks.Extension{{ID: "bench",
					Register: func(r hooks.Registrar, _ *hooks.Context) error {
						if v.filter {
							r.Filter("items.create", func(_ context.Context, p any, _ hooks.Meta, _ hooks.EventContext) (any, error) {
								p.(hooks.Item)["body"] = "filtered"
								return p, nil
							})
						}
						if v.actions {
							noop := func(context.Context, hooks.Meta, hooks.EventContext) error { return nil }
							r.Action("items.create", noop, hooks.Name("one"))
							r.Action("notes.items.create", noop, hooks.Name("two"))
						}
						return nil
					}}}})
				require.NoError(b, err)
				cfg.Hooks = bus
			}
			svc, err := item.NewService(cfg)
			require.NoError(b, err)
			notes, err := svc.Items("notes", nil)
			require.NoError(b, err)
			b.SetParallelism(4)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := notes.CreateOne(ctx, hooks.Item{"title": "bench"}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "creates/s")
		})
	}
}
