package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The load clients Config.Client names.
const (
	// ClientWrk is wrk (https://github.com/wg/wrk, Debian's package), a C
	// client driven by an event loop per thread: next to the server on two
	// cores it takes the least CPU from it, as pgbench does from Postgres.
	ClientWrk = "wrk"
	// ClientGo is Load, the built-in Go client: no binary to install, but
	// its goroutines share the cores with the server through a second Go
	// scheduler.
	ClientGo = "go"
)

// findWrk returns the wrk binary: path if set, else wrk on PATH.
func findWrk(path string) (string, error) {
	if path != "" {
		return path, nil
	}
	p, err := exec.LookPath("wrk")
	if err != nil {
		return "", errors.New("bench: wrk not found (Debian: apt-get install wrk; make bench installs it as root) " +
			"— or choose the built-in client with HOOKD_BENCH_CLIENT=go")
	}
	return p, nil
}

// WrkLoad runs wrk with clients connections to addr for d (rounded up to a
// whole second, wrk's unit), each sending req in a keep-alive loop as Load
// does. A Lua script sets the request and, when wrk is done, prints its
// counts and its whole latency histogram, so that percentiles over several
// phases are exact. As wrk counts, an answer with a status of 400 or more
// is Failed and any other OK. Any socket error (connect, read, write, or no
// answer within 10 s) fails the phase, as a connection error fails Load's.
// The histogram is wrk's own, which adds to each answer slower than the
// mean interval between a connection's requests the answers that
// connection could not send meanwhile: its percentiles are, if anything,
// pessimistic.
func WrkLoad(ctx context.Context, wrk, addr string, clients int, d time.Duration, req *Request) (*LoadStats, error) {
	script, err := os.CreateTemp("", "hookd-bench-*.lua")
	if err != nil {
		return nil, err
	}
	defer os.Remove(script.Name())
	_, err = script.WriteString(wrkScript(req))
	if cerr := script.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	seconds := max(1, int(math.Ceil(d.Seconds())))
	threads := min(clients, runtime.NumCPU())
	cmd := exec.CommandContext(ctx, wrk, "-t", strconv.Itoa(threads), "-c", strconv.Itoa(clients),
		"-d", strconv.Itoa(seconds)+"s", "--timeout", "10s", "-s", script.Name(), "http://"+addr+req.Path)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("wrk: %w\n%s", err, out)
	}
	st, err := parseWrk(out)
	if err != nil {
		return nil, fmt.Errorf("wrk %s %s: %w\n%s", req.Method, req.Path, err, out)
	}
	return st, nil
}

// wrkScript is the Lua script WrkLoad hands wrk: the request, and a done
// hook printing "hookd-wrk <requests> <status errors> <socket errors>
// <duration µs>" and one "hookd-wrk-latency <µs> <count>" line per
// distinct latency.
func wrkScript(req *Request) string {
	var b strings.Builder
	fmt.Fprintf(&b, "wrk.method = %s\n", luaString(req.Method))
	if req.Body != nil {
		fmt.Fprintf(&b, "wrk.body = %s\n", luaString(string(req.Body)))
	}
	keys := make([]string, 0, len(req.Header))
	for k := range req.Header {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "wrk.headers[%s] = %s\n", luaString(k), luaString(req.Header[k]))
	}
	b.WriteString(`done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("hookd-wrk %d %d %d %d\n", summary.requests, e.status,
    e.connect + e.read + e.write + e.timeout, summary.duration))
  for i = 1, #latency do
    local value, count = latency(i)
    io.write(string.format("hookd-wrk-latency %d %d\n", value, count))
  end
end
`)
	return b.String()
}

// luaString quotes s as a Lua string literal: every byte that is not
// printable ASCII, and the quote and backslash, as a decimal escape.
func luaString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := range len(s) {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			fmt.Fprintf(&b, "\\%03d", c)
			continue
		}
		b.WriteByte(c)
	}
	b.WriteByte('"')
	return b.String()
}

// parseWrk reads the lines wrkScript's done hook printed.
func parseWrk(out []byte) (*LoadStats, error) {
	var (
		st                                         LoadStats
		requests, statusErrors, socketErrors, usec int64
		found                                      bool
	)
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		switch fields[0] {
		case "hookd-wrk":
			n, err := parseInts(fields[1:], 4)
			if err != nil {
				return nil, err
			}
			requests, statusErrors, socketErrors, usec = n[0], n[1], n[2], n[3]
			found = true
		case "hookd-wrk-latency":
			n, err := parseInts(fields[1:], 2)
			if err != nil {
				return nil, err
			}
			for range n[1] {
				st.Latencies = append(st.Latencies, time.Duration(n[0])*time.Microsecond)
			}
		}
	}
	if !found {
		return nil, errors.New("wrk printed no counts (did the script run?)")
	}
	if socketErrors > 0 {
		return nil, fmt.Errorf("%d socket errors (connect, read, write or timeout)", socketErrors)
	}
	if usec <= 0 {
		return nil, errors.New("wrk reported no duration")
	}
	st.OK, st.Failed = requests-statusErrors, statusErrors
	st.Rate = float64(st.OK) / (float64(usec) / 1e6)
	return &st, nil
}

func parseInts(fields []string, n int) ([]int64, error) {
	if len(fields) != n {
		return nil, fmt.Errorf("want %d numbers, got %q", n, fields)
	}
	out := make([]int64, n)
	for i, f := range fields {
		v, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("malformed number %q", f)
		}
		out[i] = v
	}
	return out, nil
}
