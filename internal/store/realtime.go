package store

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	hsql "github.com/hookd/hookd/sql"
)

// Realtime notification channels. Writers notify after commit; every
// instance listens on a dedicated connection.
const (
	// ChannelEvents wakes readers of hookd_event (payload: the id of the
	// notifying instance).
	ChannelEvents = "hookd_events"
	// ChannelBroadcasts wakes readers of hookd_broadcast (payload: row id).
	ChannelBroadcasts = "hookd_broadcasts"
)

// RealtimeWake sends one NOTIFY on ChannelEvents with the notifying
// instance's id as payload. Call it outside the writing transaction, after
// commit: a NOTIFY inside a transaction takes a cluster-wide lock at commit
// and would serialise every writer.
func RealtimeWake(ctx context.Context, q Querier, instanceID string) error {
	if _, err := q.Exec(ctx, hsql.Query("RealtimeWake"), instanceID); err != nil {
		return fmt.Errorf("notifying %s: %w", ChannelEvents, Translate(err))
	}
	return nil
}

// Broadcast is one row of hookd_broadcast.
type Broadcast struct {
	ID   int64
	TxID uint64
	// Message is sent to clients as is.
	Message []byte
	// TargetUser and TargetRole narrow the audience; "" = anyone.
	TargetUser string
	TargetRole string
}

// BroadcastCursor is a position in hookd_broadcast: everything at or
// before (TxID, ID) has been read.
type BroadcastCursor struct {
	TxID uint64
	ID   int64
}

// BroadcastInsertParams is a broadcast to write.
type BroadcastInsertParams struct {
	Message    []byte
	TargetUser string
	TargetRole string
}

// BroadcastInsert writes a broadcast and notifies ChannelBroadcasts when the
// statement commits. It returns the row id.
func BroadcastInsert(ctx context.Context, q Querier, p *BroadcastInsertParams) (int64, error) {
	var id int64
	var notified any
	err := q.QueryRow(ctx, hsql.Query("BroadcastInsert"), p.Message, broadcastTarget(p.TargetUser),
		broadcastTarget(p.TargetRole)).Scan(&id, &notified)
	if err != nil {
		return 0, fmt.Errorf("inserting broadcast: %w", Translate(err))
	}
	return id, nil
}

// BroadcastsAfter reads up to limit broadcasts after cursor, in (tx_id, id)
// order, below the realtime horizon (see RealtimeEventsAfter).
func BroadcastsAfter(ctx context.Context, q Querier, cursor BroadcastCursor, limit int) ([]Broadcast, error) {
	rows, err := q.Query(ctx, hsql.Query("RealtimeBroadcastsAfter"), cursor.TxID, cursor.ID, limit)
	if err != nil {
		return nil, fmt.Errorf("reading broadcasts: %w", Translate(err))
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Broadcast, error) {
		var b Broadcast
		err := row.Scan(&b.ID, &b.TxID, &b.Message, &b.TargetUser, &b.TargetRole)
		return b, err
	})
	if err != nil {
		return nil, fmt.Errorf("reading broadcasts: %w", Translate(err))
	}
	return out, nil
}

// RealtimeEventsAfter is EventsAfter with the realtime horizon: the oldest
// transaction in progress that is not known to belong to another database
// of the cluster, instead of pg_snapshot_xmin, which a transaction left
// open in any other database holds back. The resume guarantee is the same:
// every transaction of this database below the horizon had finished when
// the page was read. limit <= 0 means 1000.
func RealtimeEventsAfter(ctx context.Context, q Querier, cursor EventCursor, limit int) ([]*Event, error) {
	return eventsAfter(ctx, q, "RealtimeEventsAfter", cursor, limit)
}

// BroadcastPrune deletes broadcasts older than age; every instance has read
// them long before.
func BroadcastPrune(ctx context.Context, q Querier, age time.Duration) (int64, error) {
	tag, err := q.Exec(ctx, hsql.Query("BroadcastPrune"), age)
	if err != nil {
		return 0, fmt.Errorf("pruning broadcasts: %w", Translate(err))
	}
	return tag.RowsAffected(), nil
}

func broadcastTarget(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// RealtimeListen subscribes conn (a dedicated connection, not a pooled one)
// to ChannelEvents and ChannelBroadcasts.
func RealtimeListen(ctx context.Context, conn *pgx.Conn) error {
	for _, ch := range []string{ChannelEvents, ChannelBroadcasts} {
		if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{ch}.Sanitize()); err != nil {
			return fmt.Errorf("listening on %s: %w", ch, Translate(err))
		}
	}
	return nil
}

// Snapshot is a transaction snapshot (pg_snapshot): which transactions had
// committed when it was taken.
type Snapshot struct {
	Xmin, Xmax uint64
	// Xip are the transactions in progress between Xmin and Xmax.
	Xip []uint64
}

// Visible reports whether transaction tx had committed (or aborted) when
// the snapshot was taken, as pg_visible_in_snapshot.
func (s *Snapshot) Visible(tx uint64) bool {
	if tx < s.Xmin {
		return true
	}
	if tx >= s.Xmax {
		return false
	}
	return !slices.Contains(s.Xip, tx)
}

// RealtimeSnapshot takes the current snapshot.
func RealtimeSnapshot(ctx context.Context, q Querier) (*Snapshot, error) {
	var text string
	if err := q.QueryRow(ctx, hsql.Query("RealtimeSnapshot")).Scan(&text); err != nil {
		return nil, fmt.Errorf("taking a snapshot: %w", Translate(err))
	}
	return ParseSnapshot(text)
}

// ParseSnapshot reads pg_snapshot's text form "xmin:xmax:xip,xip,…".
func ParseSnapshot(text string) (*Snapshot, error) {
	parts := strings.Split(text, ":")
	if len(parts) != 3 {
		return nil, fmt.Errorf("malformed snapshot %q", text)
	}
	var s Snapshot
	var err error
	if s.Xmin, err = strconv.ParseUint(parts[0], 10, 64); err != nil {
		return nil, fmt.Errorf("malformed snapshot %q: %w", text, err)
	}
	if s.Xmax, err = strconv.ParseUint(parts[1], 10, 64); err != nil {
		return nil, fmt.Errorf("malformed snapshot %q: %w", text, err)
	}
	if parts[2] != "" {
		for _, x := range strings.Split(parts[2], ",") {
			n, err := strconv.ParseUint(x, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("malformed snapshot %q: %w", text, err)
			}
			s.Xip = append(s.Xip, n)
		}
	}
	return &s, nil
}

// RealtimePending reports whether committed events or broadcasts exist
// after the cursors, whether or not the horizon lets them be read yet.
func RealtimePending(ctx context.Context, q Querier, events EventCursor, broadcasts BroadcastCursor) (bool, bool, error) {
	var ev, bc bool
	err := q.QueryRow(ctx, hsql.Query("RealtimePending"), events.TxID, events.ID, broadcasts.TxID, broadcasts.ID).Scan(&ev, &bc)
	if err != nil {
		return false, false, fmt.Errorf("checking for pending realtime rows: %w", Translate(err))
	}
	return ev, bc, nil
}
