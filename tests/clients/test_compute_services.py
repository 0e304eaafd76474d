"""Compute hosts through the real clients: `openstack compute service
list/set` (enable, disable with a reason, force down and up) and
openstacksdk's services calls, checked against what the API then reports,
plus what moving a server means on a cloud with one host (`server migrate`
finds no other host; a live migration is accepted, then fails and leaves
the server where it was, as `server migration list` and the events show).

The session's oxstack runs one host (`serve`); every switch thrown here is
thrown back before the test ends, so other tests can keep booting.
"""

from __future__ import annotations

import pytest

from oxhelpers import compute, eventually, openstack, openstack_fails, openstack_ok, unique, wait_server


def services(oxstack, token, version="2.53") -> list[dict]:
    resp = compute(oxstack, token, "GET", "/os-services", version=version)
    assert resp.status == 200, resp
    return resp.json()["services"]


@pytest.fixture(scope="module")
def host(oxstack, admin_token) -> str:
    """The name of the session's one compute host."""
    found = services(oxstack, admin_token)
    assert len(found) == 1 and found[0]["binary"] == "nova-compute", found
    return found[0]["host"]


@pytest.fixture
def restore(oxstack, admin_token, host):
    """Leaves the host enabled and up whatever the test did."""
    yield
    service_id = services(oxstack, admin_token)[0]["id"]
    compute(oxstack, admin_token, "PUT", f"/os-services/{service_id}",
            {"status": "enabled", "forced_down": False}, version="2.53")


def test_service_list_shows_the_host(host):
    rows = openstack("compute", "service", "list")
    assert [(r["Binary"], r["Host"], r["Zone"], r["Status"], r["State"]) for r in rows] == [
        ("nova-compute", host, "nova", "enabled", "up")], rows
    assert rows[0]["Updated At"], rows
    long_rows = openstack("compute", "service", "list", "--long", "--host", host, "--service", "nova-compute")
    assert (long_rows[0]["Disabled Reason"], long_rows[0]["Forced Down"]) == (None, False), long_rows
    assert openstack("compute", "service", "list", "--host", "elsewhere") == []


def test_service_list_is_for_admins(host):
    result = openstack_fails("compute", "service", "list", cloud="oxstack-demo")
    assert "os_compute_api:os-services:list" in result.stderr + result.stdout, result.describe("no policy name")


def test_service_set_disables_enables_and_forces_down(oxstack, admin_token, host, restore):
    openstack_ok("compute", "service", "set", "--disable", "--disable-reason", "kernel upgrade", host,
                 "nova-compute")
    shown = services(oxstack, admin_token)[0]
    assert (shown["status"], shown["disabled_reason"], shown["state"]) == ("disabled", "kernel upgrade", "up")
    row = openstack("compute", "service", "list", "--long")[0]
    assert (row["Status"], row["Disabled Reason"]) == ("disabled", "kernel upgrade"), row

    openstack_ok("compute", "service", "set", "--enable", host, "nova-compute")
    shown = services(oxstack, admin_token)[0]
    assert (shown["status"], shown["disabled_reason"]) == ("enabled", None), shown

    openstack_ok("compute", "service", "set", "--down", host, "nova-compute")
    shown = services(oxstack, admin_token)[0]
    assert (shown["state"], shown["forced_down"]) == ("down", True), shown
    openstack_ok("compute", "service", "set", "--up", host, "nova-compute")
    assert services(oxstack, admin_token)[0]["state"] == "up"

    refused = openstack_fails("compute", "service", "set", "--enable", "--disable-reason", "x", host,
                              "nova-compute")
    assert "--disable-reason" in refused.stderr + refused.stdout, refused.describe("no reason given")


