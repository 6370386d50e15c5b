package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	hsql "github.com/hookd/hookd/sql"
)

// User is a row of hookd_users. PasswordHash is the argon2id PHC string and
// never leaves the auth package; the static token is only known to exist.
type User struct {
	ID           string
	Email        *string
	PasswordHash *string
	FirstName    *string
	LastName     *string
	Role         *string
	Status       string
	HasToken     bool
	LastAccess   *time.Time
}

// UserLogin is what authentication needs about a user: its credentials,
// status and its role's access flags.
type UserLogin struct {
	ID           string
	Email        *string
	PasswordHash *string
	Role         *string
	Status       string
	AdminAccess  bool
	AppAccess    bool
}

// Role is a row of hookd_roles.
type Role struct {
	ID          string
	Name        string
	Icon        string
	Description *string
	AdminAccess bool
	AppAccess   bool
}

// Permission is a row of hookd_permissions. Role is nil for the public role.
type Permission struct {
	ID          int64
	Role        *string
	Collection  string
	Action      string
	Permissions map[string]any
	Validation  map[string]any
	Presets     map[string]any
	Fields      []string
}

// Settable is one column of a partial update: it changes only when Set.
type Settable[T any] struct {
	Set   bool
	Value T
}

// To returns a Settable that sets v.
func To[T any](v T) Settable[T] { return Settable[T]{Set: true, Value: v} }

// UserInsertParams are the columns of a new user. Nil pointers take the
// column default (a random id, status active) or NULL.
type UserInsertParams struct {
	ID           *string
	Email        *string
	PasswordHash *string
	FirstName    *string
	LastName     *string
	Role         *string
	Status       *string
	TokenHash    []byte
}

// UserPatch lists the columns a user update changes.
type UserPatch struct {
	Email        Settable[*string]
	PasswordHash Settable[*string]
	FirstName    Settable[*string]
	LastName     Settable[*string]
	Role         Settable[*string]
	Status       Settable[string]
	TokenHash    Settable[[]byte]
}

// RoleInsertParams are the columns of a new role; nil = default.
type RoleInsertParams struct {
	ID          *string
	Name        string
	Icon        *string
	Description *string
	AdminAccess *bool
	AppAccess   *bool
}

// RolePatch lists the columns a role update changes.
type RolePatch struct {
	Name        Settable[string]
	Icon        Settable[string]
	Description Settable[*string]
	AdminAccess Settable[bool]
	AppAccess   Settable[bool]
}

// PermissionPatch lists the columns a permission update changes.
type PermissionPatch struct {
	Role        Settable[*string]
	Collection  Settable[string]
	Action      Settable[string]
	Permissions Settable[map[string]any]
	Validation  Settable[map[string]any]
	Presets     Settable[map[string]any]
	Fields      Settable[[]string]
}

func scanUser(row pgx.Row) (*User, error) {
	var u User
	if err := row.Scan(&u.ID, &u.Email, &u.PasswordHash, &u.FirstName, &u.LastName, &u.Role, &u.Status,
		&u.HasToken, &u.LastAccess); err != nil {
		return nil, translateUser(err)
	}
	return &u, nil
}

func scanUserLogin(row pgx.Row) (*UserLogin, error) {
	var u UserLogin
	if err := row.Scan(&u.ID, &u.Email, &u.PasswordHash, &u.Role, &u.Status, &u.AdminAccess, &u.AppAccess); err != nil {
		return nil, Translate(err)
	}
	return &u, nil
}

// translateUser names the user-facing field behind hookd_users' unique
// indexes (they are on expressions, so Postgres reports no column).
func translateUser(err error) error {
	err = Translate(err)
	var ce *ConstraintError
	if errors.As(err, &ce) {
		switch ce.Constraint {
		case "hookd_users_email_key":
			ce.Table, ce.Column = "directus_users", "email"
		case "hookd_users_token_hash_key":
			ce.Table, ce.Column = "directus_users", "token"
		case "hookd_users_role_fkey":
			ce.Table, ce.Column = "directus_users", "role"
		}
	}
	return err
}

// UserInsert creates a user.
func UserInsert(ctx context.Context, q Querier, p *UserInsertParams) (*User, error) {
	return scanUser(q.QueryRow(ctx, hsql.Query("AuthUserInsert"), p.ID, p.Email, p.PasswordHash,
		p.FirstName, p.LastName, p.Role, p.Status, p.TokenHash))
}

