package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookd/hookd/hooks"
	hsql "github.com/hookd/hookd/sql"
)

// Event origins.
const (
	// EventOriginAPI marks events appended by hookd's own write path.
	EventOriginAPI = "api"
	// EventOriginSQL marks events captured from writes that bypassed the API.
	EventOriginSQL = "sql"
)

// Event is one row of the event log (hookd_event).
type Event struct {
	ID int64 `json:"id"`
	// TxID is the writing transaction's id (xid8); with ID it orders the log.
	TxID       uint64 `json:"tx_id"`
	Name       string `json:"name"`
	Scope      string `json:"scope"`
	Action     string `json:"action"`
	Collection string `json:"collection"`
	// ItemKey, Data, OldData and Payload are the stored JSON as is (nil for
	// SQL NULL), so a number key stays a number and big integers keep their
	// digits; decode them with UseNumber when precision matters.
	ItemKey json.RawMessage `json:"item_key"`
	Data    json.RawMessage `json:"data"`
	OldData json.RawMessage `json:"old_data"`
	Payload json.RawMessage `json:"payload"`
	// Accountability is who made the change; nil = system.
	Accountability *hooks.Accountability `json:"accountability"`
	Origin         string                `json:"origin"`
	CreatedAt      time.Time             `json:"created_at"`
}

// Cursor is the event's position in the log.
func (e *Event) Cursor() EventCursor { return EventCursor{TxID: e.TxID, ID: e.ID} }

// EventCursor is a position in the event log: readers ask for the events
// after it. The zero cursor is the beginning of the log.
type EventCursor struct {
	TxID uint64 `json:"tx_id"`
	ID   int64  `json:"id"`
}

// EventAppendParams is one event to append.
type EventAppendParams struct {
	// Name is the event name, e.g. "items.create". Required.
	Name string
	// Scope is "items" for user collections, else the system scope. Required.
	Scope string
	// Action is create, update or delete. Required.
	Action string
	// Collection is the collection changed. Required.
	Collection string
	// ItemKey is the item's primary key (any JSON value).
	ItemKey any
	// Data is the new row image, OldData the old one (update/delete), Payload
	// the write's payload after filters. Each is JSON: a json.RawMessage or
	// []byte is stored as is, anything else is marshalled; nil is SQL NULL.
	Data    any
	OldData any
	Payload any
	// Accountability is who made the change; nil = system.
	Accountability *hooks.Accountability
	// Origin is EventOriginAPI (default) or EventOriginSQL.
	Origin string
}

// EventAppendTx appends events in one statement inside tx (so they commit or
// roll back with the change they describe) and returns their ids in the
// order given.
func EventAppendTx(ctx context.Context, tx Querier, events []EventAppendParams) ([]int64, error) {
	if len(events) == 0 {
		return nil, nil
	}
	n := len(events)
	cols := make([][]*string, 10)
	for i := range cols {
		cols[i] = make([]*string, n)
	}
	for i, e := range events {
		if e.Name == "" || e.Scope == "" || e.Action == "" || e.Collection == "" {
			return nil, fmt.Errorf("appending event %d: name, scope, action and collection are required", i)
		}
		origin := e.Origin
		if origin == "" {
			origin = EventOriginAPI
		}
		var acc any
		if e.Accountability != nil {
			acc = e.Accountability
		}
		jsonValues := []any{e.ItemKey, e.Data, e.OldData, e.Payload, acc}
		cols[0][i], cols[1][i], cols[2][i], cols[3][i] = &e.Name, &e.Scope, &e.Action, &e.Collection
		for j, v := range jsonValues {
			s, err := jsonText(v)
			if err != nil {
				return nil, fmt.Errorf("appending event %d (%s): encoding column %d: %w", i, e.Name, j+5, err)
			}
			cols[4+j][i] = s
		}
		cols[9][i] = &origin
	}
	args := make([]any, len(cols))
	for i, c := range cols {
		args[i] = c
	}
	rows, err := tx.Query(ctx, hsql.Query("EventAppend"), args...)
	if err != nil {
		return nil, fmt.Errorf("appending events: %w", Translate(err))
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("appending events: %w", Translate(err))
	}
	if len(ids) != n {
		return nil, fmt.Errorf("appending events: inserted %d rows for %d events", len(ids), n)
	}
	return ids, nil
}

