package auth_test

import (
	"context"
	"testing"

	"github.com/hookd/hookd/internal/auth"
	"github.com/stretchr/testify/require"
)

// The per-request cost of authentication: verifying a JWT needs no database
// round trip; a static token or a session cookie needs one.
func BenchmarkAuthenticateToken(b *testing.B) {
	bb := setup(b, nil)
	ctx := context.Background()
	tokens, _, err := bb.svc.Login(ctx, adminEmail, adminPassword, auth.LoginMeta{})
	require.NoError(b, err)
	session, _, err := bb.svc.Login(ctx, adminEmail, adminPassword, auth.LoginMeta{Mode: "session"})
	require.NoError(b, err)
	static := "bench-static-token-0123456789"
	_, err = bb.svc.UserUpdate(ctx, nil, bb.adminID, map[string]any{"token": static})
	require.NoError(b, err)
	for _, tc := range []struct{ name, token string }{
		{"jwt", tokens.AccessToken}, {"session", session.AccessToken}, {"static", static},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				if _, _, err := bb.svc.AuthenticateToken(ctx, tc.token); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// Login is dominated by one argon2id verification (19 MiB, t=2, p=1).
func BenchmarkLogin(b *testing.B) {
	bb := setup(b, nil)
	ctx := context.Background()
	for b.Loop() {
		if _, _, err := bb.svc.Login(ctx, adminEmail, adminPassword, auth.LoginMeta{}); err != nil {
			b.Fatal(err)
		}
	}
}
