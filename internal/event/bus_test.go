package event_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/hooks"
	"github.com/hookd/hookd/internal/event"
	"github.com/hookd/hookd/internal/testdb"
)

// recorder collects calls in order, safely from several goroutines.
type recorder struct {
	mu    sync.Mutex
	calls []string
}

func (r *recorder) add(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, s)
}

func (r *recorder) get() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

func newBus(t *testing.T, cfg *event.BusConfig, exts ...hooks.Extension) *event.Bus {
	t.Helper()
	cfg.Extensions = append(cfg.Extensions, exts...)
	b, err := event.NewBus(context.Background(), cfg)
	require.NoError(t, err)
	return b
}

func ext(id string, register hooks.RegisterFunc) hooks.Extension {
	return hooks.Extension{ID: id, Register: register}
}

func TestFilterOrderAndMultiNameEmission(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	filter := func(label string) hooks.FilterFunc {
		return func(_ context.Context, p any, m hooks.Meta, _ hooks.EventContext) (any, error) {
			rec.add(label + "@" + m.Event)
			return nil, nil
		}
	}
	bus := newBus(t, &event.BusConfig{},
		ext("a", func(r hooks.Registrar, _ *hooks.Context) error {
			// Registered in the reverse of the order they must run in.
			r.Filter("**", filter("**"))
			r.Filter("*.create", filter("*.create"))
			r.Filter("items.*", filter("items.*"))
			r.Filter("items.create", filter("items.create#1"))
			return nil
		}),
		ext("b", func(r hooks.Registrar, _ *hooks.Context) error {
			r.Filter("items.create", filter("items.create#2"))
			r.Filter("articles.items.create", filter("articles.items.create"))
			r.Filter("*.items.*", filter("*.items.*"))
			return nil
		}))
	_, err := bus.Filter(context.Background(), []string{"items.create", "articles.items.create"}, hooks.Item{},
		hooks.Meta{Collection: "articles"}, hooks.EventContext{})
	require.NoError(t, err)
	require.Equal(t, []string{
		// items.create: exact names in registration order, then wildcards
		// in tree-walk order.
		"items.create#1@items.create", "items.create#2@items.create",
		"items.*@items.create", "*.create@items.create", "**@items.create",
		// articles.items.create: the `**` listener runs a second time.
		"articles.items.create@articles.items.create", "*.items.*@articles.items.create", "**@articles.items.create",
	}, rec.get())
}

func TestFilterPayloadReplacement(t *testing.T) {
	t.Parallel()
	bus := newBus(t, &event.BusConfig{}, ext("x", func(r hooks.Registrar, _ *hooks.Context) error {
		r.Filter("items.create", func(_ context.Context, p any, _ hooks.Meta, _ hooks.EventContext) (any, error) {
			item := p.(hooks.Item)
			return hooks.Item{"title": item["title"], "slug": "first"}, nil
		})
		// nil keeps the current payload.
		r.Filter("items.create", func(context.Context, any, hooks.Meta, hooks.EventContext) (any, error) {
			return nil, nil
		})
		r.Filter("notes.items.create", func(_ context.Context, p any, _ hooks.Meta, _ hooks.EventContext) (any, error) {
			item := p.(hooks.Item)
			item["slug"] = item["slug"].(string) + "+second"
			return item, nil
		})
		return nil
	}))
	out, err := bus.Filter(context.Background(), []string{"items.create", "notes.items.create"},
		hooks.Item{"title": "hello"}, hooks.Meta{Collection: "notes"}, hooks.EventContext{})
	require.NoError(t, err)
	require.Equal(t, hooks.Item{"title": "hello", "slug": "first+second"}, out)
}

