// Package app is hookd's composition root: it wires configuration, the
// database pool, migrations, the River client and the HTTP server together
// and owns their lifecycle. Nothing imports it but cmd/hookd and tests.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"riverqueue.com/riverui"

	"github.com/hookd/hookd/db"
	"github.com/hookd/hookd/hooks"
	"github.com/hookd/hookd/internal/api"
	"github.com/hookd/hookd/internal/auth"
	"github.com/hookd/hookd/internal/config"
	"github.com/hookd/hookd/internal/event"
	"github.com/hookd/hookd/internal/item"
	"github.com/hookd/hookd/internal/jobs"
	"github.com/hookd/hookd/internal/realtime"
	"github.com/hookd/hookd/internal/schema"
	"github.com/hookd/hookd/internal/store"
)

// Config configures New.
type Config struct {
	// Config is the environment configuration. Required; DatabaseURL must be
	// set.
	Config *config.Config
	// Logger is the process logger. Required.
	Logger *slog.Logger
	// InstanceID names this instance in River (leader election, job
	// attempts). Default: hostname-pid.
	InstanceID string
	// Extensions are the compiled-in hook extensions (cmd/hookd's list);
	// config EXTENSIONS enables a subset by id.
	Extensions []hooks.Extension
}

// App is one running hookd instance.
type App struct {
	cfg        *config.Config
	logger     *slog.Logger
	instanceID string
	pool       *pgxpool.Pool
	river      *river.Client[pgx.Tx]
	schema     *schema.Loader
	bus        *event.Bus
	auth       *auth.Service
	items      *item.Service
	realtime   *realtime.Hub
	riverUI    *riverui.Handler
	// stopRiverUI ends the UI's background work (nil until started).
	stopRiverUI context.CancelFunc
	api         *api.Server
	httpServer  *http.Server
	// activeConns holds the connections in http.StateActive: those reading
	// a request or running its handler (RequestsInFlight).
	activeConns      sync.Map // net.Conn → struct{}
	requestsInFlight atomic.Int64
	listener         net.Listener
	serveErr         chan error
	stopOnce         sync.Once
}

