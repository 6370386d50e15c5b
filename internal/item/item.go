// Package item is hookd's item service: Directus's ItemsService over the
// tables of the configured schema.
//
// Every write is one transaction that runs, in order: the filter hooks
// (inside the transaction, which they receive as context.database), the
// permission check, the write with RETURNING (new row image, and the old one
// for update/delete), one hookd_event row per affected item, one River job
// per matching durable action hook, and the commit. A filter error, a
// permission violation or a database error rolls all of it back, so an item,
// its events and its action jobs exist together or not at all. Concurrent
// single creates share that work when they can (batch.go): those whose
// filters did not use the transaction leave in batches, one statement for
// the rows and their events and, when action hooks watch them, one
// transaction with all their jobs.
//
// Reads run the items.query filter on the query, compile it (with the
// caller's item rule ANDed in and unreadable fields removed), run the
// items.read filter on the rows, and fire the live items.read action; reads
// never enqueue durable jobs.
package item

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hookd/hookd/hooks"
	"github.com/hookd/hookd/internal/schema"
	"github.com/hookd/hookd/internal/store"
)

// HookRunner runs the hooks of data events. internal/event's *Bus implements
// it; the item service only needs these three calls.
type HookRunner interface {
	// Filter runs, in order and inside ec.Database (the write's tx), the
	// filter hooks matching each name in names, threading payload; the first
	// error aborts.
	Filter(ctx context.Context, names []string, payload any, meta hooks.Meta, ec hooks.EventContext) (any, error)
	// EnqueueActionsTx inserts in tx one River job per durable action hook
	// matching the names.
	EnqueueActionsTx(ctx context.Context, tx pgx.Tx, names []string, meta hooks.Meta) error
	// ActionJobRows gives the river_job rows of the durable action hooks
	// matching the names that every create in collection gets, so a create
	// batch inserts them in its own statement (batch.go); the caller must
	// not modify them.
	ActionJobRows(names []string, collection string) ([]store.ActionJob, error)
	// NotifyJobsInserted wakes River's workers for jobs a statement
	// inserted, once it committed.
	NotifyJobsInserted(ctx context.Context, jobs []store.ActionJob)
	// Emit runs live (in-process, non-durable) actions for names without
	// waiting; errors are logged.
	Emit(ctx context.Context, names []string, meta hooks.Meta, ec hooks.EventContext)
}

// HookPresence is optionally implemented by a HookRunner. HasHooks reports
// whether any hook of kind ("filter" or "action") would run for one of
// names on collection. When none would, the service skips what exists only
// for hooks: a create no action hook watches is one statement (the insert
// and its event, atomic on their own) instead of a transaction of several
// round trips, one no filter watches needs no connection for its filters,
// and a created item is answered from the insert's row image
// instead of a second read. Without it the service assumes hooks may run.
type HookPresence interface {
	HasHooks(kind string, names []string, collection string) bool
}

// BulkEnqueuer is optionally implemented by a HookRunner: it enqueues the
// actions of several writes of one kind (a bulk create, one meta per item)
// in one insert. Without it the service calls EnqueueActionsTx per item.
type BulkEnqueuer interface {
	EnqueueActionsManyTx(ctx context.Context, tx pgx.Tx, names []string, metas []hooks.Meta) error
}

// PermissionSource answers what a caller may do. internal/auth implements
// it.
type PermissionSource interface {
	// Permission returns acc's permission for action on collection, or nil
	// when it has none. Never called for nil (system) or admin
	// accountability.
	Permission(ctx context.Context, acc *hooks.Accountability, collection, action string) (*hooks.Permission, error)
}

// CommittedFunc is told, after the service commits a transaction of its own,
// which events the transaction appended (realtime uses it to wake readers of
// the event log at once instead of at their next poll).
type CommittedFunc func(ctx context.Context, collection string, eventIDs []int64)

// Config configures NewService.
type Config struct {
	// Pool runs the service's own transactions and reads. Required.
	Pool *pgxpool.Pool
	// Schema returns the snapshot in force (schema.Loader.Current).
	// Required.
	Schema func() *hooks.Schema
	// DBSchema is the Postgres schema holding the collections' tables
	// (DB_SCHEMA). Default "public".
	DBSchema string
	// Hooks runs filters and enqueues actions. Nil = no hooks.
	Hooks HookRunner
	// Permissions answers for non-admin callers. Nil = every caller that is
	// neither system nor admin is forbidden.
	Permissions PermissionSource
	// Committed, when set, is called after each commit of a transaction the
	// service opened itself that appended events. It must not block.
	Committed CommittedFunc
	// Logger receives notes on the service's own recoveries (a shared
	// create statement that failed and was replayed per create). Default:
	// discard.
	Logger *slog.Logger
	// DefaultLimit is the limit of reads that give none
	// (QUERY_LIMIT_DEFAULT). Default 100.
	DefaultLimit int
	// MaxLimit caps limit (QUERY_LIMIT_MAX); -1 = no cap. Default -1.
	MaxLimit int
}

