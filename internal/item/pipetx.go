package item

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// pipelinedTx is a transaction on one pooled connection whose BEGIN is not
// a round trip of its own: it waits for the transaction's first Exec,
// Query or QueryRow and goes out in the same batch (pgx's Batch.BeginTx),
// where Pool.Begin would have sent it alone and waited for the answer. A
// hooked create is BEGIN, the filters (which may not touch the database),
// the insert with its event, the River job insert and COMMIT: three round
// trips instead of four (pgbench on that shape at 8 clients: +15%
// transactions/s).
//
// From the first statement on, every call goes to the pgx.Tx the batch
// began (savepoints, COPY, large objects, COMMIT, ROLLBACK as pgx does
// them); a method that cannot ride in a batch before that begins the
// transaction the ordinary way. The connection goes back to the pool on
// Commit or Rollback; one left in a transaction or broken is destroyed by
// the pool.
type pipelinedTx struct {
	conn *pgxpool.Conn
	// tx is the transaction once BEGIN has been sent; nil before.
	tx     pgx.Tx
	closed bool
	// used is set when the connection was used without the transaction
	// (Prepare or Conn before BEGIN).
	used bool
}

var _ pgx.Tx = (*pipelinedTx)(nil)

// beginPipelined acquires a connection for a pipelinedTx.
func beginPipelined(ctx context.Context, pool *pgxpool.Pool) (*pipelinedTx, error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	return &pipelinedTx{conn: conn}, nil
}

// pending reports whether BEGIN can still ride with a statement with args:
// nothing was sent yet and args carry no per-query option, which a batch
// does not take.
func (t *pipelinedTx) pending(args []any) bool {
	if t.tx != nil || t.closed {
		return false
	}
	if len(args) > 0 {
		switch args[0].(type) {
		case pgx.QueryExecMode, pgx.QueryResultFormats, pgx.QueryResultFormatsByOID, pgx.QueryRewriter:
			return false
		}
	}
	return true
}

// untouched reports whether nothing was asked of the transaction yet: no
// statement sent (so no BEGIN), nothing prepared, the connection never
// handed out, not committed or rolled back.
func (t *pipelinedTx) untouched() bool {
	return t.tx == nil && !t.closed && !t.used
}

// begun returns the transaction, beginning it alone if no statement has
// carried BEGIN yet.
func (t *pipelinedTx) begun(ctx context.Context) (pgx.Tx, error) {
	if t.tx != nil {
		return t.tx, nil
	}
	if t.closed {
		return nil, pgx.ErrTxClosed
	}
	tx, err := t.conn.Begin(ctx)
	if err != nil {
		return nil, err
	}
	t.tx = tx
	return tx, nil
}

// withBegin sends BEGIN and sql in one batch; the results are positioned
// at BEGIN's.
func (t *pipelinedTx) withBegin(ctx context.Context, sql string, args []any) pgx.BatchResults {
	b := &pgx.Batch{}
	b.BeginTx(pgx.TxOptions{})
	b.Queue(sql, args...)
	br := t.conn.SendBatch(ctx, b)
	t.tx = br.Tx()
	return br
}

func (t *pipelinedTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if t.pending(args) {
		br := t.withBegin(ctx, sql, args)
		_, err := br.Exec()
		var tag pgconn.CommandTag
		if err == nil {
			tag, err = br.Exec()
		}
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		return tag, err
	}
	tx, err := t.begun(ctx)
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	return tx.Exec(ctx, sql, args...)
}

func (t *pipelinedTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if t.pending(args) {
		br := t.withBegin(ctx, sql, args)
		if _, err := br.Exec(); err != nil {
			_ = br.Close()
			return nil, err
		}
		rows, err := br.Query()
		if err != nil {
			if rows != nil {
				rows.Close()
			}
			_ = br.Close()
			return nil, err
		}
		return &batchRows{Rows: rows, br: br}, nil
	}
	tx, err := t.begun(ctx)
	if err != nil {
		return nil, err
	}
	return tx.Query(ctx, sql, args...)
}

