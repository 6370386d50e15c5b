// Package realtime is hookd's realtime WebSocket server: the Directus
// REST-style protocol (auth, ping/pong, subscribe, unsubscribe, items CRUD
// over the socket), the websocket.* hook events, the WebSocketService, and
// the fan-out of data events and broadcasts to every instance.
//
// Fan-out never puts a NOTIFY inside a user transaction (NOTIFY serialises
// commits cluster-wide). Writers call Hub.Wake after commit; it sends one
// coalesced NOTIFY on store.ChannelEvents. Every instance LISTENs on a
// dedicated connection outside the pool and, woken or not (it also polls),
// reads the event log by cursor with store.EventsAfter, so a dropped LISTEN
// connection or a missed notification loses nothing.
//
// Every event is matched in memory against each subscription's filter and
// the subscriber's read rule, using the event's row images: a subscriber sees
// only rows and fields its permissions allow, and deletes are checked against
// the old row, so keys of rows it could not read never arrive. When a rule
// cannot be evaluated in memory, one read per (role, query) serves every
// subscriber that needs it.
//
// The package defines the small interfaces it needs (Authenticator,
// ItemsFunc, PermissionFunc, SchemaFunc, ParseQueryFunc, CompileFilterFunc,
// HookRunner); internal/app wires the real implementations.
package realtime

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hookd/hookd/hooks"
	"github.com/hookd/hookd/internal/config"
	"github.com/hookd/hookd/internal/store"
)

// Authenticator resolves the credentials a client presents, at the upgrade
// (?access_token=, session cookie) or in an `auth` message.
type Authenticator interface {
	// AuthenticateToken checks an access token (JWT or static token) and
	// returns who it is and when it expires (nil: never).
	AuthenticateToken(ctx context.Context, token string) (*hooks.Accountability, *time.Time, error)
	// Login checks an email and password with the default provider and opens
	// a session.
	Login(ctx context.Context, email, password string, info *ClientInfo) (*Session, error)
	// Refresh rotates a refresh token into a new session.
	Refresh(ctx context.Context, refreshToken string) (*Session, error)
}

// ClientInfo describes the connection a credential arrives on.
type ClientInfo struct {
	IP        string
	UserAgent string
	Origin    string
}

// Session is the result of a login or a refresh.
type Session struct {
	Accountability *hooks.Accountability
	AccessToken    string
	RefreshToken   string
	// ExpiresAt is the access token's expiry; nil = never.
	ExpiresAt *time.Time
}

// ItemsFunc returns the items service for collection acting as acc
// (permissions and hooks apply).
type ItemsFunc func(ctx context.Context, collection string, acc *hooks.Accountability) (hooks.ItemsService, error)

// PermissionFunc returns acc's permission for action on collection. A nil
// permission, or an error whose hooks code is FORBIDDEN, means none.
type PermissionFunc func(ctx context.Context, acc *hooks.Accountability, collection, action string) (*hooks.Permission, error)

// SchemaFunc returns the schema snapshot in force.
type SchemaFunc func(ctx context.Context) (*hooks.Schema, error)

// ParseQueryFunc turns a query in object form ({"fields":["a"],"limit":10})
// or in the string form the SDK sends ({"fields":"a,b","filter":"{…}"}) into
// a Query. A bad query should be a hooks INVALID_QUERY error.
type ParseQueryFunc func(raw map[string]any) (*hooks.Query, error)

// FilterVars are the dynamic values a filter may reference ($CURRENT_USER,
// $CURRENT_ROLE, $NOW).
type FilterVars struct {
	User string
	Role string
	// Now fixes $NOW; zero means the time of each evaluation.
	Now time.Time
}

// CompileFilterFunc compiles a Directus filter into a predicate on a row
// image. It returns an error wrapping ErrNotInMemory when the filter needs
// the database (relational paths, …); any other error means the filter is
// invalid.
type CompileFilterFunc func(c *hooks.Collection, filter map[string]any, vars *FilterVars) (func(hooks.Item) bool, error)

