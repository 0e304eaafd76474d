-- Quota class limits. The class `default` overrides the configured defaults
-- of every project; other classes are stored and shown only (as in Nova).
CREATE TABLE quota_classes (
    class_name TEXT NOT NULL,
    resource   TEXT NOT NULL,
    hard_limit BIGINT NOT NULL,
    PRIMARY KEY (class_name, resource)
);
