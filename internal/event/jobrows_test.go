package event_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/hooks"
	"github.com/hookd/hookd/internal/event"
	"github.com/hookd/hookd/internal/store"
)

// The river_job rows a create statement writes itself (ActionJobRows into
// EventAppendWithInsertJobs and its one-row twin) are the rows River's own
// insert writes for the same events and hooks, column by column: the same
// jobs, in the same order, with River's defaults. Only the ids and the
// timestamps differ. This is what keeps the statement honest across River
// upgrades: a column River starts setting shows up here.
func TestActionJobRowsMatchRiversInsert(t *testing.T) {
	t.Parallel()
	d := setupDB(t)
	ctx := context.Background()
	bus := newBus(t, &event.BusConfig{Pool: d.Pool}, syncActions())
	names := []string{"items.create", "notes.items.create"}
	jobs, err := bus.ActionJobRows(names, "notes")
	require.NoError(t, err)
	require.Len(t, jobs, 4, "items.create, notify, ** twice; not items.update, not the recipes hook")
	deletes, err := bus.ActionJobRows([]string{"items.delete", "recipes.items.delete"}, "recipes")
	require.NoError(t, err)
	require.Len(t, deletes, 2, "only ** matches a delete")

	// One create alone, then two sharing a statement: both templates.
	var eventIDs []int64
	for _, titles := range [][]string{{"one"}, {"two", "three"}} {
		insert := "INSERT INTO notes (title) VALUES ($1)"
		args := []any{titles[0]}
		rows := []store.ItemInsertRow{{Payload: map[string]any{"title": titles[0]}}}
		if len(titles) == 2 {
			insert += ", ($2)"
			args = append(args, titles[1])
			rows = append(rows, store.ItemInsertRow{Payload: map[string]any{"title": titles[1]}})
		}
		insert += " RETURNING to_jsonb(id) AS hookd_key, to_jsonb(notes.*) AS hookd_new"
		_, ids, err := store.ItemInsertWithEventsTx(ctx, d.Pool, insert, args, store.ItemWriteEvent{
			Name: "items.create", Scope: "items", Action: "create", Collection: "notes"}, rows, jobs)
		require.NoError(t, err)
		eventIDs = append(eventIDs, ids...)
	}
	require.Len(t, eventIDs, 3)
	own := jobRows(t, d.Pool)
	require.Len(t, own, 12)

	_, err = d.Pool.Exec(ctx, "DELETE FROM river_job")
	require.NoError(t, err)
	tx, err := d.Pool.Begin(ctx)
	require.NoError(t, err)
	var metas []hooks.Meta
	for _, id := range eventIDs {
		metas = append(metas, hooks.Meta{Collection: "notes", EventIDs: []int64{id}})
	}
	require.NoError(t, bus.EnqueueActionsManyTx(ctx, tx, names, metas))
	require.NoError(t, tx.Commit(ctx))
	require.Equal(t, jobRows(t, d.Pool), own)

	for i, row := range own {
		var j struct {
			Args struct {
				EventIDs []int64 `json:"event_ids"`
			} `json:"args"`
		}
		require.NoError(t, json.Unmarshal([]byte(row), &j))
		require.Equal(t, []int64{eventIDs[i/4]}, j.Args.EventIDs, "job %d belongs to its row's event", i)
	}
	require.Zero(t, count(t, d.Pool, "SELECT count(*) FROM river_job WHERE scheduled_at > now()"),
		"jobs are available at once")
}

// jobRows is every river_job row, in id order, as JSON without the id and
// the timestamps.
func jobRows(t *testing.T, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}) []string {
	t.Helper()
	rows, err := q.Query(context.Background(),
		"SELECT (to_jsonb(j) - 'id' - 'created_at' - 'scheduled_at')::text FROM river_job j ORDER BY id")
	require.NoError(t, err)
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return out
}
