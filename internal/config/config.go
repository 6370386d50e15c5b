// Package config reads hookd's settings from the environment.
//
// Names follow Directus where Directus has one (HOST, PORT, PUBLIC_URL,
// SECRET, DB_CONNECTION_STRING, WEBSOCKETS_*, EXTENSIONS_PATH, …) so a
// Directus .env mostly carries over. Every value is validated at start and a
// bad one is reported with the variable's name.
package config

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"
)

// Config is the whole of hookd's configuration.
type Config struct {
	// Host is the address to listen on. Env HOST, default "0.0.0.0".
	Host string
	// Port is the HTTP port. Env PORT, default 8055.
	Port int
	// PublicURL is the externally visible base URL. Env PUBLIC_URL, default "/".
	PublicURL string
	// Secret signs access tokens. Env SECRET; when unset a random one is
	// generated (tokens then die with the process and do not cross instances)
	// and SecretGenerated is true.
	Secret          string
	SecretGenerated bool

	// DatabaseURL is the Postgres connection string. Env DB_CONNECTION_STRING
	// or DATABASE_URL. Empty means "use the local development cluster", which
	// only cmd/hookd's dev paths and the test harness resolve.
	DatabaseURL string
	// DBSchema is the schema whose tables are collections. Env DB_SCHEMA,
	// default "public".
	DBSchema string
	// DBPoolMax is the pool's maximum size. Env DB_POOL__MAX, default 20.
	DBPoolMax int

	// LogLevel is debug|info|warn|error. Env LOG_LEVEL, default info.
	LogLevel slog.Level
	// LogFormat is text|json. Env LOG_FORMAT, default text.
	LogFormat string

	// MaxPayloadSize limits request bodies in bytes. Env MAX_PAYLOAD_SIZE
	// ("1mb", "512kb", or bytes), default 1 MiB.
	MaxPayloadSize int64
	// ShutdownTimeout bounds graceful shutdown. Env SHUTDOWN_TIMEOUT, default 10s.
	ShutdownTimeout time.Duration
	// AutoMigrate applies migrations when serve starts. Env DB_AUTO_MIGRATE,
	// default true.
	AutoMigrate bool

	// QueryLimitDefault is the default `limit`. Env QUERY_LIMIT_DEFAULT, default 100.
	QueryLimitDefault int
	// QueryLimitMax caps `limit` (-1: no cap). Env QUERY_LIMIT_MAX, default -1.
	QueryLimitMax int

	// AccessTokenTTL is the JWT lifetime. Env ACCESS_TOKEN_TTL, default 15m.
	AccessTokenTTL time.Duration
	// RefreshTokenTTL is the refresh token lifetime. Env REFRESH_TOKEN_TTL, default 7d.
	RefreshTokenTTL time.Duration
	// AdminEmail and AdminPassword create the first admin. Env ADMIN_EMAIL
	// (default admin@example.com), ADMIN_PASSWORD (generated when unset).
	AdminEmail    string
	AdminPassword string
	// RefreshCookieName is the refresh cookie. Env REFRESH_TOKEN_COOKIE_NAME,
	// default directus_refresh_token.
	RefreshCookieName string
	// SessionCookieName is the session cookie. Env SESSION_COOKIE_NAME,
	// default directus_session_token.
	SessionCookieName string
	// LoginRateLimit is the number of login attempts allowed per IP and per
	// account per LoginRateWindow. Env AUTH_LOGIN_RATE_LIMIT (default 25),
	// AUTH_LOGIN_RATE_WINDOW (default 1m).
	LoginRateLimit  int
	LoginRateWindow time.Duration

	// RiverUIEnabled serves River's UI (jobs, queues, hook runs) at
	// /river for admins. Env RIVER_UI_ENABLED, default true.
	RiverUIEnabled bool
	// HookWorkers is how many durable action and schedule hook runs an
	// instance works at once per queue (River's MaxWorkers). A fetch takes
	// at most the free slots, so more workers mean fewer, larger fetches
	// and completions: 200 ran no-op hooks at 1.6–1.9 times the rate of 50
	// (BENCHMARKS.md). Env HOOK_WORKERS, default 200.
	HookWorkers int

	// Websockets configures the realtime endpoint.
	Websockets Websockets
	// RealtimeDispatchInterval and RealtimeDispatchPerSocket bound how the
	// realtime reader spaces its reads of the event log while events stream
	// in to many sockets: up to RealtimeDispatchPerSocket per socket the
	// last read wrote to, at most RealtimeDispatchInterval (realtime.Config).
	// Wider spacing costs stream latency and saves socket writes. Env
	// REALTIME_DISPATCH_INTERVAL (default 100ms), REALTIME_DISPATCH_PER_SOCKET
	// (default 80us).
	RealtimeDispatchInterval  time.Duration
	RealtimeDispatchPerSocket time.Duration

	// ExtensionsPath is the folder of file-based extensions. Env
	// EXTENSIONS_PATH, default ./extensions.
	ExtensionsPath string
	// Extensions lists compiled-in hook extension ids to enable; empty means
	// all. Env EXTENSIONS (comma-separated).
	Extensions []string
}

