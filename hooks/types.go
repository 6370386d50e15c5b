package hooks

import (
	"context"
	"encoding/json"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Item is one row as a hook, a client or the items service sees it: field
// name → JSON-compatible value.
type Item = map[string]any

// DB is what a pool, a connection and a transaction have in common. In a
// filter, EventContext.Database is the write's transaction: what a filter
// writes through it commits or rolls back with the item.
type DB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Begin(ctx context.Context) (pgx.Tx, error)
}

// Accountability says who performs an operation. A nil *Accountability
// means system access: no permission checks (Directus's `accountability:
// null`).
type Accountability struct {
	// User is the user's id; "" for the public (unauthenticated) role.
	User string
	// Role is the user's role id; "" for public.
	Role string
	// Admin bypasses permission checks.
	Admin bool
	// App is true for roles with app access.
	App bool
	// IP, UserAgent and Origin come from the request or the WebSocket
	// upgrade.
	IP        string
	UserAgent string
	Origin    string
}

// accountabilityJSON is Directus's shape: user and role are null when unset.
type accountabilityJSON struct {
	User      *string `json:"user"`
	Role      *string `json:"role"`
	Admin     bool    `json:"admin"`
	App       bool    `json:"app"`
	IP        string  `json:"ip,omitempty"`
	UserAgent string  `json:"userAgent,omitempty"`
	Origin    string  `json:"origin,omitempty"`
}

