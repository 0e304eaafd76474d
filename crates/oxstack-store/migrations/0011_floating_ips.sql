-- Floating addresses of the built-in external pool: allocated to a
-- project, optionally associated with one of its servers' fixed addresses.
CREATE TABLE floating_ips (
    id            TEXT PRIMARY KEY,
    address       TEXT NOT NULL UNIQUE,
    pool          TEXT NOT NULL,
    project_id    TEXT NOT NULL,
    instance_uuid TEXT,
    fixed_address TEXT,
    created_at    BIGINT NOT NULL
);
CREATE INDEX floating_ips_project ON floating_ips (project_id);
CREATE INDEX floating_ips_instance ON floating_ips (instance_uuid);
