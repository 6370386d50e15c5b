package realtime

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"time"

	"github.com/gorilla/websocket"

	"github.com/hookd/hookd/hooks"
)

// ServeHTTP upgrades a request on the endpoint to a realtime socket.
//
// A token in ?access_token= or in the session cookie is checked before the
// upgrade in every mode; a bad one is answered with a raw
// `HTTP/1.1 401 Unauthorized`, as is a missing one in strict mode. Over
// WEBSOCKETS_REST_CONN_LIMIT established clients the answer is a raw
// `HTTP/1.1 403 Forbidden`.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !websocket.IsWebSocketUpgrade(r) {
		writeHTTPError(w, http.StatusNotFound, hooks.RouteNotFound(r.URL.Path))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.RequestTimeout)
	defer cancel()
	info := clientInfo(r)
	mode := h.cfg.Websockets.RESTAuth

	token := r.URL.Query().Get("access_token")
	if token == "" {
		if ck, err := r.Cookie(h.cfg.SessionCookieName); err == nil {
			token = ck.Value
		}
	}
	var acc *hooks.Accountability
	var expiresAt *time.Time
	if token != "" {
		res, err := h.authenticate(ctx, map[string]any{"type": "auth", "access_token": token}, info)
		if err != nil {
			h.logger.DebugContext(ctx, "realtime upgrade refused: authentication failed", "error", err)
			rejectRaw(w, http.StatusUnauthorized)
			return
		}
		acc, expiresAt = res.acc, res.expiresAt
	} else if mode == modeStrict {
		rejectRaw(w, http.StatusUnauthorized)
		return
	}
	if limit := h.cfg.Websockets.RESTConnLimit; limit > 0 && h.clientCount() >= limit {
		rejectRaw(w, http.StatusForbidden)
		return
	}

	h.mu.Lock()
	if h.ctx.Err() != nil {
		h.mu.Unlock()
		rejectRaw(w, http.StatusServiceUnavailable)
		return
	}
	h.wg.Add(1) // the read pump
	h.mu.Unlock()
	conn, err := h.upgrader.Upgrade(w, r, nil)
	if err != nil {
		h.wg.Done()
		return // the upgrader has answered
	}
	c := newClient(h, conn, info)

	// The handshake waits for an auth message; otherwise the socket is a
	// client right away, public or authenticated by the upgrade's token.
	handshake := acc == nil && mode == modeHandshake
	if !handshake {
		if acc != nil {
			c.setAuth(acc, expiresAt)
		}
		c.establish(context.WithoutCancel(ctx))
	}
	// A goroutine of its own, started small: the HTTP handler's deep stack
	// is released when ServeHTTP returns.
	go c.readPump(handshake)
}

// checkOrigin refuses cross-site upgrades that would ride on the session
// cookie (cross-site WebSocket hijacking). A token in the URL or in an auth
// message cannot be attached by a foreign page, so those may come from
// anywhere, as the SDK's sockets do.
func (h *Hub) checkOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || r.URL.Query().Get("access_token") != "" {
		return true
	}
	if _, err := r.Cookie(h.cfg.SessionCookieName); err != nil {
		return true
	}
	return sameHost(origin, r.Host)
}

// rejectRaw answers an upgrade the way Directus does: a bare status line,
// then the socket is closed.
func rejectRaw(w http.ResponseWriter, status int) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		w.Header().Set("Connection", "close")
		w.WriteHeader(status)
		return
	}
	conn, buf, err := hj.Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	writeStatusLine(buf, status)
}

func writeStatusLine(buf *bufio.ReadWriter, status int) {
	_, _ = fmt.Fprintf(buf, "HTTP/1.1 %d %s\r\n\r\n", status, http.StatusText(status))
	_ = buf.Flush()
}

// writeHTTPError answers a non-upgrade request in the Directus envelope.
func writeHTTPError(w http.ResponseWriter, status int, he *hooks.Error) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": []any{map[string]any{
		"message": he.Message, "extensions": map[string]any{"code": he.Code}}}})
}

// errorFrame is `{"type":<typ>,"status":"error","error":{"code","message"},"uid"?}`.
func errorFrame(typ string, he *hooks.Error, uid any) []byte {
	m := map[string]any{"type": typ, "status": "error",
		"error": map[string]any{"code": he.Code, "message": he.Message}}
	if uid != nil {
		m["uid"] = uid
	}
	b, _ := json.Marshal(m)
	return b
}