// New connects, migrates (unless disabled) and builds every component. It
// starts nothing; call Start.
func New(ctx context.Context, c *Config) (_ *App, err error) {
	if c.Config == nil || c.Logger == nil {
		return nil, errors.New("app: Config and Logger are required")
	}
	cfg := c.Config
	a := &App{cfg: cfg, logger: c.Logger, instanceID: c.InstanceID, serveErr: make(chan error, 1)}
	if a.instanceID == "" {
		host, _ := os.Hostname()
		a.instanceID = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	// Connect first: a wrong URL or an unreachable server is reported as
	// such, not as a migration failure.
	pool, err := store.Open(ctx, &store.PoolConfig{URL: cfg.DatabaseURL, MaxConns: int32(cfg.DBPoolMax)})
	if err != nil {
		return nil, err
	}
	a.pool = pool
	// Whatever fails below, the pool (and with it every component's
	// connections) is released.
	defer func() {
		if err != nil {
			pool.Close()
		}
	}()
	if cfg.AutoMigrate {
		if err := db.MigrateUp(ctx, cfg.DatabaseURL, nil); err != nil {
			return nil, err
		}
	}

	a.schema, err = schema.NewLoader(&schema.Config{Pool: pool, Schema: cfg.DBSchema,
		Logger: c.Logger.With(slog.String("component", "schema"))})
	if err != nil {
		return nil, err
	}

	// Hooks: every extension registers now; init events run as the
	// server is assembled (app.before … app.after, as Directus's app.js).
	a.bus, err = event.NewBus(ctx, &event.BusConfig{Extensions: c.Extensions, Enabled: cfg.Extensions, Pool: pool,
		Logger: c.Logger.With(slog.String("component", "hooks"))})
	if err != nil {
		return nil, err
	}
	// The loader's snapshot is kept fresh on DDL; hooks (and every action
	// run) read it instead of introspecting again.
	a.bus.Services().SetSchema(func(context.Context) (*hooks.Schema, error) { return a.schema.Current(), nil })
	// Users, roles, permissions, tokens; the first admin on first start.
	a.auth, err = auth.NewService(&auth.Config{Pool: pool, Logger: c.Logger.With(slog.String("component", "auth")),
		Secret: cfg.Secret, AccessTokenTTL: cfg.AccessTokenTTL, RefreshTokenTTL: cfg.RefreshTokenTTL,
		LoginRateLimit: cfg.LoginRateLimit, LoginRateWindow: cfg.LoginRateWindow, Hooks: a.bus,
		// Users/roles/permissions events wake realtime readers like item
		// events do (a.realtime is set below, before anything is served).
		Wake: func() { a.eventsCommitted(context.Background(), "", nil) }})
	if err != nil {
		return nil, err
	}
	if err := a.bootstrapAdmin(ctx); err != nil {
		return nil, err
	}
	a.items, err = item.NewService(&item.Config{Pool: pool, Schema: a.schema.Current, DBSchema: cfg.DBSchema,
		Hooks: &itemHooks{Bus: a.bus}, Permissions: a.auth, Logger: c.Logger.With(slog.String("component", "items")),
		Committed:    a.eventsCommitted,
		DefaultLimit: cfg.QueryLimitDefault, MaxLimit: cfg.QueryLimitMax})
	if err != nil {
		return nil, err
	}
	a.bus.Services().SetItems(a.items.Items)
	if a.realtime, err = a.newRealtime(); err != nil {
		return nil, err
	}
	if a.realtime != nil {
		a.bus.Services().SetWebSocket(a.realtime)
	}
	a.bus.Init(ctx, "app.before", hooks.Meta{})
	workers, err := jobs.Workers(&jobs.Config{Bus: a.bus, Logger: c.Logger.With(slog.String("component", "hooks"))})
	if err != nil {
		return nil, err
	}

	a.river, err = river.NewClient(riverpgxv5.New(pool), &river.Config{
		ID:           a.instanceID,
		Logger:       c.Logger.With(slog.String("component", "river")),
		Queues:       jobs.Queues(a.bus, cfg.HookWorkers),
		Workers:      workers,
		PeriodicJobs: jobs.PeriodicJobs(a.bus),
	})
	if err != nil {
		return nil, fmt.Errorf("creating River client: %w", err)
	}

	if a.riverUI, err = a.newRiverUI(); err != nil {
		return nil, err
	}

	authAPI, err := api.NewAuth(&api.AuthConfig{Service: a.auth, Logger: c.Logger,
		RefreshCookieName: cfg.RefreshCookieName, SessionCookieName: cfg.SessionCookieName,
		RefreshTokenTTL: cfg.RefreshTokenTTL, CookieSecure: strings.HasPrefix(cfg.PublicURL, "https://"),
		QueryLimitDefault: cfg.QueryLimitDefault, QueryLimitMax: cfg.QueryLimitMax})
	if err != nil {
		return nil, err
	}

	hookMWBefore, hookMWAfter := a.bus.InitMiddlewares(ctx)
	a.api, err = api.NewServer(&api.Config{
		Logger:       c.Logger,
		MaxBodyBytes: cfg.MaxPayloadSize,
		Health: map[string]api.HealthFunc{
			"database": a.databaseHealth,
			"river":    a.riverHealth,
		},
		// As Directus: middlewares.before hooks, authentication, then
		// middlewares.after hooks (which see the accountability).
		Middlewares: slices.Concat(hookMWBefore, []func(http.Handler) http.Handler{authAPI.Middleware}, hookMWAfter),
		Mount: []func(*api.Server, chi.Router){
			hookRoutes(ctx, a.bus, "routes.before"),
			authAPI.Routes,
			api.ItemsRoutes(a.items),
			a.mountRealtime,
			a.mountRiverUI,
			hookRoutes(ctx, a.bus, "routes.custom.before"),
			hookRoutes(ctx, a.bus, "routes.custom.after"),
			hookRoutes(ctx, a.bus, "routes.after"),
		},
	})
	if err != nil {
		return nil, err
	}
	a.bus.Init(ctx, "app.after", hooks.Meta{})
	a.httpServer = &http.Server{
		Handler:           a.api,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(c.Logger.Handler(), slog.LevelWarn),
		ConnState:         a.trackRequests,
	}
	return a, nil
}

// trackRequests keeps the count of active connections: a connection is
// active from a request's first byte until its handler has answered, then
// idle, hijacked (WebSocket) or closed. A connection that never sent a
// request goes from new to closed and is not counted.
func (a *App) trackRequests(conn net.Conn, state http.ConnState) {
	if state == http.StateActive {
		a.activeConns.Store(conn, struct{}{})
		a.requestsInFlight.Add(1)
		return
	}
	if _, was := a.activeConns.LoadAndDelete(conn); was {
		a.requestsInFlight.Add(-1)
	}
}

// RequestsInFlight is how many HTTP requests the server is reading or
// answering now (WebSocket connections are not requests once upgraded).
// Once it is 0 after a load ends, every write a request made is committed.
func (a *App) RequestsInFlight() int64 { return a.requestsInFlight.Load() }

// Pool is the instance's database pool.
func (a *App) Pool() *pgxpool.Pool { return a.pool }

// Auth is the instance's authentication service (users, roles,
// permissions, tokens; the item service's permission source).
func (a *App) Auth() *auth.Service { return a.auth }

// bootstrapAdmin creates the first admin (ADMIN_EMAIL, ADMIN_PASSWORD) when
// there are no users; a generated password is logged once.
func (a *App) bootstrapAdmin(ctx context.Context) error {
	res, err := a.auth.AdminBootstrap(ctx, a.cfg.AdminEmail, a.cfg.AdminPassword)
	if err != nil {
		return fmt.Errorf("creating the first admin: %w", err)
	}
	switch {
	case res.Created && res.GeneratedPassword != "":
		a.logger.WarnContext(ctx, "created the first admin with a generated password; change it",
			slog.String("email", res.Email), slog.String("password", res.GeneratedPassword))
	case res.Created:
		a.logger.InfoContext(ctx, "created the first admin", slog.String("email", res.Email))
	}
	return nil
}

// Bus is the instance's hook bus (the item service runs filters and
// enqueues actions through it; wire services with Bus().Services()).
func (a *App) Bus() *event.Bus { return a.bus }

// Items is the instance's item service (hooks reach it through
// Bus().Services().Items).
func (a *App) Items() *item.Service { return a.items }

// itemHooks is the bus as the item service's HookRunner plus
// item.HookPresence, so that writes and reads nobody hooks take the short
// path. The bus is immutable once built, so the answers are cached.
type itemHooks struct {
	*event.Bus
	cache sync.Map // "kind|collection|names" → bool
}

func (h *itemHooks) HasHooks(kind string, names []string, collection string) bool {
	key := kind + "|" + collection + "|" + strings.Join(names, ",")
	if v, ok := h.cache.Load(key); ok {
		return v.(bool)
	}
	found := false
	for _, hk := range h.Hooks() {
		if string(hk.Kind) != kind ||
			len(hk.Options.Collections) > 0 && !slices.Contains(hk.Options.Collections, collection) {
			continue
		}
		if slices.ContainsFunc(names, func(n string) bool { return event.Match(hk.Event, n) }) {
			found = true
			break
		}
	}
	h.cache.Store(key, found)
	return found
}

// hookRoutes runs the init hooks of a routes.* event with the router.
func hookRoutes(ctx context.Context, bus *event.Bus, name string) func(*api.Server, chi.Router) {
	mount := bus.MountInit(ctx, name)
	return func(_ *api.Server, r chi.Router) { mount(r) }
}

// Schema keeps the instance's collections snapshot (getSchema()) fresh.
func (a *App) Schema() *schema.Loader { return a.schema }

// River is the instance's River client.
func (a *App) River() *river.Client[pgx.Tx] { return a.river }

// Addr is the address the HTTP server listens on (after Start).
func (a *App) Addr() string {
	if a.listener == nil {
		return ""
	}
	return a.listener.Addr().String()
}

// Start listens and starts the River client. A port already in use fails
// here, before anything runs.
func (a *App) Start(ctx context.Context) error {
	ln, err := net.Listen("tcp", a.cfg.Addr())
	if err != nil {
		return fmt.Errorf("listening on %s: %w", a.cfg.Addr(), err)
	}
	a.listener = ln
	// started undoes, last first, what has started when a later step fails.
	started := []func(){func() { ln.Close() }}
	fail := func(err error) error {
		for i := len(started) - 1; i >= 0; i-- {
			started[i]()
		}
		return err
	}
	// The first snapshot must exist before any request or job needs it.
	if err := a.schema.Start(ctx); err != nil {
		return fail(fmt.Errorf("loading schema: %w", err))
	}
	started = append(started, a.schema.Stop)
	if err := a.auth.Start(ctx); err != nil {
		return fail(fmt.Errorf("starting auth: %w", err))
	}
	started = append(started, a.auth.Stop)
	if a.realtime != nil {
		if err := a.realtime.Start(ctx); err != nil {
			return fail(err)
		}
		started = append(started, a.realtime.Stop)
	}
	// River's work context must outlive the request that started us; Stop
	// ends it.
	if err := a.river.Start(context.WithoutCancel(ctx)); err != nil {
		return fail(fmt.Errorf("starting River: %w", err))
	}
	started = append(started, func() { _ = a.river.Stop(ctx) })
	if err := a.startRiverUI(ctx); err != nil {
		return fail(err)
	}
	go func() {
		err := a.httpServer.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		a.serveErr <- err
	}()
	a.logger.InfoContext(ctx, "hookd listening", slog.String("addr", ln.Addr().String()),
		slog.String("instance", a.instanceID))
	a.bus.Emit(ctx, []string{"server.start"}, hooks.Meta{Extra: map[string]any{
		"server": a.httpServer, "addr": ln.Addr().String(), "instance": a.instanceID}}, hooks.EventContext{})
	return nil
}

// Wait blocks until ctx is done or the HTTP server fails.
func (a *App) Wait(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case err := <-a.serveErr:
		return err
	}
}

