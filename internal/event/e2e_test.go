package event_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/hooks"
	"github.com/hookd/hookd/internal/event"
	"github.com/hookd/hookd/internal/item"
	"github.com/hookd/hookd/internal/jobs"
	"github.com/hookd/hookd/internal/schema"
	"github.com/hookd/hookd/internal/testdb"
)

var _ item.HookRunner = (*event.Bus)(nil)

// End to end through the item service: a filter writes through the items
// service bound to the write's transaction; a later filter cancelling rolls
// back the item, the filter's write, the events and the action jobs; a
// successful create commits them all and the durable action runs after
// commit with Directus's meta.
func TestItemServiceWithHooks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := testdb.New(t)
	_, err := d.Pool.Exec(ctx, `CREATE TABLE notes (id serial PRIMARY KEY, title text NOT NULL);
		CREATE TABLE audit (id serial PRIMARY KEY, what text NOT NULL)`)
	require.NoError(t, err)
	loader, err := schema.NewLoader(&schema.Config{Pool: d.Pool})
	require.NoError(t, err)
	_, err = loader.Reload(ctx)
	require.NoError(t, err)

	actions := make(chan hooks.Meta, 1)
	ext := hooks.Extension{ID: "e2e", Register: func(r hooks.Registrar, c *hooks.Context) error {
		r.Filter("notes.items.create", func(ctx context.Context, p any, m hooks.Meta, ec hooks.EventContext) (any, error) {
			audit, err := c.Services.Items("audit", &hooks.ServiceOptions{Database: ec.Database})
			if err != nil {
				return nil, err
			}
			if _, err := audit.CreateOne(ctx, hooks.Item{"what": "note: " + p.(hooks.Item)["title"].(string)}); err != nil {
				return nil, err
			}
			return p, nil
		}, hooks.Name("audit"))
		r.Filter("notes.items.create", func(_ context.Context, p any, _ hooks.Meta, _ hooks.EventContext) (any, error) {
			if p.(hooks.Item)["title"] == "reject me" {
				return nil, hooks.InvalidPayload("rejected")
			}
			return p, nil
		}, hooks.Name("reject"))
		r.Action("notes.items.create", func(_ context.Context, m hooks.Meta, _ hooks.EventContext) error {
			actions <- m
			return nil
		}, hooks.Name("after"))
		return nil
	}}
	bus, err := event.NewBus(ctx, &event.BusConfig{Pool: d.Pool, Extensions: []hooks.Extension{ext}})
	require.NoError(t, err)
	items, err := item.NewService(&item.Config{Pool: d.Pool, Schema: loader.Current, Hooks: bus})
	require.NoError(t, err)
	bus.Services().SetItems(items.Items)
	notes, err := items.Items("notes", nil)
	require.NoError(t, err)
	counts := func() [4]int {
		var c [4]int
		require.NoError(t, d.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM notes), (SELECT count(*) FROM audit),
			(SELECT count(*) FROM hookd_event), (SELECT count(*) FROM river_job WHERE kind = $1)`, event.ActionKind).
			Scan(&c[0], &c[1], &c[2], &c[3]))
		return c
	}

	_, err = notes.CreateOne(ctx, hooks.Item{"title": "reject me"})
	e, ok := hooks.AsError(err)
	require.True(t, ok, "got %v", err)
	require.Equal(t, "INVALID_PAYLOAD", e.Code)
	require.Equal(t, [4]int{0, 0, 0, 0}, counts(), "notes, audit, events, jobs")

	key, err := notes.CreateOne(ctx, hooks.Item{"title": "keep me"})
	require.NoError(t, err)
	// The note and the audit row (each with its event), one action job:
	// the audit create has no action hook.
	require.Equal(t, [4]int{1, 1, 2, 1}, counts())

	workers, err := jobs.Workers(&jobs.Config{Bus: bus})
	require.NoError(t, err)
	client, err := river.NewClient(riverpgxv5.New(d.Pool), &river.Config{Logger: slog.New(slog.DiscardHandler),
		Queues: jobs.Queues(bus, 2), Workers: workers, FetchPollInterval: 50 * time.Millisecond,
		FetchCooldown: 20 * time.Millisecond})
	require.NoError(t, err)
	require.NoError(t, client.Start(ctx))
	t.Cleanup(func() { _ = client.StopAndCancel(context.Background()) })
	m := <-actions
	require.Equal(t, "notes.items.create", m.Event)
	require.Equal(t, "notes", m.Collection)
	require.EqualValues(t, key, m.Key)
	require.Equal(t, "keep me", m.Payload.(map[string]any)["title"])
	require.Len(t, m.EventIDs, 1)
}