// frame marshals a response; uid is added when not nil.
func frame(m map[string]any, uid any) []byte {
	if uid != nil {
		m["uid"] = uid
	}
	b, err := json.Marshal(m)
	if err != nil {
		// Data read from the database is JSON-encodable; this is a bug.
		panic(fmt.Sprintf("realtime: encoding a frame: %v", err))
	}
	return b
}

func (c *client) sendError(typ string, err error, uid any) {
	he := c.hub.cfg.PublicError(err)
	if he.Status >= 500 {
		c.hub.logger.Error("realtime request failed", "client", c.uid, "type", typ, "code", he.Code, "error", err)
	}
	_ = c.enqueue(errorFrame(typ, he, uid))
}

var (
	errNoType = hooks.InvalidPayload(`"type" is required and must be a string`)
)

// parse decodes a frame into a message with a string type.
func parse(data []byte) (map[string]any, string, error) {
	var msg map[string]any
	if err := json.Unmarshal(data, &msg); err != nil || msg == nil {
		// Directus's message has no "Invalid payload." prefix here.
		return nil, "", hooks.NewError("INVALID_PAYLOAD", http.StatusBadRequest, "Unable to parse the incoming message.")
	}
	typ, ok := msg["type"].(string)
	if !ok {
		return msg, "", errNoType
	}
	return msg, typ, nil
}

// handleHandshake processes the first frame of a handshake-mode socket. It
// reports whether the socket became a client.
func (c *client) handleHandshake(data []byte) bool {
	if ok, _ := c.limiter.allow(time.Now()); !ok {
		c.handshakeFailed(nil)
		return false
	}
	msg, typ, err := parse(data)
	if err != nil || typ != "auth" {
		c.handshakeFailed(msg)
		return false
	}
	ctx, cancel := context.WithTimeout(c.hub.ctx, c.hub.cfg.RequestTimeout)
	defer cancel()
	res, err := c.hub.authenticate(ctx, msg, c.info)
	if err != nil {
		c.hub.logger.DebugContext(ctx, "realtime handshake failed", "client", c.uid, "error", err)
		c.handshakeFailed(msg)
		return false
	}
	c.setAuth(res.acc, res.expiresAt)
	_ = c.enqueue(authOK(msg["uid"], res.refreshToken))
	c.establish(ctx)
	return true
}

// handshakeFailed answers a failed, late or non-auth first message and
// closes the socket. websocket.auth.failure is not emitted for a handshake,
// as in Directus.
func (c *client) handshakeFailed(msg map[string]any) {
	var uid any
	if msg != nil {
		uid = msg["uid"]
	}
	_ = c.enqueue(errorFrame("auth", hooks.NewError("AUTH_FAILED", http.StatusUnauthorized,
		"Authentication handshake failed."), uid))
	c.closeWith(websocket.ClosePolicyViolation, "authentication failed", true)
}

func authOK(uid any, refreshToken string) []byte {
	m := map[string]any{"type": "auth", "status": "ok"}
	if refreshToken != "" {
		m["refresh_token"] = refreshToken
	}
	return frame(m, uid)
}

// handle processes one frame of an established client: rate limit, parse,
// auth (which bypasses the message hooks), the websocket.message filter and
// action, then the built-in handlers. Unknown types are ignored.
func (c *client) handle(data []byte) {
	h := c.hub
	if ok, wait := c.limiter.allow(time.Now()); !ok {
		ms := max(wait.Milliseconds(), 1)
		_ = c.enqueue(errorFrame("server", hooks.NewError("REQUESTS_EXCEEDED", http.StatusTooManyRequests,
			"Too many messages, retry after "+strconv.FormatInt(ms, 10)+"ms."), nil))
		return
	}
	msg, typ, err := parse(data)
	if err != nil {
		var uid any
		if msg != nil {
			uid = msg["uid"]
		}
		c.sendError("server", err, uid)
		return
	}
	ctx, cancel := context.WithTimeout(h.ctx, h.cfg.RequestTimeout)
	defer cancel()
	if typ == "auth" {
		c.handleAuth(ctx, msg)
		return
	}
	c.lastActive.Store(time.Now().UnixNano())

	if h.cfg.Hooks != nil {
		meta := &hooks.Meta{Event: "websocket.message", Extra: map[string]any{"client": hooks.WebSocketClient(c)}}
		out, err := h.cfg.Hooks.Filter(ctx, "websocket.message", msg, meta, h.eventContext(ctx, c.Accountability()))
		if err != nil {
			c.sendError("server", err, msg["uid"])
			return
		}
		if msg, err = asMessage(out); err != nil {
			c.sendError("server", err, nil)
			return
		}
		typ, _ = msg["type"].(string)
		h.action(ctx, "websocket.message", c, map[string]any{"message": msg})
	}

	switch typ {
	case "ping":
		if h.cfg.Websockets.HeartbeatEnabled {
			_ = c.enqueue(frame(map[string]any{"type": "pong"}, msg["uid"]))
		}
	case "pong":
		// Counted as activity above; nothing to answer.
	case "subscribe":
		c.handleSubscribe(ctx, msg)
	case "unsubscribe":
		c.handleUnsubscribe(msg)
	case "items":
		c.handleItems(ctx, msg)
	}
}

