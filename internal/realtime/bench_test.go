package realtime_test

// Realtime benchmarks (BENCHMARKS.md "Realtime"), against a started hookd
// writing through the real item service:
//
//	go test -run '^$' -bench Realtime -benchtime 1x ./internal/realtime
//
// Each benchmark is a scenario run once (b.N is ignored beyond the first
// iteration's size) and reports its measurements as custom metrics.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/hooks"
	"github.com/hookd/hookd/internal/app"
)

// raiseFileLimit lifts RLIMIT_NOFILE as far as the process may: 10,000
// sockets are 20,000 descriptors (both ends live in this process).
func raiseFileLimit(b *testing.B, want uint64) uint64 {
	var lim syscall.Rlimit
	require.NoError(b, syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim))
	if lim.Cur >= want {
		return lim.Cur
	}
	next := syscall.Rlimit{Cur: want, Max: max(lim.Max, want)}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &next); err != nil {
		// Not privileged: go as high as the hard limit allows.
		next = syscall.Rlimit{Cur: lim.Max, Max: lim.Max}
		require.NoError(b, syscall.Setrlimit(syscall.RLIMIT_NOFILE, &next))
	}
	require.NoError(b, syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim))
	return lim.Cur
}

var benchDialer = &websocket.Dialer{ReadBufferSize: 512, WriteBufferSize: 512,
	WriteBufferPool: &sync.Pool{}, HandshakeTimeout: 30 * time.Second}

// subscribeMessage subscribes to creates on articles, or with query set to
// every event through a query that picks fields.
func subscribeMessage(query bool) map[string]any {
	if query {
		return map[string]any{"type": "subscribe", "collection": "articles", "uid": "b",
			"query": map[string]any{"fields": "id,title", "limit": "1"}}
	}
	return map[string]any{"type": "subscribe", "collection": "articles", "event": "create", "uid": "b"}
}

// dialSubscribers opens n sockets to url (authenticated at the upgrade),
// each subscribed as subscribeMessage(query) says and past its init, with
// limited concurrency (the listen backlog). On an error it closes the
// sockets it opened.
func dialSubscribers(url string, n int, query bool) ([]*websocket.Conn, error) {
	conns := make([]*websocket.Conn, n)
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	var failed atomic.Value
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			conn, resp, err := benchDialer.Dial(url, nil)
			if err != nil {
				failed.Store(err)
				return
			}
			resp.Body.Close()
			conns[i] = conn
			if err := conn.WriteJSON(subscribeMessage(query)); err != nil {
				failed.Store(err)
				return
			}
			// Wait for the init so the subscription is in place.
			if _, _, err := conn.ReadMessage(); err != nil {
				failed.Store(err)
			}
		}()
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
		return nil, fmt.Errorf("connecting %d sockets: %w", n, err)
	}
	return conns, nil
}

// connectMany opens n sockets in this process, each subscribed to creates
// on articles; they are closed when the benchmark ends.
func connectMany(b *testing.B, in *instance, token string, n int) []*websocket.Conn {
	b.Helper()
	conns, err := dialSubscribers(in.ws+"?access_token="+token, n, false)
	require.NoError(b, err)
	b.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	return conns
}

// arrivals counts, per write sequence number, how many sockets received it
// and when the last one did.
type arrivals struct {
	want  int64
	count []atomic.Int64
	done  []atomic.Int64 // unix nanos of the last arrival
	// first is the unix nanos of the first arrival: the tail before the
	// fan-out (commit, wake-up, log read) shows apart from its spread.
	first []atomic.Int64
}

func newArrivals(writes, subscribers int) *arrivals {
	return &arrivals{want: int64(subscribers), count: make([]atomic.Int64, writes),
		done: make([]atomic.Int64, writes), first: make([]atomic.Int64, writes)}
}

var seqMarker = []byte(`"title":"seq-`)

// arrived counts one socket's receipt of write seq.
func (a *arrivals) arrived(seq int) {
	if seq >= len(a.count) {
		return
	}
	arrived := a.count[seq].Add(1)
	if arrived == 1 {
		a.first[seq].Store(time.Now().UnixNano())
	}
	if arrived == a.want {
		a.done[seq].Store(time.Now().UnixNano())
	}
}

