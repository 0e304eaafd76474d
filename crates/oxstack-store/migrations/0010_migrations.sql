-- Moves of servers between hosts and flavors (Nova's migrations): resizes,
-- cold and live migrations, evacuations, with their progress.
CREATE TABLE migrations (
    id                   BIGINT PRIMARY KEY,
    uuid                 TEXT NOT NULL UNIQUE,
    instance_uuid        TEXT NOT NULL,
    migration_type       TEXT NOT NULL,
    status               TEXT NOT NULL,
    source_compute       TEXT,
    dest_compute         TEXT,
    source_node          TEXT,
    dest_node            TEXT,
    dest_host            TEXT,
    old_instance_type_id BIGINT,
    new_instance_type_id BIGINT,
    project_id           TEXT NOT NULL,
    user_id              TEXT NOT NULL,
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL
);
CREATE INDEX migrations_instance ON migrations (instance_uuid, status);
