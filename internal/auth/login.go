package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookd/hookd/hooks"
	"github.com/hookd/hookd/internal/store"
)

// provider is the only authentication provider: email and password.
const provider = "default"

// LoginMeta describes where a login or refresh comes from.
type LoginMeta struct {
	IP        string
	UserAgent string
	Origin    string
	// Mode is the login mode (json, cookie, session); it is part of the
	// auth.login filter payload. "session" makes the access token a session
	// token: checked against its session on every use, so logout and
	// suspension end it at once, and it lives as long as the session.
	Mode string
}

// accountabilityFor builds the accountability of a user.
func accountabilityFor(u *store.UserLogin, meta *LoginMeta) *hooks.Accountability {
	acc := &hooks.Accountability{User: u.ID, Admin: u.AdminAccess, App: u.AppAccess}
	if u.Role != nil {
		acc.Role = *u.Role
	}
	if meta != nil {
		acc.IP, acc.UserAgent, acc.Origin = meta.IP, meta.UserAgent, meta.Origin
	}
	return acc
}

// Login checks an email and password and opens a refresh session.
//
// Unknown emails, users without a password and wrong passwords all cost one
// argon2id verification and answer 401 INVALID_CREDENTIALS; a suspended (or
// otherwise inactive) user is refused only after the password was verified.
// Attempts are counted per IP and per account before anything else (429
// REQUESTS_EXCEEDED beyond the limit).
func (s *Service) Login(ctx context.Context, email, password string, meta LoginMeta) (*Tokens, *hooks.Accountability, error) {
	if err := s.loginRateCheck(ctx, meta.IP, email); err != nil {
		return nil, nil, err
	}
	user, err := store.UserLoginByEmail(ctx, s.pool, email)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, nil, fmt.Errorf("looking up login user: %w", err)
	}
	var userID any
	if user != nil {
		userID = user.ID
	}
	payload := map[string]any{"email": email, "password": password}
	if meta.Mode != "" {
		payload["mode"] = meta.Mode
	}
	if s.hooks != nil {
		var acc *hooks.Accountability
		if user != nil {
			acc = accountabilityFor(user, &meta)
		}
		out, err := s.hooks.Filter(ctx, []string{"auth.login"}, payload,
			hooks.Meta{Event: "auth.login", Extra: map[string]any{"status": "pending", "user": userID, "provider": provider}},
			hooks.EventContext{Database: s.pool, Accountability: acc})
		if err != nil {
			s.loginFailed(ctx, user, email, err)
			return nil, nil, err
		}
		// A filter may rewrite the credentials (Directus checks the
		// filtered password).
		if m, ok := out.(map[string]any); ok {
			if pw, ok := m["password"].(string); ok {
				password = pw
			}
		}
	}

	hash := s.dummyHash
	if user != nil && user.PasswordHash != nil {
		hash = *user.PasswordHash
	}
	ok, verr := VerifyPassword(password, hash)
	if verr != nil {
		// A corrupt stored hash: refuse like a wrong password, after the
		// same work, and say so in the log (not to the client).
		s.logger.ErrorContext(ctx, "stored password hash is unreadable", slog.String("user", fmt.Sprint(userID)),
			slog.Any("error", verr))
		_, _ = VerifyPassword(password, s.dummyHash)
	}
	if !ok || user == nil || user.PasswordHash == nil {
		err := hooks.InvalidCredentials()
		s.loginFailed(ctx, user, email, err)
		return nil, nil, err
	}
	if user.Status != "active" {
		err := hooks.InvalidCredentials()
		if user.Status == "suspended" {
			err = ErrUserSuspended()
		}
		s.loginFailed(ctx, user, email, err)
		return nil, nil, err
	}

	acc := accountabilityFor(user, &meta)
	var tokens *Tokens
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		if tokens, err = s.openSessionTx(ctx, tx, user, &meta, "login"); err != nil {
			return err
		}
		if err := store.UserTouch(ctx, tx, user.ID); err != nil {
			return err
		}
		// Expired sessions are removed a batch at a time by the logins
		// that create new ones.
		if err := store.SessionPurge(ctx, tx); err != nil {
			return err
		}
		return s.loginActionsTx(ctx, tx, user.ID, email, "success")
	})
	if err != nil {
		return nil, nil, err
	}
	return tokens, acc, nil
}

// loginFailed enqueues the auth.login actions with status fail. A failure
// to do so is logged, never hides the login's own error.
func (s *Service) loginFailed(ctx context.Context, user *store.UserLogin, email string, cause error) {
	if s.hooks == nil {
		return
	}
	var userID string
	if user != nil {
		userID = user.ID
	}
	err := s.inTx(context.WithoutCancel(ctx), func(tx pgx.Tx) error {
		return s.loginActionsTx(ctx, tx, userID, email, "fail")
	})
	if err != nil {
		s.logger.WarnContext(ctx, "enqueueing auth.login actions", slog.Any("error", err),
			slog.String("login_error", cause.Error()))
	}
}