func (t *pipelinedTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if t.pending(args) {
		rows, err := t.Query(ctx, sql, args...)
		if err != nil {
			return errRow{err}
		}
		return rowOf{rows}
	}
	tx, err := t.begun(ctx)
	if err != nil {
		return errRow{err}
	}
	return tx.QueryRow(ctx, sql, args...)
}

func (t *pipelinedTx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	tx, err := t.begun(ctx)
	if err != nil {
		return pgx.FailedBatchResults(b, err)
	}
	return tx.SendBatch(ctx, b)
}

func (t *pipelinedTx) CopyFrom(ctx context.Context, table pgx.Identifier, cols []string, src pgx.CopyFromSource) (int64, error) {
	tx, err := t.begun(ctx)
	if err != nil {
		return 0, err
	}
	return tx.CopyFrom(ctx, table, cols, src)
}

// LargeObjects begins the transaction if needed; pgx.LargeObjects cannot
// carry an error, so when that fails it is bound to a closed transaction
// and reports pgx.ErrTxClosed from every call.
func (t *pipelinedTx) LargeObjects() pgx.LargeObjects {
	tx, err := t.begun(context.Background())
	if err != nil {
		b := &pgx.Batch{}
		b.BeginTx(pgx.TxOptions{})
		tx = pgx.FailedBatchResults(b, err).Tx()
	}
	return tx.LargeObjects()
}

func (t *pipelinedTx) Prepare(ctx context.Context, name, sql string) (*pgconn.StatementDescription, error) {
	if t.tx != nil {
		return t.tx.Prepare(ctx, name, sql)
	}
	if t.closed {
		return nil, pgx.ErrTxClosed
	}
	t.used = true
	return t.conn.Conn().Prepare(ctx, name, sql)
}

func (t *pipelinedTx) Conn() *pgx.Conn {
	if t.tx != nil {
		return t.tx.Conn()
	}
	if t.conn == nil {
		return nil
	}
	t.used = true
	return t.conn.Conn()
}

// Begin starts a savepoint (pgx's nested transaction).
func (t *pipelinedTx) Begin(ctx context.Context) (pgx.Tx, error) {
	tx, err := t.begun(ctx)
	if err != nil {
		return nil, err
	}
	return tx.Begin(ctx)
}

func (t *pipelinedTx) Commit(ctx context.Context) error {
	defer t.release()
	if t.tx != nil {
		t.closed = true
		return t.tx.Commit(ctx)
	}
	if t.closed {
		return pgx.ErrTxClosed
	}
	t.closed = true
	return nil // nothing was sent, nothing to commit
}

func (t *pipelinedTx) Rollback(ctx context.Context) error {
	defer t.release()
	if t.tx != nil {
		t.closed = true
		return t.tx.Rollback(ctx)
	}
	if t.closed {
		return pgx.ErrTxClosed
	}
	t.closed = true
	return nil
}

// release returns the connection; the pool destroys one that is still in
// a transaction or broken.
func (t *pipelinedTx) release() {
	if t.conn != nil {
		t.conn.Release()
		t.conn = nil
	}
}

// batchRows are a statement's rows read from the batch that carried BEGIN;
// the batch is closed (its end read) when the rows are done, so that the
// transaction can be used again.
type batchRows struct {
	pgx.Rows
	br       pgx.BatchResults
	done     bool
	closeErr error
}

func (r *batchRows) Next() bool {
	if r.Rows.Next() {
		return true
	}
	r.finish()
	return false
}

func (r *batchRows) Close() { r.finish() }

func (r *batchRows) Err() error {
	if err := r.Rows.Err(); err != nil {
		return err
	}
	return r.closeErr
}

func (r *batchRows) finish() {
	if r.done {
		return
	}
	r.done = true
	r.Rows.Close()
	r.closeErr = r.br.Close()
}

// rowOf is pgx.Row over rows, as pgx's QueryRow does it.
type rowOf struct{ rows pgx.Rows }

func (r rowOf) Scan(dest ...any) error {
	defer r.rows.Close()
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return err
		}
		return pgx.ErrNoRows
	}
	if err := r.rows.Scan(dest...); err != nil {
		return err
	}
	r.rows.Close()
	return r.rows.Err()
}

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }
