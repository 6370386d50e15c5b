package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/internal/testdb"
)

func runCmd(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := run(ctx, args, func(k string) (string, bool) { v, ok := env[k]; return v, ok }, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestUsage(t *testing.T) {
	t.Parallel()
	code, _, stderr := runCmd(t, nil)
	require.Equal(t, 2, code)
	require.Contains(t, stderr, "usage: hookd")

	code, _, stderr = runCmd(t, nil, "frobnicate")
	require.Equal(t, 2, code)
	require.Contains(t, stderr, `unknown command "frobnicate"`)

	code, _, stderr = runCmd(t, nil, "migrate", "sideways")
	require.Equal(t, 2, code)
	require.Contains(t, stderr, "migrate takes one of up, down, status")
}

func TestBadEnvironmentIsOneClearLine(t *testing.T) {
	t.Parallel()
	code, _, stderr := runCmd(t, map[string]string{"PORT": "http", "DATABASE_URL": "postgres://x/y"}, "serve")
	require.Equal(t, 1, code)
	require.Equal(t, 1, strings.Count(strings.TrimSpace(stderr), "\n")+1, stderr)
	require.Contains(t, stderr, `invalid PORT="http"`)
}

func TestNoDatabaseConfigured(t *testing.T) {
	t.Parallel()
	code, _, stderr := runCmd(t, map[string]string{}, "serve")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "set DB_CONNECTION_STRING or DATABASE_URL")
}

func TestMalformedDatabaseURL(t *testing.T) {
	t.Parallel()
	code, _, stderr := runCmd(t, map[string]string{"DATABASE_URL": "postgres://user:s3cret@host:notaport/db", "DB_AUTO_MIGRATE": "false"}, "serve")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "invalid database URL")
	require.NotContains(t, stderr, "s3cret")
	require.NotContains(t, stderr, "goroutine", "no stack traces")
}

func TestUnreachableDatabaseFailsFast(t *testing.T) {
	t.Parallel()
	// A port nobody listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	start := time.Now()
	code, _, stderr := runCmd(t, map[string]string{"DATABASE_URL": "postgres://u@127.0.0.1:" + strconv.Itoa(port) + "/db?connect_timeout=3", "SECRET": "x"}, "serve")
	require.Equal(t, 1, code)
	require.Less(t, time.Since(start), 30*time.Second)
	require.Contains(t, stderr, "connect")
	require.Equal(t, 1, strings.Count(strings.TrimSpace(stderr), "\n")+1, stderr)
}

func TestMigrateStatusUpDown(t *testing.T) {
	t.Parallel()
	d := testdb.NewEmpty(t)
	env := map[string]string{"DATABASE_URL": d.URL}
	code, out, stderr := runCmd(t, env, "migrate", "status")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, out, "pending")

	code, out, stderr = runCmd(t, env, "migrate", "up")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, out, "applied 2 00002_event_log.sql")

	code, out, _ = runCmd(t, env, "migrate", "up")
	require.Equal(t, 0, code)
	require.Contains(t, out, "no pending migrations")

	code, out, stderr = runCmd(t, env, "migrate", "down")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, out, "rolled back")
}

func TestServeRunsUntilCancelled(t *testing.T) {
	t.Parallel()
	d := testdb.New(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var stderr bytes.Buffer
	extDir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(extDir, "index.js"), []byte("export default () => {}"), 0o644))
	env := map[string]string{"DATABASE_URL": d.URL, "HOST": "127.0.0.1", "PORT": strconv.Itoa(port), "SECRET": "x",
		"EXTENSIONS_PATH": extDir}
	go func() {
		done <- run(ctx, []string{"serve"}, func(k string) (string, bool) { v, ok := env[k]; return v, ok }, &bytes.Buffer{}, &stderr)
	}()
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(port) + "/server/ping")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 30*time.Second, 50*time.Millisecond)
	cancel() // what SIGINT/SIGTERM do through signal.NotifyContext
	select {
	case code := <-done:
		require.Equal(t, 0, code, stderr.String())
		require.Contains(t, stderr.String(), "file-based (JavaScript) extensions are not loaded yet",
			"a folder of extensions that will not run is reported, not silently ignored")
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not shut down")
	}
}
