-- 0003_auth: tables owned by the HTTP layer (not projections; never rebuilt).

-- The JWT signing key used when CMS_JWT_SECRET is not configured: generated
-- once by the first node that starts (INSERT … ON CONFLICT DO NOTHING, then
-- SELECT, so concurrent first starts agree on one key).
CREATE TABLE IF NOT EXISTS auth_signing_keys (
    name       text        PRIMARY KEY,
    secret     bytea       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Refresh tokens, stored only as SHA-256 hashes. A family is one sign-in;
-- every refresh marks the presented token used and issues its successor in
-- the same family. Presenting a used token revokes the whole family.
CREATE TABLE IF NOT EXISTS auth_refresh_tokens (
    token_hash bytea       PRIMARY KEY,
    family_id  uuid        NOT NULL,
    user_id    text        NOT NULL,
    issued_at  timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    revoked_at timestamptz
);
CREATE INDEX IF NOT EXISTS auth_refresh_tokens_family ON auth_refresh_tokens (family_id);
CREATE INDEX IF NOT EXISTS auth_refresh_tokens_user ON auth_refresh_tokens (user_id);
CREATE INDEX IF NOT EXISTS auth_refresh_tokens_expires ON auth_refresh_tokens (expires_at);

-- Idempotency keys of POST requests: the first request inserts a pending row
-- (status NULL); its response is stored when it completes. Retries with the
-- same key replay the stored response for 24 hours.
CREATE TABLE IF NOT EXISTS idempotency_keys (
    user_id      text        NOT NULL,
    key          text        NOT NULL,
    method       text        NOT NULL,
    path         text        NOT NULL,
    request_hash bytea       NOT NULL,
    status       integer,
    headers      jsonb,
    body         bytea,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    PRIMARY KEY (user_id, key)
);
CREATE INDEX IF NOT EXISTS idempotency_keys_expires ON idempotency_keys (expires_at);
