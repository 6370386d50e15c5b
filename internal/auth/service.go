package auth

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hookd/hookd/hooks"
	"github.com/hookd/hookd/internal/store"
)

// HookBus is the hook engine as the auth service drives it (the event
// package's Bus satisfies it). Filters run inside the write's transaction;
// durable actions are enqueued in it.
type HookBus interface {
	// Filter runs the filters registered for names in order, threading the
	// payload; an error cancels the operation.
	Filter(ctx context.Context, names []string, payload any, meta hooks.Meta, ec hooks.EventContext) (any, error)
	// EnqueueActionsTx inserts one River job per matching durable action
	// hook, in tx.
	EnqueueActionsTx(ctx context.Context, tx pgx.Tx, names []string, meta hooks.Meta) error
}

// Config configures NewService.
type Config struct {
	// Pool is the database. Required.
	Pool *pgxpool.Pool
	// Logger receives warnings (listener reconnects). Default: discard.
	Logger *slog.Logger
	// Secret signs access tokens (HS256). Required.
	Secret string
	// AccessTokenTTL is the access token lifetime. Default 15m.
	AccessTokenTTL time.Duration
	// RefreshTokenTTL is the refresh session lifetime (and the session
	// cookie's). Default 7d.
	RefreshTokenTTL time.Duration
	// LoginRateLimit is how many login attempts one IP, and separately one
	// account, may make per LoginRateWindow. 0 = unlimited (the app passes
	// AUTH_LOGIN_RATE_LIMIT, default 25).
	LoginRateLimit int
	// LoginRateWindow is the rate limit's window. Default 1m.
	LoginRateWindow time.Duration
	// Hooks runs filters and enqueues actions. Default nil: no hooks.
	Hooks HookBus
	// Password sets the argon2id cost of new hashes. Default: see
	// PasswordParams.
	Password PasswordParams
	// Wake is called after a commit that appended events, so realtime
	// readers on every instance look at the log now rather than at their
	// next poll. Default nil.
	Wake func()
}

func (c *Config) validate() error {
	if c.Pool == nil {
		return errors.New("auth: Config.Pool is required")
	}
	if c.Secret == "" {
		return errors.New("auth: Config.Secret is required")
	}
	if c.LoginRateLimit < 0 {
		return fmt.Errorf("auth: Config.LoginRateLimit must not be negative, got %d", c.LoginRateLimit)
	}
	if c.AccessTokenTTL < 0 || c.RefreshTokenTTL < 0 || c.LoginRateWindow < 0 {
		return errors.New("auth: token TTLs and LoginRateWindow must not be negative")
	}
	return nil
}

// Service authenticates requests and sockets, manages users, roles and
// permissions, and answers the item service's permission questions.
type Service struct {
	pool       *pgxpool.Pool
	logger     *slog.Logger
	secret     []byte
	accessTTL  time.Duration
	refreshTTL time.Duration
	rateLimit  int
	rateWindow time.Duration
	hooks      HookBus
	wake       func()
	pwParams   PasswordParams
	// dummyHash is verified against for unknown emails, so they cost the
	// same time as a wrong password.
	dummyHash string
	now       func() time.Time
	perms     *permCache
	verified  verifiedTokens

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

// NewService builds the service. It starts nothing: Start runs the
// permission-cache listener; without it permissions are read from the
// database on every call.
func NewService(cfg *Config) (*Service, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Service{
		pool:       cfg.Pool,
		logger:     cmp.Or(cfg.Logger, slog.New(slog.NewTextHandler(io.Discard, nil))),
		secret:     []byte(cfg.Secret),
		accessTTL:  cmp.Or(cfg.AccessTokenTTL, 15*time.Minute),
		refreshTTL: cmp.Or(cfg.RefreshTokenTTL, 7*24*time.Hour),
		rateLimit:  cfg.LoginRateLimit,
		rateWindow: cmp.Or(cfg.LoginRateWindow, time.Minute),
		hooks:      cfg.Hooks,
		wake:       cfg.Wake,
		pwParams:   cfg.Password.withDefaults(),
		now:        time.Now,
		perms:      newPermCache(),
	}
	var err error
	if s.dummyHash, err = HashPassword("hookd-dummy-password", s.pwParams); err != nil {
		return nil, err
	}
	return s, nil
}

// Start runs the listener that keeps every instance's permission cache
// coherent. It returns at once; Stop ends it.
func (s *Service) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cancel != nil {
		return errors.New("auth: service already started")
	}
	ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	s.done = make(chan struct{})
	go s.listen(ctx, s.done)
	return nil
}

