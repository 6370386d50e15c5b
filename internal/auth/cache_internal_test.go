package auth

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/hooks"
	"github.com/hookd/hookd/internal/testdb"
)

func (c *permCache) isListening() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.listening
}

func (c *permCache) size() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// Two instances cache a permission; a change made outside either (psql)
// reaches both through NOTIFY, and a change through one reaches the other.
func TestPermissionCacheIsInvalidatedOnEveryInstance(t *testing.T) {
	t.Parallel()
	d := testdb.New(t)
	ctx := context.Background()
	var svcs []*Service
	for range 2 {
		svc, err := NewService(&Config{Pool: d.Pool, Secret: "s"})
		require.NoError(t, err)
		require.NoError(t, svc.Start(ctx))
		t.Cleanup(svc.Stop)
		svcs = append(svcs, svc)
	}
	for _, svc := range svcs {
		require.Eventually(t, svc.perms.isListening, 10*time.Second, 10*time.Millisecond)
	}
	role, err := svcs[0].RoleCreateMany(ctx, nil, []map[string]any{{"name": "R"}})
	require.NoError(t, err)
	acc := &hooks.Accountability{User: "u", Role: role[0]["id"].(string)}
	created, err := svcs[0].PermissionCreateMany(ctx, nil, []map[string]any{{"role": acc.Role, "collection": "posts",
		"action": "read", "fields": []any{"a"}}})
	require.NoError(t, err)

	fields := func(svc *Service) []string {
		p, err := svc.Permission(ctx, acc, "posts", "read")
		require.NoError(t, err)
		if p == nil {
			return nil
		}
		return p.Fields
	}
	// The notifications of the role and permission writes may still be on
	// their way and empty a cache just filled, so wait until a read sticks.
	for _, svc := range svcs {
		require.Eventually(t, func() bool {
			f := fields(svc)
			return len(f) == 1 && f[0] == "a" && svc.perms.size() == 1
		}, 10*time.Second, 10*time.Millisecond, "the permission is cached")
	}

	_, err = d.Pool.Exec(ctx, `UPDATE hookd_permissions SET fields = '{b}'`)
	require.NoError(t, err)
	for _, svc := range svcs {
		require.Eventually(t, func() bool { f := fields(svc); return len(f) == 1 && f[0] == "b" },
			10*time.Second, 10*time.Millisecond, "a psql change reaches every instance")
	}

	keys := []string{fmt.Sprint(created[0]["id"])}
	_, err = svcs[0].PermissionUpdateMany(ctx, nil, keys, map[string]any{"fields": []any{"c"}})
	require.NoError(t, err)
	require.Equal(t, []string{"c"}, fields(svcs[0]), "the writing instance sees its change at once")
	require.Eventually(t, func() bool { f := fields(svcs[1]); return len(f) == 1 && f[0] == "c" },
		10*time.Second, 10*time.Millisecond)

	// While the listener is down the cache is bypassed, never stale.
	svcs[1].Stop()
	require.False(t, svcs[1].perms.isListening())
	_, err = d.Pool.Exec(ctx, `UPDATE hookd_permissions SET fields = '{d}'`)
	require.NoError(t, err)
	require.Equal(t, []string{"d"}, fields(svcs[1]))
	require.Zero(t, svcs[1].perms.size())
}

// The item service asks for a permission on every non-admin request; with
// the listener up the answer comes from memory.
func BenchmarkPermission(b *testing.B) {
	d := testdb.New(b)
	ctx := context.Background()
	svc, err := NewService(&Config{Pool: d.Pool, Secret: "s"})
	require.NoError(b, err)
	role, err := svc.RoleCreateMany(ctx, nil, []map[string]any{{"name": "R"}})
	require.NoError(b, err)
	acc := &hooks.Accountability{User: "u", Role: role[0]["id"].(string)}
	_, err = svc.PermissionCreateMany(ctx, nil, []map[string]any{{"role": acc.Role, "collection": "posts",
		"action": "read", "permissions": map[string]any{"owner": map[string]any{"_eq": "$CURRENT_USER"}}}})
	require.NoError(b, err)
	read := func(b *testing.B) {
		for b.Loop() {
			if _, err := svc.Permission(ctx, acc, "posts", "read"); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("uncached", read)
	require.NoError(b, svc.Start(ctx))
	defer svc.Stop()
	require.Eventually(b, svc.perms.isListening, 10*time.Second, 10*time.Millisecond)
	b.Run("cached", read)
}

// A verified access token is remembered, but only under its exact text: a
// tampered copy is verified (and refused) on its own, a remembered token
// still expires, and the cache stays bounded.
func TestVerifiedTokenCache(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	s := &Service{secret: []byte("s"), now: func() time.Time { return now }}
	token, exp, err := s.signClaims(map[string]any{"id": "u1", "role": "r1", "admin_access": true}, now, time.Minute)
	require.NoError(t, err)

	c, ours, err := s.verifyAccessToken(token)
	require.NoError(t, err)
	require.True(t, ours)
	require.Equal(t, "u1", c.ID)
	require.Same(t, c, s.verified.get(token))
	again, _, err := s.verifyAccessToken(token)
	require.NoError(t, err)
	require.Same(t, c, again)

	tampered := token[:len(token)-2] + "AA"
	if tampered == token {
		tampered = token[:len(token)-2] + "BB"
	}
	_, ours, err = s.verifyAccessToken(tampered)
	require.True(t, ours)
	he, ok := hooks.AsError(err)
	require.True(t, ok)
	require.Equal(t, "INVALID_TOKEN", he.Code)
	require.Nil(t, s.verified.get(tampered))

	_, ours, err = s.verifyAccessToken("a-static-token")
	require.False(t, ours)
	require.NoError(t, err)

	now = exp
	_, _, err = s.verifyAccessToken(token)
	he, ok = hooks.AsError(err)
	require.True(t, ok)
	require.Equal(t, "TOKEN_EXPIRED", he.Code)

	for i := range verifiedTokenCacheSize + 10 {
		s.verified.put(fmt.Sprint(i), c)
	}
	require.Len(t, s.verified.m, verifiedTokenCacheSize)
}
