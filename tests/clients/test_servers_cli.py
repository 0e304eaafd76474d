"""The real `openstack` CLI against oxstack's servers API, checked by its
effects: what the CLI prints, and what the compute API then says (raw HTTP
with a token of the right user, the independent check beside the CLI).

oxstack has no Neutron and no volumes: servers are created with `--nic
none` or `--nic auto` (the built-in `private` network, 10.0.0.0/24 and
fd00:0:0:1::/64), which the CLI sends as Nova's 2.37 `networks` strings
without looking anything up in a network service.
"""

from __future__ import annotations

import ipaddress
import re

from oxhelpers import (compute, expect_status, openstack, openstack_fails, openstack_ok, raw_server, unique,
                       wait_server)

PRIVATE_V4 = ipaddress.ip_network("10.0.0.0/24")
PRIVATE_V6 = ipaddress.ip_network("fd00:0:0:1::/64")


def raw_create(oxstack, token, name, networks="none", **extra) -> str:
    body = {"server": {"name": name, "imageRef": extra.pop("image"), "flavorRef": "1", "networks": networks,
                       **extra}}
    resp = compute(oxstack, token, "POST", "/servers", body=body, version="2.37")
    assert resp.status == 202, f"POST /servers {body}: {resp}"
    return resp.json()["server"]["id"]


def _limits(*args) -> dict[str, int]:
    rows = openstack("limits", "show", "--absolute", *args)
    table = {r["Name"]: r["Value"] for r in rows}
    assert len(table) == len(rows), rows
    return table


def _quota_usage() -> dict[str, tuple]:
    rows = openstack("quota", "show", "--usage")
    return {r["Resource"]: (r["Limit"], r["In Use"]) for r in rows}


# --- create / show / set / unset / lock / delete ----------------------------------

def test_server_lifecycle_nic_none(oxstack, admin_token, demo_token, cirros_id, cleanup):
    name, new_name = unique("cli-none"), unique("cli-renamed")
    before = _limits()

    created = openstack("server", "create", "--flavor", "m1.tiny", "--image", "cirros", "--nic", "none",
                        "--property", "made=by-cli", "--wait", name)
    sid = created["id"]
    cleanup.append(sid)
    assert (created["name"], created["status"]) == (name, "ACTIVE"), created
    assert created["addresses"] == {}, created
    assert created["adminPass"], created
    assert created["image"] == f"cirros ({cirros_id})", created
    assert created["flavor"]["original_name"] == "m1.tiny", created
    assert created["properties"] == {"made": "by-cli"}, created

    raw = raw_server(oxstack, admin_token, sid)
    assert (raw["status"], raw["OS-EXT-STS:vm_state"], raw["OS-EXT-STS:power_state"]) == ("ACTIVE", "active", 1)
    assert raw["addresses"] == {} and raw["metadata"] == {"made": "by-cli"}, raw
    assert raw["image"]["id"] == cirros_id and raw["flavor"]["original_name"] == "m1.tiny", raw
    ips = compute(oxstack, admin_token, "GET", f"/servers/{sid}/ips")
    assert (ips.status, ips.json()) == (200, {"addresses": {}}), ips

    # Usage: one more instance, one more vCPU and 512 MiB more.
    after = _limits()
    assert after["total_instances_used"] == before["total_instances_used"] + 1, (before, after)
    assert after["total_cores_used"] == before["total_cores_used"] + 1, (before, after)
    assert after["total_ram_used"] == before["total_ram_used"] + 512, (before, after)
    assert after["max_total_instances"] == before["max_total_instances"], (before, after)
    usage = _quota_usage()
    assert usage["instances"] == (after["max_total_instances"], after["total_instances_used"]), usage
    assert usage["cores"][1] == after["total_cores_used"] and usage["ram"][1] == after["total_ram_used"], usage

    shown = openstack("server", "show", name)
    assert (shown["id"], shown["status"], shown["addresses"]) == (sid, "ACTIVE", {}), shown
    assert shown["image"] == f"cirros ({cirros_id})", shown
    assert shown["flavor"]["name"] == "m1.tiny" and shown["flavor"]["vcpus"] == 1, shown
    assert shown["locked"] is False and shown["description"] is None, shown

    # Another project does not see it.
    hidden = openstack_fails("server", "show", sid, cloud="oxstack-demo")
    expect_status(hidden, "GET", f"/compute/v2.1/servers/{sid}", 404)
    assert sid not in {r["ID"] for r in openstack("server", "list", cloud="oxstack-demo")}

    # Properties (server metadata).
    openstack("server", "set", "--property", "k=v", "--property", "a=b", name)
    assert raw_server(oxstack, admin_token, sid)["metadata"] == {"made": "by-cli", "k": "v", "a": "b"}
    openstack("server", "unset", "--property", "a", "--property", "made", name)
    meta = compute(oxstack, admin_token, "GET", f"/servers/{sid}/metadata")
    assert meta.json() == {"metadata": {"k": "v"}}, meta
    assert compute(oxstack, admin_token, "GET", f"/servers/{sid}/metadata/a").status == 404
    assert openstack("server", "show", sid)["properties"] == {"k": "v"}

    # Name and description (2.19).
    openstack("server", "set", "--name", new_name, name)
    assert raw_server(oxstack, admin_token, sid)["name"] == new_name
    described = openstack_ok("--os-compute-api-version", "2.19", "server", "set", "--description", "from the cli",
                             new_name)
    expect_status(described, "PUT", f"/compute/v2.1/servers/{sid}", 200)
    assert raw_server(oxstack, admin_token, sid)["description"] == "from the cli"
    shown = openstack("server", "show", new_name)
    assert (shown["name"], shown["description"]) == (new_name, "from the cli"), shown
    assert openstack_fails("server", "show", name).returncode == 1  # the old name is gone

    # Lock and unlock (2.73: with a reason).
    openstack("server", "lock", new_name)
    raw = raw_server(oxstack, admin_token, sid)
    assert (raw["locked"], raw["locked_reason"]) == (True, None), raw
    assert openstack("server", "show", sid)["locked"] is True
    openstack("server", "unlock", sid)
    assert raw_server(oxstack, admin_token, sid)["locked"] is False
    openstack("--os-compute-api-version", "2.73", "server", "lock", "--reason", "maintenance", sid)
    raw = raw_server(oxstack, admin_token, sid)
    assert (raw["locked"], raw["locked_reason"]) == (True, "maintenance"), raw
    locked = openstack("--os-compute-api-version", "2.73", "server", "list", "--locked", "--name", new_name)
    assert [r["ID"] for r in locked] == [sid], locked
    openstack("server", "unlock", sid)
    raw = raw_server(oxstack, admin_token, sid)
    assert (raw["locked"], raw["locked_reason"]) == (False, None), raw

    # Delete and wait: gone for the API and the CLI; usage back where it was.
    openstack("server", "delete", "--wait", new_name)
    assert compute(oxstack, admin_token, "GET", f"/servers/{sid}").status == 404
    gone = openstack_fails("server", "show", sid)
    expect_status(gone, "GET", f"/compute/v2.1/servers/{sid}", 404)
    assert f"No Server found for {sid}" in gone.stderr, gone.describe("expected 'No Server found'")
    assert sid not in {r["ID"] for r in openstack("server", "list")}
    final = _limits()
    assert final["total_instances_used"] == before["total_instances_used"], (before, final)
    assert final["total_cores_used"] == before["total_cores_used"], (before, final)