// Stop ends the listener and waits for it.
func (s *Service) Stop() {
	s.mu.Lock()
	cancel, done := s.cancel, s.done
	s.cancel, s.done = nil, nil
	s.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// permissionsChannel is NOTIFYed by a trigger on hookd_permissions.
const permissionsChannel = "hookd_permissions"

// listen holds a dedicated connection LISTENing for permission changes and
// reconnects with backoff. The cache is only used while the LISTEN is up:
// a change made while it was down could otherwise go unseen.
func (s *Service) listen(ctx context.Context, done chan struct{}) {
	defer close(done)
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := s.listenOnce(ctx)
		s.perms.setListening(false)
		if ctx.Err() != nil {
			return
		}
		s.logger.WarnContext(ctx, "permission cache listener lost; reconnecting",
			slog.Duration("backoff", backoff), slog.Any("error", err))
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

func (s *Service) listenOnce(ctx context.Context) error {
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return fmt.Errorf("connecting: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+permissionsChannel); err != nil {
		return fmt.Errorf("listening: %w", err)
	}
	// Anything cached before this point may have missed a notification.
	s.perms.setListening(true)
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return fmt.Errorf("waiting for notification: %w", err)
		}
		s.perms.invalidate()
	}
}

// inTx runs fn in a transaction. Errors from fn are already typed; only
// begin and commit errors still need translating.
func (s *Service) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	err := pgx.BeginFunc(ctx, s.pool, fn)
	var ce *store.ConstraintError
	if _, ok := hooks.AsError(err); ok || errors.As(err, &ce) {
		return err
	}
	return store.Translate(err)
}

// inEventTx is inTx for writes that append events: realtime is woken after
// the commit.
func (s *Service) inEventTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	err := s.inTx(ctx, fn)
	if err == nil && s.wake != nil {
		s.wake()
	}
	return err
}

// requireAdmin allows system access (nil) and admins.
func requireAdmin(acc *hooks.Accountability) error {
	if acc == nil || acc.Admin {
		return nil
	}
	return hooks.Forbidden()
}

// change is one row written: its key and images.
type change struct {
	key  any
	data hooks.Item
	old  hooks.Item
}

// write describes one users/roles/permissions operation.
type write struct {
	scope      string // users, roles, permissions
	action     string // create, update, delete
	collection string // directus_users, …
	acc        *hooks.Accountability
	// payload is the filter payload: the item for create and update, the
	// keys for delete.
	payload any
	// keys are the affected keys for update and delete (filter meta).
	keys []any
	// apply writes the (filtered) payload and returns the rows changed.
	apply func(payload any) ([]change, error)
	// public turns the payload into what events and actions may keep:
	// passwords and tokens masked. Nil = the payload as is.
	public func(payload any) any
}

// writeTx runs one write in tx: the filter, the write, one event row per
// changed row, and the durable actions.
func (s *Service) writeTx(ctx context.Context, tx pgx.Tx, w *write) ([]change, error) {
	name := w.scope + "." + w.action
	payload := w.payload
	if s.hooks != nil {
		ec := hooks.EventContext{Database: tx, Accountability: w.acc}
		out, err := s.hooks.Filter(ctx, []string{name}, payload,
			hooks.Meta{Event: name, Collection: w.collection, Keys: w.keys}, ec)
		if err != nil {
			return nil, err
		}
		if out != nil {
			payload = out
		}
	}
	changes, err := w.apply(payload)
	if err != nil {
		return nil, err
	}
	logged := payload
	if w.public != nil {
		logged = w.public(payload)
	}
	events := make([]store.EventAppendParams, 0, len(changes))
	keys := make([]any, 0, len(changes))
	for _, c := range changes {
		var data, old any
		if c.data != nil {
			data = c.data
		}
		if c.old != nil {
			old = c.old
		}
		events = append(events, store.EventAppendParams{
			Name: name, Scope: w.scope, Action: w.action, Collection: w.collection,
			ItemKey: c.key, Data: data, OldData: old, Payload: logged, Accountability: w.acc,
			Origin: store.EventOriginAPI,
		})
		keys = append(keys, c.key)
	}
	ids, err := store.EventAppendTx(ctx, tx, events)
	if err != nil {
		return nil, err
	}
	if s.hooks != nil && len(changes) > 0 {
		meta := hooks.Meta{Event: name, Collection: w.collection, Payload: logged, EventIDs: ids}
		if w.action == "create" {
			meta.Key = keys[0]
		} else {
			meta.Keys = keys
		}
		if err := s.hooks.EnqueueActionsTx(ctx, tx, []string{name}, meta); err != nil {
			return nil, fmt.Errorf("enqueueing %s actions: %w", name, err)
		}
	}
	return changes, nil
}

// ListParams selects a page of a system collection.
type ListParams struct {
	// Query gives filter, search, sort (default: a stable order per
	// collection), limit, offset, page and meta; fields are the caller's
	// to apply. Aggregate and groupBy are refused. nil = the first page.
	Query *hooks.Query
	// DefaultLimit is the page size when Query sets none (default 100);
	// MaxLimit caps it (0 = no cap), as query.Options says.
	DefaultLimit, MaxLimit int
}

func (p *ListParams) orDefault() *ListParams {
	if p == nil {
		return &ListParams{}
	}
	return p
}