// ErrNotInMemory marks a filter or field list that can only be evaluated by
// reading the database.
var ErrNotInMemory = errors.New("not evaluable in memory")

// HookRunner runs the websocket.* hook events (the hook bus).
type HookRunner interface {
	// Filter runs the filters registered for event in order and returns the
	// payload they leave; an error cancels.
	Filter(ctx context.Context, event string, payload any, meta *hooks.Meta, ec *hooks.EventContext) (any, error)
	// Action runs the actions registered for event without waiting for them.
	Action(ctx context.Context, event string, meta *hooks.Meta, ec *hooks.EventContext)
}

// Config configures New.
type Config struct {
	// Websockets holds the WEBSOCKETS_* and RATE_LIMITER_WEBSOCKETS_*
	// settings. Zero durations and sizes get Directus's defaults (auth
	// timeout 10s, heartbeat period 30s, max message 1 MiB); RESTAuth ""
	// means handshake.
	Websockets config.Websockets
	// SessionCookieName is the session cookie accepted at the upgrade.
	// Default directus_session_token.
	SessionCookieName string
	// Logger. Required.
	Logger *slog.Logger
	// Pool is the instance's pool: event and broadcast reads, wake-ups. Its
	// connection settings also open the dedicated LISTEN connection.
	// Required.
	Pool *pgxpool.Pool
	// InstanceID names this instance; the LISTEN connection's
	// application_name is "hookd-realtime-<InstanceID>". Default "local".
	InstanceID string
	// Auth, Items, Permission, Schema, ParseQuery and CompileFilter are
	// required.
	Auth          Authenticator
	Items         ItemsFunc
	Permission    PermissionFunc
	Schema        SchemaFunc
	ParseQuery    ParseQueryFunc
	CompileFilter CompileFilterFunc
	// Hooks runs websocket.* hooks. Optional: nil = no hooks.
	Hooks HookRunner
	// PublicError maps an error to what a client may see. Default: the
	// error's *hooks.Error, or INTERNAL_SERVER_ERROR.
	PublicError func(error) *hooks.Error
	// PollInterval is how often the event log and broadcasts are read
	// without a notification. Default 1s.
	PollInterval time.Duration
	// DispatchInterval is the widest spacing of the reads of the log while
	// events stream in to many sockets: they are then delivered in batches
	// (one write per socket per batch). The spacing starts at 5ms and
	// doubles while the stream lasts, up to DispatchPerSocket times the
	// sockets the last read wrote to, and at most DispatchInterval. An
	// isolated event is never delayed. Default 100ms.
	DispatchInterval time.Duration
	// DispatchPerSocket sizes the spacing of a stream's reads by the
	// sockets they reach: a stream costs an instance at most one socket
	// write per DispatchPerSocket (below DispatchInterval's cap). Default
	// 80µs: a stream to 100 sockets is read every 8ms, to 1,000 every 80ms.
	DispatchPerSocket time.Duration
	// SendQueueSize and SendQueueBytes bound each client's outgoing queue
	// in frames and bytes; a client whose queue is full is disconnected.
	// Defaults 4096 frames, 16 MiB. An idle client's queue holds nothing.
	SendQueueSize  int
	SendQueueBytes int64
	// BroadcastRetention is how long broadcast rows are kept. Default 10m.
	BroadcastRetention time.Duration
	// WriteTimeout bounds one frame write. Default 10s.
	WriteTimeout time.Duration
	// RequestTimeout bounds the work for one client message (reads, items
	// calls). Default 30s.
	RequestTimeout time.Duration
}

const (
	modePublic    = "public"
	modeHandshake = "handshake"
	modeStrict    = "strict"
)

