package app_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/hooks"
	"github.com/hookd/hookd/hooks/validatetitle"
	"github.com/hookd/hookd/internal/app"
	"github.com/hookd/hookd/internal/config"
	"github.com/hookd/hookd/internal/testdb"
)

// The app wires the hook engine: init hooks add middleware and routes,
// server.start reaches live actions, EXTENSIONS disables extensions, and a
// create through the items service runs its durable action on the app's
// River client.
func TestAppRunsHooks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := testdb.New(t)
	_, err := d.Pool.Exec(ctx, "CREATE TABLE notes (id serial PRIMARY KEY, title text)")
	require.NoError(t, err)

	started := make(chan string, 1)
	created := make(chan hooks.Meta, 1)
	enabled := hooks.Extension{ID: "wired", Register: func(r hooks.Registrar, _ *hooks.Context) error {
		r.Init("middlewares.before", func(_ context.Context, m hooks.Meta) error {
			hooks.RouterFrom(m).Use(func(next http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("X-Hook", "wired")
					next.ServeHTTP(w, r)
				})
			})
			return nil
		})
		r.Init("routes.custom.before", func(_ context.Context, m hooks.Meta) error {
			hooks.RouterFrom(m).Get("/hook-route", func(w http.ResponseWriter, _ *http.Request) {
				_, _ = io.WriteString(w, "from a hook")
			})
			return nil
		})
		r.Action("server.start", func(_ context.Context, m hooks.Meta, _ hooks.EventContext) error {
			started <- m.Extra["addr"].(string)
			return nil
		})
		r.Action("notes.items.create", func(_ context.Context, m hooks.Meta, _ hooks.EventContext) error {
			created <- m
			return nil
		})
		return nil
	}}
	disabled := hooks.Extension{ID: "disabled", Register: func(r hooks.Registrar, _ *hooks.Context) error {
		r.Filter("items.create", func(context.Context, any, hooks.Meta, hooks.EventContext) (any, error) {
			return nil, hooks.Forbidden()
		})
		return nil
	}}

	env := map[string]string{"DATABASE_URL": d.URL, "HOST": "127.0.0.1", "PORT": "0", "SECRET": "test",
		"EXTENSIONS": "wired"}
	cfg, err := config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	require.NoError(t, err)
	a, err := app.New(ctx, &app.Config{Config: cfg, Logger: slog.New(slog.DiscardHandler), InstanceID: "hooks-" + d.Name,
		Extensions: []hooks.Extension{enabled, disabled}})
	require.NoError(t, err)
	require.NoError(t, a.Start(ctx))
	t.Cleanup(func() { _ = a.Stop(context.Background()) })
	require.Equal(t, a.Addr(), <-started)

	status, hdr, body := get(t, "http://"+a.Addr()+"/hook-route")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "from a hook", body)
	require.Equal(t, "wired", hdr.Get("X-Hook"))

	_, err = a.Schema().Reload(ctx)
	require.NoError(t, err)
	notes, err := a.Bus().Services().Items("notes", nil)
	require.NoError(t, err)
	key, err := notes.CreateOne(ctx, hooks.Item{"title": "hi"})
	require.NoError(t, err, "the disabled extension's filter must not run")
	select {
	case m := <-created:
		require.EqualValues(t, key, m.Key)
		require.Equal(t, "notes", m.Collection)
	case <-time.After(30 * time.Second):
		t.Fatal("the durable action did not run on the app's River client")
	}
}

func postJSON(t *testing.T, url, token, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	var out map[string]any
	require.NoError(t, json.NewDecoder(res.Body).Decode(&out))
	return res.StatusCode, out
}

