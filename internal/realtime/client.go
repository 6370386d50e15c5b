package realtime

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"github.com/hookd/hookd/hooks"
)

// ErrClientGone is returned by Send to a client that has disconnected or
// was disconnected because its send queue overflowed.
var ErrClientGone = errors.New("realtime: client disconnected")

// client is one socket. Its read pump reads and handles frames one at a
// time. Everything else only enqueues frames, never waits: a flusher
// goroutine, started when the queue becomes non-empty and gone when it is
// drained, writes everything queued in one write; the dispatcher's shared
// pages are written at once when the socket is idle and takes them whole
// (enqueueFramed). An idle socket therefore costs one goroutine and no
// buffer.
type client struct {
	hub  *Hub
	uid  string
	conn *websocket.Conn
	info ClientInfo

	// The send queue: frames waiting for the flusher. A slice rather than a
	// channel, so an idle socket holds no buffer while a burst (a bulk
	// write's events) may queue up to the configured bounds.
	qmu          sync.Mutex
	queue        []outgoing
	queued       int64  // bytes in queue
	queuedFrames int    // frames in queue
	writing      bool   // a flusher is running
	closing      bool   // a close frame is queued or the socket is dropped: no more frames
	closeMsg     []byte // the close frame, written after the queue
	readDone     bool   // the read pump has ended: the flusher closes the socket

	// raw is the socket's descriptor for writeNow; nil when the connection
	// is not a plain socket (then every frame goes through the flusher).
	// rawWrite is c.writeRaw bound once, and rawBuf and rawDone its input
	// and progress, so that a write allocates nothing; they belong to
	// whoever claimed the socket (writing).
	raw      syscall.RawConn
	rawWrite func(fd uintptr) bool
	rawBuf   []byte
	rawDone  int

	quit     chan struct{} // closed when the client starts closing
	quitOnce sync.Once

	// page and pageSubs are the dispatcher's: how many of this client's
	// subscriptions have frames in the page being flushed.
	page     uint64
	pageSubs int

	lastActive atomic.Int64 // unix nanos of the last non-auth message
	limiter    rateLimiter

	// acc is replaced, never modified: readers may keep the pointer.
	acc atomic.Pointer[hooks.Accountability]

	mu          sync.Mutex
	authGen     uint64 // bumped on every (de)authentication; stale timers check it
	expiryTimer *time.Timer
	authTimer   *time.Timer
	established bool
	subs        []*subscription
}

var _ hooks.WebSocketClient = (*client)(nil)

func newClient(h *Hub, conn *websocket.Conn, info ClientInfo) *client {
	c := &client{
		hub:  h,
		uid:  uuid.NewString(),
		conn: conn,
		info: info,
		quit: make(chan struct{}),
	}
	c.acc.Store(publicAccountability(info))
	if sc, ok := conn.NetConn().(syscall.Conn); ok {
		c.raw, _ = sc.SyscallConn()
		c.rawWrite = c.writeRaw
	}
	ws := h.cfg.Websockets
	if ws.RateLimitEnabled {
		c.limiter = rateLimiter{points: ws.RateLimitPoints, window: ws.RateLimitDuration}
	}
	c.lastActive.Store(time.Now().UnixNano())
	return c
}

// setAcc replaces the client's accountability. The dispatcher groups
// subscribers by accountability and keeps the grouping until the hub's
// subsGen moves, so it moves after the new one is in place.
func (c *client) setAcc(acc *hooks.Accountability) {
	c.acc.Store(acc)
	c.hub.subsGen.Add(1)
}

func publicAccountability(info ClientInfo) *hooks.Accountability {
	return &hooks.Accountability{IP: info.IP, UserAgent: info.UserAgent, Origin: info.Origin}
}

// UID is the connection's server-generated id.
func (c *client) UID() string { return c.uid }

// Accountability is the client's current accountability (public when
// unauthenticated). The returned value is a copy.
func (c *client) Accountability() *hooks.Accountability {
	a := *c.acc.Load()
	return &a
}

