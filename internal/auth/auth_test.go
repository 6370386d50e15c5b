package auth_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/hooks"
	"github.com/hookd/hookd/internal/auth"
	"github.com/hookd/hookd/internal/event"
	"github.com/hookd/hookd/internal/store"
	"github.com/hookd/hookd/internal/testdb"
)

type bundle struct {
	db  *testdb.DB
	svc *auth.Service
	// adminID is the bootstrap admin's user id, adminRole its role.
	adminID   string
	adminRole string
}

const (
	adminEmail    = "admin@example.com"
	adminPassword = "correct horse battery staple"
)

func newService(t testing.TB, d *testdb.DB, mod func(*auth.Config)) *auth.Service {
	t.Helper()
	cfg := &auth.Config{Pool: d.Pool, Secret: "test-secret"}
	if mod != nil {
		mod(cfg)
	}
	svc, err := auth.NewService(cfg)
	require.NoError(t, err)
	return svc
}

func setup(t testing.TB, mod func(*auth.Config)) *bundle {
	t.Helper()
	d := testdb.New(t)
	svc := newService(t, d, mod)
	res, err := svc.AdminBootstrap(context.Background(), adminEmail, adminPassword)
	require.NoError(t, err)
	require.True(t, res.Created)
	login, err := store.UserLoginByEmail(context.Background(), d.Pool, adminEmail)
	require.NoError(t, err)
	return &bundle{db: d, svc: svc, adminID: login.ID, adminRole: *login.Role}
}

func requireCode(t *testing.T, err error, code string) {
	t.Helper()
	require.Error(t, err)
	he, ok := hooks.AsError(err)
	require.True(t, ok, "want a *hooks.Error with code %s, got %v", code, err)
	require.Equal(t, code, he.Code, "error: %v", err)
}

// createUser makes a user with a role of its own (no admin access).
func (b *bundle) createUser(t *testing.T, email, password string, extra map[string]any) string {
	t.Helper()
	ctx := context.Background()
	role, err := b.svc.RoleCreateMany(ctx, nil, []map[string]any{{"name": "Editors " + email, "app_access": true}})
	require.NoError(t, err)
	payload := map[string]any{"email": email, "password": password, "role": role[0]["id"]}
	for k, v := range extra {
		payload[k] = v
	}
	u, err := b.svc.UserCreate(ctx, nil, payload)
	require.NoError(t, err)
	return u["id"].(string)
}

func TestPasswordHashIsArgon2idPHC(t *testing.T) {
	t.Parallel()
	hash, err := auth.HashPassword("s3cret", auth.PasswordParams{})
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(hash, "$argon2id$v=19$m=19456,t=2,p=1$"), hash)
	ok, err := auth.VerifyPassword("s3cret", hash)
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = auth.VerifyPassword("s3creT", hash)
	require.NoError(t, err)
	require.False(t, ok)
	other, err := auth.HashPassword("s3cret", auth.PasswordParams{})
	require.NoError(t, err)
	require.NotEqual(t, hash, other, "salts must differ")

	for _, bad := range []string{"", "plain", "$argon2i$v=19$m=1,t=1,p=1$AAAA$AAAA", "$argon2id$v=19$m=99999999,t=1,p=1$AAAA$AAAA"} {
		_, err := auth.VerifyPassword("x", bad)
		require.Error(t, err, bad)
	}
}

