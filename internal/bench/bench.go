// Package bench measures the items API against Postgres itself, in one run
// on one database: POST /items/articles throughput at N concurrent clients
// against pgbench inserting the same row shape at the same concurrency
// (issue 3), the same POST on an instance with one filter and two durable
// action hooks against the instance without (issue 4), GET
// /items/articles?limit=100 rate and latency, and how fast the action jobs
// the hooked phases queued complete. The phases alternate (A B C A B C…)
// so that noise from other load on the machine hits every side alike, and
// rates are medians. The HTTP load comes from wrk when it is installed
// (WrkLoad), else from Load, a lean keep-alive Go client: the client
// shares the cores with the server as pgbench, a C client, does with
// Postgres. BenchmarkItemsAPI (make bench) runs it and prints the table
// recorded in BENCHMARKS.md.
package bench

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/riverqueue/river"

	"github.com/hookd/hookd/hooks"
	"github.com/hookd/hookd/internal/app"
	"github.com/hookd/hookd/internal/config"
	"github.com/hookd/hookd/internal/event"
	hsql "github.com/hookd/hookd/sql"
)

// ArticlesDDL is the table both sides insert into.
const ArticlesDDL = `CREATE TABLE articles (
    id         serial PRIMARY KEY,
    title      text NOT NULL,
    body       text,
    status     text NOT NULL DEFAULT 'draft',
    views      integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now()
)`

const (
	articleTitle = "A benchmark article"
	articleBody  = "Some body text that is long enough to look like an article teaser, but not much longer."
)

// Config configures Run.
type Config struct {
	// DatabaseURL is an empty (migrated or not) database the run may fill.
	// Required.
	DatabaseURL string
	// Clients is the concurrency of every phase. Default 8.
	Clients int
	// Phase is the length of one measured phase. Default 6s; pgbench runs
	// whole seconds, so it is rounded up to one.
	Phase time.Duration
	// Rounds is how many times the phases alternate; rates are the medians.
	// Default 5: on a shared VM (CPU steal, fsync latency that changes by
	// the minute) a slow spell spoils one or two rounds, and the median of
	// five short rounds shrugs it off where that of three long ones did not.
	Rounds int
	// EventStatement adds a phase per round: pgbench running the statement
	// the API sends for an unhooked create (the row and its event), which
	// splits the database's share of the API's cost from HTTP and Go's.
	EventStatement bool
	// Pgbench is the pgbench binary. Default /usr/bin/pgbench, else PATH.
	Pgbench string
	// Client is the HTTP load client, ClientWrk or ClientGo. Default wrk
	// when it is found (Wrk, else PATH), else the built-in Go client.
	Client string
	// Wrk is the wrk binary. Default: wrk on PATH.
	Wrk string
	// Realtime keeps the WebSocket hub on: every commit then also wakes it
	// (a coalesced NOTIFY and an event-log read). Default off, so the
	// numbers are the item write path's.
	Realtime bool
	// DrainTimeout bounds the last phase, in which the hooked instance's
	// River workers complete the action jobs the hooked phases queued.
	// Default 3 minutes.
	DrainTimeout time.Duration
	// Logger receives progress. Default: discard.
	Logger *slog.Logger
}

