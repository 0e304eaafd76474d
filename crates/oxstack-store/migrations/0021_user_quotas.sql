-- Per-user quota overrides within a project (Nova's project_user_quotas):
-- a user without a row for a resource has the project's limit.
CREATE TABLE user_quotas (
    project_id TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    resource   TEXT NOT NULL,
    hard_limit BIGINT NOT NULL,
    PRIMARY KEY (project_id, user_id, resource)
);