func TestLoginIssuesDirectusShapedTokens(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *auth.Config) { c.AccessTokenTTL = 10 * time.Minute })
	ctx := context.Background()
	before := time.Now()
	tokens, acc, err := b.svc.Login(ctx, "ADMIN@example.com", adminPassword, auth.LoginMeta{IP: "10.0.0.1", UserAgent: "test"})
	require.NoError(t, err)
	require.Equal(t, int64(600000), tokens.Expires)
	require.WithinDuration(t, before.Add(10*time.Minute), tokens.ExpiresAt, 2*time.Second)
	require.NotEmpty(t, tokens.RefreshToken)
	require.Equal(t, &hooks.Accountability{User: b.adminID, Role: b.adminRole, Admin: true, App: true,
		IP: "10.0.0.1", UserAgent: "test"}, acc)

	parts := strings.Split(tokens.AccessToken, ".")
	require.Len(t, parts, 3)
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	var claims map[string]any
	require.NoError(t, json.Unmarshal(raw, &claims))
	require.Equal(t, "directus", claims["iss"])
	require.Equal(t, b.adminID, claims["id"])
	require.Equal(t, b.adminRole, claims["role"])
	require.Equal(t, true, claims["admin_access"])
	require.Equal(t, true, claims["app_access"])
	require.InDelta(t, claims["iat"].(float64)+600, claims["exp"].(float64), 1)

	got, exp, err := b.svc.AuthenticateToken(ctx, tokens.AccessToken)
	require.NoError(t, err)
	require.Equal(t, &hooks.Accountability{User: b.adminID, Role: b.adminRole, Admin: true, App: true}, got)
	require.Equal(t, tokens.ExpiresAt, *exp)

	// last_access is recorded.
	u, err := store.UserByID(ctx, b.db.Pool, b.adminID)
	require.NoError(t, err)
	require.NotNil(t, u.LastAccess)
}

func TestBadTokensAreRefused(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *auth.Config) { c.AccessTokenTTL = time.Second })
	other := newService(t, b.db, func(c *auth.Config) { c.Secret = "another-secret" })
	ctx := context.Background()
	tokens, _, err := other.Login(ctx, adminEmail, adminPassword, auth.LoginMeta{})
	require.NoError(t, err)

	_, _, err = b.svc.AuthenticateToken(ctx, tokens.AccessToken)
	requireCode(t, err, "INVALID_TOKEN") // signed with another secret
	parts := strings.Split(tokens.AccessToken, ".")
	_, _, err = b.svc.AuthenticateToken(ctx, parts[0]+"."+parts[1]+".AAAA")
	requireCode(t, err, "INVALID_TOKEN")
	_, _, err = b.svc.AuthenticateToken(ctx, "")
	requireCode(t, err, "INVALID_TOKEN")
	_, _, err = b.svc.AuthenticateToken(ctx, "not-a-known-static-token")
	requireCode(t, err, "INVALID_CREDENTIALS")

	// Expiry on a clock the test steps: with the wall clock, a slow login
	// near a second boundary left less than the 1 s TTL to check the token.
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	auth.SetClock(b.svc, func() time.Time { return time.Unix(0, clock.Load()) })
	mine, _, err := b.svc.Login(ctx, adminEmail, adminPassword, auth.LoginMeta{})
	require.NoError(t, err)
	unseen, _, err := b.svc.Login(ctx, adminEmail, adminPassword, auth.LoginMeta{})
	require.NoError(t, err)
	_, _, err = b.svc.AuthenticateToken(ctx, mine.AccessToken)
	require.NoError(t, err)
	// exp has second resolution: 2 s on, past the 1 s TTL, both are expired,
	// the one already verified (cached claims) and the one never seen (parsed).
	clock.Add(int64(2 * time.Second))
	_, _, err = b.svc.AuthenticateToken(ctx, mine.AccessToken)
	requireCode(t, err, "TOKEN_EXPIRED")
	_, _, err = b.svc.AuthenticateToken(ctx, unseen.AccessToken)
	requireCode(t, err, "TOKEN_EXPIRED")
}