// Result is what a run measured. Per-round slices are in round order.
type Result struct {
	// Client is the HTTP load client that ran: ClientWrk or ClientGo.
	Client   string
	Realtime bool
	Clients  int
	Phase    time.Duration
	Rounds   int
	// Pgbench is pgbench's INSERT tps per round.
	Pgbench []float64
	// PgbenchCPU and PostCPU are the CPU an INSERT of the pgbench phase
	// and a create of the POST phase without hooks cost, per round (empty
	// when /proc does not show the database's processes).
	PgbenchCPU, PostCPU []CPUPerRequest
	// PgbenchEvent is pgbench running the API's insert+event statement per
	// round (only with Config.EventStatement).
	PgbenchEvent []float64
	// Post is POST /items/articles req/s per round on the instance with no
	// hooks; PostHooks the same on the instance with one items.create
	// filter and two durable action hooks.
	Post, PostHooks []float64
	// Latencies over all rounds.
	PostP50, PostP99, PostHooksP50, PostHooksP99 time.Duration
	// Answer counts over all rounds, as the client counted them: OK is a
	// success, errors anything else (must be 0).
	PostOK, PostErrors, PostHooksOK, PostHooksErrors int64
	// Created and HooksCreated count the articles the POST phases without
	// and with hooks added, read from the table once each phase's last
	// request has finished (a client stopping at the phase's end may not
	// wait for the answers in flight, so the rows, not the answers, are
	// what the invariants below are checked against).
	Created, HooksCreated int64
	// EventsAdded counts the hookd_event rows the POST phases appended (one
	// per created article); JobsAdded the river_job rows the hooked phases
	// inserted (two per hooked create); Filtered the hooked creates whose
	// row carries the filter's value.
	EventsAdded, JobsAdded, Filtered int64
	// GET /items/articles?limit=100 on the instance with no hooks.
	GetRPS         float64
	GetP50, GetP99 time.Duration
	GetErrors      int64
	RowsAtGet      int64
	// JobsCompleted action jobs were worked in DrainTime once the queue was
	// resumed after all phases (the instance without the bench hooks is
	// stopped first); JobsNotCompleted were left in any other state.
	JobsCompleted, JobsNotCompleted int64
	DrainTime                       time.Duration
}

// PostRatio is the median over rounds of POST (no hooks) / pgbench INSERT.
func (r *Result) PostRatio() float64 { return medianRatio(r.Post, r.Pgbench) }

// HooksRatio is the median over rounds of POST with hooks / POST without.
func (r *Result) HooksRatio() float64 { return medianRatio(r.PostHooks, r.Post) }

// HooksPerSecond is the rate at which queued no-op action hooks completed.
func (r *Result) HooksPerSecond() float64 {
	if r.DrainTime <= 0 {
		return 0
	}
	return float64(r.JobsCompleted) / r.DrainTime.Seconds()
}

func medianRatio(a, b []float64) float64 {
	var rs []float64
	for i := range min(len(a), len(b)) {
		rs = append(rs, ratio(a[i], b[i]))
	}
	return median(rs)
}

