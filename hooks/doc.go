// Package hooks is the public API for writing hookd hook extensions: the Go
// form of Directus's custom API hooks (filter, action, init, schedule) and of
// its custom WebSocket handlers.
//
// An extension is a hooks.Extension — an ID and a Register function — that
// cmd/hookd compiles in. Register receives a Registrar with the verbs
// Filter, Action, Init and Schedule, and a *Context with the services
// (items, WebSocket, mail), the database pool, GetSchema, Env and a logger:
//
//	var Extension = hooks.Extension{ID: "audit", Register: func(r hooks.Registrar, c *hooks.Context) error {
//		r.Filter("items.create", func(ctx context.Context, payload any, meta hooks.Meta, ec hooks.EventContext) (any, error) {
//			return payload, nil // runs inside the write's transaction (ec.Database)
//		})
//		r.Action("articles.items.update", func(ctx context.Context, meta hooks.Meta, ec hooks.EventContext) error {
//			return nil // a River job: after commit, at least once, retried
//		}, hooks.Name("log"), hooks.MaxAttempts(10))
//		r.Schedule("*/15 * * * *", func(ctx context.Context) error { return nil })
//		return nil
//	}}
//
// Errors returned by hooks map to HTTP like Directus's exceptions
// (InvalidPayload, Forbidden, ServiceUnavailable, NewError, …). Legacy v9
// hook objects (`"items.create.before": fn`, `"cron(…)": fn`) register
// through Legacy.
//
// It is a leaf package: it imports nothing else from hookd, so extensions
// depend on it alone.
package hooks
