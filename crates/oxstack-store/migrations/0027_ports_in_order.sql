-- Ports in listing order, so a page of a project's ports reads only its
-- own rows (Neutron's `limit`/`marker`).
CREATE INDEX ports_created ON ports (created_at, id);
