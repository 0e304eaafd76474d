-- Server groups: a policy (affinity, anti-affinity and their soft kinds,
-- with an optional max_server_per_host) that the scheduler applies to the
-- servers created into the group. A server's group is a column of the
-- instance: it joins at creation and never changes, and the group's
-- members are its live instances.
CREATE TABLE server_groups (
    uuid                TEXT PRIMARY KEY,
    id                  BIGINT NOT NULL UNIQUE,
    name                TEXT NOT NULL,
    project_id          TEXT NOT NULL,
    user_id             TEXT NOT NULL,
    policy              TEXT NOT NULL,
    max_server_per_host BIGINT,
    created_at          BIGINT NOT NULL
);
CREATE INDEX server_groups_project ON server_groups (project_id, id);

ALTER TABLE instances ADD COLUMN server_group TEXT;
CREATE INDEX instances_server_group ON instances (server_group);
