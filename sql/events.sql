-- name: EventAppend
-- Appends a batch of events in one statement (one row per element of the
-- parallel arrays, in array order) and returns their ids in that order. The
-- jsonb columns arrive as text so that SQL NULL and JSON null stay distinct.
INSERT INTO hookd_event (name, scope, action, collection, item_key, data, old_data, payload, accountability, origin)
SELECT u.name, u.scope, u.action, u.collection, u.item_key::jsonb, u.data::jsonb, u.old_data::jsonb,
       u.payload::jsonb, u.accountability::jsonb, u.origin
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
            $9::text[], $10::text[])
     WITH ORDINALITY AS u(name, scope, action, collection, item_key, data, old_data, payload, accountability,
                          origin, ord)
ORDER BY u.ord
RETURNING id;

-- name: EventsByIDs
-- The events with the given ids, in log order (tx_id, id).
SELECT id, tx_id, name, scope, action, collection, item_key, data, old_data, payload, accountability, origin,
       created_at
FROM hookd_event
WHERE id = ANY($1::bigint[])
ORDER BY tx_id, id;

-- name: EventsAfter
-- Events strictly after the cursor ($1 = tx_id, $2 = id) in (tx_id, id)
-- order, limited to transactions below the current snapshot's xmin: every
-- such transaction has finished, so no row can later appear behind a cursor
-- taken from this result (see db/migrations/00002_event_log.sql). $3 is the
-- page size.
SELECT id, tx_id, name, scope, action, collection, item_key, data, old_data, payload, accountability, origin,
       created_at
FROM hookd_event
WHERE (tx_id, id) > ($1::xid8, $2::bigint)
  AND tx_id < pg_snapshot_xmin(pg_current_snapshot())
ORDER BY tx_id, id
LIMIT $3;

-- name: EventsHorizon
-- The cursor a new reader starts from to see only events committed from now
-- on: everything below the snapshot's xmin is finished and can be skipped.
SELECT pg_snapshot_xmin(pg_current_snapshot());

-- name: EventAppendWithWrite
-- A format template (Go fmt): the first verb is an item write (INSERT,
-- UPDATE or DELETE … RETURNING hookd_key, hookd_new, hookd_old, jsonb
-- each) whose own placeholders come first; the next seven are the numbers
-- of the placeholders holding the event's name, scope, action, collection,
-- payload, accountability and origin. The write and its event rows are one
-- statement (one round trip, atomic on its own); the result is each written
-- row (key, new image, old image, as the event stores them) with its event
-- id, returned by the event insert itself.
WITH hookd_write AS (%s)
INSERT INTO hookd_event (name, scope, action, collection, item_key, data, old_data, payload, accountability,
                         origin)
SELECT $%[2]d, $%[3]d, $%[4]d, $%[5]d, w.hookd_key, w.hookd_new, w.hookd_old, $%[6]d::text::jsonb,
       $%[7]d::text::jsonb, $%[8]d
FROM hookd_write w
RETURNING item_key, data, old_data, id;

-- name: EventAppendWithInsert
-- A format template (Go fmt) for creates of two rows or more: the first verb
-- is a multi-row INSERT … VALUES … RETURNING hookd_key, hookd_new (jsonb)
-- whose own placeholders come first; the next five are the numbers of the
-- placeholders holding the event's name, scope, action and collection, and
-- the origin; the two after them hold text arrays with one payload and one
-- accountability per inserted row, in VALUES order. Each row gets its event
-- in the same statement; the result is (event id, key, new image) in VALUES
-- order. It relies on an INSERT … VALUES returning its rows in VALUES order
-- and on an INSERT … SELECT … ORDER BY inserting, and so returning, its
-- rows in that order, which Postgres does (ORMs rely on the first). The
-- events' RETURNING carries the key and the image, so no join back to the
-- written rows is needed: a pgbench of this shape against the earlier one
-- that joined them back (4 rows, 8 clients) ran about a third more statements.
WITH hookd_write AS (%s),
hookd_numbered AS (
    SELECT hookd_key, hookd_new, row_number() OVER () AS ord FROM hookd_write
)
INSERT INTO hookd_event (name, scope, action, collection, item_key, data, payload, accountability, origin)
SELECT $%[2]d, $%[3]d, $%[4]d, $%[5]d, w.hookd_key, w.hookd_new, u.payload::jsonb, u.accountability::jsonb,
       $%[6]d
