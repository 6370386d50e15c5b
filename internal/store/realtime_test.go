package store_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/internal/store"
	"github.com/hookd/hookd/internal/testdb"
)

func TestParseSnapshot(t *testing.T) {
	t.Parallel()
	s, err := store.ParseSnapshot("10:20:12,15")
	require.NoError(t, err)
	require.Equal(t, &store.Snapshot{Xmin: 10, Xmax: 20, Xip: []uint64{12, 15}}, s)
	for tx, visible := range map[uint64]bool{9: true, 10: true, 12: false, 13: true, 15: false, 19: true, 20: false, 99: false} {
		require.Equal(t, visible, s.Visible(tx), "tx %d", tx)
	}
	_, err = store.ParseSnapshot("10:20")
	require.Error(t, err)
	_, err = store.ParseSnapshot("a:20:")
	require.Error(t, err)
}

// The realtime horizon withholds events of this database's open
// transactions, as pg_snapshot_xmin does, but not because of a transaction
// open in another database.
func TestRealtimeEventsAfterHorizon(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := testdb.New(t)
	other := testdb.New(t)
	start, err := store.EventsHorizon(ctx, d.Pool)
	require.NoError(t, err)
	appendEvent := func(q store.Querier, key string) {
		_, err := store.EventAppendTx(ctx, q, []store.EventAppendParams{{Name: "items.create", Scope: "items",
			Action: "create", Collection: "c", ItemKey: key}})
		require.NoError(t, err)
	}
	keys := func() []string {
		events, err := store.RealtimeEventsAfter(ctx, d.Pool, start, 100)
		require.NoError(t, err)
		var out []string
		for _, e := range events {
			out = append(out, string(e.ItemKey))
		}
		return out
	}

	foreign, err := other.Pool.Begin(ctx)
	require.NoError(t, err)
	defer foreign.Rollback(ctx) //nolint:errcheck
	_, err = foreign.Exec(ctx, "SELECT pg_current_xact_id()")
	require.NoError(t, err)

	mine, err := d.Pool.Begin(ctx)
	require.NoError(t, err)
	defer mine.Rollback(ctx) //nolint:errcheck
	appendEvent(mine, "a")   // open: everything after it waits

	appendEvent(d.Pool, "b")
	require.Empty(t, keys(), "b committed after a began: held back while a is open")
	withheldEvents, _, err := store.RealtimePending(ctx, d.Pool, start, store.BroadcastCursor{TxID: start.TxID})
	require.NoError(t, err)
	require.True(t, withheldEvents)

	require.NoError(t, mine.Commit(ctx))
	require.Equal(t, []string{`"a"`, `"b"`}, keys(), "the foreign transaction, still open, holds nothing back")

	old, err := store.EventsAfter(ctx, d.Pool, start, 100)
	require.NoError(t, err)
	require.Empty(t, old, "pg_snapshot_xmin alone would wait for the foreign transaction")
}