func (c *Config) withDefaults() *Config {
	out := *c
	ws := &out.Websockets
	ws.RESTAuth = strings.ToLower(cmp.Or(ws.RESTAuth, modeHandshake))
	ws.RESTPath = cmp.Or(ws.RESTPath, "/websocket")
	ws.RESTAuthTimeout = cmp.Or(ws.RESTAuthTimeout, 10*time.Second)
	ws.HeartbeatPeriod = cmp.Or(ws.HeartbeatPeriod, 30*time.Second)
	ws.MaxMessageSize = cmp.Or(ws.MaxMessageSize, 1<<20)
	ws.RateLimitPoints = cmp.Or(ws.RateLimitPoints, 50)
	ws.RateLimitDuration = cmp.Or(ws.RateLimitDuration, time.Second)
	out.SessionCookieName = cmp.Or(out.SessionCookieName, "directus_session_token")
	out.InstanceID = cmp.Or(out.InstanceID, "local")
	out.PollInterval = cmp.Or(out.PollInterval, time.Second)
	out.DispatchInterval = cmp.Or(out.DispatchInterval, 100*time.Millisecond)
	out.DispatchPerSocket = cmp.Or(out.DispatchPerSocket, 80*time.Microsecond)
	out.SendQueueSize = cmp.Or(out.SendQueueSize, 4096)
	out.SendQueueBytes = cmp.Or(out.SendQueueBytes, 16<<20)
	out.BroadcastRetention = cmp.Or(out.BroadcastRetention, 10*time.Minute)
	out.WriteTimeout = cmp.Or(out.WriteTimeout, 10*time.Second)
	out.RequestTimeout = cmp.Or(out.RequestTimeout, 30*time.Second)
	if out.PublicError == nil {
		out.PublicError = defaultPublicError
	}
	return &out
}

func (c *Config) validate() error {
	switch {
	case c.Logger == nil:
		return errors.New("realtime: Config.Logger is required")
	case c.Pool == nil:
		return errors.New("realtime: Config.Pool is required")
	case c.Auth == nil:
		return errors.New("realtime: Config.Auth is required")
	case c.Items == nil:
		return errors.New("realtime: Config.Items is required")
	case c.Permission == nil:
		return errors.New("realtime: Config.Permission is required")
	case c.Schema == nil:
		return errors.New("realtime: Config.Schema is required")
	case c.ParseQuery == nil:
		return errors.New("realtime: Config.ParseQuery is required")
	case c.CompileFilter == nil:
		return errors.New("realtime: Config.CompileFilter is required")
	}
	switch c.Websockets.RESTAuth {
	case modePublic, modeHandshake, modeStrict:
	default:
		return fmt.Errorf("realtime: Config.Websockets.RESTAuth %q must be public, handshake or strict", c.Websockets.RESTAuth)
	}
	if c.Websockets.RESTConnLimit < 0 {
		return errors.New("realtime: Config.Websockets.RESTConnLimit must not be negative")
	}
	if c.DispatchInterval < 0 || c.DispatchPerSocket < 0 {
		return errors.New("realtime: Config.DispatchInterval and Config.DispatchPerSocket must not be negative")
	}
	return nil
}

func defaultPublicError(err error) *hooks.Error {
	if he, ok := hooks.AsError(err); ok {
		return he
	}
	return hooks.InternalError(err)
}

