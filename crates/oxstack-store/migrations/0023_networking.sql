-- Networking (the Neutron v2.0 subset): networks, their subnets, ports
-- with their fixed addresses, security groups and their rules, tags on
-- any of them, and per-project limits and counts.
--
-- An address is unique on its network (the key of port_ips), so two ports
-- racing for one address give one port and one conflict, never a
-- duplicate; a MAC is unique on its network for the same reason. Counts
-- per project and resource are rows changed in the creating and deleting
-- transactions, so a quota check and its insert are one atomic step.
CREATE TABLE networks (
    id                    TEXT PRIMARY KEY,
    project_id            TEXT NOT NULL,
    name                  TEXT NOT NULL,
    description           TEXT NOT NULL,
    admin_state_up        BOOLEAN NOT NULL,
    shared                BOOLEAN NOT NULL,
    external              BOOLEAN NOT NULL,
    is_default            BOOLEAN NOT NULL,
    mtu                   BIGINT NOT NULL,
    port_security_enabled BOOLEAN NOT NULL,
    dns_domain            TEXT NOT NULL,
    revision_number       BIGINT NOT NULL,
    created_at            BIGINT NOT NULL,
    updated_at            BIGINT NOT NULL
);
CREATE INDEX networks_project ON networks (project_id);

CREATE TABLE subnets (
    id                TEXT PRIMARY KEY,
    project_id        TEXT NOT NULL,
    network_id        TEXT NOT NULL REFERENCES networks (id),
    name              TEXT NOT NULL,
    description       TEXT NOT NULL,
    ip_version        BIGINT NOT NULL,
    cidr              TEXT NOT NULL,
    gateway_ip        TEXT,
    enable_dhcp       BOOLEAN NOT NULL,
    -- JSON arrays: [{"start", "end"}], ["addr"], [{"destination", "nexthop"}].
    allocation_pools  TEXT NOT NULL,
    dns_nameservers   TEXT NOT NULL,
    host_routes       TEXT NOT NULL,
    ipv6_address_mode TEXT,
    ipv6_ra_mode      TEXT,
    revision_number   BIGINT NOT NULL,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);
CREATE INDEX subnets_network ON subnets (network_id);

CREATE TABLE ports (
    id                    TEXT PRIMARY KEY,
    project_id            TEXT NOT NULL,
    network_id            TEXT NOT NULL REFERENCES networks (id),
    name                  TEXT NOT NULL,
    description           TEXT NOT NULL,
    mac_address           TEXT NOT NULL,
    admin_state_up        BOOLEAN NOT NULL,
    status                TEXT NOT NULL,
    device_id             TEXT NOT NULL,
    device_owner          TEXT NOT NULL,
    port_security_enabled BOOLEAN NOT NULL,
    -- JSON: [{"ip_address", "mac_address"}] and the binding profile object.
    allowed_address_pairs TEXT NOT NULL,
    binding_host_id       TEXT NOT NULL,
    binding_vnic_type     TEXT NOT NULL,
    binding_profile       TEXT NOT NULL,
    dns_name              TEXT NOT NULL,
    -- A port a user made and gave a server: unbound, not deleted, when
    -- the server goes (Nova's preserve_on_delete).
    preserve_on_delete    BOOLEAN NOT NULL,
    revision_number       BIGINT NOT NULL,
    created_at            BIGINT NOT NULL,
    updated_at            BIGINT NOT NULL,
    UNIQUE (network_id, mac_address)
);
CREATE INDEX ports_project ON ports (project_id);
-- A server's ports in the order they were made (its NICs' order).
CREATE INDEX ports_device ON ports (device_id, created_at);

CREATE TABLE port_ips (
    network_id TEXT NOT NULL,
    ip_address TEXT NOT NULL,
    port_id    TEXT NOT NULL REFERENCES ports (id),
    subnet_id  TEXT NOT NULL REFERENCES subnets (id),
    ip_version BIGINT NOT NULL,
    position   BIGINT NOT NULL,
    PRIMARY KEY (network_id, ip_address)
);
CREATE INDEX port_ips_port ON port_ips (port_id);
CREATE INDEX port_ips_subnet ON port_ips (subnet_id);

CREATE TABLE security_groups (
    id              TEXT PRIMARY KEY,
    project_id      TEXT NOT NULL,
    name            TEXT NOT NULL,
    description     TEXT NOT NULL,
    stateful        BOOLEAN NOT NULL,
    revision_number BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX security_groups_project ON security_groups (project_id);
-- Each project's one `default` group (made on first use).
CREATE TABLE default_security_groups (
    project_id        TEXT PRIMARY KEY,
    security_group_id TEXT NOT NULL REFERENCES security_groups (id)
);

CREATE TABLE security_group_rules (
    id                TEXT PRIMARY KEY,
    security_group_id TEXT NOT NULL REFERENCES security_groups (id),
    project_id        TEXT NOT NULL,
    direction         TEXT NOT NULL,
    ethertype         TEXT NOT NULL,
    protocol          TEXT,
    port_range_min    BIGINT,
    port_range_max    BIGINT,
    remote_ip_prefix  TEXT,
    remote_group_id   TEXT,
    description       TEXT NOT NULL,
    revision_number   BIGINT NOT NULL,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);
CREATE INDEX security_group_rules_group ON security_group_rules (security_group_id);

CREATE TABLE port_security_groups (
    port_id           TEXT NOT NULL REFERENCES ports (id),
    security_group_id TEXT NOT NULL REFERENCES security_groups (id),
    PRIMARY KEY (port_id, security_group_id)
);
CREATE INDEX port_security_groups_group ON port_security_groups (security_group_id);

-- Tags of any networking resource (Neutron's standard-attr-tag).
CREATE TABLE network_tags (
    resource_id TEXT NOT NULL,
    tag         TEXT NOT NULL,
    PRIMARY KEY (resource_id, tag)
);

-- Per-project limits set by an admin (otherwise the configured defaults)
-- and per-project counts of what exists.
CREATE TABLE network_quotas (
    project_id TEXT NOT NULL,
    resource   TEXT NOT NULL,
    hard_limit BIGINT NOT NULL,
    PRIMARY KEY (project_id, resource)
);
CREATE TABLE network_usage (
    project_id TEXT NOT NULL,
    resource   TEXT NOT NULL,
    in_use     BIGINT NOT NULL,
    PRIMARY KEY (project_id, resource)
);
