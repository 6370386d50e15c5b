package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unique"

	"github.com/hookd/hookd/hooks"
	"github.com/hookd/hookd/internal/store"
)

// maxBacklog bounds the events held for a subscription whose init has not
// been sent yet; past it the client is treated like any slow client.
const maxBacklog = 1024

// subscription is one `subscribe` of one client.
type subscription struct {
	client *client
	// uid is the client's uid as sent (string or number), nil when absent;
	// uidKey is its JSON text ("" when absent), uidJSON the same bytes.
	uid     any
	uidKey  string
	uidJSON []byte

	collection string
	event      string // "" = all
	hasItem    bool
	item       any
	itemKey    string

	query *hooks.Query
	// queryKey identifies the query for sharing database reads.
	queryKey string
	// shape groups the subscription with others for the dispatcher (set
	// once the fields above are).
	shape unique.Handle[subscriptionShape]
	// filter is the compiled query filter (nil = none); filterNeedsDB is set
	// when it cannot be evaluated in memory.
	filter        func(hooks.Item) bool
	filterNeedsDB bool
	// filterUsesUser is set when the filter mentions $CURRENT_USER (or
	// $CURRENT_ROLE): its predicate is then specific to the subscriber.
	filterUsesUser bool
	// fields are the requested fields (nil = all readable); fieldsNeedDB is
	// set for relational fields; fieldsKey identifies the list.
	fields       []string
	fieldsKey    string
	fieldsNeedDB bool

	// since is the snapshot taken right after the subscription joined the
	// hub: events of transactions visible in it committed before (init has
	// their rows) and are skipped. Nil until taken; events that arrive
	// before are held with their transaction ids and filtered at init.
	since atomic.Pointer[store.Snapshot]

	mu        sync.Mutex
	ready     bool // init sent
	backlog   [][]byte
	backlogTx []uint64 // the transaction of each backlog frame
}

// deliver sends event frames (of transactions txs), or holds them until
// init has been sent, so that a client never sees an event before its
// subscription's init.
func (s *subscription) deliver(frames [][]byte, txs []uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ready {
		s.holdLocked(frames, txs)
		return
	}
	_ = s.client.enqueue(frames...)
}

// holdLocked keeps frames until init has been sent (s.mu held).
func (s *subscription) holdLocked(frames [][]byte, txs []uint64) {
	if len(s.backlog)+len(frames) > maxBacklog {
		s.client.abort()
		return
	}
	s.backlog = append(s.backlog, frames...)
	s.backlogTx = append(s.backlogTx, txs...)
}

// deliverPage sends cl's whole page of frames as its shared pre-framed
// buffer, or holds the frames until init has been sent.
func (s *subscription) deliverPage(cl *class) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ready {
		s.holdLocked(cl.page.frames, cl.page.txs)
		return
	}
	_ = s.client.enqueueFramed(cl.framedPage(), len(cl.page.frames))
}

// deliverMerged delivers one page's frames of several subscriptions of the
// client in log order: held back for subscriptions still before their
// init, merged into one enqueue for the others.
func (c *client) deliverMerged(parts []part) {
	type item struct {
		seq   int
		frame []byte
	}
	var ready []item
	for _, pt := range parts {
		pt.s.mu.Lock()
		if !pt.s.ready {
			pt.s.mu.Unlock()
			pt.s.deliver(pt.p.frames, pt.p.txs)
			continue
		}
		pt.s.mu.Unlock()
		for i, f := range pt.p.frames {
			ready = append(ready, item{seq: pt.p.seqs[i], frame: f})
		}
	}
	slices.SortStableFunc(ready, func(a, b item) int { return a.seq - b.seq })
	frames := make([][]byte, len(ready))
	for i, it := range ready {
		frames[i] = it.frame
	}
	if len(frames) > 0 {
		_ = c.enqueue(frames...)
	}
}

