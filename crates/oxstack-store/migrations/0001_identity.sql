-- Identity: the Keystone v3 subset. One schema for SQLite and PostgreSQL:
-- only portable types (TEXT, BIGINT): flags are 0/1 because sqlx's Any driver cannot
-- read SQLite booleans; times are microseconds since the epoch.
CREATE TABLE domains (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    enabled     BIGINT NOT NULL DEFAULT 1
);

CREATE TABLE projects (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    domain_id   TEXT NOT NULL REFERENCES domains (id),
    description TEXT NOT NULL DEFAULT '',
    enabled     BIGINT NOT NULL DEFAULT 1,
    created_at  BIGINT NOT NULL,
    UNIQUE (domain_id, name)
);

CREATE TABLE users (
    id                 TEXT PRIMARY KEY,
    name               TEXT NOT NULL,
    domain_id          TEXT NOT NULL REFERENCES domains (id),
    default_project_id TEXT,
    enabled            BIGINT NOT NULL DEFAULT 1,
    email              TEXT,
    description        TEXT,
    password_hash      TEXT,
    created_at         BIGINT NOT NULL,
    UNIQUE (domain_id, name)
);

CREATE TABLE roles (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    description TEXT
);

CREATE TABLE role_assignments (
    project_id TEXT NOT NULL REFERENCES projects (id),
    user_id    TEXT NOT NULL REFERENCES users (id),
    role_id    TEXT NOT NULL REFERENCES roles (id),
    PRIMARY KEY (project_id, user_id, role_id)
);
CREATE INDEX role_assignments_user ON role_assignments (user_id);

-- Token revocation events (Keystone's revoke model): a token matches an event
-- when every non-null field matches and it was issued at or before issued_before.
CREATE TABLE token_revocations (
    id            TEXT PRIMARY KEY,
    audit_id      TEXT,
    user_id       TEXT,
    project_id    TEXT,
    issued_before BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL
);

-- Cluster-wide secrets and settings (e.g. the token signing key), shared by every API node.
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