func TestFilterCollectionsTag(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	bus := newBus(t, &event.BusConfig{}, ext("x", func(r hooks.Registrar, _ *hooks.Context) error {
		r.Filter("items.create", func(_ context.Context, _ any, m hooks.Meta, _ hooks.EventContext) (any, error) {
			rec.add(m.Collection + "@" + m.Event)
			return nil, nil
		}, hooks.Collections("recipes"))
		return nil
	}))
	for _, coll := range []string{"notes", "recipes"} {
		_, err := bus.Filter(context.Background(), []string{"items.create", coll + ".items.create"}, hooks.Item{},
			hooks.Meta{Collection: coll}, hooks.EventContext{})
		require.NoError(t, err)
	}
	require.Equal(t, []string{"recipes@items.create"}, rec.get())
}

func setupDB(t *testing.T) *testdb.DB {
	t.Helper()
	d := testdb.New(t)
	_, err := d.Pool.Exec(context.Background(), `CREATE TABLE notes (id serial PRIMARY KEY, title text NOT NULL);
		CREATE TABLE audit (id serial PRIMARY KEY, what text NOT NULL)`)
	require.NoError(t, err)
	return d
}

func count(t *testing.T, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, sql string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, q.QueryRow(context.Background(), sql, args...).Scan(&n))
	return n
}

// A filter's own writes through ec.Database commit or roll back with the
// write: when a later filter cancels, nothing is left.
func TestFilterRollsBackItsOwnWrites(t *testing.T) {
	t.Parallel()
	d := setupDB(t)
	ctx := context.Background()
	bus := newBus(t, &event.BusConfig{Pool: d.Pool}, ext("audit", func(r hooks.Registrar, _ *hooks.Context) error {
		r.Filter("items.create", func(ctx context.Context, p any, m hooks.Meta, ec hooks.EventContext) (any, error) {
			_, err := ec.Database.Exec(ctx, "INSERT INTO audit (what) VALUES ($1)", "creating "+m.Collection)
			return p, err
		})
		r.Filter("notes.items.create", func(_ context.Context, p any, _ hooks.Meta, _ hooks.EventContext) (any, error) {
			if p.(hooks.Item)["title"] == "" {
				return nil, hooks.InvalidPayload(`"title" is required`)
			}
			return p, nil
		})
		return nil
	}))
	create := func(title string) error {
		tx, err := d.Pool.Begin(ctx)
		require.NoError(t, err)
		defer tx.Rollback(ctx) //nolint:errcheck
		out, err := bus.Filter(ctx, []string{"items.create", "notes.items.create"}, hooks.Item{"title": title},
			hooks.Meta{Collection: "notes"}, hooks.EventContext{Database: tx})
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "INSERT INTO notes (title) VALUES ($1)", out.(hooks.Item)["title"]); err != nil {
			return err
		}
		return tx.Commit(ctx)
	}

	err := create("")
	e, ok := hooks.AsError(err)
	require.True(t, ok, "error %v is not a *hooks.Error", err)
	require.Equal(t, "INVALID_PAYLOAD", e.Code)
	require.Equal(t, `Invalid payload. "title" is required.`, e.Message)
	require.Zero(t, count(t, d.Pool, "SELECT count(*) FROM audit"))
	require.Zero(t, count(t, d.Pool, "SELECT count(*) FROM notes"))

	require.NoError(t, create("kept"))
	require.Equal(t, 1, count(t, d.Pool, "SELECT count(*) FROM audit"))
	require.Equal(t, 1, count(t, d.Pool, "SELECT count(*) FROM notes"))
}

func TestFilterPanicBecomesError(t *testing.T) {
	t.Parallel()
	bus := newBus(t, &event.BusConfig{}, ext("boom", func(r hooks.Registrar, _ *hooks.Context) error {
		r.Filter("items.delete", func(context.Context, any, hooks.Meta, hooks.EventContext) (any, error) {
			panic("kaput")
		})
		return nil
	}))
	_, err := bus.Filter(context.Background(), []string{"items.delete"}, []any{1}, hooks.Meta{}, hooks.EventContext{})
	require.ErrorContains(t, err, "filter hook boom:items.delete panicked: kaput")
}

type jobRow struct {
	HookID   string  `json:"hook_id"`
	Event    string  `json:"event"`
	EventIDs []int64 `json:"event_ids"`
	Queue    string
	Priority int
	Max      int
}