// scan records every complete sequence marker in data and returns the
// tail that may hold the start of one.
func (a *arrivals) scan(data []byte) []byte {
	for {
		i := bytes.Index(data, seqMarker)
		if i < 0 {
			return data[max(0, len(data)-len(seqMarker)+1):]
		}
		j := i + len(seqMarker)
		seq := 0
		for j < len(data) && data[j] >= '0' && data[j] <= '9' {
			seq = seq*10 + int(data[j]-'0')
			j++
		}
		if j == len(data) {
			return data[i:]
		}
		a.arrived(seq)
		data = data[j:]
	}
}

func benchInstance(b *testing.B) (*instance, string, hooks.ItemsService) {
	b.Helper()
	// The instance runs with the runtime settings `hookd serve` uses.
	app.TuneRuntime(os.LookupEnv)
	d := appDB(b)
	in := startInstance(b, d, map[string]string{"LOG_LEVEL": "error", "DB_POOL__MAX": "20"})
	token := in.login(adminEmail, adminPassword)
	svc, err := in.app.Items().Items("articles", nil)
	require.NoError(b, err)
	return in, token, svc
}

// BenchmarkRealtimeLatency: write-to-event latency, from the start of the
// write (item service, commit included) until the last subscriber has the
// event, with 1 and 1,000 subscribers. The subscribers live in a child
// process (see subscriberProcess), as clients on other machines would not
// share the server's Go scheduler: in this process, a reader woken while
// both of the server's writers held the two Ps waited for one.
func BenchmarkRealtimeLatency(b *testing.B) {
	for _, subs := range []int{1, 1000} {
		b.Run(fmt.Sprintf("subscribers=%d", subs), func(b *testing.B) {
			in, token, svc := benchInstance(b)
			const writes = 300
			sp := subscriberProcess(b, in, token, subs, writes, true)
			ctx := context.Background()
			lat := make([]time.Duration, 0, writes)
			var firsts []time.Duration
			b.ResetTimer()
			for i := range writes {
				start := time.Now()
				_, err := svc.CreateOne(ctx, hooks.Item{"title": fmt.Sprintf("seq-%d", i), "status": "published"})
				require.NoError(b, err)
				first, last := sp.next(b, i)
				lat = append(lat, last.Sub(start))
				firsts = append(firsts, first.Sub(start))
			}
			slices.Sort(firsts)
			b.ReportMetric(ms(firsts[len(firsts)/2]), "first_p50_ms")
			b.ReportMetric(ms(firsts[len(firsts)*99/100]), "first_p99_ms")
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(ms(lat[len(lat)/2]), "p50_ms")
			b.ReportMetric(ms(lat[len(lat)*99/100]), "p99_ms")
			b.ReportMetric(ms(lat[len(lat)-1]), "max_ms")
		})
	}
}

// BenchmarkRealtimeFanout10k: one change reaching 10,000 subscribed sockets
// on one instance, and the memory an idle socket costs the server. The
// sockets' client ends live in a child process (this test binary, see
// TestMain), so the server's memory is measured alone and neither process
// needs more than ~10,000 descriptors.
func BenchmarkRealtimeFanout10k(b *testing.B) {
	const n = 10_000
	const writes = 5
	in, token, svc := benchInstance(b)

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	sp := subscriberProcess(b, in, token, n, writes, false)

	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	perSocket := float64(int64(after.HeapInuse+after.StackInuse)-int64(before.HeapInuse+before.StackInuse)) / n

	var worst, total time.Duration
	ctx := context.Background()
	b.ResetTimer()
	for i := range writes {
		start := time.Now()
		_, err := svc.CreateOne(ctx, hooks.Item{"title": fmt.Sprintf("seq-%d", i), "status": "published"})
		require.NoError(b, err)
		_, last := sp.next(b, i)
		d := last.Sub(start)
		total += d
		worst = max(worst, d)
	}
	b.StopTimer()
	// (ResetTimer drops metrics reported before it.)
	b.ReportMetric(perSocket/1024, "KB/idle_socket")
	b.ReportMetric(ms(total/writes), "avg_ms_to_all")
	b.ReportMetric(ms(worst), "max_ms_to_all")
}

