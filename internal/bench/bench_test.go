package bench_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/internal/bench"
	"github.com/hookd/hookd/internal/testdb"
)

// BenchmarkItemsAPI is the benchmark recorded in BENCHMARKS.md (make bench).
// It runs once whatever b.N is: one run already alternates pgbench, POST
// without hooks and POST with hooks for 5 rounds of 6 s each, then GET and
// the action-hook drain, far over the default benchtime, so the framework
// does not ask for more.
func BenchmarkItemsAPI(b *testing.B) {
	d := testdb.New(b)
	// HOOKD_BENCH_CLIENT=go (or wrk) picks the HTTP load client; by
	// default wrk when it is installed.
	cfg := &bench.Config{DatabaseURL: d.URL, EventStatement: os.Getenv("HOOKD_BENCH_EVENT_STATEMENT") != "",
		Client: os.Getenv("HOOKD_BENCH_CLIENT")}
	// HOOKD_BENCH_LOG=1 logs each phase with its time to stderr, to line
	// a profile or a system-wide sample up with the phases.
	if os.Getenv("HOOKD_BENCH_LOG") != "" {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	// Shorter runs for profiling (go test -cpuprofile): HOOKD_BENCH_ROUNDS,
	// HOOKD_BENCH_PHASE (a duration).
	if v := os.Getenv("HOOKD_BENCH_ROUNDS"); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(b, err)
		cfg.Rounds = n
	}
	if v := os.Getenv("HOOKD_BENCH_PHASE"); v != "" {
		d, err := time.ParseDuration(v)
		require.NoError(b, err)
		cfg.Phase = d
	}
	res, err := bench.Run(context.Background(), cfg)
	require.NoError(b, err)
	// Printed, not logged: the testing package shortens benchmark logs.
	fmt.Printf("\n%s\n", res.Table())
	b.ReportMetric(res.PostRatio(), "post/pgbench")
	b.ReportMetric(res.HooksRatio(), "hooks/no-hooks")
	b.ReportMetric(float64(res.PostP99.Microseconds())/1000, "post_p99_ms")
	b.ReportMetric(res.GetRPS, "get_rps")
	b.ReportMetric(float64(res.GetP99.Microseconds())/1000, "get_p99_ms")
	b.ReportMetric(res.HooksPerSecond(), "hooks_completed/s")
	b.ReportMetric(0, "ns/op")
}

// TestRunSmoke proves the benchmark harness works with each load client
// (short phases; the numbers mean nothing here).
func TestRunSmoke(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("pgbench"); err != nil {
		if _, err := os.Stat("/usr/bin/pgbench"); err != nil {
			t.Skip("pgbench is not installed (postgresql-client); the benchmark needs it")
		}
	}
	for _, client := range []string{bench.ClientGo, bench.ClientWrk} {
		t.Run(client, func(t *testing.T) {
			t.Parallel()
			if client == bench.ClientWrk {
				requireWrk(t)
			}
			smoke(t, client)
		})
	}
}

func smoke(t *testing.T, client string) {
	d := testdb.New(t)
	res, err := bench.Run(context.Background(), &bench.Config{DatabaseURL: d.URL, Clients: 2, Phase: time.Second,
		Rounds: 1, EventStatement: true, Client: client})
	require.NoError(t, err)
	require.Equal(t, client, res.Client)
	require.Len(t, res.Pgbench, 1)
	require.Positive(t, res.Pgbench[0])
	require.Positive(t, res.PgbenchEvent[0])
	require.Positive(t, res.Post[0])
	require.Positive(t, res.PostHooks[0])
	require.Zero(t, res.PostErrors)
	require.Zero(t, res.PostHooksErrors)
	require.Zero(t, res.GetErrors)
	require.Positive(t, res.GetRPS)
	// Every answered create made its row, and the rows are counted once
	// nothing is in flight: exactly one event per created article, two
	// jobs and the filter's value per hooked one.
	require.GreaterOrEqual(t, res.Created, res.PostOK)
	require.GreaterOrEqual(t, res.HooksCreated, res.PostHooksOK)
	require.Equal(t, res.Created+res.HooksCreated, res.EventsAdded)
	require.Equal(t, 2*res.HooksCreated, res.JobsAdded)
	require.Equal(t, res.HooksCreated, res.Filtered)
	// Every job was worked.
	require.Equal(t, res.JobsAdded, res.JobsCompleted)
	require.Zero(t, res.JobsNotCompleted)
	require.Positive(t, res.HooksPerSecond())
	require.Contains(t, res.Table(), "POST hooks / POST no hooks")
	// The project's own cluster runs on this machine, so /proc shows what
	// each side spent (a DATABASE_URL may name a server elsewhere).
	if runtime.GOOS == "linux" && os.Getenv("DATABASE_URL") == "" {
		require.Len(t, res.PgbenchCPU, 1)
		require.Len(t, res.PostCPU, 1)
		require.Positive(t, res.PgbenchCPU[0].Postgres)
		require.Positive(t, res.PgbenchCPU[0].Client, "pgbench's CPU, reaped")
		require.Positive(t, res.PostCPU[0].Postgres)
		require.Positive(t, res.PostCPU[0].Server)
		require.Contains(t, res.Table(), "CPU per INSERT / CPU per POST")
	}
	require.Regexp(t, `(?m)^HTTP load client +`+client+`$`, res.Table())
}

