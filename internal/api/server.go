// Package api is hookd's HTTP surface: the chi router, its middleware, the
// REST handlers, and the one function that turns errors into Directus-shaped
// HTTP responses (WriteError).
package api

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"runtime/debug"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/hookd/hookd/hooks"
)

// HealthFunc reports the health of one dependency; a non-nil error marks it
// down. Details are merged into the check's JSON.
type HealthFunc func(ctx context.Context) (details map[string]any, err error)

// Config configures NewServer.
type Config struct {
	// Logger receives request logs and 5xx causes. Required.
	Logger *slog.Logger
	// MaxBodyBytes limits request bodies. Default 1 MiB.
	MaxBodyBytes int64
	// Health lists the checks behind GET /server/health, by name. The
	// "database" check failing makes the endpoint answer 503.
	Health map[string]HealthFunc
	// Mount is called with the server and its router after the built-in
	// routes, to add resource routes (items, auth, websocket, extension
	// routes); handlers use s.Handle so errors go through s.WriteError.
	Mount []func(s *Server, r chi.Router)
	// Middlewares are added after the built-in middleware and before routes.
	Middlewares []func(http.Handler) http.Handler
}

// Server is the HTTP handler with its error renderer.
type Server struct {
	logger  *slog.Logger
	maxBody int64
	health  map[string]HealthFunc
	router  chi.Router
}

// NewServer builds the router.
func NewServer(cfg *Config) (*Server, error) {
	if cfg.Logger == nil {
		return nil, fmt.Errorf("api: Config.Logger is required")
	}
	s := &Server{logger: cfg.Logger, maxBody: cfg.MaxBodyBytes, health: cfg.Health}
	if s.maxBody <= 0 {
		s.maxBody = 1 << 20
	}
	r := chi.NewRouter()
	r.Use(middleware.RequestID, s.exposeRequestID, s.logRequests, s.recoverPanics, s.limitBody, s.rejectMalformedQuery)
	for _, mw := range cfg.Middlewares {
		r.Use(mw)
	}
	r.NotFound(s.Handle(func(w http.ResponseWriter, r *http.Request) error {
		return hooks.RouteNotFound(r.URL.Path)
	}))
	r.MethodNotAllowed(s.Handle(func(w http.ResponseWriter, r *http.Request) error {
		return hooks.RouteNotFound(r.URL.Path)
	}))
	r.Route("/server", func(r chi.Router) {
		r.Get("/ping", s.ping)
		r.Get("/health", s.Handle(s.serverHealth))
	})
	for _, mount := range cfg.Mount {
		mount(s, r)
	}
	s.router = r
	return s, nil
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.router.ServeHTTP(w, r) }

// Router exposes the chi router (for init hooks that add routes).
func (s *Server) Router() chi.Router { return s.router }

func (s *Server) ping(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write([]byte("pong"))
}

func (s *Server) serverHealth(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	status, code := "ok", http.StatusOK
	checks := map[string]any{}
	for name, check := range s.health {
		details, err := check(ctx)
		entry := map[string]any{"status": "ok"}
		for k, v := range details {
			entry[k] = v
		}
		if err != nil {
			entry["status"] = "error"
			entry["output"] = err.Error()
			status, code = "error", http.StatusServiceUnavailable
			s.logger.WarnContext(ctx, "health check failed", slog.String("check", name), slog.Any("error", err))
		}
		checks[name] = entry
	}
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("Content-Type", "application/health+json; charset=utf-8")
	w.WriteHeader(code)
	return writeBody(w, map[string]any{"status": status, "checks": checks})
}

func (s *Server) exposeRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Request-Id", middleware.GetReqID(r.Context()))
		next.ServeHTTP(w, r)
	})
}

func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		next.ServeHTTP(ww, r)
		status := ww.Status()
		if status == 0 {
			status = http.StatusOK
		}
		level := slog.LevelInfo
		if status >= 500 {
			level = slog.LevelError
		}
		s.logger.LogAttrs(r.Context(), level, "request",
			slog.String("request_id", middleware.GetReqID(r.Context())),
			slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", status), slog.Int("bytes", ww.BytesWritten()),
			slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000))
	})
}

func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			rec := recover()
			if rec == nil {
				return
			}
			if rec == http.ErrAbortHandler {
				panic(rec)
			}
			s.logger.ErrorContext(r.Context(), "panic serving request",
				slog.String("request_id", middleware.GetReqID(r.Context())),
				slog.Any("panic", rec), slog.String("stack", string(debug.Stack())))
			WriteErrors(w, http.StatusInternalServerError, hooks.InternalError(nil))
		}()
		next.ServeHTTP(w, r)
	})
}

// rejectMalformedQuery answers 400 INVALID_QUERY for a query string Go
// cannot parse (a ";" separator, a bad %-escape): r.URL.Query() would
// silently drop the offending parameters, so `?sort=-id;…` would run
// unsorted instead of failing.
func (s *Server) rejectMalformedQuery(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := url.ParseQuery(r.URL.RawQuery); err != nil {
			WriteErrors(w, http.StatusBadRequest, hooks.InvalidQuery("Malformed query string: "+err.Error()))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > s.maxBody {
			WriteErrors(w, http.StatusRequestEntityTooLarge, PublicError(&http.MaxBytesError{Limit: s.maxBody}))
			return
		}
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, s.maxBody)
		}
		next.ServeHTTP(w, r)
	})
}
