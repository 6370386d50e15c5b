package jobs_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/hooks"
	"github.com/hookd/hookd/internal/event"
	"github.com/hookd/hookd/internal/jobs"
	"github.com/hookd/hookd/internal/store"
	"github.com/hookd/hookd/internal/testdb"
)

// fastRetry retries after 10ms instead of River's attempt^4 seconds.
type fastRetry struct{}

func (fastRetry) NextRetry(*rivertype.JobRow) time.Time { return time.Now().Add(10 * time.Millisecond) }

type clientOpts struct {
	id                   string
	rescueStuckJobsAfter time.Duration
	jobTimeout           time.Duration
	queues               map[string]river.QueueConfig
	// fetchPollInterval replaces the 50ms poll (River's default is 1s).
	fetchPollInterval time.Duration
}

func newBus(t testing.TB, pool *pgxpool.Pool, register hooks.RegisterFunc) *event.Bus {
	t.Helper()
	bus, err := event.NewBus(context.Background(), &event.BusConfig{Pool: pool,
		Extensions: []hooks.Extension{{ID: "test", Register: register}}})
	require.NoError(t, err)
	return bus
}

func newClient(t testing.TB, pool *pgxpool.Pool, bus *event.Bus, o clientOpts) *river.Client[pgx.Tx] {
	t.Helper()
	workers, err := jobs.Workers(&jobs.Config{Bus: bus, Pool: pool})
	require.NoError(t, err)
	queues := o.queues
	if queues == nil {
		queues = jobs.Queues(bus, 20)
	}
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
		ID:                   o.id,
		Logger:               slog.New(slog.DiscardHandler),
		Queues:               queues,
		Workers:              workers,
		PeriodicJobs:         jobs.PeriodicJobs(bus),
		FetchCooldown:        20 * time.Millisecond,
		FetchPollInterval:    cmp.Or(o.fetchPollInterval, 50*time.Millisecond),
		RetryPolicy:          fastRetry{},
		RescueStuckJobsAfter: o.rescueStuckJobsAfter,
		JobTimeout:           o.jobTimeout,
	})
	require.NoError(t, err)
	return client
}

func start(t testing.TB, client *river.Client[pgx.Tx]) {
	t.Helper()
	require.NoError(t, client.Start(context.Background()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = client.StopAndCancel(ctx)
	})
}

// write appends events and enqueues the actions for names in one
// committed transaction, like the item service does.
func write(t testing.TB, pool *pgxpool.Pool, bus *event.Bus, names []string, events []store.EventAppendParams) []int64 {
	t.Helper()
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx) //nolint:errcheck
	ids, err := store.EventAppendTx(ctx, tx, events)
	require.NoError(t, err)
	require.NoError(t, bus.EnqueueActionsTx(ctx, tx, names, hooks.Meta{Collection: events[0].Collection, EventIDs: ids}))
	require.NoError(t, tx.Commit(ctx))
	return ids
}

type jobState struct {
	State   string
	Attempt int
	Errors  []string
}

