// Package schema introspects the user tables of the configured Postgres
// schema into the snapshot hooks get from getSchema() (*hooks.Schema), and
// keeps that snapshot fresh on every instance while DDL happens: migration
// 00003 installs an event trigger that sends NOTIFY hookd_schema after each
// DDL command, and every Loader listens on a dedicated connection (outside
// the pool, reconnecting and reloading after a reconnect because
// notifications sent while it was away are lost) and reloads.
//
// A snapshot is immutable once published: readers take Current() and keep
// using it for the whole request; a reload swaps in a new one atomically.
package schema

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hookd/hookd/hooks"
	"github.com/hookd/hookd/internal/store"
	hsql "github.com/hookd/hookd/sql"
)

// NotifyChannel is the channel migration 00003's event trigger notifies
// after every DDL command.
const NotifyChannel = "hookd_schema"

// Config configures NewLoader.
type Config struct {
	// Pool runs the introspection query; its connection settings are also
	// used for the dedicated LISTEN connection. Required.
	Pool *pgxpool.Pool
	// Schema is the Postgres schema whose tables are collections (DB_SCHEMA).
	// Default "public".
	Schema string
	// Logger receives reload and reconnect messages. Default: discard.
	Logger *slog.Logger
	// ReconnectDelay is the longest wait between attempts to re-establish
	// the LISTEN connection or to retry a failed reload; attempts start at
	// 50ms and double up to it. Default 5s.
	ReconnectDelay time.Duration
}

func (c *Config) withDefaults() *Config {
	out := *c
	out.Schema = cmp.Or(out.Schema, "public")
	out.ReconnectDelay = cmp.Or(out.ReconnectDelay, 5*time.Second)
	if out.Logger == nil {
		out.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &out
}

func (c *Config) validate() error {
	if c.Pool == nil {
		return errors.New("schema: Config.Pool is required")
	}
	if c.ReconnectDelay < 0 {
		return errors.New("schema: Config.ReconnectDelay must not be negative")
	}
	return nil
}

// Loader loads schema snapshots and, once started, keeps the current one
// fresh. It is safe for concurrent use.
type Loader struct {
	cfg     *Config
	current atomic.Pointer[hooks.Schema]

	// loadMu serialises load+publish so an older snapshot never replaces a
	// newer one.
	loadMu sync.Mutex

	subMu sync.Mutex
	subs  map[chan struct{}]struct{}

	// wake asks the reload goroutine for a reload; capacity 1 coalesces a
	// burst of notifications into one reload.
	wake chan struct{}

	runMu  sync.Mutex
	cancel context.CancelFunc
	done   sync.WaitGroup
}

// NewLoader builds a loader. It does not touch the database; call Start (or
// Load/Reload).
func NewLoader(cfg *Config) (*Loader, error) {
	if cfg == nil {
		return nil, errors.New("schema: Config is required")
	}
	c := cfg.withDefaults()
	if err := c.validate(); err != nil {
		return nil, err
	}
	l := &Loader{
		cfg:  c,
		subs: map[chan struct{}]struct{}{},
		wake: make(chan struct{}, 1),
	}
	// Current is never nil: before the first load it is an empty schema.
	l.current.Store(&hooks.Schema{Collections: map[string]*hooks.Collection{}})
	return l, nil
}

// Current is the snapshot in force. It is never nil (empty before the first
// load) and must not be modified.
func (l *Loader) Current() *hooks.Schema { return l.current.Load() }

// Subscribe returns a channel that receives a value after each published
// snapshot that differs from the previous one. Sends never block: the
// channel holds at most one pending signal, so a slow reader sees one signal
// for several changes and should read Current(). cancel stops the
// subscription.
func (l *Loader) Subscribe() (changes <-chan struct{}, cancel func()) {
	ch := make(chan struct{}, 1)
	l.subMu.Lock()
	l.subs[ch] = struct{}{}
	l.subMu.Unlock()
	return ch, func() {
		l.subMu.Lock()
		delete(l.subs, ch)
		l.subMu.Unlock()
	}
}

// Load introspects the schema in one round trip and returns the snapshot
// without publishing it.
func (l *Loader) Load(ctx context.Context) (*hooks.Schema, error) {
	rows, err := l.cfg.Pool.Query(ctx, hsql.Query("SchemaColumns"), l.cfg.Schema)
	if err != nil {
		return nil, fmt.Errorf("loading schema %q: %w", l.cfg.Schema, store.Translate(err))
	}
	cols, err := pgx.CollectRows(rows, pgx.RowToStructByName[columnRow])
	if err != nil {
		return nil, fmt.Errorf("loading schema %q: %w", l.cfg.Schema, store.Translate(err))
	}
	return build(cols), nil
}

// Reload loads the schema and publishes it; callers that just ran DDL use it
// to see their change without waiting for the notification.
func (l *Loader) Reload(ctx context.Context) (*hooks.Schema, error) {
	l.loadMu.Lock()
	defer l.loadMu.Unlock()
	s, err := l.Load(ctx)
	if err != nil {
		return nil, err
	}
	return l.publish(s), nil
}

// publish stores s unless it equals the current snapshot (a CREATE INDEX or
// DDL in another schema changes nothing); it returns the snapshot in force.
func (l *Loader) publish(s *hooks.Schema) *hooks.Schema {
	old := l.current.Load()
	if reflect.DeepEqual(old, s) {
		return old
	}
	l.current.Store(s)
	l.subMu.Lock()
	for ch := range l.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	l.subMu.Unlock()
	l.cfg.Logger.Debug("schema snapshot updated", slog.Int("collections", len(s.Collections)))
	return s
}

// Start loads the first snapshot (failing if it cannot) and starts keeping
// it fresh until Stop.
func (l *Loader) Start(ctx context.Context) error {
	l.runMu.Lock()
	defer l.runMu.Unlock()
	if l.cancel != nil {
		return errors.New("schema: loader already started")
	}
	if _, err := l.Reload(ctx); err != nil {
		return err
	}
	// The background work outlives the caller's ctx; Stop ends it.
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	l.cancel = cancel
	l.done.Add(2)
	go func() { defer l.done.Done(); l.listenLoop(runCtx) }()
	go func() { defer l.done.Done(); l.reloadLoop(runCtx) }()
	return nil
}

// Stop ends the background work and waits for it. Safe to call more than
// once and before Start.
func (l *Loader) Stop() {
	l.runMu.Lock()
	cancel := l.cancel
	l.cancel = nil
	l.runMu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	l.done.Wait()
}

func (l *Loader) requestReload() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

func (l *Loader) reloadLoop(ctx context.Context) {
	delay := 50 * time.Millisecond
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.wake:
		}
		if _, err := l.Reload(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			l.cfg.Logger.Warn("schema reload failed; retrying", slog.Any("error", err), slog.Duration("retry_in", delay))
			select {
			case <-ctx.Done():
				return
			case <-time.After(delay):
			}
			delay = min(delay*2, l.cfg.ReconnectDelay)
			l.requestReload()
			continue
		}
		delay = 50 * time.Millisecond
	}
}

