package api_test

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/hooks"
	"github.com/hookd/hookd/internal/api"
	"github.com/hookd/hookd/internal/store"
)

func newServer(t *testing.T, logs io.Writer, mount func(s *api.Server, r chi.Router)) *httptest.Server {
	t.Helper()
	s, err := api.NewServer(&api.Config{
		Logger:       slog.New(slog.NewTextHandler(logs, nil)),
		MaxBodyBytes: 64,
		Mount:        []func(*api.Server, chi.Router){mount},
	})
	require.NoError(t, err)
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return srv
}

func do(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

func TestPanicBecomesDirectus500AndIsLogged(t *testing.T) {
	t.Parallel()
	var logs strings.Builder
	srv := newServer(t, &logs, func(s *api.Server, r chi.Router) {
		r.Get("/boom", func(http.ResponseWriter, *http.Request) { panic("secret detail") })
	})
	status, body := do(t, "GET", srv.URL+"/boom", "")
	require.Equal(t, http.StatusInternalServerError, status)
	require.JSONEq(t, `{"errors":[{"message":"An unexpected error occurred.","extensions":{"code":"INTERNAL_SERVER_ERROR"}}]}`, body)
	require.Contains(t, logs.String(), "secret detail")
	// The server survives.
	status, _ = do(t, "GET", srv.URL+"/server/ping", "")
	require.Equal(t, http.StatusOK, status)
}

func TestErrorRendering(t *testing.T) {
	t.Parallel()
	var logs strings.Builder
	cases := []struct {
		name   string
		err    error
		status int
		body   string
	}{
		{"typed", hooks.InvalidPayload("title is required"), 400,
			`{"errors":[{"message":"Invalid payload. title is required.","extensions":{"code":"INVALID_PAYLOAD"}}]}`},
		{"wrapped typed", fmt.Errorf("creating: %w", hooks.Forbidden()), 403,
			`{"errors":[{"message":"You don't have permission to access this.","extensions":{"code":"FORBIDDEN"}}]}`},
		{"custom", hooks.NewError("TEAPOT", 418, "I'm a teapot."), 418,
			`{"errors":[{"message":"I'm a teapot.","extensions":{"code":"TEAPOT"}}]}`},
		{"unique", &store.ConstraintError{Code: "RECORD_NOT_UNIQUE", Table: "articles", Column: "slug"}, 400,
			`{"errors":[{"message":"Value for field \"slug\" in collection \"articles\" has to be unique.","extensions":{"code":"RECORD_NOT_UNIQUE","field":"slug","collection":"articles"}}]}`},
		{"unavailable", fmt.Errorf("x: %w", store.ErrUnavailable), 503,
			`{"errors":[{"message":"Service \"database\" is unavailable.","extensions":{"code":"SERVICE_UNAVAILABLE"}}]}`},
		{"unknown", errors.New("pq: password=hunter2 leaked"), 500,
			`{"errors":[{"message":"An unexpected error occurred.","extensions":{"code":"INTERNAL_SERVER_ERROR"}}]}`},
	}
	srv := newServer(t, &logs, func(s *api.Server, r chi.Router) {
		for _, c := range cases {
			r.Get("/"+strings.ReplaceAll(c.name, " ", "-"), s.Handle(func(http.ResponseWriter, *http.Request) error { return c.err }))
		}
	})
	for _, c := range cases {
		status, body := do(t, "GET", srv.URL+"/"+strings.ReplaceAll(c.name, " ", "-"), "")
		require.Equal(t, c.status, status, c.name)
		require.JSONEq(t, c.body, body, c.name)
	}
	require.Contains(t, logs.String(), "hunter2", "5xx causes are logged server-side")
}

func TestBodyLimitAppliesToStreamedBodies(t *testing.T) {
	t.Parallel()
	srv := newServer(t, io.Discard, func(s *api.Server, r chi.Router) {
		r.Post("/echo", s.Handle(func(w http.ResponseWriter, r *http.Request) error {
			_, err := io.ReadAll(r.Body)
			return err
		}))
	})
	// Declared length over the limit: refused before the handler.
	status, body := do(t, "POST", srv.URL+"/echo", strings.Repeat("a", 65))
	require.Equal(t, http.StatusRequestEntityTooLarge, status)
	require.Contains(t, body, "CONTENT_TOO_LARGE")

	// Chunked body (no declared length) over the limit: refused while reading.
	req, err := http.NewRequest("POST", srv.URL+"/echo", io.MultiReader(strings.NewReader(strings.Repeat("b", 100))))
	require.NoError(t, err)
	req.ContentLength = -1
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
}

func TestMethodNotAllowedIsRouteNotFound(t *testing.T) {
	t.Parallel()
	srv := newServer(t, io.Discard, func(*api.Server, chi.Router) {})
	status, body := do(t, "DELETE", srv.URL+"/server/ping", "")
	require.Equal(t, http.StatusNotFound, status)
	require.Contains(t, body, "ROUTE_NOT_FOUND")
}

func TestMalformedQueryStringIsRejected(t *testing.T) {
	t.Parallel()
	srv := newServer(t, io.Discard, func(s *api.Server, r chi.Router) {
		r.Get("/echo", s.Handle(func(w http.ResponseWriter, r *http.Request) error {
			_, err := io.WriteString(w, r.URL.Query().Get("sort"))
			return err
		}))
	})
	for _, raw := range []string{"sort=-id;drop%20table%20x", "sort=%zz", "a=1;b=2"} {
		status, body := do(t, "GET", srv.URL+"/echo?"+raw, "")
		require.Equal(t, http.StatusBadRequest, status, raw)
		require.Contains(t, body, `"code":"INVALID_QUERY"`, raw)
		require.Contains(t, body, "Malformed query string", raw)
	}
	status, body := do(t, "GET", srv.URL+"/echo?sort=-id&limit=1", "")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "-id", body)
}
