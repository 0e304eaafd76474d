-- Compute hosts (Nova's `nova-compute` services): every compute agent
-- registers its host here and reports in every few seconds; a host is up
-- while its last report (`last_seen_up`) is recent and it is not forced
-- down. `updated_at` also moves with an operator's changes, as Nova shows
-- it. The scheduler places servers on the enabled hosts that are up.
CREATE TABLE compute_services (
    id              BIGINT PRIMARY KEY,
    uuid            TEXT NOT NULL UNIQUE,
    host            TEXT NOT NULL UNIQUE,
    node            TEXT NOT NULL,
    zone            TEXT NOT NULL,
    disabled        BIGINT NOT NULL DEFAULT 0,
    disabled_reason TEXT,
    forced_down     BIGINT NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    last_seen_up    BIGINT NOT NULL,
    -- The host's hypervisor (Nova's compute node): its id in the
    -- hypervisors API from 2.53, and what it offers.
    node_uuid          TEXT NOT NULL UNIQUE,
    vcpus              BIGINT NOT NULL,
    memory_mb          BIGINT NOT NULL,
    local_gb           BIGINT NOT NULL,
    hypervisor_type    TEXT NOT NULL,
    hypervisor_version BIGINT NOT NULL,
    host_ip            TEXT NOT NULL
);

