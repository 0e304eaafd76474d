-- Routers and floating IPs (Neutron's L3), and the device tags of
-- servers' ports. A router's gateway and its
-- interfaces are ports (device_id = the router); a floating IP holds its
-- address through a port on the external network (device_id = the
-- floating IP), so the address is unique the way every address is.
CREATE TABLE routers (
    id              TEXT PRIMARY KEY,
    project_id      TEXT NOT NULL,
    name            TEXT NOT NULL,
    description     TEXT NOT NULL,
    admin_state_up  BOOLEAN NOT NULL,
    status          TEXT NOT NULL,
    -- The router's port on its external network; NULL: no gateway.
    gateway_port_id TEXT REFERENCES ports (id),
    enable_snat     BOOLEAN NOT NULL,
    revision_number BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX routers_project ON routers (project_id);

CREATE TABLE floatingips (
    id                  TEXT PRIMARY KEY,
    project_id          TEXT NOT NULL,
    floating_network_id TEXT NOT NULL REFERENCES networks (id),
    floating_port_id    TEXT NOT NULL REFERENCES ports (id),
    floating_ip_address TEXT NOT NULL,
    -- The associated port and which of its addresses, and the router
    -- that joins its subnet to the external network; all NULL: free.
    port_id             TEXT REFERENCES ports (id),
    fixed_ip_address    TEXT,
    router_id           TEXT REFERENCES routers (id),
    description         TEXT NOT NULL,
    revision_number     BIGINT NOT NULL,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    -- A fixed address has at most one floating address per external
    -- network (racing associations: one wins).
    UNIQUE (floating_network_id, port_id, fixed_ip_address)
);
CREATE INDEX floatingips_project ON floatingips (project_id);
CREATE INDEX floatingips_port ON floatingips (port_id);
CREATE INDEX floatingips_router ON floatingips (router_id);

-- Nova's device tag of a server's NIC (2.32 `networks[].tag`, 2.49
-- interface attachments), kept with the port while the server has it.
ALTER TABLE ports ADD COLUMN device_tag TEXT;
