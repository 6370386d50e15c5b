package hooks

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// LegacyFunc is a handler in the v9 (RC) hook format: it receives the single
// v9 context object. For a `<scope>.<action>.before` key a non-nil return
// value replaces the payload (chained, as current filters are; v9 merged
// concurrent results); for other keys the return value is ignored and an
// error is handled as an action's error.
type LegacyFunc func(ctx context.Context, c *LegacyContext) (any, error)

// LegacyContext is the v9 hook context object:
// {event, accountability, collection, item, action, payload, schema, database}.
type LegacyContext struct {
	// Event is the full event name, e.g. "items.create" (no ".before").
	Event string
	// Accountability is who caused the event; nil = system.
	Accountability *Accountability
	// Collection is the collection written.
	Collection string
	// Item is nil in create.before, the new key after create, and the key
	// list for update and delete.
	Item any
	// Action is the event's last segment: create, update, delete, login, …
	Action string
	// Payload is the write's payload.
	Payload any
	// Schema is the schema snapshot in force.
	Schema *Schema
	// Database is the transaction in .before hooks, the pool otherwise.
	Database DB
	// Meta is the full current-format meta, for what the v9 object lacks
	// (the init router, websocket clients, …).
	Meta Meta
}

// legacyInit maps v9 init names to current init events (reference §2).
var legacyInit = map[string]string{
	"init.before":               "app.before",
	"init":                      "app.after",
	"middlewares.init.before":   "middlewares.before",
	"middlewares.init.after":    "middlewares.after",
	"routes.init.before":        "routes.before",
	"routes.init.after":         "routes.after",
	"routes.custom.init.before": "routes.custom.before",
	"routes.custom.init.after":  "routes.custom.after",
}

// Legacy adapts a v9-style hook object — event key → handler — to the
// current registration verbs:
//
//   - "cron(<expr>)" → Schedule(<expr>)
//   - "<scope>.<action>.before" → Filter("<scope>.<action>")
//   - v9 init names (init.before, routes.init.before, …) → Init on the
//     current name (app.before, routes.before, …)
//   - anything else → Action(key)
//
// Keys are registered in sorted order, so hook ids are stable.
func Legacy(handlers map[string]LegacyFunc) RegisterFunc {
	return func(r Registrar, c *Context) error {
		keys := make([]string, 0, len(handlers))
		for k := range handlers {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, key := range keys {
			fn := handlers[key]
			if fn == nil {
				return fmt.Errorf("legacy hook %q: handler is nil", key)
			}
			switch {
			case strings.HasPrefix(key, "cron(") && strings.HasSuffix(key, ")"):
				r.Schedule(strings.TrimSuffix(strings.TrimPrefix(key, "cron("), ")"), func(ctx context.Context) error {
					_, err := fn(ctx, &LegacyContext{Event: key})
					return err
				})
			case legacyInit[key] != "":
				r.Init(legacyInit[key], func(ctx context.Context, meta Meta) error {
					_, err := fn(ctx, &LegacyContext{Event: meta.Event, Meta: meta})
					return err
				})
			case strings.HasSuffix(key, ".before"):
				r.Filter(strings.TrimSuffix(key, ".before"), legacyFilter(fn))
			default:
				r.Action(key, func(ctx context.Context, meta Meta, ec EventContext) error {
					lc := legacyContext(meta, ec)
					if meta.Key != nil {
						lc.Item = meta.Key
					} else if meta.Keys != nil {
						lc.Item = meta.Keys
					}
					_, err := fn(ctx, lc)
					return err
				})
			}
		}
		return nil
	}
}

func legacyFilter(fn LegacyFunc) FilterFunc {
	return func(ctx context.Context, payload any, meta Meta, ec EventContext) (any, error) {
		lc := legacyContext(meta, ec)
		lc.Payload = payload
		if meta.Keys != nil {
			lc.Item = meta.Keys
		}
		out, err := fn(ctx, lc)
		if err != nil {
			return nil, err
		}
		// v9 ignored what delete.before returned: the keys to delete are not
		// the hook's to change.
		if lc.Action == "delete" {
			return nil, nil
		}
		return out, nil
	}
}

func legacyContext(meta Meta, ec EventContext) *LegacyContext {
	action := meta.Event
	if i := strings.LastIndexByte(action, '.'); i >= 0 {
		action = action[i+1:]
	}
	return &LegacyContext{
		Event: meta.Event, Accountability: ec.Accountability, Collection: meta.Collection,
		Action: action, Payload: meta.Payload, Schema: ec.Schema, Database: ec.Database, Meta: meta,
	}
}
