package hooks

import (
	"github.com/go-chi/chi/v5"
)

// ExtraRouter is the Meta.Extra key under which init events carry the chi
// router.
const ExtraRouter = "router"

// RouterFrom returns the chi router of an init event, or nil for other
// events.
//
//   - middlewares.before / middlewares.after: call Use to add middleware.
//     middlewares.before's run before hookd's own request middleware that
//     follows it (authentication, …), middlewares.after's after it. Routes
//     added here are ignored.
//   - routes.before, routes.custom.before, routes.custom.after,
//     routes.after: add routes (Get, Post, Route, Mount, …). chi matches by
//     pattern, not by order, so the four differ only in what exists when
//     the hook runs.
func RouterFrom(meta Meta) chi.Router {
	r, _ := meta.Extra[ExtraRouter].(chi.Router)
	return r
}
