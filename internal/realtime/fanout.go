package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"time"
	"unique"

	"github.com/gorilla/websocket"
	"github.com/jackc/pgx/v5"

	"github.com/hookd/hookd/hooks"
	"github.com/hookd/hookd/internal/store"
)

// pageSize is how many events or broadcasts one read takes.
const pageSize = 500

// maxHorizonRetry caps the delay between looks at rows held back by the
// horizon: an old transaction may end at any moment, and a look is one
// cheap indexed query.
const maxHorizonRetry = 16 * time.Millisecond

// batchFanout is the number of frames a read must have produced (with
// several events found waiting) for the next reads to be spaced.
const batchFanout = 256

// listen keeps a LISTEN connection open outside the pool, reconnecting with
// backoff. Every notification, and every (re)connection, triggers a read.
func (h *Hub) listen() {
	defer h.wg.Done()
	backoff := 100 * time.Millisecond
	for h.ctx.Err() == nil {
		connected, err := h.listenOnce()
		if h.ctx.Err() != nil {
			return
		}
		if connected {
			backoff = 100 * time.Millisecond
		}
		h.logger.Warn("realtime LISTEN connection lost; reconnecting (events are still read by polling)",
			slog.Any("error", err), slog.Duration("retry_in", backoff))
		select {
		case <-h.ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

func (h *Hub) listenOnce() (bool, error) {
	cc := h.cfg.Pool.Config().ConnConfig.Copy()
	if cc.RuntimeParams == nil {
		cc.RuntimeParams = map[string]string{}
	}
	cc.RuntimeParams["application_name"] = ListenerApplicationName(h.cfg.InstanceID)
	conn, err := pgx.ConnectConfig(h.ctx, cc)
	if err != nil {
		return false, fmt.Errorf("connecting: %w", err)
	}
	defer conn.Close(context.Background())
	if err := store.RealtimeListen(h.ctx, conn); err != nil {
		return false, err
	}
	// Whatever was committed while we were not listening.
	h.kick(true, true)
	for {
		n, err := conn.WaitForNotification(h.ctx)
		if err != nil {
			return true, err
		}
		switch {
		case n.Channel == store.ChannelBroadcasts:
			h.kick(false, true)
		case n.Payload != h.notifyID: // our own writers kicked us already
			h.kick(true, false)
		}
	}
}

// ListenerApplicationName is the application_name of an instance's LISTEN
// connection (visible in pg_stat_activity).
func ListenerApplicationName(instanceID string) string { return "hookd-realtime-" + instanceID }

// notifyMinInterval spaces NOTIFYs: under a stream of commits other
// instances hear at most one per interval (each NOTIFY is a commit that
// takes Postgres's notification lock).
const notifyMinInterval = 2 * time.Millisecond

// notifyLoop turns Wake calls into NOTIFYs: calls arriving while one is in
// flight, or within notifyMinInterval of it, are coalesced into the next.
func (h *Hub) notifyLoop() {
	defer h.wg.Done()
	for {
		select {
		case <-h.ctx.Done():
			return
		case <-h.wakeCh:
		}
		next := time.Now().Add(notifyMinInterval)
		ctx, cancel := context.WithTimeout(h.ctx, 5*time.Second)
		if err := store.RealtimeWake(ctx, h.cfg.Pool, h.notifyID); err != nil && h.ctx.Err() == nil {
			// Other instances still poll; nothing is lost, only delayed.
			h.logger.Warn("realtime wake-up failed", slog.Any("error", err))
		}
		cancel()
		select {
		case <-h.ctx.Done():
			return
		case <-time.After(time.Until(next)):
		}
	}
}

// follow reads the event log and the broadcasts when kicked and at every
// poll interval, and prunes old broadcasts now and then. When committed rows
// are withheld by the horizon (an older transaction, possibly of another
// database of the cluster, is still running) it looks again after a short,
// growing delay rather than at the next poll.
func (h *Hub) follow() {
	defer h.wg.Done()
	poll := time.NewTicker(h.cfg.PollInterval)
	defer poll.Stop()
	prune := time.NewTicker(time.Minute)
	defer prune.Stop()
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	const firstRetry = time.Millisecond
	delay := firstRetry
	var lastRead time.Time
	// spacing is 0 while no stream is on; during one it starts at 5 ms and
	// doubles with every read that still finds the stream going, up to
	// DispatchPerSocket per socket reached, at most DispatchInterval.
	var spacing time.Duration
	for {
		select {
		case <-h.ctx.Done():
			return
		case <-retry.C:
		case <-prune.C:
			ctx, cancel := context.WithTimeout(h.ctx, 30*time.Second)
			if _, err := store.BroadcastPrune(ctx, h.cfg.Pool, h.cfg.BroadcastRetention); err != nil && h.ctx.Err() == nil {
				h.logger.Warn("pruning realtime broadcasts failed", slog.Any("error", err))
			}
			cancel()
			continue
		case <-h.kickCh:
			delay = firstRetry
		case <-poll.C:
			h.dropStaleGroups()
			h.kick(true, true)
		}
		// When events stream in (a read that fanned out widely found several
		// events waiting), reads are spaced: each then takes several events
		// and every socket gets them in one write, instead of one system
		// call per event per socket. The longer the stream, and the more
		// sockets it reaches, the wider the spacing. An isolated write
		// never waits.
		if wait := spacing - time.Since(lastRead); wait > 0 {
			select {
			case <-h.ctx.Done():
				return
			case <-time.After(wait):
			}
		}
		lastRead = time.Now()
		more := h.catchUp(spacing > 0)
		// A stream: the read found several events waiting. (A wake-up
		// pending after the read proves nothing: a writer that waits for
		// its own event, then writes again, looks just like that.) A read
		// that found nothing (a wake-up for events an earlier read already
		// took, or rows still held back by the horizon) neither proves nor
		// ends a stream: the spacing stays. A read that found a lone event,
		// or reached few sockets, ends it.
		switch {
		case h.lastFanout >= batchFanout && h.lastEvents > 1:
			widest := min(h.cfg.DispatchInterval, time.Duration(h.lastSockets)*h.cfg.DispatchPerSocket)
			spacing = min(max(2*spacing, 5*time.Millisecond), widest)
		case h.lastEvents == 0:
		default:
			spacing = 0
		}
		if more {
			retry.Reset(delay)
			delay = min(delay*2, maxHorizonRetry, h.cfg.PollInterval/4)
		} else {
			delay = firstRetry
		}
	}
}

// catchUp reads and delivers what is readable; it reports whether more is
// committed but not yet readable. During a stream (merge) the events of
// both reads (the plain one and, when rows are held back, the one past
// other databases' transactions) are dispatched together: one write per
// socket per catch-up. Otherwise each read is dispatched at once.
func (h *Hub) catchUp(merge bool) bool {
	ctx, cancel := context.WithTimeout(h.ctx, h.cfg.RequestTimeout)
	defer cancel()
	h.lastFanout, h.lastEvents, h.lastSockets = 0, 0, 0
	readEvents, readBroadcasts := h.eventsDirty.Swap(false), h.broadcastsDirty.Swap(false)
	var batch []*store.Event
	var early <-chan pendingCheck
	ok := true
	if readEvents {
		batch, ok = h.readEvents(ctx, store.EventsAfter, batch)
		if ok && !merge {
			if !readBroadcasts {
				// The check below for withheld rows needs only the cursors
				// past this read: it runs while the sockets are written, so
				// the next write's events are not kept waiting for it.
				early = h.checkPending(ctx, h.cursorAfter(batch), h.broadcastCursor)
			}
			ok, batch = h.dispatchEvents(ctx, batch), nil
		}
	}
	if readBroadcasts {
		h.readBroadcasts(ctx)
	}
	if ctx.Err() != nil || !ok {
		return false
	}
	var events, broadcasts bool
	var err error
	if early != nil {
		r := <-early
		events, broadcasts, err = r.events, r.broadcasts, r.err
	} else {
		events, broadcasts, err = store.RealtimePending(ctx, h.cfg.Pool, h.cursorAfter(batch), h.broadcastCursor)
	}
	if err != nil {
		h.dispatchEvents(ctx, batch)
		return false // the next poll tries again
	}
	if events {
		// Held back by the cluster-wide horizon: the costlier read that
		// ignores other databases' transactions may release them.
		if batch, ok = h.readEvents(ctx, store.RealtimeEventsAfter, batch); !ok {
			return false
		}
		if !merge {
			if !h.dispatchEvents(ctx, batch) {
				return false
			}
			batch = nil
		}
		if events, _, err = store.RealtimePending(ctx, h.cfg.Pool, h.cursorAfter(batch), h.broadcastCursor); err != nil {
			h.dispatchEvents(ctx, batch)
			return false
		}
	}
	if !h.dispatchEvents(ctx, batch) {
		return false
	}
	if events {
		h.eventsDirty.Store(true)
	}
	if broadcasts {
		h.broadcastsDirty.Store(true)
	}
	return events || broadcasts
}

// pendingCheck is store.RealtimePending's answer.
type pendingCheck struct {
	events, broadcasts bool
	err                error
}

// checkPending runs store.RealtimePending for the cursors in the background.
func (h *Hub) checkPending(ctx context.Context, events store.EventCursor, broadcasts store.BroadcastCursor) <-chan pendingCheck {
	out := make(chan pendingCheck, 1)
	go func() {
		var r pendingCheck
		r.events, r.broadcasts, r.err = store.RealtimePending(ctx, h.cfg.Pool, events, broadcasts)
		out <- r
	}()
	return out
}

// eventsAfterFunc reads a page of the event log after a cursor.
type eventsAfterFunc func(ctx context.Context, q store.Querier, cursor store.EventCursor, limit int) ([]*store.Event, error)

// cursorAfter is the cursor past batch, events read but not yet dispatched.
func (h *Hub) cursorAfter(batch []*store.Event) store.EventCursor {
	if len(batch) == 0 {
		return h.eventCursor
	}
	return batch[len(batch)-1].Cursor()
}

// readEvents reads after batch until the readable log is done, dispatching
// every full page (pageSize events, whichever reads they came from); it
// returns what is left to dispatch, and false when a dispatch failed (the
// cursor stays before the failed events: they are tried again at the next
// poll).
func (h *Hub) readEvents(ctx context.Context, read eventsAfterFunc, batch []*store.Event) ([]*store.Event, bool) {
	for ctx.Err() == nil {
		limit := pageSize - len(batch)
		events, err := read(ctx, h.cfg.Pool, h.cursorAfter(batch), limit)
		if err != nil {
			if h.ctx.Err() == nil {
				h.logger.Warn("reading the event log failed; retrying at the next poll", slog.Any("error", err))
			}
			h.eventsDirty.Store(true)
			return batch, true
		}
		batch = append(batch, events...)
		if len(events) < limit {
			return batch, true
		}
		if !h.dispatchEvents(ctx, batch) {
			return nil, false
		}
		batch = nil
	}
	return batch, true
}

// dispatchEvents delivers events and moves the cursor past them.
func (h *Hub) dispatchEvents(ctx context.Context, events []*store.Event) bool {
	if len(events) == 0 {
		return true
	}
	h.lastEvents += len(events)
	if err := h.dispatch(ctx, events); err != nil {
		// The cursor stays: the same events are tried again.
		h.logger.Warn("realtime dispatch failed; retrying at the next poll", slog.Any("error", err))
		h.eventsDirty.Store(true)
		return false
	}
	h.eventCursor = events[len(events)-1].Cursor()
	return true
}

func (h *Hub) readBroadcasts(ctx context.Context) {
	for ctx.Err() == nil {
		bs, err := store.BroadcastsAfter(ctx, h.cfg.Pool, h.broadcastCursor, pageSize)
		if err != nil {
			if h.ctx.Err() == nil {
				h.logger.Warn("reading broadcasts failed; retrying at the next poll", slog.Any("error", err))
			}
			h.broadcastsDirty.Store(true)
			return
		}
		for i := range bs {
			h.deliverBroadcast(&bs[i])
		}
		if len(bs) > 0 {
			last := bs[len(bs)-1]
			h.broadcastCursor = store.BroadcastCursor{TxID: last.TxID, ID: last.ID}
		}
		if len(bs) < pageSize {
			return
		}
	}
}

func (h *Hub) deliverBroadcast(b *store.Broadcast) {
	h.mu.RLock()
	clients := make([]*client, 0, len(h.clients))
	for c := range h.clients {
		clients = append(clients, c)
	}
	h.mu.RUnlock()
	for _, c := range clients {
		if b.TargetUser != "" || b.TargetRole != "" {
			acc := c.acc.Load()
			if b.TargetUser != "" && acc.User != b.TargetUser || b.TargetRole != "" && acc.Role != b.TargetRole {
				continue
			}
		}
		_ = c.enqueue(b.Message)
	}
}

// heartbeat pings every client each period and closes those that sent no
// (non-auth) message during the period after the previous ping.
func (h *Hub) heartbeat() {
	defer h.wg.Done()
	ws := h.cfg.Websockets
	if !ws.HeartbeatEnabled {
		return
	}
	ticker := time.NewTicker(ws.HeartbeatPeriod)
	defer ticker.Stop()
	ping := []byte(`{"type":"ping"}`)
	var pinged []*client
	var pingedAt int64
	for {
		select {
		case <-h.ctx.Done():
			return
		case <-ticker.C:
		}
		for _, c := range pinged {
			if c.lastActive.Load() < pingedAt {
				c.closeWith(websocket.CloseNormalClosure, "heartbeat timeout", false)
			}
		}
		h.mu.RLock()
		pinged = pinged[:0]
		for c := range h.clients {
			pinged = append(pinged, c)
		}
		h.mu.RUnlock()
		pingedAt = time.Now().UnixNano()
		for _, c := range pinged {
			_ = c.enqueue(ping)
		}
	}
}

// dispatch delivers a page of events to this instance's subscribers.
func (h *Hub) dispatch(ctx context.Context, events []*store.Event) error {
	var d *dispatcher
	// Subscriptions, and what each may see, are looked up once per
	// collection per page.
	targets := map[string]*target{}
	for _, e := range events {
		t, seen := targets[e.Collection]
		if !seen {
			t = &target{}
			targets[e.Collection] = t
			groups := h.groupsFor(e.Collection)
			if len(groups.subs) == 0 {
				continue
			}
			if d == nil {
				schema, err := h.cfg.Schema(ctx)
				if err != nil {
					return fmt.Errorf("loading the schema: %w", err)
				}
				d = &dispatcher{h: h, ctx: ctx, schema: schema, perms: map[permKey]*permEntry{},
					audiences: map[audienceKey]*audience{}, reads: map[string]*readResult{},
					encoded: map[encodedKey]*encoded{}}
			}
			if t.col = d.schema.Collections[e.Collection]; t.col != nil {
				t.subs = groups.subs
				t.classes = d.classesOf(groups, t.col)
				d.targets = append(d.targets, t)
			}
		}
		if len(t.subs) > 0 {
			d.seq++
			d.event(e, t)
		}
	}
	if d != nil {
		d.flush()
		h.lastFanout += d.frames
		h.lastSockets += d.sockets
	}
	return nil
}

// target is one collection's subscriptions during a page, grouped into
// classes.
type target struct {
	col     *hooks.Collection
	subs    []*subscription
	classes []*class
}

// class is a set of subscriptions that get the same frame for any event:
// same audience, query, event, item and uid. The frame is built once, from
// the representative, and collected once for the whole class; a member
// whose `since` cutoff hides none of them takes the class's page as one
// pre-framed buffer, shared by every such member.
type class struct {
	rep     *subscription
	aud     *audience
	members []int // indexes into target.subs
	// The class's frames of the page, with their transactions and their
	// events' positions in the page.
	page pending
	// minTx is the oldest transaction among the page's frames.
	minTx uint64
	// framed is page.frames framed and concatenated (built on first use).
	framed []byte
}

// add collects a frame of the page for the class.
func (cl *class) add(frame []byte, tx uint64, seq int) {
	if len(cl.page.frames) == 0 || tx < cl.minTx {
		cl.minTx = tx
	}
	cl.page.frames = append(cl.page.frames, frame)
	cl.page.txs = append(cl.page.txs, tx)
	cl.page.seqs = append(cl.page.seqs, seq)
}

// framedPage is the class's page as one buffer of WebSocket text frames,
// built once and shared, read-only, by the queues of every member that
// takes the whole page.
func (cl *class) framedPage() []byte {
	if cl.framed == nil {
		size := 0
		for _, f := range cl.page.frames {
			size += len(f) + 10
		}
		buf := make([]byte, 0, size)
		for _, f := range cl.page.frames {
			buf = appendFrame(buf, websocket.TextMessage, f)
		}
		cl.framed = buf
	}
	return cl.framed
}

// share is what one subscription gets of its class's page: all of it, or
// (a `since` cutoff hides some events) the listed frames.
type share struct {
	s   *subscription
	cl  *class
	all bool
	own pending
}

// shareOf is s's part of cl's page; ok is false when it gets nothing.
func shareOf(s *subscription, cl *class) (sh share, ok bool) {
	since := s.since.Load()
	if since == nil || cl.minTx >= since.Xmax {
		// No frame of the page committed before the subscription.
		return share{s: s, cl: cl, all: true}, true
	}
	p := &cl.page
	for i, tx := range p.txs {
		if since.Visible(tx) {
			continue // committed before this subscription: init had it
		}
		sh.own.frames = append(sh.own.frames, p.frames[i])
		sh.own.txs = append(sh.own.txs, tx)
		sh.own.seqs = append(sh.own.seqs, p.seqs[i])
	}
	if len(sh.own.frames) == len(p.frames) {
		return share{s: s, cl: cl, all: true}, true
	}
	sh.s, sh.cl = s, cl
	return sh, len(sh.own.frames) > 0
}

// frames is the share's frames, their transactions and positions.
func (sh *share) frames() *pending {
	if sh.all {
		return &sh.cl.page
	}
	return &sh.own
}

type classKey struct {
	aud        *audience
	shape      unique.Handle[subscriptionShape]
	filterUser string
}

// subscriptionShape is what a subscription fixes at subscribe time that
// decides its frames besides its audience. Subscriptions hold it interned
// (unique.Make), so grouping a thousand of them per page compares handles
// instead of hashing their query texts.
type subscriptionShape struct {
	query, event, item, uid string
	hasItem                 bool
}

// subscriberGroups are one collection's subscriptions and their groups, as
// of the hub's subsGen. A group is the subscriptions of one shape whose
// clients had the same admin flag, role and user: whatever the permissions
// say when a page is dispatched, a group falls in one class. The grouping
// is kept until subsGen moves, so a page to a thousand sockets looks up
// permissions and class keys once per group, not per subscription; the
// audiences themselves are still found anew for every page.
type subscriberGroups struct {
	gen    uint64
	subs   []*subscription
	groups []subscriberGroup
}

type subscriberGroup struct {
	// acc is the first member's accountability when grouped; the members'
	// admin flag, role and user are the same.
	acc            *hooks.Accountability
	shape          unique.Handle[subscriptionShape]
	filterUsesUser bool
	members        []int // indices into subscriberGroups.subs
}

type groupKey struct {
	admin      bool
	role, user string
	shape      unique.Handle[subscriptionShape]
}

// groupsFor returns collection's subscriber groups, regrouped when a
// subscription or an accountability changed since the last call (follow
// goroutine only).
func (h *Hub) groupsFor(collection string) *subscriberGroups {
	// The generation is read before the subscriptions and accountabilities
	// it covers: a change made meanwhile moves it again, so the next page
	// regroups.
	gen := h.subsGen.Load()
	if g := h.groups[collection]; g != nil && g.gen == gen {
		return g
	}
	g := &subscriberGroups{gen: gen, subs: h.subscriptionsFor(collection)}
	index := map[groupKey]int{}
	for i, s := range g.subs {
		acc := s.client.acc.Load()
		k := groupKey{admin: acc.Admin, role: acc.Role, user: acc.User, shape: s.shape}
		j, ok := index[k]
		if !ok {
			j = len(g.groups)
			index[k] = j
			g.groups = append(g.groups, subscriberGroup{acc: acc, shape: s.shape, filterUsesUser: s.filterUsesUser})
		}
		g.groups[j].members = append(g.groups[j].members, i)
	}
	if h.groups == nil {
		h.groups = map[string]*subscriberGroups{}
	}
	h.groups[collection] = g
	return g
}

// dropStaleGroups forgets groupings that are out of date, so that closed
// clients are not kept alive by a collection that sees no more events.
func (h *Hub) dropStaleGroups() {
	gen := h.subsGen.Load()
	for collection, g := range h.groups {
		if g.gen != gen {
			delete(h.groups, collection)
		}
	}
}

// classesOf merges subscriber groups that would get the same frames into
// classes.
func (d *dispatcher) classesOf(g *subscriberGroups, col *hooks.Collection) []*class {
	if d.h.classIndex == nil {
		d.h.classIndex = map[classKey]*class{}
	}
	byKey := d.h.classIndex
	defer clear(byKey)
	var out []*class
	for _, gr := range g.groups {
		aud, err := d.audience(gr.acc, col)
		if err != nil {
			d.h.logger.Warn("realtime: no audience for subscribers; skipping them for this page",
				slog.String("client", g.subs[gr.members[0]].client.uid), slog.Int("subscriptions", len(gr.members)),
				slog.Any("error", err))
			continue
		}
		k := classKey{aud: aud, shape: gr.shape}
		if gr.filterUsesUser {
			k.filterUser = gr.acc.User
		}
		cl := byKey[k]
		if cl == nil {
			// A class of one group shares the group's member list; appending
			// another group's copies it (the capacity is capped).
			cl = &class{rep: g.subs[gr.members[0]], aud: aud, members: gr.members[:len(gr.members):len(gr.members)]}
			byKey[k] = cl
			out = append(out, cl)
			continue
		}
		cl.members = append(cl.members, gr.members...)
	}
	return out
}

// flush hands each subscription its frames of the page at once: a socket
// behind on a busy log gets them in one write. A subscription that is its
// client's only one in the page and takes its class's whole page gets the
// class's shared, pre-framed buffer: one enqueue and one write whatever
// the number of events. A client with several subscriptions in the page
// gets their frames merged in log order.
func (d *dispatcher) flush() {
	d.h.page++
	page := d.h.page
	shares := d.h.shares[:0]
	defer func() {
		// Kept for the next page, without holding on to this one's
		// subscriptions and frames.
		clear(shares)
		d.h.shares = shares[:0]
	}()
	for _, t := range d.targets {
		for _, cl := range t.classes {
			if len(cl.page.frames) == 0 {
				continue
			}
			for _, i := range cl.members {
				s := t.subs[i]
				sh, ok := shareOf(s, cl)
				if !ok {
					continue
				}
				shares = append(shares, sh)
				if c := s.client; c.page != page {
					c.page, c.pageSubs = page, 1
					d.sockets++
				} else {
					c.pageSubs++
				}
			}
		}
	}
	var merged map[*client][]part
	for k := range shares {
		sh := &shares[k]
		switch {
		case sh.s.client.pageSubs > 1:
			if merged == nil {
				merged = map[*client][]part{}
			}
			merged[sh.s.client] = append(merged[sh.s.client], part{s: sh.s, p: sh.frames()})
		case sh.all:
			sh.cl.framedPage() // built here, before two writers share it
		}
	}
	deliverShares(shares)
	for c, parts := range merged {
		c.deliverMerged(parts)
	}
}

// parallelDeliveryMin is the fewest sockets a page is written to from two
// goroutines instead of one.
const parallelDeliveryMin = 64

// deliverShares hands each share that is its client's only one in the page
// its frames (flush merges the others per client). No two of these shares
// touch the same client, so a page to many sockets is written by two
// goroutines, half each: a write to a socket is mostly the kernel's TCP
// path (on loopback, the receiving side's too), so one goroutine writing
// 1,000 sockets kept one core busy for about 10 ms per event while the
// other had little to do. Halved, that was 15% shorter (BENCHMARKS.md,
// "Fourth session").
func deliverShares(shares []share) {
	deliver := func(shares []share) {
		for k := range shares {
			sh := &shares[k]
			if sh.s.client.pageSubs > 1 {
				continue
			}
			if sh.all {
				sh.s.deliverPage(sh.cl)
			} else {
				sh.s.deliver(sh.own.frames, sh.own.txs)
			}
		}
	}
	if len(shares) < parallelDeliveryMin || runtime.GOMAXPROCS(0) < 2 {
		deliver(shares)
		return
	}
	half := len(shares) / 2
	done := make(chan struct{})
	go func() {
		defer close(done)
		deliver(shares[half:])
	}()
	deliver(shares[:half])
	<-done
}

// pending are a subscription's frames of the page, their transactions and
// their events' positions in the page.
type pending struct {
	frames [][]byte
	txs    []uint64
	seqs   []int
}

// part is one subscription's share of a client's frames in a page.
type part struct {
	s *subscription
	p *pending
}

// frame is s's event frame for pre-encoded data, shared by every
// subscription with the same uid (SDK uids are small counters, so many
// sockets share them).
func (d *dispatcher) eventFrame(s *subscription, action string, data *encoded) []byte {
	if data.lastFrame != nil && data.lastUID == s.uidKey {
		return data.lastFrame
	}
	b, ok := data.frames[s.uidKey]
	if !ok {
		b = s.eventFrame(action, data.json)
		if data.frames == nil {
			data.frames = map[string][]byte{}
		}
		data.frames[s.uidKey] = b
	}
	data.lastUID, data.lastFrame = s.uidKey, b
	return b
}

// dispatcher holds what one page of events shares between subscribers:
// permissions per role, compiled rules, database reads, encoded rows.
type dispatcher struct {
	h         *Hub
	ctx       context.Context
	schema    *hooks.Schema
	perms     map[permKey]*permEntry
	audiences map[audienceKey]*audience
	reads     map[string]*readResult
	encoded   map[encodedKey]*encoded
	// last is the most recent encode, checked before the map: subscribers
	// in a row mostly share it.
	lastKey encodedKey
	last    *encoded
	// frames counts the frames of the page (one per class member per
	// event); targets hold them per class; seq numbers the page's events.
	frames  int
	targets []*target
	seq     int
	// sockets counts the clients the page is written to.
	sockets int
}

// encoded is one event's data encoded for one kind of subscriber, and the
// frames built from it per subscription uid.
type encoded struct {
	json      []byte
	frames    map[string][]byte
	lastUID   string
	lastFrame []byte
}

// encodedKey identifies one encoding of one event's data for one kind of
// subscriber.
type encodedKey struct {
	event  int64
	aud    *audience // nil for deletes (keys only)
	fields string
	object bool
}

// permKey and audienceKey avoid building strings per subscriber.
type permKey struct {
	collection, role string
}

type audienceKey struct {
	collection, role, user string
	admin                  bool
}

type permEntry struct {
	perm *hooks.Permission // nil = no read access
	err  error
	// perUser is set when the rule mentions $CURRENT_USER: it is compiled
	// per user rather than per role.
	perUser bool
}

// audience is what one kind of subscriber (admin, or a role and, when its
// rule mentions the user, a user) may read of one collection.
type audience struct {
	key  string
	deny bool
	// rule is the item rule as a predicate; nil = every row.
	rule        func(hooks.Item) bool
	ruleNeedsDB bool
	// fields allowed; nil = all.
	fields map[string]bool
}

type readResult struct {
	items []hooks.Item
	err   error
}

func (d *dispatcher) event(e *store.Event, t *target) {
	action := e.Action
	if action != "create" && action != "update" && action != "delete" {
		return
	}
	var key any
	if len(e.ItemKey) > 0 {
		_ = json.Unmarshal(e.ItemKey, &key)
	}
	raw := e.Data
	if action == "delete" {
		raw = e.OldData
	}
	var image hooks.Item
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &image); err != nil {
			d.h.logger.Warn("realtime: event row image is not an object", slog.Int64("event", e.ID), slog.Any("error", err))
			image = nil
		}
	}
	for _, cl := range t.classes {
		frame := d.frameSafely(cl, e, action, key, image)
		if frame == nil {
			continue
		}
		// Members whose subscription came after the event's commit are
		// sorted out at flush (shareOf).
		cl.add(frame, e.TxID, d.seq)
		d.frames += len(cl.members)
	}
}

// frameSafely keeps one class's failure from stopping the others.
func (d *dispatcher) frameSafely(cl *class, e *store.Event, action string, key any, image hooks.Item) (frame []byte) {
	s := cl.rep
	defer func() {
		if r := recover(); r != nil {
			d.h.logger.Error("realtime: delivering an event panicked", slog.String("client", s.client.uid),
				slog.Int64("event", e.ID), slog.Any("panic", r))
			frame = nil
		}
	}()
	frame, err := d.frame(cl, e, action, key, image)
	if err != nil {
		d.h.logger.Warn("realtime: delivering an event failed", slog.String("client", s.client.uid),
			slog.Int64("event", e.ID), slog.Any("error", err))
		return nil
	}
	return frame
}

// frame is the frame the class's subscriptions get for the event, or nil
// when they get nothing.
func (d *dispatcher) frame(cl *class, e *store.Event, action string, key any, image hooks.Item) ([]byte, error) {
	s, aud := cl.rep, cl.aud
	if s.event != "" && s.event != action {
		return nil, nil
	}
	if s.hasItem && keyString(key) != s.itemKey {
		return nil, nil
	}
	if aud.deny {
		return nil, nil
	}
	if action == "delete" {
		// Only keys are sent, so fields do not matter, but the old row must
		// be provably readable and inside the filter: a deleted row cannot
		// be read back, so a rule that needs the database withholds it.
		if aud.ruleNeedsDB || s.filterNeedsDB {
			return nil, nil
		}
		if image == nil && (aud.rule != nil || s.filter != nil) {
			return nil, nil
		}
		if image != nil && (aud.rule != nil && !aud.rule(image) || s.filter != nil && !s.filter(image)) {
			return nil, nil
		}
		data := d.encode(encodedKey{event: e.ID}, func() any { return []any{key} })
		return d.eventFrame(s, action, data), nil
	}

	if aud.ruleNeedsDB || s.filterNeedsDB || s.fieldsNeedDB || image == nil {
		items, err := d.read(s, aud, s.client.acc.Load(), e, key)
		if err != nil || len(items) == 0 {
			return nil, err
		}
		var payload any = items
		if s.hasItem {
			payload = items[0]
		}
		b, err := json.Marshal(payload)
		if err != nil {
			return nil, fmt.Errorf("encoding event data: %w", err)
		}
		return s.eventFrame(action, b), nil
	}
	if aud.rule != nil && !aud.rule(image) || s.filter != nil && !s.filter(image) {
		return nil, nil
	}
	data := d.encode(encodedKey{event: e.ID, aud: aud, fields: s.fieldsKey, object: s.hasItem}, func() any {
		row := project(image, aud.fields, s.fields)
		if s.hasItem {
			return row
		}
		return []hooks.Item{row}
	})
	return d.eventFrame(s, action, data), nil
}

// encode memoises the JSON of a value shared by many subscribers.
func (d *dispatcher) encode(key encodedKey, build func() any) *encoded {
	if d.last != nil && d.lastKey == key {
		return d.last
	}
	if e, ok := d.encoded[key]; ok {
		d.lastKey, d.last = key, e
		return e
	}
	b, err := json.Marshal(build())
	if err != nil {
		b = []byte("null")
	}
	e := &encoded{json: b}
	d.encoded[key] = e
	d.lastKey, d.last = key, e
	return e
}

// read is the fallback for rules, filters or fields that need the database:
// one ReadMany per (audience, query, event), shared by every subscriber
// with the same ones, under the subscriber's accountability.
func (d *dispatcher) read(s *subscription, aud *audience, acc *hooks.Accountability, e *store.Event, key any) ([]hooks.Item, error) {
	audKey := aud.key
	if strings.Contains(s.queryKey, "$CURRENT_") {
		audKey += "\x00" + acc.User
	}
	k := fmt.Sprintf("%s\x00%s\x00%d", audKey, s.queryKey, e.ID)
	if r, ok := d.reads[k]; ok {
		return r.items, r.err
	}
	r := &readResult{}
	d.reads[k] = r
	svc, err := d.h.cfg.Items(d.ctx, s.collection, acc)
	if err != nil {
		r.err = err
		return nil, err
	}
	r.items, r.err = svc.ReadMany(d.ctx, []any{key}, s.query)
	if he, ok := hooks.AsError(r.err); ok && he.Code == "FORBIDDEN" {
		r.items, r.err = nil, nil
	}
	return r.items, r.err
}

func (d *dispatcher) audience(acc *hooks.Accountability, col *hooks.Collection) (*audience, error) {
	if acc.Admin {
		k := audienceKey{collection: col.Name, admin: true}
		if a, ok := d.audiences[k]; ok {
			return a, nil
		}
		a := &audience{key: "admin\x00" + col.Name}
		d.audiences[k] = a
		return a, nil
	}
	pk := permKey{collection: col.Name, role: acc.Role}
	pe, ok := d.perms[pk]
	if !ok {
		perm, err := d.h.cfg.Permission(d.ctx, acc, col.Name, "read")
		if he, isHE := hooks.AsError(err); isHE && he.Code == "FORBIDDEN" {
			perm, err = nil, nil
		}
		pe = &permEntry{perm: perm, err: err}
		if perm != nil && len(perm.Permissions) > 0 {
			rb, _ := json.Marshal(perm.Permissions)
			pe.perUser = strings.Contains(string(rb), "$CURRENT_USER")
		}
		d.perms[pk] = pe
	}
	if pe.err != nil {
		return nil, fmt.Errorf("reading permissions: %w", pe.err)
	}
	ak := audienceKey{collection: col.Name, role: acc.Role}
	if pe.perUser {
		ak.user = acc.User
	}
	if a, ok := d.audiences[ak]; ok {
		return a, nil
	}
	if pe.perm == nil {
		a := &audience{deny: true}
		d.audiences[ak] = a
		return a, nil
	}
	a := &audience{key: "role\x00" + col.Name + "\x00" + acc.Role + "\x00" + ak.user}
	if len(pe.perm.Permissions) > 0 {
		rule, err := d.h.cfg.CompileFilter(col, pe.perm.Permissions, filterVars(acc))
		switch {
		case errors.Is(err, ErrNotInMemory):
			a.ruleNeedsDB = true
		case err != nil:
			// A rule we cannot evaluate must not let rows through: the
			// database read applies it for real.
			d.h.logger.Warn("realtime: permission rule not compilable; reading instead",
				slog.String("collection", col.Name), slog.Any("error", err))
			a.ruleNeedsDB = true
		default:
			a.rule = rule
		}
	}
	// As the item service: ["*"] = all fields, nil = none.
	if !slices.Contains(pe.perm.Fields, "*") {
		a.fields = make(map[string]bool, len(pe.perm.Fields))
		for _, f := range pe.perm.Fields {
			a.fields[f] = true
		}
	}
	d.audiences[ak] = a
	return a, nil
}

// project keeps the fields both the permission (nil = all) and the
// subscription (nil = all) allow.
func project(image hooks.Item, allowed map[string]bool, want []string) hooks.Item {
	out := make(hooks.Item, len(image))
	if want == nil {
		for k, v := range image {
			if allowed == nil || allowed[k] {
				out[k] = v
			}
		}
		return out
	}
	for _, f := range want {
		if v, ok := image[f]; ok && (allowed == nil || allowed[f]) {
			out[f] = v
		}
	}
	return out
}