// listenLoop keeps a LISTEN connection open. After every (re)connect it asks
// for a reload: notifications sent while no connection listened are gone.
func (l *Loader) listenLoop(ctx context.Context) {
	delay := 50 * time.Millisecond
	for ctx.Err() == nil {
		err := l.listen(ctx, func() { delay = 50 * time.Millisecond })
		if ctx.Err() != nil {
			return
		}
		l.cfg.Logger.Warn("schema LISTEN connection lost; reconnecting", slog.Any("error", err),
			slog.Duration("retry_in", delay))
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(delay*2, l.cfg.ReconnectDelay)
	}
}

// listen runs one LISTEN connection until it fails or ctx ends.
func (l *Loader) listen(ctx context.Context, connected func()) error {
	conn, err := pgx.ConnectConfig(ctx, l.cfg.Pool.Config().ConnConfig.Copy())
	if err != nil {
		return fmt.Errorf("connecting: %w", err)
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = conn.Close(closeCtx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{NotifyChannel}.Sanitize()); err != nil {
		return fmt.Errorf("listening: %w", err)
	}
	connected()
	l.requestReload()
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return fmt.Errorf("waiting for notification: %w", err)
		}
		l.requestReload()
	}
}

// columnRow is one row of SchemaColumns.
type columnRow struct {
	TableName   string   `db:"table_name"`
	ColumnName  *string  `db:"column_name"`
	DBType      *string  `db:"db_type"`
	BaseType    *string  `db:"base_type"`
	IsArray     bool     `db:"is_array"`
	Nullable    bool     `db:"nullable"`
	DefaultExpr *string  `db:"default_expr"`
	IsIdentity  bool     `db:"is_identity"`
	IsGenerated bool     `db:"is_generated"`
	MaxLength   *int32   `db:"max_length"`
	PKColumns   []string `db:"pk_columns"`
}

