package item

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookd/hookd/hooks"
	"github.com/hookd/hookd/internal/store"
)

// Group commit for single creates. A create with nothing to check after
// the write (no item rule or validation) whose filters, if any, did not use
// their transaction (write.go's createOne) is its row and its event — one
// statement — plus, when action hooks watch the collection, one River job
// per (event, hook). Concurrent creates of the same shape (same collection,
// same columns) share that work: up to maxInFlight batches of a shape run
// at once, a create arriving while all are busy queues, and when a batch
// ends the whole queue leaves as the next one, led by the first create in
// it. Alone, a create goes out at once; under load, N creates cost one
// statement and one commit instead of N.
//
// A hooked shape, whose batches insert River jobs, runs one batch at a
// time (maxHookedInFlight), and each lingers: it hands its creates their
// results first, then keeps the shape's slot for at most maxLinger, until
// as many creates wait as took part in its cycle (its own and those that
// queued behind it), the callers it just answered being the likely next
// ones. Without the linger, one batch in flight splits a shape's callers
// into two groups that take turns, each half as large. A hooked
// statement's fixed cost is River's: seven indexes (two of them GIN) and
// five check constraints on river_job for every statement, so fewer,
// larger statements pay (BENCHMARKS.md, seventeenth session). Shapes with
// no jobs keep two batches in flight and do not linger (maxInFlight).
//
// A batch is one multi-row INSERT … RETURNING that also appends the events
// and, when durable action hooks watch the collection, inserts each event's
// River jobs (sql/events.sql, EventAppendWithInsertJobs), outside any
// transaction: one statement is atomic, so the jobs exist if and only if
// their rows committed. River's workers are then notified as River's own
// insert would (event.Bus.NotifyJobsInserted). It replaced a transaction of
// BEGIN, the insert, River's InsertManyFastTx and COMMIT: four round trips
// for a watched batch instead of one (BENCHMARKS.md). A batch that fails
// (one bad row fails them all, or the commit fails) is replayed one create
// at a time, so each request gets its own result or error and nothing
// half-written remains. The replay never runs filters again: they ran once,
// before the create joined.

const (
	// maxInFlight is how many batches of one shape with no action jobs
	// may run at once: up to that many concurrent creates go out
	// unbatched, with no added latency; beyond it they coalesce. Two, not
	// more: every statement is a commit and a WAL flush, and with 8
	// clients on 2 cores two in flight (the rest leaving together) ran
	// POST at 0.37 of pgbench against 0.27 with four (BENCHMARKS.md). One
	// ran POST faster still (0.52–0.63) but lowered the realtime write
	// throughput ratio under 1,000 subscribers (issue 6's target) from
	// about 0.82 to 0.75 (BENCHMARKS.md, seventeenth session).
	maxInFlight = 2
	// maxHookedInFlight is the same for shapes whose batches insert River
	// jobs: one, which lingers (see above).
	maxHookedInFlight = 1
	// maxLinger bounds how long a finished hooked batch keeps its shape's
	// slot for the creates it expects (see above): at most this much added
	// to a hooked create's latency under load, about one statement's time.
	maxLinger = time.Millisecond
	// maxBatchParams bounds a statement's placeholders (Postgres allows
	// 65535).
	maxBatchParams = 30000
)

// batcher coalesces short-path creates per shape. The zero value is ready.
type batcher struct {
	mu     sync.Mutex
	shapes map[string]*shapeQueue
	// queued, when set (tests), is called each time a create queues
	// behind the batches in flight.
	queued func()
	// linger, when set (tests), replaces maxLinger.
	linger time.Duration
}

type shapeQueue struct {
	// jobs are the River job rows each create's event gets (fixed per
	// bus); none when no action hook watches the collection's creates.
	jobs     []store.ActionJob
	inFlight int
	waiting  []*pendingCreate
	// wake, while a hooked batch lingers, is closed once lingerFor
	// creates wait.
	wake      chan struct{}
	lingerFor int
}

