package event

import (
	"context"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/hookd/hookd/hooks"
)

// InitMiddlewares runs the middlewares.before and middlewares.after init
// hooks, each given a scratch chi router to call Use on, and returns the
// middleware they added: before's go ahead of hookd's own request
// middleware, after's behind it (api.Config.Middlewares).
func (b *Bus) InitMiddlewares(ctx context.Context) (before, after []func(http.Handler) http.Handler) {
	collect := func(name string) []func(http.Handler) http.Handler {
		r := chi.NewRouter()
		b.Init(ctx, name, hooks.Meta{Extra: map[string]any{hooks.ExtraRouter: chi.Router(r)}})
		return r.Middlewares()
	}
	return collect("middlewares.before"), collect("middlewares.after")
}

// MountInit returns an api.Config.Mount function that runs the init hooks
// of the route event name (routes.before, routes.custom.before,
// routes.custom.after, routes.after) with the server's router.
func (b *Bus) MountInit(ctx context.Context, name string) func(chi.Router) {
	return func(r chi.Router) {
		b.Init(ctx, name, hooks.Meta{Extra: map[string]any{hooks.ExtraRouter: r}})
	}
}
