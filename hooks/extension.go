package hooks

import (
	"context"
	"log/slog"
	"time"
)

// Extension is one compiled-in hook extension: the Go form of Directus's
// `extensions/hooks/<id>/index.js`. cmd/hookd lists the extensions it
// compiles in; the EXTENSIONS setting enables a subset by ID.
type Extension struct {
	// ID names the extension. It is the first part of every hook's stable
	// id, so renaming an extension orphans the jobs its hooks had queued.
	ID string
	// Register is called once at startup with the registration verbs and the
	// extension context (Directus's `(register, context) => void`). An error
	// stops the server from starting, naming the extension.
	Register RegisterFunc
}

// RegisterFunc registers an extension's hooks.
type RegisterFunc func(r Registrar, c *Context) error

// Registrar holds the registration verbs. Every registration is checked when
// it is made; the first problem (an invalid cron expression, a duplicate
// hook name, an unknown option value) fails the extension's registration
// with an error naming the extension and the hook.
type Registrar interface {
	// Filter registers a blocking hook on event (wildcards allowed: `*` is
	// one dot-segment, `**` any number). For data events it runs inside the
	// write's transaction, before the write, with EventContext.Database =
	// that transaction; it may return a replacement payload (nil keeps the
	// current one) or an error that cancels the operation and rolls back
	// everything written in the transaction.
	Filter(event string, fn FilterFunc, opts ...HookOption)
	// Action registers a non-blocking hook on event. On data events
	// (items.*, <collection>.items.*, users.*, auth.login, …) it is durable:
	// one River job per (event, hook) is inserted in the write's
	// transaction and runs after commit, at least once, retried with
	// backoff — make it idempotent (Meta.EventIDs identifies the events).
	// On live events (websocket.*, server.start|stop, request.*, response,
	// items.read) it runs in-process on the instance where the event
	// happens, concurrently, with errors logged.
	Action(event string, fn ActionFunc, opts ...HookOption)
	// Init registers a hook on an init event: app.before|after,
	// middlewares.before|after, routes.before|after,
	// routes.custom.before|after. Init hooks are awaited; RouterFrom(meta)
	// gives the chi router to add middleware or routes to.
	Init(event string, fn InitFunc)
	// Schedule registers a cron hook: 5 fields, 6 fields with leading
	// seconds, or a macro (@yearly, @monthly, @weekly, @daily, @hourly,
	// @every <duration>). Each tick runs once across all instances (a River
	// periodic job enqueued by the leader, unique per tick).
	Schedule(cron string, fn ScheduleFunc, opts ...HookOption)
}

// FilterFunc is a filter hook: Directus's `(payload, meta, context)`. Return
// the payload to keep it, a new value to replace it, or nil to keep the
// current payload unchanged; return an error (ideally a *Error such as
// InvalidPayload) to cancel the operation.
type FilterFunc func(ctx context.Context, payload any, meta Meta, ec EventContext) (any, error)

// ActionFunc is an action hook: Directus's `(meta, context)`. A durable
// action returning an error is retried with backoff until its attempts are
// exhausted.
type ActionFunc func(ctx context.Context, meta Meta, ec EventContext) error

// InitFunc is an init hook: Directus's `(meta)`. Errors are logged, never
// fatal (as in Directus).
type InitFunc func(ctx context.Context, meta Meta) error

// ScheduleFunc is a cron hook. An error marks that tick's run failed in
// river_job (retried only when MaxAttempts allows it).
type ScheduleFunc func(ctx context.Context) error

// Context is what an extension's Register receives (Directus's register
// `context`). It stays valid for the life of the process, so hooks may keep
// it.
type Context struct {
	// Services are hookd's internal services (items, WebSocket, mail).
	Services Services
	// Database is the shared pool — not a transaction. Inside a filter use
	// EventContext.Database to write within the operation's transaction.
	Database DB
	// GetSchema loads the current schema snapshot.
	GetSchema func(ctx context.Context) (*Schema, error)
	// Env looks up an environment variable ("" when unset).
	Env func(key string) string
	// Logger is the extension's logger (tagged with its id).
	Logger *slog.Logger
}

