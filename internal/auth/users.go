package auth

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/hookd/hookd/hooks"
	"github.com/hookd/hookd/internal/store"
)

// masked stands for a secret that is set, as Directus shows it.
const masked = "**********"

// userStatuses are the values of hookd_users.status.
var userStatuses = []string{"active", "suspended", "invited", "draft", "archived"}

// UserItem is a user in Directus's shape. The password and the static token
// are never returned: a set one reads "**********".
func UserItem(u *store.User) hooks.Item {
	item := hooks.Item{"id": u.ID, "email": deref(u.Email), "first_name": deref(u.FirstName),
		"last_name": deref(u.LastName), "role": deref(u.Role), "status": u.Status, "password": nil,
		"token": nil, "last_access": nil, "provider": "default"}
	if u.PasswordHash != nil {
		item["password"] = masked
	}
	if u.HasToken {
		item["token"] = masked
	}
	if u.LastAccess != nil {
		item["last_access"] = u.LastAccess.UTC()
	}
	return item
}

func deref(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}

// publicUserPayload masks the secrets of a user payload for event rows and
// action metadata.
func publicUserPayload(payload any) any {
	m, ok := payload.(map[string]any)
	if !ok {
		return payload
	}
	out := maps.Clone(m)
	for _, k := range []string{"password", "token"} {
		if v, ok := out[k]; ok && v != nil {
			out[k] = masked
		}
	}
	return out
}

// userPatch reads a user payload, hashing the password and the token.
func (s *Service) userPatch(payload any, create bool) (*store.UserPatch, *string, error) {
	m, err := payloadObject(payload)
	if err != nil {
		return nil, nil, err
	}
	p := &store.UserPatch{}
	var id *string
	for k, v := range m {
		switch k {
		case "id":
			if !create {
				return nil, nil, hooks.InvalidPayload(`"id" can't be changed`)
			}
			if id, err = optionalUUID(k, v); err != nil {
				return nil, nil, err
			}
		case "email":
			email, err := optionalString(k, v)
			if err != nil {
				return nil, nil, err
			}
			if email != nil && !validEmail(*email) {
				return nil, nil, errFailedValidation("email", "email", "Value has to be a valid email address.")
			}
			p.Email = store.To(email)
		case "password":
			pw, err := optionalString(k, v)
			if err != nil {
				return nil, nil, err
			}
			if pw != nil && *pw == "" {
				return nil, nil, hooks.InvalidPayload(`"password" must not be empty`)
			}
			var hash *string
			if pw != nil {
				h, err := HashPassword(*pw, s.pwParams)
				if err != nil {
					return nil, nil, err
				}
				hash = &h
			}
			p.PasswordHash = store.To(hash)
		case "first_name", "last_name":
			name, err := optionalString(k, v)
			if err != nil {
				return nil, nil, err
			}
			if k == "first_name" {
				p.FirstName = store.To(name)
			} else {
				p.LastName = store.To(name)
			}
		case "role":
			role, err := optionalUUID(k, v)
			if err != nil {
				return nil, nil, err
			}
			p.Role = store.To(role)
		case "status":
			st, ok := v.(string)
			if !ok || !slices.Contains(userStatuses, st) {
				return nil, nil, hooks.InvalidPayload(`"status" must be one of active, suspended, invited, draft, archived`)
			}
			p.Status = store.To(st)
		case "token":
			tok, err := optionalString(k, v)
			if err != nil {
				return nil, nil, err
			}
			var hash []byte
			if tok != nil {
				if len(*tok) < 16 {
					return nil, nil, hooks.InvalidPayload(`"token" must be at least 16 characters long`)
				}
				hash = tokenHash(*tok)
			}
			p.TokenHash = store.To(hash)
		default:
			return nil, nil, hooks.InvalidPayload(fmt.Sprintf("%q is not a field of directus_users", k))
		}
	}
	return p, id, nil
}