// MarshalJSON writes Directus's shape (`"user": null` for public).
func (a Accountability) MarshalJSON() ([]byte, error) {
	j := accountabilityJSON{Admin: a.Admin, App: a.App, IP: a.IP, UserAgent: a.UserAgent, Origin: a.Origin}
	if a.User != "" {
		j.User = &a.User
	}
	if a.Role != "" {
		j.Role = &a.Role
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads Directus's shape.
func (a *Accountability) UnmarshalJSON(b []byte) error {
	var j accountabilityJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*a = Accountability{Admin: j.Admin, App: j.App, IP: j.IP, UserAgent: j.UserAgent, Origin: j.Origin}
	if j.User != nil {
		a.User = *j.User
	}
	if j.Role != nil {
		a.Role = *j.Role
	}
	return nil
}

// Query is a Directus query: what `?fields=…&filter=…` means, and the
// payload of the `items.query` filter. Nil pointers mean "not given".
type Query struct {
	// Fields to return; nil or ["*"] means all readable fields.
	Fields []string `json:"fields,omitempty"`
	// Filter is a Directus filter object, e.g. {"status":{"_eq":"draft"}}.
	Filter map[string]any `json:"filter,omitempty"`
	// Sort fields, "-" prefix for descending.
	Sort []string `json:"sort,omitempty"`
	// Limit: nil = default (QUERY_LIMIT_DEFAULT), -1 = all.
	Limit  *int `json:"limit,omitempty"`
	Offset *int `json:"offset,omitempty"`
	// Page is 1-based; it sets Offset from Limit.
	Page *int `json:"page,omitempty"`
	// Search is a case-insensitive search across text fields.
	Search *string `json:"search,omitempty"`
	// Meta lists the meta counts wanted: total_count, filter_count, or "*".
	Meta []string `json:"meta,omitempty"`
	// Aggregate maps a function (count, countDistinct, sum, avg, min, max) to
	// fields.
	Aggregate map[string][]string `json:"aggregate,omitempty"`
	// GroupBy fields for Aggregate.
	GroupBy []string `json:"groupBy,omitempty"`
}

// Schema is the snapshot of the collections hookd serves (getSchema()).
type Schema struct {
	Collections map[string]*Collection `json:"collections"`
}

// Collection is one table.
type Collection struct {
	Name string `json:"collection"`
	// PrimaryKey is the primary key column's name.
	PrimaryKey string `json:"primary"`
	// Fields by name; FieldOrder lists them in column order.
	Fields     map[string]*Field `json:"fields"`
	FieldOrder []string          `json:"-"`
	// System is true for hookd's own collections (users, roles, …).
	System bool `json:"system,omitempty"`
}

// Field is one column.
type Field struct {
	Name string `json:"field"`
	// Type is the Directus type: integer, bigInteger, float, decimal, string,
	// text, boolean, uuid, json, date, time, dateTime, timestamp, csv,
	// unknown.
	Type string `json:"type"`
	// DBType is the Postgres type as formatted by format_type.
	DBType       string `json:"dbType"`
	Nullable     bool   `json:"nullable"`
	HasDefault   bool   `json:"-"`
	DefaultValue any    `json:"defaultValue"`
	// MaxLength is set for varchar(n)/char(n).
	MaxLength *int `json:"maxLength"`
	// Generated is true for identity, serial and generated columns the
	// database fills itself.
	Generated    bool `json:"generated,omitempty"`
	IsPrimaryKey bool `json:"-"`
}

// Meta is the second argument of a filter and the first of an action, as in
// Directus: the concrete event name plus event-specific keys.
type Meta struct {
	// Event is the concrete event name being dispatched, e.g.
	// "articles.items.create".
	Event string `json:"event"`
	// Collection is the collection written or read.
	Collection string `json:"collection,omitempty"`
	// Key is the created item's key (create actions).
	Key any `json:"key,omitempty"`
	// Keys are the affected keys (update/delete).
	Keys []any `json:"keys,omitempty"`
	// Payload is the write's payload after filters (actions).
	Payload any `json:"payload,omitempty"`
	// Query is the read's query (items.read / items.query).
	Query *Query `json:"query,omitempty"`
	// EventIDs are the hookd_event rows behind a durable action: use them
	// to make an at-least-once action idempotent.
	EventIDs []int64 `json:"event_ids,omitempty"`
	// Extra holds event-specific keys that have no field here (status,
	// user, provider, client, message, …).
	Extra map[string]any `json:"-"`
}

// EventContext is the third argument of a filter and the second of an
// action (Directus's `context`).
type EventContext struct {
	// Database is the write's transaction in filters; a pool in actions.
	Database DB
	// Schema is the schema snapshot in force.
	Schema *Schema
	// Accountability is who caused the event; nil = system.
	Accountability *Accountability
}

// ServiceOptions binds a service to a caller and, optionally, a transaction.
type ServiceOptions struct {
	// Accountability: nil means system access (no permission checks).
	Accountability *Accountability
	// Database: a transaction to run in (e.g. EventContext.Database inside a
	// filter); nil = the service opens its own.
	Database DB
}

// ItemsService reads and writes one collection with Directus's semantics:
// hooks fire, permissions apply (unless Accountability is nil), events are
// logged.
type ItemsService interface {
	ReadByQuery(ctx context.Context, q *Query) ([]Item, error)
	ReadOne(ctx context.Context, key any, q *Query) (Item, error)
	ReadMany(ctx context.Context, keys []any, q *Query) ([]Item, error)
	CreateOne(ctx context.Context, data Item) (any, error)
	CreateMany(ctx context.Context, data []Item) ([]any, error)
	UpdateOne(ctx context.Context, key any, data Item) (any, error)
	UpdateMany(ctx context.Context, keys []any, data Item) ([]any, error)
	UpdateByQuery(ctx context.Context, q *Query, data Item) ([]any, error)
	UpdateBatch(ctx context.Context, data []Item) ([]any, error)
	DeleteOne(ctx context.Context, key any) (any, error)
	DeleteMany(ctx context.Context, keys []any) ([]any, error)
	DeleteByQuery(ctx context.Context, q *Query) ([]any, error)
}

// WebSocketClient is one connected realtime client.
type WebSocketClient interface {
	// UID is the connection's server-generated id.
	UID() string
	// Accountability is the client's current accountability (public when
	// unauthenticated).
	Accountability() *Accountability
	// Send queues a message: a string or []byte is sent as is, anything else
	// JSON-encoded. It never blocks; a client whose queue is full is
	// disconnected.
	Send(message any) error
}

// BroadcastFilter narrows a broadcast to one user and/or one role.
type BroadcastFilter struct {
	User string
	Role string
}

// WebSocketService pushes to realtime clients.
type WebSocketService interface {
	// Clients are the clients connected to this instance.
	Clients() []WebSocketClient
	// Broadcast sends message to every matching client on every instance.
	Broadcast(ctx context.Context, message any, filter *BroadcastFilter) error
}

// Permission is one role's right to one action on one collection
// (a row of Directus's directus_permissions).
type Permission struct {
	// Role is the role id; "" for the public role.
	Role       string `json:"role"`
	Collection string `json:"collection"`
	// Action is create, read, update or delete.
	Action string `json:"action"`
	// Permissions is the item rule, a Directus filter (may use
	// $CURRENT_USER, $CURRENT_ROLE, $NOW); nil = every item.
	Permissions map[string]any `json:"permissions"`
	// Validation is a filter the written item must satisfy (create/update);
	// nil = none.
	Validation map[string]any `json:"validation"`
	// Presets are default values merged into created/updated items.
	Presets map[string]any `json:"presets"`
	// Fields the role may read or write; ["*"] = all.
	Fields []string `json:"fields"`
}
