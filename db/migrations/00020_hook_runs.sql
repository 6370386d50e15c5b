-- Hook runs, as SQL: one row per River job of a hook (durable actions and
-- schedules) joined to the hookd_event rows it covers. River owns
-- river_job; this view only reads it, so retrying or cancelling still goes
-- through River (`hookd jobs retry|cancel`, or River's own UPDATEs).
-- `event` is the concrete name the hook was called with (e.g.
-- articles.items.create); `event_name` is the hookd_event name of the run's
-- events (items.create).

-- +goose Up
CREATE VIEW hookd_hook_runs AS
SELECT j.id                                                    AS job_id,
       CASE j.kind WHEN 'hookd_action' THEN 'action' ELSE 'schedule' END AS hook_kind,
       j.args ->> 'hook_id'                                    AS hook_id,
       j.args ->> 'event'                                      AS event,
       j.state,
       j.attempt,
       j.max_attempts,
       j.queue,
       j.priority,
       ids.event_ids,
       COALESCE(ev.collection, j.args -> 'meta' ->> 'collection') AS collection,
       ev.item_keys,
       (j.args ->> 'tick')::timestamptz                        AS tick,
       j.errors,
       j.errors[array_length(j.errors, 1)] ->> 'error'         AS last_error,
       j.created_at,
       j.scheduled_at,
       j.attempted_at,
       j.finalized_at,
       j.attempted_by,
       ev.event_name
FROM river_job j
CROSS JOIN LATERAL (
    SELECT COALESCE(array_agg(x::bigint), '{}') AS event_ids
    FROM jsonb_array_elements_text(COALESCE(j.args -> 'event_ids', '[]')) AS x
) ids
LEFT JOIN LATERAL (
    SELECT min(e.collection) AS collection, jsonb_agg(e.item_key ORDER BY e.id) AS item_keys,
           min(e.name) AS event_name
    FROM hookd_event e
    WHERE e.id = ANY (ids.event_ids)
) ev ON true
WHERE j.kind IN ('hookd_action', 'hookd_schedule');

COMMENT ON VIEW hookd_hook_runs IS 'hookd: one row per hook run (River job of kind hookd_action or hookd_schedule) with the events it covers';

-- +goose Down
DROP VIEW hookd_hook_runs;
