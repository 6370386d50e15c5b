package api_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"
)

// A non-admin whose role may read only its own notes ($CURRENT_USER item
// rule) sees nothing of anyone else's through any part of the query
// language: filter, sort, search, meta counts, aggregate, groupBy, or a
// read by key — which answers exactly like a key that does not exist.
func TestItemRuleHoldsAcrossTheWholeQueryLanguage(t *testing.T) {
	t.Parallel()
	b := setupAuthApp(t, nil, `CREATE TABLE notes (id serial PRIMARY KEY, title text NOT NULL, owner uuid, score integer NOT NULL)`)
	ctx := context.Background()
	admin, _ := b.login(t, authAdminEmail, authAdminPassword)
	as := "bearer:" + admin

	r := b.req(t, "POST", "/roles", `{"name":"Readers"}`, as)
	require.Equal(t, http.StatusOK, r.status, r.raw)
	role := r.data(t)["id"].(string)
	users := map[string]string{}
	for _, name := range []string{"alice", "bob"} {
		r = b.req(t, "POST", "/users", fmt.Sprintf(`{"email":"%s@example.com","password":"%s-password","role":%q}`, name, name, role), as)
		require.Equal(t, http.StatusOK, r.status, r.raw)
		users[name] = r.data(t)["id"].(string)
	}
	r = b.req(t, "POST", "/permissions", fmt.Sprintf(`{"role":%q,"collection":"notes","action":"read",
		"permissions":{"owner":{"_eq":"$CURRENT_USER"}},"fields":["*"]}`, role), as)
	require.Equal(t, http.StatusOK, r.status, r.raw)

	_, err := b.db.Pool.Exec(ctx, `INSERT INTO notes (title, owner, score) VALUES
		('alpha', $1, 1), ('apple', $1, 3), ('secret banana', $2, 100), ('secret cherry', $2, 50)`,
		users["alice"], users["bob"])
	require.NoError(t, err)
	var bobNote int
	require.NoError(t, b.db.Pool.QueryRow(ctx, `SELECT id FROM notes WHERE title = 'secret banana'`).Scan(&bobNote))

	alice, _ := b.login(t, "alice@example.com", "alice-password")
	get := func(path string) authResp {
		t.Helper()
		r := b.req(t, "GET", path, "", "bearer:"+alice)
		require.Equal(t, http.StatusOK, r.status, "%s: %s", path, r.raw)
		return r
	}
	titles := func(r authResp) []string {
		var out []string
		for _, row := range r.body["data"].([]any) {
			out = append(out, row.(map[string]any)["title"].(string))
		}
		return out
	}
	q := url.QueryEscape

	require.ElementsMatch(t, []string{"alpha", "apple"}, titles(get("/items/notes")))
	require.Empty(t, titles(get("/items/notes?filter="+q(`{"title":{"_contains":"secret"}}`))))
	require.Empty(t, titles(get("/items/notes?filter="+q(`{"score":{"_gt":10}}`))))
	require.Empty(t, titles(get("/items/notes?filter="+q(fmt.Sprintf(`{"owner":{"_eq":%q}}`, users["bob"])))))
	require.Empty(t, titles(get("/items/notes?filter="+q(`{"_or":[{"owner":{"_null":true}},{"owner":{"_nnull":true}}],"score":{"_gte":50}}`))))
	require.Equal(t, []string{"apple", "alpha"}, titles(get("/items/notes?sort=-score")))
	require.Equal(t, []string{"apple"}, titles(get("/items/notes?sort=-score&limit=1")))
	require.Empty(t, titles(get("/items/notes?search=secret")))
	require.Equal(t, []string{"alpha"}, titles(get("/items/notes?search=alp")))

	r = get("/items/notes?meta=*&filter=" + q(`{"title":{"_starts_with":"a"}}`))
	meta := r.body["meta"].(map[string]any)
	require.Equal(t, float64(2), meta["total_count"], "total_count counts only readable rows: %s", r.raw)
	require.Equal(t, float64(2), meta["filter_count"], r.raw)
	r = get("/items/notes?meta=filter_count&filter=" + q(`{"score":{"_gt":10}}`))
	require.Equal(t, float64(0), r.body["meta"].(map[string]any)["filter_count"], r.raw)

	r = get("/items/notes?aggregate[count]=*&aggregate[sum]=score&aggregate[max]=score")
	require.Len(t, r.body["data"], 1, r.raw)
	agg := r.body["data"].([]any)[0].(map[string]any)
	require.EqualValues(t, 2, toNumber(t, agg["count"]), r.raw)
	require.EqualValues(t, 4, toNumber(t, agg["sum"].(map[string]any)["score"]), r.raw)
	require.EqualValues(t, 3, toNumber(t, agg["max"].(map[string]any)["score"]), r.raw)
	r = get("/items/notes?aggregate[count]=*&groupBy[]=owner")
	require.Len(t, r.body["data"], 1, "one group, alice's: %s", r.raw)
	require.Equal(t, users["alice"], r.body["data"].([]any)[0].(map[string]any)["owner"])

	// Bob's note by key answers exactly like a note that does not exist.
	hidden := b.req(t, "GET", fmt.Sprintf("/items/notes/%d", bobNote), "", "bearer:"+alice)
	missing := b.req(t, "GET", "/items/notes/99999", "", "bearer:"+alice)
	require.Equal(t, http.StatusForbidden, hidden.status, hidden.raw)
	require.Equal(t, missing.status, hidden.status)
	require.Equal(t, missing.raw, hidden.raw)

	// Without a token: no public permission, nothing at all.
	r = b.req(t, "GET", "/items/notes", "")
	require.Equal(t, http.StatusForbidden, r.status, r.raw)

	// Bob sees his own, and an admin sees all.
	bob, _ := b.login(t, "bob@example.com", "bob-password")
	r = b.req(t, "GET", "/items/notes?sort=score", "", "bearer:"+bob)
	require.Equal(t, []string{"secret cherry", "secret banana"}, titles(r))
	r = b.req(t, "GET", "/items/notes?meta=total_count", "", as)
	require.Equal(t, float64(4), r.body["meta"].(map[string]any)["total_count"], r.raw)
}

func toNumber(t *testing.T, v any) float64 {
	t.Helper()
	switch v := v.(type) {
	case float64:
		return v
	case string:
		var f float64
		_, err := fmt.Sscanf(v, "%g", &f)
		require.NoError(t, err, v)
		return f
	}
	t.Fatalf("not a number: %#v", v)
	return 0
}