def test_server_locked_by_admin(oxstack, admin_token, demo_token, cleanup):
    """A member's server locked by an admin: the member can neither unlock
    it (policy unlock_override) nor delete it (409 locked); after the admin
    unlocks it, the member deletes it."""
    name = unique("cli-locked")
    created = openstack("server", "create", "--flavor", "m1.tiny", "--image", "cirros", "--nic", "none",
                        "--wait", name, cloud="oxstack-demo")
    sid = created["id"]
    cleanup.append(sid)
    assert created["status"] == "ACTIVE", created

    openstack("server", "lock", sid)
    assert raw_server(oxstack, demo_token, sid)["locked"] is True
    refused = openstack_fails("server", "unlock", sid, cloud="oxstack-demo")
    expect_status(refused, "POST", f"/compute/v2.1/servers/{sid}/action", 403)
    assert "os_compute_api:os-lock-server:unlock:unlock_override" in refused.stderr, refused.describe("policy")
    refused = openstack_fails("server", "delete", sid, cloud="oxstack-demo")
    expect_status(refused, "DELETE", f"/compute/v2.1/servers/{sid}", 409)
    assert f"Instance {sid} is locked" in refused.stderr, refused.describe("expected Nova's locked message")
    refused = openstack_fails("server", "set", "--property", "k=v", sid, cloud="oxstack-demo")
    expect_status(refused, "POST", f"/compute/v2.1/servers/{sid}/metadata", 409)
    assert raw_server(oxstack, demo_token, sid)["metadata"] == {}

    openstack("server", "unlock", sid)
    assert raw_server(oxstack, demo_token, sid)["locked"] is False
    openstack("server", "delete", "--wait", sid, cloud="oxstack-demo")
    assert compute(oxstack, demo_token, "GET", f"/servers/{sid}").status == 404


