package event

import (
	"encoding/json"

	"github.com/riverqueue/river"
)

// ActionKind is the river_job.kind of durable action hook runs.
const ActionKind = "hookd_action"

// ActionArgs is one run of one durable action hook for one concrete event
// name. It is what EnqueueActionsTx inserts and internal/jobs works.
type ActionArgs struct {
	// HookID is the hook's stable id (extension id + event + name).
	HookID string `json:"hook_id"`
	// Event is the concrete event name the hook matched, e.g.
	// "articles.items.create" (meta.event).
	Event string `json:"event"`
	// EventIDs are the hookd_event rows the run covers: one for a create,
	// one per key for an update or delete of several keys in one call. The
	// worker rebuilds meta and context from them.
	EventIDs []int64 `json:"event_ids"`
	// Meta carries meta for events that have no hookd_event rows (e.g.
	// auth.login); nil when EventIDs is set.
	Meta *ActionMeta `json:"meta,omitempty"`
}

// Kind implements river.JobArgs.
func (ActionArgs) Kind() string { return ActionKind }

// ActionMeta is the part of hooks.Meta a durable action needs when there is
// no event row to rebuild it from.
type ActionMeta struct {
	Collection string `json:"collection,omitempty"`
	Key        any    `json:"key,omitempty"`
	Keys       []any  `json:"keys,omitempty"`
	Payload    any    `json:"payload,omitempty"`
	// Extra carries the event-specific keys (auth.login's status, user,
	// provider, …) that are JSON values; others cannot outlive the process
	// and are left out.
	Extra map[string]any `json:"extra,omitempty"`
}

// durableExtra keeps the entries of extra that survive JSON encoding, so a
// live-only value (a connection, a router) never makes a job insert fail.
func durableExtra(extra map[string]any) map[string]any {
	var out map[string]any
	for k, v := range extra {
		if _, err := json.Marshal(v); err != nil {
			continue
		}
		if out == nil {
			out = make(map[string]any, len(extra))
		}
		out[k] = v
	}
	return out
}

var _ river.JobArgs = ActionArgs{}