// requireWrk skips a test when wrk is not installed (make bench installs
// it as root).
func requireWrk(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("wrk"); err != nil {
		t.Skip("wrk is not installed (Debian: apt-get install wrk)")
	}
}

// TestWrkLoad checks the wrk client against net/http's server: the method,
// headers and body it sends (bytes a Lua literal must escape included),
// answers of 400 and more counted as failures, a connection the server
// closes reported as an error, and the latency histogram's shape.
func TestWrkLoad(t *testing.T) {
	t.Parallel()
	requireWrk(t)
	const body = `{"title":"quote \" backslash \\ new\nline é"}`
	addr := testServer(t, map[string]http.HandlerFunc{
		"/echo": func(w http.ResponseWriter, r *http.Request) {
			got, _ := io.ReadAll(r.Body)
			if r.Method != "POST" || r.Header.Get("Authorization") != "Bearer x" || string(got) != body {
				http.Error(w, "unexpected request", http.StatusTeapot)
				return
			}
			time.Sleep(time.Millisecond)
			_, _ = w.Write([]byte(`{"data":{}}`))
		},
	})
	ctx := context.Background()
	wrk, err := exec.LookPath("wrk")
	require.NoError(t, err)

	st, err := bench.WrkLoad(ctx, wrk, addr, 2, time.Second, &bench.Request{Method: "POST", Path: "/echo",
		Header: map[string]string{"Authorization": "Bearer x", "Content-Type": "application/json"}, Body: []byte(body)})
	require.NoError(t, err)
	require.Positive(t, st.OK)
	require.Zero(t, st.Failed, "the server saw a request other than the one configured")
	require.InDelta(t, float64(st.OK), st.Rate, float64(st.OK)*0.2, "one second's answers")
	// wrk's histogram holds every answer (and, for slow ones, the answers
	// the connection could not send meanwhile); none is under the
	// handler's sleep.
	require.GreaterOrEqual(t, len(st.Latencies), int(st.OK))
	for _, l := range st.Latencies {
		require.GreaterOrEqual(t, l, time.Millisecond)
	}

	st, err = bench.WrkLoad(ctx, wrk, addr, 1, time.Second, &bench.Request{Method: "GET", Path: "/missing"})
	require.NoError(t, err)
	require.Zero(t, st.OK)
	require.Positive(t, st.Failed)

	_, err = bench.WrkLoad(ctx, wrk, addr, 1, time.Second, &bench.Request{Method: "GET", Path: "/close"})
	require.ErrorContains(t, err, "socket errors")
}

// TestUnknownClient: a misspelt client is an error, not a silent default.
func TestUnknownClient(t *testing.T) {
	t.Parallel()
	_, err := bench.Run(context.Background(), &bench.Config{DatabaseURL: "postgres://unused", Client: "curl",
		Pgbench: "/bin/true"})
	require.ErrorContains(t, err, `unknown load client "curl"`)
}

// TestLoad checks the load client against net/http's server: fixed-length
// and chunked bodies, non-200 answers counted as failures, a connection the
// server closes reported as an error.
func TestLoad(t *testing.T) {
	t.Parallel()
	addr := testServer(t, map[string]http.HandlerFunc{
		"/small": func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer x" {
				http.Error(w, "unexpected request", http.StatusTeapot)
				return
			}
			_, _ = w.Write([]byte(`{"data":{}}`))
		},
		"/chunked": func(w http.ResponseWriter, _ *http.Request) {
			w.(http.Flusher).Flush()
			for range 100 {
				_, _ = w.Write([]byte(strings.Repeat("x", 1000)))
				w.(http.Flusher).Flush()
			}
		},
		"/empty": func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) },
	})
	ctx := context.Background()

	st, err := bench.Load(ctx, addr, 2, 200*time.Millisecond, &bench.Request{Method: "POST", Path: "/small",
		Header: map[string]string{"Authorization": "Bearer x"}, Body: []byte(`{"a":1}`)})
	require.NoError(t, err)
	require.Positive(t, st.OK)
	require.Zero(t, st.Failed)
	require.Len(t, st.Latencies, int(st.OK))

	st, err = bench.Load(ctx, addr, 2, 200*time.Millisecond, &bench.Request{Method: "GET", Path: "/chunked"})
	require.NoError(t, err)
	require.Positive(t, st.OK)

	st, err = bench.Load(ctx, addr, 1, 100*time.Millisecond, &bench.Request{Method: "GET", Path: "/empty"})
	require.NoError(t, err)
	require.Zero(t, st.OK)
	require.Positive(t, st.Failed)

	st, err = bench.Load(ctx, addr, 1, 100*time.Millisecond, &bench.Request{Method: "GET", Path: "/missing"})
	require.NoError(t, err)
	require.Positive(t, st.Failed)

	_, err = bench.Load(ctx, addr, 1, 100*time.Millisecond, &bench.Request{Method: "GET", Path: "/close"})
	require.Error(t, err)
}

// testServer serves routes plus the two paths both load-client tests use:
// "/close", whose connection the server drops without answering, and any
// other path, answered 400. It returns the server's host:port.
func testServer(t *testing.T, routes map[string]http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if route, ok := routes[r.URL.Path]; ok {
			route(w, r)
			return
		}
		if r.URL.Path == "/close" {
			hj, _, _ := w.(http.Hijacker).Hijack()
			hj.Close()
			return
		}
		http.Error(w, "no", http.StatusBadRequest)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}
