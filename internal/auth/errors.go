package auth

import (
	"fmt"
	"net/http"
	"time"

	"github.com/hookd/hookd/hooks"
)

// Directus's authentication errors. Each call returns a fresh copy so callers
// may attach a cause.

// ErrInvalidToken is 401 INVALID_TOKEN: a token that is not one of ours, is
// malformed, or has a bad signature.
func ErrInvalidToken() *hooks.Error {
	return hooks.NewError("INVALID_TOKEN", http.StatusUnauthorized, "Invalid token.")
}

// ErrTokenExpired is 401 TOKEN_EXPIRED.
func ErrTokenExpired() *hooks.Error {
	return hooks.NewError("TOKEN_EXPIRED", http.StatusUnauthorized, "Token expired.")
}

// ErrUserSuspended is 401 USER_SUSPENDED. It is only ever returned after the
// password was verified, so it reveals nothing to someone guessing.
func ErrUserSuspended() *hooks.Error {
	return hooks.NewError("USER_SUSPENDED", http.StatusUnauthorized, "User suspended.")
}

// ErrRequestsExceeded is 429 REQUESTS_EXCEEDED for a login rate limit.
func ErrRequestsExceeded(limit int, reset time.Time) *hooks.Error {
	wait := time.Until(reset).Round(time.Second)
	if wait < time.Second {
		wait = time.Second
	}
	e := hooks.NewError("REQUESTS_EXCEEDED", http.StatusTooManyRequests,
		fmt.Sprintf("Too many requests, retry after %s.", wait))
	e.Extensions = map[string]any{"limit": limit, "reset": reset.UTC().Format(time.RFC3339)}
	return e
}

// errFailedValidation is 400 FAILED_VALIDATION for one field.
func errFailedValidation(field, kind, message string) *hooks.Error {
	e := hooks.NewError("FAILED_VALIDATION", http.StatusBadRequest,
		fmt.Sprintf("Validation failed for field %q. %s", field, message))
	e.Extensions = map[string]any{"field": field, "type": kind}
	return e
}

// errUnprocessable is 422 UNPROCESSABLE_CONTENT.
func errUnprocessable(message string) *hooks.Error {
	return hooks.NewError("UNPROCESSABLE_CONTENT", http.StatusUnprocessableEntity, message)
}
