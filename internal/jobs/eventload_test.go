package jobs

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/hooks"
	"github.com/hookd/hookd/internal/store"
	"github.com/hookd/hookd/internal/testdb"
)

// TestEventLoaderConcurrent: many concurrent loads, sharing queries, each
// get exactly their own events in id order, as values of their own.
func TestEventLoaderConcurrent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := testdb.New(t)
	tx, err := d.Pool.Begin(ctx)
	require.NoError(t, err)
	params := make([]store.EventAppendParams, 40)
	for i := range params {
		params[i] = store.EventAppendParams{Name: "items.create", Scope: "items", Action: "create",
			Collection: "notes", ItemKey: i, Payload: hooks.Item{"n": i, "tags": []any{"a"}}}
	}
	ids, err := store.EventAppendTx(ctx, tx, params)
	require.NoError(t, err)
	require.NoError(t, tx.Commit(ctx))

	l := &eventLoader{pool: d.Pool}
	const loaders = 64
	var wg sync.WaitGroup
	errs := make(chan error, loaders)
	got := make([][]store.HookEvent, loaders)
	for g := range loaders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Two jobs per event (two hooks on one write), some covering two
			// events listed out of order, one naming a missing id.
			i := g % len(ids)
			want := []int64{ids[i]}
			if g%5 == 0 && i+1 < len(ids) {
				want = []int64{ids[i+1], ids[i]}
			}
			if g == 7 {
				want = append(want, -1)
			}
			events, err := l.load(ctx, want)
			if err != nil {
				errs <- err
				return
			}
			got[g] = events
			if g%5 == 0 && i+1 < len(ids) {
				if len(events) != 2 || events[0].ID != ids[i] || events[1].ID != ids[i+1] {
					errs <- fmt.Errorf("load %d: got %+v", g, events)
				}
				return
			}
			if len(events) != 1 || events[0].ID != ids[i] || events[0].Payload.(map[string]any)["n"] != float64(i) {
				errs <- fmt.Errorf("load %d: got %+v", g, events)
				return
			}
			// A hook changing its payload changes nobody else's.
			events[0].Payload.(map[string]any)["n"] = "changed by " + fmt.Sprint(g)
			events[0].Payload.(map[string]any)["tags"].([]any)[0] = "changed"
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	for g, events := range got {
		if g%5 == 0 || len(events) != 1 {
			continue
		}
		require.Equal(t, "changed by "+fmt.Sprint(g), events[0].Payload.(map[string]any)["n"])
	}
	// Nothing is left queued or in flight.
	require.Zero(t, l.inFlight)
	require.Empty(t, l.waiting)
}
