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

-- The realtime readers' horizon. pg_snapshot_xmin is cluster-wide: a
-- transaction open in another database of the cluster would hold our events
-- back although it cannot write our tables. This horizon is the oldest
-- transaction in progress in this statement's snapshot that is not known to
-- belong to another database (pg_stat_activity; a transaction it cannot
-- place — prepared, finished since, or hidden from this role — counts as
-- ours), or the snapshot's xmax when there is none. Every transaction of
-- this database below it had finished when the snapshot was taken.

-- name: RealtimeEventsAfter
-- Events after the cursor ($1 tx_id, $2 id) below the horizon, in
-- (tx_id, id) order; $3 is the page size.
WITH horizon AS (
    SELECT coalesce(
        (SELECT min(x) FROM pg_snapshot_xip(s.snap) AS x
         WHERE (x::text::numeric % 4294967296)::bigint NOT IN (
             SELECT a.backend_xid::text::bigint FROM pg_stat_activity a
             WHERE a.backend_xid IS NOT NULL
               AND a.datid IS DISTINCT FROM (SELECT oid FROM pg_database WHERE datname = current_database()))),
        pg_snapshot_xmax(s.snap)) AS h
    FROM (SELECT pg_current_snapshot() AS snap) s
)
SELECT id, tx_id, name, scope, action, collection, item_key, data, old_data, payload, accountability, origin,
       created_at
FROM hookd_event
WHERE (tx_id, id) > ($1::xid8, $2::bigint)
  AND tx_id < (SELECT h FROM horizon)
ORDER BY tx_id, id
LIMIT $3;

-- name: RealtimeBroadcastsAfter
-- Broadcasts after the cursor ($1 tx_id, $2 id) below the same horizon;
-- $3 is the page size.
WITH horizon AS (
    SELECT coalesce(
        (SELECT min(x) FROM pg_snapshot_xip(s.snap) AS x
         WHERE (x::text::numeric % 4294967296)::bigint NOT IN (
             SELECT a.backend_xid::text::bigint FROM pg_stat_activity a
             WHERE a.backend_xid IS NOT NULL
               AND a.datid IS DISTINCT FROM (SELECT oid FROM pg_database WHERE datname = current_database()))),
        pg_snapshot_xmax(s.snap)) AS h
    FROM (SELECT pg_current_snapshot() AS snap) s
)
SELECT id, tx_id, message, coalesce(target_user, ''), coalesce(target_role, '')
FROM hookd_broadcast
WHERE (tx_id, id) > ($1::xid8, $2::bigint)
  AND tx_id < (SELECT h FROM horizon)
ORDER BY tx_id, id
LIMIT $3;