// Send queues a message without blocking: a string or []byte as is,
// anything else JSON-encoded. A client whose queue is full is disconnected.
func (c *client) Send(message any) error {
	b, err := encodeMessage(message)
	if err != nil {
		return err
	}
	return c.enqueue(b)
}

func encodeMessage(message any) ([]byte, error) {
	switch m := message.(type) {
	case string:
		return []byte(m), nil
	case []byte:
		return m, nil
	case json.RawMessage:
		return m, nil
	}
	b, err := json.Marshal(message)
	if err != nil {
		return nil, hooks.InvalidPayload("The message cannot be encoded as JSON").WithCause(err)
	}
	return b, nil
}

// outgoing is one entry of a send queue: a text message's payload, or
// (framed > 0) that many frames already framed into one buffer that may be
// shared with other clients' queues and is never modified.
type outgoing struct {
	b      []byte
	framed int
}

// enqueue queues text messages, in order, for the flusher.
func (c *client) enqueue(frames ...[]byte) error {
	size := int64(0)
	for _, b := range frames {
		size += int64(len(b))
	}
	c.qmu.Lock()
	if !c.admitLocked(len(frames), size) {
		return ErrClientGone
	}
	for _, b := range frames {
		c.queue = append(c.queue, outgoing{b: b})
	}
	c.startFlushLocked()
	c.qmu.Unlock()
	return nil
}

// enqueueFramed queues n frames already framed into buf (see appendFrame).
// buf is written as is and may be shared: nobody may modify it.
//
// An idle socket (nothing queued, no flusher) is written at once from the
// caller, without blocking: the dispatcher hands one event to a thousand
// sockets, and a flusher goroutine with its write deadline per socket had
// cost as much as the write itself. What the kernel does not take at once
// (a full socket buffer: a slow reader) is queued for the flusher as usual.
func (c *client) enqueueFramed(buf []byte, n int) error {
	c.qmu.Lock()
	if !c.admitLocked(n, int64(len(buf))) {
		return ErrClientGone
	}
	if c.writing || c.raw == nil {
		c.queue = append(c.queue, outgoing{b: buf, framed: n})
		c.startFlushLocked()
		c.qmu.Unlock()
		return nil
	}
	// Not writing means nothing is queued: the flusher leaves only when
	// the queue is empty. Claim the socket; frames enqueued meanwhile
	// queue behind this write.
	c.writing = true
	c.queuedFrames -= n
	c.queued -= int64(len(buf))
	c.qmu.Unlock()
	written := c.writeNow(buf)
	c.qmu.Lock()
	// The rest waits for the flusher. A frame the kernel took part of
	// must be finished even if the client started closing meanwhile:
	// a close frame cut into it would corrupt the stream.
	if written < len(buf) && (written > 0 || !c.closing) {
		rest := buf[written:]
		c.queue = append([]outgoing{{b: rest, framed: n}}, c.queue...)
		c.queuedFrames += n
		c.queued += int64(len(rest))
	}
	c.writing = false
	if len(c.queue) > 0 || c.closeMsg != nil {
		c.startFlushLocked()
		c.qmu.Unlock()
		return nil
	}
	closeNow := c.closing && c.readDone
	c.qmu.Unlock()
	if closeNow {
		_ = c.conn.Close()
	}
	return nil
}

// writeNow writes as much of buf as the socket takes without blocking and
// returns how much that was. It holds the descriptor's write lock, so it
// never interleaves with gorilla's own control frames. A write deadline
// left in the past (by a flush or a control frame long ago) would refuse
// the attempt: it is cleared once and the write tried again.
func (c *client) writeNow(buf []byte) int {
	c.rawBuf, c.rawDone = buf, 0
	if err := c.raw.Write(c.rawWrite); errors.Is(err, os.ErrDeadlineExceeded) {
		_ = c.conn.NetConn().SetWriteDeadline(time.Time{})
		_ = c.raw.Write(c.rawWrite)
	}
	written := c.rawDone
	c.rawBuf = nil
	return written
}

