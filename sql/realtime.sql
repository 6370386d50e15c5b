-- Realtime fan-out: the broadcast table and the wake-up notifications.
-- Channels: hookd_events (new rows in hookd_event; payload: the notifying
-- instance) and
-- hookd_broadcasts (new rows in hookd_broadcast; payload = the row id).

-- name: RealtimeWake
-- $1: the notifying instance, which has already woken its own reader.
SELECT pg_notify('hookd_events', $1);

-- name: BroadcastInsert
-- One statement: the notification is sent when it commits, with the row.
WITH inserted AS (
    INSERT INTO hookd_broadcast (message, target_user, target_role)
    VALUES ($1, $2, $3)
    RETURNING id
)
SELECT id, pg_notify('hookd_broadcasts', id::text) FROM inserted;

-- name: BroadcastsAfter
-- $1, $2: the cursor (tx_id, id); $3: the limit.
SELECT id, tx_id, message, coalesce(target_user, ''), coalesce(target_role, '')
FROM hookd_broadcast
WHERE (tx_id, id) > ($1::xid8, $2::bigint)
  AND tx_id < pg_snapshot_xmin(pg_current_snapshot())
ORDER BY tx_id, id
LIMIT $3;

-- name: BroadcastPrune
DELETE FROM hookd_broadcast WHERE created_at < now() - $1::interval;

-- name: RealtimeSnapshot
-- The current snapshot: a subscription skips events of transactions
-- visible in it (its init read already saw their rows).
SELECT pg_current_snapshot()::text;

-- name: RealtimePending
-- Whether committed rows exist after the cursors that the horizon still
-- withholds (a transaction older than them is running): the reader then
-- looks again shortly instead of waiting for its next poll.
-- $1, $2: the event cursor; $3, $4: the broadcast cursor.
SELECT EXISTS (SELECT 1 FROM hookd_event WHERE (tx_id, id) > ($1::xid8, $2::bigint)),
       EXISTS (SELECT 1 FROM hookd_broadcast WHERE (tx_id, id) > ($3::xid8, $4::bigint));