// Websockets mirrors Directus's WEBSOCKETS_* settings.
type Websockets struct {
	// Enabled: WEBSOCKETS_ENABLED, default true (Directus: false; realtime is
	// the point of hookd).
	Enabled bool
	// RESTEnabled: WEBSOCKETS_REST_ENABLED, default true.
	RESTEnabled bool
	// RESTPath: WEBSOCKETS_REST_PATH, default /websocket.
	RESTPath string
	// RESTAuth: WEBSOCKETS_REST_AUTH, public|handshake|strict, default handshake.
	RESTAuth string
	// RESTAuthTimeout: WEBSOCKETS_REST_AUTH_TIMEOUT in seconds, default 10.
	RESTAuthTimeout time.Duration
	// RESTConnLimit: WEBSOCKETS_REST_CONN_LIMIT, default 0 = unlimited.
	RESTConnLimit int
	// HeartbeatEnabled: WEBSOCKETS_HEARTBEAT_ENABLED, default true.
	HeartbeatEnabled bool
	// HeartbeatPeriod: WEBSOCKETS_HEARTBEAT_PERIOD in seconds, default 30.
	HeartbeatPeriod time.Duration
	// MaxMessageSize: WEBSOCKETS_MAX_MESSAGE_SIZE in bytes, default 1 MiB.
	MaxMessageSize int64
	// RateLimitPoints per RateLimitDuration messages per connection:
	// RATE_LIMITER_WEBSOCKETS_POINTS (default 50), RATE_LIMITER_WEBSOCKETS_DURATION
	// in seconds (default 1). RATE_LIMITER_WEBSOCKETS_ENABLED, default true.
	RateLimitEnabled  bool
	RateLimitPoints   int
	RateLimitDuration time.Duration
}

// Getenv looks a variable up; os.LookupEnv in production, a map in tests.
type Getenv func(key string) (string, bool)

// FromEnv reads the process environment.
func FromEnv() (*Config, error) { return Load(os.LookupEnv) }

