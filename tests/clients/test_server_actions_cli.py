"""The real `openstack` CLI driving oxstack's server actions (POST
/servers/{id}/action), checked by their effects: after every step the
server is read back with `server show -f json` (and, where the CLI does not
show it, with a raw GET as admin), and the step must be recorded in
`server event list` / `server event show` with the events Nova records.

Each test has its own server (`--nic none --wait`, m1.tiny, cirros). The
fake driver finishes actions almost at once; commands without `--wait` are
followed by polling the API until the server settles.
"""

from __future__ import annotations

import json

import pytest

from oxhelpers import (NOVA_ACTION_EVENTS, compute, eventually, expect_status, http, openstack, openstack_fails,
                       openstack_ok, raw_server, unique, wait_server)


@pytest.fixture
def server(cleanup) -> dict:
    """A fresh ACTIVE server, as `server create -f json` printed it."""
    created = openstack("server", "create", "--flavor", "m1.tiny", "--image", "cirros", "--nic", "none",
                        "--wait", unique("cli-act"))
    cleanup.append(created["id"])
    assert created["status"] == "ACTIVE", created
    return created


def show(sid: str) -> dict:
    return openstack("server", "show", sid)


def settle(oxstack, admin_token, sid, status) -> dict:
    """Waits for `status` (no task in progress); returns `server show`."""
    wait_server(oxstack, admin_token, sid, status)
    shown = show(sid)
    assert (shown["status"], shown["OS-EXT-STS:task_state"]) == (status, None), shown
    return shown


def json_after_complete(result) -> dict:
    """`--wait` commands print "Complete" before their `-f json` record."""
    _, sep, tail = result.stdout.partition("Complete\n")
    assert sep, result.describe("expected 'Complete' on stdout")
    return json.loads(tail)


def expect_actions(sid: str, *newest_first: str) -> list[dict]:
    """`server event list` starts with these actions (newest first); each
    of them, read with `server event show`, carries exactly the events Nova
    records for it, all successful."""
    listed = openstack("server", "event", "list", sid)
    assert [r["Action"] for r in listed[:len(newest_first)]] == list(newest_first), listed
    assert all(r["Server ID"] == sid and r["Request ID"].startswith("req-") for r in listed), listed
    details, wrong = [], []
    for row in listed[:len(newest_first)]:
        detail = eventually(lambda: openstack("server", "event", "show", sid, row["Request ID"]),
                            lambda d: all(e["finish_time"] for e in d["events"]))
        assert (detail["action"], detail["request_id"]) == (row["Action"], row["Request ID"]), detail
        events, nova = sorted(e["event"] for e in detail["events"]), sorted(NOVA_ACTION_EVENTS[row["Action"]])
        if events != nova:
            wrong.append(f"{row['Action']} ({row['Request ID']}): events {events}; Nova records {nova}")
        if not all(e["result"] == "Success" and e["finish_time"] for e in detail["events"]):
            wrong.append(f"{row['Action']}: not every event finished successfully: {detail['events']}")
        details.append(detail)
    assert not wrong, "\n".join(wrong)
    return details


# --- power: stop/start, pause/unpause, suspend/resume, reboot ---------------------

@pytest.mark.parametrize("action, undo, status, vm_state, power, older", [
    ("stop", "start", "SHUTOFF", "stopped", 4, ("create",)),
    ("pause", "unpause", "PAUSED", "paused", 3, ()),
    ("suspend", "resume", "SUSPENDED", "suspended", 7, ()),
])
def test_power_action_and_its_undo(oxstack, admin_token, server, action, undo, status, vm_state, power, older):
    sid = server["id"]
    openstack("server", action, sid)
    shown = settle(oxstack, admin_token, sid, status)
    assert (shown["OS-EXT-STS:vm_state"], shown["OS-EXT-STS:power_state"]) == (vm_state, power), shown

    openstack("server", undo, sid)
    shown = settle(oxstack, admin_token, sid, "ACTIVE")
    assert (shown["OS-EXT-STS:vm_state"], shown["OS-EXT-STS:power_state"]) == ("active", 1), shown
    expect_actions(sid, undo, action, *older)


