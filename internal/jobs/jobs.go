// Package jobs runs hooks as River jobs: durable action hooks (one job per
// event and hook, inserted in the write's transaction by event.Bus) and
// schedules (River periodic jobs enqueued by the leader, unique per tick).
package jobs

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/robfig/cron/v3"

	"github.com/hookd/hookd/hooks"
	"github.com/hookd/hookd/internal/event"
)

// ScheduleKind is the river_job.kind of schedule hook runs.
const ScheduleKind = "hookd_schedule"

// ScheduleArgs is one tick of one schedule hook.
type ScheduleArgs struct {
	// HookID is the schedule's stable id.
	HookID string `json:"hook_id"`
	// Tick is the scheduled time of this run. With the hook id it makes the
	// job unique, so however many instances (or successive leaders) enqueue
	// the tick, it runs once.
	Tick time.Time `json:"tick"`
}

// Kind implements river.JobArgs.
func (ScheduleArgs) Kind() string { return ScheduleKind }

// Config configures Workers.
type Config struct {
	// Bus holds the hooks. Required.
	Bus *event.Bus
	// Pool loads events and is the Database of actions. Default: the bus's
	// pool (required one way or the other).
	Pool *pgxpool.Pool
	// Logger logs runs at debug level. Default: discard.
	Logger *slog.Logger
}

func (c *Config) withDefaults() (*Config, error) {
	out := *c
	if out.Bus == nil {
		return nil, errors.New("jobs: Config.Bus is required")
	}
	out.Pool = cmp.Or(out.Pool, out.Bus.Pool())
	if out.Pool == nil {
		return nil, errors.New("jobs: Config.Pool is required (the bus has none)")
	}
	out.Logger = cmp.Or(out.Logger, slog.New(slog.DiscardHandler))
	return &out, nil
}

// Workers builds the River worker bundle for an instance: the action worker
// and the schedule worker.
func Workers(cfg *Config) (*river.Workers, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	workers := river.NewWorkers()
	if err := river.AddWorkerSafely(workers, &ActionWorker{cfg: c, events: &eventLoader{pool: c.Pool}}); err != nil {
		return nil, err
	}
	if err := river.AddWorkerSafely(workers, &ScheduleWorker{cfg: c}); err != nil {
		return nil, err
	}
	return workers, nil
}

// FetchCooldown is the shortest time between two fetches of one queue's
// jobs. A producer fetches at most its free worker slots per fetch, so
// River's default (100ms) caps a queue at 10 × MaxWorkers jobs per second
// whatever the machine can do — 500 action hooks/s at 50 workers. At 5ms
// the cap is far above what the workers reach; an idle queue still waits
// for LISTEN/NOTIFY or the (unchanged) poll interval, so it costs nothing
// when there is no work.
const FetchCooldown = 5 * time.Millisecond

// Queues returns the River queue configuration an instance needs: the
// default queue plus every queue a hook names, each with maxWorkers and
// FetchCooldown.
func Queues(bus *event.Bus, maxWorkers int) map[string]river.QueueConfig {
	qc := river.QueueConfig{MaxWorkers: maxWorkers, FetchCooldown: FetchCooldown}
	out := map[string]river.QueueConfig{river.QueueDefault: qc}
	for _, q := range bus.Queues() {
		out[q] = qc
	}
	return out
}

// ActionWorker runs durable action hooks.
type ActionWorker struct {
	river.WorkerDefaults[event.ActionArgs]
	cfg    *Config
	events *eventLoader
}

// Timeout is the hook's Timeout option (0 = the client's JobTimeout).
func (w *ActionWorker) Timeout(job *river.Job[event.ActionArgs]) time.Duration {
	if h, ok := w.cfg.Bus.ActionHook(job.Args.HookID); ok {
		return h.Options.Timeout
	}
	return 0
}

// Work rebuilds Directus's meta and context from the job's events and calls
// the hook. A job whose hook is not registered fails with an error naming
// the hook id (so it shows in river_job.errors) and is retried like any
// failure: during a rolling deploy another instance may have the hook.
func (w *ActionWorker) Work(ctx context.Context, job *river.Job[event.ActionArgs]) error {
	args := job.Args
	h, ok := w.cfg.Bus.ActionHook(args.HookID)
	if !ok {
		return fmt.Errorf("no action hook with id %q is registered on this instance "+
			"(extension removed, renamed or disabled by EXTENSIONS, or hook renamed)", args.HookID)
	}
	meta, acc, err := w.meta(ctx, args)
	if err != nil {
		return err
	}
	ec := hooks.EventContext{Database: w.cfg.Pool, Accountability: acc}
	if w.cfg.Bus.Services().SchemaWired() {
		if ec.Schema, err = w.cfg.Bus.Services().GetSchema(ctx); err != nil {
			return fmt.Errorf("loading schema for action hook %s: %w", h.ID, err)
		}
	}
	if err := h.Action(ctx, meta, ec); err != nil {
		return fmt.Errorf("action hook %s on %s: %w", h.ID, args.Event, err)
	}
	w.cfg.Logger.DebugContext(ctx, "action hook ran", slog.String("hook", h.ID), slog.Int64("job_id", job.ID))
	return nil
}

