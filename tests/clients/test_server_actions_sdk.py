"""openstacksdk's compute proxy and python-novaclient (2.1 and 2.latest)
driving oxstack's server actions: every call is followed by the SDK's own
wait_for_server on the status Nova reaches, then the server (and, where the
action makes one, the image) is read back; each action must be recorded
among the server's instance actions with the events Nova records.
"""

from __future__ import annotations

import base64

import pytest
from openstack import exceptions as sdk_exc

from oxhelpers import NOVA_ACTION_EVENTS, SERVER_TIMEOUT, eventually, nova_wait, novaclient_at, unique

INTERVAL = 0.2


@pytest.fixture
def server(conn, cirros, tiny, cleanup):
    """A fresh ACTIVE admin server without networks."""
    created = conn.compute.create_server(name=unique("sdk-act"), image_id=cirros.id, flavor_id=tiny.id,
                                         networks="none")
    cleanup.append(created.id)
    return settle(conn, created, "ACTIVE")


def settle(conn, server, status: str):
    """wait_for_server until `status`, then until no task is in progress;
    returns the server as get_server reads it."""
    conn.compute.wait_for_server(server, status=status, interval=INTERVAL, wait=SERVER_TIMEOUT)
    found = eventually(lambda: conn.compute.get_server(server.id),
                       lambda s: s.status == status and s.task_state is None)
    assert (found.status, found.task_state) == (status, None), found
    return found


def states(server) -> tuple:
    return server.status, server.vm_state, server.power_state


def expect_actions(conn, server, *newest_first: str) -> list:
    """server_actions starts with these actions (newest first), each made
    by this connection's user and project, and get_server_action shows the
    events Nova records for each, all successful."""
    listed = list(conn.compute.server_actions(server))
    assert [a.action for a in listed[:len(newest_first)]] == list(newest_first), [a.action for a in listed]
    details, wrong = [], []
    for action in listed[:len(newest_first)]:
        detail = eventually(lambda: conn.compute.get_server_action(action.request_id, server),
                            lambda d: all(e.finish_time for e in d.events))
        assert (detail.action, detail.request_id) == (action.action, action.request_id), detail
        assert (detail.user_id, detail.project_id) == (conn.current_user_id, conn.current_project_id), detail
        events, nova = sorted(e.event for e in detail.events), sorted(NOVA_ACTION_EVENTS[action.action])
        if events != nova:
            wrong.append(f"{action.action} ({action.request_id}): events {events}; Nova records {nova}")
        if not all(e.result == "Success" and e.finish_time for e in detail.events):
            wrong.append(f"{action.action}: not every event finished successfully: {detail.events}")
        details.append(detail)
    assert not wrong, "\n".join(wrong)
    return details


def image_properties(image) -> dict:
    """An SDK Image's extra properties; `instance_uuid` is a known field of
    the SDK's Image, so it is not among `properties`."""
    return {**(image.properties or {}), "instance_uuid": image.instance_uuid}


def backups_of(conn, server) -> list:
    """The server's backup images, oldest first."""
    return sorted((i for i in conn.image.images() if i.instance_uuid == server.id
                   and image_properties(i).get("image_type") == "backup"), key=lambda i: i.created_at)


# --- openstacksdk: power ------------------------------------------------------------

def test_sdk_stop_start(conn, server):
    conn.compute.stop_server(server)
    assert states(settle(conn, server, "SHUTOFF")) == ("SHUTOFF", "stopped", 4)
    conn.compute.start_server(server)
    assert states(settle(conn, server, "ACTIVE")) == ("ACTIVE", "active", 1)
    expect_actions(conn, server, "start", "stop", "create")


def test_sdk_pause_unpause(conn, server):
    conn.compute.pause_server(server)
    assert states(settle(conn, server, "PAUSED")) == ("PAUSED", "paused", 3)
    conn.compute.unpause_server(server)
    assert states(settle(conn, server, "ACTIVE")) == ("ACTIVE", "active", 1)
    expect_actions(conn, server, "unpause", "pause")


def test_sdk_suspend_resume(conn, server):
    conn.compute.suspend_server(server)
    assert states(settle(conn, server, "SUSPENDED"))[:2] == ("SUSPENDED", "suspended")
    conn.compute.resume_server(server)
    assert states(settle(conn, server, "ACTIVE")) == ("ACTIVE", "active", 1)
    expect_actions(conn, server, "resume", "suspend")


