//go:build !linux

package realtime_test

import (
	"io"

	"github.com/gorilla/websocket"
)

// readArrivals reads each socket from a goroutine of its own (the epoll
// reader is Linux's; see arrivals_linux_test.go).
func (a *arrivals) readArrivals(conns []*websocket.Conn) error {
	for _, c := range conns {
		go a.read(c)
	}
	return nil
}

// read records the arrivals on one socket, read the ordinary way.
func (a *arrivals) read(c *websocket.Conn) {
	buf := make([]byte, 0, 512)
	for {
		_, r, err := c.NextReader()
		if err != nil {
			return
		}
		msg, err := readAll(r, buf[:0])
		if err != nil {
			return
		}
		buf = msg
		a.scan(msg)
	}
}

// readAll is io.ReadAll into buf's storage.
func readAll(r io.Reader, buf []byte) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}
