"""The real `openstack` CLI and openstacksdk against oxstack's block
storage (the Cinder v3 subset under /volume) and the volumes of servers,
as a project's member would use them: volumes and snapshots, `server add
volume` / `remove volume`, and servers that boot from a volume.

Each test works in a fresh project of its own.
"""

from __future__ import annotations

import json

import openstack as sdk
import pytest

from oxhelpers import create_project_user, delete_project_user, eventually, openstack, openstack_fails, unique, user_env


@pytest.fixture
def member(oxstack, admin_token):
    pu = create_project_user(oxstack.base_url, admin_token, role="member")
    yield pu, user_env(oxstack, pu.username, pu.password, pu.project)
    delete_project_user(oxstack.base_url, admin_token, pu)


def osc(env, *args):
    return openstack(*args, cloud=None, env=env)


def volume_status(env, name, status):
    return eventually(lambda: osc(env, "volume", "show", name), lambda v: v["status"] == status)


def test_volume_and_snapshot_commands(member):
    _, env = member
    name = unique("vol")
    made = osc(env, "volume", "create", "--size", "1", "--description", "first", "--property", "k=v", name)
    assert (made["name"], made["size"]) == (name, 1), made
    shown = volume_status(env, name, "available")
    assert shown["type"] == "__DEFAULT__" and shown["bootable"] is False, shown
    listed = osc(env, "volume", "list")
    assert [v["Name"] for v in listed] == [name], listed
    osc(env, "volume", "set", "--name", f"{name}-2", "--size", "2", "--bootable", name)
    shown = volume_status(env, f"{name}-2", "available")
    assert (shown["size"], shown["bootable"]) == (2, True), shown

    snap = osc(env, "volume", "snapshot", "create", "--volume", f"{name}-2", f"{name}-snap")
    assert snap["volume_id"] == shown["id"], snap
    eventually(lambda: osc(env, "volume", "snapshot", "show", f"{name}-snap"), lambda s: s["status"] == "available")
    # A volume with a snapshot cannot go; the snapshot can, then it can.
    failed = openstack_fails("volume", "delete", f"{name}-2", cloud=None, env=env)
    assert "snapshots" in failed.stderr, failed.stderr
    osc(env, "volume", "snapshot", "delete", f"{name}-snap")
    eventually(lambda: osc(env, "volume", "snapshot", "list"), lambda s: s == [])
    osc(env, "volume", "delete", f"{name}-2")
    eventually(lambda: osc(env, "volume", "list"), lambda v: v == [])


def test_server_add_and_remove_volume(member):
    _, env = member
    server = unique("vm")
    osc(env, "server", "create", "--flavor", "m1.tiny", "--image", "cirros", "--nic", "none", "--wait", server)
    volume = unique("data")
    osc(env, "volume", "create", "--size", "1", volume)
    volume_status(env, volume, "available")
    attached = json.loads(osc(env, "--os-compute-api-version", "2.79", "server", "add", "volume",
                              "--enable-delete-on-termination", "-f", "json", server, volume))
    assert attached["Device"] == "/dev/vdb" and attached["Delete On Termination"] is True, attached
    in_use = volume_status(env, volume, "in-use")
    assert in_use["attachments"][0]["device"] == "/dev/vdb", in_use
    listed = osc(env, "server", "volume", "list", server)
    assert [a["Volume ID"] for a in listed] == [in_use["id"]], listed
    osc(env, "server", "remove", "volume", server, volume)
    volume_status(env, volume, "available")
    osc(env, "server", "delete", "--wait", server)
    osc(env, "volume", "delete", volume)


def test_server_boots_from_a_volume(member):
    _, env = member
    server = unique("bfv")
    made = osc(env, "server", "create", "--flavor", "m1.tiny", "--image", "cirros", "--boot-from-volume", "1",
               "--nic", "none", "--wait", server)
    assert made["status"] == "ACTIVE", made
    assert made["image"] in ("", "N/A (booted from volume)"), made
    volumes = osc(env, "volume", "list")
    assert len(volumes) == 1 and volumes[0]["Status"] == "in-use", volumes
    osc(env, "server", "delete", "--wait", server)
    # OSC's default keeps the volume (delete_on_termination false).
    eventually(lambda: osc(env, "volume", "list"), lambda v: len(v) == 1 and v[0]["Status"] == "available")


def test_openstacksdk_boot_from_volume_and_terminate_it(oxstack, member):
    pu, _ = member
    conn = sdk.connect(auth_url=oxstack.url("/identity"), username=pu.username, password=pu.password,
                       project_name=pu.project, user_domain_name="Default", project_domain_name="Default",
                       region_name="RegionOne")
    server = conn.create_server(unique("sdk-bfv"), image="cirros", flavor="m1.tiny", network="private",
                                boot_from_volume=True, volume_size=1, terminate_volume=True,
                                auto_ip=False, wait=True, timeout=60)
    try:
        volumes = list(conn.block_storage.volumes())
        assert len(volumes) == 1 and volumes[0].status == "in-use", volumes
        assert volumes[0].attachments[0]["server_id"] == server.id
    finally:
        conn.delete_server(server.id, wait=True, timeout=60)
    eventually(lambda: list(conn.block_storage.volumes()), lambda v: v == [])


def test_server_create_with_a_block_device(member):
    """`server create --block-device` with an image-to-volume boot disk."""
    _, env = member
    image = osc(env, "image", "show", "cirros")["id"]
    server = unique("bd")
    made = osc(env, "server", "create", "--flavor", "m1.tiny", "--nic", "none", "--block-device",
               f"uuid={image},source_type=image,destination_type=volume,volume_size=1,boot_index=0,"
               "delete_on_termination=true", "--wait", server)
    assert made["status"] == "ACTIVE", made
    volumes = osc(env, "volume", "list")
    assert len(volumes) == 1 and volumes[0]["Status"] == "in-use", volumes
    osc(env, "server", "delete", "--wait", server)
    eventually(lambda: osc(env, "volume", "list"), lambda v: v == [])
