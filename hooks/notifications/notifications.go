// Package notifications is the seed's WebSocket example: when an item is
// created in the notifications collection, it is broadcast to every
// connected realtime client as {"type":"notification","data":<payload>},
// or only to one user's or role's clients when the item has a "user" or
// "role" field. It is a durable action: it runs after commit, at least
// once, retried while the WebSocket service is unavailable.
package notifications

import (
	"context"
	"fmt"

	"github.com/hookd/hookd/hooks"
)

// Extension is the compiled-in extension "notifications".
var Extension = hooks.Extension{ID: "notifications", Register: register}

func register(r hooks.Registrar, c *hooks.Context) error {
	r.Action("items.create", func(ctx context.Context, meta hooks.Meta, _ hooks.EventContext) error {
		return broadcast(ctx, c.Services.WebSocket(), meta.Payload)
	}, hooks.Collections("notifications"), hooks.Name("broadcast"), hooks.MaxAttempts(5))
	return nil
}

// Message is what clients receive.
type Message struct {
	Type string `json:"type"`
	Data any    `json:"data"`
}

func broadcast(ctx context.Context, ws hooks.WebSocketService, payload any) error {
	var filter *hooks.BroadcastFilter
	if item, ok := payload.(map[string]any); ok {
		user, _ := item["user"].(string)
		role, _ := item["role"].(string)
		if user != "" || role != "" {
			filter = &hooks.BroadcastFilter{User: user, Role: role}
		}
	}
	if err := ws.Broadcast(ctx, Message{Type: "notification", Data: payload}, filter); err != nil {
		return fmt.Errorf("broadcasting notification: %w", err)
	}
	return nil
}
