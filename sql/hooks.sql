-- name: HookEventsByID
-- The events a durable action job covers (hook engine worker).
SELECT id, name, scope, action, collection, item_key, payload, data, accountability
FROM hookd_event
WHERE id = ANY($1::bigint[])
ORDER BY id;

-- name: MailOutboxAppend
-- One mail sent by a hook through the Mail service (log/outbox transport).
INSERT INTO hookd_mail_outbox (recipients, subject, template, template_data, body)
VALUES ($1, $2, $3, $4, NULLIF($5, ''))
RETURNING id;

-- name: HookRunsList
-- Hook runs for `hookd jobs list`: optional state, hook id and event name
-- filters ('' = any), newest first.
SELECT job_id, hook_kind, hook_id, event, state::text, attempt, max_attempts, queue,
       event_ids, collection, last_error, created_at, finalized_at
FROM hookd_hook_runs
WHERE ($1 = '' OR state::text = $1)
  AND ($2 = '' OR hook_id = $2)
  AND ($3 = '' OR event = $3)
ORDER BY job_id DESC
LIMIT $4;