// UserByID returns one user; ErrNotFound when there is none.
func UserByID(ctx context.Context, q Querier, id string) (*User, error) {
	return scanUser(q.QueryRow(ctx, hsql.Query("AuthUserByID"), id))
}

// UserByIDForUpdateTx returns one user and locks its row until tx ends.
func UserByIDForUpdateTx(ctx context.Context, tx pgx.Tx, id string) (*User, error) {
	return scanUser(tx.QueryRow(ctx, hsql.Query("AuthUserByIDForUpdate"), id))
}

// UsersByIDs returns the users with these ids in that order, skipping
// ids that have none.
func UsersByIDs(ctx context.Context, q Querier, ids []string) ([]*User, error) {
	return byIDs(ctx, q, "AuthUsersByIDs", ids, scanUser)
}

// byIDs runs one of the *ByIDs queries, which take the ids as an array
// and keep their order.
func byIDs[K, R any](ctx context.Context, q Querier, name string, ids []K, scan func(pgx.Row) (R, error)) ([]R, error) {
	rows, err := q.Query(ctx, hsql.Query(name), ids)
	if err != nil {
		return nil, Translate(err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (R, error) { return scan(row) })
	if err != nil {
		return nil, Translate(err)
	}
	return out, nil
}

// UserCount counts users.
func UserCount(ctx context.Context, q Querier) (int64, error) {
	var n int64
	if err := q.QueryRow(ctx, hsql.Query("AuthUserCount")).Scan(&n); err != nil {
		return 0, Translate(err)
	}
	return n, nil
}

// UserLoginByEmail finds a user by email, case-insensitively.
func UserLoginByEmail(ctx context.Context, q Querier, email string) (*UserLogin, error) {
	return scanUserLogin(q.QueryRow(ctx, hsql.Query("AuthUserLoginByEmail"), email))
}

// UserLoginByID finds a user by id.
func UserLoginByID(ctx context.Context, q Querier, id string) (*UserLogin, error) {
	return scanUserLogin(q.QueryRow(ctx, hsql.Query("AuthUserLoginByID"), id))
}

// UserLoginByTokenHash finds the active user owning a static token.
func UserLoginByTokenHash(ctx context.Context, q Querier, hash []byte) (*UserLogin, error) {
	return scanUserLogin(q.QueryRow(ctx, hsql.Query("AuthUserLoginByToken"), hash))
}

// UserUpdate changes the columns set in p; ErrNotFound when the user does
// not exist.
func UserUpdate(ctx context.Context, q Querier, id string, p *UserPatch) (*User, error) {
	return scanUser(q.QueryRow(ctx, hsql.Query("AuthUserUpdate"), id,
		p.Email.Set, p.Email.Value, p.PasswordHash.Set, p.PasswordHash.Value,
		p.FirstName.Set, p.FirstName.Value, p.LastName.Set, p.LastName.Value,
		p.Role.Set, p.Role.Value, p.Status.Set, p.Status.Value, p.TokenHash.Set, p.TokenHash.Value))
}

// UserDelete deletes a user (its sessions go with it) and returns the row.
func UserDelete(ctx context.Context, q Querier, id string) (*User, error) {
	return scanUser(q.QueryRow(ctx, hsql.Query("AuthUserDelete"), id))
}

// UserTouch records an access (login, refresh).
func UserTouch(ctx context.Context, q Querier, id string) error {
	_, err := q.Exec(ctx, hsql.Query("AuthUserTouch"), id)
	return Translate(err)
}

// UserPasswordSetByEmail replaces a user's password hash.
func UserPasswordSetByEmail(ctx context.Context, q Querier, email, hash string) (*User, error) {
	return scanUser(q.QueryRow(ctx, hsql.Query("AuthUserSetPasswordByEmail"), email, hash))
}

// AdminActiveCount counts active users whose role has admin access.
func AdminActiveCount(ctx context.Context, q Querier) (int64, error) {
	var n int64
	if err := q.QueryRow(ctx, hsql.Query("AuthActiveAdminCount")).Scan(&n); err != nil {
		return 0, Translate(err)
	}
	return n, nil
}

// AdminLockTx serialises user and role writes until tx ends.
func AdminLockTx(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, hsql.Query("AuthAdminLock"))
	if err != nil {
		return fmt.Errorf("taking the user/role lock: %w", Translate(err))
	}
	return nil
}

