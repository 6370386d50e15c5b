package schema_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/internal/schema"
	"github.com/hookd/hookd/internal/testdb"
)

func newLoader(t *testing.T, d *testdb.DB, schemaName string) *schema.Loader {
	t.Helper()
	l, err := schema.NewLoader(&schema.Config{Pool: d.Pool, Schema: schemaName,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), ReconnectDelay: 200 * time.Millisecond})
	require.NoError(t, err)
	return l
}

func exec(t *testing.T, d *testdb.DB, sql string) {
	t.Helper()
	_, err := d.Pool.Exec(context.Background(), sql)
	require.NoError(t, err)
}

func TestNewLoaderValidates(t *testing.T) {
	t.Parallel()
	_, err := schema.NewLoader(&schema.Config{})
	require.ErrorContains(t, err, "Pool")
	_, err = schema.NewLoader(nil)
	require.Error(t, err)
}

func TestLoadTypes(t *testing.T) {
	t.Parallel()
	d := testdb.New(t)
	exec(t, d, `CREATE EXTENSION IF NOT EXISTS citext`)
	exec(t, d, `CREATE DOMAIN short_text AS varchar(12)`)
	exec(t, d, `CREATE TABLE everything (
		id          integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
		small       smallint NOT NULL DEFAULT 0,
		big         bigint DEFAULT (-1),
		real4       real,
		dbl         double precision DEFAULT 1.5,
		amount      numeric(10,2) DEFAULT 9.99,
		code        varchar(20) NOT NULL DEFAULT 'draft',
		quoted      varchar DEFAULT 'it''s',
		fixed       char(3),
		ci          citext,
		body        text DEFAULT NULL,
		flag        boolean DEFAULT true,
		uid         uuid DEFAULT gen_random_uuid(),
		doc         jsonb DEFAULT '{}'::jsonb,
		plain_json  json,
		day         date,
		at_time     time,
		at_timetz   timetz,
		local_ts    timestamp,
		created_at  timestamptz NOT NULL DEFAULT now(),
		tags        text[],
		addr        inet,
		dom         short_text,
		doubled     integer GENERATED ALWAYS AS (small * 2) STORED
	)`)
	exec(t, d, `CREATE TABLE serials (id serial PRIMARY KEY, n bigserial)`)
	l := newLoader(t, d, "")
	s, err := l.Load(context.Background())
	require.NoError(t, err)

	c := s.Collections["everything"]
	require.NotNil(t, c)
	require.Equal(t, "everything", c.Name)
	require.Equal(t, "id", c.PrimaryKey)
	require.Empty(t, schema.KeyProblem(c))
	require.Equal(t, []string{"id", "small", "big", "real4", "dbl", "amount", "code", "quoted", "fixed", "ci",
		"body", "flag", "uid", "doc", "plain_json", "day", "at_time", "at_timetz", "local_ts", "created_at", "tags",
		"addr", "dom", "doubled"}, c.FieldOrder)
	require.Len(t, c.Fields, len(c.FieldOrder))

	types := map[string]string{}
	dbTypes := map[string]string{}
	for name, f := range c.Fields {
		require.Equal(t, name, f.Name)
		types[name] = f.Type
		dbTypes[name] = f.DBType
	}
	require.Equal(t, map[string]string{
		"id": "integer", "small": "integer", "big": "bigInteger", "real4": "float", "dbl": "float",
		"amount": "decimal", "code": "string", "quoted": "string", "fixed": "string", "ci": "string",
		"body": "text", "flag": "boolean", "uid": "uuid", "doc": "json", "plain_json": "json", "day": "date",
		"at_time": "time", "at_timetz": "time", "local_ts": "dateTime", "created_at": "timestamp",
		"tags": "unknown", "addr": "unknown", "dom": "string", "doubled": "integer",
	}, types)
	require.Equal(t, "character varying(20)", dbTypes["code"])
	require.Equal(t, "numeric(10,2)", dbTypes["amount"])
	require.Equal(t, "text[]", dbTypes["tags"])
	require.Equal(t, "timestamp with time zone", dbTypes["created_at"])
	require.Equal(t, "short_text", dbTypes["dom"])

	f := c.Fields
	require.True(t, f["id"].IsPrimaryKey)
	require.True(t, f["id"].Generated)
	require.False(t, f["id"].Nullable)
	require.True(t, f["doubled"].Generated)
	require.Nil(t, f["doubled"].DefaultValue)
	require.False(t, f["small"].Generated)
	require.False(t, f["small"].Nullable)
	require.True(t, f["big"].Nullable)
	require.False(t, f["code"].IsPrimaryKey)

	require.Equal(t, 20, *f["code"].MaxLength)
	require.Equal(t, 3, *f["fixed"].MaxLength)
	require.Equal(t, 12, *f["dom"].MaxLength)
	require.Nil(t, f["quoted"].MaxLength)
	require.Nil(t, f["body"].MaxLength)

	require.Equal(t, int64(0), f["small"].DefaultValue)
	require.Equal(t, int64(-1), f["big"].DefaultValue)
	require.Equal(t, 1.5, f["dbl"].DefaultValue)
	require.Equal(t, "9.99", f["amount"].DefaultValue)
	require.Equal(t, "draft", f["code"].DefaultValue)
	require.Equal(t, "it's", f["quoted"].DefaultValue)
	require.Equal(t, true, f["flag"].DefaultValue)
	require.Equal(t, "gen_random_uuid()", f["uid"].DefaultValue)
	require.Equal(t, "{}", f["doc"].DefaultValue)
	require.Equal(t, "now()", f["created_at"].DefaultValue)
	require.True(t, f["created_at"].HasDefault)
	require.False(t, f["body"].HasDefault)
	require.Nil(t, f["body"].DefaultValue)
	require.False(t, f["real4"].HasDefault)

	sc := s.Collections["serials"]
	require.NotNil(t, sc)
	require.True(t, sc.Fields["id"].Generated)
	require.True(t, sc.Fields["id"].HasDefault)
	require.Nil(t, sc.Fields["id"].DefaultValue)
	require.True(t, sc.Fields["n"].Generated)
	require.Equal(t, "integer", sc.Fields["id"].Type)
	require.Equal(t, "bigInteger", sc.Fields["n"].Type)
}

