package bench_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/internal/bench"
	"github.com/hookd/hookd/internal/testdb"
)

// BenchmarkItemsAPI is the benchmark recorded in BENCHMARKS.md (make bench).
// It runs once whatever b.N is: one run already alternates two pgbench
// phases, a Go insert phase and the API phase for 2 rounds of 10 s each,
// plus the GET phase, far over the default benchtime, so the framework does
// not ask for more.
func BenchmarkItemsAPI(b *testing.B) {
	d := testdb.New(b)
	res, err := bench.Run(context.Background(), &bench.Config{DatabaseURL: d.URL})
	require.NoError(b, err)
	// Printed, not logged: the testing package shortens benchmark logs.
	fmt.Printf("\n%s\n", res.Table())
	b.ReportMetric(res.PgbenchTPS, "pgbench_tps")
	b.ReportMetric(res.PostRPS, "post_rps")
	b.ReportMetric(res.Ratio(), "post/pgbench")
	b.ReportMetric(float64(res.PostP99.Microseconds())/1000, "post_p99_ms")
	b.ReportMetric(res.GetRPS, "get_rps")
	b.ReportMetric(float64(res.GetP99.Microseconds())/1000, "get_p99_ms")
	b.ReportMetric(0, "ns/op")
}

// TestRunSmoke proves the benchmark harness works (short phases; the
// numbers mean nothing here).
func TestRunSmoke(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("pgbench"); err != nil {
		if _, err := os.Stat("/usr/bin/pgbench"); err != nil {
			t.Skip("pgbench is not installed (postgresql-client); the benchmark needs it")
		}
	}
	d := testdb.New(t)
	res, err := bench.Run(context.Background(), &bench.Config{DatabaseURL: d.URL, Clients: 2, Phase: time.Second, Rounds: 1})
	require.NoError(t, err)
	require.Positive(t, res.PgbenchTPS)
	require.Positive(t, res.PgbenchEventTPS)
	require.Positive(t, res.GoInsertRate)
	require.Positive(t, res.PostRPS)
	require.Zero(t, res.PostErrors)
	require.Zero(t, res.GetErrors)
	require.Positive(t, res.GetRPS)
	// One event per created article (a request cut off when the phase ends
	// may have committed without being counted: at most one per client).
	require.GreaterOrEqual(t, res.EventsAdded, res.PostOK)
	require.LessOrEqual(t, res.EventsAdded, res.PostOK+2)
	require.Contains(t, res.Table(), "POST / pgbench ratio")
}