// adminGuard is taken at the start of every user and role write: it
// serialises them (so two concurrent demotions cannot both see "another
// admin remains") and records how many active admins there were.
type adminGuard struct{ before int64 }

func lockAdmins(ctx context.Context, tx pgx.Tx) (*adminGuard, error) {
	if err := store.AdminLockTx(ctx, tx); err != nil {
		return nil, err
	}
	n, err := store.AdminActiveCount(ctx, tx)
	if err != nil {
		return nil, err
	}
	return &adminGuard{before: n}, nil
}

// check refuses a write that removed the last active admin.
func (g *adminGuard) check(ctx context.Context, tx pgx.Tx) error {
	if g.before == 0 {
		return nil
	}
	n, err := store.AdminActiveCount(ctx, tx)
	if err != nil {
		return err
	}
	if n == 0 {
		return errUnprocessable("You can't remove the last admin user from the admin role.")
	}
	return nil
}

// writeKeepingAdminTx is writeTx for the writes that can remove an admin
// (updates and deletes of users and roles): it takes the admin guard first
// and refuses the result if no active admin remains.
func (s *Service) writeKeepingAdminTx(ctx context.Context, tx pgx.Tx, w *write) ([]change, error) {
	guard, err := lockAdmins(ctx, tx)
	if err != nil {
		return nil, err
	}
	changes, err := s.writeTx(ctx, tx, w)
	if err != nil {
		return nil, err
	}
	return changes, guard.check(ctx, tx)
}

// UserCreateMany creates users (one filter and one action per user).
func (s *Service) UserCreateMany(ctx context.Context, acc *hooks.Accountability, payloads []map[string]any) ([]hooks.Item, error) {
	if err := requireAdmin(acc); err != nil {
		return nil, err
	}
	var out []hooks.Item
	err := s.inEventTx(ctx, func(tx pgx.Tx) error {
		if _, err := lockAdmins(ctx, tx); err != nil {
			return err
		}
		out = out[:0]
		for _, payload := range payloads {
			item, err := s.userCreateTx(ctx, tx, acc, payload)
			if err != nil {
				return err
			}
			out = append(out, item)
		}
		return nil
	})
	return out, err
}

// UserCreate creates one user.
func (s *Service) UserCreate(ctx context.Context, acc *hooks.Accountability, payload map[string]any) (hooks.Item, error) {
	items, err := s.UserCreateMany(ctx, acc, []map[string]any{payload})
	if err != nil {
		return nil, err
	}
	return items[0], nil
}

func (s *Service) userCreateTx(ctx context.Context, tx pgx.Tx, acc *hooks.Accountability, payload map[string]any) (hooks.Item, error) {
	changes, err := s.writeTx(ctx, tx, &write{scope: "users", action: "create", collection: "directus_users",
		acc: acc, payload: payload, public: publicUserPayload,
		apply: func(payload any) ([]change, error) {
			p, id, err := s.userPatch(payload, true)
			if err != nil {
				return nil, err
			}
			var status *string
			if p.Status.Set {
				status = &p.Status.Value
			}
			u, err := store.UserInsert(ctx, tx, &store.UserInsertParams{ID: id, Email: p.Email.Value,
				PasswordHash: p.PasswordHash.Value, FirstName: p.FirstName.Value, LastName: p.LastName.Value,
				Role: p.Role.Value, Status: status, TokenHash: p.TokenHash.Value})
			if err != nil {
				return nil, err
			}
			return []change{{key: u.ID, data: UserItem(u)}}, nil
		}})
	if err != nil {
		return nil, err
	}
	return changes[0].data, nil
}

