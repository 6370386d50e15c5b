package realtime

import (
	"context"
	"net/http"
	"strings"

	"github.com/hookd/hookd/hooks"
)

// handleItems runs `{"type":"items","collection","action",…}` through the
// items service with the client's accountability, so the same hooks and
// permissions apply as over REST (Directus handlers/items.js).
func (c *client) handleItems(ctx context.Context, msg map[string]any) {
	uid := msg["uid"]
	data, err := c.runItems(ctx, msg)
	if err != nil {
		c.sendError("items", err, uid)
		return
	}
	_ = c.enqueue(frame(map[string]any{"type": "items", "data": data}, uid))
}

func (c *client) runItems(ctx context.Context, msg map[string]any) (any, error) {
	h := c.hub
	collection, _ := msg["collection"].(string)
	if collection == "" {
		return nil, hooks.InvalidPayload(`"collection" is required and must be a string`)
	}
	action, _ := msg["action"].(string)
	switch action {
	case "create", "read", "update", "delete":
	default:
		return nil, hooks.InvalidPayload(`"action" must be one of create, read, update, delete`)
	}
	schema, err := h.cfg.Schema(ctx)
	if err != nil {
		return nil, err
	}
	col := schema.Collections[collection]
	if strings.HasPrefix(collection, "directus_") || col != nil && col.System {
		return nil, hooks.NewError("INVALID_COLLECTION", http.StatusBadRequest,
			"Cannot trigger an action on a system collection.")
	}
	if col == nil {
		return nil, hooks.Forbidden()
	}
	var q *hooks.Query
	if raw, ok := msg["query"]; ok && raw != nil {
		if q, err = parseQuery(h, raw); err != nil {
			return nil, err
		}
	}
	svc, err := h.cfg.Items(ctx, collection, c.Accountability())
	if err != nil {
		return nil, err
	}
	id, hasID := msg["id"]
	hasID = hasID && id != nil
	ids, hasIDs := msg["ids"].([]any)

	switch action {
	case "create":
		switch d := msg["data"].(type) {
		case map[string]any:
			key, err := svc.CreateOne(ctx, d)
			if err != nil {
				return nil, err
			}
			return svc.ReadOne(ctx, key, q)
		case []any:
			items, err := asItems(d)
			if err != nil {
				return nil, err
			}
			keys, err := svc.CreateMany(ctx, items)
			if err != nil {
				return nil, err
			}
			return readMany(ctx, svc, keys, q)
		}
		return nil, hooks.InvalidPayload(`"data" must be an object or an array of objects`)

	case "read":
		switch {
		case hasID:
			return svc.ReadOne(ctx, id, q)
		case hasIDs:
			return readMany(ctx, svc, ids, q)
		}
		items, err := svc.ReadByQuery(ctx, orEmpty(q))
		if items == nil && err == nil {
			items = []hooks.Item{}
		}
		return items, err

	case "update":
		switch d := msg["data"].(type) {
		case map[string]any:
			switch {
			case hasID:
				key, err := svc.UpdateOne(ctx, id, d)
				if err != nil {
					return nil, err
				}
				// As Directus: the query is not applied to a single update's
				// read-back.
				return svc.ReadOne(ctx, key, nil)
			case hasIDs:
				keys, err := svc.UpdateMany(ctx, ids, d)
				if err != nil {
					return nil, err
				}
				return readMany(ctx, svc, keys, q)
			}
			keys, err := svc.UpdateByQuery(ctx, orEmpty(q), d)
			if err != nil {
				return nil, err
			}
			return readMany(ctx, svc, keys, q)
		case []any:
			items, err := asItems(d)
			if err != nil {
				return nil, err
			}
			keys, err := svc.UpdateBatch(ctx, items)
			if err != nil {
				return nil, err
			}
			return readMany(ctx, svc, keys, q)
		}
		return nil, hooks.InvalidPayload(`"data" must be an object or an array of objects`)

	default: // delete
		switch {
		case hasID:
			if _, err := svc.DeleteOne(ctx, id); err != nil {
				return nil, err
			}
			return id, nil
		case hasIDs:
			if _, err := svc.DeleteMany(ctx, ids); err != nil {
				return nil, err
			}
			return ids, nil
		case q != nil:
			keys, err := svc.DeleteByQuery(ctx, q)
			if keys == nil && err == nil {
				keys = []any{}
			}
			return keys, err
		}
		return nil, hooks.InvalidPayload("Either 'ids', 'id' or 'query' is required for a DELETE request")
	}
}

func readMany(ctx context.Context, svc hooks.ItemsService, keys []any, q *hooks.Query) ([]hooks.Item, error) {
	if len(keys) == 0 {
		return []hooks.Item{}, nil
	}
	items, err := svc.ReadMany(ctx, keys, q)
	if items == nil && err == nil {
		items = []hooks.Item{}
	}
	return items, err
}

func asItems(list []any) ([]hooks.Item, error) {
	out := make([]hooks.Item, 0, len(list))
	for _, v := range list {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, hooks.InvalidPayload(`"data" must be an object or an array of objects`)
		}
		out = append(out, m)
	}
	return out, nil
}

func orEmpty(q *hooks.Query) *hooks.Query {
	if q == nil {
		return &hooks.Query{}
	}
	return q
}