// Table renders the result as the table BENCHMARKS.md records.
func (r *Result) Table() string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	row := func(name, format string, args ...any) { fmt.Fprintf(tw, name+"\t"+format+"\n", args...) }
	row("measure", "value")
	row("HTTP load client", "%s", r.Client)
	row("clients; phase x rounds", "%d; %s x %d", r.Clients, r.Phase, r.Rounds)
	row("realtime hub", "%s", map[bool]string{true: "on", false: "off"}[r.Realtime])
	row("pgbench INSERT tps (median; per round)", "%.0f; %s", median(r.Pgbench), rates(r.Pgbench))
	if len(r.PgbenchEvent) > 0 {
		row("pgbench INSERT+event tps (median; per round)", "%.0f; %s", median(r.PgbenchEvent), rates(r.PgbenchEvent))
		row("INSERT+event / INSERT (database cost of the event row)", "%.2f", medianRatio(r.PgbenchEvent, r.Pgbench))
	}
	row("POST no hooks req/s (median; per round)", "%.0f; %s", median(r.Post), rates(r.Post))
	row("POST 1 filter + 2 actions req/s (median; per round)", "%.0f; %s", median(r.PostHooks), rates(r.PostHooks))
	row("POST no hooks / pgbench (median of rounds; per round)", "%.2f; %s", r.PostRatio(), ratios(r.Post, r.Pgbench))
	if len(r.PgbenchCPU) > 0 && len(r.PostCPU) > 0 {
		insert, create := medianCPU(r.PgbenchCPU), medianCPU(r.PostCPU)
		row("CPU per pgbench INSERT (median of rounds)", "%s", insert)
		label := "CPU per POST no hooks (median of rounds)"
		if r.Client == ClientGo {
			label = "CPU per POST no hooks (median; the Go client is in the hookd process)"
		}
		row(label, "%s", create)
		row("CPU per INSERT / CPU per POST", "%.2f", ratio(float64(insert.Total()), float64(create.Total())))
	}
	row("POST hooks / POST no hooks (median of rounds; per round)", "%.2f; %s", r.HooksRatio(),
		ratios(r.PostHooks, r.Post))
	row("POST no hooks p50 / p99", "%s / %s", ms(r.PostP50), ms(r.PostP99))
	row("POST hooks p50 / p99", "%s / %s", ms(r.PostHooksP50), ms(r.PostHooksP99))
	row("POST errors (no hooks; hooks)", "%d; %d", r.PostErrors, r.PostHooksErrors)
	row("articles created (no hooks; hooks)", "%d; %d", r.Created, r.HooksCreated)
	row("hookd_event rows per created article", "%.2f", ratio(float64(r.EventsAdded), float64(r.Created+r.HooksCreated)))
	row("river_job rows per hooked create", "%.2f", ratio(float64(r.JobsAdded), float64(r.HooksCreated)))
	row("hooked creates carrying the filter's value", "%.2f", ratio(float64(r.Filtered), float64(r.HooksCreated)))
	row("GET /items/articles?limit=100 req/s", "%.0f (table: %d rows)", r.GetRPS, r.RowsAtGet)
	row("GET p50 / p99", "%s / %s", ms(r.GetP50), ms(r.GetP99))
	row("GET errors", "%d", r.GetErrors)
	row("action hooks completed; per s", "%d in %s; %.0f/s (not completed: %d)", r.JobsCompleted,
		r.DrainTime.Round(time.Millisecond), r.HooksPerSecond(), r.JobsNotCompleted)
	_ = tw.Flush()
	return b.String()
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func rates(rs []float64) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = strconv.FormatFloat(r, 'f', 0, 64)
	}
	return strings.Join(parts, ", ")
}

func ratios(a, b []float64) string {
	parts := make([]string, min(len(a), len(b)))
	for i := range parts {
		parts[i] = strconv.FormatFloat(ratio(a[i], b[i]), 'f', 2, 64)
	}
	return strings.Join(parts, ", ")
}

func ms(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e6, 'f', 2, 64) + " ms" }

// filteredStatus is what the bench filter writes into every hooked create.
const filteredStatus = "reviewed"

// HooksExtension is the extension the hooked instance runs: one filter on
// items.create that sets a field, and two durable no-op actions (one on
// items.create, one on articles.items.create), i.e. two River jobs inserted
// in every create's transaction.
func HooksExtension() hooks.Extension {
	return hooks.Extension{ID: "bench", Register: func(r hooks.Registrar, _ *hooks.Context) error {
		r.Filter("items.create", func(_ context.Context, p any, _ hooks.Meta, _ hooks.EventContext) (any, error) {
			if it, ok := p.(hooks.Item); ok {
				it["status"] = filteredStatus
			}
			return p, nil
		})
		noop := func(context.Context, hooks.Meta, hooks.EventContext) error { return nil }
		r.Action("items.create", noop, hooks.Name("one"))
		r.Action("articles.items.create", noop, hooks.Name("two"))
		return nil
	}}
}