// Over HTTP: the seed's cancelling filter (validate-title) answers with
// Directus's error envelope and nothing is written.
func TestHookErrorsReachTheClient(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := testdb.New(t)
	_, err := d.Pool.Exec(ctx, "CREATE TABLE notes (id serial PRIMARY KEY, title text)")
	require.NoError(t, err)
	env := map[string]string{"DATABASE_URL": d.URL, "HOST": "127.0.0.1", "PORT": "0", "SECRET": "test",
		"ADMIN_EMAIL": "admin@example.com", "ADMIN_PASSWORD": "correct horse battery"}
	cfg, err := config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	require.NoError(t, err)
	a, err := app.New(ctx, &app.Config{Config: cfg, Logger: slog.New(slog.DiscardHandler), InstanceID: "errors-" + d.Name,
		Extensions: []hooks.Extension{validatetitle.Extension}})
	require.NoError(t, err)
	require.NoError(t, a.Start(ctx))
	t.Cleanup(func() { _ = a.Stop(context.Background()) })
	base := "http://" + a.Addr()

	status, body := postJSON(t, base+"/auth/login", "", `{"email":"admin@example.com","password":"correct horse battery"}`)
	require.Equal(t, http.StatusOK, status, "%v", body)
	token := body["data"].(map[string]any)["access_token"].(string)

	status, body = postJSON(t, base+"/items/notes", token, `{"title":"   "}`)
	require.Equal(t, http.StatusBadRequest, status, "%v", body)
	require.Equal(t, map[string]any{"errors": []any{map[string]any{
		"message":    `Invalid payload. "title" must be a non-blank string.`,
		"extensions": map[string]any{"code": "INVALID_PAYLOAD"},
	}}}, body)
	var n int
	require.NoError(t, d.Pool.QueryRow(ctx, "SELECT count(*) FROM notes").Scan(&n))
	require.Zero(t, n)

	status, body = postJSON(t, base+"/items/notes", token, `{"title":"fine"}`)
	require.Equal(t, http.StatusOK, status, "%v", body)
	require.Equal(t, "fine", body["data"].(map[string]any)["title"])
}

// RequestsInFlight counts a request from its first byte until its handler
// has answered: not an idle keep-alive connection, nor one that never sent
// a request.
func TestRequestsInFlight(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := testdb.New(t)
	entered, release := make(chan struct{}), make(chan struct{})
	slow := hooks.Extension{ID: "slow", Register: func(r hooks.Registrar, _ *hooks.Context) error {
		r.Init("routes.custom.before", func(_ context.Context, m hooks.Meta) error {
			hooks.RouterFrom(m).Get("/slow", func(w http.ResponseWriter, _ *http.Request) {
				entered <- struct{}{}
				<-release
				_, _ = io.WriteString(w, "done")
			})
			return nil
		})
		return nil
	}}
	env := map[string]string{"DATABASE_URL": d.URL, "HOST": "127.0.0.1", "PORT": "0", "SECRET": "test"}
	cfg, err := config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	require.NoError(t, err)
	a, err := app.New(ctx, &app.Config{Config: cfg, Logger: slog.New(slog.DiscardHandler), InstanceID: "inflight-" + d.Name,
		Extensions: []hooks.Extension{slow}})
	require.NoError(t, err)
	require.NoError(t, a.Start(ctx))
	t.Cleanup(func() { _ = a.Stop(context.Background()) })

	// A connection that sends nothing is not a request.
	silent, err := net.Dial("tcp", a.Addr())
	require.NoError(t, err)
	defer silent.Close()
	// A keep-alive connection left idle by an answered request is not one.
	status, _, _ := get(t, "http://"+a.Addr()+"/server/ping")
	require.Equal(t, http.StatusOK, status)
	require.Eventually(t, func() bool { return a.RequestsInFlight() == 0 }, 10*time.Second, 5*time.Millisecond)

	answered := make(chan error, 2)
	for range 2 {
		go func() {
			resp, err := http.Get("http://" + a.Addr() + "/slow")
			if err == nil {
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			answered <- err
		}()
	}
	<-entered
	<-entered
	require.EqualValues(t, 2, a.RequestsInFlight())
	close(release)
	require.NoError(t, <-answered)
	require.NoError(t, <-answered)
	require.Eventually(t, func() bool { return a.RequestsInFlight() == 0 }, 10*time.Second, 5*time.Millisecond)
	require.NoError(t, silent.Close())
	require.Never(t, func() bool { return a.RequestsInFlight() != 0 }, 100*time.Millisecond, 5*time.Millisecond)
}
