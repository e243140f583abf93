-- API tokens get scopes: capabilities beyond what their role allows on the API. The one scope, 'write',
-- lets a token push samples to the remote-write receiver (POST /api/v1/write). Existing tokens have none,
-- so they keep exactly what they could do before.
ALTER TABLE api_tokens ADD COLUMN scopes text[] NOT NULL DEFAULT '{}'
    CHECK (scopes <@ ARRAY['write']::text[]);