// writeRaw is writeNow's attempt on the descriptor: it never waits for the
// socket to become writable (the flusher does).
func (c *client) writeRaw(fd uintptr) bool {
	for c.rawDone < len(c.rawBuf) {
		n, err := syscall.Write(int(fd), c.rawBuf[c.rawDone:])
		if n > 0 {
			c.rawDone += n
		}
		if err == syscall.EINTR {
			continue
		}
		if err != nil || n <= 0 {
			break
		}
	}
	return true
}

// admitLocked counts n frames of size bytes against the queue's bounds. It
// is called with qmu held; when it refuses (the client is closing, or is
// disconnected because its queue would overflow) it has released qmu.
func (c *client) admitLocked(n int, size int64) bool {
	cfg := c.hub.cfg
	if c.closing {
		c.qmu.Unlock()
		return false
	}
	if c.queuedFrames+n > cfg.SendQueueSize || c.queued+size > cfg.SendQueueBytes {
		frames, queued := c.queuedFrames, c.queued
		c.qmu.Unlock()
		// Never wait for a slow reader: it would hold up every other
		// client sharing the dispatcher.
		c.hub.logger.Warn("disconnecting slow realtime client: send queue full",
			"client", c.uid, "frames", frames, "bytes", queued)
		c.abort()
		return false
	}
	c.queuedFrames += n
	c.queued += size
	return true
}

func (c *client) startFlushLocked() {
	if !c.writing {
		c.writing = true
		go c.flush()
	}
}

// closeWith queues a close frame behind what is queued (drain) or instead
// of it, and stops accepting frames. Only the first call counts. The socket
// itself is closed when the read pump has ended, so the client's close
// reply is read.
func (c *client) closeWith(code int, text string, drain bool) {
	c.qmu.Lock()
	if c.closing {
		c.qmu.Unlock()
		return
	}
	c.closing = true
	if !drain {
		c.queue, c.queued, c.queuedFrames = nil, 0, 0
	}
	c.closeMsg = appendFrame(nil, websocket.CloseMessage, websocket.FormatCloseMessage(code, text))
	c.startFlushLocked()
	c.qmu.Unlock()
	c.quitOnce.Do(func() { close(c.quit) })
	// The client has a second to answer the close before the read pump
	// gives up on it.
	_ = c.conn.SetReadDeadline(time.Now().Add(time.Second))
}

// abort drops the connection at once, even while a write is blocked on a
// client that does not read.
func (c *client) abort() {
	c.qmu.Lock()
	c.closing = true
	c.queue, c.queued, c.queuedFrames, c.closeMsg = nil, 0, 0, nil
	c.qmu.Unlock()
	c.quitOnce.Do(func() { close(c.quit) })
	_ = c.conn.Close()
}

var frameBuffers = sync.Pool{New: func() any { return new([]byte) }}

// flush writes what is queued, one write per batch (frames are framed here:
// server frames are unmasked, so a batch is just their concatenation), until
// the queue is empty. A batch that is one pre-framed buffer (a page of
// events shared by a class of subscribers) is written as is, uncopied.
func (c *client) flush() {
	bufp := frameBuffers.Get().(*[]byte)
	defer func() {
		if cap(*bufp) <= 1<<20 {
			frameBuffers.Put(bufp)
		}
	}()
	nc := c.conn.NetConn()
	for {
		c.qmu.Lock()
		batch, closeMsg := c.queue, c.closeMsg
		c.queue, c.queued, c.queuedFrames, c.closeMsg = nil, 0, 0, nil
		if len(batch) == 0 && closeMsg == nil {
			c.writing = false
			closeNow := c.closing && c.readDone
			c.qmu.Unlock()
			if closeNow {
				_ = c.conn.Close()
			}
			return
		}
		c.qmu.Unlock()
		var buf []byte
		if len(batch) == 1 && batch[0].framed > 0 && closeMsg == nil {
			buf = batch[0].b
		} else {
			buf = (*bufp)[:0]
			for _, o := range batch {
				if o.framed > 0 {
					buf = append(buf, o.b...)
				} else {
					buf = appendFrame(buf, websocket.TextMessage, o.b)
				}
			}
			buf = append(buf, closeMsg...)
			*bufp = buf
		}
		// One write call: net.Conn serialises whole writes, so the control
		// frames gorilla writes itself (pongs, protocol-error closes) never
		// land inside ours.
		_ = nc.SetWriteDeadline(time.Now().Add(c.hub.cfg.WriteTimeout))
		if _, err := nc.Write(buf); err != nil {
			c.abort()
			c.qmu.Lock()
			c.writing = false
			c.qmu.Unlock()
			return
		}
	}
}