func scanRole(row pgx.Row) (*Role, error) {
	var r Role
	if err := row.Scan(&r.ID, &r.Name, &r.Icon, &r.Description, &r.AdminAccess, &r.AppAccess); err != nil {
		return nil, Translate(err)
	}
	return &r, nil
}

// RoleInsert creates a role.
func RoleInsert(ctx context.Context, q Querier, p *RoleInsertParams) (*Role, error) {
	return scanRole(q.QueryRow(ctx, hsql.Query("AuthRoleInsert"), p.ID, p.Name, p.Icon, p.Description,
		p.AdminAccess, p.AppAccess))
}

// RoleByID returns one role; ErrNotFound when there is none.
func RoleByID(ctx context.Context, q Querier, id string) (*Role, error) {
	return scanRole(q.QueryRow(ctx, hsql.Query("AuthRoleByID"), id))
}

// RoleByName returns the first role with name; ErrNotFound when none.
func RoleByName(ctx context.Context, q Querier, name string) (*Role, error) {
	return scanRole(q.QueryRow(ctx, hsql.Query("AuthRoleByName"), name))
}

// RolesByIDs returns the roles with these ids in that order, skipping ids
// that have none.
func RolesByIDs(ctx context.Context, q Querier, ids []string) ([]*Role, error) {
	return byIDs(ctx, q, "AuthRolesByIDs", ids, scanRole)
}

// RoleUpdate changes the columns set in p.
func RoleUpdate(ctx context.Context, q Querier, id string, p *RolePatch) (*Role, error) {
	return scanRole(q.QueryRow(ctx, hsql.Query("AuthRoleUpdate"), id,
		p.Name.Set, p.Name.Value, p.Icon.Set, p.Icon.Value, p.Description.Set, p.Description.Value,
		p.AdminAccess.Set, p.AdminAccess.Value, p.AppAccess.Set, p.AppAccess.Value))
}

// RoleDelete deletes a role: its users lose their role, its permissions go.
func RoleDelete(ctx context.Context, q Querier, id string) (*Role, error) {
	return scanRole(q.QueryRow(ctx, hsql.Query("AuthRoleDelete"), id))
}

func scanPermission(row pgx.Row) (*Permission, error) {
	var p Permission
	if err := row.Scan(&p.ID, &p.Role, &p.Collection, &p.Action, &p.Permissions, &p.Validation, &p.Presets,
		&p.Fields); err != nil {
		err = Translate(err)
		var ce *ConstraintError
		if errors.As(err, &ce) {
			switch ce.Constraint {
			case "hookd_permissions_role_collection_action_key":
				ce.Table, ce.Column = "directus_permissions", "action"
			case "hookd_permissions_role_fkey":
				ce.Table, ce.Column = "directus_permissions", "role"
			}
		}
		return nil, err
	}
	return &p, nil
}

// jsonArg keeps a nil map a SQL NULL rather than JSON null.
func jsonArg(m map[string]any) any {
	if m == nil {
		return nil
	}
	return m
}

// PermissionInsert creates a permission.
func PermissionInsert(ctx context.Context, q Querier, p *Permission) (*Permission, error) {
	return scanPermission(q.QueryRow(ctx, hsql.Query("AuthPermissionInsert"), p.Role, p.Collection, p.Action,
		jsonArg(p.Permissions), jsonArg(p.Validation), jsonArg(p.Presets), p.Fields))
}

// PermissionByID returns one permission; ErrNotFound when there is none.
func PermissionByID(ctx context.Context, q Querier, id int64) (*Permission, error) {
	return scanPermission(q.QueryRow(ctx, hsql.Query("AuthPermissionByID"), id))
}

// PermissionFind returns role's permission (role nil = public) for one
// collection and action; ErrNotFound when there is none.
func PermissionFind(ctx context.Context, q Querier, role *string, collection, action string) (*Permission, error) {
	return scanPermission(q.QueryRow(ctx, hsql.Query("AuthPermissionFind"), role, collection, action))
}

