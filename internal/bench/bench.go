// Package bench measures the items API against Postgres itself: POST
// /items/articles throughput at N concurrent clients against pgbench
// inserting the same row shape at the same concurrency into the same
// database, and GET /items/articles?limit=100 rate and latency. Reference
// phases split the gap: pgbench running the API's own statement (the row
// and its event), and the plain insert sent from Go without HTTP. The
// phases alternate within one run so that noise from other load on the
// machine hits every side alike. BenchmarkItemsAPI
// (make bench) runs it and prints the table recorded in BENCHMARKS.md.
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
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/hookd/hookd/internal/app"
	"github.com/hookd/hookd/internal/config"
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
	// Clients is the concurrency of both sides. Default 8.
	Clients int
	// Phase is the length of one measured phase. Default 10s; pgbench runs
	// whole seconds, so it is rounded up to one.
	Phase time.Duration
	// Rounds is how many pgbench/API pairs run; rates are averaged. Default 2.
	Rounds int
	// Pgbench is the pgbench binary. Default /usr/bin/pgbench, else PATH.
	Pgbench string
	// Realtime keeps the WebSocket hub on: every commit then also wakes it
	// (a coalesced NOTIFY and an event-log read). Default off, so the
	// numbers are the item write path's.
	Realtime bool
	// Logger receives progress. Default: discard.
	Logger *slog.Logger
}

// Result is what a run measured.
type Result struct {
	Realtime bool
	Clients  int
	Phase    time.Duration
	Rounds   int
	// PgbenchTPS and PostRPS are the mean rates over the rounds.
	PgbenchTPS float64
	PostRPS    float64
	// PostP50 and PostP99 are POST latencies over all rounds.
	PostP50, PostP99 time.Duration
	// PostErrors counts non-2xx POST answers (must be 0).
	PostErrors int64
	// GetRPS, GetP50, GetP99 are for GET /items/articles?limit=100.
	GetRPS          float64
	GetP50, GetP99  time.Duration
	GetErrors       int64
	PgbenchPerRound []float64
	PostRPSPerRound []float64
	// PgbenchEventTPS is pgbench running the statement the API sends for a
	// create (the insert and its event row, one statement): the database's
	// share of the API's cost.
	PgbenchEventTPS      float64
	PgbenchEventPerRound []float64
	// GoInsertRate is the plain INSERT sent from this Go process (pgx, the
	// app's pool, one goroutine per client), no HTTP: the ceiling any Go
	// server reaches on this machine.
	GoInsertRate     float64
	GoInsertPerRound []float64
	RowsAtGet        int64
	// PostOK counts 2xx POST answers and EventsAdded the hookd_event rows
	// the POST phases appended (one per article, plus at most one per
	// client for requests cut off at a phase's end).
	PostOK, EventsAdded int64
	EventsPerArticle    float64
}

// Ratio is the API's insert rate as a fraction of pgbench's.
func (r *Result) Ratio() float64 {
	if r.PgbenchTPS == 0 {
		return 0
	}
	return r.PostRPS / r.PgbenchTPS
}

// Table renders the result as the table BENCHMARKS.md records.
func (r *Result) Table() string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "measure\tvalue\n")
	fmt.Fprintf(tw, "clients\t%d\n", r.Clients)
	fmt.Fprintf(tw, "realtime hub\t%s\n", map[bool]string{true: "on", false: "off"}[r.Realtime])
	fmt.Fprintf(tw, "phase x rounds\t%s x %d\n", r.Phase, r.Rounds)
	fmt.Fprintf(tw, "pgbench INSERT tps (mean; per round)\t%.0f; %s\n", r.PgbenchTPS, rates(r.PgbenchPerRound))
	fmt.Fprintf(tw, "POST /items/articles req/s (mean; per round)\t%.0f; %s\n", r.PostRPS, rates(r.PostRPSPerRound))
	fmt.Fprintf(tw, "POST / pgbench ratio\t%.2f\n", r.Ratio())
	fmt.Fprintf(tw, "pgbench INSERT+event tps (mean; per round)\t%.0f; %s\n", r.PgbenchEventTPS,
		rates(r.PgbenchEventPerRound))
	fmt.Fprintf(tw, "INSERT+event / INSERT (database cost of the event log)\t%.2f\n", ratio(r.PgbenchEventTPS, r.PgbenchTPS))
	fmt.Fprintf(tw, "POST / INSERT+event (HTTP, auth, JSON, Go)\t%.2f\n", ratio(r.PostRPS, r.PgbenchEventTPS))
	fmt.Fprintf(tw, "plain INSERT from Go (pgx, no HTTP) per s (mean; per round)\t%.0f; %s\n", r.GoInsertRate,
		rates(r.GoInsertPerRound))
	fmt.Fprintf(tw, "Go INSERT / pgbench INSERT (client cost)\t%.2f\n", ratio(r.GoInsertRate, r.PgbenchTPS))
	fmt.Fprintf(tw, "POST latency p50 / p99\t%s / %s\n", ms(r.PostP50), ms(r.PostP99))
	fmt.Fprintf(tw, "POST errors\t%d\n", r.PostErrors)
	fmt.Fprintf(tw, "hookd_event rows per created article\t%.2f\n", r.EventsPerArticle)
	fmt.Fprintf(tw, "GET /items/articles?limit=100 req/s\t%.0f (table: %d rows)\n", r.GetRPS, r.RowsAtGet)
	fmt.Fprintf(tw, "GET latency p50 / p99\t%s / %s\n", ms(r.GetP50), ms(r.GetP99))
	fmt.Fprintf(tw, "GET errors\t%d\n", r.GetErrors)
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