// markReady sends init, then the held events not already in it.
func (s *subscription) markReady(init []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	frames := [][]byte{init}
	since := s.since.Load()
	for i, b := range s.backlog {
		if since == nil || !since.Visible(s.backlogTx[i]) {
			frames = append(frames, b)
		}
	}
	_ = s.client.enqueue(frames...)
	s.backlog, s.backlogTx, s.ready = nil, nil, true
}

// eventFrame builds `{"type":"subscription","event":<event>,"data":<data>,"uid":<uid>}`
// from pre-encoded data, so one encoding serves many subscribers.
func (s *subscription) eventFrame(event string, data []byte) []byte {
	b := make([]byte, 0, len(data)+len(s.uidJSON)+64)
	b = append(b, `{"type":"subscription","event":"`...)
	b = append(b, event...)
	b = append(b, `","data":`...)
	b = append(b, data...)
	if s.uidJSON != nil {
		b = append(b, `,"uid":`...)
		b = append(b, s.uidJSON...)
	}
	return append(b, '}')
}

var subscribeEvents = []string{"create", "update", "delete"}

func (c *client) handleSubscribe(ctx context.Context, msg map[string]any) {
	h := c.hub
	uid := msg["uid"]
	fail := func(err error) { c.sendError("subscribe", err, uid) }

	collection, _ := msg["collection"].(string)
	if collection == "" {
		fail(hooks.InvalidPayload(`"collection" is required and must be a string`))
		return
	}
	schema, err := h.cfg.Schema(ctx)
	if err != nil {
		fail(err)
		return
	}
	col := schema.Collections[collection]
	if col == nil {
		fail(hooks.Forbidden())
		return
	}
	s := &subscription{client: c, uid: uid, collection: collection}
	if uid != nil {
		s.uidJSON, _ = json.Marshal(uid)
		s.uidKey = string(s.uidJSON)
	}
	if ev, ok := msg["event"]; ok && ev != nil {
		name, _ := ev.(string)
		if !slices.Contains(subscribeEvents, name) {
			fail(hooks.InvalidPayload(`"event" must be one of create, update, delete`))
			return
		}
		s.event = name
	}
	if item, ok := msg["item"]; ok && item != nil {
		s.hasItem, s.item, s.itemKey = true, item, keyString(item)
	}

	q, err := parseQuery(h, msg["query"])
	if err != nil {
		fail(err)
		return
	}
	s.query = q
	qb, _ := json.Marshal(q)
	s.queryKey = string(qb)
	s.filterUsesUser = strings.Contains(s.queryKey, "$CURRENT_")
	s.shape = unique.Make(subscriptionShape{query: s.queryKey, event: s.event, item: s.itemKey, uid: s.uidKey,
		hasItem: s.hasItem})
	acc := c.Accountability()
	if len(q.Filter) > 0 {
		s.filter, err = h.cfg.CompileFilter(col, q.Filter, filterVars(acc))
		switch {
		case errors.Is(err, ErrNotInMemory):
			s.filter, s.filterNeedsDB = nil, true
		case err != nil:
			fail(err)
			return
		}
	}
	s.fields, s.fieldsNeedDB = requestedFields(q.Fields)
	s.fieldsKey = strings.Join(s.fields, ",")
	// Join first, then take the snapshot: an event dispatched before the
	// join was committed before the snapshot, so init has its row.
	if old := c.addSubscription(s); old != nil {
		h.removeSub(old)
	}
	h.addSub(s)
	since, err := store.RealtimeSnapshot(ctx, h.cfg.Pool)
	if err != nil {
		c.removeSubscriptions(s.uidKey)
		h.removeSub(s)
		fail(err)
		return
	}
	s.since.Store(since)

	if s.event != "" {
		// Directus sends no data, and reads nothing, for event subscriptions.
		s.markReady(frame(map[string]any{"type": "subscription", "event": "init"}, uid))
		return
	}
	data, meta, err := readInit(ctx, h, s, acc)
	if err != nil {
		c.removeSubscriptions(s.uidKey)
		h.removeSub(s)
		fail(err)
		return
	}
	init := map[string]any{"type": "subscription", "event": "init", "data": data}
	if meta != nil {
		init["meta"] = meta
	}
	s.markReady(frame(init, uid))
}