// Run starts two hookd instances on the database — one with no hooks, one
// with HooksExtension — creates the articles table and alternates the
// phases (pgbench INSERT, [pgbench INSERT+event,] POST without hooks, POST
// with hooks) Rounds times, then measures GET and finally how fast the
// queued action hooks complete. River's queue is paused during the POST
// phases: the hooked creates insert their jobs in the write's transaction
// as always, and the jobs are worked in the last phase.
func Run(ctx context.Context, cfg *Config) (*Result, error) {
	c := *cfg
	c.Clients = cmp.Or(c.Clients, 8)
	c.Phase = cmp.Or(c.Phase, 6*time.Second)
	c.Rounds = cmp.Or(c.Rounds, 5)
	c.DrainTimeout = cmp.Or(c.DrainTimeout, 3*time.Minute)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.DatabaseURL == "" {
		return nil, errors.New("bench: Config.DatabaseURL is required")
	}
	pgbench, err := findPgbench(c.Pgbench)
	if err != nil {
		return nil, err
	}
	load, client, err := loadClient(&c)
	if err != nil {
		return nil, err
	}
	// The instances run with the runtime settings `hookd serve` uses.
	app.TuneRuntime(os.LookupEnv)
	seconds := int(math.Ceil(c.Phase.Seconds()))
	c.Phase = time.Duration(seconds) * time.Second

	plain, err := startApp(ctx, &c, "bench-plain", nil)
	if err != nil {
		return nil, err
	}
	plainStopped := false
	defer func() {
		if !plainStopped {
			_ = plain.Stop(context.WithoutCancel(ctx))
		}
	}()
	if _, err := plain.Pool().Exec(ctx, ArticlesDDL); err != nil {
		return nil, fmt.Errorf("creating articles: %w", err)
	}
	hooked, err := startApp(ctx, &c, "bench-hooks", []hooks.Extension{HooksExtension()})
	if err != nil {
		return nil, err
	}
	defer hooked.Stop(context.WithoutCancel(ctx)) //nolint:errcheck
	for _, a := range []*app.App{plain, hooked} {
		// The schema loader sees the new table through its DDL notification.
		if err := waitFor(ctx, 10*time.Second, func() bool {
			_, ok := a.Schema().Current().Collections["articles"]
			return ok
		}); err != nil {
			return nil, errors.New("the articles table never reached the schema snapshot")
		}
	}
	// Paused, the queue keeps every job the hooked phases insert available
	// until the drain phase (River creates the queue's row as its producer
	// starts, so the first attempts may find none).
	var pauseErr error
	if err := waitFor(ctx, 10*time.Second, func() bool {
		pauseErr = hooked.River().QueuePause(ctx, river.QueueDefault, nil)
		return pauseErr == nil
	}); err != nil {
		return nil, fmt.Errorf("pausing River's default queue: %w", pauseErr)
	}
	token, err := login(ctx, "http://"+plain.Addr(), adminEmail, adminPassword)
	if err != nil {
		return nil, err
	}

	plainScript, err := writeScript(fmt.Sprintf("INSERT INTO articles (title, body, status) VALUES ('%s', '%s', 'published');",
		articleTitle, articleBody))
	if err != nil {
		return nil, err
	}
	defer os.Remove(plainScript)
	eventScript, err := writeScript(eventStatement())
	if err != nil {
		return nil, err
	}
	defer os.Remove(eventScript)
	body, _ := json.Marshal(map[string]any{"title": articleTitle, "body": articleBody, "status": "published"})
	post := &Request{Method: "POST", Path: "/items/articles", Body: body, Header: map[string]string{
		"Authorization": "Bearer " + token, "Content-Type": "application/json"}}

	res := &Result{Client: client, Realtime: c.Realtime, Clients: c.Clients, Phase: c.Phase, Rounds: c.Rounds}
	var postLat, hooksLat []time.Duration
	jobsBefore, err := count(ctx, plain, "SELECT count(*) FROM river_job")
	if err != nil {
		return nil, err
	}
	clock := newCPUClock(ctx, plain)
	for round := range c.Rounds {
		cpuBefore, measured := clock.sample()
		tps, err := runPgbench(ctx, pgbench, c.DatabaseURL, plainScript, c.Clients, seconds)
		if err != nil {
			return nil, err
		}
		if cpuAfter, ok := clock.sample(); measured && ok {
			res.PgbenchCPU = append(res.PgbenchCPU, perRequest(cpuBefore, cpuAfter, tps*float64(seconds)))
		}
		res.Pgbench = append(res.Pgbench, tps)
		c.Logger.InfoContext(ctx, "pgbench INSERT", slog.Int("round", round), slog.Float64("tps", tps))
		if c.EventStatement {
			if tps, err = runPgbench(ctx, pgbench, c.DatabaseURL, eventScript, c.Clients, seconds); err != nil {
				return nil, err
			}
			res.PgbenchEvent = append(res.PgbenchEvent, tps)
		}
		for _, a := range []*app.App{plain, hooked} {
			before, err := settledCounts(ctx, plain, hooked)
			if err != nil {
				return nil, err
			}
			cpuBefore, measured := clock.sample()
			st, err := load(ctx, a.Addr(), c.Clients, c.Phase, post)
			if err != nil {
				return nil, err
			}
			after, err := settledCounts(ctx, plain, hooked)
			if err != nil {
				return nil, err
			}
			if cpuAfter, ok := clock.sample(); measured && ok && a == plain {
				res.PostCPU = append(res.PostCPU, perRequest(cpuBefore, cpuAfter, float64(after.articles-before.articles)))
			}
			res.EventsAdded += after.events - before.events
			if a == plain {
				res.Created += after.articles - before.articles
				res.Post = append(res.Post, st.Rate)
				res.PostOK += st.OK
				res.PostErrors += st.Failed
				postLat = append(postLat, st.Latencies...)
			} else {
				res.HooksCreated += after.articles - before.articles
				res.PostHooks = append(res.PostHooks, st.Rate)
				res.PostHooksOK += st.OK
				res.PostHooksErrors += st.Failed
				hooksLat = append(hooksLat, st.Latencies...)
			}
			c.Logger.InfoContext(ctx, "POST", slog.Int("round", round), slog.Bool("hooks", a == hooked),
				slog.Float64("rps", st.Rate))
		}
	}
	res.PostP50, res.PostP99 = percentile(postLat, 0.50), percentile(postLat, 0.99)
	res.PostHooksP50, res.PostHooksP99 = percentile(hooksLat, 0.50), percentile(hooksLat, 0.99)
	jobsAfter, err := count(ctx, plain, "SELECT count(*) FROM river_job")
	if err != nil {
		return nil, err
	}
	res.JobsAdded = jobsAfter - jobsBefore
	if res.Filtered, err = count(ctx, plain, "SELECT count(*) FROM articles WHERE status = '"+filteredStatus+"'"); err != nil {
		return nil, err
	}

	if res.RowsAtGet, err = count(ctx, plain, "SELECT count(*) FROM articles"); err != nil {
		return nil, err
	}
	st, err := load(ctx, plain.Addr(), c.Clients, c.Phase, &Request{Method: "GET", Path: "/items/articles?limit=100",
		Header: map[string]string{"Authorization": "Bearer " + token}})
	if err != nil {
		return nil, err
	}
	res.GetRPS, res.GetErrors = st.Rate, st.Failed
	res.GetP50, res.GetP99 = percentile(st.Latencies, 0.50), percentile(st.Latencies, 0.99)

	// The instance without the bench hooks would fail their jobs as
	// unknown hooks: only the hooked one works them.
	plainStopped = true
	if err := plain.Stop(ctx); err != nil {
		return nil, fmt.Errorf("stopping the instance without hooks: %w", err)
	}
	if err := drain(ctx, hooked, res, c.DrainTimeout); err != nil {
		return nil, err
	}
	return res, nil
}

