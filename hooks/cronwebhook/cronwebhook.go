// Package cronwebhook is the seed's interval example: every 15 minutes it
// POSTs {"message": "Another 15 minutes passed..."} to a webhook. Each tick
// runs once across all instances; a failed POST leaves a discarded run in
// river_job (see hookd_hook_runs).
//
// Settings: CRON_WEBHOOK_URL (unset = the extension registers nothing).
package cronwebhook

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/hookd/hookd/hooks"
)

// Extension is the compiled-in extension "cron-webhook".
var Extension = hooks.Extension{ID: "cron-webhook", Register: register}

// Cron is the schedule: every 15 minutes.
const Cron = "*/15 * * * *"

func register(r hooks.Registrar, c *hooks.Context) error {
	url := strings.TrimSpace(c.Env("CRON_WEBHOOK_URL"))
	if url == "" {
		c.Logger.Info("cron webhook off: CRON_WEBHOOK_URL is unset")
		return nil
	}
	client := &http.Client{Timeout: 30 * time.Second}
	r.Schedule(Cron, func(ctx context.Context) error {
		return post(ctx, client, url)
	}, hooks.Name("webhook"), hooks.Timeout(time.Minute))
	return nil
}

func post(ctx context.Context, client *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url,
		bytes.NewReader([]byte(`{"message":"Another 15 minutes passed..."}`)))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 1<<16))
	if res.StatusCode >= 300 {
		return fmt.Errorf("POST %s: %s", url, res.Status)
	}
	return nil
}
