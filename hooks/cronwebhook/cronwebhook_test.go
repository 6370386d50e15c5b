package cronwebhook_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/hooks"
	"github.com/hookd/hookd/hooks/cronwebhook"
	"github.com/hookd/hookd/internal/event"
	"github.com/hookd/hookd/internal/jobs"
	"github.com/hookd/hookd/internal/testdb"
)

// The schedule is every 15 minutes, and a run (a River job of the tick, as
// the leader enqueues it) POSTs the seed's message.
func TestCronWebhook(t *testing.T) {
	t.Parallel()
	d := testdb.New(t)
	ctx := context.Background()
	bodies := make(chan string, 2)
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		bodies <- r.Method + " " + r.URL.Path + " " + string(b)
		w.WriteHeader(status)
	}))
	defer srv.Close()
	bus, err := event.NewBus(ctx, &event.BusConfig{Pool: d.Pool, Extensions: []hooks.Extension{cronwebhook.Extension},
		Env: func(k string) string {
			if k == "CRON_WEBHOOK_URL" {
				return srv.URL + "/webhook"
			}
			return ""
		}})
	require.NoError(t, err)
	schedules := bus.Schedules()
	require.Len(t, schedules, 1)
	require.Equal(t, "cron-webhook:cron(*/15 * * * *):webhook", schedules[0].ID)
	from := time.Date(2026, 11, 22, 10, 7, 30, 0, time.UTC)
	require.Equal(t, time.Date(2026, 11, 22, 10, 15, 0, 0, time.UTC), schedules[0].Cron.Next(from))

	workers, err := jobs.Workers(&jobs.Config{Bus: bus})
	require.NoError(t, err)
	client, err := river.NewClient(riverpgxv5.New(d.Pool), &river.Config{
		Logger: slog.New(slog.DiscardHandler), Queues: jobs.Queues(bus, 2), Workers: workers,
		PeriodicJobs: jobs.PeriodicJobs(bus), FetchPollInterval: 50 * time.Millisecond, FetchCooldown: 20 * time.Millisecond,
	})
	require.NoError(t, err)
	require.NoError(t, client.Start(ctx))
	t.Cleanup(func() { _ = client.StopAndCancel(context.Background()) })

	tick := time.Date(2026, 11, 22, 10, 15, 0, 0, time.UTC)
	_, err = client.Insert(ctx, jobs.ScheduleArgs{HookID: schedules[0].ID, Tick: tick}, nil)
	require.NoError(t, err)
	require.Equal(t, `POST /webhook {"message":"Another 15 minutes passed..."}`, <-bodies)
}

func TestCronWebhookOffWithoutURL(t *testing.T) {
	t.Parallel()
	bus, err := event.NewBus(context.Background(), &event.BusConfig{Extensions: []hooks.Extension{cronwebhook.Extension},
		Env: func(string) string { return "" }})
	require.NoError(t, err)
	require.Empty(t, bus.Schedules())
}