def test_reboot_soft_and_hard(server):
    sid = server["id"]
    for kind in ("--soft", "--hard"):
        result = openstack_ok("server", "reboot", kind, "--wait", sid)
        expect_status(result, "POST", f"/compute/v2.1/servers/{sid}/action", 202)
        assert "Complete" in result.stdout, result.describe("expected --wait to report completion")
        shown = show(sid)
        assert (shown["status"], shown["OS-EXT-STS:task_state"], shown["OS-EXT-STS:power_state"]) == (
            "ACTIVE", None, 1), shown
    expect_actions(sid, "reboot", "reboot", "create")


# --- rebuild, resize --------------------------------------------------------------

def test_rebuild(oxstack, admin_token, cirros_id, server):
    sid, new_name = server["id"], unique("cli-rebuilt")
    result = openstack_ok("server", "rebuild", "--image", "cirros", "--name", new_name, "--property", "k=v",
                          "--wait", "-f", "json", sid, fmt="raw")
    expect_status(result, "POST", f"/compute/v2.1/servers/{sid}/action", 202)
    rebuilt = json_after_complete(result)
    assert (rebuilt["id"], rebuilt["name"]) == (sid, new_name), rebuilt
    assert rebuilt["adminPass"], rebuilt

    shown = show(sid)
    assert (shown["status"], shown["name"], shown["properties"]) == ("ACTIVE", new_name, {"k": "v"}), shown
    assert shown["image"] == f"cirros ({cirros_id})", shown
    assert raw_server(oxstack, admin_token, sid)["metadata"] == {"k": "v"}
    expect_actions(sid, "rebuild", "create")


def test_resize_confirm_then_revert(oxstack, admin_token, server):
    sid = server["id"]
    openstack("server", "resize", "--flavor", "m1.small", "--wait", sid)
    shown = show(sid)
    assert (shown["status"], shown["OS-EXT-STS:vm_state"]) == ("VERIFY_RESIZE", "resized"), shown
    assert shown["flavor"]["name"] == "m1.small", shown
    openstack("server", "resize", "confirm", sid)
    shown = settle(oxstack, admin_token, sid, "ACTIVE")
    assert (shown["flavor"]["name"], shown["flavor"]["ram"]) == ("m1.small", 2048), shown

    openstack("server", "resize", "--flavor", "m1.medium", "--wait", sid)
    shown = show(sid)
    assert (shown["status"], shown["flavor"]["name"], shown["flavor"]["vcpus"]) == ("VERIFY_RESIZE", "m1.medium",
                                                                                    2), shown
    openstack("server", "resize", "revert", sid)
    shown = settle(oxstack, admin_token, sid, "ACTIVE")
    assert (shown["flavor"]["name"], shown["flavor"]["vcpus"]) == ("m1.small", 1), shown
    assert (shown["OS-EXT-STS:vm_state"], shown["OS-EXT-STS:power_state"]) == ("active", 1), shown
    expect_actions(sid, "revertResize", "resize", "confirmResize", "resize", "create")


# --- rescue, shelve ---------------------------------------------------------------

def test_rescue_unrescue(oxstack, admin_token, server):
    sid = server["id"]
    result = openstack_ok("server", "rescue", "--password", "rescue-me", sid)
    expect_status(result, "POST", f"/compute/v2.1/servers/{sid}/action", 200)
    shown = settle(oxstack, admin_token, sid, "RESCUE")
    assert shown["OS-EXT-STS:vm_state"] == "rescued", shown

    openstack("server", "unrescue", sid)
    shown = settle(oxstack, admin_token, sid, "ACTIVE")
    assert (shown["OS-EXT-STS:vm_state"], shown["OS-EXT-STS:power_state"]) == ("active", 1), shown
    expect_actions(sid, "unrescue", "rescue")


