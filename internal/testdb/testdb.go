// Package testdb gives each test its own migrated database on the harness
// cluster, so tests run in parallel with real commits, LISTEN/NOTIFY, River
// clients and replication slots without seeing each other.
//
// The cluster is the one named by DATABASE_URL, or else the project-local
// development cluster (started on first use). Migrations run once into a
// template database named after a hash of the migrations; each test then gets
// `CREATE DATABASE … TEMPLATE` (tens of milliseconds) and the database is
// dropped, with its replication slots, when the test ends.
package testdb

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hookd/hookd/db"
	"github.com/hookd/hookd/internal/devdb"
)

// DB is one test's database.
type DB struct {
	// Name is the database name.
	Name string
	// URL connects to it.
	URL string
	// Pool is a pool on it, closed when the test ends.
	Pool *pgxpool.Pool
}

var (
	setupOnce sync.Once
	setupErr  error
	adminURL  string // a URL on the cluster for maintenance (CREATE/DROP DATABASE)
	template  string
	counter   atomic.Int64
)

// New creates a fresh, migrated database for t.
func New(t testing.TB) *DB {
	t.Helper()
	d := NewUnmigrated(t, true)
	return d
}

// NewEmpty creates a fresh database with no migrations applied (for tests of
// the migrations themselves).
func NewEmpty(t testing.TB) *DB {
	t.Helper()
	return NewUnmigrated(t, false)
}

// NewUnmigrated creates a database from the migrated template when migrated
// is true, or from template0 otherwise.
func NewUnmigrated(t testing.TB, migrated bool) *DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	setupOnce.Do(func() { setupErr = setup(ctx) })
	if setupErr != nil {
		t.Fatalf("test database cluster: %v", setupErr)
	}
	name := fmt.Sprintf("hookd_test_%d_%d", os.Getpid(), counter.Add(1))
	source := "template0"
	if migrated {
		source = template
	}
	admin, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		t.Fatalf("connecting to cluster: %v", err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s",
		pgx.Identifier{name}.Sanitize(), pgx.Identifier{source}.Sanitize())); err != nil {
		t.Fatalf("creating test database: %v", err)
	}
	d := &DB{Name: name, URL: withDatabase(adminURL, name)}
	t.Cleanup(func() { drop(name) })
	pcfg, err := pgxpool.ParseConfig(d.URL)
	if err != nil {
		t.Fatal(err)
	}
	pcfg.MaxConns = 10
	d.Pool, err = pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		t.Fatalf("opening pool: %v", err)
	}
	t.Cleanup(d.Pool.Close)
	return d
}

// URLFor returns a URL for another database name on the harness cluster
// (after New has run once).
func URLFor(name string) string { return withDatabase(adminURL, name) }

func drop(name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return
	}
	defer admin.Close(ctx)
	// A database with a logical slot cannot be dropped; slots die with it.
	_, _ = admin.Exec(ctx, `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
		WHERE database = $1 AND NOT active`, name)
	_, _ = admin.Exec(ctx, `SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots
		WHERE database = $1 AND active`, name)
	_, _ = admin.Exec(ctx, `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
		WHERE database = $1`, name)
	_, _ = admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
}

func setup(ctx context.Context) error {
	base := os.Getenv("DATABASE_URL")
	if base == "" {
		base = os.Getenv("DB_CONNECTION_STRING")
	}
	if base == "" {
		cluster, err := devdb.New(nil)
		if err != nil {
			return err
		}
		if err := cluster.Ensure(ctx); err != nil {
			return err
		}
		base = cluster.URL("postgres")
	}
	adminURL = base
	admin, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("connecting to %s: %w", redact(adminURL), err)
	}
	defer admin.Close(ctx)

	dropStale(ctx, admin)

	hash, err := migrationsHash()
	if err != nil {
		return err
	}
	template = "hookd_tpl_" + hash
	// One process builds the template; the others wait on the lock and then
	// find it ready.
	if _, err := admin.Exec(ctx, "SELECT pg_advisory_lock(727274)"); err != nil {
		return err
	}
	defer admin.Exec(context.Background(), "SELECT pg_advisory_unlock(727274)") //nolint:errcheck
	var isTemplate bool
	err = admin.QueryRow(ctx, "SELECT datistemplate FROM pg_database WHERE datname = $1", template).Scan(&isTemplate)
	if err == nil && isTemplate {
		return nil
	}
	if err == nil {
		// A half-built template from a crashed run.
		if _, err := admin.Exec(ctx, "DROP DATABASE "+pgx.Identifier{template}.Sanitize()+" WITH (FORCE)"); err != nil {
			return err
		}
	}
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{template}.Sanitize()+" TEMPLATE template0"); err != nil {
		return fmt.Errorf("creating template database: %w", err)
	}
	if err := db.MigrateUp(ctx, withDatabase(adminURL, template), nil); err != nil {
		return fmt.Errorf("migrating template database: %w", err)
	}
	if _, err := admin.Exec(ctx, "ALTER DATABASE "+pgx.Identifier{template}.Sanitize()+" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false"); err != nil {
		return err
	}
	// Older templates (other migration sets) are no longer needed.
	rows, _ := admin.Query(ctx, "SELECT datname FROM pg_database WHERE datname LIKE 'hookd_tpl_%' AND datname <> $1", template)
	old, _ := pgx.CollectRows(rows, pgx.RowTo[string])
	for _, name := range old {
		_, _ = admin.Exec(ctx, "ALTER DATABASE "+pgx.Identifier{name}.Sanitize()+" WITH IS_TEMPLATE false")
		_, _ = admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	}
	return nil
}

// dropStale removes test databases left by test processes that died.
func dropStale(ctx context.Context, admin *pgx.Conn) {
	rows, err := admin.Query(ctx, "SELECT datname FROM pg_database WHERE datname LIKE 'hookd_test_%'")
	if err != nil {
		return
	}
	names, _ := pgx.CollectRows(rows, pgx.RowTo[string])
	for _, name := range names {
		parts := strings.Split(name, "_")
		if len(parts) < 4 {
			continue
		}
		pid, err := strconv.Atoi(parts[2])
		if err != nil || pid == os.Getpid() {
			continue
		}
		if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err == nil {
			continue
		}
		drop(name)
	}
}

func migrationsHash() (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "river=%d\n", db.RiverSchemaVersion)
	err := fs.WalkDir(db.SourceFS(), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(db.SourceFS(), path)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\n%s\n", path, b)
		return nil
	})
	return hex.EncodeToString(h.Sum(nil))[:16], err
}

func withDatabase(raw, name string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		// key=value form
		return raw + " dbname=" + name
	}
	u.Path = "/" + name
	return u.String()
}

func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	return u.Redacted()
}
