// Package event is hookd's event bus: it loads hook extensions, matches
// event names to hooks with Directus's wildcard rules, runs filters inside
// the caller's transaction, turns durable actions into River jobs inserted
// in that transaction, runs live actions in-process, and runs init hooks.
//
// The bus is immutable once built: every extension registers in NewBus, so
// matching needs no locks and the result for a name is cached.
package event

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/robfig/cron/v3"

	"github.com/hookd/hookd/hooks"
)

// Kind is what sort of hook a Hook is.
type Kind string

// Hook kinds.
const (
	KindFilter   Kind = "filter"
	KindAction   Kind = "action"
	KindInit     Kind = "init"
	KindSchedule Kind = "schedule"
)

// DefaultLiveTimeout bounds a live action without a Timeout option.
const DefaultLiveTimeout = time.Minute

// Hook is one registered hook. Fields are read-only after NewBus.
type Hook struct {
	// ID is the stable id: "<extension>:<event>" plus ":<name>" when the
	// hook has a Name or "#<n>" for the n-th unnamed hook of the extension on
	// the same event. Schedules use "cron(<expr>)" as the event.
	ID        string
	Extension string
	Kind      Kind
	// Event is the pattern (filter, action, init) or the cron expression
	// (schedule).
	Event   string
	Options hooks.HookOptions

	Filter   hooks.FilterFunc
	Action   hooks.ActionFunc
	Init     hooks.InitFunc
	Schedule hooks.ScheduleFunc
	// Cron is the parsed schedule (schedules only).
	Cron cron.Schedule

	pat pattern
	seq int
}

// accepts applies the Collections tag.
func (h *Hook) accepts(meta *hooks.Meta) bool {
	return len(h.Options.Collections) == 0 || slices.Contains(h.Options.Collections, meta.Collection)
}

// BusConfig configures NewBus.
type BusConfig struct {
	// Extensions are the compiled-in extensions, registered in this order.
	Extensions []hooks.Extension
	// Enabled lists the extension ids to load (config EXTENSIONS); empty
	// loads all. An id that names no extension is an error.
	Enabled []string
	// Pool is the database: hooks.Context.Database, the Database of live
	// and durable actions, and the mail outbox. Nil is allowed for a bus that
	// never enqueues or sends mail (listing hooks, unit tests).
	Pool *pgxpool.Pool
	// Services backs hooks.Context.Services and GetSchema. Default:
	// NewServices on Pool and Logger.
	Services *Services
	// Env backs hooks.Context.Env. Default os.Getenv.
	Env func(string) string
	// Logger receives hook errors. Default: discard.
	Logger *slog.Logger
}

// Bus dispatches events to hooks. Its methods are safe for concurrent use.
type Bus struct {
	logger   *slog.Logger
	pool     *pgxpool.Pool
	services *Services
	inserter *river.Client[pgx.Tx]

	hooks   []*Hook
	byID    map[string]*Hook
	matches [4]sync.Map // per kind: event name → []*Hook

	live sync.WaitGroup
	statementJobs
}

var queueRE = regexp.MustCompile(`^(?:[a-z0-9])+(?:[_|\-]?[a-z0-9]+)*$`)

// cronParser accepts 5 fields, 6 with leading seconds, and the @ macros —
// what Directus's `cron` package accepts (reference §3), minus `L`/`?`.
var cronParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ParseCron parses a schedule expression as Registrar.Schedule does.
func ParseCron(expr string) (cron.Schedule, error) {
	s, err := cronParser.Parse(expr)
	if err != nil {
		return nil, fmt.Errorf("invalid cron expression %q: %w", expr, err)
	}
	return s, nil
}

