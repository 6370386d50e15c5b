package store

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/hookd/hookd/hooks"
	hsql "github.com/hookd/hookd/sql"
)

// The item service builds its statements per collection (the tables are the
// user's); these functions run them so that pgx stays in this package and
// every error leaves it translated.

// ItemRow is one row returned by an item write: the key and the row images,
// as JSON (to_jsonb of the key column and of the row). Old is nil for a
// create.
type ItemRow struct {
	Key json.RawMessage
	New json.RawMessage
	Old json.RawMessage
}

// ItemWriteTx runs a write statement whose result columns are (key jsonb,
// new jsonb, old jsonb) and returns its rows.
func ItemWriteTx(ctx context.Context, tx Querier, sql string, args ...any) ([]ItemRow, error) {
	rows, err := tx.Query(ctx, sql, args...)
	if err != nil {
		return nil, translateItem(err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (ItemRow, error) {
		var key, newImg, oldImg []byte
		if err := row.Scan(&key, &newImg, &oldImg); err != nil {
			return ItemRow{}, err
		}
		return ItemRow{Key: rawOrNil(key), New: rawOrNil(newImg), Old: rawOrNil(oldImg)}, nil
	})
	if err != nil {
		return nil, translateItem(err)
	}
	return out, nil
}

// ItemWriteEvent is the event each row of ItemWriteWithEventsTx appends;
// the key and the row images come from the row itself.
type ItemWriteEvent struct {
	Name, Scope, Action, Collection string
	// Payload is the write's payload after filters (JSON-marshalled).
	Payload any
	// Accountability is who writes; nil = system.
	Accountability *hooks.Accountability
	// Origin defaults to EventOriginAPI.
	Origin string
}

// ItemWriteWithEventsTx runs an item write and appends one event per
// written row in the same statement: one round trip, atomic even outside a
// transaction. write must end in RETURNING hookd_key, hookd_new, hookd_old
// (jsonb) and use placeholders $1…$len(args). It returns the rows and their
// event ids, in event-id order.
func ItemWriteWithEventsTx(ctx context.Context, q Querier, write string, args []any, ev ItemWriteEvent) ([]ItemRow, []int64, error) {
	n := len(args)
	payload, accText, err := eventJSON(ev.Payload, ev.Accountability)
	if err != nil {
		return nil, nil, err
	}
	origin := cmp.Or(ev.Origin, EventOriginAPI)
	sql := fmt.Sprintf(hsql.Query("EventAppendWithWrite"), write, n+1, n+2, n+3, n+4, n+5, n+6, n+7)
	all := append(args[:n:n], ev.Name, ev.Scope, ev.Action, ev.Collection, payload, accText, origin)
	rows, err := q.Query(ctx, sql, all...)
	if err != nil {
		return nil, nil, translateItem(err)
	}
	type rowWithID struct {
		row ItemRow
		id  int64
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (rowWithID, error) {
		var key, newImg, oldImg []byte
		var id int64
		if err := row.Scan(&key, &newImg, &oldImg, &id); err != nil {
			return rowWithID{}, err
		}
		return rowWithID{ItemRow{Key: rawOrNil(key), New: rawOrNil(newImg), Old: rawOrNil(oldImg)}, id}, nil
	})
	if err != nil {
		return nil, nil, translateItem(err)
	}
	slices.SortFunc(out, func(a, b rowWithID) int { return cmp.Compare(a.id, b.id) })
	items := make([]ItemRow, len(out))
	ids := make([]int64, len(out))
	for i, r := range out {
		items[i], ids[i] = r.row, r.id
	}
	return items, ids, nil
}

// eventJSON is an event's payload and accountability as JSON text for the
// statements' text parameters (nil for none: a nil accountability is the
// system, stored as NULL).
func eventJSON(payload any, acc *hooks.Accountability) (payloadText, accText *string, err error) {
	if payloadText, err = jsonText(payload); err != nil {
		return nil, nil, fmt.Errorf("encoding the event payload: %w", err)
	}
	var a any
	if acc != nil {
		a = acc
	}
	if accText, err = jsonText(a); err != nil {
		return nil, nil, fmt.Errorf("encoding the event accountability: %w", err)
	}
	return payloadText, accText, nil
}

// ItemInsertRow is the per-row part of the event ItemInsertWithEventsTx
// appends for each inserted row.
type ItemInsertRow struct {
	// Payload is the create's payload after filters and presets.
	Payload any
	// Accountability is who creates; nil = system.
	Accountability *hooks.Accountability
}

// ItemInsertWithEventsTx runs a multi-row insert and appends each row's
// event in the same statement (one round trip; atomic even outside a
// transaction). insert must be INSERT … VALUES with one tuple per element of
// rows, ending in RETURNING hookd_key, hookd_new (jsonb), and use
// placeholders $1…$len(args). ev gives the name, scope, action, collection
// and origin shared by every event (its Payload and Accountability are
// ignored). jobs, when not empty, are River jobs every row gets in the same
// statement, each with the row's event id. It returns the rows and event ids
// in VALUES order.
func ItemInsertWithEventsTx(ctx context.Context, q Querier, insert string, args []any, ev ItemWriteEvent,
	rows []ItemInsertRow, jobs []ActionJob) ([]ItemRow, []int64, error) {
	return NewItemInsert(insert, len(args), len(rows), len(jobs) > 0).Run(ctx, q, args, ev, rows, jobs)
}

// ItemInsert is the statement of ItemInsertWithEventsTx for one insert
// text, number of arguments and rows, and whether jobs ride along: built
// once, it can be run any number of times. The item service keeps one per
// create shape and batch size, so a create does not format its statement.
type ItemInsert struct {
	sql         string
	nArgs, rows int
	jobs        bool
}

// NewItemInsert builds the statement for an insert of rows tuples using
// placeholders $1…$nArgs (see ItemInsertWithEventsTx).
func NewItemInsert(insert string, nArgs, rows int, jobs bool) *ItemInsert {
	template := "EventAppendWithInsert"
	if rows == 1 {
		template = "EventAppendWithInsertOne"
	}
	text := hsql.Query(template)
	n := nArgs
	verbs := []any{insert, n + 1, n + 2, n + 3, n + 4, n + 5, n + 6, n + 7}
	if jobs {
		text = hsql.Query(template+"Jobs") + "\n" + hsql.Query("ActionJobsForEvents")
		verbs = append(verbs, n+8, n+9, n+10, n+11, n+12)
	}
	return &ItemInsert{sql: fmt.Sprintf(text, verbs...), nArgs: nArgs, rows: rows, jobs: jobs}
}

// Run runs the statement with the insert's args, one event per row and,
// when the statement was built for them, the jobs (see
// ItemInsertWithEventsTx).
func (s *ItemInsert) Run(ctx context.Context, q Querier, args []any, ev ItemWriteEvent,
	rows []ItemInsertRow, jobs []ActionJob) ([]ItemRow, []int64, error) {
	n := len(args)
	if n != s.nArgs || len(rows) != s.rows || (len(jobs) > 0) != s.jobs {
		return nil, nil, fmt.Errorf("item insert built for %d args, %d rows, jobs %t: run with %d, %d, %d",
			s.nArgs, s.rows, s.jobs, n, len(rows), len(jobs))
	}
	payloads, accs, err := insertEventJSON(rows)
	if err != nil {
		return nil, nil, err
	}
	origin := cmp.Or(ev.Origin, EventOriginAPI)
	all := append(args[:n:n], ev.Name, ev.Scope, ev.Action, ev.Collection, origin)
	if len(rows) == 1 {
		all = append(all, payloads[0], accs[0])
	} else {
		all = append(all, payloads, accs)
	}
	if s.jobs {
		all = appendJobArrays(all, jobs)
	}
	res, err := q.Query(ctx, s.sql, all...)
	if err != nil {
		return nil, nil, translateItem(err)
	}
	items := make([]ItemRow, 0, len(rows))
	ids := make([]int64, 0, len(rows))
	var id int64
	var key, newImg []byte
	_, err = pgx.ForEachRow(res, []any{&id, &key, &newImg}, func() error {
		items = append(items, ItemRow{Key: rawOrNil(slices.Clone(key)), New: rawOrNil(slices.Clone(newImg))})
		ids = append(ids, id)
		return nil
	})
	if err != nil {
		return nil, nil, translateItem(err)
	}
	if len(items) != len(rows) {
		return nil, nil, fmt.Errorf("insert returned %d rows for %d values", len(items), len(rows))
	}
	return items, ids, nil
}

// insertEventJSON is each row's event payload and accountability as JSON
// text. The creates of one batch nearly always share their caller, so an
// accountability equal to the previous row's reuses its text.
func insertEventJSON(rows []ItemInsertRow) (payloads, accs []*string, err error) {
	payloads = make([]*string, len(rows))
	accs = make([]*string, len(rows))
	var prev *hooks.Accountability
	var prevText *string
	for i, r := range rows {
		if payloads[i], err = jsonText(r.Payload); err != nil {
			return nil, nil, fmt.Errorf("event %d: encoding the event payload: %w", i, err)
		}
		if r.Accountability == nil {
			continue
		}
		if prev != nil && *prev == *r.Accountability {
			accs[i] = prevText
			continue
		}
		if accs[i], err = jsonText(r.Accountability); err != nil {
			return nil, nil, fmt.Errorf("event %d: encoding the event accountability: %w", i, err)
		}
		prev, prevText = r.Accountability, accs[i]
	}
	return payloads, accs, nil
}

// ActionJob is one River job of a durable action hook that a write's
// statement inserts for each event it appends (EventAppendWithInsertJobs):
// River's defaults resolved, as River's insert would store them.
type ActionJob struct {
	// Args is the job's JSON args without event_ids, which the statement
	// sets to the event's id.
	Args json.RawMessage
	// Kind, MaxAttempts, Priority and Queue are river_job's columns.
	Kind        string
	MaxAttempts int16
	Priority    int16
	Queue       string
}

// appendJobArrays appends the statement's five parallel job arrays.
func appendJobArrays(all []any, jobs []ActionJob) []any {
	args := make([]string, len(jobs))
	kinds := make([]string, len(jobs))
	attempts := make([]int16, len(jobs))
	priorities := make([]int16, len(jobs))
	queues := make([]string, len(jobs))
	for i, j := range jobs {
		args[i], kinds[i], attempts[i], priorities[i], queues[i] = string(j.Args), j.Kind, j.MaxAttempts, j.Priority, j.Queue
	}
	return append(all, args, kinds, attempts, priorities, queues)
}

// ItemsJSON runs a read statement whose rows are one JSON column and returns
// the documents.
func ItemsJSON(ctx context.Context, q Querier, sql string, args ...any) ([]json.RawMessage, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, translateItem(err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (json.RawMessage, error) {
		var b []byte
		if err := row.Scan(&b); err != nil {
			return nil, err
		}
		return rawOrNil(b), nil
	})
	if err != nil {
		return nil, translateItem(err)
	}
	return out, nil
}

// ItemsScalar runs a statement that returns one value (a count) and scans
// it into dest.
func ItemsScalar(ctx context.Context, q Querier, dest any, sql string, args ...any) error {
	if err := q.QueryRow(ctx, sql, args...).Scan(dest); err != nil {
		return translateItem(err)
	}
	return nil
}

// Column runs sql, which selects one column, and returns its values in
// order (the keys a compiled query selects).
func Column[T any](ctx context.Context, q Querier, sql string, args ...any) ([]T, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, translateItem(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[T])
	if err != nil {
		return nil, translateItem(err)
	}
	return out, nil
}

// translateItem is Translate plus the errors only client-supplied item
// values cause, which Translate leaves without a useful message: a value
// Postgres cannot parse as the column's type, and a value for a column the
// database always generates.
func translateItem(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case pgerrcode.GeneratedAlways:
			return &ConstraintError{Code: "INVALID_PAYLOAD", Table: pgErr.TableName, Column: pgErr.ColumnName,
				Detail: sentenceCase(pgErr.Message) + ".", cause: err}
		case pgerrcode.InvalidTextRepresentation, pgerrcode.InvalidDatetimeFormat,
			pgerrcode.DatetimeFieldOverflow, pgerrcode.InvalidParameterValue, pgerrcode.InvalidTimeZoneDisplacementValue:
			detail := pgErr.Detail
			if detail == "" {
				detail = sentenceCase(pgErr.Message) + "."
			}
			return &ConstraintError{Code: "INVALID_PAYLOAD", Table: pgErr.TableName, Column: pgErr.ColumnName,
				Detail: detail, cause: err}
		}
	}
	if t := Translate(err); t != err {
		return t
	}
	return fmt.Errorf("item statement: %w", err)
}

func sentenceCase(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
