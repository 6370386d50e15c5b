package hooks

import (
	"errors"
	"fmt"
	"net/http"
)

// Error is a client-facing error with a Directus error code. Returned from a
// filter it cancels the operation (rolling back the transaction) and reaches
// the client as `{"errors":[{"message":…,"extensions":{"code":…}}]}` with
// Status over HTTP, or as a `status:"error"` frame over WebSocket.
//
// It is the Go form of the seed's `exceptions` (InvalidPayloadException,
// ForbiddenException, ServiceUnavailableException, …).
type Error struct {
	// Code is the Directus code, e.g. "INVALID_PAYLOAD".
	Code string
	// Status is the HTTP status, e.g. 400.
	Status int
	// Message is safe to show to the client.
	Message string
	// Extensions are extra fields merged into `extensions` next to `code`.
	Extensions map[string]any
	// Err is an optional cause; it is logged, never sent to the client.
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// NewError builds an error with a custom code, status and message (Directus's
// createError(code, message, status)).
func NewError(code string, status int, message string) *Error {
	return &Error{Code: code, Status: status, Message: message}
}

// AsError finds an *Error in err's chain.
func AsError(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	return nil, false
}

// WithCause returns a copy of e that records cause (for logs).
func (e *Error) WithCause(cause error) *Error {
	c := *e
	c.Err = cause
	return &c
}

// InvalidPayload is 400 INVALID_PAYLOAD: "Invalid payload. <reason>."
func InvalidPayload(reason string) *Error {
	return &Error{Code: "INVALID_PAYLOAD", Status: http.StatusBadRequest, Message: sentence("Invalid payload", reason)}
}

// InvalidQuery is 400 INVALID_QUERY: "Invalid query. <reason>."
func InvalidQuery(reason string) *Error {
	return &Error{Code: "INVALID_QUERY", Status: http.StatusBadRequest, Message: sentence("Invalid query", reason)}
}

// Forbidden is 403 FORBIDDEN with Directus's fixed message.
func Forbidden() *Error {
	return &Error{Code: "FORBIDDEN", Status: http.StatusForbidden, Message: "You don't have permission to access this."}
}

// ServiceUnavailable is 503 SERVICE_UNAVAILABLE:
// `Service "<service>" is unavailable. <reason>.`
func ServiceUnavailable(service, reason string) *Error {
	return &Error{Code: "SERVICE_UNAVAILABLE", Status: http.StatusServiceUnavailable,
		Message: sentence(fmt.Sprintf("Service %q is unavailable", service), reason)}
}

// InvalidCredentials is 401 INVALID_CREDENTIALS.
func InvalidCredentials() *Error {
	return &Error{Code: "INVALID_CREDENTIALS", Status: http.StatusUnauthorized, Message: "Invalid user credentials."}
}

// RouteNotFound is 404 ROUTE_NOT_FOUND: "Route <path> doesn't exist."
func RouteNotFound(path string) *Error {
	return &Error{Code: "ROUTE_NOT_FOUND", Status: http.StatusNotFound, Message: fmt.Sprintf("Route %s doesn't exist.", path)}
}

// InternalError is 500 INTERNAL_SERVER_ERROR with a message that reveals
// nothing; the cause is kept for the log.
func InternalError(cause error) *Error {
	return &Error{Code: "INTERNAL_SERVER_ERROR", Status: http.StatusInternalServerError,
		Message: "An unexpected error occurred.", Err: cause}
}

func sentence(prefix, reason string) string {
	if reason == "" {
		return prefix + "."
	}
	if last := reason[len(reason)-1]; last != '.' && last != '!' && last != '?' {
		reason += "."
	}
	return prefix + ". " + reason
}
