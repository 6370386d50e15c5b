package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/internal/app"
	"github.com/hookd/hookd/internal/config"
	"github.com/hookd/hookd/internal/testdb"
)

const (
	authAdminEmail    = "root@example.com"
	authAdminPassword = "admin-password-Zq81"
)

// lockedBuffer collects the app's logs (written from many goroutines).
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type authBundle struct {
	db   *testdb.DB
	app  *app.App
	base string
	logs *lockedBuffer
}

// setupAuthApp starts a whole hookd instance (debug logs captured) on a
// fresh database after running ddl.
func setupAuthApp(t *testing.T, env map[string]string, ddl string) *authBundle {
	t.Helper()
	ctx := context.Background()
	d := testdb.New(t)
	if ddl != "" {
		_, err := d.Pool.Exec(ctx, ddl)
		require.NoError(t, err)
	}
	all := map[string]string{"DATABASE_URL": d.URL, "HOST": "127.0.0.1", "PORT": "0", "SECRET": "test-secret",
		"ADMIN_EMAIL": authAdminEmail, "ADMIN_PASSWORD": authAdminPassword, "LOG_LEVEL": "debug"}
	for k, v := range env {
		all[k] = v
	}
	cfg, err := config.Load(func(k string) (string, bool) { v, ok := all[k]; return v, ok })
	require.NoError(t, err)
	logs := &lockedBuffer{}
	a, err := app.New(ctx, &app.Config{Config: cfg, Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		InstanceID: "auth-" + d.Name})
	require.NoError(t, err)
	require.NoError(t, a.Start(ctx))
	t.Cleanup(func() { _ = a.Stop(context.Background()) })
	return &authBundle{db: d, app: a, base: "http://" + a.Addr(), logs: logs}
}

type authResp struct {
	status  int
	header  http.Header
	cookies []*http.Cookie
	body    map[string]any
	raw     string
}

