// Package syncrecipes is the seed's "sync with external" example: a
// blocking filter on creates in the recipes collection that POSTs the new
// recipe to an external service and mails a notification; if either fails
// the create is cancelled with ServiceUnavailable (503), otherwise the item
// is stored with syncedWithExample = true.
//
// Settings: RECIPES_SYNC_URL (the service's endpoint; unset = the extension
// registers nothing), RECIPES_SYNC_MAIL_TO (default person@example.com).
package syncrecipes

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/hookd/hookd/hooks"
)

// Extension is the compiled-in extension "sync-with-external".
var Extension = hooks.Extension{ID: "sync-with-external", Register: register}

func register(r hooks.Registrar, c *hooks.Context) error {
	url := strings.TrimSpace(c.Env("RECIPES_SYNC_URL"))
	if url == "" {
		c.Logger.Info("recipes sync off: RECIPES_SYNC_URL is unset")
		return nil
	}
	if !strings.HasPrefix(url, "http://") && !strings.HasPrefix(url, "https://") {
		return fmt.Errorf("RECIPES_SYNC_URL %q is not an http(s) URL", url)
	}
	s := &syncer{
		url:    url,
		mailTo: cmpOr(strings.TrimSpace(c.Env("RECIPES_SYNC_MAIL_TO")), "person@example.com"),
		// The filter runs inside the write's transaction: bound it.
		client:   &http.Client{Timeout: 10 * time.Second},
		services: c.Services,
	}
	r.Filter("items.create", s.filter, hooks.Collections("recipes"), hooks.Name("sync"))
	return nil
}

type syncer struct {
	url      string
	mailTo   string
	client   *http.Client
	services hooks.Services
}

func (s *syncer) filter(ctx context.Context, payload any, meta hooks.Meta, _ hooks.EventContext) (any, error) {
	item, ok := payload.(hooks.Item)
	if !ok {
		return nil, hooks.InvalidPayload("a recipe must be an object")
	}
	if err := s.post(ctx, item); err != nil {
		return nil, hooks.ServiceUnavailable("recipes", "the external recipes service failed").WithCause(err)
	}
	err := s.services.Mail().Send(ctx, hooks.Mail{
		To:       []string{s.mailTo},
		Subject:  "Recipe created",
		Template: &hooks.MailTemplate{Name: "item-created", Data: map[string]any{"collection": meta.Collection}},
	})
	if err != nil {
		return nil, hooks.ServiceUnavailable("mail", "the notification could not be sent").WithCause(err)
	}
	out := make(hooks.Item, len(item)+1)
	for k, v := range item {
		out[k] = v
	}
	out["syncedWithExample"] = true
	return out, nil
}

func (s *syncer) post(ctx context.Context, item hooks.Item) error {
	body, err := json.Marshal(item)
	if err != nil {
		return fmt.Errorf("encoding recipe: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 1<<16))
	if res.StatusCode >= 300 {
		return fmt.Errorf("POST %s: %s", s.url, res.Status)
	}
	return nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
