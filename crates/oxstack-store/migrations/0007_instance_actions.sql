-- What was done to each server and how it went (Nova's instance actions
-- and their events), kept after the server is deleted.
CREATE TABLE instance_actions (
    id            BIGINT PRIMARY KEY,
    instance_uuid TEXT NOT NULL,
    request_id    TEXT NOT NULL,
    action        TEXT NOT NULL,
    project_id    TEXT NOT NULL,
    user_id       TEXT NOT NULL,
    message       TEXT,
    start_time    BIGINT NOT NULL,
    finish_time   BIGINT,
    updated_at    BIGINT NOT NULL
);
CREATE INDEX instance_actions_instance ON instance_actions (instance_uuid, start_time);
CREATE UNIQUE INDEX instance_actions_request ON instance_actions (instance_uuid, request_id);

CREATE TABLE instance_action_events (
    action_id   BIGINT NOT NULL REFERENCES instance_actions (id) ON DELETE CASCADE,
    event       TEXT NOT NULL,
    start_time  BIGINT NOT NULL,
    finish_time BIGINT,
    result      TEXT,
    traceback   TEXT,
    host        TEXT,
    details     TEXT,
    PRIMARY KEY (action_id, event)
);
