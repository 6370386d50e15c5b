// Package adminonly is the seed's admin-only guard: a blocking filter on
// items.* that forbids every non-admin caller (403 FORBIDDEN) from
// querying, reading, creating, updating or deleting items.
//
// Because "everything admin-only" would lock out every public and
// role-based client of a server that compiles this example in, the guard
// applies to the collections listed in ADMIN_ONLY_COLLECTIONS
// (comma-separated, or "*" for all, which is the seed's behaviour); unset,
// the extension registers nothing.
package adminonly

import (
	"context"
	"log/slog"
	"strings"

	"github.com/hookd/hookd/hooks"
)

// Extension is the compiled-in extension "admin-only".
var Extension = hooks.Extension{ID: "admin-only", Register: register}

func register(r hooks.Registrar, c *hooks.Context) error {
	setting := strings.TrimSpace(c.Env("ADMIN_ONLY_COLLECTIONS"))
	if setting == "" {
		c.Logger.Info("admin-only guard off: ADMIN_ONLY_COLLECTIONS is unset")
		return nil
	}
	var opts []hooks.HookOption
	if setting != "*" {
		var collections []string
		for _, name := range strings.Split(setting, ",") {
			if name = strings.TrimSpace(name); name != "" {
				collections = append(collections, name)
			}
		}
		opts = append(opts, hooks.Collections(collections...))
	}
	r.Filter("items.*", guard, append(opts, hooks.Name("guard"))...)
	c.Logger.Info("admin-only guard on", slog.String("collections", setting))
	return nil
}

// guard lets admins and system access (nil accountability: hooks and
// internal services acting without a user) through and forbids everyone
// else.
func guard(_ context.Context, payload any, _ hooks.Meta, ec hooks.EventContext) (any, error) {
	if acc := ec.Accountability; acc != nil && !acc.Admin {
		return nil, hooks.Forbidden()
	}
	return payload, nil
}