def test_sdk_reboot_soft_and_hard(conn, server):
    for kind in ("SOFT", "HARD"):
        conn.compute.reboot_server(server, kind)
        assert states(settle(conn, server, "ACTIVE")) == ("ACTIVE", "active", 1)
    expect_actions(conn, server, "reboot", "reboot", "create")


def test_sdk_trigger_crash_dump(conn, server):
    conn.compute.trigger_server_crash_dump(server)
    assert states(settle(conn, server, "ACTIVE")) == ("ACTIVE", "active", 1)
    expect_actions(conn, server, "trigger_crash_dump", "create")


def test_sdk_change_password(conn, server):
    conn.compute.change_server_password(server, "n3w-passw0rd")
    assert states(settle(conn, server, "ACTIVE")) == ("ACTIVE", "active", 1)
    expect_actions(conn, server, "changePassword", "create")


def test_sdk_reset_state(conn, server):
    """os-resetState (admin): the states are set directly, and Nova logs
    the reset as a `resetState` instance action."""
    conn.compute.reset_server_state(server, "error")
    assert states(settle(conn, server, "ERROR"))[:2] == ("ERROR", "error")
    conn.compute.reset_server_state(server, "active")
    assert states(settle(conn, server, "ACTIVE"))[:2] == ("ACTIVE", "active")
    expect_actions(conn, server, "resetState", "resetState", "create")


# --- openstacksdk: rescue, resize, rebuild, shelve ----------------------------------

def test_sdk_rescue_unrescue(conn, cirros, server):
    conn.compute.rescue_server(server, admin_pass="rescue-me", image=cirros.id)
    assert states(settle(conn, server, "RESCUE"))[:2] == ("RESCUE", "rescued")
    conn.compute.unrescue_server(server)
    assert states(settle(conn, server, "ACTIVE")) == ("ACTIVE", "active", 1)
    expect_actions(conn, server, "unrescue", "rescue")


def test_sdk_resize_confirm_then_revert(conn, server):
    small = conn.compute.find_flavor("m1.small", ignore_missing=False)
    medium = conn.compute.find_flavor("m1.medium", ignore_missing=False)
    conn.compute.resize_server(server, small)
    resized = settle(conn, server, "VERIFY_RESIZE")
    assert (resized.vm_state, resized.flavor.original_name, resized.flavor.ram) == ("resized", "m1.small", 2048)
    conn.compute.confirm_server_resize(server)
    confirmed = settle(conn, server, "ACTIVE")
    assert (confirmed.vm_state, confirmed.flavor.original_name) == ("active", "m1.small"), confirmed

    conn.compute.resize_server(server, medium.id)
    assert settle(conn, server, "VERIFY_RESIZE").flavor.original_name == "m1.medium"
    conn.compute.revert_server_resize(server)
    reverted = settle(conn, server, "ACTIVE")
    assert (reverted.flavor.original_name, reverted.flavor.vcpus) == ("m1.small", 1), reverted
    expect_actions(conn, server, "revertResize", "resize", "confirmResize", "resize", "create")


def test_sdk_rebuild(conn, cirros, server):
    """Rebuild at the SDK's microversion (2.100): the full server comes
    back (2.75), with the adminPass given and the new user_data (2.57)."""
    new_name, user_data = unique("sdk-rebuilt"), base64.b64encode(b"#!/bin/sh\necho rebuilt\n").decode()
    rebuilt = conn.compute.rebuild_server(server, cirros, name=new_name, admin_password="rebuild-pw",
                                          metadata={"k": "v"}, user_data=user_data, description="rebuilt")
    assert (rebuilt.id, rebuilt.name, rebuilt.admin_password) == (server.id, new_name, "rebuild-pw"), rebuilt
    assert (rebuilt.metadata, rebuilt.description, rebuilt.image.id) == ({"k": "v"}, "rebuilt", cirros.id), rebuilt
    assert rebuilt.flavor.original_name == "m1.tiny", rebuilt
    shown = settle(conn, server, "ACTIVE")
    assert (shown.name, shown.metadata, shown.user_data) == (new_name, {"k": "v"}, user_data), shown
    expect_actions(conn, server, "rebuild", "create")


