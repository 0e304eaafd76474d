"""Key pairs through the real clients: the `openstack` CLI (which makes a
key itself when given none), openstacksdk and python-novaclient (whose
microversions let the server make one), and servers booted with a key.
Checked by effects: what the compute API then says, raw HTTP with a token.
"""

from __future__ import annotations

import base64

import pytest

from oxhelpers import compute, novaclient_at, openstack, openstack_fails, raw_server, unique, wait_server

# An ECDSA P-384 key (the kind tempest's client makes) and its MD5 fingerprint.
P384 = ("ecdsa-sha2-nistp384 AAAAE2VjZHNhLXNoYTItbmlzdHAzODQAAAAIbmlzdHAzODQAAABhBCXGo4geymQOpvOJ3SSM1FJ1EDXusrRnC"
        "vOwKwfKww5ZKvlw3xRCgf6u3cewYXX/WYVDnN/C6LhKQGCvxaI5eSXuGrazizKyGL9WiOf0ZR44kl0VEIedEUCr74yfu31wKQ== root@vm")
P384_FINGERPRINT = "dc:3b:ee:59:7e:ab:41:7d:34:e1:14:fe:bd:98:6a:46"


@pytest.fixture
def key_file(tmp_path):
    path = tmp_path / "id_ecdsa.pub"
    path.write_text(P384 + "\n")
    return str(path)


def test_cli_key_pairs_and_a_server_booted_with_one(oxstack, admin_token, key_file, tmp_path, cleanup):
    imported, made = unique("cli-key"), unique("cli-made")

    created = openstack("keypair", "create", "--public-key", key_file, imported)
    assert (created["name"], created["fingerprint"], created["type"]) == (imported, P384_FINGERPRINT, "ssh"), created
    private = tmp_path / "made.pem"
    generated = openstack("keypair", "create", "--private-key", str(private), made)
    assert generated["name"] == made, generated
    assert private.read_text().startswith("-----BEGIN"), "the CLI saved the private key"

    listed = {row["Name"]: row for row in openstack("keypair", "list")}
    assert listed[imported]["Fingerprint"] == P384_FINGERPRINT, listed
    assert made in listed, listed
    shown = openstack("keypair", "show", imported)
    assert (shown["name"], shown["user_id"], shown["type"]) == (imported, created["user_id"], "ssh"), shown
    assert openstack("keypair", "show", "--public-key", imported, fmt="text").strip() == P384

    again = openstack_fails("keypair", "create", "--public-key", key_file, imported)
    assert f"Key pair '{imported}' already exists." in again.stderr, again.stderr

    server = openstack("server", "create", "--flavor", "m1.tiny", "--image", "cirros", "--nic", "none",
                       "--key-name", imported, "--wait", unique("cli-keyed"))
    cleanup.append(server["id"])
    assert server["key_name"] == imported, server
    assert raw_server(oxstack, admin_token, server["id"])["key_name"] == imported
    missing = openstack_fails("server", "create", "--flavor", "m1.tiny", "--image", "cirros", "--nic", "none",
                              "--key-name", "no-such-key", unique("cli-keyless"))
    assert "Invalid key_name provided." in missing.stderr, missing.stderr

    openstack("keypair", "delete", imported, made)
    names = {row["Name"] for row in openstack("keypair", "list")}
    assert not names & {imported, made}, names
    gone = openstack_fails("keypair", "show", imported)
    assert "No keypair with a name or ID" in gone.stderr or "not found" in gone.stderr, gone.stderr
    # The server keeps its key.
    assert raw_server(oxstack, admin_token, server["id"])["key_name"] == imported


def test_sdk_generated_and_imported_key_pairs(conn, oxstack, admin_token, cirros, tiny, cleanup):
    made = conn.compute.create_keypair(name=unique("sdk-made"))
    try:
        assert made.private_key.startswith("-----BEGIN RSA PRIVATE KEY-----"), made
        assert made.public_key.startswith("ssh-rsa ") and made.public_key.endswith(" Generated-by-Nova"), made
        found = conn.compute.find_keypair(made.name, ignore_missing=False)
        assert (found.fingerprint, found.type, found.private_key) == (made.fingerprint, "ssh", None), found
        imported = conn.compute.create_keypair(name=unique("sdk-key"), public_key=P384)
        assert imported.fingerprint == P384_FINGERPRINT, imported
        names = {k.name for k in conn.compute.keypairs()}
        assert {made.name, imported.name} <= names, names

        server = conn.compute.create_server(name=unique("sdk-keyed"), image_id=cirros.id, flavor_id=tiny.id,
                                            networks="none", key_name=imported.name)
        cleanup.append(server.id)
        server = conn.compute.wait_for_server(server, wait=60)
        assert server.key_name == imported.name, server

        conn.compute.delete_keypair(imported)
        assert conn.compute.find_keypair(imported.name) is None
    finally:
        conn.compute.delete_keypair(made, ignore_missing=True)


def test_novaclient_x509_key_pair_and_admin_access_to_other_users(conn, oxstack, admin_token, demo_conn):
    nova = novaclient_at(conn, "2.10")
    demo_user = demo_conn.current_user_id
    name = unique("nova-cert")
    cert = nova.keypairs.create(name, key_type="x509", user_id=demo_user)
    assert cert.type == "x509" and cert.public_key.startswith("-----BEGIN CERTIFICATE-----"), cert.to_dict()
    assert len(base64.b64decode(cert.private_key)) > 1000, "a PKCS#12 file"
    # The demo user owns it; the admin reaches it by naming the user.
    demo = compute(oxstack, demo_conn.auth_token, "GET", f"/os-keypairs/{name}", version="2.2")
    assert demo.status == 200 and demo.json()["keypair"]["type"] == "x509", demo
    listed = nova.keypairs.list(user_id=demo_user)
    assert name in [k.name for k in listed], listed
    nova.keypairs.delete(name, user_id=demo_user)
    gone = compute(oxstack, demo_conn.auth_token, "GET", f"/os-keypairs/{name}", version="2.2")
    assert gone.status == 404, gone
