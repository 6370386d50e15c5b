package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// issuer is the `iss` claim of access tokens, as Directus sets it: SDKs and
// tools that inspect tokens expect it.
const issuer = "directus"

// Tokens is the result of a login or a refresh.
type Tokens struct {
	// AccessToken is the JWT to send as `Authorization: Bearer`.
	AccessToken string
	// RefreshToken is the opaque token that /auth/refresh takes (once).
	RefreshToken string
	// Expires is the access token's lifetime in milliseconds (Directus's
	// `expires`).
	Expires int64
	// ExpiresAt is when the access token expires.
	ExpiresAt time.Time
}

// tokenHash is how opaque tokens (refresh, static) are stored and looked up:
// a database leak reveals no usable token.
func tokenHash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// newOpaqueToken returns 48 random bytes, URL-safe (Directus uses nanoid(64);
// same strength).
func newOpaqueToken() (string, error) {
	b := make([]byte, 48)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generating token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// signClaims signs claims with iat, exp and iss added.
func (s *Service) signClaims(claims map[string]any, now time.Time, ttl time.Duration) (string, time.Time, error) {
	mc := jwt.MapClaims{}
	maps.Copy(mc, claims)
	exp := now.Add(ttl)
	mc["iat"] = now.Unix()
	mc["exp"] = exp.Unix()
	mc["iss"] = issuer
	signed, err := jwt.NewWithClaims(jwt.SigningMethodHS256, mc).SignedString(s.secret)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("signing access token: %w", err)
	}
	return signed, time.Unix(exp.Unix(), 0), nil
}

// tokenClaims are the claims hookd reads back from its access tokens.
type tokenClaims struct {
	ID          string
	Role        string
	AdminAccess bool
	AppAccess   bool
	// Session is the hex SHA-256 of the refresh token of a session-mode
	// login; empty for plain access tokens.
	Session   string
	ExpiresAt time.Time
}

// verifyAccessToken returns the claims of one of our access tokens, or
// ok=false when token does not claim to be ours (it may be a static token).
// A verified token is remembered: its claims cannot change, so a token sent
// again (every request of a client) skips the base64, JSON and HMAC work and
// only has its expiry checked.
func (s *Service) verifyAccessToken(token string) (claims *tokenClaims, ours bool, err error) {
	if c := s.verified.get(token); c != nil {
		if !s.now().Before(c.ExpiresAt) {
			return nil, true, ErrTokenExpired()
		}
		return c, true, nil
	}
	if !looksLikeOurJWT(token) {
		return nil, false, nil
	}
	if claims, err = s.parseAccessToken(token); err != nil {
		return nil, true, err
	}
	s.verified.put(token, claims)
	return claims, true, nil
}

// verifiedTokenCacheSize bounds the verified-token cache (a few hundred
// bytes each): enough for every active client of an instance; beyond it
// arbitrary entries make room, costing those clients one verification.
const verifiedTokenCacheSize = 8192

// verifiedTokens maps a token's exact text to its verified claims (shared,
// never modified). The zero value is ready.
type verifiedTokens struct {
	mu sync.RWMutex
	m  map[string]*tokenClaims
}

func (v *verifiedTokens) get(token string) *tokenClaims {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.m[token]
}

func (v *verifiedTokens) put(token string, c *tokenClaims) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.m == nil {
		v.m = map[string]*tokenClaims{}
	}
	if len(v.m) >= verifiedTokenCacheSize {
		for k := range v.m { // map order is random: an arbitrary victim
			delete(v.m, k)
			break
		}
	}
	v.m[token] = c
}

// looksLikeOurJWT reports whether token is a JWT that claims to be issued
// by us (unverified): everything else is tried as a static token, as
// Directus does.
func looksLikeOurJWT(token string) bool {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return false
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return false
	}
	var claims struct {
		Iss string `json:"iss"`
	}
	return json.Unmarshal(payload, &claims) == nil && claims.Iss == issuer
}

// parseAccessToken verifies signature, algorithm, issuer and expiry.
func (s *Service) parseAccessToken(token string) (*tokenClaims, error) {
	mc := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(token, mc, func(*jwt.Token) (any, error) { return s.secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}), jwt.WithIssuer(issuer),
		jwt.WithExpirationRequired(), jwt.WithTimeFunc(s.now))
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return nil, ErrTokenExpired()
	case err != nil:
		return nil, ErrInvalidToken().WithCause(err)
	}
	c := &tokenClaims{}
	var ok bool
	if c.ID, ok = mc["id"].(string); !ok || c.ID == "" {
		return nil, ErrInvalidToken().WithCause(errors.New("token has no id claim"))
	}
	c.Role, _ = mc["role"].(string)
	c.AdminAccess = truthy(mc["admin_access"])
	c.AppAccess = truthy(mc["app_access"])
	c.Session, _ = mc["session"].(string)
	exp, err := mc.GetExpirationTime()
	if err != nil || exp == nil {
		return nil, ErrInvalidToken().WithCause(errors.New("token has no exp claim"))
	}
	c.ExpiresAt = exp.Time
	return c, nil
}

// truthy reads Directus's boolean claims, which older versions wrote as 0/1.
func truthy(v any) bool {
	switch v := v.(type) {
	case bool:
		return v
	case float64:
		return v != 0
	}
	return false
}

func sessionClaim(hash []byte) string { return hex.EncodeToString(hash) }

func sessionHashFromClaim(claim string) ([]byte, bool) {
	b, err := hex.DecodeString(claim)
	return b, err == nil && len(b) == sha256.Size
}
