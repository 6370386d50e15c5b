package app_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/internal/app"
	"github.com/hookd/hookd/internal/config"
	"github.com/hookd/hookd/internal/testdb"
)

type bundle struct {
	app  *app.App
	db   *testdb.DB
	base string
}

func setup(t *testing.T, extraEnv map[string]string) *bundle {
	t.Helper()
	d := testdb.New(t)
	env := map[string]string{"DATABASE_URL": d.URL, "HOST": "127.0.0.1", "PORT": "0", "SECRET": "test"}
	for k, v := range extraEnv {
		env[k] = v
	}
	cfg, err := config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	require.NoError(t, err)
	ctx := context.Background()
	a, err := app.New(ctx, &app.Config{Config: cfg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), InstanceID: "test-" + d.Name})
	require.NoError(t, err)
	require.NoError(t, a.Start(ctx))
	t.Cleanup(func() { _ = a.Stop(context.Background()) })
	return &bundle{app: a, db: d, base: "http://" + a.Addr()}
}

func get(t *testing.T, url string) (int, http.Header, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header, string(b)
}

func TestPing(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	status, hdr, body := get(t, b.base+"/server/ping")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "pong", body)
	require.NotEmpty(t, hdr.Get("X-Request-Id"))
}

func TestHealthReportsDatabaseAndRiver(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	// River elects a leader shortly after start; health names it.
	require.Eventually(t, func() bool {
		status, _, body := get(t, b.base+"/server/health")
		var h struct {
			Status string                    `json:"status"`
			Checks map[string]map[string]any `json:"checks"`
		}
		require.NoError(t, json.Unmarshal([]byte(body), &h))
		return status == 200 && h.Status == "ok" && h.Checks["database"]["status"] == "ok" &&
			h.Checks["river"]["status"] == "ok" && h.Checks["river"]["is_leader"] == true
	}, 20*time.Second, 100*time.Millisecond)
}

func TestHealthIs503WhenDatabaseIsGone(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	ctx := context.Background()
	// Make the database unreachable for this instance: forbid new
	// connections and end the existing ones.
	admin, err := pgx.Connect(ctx, testdb.URLFor("postgres"))
	require.NoError(t, err)
	defer admin.Close(ctx)
	_, err = admin.Exec(ctx, "ALTER DATABASE "+b.db.Name+" WITH ALLOW_CONNECTIONS false")
	require.NoError(t, err)
	t.Cleanup(func() {
		_, _ = admin.Exec(context.Background(), "ALTER DATABASE "+b.db.Name+" WITH ALLOW_CONNECTIONS true")
	})
	_, err = admin.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", b.db.Name)
	require.NoError(t, err)

	require.Eventually(t, func() bool {
		status, _, body := get(t, b.base+"/server/health")
		return status == http.StatusServiceUnavailable && strings.Contains(body, `"status":"error"`)
	}, 20*time.Second, 200*time.Millisecond)
}

func TestUnknownRouteIsDirectusShaped(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	status, hdr, body := get(t, b.base+"/nothing")
	require.Equal(t, http.StatusNotFound, status)
	require.Contains(t, hdr.Get("Content-Type"), "application/json")
	require.JSONEq(t, `{"errors":[{"message":"Route /nothing doesn't exist.","extensions":{"code":"ROUTE_NOT_FOUND"}}]}`, body)
}

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	b := setup(t, map[string]string{"MAX_PAYLOAD_SIZE": "1kb"})
	resp, err := http.Post(b.base+"/server/ping", "application/json", strings.NewReader(strings.Repeat("x", 2048)))
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	require.Contains(t, string(body), `"code":"CONTENT_TOO_LARGE"`)
}

func TestPortInUseFailsAtStart(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port

	d := testdb.New(t)
	env := map[string]string{"DATABASE_URL": d.URL, "HOST": "127.0.0.1", "PORT": strconv.Itoa(port)}
	cfg, err := config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	require.NoError(t, err)
	a, err := app.New(context.Background(), &app.Config{Config: cfg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	err = a.Start(context.Background())
	require.ErrorContains(t, err, "address already in use")
	require.NoError(t, a.Stop(context.Background()))
}

func TestStopIsGracefulAndIdempotent(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	require.NoError(t, b.app.Stop(context.Background()))
	require.NoError(t, b.app.Stop(context.Background()))
	select {
	case <-b.app.River().Stopped():
	case <-time.After(5 * time.Second):
		t.Fatal("River did not stop")
	}
	_, err := http.Get(b.base + "/server/ping")
	require.Error(t, err, "server still accepting after Stop")
}