def test_server_create_nic_auto(oxstack, admin_token, cirros_id, cleanup):
    name = unique("cli-auto")
    created = openstack("server", "create", "--flavor", "m1.tiny", "--image", "cirros", "--nic", "auto",
                        "--wait", name)
    sid = created["id"]
    cleanup.append(sid)
    assert created["status"] == "ACTIVE", created
    assert list(created["addresses"]) == ["private"], created

    # What a user reads in the table: `private=10.0.0.x, fd00::...`.
    table = openstack("server", "show", "-f", "table", "-c", "addresses", name)
    assert re.search(r"\| addresses \| private=10\.0\.0\.\d+, fd00::1:[0-9a-f:]+ +\|", table), table
    listed = openstack("server", "list", "-f", "table", "-c", "Name", "-c", "Networks", "--name", f"^{name}$")
    assert re.search(rf"\| {name} \| private=10\.0\.0\.\d+, fd00::1:[0-9a-f:]+ +\|", listed), listed
    shown = openstack("server", "show", name)
    addrs = [ipaddress.ip_address(a) for a in shown["addresses"]["private"]]
    v4 = [a for a in addrs if a.version == 4]
    v6 = [a for a in addrs if a.version == 6]
    assert len(v4) == 1 and v4[0] in PRIVATE_V4, shown["addresses"]
    assert len(v6) == 1 and v6[0] in PRIVATE_V6, shown["addresses"]
    assert shown["status"] == "ACTIVE" and shown["flavor"]["name"] == "m1.tiny", shown
    assert shown["image"] == f"cirros ({cirros_id})", shown
    assert shown["security_groups"] == [{"name": "default"}], shown

    # What the API says agrees; the IPv6 address is the SLAAC (EUI-64)
    # address of the port's MAC.
    raw = raw_server(oxstack, admin_token, sid)
    items = raw["addresses"]["private"]
    assert [(a["version"], a["addr"]) for a in items] == [(4, str(v4[0])), (6, str(v6[0]))], items
    assert all(a["OS-EXT-IPS:type"] == "fixed" for a in items), items
    mac = items[0]["OS-EXT-IPS-MAC:mac_addr"]
    octets = [int(x, 16) for x in mac.split(":")]
    eui64 = bytes([octets[0] ^ 2, *octets[1:3], 0xFF, 0xFE, *octets[3:]])
    assert v6[0] == ipaddress.ip_address(int(PRIVATE_V6.network_address) | int.from_bytes(eui64, "big")), items

    # `server list` filters by address.
    by_ip = openstack("server", "list", "--ip", str(v4[0]).replace(".", r"\.") + "$")
    assert [r["ID"] for r in by_ip] == [sid], by_ip
    by_ip6 = openstack("server", "list", "--ip6", str(v6[0]))
    assert [r["ID"] for r in by_ip6] == [sid], by_ip6


def test_server_availability_zone_is_the_hosts(oxstack, admin_token, cleanup):
    """A server scheduled to a host without an AZ aggregate is in the
    default zone, `nova` (Nova's conductor sets instance.availability_zone
    to the host's zone when it schedules: schedule_and_build_instances)."""
    name = unique("cli-az")
    created = openstack("server", "create", "--flavor", "m1.tiny", "--image", "cirros", "--nic", "none",
                        "--wait", name)
    cleanup.append(created["id"])
    shown = openstack("server", "show", created["id"])
    raw = raw_server(oxstack, admin_token, created["id"])
    assert raw["OS-EXT-AZ:availability_zone"] == "nova", raw
    assert shown["OS-EXT-AZ:availability_zone"] == "nova", shown
    rows = openstack("server", "list", "--long", "--name", f"^{name}$")
    assert [r["Availability Zone"] for r in rows] == ["nova"], rows


def test_server_create_on_named_network_with_fixed_ip(oxstack, admin_token, cleanup):
    """`--nic net-id=private,v4-fixed-ip=...`: the only CLI way to choose
    the network and the address. With no network endpoint in the catalog
    the CLI resolves the network through Nova's os-networks proxy
    (GET /os-networks/private, then GET /os-networks, at 2.1), then sends
    networks=[{"uuid": <id>, "fixed_ip": ...}]."""
    name = unique("cli-fixed")
    result = openstack_ok("server", "create", "--flavor", "m1.tiny", "--image", "cirros",
                          "--nic", "net-id=private,v4-fixed-ip=10.0.0.99", "--wait", name)
    cleanup.append(result.data["id"])
    raw = raw_server(oxstack, admin_token, result.data["id"])
    assert [a["addr"] for a in raw["addresses"]["private"] if a["version"] == 4] == ["10.0.0.99"], raw


# --- list -------------------------------------------------------------------------

