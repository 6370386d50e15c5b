package db_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pressly/goose/v3"
	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/db"
	"github.com/hookd/hookd/internal/testdb"
)

func TestMigrationsUpDownUp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := testdb.NewEmpty(t)

	m, err := db.NewMigrator(d.URL, nil)
	require.NoError(t, err)
	defer m.Close()

	res, err := m.Up(ctx)
	require.NoError(t, err)
	require.NotEmpty(t, res)

	statuses, err := m.Status(ctx)
	require.NoError(t, err)
	for _, s := range statuses {
		require.Equal(t, goose.StateApplied, s.State, "version %d", s.Source.Version)
	}

	var riverVersion int
	require.NoError(t, d.Pool.QueryRow(ctx, "SELECT max(version) FROM river_migration").Scan(&riverVersion))
	require.Equal(t, db.RiverSchemaVersion, riverVersion)

	// Roll everything back, one version at a time, then apply again: every
	// down migration must work.
	for range statuses {
		_, err := m.Down(ctx)
		require.NoError(t, err)
	}
	var tables int
	require.NoError(t, d.Pool.QueryRow(ctx, `SELECT count(*) FROM pg_tables
		WHERE schemaname = 'public' AND (tablename LIKE 'river%' OR tablename LIKE 'hookd%')`).Scan(&tables))
	require.Zero(t, tables, "down migrations left tables behind")

	_, err = m.Up(ctx)
	require.NoError(t, err)
	res, err = m.Up(ctx)
	require.NoError(t, err)
	require.Empty(t, res, "a second up applies nothing")
}

func TestConcurrentMigratorsSerialise(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := testdb.NewEmpty(t)
	errs := make(chan error, 3)
	for range 3 {
		go func() { errs <- db.MigrateUp(ctx, d.URL, nil) }()
	}
	for range 3 {
		require.NoError(t, <-errs)
	}
}

func TestEventLogIsAppendOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := testdb.New(t)

	var id int64
	require.NoError(t, d.Pool.QueryRow(ctx, `INSERT INTO hookd_event (name, scope, action, collection, item_key, data)
		VALUES ('items.create', 'items', 'create', 'articles', '1', '{"id":1}') RETURNING id`).Scan(&id))
	require.Positive(t, id)

	for _, stmt := range []string{
		"UPDATE hookd_event SET name = 'x'",
		"DELETE FROM hookd_event",
		"TRUNCATE hookd_event",
	} {
		_, err := d.Pool.Exec(ctx, stmt)
		var pgErr *pgconn.PgError
		require.ErrorAs(t, err, &pgErr, stmt)
		require.Contains(t, pgErr.Message, "append-only", stmt)
	}
	var n int
	require.NoError(t, d.Pool.QueryRow(ctx, "SELECT count(*) FROM hookd_event").Scan(&n))
	require.Equal(t, 1, n)
}

func TestEventTxIDOrdersByTransaction(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := testdb.New(t)

	// Two rows in one transaction share tx_id; a later transaction has a
	// larger one.
	tx, err := d.Pool.Begin(ctx)
	require.NoError(t, err)
	for range 2 {
		_, err = tx.Exec(ctx, `INSERT INTO hookd_event (name, scope, action, collection) VALUES ('items.create','items','create','a')`)
		require.NoError(t, err)
	}
	require.NoError(t, tx.Commit(ctx))
	_, err = d.Pool.Exec(ctx, `INSERT INTO hookd_event (name, scope, action, collection) VALUES ('items.create','items','create','a')`)
	require.NoError(t, err)

	rows, err := d.Pool.Query(ctx, "SELECT tx_id::text::bigint FROM hookd_event ORDER BY id")
	require.NoError(t, err)
	var ids []int64
	for rows.Next() {
		var v int64
		require.NoError(t, rows.Scan(&v))
		ids = append(ids, v)
	}
	require.NoError(t, rows.Err())
	require.Len(t, ids, 3)
	require.Equal(t, ids[0], ids[1])
	require.Greater(t, ids[2], ids[1])
}
