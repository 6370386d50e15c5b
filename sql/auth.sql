-- Users, roles, permissions, sessions and login rate limits (internal/store/auth*.go).

-- name: AuthUserInsert
INSERT INTO hookd_users (id, email, password, first_name, last_name, role, status, token_hash)
VALUES (coalesce($1::uuid, gen_random_uuid()), $2, $3, $4, $5, $6, coalesce($7, 'active'), $8)
RETURNING id, email, password, first_name, last_name, role, status, token_hash IS NOT NULL, last_access;

-- name: AuthUserByID
SELECT id, email, password, first_name, last_name, role, status, token_hash IS NOT NULL, last_access
FROM hookd_users WHERE id = $1;

-- name: AuthUserByIDForUpdate
SELECT id, email, password, first_name, last_name, role, status, token_hash IS NOT NULL, last_access
FROM hookd_users WHERE id = $1 FOR UPDATE;

-- name: AuthUsersByIDs
-- The users with these ids, in the order given (a list page's keys).
SELECT u.id, u.email, u.password, u.first_name, u.last_name, u.role, u.status, u.token_hash IS NOT NULL, u.last_access
FROM unnest($1::uuid[]) WITH ORDINALITY AS k(id, ord) JOIN hookd_users u ON u.id = k.id ORDER BY k.ord;

-- name: AuthUserCount
SELECT count(*) FROM hookd_users;

-- name: AuthUserLoginByEmail
-- The user a login names, with the role's access flags.
SELECT u.id, u.email, u.password, u.role, u.status,
       coalesce(r.admin_access, false), coalesce(r.app_access, false)
FROM hookd_users u LEFT JOIN hookd_roles r ON r.id = u.role
WHERE lower(u.email) = lower($1);

-- name: AuthUserLoginByID
SELECT u.id, u.email, u.password, u.role, u.status,
       coalesce(r.admin_access, false), coalesce(r.app_access, false)
FROM hookd_users u LEFT JOIN hookd_roles r ON r.id = u.role
WHERE u.id = $1;

-- name: AuthUserLoginByToken
-- The active user owning a static token (by its SHA-256).
SELECT u.id, u.email, u.password, u.role, u.status,
       coalesce(r.admin_access, false), coalesce(r.app_access, false)
FROM hookd_users u LEFT JOIN hookd_roles r ON r.id = u.role
WHERE u.token_hash = $1 AND u.status = 'active';

-- name: AuthUserUpdate
-- Each column changes only when its flag is true, so one statement serves
-- any partial update (including setting a column to NULL).
UPDATE hookd_users SET
    email      = CASE WHEN $2::boolean  THEN $3  ELSE email END,
    password   = CASE WHEN $4::boolean  THEN $5  ELSE password END,
    first_name = CASE WHEN $6::boolean  THEN $7  ELSE first_name END,
    last_name  = CASE WHEN $8::boolean  THEN $9  ELSE last_name END,
    role       = CASE WHEN $10::boolean THEN $11::uuid ELSE role END,
    status     = CASE WHEN $12::boolean THEN $13 ELSE status END,
    token_hash = CASE WHEN $14::boolean THEN $15::bytea ELSE token_hash END
WHERE id = $1
RETURNING id, email, password, first_name, last_name, role, status, token_hash IS NOT NULL, last_access;

-- name: AuthUserDelete
DELETE FROM hookd_users WHERE id = $1
RETURNING id, email, password, first_name, last_name, role, status, token_hash IS NOT NULL, last_access;

-- name: AuthUserTouch
UPDATE hookd_users SET last_access = now() WHERE id = $1;

-- name: AuthUserSetPasswordByEmail
UPDATE hookd_users SET password = $2 WHERE lower(email) = lower($1)
RETURNING id, email, password, first_name, last_name, role, status, token_hash IS NOT NULL, last_access;

-- name: AuthActiveAdminCount
-- Active users whose role has admin access: must never drop to zero through
-- the API, or nobody could manage users again.
SELECT count(*) FROM hookd_users u JOIN hookd_roles r ON r.id = u.role
WHERE r.admin_access AND u.status = 'active';

-- name: AuthAdminLock
-- Serialises writes to users and roles, so the last-admin check and the
-- first-admin bootstrap see every concurrent change.
SELECT pg_advisory_xact_lock(hashtextextended('hookd_auth_admin', 0));

-- name: AuthRoleInsert
INSERT INTO hookd_roles (id, name, icon, description, admin_access, app_access)
VALUES (coalesce($1::uuid, gen_random_uuid()), $2, coalesce($3, 'supervised_user_circle'), $4,
        coalesce($5, false), coalesce($6, false))
RETURNING id, name, icon, description, admin_access, app_access;

-- name: AuthRoleByID
SELECT id, name, icon, description, admin_access, app_access FROM hookd_roles WHERE id = $1;

-- name: AuthRoleByName
SELECT id, name, icon, description, admin_access, app_access FROM hookd_roles
WHERE name = $1 ORDER BY id LIMIT 1;

-- name: AuthRolesByIDs
-- The roles with these ids, in the order given (a list page's keys).
SELECT r.id, r.name, r.icon, r.description, r.admin_access, r.app_access
FROM unnest($1::uuid[]) WITH ORDINALITY AS k(id, ord) JOIN hookd_roles r ON r.id = k.id ORDER BY k.ord;

-- name: AuthRoleUpdate
UPDATE hookd_roles SET
    name         = CASE WHEN $2::boolean  THEN $3  ELSE name END,
    icon         = CASE WHEN $4::boolean  THEN $5  ELSE icon END,
    description  = CASE WHEN $6::boolean  THEN $7  ELSE description END,
    admin_access = CASE WHEN $8::boolean  THEN $9  ELSE admin_access END,
    app_access   = CASE WHEN $10::boolean THEN $11 ELSE app_access END
WHERE id = $1
RETURNING id, name, icon, description, admin_access, app_access;

-- name: AuthRoleDelete
DELETE FROM hookd_roles WHERE id = $1
RETURNING id, name, icon, description, admin_access, app_access;

-- name: AuthPermissionInsert
INSERT INTO hookd_permissions (role, collection, action, permissions, validation, presets, fields)
VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING id, role, collection, action, permissions, validation, presets, fields;

-- name: AuthPermissionByID
SELECT id, role, collection, action, permissions, validation, presets, fields
FROM hookd_permissions WHERE id = $1;

-- name: AuthPermissionFind
-- The permission of one role (NULL = public) for one collection and action.
SELECT id, role, collection, action, permissions, validation, presets, fields
FROM hookd_permissions
WHERE role IS NOT DISTINCT FROM $1::uuid AND collection = $2 AND action = $3;

-- name: AuthPermissionsByIDs
-- The permissions with these ids, in the order given (a list page's keys).
SELECT p.id, p.role, p.collection, p.action, p.permissions, p.validation, p.presets, p.fields
FROM unnest($1::bigint[]) WITH ORDINALITY AS k(id, ord) JOIN hookd_permissions p ON p.id = k.id ORDER BY k.ord;

-- name: AuthPermissionUpdate
UPDATE hookd_permissions SET
    role        = CASE WHEN $2::boolean  THEN $3::uuid  ELSE role END,
    collection  = CASE WHEN $4::boolean  THEN $5  ELSE collection END,
    action      = CASE WHEN $6::boolean  THEN $7  ELSE action END,
    permissions = CASE WHEN $8::boolean  THEN $9::jsonb  ELSE permissions END,
    validation  = CASE WHEN $10::boolean THEN $11::jsonb ELSE validation END,
    presets     = CASE WHEN $12::boolean THEN $13::jsonb ELSE presets END,
    fields      = CASE WHEN $14::boolean THEN $15::text[] ELSE fields END
WHERE id = $1
RETURNING id, role, collection, action, permissions, validation, presets, fields;

-- name: AuthPermissionDelete
DELETE FROM hookd_permissions WHERE id = $1
RETURNING id, role, collection, action, permissions, validation, presets, fields;

-- name: AuthSessionInsert
INSERT INTO hookd_sessions (token_hash, "user", expires, ip, user_agent)
VALUES ($1, $2, $3, $4, $5);

-- name: AuthSessionTake
-- Consumes a refresh token: the row is deleted, so a second use (or a
-- concurrent one) finds nothing. Expired rows are consumed too, and refused
-- by the caller.
DELETE FROM hookd_sessions WHERE token_hash = $1
RETURNING "user", expires, coalesce(ip, ''), coalesce(user_agent, '');

-- name: AuthSessionDelete
DELETE FROM hookd_sessions WHERE token_hash = $1;

-- name: AuthSessionDeleteForUser
DELETE FROM hookd_sessions WHERE "user" = $1;

-- name: AuthSessionActive
-- The live session behind a session cookie, with its user if still active.
SELECT u.id, u.email, u.password, u.role, u.status,
       coalesce(r.admin_access, false), coalesce(r.app_access, false), s.expires
FROM hookd_sessions s
JOIN hookd_users u ON u.id = s."user"
LEFT JOIN hookd_roles r ON r.id = u.role
WHERE s.token_hash = $1 AND s.expires > now() AND u.status = 'active';

-- name: AuthSessionPurge
-- Removes a bounded batch of expired sessions.
DELETE FROM hookd_sessions WHERE ctid IN (
    SELECT ctid FROM hookd_sessions WHERE expires < now() LIMIT 100);

-- name: AuthLoginAttemptHit
-- Counts one attempt for key in the fixed window of length $2 (an interval)
-- and returns the attempts so far and when the window ends.
INSERT INTO hookd_login_attempts AS a (key, window_start, attempts)
VALUES ($1, now(), 1)
ON CONFLICT (key) DO UPDATE SET
    window_start = CASE WHEN a.window_start <= now() - $2::interval THEN now() ELSE a.window_start END,
    attempts     = CASE WHEN a.window_start <= now() - $2::interval THEN 1 ELSE a.attempts + 1 END
RETURNING attempts, window_start + $2::interval;

-- name: AuthLoginAttemptPurge
-- Removes a bounded batch of windows that have ended.
DELETE FROM hookd_login_attempts WHERE ctid IN (
    SELECT ctid FROM hookd_login_attempts WHERE window_start < now() - $1::interval LIMIT 100);