func TestLoadSelectsCollections(t *testing.T) {
	t.Parallel()
	d := testdb.New(t)
	exec(t, d, `CREATE TABLE articles (id uuid PRIMARY KEY, title text)`)
	exec(t, d, `CREATE TABLE "Mixed Case" (code text PRIMARY KEY)`)
	exec(t, d, `CREATE TABLE no_key (a int, b int)`)
	exec(t, d, `CREATE TABLE pair (a int, b int, PRIMARY KEY (b, a))`)
	exec(t, d, `CREATE TABLE empty ()`)
	exec(t, d, `CREATE TABLE hookd_private (id int PRIMARY KEY)`)
	exec(t, d, `CREATE VIEW article_view AS SELECT * FROM articles`)
	exec(t, d, `CREATE TABLE measurements (id bigint, at date, PRIMARY KEY (id)) PARTITION BY RANGE (id)`)
	exec(t, d, `CREATE TABLE measurements_1 PARTITION OF measurements FOR VALUES FROM (0) TO (100)`)
	exec(t, d, `CREATE SCHEMA other`)
	exec(t, d, `CREATE TABLE other.elsewhere (id int PRIMARY KEY, note text)`)

	s, err := newLoader(t, d, "public").Load(context.Background())
	require.NoError(t, err)
	names := []string{}
	for name := range s.Collections {
		names = append(names, name)
	}
	// hookd_event, river_*, goose_db_version, views, partitions and other
	// schemas are not collections.
	require.ElementsMatch(t, []string{"articles", "Mixed Case", "no_key", "pair", "empty", "measurements"}, names)

	require.Equal(t, "id", s.Collections["articles"].PrimaryKey)
	require.Equal(t, "uuid", s.Collections["articles"].Fields["id"].Type)
	require.Equal(t, "code", s.Collections["Mixed Case"].PrimaryKey)
	require.Empty(t, s.Collections["empty"].FieldOrder)

	require.Equal(t, `Collection "no_key" has no primary key`, schema.KeyProblem(s.Collections["no_key"]))
	require.Empty(t, s.Collections["pair"].PrimaryKey)
	require.Equal(t, `Collection "pair" has a composite primary key (a, b), which is not supported`,
		schema.KeyProblem(s.Collections["pair"]))
	require.True(t, s.Collections["pair"].Fields["a"].IsPrimaryKey)
	require.True(t, s.Collections["pair"].Fields["b"].IsPrimaryKey)

	other, err := newLoader(t, d, "other").Load(context.Background())
	require.NoError(t, err)
	require.Len(t, other.Collections, 1)
	require.Equal(t, []string{"id", "note"}, other.Collections["elsewhere"].FieldOrder)
}

