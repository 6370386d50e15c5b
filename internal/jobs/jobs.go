// Package jobs holds hookd's River job kinds and workers: durable action
// hooks (one job per event and hook, inserted in the write transaction) and
// schedules (River periodic jobs).
package jobs

import (
	"context"
	"fmt"

	"github.com/riverqueue/river"
)

// ActionArgs is one run of one durable action hook for one data event.
type ActionArgs struct {
	// HookID is the hook's stable id (extension id + event + name).
	HookID string `json:"hook_id"`
	// EventIDs are the hookd_event rows the run covers (one per item; an
	// update or delete of several keys in one call is one run).
	EventIDs []int64 `json:"event_ids"`
}

// Kind is the river_job.kind of action hook runs.
func (ActionArgs) Kind() string { return "hookd_action" }

// ActionFunc runs an action hook for a job.
type ActionFunc func(ctx context.Context, job *river.Job[ActionArgs]) error

// Lookup finds the handler for a hook id on this instance.
type Lookup func(hookID string) (ActionFunc, bool)

// ActionWorker runs action hook jobs.
type ActionWorker struct {
	river.WorkerDefaults[ActionArgs]
	lookup Lookup
}

// NewActionWorker builds the worker; lookup may be nil (no hooks).
func NewActionWorker(lookup Lookup) *ActionWorker {
	if lookup == nil {
		lookup = func(string) (ActionFunc, bool) { return nil, false }
	}
	return &ActionWorker{lookup: lookup}
}

// Work resolves the hook and runs it. A job whose hook is not registered on
// this instance fails with an error naming the hook, so it shows in
// river_job.errors and is retried (another deploy may bring the hook back).
func (w *ActionWorker) Work(ctx context.Context, job *river.Job[ActionArgs]) error {
	fn, ok := w.lookup(job.Args.HookID)
	if !ok {
		return fmt.Errorf("no action hook with id %q is registered on this instance", job.Args.HookID)
	}
	return fn(ctx, job)
}

// Workers builds the River worker bundle for an instance.
func Workers(lookup Lookup) *river.Workers {
	workers := river.NewWorkers()
	river.AddWorker(workers, NewActionWorker(lookup))
	return workers
}