// pendingCreate is one create waiting for, or leading, a statement.
type pendingCreate struct {
	vals    []any
	payload hooks.Item
	acc     *hooks.Accountability
	// done receives the create's outcome, or the batch it must lead.
	done chan batchOutcome
}

type batchOutcome struct {
	lead []*pendingCreate
	res  *created
	err  error
}

// createShort writes one checked create through the batcher and returns it
// once its statement has committed.
func (it *Items) createShort(ctx context.Context, cols []string, vals []any, payload hooks.Item) (*created, error) {
	b := &it.svc.batch
	key := shapeKey(it.coll.Name, cols)
	p := &pendingCreate{vals: vals, payload: payload, acc: it.acc, done: make(chan batchOutcome, 1)}
	perStatement := max(1, maxBatchParams/max(1, len(cols)))

	b.mu.Lock()
	if b.shapes == nil {
		b.shapes = map[string]*shapeQueue{}
	}
	q := b.shapes[key]
	if q == nil {
		jobs, err := it.createJobRows()
		if err != nil {
			b.mu.Unlock()
			return nil, err
		}
		q = &shapeQueue{jobs: jobs}
		b.shapes[key] = q
	}
	var batch []*pendingCreate
	if q.inFlight < q.maxInFlight() {
		q.inFlight++
		batch = []*pendingCreate{p}
		b.mu.Unlock()
	} else {
		q.waiting = append(q.waiting, p)
		if q.wake != nil && len(q.waiting) >= q.lingerFor {
			close(q.wake)
			q.wake = nil
		}
		b.mu.Unlock()
		if b.queued != nil {
			b.queued()
		}
		// Not abandoned on ctx: this create may be handed a batch to lead,
		// and the wait is bounded by one statement.
		out := <-p.done
		if out.lead == nil {
			return out.res, out.err
		}
		batch = out.lead
	}

	// Lead batch: run it, hand the queue on, deliver the others' outcomes.
	// The statement must not fail because this request's client went away
	// while others' creates ride along.
	results, errs := it.runBatch(context.WithoutCancel(ctx), key, cols, batch, q.jobs)
	if q.hooked() {
		own := deliver(p, batch, results, errs)
		b.lingerThenHandOff(q, key, len(batch), perStatement)
		return own.res, own.err
	}
	b.mu.Lock()
	next := b.takeNext(q, key, perStatement)
	b.mu.Unlock()
	handOff(next)
	own := deliver(p, batch, results, errs)
	return own.res, own.err
}

// hooked reports whether q's batches insert River jobs.
func (q *shapeQueue) hooked() bool { return len(q.jobs) > 0 }

// maxInFlight is how many of q's batches may run at once.
func (q *shapeQueue) maxInFlight() int {
	if q.hooked() {
		return maxHookedInFlight
	}
	return maxInFlight
}

// deliver sends each create of batch but p its outcome and returns p's.
func deliver(p *pendingCreate, batch []*pendingCreate, results []*created, errs []error) batchOutcome {
	var own batchOutcome
	for i, bp := range batch {
		out := batchOutcome{res: results[i], err: errs[i]}
		if bp == p {
			own = out
			continue
		}
		bp.done <- out
	}
	return own
}

// takeNext, under b.mu, takes the next batch off q's queue, or frees the
// slot when nothing waits.
func (b *batcher) takeNext(q *shapeQueue, key string, perStatement int) []*pendingCreate {
	n := len(q.waiting)
	if n == 0 {
		q.inFlight--
		if q.inFlight == 0 {
			delete(b.shapes, key)
		}
		return nil
	}
	take := min(n, perStatement)
	next := q.waiting[:take:take]
	q.waiting = q.waiting[take:]
	return next
}

// handOff makes next's first create lead it.
func handOff(next []*pendingCreate) {
	if next != nil {
		next[0].done <- batchOutcome{lead: next}
	}
}