// NewBus registers every enabled extension. A registration error stops
// construction with an error naming the extension and hook.
func NewBus(ctx context.Context, cfg *BusConfig) (*Bus, error) {
	b := &Bus{
		logger:   cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler)),
		pool:     cfg.Pool,
		services: cfg.Services,
		byID:     map[string]*Hook{},
	}
	if b.services == nil {
		b.services = NewServices(&ServicesConfig{Pool: cfg.Pool, Logger: b.logger})
	}
	env := cfg.Env
	if env == nil {
		env = os.Getenv
	}
	enabled, err := enabledSet(cfg.Extensions, cfg.Enabled)
	if err != nil {
		return nil, err
	}
	var db hooks.DB
	if cfg.Pool != nil {
		db = cfg.Pool
		// Insert-only River client: durable actions are inserted in the
		// caller's transaction; the app's working client runs them.
		b.inserter, err = river.NewClient(riverpgxv5.New(cfg.Pool), &river.Config{Logger: b.logger})
		if err != nil {
			return nil, fmt.Errorf("creating River insert client: %w", err)
		}
	}
	seen := map[string]bool{}
	for _, ext := range cfg.Extensions {
		if ext.ID == "" || strings.ContainsAny(ext.ID, ": \t") {
			return nil, fmt.Errorf("extension id %q is invalid: it must be non-empty with no ':' or spaces", ext.ID)
		}
		if seen[ext.ID] {
			return nil, fmt.Errorf("extension %q is listed twice", ext.ID)
		}
		seen[ext.ID] = true
		if !enabled[ext.ID] {
			continue
		}
		if ext.Register == nil {
			return nil, fmt.Errorf("extension %q: Register is nil", ext.ID)
		}
		r := &registrar{bus: b, ext: ext.ID, ordinals: map[string]int{}}
		hc := &hooks.Context{
			Services:  b.services,
			Database:  db,
			GetSchema: b.services.GetSchema,
			Env:       env,
			Logger:    b.logger.With(slog.String("extension", ext.ID)),
		}
		if err := ext.Register(r, hc); err != nil {
			return nil, fmt.Errorf("registering extension %q: %w", ext.ID, err)
		}
		if r.err != nil {
			return nil, fmt.Errorf("registering extension %q: %w", ext.ID, r.err)
		}
		b.logger.DebugContext(ctx, "extension registered", slog.String("extension", ext.ID), slog.Int("hooks", r.count))
	}
	return b, nil
}

func enabledSet(exts []hooks.Extension, ids []string) (map[string]bool, error) {
	out := map[string]bool{}
	known := map[string]bool{}
	for _, e := range exts {
		known[e.ID] = true
	}
	if len(ids) == 0 {
		return known, nil
	}
	for _, id := range ids {
		if !known[id] {
			names := make([]string, 0, len(exts))
			for _, e := range exts {
				names = append(names, e.ID)
			}
			return nil, fmt.Errorf("EXTENSIONS names %q, which is not compiled in (available: %s)", id, strings.Join(names, ", "))
		}
		out[id] = true
	}
	return out, nil
}

// registrar implements hooks.Registrar for one extension; it keeps the
// first error.
type registrar struct {
	bus      *Bus
	ext      string
	ordinals map[string]int
	count    int
	err      error
}

func (r *registrar) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

func (r *registrar) add(kind Kind, event string, opts hooks.HookOptions, h *Hook) {
	if r.err != nil {
		return
	}
	h.Extension, h.Kind, h.Event, h.Options = r.ext, kind, event, opts
	if kind != KindSchedule {
		p, err := compilePattern(event)
		if err != nil {
			r.fail(fmt.Errorf("%s hook: %w", kind, err))
			return
		}
		h.pat = p
	}
	if opts.MaxAttempts < 0 {
		r.fail(fmt.Errorf("%s hook on %q: MaxAttempts must be ≥ 1, got %d", kind, event, opts.MaxAttempts))
		return
	}
	if opts.Timeout < 0 {
		r.fail(fmt.Errorf("%s hook on %q: Timeout must be positive, got %s", kind, event, opts.Timeout))
		return
	}
	if opts.Priority != 0 && (opts.Priority < 1 || opts.Priority > 4) {
		r.fail(fmt.Errorf("%s hook on %q: Priority must be 1 to 4, got %d", kind, event, opts.Priority))
		return
	}
	if opts.Queue != "" && (len(opts.Queue) > 64 || !queueRE.MatchString(opts.Queue)) {
		r.fail(fmt.Errorf("%s hook on %q: queue name %q is invalid (lowercase letters and digits, separated by _ or -)",
			kind, event, opts.Queue))
		return
	}
	if strings.ContainsAny(opts.Name, " \t\n") {
		r.fail(fmt.Errorf("%s hook on %q: name %q contains whitespace", kind, event, opts.Name))
		return
	}
	base := r.ext + ":" + event
	if kind == KindSchedule {
		base = r.ext + ":cron(" + event + ")"
	}
	switch {
	case opts.Name != "":
		h.ID = base + ":" + opts.Name
	default:
		r.ordinals[string(kind)+" "+base]++
		h.ID = base
		if n := r.ordinals[string(kind)+" "+base]; n > 1 {
			h.ID = fmt.Sprintf("%s#%d", base, n)
		}
	}
	// Filters and inits are never looked up by id, but a clash still means
	// two hooks share a name by mistake.
	key := string(kind) + " " + h.ID
	if _, dup := r.bus.byID[key]; dup {
		r.fail(fmt.Errorf("%s hook id %q is registered twice: give one of them a different Name", kind, h.ID))
		return
	}
	r.bus.byID[key] = h
	h.seq = len(r.bus.hooks)
	r.bus.hooks = append(r.bus.hooks, h)
	r.count++
}