// loadFunc runs one HTTP load phase: Load or WrkLoad.
type loadFunc func(ctx context.Context, addr string, clients int, d time.Duration, req *Request) (*LoadStats, error)

// loadClient picks the run's HTTP load client (Config.Client).
func loadClient(c *Config) (loadFunc, string, error) {
	switch c.Client {
	case ClientGo:
		return Load, ClientGo, nil
	case "", ClientWrk:
		wrk, err := findWrk(c.Wrk)
		if err != nil {
			if c.Client == "" {
				return Load, ClientGo, nil
			}
			return nil, "", err
		}
		return func(ctx context.Context, addr string, clients int, d time.Duration, req *Request) (*LoadStats, error) {
			return WrkLoad(ctx, wrk, addr, clients, d, req)
		}, ClientWrk, nil
	}
	return nil, "", fmt.Errorf("bench: unknown load client %q (want %q or %q)", c.Client, ClientWrk, ClientGo)
}

// tableCounts are the rows the POST phases add.
type tableCounts struct{ articles, events int64 }

// settledCounts counts articles and events once no request is in flight
// on any of the instances (a client stopping at a phase's end may leave
// one request per connection being answered), so that every create a
// phase's requests made is counted in that phase. It waits at most
// settleTimeout.
func settledCounts(ctx context.Context, apps ...*app.App) (tableCounts, error) {
	var n tableCounts
	err := waitEvery(ctx, settleTimeout, time.Millisecond, func() bool {
		return !slices.ContainsFunc(apps, func(a *app.App) bool { return a.RequestsInFlight() > 0 })
	})
	if err != nil {
		return n, fmt.Errorf("waiting for the requests in flight to be answered: %w", err)
	}
	err = apps[0].Pool().QueryRow(ctx, "SELECT (SELECT count(*) FROM articles), (SELECT count(*) FROM hookd_event)").
		Scan(&n.articles, &n.events)
	if err != nil {
		return n, fmt.Errorf("counting articles and events: %w", err)
	}
	return n, nil
}

