// Package db holds hookd's schema history: goose migrations embedded from
// db/migrations, with River's own schema applied as goose version 1 through
// rivermigrate (River's SQL exactly as River ships it, never copied here).
//
// Every later River schema upgrade becomes a new goose version that calls
// rivermigrate with a higher TargetVersion, so one `goose_db_version` table
// tells the whole story.
package db

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// RiverSchemaVersion is the River migration version that goose version 1
// brings the database to.
const RiverSchemaVersion = 8

// Migrator applies and reports hookd's migrations.
type Migrator struct {
	db       *sql.DB
	provider *goose.Provider
}

// NewMigrator opens a dedicated connection to databaseURL. Concurrent
// migrators (several instances starting at once) serialise on a Postgres
// advisory lock.
func NewMigrator(databaseURL string, logger *slog.Logger) (*Migrator, error) {
	cfg, err := pgx.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("parsing database URL: %w", err)
	}
	sqlDB := stdlib.OpenDB(*cfg)
	sub, err := fs.Sub(migrationFS, "migrations")
	if err != nil {
		return nil, err
	}
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return nil, err
	}
	opts := []goose.ProviderOption{
		goose.WithSessionLocker(locker),
		goose.WithDisableGlobalRegistry(true),
		goose.WithGoMigrations(riverMigration(databaseURL, 1, RiverSchemaVersion, 0)),
	}
	if logger != nil {
		opts = append(opts, goose.WithSlog(logger))
	}
	provider, err := goose.NewProvider(goose.DialectPostgres, sqlDB, sub, opts...)
	if err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("loading migrations: %w", err)
	}
	return &Migrator{db: sqlDB, provider: provider}, nil
}

// Up applies every pending migration.
func (m *Migrator) Up(ctx context.Context) ([]*goose.MigrationResult, error) {
	res, err := m.provider.Up(ctx)
	if err != nil {
		return res, fmt.Errorf("migrating up: %w", err)
	}
	return res, nil
}

// Down rolls back the most recent migration.
func (m *Migrator) Down(ctx context.Context) (*goose.MigrationResult, error) {
	res, err := m.provider.Down(ctx)
	if err != nil {
		return res, fmt.Errorf("migrating down: %w", err)
	}
	return res, nil
}

// Status lists every migration with whether it is applied.
func (m *Migrator) Status(ctx context.Context) ([]*goose.MigrationStatus, error) {
	return m.provider.Status(ctx)
}

// Close releases the connection.
func (m *Migrator) Close() error { return m.db.Close() }

// MigrateUp is the one-call form used by serve and the test harness.
func MigrateUp(ctx context.Context, databaseURL string, logger *slog.Logger) error {
	m, err := NewMigrator(databaseURL, logger)
	if err != nil {
		return err
	}
	defer m.Close()
	_, err = m.Up(ctx)
	return err
}

// SourceFS exposes the embedded SQL migrations (tests hash them to name
// template databases).
func SourceFS() fs.FS { return migrationFS }

// riverMigration is a goose version that moves River's schema up to `to`
// and, on rollback, down to `downTo` (0 removes it). River applies each of
// its versions in its own transaction (some add enum values that a later
// version uses, which Postgres only allows after a commit), so this runs
// outside goose's transaction on a small pool of its own; rivermigrate
// records its versions in river_migration, which makes a re-run after a crash
// a no-op for the versions already applied.
func riverMigration(databaseURL string, gooseVersion int64, to, downTo int) *goose.Migration {
	run := func(direction rivermigrate.Direction, target int) func(context.Context, *sql.DB) error {
		return func(ctx context.Context, _ *sql.DB) error {
			pcfg, err := pgxpool.ParseConfig(databaseURL)
			if err != nil {
				return err
			}
			pcfg.MaxConns = 2
			pool, err := pgxpool.NewWithConfig(ctx, pcfg)
			if err != nil {
				return err
			}
			defer pool.Close()
			migrator, err := rivermigrate.New(riverpgxv5.New(pool), nil)
			if err != nil {
				return err
			}
			if direction == rivermigrate.DirectionDown && target == 0 {
				target = -1 // rivermigrate's "remove everything"
			}
			if _, err := migrator.Migrate(ctx, direction, &rivermigrate.MigrateOpts{TargetVersion: target}); err != nil {
				return fmt.Errorf("river migrate %s to %d: %w", direction, target, err)
			}
			return nil
		}
	}
	return goose.NewGoMigration(gooseVersion,
		&goose.GoFunc{RunDB: run(rivermigrate.DirectionUp, to)},
		&goose.GoFunc{RunDB: run(rivermigrate.DirectionDown, downTo)},
	)
}