// Load builds and validates a Config. The error names every bad variable.
func Load(getenv Getenv) (*Config, error) {
	r := reader{getenv: getenv}
	c := &Config{
		Host:              r.str("HOST", "0.0.0.0"),
		Port:              r.intRange("PORT", 8055, 0, 65535),
		PublicURL:         r.str("PUBLIC_URL", "/"),
		Secret:            r.str("SECRET", ""),
		DatabaseURL:       r.str("DB_CONNECTION_STRING", r.str("DATABASE_URL", "")),
		DBSchema:          r.str("DB_SCHEMA", "public"),
		DBPoolMax:         r.intRange("DB_POOL__MAX", 20, 1, 10000),
		LogLevel:          r.level("LOG_LEVEL", slog.LevelInfo),
		LogFormat:         r.oneOf("LOG_FORMAT", "text", "text", "json"),
		MaxPayloadSize:    r.size("MAX_PAYLOAD_SIZE", 1<<20),
		ShutdownTimeout:   r.duration("SHUTDOWN_TIMEOUT", 10*time.Second),
		AutoMigrate:       r.boolean("DB_AUTO_MIGRATE", true),
		QueryLimitDefault: r.intRange("QUERY_LIMIT_DEFAULT", 100, 1, 1<<31-1),
		QueryLimitMax:     r.intRange("QUERY_LIMIT_MAX", -1, -1, 1<<31-1),
		AccessTokenTTL:    r.duration("ACCESS_TOKEN_TTL", 15*time.Minute),
		RefreshTokenTTL:   r.duration("REFRESH_TOKEN_TTL", 7*24*time.Hour),
		AdminEmail:        r.str("ADMIN_EMAIL", "admin@example.com"),
		AdminPassword:     r.str("ADMIN_PASSWORD", ""),
		RefreshCookieName: r.str("REFRESH_TOKEN_COOKIE_NAME", "directus_refresh_token"),
		SessionCookieName: r.str("SESSION_COOKIE_NAME", "directus_session_token"),
		LoginRateLimit:    r.intRange("AUTH_LOGIN_RATE_LIMIT", 25, 0, 1<<31-1),
		LoginRateWindow:   r.duration("AUTH_LOGIN_RATE_WINDOW", time.Minute),
		RiverUIEnabled:    r.boolean("RIVER_UI_ENABLED", true),
		HookWorkers:       r.intRange("HOOK_WORKERS", 200, 1, 10000),

		RealtimeDispatchInterval:  r.duration("REALTIME_DISPATCH_INTERVAL", 100*time.Millisecond),
		RealtimeDispatchPerSocket: r.duration("REALTIME_DISPATCH_PER_SOCKET", 80*time.Microsecond),
		Websockets: Websockets{
			Enabled:           r.boolean("WEBSOCKETS_ENABLED", true),
			RESTEnabled:       r.boolean("WEBSOCKETS_REST_ENABLED", true),
			RESTPath:          r.str("WEBSOCKETS_REST_PATH", "/websocket"),
			RESTAuth:          strings.ToLower(r.oneOf("WEBSOCKETS_REST_AUTH", "handshake", "public", "handshake", "strict")),
			RESTAuthTimeout:   r.seconds("WEBSOCKETS_REST_AUTH_TIMEOUT", 10),
			RESTConnLimit:     r.intRange("WEBSOCKETS_REST_CONN_LIMIT", 0, 0, 1<<31-1),
			HeartbeatEnabled:  r.boolean("WEBSOCKETS_HEARTBEAT_ENABLED", true),
			HeartbeatPeriod:   r.seconds("WEBSOCKETS_HEARTBEAT_PERIOD", 30),
			MaxMessageSize:    r.size("WEBSOCKETS_MAX_MESSAGE_SIZE", 1<<20),
			RateLimitEnabled:  r.boolean("RATE_LIMITER_WEBSOCKETS_ENABLED", true),
			RateLimitPoints:   r.intRange("RATE_LIMITER_WEBSOCKETS_POINTS", 50, 1, 1<<31-1),
			RateLimitDuration: r.seconds("RATE_LIMITER_WEBSOCKETS_DURATION", 1),
		},
		ExtensionsPath: r.str("EXTENSIONS_PATH", "./extensions"),
		Extensions:     r.list("EXTENSIONS"),
	}
	if !strings.HasPrefix(c.Websockets.RESTPath, "/") {
		r.fail("WEBSOCKETS_REST_PATH", c.Websockets.RESTPath, "must start with /")
	}
	if c.DBSchema == "" {
		r.fail("DB_SCHEMA", "", "must not be empty")
	}
	if c.Secret == "" {
		c.Secret = randomHex(32)
		c.SecretGenerated = true
	}
	if len(r.errs) > 0 {
		return nil, errors.Join(r.errs...)
	}
	return c, nil
}

// Addr is the listen address.
func (c *Config) Addr() string { return fmt.Sprintf("%s:%d", c.Host, c.Port) }

