//go:build linux

package realtime_test

import (
	"errors"
	"syscall"

	"github.com/gorilla/websocket"
)

// readArrivals reads every socket from one goroutine over its own epoll set
// and records the writes' arrivals for the rest of the (subscriber)
// process. The benchmark's readers stand in for clients on other machines
// but share the server's two cores, so they should cost as little as
// receiving can: one read(2) per ready socket, where a goroutine per socket
// pays a second read that finds nothing (EAGAIN), a park and a wake-up for
// every frame. The server's frames to these sockets are unmasked and
// small, so the marker is found in the raw bytes; a marker the kernel split
// between two reads is carried over.
func (a *arrivals) readArrivals(conns []*websocket.Conn) error {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return err
	}
	// Each socket is read through a duplicate of its descriptor, and the
	// websocket.Conn is closed: that takes the socket out of the Go
	// runtime's own epoll set (the duplicate keeps it open), which would
	// otherwise wake an idle runtime thread for every frame as well.
	var fds []int
	closeAll := func() {
		for _, fd := range fds {
			syscall.Close(fd)
		}
		syscall.Close(epfd)
	}
	for _, c := range conns {
		raw, err := c.NetConn().(syscall.Conn).SyscallConn()
		if err != nil {
			closeAll()
			return err
		}
		dup := -1
		var dupErr error
		if err := raw.Control(func(fd uintptr) { dup, dupErr = syscall.Dup(int(fd)) }); err != nil || dupErr != nil {
			closeAll()
			return errors.Join(err, dupErr)
		}
		syscall.CloseOnExec(dup)
		fds = append(fds, dup)
		ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(dup)}
		if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, dup, &ev); err != nil {
			closeAll()
			return err
		}
		_ = c.NetConn().Close()
	}
	go func() {
		carry := map[int32][]byte{}
		events := make([]syscall.EpollEvent, 256)
		buf := make([]byte, 64<<10)
		for {
			n, err := syscall.EpollWait(epfd, events, -1)
			if err != nil && err != syscall.EINTR {
				return
			}
			for _, ev := range events[:max(n, 0)] {
				got, err := syscall.Read(int(ev.Fd), buf)
				if err == syscall.EAGAIN || err == syscall.EINTR {
					continue
				}
				if err != nil || got == 0 {
					// Closed: leave the set so the loop does not spin on it.
					_ = syscall.EpollCtl(epfd, syscall.EPOLL_CTL_DEL, int(ev.Fd), nil)
					delete(carry, ev.Fd)
					continue
				}
				data := buf[:got]
				if c := carry[ev.Fd]; len(c) > 0 {
					data = append(c, data...)
				}
				carry[ev.Fd] = append(carry[ev.Fd][:0], a.scan(data)...)
			}
		}
	}()
	return nil
}