// UserUpdateMany applies one partial payload to users by id (one filter and
// one action for the call). A user who stops being active, or whose
// password changes, loses every refresh session.
func (s *Service) UserUpdateMany(ctx context.Context, acc *hooks.Accountability, keys []string, payload map[string]any) ([]hooks.Item, error) {
	if err := requireAdmin(acc); err != nil {
		return nil, err
	}
	ids, err := userResource.ids(keys)
	if err != nil {
		return nil, err
	}
	var out []hooks.Item
	err = s.inEventTx(ctx, func(tx pgx.Tx) error {
		changes, err := s.writeKeepingAdminTx(ctx, tx, &write{scope: "users", action: "update", collection: "directus_users",
			acc: acc, payload: payload, keys: anyKeys(ids), public: publicUserPayload,
			apply: func(payload any) ([]change, error) {
				p, _, err := s.userPatch(payload, false)
				if err != nil {
					return nil, err
				}
				return userResource.updateChanges(ids,
					func(id string) (*store.User, error) { return store.UserByIDForUpdateTx(ctx, tx, id) },
					func(id string) (*store.User, error) {
						u, err := store.UserUpdate(ctx, tx, id, p)
						if err != nil {
							return nil, err
						}
						// A suspended user or a changed password ends every session.
						if u.Status != "active" || p.PasswordHash.Set {
							if err := store.SessionDeleteForUser(ctx, tx, id); err != nil {
								return nil, err
							}
						}
						return u, nil
					})
			}})
		if err != nil {
			return err
		}
		out = dataOf(changes)
		return nil
	})
	return out, err
}

// UserUpdate updates one user.
func (s *Service) UserUpdate(ctx context.Context, acc *hooks.Accountability, key string, payload map[string]any) (hooks.Item, error) {
	items, err := s.UserUpdateMany(ctx, acc, []string{key}, payload)
	if err != nil {
		return nil, err
	}
	return items[0], nil
}

// UserDeleteMany deletes users by id; their sessions go with them.
func (s *Service) UserDeleteMany(ctx context.Context, acc *hooks.Accountability, keys []string) error {
	if err := requireAdmin(acc); err != nil {
		return err
	}
	ids, err := userResource.ids(keys)
	if err != nil {
		return err
	}
	return s.inEventTx(ctx, func(tx pgx.Tx) error {
		_, err := s.writeKeepingAdminTx(ctx, tx, &write{scope: "users", action: "delete", collection: "directus_users",
			acc: acc, payload: anyKeys(ids), keys: anyKeys(ids),
			apply: func(any) ([]change, error) { return userResource.deleteChanges(ctx, tx, ids) }})
		return err
	})
}

// UserRead returns one user.
func (s *Service) UserRead(ctx context.Context, acc *hooks.Accountability, key string) (hooks.Item, error) {
	return userResource.read(ctx, s.pool, acc, key)
}

// UserMe returns the user acc belongs to; 401 INVALID_CREDENTIALS for the
// public role, as Directus answers /users/me.
func (s *Service) UserMe(ctx context.Context, acc *hooks.Accountability) (hooks.Item, error) {
	if acc == nil || acc.User == "" {
		return nil, hooks.InvalidCredentials()
	}
	u, err := store.UserByID(ctx, s.pool, acc.User)
	if errors.Is(err, store.ErrNotFound) {
		return nil, hooks.InvalidCredentials()
	}
	if err != nil {
		return nil, err
	}
	return UserItem(u), nil
}

// UserList lists users.
func (s *Service) UserList(ctx context.Context, acc *hooks.Accountability, lp *ListParams) ([]hooks.Item, map[string]any, error) {
	return userResource.listItems(ctx, s.pool, acc, lp)
}

// UserPasswordSet sets the password of the user with email (the `hookd
// users passwd` command); system access, through the users.update path.
func (s *Service) UserPasswordSet(ctx context.Context, email, password string) error {
	u, err := store.UserLoginByEmail(ctx, s.pool, email)
	if err != nil {
		return fmt.Errorf("user %q: %w", email, err)
	}
	_, err = s.UserUpdate(ctx, nil, u.ID, map[string]any{"password": password})
	return err
}