// Hub is one instance's realtime server: an http.Handler for the WebSocket
// endpoint and the hooks.WebSocketService.
type Hub struct {
	cfg      *Config
	logger   *slog.Logger
	upgrader websocket.Upgrader

	mu      sync.RWMutex
	clients map[*client]struct{} // established clients
	subs    map[string]map[*subscription]struct{}
	// subsGen counts the changes that regroup subscribers (see
	// subscriberGroups): a subscription added or removed, a client's
	// accountability replaced.
	subsGen atomic.Uint64

	wakeCh chan struct{} // coalesced requests to NOTIFY other instances
	kickCh chan struct{} // coalesced requests to read now; the flags say what
	// eventsDirty and broadcastsDirty say what a kick asks to read.
	eventsDirty, broadcastsDirty atomic.Bool
	// notifyID tells this hub's wake-ups from other instances' (unique even
	// if two instances share an InstanceID).
	notifyID string

	// ctx is cancelled by Stop; it bounds all background work.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	startOnce sync.Once
	stopOnce  sync.Once

	// Owned by the follow goroutine.
	eventCursor     store.EventCursor
	broadcastCursor store.BroadcastCursor
	lastFanout      int    // frames the last read produced
	lastSockets     int    // socket writes the last read made (one per socket per page)
	lastEvents      int    // events the last read took
	page            uint64 // numbers dispatched pages (see dispatcher.flush)
	// Scratch space of dispatch, kept between pages: a page to a thousand
	// sockets would otherwise leave a quarter of a megabyte of garbage.
	shares     []share
	classIndex map[classKey]*class
	// groups are each collection's subscribers, grouped, as of subsGen.
	groups map[string]*subscriberGroups
}

var _ hooks.WebSocketService = (*Hub)(nil)

// New builds a Hub. It starts nothing; call Start.
func New(cfg *Config) (*Hub, error) {
	c := cfg.withDefaults()
	if err := c.validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &Hub{
		cfg:     c,
		logger:  c.Logger.With(slog.String("component", "realtime")),
		clients: map[*client]struct{}{},
		subs:    map[string]map[*subscription]struct{}{},
		wakeCh:  make(chan struct{}, 1),
		kickCh:  make(chan struct{}, 1),
		ctx:     ctx,
		cancel:  cancel,
	}
	h.notifyID = c.InstanceID + "/" + uuid.NewString()
	h.upgrader = websocket.Upgrader{
		// Zero buffer sizes reuse the HTTP server's buffers, and the pool
		// shares write buffers between idle sockets: an idle socket holds
		// no write buffer at all.
		WriteBufferPool: &sync.Pool{},
		CheckOrigin:     h.checkOrigin,
		Error: func(w http.ResponseWriter, _ *http.Request, status int, reason error) {
			writeHTTPError(w, status, hooks.InvalidPayload(reason.Error()))
		},
	}
	return h, nil
}

// Start sets the read positions to "now", opens the LISTEN connection and
// starts the readers, the waker and the heartbeat. Clients connected before
// Start are served, but receive events only from then on.
func (h *Hub) Start(ctx context.Context) error {
	var err error
	h.startOnce.Do(func() {
		var cur store.EventCursor
		cur, err = store.EventsHorizon(ctx, h.cfg.Pool)
		if err != nil {
			err = fmt.Errorf("starting realtime: %w", err)
			return
		}
		h.eventCursor = cur
		h.broadcastCursor = store.BroadcastCursor{TxID: cur.TxID}
		h.wg.Add(4)
		go h.listen()
		go h.follow()
		go h.notifyLoop()
		go h.heartbeat()
	})
	return err
}

// Stop closes every socket (close code 1001, going away) and stops the
// background work. Safe to call more than once and without Start.
func (h *Hub) Stop() {
	h.stopOnce.Do(func() {
		h.cancel()
		h.mu.RLock()
		clients := make([]*client, 0, len(h.clients))
		for c := range h.clients {
			clients = append(clients, c)
		}
		h.mu.RUnlock()
		for _, c := range clients {
			c.closeWith(websocket.CloseGoingAway, "server shutting down", true)
		}
		h.wg.Wait()
	})
}

// InstanceID names this instance (see ListenerApplicationName).
func (h *Hub) InstanceID() string { return h.cfg.InstanceID }

// Path is the endpoint the hub serves (WEBSOCKETS_REST_PATH).
func (h *Hub) Path() string { return h.cfg.Websockets.RESTPath }

// Wake tells every instance that new events were committed. Call it after
// the commit of any transaction that appended events; calls made while a
// notification is in flight are coalesced into one. It never blocks.
func (h *Hub) Wake() {
	select {
	case h.wakeCh <- struct{}{}:
	default:
	}
	// This instance need not wait for its own notification.
	h.kick(true, false)
}