// NewLogger builds the process logger from LOG_LEVEL and LOG_FORMAT.
func (c *Config) NewLogger(w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.LogLevel}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

type reader struct {
	getenv Getenv
	errs   []error
}

func (r *reader) fail(key, value, why string) {
	r.errs = append(r.errs, fmt.Errorf("invalid %s=%q: %s", key, value, why))
}

func (r *reader) lookup(key string) (string, bool) {
	v, ok := r.getenv(key)
	if !ok {
		return "", false
	}
	v = strings.TrimSpace(v)
	return v, v != ""
}

func (r *reader) str(key, def string) string {
	if v, ok := r.lookup(key); ok {
		return v
	}
	return def
}

func (r *reader) list(key string) []string {
	v, ok := r.lookup(key)
	if !ok {
		return nil
	}
	var out []string
	for _, part := range strings.Split(v, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

func (r *reader) intRange(key string, def, lo, hi int) int {
	v, ok := r.lookup(key)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		r.fail(key, v, fmt.Sprintf("must be an integer from %d to %d", lo, hi))
		return def
	}
	return n
}

func (r *reader) boolean(key string, def bool) bool {
	v, ok := r.lookup(key)
	if !ok {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		r.fail(key, v, "must be true or false")
		return def
	}
	return b
}

func (r *reader) oneOf(key, def string, allowed ...string) string {
	v, ok := r.lookup(key)
	if !ok {
		return def
	}
	for _, a := range allowed {
		if strings.EqualFold(v, a) {
			return a
		}
	}
	r.fail(key, v, "must be one of "+strings.Join(allowed, ", "))
	return def
}

func (r *reader) level(key string, def slog.Level) slog.Level {
	v, ok := r.lookup(key)
	if !ok {
		return def
	}
	switch strings.ToLower(v) {
	case "trace", "debug":
		return slog.LevelDebug
	case "info":
		return slog.LevelInfo
	case "warn", "warning":
		return slog.LevelWarn
	case "error", "fatal":
		return slog.LevelError
	}
	r.fail(key, v, "must be one of debug, info, warn, error")
	return def
}

// duration accepts Go durations ("90s", "15m") and Directus's ms-style
// strings with a day unit ("7d"); a bare number means milliseconds, as in
// Directus.
func (r *reader) duration(key string, def time.Duration) time.Duration {
	v, ok := r.lookup(key)
	if !ok {
		return def
	}
	d, err := ParseDuration(v)
	if err != nil || d <= 0 {
		r.fail(key, v, `must be a positive duration such as "15m", "12h" or "7d"`)
		return def
	}
	return d
}

func (r *reader) seconds(key string, def int) time.Duration {
	return time.Duration(r.intRange(key, def, 1, 86400)) * time.Second
}

func (r *reader) size(key string, def int64) int64 {
	v, ok := r.lookup(key)
	if !ok {
		return def
	}
	n, err := ParseSize(v)
	if err != nil || n <= 0 {
		r.fail(key, v, `must be a size such as "1mb", "512kb" or a number of bytes`)
		return def
	}
	return n
}

// ParseDuration parses "7d", "15m", "1h30m" or a bare number of milliseconds.
func ParseDuration(v string) (time.Duration, error) {
	v = strings.TrimSpace(strings.ToLower(v))
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.Duration(n) * time.Millisecond, nil
	}
	if days, ok := strings.CutSuffix(v, "d"); ok {
		n, err := strconv.ParseFloat(days, 64)
		if err != nil {
			return 0, err
		}
		return time.Duration(n * float64(24*time.Hour)), nil
	}
	return time.ParseDuration(v)
}

// ParseSize parses "1mb", "512kb", "2gb" or a number of bytes.
func ParseSize(v string) (int64, error) {
	v = strings.TrimSpace(strings.ToLower(v))
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"gb", 1 << 30}, {"mb", 1 << 20}, {"kb", 1 << 10}, {"b", 1}} {
		if num, ok := strings.CutSuffix(v, u.suffix); ok {
			v, mult = strings.TrimSpace(num), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, err
	}
	return n * mult, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