def test_sdk_shelve_unshelve(conn, server):
    conn.compute.shelve_server(server)
    shelved = settle(conn, server, "SHELVED_OFFLOADED")
    assert (shelved.vm_state, shelved.power_state, shelved.compute_host) == ("shelved_offloaded", 0, None), shelved
    conn.compute.unshelve_server(server)
    unshelved = settle(conn, server, "ACTIVE")
    assert (unshelved.power_state, bool(unshelved.compute_host)) == (1, True), unshelved
    expect_actions(conn, server, "unshelve", "shelve")


def test_sdk_shelve_offload_of_an_offloaded_server_is_refused(conn, server):
    """Shelving offloads at once, so shelveOffload (admin) finds nothing
    left to offload: Nova's 409 for a wrong vm_state."""
    conn.compute.shelve_server(server)
    settle(conn, server, "SHELVED_OFFLOADED")
    with pytest.raises(sdk_exc.ConflictException) as err:
        conn.compute.shelve_offload_server(server)
    message = f"Cannot 'shelveOffload' instance {server.id} while it is in vm_state shelved_offloaded"
    assert message in str(err.value), str(err.value)


# --- openstacksdk: images -----------------------------------------------------------

def test_sdk_create_server_image(conn, cirros, server, image_cleanup):
    name = unique("sdk-snap")
    image = conn.compute.create_server_image(server, name, metadata={"made": "by-sdk"}, wait=True,
                                             timeout=SERVER_TIMEOUT)
    image_cleanup.append(image.id)
    image = conn.image.get_image(image.id)
    assert (image.name, image.status, image.owner, image.visibility) == (
        name, "active", conn.current_project_id, "private"), image
    props = image_properties(image)
    assert (props["image_type"], props["instance_uuid"], props["base_image_ref"], props["user_id"]) == (
        "snapshot", server.id, cirros.id, conn.current_user_id), props
    assert props["made"] == "by-sdk", props
    assert settle(conn, server, "ACTIVE").status == "ACTIVE"
    expect_actions(conn, server, "createImage", "create")


def test_sdk_admin_snapshot_of_a_members_server(conn, demo_conn, cirros, tiny, cleanup, image_cleanup):
    """An admin snapshots a member's server: Nova records the image as the
    requester's work (`user_id` property = the admin, nova/compute/utils.py
    create_image) and the action as the admin's; the member can use the
    image of its server."""
    theirs = demo_conn.compute.create_server(name=unique("sdk-members"), image_id=cirros.id, flavor_id=tiny.id,
                                             networks="none")
    cleanup.append(theirs.id)
    settle(demo_conn, theirs, "ACTIVE")
    image = conn.compute.create_server_image(theirs.id, unique("sdk-admins-snap"), wait=True,
                                             timeout=SERVER_TIMEOUT)
    image_cleanup.append(image.id)
    (action,) = [a for a in conn.compute.server_actions(theirs.id) if a.action == "createImage"]
    assert (action.user_id, action.project_id) == (conn.current_user_id, conn.current_project_id), action
    assert demo_conn.image.get_image(image.id).status == "active"
    props = image_properties(conn.image.get_image(image.id))
    assert (props["instance_uuid"], props["user_id"]) == (theirs.id, conn.current_user_id), props


def test_sdk_backup_server_rotation(conn, server, image_cleanup):
    """Two weekly backups with rotation 1: the older one is deleted. The
    rotation runs after the new image is active, inside the action's
    compute_backup_instance event (as in Nova), so the action's end is
    awaited (in expect_actions) before the backups are counted."""
    name = unique("sdk-backup")
    first = conn.compute.backup_server(server, f"{name}-1", "weekly", 1, wait=True, timeout=SERVER_TIMEOUT)
    image_cleanup.append(first.id)
    second = conn.compute.backup_server(server, f"{name}-2", "weekly", 1, wait=True, timeout=SERVER_TIMEOUT)
    image_cleanup.append(second.id)
    assert (first.status, second.status) == ("active", "active"), (first, second)
    assert settle(conn, server, "ACTIVE").status == "ACTIVE"
    expect_actions(conn, server, "createBackup", "createBackup", "create")
    kept = backups_of(conn, server)
    assert [(i.id, i.name, image_properties(i).get("backup_type")) for i in kept] == [
        (second.id, f"{name}-2", "weekly")], kept


