package hooks_test

import (
	"context"
	"fmt"
	"time"

	"github.com/hookd/hookd/hooks"
	"github.com/hookd/hookd/internal/event"
)

// An extension registers filters, actions, init hooks and schedules. This
// example registers one filter that fills a slug, one that cancels, and a
// durable action, then runs the create filters the way the item service
// does for a create in "articles" (the generic name first, then the
// collection's).
func Example() {
	ext := hooks.Extension{ID: "articles", Register: func(r hooks.Registrar, c *hooks.Context) error {
		r.Filter("items.create", func(_ context.Context, payload any, meta hooks.Meta, _ hooks.EventContext) (any, error) {
			item := payload.(hooks.Item)
			if item["title"] == "" {
				return nil, hooks.InvalidPayload(`"title" is required`)
			}
			return payload, nil
		})
		r.Filter("articles.items.create", func(_ context.Context, payload any, _ hooks.Meta, _ hooks.EventContext) (any, error) {
			item := payload.(hooks.Item)
			item["slug"] = fmt.Sprintf("%v", item["title"])
			return item, nil
		})
		// After commit, at least once, retried with backoff: make it
		// idempotent with meta.EventIDs.
		r.Action("articles.items.create", func(ctx context.Context, meta hooks.Meta, ec hooks.EventContext) error {
			c.Logger.InfoContext(ctx, "article created", "key", meta.Key)
			return nil
		}, hooks.Name("log"), hooks.MaxAttempts(5), hooks.Timeout(10*time.Second))
		return nil
	}}

	bus, err := event.NewBus(context.Background(), &event.BusConfig{Extensions: []hooks.Extension{ext}})
	if err != nil {
		panic(err)
	}
	names := []string{"items.create", "articles.items.create"}
	out, err := bus.Filter(context.Background(), names, hooks.Item{"title": "hello"},
		hooks.Meta{Collection: "articles"}, hooks.EventContext{})
	fmt.Println(out, err)
	_, err = bus.Filter(context.Background(), names, hooks.Item{"title": ""},
		hooks.Meta{Collection: "articles"}, hooks.EventContext{})
	e, _ := hooks.AsError(err)
	fmt.Println(e.Status, e.Code, e.Message)
	// Output:
	// map[slug:hello title:hello] <nil>
	// 400 INVALID_PAYLOAD Invalid payload. "title" is required.
}

// Collections tags a hook to collections instead of a prefixed event name.
func ExampleCollections() {
	ext := hooks.Extension{ID: "recipes", Register: func(r hooks.Registrar, _ *hooks.Context) error {
		r.Filter("items.create", func(_ context.Context, payload any, meta hooks.Meta, _ hooks.EventContext) (any, error) {
			fmt.Println("filter ran for", meta.Collection, "on", meta.Event)
			return nil, nil
		}, hooks.Collections("recipes"))
		return nil
	}}
	bus, _ := event.NewBus(context.Background(), &event.BusConfig{Extensions: []hooks.Extension{ext}})
	for _, collection := range []string{"articles", "recipes"} {
		_, _ = bus.Filter(context.Background(), []string{"items.create", collection + ".items.create"},
			hooks.Item{}, hooks.Meta{Collection: collection}, hooks.EventContext{})
	}
	// Output:
	// filter ran for recipes on items.create
}

// Legacy adapts a v9 hook object: `.before` keys become filters, cron(...)
// keys schedules, others actions.
func ExampleLegacy() {
	ext := hooks.Extension{ID: "v9", Register: hooks.Legacy(map[string]hooks.LegacyFunc{
		"items.create.before": func(_ context.Context, c *hooks.LegacyContext) (any, error) {
			item := c.Payload.(hooks.Item)
			item["checked"] = true
			return item, nil
		},
		"cron(*/15 * * * *)": func(context.Context, *hooks.LegacyContext) (any, error) { return nil, nil },
	})}
	bus, _ := event.NewBus(context.Background(), &event.BusConfig{Extensions: []hooks.Extension{ext}})
	for _, h := range bus.Hooks() {
		fmt.Println(h.Kind, h.ID)
	}
	out, _ := bus.Filter(context.Background(), []string{"items.create"}, hooks.Item{"title": "x"},
		hooks.Meta{Collection: "notes"}, hooks.EventContext{})
	fmt.Println(out)
	// Output:
	// schedule v9:cron(*/15 * * * *)
	// filter v9:items.create
	// map[checked:true title:x]
}
