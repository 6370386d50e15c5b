// Package auth is hookd's users, roles, permissions and authentication:
// argon2id passwords, login with per-IP and per-account rate limits held in
// Postgres, HS256 access tokens shaped like Directus's, rotating refresh
// sessions, session cookies, static tokens, the accountability every request
// and socket carries, and the permission source the item service enforces.
//
// Users, roles and permissions are written through one path that runs the
// `users.*`, `roles.*` and `permissions.*` filters inside the transaction,
// appends hookd_event rows and enqueues durable action hooks in the same
// transaction, as items are.
package auth