// subscribers is a child process (this test binary, see TestMain) holding
// the client ends of subscribed sockets: the server is measured apart from
// its clients' memory and scheduling, and neither process needs more than
// about 10,000 descriptors.
type subscribers struct {
	lines *bufio.Scanner
}

// subscriberProcess starts n subscribers to creates on articles (with a
// query when query is set) and returns once all have their init.
func subscriberProcess(b *testing.B, in *instance, token string, n, writes int, query bool) *subscribers {
	b.Helper()
	if limit := raiseFileLimit(b, uint64(2*n)); limit < uint64(n+1000) {
		b.Skipf("RLIMIT_NOFILE is %d; %d sockets need about %d descriptors", limit, n, n+1000)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "HOOKD_BENCH_SUBSCRIBERS="+strconv.Itoa(n),
		"HOOKD_BENCH_WRITES="+strconv.Itoa(writes), "HOOKD_BENCH_URL="+in.ws+"?access_token="+token,
		"HOOKD_BENCH_QUERY="+strconv.FormatBool(query))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	require.NoError(b, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(b, err)
	require.NoError(b, cmd.Start())
	b.Cleanup(func() {
		stdin.Close()
		_ = cmd.Wait()
		cancel()
	})
	lines := bufio.NewScanner(stdout)
	require.True(b, lines.Scan(), "subscriber process: %v", lines.Err())
	require.Equal(b, "ready", lines.Text())
	return &subscribers{lines: lines}
}

// next waits for every subscriber to have write seq and returns when the
// first and the last had it.
func (sp *subscribers) next(b *testing.B, seq int) (first, last time.Time) {
	b.Helper()
	require.True(b, sp.lines.Scan(), "subscriber process: %v", sp.lines.Err())
	var got int
	var lastNS, firstNS int64
	_, err := fmt.Sscanf(sp.lines.Text(), "done %d %d %d", &got, &lastNS, &firstNS)
	require.NoError(b, err, sp.lines.Text())
	require.Equal(b, seq, got)
	return time.Unix(0, firstNS), time.Unix(0, lastNS)
}

// TestMain doubles as the subscriber process of the benchmarks (see
// subscriberProcess) when HOOKD_BENCH_SUBSCRIBERS is set.
func TestMain(m *testing.M) {
	if os.Getenv("HOOKD_BENCH_SUBSCRIBERS") != "" {
		os.Exit(runSubscriberProcess())
	}
	os.Exit(m.Run())
}

// runSubscriberProcess connects the sockets, prints "ready", then
// "done <seq> <last> <first>" (unix nanos) when every socket has write seq's
// event. It ends when its stdin closes.
func runSubscriberProcess() int {
	n, _ := strconv.Atoi(os.Getenv("HOOKD_BENCH_SUBSCRIBERS"))
	writes, _ := strconv.Atoi(os.Getenv("HOOKD_BENCH_WRITES"))
	url := os.Getenv("HOOKD_BENCH_URL")
	query := os.Getenv("HOOKD_BENCH_QUERY") == "true"
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil {
		lim.Cur = lim.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
	conns, err := dialSubscribers(url, n, query)
	if err != nil {
		fmt.Fprintln(os.Stderr, "subscriber process:", err)
		return 1
	}
	arr := newArrivals(writes, n)
	out := make(chan string, writes)
	if err := arr.readArrivals(conns); err != nil {
		fmt.Fprintln(os.Stderr, "subscriber process:", err)
		return 1
	}
	go func() {
		for i := range writes {
			for arr.done[i].Load() == 0 {
				time.Sleep(100 * time.Microsecond)
			}
			out <- fmt.Sprintf("done %d %d %d", i, arr.done[i].Load(), arr.first[i].Load())
		}
		close(out)
	}()
	fmt.Println("ready")
	for line := range out {
		fmt.Println(line)
	}
	_, _ = io.Copy(io.Discard, os.Stdin)
	return 0
}

// BenchmarkRealtimeThroughput: writes per second through the item service
// with no sockets and with 1,000 subscribers receiving every change. The
// two phases alternate (three rounds) so that load from outside the
// benchmark weighs on both alike.
func BenchmarkRealtimeThroughput(b *testing.B) {
	raiseFileLimit(b, 8192)
	const rounds = 3
	const subscribers = 1000
	measure := func(b *testing.B, svc hooks.ItemsService) float64 {
		ctx := context.Background()
		const writers = 8
		const duration = 2 * time.Second
		var count atomic.Int64
		stop := time.Now().Add(duration)
		var wg sync.WaitGroup
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Now().Before(stop) {
					// The title carries the write's start, for the latency
					// the watching subscriber measures.
					title := fmt.Sprintf("w%d-t%d.", w, time.Now().UnixNano())
					if _, err := svc.CreateOne(ctx, hooks.Item{"title": title}); err != nil {
						b.Error(err)
						return
					}
					count.Add(1)
				}
			}()
		}
		wg.Wait()
		return float64(count.Load()) / duration.Seconds()
	}
	in, token, svc := benchInstance(b)
	var none, with float64
	var received atomic.Int64
	var latMu sync.Mutex
	var lat []time.Duration
	for range rounds {
		none += measure(b, svc) / rounds
		clients := connectMany(b, in, token, subscribers)
		// The subscribers only count the frames they receive, reading the
		// raw stream: both ends share this machine's two cores, and the
		// measure is the server's, not a client library's. One of them
		// also measures each event's latency from its write's start.
		for _, c := range clients[1:] {
			go countFrames(c.NetConn(), &received)
		}
		go func() {
			for {
				_, msg, err := clients[0].ReadMessage()
				if err != nil {
					return
				}
				received.Add(1)
				i := bytes.Index(msg, []byte("-t"))
				j := bytes.IndexByte(msg[max(i, 0):], '.')
				if i < 0 || j < 0 {
					continue
				}
				start, err := strconv.ParseInt(string(msg[i+2:i+j]), 10, 64)
				if err != nil {
					continue
				}
				latMu.Lock()
				lat = append(lat, time.Since(time.Unix(0, start)))
				latMu.Unlock()
			}
		}()
		with += measure(b, svc) / rounds
		for _, c := range clients {
			c.Close()
		}
		require.Eventually(b, func() bool { return len(in.app.Realtime().Clients()) == 0 },
			30*time.Second, 10*time.Millisecond)
	}
	b.ReportMetric(none, "writes/s_no_subscribers")
	b.ReportMetric(with, "writes/s_1000_subscribers")
	b.ReportMetric(with/none, "ratio")
	b.ReportMetric(float64(received.Load())/rounds, "events_delivered/round")
	latMu.Lock()
	slices.Sort(lat)
	if len(lat) > 0 {
		b.ReportMetric(ms(lat[len(lat)/2]), "stream_p50_ms")
		b.ReportMetric(ms(lat[len(lat)*99/100]), "stream_p99_ms")
	}
	latMu.Unlock()
}

// countFrames counts the text frames of a server-to-client stream
// (unmasked frames: a 2, 4 or 10 byte header, then the payload).
func countFrames(r io.Reader, count *atomic.Int64) {
	buf := make([]byte, 64<<10)
	var hdr []byte
	skip := 0
	for {
		n, err := r.Read(buf)
		data := buf[:n]
		for len(data) > 0 {
			if skip > 0 {
				m := min(skip, len(data))
				skip -= m
				data = data[m:]
				continue
			}
			hdr = append(hdr, data[0])
			data = data[1:]
			if len(hdr) < 2 {
				continue
			}
			need, size := 2, int(hdr[1]&0x7f)
			switch size {
			case 126:
				need = 4
			case 127:
				need = 10
			}
			if len(hdr) < need {
				continue
			}
			switch size {
			case 126:
				size = int(binary.BigEndian.Uint16(hdr[2:4]))
			case 127:
				size = int(binary.BigEndian.Uint64(hdr[2:10]))
			}
			if hdr[0]&0x0f == websocket.TextMessage {
				count.Add(1)
			}
			hdr, skip = hdr[:0], size
		}
		if err != nil {
			return
		}
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
