-- A server's password as its guest posted it to the metadata service,
-- encrypted with the server's key pair (Nova keeps it in the instance's
-- system metadata). No row: no password.
CREATE TABLE server_passwords (
    instance_uuid TEXT PRIMARY KEY,
    password      TEXT NOT NULL
);