def test_server_list(oxstack, admin_token, demo_token, cirros_id, cleanup):
    prefix = unique("cli-list")
    ids = [raw_create(oxstack, admin_token, f"{prefix}-{i}", networks="auto" if i == 0 else "none",
                      image=cirros_id, metadata={"n": str(i)}) for i in range(3)]
    cleanup.extend(ids)
    demo_sid = raw_create(oxstack, demo_token, f"{prefix}-demo", image=cirros_id)
    cleanup.append(demo_sid)
    for sid in ids:
        wait_server(oxstack, admin_token, sid, passing=("BUILD",))
    wait_server(oxstack, demo_token, demo_sid, passing=("BUILD",))

    rows = openstack("server", "list", "--name", f"^{prefix}-")
    by_id = {r["ID"]: r for r in rows}
    assert set(by_id) == set(ids), rows  # not the demo project's server
    for i, sid in enumerate(ids):
        r = by_id[sid]
        assert (r["Name"], r["Status"], r["Image"], r["Flavor"]) == (f"{prefix}-{i}", "ACTIVE", "cirros",
                                                                      "m1.tiny"), r
    assert list(by_id[ids[0]]["Networks"]) == ["private"], by_id[ids[0]]
    assert by_id[ids[1]]["Networks"] == {}, by_id[ids[1]]

    long_rows = {r["ID"]: r for r in openstack("server", "list", "--long", "--name", f"^{prefix}-")}
    assert set(long_rows) == set(ids), long_rows
    for i, sid in enumerate(ids):
        r = long_rows[sid]
        assert (r["Image ID"], r["Image Name"], r["Flavor"]) == (cirros_id, "cirros", "m1.tiny"), r
        assert (r["Status"], r["Task State"], r["Power State"]) == ("ACTIVE", None, 1), r
        assert r["Properties"] == {"n": str(i)}, r
        assert r["Host"], r

    # Name filters are regular expressions; exact names work too.
    exact = openstack("server", "list", "--name", f"{prefix}-1")
    assert [r["ID"] for r in exact] == [ids[1]], exact
    active = openstack("server", "list", "--status", "ACTIVE", "--name", f"^{prefix}-")
    assert {r["ID"] for r in active} == set(ids), active
    assert openstack("server", "list", "--status", "SHUTOFF", "--name", f"^{prefix}-") == []
    flavored = openstack("server", "list", "--flavor", "m1.tiny", "--image", "cirros", "--name", f"^{prefix}-")
    assert {r["ID"] for r in flavored} == set(ids), flavored
    assert openstack("server", "list", "--flavor", "m1.small", "--name", f"^{prefix}-") == []

    # The admin sees the demo project's server with --all-projects.
    every = openstack("server", "list", "--all-projects", "--name", f"^{prefix}-")
    assert {r["ID"] for r in every} == {*ids, demo_sid}, every
    demo_rows = openstack("server", "list", "--name", f"^{prefix}-", cloud="oxstack-demo")
    assert [r["ID"] for r in demo_rows] == [demo_sid], demo_rows


def test_server_list_limit_and_marker(oxstack, admin_token, cirros_id, cleanup):
    prefix = unique("cli-page")
    ids = [raw_create(oxstack, admin_token, f"{prefix}-{i}", image=cirros_id) for i in range(5)]
    cleanup.extend(ids)
    for sid in ids:
        wait_server(oxstack, admin_token, sid, passing=("BUILD",))
    # The server's order (created_at desc, then id desc) decides the pages.
    listed = compute(oxstack, admin_token, "GET", f"/servers?name=^{prefix}-")
    order = [s["id"] for s in listed.json()["servers"]]
    assert sorted(order) == sorted(ids), listed

    first = openstack_ok("server", "list", "--name", f"^{prefix}-", "--limit", "2")
    assert [r["ID"] for r in first.data] == order[:2], (first.data, order)
    # --limit is one page: a single GET with limit=2, the next link not followed.
    lists = [p for m, p, _ in first.http_statuses() if m == "GET" and p.startswith("/compute/v2.1/servers/detail")]
    assert len(lists) == 1 and "limit=2" in lists[0], first.describe(f"list requests: {lists}")

    second = openstack_ok("server", "list", "--name", f"^{prefix}-", "--limit", "2", "--marker", order[1])
    assert [r["ID"] for r in second.data] == order[2:4], (second.data, order)
    lists = [p for m, p, _ in second.http_statuses() if m == "GET" and p.startswith("/compute/v2.1/servers/detail")]
    assert len(lists) == 1 and f"marker={order[1]}" in lists[0], second.describe(f"list requests: {lists}")

    last = openstack("server", "list", "--name", f"^{prefix}-", "--limit", "2", "--marker", order[3])
    assert [r["ID"] for r in last] == order[4:], (last, order)

    # Without --limit the CLI follows servers_links through every page.
    everything = openstack("server", "list", "--name", f"^{prefix}-")
    assert [r["ID"] for r in everything] == order, (everything, order)
