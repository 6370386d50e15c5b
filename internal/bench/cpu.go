package bench

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hookd/hookd/internal/app"
)

// CPUPerRequest is the CPU time one request (one INSERT, one create) cost
// each side during a phase, read from /proc: the ratio of two rates on a
// machine whose cores are busy is the inverse ratio of their CPU costs, and
// this says whose cost it is. Postgres is the cluster's postmaster and all
// its children (the benchmark's connections, pgbench's, the background
// processes). Server is this process: both hookd instances, and the load
// client too when it is the built-in Go one. Client is this process's
// reaped children: wrk and pgbench.
type CPUPerRequest struct {
	Postgres, Server, Client time.Duration
}

// Total is the whole machine's CPU per request, as far as it is measured.
func (c CPUPerRequest) Total() time.Duration { return c.Postgres + c.Server + c.Client }

// cpuClock samples CPU times; the zero value (no /proc, or a database on
// another machine) samples nothing.
type cpuClock struct {
	postmaster int
}

// cpuTimes is one sample, in clock ticks.
type cpuTimes struct{ postgres, server, client int64 }

// userHZ is the unit of /proc/PID/stat's times: USER_HZ, 100 on every
// Linux architecture Go supports.
const userHZ = 100

// newCPUClock finds the postmaster of a's database: the parent of one of
// its backends, when that process is visible here and named postgres.
func newCPUClock(ctx context.Context, a *app.App) cpuClock {
	var backend int
	if err := a.Pool().QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&backend); err != nil {
		return cpuClock{}
	}
	comm, f := procStat(backend)
	if comm != "postgres" || len(f) < 2 {
		return cpuClock{}
	}
	parent := int(field(f, 1))
	if comm, _ := procStat(parent); comm != "postgres" {
		return cpuClock{}
	}
	return cpuClock{postmaster: parent}
}

// sample reads the CPU times so far; ok is false when nothing is measured.
func (c cpuClock) sample() (t cpuTimes, ok bool) {
	if c.postmaster == 0 {
		return t, false
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return t, false
	}
	self := os.Getpid()
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		_, f := procStat(pid)
		if len(f) < 15 {
			continue
		}
		own, children := field(f, 11)+field(f, 12), field(f, 13)+field(f, 14)
		switch {
		// Exited backends (pgbench's) are in the postmaster's children's
		// times once it has reaped them.
		case pid == c.postmaster || field(f, 1) == int64(c.postmaster):
			t.postgres += own + children
		case pid == self:
			t.server, t.client = own, children
		}
	}
	return t, true
}

// perRequest is the CPU that n requests cost between two samples.
func perRequest(before, after cpuTimes, n float64) CPUPerRequest {
	each := func(a, b int64) time.Duration {
		if n <= 0 {
			return 0
		}
		return time.Duration(float64(b-a) * float64(time.Second) / userHZ / n)
	}
	return CPUPerRequest{Postgres: each(before.postgres, after.postgres), Server: each(before.server, after.server),
		Client: each(before.client, after.client)}
}

// procStat returns a process's command name and the fields of
// /proc/PID/stat after it (state first), or nothing when it is gone.
func procStat(pid int) (string, []string) {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", nil
	}
	s := string(raw)
	// The name is in parentheses and may itself hold spaces or ")".
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open || end+2 > len(s) {
		return "", nil
	}
	return s[open+1 : end], strings.Fields(s[end+2:])
}

func field(f []string, i int) int64 {
	v, _ := strconv.ParseInt(f[i], 10, 64)
	return v
}

// medianCPU is the per-side median over rounds.
func medianCPU(cs []CPUPerRequest) CPUPerRequest {
	side := func(get func(CPUPerRequest) time.Duration) time.Duration {
		vs := make([]float64, len(cs))
		for i, c := range cs {
			vs[i] = float64(get(c))
		}
		return time.Duration(median(vs))
	}
	return CPUPerRequest{Postgres: side(func(c CPUPerRequest) time.Duration { return c.Postgres }),
		Server: side(func(c CPUPerRequest) time.Duration { return c.Server }),
		Client: side(func(c CPUPerRequest) time.Duration { return c.Client })}
}

func (c CPUPerRequest) String() string {
	us := func(d time.Duration) int64 { return d.Microseconds() }
	return fmt.Sprintf("%d µs (Postgres %d, hookd process %d, client %d)", us(c.Total()), us(c.Postgres),
		us(c.Server), us(c.Client))
}