// settleTimeout bounds how long the requests left in flight at a phase's
// end may take to be answered.
const settleTimeout = 30 * time.Second

// drain resumes the default queue and times the hooked instance's workers
// completing every action job queued so far.
func drain(ctx context.Context, a *app.App, res *Result, timeout time.Duration) error {
	const pending = "SELECT count(*) FROM river_job WHERE kind = $1 AND state NOT IN ('completed', 'discarded', 'cancelled')"
	queued, err := count(ctx, a, pending, event.ActionKind)
	if err != nil {
		return err
	}
	start := time.Now()
	if err := a.River().QueueResume(ctx, river.QueueDefault, nil); err != nil {
		return fmt.Errorf("resuming River's default queue: %w", err)
	}
	left := queued
	// Counting the pending jobs scans them: every 100ms keeps that from
	// competing with the workers it measures.
	_ = waitEvery(ctx, timeout, 100*time.Millisecond, func() bool {
		left, err = count(ctx, a, pending, event.ActionKind)
		return err != nil || left == 0
	})
	res.DrainTime = time.Since(start)
	if err != nil {
		return err
	}
	res.JobsCompleted = queued - left
	if res.JobsNotCompleted, err = count(ctx, a,
		"SELECT count(*) FROM river_job WHERE kind = $1 AND state <> 'completed'", event.ActionKind); err != nil {
		return err
	}
	return nil
}

const (
	adminEmail    = "bench@example.com"
	adminPassword = "bench-password-1"
)

// startApp starts a hookd instance on the run's database with extensions
// and request logging discarded (a discarding handler skips formatting:
// the comparison is about the write path, not log I/O).
func startApp(ctx context.Context, c *Config, id string, extensions []hooks.Extension) (*app.App, error) {
	env := map[string]string{
		"DATABASE_URL": c.DatabaseURL, "HOST": "127.0.0.1", "PORT": "0", "SECRET": "bench-secret",
		"ADMIN_EMAIL": adminEmail, "ADMIN_PASSWORD": adminPassword,
		"DB_POOL__MAX":       strconv.Itoa(c.Clients * 2),
		"WEBSOCKETS_ENABLED": strconv.FormatBool(c.Realtime),
	}
	appCfg, err := config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		return nil, err
	}
	a, err := app.New(ctx, &app.Config{Config: appCfg, Logger: slog.New(slog.DiscardHandler), InstanceID: id,
		Extensions: extensions})
	if err != nil {
		return nil, fmt.Errorf("creating hookd %s: %w", id, err)
	}
	if err := a.Start(ctx); err != nil {
		return nil, fmt.Errorf("starting hookd %s: %w", id, err)
	}
	return a, nil
}

// writeScript writes a one-statement pgbench script.
func writeScript(statement string) (string, error) {
	f, err := os.CreateTemp("", "hookd-bench-*.sql")
	if err != nil {
		return "", err
	}
	// pgbench wants one line per SQL command.
	_, err = fmt.Fprintln(f, strings.Join(strings.Fields(statement), " "))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return f.Name(), err
}