// appendFrame appends one unmasked, final WebSocket frame.
func appendFrame(dst []byte, opcode int, payload []byte) []byte {
	dst = append(dst, 0x80|byte(opcode))
	switch n := len(payload); {
	case n < 126:
		dst = append(dst, byte(n))
	case n <= 0xFFFF:
		dst = append(dst, 126, byte(n>>8), byte(n))
	default:
		dst = append(dst, 127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	return append(dst, payload...)
}

// readPump runs in its own goroutine until the socket closes.
func (c *client) readPump(handshake bool) {
	h := c.hub
	defer h.wg.Done()
	ws := h.cfg.Websockets
	c.conn.SetReadLimit(ws.MaxMessageSize)
	// Echo a client's close through the queue, behind what is queued.
	c.conn.SetCloseHandler(func(code int, _ string) error {
		if code == websocket.CloseNoStatusReceived {
			code = websocket.CloseNormalClosure
		}
		c.closeWith(code, "", true)
		return nil
	})
	if handshake {
		_ = c.conn.SetReadDeadline(time.Now().Add(ws.RESTAuthTimeout))
	}
	var readErr error
	for {
		_, data, err := c.conn.ReadMessage()
		if err != nil {
			if handshake && isTimeout(err) {
				c.handshakeFailed(nil)
			}
			readErr = err
			break
		}
		if handshake {
			_ = c.conn.SetReadDeadline(time.Time{})
			if !c.handleHandshake(data) {
				break
			}
			handshake = false
			continue
		}
		c.handle(data)
	}
	c.finish(readErr)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// finish tears the client down once its read side is over.
func (c *client) finish(readErr error) {
	h := c.hub
	c.qmu.Lock()
	// Read errors after the server started closing (the close reply's
	// deadline, a dropped slow client) are not the client's errors.
	serverClosed := c.closing
	c.qmu.Unlock()
	c.closeWith(websocket.CloseNormalClosure, "", true)
	c.qmu.Lock()
	c.readDone = true
	closeNow := !c.writing
	c.qmu.Unlock()
	if closeNow {
		_ = c.conn.Close()
	}
	h.unregister(c)
	c.mu.Lock()
	established := c.established
	c.established = false
	c.stopTimersLocked()
	c.authGen++
	c.mu.Unlock()
	if !established {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(h.ctx), h.cfg.RequestTimeout)
	defer cancel()
	var ce *websocket.CloseError
	if readErr != nil && !serverClosed && !errors.As(readErr, &ce) && !errors.Is(readErr, net.ErrClosed) {
		h.action(ctx, "websocket.error", c, map[string]any{"event": readErr.Error()})
	}
	closeEvent := map[string]any{"code": websocket.CloseAbnormalClosure}
	if ce != nil {
		closeEvent = map[string]any{"code": ce.Code, "reason": ce.Text}
	}
	h.action(ctx, "websocket.close", c, map[string]any{"event": closeEvent})
}

func (c *client) stopTimersLocked() {
	if c.expiryTimer != nil {
		c.expiryTimer.Stop()
		c.expiryTimer = nil
	}
	if c.authTimer != nil {
		c.authTimer.Stop()
		c.authTimer = nil
	}
}

// establish makes the socket a client: registered, counted, reachable by
// broadcasts, and announced with websocket.connect.
func (c *client) establish(ctx context.Context) {
	c.mu.Lock()
	c.established = true
	c.mu.Unlock()
	c.hub.register(c)
	c.hub.action(ctx, "websocket.connect", c, nil)
}

// setAuth installs an accountability and arms the expiry timer.
func (c *client) setAuth(acc *hooks.Accountability, expiresAt *time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopTimersLocked()
	c.authGen++
	c.setAcc(acc)
	if expiresAt != nil {
		gen := c.authGen
		c.expiryTimer = time.AfterFunc(time.Until(*expiresAt), func() { c.expire(gen) })
	}
}

// setPublic drops back to the public accountability.
func (c *client) setPublic() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopTimersLocked()
	c.authGen++
	c.setAcc(publicAccountability(c.info))
}

// expire runs when the access token expires: the client becomes public and
// gets WEBSOCKETS_REST_AUTH_TIMEOUT to authenticate again.
func (c *client) expire(gen uint64) {
	c.mu.Lock()
	if c.authGen != gen {
		c.mu.Unlock()
		return
	}
	c.authGen++
	gen = c.authGen
	c.setAcc(publicAccountability(c.info))
	c.expiryTimer = nil
	c.authTimer = time.AfterFunc(c.hub.cfg.Websockets.RESTAuthTimeout, func() { c.authTimedOut(gen) })
	c.mu.Unlock()
	_ = c.enqueue(errorFrame("auth", hooks.NewError("TOKEN_EXPIRED", http.StatusUnauthorized, "Token expired."), nil))
}

func (c *client) authTimedOut(gen uint64) {
	c.mu.Lock()
	if c.authGen != gen {
		c.mu.Unlock()
		return
	}
	c.authTimer = nil
	c.mu.Unlock()
	_ = c.enqueue(errorFrame("auth", hooks.NewError("AUTH_TIMEOUT", http.StatusUnauthorized, "Authentication timed out."), nil))
	if c.hub.cfg.Websockets.RESTAuth != modePublic {
		c.closeWith(websocket.ClosePolicyViolation, "authentication timed out", true)
	}
}

func (c *client) addSubscription(s *subscription) (replaced *subscription) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s.uidKey != "" {
		for i, old := range c.subs {
			if old.uidKey == s.uidKey {
				c.subs[i] = s
				return old
			}
		}
	}
	c.subs = append(c.subs, s)
	return nil
}

// removeSubscriptions removes the subscription with uidKey, or all when
// uidKey is "".
func (c *client) removeSubscriptions(uidKey string) []*subscription {
	c.mu.Lock()
	defer c.mu.Unlock()
	if uidKey == "" {
		out := c.subs
		c.subs = nil
		return out
	}
	var out []*subscription
	kept := c.subs[:0]
	for _, s := range c.subs {
		if s.uidKey == uidKey {
			out = append(out, s)
		} else {
			kept = append(kept, s)
		}
	}
	c.subs = kept
	return out
}

// subscriptionsLocked is called with the hub's lock held; it takes the
// client's own lock (lock order: hub, then client).
func (c *client) subscriptionsLocked() []*subscription {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.subs
	c.subs = nil
	return out
}

// clientInfo reads what the upgrade request says about the client.
func clientInfo(r *http.Request) ClientInfo {
	ip := r.RemoteAddr
	if host, _, err := net.SplitHostPort(ip); err == nil {
		ip = host
	}
	return ClientInfo{IP: ip, UserAgent: r.UserAgent(), Origin: r.Header.Get("Origin")}
}

// rateLimiter is a fixed window per connection, as Directus's
// rate-limiter-flexible memory store with the connection as key.
type rateLimiter struct {
	points int
	window time.Duration
	start  time.Time
	used   int
}

// allow consumes one point; when none is left it returns the wait until the
// window resets.
func (l *rateLimiter) allow(now time.Time) (bool, time.Duration) {
	if l.points <= 0 {
		return true, 0
	}
	if now.Sub(l.start) >= l.window {
		l.start, l.used = now, 0
	}
	if l.used >= l.points {
		return false, l.start.Add(l.window).Sub(now)
	}
	l.used++
	return true, 0
}

func sameHost(origin, host string) bool {
	o := strings.TrimPrefix(strings.TrimPrefix(origin, "https://"), "http://")
	return strings.EqualFold(o, host)
}
