-- Instances (Nova's servers). One row per server, kept after deletion
-- (`deleted` = 1) so admins can list deleted servers and `changes-since`
-- reports them. JSON columns hold what is only ever read whole with the
-- server: the flavor snapshot taken at boot, image properties, security
-- group names, scheduler hints, trusted certificates and the last fault.
CREATE TABLE instances (
    uuid                     TEXT PRIMARY KEY,
    seq                      BIGINT NOT NULL UNIQUE,
    project_id               TEXT NOT NULL,
    user_id                  TEXT NOT NULL,
    display_name             TEXT NOT NULL,
    display_description      TEXT,
    hostname                 TEXT NOT NULL,
    reservation_id           TEXT NOT NULL,
    launch_index             BIGINT NOT NULL,
    image_ref                TEXT NOT NULL,
    image_properties         TEXT NOT NULL DEFAULT '{}',
    flavor_id                TEXT NOT NULL,
    flavor                   TEXT NOT NULL,
    vcpus                    BIGINT NOT NULL,
    memory_mb                BIGINT NOT NULL,
    root_gb                  BIGINT NOT NULL,
    ephemeral_gb             BIGINT NOT NULL,
    key_name                 TEXT,
    key_data                 TEXT,
    user_data                TEXT,
    availability_zone        TEXT,
    pinned_availability_zone TEXT,
    host                     TEXT,
    node                     TEXT,
    vm_state                 TEXT NOT NULL,
    task_state               TEXT,
    power_state              BIGINT NOT NULL DEFAULT 0,
    progress                 BIGINT NOT NULL DEFAULT 0,
    access_ip_v4             TEXT,
    access_ip_v6             TEXT,
    auto_disk_config         BIGINT NOT NULL DEFAULT 0,
    config_drive             TEXT NOT NULL DEFAULT '',
    root_device_name         TEXT,
    locked_by                TEXT,
    locked_reason            TEXT,
    security_groups          TEXT NOT NULL DEFAULT '[]',
    scheduler_hints          TEXT NOT NULL DEFAULT '{}',
    trusted_certs            TEXT,
    fault                    TEXT,
    created_at               BIGINT NOT NULL,
    updated_at               BIGINT,
    launched_at              BIGINT,
    terminated_at            BIGINT,
    deleted_at               BIGINT,
    deleted                  BIGINT NOT NULL DEFAULT 0
);

CREATE INDEX instances_project ON instances (project_id, deleted, created_at);
CREATE INDEX instances_deleted_created ON instances (deleted, created_at);
CREATE INDEX instances_updated ON instances (updated_at);
CREATE INDEX instances_reservation ON instances (reservation_id);
-- Work the compute manager must finish after a restart.
CREATE INDEX instances_unsettled ON instances (host, task_state);

CREATE TABLE instance_metadata (
    instance_uuid TEXT NOT NULL REFERENCES instances (uuid) ON DELETE CASCADE,
    key           TEXT NOT NULL,
    value         TEXT NOT NULL,
    PRIMARY KEY (instance_uuid, key)
);

CREATE TABLE instance_tags (
    instance_uuid TEXT NOT NULL REFERENCES instances (uuid) ON DELETE CASCADE,
    tag           TEXT NOT NULL,
    PRIMARY KEY (instance_uuid, tag)
);
CREATE INDEX instance_tags_tag ON instance_tags (tag);

-- Fixed addresses on the built-in networks; the unique keys make two
-- servers racing for one address (or MAC) a conflict, never a duplicate.
CREATE TABLE fixed_ips (
    network_id    TEXT NOT NULL,
    address       TEXT NOT NULL,
    version       BIGINT NOT NULL,
    mac           TEXT NOT NULL,
    instance_uuid TEXT NOT NULL REFERENCES instances (uuid) ON DELETE CASCADE,
    position      BIGINT NOT NULL,
    PRIMARY KEY (network_id, address)
);
CREATE INDEX fixed_ips_instance ON fixed_ips (instance_uuid);

-- Monotonic counters (Nova's internal instance ids), and one row per
-- project that serialises quota checks of concurrent creates.
CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO counters (name, value) VALUES ('instances', 0);

CREATE TABLE project_locks (
    project_id TEXT PRIMARY KEY,
    version    BIGINT NOT NULL
);
