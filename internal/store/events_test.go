package store_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/hooks"
	"github.com/hookd/hookd/internal/store"
	"github.com/hookd/hookd/internal/testdb"
)

func appendOne(t *testing.T, ctx context.Context, q store.Querier, key any) int64 {
	t.Helper()
	ids, err := store.EventAppendTx(ctx, q, []store.EventAppendParams{{
		Name: "items.create", Scope: "items", Action: "create", Collection: "articles", ItemKey: key,
		Data: map[string]any{"id": key},
	}})
	require.NoError(t, err)
	require.Len(t, ids, 1)
	return ids[0]
}

func TestEventAppendTx(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := testdb.New(t)

	tx, err := d.Pool.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx) //nolint:errcheck
	acc := &hooks.Accountability{User: "u1", Role: "r1"}
	ids, err := store.EventAppendTx(ctx, tx, []store.EventAppendParams{
		{Name: "items.create", Scope: "items", Action: "create", Collection: "articles", ItemKey: 7,
			Data: json.RawMessage(`{"id":7,"title":"a"}`), Payload: map[string]any{"title": "a"}, Accountability: acc},
		{Name: "items.update", Scope: "items", Action: "update", Collection: "articles", ItemKey: "7",
			Data: map[string]any{"id": 7, "title": "b"}, OldData: map[string]any{"id": 7, "title": "a"},
			Payload: json.RawMessage(`null`)},
	})
	require.NoError(t, err)
	require.Len(t, ids, 2)
	require.Less(t, ids[0], ids[1], "ids follow the order given")
	require.NoError(t, tx.Commit(ctx))

	events, err := store.EventsByIDs(ctx, d.Pool, []int64{ids[1], ids[0], 999999})
	require.NoError(t, err)
	require.Len(t, events, 2)
	first, second := events[0], events[1]
	require.Equal(t, ids[0], first.ID)
	require.Equal(t, "items.create", first.Name)
	require.Equal(t, "articles", first.Collection)
	require.JSONEq(t, `7`, string(first.ItemKey), "a number key stays a number")
	require.JSONEq(t, `"7"`, string(second.ItemKey), "a string key stays a string")
	require.JSONEq(t, `{"id":7,"title":"a"}`, string(first.Data))
	require.Nil(t, first.OldData, "SQL NULL reads back as nil")
	require.JSONEq(t, `{"id":7,"title":"a"}`, string(second.OldData))
	require.JSONEq(t, `null`, string(second.Payload), "JSON null is kept apart from SQL NULL")
	require.Equal(t, acc, first.Accountability)
	require.Nil(t, second.Accountability, "nil accountability = system")
	require.Equal(t, store.EventOriginAPI, first.Origin)
	require.Equal(t, first.TxID, second.TxID, "one transaction, one tx_id")
	require.NotZero(t, first.TxID)
	require.False(t, first.CreatedAt.IsZero())

	_, err = store.EventAppendTx(ctx, d.Pool, []store.EventAppendParams{{Name: "items.create"}})
	require.ErrorContains(t, err, "required")
	ids, err = store.EventAppendTx(ctx, d.Pool, nil)
	require.NoError(t, err)
	require.Empty(t, ids)
}

func TestEventAppendRollsBackWithTransaction(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := testdb.New(t)
	tx, err := d.Pool.Begin(ctx)
	require.NoError(t, err)
	id := appendOne(t, ctx, tx, 1)
	require.NoError(t, tx.Rollback(ctx))
	events, err := store.EventsByIDs(ctx, d.Pool, []int64{id})
	require.NoError(t, err)
	require.Empty(t, events)
}

// TestEventsAfterOutOfOrderCommit is the case the (tx_id, id) cursor exists
// for: transaction A inserts id 1, transaction B inserts id 2 and commits
// first. A reader that trusted ids alone would deliver 2, move its cursor
// past 1 and never see it. EventsAfter withholds B's event until A finishes.
func TestEventsAfterOutOfOrderCommit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := testdb.New(t)

	txA, err := d.Pool.Begin(ctx)
	require.NoError(t, err)
	defer txA.Rollback(ctx) //nolint:errcheck
	idA := appendOne(t, ctx, txA, "a")

	txB, err := d.Pool.Begin(ctx)
	require.NoError(t, err)
	idB := appendOne(t, ctx, txB, "b")
	require.Less(t, idA, idB)
	require.NoError(t, txB.Commit(ctx))

	// B is committed, but A (older) is still running: nothing is readable.
	events, err := store.EventsAfter(ctx, d.Pool, store.EventCursor{}, 10)
	require.NoError(t, err)
	require.Empty(t, events, "B's event must wait for A")

	require.NoError(t, txA.Commit(ctx))
	// Transactions of other tests on the cluster also hold the horizon back
	// (xids are cluster-wide), so wait; but at no point may B come alone.
	require.Eventually(t, func() bool {
		events, err = store.EventsAfter(ctx, d.Pool, store.EventCursor{}, 10)
		require.NoError(t, err)
		if len(events) == 1 {
			require.Equal(t, idA, events[0].ID, "B's event was delivered before A's")
		}
		return len(events) == 2
	}, 10*time.Second, 5*time.Millisecond)
	require.Equal(t, idA, events[0].ID, "A's event comes first: its transaction started writing first")
	require.Equal(t, idB, events[1].ID)

	// Resuming from the last cursor yields nothing new; paging works.
	events2, err := store.EventsAfter(ctx, d.Pool, events[1].Cursor(), 10)
	require.NoError(t, err)
	require.Empty(t, events2)
	page, err := store.EventsAfter(ctx, d.Pool, store.EventCursor{}, 1)
	require.NoError(t, err)
	require.Len(t, page, 1)
	rest, err := store.EventsAfter(ctx, d.Pool, page[0].Cursor(), 10)
	require.NoError(t, err)
	require.Len(t, rest, 1)
	require.Equal(t, idB, rest[0].ID)
}

func TestEventsHorizon(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := testdb.New(t)
	old := appendOne(t, ctx, d.Pool, 1)
	// Once the old event is readable, a horizon taken now is past it.
	require.Eventually(t, func() bool {
		events, err := store.EventsAfter(ctx, d.Pool, store.EventCursor{}, 10)
		require.NoError(t, err)
		return len(events) == 1
	}, 10*time.Second, 5*time.Millisecond)

	horizon, err := store.EventsHorizon(ctx, d.Pool)
	require.NoError(t, err)
	id := appendOne(t, ctx, d.Pool, 2)
	var events []*store.Event
	require.Eventually(t, func() bool {
		events, err = store.EventsAfter(ctx, d.Pool, horizon, 10)
		require.NoError(t, err)
		return len(events) > 0
	}, 10*time.Second, 5*time.Millisecond)
	require.Len(t, events, 1, "history before the horizon is skipped")
	require.Equal(t, id, events[0].ID)
	require.NotEqual(t, old, events[0].ID)
}
