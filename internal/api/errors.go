package api

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/go-chi/chi/v5/middleware"

	"github.com/hookd/hookd/hooks"
	"github.com/hookd/hookd/internal/store"
)

// HandlerFunc is an http.HandlerFunc that returns its error instead of
// writing it, so that exactly one function (WriteError) renders errors.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// Handle adapts a HandlerFunc to http.Handler.
func (s *Server) Handle(fn HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := fn(w, r); err != nil {
			s.WriteError(w, r, err)
		}
	}
}

type errorBody struct {
	Errors []errorItem `json:"errors"`
}

type errorItem struct {
	Message    string         `json:"message"`
	Extensions map[string]any `json:"extensions"`
}

// PublicError maps any error to the client-facing Directus error: typed hook
// errors keep their code and status, store errors become their Directus
// codes, everything else is a 500 that reveals nothing.
func PublicError(err error) *hooks.Error {
	if he, ok := hooks.AsError(err); ok {
		return he
	}
	var ce *store.ConstraintError
	if errors.As(err, &ce) {
		he := &hooks.Error{Code: ce.Code, Status: http.StatusBadRequest, Err: err,
			Extensions: map[string]any{}}
		if ce.Column != "" {
			he.Extensions["field"] = ce.Column
		}
		if ce.Table != "" {
			he.Extensions["collection"] = ce.Table
		}
		switch ce.Code {
		case "RECORD_NOT_UNIQUE":
			he.Message = "Value has to be unique."
			if ce.Column != "" {
				he.Message = "Value for field \"" + ce.Column + "\" in collection \"" + ce.Table + "\" has to be unique."
			}
		case "NOT_NULL_VIOLATION":
			he.Message = "Value for field \"" + ce.Column + "\" can't be null."
		case "INVALID_FOREIGN_KEY":
			he.Message = "Invalid foreign key."
			if ce.Column != "" {
				he.Message = "Invalid foreign key for field \"" + ce.Column + "\" in collection \"" + ce.Table + "\"."
			}
		case "VALUE_TOO_LONG":
			he.Message = "Value is too long."
		case "VALUE_OUT_OF_RANGE":
			he.Message = "Numeric value is out of range."
		default:
			he.Message = "Invalid payload. " + ce.Detail
			if ce.Detail == "" {
				he.Message = "Invalid payload."
			}
		}
		return he
	}
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return &hooks.Error{Code: "CONTENT_TOO_LARGE", Status: http.StatusRequestEntityTooLarge,
			Message: "Uploaded content is too large.", Err: err}
	}
	if errors.Is(err, store.ErrNotFound) {
		return &hooks.Error{Code: "FORBIDDEN", Status: http.StatusForbidden,
			Message: "You don't have permission to access this.", Err: err}
	}
	if errors.Is(err, store.ErrUnavailable) {
		return hooks.ServiceUnavailable("database", "").WithCause(err)
	}
	if errors.Is(err, store.ErrConflict) {
		return &hooks.Error{Code: "CONFLICT", Status: http.StatusConflict,
			Message: "The operation conflicted with a concurrent one; retry it.", Err: err}
	}
	return hooks.InternalError(err)
}

// WriteError renders err as a Directus error envelope. 5xx errors are logged
// with the request id; their cause never reaches the client.
func (s *Server) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	he := PublicError(err)
	if he.Status >= 500 {
		s.logger.ErrorContext(r.Context(), "request failed",
			slog.String("request_id", middleware.GetReqID(r.Context())),
			slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.String("code", he.Code), slog.Any("error", err))
	}
	WriteErrors(w, he.Status, he)
}

// WriteErrors writes the envelope for one or more errors with status.
func WriteErrors(w http.ResponseWriter, status int, errs ...*hooks.Error) {
	body := errorBody{Errors: make([]errorItem, 0, len(errs))}
	for _, e := range errs {
		ext := map[string]any{"code": e.Code}
		for k, v := range e.Extensions {
			if k != "code" {
				ext[k] = v
			}
		}
		body.Errors = append(body.Errors, errorItem{Message: e.Message, Extensions: ext})
	}
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// WriteJSON writes v as JSON with status.
func WriteJSON(w http.ResponseWriter, status int, v any) { writeJSON(w, status, v) }

func writeBody(w http.ResponseWriter, v any) error {
	return json.NewEncoder(w).Encode(v)
}
