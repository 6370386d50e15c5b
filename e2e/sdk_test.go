package e2e

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/internal/app"
	"github.com/hookd/hookd/internal/config"
	"github.com/hookd/hookd/internal/testdb"
)

// TestDirectusSDK runs sdk.mjs, the official @directus/sdk, against a
// started hookd. It skips only when npm is missing (Node 22 and the SDK
// are installed with it); a failing install fails the test.
func TestDirectusSDK(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("npm"); err != nil {
		t.Skip("npm is not installed: the SDK end-to-end test needs it to install Node 22 and @directus/sdk")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir, err := os.Getwd()
	require.NoError(t, err)
	var stderr bytes.Buffer
	install := exec.CommandContext(ctx, "bash", filepath.Join(dir, "install.sh"))
	install.Stderr = &stderr
	out, err := install.Output()
	require.NoError(t, err, "install.sh: %s", stderr.String())
	node := strings.TrimSpace(string(out))
	require.FileExists(t, node)

	d := testdb.New(t)
	_, err = d.Pool.Exec(ctx, `CREATE TABLE articles (id serial PRIMARY KEY, title text,
		status text NOT NULL DEFAULT 'draft')`)
	require.NoError(t, err)
	env := map[string]string{"DATABASE_URL": d.URL, "HOST": "127.0.0.1", "PORT": "0", "SECRET": "e2e",
		"ADMIN_EMAIL": "admin@example.com", "ADMIN_PASSWORD": "e2e-password"}
	cfg, err := config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	require.NoError(t, err)
	// The server's warnings and errors are shown when the test fails.
	var logs syncBuffer
	a, err := app.New(ctx, &app.Config{Config: cfg, Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn})),
		InstanceID: "e2e-" + d.Name})
	require.NoError(t, err)
	require.NoError(t, a.Start(ctx))
	t.Cleanup(func() { _ = a.Stop(context.Background()) })

	runCtx, cancelRun := context.WithTimeout(ctx, 2*time.Minute)
	defer cancelRun()
	run := exec.CommandContext(runCtx, node, "sdk.mjs")
	run.Dir = dir
	run.Env = append(os.Environ(), "HOOKD_URL=http://"+a.Addr(), "HOOKD_EMAIL=admin@example.com",
		"HOOKD_PASSWORD=e2e-password")
	output, err := run.CombinedOutput()
	t.Logf("sdk.mjs:\n%s", output)
	if err != nil {
		t.Logf("hookd log:\n%s", logs.String())
		rows, qerr := d.Pool.Query(context.Background(), `SELECT id, tx_id::text, name, item_key::text,
			coalesce(data::text, ''), origin FROM hookd_event ORDER BY tx_id, id`)
		if qerr == nil {
			for rows.Next() {
				var id int64
				var tx, name, key, data, origin string
				if rows.Scan(&id, &tx, &name, &key, &data, &origin) == nil {
					t.Logf("event %d tx %s %s %s %s %s", id, tx, name, key, data, origin)
				}
			}
			rows.Close()
		}
	}
	require.NoError(t, err, "the SDK script failed")
	require.Contains(t, string(output), " passed, 0 failed")
}

// syncBuffer is a bytes.Buffer safe for the server's concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