func ms(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e6, 'f', 2, 64) + " ms" }

// Run starts a hookd instance on the database (no hooks registered), creates
// the articles table and measures both sides.
func Run(ctx context.Context, cfg *Config) (*Result, error) {
	c := *cfg
	c.Clients = cmp.Or(c.Clients, 8)
	c.Phase = cmp.Or(c.Phase, 10*time.Second)
	c.Rounds = cmp.Or(c.Rounds, 2)
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
	seconds := int(math.Ceil(c.Phase.Seconds()))
	c.Phase = time.Duration(seconds) * time.Second

	const password = "bench-password-1"
	env := map[string]string{
		"DATABASE_URL": c.DatabaseURL, "HOST": "127.0.0.1", "PORT": "0", "SECRET": "bench-secret",
		"ADMIN_EMAIL": "bench@example.com", "ADMIN_PASSWORD": password,
		"DB_POOL__MAX":       strconv.Itoa(c.Clients * 2),
		"WEBSOCKETS_ENABLED": strconv.FormatBool(c.Realtime),
	}
	appCfg, err := config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		return nil, err
	}
	// Request logging is off (a discarding handler skips formatting): the
	// comparison is about the write path, not log I/O.
	a, err := app.New(ctx, &app.Config{Config: appCfg, Logger: slog.New(slog.DiscardHandler), InstanceID: "bench"})
	if err != nil {
		return nil, fmt.Errorf("starting hookd: %w", err)
	}
	if err := a.Start(ctx); err != nil {
		return nil, fmt.Errorf("starting hookd: %w", err)
	}
	defer a.Stop(context.WithoutCancel(ctx)) //nolint:errcheck
	if _, err := a.Pool().Exec(ctx, ArticlesDDL); err != nil {
		return nil, fmt.Errorf("creating articles: %w", err)
	}
	base := "http://" + a.Addr()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: c.Clients * 2, MaxConnsPerHost: c.Clients * 2}}
	// The schema loader sees the new table through its DDL notification.
	if err := waitFor(ctx, 10*time.Second, func() bool {
		_, ok := a.Schema().Current().Collections["articles"]
		return ok
	}); err != nil {
		return nil, errors.New("the articles table never reached the schema snapshot")
	}
	token, err := login(ctx, client, base, "bench@example.com", password)
	if err != nil {
		return nil, err
	}

	plain, err := writeScript(fmt.Sprintf("INSERT INTO articles (title, body, status) VALUES ('%s', '%s', 'published');",
		articleTitle, articleBody))
	if err != nil {
		return nil, err
	}
	defer os.Remove(plain)
	withEvent, err := writeScript(eventStatement())
	if err != nil {
		return nil, err
	}
	defer os.Remove(withEvent)
	body, _ := json.Marshal(map[string]any{"title": articleTitle, "body": articleBody, "status": "published"})

	res := &Result{Realtime: c.Realtime, Clients: c.Clients, Phase: c.Phase, Rounds: c.Rounds}
	var postLat []time.Duration
	for round := range c.Rounds {
		tps, err := runPgbench(ctx, pgbench, c.DatabaseURL, plain, c.Clients, seconds)
		if err != nil {
			return nil, err
		}
		res.PgbenchPerRound = append(res.PgbenchPerRound, tps)
		c.Logger.InfoContext(ctx, "pgbench", slog.Int("round", round), slog.Float64("tps", tps))
		if tps, err = runPgbench(ctx, pgbench, c.DatabaseURL, withEvent, c.Clients, seconds); err != nil {
			return nil, err
		}
		res.PgbenchEventPerRound = append(res.PgbenchEventPerRound, tps)
		rate, err := goInserts(ctx, a, c.Clients, c.Phase)
		if err != nil {
			return nil, err
		}
		res.GoInsertPerRound = append(res.GoInsertPerRound, rate)

		before, err := count(ctx, a, "SELECT count(*) FROM hookd_event")
		if err != nil {
			return nil, err
		}
		st := load(ctx, client, c.Clients, c.Phase, func() (*http.Request, error) {
			req, err := http.NewRequest(http.MethodPost, base+"/items/articles", bytes.NewReader(body))
			if err == nil {
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+token)
			}
			return req, err
		})
		if st.err != nil {
			return nil, st.err
		}
		after, err := count(ctx, a, "SELECT count(*) FROM hookd_event")
		if err != nil {
			return nil, err
		}
		res.PostOK += st.ok
		res.EventsAdded += after - before
		res.PostRPSPerRound = append(res.PostRPSPerRound, st.rate)
		res.PostErrors += st.failed
		postLat = append(postLat, st.latencies...)
		c.Logger.InfoContext(ctx, "POST", slog.Int("round", round), slog.Float64("rps", st.rate))
	}
	res.PgbenchTPS = mean(res.PgbenchPerRound)
	res.PgbenchEventTPS = mean(res.PgbenchEventPerRound)
	res.GoInsertRate = mean(res.GoInsertPerRound)
	res.PostRPS = mean(res.PostRPSPerRound)
	res.PostP50, res.PostP99 = percentile(postLat, 0.50), percentile(postLat, 0.99)
	if res.PostOK > 0 {
		res.EventsPerArticle = float64(res.EventsAdded) / float64(res.PostOK)
	}

	if res.RowsAtGet, err = count(ctx, a, "SELECT count(*) FROM articles"); err != nil {
		return nil, err
	}
	st := load(ctx, client, c.Clients, c.Phase, func() (*http.Request, error) {
		req, err := http.NewRequest(http.MethodGet, base+"/items/articles?limit=100", nil)
		if err == nil {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		return req, err
	})
	if st.err != nil {
		return nil, st.err
	}
	res.GetRPS, res.GetErrors = st.rate, st.failed
	res.GetP50, res.GetP99 = percentile(st.latencies, 0.50), percentile(st.latencies, 0.99)
	return res, nil
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
// (store.ItemInsertWithEventsTx around a one-row insert), with the request's
// values written in as literals, since pgbench cannot bind strings.
func eventStatement() string {
	insert := `INSERT INTO "public"."articles" ("body", "status", "title") VALUES ($1, $2, $3) ` +
		`RETURNING to_jsonb("id") AS hookd_key, to_jsonb("public"."articles".*) AS hookd_new`
	stmt := fmt.Sprintf(hsql.Query("EventAppendWithInsert"), insert, 4, 5, 6, 7, 8, 9, 10)
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
		"ARRAY[" + literal(string(payload)) + "]", "ARRAY[" + literal(string(acc)) + "]"}
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

type stats struct {
	ok, failed int64
	rate       float64
	latencies  []time.Duration
	err        error
}

// load runs clients loops of requests for d and measures them.
func load(ctx context.Context, client *http.Client, clients int, d time.Duration, newReq func() (*http.Request, error)) stats {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var (
		ok, failed atomic.Int64
		mu         sync.Mutex
		lat        []time.Duration
		firstErr   error
		wg         sync.WaitGroup
	)
	start := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, 4096)
			defer func() {
				mu.Lock()
				lat = append(lat, local...)
				mu.Unlock()
			}()
			for ctx.Err() == nil {
				req, err := newReq()
				if err != nil {
					mu.Lock()
					firstErr = cmp.Or(firstErr, err)
					mu.Unlock()
					return
				}
				t0 := time.Now()
				resp, err := client.Do(req.WithContext(ctx))
				if err != nil {
					if ctx.Err() != nil {
						return // the phase ended mid-request
					}
					mu.Lock()
					firstErr = cmp.Or(firstErr, err)
					mu.Unlock()
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				local = append(local, time.Since(t0))
				if resp.StatusCode/100 == 2 {
					ok.Add(1)
				} else {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	return stats{ok: ok.Load(), failed: failed.Load(), rate: float64(ok.Load()) / elapsed.Seconds(),
		latencies: lat, err: firstErr}
}

// goInserts runs the plain insert from this process through the app's
// pool for d at the given concurrency and returns the rate.
func goInserts(ctx context.Context, a *app.App, clients int, d time.Duration) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var (
		n        atomic.Int64
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
	)
	start := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				_, err := a.Pool().Exec(ctx, "INSERT INTO articles (title, body, status) VALUES ($1, $2, $3)",
					articleTitle, articleBody, "published")
				if err != nil {
					if ctx.Err() == nil {
						mu.Lock()
						firstErr = cmp.Or(firstErr, err)
						mu.Unlock()
					}
					return
				}
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return 0, fmt.Errorf("inserting from Go: %w", firstErr)
	}
	return float64(n.Load()) / time.Since(start).Seconds(), nil
}

func login(ctx context.Context, client *http.Client, base, email, password string) (string, error) {
	body, _ := json.Marshal(map[string]string{"email": email, "password": password, "mode": "json"})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/auth/login", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
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

func count(ctx context.Context, a *app.App, sql string) (int64, error) {
	var n int64
	if err := a.Pool().QueryRow(ctx, sql).Scan(&n); err != nil {
		return 0, fmt.Errorf("%s: %w", sql, err)
	}
	return n, nil
}

func waitFor(ctx context.Context, timeout time.Duration, cond func() bool) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(10 * time.Millisecond)
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

func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
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
