package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"github.com/hookd/hookd/hooks"
)

// ErrClientGone is returned by Send to a client that has disconnected or
// was disconnected because its send queue overflowed.
var ErrClientGone = errors.New("realtime: client disconnected")

// client is one socket. The read pump (the HTTP handler's goroutine) reads
// and handles frames one at a time; the write pump owns every write of data
// frames. Everything else only enqueues, never writes or waits.
type client struct {
	hub  *Hub
	uid  string
	conn *websocket.Conn
	info ClientInfo

	// The send queue: frames waiting for the write pump. It is a slice
	// rather than a channel so that an idle socket holds no buffer, while a
	// burst (a bulk write's events) may queue up to the configured bounds.
	qmu    sync.Mutex
	queue  [][]byte
	queued int64         // bytes in queue
	wake   chan struct{} // capacity 1: "the queue is not empty"

	quit     chan struct{} // closed when the client must stop
	quitOnce sync.Once
	// closeCode/closeText/drain are set once, before quit is closed.
	closeCode int
	closeText string
	drain     bool

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
		wake: make(chan struct{}, 1),
		quit: make(chan struct{}),
	}
	c.acc.Store(publicAccountability(info))
	ws := h.cfg.Websockets
	if ws.RateLimitEnabled {
		c.limiter = rateLimiter{points: ws.RateLimitPoints, window: ws.RateLimitDuration}
	}
	c.lastActive.Store(time.Now().UnixNano())
	return c
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

func (c *client) enqueue(b []byte) error {
	select {
	case <-c.quit:
		return ErrClientGone
	default:
	}
	cfg := c.hub.cfg
	c.qmu.Lock()
	if len(c.queue) >= cfg.SendQueueSize || c.queued+int64(len(b)) > cfg.SendQueueBytes {
		n, size := len(c.queue), c.queued
		c.qmu.Unlock()
		// Never wait for a slow reader: it would hold up every other
		// client sharing the dispatcher.
		c.hub.logger.Warn("disconnecting slow realtime client: send queue full",
			"client", c.uid, "frames", n, "bytes", size)
		c.abort()
		return ErrClientGone
	}
	c.queue = append(c.queue, b)
	c.queued += int64(len(b))
	c.qmu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return nil
}

// dequeue takes every queued frame.
func (c *client) dequeue() [][]byte {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	out := c.queue
	c.queue, c.queued = nil, 0
	return out
}

// closeWith asks the write pump to (optionally) flush queued frames, send a
// close frame and close the socket. Only the first call counts.
func (c *client) closeWith(code int, text string, drain bool) {
	c.quitOnce.Do(func() {
		c.closeCode, c.closeText, c.drain = code, text, drain
		close(c.quit)
	})
}

// abort drops the connection at once, even while the write pump is blocked
// writing to a client that does not read.
func (c *client) abort() {
	c.closeWith(websocket.CloseAbnormalClosure, "", false)
	_ = c.conn.Close()
}

func (c *client) writePump() {
	defer c.hub.wg.Done()
	defer c.conn.Close()
	timeout := c.hub.cfg.WriteTimeout
	// One deadline per batch: each frame of a batch must still be written
	// within the timeout of the batch's start, and a deadline per frame
	// would cost a timer update per frame.
	writeBatch := func(batch [][]byte) error {
		_ = c.conn.SetWriteDeadline(time.Now().Add(timeout))
		for _, b := range batch {
			if err := c.conn.WriteMessage(websocket.TextMessage, b); err != nil {
				return err
			}
		}
		return nil
	}
	for {
		select {
		case <-c.wake:
			if err := writeBatch(c.dequeue()); err != nil {
				c.closeWith(websocket.CloseAbnormalClosure, "", false)
				return
			}
		case <-c.quit:
			if c.drain && writeBatch(c.dequeue()) != nil {
				return
			}
			if c.closeCode != websocket.CloseAbnormalClosure {
				_ = c.conn.WriteControl(websocket.CloseMessage,
					websocket.FormatCloseMessage(c.closeCode, c.closeText), time.Now().Add(time.Second))
			}
			return
		}
	}
}

// readPump runs in the HTTP handler's goroutine until the socket closes.
func (c *client) readPump(handshake bool) {
	h := c.hub
	ws := h.cfg.Websockets
	c.conn.SetReadLimit(ws.MaxMessageSize)
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
	c.closeWith(websocket.CloseNormalClosure, "", true)
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
	if readErr != nil && !errors.As(readErr, &ce) && !errors.Is(readErr, net.ErrClosed) {
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
	c.acc.Store(acc)
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
	c.acc.Store(publicAccountability(c.info))
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
	c.acc.Store(publicAccountability(c.info))
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