func build(rows []columnRow) *hooks.Schema {
	s := &hooks.Schema{Collections: map[string]*hooks.Collection{}}
	for _, r := range rows {
		c := s.Collections[r.TableName]
		if c == nil {
			c = &hooks.Collection{Name: r.TableName, Fields: map[string]*hooks.Field{}, FieldOrder: []string{}}
			if len(r.PKColumns) == 1 {
				c.PrimaryKey = r.PKColumns[0]
			}
			s.Collections[r.TableName] = c
		}
		if r.ColumnName == nil {
			continue // a table without columns
		}
		f := &hooks.Field{
			Name:         *r.ColumnName,
			DBType:       deref(r.DBType),
			Type:         DirectusType(deref(r.BaseType), r.IsArray),
			Nullable:     r.Nullable,
			IsPrimaryKey: slices.Contains(r.PKColumns, *r.ColumnName),
			Generated:    r.IsIdentity || r.IsGenerated,
		}
		if r.MaxLength != nil {
			n := int(*r.MaxLength)
			f.MaxLength = &n
		}
		// A generated column's pg_attrdef row is its generation expression,
		// not a default a client could rely on.
		if r.DefaultExpr != nil && !r.IsGenerated {
			expr := *r.DefaultExpr
			if strings.HasPrefix(expr, "nextval(") {
				// serial: the database fills it; the sequence call is no
				// value a client could use.
				f.Generated = true
				f.HasDefault = true
			} else if v, isNull := parseDefault(expr, f.Type); !isNull {
				f.HasDefault = true
				f.DefaultValue = v
			}
		}
		if f.Generated {
			f.HasDefault = true
		}
		c.Fields[f.Name] = f
		c.FieldOrder = append(c.FieldOrder, f.Name)
	}
	return s
}

// DirectusType maps a Postgres base type name (pg_type.typname) to the
// Directus field type.
func DirectusType(typname string, isArray bool) string {
	if isArray {
		return "unknown"
	}
	switch typname {
	case "int2", "int4":
		return "integer"
	case "int8":
		return "bigInteger"
	case "float4", "float8":
		return "float"
	case "numeric":
		return "decimal"
	case "varchar", "bpchar", "citext":
		return "string"
	case "text":
		return "text"
	case "bool":
		return "boolean"
	case "uuid":
		return "uuid"
	case "json", "jsonb":
		return "json"
	case "date":
		return "date"
	case "time", "timetz":
		return "time"
	case "timestamp":
		return "dateTime"
	case "timestamptz":
		return "timestamp"
	default:
		return "unknown"
	}
}

// parseDefault turns a column default expression into the value Directus
// reports: a literal becomes its value ('draft'::character varying →
// "draft", 0 → 0, true → true), NULL means no default, and anything else
// (now(), gen_random_uuid()) stays the expression text.
func parseDefault(expr, typ string) (v any, isNull bool) {
	e := strings.TrimSpace(expr)
	if strings.EqualFold(e, "NULL") || strings.HasPrefix(strings.ToUpper(e), "NULL::") {
		return nil, true
	}
	literal, quoted := e, false
	if strings.HasPrefix(e, "'") {
		if end := closingQuote(e); end > 0 && (end == len(e)-1 || strings.HasPrefix(e[end+1:], "::")) {
			literal, quoted = strings.ReplaceAll(e[1:end], "''", "'"), true
		}
	} else if strings.HasPrefix(e, "(") && strings.HasSuffix(e, ")") {
		literal = e[1 : len(e)-1] // (-1)
	}
	switch typ {
	case "integer", "bigInteger":
		if n, err := strconv.ParseInt(literal, 10, 64); err == nil {
			return n, false
		}
	case "float":
		if n, err := strconv.ParseFloat(literal, 64); err == nil {
			return n, false
		}
	case "decimal":
		if _, err := strconv.ParseFloat(literal, 64); err == nil {
			return literal, false
		}
	case "boolean":
		if b, err := strconv.ParseBool(literal); err == nil {
			return b, false
		}
	}
	if quoted {
		return literal, false
	}
	return e, false
}

// closingQuote is the index of the quote ending the SQL string literal that
// starts at s[0], or -1.
func closingQuote(s string) int {
	for i := 1; i < len(s); i++ {
		if s[i] != '\'' {
			continue
		}
		if i+1 < len(s) && s[i+1] == '\'' {
			i++
			continue
		}
		return i
	}
	return -1
}

// KeyProblem says why items of c cannot be addressed by key ("" when they
// can): the table has no primary key or a composite one. The item service
// turns it into a clear error.
func KeyProblem(c *hooks.Collection) string {
	if c.PrimaryKey != "" {
		return ""
	}
	var keys []string
	for _, name := range c.FieldOrder {
		if f := c.Fields[name]; f != nil && f.IsPrimaryKey {
			keys = append(keys, name)
		}
	}
	if len(keys) > 1 {
		return fmt.Sprintf("Collection %q has a composite primary key (%s), which is not supported", c.Name,
			strings.Join(keys, ", "))
	}
	return fmt.Sprintf("Collection %q has no primary key", c.Name)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
