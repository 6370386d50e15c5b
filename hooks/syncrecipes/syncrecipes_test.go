package syncrecipes_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/hooks"
	"github.com/hookd/hookd/hooks/syncrecipes"
	"github.com/hookd/hookd/internal/event"
	"github.com/hookd/hookd/internal/testdb"
)

// recipeService is the external service: it records what it receives and
// answers with status.
type recipeService struct {
	mu       sync.Mutex
	status   int
	received []map[string]any
}

func (s *recipeService) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	_ = json.NewDecoder(r.Body).Decode(&body)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.received = append(s.received, body)
	w.WriteHeader(s.status)
}

func TestSyncRecipes(t *testing.T) {
	t.Parallel()
	d := testdb.New(t)
	ctx := context.Background()
	svc := &recipeService{status: http.StatusCreated}
	srv := httptest.NewServer(svc)
	defer srv.Close()
	env := map[string]string{"RECIPES_SYNC_URL": srv.URL + "/recipes", "RECIPES_SYNC_MAIL_TO": "chef@example.com"}
	bus, err := event.NewBus(ctx, &event.BusConfig{Pool: d.Pool, Extensions: []hooks.Extension{syncrecipes.Extension},
		Env: func(k string) string { return env[k] }})
	require.NoError(t, err)
	create := func(collection string, item hooks.Item) (any, error) {
		tx, err := d.Pool.Begin(ctx)
		require.NoError(t, err)
		defer tx.Rollback(ctx) //nolint:errcheck
		return bus.Filter(ctx, []string{"items.create", collection + ".items.create"}, item,
			hooks.Meta{Collection: collection}, hooks.EventContext{Database: tx})
	}

	out, err := create("recipes", hooks.Item{"name": "Soup"})
	require.NoError(t, err)
	require.Equal(t, hooks.Item{"name": "Soup", "syncedWithExample": true}, out)
	require.Equal(t, []map[string]any{{"name": "Soup"}}, svc.received)
	var to []string
	var template string
	require.NoError(t, d.Pool.QueryRow(ctx, "SELECT recipients, template FROM hookd_mail_outbox").Scan(&to, &template))
	require.Equal(t, []string{"chef@example.com"}, to)
	require.Equal(t, "item-created", template)

	// Other collections are left alone.
	out, err = create("articles", hooks.Item{"name": "News"})
	require.NoError(t, err)
	require.Equal(t, hooks.Item{"name": "News"}, out)
	require.Len(t, svc.received, 1)

	// The service failing cancels the create with 503.
	svc.mu.Lock()
	svc.status = http.StatusBadGateway
	svc.mu.Unlock()
	_, err = create("recipes", hooks.Item{"name": "Stew"})
	e, ok := hooks.AsError(err)
	require.True(t, ok, "got %v", err)
	require.Equal(t, 503, e.Status)
	require.Equal(t, "SERVICE_UNAVAILABLE", e.Code)
	require.Equal(t, `Service "recipes" is unavailable. the external recipes service failed.`, e.Message)
	var mails int
	require.NoError(t, d.Pool.QueryRow(ctx, "SELECT count(*) FROM hookd_mail_outbox").Scan(&mails))
	require.Equal(t, 1, mails, "no mail for a cancelled create")

	// An unreachable service too.
	srv.Close()
	_, err = create("recipes", hooks.Item{"name": "Stew"})
	e, ok = hooks.AsError(err)
	require.True(t, ok)
	require.Equal(t, "SERVICE_UNAVAILABLE", e.Code)
}

func TestSyncRecipesOffWithoutURL(t *testing.T) {
	t.Parallel()
	bus, err := event.NewBus(context.Background(), &event.BusConfig{Extensions: []hooks.Extension{syncrecipes.Extension},
		Env: func(string) string { return "" }})
	require.NoError(t, err)
	require.Empty(t, bus.Hooks())

	_, err = event.NewBus(context.Background(), &event.BusConfig{Extensions: []hooks.Extension{syncrecipes.Extension},
		Env: func(string) string { return "ftp://x" }})
	require.ErrorContains(t, err, `RECIPES_SYNC_URL "ftp://x" is not an http(s) URL`)
}
