package event

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/hookd/hookd/hooks"
	"github.com/hookd/hookd/internal/store"
)

// Action jobs written by the write's own statement. A create batch watched
// by durable actions (internal/item's group commit) inserts its rows, their
// events and one river_job row per (event, action hook) in one statement
// (sql/events.sql, EventAppendWithInsertJobs) instead of a transaction of
// BEGIN, the insert, River's InsertManyFastTx and COMMIT: one round trip
// instead of four. ActionJobRows gives that statement the rows River's
// insert would have written, and NotifyJobsInserted sends River's insert
// notification the way River's client does, so the workers wake at once.
// internal/event's tests compare the rows with River's own insert.

// insertTopic is the River notification topic (its notifier's
// NotificationTopicInsert) whose payload {"queue": …} wakes that queue's
// producers on every instance.
const insertTopic = "river_insert"

// insertNotifyEvery is how often one queue's insert notification may go
// out: River's client rate-limits it by its FetchCooldown, 100ms by default
// for the bus's insert-only client.
const insertNotifyEvery = river.FetchCooldownDefault

// ActionJobRows returns the river_job rows of the durable action hooks that
// every create in collection gets, for the create event names names, in the
// order EnqueueActionsManyTx inserts them; nil when no action hook matches.
// The hooks never change once the bus is built, so the rows are computed
// once per collection and names and shared: callers must not modify them.
func (b *Bus) ActionJobRows(names []string, collection string) ([]store.ActionJob, error) {
	key := collection + "\x00" + strings.Join(names, "\x00")
	if rows, ok := b.jobRows.Load(key); ok {
		return rows.([]store.ActionJob), nil //nolint:forcetypeassert // only this function stores
	}
	rows, err := b.actionJobRows(names, collection)
	if err != nil {
		return nil, err
	}
	b.jobRows.Store(key, rows)
	return rows, nil
}

func (b *Bus) actionJobRows(names []string, collection string) ([]store.ActionJob, error) {
	// A placeholder event id: appendActionJobs then builds event-backed
	// args (no inline meta); the id itself is left to the statement.
	meta := hooks.Meta{Collection: collection, EventIDs: []int64{0}}
	var out []store.ActionJob
	for _, p := range b.appendActionJobs(nil, names, meta) {
		args := p.Args.(ActionArgs) //nolint:forcetypeassert // appendActionJobs builds only ActionArgs
		args.EventIDs = nil
		encoded, err := json.Marshal(args)
		if err != nil {
			return nil, fmt.Errorf("encoding action job args for %s: %w", args.HookID, err)
		}
		out = append(out, store.ActionJob{
			Args:        encoded,
			Kind:        args.Kind(),
			MaxAttempts: int16(min(cmp.Or(p.InsertOpts.MaxAttempts, river.MaxAttemptsDefault), math.MaxInt16)), //nolint:gosec // bounded
			Priority:    int16(min(cmp.Or(p.InsertOpts.Priority, river.PriorityDefault), math.MaxInt16)),       //nolint:gosec // bounded
			Queue:       cmp.Or(p.InsertOpts.Queue, river.QueueDefault),
		})
	}
	return out, nil
}

// NotifyJobsInserted wakes the producers of the jobs' queues on every
// instance, as River's insert does (at most every insertNotifyEvery per
// queue). It runs after the jobs committed, so a failure only delays them
// to the workers' next poll: it is logged, not returned.
func (b *Bus) NotifyJobsInserted(ctx context.Context, jobs []store.ActionJob) {
	if b.pool == nil {
		return
	}
	var payloads []string
	now := time.Now()
	b.notifyMu.Lock()
	for _, j := range jobs {
		if now.Sub(b.notified[j.Queue]) < insertNotifyEvery {
			continue
		}
		if b.notified == nil {
			b.notified = map[string]time.Time{}
		}
		b.notified[j.Queue] = now
		payloads = append(payloads, fmt.Sprintf(`{"queue": %q}`, j.Queue))
	}
	b.notifyMu.Unlock()
	if len(payloads) == 0 {
		return
	}
	err := riverpgxv5.New(b.pool).GetExecutor().NotifyMany(ctx, &riverdriver.NotifyManyParams{
		Payload: payloads, Topic: insertTopic,
	})
	if err != nil {
		b.logger.WarnContext(ctx, "notifying River of inserted action jobs failed; workers will find them at their next poll",
			slog.Any("error", err))
	}
}

// statementJobs is the bus's state for jobs written by statements: the
// rows per collection and names, and the per-queue notification clock.
type statementJobs struct {
	jobRows  sync.Map // collection + names → []store.ActionJob
	notifyMu sync.Mutex
	notified map[string]time.Time
}
