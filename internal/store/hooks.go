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

// HookEvent is the part of a hookd_event row a durable action needs.
type HookEvent struct {
	ID             int64
	Name           string
	Scope          string
	Action         string
	Collection     string
	Key            any
	Payload        any
	Data           any
	Accountability *hooks.Accountability
}

// HookEventsByID loads events by id, in id order. Missing ids are simply
// absent: the caller compares counts.
func HookEventsByID(ctx context.Context, q Querier, ids []int64) ([]HookEvent, error) {
	rows, err := q.Query(ctx, hsql.Query("HookEventsByID"), ids)
	if err != nil {
		return nil, Translate(err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (HookEvent, error) {
		var (
			e                          HookEvent
			key, payload, data, accRaw []byte
		)
		if err := row.Scan(&e.ID, &e.Name, &e.Scope, &e.Action, &e.Collection, &key, &payload, &data, &accRaw); err != nil {
			return e, err
		}
		for _, f := range []struct {
			raw []byte
			dst *any
		}{{key, &e.Key}, {payload, &e.Payload}, {data, &e.Data}} {
			if f.raw != nil {
				if err := json.Unmarshal(f.raw, f.dst); err != nil {
					return e, fmt.Errorf("decoding event %d: %w", e.ID, err)
				}
			}
		}
		if accRaw != nil && string(accRaw) != "null" {
			e.Accountability = &hooks.Accountability{}
			if err := json.Unmarshal(accRaw, e.Accountability); err != nil {
				return e, fmt.Errorf("decoding event %d accountability: %w", e.ID, err)
			}
		}
		return e, nil
	})
	if err != nil {
		return nil, Translate(err)
	}
	return out, nil
}

// MailOutboxAppend stores one mail in hookd_mail_outbox and returns its id.
func MailOutboxAppend(ctx context.Context, q Querier, m hooks.Mail) (int64, error) {
	var template *string
	var data []byte
	if m.Template != nil {
		template = &m.Template.Name
		var err error
		if data, err = json.Marshal(m.Template.Data); err != nil {
			return 0, fmt.Errorf("encoding mail template data: %w", err)
		}
	}
	var id int64
	if err := q.QueryRow(ctx, hsql.Query("MailOutboxAppend"), m.To, m.Subject, template, data, m.Text).Scan(&id); err != nil {
		return 0, Translate(err)
	}
	return id, nil
}

// HookRun is one row of the hookd_hook_runs view.
type HookRun struct {
	JobID       int64      `json:"job_id"`
	HookKind    string     `json:"hook_kind"`
	HookID      string     `json:"hook_id"`
	Event       string     `json:"event"`
	State       string     `json:"state"`
	Attempt     int        `json:"attempt"`
	MaxAttempts int        `json:"max_attempts"`
	Queue       string     `json:"queue"`
	EventIDs    []int64    `json:"event_ids"`
	Collection  *string    `json:"collection"`
	LastError   *string    `json:"last_error"`
	CreatedAt   time.Time  `json:"created_at"`
	FinalizedAt *time.Time `json:"finalized_at"`
}

// HookRunsParams filters HookRunsList; zero values match everything.
type HookRunsParams struct {
	State  string
	HookID string
	Event  string
	Limit  int
}

// HookRunsList lists hook runs, newest first.
func HookRunsList(ctx context.Context, q Querier, p HookRunsParams) ([]HookRun, error) {
	limit := p.Limit
	if limit <= 0 {
		limit = 50
	}
	rows, err := q.Query(ctx, hsql.Query("HookRunsList"), p.State, p.HookID, p.Event, limit)
	if err != nil {
		return nil, Translate(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[HookRun])
	if err != nil {
		return nil, Translate(err)
	}
	return out, nil
}
