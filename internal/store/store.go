// Package store owns hookd's database access for its system tables and is
// the one place where pgx and Postgres errors are translated into the typed
// errors the rest of the code checks with errors.Is / errors.As.
package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	hsql "github.com/hookd/hookd/sql"
)

// Errors callers check for. Wrapped errors keep the original as cause.
var (
	ErrNotFound    = errors.New("not found")
	ErrConflict    = errors.New("conflict")
	ErrUnavailable = errors.New("database unavailable")
)

// ConstraintError describes a violated constraint in terms a client can use.
type ConstraintError struct {
	// Code is the Directus error code: RECORD_NOT_UNIQUE, NOT_NULL_VIOLATION,
	// INVALID_FOREIGN_KEY, VALUE_TOO_LONG, VALUE_OUT_OF_RANGE, INVALID_PAYLOAD.
	Code       string
	Table      string
	Column     string
	Constraint string
	Detail     string
	cause      error
}

func (e *ConstraintError) Error() string {
	return fmt.Sprintf("%s on %s.%s (%s)", e.Code, e.Table, e.Column, e.Constraint)
}

func (e *ConstraintError) Unwrap() error { return e.cause }

// Translate turns pgx/Postgres errors into store errors. Other errors pass
// through unchanged; nil stays nil.
func Translate(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		ce := &ConstraintError{Table: pgErr.TableName, Column: pgErr.ColumnName,
			Constraint: pgErr.ConstraintName, Detail: pgErr.Detail, cause: err}
		switch pgErr.Code {
		case pgerrcode.UniqueViolation, pgerrcode.ExclusionViolation:
			ce.Code = "RECORD_NOT_UNIQUE"
		case pgerrcode.NotNullViolation:
			ce.Code = "NOT_NULL_VIOLATION"
		case pgerrcode.ForeignKeyViolation:
			ce.Code = "INVALID_FOREIGN_KEY"
		case pgerrcode.StringDataRightTruncationDataException:
			ce.Code = "VALUE_TOO_LONG"
		case pgerrcode.NumericValueOutOfRange:
			ce.Code = "VALUE_OUT_OF_RANGE"
		case pgerrcode.CheckViolation, pgerrcode.InvalidTextRepresentation, pgerrcode.InvalidDatetimeFormat,
			pgerrcode.DatetimeFieldOverflow, pgerrcode.InvalidParameterValue:
			ce.Code = "INVALID_PAYLOAD"
		case pgerrcode.AdminShutdown, pgerrcode.CrashShutdown, pgerrcode.CannotConnectNow,
			pgerrcode.ConnectionFailure, pgerrcode.ConnectionException:
			return fmt.Errorf("%w: %w", ErrUnavailable, err)
		case pgerrcode.SerializationFailure, pgerrcode.DeadlockDetected:
			return fmt.Errorf("%w: %w", ErrConflict, err)
		default:
			return err
		}
		return ce
	}
	if pgconn.SafeToRetry(err) || errors.Is(err, context.DeadlineExceeded) && isConnectError(err) {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}

func isConnectError(err error) bool {
	var ce *pgconn.ConnectError
	return errors.As(err, &ce)
}

// PoolConfig configures Open.
type PoolConfig struct {
	// URL is the connection string. Required.
	URL string
	// MaxConns caps the pool. Default 20.
	MaxConns int32
	// ConnectTimeout bounds the first connection. Default 10s.
	ConnectTimeout time.Duration
}

// Open creates a pool and proves it can run a query, so a wrong URL or an
// unreachable server fails here with one clear error.
func Open(ctx context.Context, cfg *PoolConfig) (*pgxpool.Pool, error) {
	if cfg.URL == "" {
		return nil, errors.New("database URL is empty: set DB_CONNECTION_STRING or DATABASE_URL")
	}
	pcfg, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("invalid database URL: %w", redactURLError(err))
	}
	if cfg.MaxConns > 0 {
		pcfg.MaxConns = cfg.MaxConns
	} else {
		pcfg.MaxConns = 20
	}
	timeout := cfg.ConnectTimeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	if pcfg.ConnConfig.ConnectTimeout == 0 || pcfg.ConnConfig.ConnectTimeout > timeout {
		pcfg.ConnConfig.ConnectTimeout = timeout
	}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("creating pool: %w", err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := Ping(pingCtx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connecting to %s:%d/%s: %w", pcfg.ConnConfig.Host, pcfg.ConnConfig.Port,
			pcfg.ConnConfig.Database, err)
	}
	return pool, nil
}

// Ping runs a trivial query.
func Ping(ctx context.Context, pool *pgxpool.Pool) error {
	var one int
	if err := pool.QueryRow(ctx, hsql.Query("ServerHealth")).Scan(&one); err != nil {
		return Translate(err)
	}
	return nil
}

// redactURLError keeps a password out of logs: pgx's parse errors can quote
// the connection string.
func redactURLError(err error) error {
	var pe *pgconn.ParseConfigError
	if errors.As(err, &pe) {
		return errors.New(pe.Error())
	}
	return err
}

// RiverLeader is the id of the River client currently elected leader;
// ErrNotFound when there is none.
func RiverLeader(ctx context.Context, q Querier) (string, error) {
	var leader string
	if err := q.QueryRow(ctx, hsql.Query("RiverLeader")).Scan(&leader); err != nil {
		return "", Translate(err)
	}
	return leader, nil
}

// Querier is what pools, connections and transactions have in common.
type Querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}