def test_a_disabled_host_takes_no_new_server(oxstack, admin_token, host, restore, cleanup):
    openstack_ok("compute", "service", "set", "--disable", host, "nova-compute")
    created = openstack("server", "create", "--flavor", "m1.tiny", "--image", "cirros", "--nic", "none",
                        unique("cli-nohost"))
    cleanup.append(created["id"])
    failed = wait_server(oxstack, admin_token, created["id"], "ERROR")
    assert failed["fault"]["message"] == "No valid host was found. There are not enough hosts available.", failed
    openstack_ok("compute", "service", "set", "--enable", host, "nova-compute")
    placed = openstack("server", "create", "--flavor", "m1.tiny", "--image", "cirros", "--nic", "none",
                       "--wait", unique("cli-host"))
    cleanup.append(placed["id"])
    assert placed["status"] == "ACTIVE", placed
    assert placed["OS-EXT-SRV-ATTR:host"] == host, placed


def test_sdk_services(conn, demo_conn, host, restore):
    from openstack import exceptions as sdk_exc

    found = list(conn.compute.services())
    assert [(s.binary, s.host, s.availability_zone, s.status, s.state) for s in found] == [
        ("nova-compute", host, "nova", "enabled", "up")]
    service = found[0]
    conn.compute.disable_service(service, host, "nova-compute", disabled_reason="racking")
    again = next(iter(conn.compute.services(host=host)))
    assert (again.status, again.disabled_reason) == ("disabled", "racking")
    conn.compute.enable_service(service, host, "nova-compute")
    conn.compute.update_service_forced_down(service, host, "nova-compute", True)
    assert next(iter(conn.compute.services())).state == "down"
    conn.compute.update_service_forced_down(service, host, "nova-compute", False)
    assert next(iter(conn.compute.services())).state == "up"
    with pytest.raises(sdk_exc.ForbiddenException):
        list(demo_conn.compute.services())


def test_moving_a_server_with_one_host(oxstack, admin_token, cleanup):
    created = openstack("server", "create", "--flavor", "m1.tiny", "--image", "cirros", "--nic", "none",
                        "--wait", unique("cli-move"))
    sid = created["id"]
    cleanup.append(sid)
    refused = openstack_fails("server", "migrate", sid)
    assert "No valid host was found" in refused.stderr + refused.stdout, refused.describe("no NoValidHost")

    openstack_ok("server", "migrate", "--live-migration", sid)
    migrations = eventually(lambda: openstack("server", "migration", "list", "--server", sid),
                            lambda rows: rows and rows[0]["Status"] == "error")
    assert migrations[0]["Type"] == "live-migration", migrations
    shown = wait_server(oxstack, admin_token, sid, "ACTIVE", passing=("MIGRATING",))
    assert shown["OS-EXT-STS:task_state"] is None, shown
    events = openstack("server", "event", "list", sid)
    assert events[0]["Action"] == "live-migration", events


def test_availability_zone_list(host):
    rows = openstack("availability", "zone", "list", "--compute")
    assert rows == [{"Zone Name": "nova", "Zone Status": "available"}], rows
    long_rows = openstack("availability", "zone", "list", "--compute", "--long")
    assert [(r["Zone Name"], r["Host Name"], r["Service Name"]) for r in long_rows] == [
        ("nova", host, "nova-compute")], long_rows
    assert long_rows[0]["Service Status"].startswith("enabled :-) "), long_rows


def test_hypervisor_list(host):
    rows = openstack("hypervisor", "list")
    assert [(r["Hypervisor Hostname"], r["Hypervisor Type"], r["Host IP"], r["State"]) for r in rows] == [
        (host, "fake", "127.0.0.1", "up")], rows
    matched = openstack("hypervisor", "list", "--matching", host[:3])
    assert [r["Hypervisor Hostname"] for r in matched] == [host], matched


def test_sdk_hypervisors(conn, host):
    found = list(conn.compute.hypervisors(details=True))
    assert [(h.name, h.hypervisor_type, h.state, h.status) for h in found] == [(host, "fake", "up", "enabled")]
    one = conn.compute.get_hypervisor(found[0].id)
    assert (one.name, one.service_details["host"]) == (host, host), one