// Services are the internal services a hook can use (Directus's
// `context.services`).
type Services interface {
	// Items returns an items service for collection. With a nil opts or
	// nil opts.Accountability it has system access; with opts.Database set
	// (e.g. EventContext.Database in a filter) it runs inside that
	// transaction. It fails with ServiceUnavailable until the item service
	// is wired into the server.
	Items(collection string, opts *ServiceOptions) (ItemsService, error)
	// WebSocket returns the realtime service. It is never nil: when realtime
	// is disabled or not wired, its Broadcast fails with ServiceUnavailable
	// and Clients is empty.
	WebSocket() WebSocketService
	// Mail returns the mail service.
	Mail() MailService
}

// MailService sends email. hookd's transport is an outbox: each mail is
// logged and stored in the hookd_mail_outbox table, from where a delivery
// process (or a test) picks it up.
type MailService interface {
	Send(ctx context.Context, m Mail) error
}

// Mail is one email (Directus's MailService.send options).
type Mail struct {
	// To lists the recipients. Required.
	To []string `json:"to"`
	// Subject is the subject line.
	Subject string `json:"subject,omitempty"`
	// Template names a template and its data; either Template or Text.
	Template *MailTemplate `json:"template,omitempty"`
	// Text is a plain-text body.
	Text string `json:"text,omitempty"`
}

// MailTemplate is a named template with its data.
type MailTemplate struct {
	Name string         `json:"name"`
	Data map[string]any `json:"data,omitempty"`
}

// HookOptions are a hook's settings, filled by HookOption values.
type HookOptions struct {
	// Name is the last part of the hook's stable id (extension id + event +
	// name). Default: the hook's ordinal among the extension's hooks on the
	// same event ("", "#2", "#3", …) — set a Name when an extension has
	// several hooks on one event, so reordering them cannot hand queued jobs
	// to the wrong hook.
	Name string
	// MaxAttempts bounds runs of a durable action (default 25, River's) or a
	// schedule (default 1: a failed tick is not retried, as in Directus).
	MaxAttempts int
	// Timeout bounds one run (default: 1 minute for actions and schedules,
	// none for filters beyond the request's own deadline).
	Timeout time.Duration
	// Queue is the River queue of durable actions and schedules (default
	// "default"). hookd starts a worker pool for every queue a hook names.
	Queue string
	// Priority is the River priority, 1 (first) to 4 (default 1).
	Priority int
	// Collections, when set, restricts the hook to events on these
	// collections (meta.collection), instead of a
	// `<collection>.items.<action>` event name.
	Collections []string
}

// HookOption sets one hook option.
type HookOption func(*HookOptions)

// Name sets the hook's name, part of its stable id.
func Name(name string) HookOption { return func(o *HookOptions) { o.Name = name } }

// MaxAttempts sets how many times a durable action or a schedule may run.
func MaxAttempts(n int) HookOption { return func(o *HookOptions) { o.MaxAttempts = n } }

// Timeout bounds one run of the hook.
func Timeout(d time.Duration) HookOption { return func(o *HookOptions) { o.Timeout = d } }

// Queue puts the hook's jobs on a River queue.
func Queue(q string) HookOption { return func(o *HookOptions) { o.Queue = q } }

// Priority sets the River priority of the hook's jobs (1 = highest, 4 =
// lowest).
func Priority(p int) HookOption { return func(o *HookOptions) { o.Priority = p } }

// Collections tags the hook to collections: it only runs for events whose
// meta.collection is one of them. `Filter("items.create", fn,
// Collections("recipes"))` is the tagged form of a filter on
// "recipes.items.create" (and runs once per write, not once per name).
func Collections(names ...string) HookOption {
	return func(o *HookOptions) { o.Collections = append(o.Collections, names...) }
}

// ApplyOptions folds opts into a HookOptions (for registrar
// implementations).
func ApplyOptions(opts []HookOption) HookOptions {
	var o HookOptions
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	return o
}
