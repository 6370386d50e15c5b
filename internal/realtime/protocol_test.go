package realtime_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/hooks"
	"github.com/hookd/hookd/internal/config"
	"github.com/hookd/hookd/internal/realtime"
)

func TestHandshakeAuthThenPing(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	c := dial(t, e.url)
	c.send(map[string]any{"type": "auth", "access_token": "admin-token", "uid": "a1"})
	require.Equal(t, map[string]any{"type": "auth", "status": "ok", "uid": "a1"}, c.next())
	c.send(map[string]any{"type": "ping", "uid": 7})
	require.Equal(t, map[string]any{"type": "pong", "uid": float64(7)}, c.next())
	c.send(map[string]any{"type": "ping"})
	require.Equal(t, map[string]any{"type": "pong"}, c.next())
	require.Len(t, e.hub.Clients(), 1)
	require.Equal(t, "u-admin", e.hub.Clients()[0].Accountability().User)
}

func TestHandshakeFailures(t *testing.T) {
	t.Parallel()
	e := setup(t, &envOpts{ws: func(ws *config.Websockets) { ws.RESTAuthTimeout = time.Second }})
	handshakeFailed := map[string]any{"type": "auth", "status": "error",
		"error": map[string]any{"code": "AUTH_FAILED", "message": "Authentication handshake failed."}}

	t.Run("first message is not auth", func(t *testing.T) {
		c := dial(t, e.url)
		c.send(map[string]any{"type": "ping"})
		require.Equal(t, handshakeFailed, c.next())
		require.NotNil(t, c.closed(5*time.Second))
	})
	t.Run("bad token", func(t *testing.T) {
		c := dial(t, e.url)
		c.send(map[string]any{"type": "auth", "access_token": "nope"})
		require.Equal(t, handshakeFailed, c.next())
		c.closed(5 * time.Second)
	})
	t.Run("nothing within the timeout", func(t *testing.T) {
		c := dial(t, e.url)
		start := time.Now()
		require.Equal(t, handshakeFailed, c.next())
		require.GreaterOrEqual(t, time.Since(start), 900*time.Millisecond)
		c.closed(5 * time.Second)
	})
	t.Run("not JSON", func(t *testing.T) {
		c := dial(t, e.url)
		c.sendRaw([]byte("{nope"))
		require.Equal(t, handshakeFailed, c.next())
		c.closed(5 * time.Second)
	})
	require.Empty(t, e.hub.Clients())
	// A handshake is not a client: no websocket.connect, no auth.failure.
	require.NotContains(t, e.hooks.firedEvents(), "websocket.connect")
	require.NotContains(t, e.hooks.firedEvents(), "websocket.auth.failure")
}

func TestUpgradeTokenAndModes(t *testing.T) {
	t.Parallel()
	strict := setup(t, &envOpts{ws: func(ws *config.Websockets) { ws.RESTAuth = "strict" }})
	require.Equal(t, http.StatusUnauthorized, dialStatus(t, strict.url, nil))
	require.Equal(t, http.StatusUnauthorized, dialStatus(t, strict.url+"?access_token=bad", nil))
	c := dial(t, strict.url+"?access_token=editor-token")
	c.send(map[string]any{"type": "ping"})
	require.Equal(t, "pong", c.next()["type"])
	require.Eventually(t, func() bool { return len(strict.hub.Clients()) == 1 }, 5*time.Second, 10*time.Millisecond)
	require.Equal(t, "u-editor", strict.hub.Clients()[0].Accountability().User)

	// The session cookie authenticates too.
	hdr := http.Header{"Cookie": []string{"directus_session_token=admin-token"}}
	require.Equal(t, http.StatusSwitchingProtocols, dialStatus(t, strict.url, hdr))
	hdr = http.Header{"Cookie": []string{"directus_session_token=bad"}}
	require.Equal(t, http.StatusUnauthorized, dialStatus(t, strict.url, hdr))

	// In handshake mode a token at the upgrade skips the handshake, and a bad
	// one is refused before it.
	hs := setup(t, nil)
	require.Equal(t, http.StatusUnauthorized, dialStatus(t, hs.url+"?access_token=bad", nil))
	c = dial(t, hs.url+"?access_token=admin-token")
	c.send(map[string]any{"type": "ping"})
	require.Equal(t, "pong", c.next()["type"])

	// Public: usable at once, as the public role.
	pub := setup(t, &envOpts{ws: func(ws *config.Websockets) { ws.RESTAuth = "public" }})
	c = dial(t, pub.url)
	c.send(map[string]any{"type": "ping"})
	require.Equal(t, "pong", c.next()["type"])
	require.Equal(t, "", pub.hub.Clients()[0].Accountability().User)
}