// eventStatement is the statement the item service sends for a create
// nobody hooks when no other create shares it
// (store.ItemInsertWithEventsTx around a one-row insert: EventAppendWithInsertOne), with the request's
// values written in as literals, since pgbench cannot bind strings.
func eventStatement() string {
	insert := `INSERT INTO "public"."articles" ("body", "status", "title") VALUES ($1, $2, $3) ` +
		`RETURNING to_jsonb("id") AS hookd_key, to_jsonb("public"."articles".*) AS hookd_new`
	stmt := fmt.Sprintf(hsql.Query("EventAppendWithInsertOne"), insert, 4, 5, 6, 7, 8, 9, 10)
	payload, _ := json.Marshal(map[string]any{"title": articleTitle, "body": articleBody, "status": "published"})
	acc, _ := json.Marshal(map[string]any{"user": "00000000-0000-0000-0000-000000000001", "role": nil,
		"admin": true, "app": true})
	literal := func(s string) string {
		// A space after each colon keeps pgbench from reading ":name" as a
		// variable.
		return "'" + strings.ReplaceAll(strings.ReplaceAll(s, "'", "''"), `":`, `": `) + "'"
	}
	values := []string{literal(articleBody), literal("published"), literal(articleTitle), literal("items.create"),
		literal("items"), literal("create"), literal("articles"), literal("api"),
		literal(string(payload)), literal(string(acc))}
	for i := len(values); i >= 1; i-- {
		stmt = strings.ReplaceAll(stmt, "$"+strconv.Itoa(i), values[i-1])
	}
	// Strip the template's comment lines.
	var lines []string
	for _, line := range strings.Split(stmt, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "--") {
			lines = append(lines, line)
		}
	}
	return strings.Join(lines, " ")
}

func findPgbench(path string) (string, error) {
	if path != "" {
		return path, nil
	}
	if _, err := os.Stat("/usr/bin/pgbench"); err == nil {
		return "/usr/bin/pgbench", nil
	}
	p, err := exec.LookPath("pgbench")
	if err != nil {
		return "", errors.New("bench: pgbench not found (install postgresql-client or set Config.Pgbench)")
	}
	return p, nil
}

var tpsRE = regexp.MustCompile(`(?m)^tps = ([0-9.]+) \(without initial connection time\)`)

// runPgbench runs the insert script with prepared statements (pgx prepares
// hookd's statements too) and returns its tps.
func runPgbench(ctx context.Context, bin, url, script string, clients, seconds int) (float64, error) {
	cmd := exec.CommandContext(ctx, bin, "-n", "-M", "prepared", "-c", strconv.Itoa(clients),
		"-j", strconv.Itoa(min(clients, 4)), "-T", strconv.Itoa(seconds), "-f", script, url)
	cmd.Dir = filepath.Dir(script)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("pgbench: %w\n%s", err, out)
	}
	m := tpsRE.FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("pgbench printed no tps:\n%s", out)
	}
	return strconv.ParseFloat(string(m[1]), 64)
}

func login(ctx context.Context, base, email, password string) (string, error) {
	body, _ := json.Marshal(map[string]string{"email": email, "password": password, "mode": "json"})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/auth/login", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("logging in: %w", err)
	}
	defer resp.Body.Close()
	var out struct {
		Data struct {
			AccessToken string `json:"access_token"`
		} `json:"data"`
	}
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &out); err != nil || out.Data.AccessToken == "" {
		return "", fmt.Errorf("logging in: status %d: %s", resp.StatusCode, raw)
	}
	return out.Data.AccessToken, nil
}

func count(ctx context.Context, a *app.App, sql string, args ...any) (int64, error) {
	var n int64
	if err := a.Pool().QueryRow(ctx, sql, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("%s: %w", sql, err)
	}
	return n, nil
}

func waitFor(ctx context.Context, timeout time.Duration, cond func() bool) error {
	return waitEvery(ctx, timeout, 10*time.Millisecond, cond)
}

func waitEvery(ctx context.Context, timeout, every time.Duration, cond func() bool) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	return nil
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(p*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}
