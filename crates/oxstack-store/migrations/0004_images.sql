-- Images (the Glance v2 subset). Extra properties and tags live in their own
-- tables so that listings can filter on them.
CREATE TABLE images (
    id               TEXT PRIMARY KEY,
    name             TEXT,
    status           TEXT NOT NULL,
    visibility       TEXT NOT NULL,
    protected        BIGINT NOT NULL DEFAULT 0,
    os_hidden        BIGINT NOT NULL DEFAULT 0,
    checksum         TEXT,
    os_hash_algo     TEXT,
    os_hash_value    TEXT,
    min_disk         BIGINT NOT NULL DEFAULT 0,
    min_ram          BIGINT NOT NULL DEFAULT 0,
    size             BIGINT,
    virtual_size     BIGINT,
    disk_format      TEXT,
    container_format TEXT,
    owner            TEXT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX images_owner ON images (owner);
CREATE INDEX images_created ON images (created_at, id);

CREATE TABLE image_properties (
    image_id TEXT NOT NULL REFERENCES images (id) ON DELETE CASCADE,
    name     TEXT NOT NULL,
    value    TEXT NOT NULL,
    PRIMARY KEY (image_id, name)
);

CREATE TABLE image_tags (
    image_id TEXT NOT NULL REFERENCES images (id) ON DELETE CASCADE,
    tag      TEXT NOT NULL,
    PRIMARY KEY (image_id, tag)
);
