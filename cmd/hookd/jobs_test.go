package main

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/hooks"
	"github.com/hookd/hookd/internal/event"
	"github.com/hookd/hookd/internal/store"
	"github.com/hookd/hookd/internal/testdb"
)

func TestJobsListRetryCancel(t *testing.T) {
	t.Parallel()
	d := testdb.New(t)
	ctx := context.Background()
	bus, err := event.NewBus(ctx, &event.BusConfig{Pool: d.Pool, Extensions: []hooks.Extension{{ID: "audit",
		Register: func(r hooks.Registrar, _ *hooks.Context) error {
			r.Action("items.update", func(context.Context, hooks.Meta, hooks.EventContext) error {
				return errors.New("unused: no worker runs in this test")
			}, hooks.Name("log"))
			return nil
		}}}})
	require.NoError(t, err)
	tx, err := d.Pool.Begin(ctx)
	require.NoError(t, err)
	ids, err := store.EventAppendTx(ctx, tx, []store.EventAppendParams{{Name: "items.update", Scope: "items",
		Action: "update", Collection: "notes", ItemKey: 3}})
	require.NoError(t, err)
	require.NoError(t, bus.EnqueueActionsTx(ctx, tx, []string{"items.update"}, hooks.Meta{Collection: "notes", EventIDs: ids}))
	require.NoError(t, tx.Commit(ctx))
	var jobID string
	require.NoError(t, d.Pool.QueryRow(ctx, "SELECT id::text FROM river_job").Scan(&jobID))

	env := map[string]string{"DATABASE_URL": d.URL}
	code, out, stderr := runCmd(t, env, "jobs", "list", "--hook", "audit:items.update:log")
	require.Equal(t, 0, code, stderr)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 2, out)
	require.Regexp(t, `^`+jobID+`\s+action\s+available\s+0/25\s+audit:items.update:log\s+items.update\s+notes\s+\[\d+\]`, lines[1])

	code, out, stderr = runCmd(t, env, "jobs", "cancel", jobID)
	require.Equal(t, 0, code, stderr)
	require.Equal(t, "job "+jobID+" (hookd_action): cancelled\n", out)
	code, out, _ = runCmd(t, env, "jobs", "list", "--state", "cancelled")
	require.Equal(t, 0, code)
	require.Contains(t, out, "audit:items.update:log")

	code, out, stderr = runCmd(t, env, "jobs", "retry", jobID)
	require.Equal(t, 0, code, stderr)
	require.Equal(t, "job "+jobID+" (hookd_action): available\n", out)

	code, _, stderr = runCmd(t, env, "jobs", "retry", "987654")
	require.Equal(t, 1, code)
	require.Equal(t, "hookd: job 987654 not found\n", stderr)

	code, _, stderr = runCmd(t, env, "jobs", "retry", "x")
	require.Equal(t, 2, code)
	require.Contains(t, stderr, "jobs retry takes one job id")
}

func TestHooksList(t *testing.T) {
	t.Parallel()
	code, out, stderr := runCmd(t, map[string]string{"EXTENSIONS": "validate-title,notifications"}, "hooks", "list")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, out, "validate-title:items.create:title")
	require.Contains(t, out, "notifications:items.create:broadcast")
	require.Contains(t, out, "collections=notifications")

	code, out, _ = runCmd(t, map[string]string{"EXTENSIONS": "cron-webhook", "CRON_WEBHOOK_URL": "http://127.0.0.1:1/x"},
		"hooks", "list")
	require.Equal(t, 0, code)
	require.Contains(t, out, "schedule  cron-webhook:cron(*/15 * * * *):webhook")

	code, _, stderr = runCmd(t, map[string]string{"EXTENSIONS": "nope"}, "hooks", "list")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, `EXTENSIONS names "nope", which is not compiled in`)
}
