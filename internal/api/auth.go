package api

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/hookd/hookd/hooks"
	"github.com/hookd/hookd/internal/auth"
)

// AuthConfig configures NewAuth.
type AuthConfig struct {
	// Service authenticates and manages users, roles and permissions.
	// Required.
	Service *auth.Service
	// Logger receives the causes of 5xx errors in the middleware. Required.
	Logger *slog.Logger
	// RefreshCookieName is the refresh cookie (cookie mode). Default
	// directus_refresh_token.
	RefreshCookieName string
	// SessionCookieName is the session cookie (session mode). Default
	// directus_session_token.
	SessionCookieName string
	// RefreshTokenTTL is the refresh and session cookies' Max-Age. Default 7d.
	RefreshTokenTTL time.Duration
	// CookieSecure marks the cookies Secure (set it when served over HTTPS).
	// Default false.
	CookieSecure bool
	// QueryLimitDefault is the page size of /users, /roles and /permissions
	// lists without `limit`. Default 100. QueryLimitMax caps `limit`
	// (-1 or 0: no cap), as for items.
	QueryLimitDefault, QueryLimitMax int
}

// Auth is the authentication middleware and the /auth, /users, /roles and
// /permissions routes.
type Auth struct {
	svc           *auth.Service
	logger        *slog.Logger
	refreshCookie string
	sessionCookie string
	cookieTTL     time.Duration
	cookieSecure  bool
	limitDefault  int
	limitMax      int
}

// NewAuth builds the middleware and routes.
func NewAuth(cfg *AuthConfig) (*Auth, error) {
	if cfg.Service == nil || cfg.Logger == nil {
		return nil, errors.New("api: AuthConfig.Service and Logger are required")
	}
	if cfg.QueryLimitDefault < 0 {
		return nil, fmt.Errorf("api: AuthConfig.QueryLimitDefault must not be negative, got %d", cfg.QueryLimitDefault)
	}
	return &Auth{
		svc:           cfg.Service,
		logger:        cfg.Logger,
		refreshCookie: cmp.Or(cfg.RefreshCookieName, "directus_refresh_token"),
		sessionCookie: cmp.Or(cfg.SessionCookieName, "directus_session_token"),
		cookieTTL:     cmp.Or(cfg.RefreshTokenTTL, 7*24*time.Hour),
		cookieSecure:  cfg.CookieSecure,
		limitDefault:  cmp.Or(cfg.QueryLimitDefault, 100),
		limitMax:      cfg.QueryLimitMax,
	}, nil
}

// Middleware resolves the request's token — `Authorization: Bearer`, then
// `?access_token=`, then the session cookie — to its accountability (with
// the client's IP, user agent and origin) and stores it with
// WithAccountability. No token means the public role; a bad or expired one
// is refused with 401 (INVALID_TOKEN, TOKEN_EXPIRED, INVALID_CREDENTIALS),
// and a bad session cookie is cleared so the browser can log in again.
func (a *Auth) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, fromCookie := a.requestToken(r)
		acc := &hooks.Accountability{}
		if token != "" {
			resolved, _, err := a.svc.AuthenticateToken(r.Context(), token)
			if err != nil {
				if fromCookie {
					a.clearCookie(w, a.sessionCookie)
				}
				he := PublicError(err)
				if he.Status >= 500 {
					a.logger.ErrorContext(r.Context(), "authenticating request failed",
						slog.String("request_id", middleware.GetReqID(r.Context())), slog.Any("error", err))
				}
				WriteErrors(w, he.Status, he)
				return
			}
			acc = resolved
		}
		acc.IP, acc.UserAgent, acc.Origin = clientIP(r), r.UserAgent(), r.Header.Get("Origin")
		next.ServeHTTP(w, r.WithContext(WithAccountability(r.Context(), acc)))
	})
}

// requestToken finds the access token of a request.
func (a *Auth) requestToken(r *http.Request) (token string, fromSessionCookie bool) {
	if h := r.Header.Get("Authorization"); h != "" {
		if scheme, rest, ok := strings.Cut(h, " "); ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(rest), false
		}
	}
	if t := r.URL.Query().Get("access_token"); t != "" {
		return t, false
	}
	if c, err := r.Cookie(a.sessionCookie); err == nil && c.Value != "" {
		return c.Value, true
	}
	return "", false
}

// clientIP is the peer's address. Forwarding headers are not trusted: they
// are the client's to forge, and the login rate limit keys on this.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// Routes mounts /auth, /users, /roles and /permissions (Config.Mount).
func (a *Auth) Routes(s *Server, r chi.Router) {
	r.Route("/auth", func(r chi.Router) {
		r.Post("/login", s.Handle(a.login))
		r.Post("/refresh", s.Handle(a.refresh))
		r.Post("/logout", s.Handle(a.logout))
	})
	a.userRoutes(s, r)
	a.roleRoutes(s, r)
	a.permissionRoutes(s, r)
}

// authBody is the body of /auth/login, /auth/refresh and /auth/logout.
type authBody struct {
	Email        *string `json:"email"`
	Password     *string `json:"password"`
	Mode         string  `json:"mode"`
	RefreshToken string  `json:"refresh_token"`
	// OTP is accepted for SDK compatibility; hookd has no two-factor
	// authentication, so it is ignored.
	OTP string `json:"otp"`
}

