package api

import (
	"context"
	"net/http"

	"github.com/hookd/hookd/hooks"
)

type accountabilityKey struct{}

// WithAccountability returns ctx carrying the request's accountability. The
// authentication middleware sets it for every request.
func WithAccountability(ctx context.Context, acc *hooks.Accountability) context.Context {
	return context.WithValue(ctx, accountabilityKey{}, acc)
}

// AccountabilityFrom returns the request's accountability: the public role
// (empty user and role, not admin) when no middleware set one. It never
// returns nil: system access is not something a request can have.
func AccountabilityFrom(ctx context.Context) *hooks.Accountability {
	if acc, ok := ctx.Value(accountabilityKey{}).(*hooks.Accountability); ok && acc != nil {
		return acc
	}
	return &hooks.Accountability{}
}

// RequireAdmin lets only admin accountability through: others get 403
// FORBIDDEN (for pages and tools mounted beside the API, like River UI).
func RequireAdmin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !AccountabilityFrom(r.Context()).Admin {
			WriteErrors(w, http.StatusForbidden, hooks.Forbidden())
			return
		}
		next.ServeHTTP(w, r)
	})
}
