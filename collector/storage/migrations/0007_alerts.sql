-- The alert engine's tables. The seed's alerts table keeps its columns and meaning (type = the rule's name,
-- title, message, read = acknowledged, timestamp = the last change) and gains what the engine needs; one
-- row is one episode of an alert (pending → firing → resolved), at most one of them active per fingerprint.

ALTER TABLE alerts
    ADD COLUMN severity        text NOT NULL DEFAULT 'warning' CHECK (severity IN ('info', 'warning', 'critical')),
    ADD COLUMN state           text NOT NULL DEFAULT 'firing' CHECK (state IN ('pending', 'firing', 'resolved')),
    ADD COLUMN fingerprint     text,
    ADD COLUMN rule_id         text,
    ADD COLUMN labels          jsonb NOT NULL DEFAULT '{}'::jsonb,
    ADD COLUMN annotations     jsonb NOT NULL DEFAULT '{}'::jsonb,
    ADD COLUMN value           double precision,
    ADD COLUMN started_at      timestamptz,
    ADD COLUMN fired_at        timestamptz,
    ADD COLUMN resolved_at     timestamptz,
    ADD COLUMN acknowledged_by text,
    ADD COLUMN acknowledged_at timestamptz,
    ADD COLUMN resolved_by     text,
    -- Resolved by hand while the condition still held: the engine does not fire this fingerprint again
    -- until the condition has been false once, and then clears the flag.
    ADD COLUMN hold            boolean NOT NULL DEFAULT false;

CREATE UNIQUE INDEX alerts_active_fingerprint ON alerts (fingerprint) WHERE state <> 'resolved';
CREATE INDEX alerts_held ON alerts (fingerprint) WHERE hold;
CREATE INDEX alerts_time ON alerts (timestamp DESC);

CREATE TABLE alert_rules (
    id         text PRIMARY KEY,
    name       text NOT NULL,
    -- The rule's matchers as one canonical text: a rules file's rule is the same rule as the stored one
    -- with the same name and scope.
    scope      text NOT NULL,
    source     text NOT NULL CHECK (source IN ('default', 'file', 'api')),
    enabled    boolean NOT NULL,
    definition jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (name, scope)
);

CREATE TABLE silences (
    id         uuid PRIMARY KEY,
    matchers   jsonb NOT NULL,
    starts_at  timestamptz NOT NULL,
    ends_at    timestamptz NOT NULL,
    created_by text NOT NULL,
    comment    text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_at > starts_at)
);
CREATE INDEX silences_ends ON silences (ends_at);
