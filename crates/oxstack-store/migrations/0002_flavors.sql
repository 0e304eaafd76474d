-- Flavors (Nova's instance types), their extra specs and project access.
-- `seq` is the creation order, Nova's internal integer id (a sort key).
CREATE TABLE flavors (
    id           TEXT PRIMARY KEY,
    seq          BIGINT NOT NULL UNIQUE,
    name         TEXT NOT NULL UNIQUE,
    memory_mb    BIGINT NOT NULL,
    vcpus        BIGINT NOT NULL,
    root_gb      BIGINT NOT NULL,
    ephemeral_gb BIGINT NOT NULL DEFAULT 0,
    swap         BIGINT NOT NULL DEFAULT 0,
    rxtx_factor  DOUBLE PRECISION NOT NULL DEFAULT 1.0,
    vcpu_weight  BIGINT,
    is_public    BIGINT NOT NULL DEFAULT 1,
    disabled     BIGINT NOT NULL DEFAULT 0,
    description  TEXT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT
);

CREATE TABLE flavor_extra_specs (
    flavor_id TEXT NOT NULL REFERENCES flavors (id) ON DELETE CASCADE,
    key       TEXT NOT NULL,
    value     TEXT NOT NULL,
    PRIMARY KEY (flavor_id, key)
);

CREATE TABLE flavor_projects (
    flavor_id  TEXT NOT NULL REFERENCES flavors (id) ON DELETE CASCADE,
    project_id TEXT NOT NULL,
    PRIMARY KEY (flavor_id, project_id)
);
