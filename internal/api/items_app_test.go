package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/hooks"
	"github.com/hookd/hookd/internal/app"
	"github.com/hookd/hookd/internal/config"
	"github.com/hookd/hookd/internal/testdb"
)

// TestItemsThroughApp runs the items API in a whole instance with real
// authentication and hook extensions. It pins the app's HookPresence
// wiring: a create that some hook (by exact name, wildcard or collection
// tag) watches must take the hooked path, and only unwatched creates may
// take the one-statement short path.
func TestItemsThroughApp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := testdb.New(t)
	_, err := d.Pool.Exec(ctx, `
		CREATE TABLE articles (id serial PRIMARY KEY, title text NOT NULL, status text NOT NULL DEFAULT 'draft');
		CREATE TABLE notes (id serial PRIMARY KEY, title text NOT NULL, status text NOT NULL DEFAULT 'draft');
		CREATE TABLE logs (id serial PRIMARY KEY, title text NOT NULL, status text NOT NULL DEFAULT 'draft');`)
	require.NoError(t, err)
	ext := hooks.Extension{ID: "e2e", Register: func(r hooks.Registrar, _ *hooks.Context) error {
		mark := func(status string) hooks.FilterFunc {
			return func(_ context.Context, payload any, _ hooks.Meta, _ hooks.EventContext) (any, error) {
				out := hooks.Item{}
				for k, v := range payload.(hooks.Item) {
					out[k] = v
				}
				out["status"] = status
				return out, nil
			}
		}
		r.Filter("items.create", mark("tagged"), hooks.Collections("articles"))
		r.Filter("*.items.update", mark("wildcard"))
		r.Action("notes.items.create", func(context.Context, hooks.Meta, hooks.EventContext) error { return nil })
		return nil
	}}
	env := map[string]string{"DATABASE_URL": d.URL, "HOST": "127.0.0.1", "PORT": "0", "SECRET": "test",
		"ADMIN_EMAIL": "admin@example.com", "ADMIN_PASSWORD": "password-1234"}
	cfg, err := config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	require.NoError(t, err)
	a, err := app.New(ctx, &app.Config{Config: cfg, Logger: slog.New(slog.DiscardHandler), InstanceID: "t-" + d.Name,
		Extensions: []hooks.Extension{ext}})
	require.NoError(t, err)
	require.NoError(t, a.Start(ctx))
	t.Cleanup(func() { _ = a.Stop(context.Background()) })
	base := "http://" + a.Addr()
	require.Eventually(t, func() bool { return a.Schema().Current().Collections["logs"] != nil },
		10*time.Second, 10*time.Millisecond)

	call := func(method, path, token, body string) (int, map[string]any) {
		t.Helper()
		req, err := http.NewRequest(method, base+path, bytes.NewReader([]byte(body)))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		raw, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		var out map[string]any
		if len(raw) > 0 {
			require.NoError(t, json.Unmarshal(raw, &out), string(raw))
		}
		return res.StatusCode, out
	}
	status, out := call("POST", "/auth/login", "", `{"email":"admin@example.com","password":"password-1234","mode":"json"}`)
	require.Equal(t, http.StatusOK, status, out)
	token := out["data"].(map[string]any)["access_token"].(string)

	// Without a token the caller is public, which has no permissions.
	status, out = call("POST", "/items/articles", "", `{"title":"x"}`)
	require.Equal(t, http.StatusForbidden, status, out)

	statusOf := func(collection, body string) string {
		t.Helper()
		status, out := call("POST", "/items/"+collection, token, body)
		require.Equal(t, http.StatusOK, status, out)
		return out["data"].(map[string]any)["status"].(string)
	}
	require.Equal(t, "tagged", statusOf("articles", `{"title":"a"}`), "a collection-tagged filter runs")
	require.Equal(t, "draft", statusOf("notes", `{"title":"n"}`), "an action-only create keeps its payload")
	require.Equal(t, "draft", statusOf("logs", `{"title":"l"}`), "an unwatched create takes the short path")

	status, out = call("PATCH", "/items/logs/1", token, `{"title":"l2"}`)
	require.Equal(t, http.StatusOK, status, out)
	require.Equal(t, "wildcard", out["data"].(map[string]any)["status"], "a wildcard filter runs")

	// The action on notes was enqueued with the create, in its transaction.
	var jobs int
	require.NoError(t, d.Pool.QueryRow(ctx,
		`SELECT count(*) FROM river_job WHERE kind = 'hookd_action' AND args->>'event' = 'notes.items.create'`).Scan(&jobs))
	require.Equal(t, 1, jobs)
	var events int
	require.NoError(t, d.Pool.QueryRow(ctx, `SELECT count(*) FROM hookd_event WHERE collection IN ('articles', 'notes', 'logs')`).Scan(&events))
	require.Equal(t, 4, events)
}
