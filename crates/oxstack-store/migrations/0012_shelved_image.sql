-- The snapshot a shelved server's disk was kept in (Nova's
-- `shelved_image_id`), deleted again when the server is unshelved.
ALTER TABLE instances ADD COLUMN shelved_image_id TEXT;