func TestUnknownEmailAndWrongPasswordLookAlike(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	ctx := context.Background()
	b.createUser(t, "ann@example.com", "ann-password-1", nil)

	_, _, errUnknown := b.svc.Login(ctx, "nobody@example.com", "whatever", auth.LoginMeta{})
	_, _, errWrong := b.svc.Login(ctx, "ann@example.com", "wrong", auth.LoginMeta{})
	requireCode(t, errUnknown, "INVALID_CREDENTIALS")
	requireCode(t, errWrong, "INVALID_CREDENTIALS")
	he1, _ := hooks.AsError(errUnknown)
	he2, _ := hooks.AsError(errWrong)
	require.Equal(t, he1.Status, he2.Status)
	require.Equal(t, "Invalid user credentials.", he1.Message)
	require.Equal(t, he1.Message, he2.Message)

	// Timing: an unknown email costs one argon2id verification, like a
	// wrong password. Compare medians, interleaved to share machine noise;
	// skipping the dummy hash would make unknown emails >10x faster.
	median := func(d []time.Duration) time.Duration {
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		return d[len(d)/2]
	}
	var unknown, wrong []time.Duration
	for i := 0; i < 7; i++ {
		start := time.Now()
		_, _, _ = b.svc.Login(ctx, "nobody@example.com", "whatever", auth.LoginMeta{})
		unknown = append(unknown, time.Since(start))
		start = time.Now()
		_, _, _ = b.svc.Login(ctx, "ann@example.com", "wrong", auth.LoginMeta{})
		wrong = append(wrong, time.Since(start))
	}
	mu, mw := median(unknown), median(wrong)
	ratio := float64(mu) / float64(mw)
	require.True(t, ratio > 0.4 && ratio < 2.5, "unknown email %v vs wrong password %v", mu, mw)
}

func TestSuspendedUserIsRefusedOnlyWithTheRightPassword(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	ctx := context.Background()
	b.createUser(t, "sus@example.com", "sus-password-1", map[string]any{"status": "suspended"})
	_, _, err := b.svc.Login(ctx, "sus@example.com", "sus-password-1", auth.LoginMeta{})
	requireCode(t, err, "USER_SUSPENDED")
	_, _, err = b.svc.Login(ctx, "sus@example.com", "wrong", auth.LoginMeta{})
	requireCode(t, err, "INVALID_CREDENTIALS")

	b.createUser(t, "draft@example.com", "draft-password-1", map[string]any{"status": "draft"})
	_, _, err = b.svc.Login(ctx, "draft@example.com", "draft-password-1", auth.LoginMeta{})
	requireCode(t, err, "INVALID_CREDENTIALS")
}

func TestRefreshRotatesAndRefusesReuse(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	ctx := context.Background()
	first, _, err := b.svc.Login(ctx, adminEmail, adminPassword, auth.LoginMeta{IP: "1.2.3.4"})
	require.NoError(t, err)
	second, acc, err := b.svc.Refresh(ctx, first.RefreshToken)
	require.NoError(t, err)
	require.Equal(t, b.adminID, acc.User)
	require.NotEqual(t, first.RefreshToken, second.RefreshToken)

	_, _, err = b.svc.Refresh(ctx, first.RefreshToken)
	requireCode(t, err, "INVALID_CREDENTIALS")

	// Concurrent use of one token: exactly one wins.
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, _, err := b.svc.Refresh(ctx, second.RefreshToken); err == nil {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	require.Equal(t, 1, wins)

	third, _, err := b.svc.Login(ctx, adminEmail, adminPassword, auth.LoginMeta{})
	require.NoError(t, err)
	require.NoError(t, b.svc.Logout(ctx, third.RefreshToken))
	_, _, err = b.svc.Refresh(ctx, third.RefreshToken)
	requireCode(t, err, "INVALID_CREDENTIALS")
}

func TestSuspendedOrDeletedUsersLoseTheirTokens(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *auth.Config) { c.AccessTokenTTL = time.Second })
	ctx := context.Background()
	for _, how := range []string{"suspend", "delete"} {
		email := how + "@example.com"
		static := "static-token-for-" + how + "-0123456789"
		id := b.createUser(t, email, "pw-"+how+"-123", map[string]any{"token": static})
		tokens, _, err := b.svc.Login(ctx, email, "pw-"+how+"-123", auth.LoginMeta{})
		require.NoError(t, err)
		session, _, err := b.svc.Login(ctx, email, "pw-"+how+"-123", auth.LoginMeta{Mode: "session"})
		require.NoError(t, err)
		acc, exp, err := b.svc.AuthenticateToken(ctx, static)
		require.NoError(t, err)
		require.Equal(t, id, acc.User)
		require.Nil(t, exp, "static tokens never expire")
		_, _, err = b.svc.AuthenticateToken(ctx, session.AccessToken)
		require.NoError(t, err)

		if how == "suspend" {
			_, err = b.svc.UserUpdate(ctx, nil, id, map[string]any{"status": "suspended"})
		} else {
			err = b.svc.UserDeleteMany(ctx, nil, []string{id})
		}
		require.NoError(t, err)

		_, _, err = b.svc.Refresh(ctx, tokens.RefreshToken)
		requireCode(t, err, "INVALID_CREDENTIALS")
		_, _, err = b.svc.AuthenticateToken(ctx, static)
		requireCode(t, err, "INVALID_CREDENTIALS")
		_, _, err = b.svc.AuthenticateToken(ctx, session.AccessToken)
		requireCode(t, err, "INVALID_CREDENTIALS")
		// A plain access token lives until its exp, then dies.
		require.Eventually(t, func() bool {
			_, _, err := b.svc.AuthenticateToken(ctx, tokens.AccessToken)
			he, ok := hooks.AsError(err)
			return ok && he.Code == "TOKEN_EXPIRED"
		}, 5*time.Second, 100*time.Millisecond)
	}
}