// Stop drains HTTP, stops River (cancelling jobs still running after the
// shutdown timeout; River retries them later, so nothing is lost), and closes
// the pool. It is safe to call more than once.
func (a *App) Stop(ctx context.Context) error {
	var errs []error
	a.stopOnce.Do(func() {
		timeout := a.cfg.ShutdownTimeout
		shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
		defer cancel()
		if a.listener != nil {
			a.bus.Emit(shutdownCtx, []string{"server.stop"}, hooks.Meta{Extra: map[string]any{
				"server": a.httpServer, "instance": a.instanceID}}, hooks.EventContext{})
		}
		if a.listener != nil {
			if err := a.httpServer.Shutdown(shutdownCtx); err != nil {
				errs = append(errs, fmt.Errorf("draining HTTP: %w", err))
				_ = a.httpServer.Close()
			}
		}
		if a.stopRiverUI != nil {
			a.stopRiverUI()
		}
		// Sockets are hijacked: Shutdown does not close them; the hub does.
		if a.realtime != nil {
			a.realtime.Stop()
		}
		if err := a.river.Stop(shutdownCtx); err != nil {
			a.logger.Warn("River did not stop in time; cancelling running jobs", slog.Any("error", err))
			hardCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := a.river.StopAndCancel(hardCtx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
				errs = append(errs, fmt.Errorf("stopping River: %w", err))
			}
		}
		// Live actions (server.stop, request.*, …) may still use the pool.
		if err := a.bus.Drain(shutdownCtx); err != nil {
			a.logger.Warn("live action hooks still running at shutdown", slog.Any("error", err))
		}
		a.auth.Stop()
		a.schema.Stop()
		a.pool.Close()
	})
	return errors.Join(errs...)
}

func (a *App) databaseHealth(ctx context.Context) (map[string]any, error) {
	start := time.Now()
	if err := store.Ping(ctx, a.pool); err != nil {
		return nil, err
	}
	return map[string]any{"response_time_ms": time.Since(start).Milliseconds()}, nil
}

func (a *App) riverHealth(ctx context.Context) (map[string]any, error) {
	details := map[string]any{"instance": a.instanceID}
	select {
	case <-a.river.Stopped():
		return details, errors.New("River client is stopped")
	default:
	}
	leader, err := store.RiverLeader(ctx, a.pool)
	switch {
	case errors.Is(err, store.ErrNotFound):
		details["leader"] = nil
	case err != nil:
		return details, err
	default:
		details["leader"] = leader
		details["is_leader"] = leader == a.instanceID
	}
	return details, nil
}
