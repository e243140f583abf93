-- Secrets at rest: TOTP secrets and notification channels' credentials move to bytea columns sealed with
-- AES-GCM (collector/secrets/). SQL cannot know the key, so the rows already stored in clear are sealed by
-- the service right after the migrations (collector/secrets/plaintext.py), which then empties
-- users.totp_secret and leaves notification_channels.config holding the channel with its secrets as '***'.

ALTER TABLE users ADD COLUMN totp_secret_sealed bytea;
ALTER TABLE notification_channels ADD COLUMN config_sealed bytea;