// loginActionsTx enqueues the auth.login actions (Directus's meta: payload,
// status, user, provider). The payload is the email only: a password never
// reaches a job row. Logins write no hookd_event row; the job carries meta.
func (s *Service) loginActionsTx(ctx context.Context, tx pgx.Tx, userID, email, status string) error {
	if s.hooks == nil {
		return nil
	}
	var user any
	if userID != "" {
		user = userID
	}
	return s.hooks.EnqueueActionsTx(ctx, tx, []string{"auth.login"}, hooks.Meta{Event: "auth.login",
		Collection: "directus_users", Key: user, Payload: map[string]any{"email": email},
		Extra: map[string]any{"status": status, "user": user, "provider": provider}})
}

// openSessionTx stores a new refresh session for user and issues the tokens.
// kind is "login" or "refresh" (the auth.jwt filter's meta.type).
func (s *Service) openSessionTx(ctx context.Context, tx pgx.Tx, user *store.UserLogin, meta *LoginMeta, kind string) (*Tokens, error) {
	refresh, err := newOpaqueToken()
	if err != nil {
		return nil, err
	}
	now := s.now()
	hash := tokenHash(refresh)
	if err := store.SessionInsert(ctx, tx, &store.SessionInsertParams{TokenHash: hash, User: user.ID,
		Expires: now.Add(s.refreshTTL), IP: meta.IP, UserAgent: meta.UserAgent}); err != nil {
		return nil, fmt.Errorf("storing session: %w", err)
	}
	claims := map[string]any{"id": user.ID, "role": nil, "app_access": user.AppAccess, "admin_access": user.AdminAccess}
	if user.Role != nil {
		claims["role"] = *user.Role
	}
	ttl := s.accessTTL
	if meta.Mode == "session" {
		claims["session"] = sessionClaim(hash)
		ttl = s.refreshTTL
	}
	if s.hooks != nil {
		out, err := s.hooks.Filter(ctx, []string{"auth.jwt"}, claims,
			hooks.Meta{Event: "auth.jwt", Extra: map[string]any{"status": "pending", "user": user.ID,
				"provider": provider, "type": kind}},
			hooks.EventContext{Database: tx, Accountability: accountabilityFor(user, meta)})
		if err != nil {
			return nil, err
		}
		if m, ok := out.(map[string]any); ok {
			claims = m
		}
	}
	access, exp, err := s.signClaims(claims, now, ttl)
	if err != nil {
		return nil, err
	}
	return &Tokens{AccessToken: access, RefreshToken: refresh, Expires: ttl.Milliseconds(), ExpiresAt: exp}, nil
}

// Refresh exchanges a refresh token for new tokens. The token is consumed:
// using it again (or concurrently) answers 401 INVALID_CREDENTIALS, as do an
// expired session and a user who is no longer active.
func (s *Service) Refresh(ctx context.Context, refreshToken string) (*Tokens, *hooks.Accountability, error) {
	if refreshToken == "" {
		return nil, nil, hooks.InvalidCredentials()
	}
	return s.refresh(ctx, tokenHash(refreshToken), nil)
}

// RefreshWithMeta is Refresh recording where the new session comes from;
// meta.Mode "session" issues a session token.
func (s *Service) RefreshWithMeta(ctx context.Context, refreshToken string, meta LoginMeta) (*Tokens, *hooks.Accountability, error) {
	if refreshToken == "" {
		return nil, nil, hooks.InvalidCredentials()
	}
	return s.refresh(ctx, tokenHash(refreshToken), &meta)
}

// RefreshSession renews the session behind a session token (the session
// cookie), whose signature is checked; an expired one is refused.
func (s *Service) RefreshSession(ctx context.Context, sessionToken string, meta LoginMeta) (*Tokens, *hooks.Accountability, error) {
	hash, err := s.sessionHash(sessionToken)
	if err != nil {
		return nil, nil, err
	}
	meta.Mode = "session"
	return s.refresh(ctx, hash, &meta)
}

// sessionHash verifies a session token and returns its session's key.
func (s *Service) sessionHash(sessionToken string) ([]byte, error) {
	claims, ours, err := s.verifyAccessToken(sessionToken)
	if !ours {
		return nil, hooks.InvalidCredentials()
	}
	if err != nil {
		return nil, err
	}
	hash, ok := sessionHashFromClaim(claims.Session)
	if !ok {
		return nil, hooks.InvalidCredentials()
	}
	return hash, nil
}

