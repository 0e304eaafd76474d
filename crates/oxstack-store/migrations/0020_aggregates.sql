-- Host aggregates: named groups of compute hosts with metadata. The
-- metadata key `availability_zone` makes the aggregate an availability
-- zone: its hosts' zone, kept in compute_services.zone by the same
-- transactions that change aggregates.
CREATE TABLE aggregates (
    id         BIGINT PRIMARY KEY,
    uuid       TEXT NOT NULL UNIQUE,
    name       TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT
);

CREATE TABLE aggregate_hosts (
    aggregate_id BIGINT NOT NULL REFERENCES aggregates (id) ON DELETE CASCADE,
    host         TEXT NOT NULL,
    PRIMARY KEY (aggregate_id, host)
);
CREATE INDEX aggregate_hosts_host ON aggregate_hosts (host);

CREATE TABLE aggregate_metadata (
    aggregate_id BIGINT NOT NULL REFERENCES aggregates (id) ON DELETE CASCADE,
    key          TEXT NOT NULL,
    value        TEXT NOT NULL,
    PRIMARY KEY (aggregate_id, key)
);