// asMessage accepts what a websocket.message filter returned: the map, or
// anything that encodes as a JSON object.
func asMessage(v any) (map[string]any, error) {
	if m, ok := v.(map[string]any); ok {
		return m, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, hooks.InvalidPayload("The websocket.message filter returned a value that is not JSON")
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil || m == nil {
		return nil, hooks.InvalidPayload("The websocket.message filter must return a message object")
	}
	return m, nil
}

// authResult is a successful authentication.
type authResult struct {
	acc          *hooks.Accountability
	expiresAt    *time.Time
	refreshToken string
}

var errAuthFailed = hooks.NewError("AUTH_FAILED", http.StatusUnauthorized, "Authentication failed.")

// authenticate resolves an auth message. The websocket.authenticate filter
// runs first with the default (public) accountability; an accountability it
// returns that differs from the default is used as is.
func (h *Hub) authenticate(ctx context.Context, msg map[string]any, info ClientInfo) (*authResult, error) {
	def := publicAccountability(info)
	if h.cfg.Hooks != nil {
		meta := &hooks.Meta{Event: "websocket.authenticate", Extra: map[string]any{"message": msg}}
		out, err := h.cfg.Hooks.Filter(ctx, "websocket.authenticate", def, meta, h.eventContext(ctx, nil))
		if err != nil {
			return nil, err
		}
		switch a := out.(type) {
		case *hooks.Accountability:
			if a != nil && !reflect.DeepEqual(*a, *publicAccountability(info)) {
				return &authResult{acc: a}, nil
			}
		case hooks.Accountability:
			if !reflect.DeepEqual(a, *publicAccountability(info)) {
				return &authResult{acc: &a}, nil
			}
		}
	}
	withInfo := func(acc *hooks.Accountability) *hooks.Accountability {
		if acc == nil {
			return nil
		}
		a := *acc
		a.IP, a.UserAgent, a.Origin = info.IP, info.UserAgent, info.Origin
		return &a
	}
	str := func(k string) string { s, _ := msg[k].(string); return s }
	switch {
	case str("access_token") != "":
		acc, exp, err := h.cfg.Auth.AuthenticateToken(ctx, str("access_token"))
		if err != nil {
			return nil, err
		}
		if acc == nil {
			return nil, errors.New("token resolved to no accountability")
		}
		return &authResult{acc: withInfo(acc), expiresAt: exp}, nil
	case str("email") != "" && str("password") != "":
		s, err := h.cfg.Auth.Login(ctx, str("email"), str("password"), &info)
		if err != nil {
			return nil, err
		}
		return &authResult{acc: withInfo(s.Accountability), expiresAt: s.ExpiresAt, refreshToken: s.RefreshToken}, nil
	case str("refresh_token") != "":
		s, err := h.cfg.Auth.Refresh(ctx, str("refresh_token"))
		if err != nil {
			return nil, err
		}
		return &authResult{acc: withInfo(s.Accountability), expiresAt: s.ExpiresAt, refreshToken: s.RefreshToken}, nil
	}
	return nil, hooks.InvalidPayload("An auth message needs access_token, email and password, or refresh_token")
}

// handleAuth processes an auth message of an established client. Failure
// resets the client to public and closes it unless the mode is public.
func (c *client) handleAuth(ctx context.Context, msg map[string]any) {
	h := c.hub
	res, err := h.authenticate(ctx, msg, c.info)
	if err != nil || res.acc == nil {
		h.logger.DebugContext(ctx, "realtime authentication failed", "client", c.uid, "error", err)
		c.setPublic()
		_ = c.enqueue(errorFrame("auth", errAuthFailed, msg["uid"]))
		h.action(ctx, "websocket.auth.failure", c, nil)
		if h.cfg.Websockets.RESTAuth != modePublic {
			c.closeWith(websocket.ClosePolicyViolation, "authentication failed", true)
		}
		return
	}
	c.setAuth(res.acc, res.expiresAt)
	_ = c.enqueue(authOK(msg["uid"], res.refreshToken))
	h.action(ctx, "websocket.auth.success", c, nil)
}
