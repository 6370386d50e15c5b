-- The mail outbox: what hooks send through the Mail service. hookd's mail
-- transport logs each mail and stores it here; a delivery process marks
-- rows sent.

-- +goose Up
CREATE TABLE hookd_mail_outbox (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    recipients    text[]      NOT NULL CHECK (cardinality(recipients) > 0),
    subject       text        NOT NULL DEFAULT '',
    template      text,
    template_data jsonb,
    body          text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    sent_at       timestamptz,
    CHECK (template IS NOT NULL OR body IS NOT NULL)
);

CREATE INDEX hookd_mail_outbox_unsent_idx ON hookd_mail_outbox (id) WHERE sent_at IS NULL;

-- +goose Down
DROP TABLE hookd_mail_outbox;
