-- The event log: every change to a collection, one row per affected item,
-- appended in the same transaction as the change (origin 'api') or by the
-- logical-replication consumer (origin 'sql'). Append-only.
--
-- Ordering: `id` is assigned at insert, but transactions commit out of id
-- order, so a reader that only remembered the highest id it saw could skip a
-- row that commits later with a lower id. `tx_id` (xid8) fixes that: every
-- transaction whose xid is below pg_snapshot_xmin(pg_current_snapshot()) has
-- finished, so readers take rows with tx_id below that horizon in (tx_id, id)
-- order and keep (tx_id, id) as their cursor. A row can never appear behind a
-- cursor taken that way.

-- +goose Up
CREATE TABLE hookd_event (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tx_id          xid8        NOT NULL DEFAULT pg_current_xact_id(),
    name           text        NOT NULL,
    scope          text        NOT NULL,
    action         text        NOT NULL,
    collection     text        NOT NULL,
    item_key       jsonb,
    data           jsonb,
    old_data       jsonb,
    payload        jsonb,
    accountability jsonb,
    origin         text        NOT NULL DEFAULT 'api' CHECK (origin IN ('api', 'sql')),
    created_at     timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX hookd_event_position_idx ON hookd_event (tx_id, id);
CREATE INDEX hookd_event_collection_idx ON hookd_event (collection, tx_id, id);

COMMENT ON TABLE hookd_event IS 'hookd event log: one row per changed item, append-only; read in (tx_id, id) order below pg_snapshot_xmin';

-- +goose StatementBegin
CREATE FUNCTION hookd_event_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'hookd_event is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER hookd_event_no_update_delete
    BEFORE UPDATE OR DELETE ON hookd_event
    FOR EACH ROW EXECUTE FUNCTION hookd_event_append_only();

CREATE TRIGGER hookd_event_no_truncate
    BEFORE TRUNCATE ON hookd_event
    FOR EACH STATEMENT EXECUTE FUNCTION hookd_event_append_only();

-- +goose Down
DROP TABLE hookd_event;
DROP FUNCTION hookd_event_append_only();