def test_shelve_unshelve(oxstack, admin_token, cirros_id, server, image_cleanup):
    """Shelving offloads at once (Nova's default shelved_offload_time 0):
    the server leaves its host, its disk kept as the snapshot image
    `<name>-shelved` (nova/compute/api.py shelve); unshelving schedules it
    again, boots it from that image and deletes the image."""
    sid, shelved_name = server["id"], server["name"] + "-shelved"
    host = raw_server(oxstack, admin_token, sid)["OS-EXT-SRV-ATTR:host"]
    assert host, server
    openstack("server", "shelve", "--wait", sid)
    shown = show(sid)
    assert (shown["status"], shown["OS-EXT-STS:vm_state"], shown["OS-EXT-STS:task_state"]) == (
        "SHELVED_OFFLOADED", "shelved_offloaded", None), shown
    assert shown["OS-EXT-STS:power_state"] == 0, shown
    raw = raw_server(oxstack, admin_token, sid)
    assert (raw["OS-EXT-SRV-ATTR:host"], raw["OS-EXT-SRV-ATTR:hypervisor_hostname"]) == (None, None), raw
    while_shelved = openstack("image", "list", "--name", shelved_name)
    image_cleanup.extend(r["ID"] for r in while_shelved)

    openstack("server", "unshelve", "--wait", sid)
    shown = show(sid)
    assert (shown["status"], shown["OS-EXT-STS:power_state"]) == ("ACTIVE", 1), shown
    assert shown["image"] == f"cirros ({cirros_id})", shown
    assert raw_server(oxstack, admin_token, sid)["OS-EXT-SRV-ATTR:host"] == host
    expect_actions(sid, "unshelve", "shelve")

    assert [r["Status"] for r in while_shelved] == ["active"], (
        f"expected one active image {shelved_name!r} while the server was shelved: {while_shelved}")
    assert openstack("image", "list", "--name", shelved_name) == [], "the shelved image outlived unshelve"


# --- images: createImage, createBackup --------------------------------------------

def test_image_create(oxstack, admin_token, cirros_id, server, image_cleanup):
    sid, name = server["id"], unique("cli-snap")
    project_id = openstack("project", "show", "admin")["id"]
    user_id = openstack("user", "show", "admin")["id"]
    created = openstack("server", "image", "create", "--name", name, "--property", "made=by-cli", "--wait", sid)
    image_cleanup.append(created["id"])
    assert (created["name"], created["status"]) == (name, "active"), created

    listed = openstack("image", "list", "--name", name)
    assert [(r["ID"], r["Status"]) for r in listed] == [(created["id"], "active")], listed
    image = openstack("image", "show", name)
    assert (image["id"], image["owner"], image["visibility"]) == (created["id"], project_id, "private"), image
    props = image["properties"]
    assert (props["image_type"], props["instance_uuid"], props["base_image_ref"], props["user_id"]) == (
        "snapshot", sid, cirros_id, user_id), props
    assert props["made"] == "by-cli", props
    assert show(sid)["status"] == "ACTIVE"
    expect_actions(sid, "createImage", "create")


def test_backup_rotation(oxstack, admin_token, server, image_cleanup):
    """Two daily backups with --rotate 1: only the newer one is kept (the
    rotation ends the action, after the image is active: awaited in
    expect_actions before the backups are counted)."""
    sid, name = server["id"], unique("cli-backup")
    kept = []
    for n in (1, 2):
        backup = openstack("server", "backup", "create", "--name", f"{name}-{n}", "--type", "daily",
                           "--rotate", "1", "--wait", sid)
        image_cleanup.append(backup["id"])
        kept.append(backup["id"])
        # `backup create --wait` prints the image as it found it before
        # waiting (queued or saving, as with Nova); once it returns, the
        # image is active.
        assert backup["status"] in ("queued", "saving", "active"), backup
        assert openstack("image", "show", backup["id"])["status"] == "active"
    assert show(sid)["status"] == "ACTIVE"
    expect_actions(sid, "createBackup", "createBackup", "create")
    found = http("GET", oxstack.url(f"/image/v2/images?instance_uuid={sid}&image_type=backup"),
                 headers={"X-Auth-Token": admin_token}).json()["images"]
    assert [(i["id"], i["name"], i["backup_type"]) for i in found] == [(kept[1], f"{name}-2", "daily")], found


# --- console, events, lock --------------------------------------------------------

def test_console_log(oxstack, admin_token, server):
    sid = server["id"]
    api = compute(oxstack, admin_token, "POST", f"/servers/{sid}/action", body={"os-getConsoleOutput": {}})
    assert api.status == 200, api
    output = api.json()["output"]
    assert output, api
    full = openstack_ok("console", "log", "show", sid, fmt="raw")
    assert full.stdout == (output if output.endswith("\n") else output + "\n"), (full.stdout, output)
    last = openstack_ok("console", "log", "show", "--lines", "1", sid, fmt="raw")
    assert last.stdout.rstrip("\n") == output.rstrip("\n").split("\n")[-1], (last.stdout, output)


