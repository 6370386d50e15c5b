package event

import (
	"cmp"
	"context"
	"log/slog"
	"strings"
	"sync/atomic"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hookd/hookd/hooks"
	"github.com/hookd/hookd/internal/store"
)

// ItemsFunc builds an items service (the item package's constructor,
// adapted).
type ItemsFunc func(collection string, opts *hooks.ServiceOptions) (hooks.ItemsService, error)

// SchemaFunc loads the schema snapshot.
type SchemaFunc func(ctx context.Context) (*hooks.Schema, error)

// ServicesConfig configures NewServices.
type ServicesConfig struct {
	// Pool stores the mail outbox. Nil makes Mail().Send fail with
	// ServiceUnavailable.
	Pool *pgxpool.Pool
	// Logger logs mail. Default: discard.
	Logger *slog.Logger
}

// Services implements hooks.Services and hooks.Context.GetSchema. The item
// service, the WebSocket service and the schema loader are built after the
// bus (they need it), so they are wired in with the Set methods; until then
// the corresponding calls fail with ServiceUnavailable.
type Services struct {
	pool   *pgxpool.Pool
	logger *slog.Logger
	items  atomic.Pointer[ItemsFunc]
	ws     atomic.Pointer[hooks.WebSocketService]
	schema atomic.Pointer[SchemaFunc]
}

var _ hooks.Services = (*Services)(nil)

// NewServices builds a service set with nothing wired but mail.
func NewServices(cfg *ServicesConfig) *Services {
	return &Services{pool: cfg.Pool, logger: cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler))}
}

// SetItems wires the item service.
func (s *Services) SetItems(fn ItemsFunc) { s.items.Store(&fn) }

// SetWebSocket wires the realtime service.
func (s *Services) SetWebSocket(ws hooks.WebSocketService) { s.ws.Store(&ws) }

// SetSchema wires the schema loader.
func (s *Services) SetSchema(fn SchemaFunc) { s.schema.Store(&fn) }

// Items implements hooks.Services.
func (s *Services) Items(collection string, opts *hooks.ServiceOptions) (hooks.ItemsService, error) {
	fn := s.items.Load()
	if fn == nil {
		return nil, hooks.ServiceUnavailable("items", "the item service is not available in this process")
	}
	return (*fn)(collection, opts)
}

// WebSocket implements hooks.Services: never nil.
func (s *Services) WebSocket() hooks.WebSocketService {
	if ws := s.ws.Load(); ws != nil && *ws != nil {
		return *ws
	}
	return unavailableWebSocket{}
}

// GetSchema loads the schema snapshot, or fails with ServiceUnavailable
// until a loader is wired.
func (s *Services) GetSchema(ctx context.Context) (*hooks.Schema, error) {
	fn := s.schema.Load()
	if fn == nil {
		return nil, hooks.ServiceUnavailable("schema", "the schema loader is not available in this process")
	}
	return (*fn)(ctx)
}

// SchemaWired reports whether GetSchema has a loader.
func (s *Services) SchemaWired() bool { return s.schema.Load() != nil }

// Mail implements hooks.Services.
func (s *Services) Mail() hooks.MailService { return outboxMail{s: s} }

type unavailableWebSocket struct{}

func (unavailableWebSocket) Clients() []hooks.WebSocketClient { return nil }

func (unavailableWebSocket) Broadcast(context.Context, any, *hooks.BroadcastFilter) error {
	return hooks.ServiceUnavailable("websocket", "realtime is disabled or not running in this process")
}

// outboxMail is the log/outbox transport: every mail is logged (recipient
// count and template, never the body) and stored in hookd_mail_outbox.
type outboxMail struct{ s *Services }

func (m outboxMail) Send(ctx context.Context, mail hooks.Mail) error {
	if len(mail.To) == 0 {
		return hooks.InvalidPayload(`mail needs at least one recipient in "to"`)
	}
	for _, to := range mail.To {
		if !strings.Contains(to, "@") {
			return hooks.InvalidPayload(`mail recipient "` + to + `" is not an email address`)
		}
	}
	if mail.Template == nil && mail.Text == "" {
		return hooks.InvalidPayload("mail needs a template or a text body")
	}
	if mail.Template != nil && mail.Template.Name == "" {
		return hooks.InvalidPayload("mail template needs a name")
	}
	if m.s.pool == nil {
		return hooks.ServiceUnavailable("mail", "no mail outbox database in this process")
	}
	id, err := store.MailOutboxAppend(ctx, m.s.pool, mail)
	if err != nil {
		return hooks.ServiceUnavailable("mail", "the mail could not be queued").WithCause(err)
	}
	template := ""
	if mail.Template != nil {
		template = mail.Template.Name
	}
	m.s.logger.InfoContext(ctx, "mail queued", slog.Int64("outbox_id", id), slog.Int("recipients", len(mail.To)),
		slog.String("template", template))
	return nil
}
