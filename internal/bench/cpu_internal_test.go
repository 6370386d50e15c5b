package bench

import (
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestPerRequest(t *testing.T) {
	// 150 ticks of Postgres over 1,000 requests is 1.5 ms each at USER_HZ.
	got := perRequest(cpuTimes{postgres: 50, server: 10, client: 0}, cpuTimes{postgres: 200, server: 60, client: 5}, 1000)
	require.Equal(t, CPUPerRequest{Postgres: 1500 * time.Microsecond, Server: 500 * time.Microsecond,
		Client: 50 * time.Microsecond}, got)
	require.Equal(t, 2050*time.Microsecond, got.Total())
	require.Equal(t, "2050 µs (Postgres 1500, hookd process 500, client 50)", got.String())
	require.Zero(t, perRequest(cpuTimes{}, cpuTimes{postgres: 1}, 0))
	require.Equal(t, CPUPerRequest{Postgres: 2}, medianCPU([]CPUPerRequest{{Postgres: 3}, {Postgres: 1}, {Postgres: 2}}))
}

func TestProcStatOfThisProcess(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("/proc is Linux's")
	}
	comm, f := procStat(os.Getpid())
	require.NotEmpty(t, comm)
	require.GreaterOrEqual(t, len(f), 15)
	require.Equal(t, int64(os.Getppid()), field(f, 1))
	comm, f = procStat(-1)
	require.Empty(t, comm)
	require.Nil(t, f)
	// With no postmaster found, nothing is sampled.
	_, ok := cpuClock{}.sample()
	require.False(t, ok)
}