func (r *registrar) Filter(event string, fn hooks.FilterFunc, opts ...hooks.HookOption) {
	if fn == nil {
		r.fail(fmt.Errorf("filter hook on %q: function is nil", event))
		return
	}
	r.add(KindFilter, event, hooks.ApplyOptions(opts), &Hook{Filter: fn})
}

func (r *registrar) Action(event string, fn hooks.ActionFunc, opts ...hooks.HookOption) {
	if fn == nil {
		r.fail(fmt.Errorf("action hook on %q: function is nil", event))
		return
	}
	r.add(KindAction, event, hooks.ApplyOptions(opts), &Hook{Action: fn})
}

func (r *registrar) Init(event string, fn hooks.InitFunc) {
	if fn == nil {
		r.fail(fmt.Errorf("init hook on %q: function is nil", event))
		return
	}
	if !slices.Contains(InitEvents, event) {
		r.fail(fmt.Errorf("init hook on %q: not an init event (one of %s)", event, strings.Join(InitEvents, ", ")))
		return
	}
	r.add(KindInit, event, hooks.HookOptions{}, &Hook{Init: fn})
}

func (r *registrar) Schedule(expr string, fn hooks.ScheduleFunc, opts ...hooks.HookOption) {
	if fn == nil {
		r.fail(fmt.Errorf("schedule hook %q: function is nil", expr))
		return
	}
	expr = strings.TrimSpace(expr)
	s, err := ParseCron(expr)
	if err != nil {
		r.fail(fmt.Errorf("schedule hook: %w", err))
		return
	}
	o := hooks.ApplyOptions(opts)
	if len(o.Collections) > 0 {
		r.fail(fmt.Errorf("schedule hook %q: Collections does not apply to schedules", expr))
		return
	}
	r.add(KindSchedule, expr, o, &Hook{Schedule: fn, Cron: s})
}

// InitEvents are the init event names, in the order the app emits them.
var InitEvents = []string{
	"app.before", "middlewares.before", "middlewares.after", "routes.before",
	"routes.custom.before", "routes.custom.after", "routes.after", "app.after",
}

// Hooks lists every registered hook in registration order.
func (b *Bus) Hooks() []*Hook { return slices.Clone(b.hooks) }

// ActionHook finds a durable action by stable id.
func (b *Bus) ActionHook(id string) (*Hook, bool) {
	h, ok := b.byID[string(KindAction)+" "+id]
	return h, ok
}

// ScheduleHook finds a schedule by stable id.
func (b *Bus) ScheduleHook(id string) (*Hook, bool) {
	h, ok := b.byID[string(KindSchedule)+" "+id]
	return h, ok
}

// Schedules lists the schedule hooks in registration order.
func (b *Bus) Schedules() []*Hook {
	var out []*Hook
	for _, h := range b.hooks {
		if h.Kind == KindSchedule {
			out = append(out, h)
		}
	}
	return out
}

// Queues lists the River queues hooks name besides the default one.
func (b *Bus) Queues() []string {
	var out []string
	for _, h := range b.hooks {
		if q := h.Options.Queue; q != "" && q != river.QueueDefault && !slices.Contains(out, q) {
			out = append(out, q)
		}
	}
	return out
}

// Services is the bus's service set (wire the item and WebSocket services
// into it once they exist).
func (b *Bus) Services() *Services { return b.services }

// Pool is the bus's database pool (nil when built without one).
func (b *Bus) Pool() *pgxpool.Pool { return b.pool }

