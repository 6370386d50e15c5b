package jobs

import (
	"context"
	"slices"
	"sync"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hookd/hookd/internal/store"
)

// eventLoader coalesces the event-row loads of action jobs running at the
// same time. Every durable action run starts by loading its hookd_event
// rows; with tens of workers that is tens of one-row queries at once, and
// two hooks on one write load the same row twice. Up to
// maxEventLoadsInFlight queries run at once; loads arriving while all are
// busy queue, and when a query ends the whole queue goes out as the next
// one (id = ANY of every queued id, each id once), led by the first load in
// it. A shared query that fails is replayed one load at a time, so one
// event that cannot be decoded fails only its own jobs.
type eventLoader struct {
	pool     *pgxpool.Pool
	mu       sync.Mutex
	inFlight int
	waiting  []*eventLoad
}

const (
	// maxEventLoadsInFlight: alone, a load goes out at once; beyond this
	// many concurrent queries, loads share the next one.
	maxEventLoadsInFlight = 2
	// maxEventLoadBatch bounds the ids of one shared query.
	maxEventLoadBatch = 1000
)

// eventLoad is one job's load, waiting for or leading a query.
type eventLoad struct {
	ids  []int64
	done chan eventLoadOutcome
}

type eventLoadOutcome struct {
	lead   []*eventLoad
	events []store.HookEvent
	err    error
}

// load returns the events with ids, in id order; missing ids are absent
// (store.HookEventsByID's contract).
func (l *eventLoader) load(ctx context.Context, ids []int64) ([]store.HookEvent, error) {
	me := &eventLoad{ids: ids, done: make(chan eventLoadOutcome, 1)}
	var batch []*eventLoad
	l.mu.Lock()
	if l.inFlight < maxEventLoadsInFlight {
		l.inFlight++
		batch = []*eventLoad{me}
		l.mu.Unlock()
	} else {
		l.waiting = append(l.waiting, me)
		l.mu.Unlock()
		// Not abandoned on ctx: this load may be handed a batch to lead,
		// and the wait is bounded by one query.
		out := <-me.done
		if out.lead == nil {
			return out.events, out.err
		}
		batch = out.lead
	}

	// The query must not fail because this job's context ended while
	// others' loads ride along.
	results, errs := l.run(context.WithoutCancel(ctx), batch)
	l.mu.Lock()
	var next []*eventLoad
	if len(l.waiting) > 0 {
		n, take := 0, 0
		for take < len(l.waiting) && (take == 0 || n+len(l.waiting[take].ids) <= maxEventLoadBatch) {
			n += len(l.waiting[take].ids)
			take++
		}
		next = l.waiting[:take:take]
		l.waiting = l.waiting[take:]
	} else {
		l.inFlight--
	}
	l.mu.Unlock()
	if next != nil {
		next[0].done <- eventLoadOutcome{lead: next}
	}
	var own eventLoadOutcome
	for i, p := range batch {
		out := eventLoadOutcome{events: results[i], err: errs[i]}
		if p == me {
			own = out
			continue
		}
		p.done <- out
	}
	return own.events, own.err
}

// run loads every id of batch in one query and hands each load its own
// events; when that fails and there was more than one load, each is
// replayed alone.
func (l *eventLoader) run(ctx context.Context, batch []*eventLoad) (results [][]store.HookEvent, errs []error) {
	results = make([][]store.HookEvent, len(batch))
	errs = make([]error, len(batch))
	if len(batch) == 1 {
		results[0], errs[0] = store.HookEventsByID(ctx, l.pool, batch[0].ids)
		return results, errs
	}
	var all []int64
	for _, p := range batch {
		all = append(all, p.ids...)
	}
	slices.Sort(all)
	all = slices.Compact(all)
	events, err := store.HookEventsByID(ctx, l.pool, all)
	if err != nil {
		for i, p := range batch {
			results[i], errs[i] = store.HookEventsByID(ctx, l.pool, p.ids)
		}
		return results, errs
	}
	byID := make(map[int64]store.HookEvent, len(events))
	for _, e := range events {
		byID[e.ID] = e
	}
	for i, p := range batch {
		ids := slices.Clone(p.ids)
		slices.Sort(ids)
		ids = slices.Compact(ids)
		out := make([]store.HookEvent, 0, len(ids))
		for _, id := range ids {
			if e, ok := byID[id]; ok {
				// Each job gets its own values: a hook may change the
				// payload it is handed.
				out = append(out, cloneEvent(e))
			}
		}
		results[i] = out
	}
	return results, errs
}

// cloneEvent copies e's decoded JSON values and accountability.
func cloneEvent(e store.HookEvent) store.HookEvent {
	e.Key, e.Payload, e.Data = cloneJSON(e.Key), cloneJSON(e.Payload), cloneJSON(e.Data)
	if e.Accountability != nil {
		acc := *e.Accountability
		e.Accountability = &acc
	}
	return e
}

// cloneJSON deep-copies a value decoded by encoding/json.
func cloneJSON(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, el := range x {
			out[k] = cloneJSON(el)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, el := range x {
			out[i] = cloneJSON(el)
		}
		return out
	}
	return v
}
