-- Where the destination of a live migration receives the guest (a
-- driver's address, such as QEMU's migration and NBD ports), written by
-- the destination when it is ready and read by the source.
ALTER TABLE migrations ADD COLUMN incoming_uri TEXT;
