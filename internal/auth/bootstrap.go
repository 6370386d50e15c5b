package auth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/hookd/hookd/hooks"
	"github.com/hookd/hookd/internal/store"
)

// AdminRoleName is the role the first admin and `hookd users create
// --admin` use.
const AdminRoleName = "Administrator"

// BootstrapResult says what AdminBootstrap did.
type BootstrapResult struct {
	// Created is true when this call created the first admin.
	Created bool
	// Email is the admin's email.
	Email string
	// GeneratedPassword is set when no password was given and one was
	// generated: it is shown once, to be changed.
	GeneratedPassword string
}

// AdminBootstrap creates the Administrator role and a first admin user with
// email and password when there are no users at all. Instances starting
// together serialise on a transaction-scoped advisory lock, so exactly one
// creates the admin. An empty password is replaced by a generated one.
func (s *Service) AdminBootstrap(ctx context.Context, email, password string) (*BootstrapResult, error) {
	res := &BootstrapResult{Email: email}
	if password == "" {
		b := make([]byte, 18)
		if _, err := rand.Read(b); err != nil {
			return nil, fmt.Errorf("generating admin password: %w", err)
		}
		password = base64.RawURLEncoding.EncodeToString(b)
		res.GeneratedPassword = password
	}
	err := s.inEventTx(ctx, func(tx pgx.Tx) error {
		if _, err := lockAdmins(ctx, tx); err != nil {
			return err
		}
		n, err := store.UserCount(ctx, tx)
		if err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		roleID, err := s.adminRoleTx(ctx, tx, nil)
		if err != nil {
			return err
		}
		if _, err := s.userCreateTx(ctx, tx, nil, map[string]any{"email": email, "password": password,
			"role": roleID, "first_name": "Admin", "last_name": "User"}); err != nil {
			return fmt.Errorf("creating first admin %q: %w", email, err)
		}
		res.Created = true
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !res.Created {
		res.GeneratedPassword = ""
	}
	return res, nil
}

// AdminRole returns the id of the Administrator role, creating it when
// missing (system access).
func (s *Service) AdminRole(ctx context.Context) (string, error) {
	var id string
	err := s.inEventTx(ctx, func(tx pgx.Tx) error {
		if _, err := lockAdmins(ctx, tx); err != nil {
			return err
		}
		var err error
		id, err = s.adminRoleTx(ctx, tx, nil)
		return err
	})
	return id, err
}

func (s *Service) adminRoleTx(ctx context.Context, tx pgx.Tx, acc *hooks.Accountability) (string, error) {
	r, err := store.RoleByName(ctx, tx, AdminRoleName)
	if err == nil && r.AdminAccess {
		return r.ID, nil
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return "", err
	}
	item, err := s.roleCreateTx(ctx, tx, acc, map[string]any{"name": AdminRoleName, "icon": "verified",
		"description":  "Initial administrative role with unrestricted App/API access.",
		"admin_access": true, "app_access": true})
	if err != nil {
		return "", fmt.Errorf("creating the %s role: %w", AdminRoleName, err)
	}
	return item["id"].(string), nil
}
