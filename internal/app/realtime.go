package app

// Wiring of the realtime hub: internal/realtime declares the small
// interfaces it needs; these adapters give it the real auth service, hook
// bus, item service, schema and query compiler.

import (
	"context"
	"errors"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/hookd/hookd/hooks"
	"github.com/hookd/hookd/internal/api"
	"github.com/hookd/hookd/internal/auth"
	"github.com/hookd/hookd/internal/event"
	"github.com/hookd/hookd/internal/query"
	"github.com/hookd/hookd/internal/realtime"
)

// newRealtime builds the hub when WEBSOCKETS_ENABLED and
// WEBSOCKETS_REST_ENABLED are on; nil otherwise.
func (a *App) newRealtime() (*realtime.Hub, error) {
	ws := a.cfg.Websockets
	if !ws.Enabled || !ws.RESTEnabled {
		return nil, nil
	}
	return realtime.New(&realtime.Config{
		Websockets:        ws,
		DispatchInterval:  a.cfg.RealtimeDispatchInterval,
		DispatchPerSocket: a.cfg.RealtimeDispatchPerSocket,
		SessionCookieName: a.cfg.SessionCookieName,
		Logger:            a.logger,
		Pool:              a.pool,
		InstanceID:        a.instanceID,
		Auth:              realtimeAuth{a.auth},
		Items: func(_ context.Context, collection string, acc *hooks.Accountability) (hooks.ItemsService, error) {
			return a.items.Items(collection, &hooks.ServiceOptions{Accountability: acc})
		},
		Permission: a.auth.Permission,
		Schema: func(context.Context) (*hooks.Schema, error) {
			if s := a.schema.Current(); s != nil {
				return s, nil
			}
			return nil, errors.New("the schema is not loaded yet")
		},
		ParseQuery: query.ParseObject,
		CompileFilter: func(c *hooks.Collection, filter map[string]any, v *realtime.FilterVars) (func(hooks.Item) bool, error) {
			return query.Match(c, filter, query.Vars{Now: v.Now, CurrentUser: v.User, CurrentRole: v.Role})
		},
		Hooks:       realtimeHooks{a.bus},
		PublicError: api.PublicError,
	})
}

// eventsCommitted is the item service's after-commit callback: it wakes the
// realtime readers of every instance (one coalesced NOTIFY).
func (a *App) eventsCommitted(context.Context, string, []int64) {
	if a.realtime != nil {
		a.realtime.Wake()
	}
}

// mountRealtime serves the WebSocket endpoint (WEBSOCKETS_REST_PATH).
func (a *App) mountRealtime(_ *api.Server, r chi.Router) {
	if a.realtime != nil {
		r.Handle(a.realtime.Path(), a.realtime)
	}
}

// Realtime is the instance's WebSocket hub (nil when websockets are off).
func (a *App) Realtime() *realtime.Hub { return a.realtime }

type realtimeAuth struct{ s *auth.Service }

func (r realtimeAuth) AuthenticateToken(ctx context.Context, token string) (*hooks.Accountability, *time.Time, error) {
	return r.s.AuthenticateToken(ctx, token)
}

func (r realtimeAuth) Login(ctx context.Context, email, password string, info *realtime.ClientInfo) (*realtime.Session, error) {
	tokens, acc, err := r.s.Login(ctx, email, password, auth.LoginMeta{IP: info.IP, UserAgent: info.UserAgent,
		Origin: info.Origin, Mode: "json"})
	if err != nil {
		return nil, err
	}
	return realtimeSession(tokens, acc), nil
}

func (r realtimeAuth) Refresh(ctx context.Context, refreshToken string) (*realtime.Session, error) {
	tokens, acc, err := r.s.Refresh(ctx, refreshToken)
	if err != nil {
		return nil, err
	}
	return realtimeSession(tokens, acc), nil
}

func realtimeSession(t *auth.Tokens, acc *hooks.Accountability) *realtime.Session {
	s := &realtime.Session{Accountability: acc, AccessToken: t.AccessToken, RefreshToken: t.RefreshToken}
	if !t.ExpiresAt.IsZero() {
		exp := t.ExpiresAt
		s.ExpiresAt = &exp
	}
	return s
}

type realtimeHooks struct{ b *event.Bus }

func (r realtimeHooks) Filter(ctx context.Context, name string, payload any, meta *hooks.Meta, ec *hooks.EventContext) (any, error) {
	return r.b.Filter(ctx, []string{name}, payload, *meta, *ec)
}

func (r realtimeHooks) Action(ctx context.Context, name string, meta *hooks.Meta, ec *hooks.EventContext) {
	r.b.Emit(ctx, []string{name}, *meta, *ec)
}
