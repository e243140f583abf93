-- Notification channels of the alert engine, what was last sent to each per group of alerts (so a restart
-- sends nothing twice), and a history of notifications for the API.

CREATE TABLE notification_channels (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name       text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 128),
    kind       text NOT NULL CHECK (kind IN ('email', 'webhook', 'slack')),
    -- The whole validated channel, secrets included: never return this column unredacted.
    config     jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Per channel and group: the fingerprints the receiver was last told are firing or resolved, and when.
CREATE TABLE notification_log (
    channel_id uuid NOT NULL REFERENCES notification_channels (id) ON DELETE CASCADE,
    group_key  text NOT NULL,
    firing     text[] NOT NULL,
    resolved   text[] NOT NULL,
    sent_at    timestamptz NOT NULL,
    PRIMARY KEY (channel_id, group_key)
);

CREATE TABLE notifications (
    id         bigserial PRIMARY KEY,
    at         timestamptz NOT NULL DEFAULT now(),
    channel_id uuid NOT NULL REFERENCES notification_channels (id) ON DELETE CASCADE,
    group_key  text NOT NULL,
    status     text NOT NULL CHECK (status IN ('firing', 'resolved')),
    alerts     integer NOT NULL,
    ok         boolean NOT NULL,
    attempts   integer NOT NULL,
    error      text
);
-- The API lists a channel's notifications, or all of them, newest first.
CREATE INDEX notifications_at ON notifications (at DESC, id DESC);
CREATE INDEX notifications_channel_at ON notifications (channel_id, at DESC, id DESC);
