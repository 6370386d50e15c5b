//go:build !linux

package realtime_test

import "github.com/gorilla/websocket"

// readArrivals reads each socket from a goroutine of its own (the epoll
// reader is Linux's; see arrivals_linux_test.go).
func (a *arrivals) readArrivals(conns []*websocket.Conn) (stop func(), err error) {
	for _, c := range conns {
		go a.read(c)
	}
	return func() {}, nil
}
