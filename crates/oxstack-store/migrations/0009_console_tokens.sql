-- Console access tokens (Nova's console_auth_tokens): only a hash of the
-- token is kept; a token is valid until `expires`.
CREATE TABLE console_tokens (
    token_hash           TEXT PRIMARY KEY,
    instance_uuid        TEXT NOT NULL,
    console_type         TEXT NOT NULL,
    host                 TEXT NOT NULL,
    port                 BIGINT NOT NULL,
    internal_access_path TEXT,
    expires              BIGINT NOT NULL
);
CREATE INDEX console_tokens_expiry ON console_tokens (expires);