def test_event_list_and_show(oxstack, admin_token, server):
    sid = server["id"]
    openstack("server", "stop", sid)
    wait_server(oxstack, admin_token, sid, "SHUTOFF")
    project_id = openstack("project", "show", "admin")["id"]
    user_id = openstack("user", "show", "admin")["id"]

    long_rows = openstack("server", "event", "list", "--long", sid)
    assert [r["Action"] for r in long_rows] == ["stop", "create"], long_rows
    for row in long_rows:
        assert (row["Project ID"], row["User ID"], row["Message"]) == (project_id, user_id, None), row
    stop, create = expect_actions(sid, "stop", "create")
    assert stop["start_time"] >= create["start_time"], (stop, create)
    (event,) = stop["events"]
    assert event["event"] == "compute_stop_instance" and event["start_time"] <= event["finish_time"], event
    assert event["host"] and event["host_id"] and event["traceback"] is None, event  # admin sees the host

    missing = openstack_fails("server", "event", "show", sid, "req-00000000-0000-0000-0000-000000000000")
    expect_status(missing, "GET",
                  f"/compute/v2.1/servers/{sid}/os-instance-actions/req-00000000-0000-0000-0000-000000000000", 404)


def test_lock_with_reason_and_unlock(oxstack, admin_token, server):
    sid = server["id"]
    openstack("--os-compute-api-version", "2.73", "server", "lock", "--reason", "maintenance", sid)
    raw = raw_server(oxstack, admin_token, sid)
    assert (raw["locked"], raw["locked_reason"]) == (True, "maintenance"), raw
    assert show(sid)["locked"] is True
    openstack("server", "unlock", sid)
    raw = raw_server(oxstack, admin_token, sid)
    assert (raw["locked"], raw["locked_reason"]) == (False, None), raw
    assert show(sid)["locked"] is False
    expect_actions(sid, "unlock", "lock", "create")


def test_locked_server_refuses_the_owners_actions(oxstack, demo_token, cleanup):
    """A member's server locked by an admin: the member's stop is a 409
    with Nova's message, and the server stays ACTIVE."""
    created = openstack("server", "create", "--flavor", "m1.tiny", "--image", "cirros", "--nic", "none",
                        "--wait", unique("cli-act-locked"), cloud="oxstack-demo")
    sid = created["id"]
    cleanup.append(sid)
    openstack("server", "lock", sid)
    refused = openstack_fails("server", "stop", sid, cloud="oxstack-demo")
    expect_status(refused, "POST", f"/compute/v2.1/servers/{sid}/action", 409)
    assert f"Instance {sid} is locked" in refused.stderr, refused.describe("expected Nova's locked message")
    assert raw_server(oxstack, demo_token, sid)["status"] == "ACTIVE"
    openstack("server", "unlock", sid)


# --- refusals ---------------------------------------------------------------------

@pytest.mark.parametrize("command, action", [
    (("server", "unpause"), "unpause"),
    (("server", "resume"), "resume"),
    (("server", "start"), "start"),
    (("server", "unrescue"), "unrescue"),
    (("server", "resize", "confirm"), "confirmResize"),
    (("server", "resize", "revert"), "revertResize"),
])
def test_wrong_state_is_refused(oxstack, admin_token, server, command, action):
    """An action the server's state does not allow: 409 with Nova's
    message, and nothing changes or is recorded."""
    sid = server["id"]
    refused = openstack_fails(*command, sid)
    expect_status(refused, "POST", f"/compute/v2.1/servers/{sid}/action", 409)
    message = f"Cannot '{action}' instance {sid} while it is in vm_state active"
    assert message in refused.stderr, refused.describe(f"expected Nova's message {message!r}")
    raw = raw_server(oxstack, admin_token, sid)
    assert (raw["status"], raw["OS-EXT-STS:task_state"]) == ("ACTIVE", None), raw
    assert [r["Action"] for r in openstack("server", "event", "list", sid)] == ["create"]


def test_stop_a_stopped_server_is_refused(oxstack, admin_token, server):
    sid = server["id"]
    openstack("server", "stop", sid)
    wait_server(oxstack, admin_token, sid, "SHUTOFF")
    refused = openstack_fails("server", "stop", sid)
    expect_status(refused, "POST", f"/compute/v2.1/servers/{sid}/action", 409)
    message = f"Cannot 'stop' instance {sid} while it is in vm_state stopped"
    assert message in refused.stderr, refused.describe(f"expected Nova's message {message!r}")
