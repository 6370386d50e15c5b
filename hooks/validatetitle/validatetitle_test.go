package validatetitle_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/hooks"
	"github.com/hookd/hookd/hooks/validatetitle"
	"github.com/hookd/hookd/internal/event"
)

func TestValidateTitle(t *testing.T) {
	t.Parallel()
	bus, err := event.NewBus(context.Background(), &event.BusConfig{Extensions: []hooks.Extension{validatetitle.Extension}})
	require.NoError(t, err)
	tests := []struct {
		name    string
		payload any
		wantErr bool
	}{
		{"title given", hooks.Item{"title": "Soup"}, false},
		{"no title field", hooks.Item{"name": "x"}, false},
		{"blank title", hooks.Item{"title": "  "}, true},
		{"null title", hooks.Item{"title": nil}, true},
		{"number title", hooks.Item{"title": 3.0}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := bus.Filter(context.Background(), []string{"items.create", "articles.items.create"}, tt.payload,
				hooks.Meta{Collection: "articles"}, hooks.EventContext{})
			if !tt.wantErr {
				require.NoError(t, err)
				require.Equal(t, tt.payload, out)
				return
			}
			e, ok := hooks.AsError(err)
			require.True(t, ok, "got %v", err)
			require.Equal(t, 400, e.Status)
			require.Equal(t, "INVALID_PAYLOAD", e.Code)
			require.Equal(t, `Invalid payload. "title" must be a non-blank string.`, e.Message)
		})
	}
	// Updates are not its business.
	_, err = bus.Filter(context.Background(), []string{"items.update"}, hooks.Item{"title": ""}, hooks.Meta{}, hooks.EventContext{})
	require.NoError(t, err)
}
