-- Broadcasts of the WebSocketService: a message sent with Broadcast on any
-- instance is written here and every instance delivers it to its own
-- matching clients. The row, not the NOTIFY payload, carries the message, so
-- messages larger than NOTIFY's 8000-byte payload limit cross instances too,
-- and an instance whose LISTEN connection dropped catches up by polling.
--
-- Readers follow the same rule as for hookd_event: rows whose tx_id is below
-- pg_snapshot_xmin(pg_current_snapshot()) in (tx_id, id) order, keeping
-- (tx_id, id) as the cursor. Rows are short-lived: every instance prunes
-- those older than a few minutes.

-- +goose Up
CREATE TABLE hookd_broadcast (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tx_id       xid8        NOT NULL DEFAULT pg_current_xact_id(),
    message     bytea       NOT NULL,
    target_user text,
    target_role text,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX hookd_broadcast_position_idx ON hookd_broadcast (tx_id, id);
CREATE INDEX hookd_broadcast_created_idx ON hookd_broadcast (created_at);

COMMENT ON TABLE hookd_broadcast IS 'hookd WebSocketService broadcasts crossing instances; read in (tx_id, id) order below pg_snapshot_xmin, pruned after minutes';

-- +goose Down
DROP TABLE hookd_broadcast;
