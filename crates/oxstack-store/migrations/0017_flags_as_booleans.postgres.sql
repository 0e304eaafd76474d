-- Yes/no columns become PostgreSQL booleans (they were 0/1 integers while
-- both engines were reached through one driver that could not read SQLite
-- booleans). SQLite keeps its integers: TRUE and FALSE are 1 and 0 there.
ALTER TABLE domains ALTER COLUMN enabled DROP DEFAULT;
ALTER TABLE domains ALTER COLUMN enabled TYPE BOOLEAN USING enabled <> 0;
ALTER TABLE domains ALTER COLUMN enabled SET DEFAULT TRUE;
ALTER TABLE projects ALTER COLUMN enabled DROP DEFAULT;
ALTER TABLE projects ALTER COLUMN enabled TYPE BOOLEAN USING enabled <> 0;
ALTER TABLE projects ALTER COLUMN enabled SET DEFAULT TRUE;
ALTER TABLE users ALTER COLUMN enabled DROP DEFAULT;
ALTER TABLE users ALTER COLUMN enabled TYPE BOOLEAN USING enabled <> 0;
ALTER TABLE users ALTER COLUMN enabled SET DEFAULT TRUE;
ALTER TABLE flavors ALTER COLUMN is_public DROP DEFAULT;
ALTER TABLE flavors ALTER COLUMN is_public TYPE BOOLEAN USING is_public <> 0;
ALTER TABLE flavors ALTER COLUMN is_public SET DEFAULT TRUE;
ALTER TABLE flavors ALTER COLUMN disabled DROP DEFAULT;
ALTER TABLE flavors ALTER COLUMN disabled TYPE BOOLEAN USING disabled <> 0;
ALTER TABLE flavors ALTER COLUMN disabled SET DEFAULT FALSE;
ALTER TABLE images ALTER COLUMN protected DROP DEFAULT;
ALTER TABLE images ALTER COLUMN protected TYPE BOOLEAN USING protected <> 0;
ALTER TABLE images ALTER COLUMN protected SET DEFAULT FALSE;
ALTER TABLE images ALTER COLUMN os_hidden DROP DEFAULT;
ALTER TABLE images ALTER COLUMN os_hidden TYPE BOOLEAN USING os_hidden <> 0;
ALTER TABLE images ALTER COLUMN os_hidden SET DEFAULT FALSE;
ALTER TABLE instances ALTER COLUMN auto_disk_config DROP DEFAULT;
ALTER TABLE instances ALTER COLUMN auto_disk_config TYPE BOOLEAN USING auto_disk_config <> 0;
ALTER TABLE instances ALTER COLUMN auto_disk_config SET DEFAULT FALSE;
ALTER TABLE instances ALTER COLUMN deleted DROP DEFAULT;
ALTER TABLE instances ALTER COLUMN deleted TYPE BOOLEAN USING deleted <> 0;
ALTER TABLE instances ALTER COLUMN deleted SET DEFAULT FALSE;
ALTER TABLE compute_services ALTER COLUMN disabled DROP DEFAULT;
ALTER TABLE compute_services ALTER COLUMN disabled TYPE BOOLEAN USING disabled <> 0;
ALTER TABLE compute_services ALTER COLUMN disabled SET DEFAULT FALSE;
ALTER TABLE compute_services ALTER COLUMN forced_down DROP DEFAULT;
ALTER TABLE compute_services ALTER COLUMN forced_down TYPE BOOLEAN USING forced_down <> 0;
ALTER TABLE compute_services ALTER COLUMN forced_down SET DEFAULT FALSE;