func (c *Config) withDefaults() *Config {
	out := *c
	out.DBSchema = cmp.Or(out.DBSchema, "public")
	out.DefaultLimit = cmp.Or(out.DefaultLimit, 100)
	out.MaxLimit = cmp.Or(out.MaxLimit, -1)
	if out.Logger == nil {
		out.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &out
}

func (c *Config) validate() error {
	switch {
	case c.Pool == nil:
		return errors.New("item: Config.Pool is required")
	case c.Schema == nil:
		return errors.New("item: Config.Schema is required")
	case c.DefaultLimit < 1:
		return fmt.Errorf("item: Config.DefaultLimit must be positive, got %d", c.DefaultLimit)
	case c.MaxLimit < -1 || c.MaxLimit == 0:
		return fmt.Errorf("item: Config.MaxLimit must be -1 or positive, got %d", c.MaxLimit)
	}
	return nil
}

// Service hands out per-collection item services. It is safe for
// concurrent use.
type Service struct {
	cfg     *Config
	batch   batcher
	inserts insertCache
}

// NewService builds the service.
func NewService(cfg *Config) (*Service, error) {
	if cfg == nil {
		return nil, errors.New("item: Config is required")
	}
	c := cfg.withDefaults()
	if err := c.validate(); err != nil {
		return nil, err
	}
	return &Service{cfg: c}, nil
}

// Items implements the hooks' services.ItemsService constructor: the items
// service for collection, bound to opts (nil = system access, own
// transactions).
func (s *Service) Items(collection string, opts *hooks.ServiceOptions) (hooks.ItemsService, error) {
	return s.Collection(collection, opts)
}

// Collection is Items with the concrete type, which also offers the REST
// extras (meta counts, aggregates, write-then-read).
//
// An unknown collection (or a hookd system table) answers 403 FORBIDDEN, as
// Directus does, so a caller cannot probe which tables exist; a collection
// whose items cannot be addressed by key (no or a composite primary key)
// answers 400 INVALID_PAYLOAD saying so.
func (s *Service) Collection(collection string, opts *hooks.ServiceOptions) (*Items, error) {
	snap := s.cfg.Schema()
	c := snap.Collections[collection]
	if c == nil || c.System || strings.HasPrefix(collection, "directus_") {
		return nil, hooks.Forbidden()
	}
	if problem := schema.KeyProblem(c); problem != "" {
		return nil, hooks.InvalidPayload(problem)
	}
	if opts == nil {
		opts = &hooks.ServiceOptions{}
	}
	return &Items{svc: s, coll: c, schema: snap, acc: opts.Accountability, db: opts.Database}, nil
}

// Items reads and writes one collection for one caller. It implements
// hooks.ItemsService.
type Items struct {
	svc    *Service
	coll   *hooks.Collection
	schema *hooks.Schema
	acc    *hooks.Accountability
	// db is the caller's transaction (or pool) to join; nil = own
	// transactions on the service's pool.
	db hooks.DB
}

var _ hooks.ItemsService = (*Items)(nil)

// Collection is the collection served.
func (it *Items) Collection() *hooks.Collection { return it.coll }

// eventNames are the names a data event on a user collection is dispatched
// under, generic first (Directus's order: filters thread the payload
// through the generic name's hooks, then the collection's).
func (it *Items) eventNames(action string) []string {
	return []string{"items." + action, it.coll.Name + ".items." + action}
}

func (it *Items) eventContext(db hooks.DB) hooks.EventContext {
	return hooks.EventContext{Database: db, Schema: it.schema, Accountability: it.acc}
}

// table is the collection's qualified, quoted table name.
func (it *Items) table() string {
	return pgx.Identifier{it.svc.cfg.DBSchema, it.coll.Name}.Sanitize()
}

// inTx runs fn in a transaction: a savepoint inside the caller's
// transaction when the service was bound to one, else a transaction of its
// own, committed when fn succeeds. Events appended by fn are reported to
// Config.Committed after an own commit.
func (it *Items) inTx(ctx context.Context, fn func(tx pgx.Tx) ([]int64, error)) error {
	var (
		tx  pgx.Tx
		err error
	)
	_, nested := it.db.(pgx.Tx)
	if it.db == nil {
		// BEGIN rides with the transaction's first statement (pipetx.go).
		tx, err = beginPipelined(ctx, it.svc.cfg.Pool)
	} else {
		tx, err = it.db.Begin(ctx)
	}
	if err != nil {
		return fmt.Errorf("beginning transaction: %w", store.Translate(err))
	}
	return it.runTx(ctx, tx, nested, fn)
}

// runTx runs fn in tx, begun by inTx (nested: a savepoint in the caller's
// transaction), and commits it when fn succeeds; else tx is rolled back.
func (it *Items) runTx(ctx context.Context, tx pgx.Tx, nested bool, fn func(tx pgx.Tx) ([]int64, error)) error {
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op after Commit
	eventIDs, err := fn(tx)
	if err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("committing: %w", store.Translate(err))
	}
	if !nested && len(eventIDs) > 0 && it.svc.cfg.Committed != nil {
		it.svc.cfg.Committed(ctx, it.coll.Name, eventIDs)
	}
	return nil
}
