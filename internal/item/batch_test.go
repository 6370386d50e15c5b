package item_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/hooks"
	"github.com/hookd/hookd/internal/store"
)

// Group commit of hooked creates: a single create whose filters did not use
// their transaction joins the batch of its shape; a batch of watched
// creates is one transaction (the shared insert with the events, one River
// insert with every create's jobs, COMMIT). These tests make creates share
// a batch for certain: a lock held on the table stops the batch in
// flight, the other creates queue behind it (the service signals each),
// and once the lock goes they all leave as one batch.

// stampExtension stamps each article's body in a filter that does not use
// the database, and adds a second durable action (on items.create) to the
// recording extension's one on articles.items.create.
func stampExtension() hooks.Extension {
	return hooks.Extension{ID: "stamp", Register: func(r hooks.Registrar, _ *hooks.Context) error {
		r.Filter("articles.items.create", func(_ context.Context, payload any, _ hooks.Meta, _ hooks.EventContext) (any, error) {
			out := hooks.Item{}
			for k, v := range payload.(hooks.Item) {
				out[k] = v
			}
			out["body"] = fmt.Sprintf("stamped %v", out["title"])
			return out, nil
		})
		r.Action("items.create", func(context.Context, hooks.Meta, hooks.EventContext) error { return nil },
			hooks.Name("second"))
		return nil
	}}
}

type createResult struct {
	title string
	key   any
	item  hooks.Item
	err   error
}

// createQueued runs one CreateOneRead per title concurrently while the
// articles table is locked against inserts, waits until all but the
// create in flight have queued, then releases the lock and returns every
// result.
func createQueued(t *testing.T, b *bundle, titles []string) []createResult {
	t.Helper()
	ctx := context.Background()
	queued := make(chan struct{}, len(titles))
	b.svc.SetBatchQueued(func() { queued <- struct{}{} })
	lock, err := b.db.Pool.Begin(ctx)
	require.NoError(t, err)
	defer lock.Rollback(ctx) //nolint:errcheck // committed below
	_, err = lock.Exec(ctx, "LOCK TABLE articles IN SHARE MODE")
	require.NoError(t, err)

	svc := b.items(t, "articles", &hooks.Accountability{User: "u", Admin: true})
	results := make([]createResult, len(titles))
	var wg sync.WaitGroup
	for i, title := range titles {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key, item, err := svc.CreateOneRead(ctx, hooks.Item{"title": title}, nil)
			results[i] = createResult{title: title, key: key, item: item, err: err}
		}()
	}
	for range len(titles) - 1 {
		<-queued
	}
	require.NoError(t, lock.Commit(ctx))
	wg.Wait()
	return results
}

// eventJobs maps each event id to the events (hook event names) of the
// action jobs pointing at it, checking that each job was inserted by the
// transaction that appended its event.
func eventJobs(t *testing.T, b *bundle) map[int64][]string {
	t.Helper()
	rows, err := b.db.Pool.Query(context.Background(), `
		SELECT e.id, j.args->>'event', j.xmin::text = e.xmin::text
		FROM river_job j JOIN hookd_event e ON e.id = (j.args->'event_ids'->>0)::bigint
		ORDER BY j.id`)
	require.NoError(t, err)
	out := map[int64][]string{}
	var id int64
	var name string
	var sameTx bool
	_, err = pgx.ForEachRow(rows, []any{&id, &name, &sameTx}, func() error {
		require.True(t, sameTx, "job for event %d inserted by the event's transaction", id)
		out[id] = append(out[id], name)
		return nil
	})
	require.NoError(t, err)
	return out
}

