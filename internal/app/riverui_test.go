package app_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func login(t *testing.T, base, email, password string) string {
	t.Helper()
	resp, err := http.Post(base+"/auth/login", "application/json",
		strings.NewReader(`{"email":"`+email+`","password":"`+password+`"}`))
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var body struct {
		Data struct {
			AccessToken string `json:"access_token"`
		} `json:"data"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	return body.Data.AccessToken
}

func getWithToken(t *testing.T, url, token string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

func TestRiverUIIsServedToAdminsOnly(t *testing.T) {
	t.Parallel()
	b := setup(t, map[string]string{"ADMIN_EMAIL": "admin@example.com", "ADMIN_PASSWORD": "river-ui-pass"})
	admin := login(t, b.base, "admin@example.com", "river-ui-pass")

	// The jobs API behind the page: hook runs are River jobs.
	status, ctype, body := getWithToken(t, b.base+"/river/api/jobs?state=available&limit=5", admin)
	require.Equal(t, http.StatusOK, status, body)
	require.Contains(t, ctype, "application/json")
	require.Contains(t, body, `"data"`)

	// The page itself.
	status, ctype, _ = getWithToken(t, b.base+"/river/", admin)
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, ctype, "text/html")

	// The public and a non-admin user get Directus's 403.
	status, _, body = getWithToken(t, b.base+"/river/api/jobs", "")
	require.Equal(t, http.StatusForbidden, status)
	require.Contains(t, body, `"code":"FORBIDDEN"`)

	req, err := http.NewRequest("POST", b.base+"/users", strings.NewReader(`{"email":"ed@example.com","password":"editor-pass-1"}`))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+admin)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	editor := login(t, b.base, "ed@example.com", "editor-pass-1")
	status, _, body = getWithToken(t, b.base+"/river/api/jobs", editor)
	require.Equal(t, http.StatusForbidden, status, body)
}

func TestRiverUICanBeTurnedOff(t *testing.T) {
	t.Parallel()
	b := setup(t, map[string]string{"RIVER_UI_ENABLED": "false", "ADMIN_EMAIL": "admin@example.com", "ADMIN_PASSWORD": "river-ui-pass"})
	admin := login(t, b.base, "admin@example.com", "river-ui-pass")
	status, _, body := getWithToken(t, b.base+"/river/api/jobs", admin)
	require.Equal(t, http.StatusNotFound, status)
	require.Contains(t, body, "ROUTE_NOT_FOUND")
}
