-- Key pairs: public keys (ssh or x509 certificates) a user keeps under a
-- name unique to that user, and how many each user has (the row is also
-- the user's lock for the key_pairs quota, so racing creates cannot both
-- take the last one).
CREATE TABLE key_pairs (
    id          BIGINT PRIMARY KEY,
    user_id     TEXT NOT NULL,
    name        TEXT NOT NULL,
    type        TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    public_key  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    UNIQUE (user_id, name)
);

CREATE TABLE key_pair_counts (
    user_id   TEXT PRIMARY KEY,
    key_pairs BIGINT NOT NULL
);
