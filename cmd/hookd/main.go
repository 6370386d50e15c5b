// Command hookd runs the hookd server and its tools.
//
//	hookd serve [--dev]             run the server (migrates first unless DB_AUTO_MIGRATE=false)
//	hookd migrate up|down|status    manage the schema
//	hookd dev db start|stop|url     manage the project-local Postgres cluster
//
// --dev (on serve and migrate) uses the project-local cluster when neither
// DB_CONNECTION_STRING nor DATABASE_URL is set; that is what `make run` does.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/hookd/hookd/db"
	"github.com/hookd/hookd/internal/app"
	"github.com/hookd/hookd/internal/config"
	"github.com/hookd/hookd/internal/devdb"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `usage: hookd <command> [arguments]

commands:
  serve [--dev]               run the server
  migrate up|down|status      apply, roll back one, or list migrations
  dev db start|stop|url       manage the project-local Postgres cluster
  jobs list [--state S] [--hook ID] [--event NAME] [--limit N]
                              list hook runs (River jobs), newest first
  jobs retry|cancel <id>      retry or cancel one hook run by river_job id
  hooks list                  list the hooks of the enabled extensions
  users create --email E --password P [--role R | --admin]
                              create a user (role by id or name)
  users passwd --email E --password P
                              set a user's password

--dev uses the project-local Postgres cluster when DB_CONNECTION_STRING and
DATABASE_URL are unset (creating and starting it as needed).
`

// errUsage marks a command-line mistake: usage is printed, exit code 2.
var errUsage = errors.New("usage")

// run is main without the process: testable, and every failure is one line.
func run(ctx context.Context, args []string, getenv config.Getenv, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = serve(ctx, args[1:], getenv, stderr)
	case "migrate":
		err = migrate(ctx, args[1:], getenv, stdout, stderr)
	case "dev":
		err = dev(ctx, args[1:], stdout, stderr)
	case "jobs":
		err = jobsCmd(ctx, args[1:], getenv, stdout, stderr)
	case "hooks":
		err = hooksCmd(ctx, args[1:], getenv, stdout)
	case "users":
		err = usersCmd(ctx, args[1:], getenv, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		err = fmt.Errorf("%w: unknown command %q", errUsage, args[0])
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "hookd: %v\n\n%s", err, usage)
		return 2
	default:
		// One line, whatever the error's own formatting (pgx lists one dial
		// error per address on separate lines).
		fmt.Fprintf(stderr, "hookd: %s\n", strings.Join(strings.Fields(err.Error()), " "))
		return 1
	}
}

// loadConfig reads the environment; with dev set and no database URL it
// starts the local cluster and points the config at it.
func loadConfig(ctx context.Context, getenv config.Getenv, dev bool, stderr io.Writer) (*config.Config, error) {
	cfg, err := config.Load(getenv)
	if err != nil {
		return nil, err
	}
	if cfg.DatabaseURL != "" {
		return cfg, nil
	}
	if !dev {
		return nil, errors.New("no database configured: set DB_CONNECTION_STRING or DATABASE_URL, or pass --dev to use the project-local cluster")
	}
	cluster, err := devdb.New(&devdb.Config{Log: func(format string, args ...any) {
		fmt.Fprintf(stderr, "hookd dev db: "+format+"\n", args...)
	}})
	if err != nil {
		return nil, err
	}
	if err := cluster.Ensure(ctx); err != nil {
		return nil, fmt.Errorf("local Postgres: %w", err)
	}
	cfg.DatabaseURL = cluster.URL(devdb.DefaultDatabase)
	return cfg, nil
}