func TestHookedCreatesShareATransaction(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var committed []int64
	b := setup(t, &setupOpts{extensions: []hooks.Extension{stampExtension()},
		committed: func(_ context.Context, _ string, ids []int64) {
			mu.Lock()
			committed = append(committed, ids...)
			mu.Unlock()
		}})
	const n = 8
	titles := make([]string, n)
	for i := range titles {
		titles[i] = fmt.Sprintf("article %d", i)
	}
	results := createQueued(t, b, titles)

	byKey := map[string]string{}
	for _, r := range results {
		require.NoError(t, r.err, r.title)
		require.Equal(t, r.title, r.item["title"], "each create gets its own row back")
		require.Equal(t, "stamped "+r.title, r.item["body"], "the row is the filtered payload")
		require.Equal(t, fmt.Sprint(r.key), fmt.Sprint(r.item["id"]))
		byKey[fmt.Sprint(r.key)] = r.title
	}
	require.Len(t, byKey, n, "every create has its own key")
	require.Len(t, b.calls.byEvent("items.create"), n, "each create's filters ran once")
	require.Len(t, b.calls.byEvent("articles.items.create"), n)

	events := b.events(t)
	require.Len(t, events, n)
	jobs := eventJobs(t, b)
	var ids []int64
	for _, e := range events {
		ids = append(ids, e.ID)
		title := byKey[string(e.ItemKey)]
		require.NotEmpty(t, title, "event for key %s", e.ItemKey)
		require.JSONEq(t, fmt.Sprintf(`{"title":%q,"body":"stamped %s"}`, title, title), string(e.Payload),
			"the event carries its own create's filtered payload")
		require.Equal(t, "u", e.Accountability.User)
		require.ElementsMatch(t, []string{"items.create", "articles.items.create"}, jobs[e.ID],
			"exactly this create's jobs, one per action hook")
	}
	require.Len(t, jobs, n)
	mu.Lock()
	require.ElementsMatch(t, ids, committed, "every commit is reported")
	mu.Unlock()
	// One create went out alone while the rest queued; the queue left as
	// one transaction.
	require.Equal(t, 2, b.count(t, "SELECT count(DISTINCT tx_id) FROM hookd_event"))
	require.Equal(t, n-1, b.count(t, "SELECT max(c) FROM (SELECT count(*) AS c FROM hookd_event GROUP BY tx_id) s"))
}

// TestHookedBatchLingersForItsCallers: after a hooked batch, its shape's
// slot waits for as many creates as took part in the batch's cycle, so the
// caller it answered can come back and leave with those that queued
// behind it, in one statement.
func TestHookedBatchLingersForItsCallers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, &setupOpts{extensions: []hooks.Extension{stampExtension()}})
	// Long enough that only the returning caller can end the wait.
	b.svc.SetBatchLinger(time.Minute)
	queued := make(chan struct{}, 4)
	b.svc.SetBatchQueued(func() { queued <- struct{}{} })
	svc := b.items(t, "articles", &hooks.Accountability{User: "u", Admin: true})

	lock, err := b.db.Pool.Begin(ctx)
	require.NoError(t, err)
	defer lock.Rollback(ctx) //nolint:errcheck // committed below
	_, err = lock.Exec(ctx, "LOCK TABLE articles IN SHARE MODE")
	require.NoError(t, err)
	create := func(title string) chan error {
		done := make(chan error, 1)
		go func() {
			_, err := svc.CreateOne(ctx, hooks.Item{"title": title})
			done <- err
		}()
		return done
	}
	first := create("first")
	require.Eventually(t, func() bool {
		return b.count(t, "SELECT count(*) FROM pg_locks WHERE relation = 'articles'::regclass AND NOT granted") > 0
	}, 10*time.Second, 5*time.Millisecond, "the first create's statement waits on the lock")
	second := create("queued")
	<-queued
	require.NoError(t, lock.Commit(ctx))
	// The first caller is answered while the queued create waits: a batch
	// of one with one behind it expects two.
	require.NoError(t, <-first)
	select {
	case err := <-second:
		t.Fatalf("the queued create left before the linger ended: %v", err)
	default:
	}
	// The first caller comes back: the two leave in one statement.
	require.NoError(t, <-create("back"))
	require.NoError(t, <-second)
	require.Equal(t, 2, b.count(t, "SELECT count(DISTINCT tx_id) FROM hookd_event"))
	require.Equal(t, 1, b.count(t, `SELECT count(DISTINCT e.tx_id) FROM hookd_event e
		JOIN articles a ON e.item_key = to_jsonb(a.id) WHERE a.title IN ('queued', 'back')`))
}

// TestHookedBatchLingerEnds: when the expected creates do not come, the
// queued ones leave once the linger is over.
func TestHookedBatchLingerEnds(t *testing.T) {
	t.Parallel()
	b := setup(t, &setupOpts{extensions: []hooks.Extension{stampExtension()}})
	b.svc.SetBatchLinger(20 * time.Millisecond)
	results := createQueued(t, b, []string{"a", "b", "c"})
	for _, r := range results {
		require.NoError(t, r.err, r.title)
	}
	require.Equal(t, 3, b.count(t, "SELECT count(*) FROM articles"))
	require.Equal(t, 2, b.count(t, "SELECT count(DISTINCT tx_id) FROM hookd_event"))
}

// requireNotUnique checks that err is a unique violation reaching the
// caller as a store.ConstraintError.
func requireNotUnique(t *testing.T, err error, title string) {
	t.Helper()
	var ce *store.ConstraintError
	require.True(t, errors.As(err, &ce), "%s: want a constraint error, got %v", title, err)
	require.Equal(t, "RECORD_NOT_UNIQUE", ce.Code, title)
}