FROM hookd_numbered w
JOIN unnest($%[7]d::text[], $%[8]d::text[]) WITH ORDINALITY AS u(payload, accountability, ord) ON u.ord = w.ord
ORDER BY w.ord
RETURNING id, item_key, data;

-- name: EventAppendWithInsertOne
-- EventAppendWithInsert for a single row: the same verbs, but the last two
-- placeholders hold the payload and the accountability as JSON text, so the
-- statement needs neither the numbering nor the arrays (a create nobody
-- shares a statement with: the common case under light load).
WITH hookd_write AS (%s)
INSERT INTO hookd_event (name, scope, action, collection, item_key, data, payload, accountability, origin)
SELECT $%[2]d, $%[3]d, $%[4]d, $%[5]d, w.hookd_key, w.hookd_new, $%[7]d::text::jsonb, $%[8]d::text::jsonb,
       $%[6]d
FROM hookd_write w
RETURNING id, item_key, data;

-- name: EventAppendWithInsertJobs
-- EventAppendWithInsert for a create batch watched by durable action hooks:
-- the same verbs, then five more placeholder numbers for parallel arrays
-- describing one River job per (event name, action hook) that every created
-- row gets: args (the job's JSON args without event_ids, which is filled in
-- here with the row's event id), kind, max_attempts, priority and queue.
-- The rows, their events and their jobs are one statement: atomic without a
-- transaction, so the jobs exist if and only if their rows committed, in one
-- round trip where BEGIN, the insert, River's COPY and COMMIT took four.
-- The statement ends in ActionJobsForEvents, which internal/store appends.
WITH hookd_write AS (%s),
hookd_numbered AS (
    SELECT hookd_key, hookd_new, row_number() OVER () AS ord FROM hookd_write
),
hookd_events AS (
    INSERT INTO hookd_event (name, scope, action, collection, item_key, data, payload, accountability, origin)
    SELECT $%[2]d, $%[3]d, $%[4]d, $%[5]d, w.hookd_key, w.hookd_new, u.payload::jsonb, u.accountability::jsonb,
           $%[6]d
    FROM hookd_numbered w
    JOIN unnest($%[7]d::text[], $%[8]d::text[]) WITH ORDINALITY AS u(payload, accountability, ord) ON u.ord = w.ord
    ORDER BY w.ord
    RETURNING id, item_key, data
),

-- name: EventAppendWithInsertOneJobs
-- EventAppendWithInsertJobs for a single row: the verbs of
-- EventAppendWithInsertOne, then the five job arrays; it too ends in
-- ActionJobsForEvents.
WITH hookd_write AS (%s),
hookd_events AS (
    INSERT INTO hookd_event (name, scope, action, collection, item_key, data, payload, accountability, origin)
    SELECT $%[2]d, $%[3]d, $%[4]d, $%[5]d, w.hookd_key, w.hookd_new, $%[7]d::text::jsonb, $%[8]d::text::jsonb,
           $%[6]d
    FROM hookd_write w
    RETURNING id, item_key, data
),

-- name: ActionJobsForEvents
-- The end of EventAppendWithInsertJobs and EventAppendWithInsertOneJobs,
-- after their hookd_events CTE: per event, one river_job row per element of
-- the five job arrays (placeholder numbers 9 to 13 of those templates), in
-- event then array order, which is River's own insert order; the statement
-- returns the events. The columns are the ones River's bulk insert
-- (InsertManyFastTx) sets; internal/event's tests compare the two rows.
hookd_jobs AS (
    INSERT INTO river_job (args, kind, max_attempts, priority, queue, state, created_at, scheduled_at, metadata, tags)
    SELECT j.args::jsonb || jsonb_build_object('event_ids', jsonb_build_array(e.id)), j.kind, j.max_attempts,
           j.priority, j.queue, 'available', now(), now(), '{}', '{}'
    FROM hookd_events e
    CROSS JOIN unnest($%[9]d::text[], $%[10]d::text[], $%[11]d::smallint[], $%[12]d::smallint[], $%[13]d::text[])
               WITH ORDINALITY AS j(args, kind, max_attempts, priority, queue, ord)
    ORDER BY e.id, j.ord
)
SELECT id, item_key, data FROM hookd_events;