func TestLoginRateLimitPerIPAndPerAccountAcrossInstances(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *auth.Config) { c.LoginRateLimit = 3; c.LoginRateWindow = time.Hour })
	// A second instance on the same database shares the counters.
	b2 := newService(t, b.db, func(c *auth.Config) { c.LoginRateLimit = 3; c.LoginRateWindow = time.Hour })
	ctx := context.Background()
	svcs := []*auth.Service{b.svc, b2}

	// Per account: one account from four IPs.
	for i := 0; i < 3; i++ {
		_, _, err := svcs[i%2].Login(ctx, "victim@example.com", "guess", auth.LoginMeta{IP: "10.0.0." + string(rune('1'+i))})
		requireCode(t, err, "INVALID_CREDENTIALS")
	}
	_, _, err := svcs[1].Login(ctx, "VICTIM@example.com", "guess", auth.LoginMeta{IP: "10.0.0.9"})
	requireCode(t, err, "REQUESTS_EXCEEDED")
	he, _ := hooks.AsError(err)
	require.Equal(t, 429, he.Status)

	// Per IP: one IP trying four accounts.
	for i := 0; i < 3; i++ {
		_, _, err := svcs[i%2].Login(ctx, "user"+string(rune('a'+i))+"@example.com", "guess", auth.LoginMeta{IP: "192.168.1.1"})
		requireCode(t, err, "INVALID_CREDENTIALS")
	}
	_, _, err = svcs[0].Login(ctx, adminEmail, adminPassword, auth.LoginMeta{IP: "192.168.1.1"})
	requireCode(t, err, "REQUESTS_EXCEEDED")

	// Another IP and account are unaffected.
	_, _, err = b.svc.Login(ctx, adminEmail, adminPassword, auth.LoginMeta{IP: "192.168.1.2"})
	require.NoError(t, err)
}

func TestAdminBootstrapIsRaceSafe(t *testing.T) {
	t.Parallel()
	d := testdb.New(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	results := make([]*auth.BootstrapResult, 4)
	errs := make([]error, 4)
	for i := range results {
		svc := newService(t, d, nil)
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = svc.AdminBootstrap(ctx, "first@example.com", "")
		}()
	}
	wg.Wait()
	created := 0
	var password string
	for i, res := range results {
		require.NoError(t, errs[i])
		if res.Created {
			created++
			password = res.GeneratedPassword
		} else {
			require.Empty(t, res.GeneratedPassword)
		}
	}
	require.Equal(t, 1, created)
	require.Len(t, password, 24)
	n, err := store.UserCount(ctx, d.Pool)
	require.NoError(t, err)
	require.Equal(t, int64(1), n)
	_, acc, err := newService(t, d, nil).Login(ctx, "first@example.com", password, auth.LoginMeta{})
	require.NoError(t, err)
	require.True(t, acc.Admin)

	// Later starts change nothing.
	res, err := newService(t, d, nil).AdminBootstrap(ctx, "other@example.com", "x")
	require.NoError(t, err)
	require.False(t, res.Created)
}