// matching returns the hooks of kind whose pattern matches name, in
// Directus's order: exact names in registration order, then wildcard
// patterns in eventemitter2 tree-walk order (literal before `*` before
// `**`, segment by segment; registration order among equal patterns).
func (b *Bus) matching(kind Kind, name string) []*Hook {
	cache := &b.matches[kindIndex(kind)]
	if v, ok := cache.Load(name); ok {
		return v.([]*Hook)
	}
	segs := strings.Split(name, ".")
	var exact, wild []*Hook
	for _, h := range b.hooks {
		if h.Kind != kind {
			continue
		}
		switch {
		case !h.pat.wild && h.pat.raw == name:
			exact = append(exact, h)
		case h.pat.wild && h.pat.match(segs):
			wild = append(wild, h)
		}
	}
	slices.SortStableFunc(wild, func(x, y *Hook) int {
		if c := x.pat.before(y.pat); c != 0 {
			return c
		}
		return x.seq - y.seq
	})
	out := append(exact, wild...)
	cache.Store(name, out)
	return out
}

func kindIndex(k Kind) int {
	switch k {
	case KindFilter:
		return 0
	case KindAction:
		return 1
	case KindInit:
		return 2
	default:
		return 3
	}
}

// Filter runs the filters for names in order — for each name its matching
// filters, in Directus's listener order, with meta.Event set to that name —
// threading the payload: a filter's non-nil return replaces it for the
// next. It runs inside whatever ec.Database is (the write's transaction),
// so what filters write commits or rolls back with the write. The first
// error aborts and is returned as is (a *hooks.Error keeps its code and
// status); a panicking filter becomes an error.
func (b *Bus) Filter(ctx context.Context, names []string, payload any, meta hooks.Meta, ec hooks.EventContext) (any, error) {
	for _, name := range names {
		m := meta
		m.Event = name
		for _, h := range b.matching(KindFilter, name) {
			if !h.accepts(&m) {
				continue
			}
			out, err := b.callFilter(ctx, h, payload, m, ec)
			if err != nil {
				return nil, err
			}
			if out != nil {
				payload = out
			}
		}
	}
	return payload, nil
}

func (b *Bus) callFilter(ctx context.Context, h *Hook, payload any, meta hooks.Meta, ec hooks.EventContext) (out any, err error) {
	if h.Options.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, h.Options.Timeout)
		defer cancel()
	}
	defer func() {
		if p := recover(); p != nil {
			b.logger.ErrorContext(ctx, "filter hook panicked", slog.String("hook", h.ID),
				slog.String("event", meta.Event), slog.Any("panic", p), slog.String("stack", string(debug.Stack())))
			out, err = nil, fmt.Errorf("filter hook %s panicked: %v", h.ID, p)
		}
	}()
	return h.Filter(ctx, payload, meta, ec)
}

// EnqueueActionsTx inserts, in tx, one River job per (name, matching action
// hook) with River's batch insert (InsertManyFastTx): the jobs exist if and
// only if tx commits. meta.EventIDs name the
// hookd_event rows the worker rebuilds meta and context from; when it is
// empty the jobs carry meta's collection, key(s) and payload instead.
func (b *Bus) EnqueueActionsTx(ctx context.Context, tx pgx.Tx, names []string, meta hooks.Meta) error {
	return b.EnqueueActionsManyTx(ctx, tx, names, []hooks.Meta{meta})
}

// EnqueueActionsManyTx is EnqueueActionsTx for several writes of one kind
// (a bulk create: one meta per item) in a single insert: the same jobs,
// one round trip.
func (b *Bus) EnqueueActionsManyTx(ctx context.Context, tx pgx.Tx, names []string, metas []hooks.Meta) error {
	var params []river.InsertManyParams
	for _, meta := range metas {
		params = b.appendActionJobs(params, names, meta)
	}
	if len(params) == 0 {
		return nil
	}
	if b.inserter == nil {
		return errors.New("enqueueing action hooks: the bus has no database pool")
	}
	// InsertManyFastTx: River's bulk insert through COPY, which skips what
	// InsertManyTx's INSERT … ON CONFLICT … RETURNING pays per row for
	// unique jobs and returned rows, neither of which action jobs use.
	// With two action hooks, hooked creates ran at 0.55–0.56 of unhooked
	// against 0.50 with InsertManyTx (BENCHMARKS.md).
	if _, err := b.inserter.InsertManyFastTx(ctx, tx, params); err != nil {
		return fmt.Errorf("enqueueing %d action hook job(s): %w", len(params), err)
	}
	return nil
}