func TestHookedBatchWithABadCreate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, &setupOpts{extensions: []hooks.Extension{stampExtension()}})
	_, err := b.db.Pool.Exec(ctx, "CREATE UNIQUE INDEX articles_title ON articles (title)")
	require.NoError(t, err)
	_, err = b.items(t, "articles", nil).CreateOne(ctx, hooks.Item{"title": "taken"})
	require.NoError(t, err)

	// Three bad creates among eight: one goes out alone, so the shared
	// batch holds at least two bad and four good ones.
	titles := []string{"good 0", "taken", "good 1", "good 2", "taken", "good 3", "good 4", "taken"}
	results := createQueued(t, b, titles)
	var good int
	for _, r := range results {
		if r.title == "taken" {
			requireNotUnique(t, r.err, r.title)
			continue
		}
		good++
		require.NoError(t, r.err, r.title)
		require.Equal(t, r.title, r.item["title"])
	}
	require.Equal(t, 5, good)
	require.Equal(t, 6, b.count(t, "SELECT count(*) FROM articles"))
	events := b.events(t)
	require.Len(t, events, 6, "no event for a failed create")
	jobs := eventJobs(t, b)
	require.Len(t, jobs, 6)
	for _, e := range events {
		require.Len(t, jobs[e.ID], 2, "each committed create has its two jobs")
	}
	require.Equal(t, 12, b.count(t, "SELECT count(*) FROM river_job"), "no job for a failed create")
}

// TestHookedBatchFailingCommit: a deferred unique constraint fails at
// the commit (the statement's own: rows, events and jobs are one
// statement), after the rows, events and jobs were all written: nothing of
// a failed create may remain, and its jobs least of all.
func TestHookedBatchFailingCommit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, &setupOpts{extensions: []hooks.Extension{stampExtension()}})
	_, err := b.db.Pool.Exec(ctx,
		"ALTER TABLE articles ADD CONSTRAINT articles_title UNIQUE (title) DEFERRABLE INITIALLY DEFERRED")
	require.NoError(t, err)

	// Six creates of one title: the one alone and the shared batch of five
	// (which fails at COMMIT, then each of its creates does alone); exactly
	// one create commits.
	titles := []string{"same", "same", "same", "same", "same", "same"}
	results := createQueued(t, b, titles)
	var ok int
	for _, r := range results {
		if r.err == nil {
			ok++
			continue
		}
		requireNotUnique(t, r.err, r.title)
	}
	require.Equal(t, 1, ok)
	require.Equal(t, 1, b.count(t, "SELECT count(*) FROM articles"))
	events := b.events(t)
	require.Len(t, events, 1)
	jobs := eventJobs(t, b)
	require.Len(t, jobs[events[0].ID], 2)
	require.Equal(t, 2, b.count(t, "SELECT count(*) FROM river_job"), "no job without its committed row")
}

// TestSingleCreateFilterWritesKeepTheirTransaction: a filter that writes
// through Database keeps the create in its transaction, so its write
// commits with the create and rolls back with a cancelled one.
func TestSingleCreateFilterWritesKeepTheirTransaction(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, &setupOpts{extensions: []hooks.Extension{stampExtension(), {ID: "audit",
		Register: func(r hooks.Registrar, _ *hooks.Context) error {
			r.Filter("articles.items.create", func(ctx context.Context, payload any, _ hooks.Meta, ec hooks.EventContext) (any, error) {
				title := payload.(hooks.Item)["title"]
				if _, err := ec.Database.Exec(ctx, "INSERT INTO audit (note) VALUES ($1)", fmt.Sprint(title)); err != nil {
					return nil, err
				}
				if title == "refused" {
					return nil, hooks.InvalidPayload("refused")
				}
				return nil, nil
			})
			return nil
		}}}})
	svc := b.items(t, "articles", nil)
	_, err := svc.CreateOne(ctx, hooks.Item{"title": "refused"})
	requireCode(t, err, "INVALID_PAYLOAD")
	require.Zero(t, b.count(t, "SELECT count(*) FROM audit"), "the cancelled create's filter write rolled back")
	require.Zero(t, b.count(t, "SELECT count(*) FROM articles"))
	require.Empty(t, b.events(t))
	require.Empty(t, b.jobs(t))

	key, err := svc.CreateOne(ctx, hooks.Item{"title": "kept"})
	require.NoError(t, err)
	require.Equal(t, 1, b.count(t, `SELECT count(*) FROM audit a JOIN articles r ON r.xmin::text = a.xmin::text
		WHERE a.note = 'kept' AND r.id = $1 AND r.body = 'stamped kept'`, key),
		"the filter's write and the create committed in one transaction")
	events := b.events(t)
	require.Len(t, events, 1)
	jobs := eventJobs(t, b)
	require.ElementsMatch(t, []string{"items.create", "articles.items.create"}, jobs[events[0].ID])
}
