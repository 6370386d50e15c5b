package query_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/hooks"
	"github.com/hookd/hookd/internal/query"
	"github.com/hookd/hookd/internal/schema"
	"github.com/hookd/hookd/internal/testdb"
)

type bundle struct {
	db     *testdb.DB
	schema *hooks.Schema
}

// setup creates a database, runs ddl and loads the schema with the real
// loader.
func setup(t *testing.T, ddl ...string) *bundle {
	t.Helper()
	d := testdb.New(t)
	ctx := context.Background()
	for _, stmt := range ddl {
		_, err := d.Pool.Exec(ctx, stmt)
		require.NoError(t, err, stmt)
	}
	l, err := schema.NewLoader(&schema.Config{Pool: d.Pool})
	require.NoError(t, err)
	s, err := l.Load(ctx)
	require.NoError(t, err)
	return &bundle{db: d, schema: s}
}

func (b *bundle) collection(t *testing.T, name string) *hooks.Collection {
	t.Helper()
	c := b.schema.Collections[name]
	require.NotNil(t, c, name)
	return c
}

// rows runs a statement whose single column is json and decodes each row
// (numbers as json.Number, as a row image would arrive).
func (b *bundle) rows(t *testing.T, st *query.Statement) []map[string]any {
	t.Helper()
	rows, err := b.db.Pool.Query(context.Background(), st.SQL, st.Args...)
	require.NoError(t, err, st.SQL)
	defer rows.Close()
	var out []map[string]any
	for rows.Next() {
		var raw []byte
		require.NoError(t, rows.Scan(&raw))
		dec := json.NewDecoder(strings.NewReader(string(raw)))
		dec.UseNumber()
		var m map[string]any
		require.NoError(t, dec.Decode(&m))
		out = append(out, m)
	}
	require.NoError(t, rows.Err(), st.SQL)
	return out
}

func (b *bundle) count(t *testing.T, st *query.Statement) int64 {
	t.Helper()
	var n int64
	require.NoError(t, b.db.Pool.QueryRow(context.Background(), st.SQL, st.Args...).Scan(&n), st.SQL)
	return n
}

// requireQueryError asserts err is a *hooks.Error with code and a message
// containing every part.
func requireQueryError(t *testing.T, err error, code string, parts ...string) {
	t.Helper()
	require.Error(t, err)
	he, ok := hooks.AsError(err)
	require.True(t, ok, "not a *hooks.Error: %v", err)
	require.Equal(t, code, he.Code, he.Message)
	for _, p := range parts {
		require.Contains(t, he.Message, p)
	}
}

func ptr[T any](v T) *T { return &v }