func (b *Bus) appendActionJobs(params []river.InsertManyParams, names []string, meta hooks.Meta) []river.InsertManyParams {
	for _, name := range names {
		for _, h := range b.matching(KindAction, name) {
			if !h.accepts(&meta) {
				continue
			}
			args := ActionArgs{HookID: h.ID, Event: name, EventIDs: meta.EventIDs}
			if len(meta.EventIDs) == 0 {
				args.EventIDs = []int64{}
				args.Meta = &ActionMeta{Collection: meta.Collection, Key: meta.Key, Keys: meta.Keys, Payload: meta.Payload,
					Extra: durableExtra(meta.Extra)}
			}
			params = append(params, river.InsertManyParams{Args: args, InsertOpts: &river.InsertOpts{
				MaxAttempts: h.Options.MaxAttempts,
				Queue:       h.Options.Queue,
				Priority:    h.Options.Priority,
			}})
		}
	}
	return params
}

// Emit runs the live actions for names in-process: each matching hook once
// per name, concurrently, not awaited. Errors are logged and panics
// recovered; nothing reaches the caller. ec.Database defaults to the pool.
// The hooks run on a context detached from ctx's cancellation (a request
// may end first), bounded by the hook's Timeout (default 1 minute).
func (b *Bus) Emit(ctx context.Context, names []string, meta hooks.Meta, ec hooks.EventContext) {
	if ec.Database == nil && b.pool != nil {
		ec.Database = b.pool
	}
	ctx = context.WithoutCancel(ctx)
	for _, name := range names {
		m := meta
		m.Event = name
		for _, h := range b.matching(KindAction, name) {
			if !h.accepts(&m) {
				continue
			}
			b.live.Add(1)
			go func() {
				defer b.live.Done()
				if err := b.runLive(ctx, h, m, ec); err != nil {
					b.logger.WarnContext(ctx, "an error was thrown while executing action",
						slog.String("hook", h.ID), slog.String("event", m.Event), slog.Any("error", err))
				}
			}()
		}
	}
}

func (b *Bus) runLive(ctx context.Context, h *Hook, meta hooks.Meta, ec hooks.EventContext) (err error) {
	ctx, cancel := context.WithTimeout(ctx, cmp.Or(h.Options.Timeout, DefaultLiveTimeout))
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("action hook %s panicked: %v\n%s", h.ID, p, debug.Stack())
		}
	}()
	return h.Action(ctx, meta, ec)
}

// Drain waits until the live actions started so far have returned, or ctx
// is done (server shutdown, tests).
func (b *Bus) Drain(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		b.live.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for live action hooks: %w", ctx.Err())
	}
}

// Init runs the init hooks for one init event, awaited, errors and panics
// logged and never fatal (Directus's emitInit). They run one after the other
// in registration order, not concurrently as in Directus: they share the
// router, which is not safe for concurrent registration.
func (b *Bus) Init(ctx context.Context, name string, meta hooks.Meta) {
	meta.Event = name
	for _, h := range b.matching(KindInit, name) {
		func() {
			defer func() {
				if p := recover(); p != nil {
					b.logger.ErrorContext(ctx, "init hook panicked", slog.String("hook", h.ID),
						slog.String("event", name), slog.Any("panic", p), slog.String("stack", string(debug.Stack())))
				}
			}()
			if err := h.Init(ctx, meta); err != nil {
				b.logger.WarnContext(ctx, "an error was thrown while executing init",
					slog.String("hook", h.ID), slog.String("event", name), slog.Any("error", err))
			}
		}()
	}
}

// SingleEventRunner adapts the bus to callers that dispatch one event name
// at a time with pointer meta/context (the realtime hub's websocket.*
// events).
type SingleEventRunner struct{ bus *Bus }

// SingleEvent returns the one-name adapter.
func (b *Bus) SingleEvent() SingleEventRunner { return SingleEventRunner{bus: b} }

// Filter runs the filters of one event name (see Bus.Filter).
func (s SingleEventRunner) Filter(ctx context.Context, name string, payload any, meta *hooks.Meta, ec *hooks.EventContext) (any, error) {
	return s.bus.Filter(ctx, []string{name}, payload, deref(meta), deref(ec))
}

// Action runs the live actions of one event name (see Bus.Emit).
func (s SingleEventRunner) Action(ctx context.Context, name string, meta *hooks.Meta, ec *hooks.EventContext) {
	s.bus.Emit(ctx, []string{name}, deref(meta), deref(ec))
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