// jsonText renders v as JSON text for a jsonb column; nil → SQL NULL.
func jsonText(v any) (*string, error) {
	var b []byte
	switch x := v.(type) {
	case nil:
		return nil, nil
	case json.RawMessage:
		if x == nil {
			return nil, nil
		}
		b = x
	case []byte:
		if x == nil {
			return nil, nil
		}
		b = x
	default:
		var err error
		if b, err = json.Marshal(v); err != nil {
			return nil, err
		}
	}
	s := string(b)
	return &s, nil
}

// EventsByIDs returns the events with the given ids in log order; ids that
// do not exist are skipped.
func EventsByIDs(ctx context.Context, q Querier, ids []int64) ([]*Event, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	rows, err := q.Query(ctx, hsql.Query("EventsByIDs"), ids)
	if err != nil {
		return nil, fmt.Errorf("reading events by id: %w", Translate(err))
	}
	events, err := collectEvents(rows)
	if err != nil {
		return nil, fmt.Errorf("reading events by id: %w", err)
	}
	return events, nil
}

// EventsAfter returns up to limit events after cursor in (tx_id, id) order,
// only from transactions older than every transaction still running. That
// makes the last event's Cursor() a safe resume point even though
// transactions commit out of id order: transaction A may insert id 1, B
// insert id 2 and commit first; B's event is withheld until A has finished,
// so a reader never moves past id 1 before it is visible. The price is that
// events wait for the oldest running transaction to end (keep transactions
// short). limit <= 0 means 1000.
func EventsAfter(ctx context.Context, q Querier, cursor EventCursor, limit int) ([]*Event, error) {
	return eventsAfter(ctx, q, "EventsAfter", cursor, limit)
}

// eventsAfter runs one of the cursor reads (EventsAfter,
// RealtimeEventsAfter): they differ only in the horizon their SQL uses.
func eventsAfter(ctx context.Context, q Querier, query string, cursor EventCursor, limit int) ([]*Event, error) {
	if limit <= 0 {
		limit = 1000
	}
	rows, err := q.Query(ctx, hsql.Query(query), cursor.TxID, cursor.ID, limit)
	if err != nil {
		return nil, fmt.Errorf("reading events after %d/%d: %w", cursor.TxID, cursor.ID, Translate(err))
	}
	events, err := collectEvents(rows)
	if err != nil {
		return nil, fmt.Errorf("reading events after %d/%d: %w", cursor.TxID, cursor.ID, err)
	}
	return events, nil
}

// EventsHorizon is the cursor from which a new reader sees every event not
// yet readable through EventsAfter (those of transactions still running or
// starting later) and none of the history before it.
func EventsHorizon(ctx context.Context, q Querier) (EventCursor, error) {
	var xmin uint64
	if err := q.QueryRow(ctx, hsql.Query("EventsHorizon")).Scan(&xmin); err != nil {
		return EventCursor{}, fmt.Errorf("reading the event log horizon: %w", Translate(err))
	}
	// Events of transaction xmin itself have ids >= 1, so (xmin, 0) is just
	// before them.
	return EventCursor{TxID: xmin, ID: 0}, nil
}

func collectEvents(rows pgx.Rows) ([]*Event, error) {
	events, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*Event, error) {
		var e Event
		var key, data, old, payload, acc []byte
		if err := row.Scan(&e.ID, &e.TxID, &e.Name, &e.Scope, &e.Action, &e.Collection, &key, &data, &old,
			&payload, &acc, &e.Origin, &e.CreatedAt); err != nil {
			return nil, err
		}
		e.ItemKey, e.Data, e.OldData, e.Payload = rawOrNil(key), rawOrNil(data), rawOrNil(old), rawOrNil(payload)
		if acc != nil && string(acc) != "null" {
			e.Accountability = &hooks.Accountability{}
			if err := json.Unmarshal(acc, e.Accountability); err != nil {
				return nil, fmt.Errorf("event %d: decoding accountability: %w", e.ID, err)
			}
		}
		return &e, nil
	})
	if err != nil {
		return nil, Translate(err)
	}
	return events, nil
}

func rawOrNil(b []byte) json.RawMessage {
	if b == nil {
		return nil
	}
	return json.RawMessage(b)
}