// lingerThenHandOff keeps q's slot, after a hooked batch of ran creates,
// until as many creates wait as took part in its cycle or maxLinger
// passes, then hands the queue on. The wait runs on its own goroutine so
// the leader's caller, answered already, can come back and join.
func (b *batcher) lingerThenHandOff(q *shapeQueue, key string, ran, perStatement int) {
	b.mu.Lock()
	target := min(perStatement, ran+len(q.waiting))
	if len(q.waiting) >= target {
		next := b.takeNext(q, key, perStatement)
		b.mu.Unlock()
		handOff(next)
		return
	}
	wake := make(chan struct{})
	q.wake, q.lingerFor = wake, target
	b.mu.Unlock()
	linger := cmp.Or(b.linger, maxLinger)
	go func() {
		timer := time.NewTimer(linger)
		select {
		case <-wake:
		case <-timer.C:
		}
		timer.Stop()
		b.mu.Lock()
		if q.wake == wake {
			q.wake = nil
		}
		next := b.takeNext(q, key, perStatement)
		b.mu.Unlock()
		handOff(next)
	}()
}

// runBatch writes the batch's creates together; when that fails and there
// was more than one, each is replayed alone. A panic becomes every create's
// error: the creates waiting on this leader must always hear back.
func (it *Items) runBatch(ctx context.Context, shape string, cols []string, batch []*pendingCreate,
	jobs []store.ActionJob) (results []*created, errs []error) {
	results = make([]*created, len(batch))
	errs = make([]error, len(batch))
	defer func() {
		if r := recover(); r != nil {
			for i := range errs {
				results[i], errs[i] = nil, fmt.Errorf("creating in %s: panic: %v", it.coll.Name, r)
			}
		}
	}()
	res, err := it.writeBatch(ctx, shape, cols, batch, jobs)
	if err == nil {
		copy(results, res)
		return results, errs
	}
	if len(batch) == 1 {
		errs[0] = err
		return results, errs
	}
	it.svc.cfg.Logger.DebugContext(ctx, "shared create batch failed; replaying its creates one by one",
		slog.String("collection", it.coll.Name), slog.Int("creates", len(batch)), slog.Any("error", err))
	for i := range batch {
		var one []*created
		if one, errs[i] = it.writeBatch(ctx, shape, cols, batch[i:i+1], jobs); errs[i] == nil {
			results[i] = one[0]
		}
	}
	return results, errs
}

// createJobRows are the River job rows the durable action hooks watching
// creates in the collection add to each create's event: none when no
// action watches it. They are looked up once per shape queue.
func (it *Items) createJobRows() ([]store.ActionJob, error) {
	if it.svc.cfg.Hooks == nil {
		return nil, nil
	}
	return it.svc.cfg.Hooks.ActionJobRows(it.eventNames("create"), it.coll.Name)
}

// writeBatch writes the creates in one statement with their events and
// each event's jobs (createJobRows).
func (it *Items) writeBatch(ctx context.Context, shape string, cols []string, batch []*pendingCreate,
	jobs []store.ActionJob) ([]*created, error) {
	out, ids, err := it.insertMany(ctx, it.svc.cfg.Pool, shape, cols, batch, jobs)
	if err != nil {
		return nil, err
	}
	if len(jobs) > 0 {
		it.svc.cfg.Hooks.NotifyJobsInserted(ctx, jobs)
	}
	if it.svc.cfg.Committed != nil {
		it.svc.cfg.Committed(ctx, it.coll.Name, ids)
	}
	return out, nil
}

// shapeKey names a create's shape: its collection and columns.
func shapeKey(collection string, cols []string) string {
	return collection + "\x00" + strings.Join(cols, "\x00")
}