// readAuthBody decodes an auth body strictly; an empty body is an empty
// object (refresh and logout may rely on cookies alone).
func readAuthBody(r *http.Request) (*authBody, error) {
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, err
		}
		return nil, hooks.InvalidPayload("The request body could not be read").WithCause(err)
	}
	b := &authBody{}
	if len(bytes.TrimSpace(raw)) == 0 {
		return b, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(b); err != nil {
		return nil, hooks.InvalidPayload(authBodyError(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, hooks.InvalidPayload("Malformed JSON: trailing data after the value")
	}
	switch b.Mode {
	case "", "json", "cookie", "session":
	default:
		return nil, hooks.InvalidPayload(`"mode" must be one of json, cookie, session`)
	}
	return b, nil
}

func authBodyError(err error) string {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) && typeErr.Field != "" {
		return fmt.Sprintf("%q must be a %s", typeErr.Field, typeErr.Type.String())
	}
	if field, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return field + " is not allowed"
	}
	return "Malformed JSON: " + err.Error()
}

func loginMeta(r *http.Request, mode string) auth.LoginMeta {
	return auth.LoginMeta{IP: clientIP(r), UserAgent: r.UserAgent(), Origin: r.Header.Get("Origin"), Mode: mode}
}

func (a *Auth) login(w http.ResponseWriter, r *http.Request) error {
	b, err := readAuthBody(r)
	if err != nil {
		return err
	}
	if b.Email == nil || *b.Email == "" {
		return hooks.InvalidPayload(`"email" is required`)
	}
	if b.Password == nil || *b.Password == "" {
		return hooks.InvalidPayload(`"password" is required`)
	}
	mode := cmp.Or(b.Mode, "json")
	tokens, _, err := a.svc.Login(r.Context(), *b.Email, *b.Password, loginMeta(r, mode))
	if err != nil {
		return err
	}
	a.writeTokens(w, mode, tokens)
	return nil
}

// writeTokens answers a login or refresh in mode: json returns both tokens;
// cookie sets the refresh cookie and returns the access token; session sets
// the session cookie and returns only the expiry.
func (a *Auth) writeTokens(w http.ResponseWriter, mode string, t *auth.Tokens) {
	data := map[string]any{"expires": t.Expires}
	switch mode {
	case "cookie":
		a.setCookie(w, a.refreshCookie, t.RefreshToken)
		data["access_token"] = t.AccessToken
	case "session":
		a.setCookie(w, a.sessionCookie, t.AccessToken)
	default:
		data["access_token"] = t.AccessToken
		data["refresh_token"] = t.RefreshToken
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{"data": data})
}

func (a *Auth) setCookie(w http.ResponseWriter, name, value string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", HttpOnly: true, Secure: a.cookieSecure,
		SameSite: http.SameSiteLaxMode, MaxAge: int(a.cookieTTL / time.Second)})
}

func (a *Auth) clearCookie(w http.ResponseWriter, name string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", HttpOnly: true, Secure: a.cookieSecure,
		SameSite: http.SameSiteLaxMode, MaxAge: -1})
}

func cookieValue(r *http.Request, name string) string {
	if c, err := r.Cookie(name); err == nil {
		return c.Value
	}
	return ""
}

var errRefreshTokenRequired = hooks.InvalidPayload("The refresh token is required in either the payload or cookie")

// sessionInput reads a refresh or logout request: its body, the refresh
// token (the body's, else the refresh cookie) and the session cookie.
func (a *Auth) sessionInput(r *http.Request) (b *authBody, token, session string, err error) {
	if b, err = readAuthBody(r); err != nil {
		return nil, "", "", err
	}
	token = b.RefreshToken
	if token == "" {
		token = cookieValue(r, a.refreshCookie)
	}
	return b, token, cookieValue(r, a.sessionCookie), nil
}

func (a *Auth) refresh(w http.ResponseWriter, r *http.Request) error {
	b, token, session, err := a.sessionInput(r)
	if err != nil {
		return err
	}
	mode := b.Mode
	if mode == "" {
		switch {
		case b.RefreshToken != "":
			mode = "json"
		case token != "":
			mode = "cookie"
		case session != "":
			mode = "session"
		default:
			mode = "json"
		}
	}
	var tokens *auth.Tokens
	switch {
	case token != "":
		tokens, _, err = a.svc.RefreshWithMeta(r.Context(), token, loginMeta(r, mode))
	case mode == "session" && session != "":
		tokens, _, err = a.svc.RefreshSession(r.Context(), session, loginMeta(r, mode))
	default:
		return errRefreshTokenRequired
	}
	if err != nil {
		return err
	}
	a.writeTokens(w, mode, tokens)
	return nil
}

func (a *Auth) logout(w http.ResponseWriter, r *http.Request) error {
	_, token, session, err := a.sessionInput(r)
	if err != nil {
		return err
	}
	switch {
	case token != "":
		err = a.svc.Logout(r.Context(), token)
	case session != "":
		err = a.svc.LogoutSession(r.Context(), session)
	default:
		return errRefreshTokenRequired
	}
	if err != nil {
		return err
	}
	a.clearCookie(w, a.refreshCookie)
	a.clearCookie(w, a.sessionCookie)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
