package config

import (
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func env(kv map[string]string) Getenv {
	return func(k string) (string, bool) { v, ok := kv[k]; return v, ok }
}

func TestLoadDefaults(t *testing.T) {
	t.Parallel()
	c, err := Load(env(nil))
	require.NoError(t, err)
	require.Equal(t, 8055, c.Port)
	require.Equal(t, "0.0.0.0:8055", c.Addr())
	require.Equal(t, "public", c.DBSchema)
	require.Equal(t, slog.LevelInfo, c.LogLevel)
	require.Equal(t, "text", c.LogFormat)
	require.Equal(t, int64(1<<20), c.MaxPayloadSize)
	require.Equal(t, 15*time.Minute, c.AccessTokenTTL)
	require.Equal(t, 7*24*time.Hour, c.RefreshTokenTTL)
	require.Equal(t, "/websocket", c.Websockets.RESTPath)
	require.Equal(t, "handshake", c.Websockets.RESTAuth)
	require.Equal(t, 30*time.Second, c.Websockets.HeartbeatPeriod)
	require.Equal(t, 100*time.Millisecond, c.RealtimeDispatchInterval)
	require.Equal(t, 80*time.Microsecond, c.RealtimeDispatchPerSocket)
	require.Equal(t, 200, c.HookWorkers)
	require.True(t, c.SecretGenerated)
	require.Len(t, c.Secret, 64)
}

func TestLoadValues(t *testing.T) {
	t.Parallel()
	c, err := Load(env(map[string]string{
		"PORT": "9000", "DATABASE_URL": "postgres://x/y", "LOG_LEVEL": "debug", "LOG_FORMAT": "JSON",
		"MAX_PAYLOAD_SIZE": "2mb", "REFRESH_TOKEN_TTL": "1d", "ACCESS_TOKEN_TTL": "900000",
		"WEBSOCKETS_REST_AUTH": "Strict", "EXTENSIONS": "a, b,,c", "SECRET": "s",
		"REALTIME_DISPATCH_INTERVAL": "20ms", "REALTIME_DISPATCH_PER_SOCKET": "10us", "HOOK_WORKERS": "8",
	}))
	require.NoError(t, err)
	require.Equal(t, 9000, c.Port)
	require.Equal(t, "postgres://x/y", c.DatabaseURL)
	require.Equal(t, slog.LevelDebug, c.LogLevel)
	require.Equal(t, "json", c.LogFormat)
	require.Equal(t, int64(2<<20), c.MaxPayloadSize)
	require.Equal(t, 24*time.Hour, c.RefreshTokenTTL)
	require.Equal(t, 15*time.Minute, c.AccessTokenTTL)
	require.Equal(t, "strict", c.Websockets.RESTAuth)
	require.Equal(t, []string{"a", "b", "c"}, c.Extensions)
	require.Equal(t, 20*time.Millisecond, c.RealtimeDispatchInterval)
	require.Equal(t, 10*time.Microsecond, c.RealtimeDispatchPerSocket)
	require.Equal(t, 8, c.HookWorkers)
	require.False(t, c.SecretGenerated)
}

func TestDBConnectionStringWinsOverDatabaseURL(t *testing.T) {
	t.Parallel()
	c, err := Load(env(map[string]string{"DATABASE_URL": "postgres://a", "DB_CONNECTION_STRING": "postgres://b"}))
	require.NoError(t, err)
	require.Equal(t, "postgres://b", c.DatabaseURL)
}

func TestLoadNamesEveryBadVariable(t *testing.T) {
	t.Parallel()
	_, err := Load(env(map[string]string{
		"PORT": "eighty", "LOG_FORMAT": "xml", "WEBSOCKETS_REST_AUTH": "open",
		"ACCESS_TOKEN_TTL": "soon", "WEBSOCKETS_ENABLED": "yes please", "MAX_PAYLOAD_SIZE": "big",
		"WEBSOCKETS_REST_PATH": "websocket", "REALTIME_DISPATCH_PER_SOCKET": "-1ms", "HOOK_WORKERS": "0",
	}))
	require.Error(t, err)
	for _, name := range []string{"PORT", "LOG_FORMAT", "WEBSOCKETS_REST_AUTH", "ACCESS_TOKEN_TTL",
		"WEBSOCKETS_ENABLED", "MAX_PAYLOAD_SIZE", "WEBSOCKETS_REST_PATH", "REALTIME_DISPATCH_PER_SOCKET", "HOOK_WORKERS"} {
		require.Contains(t, err.Error(), "invalid "+name+"=")
	}
}

func TestPortOutOfRange(t *testing.T) {
	t.Parallel()
	_, err := Load(env(map[string]string{"PORT": "70000"}))
	require.ErrorContains(t, err, `invalid PORT="70000": must be an integer from 0 to 65535`)
}

func TestParseDurationAndSize(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]time.Duration{"7d": 7 * 24 * time.Hour, "15m": 15 * time.Minute, "1500": 1500 * time.Millisecond, "0.5d": 12 * time.Hour} {
		got, err := ParseDuration(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for in, want := range map[string]int64{"1mb": 1 << 20, "512kb": 512 << 10, "10": 10, "1 GB": 1 << 30, "3b": 3} {
		got, err := ParseSize(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	_, err := ParseSize("mb")
	require.Error(t, err)
}