func TestTheLastAdminCannotBeRemoved(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	ctx := context.Background()
	admin := &hooks.Accountability{User: b.adminID, Role: b.adminRole, Admin: true}
	_, err := b.svc.UserUpdate(ctx, admin, b.adminID, map[string]any{"status": "suspended"})
	requireCode(t, err, "UNPROCESSABLE_CONTENT")
	_, err = b.svc.UserUpdate(ctx, admin, b.adminID, map[string]any{"role": nil})
	requireCode(t, err, "UNPROCESSABLE_CONTENT")
	err = b.svc.UserDeleteMany(ctx, admin, []string{b.adminID})
	requireCode(t, err, "UNPROCESSABLE_CONTENT")
	_, err = b.svc.RoleUpdateMany(ctx, admin, []string{b.adminRole}, map[string]any{"admin_access": false})
	requireCode(t, err, "UNPROCESSABLE_CONTENT")
	err = b.svc.RoleDeleteMany(ctx, admin, []string{b.adminRole})
	requireCode(t, err, "UNPROCESSABLE_CONTENT")

	// With a second admin, the first may go.
	_, err = b.svc.UserCreate(ctx, admin, map[string]any{"email": "admin2@example.com", "password": "pw-admin-2", "role": b.adminRole})
	require.NoError(t, err)
	require.NoError(t, b.svc.UserDeleteMany(ctx, admin, []string{b.adminID}))
}

func TestNonAdminsCannotManageUsersRolesOrPermissions(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	ctx := context.Background()
	for _, acc := range []*hooks.Accountability{{}, {User: "u", Role: "r", App: true}} {
		_, _, err := b.svc.UserList(ctx, acc, nil)
		requireCode(t, err, "FORBIDDEN")
		_, err = b.svc.UserCreate(ctx, acc, map[string]any{"email": "x@example.com"})
		requireCode(t, err, "FORBIDDEN")
		_, err = b.svc.RoleCreateMany(ctx, acc, []map[string]any{{"name": "x", "admin_access": true}})
		requireCode(t, err, "FORBIDDEN")
		_, err = b.svc.PermissionCreateMany(ctx, acc, []map[string]any{{"collection": "x", "action": "read"}})
		requireCode(t, err, "FORBIDDEN")
	}
}

func TestUserPayloadValidationAndSecretsNeverStoredOrReturned(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	ctx := context.Background()
	_, err := b.svc.UserCreate(ctx, nil, map[string]any{"email": "not an email"})
	requireCode(t, err, "FAILED_VALIDATION")
	_, err = b.svc.UserCreate(ctx, nil, map[string]any{"email": "a@example.com", "is_admin": true})
	requireCode(t, err, "INVALID_PAYLOAD")
	_, err = b.svc.UserCreate(ctx, nil, map[string]any{"email": "a@example.com", "status": "king"})
	requireCode(t, err, "INVALID_PAYLOAD")
	_, err = b.svc.UserCreate(ctx, nil, map[string]any{"email": "a@example.com", "role": "not-a-uuid"})
	requireCode(t, err, "INVALID_PAYLOAD")
	_, err = b.svc.UserCreate(ctx, nil, map[string]any{"email": "a@example.com", "role": "00000000-0000-0000-0000-000000000001"})
	var ce *store.ConstraintError
	require.True(t, errors.As(err, &ce), "%v", err)
	require.Equal(t, "INVALID_FOREIGN_KEY", ce.Code)
	require.Equal(t, "role", ce.Column)
	_, err = b.svc.UserCreate(ctx, nil, map[string]any{"email": "Admin@Example.com"})
	require.True(t, errors.As(err, &ce), "%v", err)
	require.Equal(t, "RECORD_NOT_UNIQUE", ce.Code)
	require.Equal(t, "email", ce.Column)

	item, err := b.svc.UserCreate(ctx, nil, map[string]any{"email": "sec@example.com", "password": "plain-pw-123",
		"token": "plain-static-token-123456"})
	require.NoError(t, err)
	require.Equal(t, "**********", item["password"])
	require.Equal(t, "**********", item["token"])

	// Neither the password nor the token is anywhere in the database in
	// clear: not in the users table, not in the event log.
	var n int
	require.NoError(t, b.db.Pool.QueryRow(ctx, `SELECT count(*) FROM hookd_users
		WHERE password LIKE '%plain-pw-123%' OR convert_from(token_hash, 'LATIN1') LIKE '%plain-static%'`).Scan(&n))
	require.Zero(t, n)
	require.NoError(t, b.db.Pool.QueryRow(ctx, `SELECT count(*) FROM hookd_event
		WHERE concat(data::text, old_data::text, payload::text) ~ 'plain-pw|plain-static|argon2'`).Scan(&n))
	require.Zero(t, n)
	require.NoError(t, b.db.Pool.QueryRow(ctx, `SELECT count(*) FROM hookd_event WHERE collection = 'directus_users'`).Scan(&n))
	require.Equal(t, 2, n, "bootstrap admin + this user")
}