// req sends a request; opts are "bearer:<token>" or a *http.Cookie.
func (b *authBundle) req(t *testing.T, method, path, body string, opts ...any) authResp {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r, err := http.NewRequest(method, b.base+path, rd)
	require.NoError(t, err)
	r.Header.Set("Content-Type", "application/json")
	for _, o := range opts {
		switch o := o.(type) {
		case string:
			token, ok := strings.CutPrefix(o, "bearer:")
			require.True(t, ok, o)
			r.Header.Set("Authorization", "Bearer "+token)
		case *http.Cookie:
			r.AddCookie(o)
		}
	}
	res, err := http.DefaultClient.Do(r)
	require.NoError(t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	out := authResp{status: res.StatusCode, header: res.Header, cookies: res.Cookies(), raw: string(raw)}
	if len(bytes.TrimSpace(raw)) > 0 {
		require.NoError(t, json.Unmarshal(raw, &out.body), string(raw))
	}
	return out
}

func (r authResp) code(t *testing.T) string {
	t.Helper()
	errs, ok := r.body["errors"].([]any)
	require.True(t, ok, "want an error envelope, got %d %s", r.status, r.raw)
	require.Len(t, errs, 1)
	return errs[0].(map[string]any)["extensions"].(map[string]any)["code"].(string)
}

func (r authResp) data(t *testing.T) map[string]any {
	t.Helper()
	d, ok := r.body["data"].(map[string]any)
	require.True(t, ok, "want {data:{…}}, got %d %s", r.status, r.raw)
	return d
}

func (r authResp) cookie(name string) *http.Cookie {
	for _, c := range r.cookies {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func (b *authBundle) login(t *testing.T, email, password string) (access, refresh string) {
	t.Helper()
	r := b.req(t, "POST", "/auth/login", fmt.Sprintf(`{"email":%q,"password":%q}`, email, password))
	require.Equal(t, http.StatusOK, r.status, r.raw)
	d := r.data(t)
	return d["access_token"].(string), d["refresh_token"].(string)
}

func TestAuthLoginModesRefreshAndLogout(t *testing.T) {
	t.Parallel()
	b := setupAuthApp(t, nil, "")

	// json (the default): both tokens in the body, expires in ms.
	r := b.req(t, "POST", "/auth/login", `{"email":"ROOT@example.com","password":"`+authAdminPassword+`"}`)
	require.Equal(t, http.StatusOK, r.status, r.raw)
	d := r.data(t)
	require.Equal(t, float64(15*60*1000), d["expires"])
	require.NotEmpty(t, d["access_token"])
	require.NotEmpty(t, d["refresh_token"])
	require.Len(t, d, 3)
	refresh := d["refresh_token"].(string)

	// Refresh rotates: the old token is refused afterwards.
	r = b.req(t, "POST", "/auth/refresh", `{"refresh_token":"`+refresh+`","mode":"json"}`)
	require.Equal(t, http.StatusOK, r.status, r.raw)
	newRefresh := r.data(t)["refresh_token"].(string)
	require.NotEqual(t, refresh, newRefresh)
	r = b.req(t, "POST", "/auth/refresh", `{"refresh_token":"`+refresh+`","mode":"json"}`)
	require.Equal(t, http.StatusUnauthorized, r.status, r.raw)
	require.Equal(t, "INVALID_CREDENTIALS", r.code(t))

	// cookie: the refresh token is an httpOnly cookie, not in the body.
	r = b.req(t, "POST", "/auth/login", `{"email":"root@example.com","password":"`+authAdminPassword+`","mode":"cookie"}`)
	require.Equal(t, http.StatusOK, r.status, r.raw)
	d = r.data(t)
	require.NotEmpty(t, d["access_token"])
	require.NotContains(t, d, "refresh_token")
	rc := r.cookie("directus_refresh_token")
	require.NotNil(t, rc)
	require.True(t, rc.HttpOnly)
	require.Equal(t, 7*24*3600, rc.MaxAge)
	r = b.req(t, "POST", "/auth/refresh", "", &http.Cookie{Name: rc.Name, Value: rc.Value})
	require.Equal(t, http.StatusOK, r.status, r.raw)
	rc2 := r.cookie("directus_refresh_token")
	require.NotNil(t, rc2)
	require.NotEqual(t, rc.Value, rc2.Value)
	r = b.req(t, "POST", "/auth/refresh", "", &http.Cookie{Name: rc.Name, Value: rc.Value})
	require.Equal(t, http.StatusUnauthorized, r.status, r.raw)

	// session: a session cookie only; it authenticates requests, is
	// renewed by /auth/refresh, and dies at logout.
	r = b.req(t, "POST", "/auth/login", `{"email":"root@example.com","password":"`+authAdminPassword+`","mode":"session"}`)
	require.Equal(t, http.StatusOK, r.status, r.raw)
	d = r.data(t)
	require.Equal(t, map[string]any{"expires": float64(7 * 24 * 3600 * 1000)}, d)
	sc := r.cookie("directus_session_token")
	require.NotNil(t, sc)
	require.True(t, sc.HttpOnly)
	session := &http.Cookie{Name: sc.Name, Value: sc.Value}
	r = b.req(t, "GET", "/users/me", "", session)
	require.Equal(t, http.StatusOK, r.status, r.raw)
	require.Equal(t, authAdminEmail, r.data(t)["email"])
	r = b.req(t, "POST", "/auth/refresh", `{"mode":"session"}`, session)
	require.Equal(t, http.StatusOK, r.status, r.raw)
	sc2 := r.cookie("directus_session_token")
	require.NotNil(t, sc2)
	require.NotEqual(t, sc.Value, sc2.Value)
	r = b.req(t, "GET", "/users/me", "", session)
	require.Equal(t, http.StatusUnauthorized, r.status, "the renewed session replaced the old one: %s", r.raw)
	require.Equal(t, -1, r.cookie("directus_session_token").MaxAge, "a dead session cookie is cleared")
	session = &http.Cookie{Name: sc2.Name, Value: sc2.Value}
	r = b.req(t, "POST", "/auth/logout", "", session)
	require.Equal(t, http.StatusNoContent, r.status, r.raw)
	r = b.req(t, "GET", "/users/me", "", session)
	require.Equal(t, http.StatusUnauthorized, r.status, r.raw)

	// Logout with a json refresh token.
	_, refresh = b.login(t, authAdminEmail, authAdminPassword)
	r = b.req(t, "POST", "/auth/logout", `{"refresh_token":"`+refresh+`"}`)
	require.Equal(t, http.StatusNoContent, r.status, r.raw)
	r = b.req(t, "POST", "/auth/refresh", `{"refresh_token":"`+refresh+`"}`)
	require.Equal(t, http.StatusUnauthorized, r.status, r.raw)
	r = b.req(t, "POST", "/auth/logout", "")
	require.Equal(t, http.StatusBadRequest, r.status, r.raw)
	require.Equal(t, "INVALID_PAYLOAD", r.code(t))
}

func TestAuthTokenSourcesAndBadTokens(t *testing.T) {
	t.Parallel()
	// A JWT's exp is whole seconds (now + TTL, truncated, as Directus's
	// jsonwebtoken writes it), so a token lives between TTL − 1s and TTL:
	// 4s leaves the checks below at least 3s before the expiry they end on.
	b := setupAuthApp(t, map[string]string{"ACCESS_TOKEN_TTL": "4s"}, "")
	access, _ := b.login(t, authAdminEmail, authAdminPassword)

	r := b.req(t, "GET", "/users/me", "", "bearer:"+access)
	require.Equal(t, http.StatusOK, r.status, r.raw)
	me := r.data(t)
	require.Equal(t, authAdminEmail, me["email"])
	require.Equal(t, "**********", me["password"], "a set password reads as a mask, never the hash")
	r = b.req(t, "GET", "/users/me?access_token="+url.QueryEscape(access), "")
	require.Equal(t, http.StatusOK, r.status, r.raw)

	// No token: public. /users/me wants a user; /users wants an admin.
	r = b.req(t, "GET", "/users/me", "")
	require.Equal(t, http.StatusUnauthorized, r.status, r.raw)
	require.Equal(t, "INVALID_CREDENTIALS", r.code(t))
	r = b.req(t, "GET", "/users", "")
	require.Equal(t, http.StatusForbidden, r.status, r.raw)
	require.Equal(t, "FORBIDDEN", r.code(t))

	// Bad tokens are refused on any route, not downgraded to public.
	forged := access[:len(access)-4] + "AAAA"
	for _, tc := range []struct{ token, code string }{
		{forged, "INVALID_TOKEN"},
		{"eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJkaXJlY3R1cyJ9.x", "INVALID_TOKEN"},
		{"unknown-static-token", "INVALID_CREDENTIALS"},
	} {
		r = b.req(t, "GET", "/server/ping", "", "bearer:"+tc.token)
		require.Equal(t, http.StatusUnauthorized, r.status, r.raw)
		require.Equal(t, tc.code, r.code(t))
	}
	require.Eventually(t, func() bool {
		r := b.req(t, "GET", "/users/me", "", "bearer:"+access)
		return r.status == http.StatusUnauthorized && r.code(t) == "TOKEN_EXPIRED"
	}, 10*time.Second, 100*time.Millisecond)
}

func TestAuthLoginErrorsLookAlikeAndAreRateLimited(t *testing.T) {
	t.Parallel()
	b := setupAuthApp(t, map[string]string{"AUTH_LOGIN_RATE_LIMIT": "4", "AUTH_LOGIN_RATE_WINDOW": "1h"}, "")

	r := b.req(t, "POST", "/auth/login", `{"email":"nobody@example.com","password":"x"}`)
	require.Equal(t, http.StatusUnauthorized, r.status)
	unknown := r.raw
	r = b.req(t, "POST", "/auth/login", `{"email":"root@example.com","password":"wrong"}`)
	require.Equal(t, http.StatusUnauthorized, r.status)
	require.JSONEq(t, `{"errors":[{"message":"Invalid user credentials.","extensions":{"code":"INVALID_CREDENTIALS"}}]}`, r.raw)
	require.Equal(t, unknown, r.raw, "unknown email and wrong password answer the same")

	for _, body := range []string{`{"password":"x"}`, `{"email":"a@b.c"}`, `{"email":"a@b.c","password":"x","mode":"magic"}`,
		`{"email":"a@b.c","password":"x","admin":true}`, `{"email":1,"password":"x"}`, `[`} {
		r = b.req(t, "POST", "/auth/login", body)
		require.Equal(t, http.StatusBadRequest, r.status, body)
		require.Equal(t, "INVALID_PAYLOAD", r.code(t), body)
	}

	// Two attempts counted so far from this IP; the fifth is refused, even
	// with the right password.
	r = b.req(t, "POST", "/auth/login", `{"email":"root@example.com","password":"wrong"}`)
	require.Equal(t, http.StatusUnauthorized, r.status)
	r = b.req(t, "POST", "/auth/login", `{"email":"root@example.com","password":"`+authAdminPassword+`"}`)
	require.Equal(t, http.StatusOK, r.status, r.raw)
	r = b.req(t, "POST", "/auth/login", `{"email":"root@example.com","password":"`+authAdminPassword+`"}`)
	require.Equal(t, http.StatusTooManyRequests, r.status, r.raw)
	require.Equal(t, "REQUESTS_EXCEEDED", r.code(t))
}

// TestSystemCollectionQueries: /users, /roles and /permissions lists take
// the Directus query language (filter in both forms, search, sort, meta,
// the variables), with every name checked and every value bound; the
// password and token hashes cannot be named at all.
func TestSystemCollectionQueries(t *testing.T) {
	t.Parallel()
	b := setupAuthApp(t, nil, "")
	admin, _ := b.login(t, authAdminEmail, authAdminPassword)
	as := "bearer:" + admin
	r := b.req(t, "POST", "/roles", `[{"name":"Editors","app_access":true},{"name":"Guests"}]`, as)
	require.Equal(t, http.StatusOK, r.status, r.raw)
	editors := r.body["data"].([]any)[0].(map[string]any)["id"].(string)
	r = b.req(t, "POST", "/users", fmt.Sprintf(`[{"email":"ann@example.com","first_name":"Ann","role":%q},
		{"email":"bob@example.com","first_name":"Bob","last_name":"Annson","role":%q,"status":"suspended"},
		{"email":"cy@example.com","first_name":"Cy"}]`, editors, editors), as)
	require.Equal(t, http.StatusOK, r.status, r.raw)
	r = b.req(t, "POST", "/permissions", fmt.Sprintf(`[{"role":%q,"collection":"notes","action":"read"},
		{"role":null,"collection":"notes","action":"read"},{"role":null,"collection":"tags","action":"read"}]`, editors), as)
	require.Equal(t, http.StatusOK, r.status, r.raw)

	emails := func(path string) []string {
		t.Helper()
		r := b.req(t, "GET", path, "", as)
		require.Equal(t, http.StatusOK, r.status, "%s: %s", path, r.raw)
		var out []string
		for _, u := range r.body["data"].([]any) {
			out = append(out, u.(map[string]any)["email"].(string))
		}
		return out
	}
	q := url.QueryEscape
	require.Equal(t, []string{"ann@example.com", "bob@example.com", "cy@example.com", authAdminEmail}, emails("/users"))
	require.Equal(t, []string{"bob@example.com"}, emails("/users?filter="+q(`{"email":{"_eq":"bob@example.com"}}`)))
	require.Equal(t, []string{"ann@example.com"}, emails("/users?filter[status][_eq]=active&filter[role][_eq]="+editors))
	require.Equal(t, []string{"cy@example.com", "ann@example.com"},
		emails("/users?sort=-first_name&filter="+q(`{"_and":[{"first_name":{"_in":["Ann","Cy"]}}]}`)))
	// search: case-insensitive, across the text fields (Bob's last name).
	require.Equal(t, []string{"ann@example.com", "bob@example.com"}, emails("/users?search=ANN"))
	require.Equal(t, []string{authAdminEmail}, emails("/users?filter[id][_eq]=$CURRENT_USER"))
	require.Equal(t, []string{"bob@example.com", "cy@example.com"}, emails("/users?sort=email&offset=1&limit=2"))
	// A value that looks like SQL is a value.
	require.Empty(t, emails("/users?filter[email][_eq]="+q(`x' OR '1'='1`)))

	r = b.req(t, "GET", "/users?fields=email&meta=total_count,filter_count&filter[role][_eq]="+editors, "", as)
	require.Equal(t, http.StatusOK, r.status, r.raw)
	require.Equal(t, map[string]any{"total_count": float64(4), "filter_count": float64(2)}, r.body["meta"])
	r = b.req(t, "GET", "/users?fields=email", "", as)
	require.NotContains(t, r.body, "meta", "meta only when asked")
	r = b.req(t, "GET", "/users/me?fields[]=email&fields[]=first_name&limit=1", "", as)
	require.Equal(t, map[string]any{"email": authAdminEmail, "first_name": "Admin"}, r.data(t))

	r = b.req(t, "GET", "/roles?filter[app_access][_eq]=true&fields=name&sort=name", "", as)
	require.Equal(t, []any{map[string]any{"name": "Administrator"}, map[string]any{"name": "Editors"}}, r.body["data"])
	r = b.req(t, "GET", "/permissions?filter[role][_null]=true&fields=collection&sort=-collection", "", as)
	require.Equal(t, []any{map[string]any{"collection": "tags"}, map[string]any{"collection": "notes"}}, r.body["data"])
	r = b.req(t, "GET", "/permissions?search=TAG&filter[permissions][_null]=true&fields=collection", "", as)
	require.Equal(t, http.StatusOK, r.status, r.raw)
	require.Equal(t, []any{map[string]any{"collection": "tags"}}, r.body["data"])
	r = b.req(t, "GET", "/permissions?filter[collection][_eq]=notes&meta=filter_count&limit=0", "", as)
	require.Equal(t, http.StatusOK, r.status, r.raw)
	require.Equal(t, map[string]any{"filter_count": float64(2)}, r.body["meta"])

	for path, want := range map[string]string{
		"/users?filter[password][_null]=true":         `Field "password" in "filter" does not exist in collection "directus_users"`,
		"/users?filter[token][_nnull]=true":           `Field "token" in "filter" does not exist in collection "directus_users"`,
		"/users?sort=password":                        `Field "password" in "sort" does not exist in collection "directus_users"`,
		"/permissions?filter[fields][_eq]=id":         "fields",
		"/users?filter[nope][_eq]=1":                  `Field "nope" in "filter" does not exist in collection "directus_users"`,
		"/roles?filter[admin_access][_eq]=maybe":      "admin_access",
		"/permissions?filter[id][_gt]=abc":            `"id"`,
		"/users?filter=" + q(`{"email":`):             "filter",
		"/users?meta=everything":                      `"meta" may only list`,
		"/users?aggregate[count]=*":                   `"aggregate" is not supported`,
		"/users?limit=-2":                             "limit",
		"/users/" + editors + "?filter[email][_eq]=x": `"filter" is not supported`,
		"/roles/" + editors + "?sort=name":            `"sort" is not supported`,
		"/users/me?search=x":                          `"search" is not supported`,
	} {
		r = b.req(t, "GET", path, "", as)
		require.Equal(t, http.StatusBadRequest, r.status, "%s: %s", path, r.raw)
		require.Equal(t, "INVALID_QUERY", r.code(t), path)
		message := r.body["errors"].([]any)[0].(map[string]any)["message"]
		require.Contains(t, message, want, path)
	}
	// Still admin only, whatever the query.
	r = b.req(t, "GET", "/users?filter[email][_eq]=ann@example.com", "")
	require.Equal(t, http.StatusForbidden, r.status, r.raw)
}

func TestUsersRolesPermissionsOverHTTP(t *testing.T) {
	t.Parallel()
	b := setupAuthApp(t, nil, "")
	admin, _ := b.login(t, authAdminEmail, authAdminPassword)
	as := "bearer:" + admin

	r := b.req(t, "POST", "/roles", `{"name":"Editors","app_access":true}`, as)
	require.Equal(t, http.StatusOK, r.status, r.raw)
	role := r.data(t)
	require.Equal(t, false, role["admin_access"])
	roleID := role["id"].(string)

	static := "static-token-for-ed-0123456789"
	r = b.req(t, "POST", "/users", fmt.Sprintf(`{"email":"ed@example.com","password":"ed-password-1","role":%q,"token":%q,"first_name":"Ed"}`,
		roleID, static), as)
	require.Equal(t, http.StatusOK, r.status, r.raw)
	user := r.data(t)
	require.Equal(t, "**********", user["password"])
	require.Equal(t, "**********", user["token"])
	require.NotContains(t, r.raw, "ed-password-1")
	require.NotContains(t, r.raw, static)
	userID := user["id"].(string)

	// The static token authenticates, as a non-admin.
	r = b.req(t, "GET", "/users/me?fields=id,email,role", "", "bearer:"+static)
	require.Equal(t, http.StatusOK, r.status, r.raw)
	require.Equal(t, map[string]any{"id": userID, "email": "ed@example.com", "role": roleID}, r.data(t))
	for _, path := range []string{"/users", "/roles", "/permissions", "/users/" + userID} {
		r = b.req(t, "GET", path, "", "bearer:"+static)
		require.Equal(t, http.StatusForbidden, r.status, path)
	}
	r = b.req(t, "POST", "/permissions", `{"collection":"x","action":"read"}`, "bearer:"+static)
	require.Equal(t, http.StatusForbidden, r.status, r.raw)

	// Lists, projection and paging (filters: TestSystemCollectionQueries).
	r = b.req(t, "GET", "/users?fields=email&limit=1", "", as)
	require.Equal(t, http.StatusOK, r.status, r.raw)
	require.Equal(t, []any{map[string]any{"email": "ed@example.com"}}, r.body["data"])
	r = b.req(t, "GET", "/users?fields=email&limit=1&page=2", "", as)
	require.Equal(t, []any{map[string]any{"email": authAdminEmail}}, r.body["data"])
	r = b.req(t, "GET", "/users?fields=password_hash", "", as)
	require.Equal(t, "INVALID_QUERY", r.code(t))

	// Unknown ids answer like forbidden ones.
	for _, path := range []string{"/users/00000000-0000-0000-0000-000000000000", "/users/nope", "/roles/nope", "/permissions/999"} {
		r = b.req(t, "GET", path, "", as)
		require.Equal(t, http.StatusForbidden, r.status, path)
		require.Equal(t, "FORBIDDEN", r.code(t))
	}

	// Permissions CRUD.
	r = b.req(t, "POST", "/permissions", fmt.Sprintf(`[{"role":%q,"collection":"notes","action":"read","permissions":{"owner":{"_eq":"$CURRENT_USER"}}},
		{"role":null,"collection":"notes","action":"read","fields":["id"]}]`, roleID), as)
	require.Equal(t, http.StatusOK, r.status, r.raw)
	perms := r.body["data"].([]any)
	require.Len(t, perms, 2)
	p0 := perms[0].(map[string]any)
	require.Equal(t, []any{"*"}, p0["fields"])
	require.Nil(t, perms[1].(map[string]any)["role"])
	permID := fmt.Sprint(p0["id"])
	r = b.req(t, "PATCH", "/permissions/"+permID, `{"fields":["id","title"]}`, as)
	require.Equal(t, http.StatusOK, r.status, r.raw)
	require.Equal(t, []any{"id", "title"}, r.data(t)["fields"])
	r = b.req(t, "POST", "/permissions", fmt.Sprintf(`{"role":%q,"collection":"notes","action":"read"}`, roleID), as)
	require.Equal(t, http.StatusBadRequest, r.status, r.raw)
	require.Equal(t, "RECORD_NOT_UNIQUE", r.code(t))
	r = b.req(t, "DELETE", "/permissions", `[`+permID+`]`, as)
	require.Equal(t, http.StatusNoContent, r.status, r.raw)
	r = b.req(t, "GET", "/permissions", "", as)
	require.Len(t, r.body["data"], 1)

	// Suspending the user kills the static token at once.
	r = b.req(t, "PATCH", "/users/"+userID, `{"status":"suspended"}`, as)
	require.Equal(t, http.StatusOK, r.status, r.raw)
	require.Equal(t, "suspended", r.data(t)["status"])
	r = b.req(t, "GET", "/users/me", "", "bearer:"+static)
	require.Equal(t, http.StatusUnauthorized, r.status, r.raw)
	r = b.req(t, "PATCH", "/users", fmt.Sprintf(`{"keys":[%q],"data":{"status":"active","last_name":"Doe"}}`, userID), as)
	require.Equal(t, http.StatusOK, r.status, r.raw)
	r = b.req(t, "GET", "/users/me", "", "bearer:"+static)
	require.Equal(t, http.StatusOK, r.status, r.raw)
	require.Equal(t, "Doe", r.data(t)["last_name"])

	// Payload errors.
	r = b.req(t, "POST", "/users", `{"email":"ed@example.com"}`, as)
	require.Equal(t, "RECORD_NOT_UNIQUE", r.code(t))
	r = b.req(t, "POST", "/users", `{"email":"x@example.com","admin":true}`, as)
	require.Equal(t, "INVALID_PAYLOAD", r.code(t))
	r = b.req(t, "POST", "/roles", `{"admin_access":"yes"}`, as)
	require.Equal(t, "INVALID_PAYLOAD", r.code(t))
	r = b.req(t, "DELETE", "/users/"+userID, "", as)
	require.Equal(t, http.StatusNoContent, r.status, r.raw)
	r = b.req(t, "GET", "/users/me", "", "bearer:"+static)
	require.Equal(t, http.StatusUnauthorized, r.status, r.raw)
	r = b.req(t, "DELETE", "/roles/"+roleID, "", as)
	require.Equal(t, http.StatusNoContent, r.status, r.raw)

	// The events name the system collections and never hold secrets.
	var n int
	require.NoError(t, b.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM hookd_event
		WHERE collection IN ('directus_users','directus_roles','directus_permissions')`).Scan(&n))
	require.Equal(t, 12, n) // bootstrap role+user, role, user, 2 perms, perm update, perm delete, 2 user updates, user delete, role delete
	require.NoError(t, b.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM hookd_event
		WHERE concat(data::text, old_data::text, payload::text) ~ 'ed-password|static-token|argon2'`).Scan(&n))
	require.Zero(t, n)

	// Nothing secret reached the logs either (debug level).
	logs := b.logs.String()
	require.NotEmpty(t, logs)
	for _, secret := range []string{authAdminPassword, "ed-password-1", static, "$argon2id", admin} {
		require.NotContains(t, logs, secret)
	}
}