# --- openstacksdk: console, lock, actions, refusals ---------------------------------

def test_sdk_console_output(conn, server):
    full = conn.compute.get_server_console_output(server)
    assert set(full) == {"output"} and full["output"], full
    last = conn.compute.get_server_console_output(server, length=1)
    assert last["output"].rstrip("\n") == full["output"].rstrip("\n").split("\n")[-1], (last, full)


def test_sdk_lock_unlock(conn, server):
    conn.compute.lock_server(server, locked_reason="sdk maintenance")
    locked = conn.compute.get_server(server.id)
    assert (locked.is_locked, locked.locked_reason) == (True, "sdk maintenance"), locked
    conn.compute.unlock_server(server)
    unlocked = conn.compute.get_server(server.id)
    assert (unlocked.is_locked, unlocked.locked_reason) == (False, None), unlocked
    expect_actions(conn, server, "unlock", "lock", "create")


def test_sdk_server_actions(conn, server):
    conn.compute.stop_server(server)
    settle(conn, server, "SHUTOFF")
    stop, create = expect_actions(conn, server, "stop", "create")
    assert stop.start_time >= create.start_time and stop.message is None, stop
    (event,) = stop.events
    assert event.event == "compute_stop_instance" and event.start_time <= event.finish_time, event
    assert event.host and event.host_id and event.traceback is None, event
    with pytest.raises(sdk_exc.NotFoundException):
        conn.compute.get_server_action("req-00000000-0000-0000-0000-000000000000", server, ignore_missing=False)


def test_sdk_wrong_state_is_refused(conn, server):
    with pytest.raises(sdk_exc.ConflictException) as err:
        conn.compute.unpause_server(server)
    assert f"Cannot 'unpause' instance {server.id} while it is in vm_state active" in str(err.value), err.value
    with pytest.raises(sdk_exc.ConflictException) as err:
        conn.compute.confirm_server_resize(server)
    assert f"Cannot 'confirmResize' instance {server.id} while it is in vm_state active" in str(err.value)
    assert states(conn.compute.get_server(server.id)) == ("ACTIVE", "active", 1)
    assert [a.action for a in conn.compute.server_actions(server)] == ["create"]


# --- python-novaclient ------------------------------------------------------------

@pytest.mark.parametrize("version", ["2.1", "2.latest"])
def test_novaclient_actions(conn, cirros, version, cleanup):
    nova = novaclient_at(conn, version)
    minor = nova.api_version.ver_minor
    created = nova.servers.create(unique(f"nova-act-{version}"), cirros.id, "1",
                                  **({"nics": "none"} if minor >= 37 else {}))
    cleanup.append(created.id)
    server = nova_wait(nova, created.id)

    nova.servers.stop(server)
    assert nova_wait(nova, server.id, "SHUTOFF").to_dict()["OS-EXT-STS:vm_state"] == "stopped"
    nova.servers.start(server)
    nova_wait(nova, server.id)
    for kind in ("SOFT", "HARD"):
        nova.servers.reboot(server, reboot_type=kind)
        assert nova_wait(nova, server.id).to_dict()["OS-EXT-STS:power_state"] == 1
    # The flavor: a reference before 2.47, embedded from 2.47.
    small = ("original_name", "m1.small") if minor >= 47 else ("id", "2")
    nova.servers.resize(server, "2")
    resized = nova_wait(nova, server.id, "VERIFY_RESIZE")
    assert resized.flavor[small[0]] == small[1], resized.to_dict()
    nova.servers.confirm_resize(server)
    assert nova_wait(nova, server.id).flavor[small[0]] == small[1]

    actions = nova.instance_action.list(server)
    names = [a.action for a in actions]
    assert names == ["confirmResize", "resize", "reboot", "reboot", "start", "stop", "create"], names
    assert all(a.instance_uuid == server.id and a.request_id.startswith("req-") for a in actions), actions
    wrong = []
    for action in actions:
        detail = eventually(lambda: nova.instance_action.get(server, action.request_id),
                            lambda d: all(e["finish_time"] for e in d.events))
        events, expected = sorted(e["event"] for e in detail.events), sorted(NOVA_ACTION_EVENTS[action.action])
        if events != expected:
            wrong.append(f"{action.action}: events {events}; Nova records {expected}")
    assert not wrong, "\n".join(wrong)
