-- Events appended through the API (POST /api/monitoring/logs) name who posted them; the service's own events
-- (scrapes, alerts, notifications) have none, so a reader can always tell the two apart.

ALTER TABLE events ADD COLUMN posted_by text CHECK (posted_by IS NULL OR length(posted_by) BETWEEN 1 AND 128);