func TestWritesRunFiltersEnqueueActionsAndAppendEvents(t *testing.T) {
	t.Parallel()
	d := testdb.New(t)
	ctx := context.Background()
	var mu sync.Mutex
	var seen []string
	record := func(s string) { mu.Lock(); seen = append(seen, s); mu.Unlock() }
	noop := func(context.Context, hooks.Meta, hooks.EventContext) error { return nil }
	bus, err := event.NewBus(ctx, &event.BusConfig{Pool: d.Pool, Extensions: []hooks.Extension{{ID: "t",
		Register: func(r hooks.Registrar, _ *hooks.Context) error {
			r.Filter("users.create", func(_ context.Context, p any, m hooks.Meta, ec hooks.EventContext) (any, error) {
				record("filter " + m.Event)
				require.NotNil(t, ec.Database, "filters run in the transaction")
				payload := p.(map[string]any)
				if payload["first_name"] == "Forbidden" {
					return nil, hooks.InvalidPayload("no Forbiddens")
				}
				out := map[string]any{}
				for k, v := range payload {
					out[k] = v
				}
				out["last_name"] = "Filtered"
				return out, nil
			})
			r.Filter("auth.login", func(_ context.Context, p any, m hooks.Meta, _ hooks.EventContext) (any, error) {
				record("filter auth.login " + m.Extra["status"].(string))
				return nil, nil
			})
			r.Filter("auth.jwt", func(_ context.Context, p any, m hooks.Meta, _ hooks.EventContext) (any, error) {
				record("filter auth.jwt " + m.Extra["type"].(string))
				claims := p.(map[string]any)
				claims["custom"] = "yes"
				return claims, nil
			})
			r.Action("users.*", noop)
			r.Action("roles.delete", noop)
			r.Action("permissions.create", noop)
			r.Action("auth.login", noop)
			return nil
		}}}})
	require.NoError(t, err)
	woken := make(chan struct{}, 100)
	svc := newService(t, d, func(c *auth.Config) {
		c.Hooks = bus
		c.Wake = func() { woken <- struct{}{} }
	})

	_, err = svc.UserCreate(ctx, nil, map[string]any{"email": "f@example.com", "first_name": "Forbidden"})
	requireCode(t, err, "INVALID_PAYLOAD")
	n, err := store.UserCount(ctx, d.Pool)
	require.NoError(t, err)
	require.Zero(t, n, "a filter error rolls the write back")

	role, err := svc.RoleCreateMany(ctx, nil, []map[string]any{{"name": "Writers"}})
	require.NoError(t, err)
	user, err := svc.UserCreate(ctx, nil, map[string]any{"email": "w@example.com", "password": "pw-w-12345",
		"role": role[0]["id"]})
	require.NoError(t, err)
	require.Equal(t, "Filtered", user["last_name"])
	<-woken
	_, err = svc.PermissionCreateMany(ctx, nil, []map[string]any{{"role": role[0]["id"], "collection": "posts", "action": "read"}})
	require.NoError(t, err)
	tokens, _, err := svc.Login(ctx, "w@example.com", "pw-w-12345", auth.LoginMeta{})
	require.NoError(t, err)
	_, _, err = svc.Login(ctx, "w@example.com", "wrong", auth.LoginMeta{})
	requireCode(t, err, "INVALID_CREDENTIALS")
	raw, _ := base64.RawURLEncoding.DecodeString(strings.Split(tokens.AccessToken, ".")[1])
	require.Contains(t, string(raw), `"custom":"yes"`, "auth.jwt filters the claims")
	_, _, err = svc.AuthenticateToken(ctx, tokens.AccessToken)
	require.NoError(t, err, "custom claims keep the token valid")
	require.NoError(t, svc.RoleDeleteMany(ctx, nil, []string{role[0]["id"].(string)}))

	mu.Lock()
	require.Equal(t, []string{"filter users.create", "filter users.create", "filter auth.login pending",
		"filter auth.jwt login", "filter auth.login pending"}, seen)
	mu.Unlock()

	type job struct {
		Hook  string
		Event string
		IDs   int
	}
	rows, err := d.Pool.Query(ctx, `SELECT args->>'hook_id', args->>'event', jsonb_array_length(args->'event_ids')
		FROM river_job ORDER BY id`)
	require.NoError(t, err)
	var jobs []job
	for rows.Next() {
		var j job
		require.NoError(t, rows.Scan(&j.Hook, &j.Event, &j.IDs))
		jobs = append(jobs, j)
	}
	require.NoError(t, rows.Err())
	require.Equal(t, []job{
		{"t:users.*", "users.create", 1},
		{"t:permissions.create", "permissions.create", 1},
		{"t:auth.login", "auth.login", 0},
		{"t:auth.login", "auth.login", 0},
		{"t:roles.delete", "roles.delete", 1},
	}, jobs)
	var statuses []string
	rows, err = d.Pool.Query(ctx, `SELECT args->'meta'->'payload'::text FROM river_job WHERE args->>'event' = 'auth.login' ORDER BY id`)
	require.NoError(t, err)
	for rows.Next() {
		var s string
		require.NoError(t, rows.Scan(&s))
		statuses = append(statuses, s)
	}
	require.Equal(t, []string{`{"email": "w@example.com"}`, `{"email": "w@example.com"}`}, statuses,
		"login jobs carry the email, never the password")

	// Durable auth.login actions get Directus's meta: status, user, provider.
	rows, err = d.Pool.Query(ctx, `SELECT args->'meta'->'extra'->>'status', args->'meta'->'extra'->>'provider',
		args->'meta'->'extra' ? 'user' FROM river_job WHERE args->>'event' = 'auth.login' ORDER BY id`)
	require.NoError(t, err)
	var extras []string
	for rows.Next() {
		var status, provider string
		var hasUser bool
		require.NoError(t, rows.Scan(&status, &provider, &hasUser))
		extras = append(extras, fmt.Sprintf("%s/%s/%v", status, provider, hasUser))
	}
	require.NoError(t, rows.Err())
	require.Equal(t, []string{"success/default/true", "fail/default/true"}, extras)

	events, err := d.Pool.Query(ctx, `SELECT name, scope, collection, origin FROM hookd_event ORDER BY id`)
	require.NoError(t, err)
	var names []string
	for events.Next() {
		var name, scope, coll, origin string
		require.NoError(t, events.Scan(&name, &scope, &coll, &origin))
		names = append(names, name+"/"+scope+"/"+coll+"/"+origin)
	}
	require.Equal(t, []string{"roles.create/roles/directus_roles/api", "users.create/users/directus_users/api",
		"permissions.create/permissions/directus_permissions/api", "roles.delete/roles/directus_roles/api"}, names)
}