func TestConnectionLimit(t *testing.T) {
	t.Parallel()
	e := setup(t, &envOpts{ws: func(ws *config.Websockets) { ws.RESTAuth = "public"; ws.RESTConnLimit = 2 }})
	dial(t, e.url)
	c2 := dial(t, e.url)
	require.Eventually(t, func() bool { return len(e.hub.Clients()) == 2 }, 5*time.Second, 10*time.Millisecond)
	require.Equal(t, http.StatusForbidden, dialStatus(t, e.url, nil))
	c2.conn.Close()
	require.Eventually(t, func() bool { return dialStatus(t, e.url, nil) == http.StatusSwitchingProtocols },
		5*time.Second, 20*time.Millisecond)
}

func TestAuthMessages(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)

	t.Run("email and password, then refresh token", func(t *testing.T) {
		c := dial(t, e.url)
		c.send(map[string]any{"type": "auth", "email": "admin@example.com", "password": "secret", "uid": 1})
		ok := c.next()
		require.Equal(t, "ok", ok["status"])
		require.Equal(t, float64(1), ok["uid"])
		refresh, _ := ok["refresh_token"].(string)
		require.NotEmpty(t, refresh)

		c.send(map[string]any{"type": "auth", "refresh_token": refresh})
		ok = c.next()
		require.Equal(t, "ok", ok["status"])
		rotated, _ := ok["refresh_token"].(string)
		require.NotEmpty(t, rotated)
		require.NotEqual(t, refresh, rotated)

		// An access token re-auth answers without a refresh token.
		c.send(map[string]any{"type": "auth", "access_token": "editor-token"})
		require.Equal(t, map[string]any{"type": "auth", "status": "ok"}, c.next())
		require.Eventually(t, func() bool {
			for _, cl := range e.hub.Clients() {
				if cl.Accountability().User == "u-editor" {
					return true
				}
			}
			return false
		}, 5*time.Second, 10*time.Millisecond)
	})

	t.Run("failure after the handshake closes the socket", func(t *testing.T) {
		c := dialAuthed(t, e, "admin-token")
		c.send(map[string]any{"type": "auth", "refresh_token": "used-or-unknown", "uid": "x"})
		require.Equal(t, map[string]any{"type": "auth", "status": "error", "uid": "x",
			"error": map[string]any{"code": "AUTH_FAILED", "message": "Authentication failed."}}, c.next())
		c.closed(5 * time.Second)
		require.Eventually(t, func() bool { return contains(e.hooks.firedEvents(), "websocket.auth.failure") },
			5*time.Second, 10*time.Millisecond)
	})

	t.Run("failure in public mode keeps the socket, as public", func(t *testing.T) {
		pub := setup(t, &envOpts{ws: func(ws *config.Websockets) { ws.RESTAuth = "public" }})
		c := dial(t, pub.url)
		c.send(map[string]any{"type": "auth", "access_token": "admin-token"})
		require.Equal(t, "ok", c.next()["status"])
		c.send(map[string]any{"type": "auth", "email": "admin@example.com", "password": "wrong"})
		require.Equal(t, "AUTH_FAILED", errorCode(c.next()))
		c.send(map[string]any{"type": "ping"})
		require.Equal(t, "pong", c.next()["type"])
		require.Equal(t, "", pub.hub.Clients()[0].Accountability().User)
	})
}

func TestTokenExpiry(t *testing.T) {
	t.Parallel()
	e := setup(t, &envOpts{ws: func(ws *config.Websockets) { ws.RESTAuthTimeout = time.Second }})
	shortToken := func(name string) string {
		// Long enough for the dial and the auth to finish first under a
		// loaded CI machine, short enough to keep the test quick.
		soon := time.Now().Add(1500 * time.Millisecond)
		e.auth.addToken(name, hooks.Accountability{User: "u-short", Role: "r-editor"}, &soon)
		return name
	}
	expired := map[string]any{"type": "auth", "status": "error",
		"error": map[string]any{"code": "TOKEN_EXPIRED", "message": "Token expired."}}

	t.Run("re-authenticating in time keeps the socket", func(t *testing.T) {
		c := dialAuthed(t, e, shortToken("short-1"))
		require.Equal(t, expired, c.next())
		c.send(map[string]any{"type": "auth", "access_token": "editor-token"})
		require.Equal(t, "ok", c.next()["status"])
		c.quiet(1500 * time.Millisecond) // past the re-auth window: no AUTH_TIMEOUT
		c.send(map[string]any{"type": "ping"})
		require.Equal(t, "pong", c.next()["type"])
	})
	t.Run("no re-auth: AUTH_TIMEOUT and close", func(t *testing.T) {
		c := dialAuthed(t, e, shortToken("short-2"))
		require.Equal(t, expired, c.next())
		require.Equal(t, map[string]any{"type": "auth", "status": "error",
			"error": map[string]any{"code": "AUTH_TIMEOUT", "message": "Authentication timed out."}}, c.next())
		c.closed(5 * time.Second)
	})
}