// PermissionsByIDs returns the permissions with these ids in that order,
// skipping ids that have none.
func PermissionsByIDs(ctx context.Context, q Querier, ids []int64) ([]*Permission, error) {
	return byIDs(ctx, q, "AuthPermissionsByIDs", ids, scanPermission)
}

// PermissionUpdate changes the columns set in p.
func PermissionUpdate(ctx context.Context, q Querier, id int64, p *PermissionPatch) (*Permission, error) {
	return scanPermission(q.QueryRow(ctx, hsql.Query("AuthPermissionUpdate"), id,
		p.Role.Set, p.Role.Value, p.Collection.Set, p.Collection.Value, p.Action.Set, p.Action.Value,
		p.Permissions.Set, jsonArg(p.Permissions.Value), p.Validation.Set, jsonArg(p.Validation.Value),
		p.Presets.Set, jsonArg(p.Presets.Value), p.Fields.Set, p.Fields.Value))
}

// PermissionDelete deletes a permission and returns the row.
func PermissionDelete(ctx context.Context, q Querier, id int64) (*Permission, error) {
	return scanPermission(q.QueryRow(ctx, hsql.Query("AuthPermissionDelete"), id))
}

// SessionInsertParams describe a new refresh session.
type SessionInsertParams struct {
	TokenHash []byte
	User      string
	Expires   time.Time
	IP        string
	UserAgent string
}

// SessionInsert stores a refresh session.
func SessionInsert(ctx context.Context, q Querier, p *SessionInsertParams) error {
	_, err := q.Exec(ctx, hsql.Query("AuthSessionInsert"), p.TokenHash, p.User, p.Expires, p.IP, p.UserAgent)
	return Translate(err)
}

// SessionTake consumes a refresh session and returns it (TokenHash is the
// argument); ErrNotFound when the token is unknown or already used.
func SessionTake(ctx context.Context, q Querier, hash []byte) (*SessionInsertParams, error) {
	s := SessionInsertParams{TokenHash: hash}
	if err := q.QueryRow(ctx, hsql.Query("AuthSessionTake"), hash).Scan(&s.User, &s.Expires, &s.IP,
		&s.UserAgent); err != nil {
		return nil, Translate(err)
	}
	return &s, nil
}

// SessionDelete ends one session (logout).
func SessionDelete(ctx context.Context, q Querier, hash []byte) error {
	_, err := q.Exec(ctx, hsql.Query("AuthSessionDelete"), hash)
	return Translate(err)
}

// SessionDeleteForUser ends every session of a user.
func SessionDeleteForUser(ctx context.Context, q Querier, user string) error {
	_, err := q.Exec(ctx, hsql.Query("AuthSessionDeleteForUser"), user)
	return Translate(err)
}

// SessionActive returns the active user behind a live session and the
// session's expiry; ErrNotFound when the session ended or the user is no
// longer active.
func SessionActive(ctx context.Context, q Querier, hash []byte) (*UserLogin, time.Time, error) {
	var u UserLogin
	var expires time.Time
	if err := q.QueryRow(ctx, hsql.Query("AuthSessionActive"), hash).Scan(&u.ID, &u.Email, &u.PasswordHash,
		&u.Role, &u.Status, &u.AdminAccess, &u.AppAccess, &expires); err != nil {
		return nil, time.Time{}, Translate(err)
	}
	return &u, expires, nil
}

// SessionPurge removes a batch of expired sessions.
func SessionPurge(ctx context.Context, q Querier) error {
	_, err := q.Exec(ctx, hsql.Query("AuthSessionPurge"))
	return Translate(err)
}

// LoginAttemptHit counts one login attempt for key in a fixed window and
// returns the count so far in the window and when the window ends.
func LoginAttemptHit(ctx context.Context, q Querier, key string, window time.Duration) (int, time.Time, error) {
	var n int
	var ends time.Time
	if err := q.QueryRow(ctx, hsql.Query("AuthLoginAttemptHit"), key, window).Scan(&n, &ends); err != nil {
		return 0, time.Time{}, Translate(err)
	}
	return n, ends, nil
}

// LoginAttemptPurge removes a batch of ended windows.
func LoginAttemptPurge(ctx context.Context, q Querier, window time.Duration) error {
	_, err := q.Exec(ctx, hsql.Query("AuthLoginAttemptPurge"), window)
	return Translate(err)
}
