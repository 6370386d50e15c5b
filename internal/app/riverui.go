package app

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/go-chi/chi/v5"
	"riverqueue.com/riverui"

	"github.com/hookd/hookd/internal/api"
)

// riverUIPath is where River's UI is served (admins only).
const riverUIPath = "/river"

// newRiverUI builds River's UI over the instance's River client when
// RIVER_UI_ENABLED; nil otherwise. Hook runs are River jobs, so this is
// the jobs page: pending, failed and discarded runs, their errors, retry
// and cancel.
func (a *App) newRiverUI() (*riverui.Handler, error) {
	if !a.cfg.RiverUIEnabled {
		return nil, nil
	}
	h, err := riverui.NewHandler(&riverui.HandlerOpts{
		Endpoints: riverui.NewEndpoints(a.river, nil),
		Logger:    a.logger.With(slog.String("component", "riverui")),
		Prefix:    riverUIPath,
	})
	if err != nil {
		return nil, fmt.Errorf("creating River UI: %w", err)
	}
	return h, nil
}

// mountRiverUI serves the UI and its API behind RequireAdmin: a browser
// signs in with `POST /auth/login` in session mode (the session cookie),
// scripts send a Bearer token.
func (a *App) mountRiverUI(_ *api.Server, r chi.Router) {
	if a.riverUI == nil {
		return
	}
	r.With(api.RequireAdmin).Handle(riverUIPath, a.riverUI)
	r.With(api.RequireAdmin).Handle(riverUIPath+"/*", a.riverUI)
}

// startRiverUI starts the UI's background work, which lives until Stop.
func (a *App) startRiverUI(ctx context.Context) error {
	if a.riverUI == nil {
		return nil
	}
	uiCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	a.stopRiverUI = cancel
	if err := a.riverUI.Start(uiCtx); err != nil {
		cancel()
		return fmt.Errorf("starting River UI: %w", err)
	}
	return nil
}
