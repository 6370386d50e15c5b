package item

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/internal/testdb"
)

// beginTracer counts the BEGINs sent as statements of their own (Query or
// Exec) and those sent at the head of a batch.
type beginTracer struct {
	mu           sync.Mutex
	alone, batch int
}

func (tr *beginTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	if strings.EqualFold(strings.TrimSpace(d.SQL), "begin") {
		tr.mu.Lock()
		tr.alone++
		tr.mu.Unlock()
	}
	return ctx
}

func (tr *beginTracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (tr *beginTracer) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return ctx
}

func (tr *beginTracer) TraceBatchQuery(_ context.Context, _ *pgx.Conn, d pgx.TraceBatchQueryData) {
	if strings.EqualFold(strings.TrimSpace(d.SQL), "begin") {
		tr.mu.Lock()
		tr.batch++
		tr.mu.Unlock()
	}
}

func (tr *beginTracer) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

func (tr *beginTracer) counts() (alone, batch int) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.alone, tr.batch
}

func tracedPool(t *testing.T) (*pgxpool.Pool, *beginTracer) {
	t.Helper()
	d := testdb.New(t)
	_, err := d.Pool.Exec(context.Background(), `CREATE TABLE t (id int PRIMARY KEY, v text)`)
	require.NoError(t, err)
	cfg, err := pgxpool.ParseConfig(d.URL)
	require.NoError(t, err)
	tr := &beginTracer{}
	cfg.ConnConfig.Tracer = tr
	cfg.MaxConns = 1 // every transaction reuses the connection: a broken one would show
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool, tr
}

func countRows(t *testing.T, pool *pgxpool.Pool) int {
	t.Helper()
	var n int
	require.NoError(t, pool.QueryRow(context.Background(), "SELECT count(*) FROM t").Scan(&n))
	return n
}

func TestPipelinedTxBeginRidesWithFirstStatement(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, tr := tracedPool(t)

	// Query first: BEGIN goes in the batch; the rows, then more statements
	// in the same transaction, then COMMIT.
	tx, err := beginPipelined(ctx, pool)
	require.NoError(t, err)
	rows, err := tx.Query(ctx, "INSERT INTO t VALUES ($1, $2) RETURNING id", 1, "a")
	require.NoError(t, err)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int])
	require.NoError(t, err)
	require.Equal(t, []int{1}, ids)
	// The insert assigned a transaction id; outside that transaction this
	// would be NULL.
	var xid *int64
	require.NoError(t, tx.QueryRow(ctx, "SELECT txid_current_if_assigned()").Scan(&xid))
	require.NotNil(t, xid, "the second statement runs in the transaction BEGIN opened")
	_, err = tx.Exec(ctx, "INSERT INTO t VALUES ($1, $2)", 2, "b")
	require.NoError(t, err)
	require.NoError(t, tx.Commit(ctx))
	require.ErrorIs(t, tx.Rollback(ctx), pgx.ErrTxClosed)
	require.Equal(t, 2, countRows(t, pool))
	alone, batch := tr.counts()
	require.Equal(t, 0, alone)
	require.Equal(t, 1, batch)

	// Exec and QueryRow carry it too; Rollback undoes.
	tx, err = beginPipelined(ctx, pool)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, "INSERT INTO t VALUES ($1, $2)", 3, "c")
	require.NoError(t, err)
	require.NoError(t, tx.Rollback(ctx))
	tx, err = beginPipelined(ctx, pool)
	require.NoError(t, err)
	var id int
	require.NoError(t, tx.QueryRow(ctx, "INSERT INTO t VALUES ($1, $2) RETURNING id", 4, "d").Scan(&id))
	require.Equal(t, 4, id)
	require.NoError(t, tx.Rollback(ctx))
	require.Equal(t, 2, countRows(t, pool))
	alone, batch = tr.counts()
	require.Equal(t, 0, alone)
	require.Equal(t, 3, batch)

	// Nothing sent: nothing to commit.
	tx, err = beginPipelined(ctx, pool)
	require.NoError(t, err)
	require.NoError(t, tx.Commit(ctx))
	require.ErrorIs(t, tx.Commit(ctx), pgx.ErrTxClosed)
}

func TestPipelinedTxErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _ := tracedPool(t)
	_, err := pool.Exec(ctx, "INSERT INTO t VALUES (1, 'a')")
	require.NoError(t, err)

	// The first statement fails: the error reaches the caller (from Query
	// or from the rows), the transaction rolls back, and the connection
	// (the pool's only one) is fine afterwards.
	tx, err := beginPipelined(ctx, pool)
	require.NoError(t, err)
	rows, err := tx.Query(ctx, "INSERT INTO t VALUES ($1, $2) RETURNING id", 1, "dup")
	if err == nil {
		_, err = pgx.CollectRows(rows, pgx.RowTo[int])
	}
	require.ErrorContains(t, err, "23505")
	require.NoError(t, tx.Rollback(ctx))
	require.Equal(t, 1, countRows(t, pool))

	// A failed transaction's COMMIT is a rollback, as with pgx.
	tx, err = beginPipelined(ctx, pool)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, "INSERT INTO t VALUES ($1, $2)", 2, "b")
	require.NoError(t, err)
	_, err = tx.Exec(ctx, "INSERT INTO t VALUES ($1, $2)", 1, "dup")
	require.Error(t, err)
	require.ErrorIs(t, tx.Commit(ctx), pgx.ErrTxCommitRollback)
	require.Equal(t, 1, countRows(t, pool))

	// A savepoint after the pipelined BEGIN: its rollback keeps the rest.
	tx, err = beginPipelined(ctx, pool)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, "INSERT INTO t VALUES ($1, $2)", 3, "c")
	require.NoError(t, err)
	sp, err := tx.Begin(ctx)
	require.NoError(t, err)
	_, err = sp.Exec(ctx, "INSERT INTO t VALUES ($1, $2)", 1, "dup")
	require.Error(t, err)
	require.NoError(t, sp.Rollback(ctx))
	_, err = tx.Exec(ctx, "INSERT INTO t VALUES ($1, $2)", 4, "d")
	require.NoError(t, err)
	require.NoError(t, tx.Commit(ctx))
	require.Equal(t, 3, countRows(t, pool))
}

func TestPipelinedTxOrdinaryBegin(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, tr := tracedPool(t)
	// Calls that cannot ride in a batch begin the ordinary way first.
	tx, err := beginPipelined(ctx, pool)
	require.NoError(t, err)
	b := &pgx.Batch{}
	b.Queue("INSERT INTO t VALUES ($1, $2)", 1, "a")
	b.Queue("INSERT INTO t VALUES ($1, $2)", 2, "b")
	require.NoError(t, tx.SendBatch(ctx, b).Close())
	_, err = tx.Exec(ctx, "INSERT INTO t VALUES ($1, $2)", pgx.QueryExecModeSimpleProtocol, 3, "c")
	require.NoError(t, err)
	require.NoError(t, tx.Rollback(ctx))
	require.Equal(t, 0, countRows(t, pool))
	tx, err = beginPipelined(ctx, pool)
	require.NoError(t, err)
	n, err := tx.CopyFrom(ctx, pgx.Identifier{"t"}, []string{"id", "v"}, pgx.CopyFromRows([][]any{{5, "e"}}))
	require.NoError(t, err)
	require.EqualValues(t, 1, n)
	require.NoError(t, tx.Commit(ctx))
	require.Equal(t, 1, countRows(t, pool))
	alone, batch := tr.counts()
	require.Equal(t, 2, alone)
	require.Equal(t, 0, batch)
}

// TestPipelinedTxUntouched: untouched (what lets a filtered create join the
// group commit) holds only while nothing at all was asked of the
// transaction.
func TestPipelinedTxUntouched(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _ := tracedPool(t)
	for name, use := range map[string]func(tx *pipelinedTx) error{
		"exec": func(tx *pipelinedTx) error { _, err := tx.Exec(ctx, "SELECT 1"); return err },
		"query row": func(tx *pipelinedTx) error {
			var n int
			return tx.QueryRow(ctx, "SELECT 1").Scan(&n)
		},
		"savepoint": func(tx *pipelinedTx) error { _, err := tx.Begin(ctx); return err },
		"prepare":   func(tx *pipelinedTx) error { _, err := tx.Prepare(ctx, "", "SELECT 1"); return err },
		"conn":      func(tx *pipelinedTx) error { tx.Conn(); return nil },
		"rollback":  func(tx *pipelinedTx) error { return tx.Rollback(ctx) },
	} {
		tx, err := beginPipelined(ctx, pool)
		require.NoError(t, err)
		require.True(t, tx.untouched(), name)
		require.NoError(t, use(tx), name)
		require.False(t, tx.untouched(), name)
		_ = tx.Rollback(ctx)
	}
}
