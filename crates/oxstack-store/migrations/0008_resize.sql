-- A resize keeps the flavor it came from until it is confirmed (or goes
-- back to it when reverted): JSON of the old flavor columns and snapshot.
ALTER TABLE instances ADD COLUMN old_flavor TEXT;
