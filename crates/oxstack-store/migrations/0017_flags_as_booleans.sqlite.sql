-- Yes/no columns are booleans on PostgreSQL from here on; SQLite stores
-- booleans as the 0/1 integers these columns already hold, and reads TRUE
-- and FALSE as 1 and 0, so nothing changes here.
SELECT 1;