// kick asks the reader to read the event log and/or the broadcasts now.
func (h *Hub) kick(events, broadcasts bool) {
	if events {
		h.eventsDirty.Store(true)
	}
	if broadcasts {
		h.broadcastsDirty.Store(true)
	}
	select {
	case h.kickCh <- struct{}{}:
	default:
	}
}

// Clients are the established clients of this instance (sockets still in
// the handshake are not clients yet).
func (h *Hub) Clients() []hooks.WebSocketClient {
	h.mu.RLock()
	defer h.mu.RUnlock()
	out := make([]hooks.WebSocketClient, 0, len(h.clients))
	for c := range h.clients {
		out = append(out, c)
	}
	return out
}

// Broadcast sends message to every matching client on every instance: a
// string or []byte as is, anything else JSON-encoded. A nil filter reaches
// everyone, unauthenticated public clients included. The message travels
// through the hookd_broadcast table, so its size is bounded only by
// WEBSOCKETS_MAX_MESSAGE_SIZE-independent database limits (1 GB).
func (h *Hub) Broadcast(ctx context.Context, message any, filter *hooks.BroadcastFilter) error {
	b, err := encodeMessage(message)
	if err != nil {
		return fmt.Errorf("broadcast: %w", err)
	}
	p := &store.BroadcastInsertParams{Message: b}
	if filter != nil {
		p.TargetUser, p.TargetRole = filter.User, filter.Role
	}
	if _, err := store.BroadcastInsert(ctx, h.cfg.Pool, p); err != nil {
		return fmt.Errorf("broadcast: %w", err)
	}
	h.kick(false, true)
	return nil
}

func (h *Hub) register(c *client) {
	h.mu.Lock()
	h.clients[c] = struct{}{}
	h.mu.Unlock()
}

func (h *Hub) unregister(c *client) {
	h.mu.Lock()
	delete(h.clients, c)
	for _, s := range c.subscriptionsLocked() {
		h.removeSubLocked(s)
	}
	h.mu.Unlock()
}

func (h *Hub) addSub(s *subscription) {
	h.mu.Lock()
	set := h.subs[s.collection]
	if set == nil {
		set = map[*subscription]struct{}{}
		h.subs[s.collection] = set
	}
	set[s] = struct{}{}
	h.subsGen.Add(1)
	h.mu.Unlock()
}

func (h *Hub) removeSub(s *subscription) {
	h.mu.Lock()
	h.removeSubLocked(s)
	h.mu.Unlock()
}

func (h *Hub) removeSubLocked(s *subscription) {
	if set := h.subs[s.collection]; set != nil {
		delete(set, s)
		h.subsGen.Add(1)
		if len(set) == 0 {
			delete(h.subs, s.collection)
		}
	}
}

func (h *Hub) subscriptionsFor(collection string) []*subscription {
	h.mu.RLock()
	defer h.mu.RUnlock()
	set := h.subs[collection]
	out := make([]*subscription, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	return out
}

func (h *Hub) clientCount() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.clients)
}

// eventContext is the context websocket hooks receive.
func (h *Hub) eventContext(ctx context.Context, acc *hooks.Accountability) *hooks.EventContext {
	ec := &hooks.EventContext{Database: h.cfg.Pool, Accountability: acc}
	if s, err := h.cfg.Schema(ctx); err == nil {
		ec.Schema = s
	}
	return ec
}

func (h *Hub) action(ctx context.Context, event string, c *client, extra map[string]any) {
	if h.cfg.Hooks == nil {
		return
	}
	meta := &hooks.Meta{Event: event, Extra: map[string]any{"client": hooks.WebSocketClient(c)}}
	for k, v := range extra {
		meta.Extra[k] = v
	}
	h.cfg.Hooks.Action(ctx, event, meta, h.eventContext(ctx, c.Accountability()))
}
