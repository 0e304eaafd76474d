-- Block storage (the Cinder v3 subset): volume types, volumes, their
-- attachments, snapshots, and what each project uses. A server's volumes
-- are its attachments: the row Cinder shows as an attachment carries
-- Nova's block device mapping of it too (device, boot index, tag,
-- delete_on_termination), so both services read one record.
CREATE TABLE volume_types (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    description TEXT,
    is_public   BOOLEAN NOT NULL,
    -- A JSON object of strings.
    extra_specs TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE volumes (
    id                TEXT PRIMARY KEY,
    project_id        TEXT NOT NULL,
    user_id           TEXT NOT NULL,
    name              TEXT,
    description       TEXT,
    -- GiB.
    size              BIGINT NOT NULL,
    -- creating, available, reserved, attaching, in-use, detaching,
    -- extending, uploading, deleting, error, error_deleting, ...
    status            TEXT NOT NULL,
    availability_zone TEXT NOT NULL,
    volume_type_id    TEXT NOT NULL REFERENCES volume_types (id),
    bootable          BOOLEAN NOT NULL,
    multiattach       BOOLEAN NOT NULL,
    readonly          BOOLEAN NOT NULL,
    -- Where its data came from (at most one).
    source_volid      TEXT,
    snapshot_id       TEXT,
    -- What the image it was made from said of itself (JSON object).
    image_metadata    TEXT NOT NULL,
    -- The user's metadata (JSON object).
    metadata          TEXT NOT NULL,
    -- The format of its data file (raw, qcow2).
    disk_format       TEXT NOT NULL,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);
CREATE INDEX volumes_project ON volumes (project_id);

CREATE TABLE volume_attachments (
    id                    TEXT PRIMARY KEY,
    volume_id             TEXT NOT NULL REFERENCES volumes (id),
    project_id            TEXT NOT NULL,
    -- The server (NULL: an attachment reserved for no server yet).
    instance_uuid         TEXT,
    -- reserved, attaching, attached, detaching.
    attach_status         TEXT NOT NULL,
    -- rw, ro.
    attach_mode           TEXT NOT NULL,
    attached_host         TEXT,
    -- The guest's device (/dev/vdb).
    mountpoint            TEXT,
    -- The connector the attaching host gave (JSON), NULL: none yet.
    connector             TEXT,
    -- Nova's block device mapping of it.
    bdm_uuid              TEXT,
    boot_index            BIGINT,
    tag                   TEXT,
    delete_on_termination BOOLEAN NOT NULL,
    attach_time           BIGINT,
    created_at            BIGINT NOT NULL,
    updated_at            BIGINT NOT NULL,
    -- A server holds a volume once.
    UNIQUE (volume_id, instance_uuid)
);
CREATE INDEX volume_attachments_instance ON volume_attachments (instance_uuid);

CREATE TABLE volume_snapshots (
    id          TEXT PRIMARY KEY,
    project_id  TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    volume_id   TEXT NOT NULL REFERENCES volumes (id),
    name        TEXT,
    description TEXT,
    size        BIGINT NOT NULL,
    -- creating, available, deleting, error.
    status      TEXT NOT NULL,
    metadata    TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX volume_snapshots_project ON volume_snapshots (project_id);
CREATE INDEX volume_snapshots_volume ON volume_snapshots (volume_id);

-- What each project holds (Cinder's quota resources: volumes,
-- gigabytes, snapshots), kept in the transactions that change it.
CREATE TABLE volume_usage (
    project_id TEXT NOT NULL,
    resource   TEXT NOT NULL,
    in_use     BIGINT NOT NULL,
    PRIMARY KEY (project_id, resource)
);