// meta rebuilds meta: `key` for a create, `keys` for update/delete (and any
// run covering several events), `payload` as the write recorded it.
func (w *ActionWorker) meta(ctx context.Context, args event.ActionArgs) (hooks.Meta, *hooks.Accountability, error) {
	meta := hooks.Meta{Event: args.Event, EventIDs: args.EventIDs}
	if len(args.EventIDs) == 0 {
		if m := args.Meta; m != nil {
			meta.Collection, meta.Key, meta.Keys, meta.Payload = m.Collection, m.Key, m.Keys, m.Payload
			meta.Extra = m.Extra
		}
		return meta, nil, nil
	}
	events, err := w.events.load(ctx, args.EventIDs)
	if err != nil {
		return meta, nil, fmt.Errorf("loading events %v: %w", args.EventIDs, err)
	}
	if len(events) != len(args.EventIDs) {
		return meta, nil, fmt.Errorf("loading events %v: only %d of %d exist", args.EventIDs, len(events), len(args.EventIDs))
	}
	first := events[0]
	meta.Collection = first.Collection
	meta.Payload = first.Payload
	if first.Action == "create" && len(events) == 1 {
		meta.Key = first.Key
		if meta.Payload == nil {
			meta.Payload = first.Data
		}
	} else {
		meta.Keys = make([]any, len(events))
		for i, e := range events {
			meta.Keys[i] = e.Key
		}
		if meta.Payload == nil && first.Action == "delete" {
			meta.Payload = meta.Keys
		}
	}
	return meta, first.Accountability, nil
}

// ScheduleWorker runs schedule hooks.
type ScheduleWorker struct {
	river.WorkerDefaults[ScheduleArgs]
	cfg *Config
}

// Timeout is the hook's Timeout option (0 = the client's JobTimeout).
func (w *ScheduleWorker) Timeout(job *river.Job[ScheduleArgs]) time.Duration {
	if h, ok := w.cfg.Bus.ScheduleHook(job.Args.HookID); ok {
		return h.Options.Timeout
	}
	return 0
}

// Work runs the schedule's function for one tick.
func (w *ScheduleWorker) Work(ctx context.Context, job *river.Job[ScheduleArgs]) error {
	h, ok := w.cfg.Bus.ScheduleHook(job.Args.HookID)
	if !ok {
		return fmt.Errorf("no schedule hook with id %q is registered on this instance "+
			"(extension removed, renamed or disabled by EXTENSIONS, or cron expression changed)", job.Args.HookID)
	}
	if err := h.Schedule(ctx); err != nil {
		return fmt.Errorf("schedule hook %s (tick %s): %w", h.ID, job.Args.Tick.Format(time.RFC3339), err)
	}
	return nil
}

// DefaultScheduleMaxAttempts is a schedule's MaxAttempts without the
// option: a failed tick is recorded, not retried (Directus does not retry
// either); the next tick runs as usual.
const DefaultScheduleMaxAttempts = 1

// PeriodicJobs turns every schedule hook into a River periodic job. River
// runs periodic jobs on the elected leader only; each job's args hold the
// tick's scheduled time and are unique by args, so a tick enqueued twice
// (a leader change mid-tick) still runs once.
func PeriodicJobs(bus *event.Bus) []*river.PeriodicJob {
	var out []*river.PeriodicJob
	for _, h := range bus.Schedules() {
		ts := &tickSchedule{cron: h.Cron}
		opts := h.Options
		id := h.ID
		out = append(out, river.NewPeriodicJob(ts, func() (river.JobArgs, *river.InsertOpts) {
			return ScheduleArgs{HookID: id, Tick: ts.current()}, &river.InsertOpts{
				MaxAttempts: cmp.Or(opts.MaxAttempts, DefaultScheduleMaxAttempts),
				Queue:       opts.Queue,
				Priority:    opts.Priority,
				UniqueOpts:  river.UniqueOpts{ByArgs: true},
			}
		}, nil))
	}
	return out
}

// tickSchedule adapts a cron schedule to River and remembers the tick River
// is about to enqueue: River's enqueuer calls the constructor when the time
// last returned by Next arrives, before asking for the following one, so
// that time is the tick. Cron times are absolute, so every instance computes
// the same tick for the same run.
type tickSchedule struct {
	cron cron.Schedule
	mu   sync.Mutex
	last time.Time
}

func (s *tickSchedule) Next(t time.Time) time.Time {
	next := s.cron.Next(t)
	s.mu.Lock()
	s.last = next
	s.mu.Unlock()
	return next
}

func (s *tickSchedule) current() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last.UTC()
}