// MetaReader is implemented by item services that also answer a query's
// meta counts (total_count, filter_count); init then carries `meta` when the
// subscription's query asks for it.
type MetaReader interface {
	ReadByQueryWithMeta(ctx context.Context, q *hooks.Query) ([]hooks.Item, map[string]any, error)
}

func readInit(ctx context.Context, h *Hub, s *subscription, acc *hooks.Accountability) (any, map[string]any, error) {
	svc, err := h.cfg.Items(ctx, s.collection, acc)
	if err != nil {
		return nil, nil, err
	}
	if s.hasItem {
		item, err := svc.ReadOne(ctx, s.item, s.query)
		return item, nil, err
	}
	var items []hooks.Item
	var meta map[string]any
	if mr, ok := svc.(MetaReader); ok && s.query != nil && len(s.query.Meta) > 0 {
		items, meta, err = mr.ReadByQueryWithMeta(ctx, s.query)
	} else {
		items, err = svc.ReadByQuery(ctx, s.query)
	}
	if items == nil && err == nil {
		items = []hooks.Item{}
	}
	return items, meta, err
}

func (c *client) handleUnsubscribe(msg map[string]any) {
	uid := msg["uid"]
	key := ""
	if uid != nil {
		b, _ := json.Marshal(uid)
		key = string(b)
	}
	for _, s := range c.removeSubscriptions(key) {
		c.hub.removeSub(s)
	}
	_ = c.enqueue(frame(map[string]any{"type": "subscription", "event": "unsubscribe"}, uid))
}

// parseQuery reads a message's query (object or string form); absent means
// the empty query.
func parseQuery(h *Hub, raw any) (*hooks.Query, error) {
	var m map[string]any
	switch v := raw.(type) {
	case nil:
		m = map[string]any{}
	case map[string]any:
		m = v
	default:
		return nil, hooks.InvalidQuery(`"query" must be an object`)
	}
	q, err := h.cfg.ParseQuery(m)
	if err != nil {
		if _, ok := hooks.AsError(err); ok {
			return nil, err
		}
		return nil, hooks.InvalidQuery(err.Error())
	}
	if q == nil {
		q = &hooks.Query{}
	}
	return q, nil
}

// requestedFields turns a query's fields into the plain field names it asks
// for (nil = all). Relational paths and partial wildcards need a read.
func requestedFields(fields []string) ([]string, bool) {
	all := len(fields) == 0
	out := make([]string, 0, len(fields))
	for _, f := range fields {
		switch {
		case f == "*":
			all = true
		case strings.ContainsAny(f, ".*$:"):
			return nil, true
		default:
			out = append(out, f)
		}
	}
	if all {
		return nil, false
	}
	slices.Sort(out)
	return slices.Compact(out), false
}

// filterVars leaves Now zero: $NOW is then the time each event is matched
// (a subscription lives for hours; "due_at <= $NOW" must keep moving).
func filterVars(acc *hooks.Accountability) *FilterVars {
	v := &FilterVars{}
	if acc != nil {
		v.User, v.Role = acc.User, acc.Role
	}
	return v
}

// keyString is the text of a primary key, for comparing the `item` of a
// subscription (Directus stringifies it) with an event's key.
func keyString(v any) string {
	switch k := v.(type) {
	case string:
		return k
	case float64:
		return strconv.FormatFloat(k, 'f', -1, 64)
	case json.Number:
		return k.String()
	case int:
		return strconv.Itoa(k)
	case int64:
		return strconv.FormatInt(k, 10)
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}