func hookJobs(t testing.TB, pool *pgxpool.Pool, kind string) []jobState {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT state::text, attempt,
		COALESCE(ARRAY(SELECT e->>'error' FROM unnest(errors) e), '{}') FROM river_job WHERE kind = $1 ORDER BY id`, kind)
	require.NoError(t, err)
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[jobState])
	require.NoError(t, err)
	return out
}

func TestActionGetsDirectusMetaAndContext(t *testing.T) {
	t.Parallel()
	d := testdb.New(t)
	type call struct {
		meta hooks.Meta
		ec   hooks.EventContext
	}
	calls := make(chan call, 4)
	bus := newBus(t, d.Pool, func(r hooks.Registrar, _ *hooks.Context) error {
		r.Action("notes.items.*", func(_ context.Context, m hooks.Meta, ec hooks.EventContext) error {
			calls <- call{m, ec}
			return nil
		})
		return nil
	})
	start(t, newClient(t, d.Pool, bus, clientOpts{}))
	acc := &hooks.Accountability{User: "u-1", Role: "r-1"}

	createIDs := write(t, d.Pool, bus, []string{"items.create", "notes.items.create"}, []store.EventAppendParams{{
		Name: "items.create", Scope: "items", Action: "create", Collection: "notes", ItemKey: 7,
		Data: hooks.Item{"id": 7, "title": "hi"}, Payload: hooks.Item{"title": "hi"}, Accountability: acc}})
	c := <-calls
	require.Equal(t, "notes.items.create", c.meta.Event)
	require.Equal(t, "notes", c.meta.Collection)
	require.Equal(t, float64(7), c.meta.Key)
	require.Nil(t, c.meta.Keys)
	require.Equal(t, map[string]any{"title": "hi"}, c.meta.Payload)
	require.Equal(t, createIDs, c.meta.EventIDs)
	require.Equal(t, acc, c.ec.Accountability)
	require.NotNil(t, c.ec.Database)

	// An update of two keys in one call: one run with keys.
	updateIDs := write(t, d.Pool, bus, []string{"items.update", "notes.items.update"}, []store.EventAppendParams{
		{Name: "items.update", Scope: "items", Action: "update", Collection: "notes", ItemKey: 1, Payload: hooks.Item{"done": true}},
		{Name: "items.update", Scope: "items", Action: "update", Collection: "notes", ItemKey: 2, Payload: hooks.Item{"done": true}},
	})
	c = <-calls
	require.Equal(t, "notes.items.update", c.meta.Event)
	require.Nil(t, c.meta.Key)
	require.Equal(t, []any{float64(1), float64(2)}, c.meta.Keys)
	require.Equal(t, map[string]any{"done": true}, c.meta.Payload)
	require.Equal(t, updateIDs, c.meta.EventIDs)
	require.Nil(t, c.ec.Accountability, "no accountability = system")
}

func TestFailingActionIsRetriedThenSucceeds(t *testing.T) {
	t.Parallel()
	d := testdb.New(t)
	var attempts atomic.Int32
	done := make(chan struct{})
	bus := newBus(t, d.Pool, func(r hooks.Registrar, _ *hooks.Context) error {
		r.Action("items.create", func(context.Context, hooks.Meta, hooks.EventContext) error {
			if attempts.Add(1) == 1 {
				return errors.New("webhook answered 502")
			}
			close(done)
			return nil
		})
		return nil
	})
	start(t, newClient(t, d.Pool, bus, clientOpts{}))
	write(t, d.Pool, bus, []string{"items.create"}, []store.EventAppendParams{{
		Name: "items.create", Scope: "items", Action: "create", Collection: "notes", ItemKey: 1}})
	<-done
	require.Eventually(t, func() bool {
		j := hookJobs(t, d.Pool, event.ActionKind)
		return len(j) == 1 && j[0].State == "completed"
	}, 10*time.Second, 20*time.Millisecond)
	j := hookJobs(t, d.Pool, event.ActionKind)[0]
	require.Equal(t, 2, j.Attempt)
	require.Equal(t, []string{"action hook test:items.create on items.create: webhook answered 502"}, j.Errors)
}

// Jobs a create statement inserted itself (the group commit's
// EventAppendWithInsertJobs) wake the workers the way River's own insert
// does: with the poll a minute away, only the bus's insert notification can
// bring the job to the worker within the test's ten seconds.
func TestJobsWrittenByTheStatementWakeTheWorkers(t *testing.T) {
	t.Parallel()
	d := testdb.New(t)
	ctx := context.Background()
	_, err := d.Pool.Exec(ctx, "CREATE TABLE notes (id serial PRIMARY KEY, title text)")
	require.NoError(t, err)
	ran := make(chan any, 2)
	bus := newBus(t, d.Pool, func(r hooks.Registrar, _ *hooks.Context) error {
		r.Action("notes.items.create", func(_ context.Context, m hooks.Meta, _ hooks.EventContext) error {
			ran <- m.Key
			return nil
		})
		return nil
	})
	start(t, newClient(t, d.Pool, bus, clientOpts{fetchPollInterval: time.Minute}))
	awaitRun := func(what string) any {
		t.Helper()
		select {
		case key := <-ran:
			return key
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: the action did not run within 10s", what)
			return nil
		}
	}
	// River's own insert first: once its job ran, the client is up and
	// listening, so the next wake-up can only come from our notification.
	write(t, d.Pool, bus, []string{"notes.items.create"}, []store.EventAppendParams{{
		Name: "items.create", Scope: "items", Action: "create", Collection: "notes", ItemKey: 0}})
	require.Equal(t, float64(0), awaitRun("River's insert"))

	names := []string{"items.create", "notes.items.create"}
	jobRows, err := bus.ActionJobRows(names, "notes")
	require.NoError(t, err)
	require.Len(t, jobRows, 1)
	written, _, err := store.ItemInsertWithEventsTx(ctx, d.Pool,
		"INSERT INTO notes (title) VALUES ($1) RETURNING to_jsonb(id) AS hookd_key, to_jsonb(notes.*) AS hookd_new",
		[]any{"woken"}, store.ItemWriteEvent{Name: "items.create", Scope: "items", Action: "create", Collection: "notes"},
		[]store.ItemInsertRow{{Payload: hooks.Item{"title": "woken"}}}, jobRows)
	require.NoError(t, err)
	bus.NotifyJobsInserted(ctx, jobRows)
	require.JSONEq(t, string(written[0].Key), fmt.Sprint(awaitRun("the statement's job")))
}

// Exhausted jobs stay discarded, visible in the view, and can be retried.
func TestExhaustedActionIsDiscardedAndRetryable(t *testing.T) {
	t.Parallel()
	d := testdb.New(t)
	var fail atomic.Bool
	fail.Store(true)
	ran := make(chan struct{}, 1)
	bus := newBus(t, d.Pool, func(r hooks.Registrar, _ *hooks.Context) error {
		r.Action("items.delete", func(context.Context, hooks.Meta, hooks.EventContext) error {
			if fail.Load() {
				return errors.New("still broken")
			}
			ran <- struct{}{}
			return nil
		}, hooks.MaxAttempts(2))
		return nil
	})
	client := newClient(t, d.Pool, bus, clientOpts{})
	start(t, client)
	ids := write(t, d.Pool, bus, []string{"items.delete"}, []store.EventAppendParams{{
		Name: "items.delete", Scope: "items", Action: "delete", Collection: "notes", ItemKey: 5}})
	require.Eventually(t, func() bool {
		j := hookJobs(t, d.Pool, event.ActionKind)
		return len(j) == 1 && j[0].State == "discarded"
	}, 10*time.Second, 20*time.Millisecond)

	var jobID int64
	var lastError, collection, eventName string
	var eventIDs []int64
	require.NoError(t, d.Pool.QueryRow(context.Background(), `SELECT job_id, last_error, collection, event_ids, event_name
		FROM hookd_hook_runs WHERE hook_id = 'test:items.delete' AND state = 'discarded'`).
		Scan(&jobID, &lastError, &collection, &eventIDs, &eventName))
	require.Equal(t, "items.delete", eventName)
	require.Equal(t, "action hook test:items.delete on items.delete: still broken", lastError)
	require.Equal(t, "notes", collection)
	require.Equal(t, ids, eventIDs)

	fail.Store(false)
	_, err := client.JobRetry(context.Background(), jobID)
	require.NoError(t, err)
	<-ran
	require.Eventually(t, func() bool {
		return hookJobs(t, d.Pool, event.ActionKind)[0].State == "completed"
	}, 10*time.Second, 20*time.Millisecond)
}

// A job whose hook is gone fails loudly with the hook id, never silently.
func TestJobForUnknownHookFailsClearly(t *testing.T) {
	t.Parallel()
	d := testdb.New(t)
	noop := func(context.Context, hooks.Meta, hooks.EventContext) error { return nil }
	oldDeploy := newBus(t, d.Pool, func(r hooks.Registrar, _ *hooks.Context) error {
		r.Action("items.create", noop, hooks.Name("legacy-sync"))
		return nil
	})
	newDeploy := newBus(t, d.Pool, func(r hooks.Registrar, _ *hooks.Context) error {
		r.Action("items.create", noop, hooks.Name("sync"))
		return nil
	})
	write(t, d.Pool, oldDeploy, []string{"items.create"}, []store.EventAppendParams{{
		Name: "items.create", Scope: "items", Action: "create", Collection: "notes", ItemKey: 1}})
	start(t, newClient(t, d.Pool, newDeploy, clientOpts{}))
	require.Eventually(t, func() bool {
		j := hookJobs(t, d.Pool, event.ActionKind)
		return len(j) == 1 && len(j[0].Errors) > 0
	}, 10*time.Second, 20*time.Millisecond)
	require.Contains(t, hookJobs(t, d.Pool, event.ActionKind)[0].Errors[0],
		`no action hook with id "test:items.create:legacy-sync" is registered on this instance`)
}

// helperEnv makes the test binary act as a hookd worker process for
// TestKilledWorkerActionIsRetried (the parent kill -9s it mid-job).
const helperEnv = "HOOKD_JOBS_TEST_VICTIM_DB"

func TestHelperVictimProcess(t *testing.T) {
	url := os.Getenv(helperEnv)
	if url == "" {
		t.Skip("helper process for TestKilledWorkerActionIsRetried")
	}
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, url)
	require.NoError(t, err)
	bus := newBus(t, pool, func(r hooks.Registrar, _ *hooks.Context) error {
		r.Action("items.create", func(ctx context.Context, m hooks.Meta, ec hooks.EventContext) error {
			if _, err := ec.Database.Exec(ctx, "INSERT INTO runs (who) VALUES ('victim')"); err != nil {
				return err
			}
			<-ctx.Done() // hang until killed
			return ctx.Err()
		}, hooks.Queue("crash"))
		return nil
	})
	client := newClient(t, pool, bus, clientOpts{id: "victim", queues: map[string]river.QueueConfig{"crash": {MaxWorkers: 1}}})
	require.NoError(t, client.Start(ctx))
	select {} // until SIGKILL
}

// At least once: a worker process killed with SIGKILL while running an
// action leaves the job `running`; River's rescuer makes it retryable and
// another instance runs it.
func TestKilledWorkerActionIsRetried(t *testing.T) {
	t.Parallel()
	d := testdb.New(t)
	ctx := context.Background()
	_, err := d.Pool.Exec(ctx, "CREATE TABLE runs (id serial PRIMARY KEY, who text NOT NULL)")
	require.NoError(t, err)

	// The survivor's first client is leader before the victim starts, so
	// leadership (and with it the rescuer) never depends on the victim.
	survivorBus := newBus(t, d.Pool, func(r hooks.Registrar, _ *hooks.Context) error {
		r.Action("items.create", func(ctx context.Context, m hooks.Meta, ec hooks.EventContext) error {
			_, err := ec.Database.Exec(ctx, "INSERT INTO runs (who) VALUES ('survivor')")
			return err
		}, hooks.Queue("crash"))
		return nil
	})
	leader := newClient(t, d.Pool, survivorBus, clientOpts{id: "survivor-1",
		queues: map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 1}}})
	require.NoError(t, leader.Start(ctx))
	require.Eventually(t, func() bool {
		l, err := store.RiverLeader(ctx, d.Pool)
		return err == nil && l == "survivor-1"
	}, 15*time.Second, 20*time.Millisecond)

	write(t, d.Pool, survivorBus, []string{"items.create"}, []store.EventAppendParams{{
		Name: "items.create", Scope: "items", Action: "create", Collection: "notes", ItemKey: 1}})

	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperVictimProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"="+d.URL)
	require.NoError(t, cmd.Start())
	killed := false
	t.Cleanup(func() {
		if !killed {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	require.Eventually(t, func() bool {
		return count(t, d.Pool, "SELECT count(*) FROM runs WHERE who = 'victim'") == 1
	}, 30*time.Second, 20*time.Millisecond, "the victim never started the job")
	require.NoError(t, cmd.Process.Signal(os.Kill))
	_ = cmd.Wait()
	killed = true
	require.Equal(t, "running", hookJobs(t, d.Pool, event.ActionKind)[0].State, "a killed worker cannot finish its job")

	// Let the job become stuck by the new client's measure, then hand
	// leadership to a client with a short RescueStuckJobsAfter that works
	// the queue.
	const rescueAfter = time.Second
	require.Eventually(t, func() bool {
		return count(t, d.Pool, "SELECT count(*) FROM river_job WHERE state = 'running' AND attempted_at < now() - $1::interval",
			fmt.Sprintf("%d milliseconds", (rescueAfter+200*time.Millisecond).Milliseconds())) == 1
	}, 10*time.Second, 20*time.Millisecond)
	stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	require.NoError(t, leader.Stop(stopCtx))
	survivor := newClient(t, d.Pool, survivorBus, clientOpts{id: "survivor-2", rescueStuckJobsAfter: rescueAfter,
		jobTimeout: 500 * time.Millisecond})
	start(t, survivor)
	require.Eventually(t, func() bool {
		j := hookJobs(t, d.Pool, event.ActionKind)
		return j[0].State == "completed"
	}, 30*time.Second, 50*time.Millisecond)
	require.Equal(t, 1, count(t, d.Pool, "SELECT count(*) FROM runs WHERE who = 'survivor'"))
	require.Equal(t, 2, hookJobs(t, d.Pool, event.ActionKind)[0].Attempt)
}

func count(t testing.TB, pool *pgxpool.Pool, sql string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, pool.QueryRow(context.Background(), sql, args...).Scan(&n))
	return n
}

// Three instances on one database: each tick of a schedule runs once, even
// across a leader change.
func TestScheduleRunsOncePerTickAcrossInstances(t *testing.T) {
	t.Parallel()
	d := testdb.New(t)
	ctx := context.Background()
	var mu sync.Mutex
	runs := map[string]int{} // instance → runs
	var total atomic.Int32
	clients := map[string]*river.Client[pgx.Tx]{}
	for i := range 3 {
		id := fmt.Sprintf("instance-%d", i)
		bus := newBus(t, d.Pool, func(r hooks.Registrar, _ *hooks.Context) error {
			r.Schedule("* * * * * *", func(context.Context) error {
				mu.Lock()
				runs[id]++
				mu.Unlock()
				total.Add(1)
				return nil
			})
			return nil
		})
		clients[id] = newClient(t, d.Pool, bus, clientOpts{id: id})
		start(t, clients[id])
	}
	require.Eventually(t, func() bool { return total.Load() >= 3 }, 20*time.Second, 50*time.Millisecond)

	// Hand leadership over mid-schedule: the new leader recomputes the
	// schedule from scratch and may enqueue a tick the old one already did.
	leader, err := store.RiverLeader(ctx, d.Pool)
	require.NoError(t, err)
	stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	require.NoError(t, clients[leader].Stop(stopCtx))
	before := total.Load()
	require.Eventually(t, func() bool { return total.Load() >= before+3 }, 30*time.Second, 50*time.Millisecond)

	// Every tick is one job, and every job ran once.
	require.Zero(t, count(t, d.Pool, `SELECT count(*) FROM (SELECT args->>'tick' FROM river_job WHERE kind = $1
		GROUP BY 1 HAVING count(*) > 1) dup`, jobs.ScheduleKind))
	require.Eventually(t, func() bool {
		return count(t, d.Pool, "SELECT count(*) FROM river_job WHERE kind = $1 AND state = 'completed'",
			jobs.ScheduleKind) == int(total.Load())
	}, 10*time.Second, 50*time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	require.GreaterOrEqual(t, len(runs), 1)
}

// The periodic constructor's args are unique per tick: enqueuing one tick
// twice (two leaders) inserts one job.
func TestScheduleTickIsUnique(t *testing.T) {
	t.Parallel()
	d := testdb.New(t)
	ctx := context.Background()
	bus := newBus(t, d.Pool, func(r hooks.Registrar, _ *hooks.Context) error {
		r.Schedule("*/15 * * * *", func(context.Context) error { return nil }, hooks.Name("webhook"))
		return nil
	})
	client := newClient(t, d.Pool, bus, clientOpts{})
	tick := time.Date(2026, 11, 22, 10, 15, 0, 0, time.UTC)
	for range 2 {
		_, err := client.Insert(ctx, jobs.ScheduleArgs{HookID: "test:cron(*/15 * * * *):webhook", Tick: tick},
			&river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true}})
		require.NoError(t, err)
	}
	require.Equal(t, 1, count(t, d.Pool, "SELECT count(*) FROM river_job WHERE kind = $1", jobs.ScheduleKind))
	require.Len(t, jobs.PeriodicJobs(bus), 1)
}

func TestFailedScheduleRunStaysVisible(t *testing.T) {
	t.Parallel()
	d := testdb.New(t)
	bus := newBus(t, d.Pool, func(r hooks.Registrar, _ *hooks.Context) error {
		r.Schedule("* * * * * *", func(context.Context) error { return errors.New("webhook down") })
		return nil
	})
	start(t, newClient(t, d.Pool, bus, clientOpts{}))
	require.Eventually(t, func() bool {
		return count(t, d.Pool, `SELECT count(*) FROM hookd_hook_runs WHERE hook_kind = 'schedule'
			AND state = 'discarded' AND last_error LIKE '%webhook down'`) >= 1
	}, 20*time.Second, 50*time.Millisecond)
}

// An action on an event without hookd_event rows (auth.login) gets the
// event-specific meta (status, user, provider) the write recorded; values
// that only live in the process are left out instead of failing the insert.
func TestActionWithoutEventRowsGetsExtra(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := testdb.New(t)
	got := make(chan hooks.Meta, 1)
	bus := newBus(t, d.Pool, func(r hooks.Registrar, _ *hooks.Context) error {
		r.Action("auth.login", func(_ context.Context, m hooks.Meta, _ hooks.EventContext) error {
			got <- m
			return nil
		})
		return nil
	})
	start(t, newClient(t, d.Pool, bus, clientOpts{id: "extra"}))

	tx, err := d.Pool.Begin(ctx)
	require.NoError(t, err)
	require.NoError(t, bus.EnqueueActionsTx(ctx, tx, []string{"auth.login"}, hooks.Meta{
		Payload: map[string]any{"email": "a@example.com"},
		Extra:   map[string]any{"status": "success", "user": "u-1", "provider": "default", "conn": make(chan int)},
	}))
	require.NoError(t, tx.Commit(ctx))

	select {
	case m := <-got:
		require.Equal(t, "auth.login", m.Event)
		require.Equal(t, map[string]any{"status": "success", "user": "u-1", "provider": "default"}, m.Extra)
		require.Equal(t, map[string]any{"email": "a@example.com"}, m.Payload)
	case <-time.After(20 * time.Second):
		t.Fatal("the action did not run")
	}
}
