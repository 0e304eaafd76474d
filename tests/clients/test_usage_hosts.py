"""Usage, hosts and diagnostics through the real clients: `openstack usage
list/show`, `host list/show/set`, `server show --diagnostics`; usage and
diagnostics through openstacksdk and python-novaclient (which has no hosts
API any more).
"""

from __future__ import annotations

import datetime

from oxhelpers import compute, http, novaclient_at, openstack, unique, wait_server


def boot(oxstack, token, cleanup, name: str) -> str:
    resp = compute(oxstack, token, "POST", "/servers", {"server": {
        "name": name, "imageRef": cirros_of(oxstack, token), "flavorRef": "1", "networks": "none"}},
        version="2.37")
    assert resp.status == 202, resp
    sid = resp.json()["server"]["id"]
    cleanup.append(sid)
    wait_server(oxstack, token, sid)
    return sid


def cirros_of(oxstack, token) -> str:
    resp = compute(oxstack, token, "GET", "/images?name=cirros", version="2.1")
    return resp.json()["images"][0]["id"]


def project_id(oxstack, token) -> str:
    """The project a token is scoped to, as Keystone tells it."""
    check = http("GET", oxstack.url("/identity/v3/auth/tokens"),
                 headers={"X-Auth-Token": token, "X-Subject-Token": token})
    assert check.status == 200, check
    return check.json()["token"]["project"]["id"]


def test_cli_usage_list_and_show(oxstack, admin_token, demo_token, cleanup):
    boot(oxstack, demo_token, cleanup, unique("cli-usage"))
    demo_project = project_id(oxstack, demo_token)
    start = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=1)).strftime("%Y-%m-%d")
    end = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)).strftime("%Y-%m-%d")
    rows = openstack("usage", "list", "--start", start, "--end", end)
    by_project = {row["Project"]: row for row in rows}
    assert demo_project in by_project, rows
    demo = by_project[demo_project]
    # The machine-readable "Servers" column is the servers themselves.
    assert len(demo["Servers"]) >= 1, demo
    assert float(demo["RAM MB-Hours"]) > 0, demo
    assert float(demo["CPU Hours"]) > 0, demo

    shown = openstack("usage", "show", "--project", demo_project, "--start", start, "--end", end)
    ids = [s["instance_id"] for s in shown["Servers"]]
    assert ids == [s["instance_id"] for s in demo["Servers"]], shown
    assert float(shown["RAM MB-Hours"]) > 0, shown


def test_cli_hosts(oxstack, admin_token):
    hosts = openstack("host", "list")
    assert hosts and all(h["Service"] == "compute" and h["Zone"] == "nova" for h in hosts), hosts
    host = hosts[0]["Host Name"]
    assert [h["Host Name"] for h in openstack("host", "list", "--zone", "nova")] == [h["Host Name"] for h in hosts]
    rows = openstack("host", "show", host)
    assert [r["Project"] for r in rows[:3]] == ["(total)", "(used_now)", "(used_max)"], rows
    assert all(r["Host"] == host for r in rows), rows
    assert rows[0]["CPU"] > 0 and rows[0]["Memory MB"] > 0, rows

    openstack("host", "set", "--disable", host)
    try:
        services = openstack("compute", "service", "list", "--host", host)
        assert [s["Status"] for s in services] == ["disabled"], services
    finally:
        openstack("host", "set", "--enable", host)
    services = openstack("compute", "service", "list", "--host", host)
    assert [s["Status"] for s in services] == ["enabled"], services


def test_cli_server_diagnostics(oxstack, admin_token, cleanup):
    sid = boot(oxstack, admin_token, cleanup, unique("cli-diag"))
    shown = openstack("server", "show", "--diagnostics", sid)
    assert (shown["state"], shown["driver"], shown["num_cpus"]) == ("running", "libvirt", 1), shown
    assert shown["memory_details"] == {"maximum": 512, "used": 0}, shown


def test_sdk_and_novaclient_usage_and_diagnostics(conn, oxstack, admin_token, demo_token, cleanup):
    sid = boot(oxstack, demo_token, cleanup, unique("sdk-usage"))
    demo_project = project_id(oxstack, demo_token)
    # Naive UTC times: Nova reads no zone in them (openstacksdk sends an
    # aware datetime's offset along, which Nova refuses too).
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    start, end = now - datetime.timedelta(hours=1), now + datetime.timedelta(hours=1)

    usages = {u.project_id: u for u in conn.compute.usages(start=start, end=end, detailed=True)}
    assert demo_project in usages, usages
    assert sid in [s["instance_id"] for s in usages[demo_project].server_usages]
    usage = conn.compute.get_usage(demo_project, start=start, end=end)
    assert usage.total_memory_mb_usage > 0, usage
    assert sid in [s["instance_id"] for s in usage.server_usages]

    diagnostics = conn.compute.get_server_diagnostics(sid)
    assert diagnostics.num_cpus == 1 and diagnostics.state == "running", diagnostics
    assert diagnostics.memory_details == {"maximum": 512, "used": 0}, diagnostics

    nova = novaclient_at(conn, "2.40")
    listed = nova.usage.list(start, end, detailed=True)
    assert demo_project in [u.tenant_id for u in listed], listed
    one = nova.usage.get(demo_project, start, end)
    assert sid in [s["instance_id"] for s in one.server_usages], one
    _, flat = novaclient_at(conn, "2.1").servers.diagnostics(sid)
    assert flat["cpu0_time"] == 17300000000, flat
