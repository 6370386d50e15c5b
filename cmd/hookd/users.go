package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/google/uuid"

	"github.com/hookd/hookd/db"
	"github.com/hookd/hookd/internal/auth"
	"github.com/hookd/hookd/internal/config"
	"github.com/hookd/hookd/internal/event"
	"github.com/hookd/hookd/internal/store"
)

// usersCmd is `hookd users create|passwd`: user management without the API
// (the first admin, a lost password). Writes go through the same service
// path as the API, so users.* hooks run and events are logged.
func usersCmd(ctx context.Context, args []string, getenv config.Getenv, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "create" && args[0] != "passwd") {
		return fmt.Errorf("%w: users create|passwd --email E --password P", errUsage)
	}
	fs := flag.NewFlagSet("users "+args[0], flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	devFlag := fs.Bool("dev", false, "use the project-local Postgres cluster when no database URL is set")
	email := fs.String("email", "", "the user's email")
	password := fs.String("password", "", "the user's password")
	role := fs.String("role", "", "create: the role, by id or name")
	admin := fs.Bool("admin", false, "create: give the user the Administrator role (created when missing)")
	if err := fs.Parse(args[1:]); err != nil {
		return fmt.Errorf("%w: users %s: %v", errUsage, args[0], err)
	}
	switch {
	case fs.NArg() != 0:
		return fmt.Errorf("%w: users %s takes flags only", errUsage, args[0])
	case *email == "" || *password == "":
		return fmt.Errorf("%w: users %s needs --email and --password", errUsage, args[0])
	case args[0] == "passwd" && (*role != "" || *admin):
		return fmt.Errorf("%w: users passwd takes --email and --password only", errUsage)
	case *role != "" && *admin:
		return fmt.Errorf("%w: users create takes --role or --admin, not both", errUsage)
	}
	cfg, err := loadConfig(ctx, getenv, *devFlag, stderr)
	if err != nil {
		return err
	}
	pool, err := store.Open(ctx, &store.PoolConfig{URL: cfg.DatabaseURL, MaxConns: 4})
	if err != nil {
		return err
	}
	defer pool.Close()
	if cfg.AutoMigrate {
		if err := db.MigrateUp(ctx, cfg.DatabaseURL, nil); err != nil {
			return err
		}
	}
	env := func(k string) string { v, _ := getenv(k); return v }
	bus, err := event.NewBus(ctx, &event.BusConfig{Extensions: extensions, Enabled: cfg.Extensions, Pool: pool, Env: env})
	if err != nil {
		return err
	}
	svc, err := auth.NewService(&auth.Config{Pool: pool, Secret: cfg.Secret, Hooks: bus})
	if err != nil {
		return err
	}

	if args[0] == "passwd" {
		if err := svc.UserPasswordSet(ctx, *email, *password); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("no user with email %q", *email)
			}
			return fmt.Errorf("setting the password: %w", err)
		}
		fmt.Fprintf(stdout, "password changed for %s\n", *email)
		return nil
	}

	payload := map[string]any{"email": *email, "password": *password}
	switch {
	case *admin:
		id, err := svc.AdminRole(ctx)
		if err != nil {
			return err
		}
		payload["role"] = id
	case *role != "":
		id, err := roleID(ctx, pool, *role)
		if err != nil {
			return err
		}
		payload["role"] = id
	}
	item, err := svc.UserCreate(ctx, nil, payload)
	if err != nil {
		var ce *store.ConstraintError
		if errors.As(err, &ce) && ce.Code == "RECORD_NOT_UNIQUE" {
			return fmt.Errorf("a user with email %q already exists", *email)
		}
		return fmt.Errorf("creating the user: %w", err)
	}
	fmt.Fprintf(stdout, "created user %s (%s)\n", item["id"], *email)
	return nil
}

// roleID resolves a role given by id or by name.
func roleID(ctx context.Context, q store.Querier, role string) (string, error) {
	if _, err := uuid.Parse(role); err == nil {
		r, err := store.RoleByID(ctx, q, role)
		if err == nil {
			return r.ID, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return "", err
		}
	}
	r, err := store.RoleByName(ctx, q, role)
	if errors.Is(err, store.ErrNotFound) {
		return "", fmt.Errorf("no role with id or name %q", role)
	}
	if err != nil {
		return "", err
	}
	return r.ID, nil
}