func actionJobs(t *testing.T, d *testdb.DB) []jobRow {
	t.Helper()
	rows, err := d.Pool.Query(context.Background(),
		"SELECT args, queue, priority, max_attempts FROM river_job WHERE kind = $1 ORDER BY id", event.ActionKind)
	require.NoError(t, err)
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (jobRow, error) {
		var raw []byte
		var j jobRow
		if err := row.Scan(&raw, &j.Queue, &j.Priority, &j.Max); err != nil {
			return j, err
		}
		return j, json.Unmarshal(raw, &j)
	})
	require.NoError(t, err)
	return out
}

// syncActions is an extension whose action hooks cover the cases of job
// insertion: exact and wildcard names, options, another event, another
// collection.
func syncActions() hooks.Extension {
	noop := func(context.Context, hooks.Meta, hooks.EventContext) error { return nil }
	return ext("sync", func(r hooks.Registrar, _ *hooks.Context) error {
		r.Action("items.create", noop)
		r.Action("notes.items.create", noop, hooks.Name("notify"), hooks.Queue("slow"), hooks.Priority(2), hooks.MaxAttempts(3))
		r.Action("**", noop)
		r.Action("items.update", noop)
		r.Action("items.create", noop, hooks.Collections("recipes"))
		return nil
	})
}

// Action jobs exist if and only if the write's transaction commits.
func TestEnqueueActionsTxCommitAndRollback(t *testing.T) {
	t.Parallel()
	d := setupDB(t)
	ctx := context.Background()
	bus := newBus(t, &event.BusConfig{Pool: d.Pool}, syncActions())
	names := []string{"items.create", "notes.items.create"}
	meta := hooks.Meta{Collection: "notes", EventIDs: []int64{41}}

	tx, err := d.Pool.Begin(ctx)
	require.NoError(t, err)
	require.NoError(t, bus.EnqueueActionsTx(ctx, tx, names, meta))
	require.Empty(t, actionJobs(t, d), "jobs must not be visible before commit")
	require.NoError(t, tx.Rollback(ctx))
	require.Empty(t, actionJobs(t, d), "jobs must not exist after rollback")

	tx, err = d.Pool.Begin(ctx)
	require.NoError(t, err)
	require.NoError(t, bus.EnqueueActionsTx(ctx, tx, names, meta))
	require.NoError(t, tx.Commit(ctx))
	require.Equal(t, []jobRow{
		{HookID: "sync:items.create", Event: "items.create", EventIDs: []int64{41}, Queue: "default", Priority: 1, Max: 25},
		{HookID: "sync:**", Event: "items.create", EventIDs: []int64{41}, Queue: "default", Priority: 1, Max: 25},
		{HookID: "sync:notes.items.create:notify", Event: "notes.items.create", EventIDs: []int64{41}, Queue: "slow", Priority: 2, Max: 3},
		{HookID: "sync:**", Event: "notes.items.create", EventIDs: []int64{41}, Queue: "default", Priority: 1, Max: 25},
	}, actionJobs(t, d))
}

func TestEnqueueActionsManyTx(t *testing.T) {
	t.Parallel()
	d := setupDB(t)
	ctx := context.Background()
	noop := func(context.Context, hooks.Meta, hooks.EventContext) error { return nil }
	bus := newBus(t, &event.BusConfig{Pool: d.Pool}, ext("bulk", func(r hooks.Registrar, _ *hooks.Context) error {
		r.Action("notes.items.create", noop)
		return nil
	}))
	tx, err := d.Pool.Begin(ctx)
	require.NoError(t, err)
	require.NoError(t, bus.EnqueueActionsManyTx(ctx, tx, []string{"items.create", "notes.items.create"}, []hooks.Meta{
		{Collection: "notes", EventIDs: []int64{1}}, {Collection: "notes", EventIDs: []int64{2}},
	}))
	require.NoError(t, tx.Commit(ctx))
	require.Equal(t, []jobRow{
		{HookID: "bulk:notes.items.create", Event: "notes.items.create", EventIDs: []int64{1}, Queue: "default", Priority: 1, Max: 25},
		{HookID: "bulk:notes.items.create", Event: "notes.items.create", EventIDs: []int64{2}, Queue: "default", Priority: 1, Max: 25},
	}, actionJobs(t, d))
}

