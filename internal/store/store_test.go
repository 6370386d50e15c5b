package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/internal/store"
	"github.com/hookd/hookd/internal/testdb"
)

func TestTranslateConstraintErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := testdb.New(t)
	_, err := d.Pool.Exec(ctx, `
		CREATE TABLE authors (id int PRIMARY KEY);
		CREATE TABLE posts (
			id int PRIMARY KEY,
			slug varchar(5) UNIQUE,
			title text NOT NULL,
			author int REFERENCES authors(id),
			score smallint,
			CONSTRAINT positive CHECK (score IS NULL OR score > 0)
		);`)
	require.NoError(t, err)
	_, err = d.Pool.Exec(ctx, `INSERT INTO posts (id, slug, title) VALUES (1, 'a', 't')`)
	require.NoError(t, err)

	cases := map[string]struct {
		sql    string
		code   string
		column string
	}{
		"unique":       {`INSERT INTO posts (id, slug, title) VALUES (2, 'a', 't')`, "RECORD_NOT_UNIQUE", ""},
		"not null":     {`INSERT INTO posts (id) VALUES (3)`, "NOT_NULL_VIOLATION", "title"},
		"foreign key":  {`INSERT INTO posts (id, title, author) VALUES (4, 't', 99)`, "INVALID_FOREIGN_KEY", ""},
		"too long":     {`INSERT INTO posts (id, title, slug) VALUES (5, 't', 'toolong')`, "VALUE_TOO_LONG", ""},
		"out of range": {`INSERT INTO posts (id, title, score) VALUES (6, 't', 99999)`, "VALUE_OUT_OF_RANGE", ""},
		"check":        {`INSERT INTO posts (id, title, score) VALUES (7, 't', -1)`, "INVALID_PAYLOAD", ""},
		"bad text":     {`INSERT INTO posts (id, title) VALUES ('x', 't')`, "INVALID_PAYLOAD", ""},
	}
	for name, c := range cases {
		_, err := d.Pool.Exec(ctx, c.sql)
		err = store.Translate(err)
		var ce *store.ConstraintError
		require.ErrorAs(t, err, &ce, name)
		require.Equal(t, c.code, ce.Code, name)
		if c.column != "" {
			require.Equal(t, c.column, ce.Column, name)
		}
	}
}

func TestTranslateNoRowsAndPassThrough(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := testdb.New(t)
	var x int
	err := store.Translate(d.Pool.QueryRow(ctx, "SELECT 1 WHERE false").Scan(&x))
	require.ErrorIs(t, err, store.ErrNotFound)

	plain := errors.New("plain")
	require.Same(t, plain, store.Translate(plain))
	require.NoError(t, store.Translate(nil))

	_, err = d.Pool.Exec(ctx, "SELEC 1")
	require.Error(t, store.Translate(err), "syntax errors pass through untranslated")
}

func TestOpenRejectsBadURLWithoutLeakingPassword(t *testing.T) {
	t.Parallel()
	_, err := store.Open(context.Background(), &store.PoolConfig{URL: "postgres://u:hunter2@h:badport/db"})
	require.ErrorContains(t, err, "invalid database URL")
	require.NotContains(t, err.Error(), "hunter2")

	_, err = store.Open(context.Background(), &store.PoolConfig{})
	require.ErrorContains(t, err, "DB_CONNECTION_STRING")
}

func TestRiverLeaderNotFoundWithoutClient(t *testing.T) {
	t.Parallel()
	d := testdb.New(t)
	_, err := store.RiverLeader(context.Background(), d.Pool)
	require.ErrorIs(t, err, store.ErrNotFound)
}