func serve(ctx context.Context, args []string, getenv config.Getenv, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	devFlag := fs.Bool("dev", false, "use the project-local Postgres cluster when no database URL is set")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: serve: %v", errUsage, err)
	}
	cfg, err := loadConfig(ctx, getenv, *devFlag, stderr)
	if err != nil {
		return err
	}
	logger := cfg.NewLogger(stderr)
	gcPercent := app.TuneRuntime(getenv)
	logger.Debug("runtime tuned", slog.Int("gc_percent", gcPercent))
	if cfg.SecretGenerated {
		logger.Warn("SECRET is not set: using a random one; tokens will not survive a restart or work across instances")
	}
	if entries, err := os.ReadDir(cfg.ExtensionsPath); err == nil && len(entries) > 0 {
		logger.Warn("EXTENSIONS_PATH holds files, but file-based (JavaScript) extensions are not loaded yet: only the compiled-in Go extensions run",
			slog.String("path", cfg.ExtensionsPath))
	}
	a, err := app.New(ctx, &app.Config{Config: cfg, Logger: logger, Extensions: extensions})
	if err != nil {
		return err
	}
	if err := a.Start(ctx); err != nil {
		_ = a.Stop(ctx)
		if ctx.Err() != nil {
			// SIGINT/SIGTERM while starting: a clean stop, not a failure.
			logger.Info("interrupted while starting")
			return nil
		}
		return err
	}
	waitErr := a.Wait(ctx)
	logger.Info("shutting down")
	stopErr := a.Stop(ctx)
	return errors.Join(waitErr, stopErr)
}

func migrate(ctx context.Context, args []string, getenv config.Getenv, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	devFlag := fs.Bool("dev", false, "use the project-local Postgres cluster when no database URL is set")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: migrate: %v", errUsage, err)
	}
	if fs.NArg() != 1 || !slices.Contains([]string{"up", "down", "status"}, fs.Arg(0)) {
		return fmt.Errorf("%w: migrate takes one of up, down, status", errUsage)
	}
	cfg, err := loadConfig(ctx, getenv, *devFlag, stderr)
	if err != nil {
		return err
	}
	m, err := db.NewMigrator(cfg.DatabaseURL, nil)
	if err != nil {
		return err
	}
	defer m.Close()
	switch fs.Arg(0) {
	case "up":
		res, err := m.Up(ctx)
		for _, r := range res {
			fmt.Fprintf(stdout, "applied %d %s (%s)\n", r.Source.Version, r.Source.Path, r.Duration)
		}
		if err == nil && len(res) == 0 {
			fmt.Fprintln(stdout, "no pending migrations")
		}
		return err
	case "down":
		r, err := m.Down(ctx)
		if r != nil {
			fmt.Fprintf(stdout, "rolled back %d %s\n", r.Source.Version, r.Source.Path)
		}
		return err
	default: // status
		statuses, err := m.Status(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "VERSION\tSTATE\tAPPLIED AT\tSOURCE")
		for _, s := range statuses {
			applied := "-"
			if !s.AppliedAt.IsZero() {
				applied = s.AppliedAt.Format("2006-01-02 15:04:05")
			}
			name := s.Source.Path
			if name == "" {
				name = "(go) River schema"
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", s.Source.Version, s.State, applied, name)
		}
		return tw.Flush()
	}
}

func dev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) != 2 || args[0] != "db" {
		return fmt.Errorf("%w: dev db start|stop|url", errUsage)
	}
	cluster, err := devdb.New(&devdb.Config{Log: func(format string, a ...any) {
		fmt.Fprintf(stderr, "hookd dev db: "+format+"\n", a...)
	}})
	if err != nil {
		return err
	}
	switch args[1] {
	case "start":
		if err := cluster.Ensure(ctx); err != nil {
			return err
		}
		fmt.Fprintln(stdout, cluster.URL(devdb.DefaultDatabase))
		return nil
	case "stop":
		return cluster.Stop(ctx)
	case "url":
		fmt.Fprintln(stdout, cluster.URL(devdb.DefaultDatabase))
		return nil
	default:
		return fmt.Errorf("%w: dev db takes start, stop or url, not %q", errUsage, strings.TrimSpace(args[1]))
	}
}
