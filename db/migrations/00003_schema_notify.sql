-- Schema change notification: every instance keeps an in-memory snapshot of
-- the collections (internal/schema) and must learn about DDL made while it
-- runs (a new table, an added or dropped column) by any session, including
-- psql. An event trigger sends NOTIFY hookd_schema after each DDL command;
-- NOTIFY is transactional, so listeners hear it only once the DDL commits and
-- a reload then sees the new catalog. DDL is rare, so one NOTIFY per command
-- costs nothing (identical payloads in one transaction are folded into one).
--
-- Event triggers can only be created by a superuser; see README
-- ("Collections and the query language").

-- +goose Up
-- +goose StatementBegin
CREATE FUNCTION hookd_schema_notify() RETURNS event_trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('hookd_schema', tg_event);
END;
$$;
-- +goose StatementEnd

CREATE EVENT TRIGGER hookd_schema_ddl ON ddl_command_end
    EXECUTE FUNCTION hookd_schema_notify();

CREATE EVENT TRIGGER hookd_schema_drop ON sql_drop
    EXECUTE FUNCTION hookd_schema_notify();

-- +goose Down
DROP EVENT TRIGGER hookd_schema_drop;
DROP EVENT TRIGGER hookd_schema_ddl;
DROP FUNCTION hookd_schema_notify();
