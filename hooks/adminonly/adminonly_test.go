package adminonly_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/hooks"
	"github.com/hookd/hookd/hooks/adminonly"
	"github.com/hookd/hookd/internal/event"
)

func newBus(t *testing.T, setting string) *event.Bus {
	t.Helper()
	bus, err := event.NewBus(context.Background(), &event.BusConfig{
		Extensions: []hooks.Extension{adminonly.Extension},
		Env: func(k string) string {
			if k == "ADMIN_ONLY_COLLECTIONS" {
				return setting
			}
			return ""
		},
	})
	require.NoError(t, err)
	return bus
}

func TestAdminOnly(t *testing.T) {
	t.Parallel()
	user := &hooks.Accountability{User: "u", Role: "editors"}
	admin := &hooks.Accountability{User: "a", Role: "admins", Admin: true}
	run := func(bus *event.Bus, collection, action string, acc *hooks.Accountability) error {
		_, err := bus.Filter(context.Background(), []string{"items." + action, collection + ".items." + action},
			hooks.Item{"x": 1}, hooks.Meta{Collection: collection}, hooks.EventContext{Accountability: acc})
		return err
	}

	all := newBus(t, "*")
	for _, action := range []string{"create", "update", "delete", "query", "read"} {
		err := run(all, "articles", action, user)
		e, ok := hooks.AsError(err)
		require.True(t, ok, "%s: %v", action, err)
		require.Equal(t, "FORBIDDEN", e.Code)
		require.Equal(t, 403, e.Status)
		require.NoError(t, run(all, "articles", action, admin))
		require.NoError(t, run(all, "articles", action, nil), "system access passes")
	}
	// Public (unauthenticated) is not admin either.
	require.Error(t, run(all, "articles", "read", &hooks.Accountability{}))

	some := newBus(t, "secrets, payroll")
	require.Error(t, run(some, "payroll", "create", user))
	require.NoError(t, run(some, "articles", "create", user))

	require.Empty(t, newBus(t, "").Hooks(), "unset: the guard is off")
}