func TestCurrentBeforeStart(t *testing.T) {
	t.Parallel()
	d := testdb.New(t)
	l := newLoader(t, d, "")
	require.NotNil(t, l.Current())
	require.Empty(t, l.Current().Collections)
	l.Stop() // before Start: a no-op

	exec(t, d, `CREATE TABLE t1 (id int PRIMARY KEY)`)
	s, err := l.Reload(context.Background())
	require.NoError(t, err)
	require.Same(t, s, l.Current())
	require.Contains(t, l.Current().Collections, "t1")

	// An unchanged catalog keeps the same snapshot (caches keyed on it stay valid).
	exec(t, d, `CREATE INDEX ON t1 (id)`)
	s2, err := l.Reload(context.Background())
	require.NoError(t, err)
	require.Same(t, s, s2)
}

func hasField(l *schema.Loader, collection, field string) bool {
	c := l.Current().Collections[collection]
	if c == nil {
		return false
	}
	_, ok := c.Fields[field]
	return ok
}

func TestDDLReachesEveryInstance(t *testing.T) {
	t.Parallel()
	d := testdb.New(t)
	ctx := context.Background()
	a, b := newLoader(t, d, ""), newLoader(t, d, "")
	for _, l := range []*schema.Loader{a, b} {
		require.NoError(t, l.Start(ctx))
		t.Cleanup(l.Stop)
	}
	changes, cancel := b.Subscribe()
	defer cancel()
	require.NotContains(t, a.Current().Collections, "live")

	both := func(cond func(l *schema.Loader) bool, msg string) {
		t.Helper()
		for _, l := range []*schema.Loader{a, b} {
			require.Eventually(t, func() bool { return cond(l) }, 10*time.Second, 10*time.Millisecond, msg)
		}
	}

	exec(t, d, `CREATE TABLE live (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, title text)`)
	both(func(l *schema.Loader) bool { return hasField(l, "live", "title") }, "created table not seen")
	select {
	case <-changes:
	case <-time.After(10 * time.Second):
		t.Fatal("subscriber not told about the new table")
	}
	require.Equal(t, "bigInteger", a.Current().Collections["live"].Fields["id"].Type)

	exec(t, d, `ALTER TABLE live ADD COLUMN rating integer NOT NULL DEFAULT 3`)
	both(func(l *schema.Loader) bool { return hasField(l, "live", "rating") }, "added column not seen")
	require.Equal(t, int64(3), b.Current().Collections["live"].Fields["rating"].DefaultValue)

	exec(t, d, `ALTER TABLE live DROP COLUMN title`)
	both(func(l *schema.Loader) bool { return !hasField(l, "live", "title") }, "dropped column still seen")
	require.Equal(t, []string{"id", "rating"}, a.Current().Collections["live"].FieldOrder)

	exec(t, d, `DROP TABLE live`)
	both(func(l *schema.Loader) bool { return l.Current().Collections["live"] == nil }, "dropped table still seen")
}

func TestReconnectAfterListenConnectionKilled(t *testing.T) {
	t.Parallel()
	d := testdb.New(t)
	ctx := context.Background()
	l := newLoader(t, d, "")
	require.NoError(t, l.Start(ctx))
	t.Cleanup(l.Stop)

	listenPID := func() int32 {
		var pid int32
		err := d.Pool.QueryRow(ctx, `SELECT coalesce(max(pid), 0) FROM pg_stat_activity
			WHERE datname = current_database() AND query LIKE 'LISTEN %'`).Scan(&pid)
		require.NoError(t, err)
		return pid
	}
	var first int32
	require.Eventually(t, func() bool { first = listenPID(); return first != 0 }, 10*time.Second, 10*time.Millisecond)

	var killed bool
	require.NoError(t, d.Pool.QueryRow(ctx, `SELECT pg_terminate_backend($1)`, first).Scan(&killed))
	require.True(t, killed)

	// DDL right after the kill: whether it commits before or after the new
	// LISTEN, the loader must end up seeing it.
	exec(t, d, `CREATE TABLE after_kill (id int PRIMARY KEY)`)
	require.Eventually(t, func() bool { return l.Current().Collections["after_kill"] != nil },
		10*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool { p := listenPID(); return p != 0 && p != first }, 10*time.Second, 10*time.Millisecond)

	// And DDL long after the reconnect arrives by notification.
	exec(t, d, `ALTER TABLE after_kill ADD COLUMN later text`)
	require.Eventually(t, func() bool { return hasField(l, "after_kill", "later") }, 10*time.Second, 10*time.Millisecond)
}

func TestStartFailsWithoutDatabase(t *testing.T) {
	t.Parallel()
	d := testdb.New(t)
	l := newLoader(t, d, "")
	d.Pool.Close()
	require.Error(t, l.Start(context.Background()))
	l.Stop()
}
