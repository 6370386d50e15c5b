package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"

	"github.com/hookd/hookd/internal/config"
	"github.com/hookd/hookd/internal/event"
	"github.com/hookd/hookd/internal/store"
)

// jobsCmd is `hookd jobs list|retry|cancel`: hook runs as River jobs.
func jobsCmd(ctx context.Context, args []string, getenv config.Getenv, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: jobs list|retry <id>|cancel <id>", errUsage)
	}
	fs := flag.NewFlagSet("jobs "+args[0], flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	devFlag := fs.Bool("dev", false, "use the project-local Postgres cluster when no database URL is set")
	state := fs.String("state", "", "only runs in this state (available, running, retryable, discarded, completed, …)")
	hook := fs.String("hook", "", "only runs of this hook id")
	eventName := fs.String("event", "", "only runs for this event name")
	limit := fs.Int("limit", 50, "at most this many runs, newest first")
	if err := fs.Parse(args[1:]); err != nil {
		return fmt.Errorf("%w: jobs %s: %v", errUsage, args[0], err)
	}
	var jobID int64
	switch args[0] {
	case "list":
		if fs.NArg() != 0 {
			return fmt.Errorf("%w: jobs list takes flags only", errUsage)
		}
	case "retry", "cancel":
		id, err := strconv.ParseInt(fs.Arg(0), 10, 64)
		if fs.NArg() != 1 || err != nil || id <= 0 {
			return fmt.Errorf("%w: jobs %s takes one job id (river_job.id)", errUsage, args[0])
		}
		jobID = id
	default:
		return fmt.Errorf("%w: jobs takes list, retry or cancel, not %q", errUsage, args[0])
	}
	cfg, err := loadConfig(ctx, getenv, *devFlag, stderr)
	if err != nil {
		return err
	}
	pool, err := store.Open(ctx, &store.PoolConfig{URL: cfg.DatabaseURL, MaxConns: 2})
	if err != nil {
		return err
	}
	defer pool.Close()

	if args[0] == "list" {
		runs, err := store.HookRunsList(ctx, pool, store.HookRunsParams{State: *state, HookID: *hook, Event: *eventName, Limit: *limit})
		if err != nil {
			return fmt.Errorf("listing hook runs: %w", err)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "JOB\tKIND\tSTATE\tATTEMPT\tHOOK\tEVENT\tCOLLECTION\tEVENT IDS\tLAST ERROR")
		for _, r := range runs {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%d/%d\t%s\t%s\t%s\t%v\t%s\n", r.JobID, r.HookKind, r.State, r.Attempt,
				r.MaxAttempts, r.HookID, r.Event, deref(r.Collection), r.EventIDs, oneLine(deref(r.LastError), 80))
		}
		return tw.Flush()
	}

	// An insert-only client: JobRetry and JobCancel are plain updates (plus
	// a notification that reaches a running job's worker).
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	var job *rivertype.JobRow
	if args[0] == "retry" {
		job, err = client.JobRetry(ctx, jobID)
	} else {
		job, err = client.JobCancel(ctx, jobID)
	}
	if errors.Is(err, rivertype.ErrNotFound) {
		return fmt.Errorf("job %d not found", jobID)
	}
	if err != nil {
		return fmt.Errorf("%s job %d: %w", args[0], jobID, err)
	}
	fmt.Fprintf(stdout, "job %d (%s): %s\n", job.ID, job.Kind, job.State)
	return nil
}

// hooksCmd is `hookd hooks list`: the hooks the compiled-in, enabled
// extensions register (no database needed).
func hooksCmd(ctx context.Context, args []string, getenv config.Getenv, stdout io.Writer) error {
	if len(args) != 1 || args[0] != "list" {
		return fmt.Errorf("%w: hooks list", errUsage)
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	env := func(k string) string { v, _ := getenv(k); return v }
	bus, err := event.NewBus(ctx, &event.BusConfig{Extensions: extensions, Enabled: cfg.Extensions, Env: env})
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tID\tEVENT\tOPTIONS")
	for _, h := range bus.Hooks() {
		var opts []string
		o := h.Options
		if len(o.Collections) > 0 {
			opts = append(opts, "collections="+strings.Join(o.Collections, ","))
		}
		if o.Queue != "" {
			opts = append(opts, "queue="+o.Queue)
		}
		if o.Priority != 0 {
			opts = append(opts, fmt.Sprintf("priority=%d", o.Priority))
		}
		if o.MaxAttempts != 0 {
			opts = append(opts, fmt.Sprintf("max_attempts=%d", o.MaxAttempts))
		}
		if o.Timeout != 0 {
			opts = append(opts, "timeout="+o.Timeout.String())
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", h.Kind, h.ID, h.Event, strings.Join(opts, " "))
	}
	return tw.Flush()
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > max {
		return s[:max-1] + "…"
	}
	return s
}