// insertMany is one INSERT … VALUES (…), (…) with an event per row and,
// per event, the jobs; it returns the creates and their event ids. shape is
// shapeKey of the collection and cols.
func (it *Items) insertMany(ctx context.Context, q store.Querier, shape string, cols []string, batch []*pendingCreate,
	jobs []store.ActionJob) ([]*created, []int64, error) {
	args := make([]any, 0, len(cols)*len(batch))
	rows := make([]store.ItemInsertRow, len(batch))
	for i, p := range batch {
		args = append(args, p.vals...)
		rows[i] = store.ItemInsertRow{Payload: p.payload, Accountability: p.acc}
	}
	stmt := it.svc.inserts.get(it.schema, insertKey{shape: shape, rows: len(batch), jobs: len(jobs) > 0},
		func() *store.ItemInsert {
			return store.NewItemInsert(it.insertManySQL(cols, len(batch)), len(args), len(batch), len(jobs) > 0)
		})
	written, ids, err := stmt.Run(ctx, q, args, it.eventFor("create", nil), rows, jobs)
	if err != nil {
		return nil, nil, fmt.Errorf("creating %d item(s) in %s: %w", len(batch), it.coll.Name, err)
	}
	out := make([]*created, len(batch))
	for i, row := range written {
		key, err := keyFromJSON(it.pk(), row.Key)
		if err != nil {
			return nil, nil, err
		}
		out[i] = &created{key: key, payload: batch[i].payload, image: row.New, eventID: ids[i]}
	}
	return out, ids, nil
}

// insertManySQL is INSERT … VALUES with n tuples of cols, returning the key
// and the new row image.
func (it *Items) insertManySQL(cols []string, n int) string {
	var b strings.Builder
	b.WriteString("INSERT INTO ")
	b.WriteString(it.table())
	if len(cols) == 0 {
		// DEFAULT VALUES inserts one row; n rows of defaults need a
		// column to name.
		b.WriteString(" (" + it.pkIdent() + ") VALUES ")
		for i := range n {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("(DEFAULT)")
		}
	} else {
		b.WriteString(" (")
		for i, c := range cols {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(pgx.Identifier{c}.Sanitize())
		}
		b.WriteString(") VALUES ")
		arg := 1
		for i := range n {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteByte('(')
			for j := range cols {
				if j > 0 {
					b.WriteString(", ")
				}
				b.WriteString("$" + strconv.Itoa(arg))
				arg++
			}
			b.WriteByte(')')
		}
	}
	b.WriteString(" RETURNING to_jsonb(" + it.pkIdent() + ") AS hookd_key, to_jsonb(" + it.table() +
		".*) AS hookd_new")
	return b.String()
}

// insertCache keeps the built statements of the creates' shapes (collection,
// columns, batch size, jobs or not) for one schema snapshot: formatting one
// costs a create more than looking it up. A new snapshot (DDL) starts an
// empty cache, so a statement never outlives the table shape it was built
// for. The zero value is ready.
type insertCache struct {
	mu     sync.Mutex
	schema *hooks.Schema
	stmts  map[insertKey]*store.ItemInsert
}

type insertKey struct {
	shape string
	rows  int
	jobs  bool
}

const (
	// maxCachedRows is the largest batch whose statement is kept: batches
	// are a few creates each under load (maxInFlight), and a rare large
	// one is not worth the memory.
	maxCachedRows = 64
	// maxCachedInserts bounds the cache; when full it starts over.
	maxCachedInserts = 1024
)

// get is key's statement under schema, built by build when not kept.
func (c *insertCache) get(schema *hooks.Schema, key insertKey, build func() *store.ItemInsert) *store.ItemInsert {
	if key.rows > maxCachedRows {
		return build()
	}
	c.mu.Lock()
	if c.schema == schema {
		if s, ok := c.stmts[key]; ok {
			c.mu.Unlock()
			return s
		}
	}
	c.mu.Unlock()
	s := build()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stmts == nil || c.schema != schema || len(c.stmts) >= maxCachedInserts {
		c.schema, c.stmts = schema, map[insertKey]*store.ItemInsert{}
	}
	c.stmts[key] = s
	return s
}