func TestEmitRunsLiveActionsAndSurvivesFailures(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	bus := newBus(t, &event.BusConfig{}, ext("live", func(r hooks.Registrar, _ *hooks.Context) error {
		r.Action("websocket.*", func(context.Context, hooks.Meta, hooks.EventContext) error { panic("bad hook") })
		r.Action("websocket.connect", func(context.Context, hooks.Meta, hooks.EventContext) error {
			return errors.New("failing hook")
		})
		r.Action("websocket.connect", func(_ context.Context, m hooks.Meta, _ hooks.EventContext) error {
			rec.add(m.Event + " " + m.Extra["client"].(string))
			return nil
		})
		return nil
	}))
	// Emit returns at once even though hooks are still to run; a cancelled
	// request context does not stop them.
	ctx, cancel := context.WithCancel(context.Background())
	bus.Emit(ctx, []string{"websocket.connect"}, hooks.Meta{Extra: map[string]any{"client": "c1"}}, hooks.EventContext{})
	cancel()
	drainCtx, drainCancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer drainCancel()
	require.NoError(t, bus.Drain(drainCtx))
	require.Equal(t, []string{"websocket.connect c1"}, rec.get())
}

func TestInitHooksAddMiddlewareAndRoutes(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	bus := newBus(t, &event.BusConfig{}, ext("web", func(r hooks.Registrar, _ *hooks.Context) error {
		r.Init("app.before", func(_ context.Context, m hooks.Meta) error { rec.add(m.Event); return nil })
		r.Init("middlewares.before", func(_ context.Context, m hooks.Meta) error {
			hooks.RouterFrom(m).Use(func(next http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
					w.Header().Set("X-Hooked", "yes")
					next.ServeHTTP(w, req)
				})
			})
			return nil
		})
		r.Init("routes.custom.before", func(_ context.Context, m hooks.Meta) error {
			hooks.RouterFrom(m).Get("/custom/hello", func(w http.ResponseWriter, _ *http.Request) {
				_, _ = io.WriteString(w, "hi")
			})
			return nil
		})
		r.Init("routes.after", func(context.Context, hooks.Meta) error { return errors.New("logged, not fatal") })
		return nil
	}))
	bus.Init(context.Background(), "app.before", hooks.Meta{})
	require.Equal(t, []string{"app.before"}, rec.get())

	before, after := bus.InitMiddlewares(context.Background())
	require.Len(t, before, 1)
	require.Empty(t, after)
	router := chi.NewRouter()
	router.Use(before...)
	bus.MountInit(context.Background(), "routes.custom.before")(router)
	bus.MountInit(context.Background(), "routes.after")(router)
	srv := httptest.NewServer(router)
	defer srv.Close()
	res, err := http.Get(srv.URL + "/custom/hello")
	require.NoError(t, err)
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Equal(t, "hi", string(body))
	require.Equal(t, "yes", res.Header.Get("X-Hooked"))
}

func TestRegistrationErrors(t *testing.T) {
	t.Parallel()
	noop := func(context.Context, hooks.Meta, hooks.EventContext) error { return nil }
	sched := func(context.Context) error { return nil }
	tests := []struct {
		name     string
		register hooks.RegisterFunc
		enabled  []string
		want     string
	}{
		{"invalid cron", func(r hooks.Registrar, _ *hooks.Context) error {
			r.Schedule("61 * * * *", sched)
			return nil
		}, nil, `registering extension "x": schedule hook: invalid cron expression "61 * * * *"`},
		{"seven fields", func(r hooks.Registrar, _ *hooks.Context) error {
			r.Schedule("0 0 0 1 1 * 2030", sched)
			return nil
		}, nil, "invalid cron expression"},
		{"duplicate name", func(r hooks.Registrar, _ *hooks.Context) error {
			r.Action("items.create", noop, hooks.Name("n"))
			r.Action("items.create", noop, hooks.Name("n"))
			return nil
		}, nil, `action hook id "x:items.create:n" is registered twice`},
		{"bad event", func(r hooks.Registrar, _ *hooks.Context) error {
			r.Action("items..create", noop)
			return nil
		}, nil, "empty segment"},
		{"bad queue", func(r hooks.Registrar, _ *hooks.Context) error {
			r.Action("items.create", noop, hooks.Queue("Bad Queue"))
			return nil
		}, nil, `queue name "Bad Queue" is invalid`},
		{"bad priority", func(r hooks.Registrar, _ *hooks.Context) error {
			r.Action("items.create", noop, hooks.Priority(9))
			return nil
		}, nil, "Priority must be 1 to 4"},
		{"init on a data event", func(r hooks.Registrar, _ *hooks.Context) error {
			r.Init("items.create", func(context.Context, hooks.Meta) error { return nil })
			return nil
		}, nil, `init hook on "items.create": not an init event`},
		{"register error", func(hooks.Registrar, *hooks.Context) error {
			return errors.New("missing RECIPES_URL")
		}, nil, `registering extension "x": missing RECIPES_URL`},
		{"unknown EXTENSIONS id", func(hooks.Registrar, *hooks.Context) error { return nil },
			[]string{"nope"}, `EXTENSIONS names "nope", which is not compiled in (available: x)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := event.NewBus(context.Background(), &event.BusConfig{
				Extensions: []hooks.Extension{ext("x", tt.register)}, Enabled: tt.enabled})
			require.ErrorContains(t, err, tt.want)
		})
	}
}

func TestHookIDsAndEnabledExtensions(t *testing.T) {
	t.Parallel()
	noop := func(context.Context, hooks.Meta, hooks.EventContext) error { return nil }
	register := func(r hooks.Registrar, _ *hooks.Context) error {
		r.Action("items.create", noop)
		r.Action("items.create", noop)
		r.Action("items.create", noop, hooks.Name("mail"))
		r.Schedule("*/15 * * * *", func(context.Context) error { return nil })
		r.Schedule("@hourly", func(context.Context) error { return nil })
		r.Schedule("*/5 * * * * *", func(context.Context) error { return nil })
		return nil
	}
	bus := newBus(t, &event.BusConfig{Enabled: []string{"b"}}, ext("a", register), ext("b", register))
	var ids []string
	for _, h := range bus.Hooks() {
		ids = append(ids, h.ID)
	}
	require.Equal(t, []string{
		"b:items.create", "b:items.create#2", "b:items.create:mail",
		"b:cron(*/15 * * * *)", "b:cron(@hourly)", "b:cron(*/5 * * * * *)",
	}, ids)
	_, ok := bus.ActionHook("b:items.create#2")
	require.True(t, ok)
	_, ok = bus.ActionHook("a:items.create")
	require.False(t, ok, "extension a is not enabled")
	// 6-field cron has seconds.
	s := bus.Schedules()[2].Cron
	start := time.Date(2026, 1, 1, 0, 0, 1, 0, time.UTC)
	require.Equal(t, start.Add(4*time.Second), s.Next(start))
}

func TestLegacyHooks(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	legacy := hooks.Legacy(map[string]hooks.LegacyFunc{
		"items.create.before": func(_ context.Context, c *hooks.LegacyContext) (any, error) {
			rec.add("before " + c.Event + " " + c.Collection + " " + c.Action)
			item := c.Payload.(hooks.Item)
			item["stamped"] = true
			return item, nil
		},
		"items.delete.before": func(_ context.Context, c *hooks.LegacyContext) (any, error) {
			return "ignored", nil
		},
		"items.create": func(_ context.Context, c *hooks.LegacyContext) (any, error) {
			rec.add("after " + c.Event)
			return nil, nil
		},
		"cron(*/15 * * * *)": func(context.Context, *hooks.LegacyContext) (any, error) { return nil, nil },
		"routes.init.before": func(context.Context, *hooks.LegacyContext) (any, error) { return nil, nil },
	})
	bus := newBus(t, &event.BusConfig{}, ext("v9", legacy))
	var registered []string
	for _, h := range bus.Hooks() {
		registered = append(registered, string(h.Kind)+" "+h.ID)
	}
	// Keys register in sorted order.
	require.Equal(t, []string{
		"schedule v9:cron(*/15 * * * *)", "action v9:items.create", "filter v9:items.create",
		"filter v9:items.delete", "init v9:routes.before",
	}, registered)

	out, err := bus.Filter(context.Background(), []string{"items.create"}, hooks.Item{"a": 1},
		hooks.Meta{Collection: "notes"}, hooks.EventContext{})
	require.NoError(t, err)
	require.Equal(t, hooks.Item{"a": 1, "stamped": true}, out)
	out, err = bus.Filter(context.Background(), []string{"items.delete"}, []any{1, 2}, hooks.Meta{Collection: "notes"},
		hooks.EventContext{})
	require.NoError(t, err)
	require.Equal(t, []any{1, 2}, out, "delete.before's return is ignored, as in v9")

	bus.Emit(context.Background(), []string{"items.create"}, hooks.Meta{Collection: "notes", Key: 7}, hooks.EventContext{})
	require.NoError(t, bus.Drain(context.Background()))
	require.Equal(t, []string{"before items.create notes create", "after items.create"}, rec.get())
}

func TestServicesUnavailableUntilWired(t *testing.T) {
	t.Parallel()
	var hc *hooks.Context
	bus := newBus(t, &event.BusConfig{}, ext("svc", func(_ hooks.Registrar, c *hooks.Context) error {
		hc = c
		return nil
	}))
	_, err := hc.Services.Items("notes", nil)
	e, ok := hooks.AsError(err)
	require.True(t, ok)
	require.Equal(t, "SERVICE_UNAVAILABLE", e.Code)
	err = hc.Services.WebSocket().Broadcast(context.Background(), "hi", nil)
	e, ok = hooks.AsError(err)
	require.True(t, ok)
	require.Equal(t, 503, e.Status)
	_, err = hc.GetSchema(context.Background())
	require.Error(t, err)

	want := &hooks.Schema{Collections: map[string]*hooks.Collection{}}
	bus.Services().SetSchema(func(context.Context) (*hooks.Schema, error) { return want, nil })
	got, err := hc.GetSchema(context.Background())
	require.NoError(t, err)
	require.Same(t, want, got)
}

func TestMailOutbox(t *testing.T) {
	t.Parallel()
	d := setupDB(t)
	ctx := context.Background()
	var hc *hooks.Context
	newBus(t, &event.BusConfig{Pool: d.Pool}, ext("mail", func(_ hooks.Registrar, c *hooks.Context) error {
		hc = c
		return nil
	}))
	err := hc.Services.Mail().Send(ctx, hooks.Mail{To: []string{"person@example.com"}, Subject: "Created",
		Template: &hooks.MailTemplate{Name: "item-created", Data: map[string]any{"collection": "recipes"}}})
	require.NoError(t, err)
	var to []string
	var template string
	var data map[string]any
	require.NoError(t, d.Pool.QueryRow(ctx, "SELECT recipients, template, template_data FROM hookd_mail_outbox").
		Scan(&to, &template, &data))
	require.Equal(t, []string{"person@example.com"}, to)
	require.Equal(t, "item-created", template)
	require.Equal(t, map[string]any{"collection": "recipes"}, data)

	err = hc.Services.Mail().Send(ctx, hooks.Mail{Subject: "nobody"})
	e, ok := hooks.AsError(err)
	require.True(t, ok)
	require.Equal(t, "INVALID_PAYLOAD", e.Code)
}