func TestHeartbeat(t *testing.T) {
	t.Parallel()
	e := setup(t, &envOpts{ws: func(ws *config.Websockets) { ws.HeartbeatPeriod = time.Second }})
	silent := dialAuthed(t, e, "admin-token")
	alive := dialAuthed(t, e, "admin-token")

	// The live client answers every ping and outlasts several periods.
	require.Equal(t, map[string]any{"type": "ping"}, silent.next())
	for i := 0; i < 3; i++ {
		require.Equal(t, map[string]any{"type": "ping"}, alive.next())
		alive.send(map[string]any{"type": "pong"})
		if i == 0 {
			// The silent one sent nothing during a whole period: closed.
			require.NotNil(t, silent.closed(5*time.Second))
		}
	}
	alive.send(map[string]any{"type": "ping", "uid": "still"})
	require.Equal(t, "still", alive.nextOf("pong")["uid"])

	// With the heartbeat off, client pings go unanswered (as Directus).
	off := setup(t, &envOpts{ws: func(ws *config.Websockets) { ws.HeartbeatEnabled = false }})
	c := dialAuthed(t, off, "admin-token")
	c.send(map[string]any{"type": "ping"})
	c.quiet(300 * time.Millisecond)
}

func TestMalformedFramesAndLimits(t *testing.T) {
	t.Parallel()
	e := setup(t, &envOpts{ws: func(ws *config.Websockets) {
		ws.MaxMessageSize = 4096
		ws.RateLimitPoints = 5
		ws.RateLimitDuration = 10 * time.Second
	}})

	c := dialAuthed(t, e, "admin-token")
	c.sendRaw([]byte("not json"))
	require.Equal(t, map[string]any{"type": "server", "status": "error",
		"error": map[string]any{"code": "INVALID_PAYLOAD", "message": "Unable to parse the incoming message."}}, c.next())
	c.send(map[string]any{"uid": "u1", "type": 5})
	m := c.next()
	require.Equal(t, "server", m["type"])
	require.Equal(t, "INVALID_PAYLOAD", errorCode(m))
	require.Equal(t, "u1", m["uid"])
	// Unknown types are ignored: the next answer is the pong.
	c.send(map[string]any{"type": "no-such-type", "uid": "ignored"})
	c.send(map[string]any{"type": "ping", "uid": "p"})
	require.Equal(t, map[string]any{"type": "pong", "uid": "p"}, c.next())
	// That was 5 frames after auth (auth counts too: 6 > 5).
	c.send(map[string]any{"type": "ping"})
	m = c.next()
	require.Equal(t, "REQUESTS_EXCEEDED", errorCode(m))
	require.Regexp(t, `^Too many messages, retry after \d+ms\.$`, errorMessage(m))

	// An oversized frame closes the socket with 1009; others are unharmed.
	other := dialAuthed(t, e, "admin-token")
	big := dialAuthed(t, e, "admin-token")
	big.sendRaw([]byte(`{"type":"ping","pad":"` + strings.Repeat("x", 5000) + `"}`))
	ce := big.closed(5 * time.Second)
	require.NotNil(t, ce)
	require.Equal(t, websocket.CloseMessageTooBig, ce.Code)
	require.Eventually(t, func() bool { return contains(e.hooks.firedEvents(), "websocket.error") },
		5*time.Second, 10*time.Millisecond, "an oversized frame is a websocket.error")
	other.send(map[string]any{"type": "ping"})
	require.Equal(t, "pong", other.next()["type"])
}

func TestNonUpgradeRequest(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	resp, err := http.Get(e.srv.URL + "/websocket")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
}

func TestSlowClientIsDisconnected(t *testing.T) {
	t.Parallel()
	e := setup(t, &envOpts{config: func(c *realtime.Config) { c.SendQueueSize = 4 }})
	// This one never reads: the server's writes block once the socket
	// buffers are full.
	slow, _, err := websocket.DefaultDialer.Dial(e.url+"?access_token=editor-token", nil)
	require.NoError(t, err)
	defer slow.Close()
	fast := dialAuthed(t, e, "admin-token")
	require.Eventually(t, func() bool { return len(e.hub.Clients()) == 2 }, 5*time.Second, 10*time.Millisecond)
	var slowClient hooks.WebSocketClient
	for _, cl := range e.hub.Clients() {
		if cl.Accountability().User == "u-editor" {
			slowClient = cl
		}
	}
	// Sending must overflow (and drop) the slow client without ever
	// blocking the sender.
	payload := strings.Repeat("x", 64<<10)
	start := time.Now()
	overflowed := false
	for i := 0; i < 10000 && !overflowed; i++ {
		overflowed = errors.Is(slowClient.Send(payload), realtime.ErrClientGone)
	}
	require.True(t, overflowed, "a client that never reads must overflow its queue")
	require.Less(t, time.Since(start), 5*time.Second, "Send never waits for the socket")
	require.Eventually(t, func() bool { return len(e.hub.Clients()) == 1 }, 10*time.Second, 10*time.Millisecond)
	// The other client is unaffected.
	fast.send(map[string]any{"type": "ping", "uid": "ok"})
	require.Equal(t, map[string]any{"type": "pong", "uid": "ok"}, fast.next())
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