func (s *Service) refresh(ctx context.Context, hash []byte, meta *LoginMeta) (*Tokens, *hooks.Accountability, error) {
	var tokens *Tokens
	var acc *hooks.Accountability
	var refused bool
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		sess, err := store.SessionTake(ctx, tx, hash)
		if errors.Is(err, store.ErrNotFound) {
			refused = true
			return nil
		}
		if err != nil {
			return err
		}
		user, err := store.UserLoginByID(ctx, tx, sess.User)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		// The consumed row stays consumed: an expired session or an
		// inactive user's session is gone for good.
		if sess.Expires.Before(s.now()) || user == nil || user.Status != "active" {
			refused = true
			return nil
		}
		m := meta
		if m == nil {
			m = &LoginMeta{IP: sess.IP, UserAgent: sess.UserAgent}
		}
		if tokens, err = s.openSessionTx(ctx, tx, user, m, "refresh"); err != nil {
			return err
		}
		acc = accountabilityFor(user, m)
		return store.UserTouch(ctx, tx, user.ID)
	})
	if err != nil {
		return nil, nil, err
	}
	if refused {
		return nil, nil, hooks.InvalidCredentials()
	}
	return tokens, acc, nil
}

// Logout ends the session of a refresh token. An unknown token is not an
// error: the session is gone either way.
func (s *Service) Logout(ctx context.Context, refreshToken string) error {
	return store.SessionDelete(ctx, s.pool, tokenHash(refreshToken))
}

// LogoutSession ends the session behind a session token.
func (s *Service) LogoutSession(ctx context.Context, sessionToken string) error {
	hash, err := s.sessionHash(sessionToken)
	if err != nil {
		return err
	}
	return store.SessionDelete(ctx, s.pool, hash)
}

// AuthenticateToken resolves an access token, a session token or a static
// token to its accountability (without IP, user agent and origin, which the
// caller adds). expiresAt is when the token stops being valid: the JWT's exp
// (for a session token, the session's end), nil for static tokens.
//
// Errors: 401 TOKEN_EXPIRED for an expired JWT, 401 INVALID_TOKEN for a
// malformed or badly signed one, 401 INVALID_CREDENTIALS for an unknown
// static token or an ended session (Directus's codes).
func (s *Service) AuthenticateToken(ctx context.Context, token string) (*hooks.Accountability, *time.Time, error) {
	token = strings.TrimSpace(token)
	if token == "" {
		return nil, nil, ErrInvalidToken()
	}
	if claims, ours, err := s.verifyAccessToken(token); ours {
		if err != nil {
			return nil, nil, err
		}
		if claims.Session == "" {
			acc := &hooks.Accountability{User: claims.ID, Role: claims.Role, Admin: claims.AdminAccess, App: claims.AppAccess}
			exp := claims.ExpiresAt
			return acc, &exp, nil
		}
		hash, ok := sessionHashFromClaim(claims.Session)
		if !ok {
			return nil, nil, ErrInvalidToken()
		}
		user, expires, err := store.SessionActive(ctx, s.pool, hash)
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil, hooks.InvalidCredentials()
		}
		if err != nil {
			return nil, nil, fmt.Errorf("checking session: %w", err)
		}
		exp := claims.ExpiresAt
		if expires.Before(exp) {
			exp = expires
		}
		return accountabilityFor(user, nil), &exp, nil
	}
	user, err := store.UserLoginByTokenHash(ctx, s.pool, tokenHash(token))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, hooks.InvalidCredentials()
	}
	if err != nil {
		return nil, nil, fmt.Errorf("checking static token: %w", err)
	}
	return accountabilityFor(user, nil), nil, nil
}

// loginRateCheck counts one attempt for the IP and one for the account and
// refuses when either is over the limit. The counters live in Postgres, so
// the limit holds across instances.
func (s *Service) loginRateCheck(ctx context.Context, ip, email string) error {
	if s.rateLimit == 0 {
		return nil
	}
	keys := []string{"account:" + strings.ToLower(strings.TrimSpace(email))}
	if ip != "" {
		keys = append(keys, "ip:"+ip)
	}
	var worst time.Time
	exceeded := false
	for _, key := range keys {
		n, reset, err := store.LoginAttemptHit(ctx, s.pool, key, s.rateWindow)
		if err != nil {
			return fmt.Errorf("counting login attempt: %w", err)
		}
		if n > s.rateLimit {
			exceeded = true
			if reset.After(worst) {
				worst = reset
			}
		}
	}
	if err := store.LoginAttemptPurge(ctx, s.pool, s.rateWindow); err != nil {
		s.logger.WarnContext(ctx, "purging login attempts", slog.Any("error", err))
	}
	if exceeded {
		return ErrRequestsExceeded(s.rateLimit, worst)
	}
	return nil
}
