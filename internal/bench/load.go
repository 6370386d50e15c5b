package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Request is one pre-built HTTP/1.1 request a load client sends over and
// over on its keep-alive connection.
type Request struct {
	Method, Path string
	// Header lines besides Host and Content-Length, e.g. "Authorization".
	Header map[string]string
	Body   []byte
}

// bytes renders the request once; every client writes the same bytes.
func (r *Request) bytes(host string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", r.Method, r.Path, host)
	for k, v := range r.Header {
		fmt.Fprintf(&b, "%s: %s\r\n", k, v)
	}
	if r.Body != nil || r.Method == "POST" || r.Method == "PATCH" {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(r.Body))
	}
	b.WriteString("\r\n")
	b.Write(r.Body)
	return b.Bytes()
}

// LoadStats is what one load phase measured.
type LoadStats struct {
	// OK counts 200 answers, Failed every other status.
	OK, Failed int64
	// Rate is OK answers per second of the phase.
	Rate      float64
	Latencies []time.Duration
}

// Load runs clients connections to addr, each sending req and reading its
// answer in a loop (HTTP/1.1 keep-alive, one request in flight per
// connection) for d. It is deliberately lean — a raw net.Conn, the request
// pre-rendered, the answer parsed just enough to find its end and status —
// because it shares the machine's cores with the server it measures, as
// pgbench (a small C client) does with Postgres. A connection error other
// than the phase ending fails the phase.
func Load(ctx context.Context, addr string, clients int, d time.Duration, req *Request) (*LoadStats, error) {
	raw := req.bytes(addr)
	conns := make([]net.Conn, clients)
	for i := range conns {
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		if err != nil {
			for _, c := range conns[:i] {
				c.Close()
			}
			return nil, fmt.Errorf("load: dialing %s: %w", addr, err)
		}
		conns[i] = c
	}
	var (
		ok, failed atomic.Int64
		stop       atomic.Bool
		mu         sync.Mutex
		lat        []time.Duration
		firstErr   error
		wg         sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(d)
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			local := make([]time.Duration, 0, 1<<14)
			r := bufio.NewReaderSize(c, 32<<10)
			var err error
			for !stop.Load() && ctx.Err() == nil {
				t0 := time.Now()
				if t0.After(deadline) {
					break
				}
				if _, err = c.Write(raw); err != nil {
					break
				}
				var status int
				if status, err = readResponse(r); err != nil {
					break
				}
				local = append(local, time.Since(t0))
				if status == 200 {
					ok.Add(1)
				} else {
					failed.Add(1)
				}
			}
			mu.Lock()
			lat = append(lat, local...)
			if err != nil && firstErr == nil {
				firstErr = err
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if firstErr != nil {
		return nil, fmt.Errorf("load: %s %s: %w", req.Method, req.Path, firstErr)
	}
	return &LoadStats{OK: ok.Load(), Failed: failed.Load(), Rate: float64(ok.Load()) / elapsed.Seconds(),
		Latencies: lat}, nil
}

// readResponse reads one HTTP/1.1 response (status line, headers, a body
// framed by Content-Length or chunked encoding) and returns its status.
func readResponse(r *bufio.Reader) (int, error) {
	line, err := readLine(r)
	if err != nil {
		return 0, err
	}
	// "HTTP/1.1 200 OK"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return 0, fmt.Errorf("malformed status line %q", line)
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, fmt.Errorf("malformed status line %q", line)
	}
	length, chunked := -1, false
	for {
		line, err = readLine(r)
		if err != nil {
			return 0, err
		}
		if len(line) == 0 {
			break
		}
		name, value, found := bytes.Cut(line, []byte(":"))
		if !found {
			return 0, fmt.Errorf("malformed header %q", line)
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(value)); err != nil {
				return 0, fmt.Errorf("malformed Content-Length %q", value)
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(value, []byte("chunked"))
		}
	}
	switch {
	case chunked:
		return status, skipChunked(r)
	case length >= 0:
		_, err = r.Discard(length)
		return status, err
	case status == 204 || status == 304:
		return status, nil
	}
	return 0, errors.New("a response without Content-Length or chunked encoding")
}

func skipChunked(r *bufio.Reader) error {
	for {
		line, err := readLine(r)
		if err != nil {
			return err
		}
		size, _, _ := bytes.Cut(line, []byte(";"))
		n, err := strconv.ParseInt(string(bytes.TrimSpace(size)), 16, 64)
		if err != nil {
			return fmt.Errorf("malformed chunk size %q", line)
		}
		if n == 0 {
			// Trailers, then the empty line.
			for {
				line, err = readLine(r)
				if err != nil || len(line) == 0 {
					return err
				}
			}
		}
		if _, err := r.Discard(int(n) + 2); err != nil {
			return err
		}
	}
}

// readLine returns one CRLF-terminated line without its terminator; the
// slice is valid until the next read.
func readLine(r *bufio.Reader) ([]byte, error) {
	line, err := r.ReadSlice('\n')
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return bytes.TrimRight(line, "\r\n"), nil
}