func TestPermissionSource(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	ctx := context.Background()
	role, err := b.svc.RoleCreateMany(ctx, nil, []map[string]any{{"name": "Readers"}})
	require.NoError(t, err)
	roleID := role[0]["id"].(string)
	created, err := b.svc.PermissionCreateMany(ctx, nil, []map[string]any{
		{"role": roleID, "collection": "posts", "action": "read", "permissions": map[string]any{"author": map[string]any{"_eq": "$CURRENT_USER"}},
			"fields": "id,title"},
		{"role": nil, "collection": "posts", "action": "read", "fields": []any{"id"}},
	})
	require.NoError(t, err)
	require.Equal(t, []string{"id", "title"}, created[0]["fields"])

	p, err := b.svc.Permission(ctx, &hooks.Accountability{User: "u", Role: roleID}, "posts", "read")
	require.NoError(t, err)
	require.Equal(t, &hooks.Permission{Role: roleID, Collection: "posts", Action: "read",
		Permissions: map[string]any{"author": map[string]any{"_eq": "$CURRENT_USER"}}, Fields: []string{"id", "title"}}, p)
	pub, err := b.svc.Permission(ctx, &hooks.Accountability{}, "posts", "read")
	require.NoError(t, err)
	require.Equal(t, "", pub.Role)
	require.Equal(t, []string{"id"}, pub.Fields)
	none, err := b.svc.Permission(ctx, &hooks.Accountability{Role: roleID}, "posts", "delete")
	require.NoError(t, err)
	require.Nil(t, none)
	admin, err := b.svc.Permission(ctx, &hooks.Accountability{Admin: true}, "anything", "delete")
	require.NoError(t, err)
	require.Equal(t, []string{"*"}, admin.Fields)

	// Duplicates of (role, collection, action) are refused.
	_, err = b.svc.PermissionCreateMany(ctx, nil, []map[string]any{{"role": roleID, "collection": "posts", "action": "read"}})
	var ce *store.ConstraintError
	require.True(t, errors.As(err, &ce), "%v", err)
	require.Equal(t, "RECORD_NOT_UNIQUE", ce.Code)
	_, err = b.svc.PermissionCreateMany(ctx, nil, []map[string]any{{"collection": "posts", "action": "frobnicate"}})
	requireCode(t, err, "INVALID_PAYLOAD")
	_, err = b.svc.PermissionCreateMany(ctx, nil, []map[string]any{{"collection": "posts", "action": "update", "permissions": "all"}})
	requireCode(t, err, "INVALID_PAYLOAD")

	// Updates and deletes are seen at once by this instance.
	_, err = b.svc.PermissionUpdateMany(ctx, nil, []string{jsonKey(created[0]["id"])}, map[string]any{"fields": []any{"*"}})
	require.NoError(t, err)
	p, err = b.svc.Permission(ctx, &hooks.Accountability{Role: roleID}, "posts", "read")
	require.NoError(t, err)
	require.Equal(t, []string{"*"}, p.Fields)
	require.NoError(t, b.svc.PermissionDeleteMany(ctx, nil, []string{jsonKey(created[0]["id"])}))
	p, err = b.svc.Permission(ctx, &hooks.Accountability{Role: roleID}, "posts", "read")
	require.NoError(t, err)
	require.Nil(t, p)

	// The result is the caller's: changing it does not change the source.
	pub.Fields[0] = "secret"
	again, err := b.svc.Permission(ctx, &hooks.Accountability{}, "posts", "read")
	require.NoError(t, err)
	require.True(t, slices.Equal([]string{"id"}, again.Fields))
}

func jsonKey(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestPasswordChangeEndsSessions(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	ctx := context.Background()
	id := b.createUser(t, "pc@example.com", "old-password-1", nil)
	tokens, _, err := b.svc.Login(ctx, "pc@example.com", "old-password-1", auth.LoginMeta{})
	require.NoError(t, err)
	_, err = b.svc.UserUpdate(ctx, nil, id, map[string]any{"first_name": "Pat"})
	require.NoError(t, err)
	tokens, _, err = b.svc.Refresh(ctx, tokens.RefreshToken)
	require.NoError(t, err, "other changes keep the sessions")
	require.NoError(t, b.svc.UserPasswordSet(ctx, "PC@example.com", "new-password-2"))
	_, _, err = b.svc.Refresh(ctx, tokens.RefreshToken)
	requireCode(t, err, "INVALID_CREDENTIALS")
	_, _, err = b.svc.Login(ctx, "pc@example.com", "old-password-1", auth.LoginMeta{})
	requireCode(t, err, "INVALID_CREDENTIALS")
	_, _, err = b.svc.Login(ctx, "pc@example.com", "new-password-2", auth.LoginMeta{})
	require.NoError(t, err)
}
