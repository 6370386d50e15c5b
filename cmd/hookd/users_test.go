package main

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/internal/auth"
	"github.com/hookd/hookd/internal/testdb"
)

func TestUsersCreateAndPasswd(t *testing.T) {
	t.Parallel()
	d := testdb.New(t)
	env := map[string]string{"DATABASE_URL": d.URL, "SECRET": "s"}
	ctx := context.Background()
	svc, err := auth.NewService(&auth.Config{Pool: d.Pool, Secret: "s"})
	require.NoError(t, err)

	code, stdout, stderr := runCmd(t, env, "users", "create", "--email", "boss@example.com", "--password", "first-pw-1", "--admin")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "created user ")
	require.NotContains(t, stdout+stderr, "first-pw-1")
	_, acc, err := svc.Login(ctx, "boss@example.com", "first-pw-1", auth.LoginMeta{})
	require.NoError(t, err)
	require.True(t, acc.Admin)

	code, _, stderr = runCmd(t, env, "users", "create", "--email", "ed@example.com", "--password", "ed-pw-1", "--role", auth.AdminRoleName)
	require.Equal(t, 0, code, stderr)
	_, acc, err = svc.Login(ctx, "ed@example.com", "ed-pw-1", auth.LoginMeta{})
	require.NoError(t, err)
	require.True(t, acc.Admin, "--role by name")

	code, _, stderr = runCmd(t, env, "users", "create", "--email", "BOSS@example.com", "--password", "x")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "already exists")
	code, _, stderr = runCmd(t, env, "users", "create", "--email", "z@example.com", "--password", "x", "--role", "Nope")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, `no role with id or name "Nope"`)

	code, stdout, stderr = runCmd(t, env, "users", "passwd", "--email", "boss@example.com", "--password", "second-pw-2")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "password changed")
	_, _, err = svc.Login(ctx, "boss@example.com", "first-pw-1", auth.LoginMeta{})
	require.Error(t, err)
	_, _, err = svc.Login(ctx, "boss@example.com", "second-pw-2", auth.LoginMeta{})
	require.NoError(t, err)
	code, _, stderr = runCmd(t, env, "users", "passwd", "--email", "ghost@example.com", "--password", "x")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, `no user with email "ghost@example.com"`)

	for _, args := range [][]string{{"users"}, {"users", "delete"}, {"users", "create", "--email", "a@b.c"},
		{"users", "create", "--email", "a@b.c", "--password", "x", "--admin", "--role", "r"},
		{"users", "passwd", "--email", "a@b.c", "--password", "x", "--admin"}} {
		code, _, stderr = runCmd(t, env, args...)
		require.Equal(t, 2, code, args)
		require.Contains(t, stderr, "usage: hookd")
	}
}
