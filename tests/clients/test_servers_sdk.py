"""openstacksdk's compute proxy and python-novaclient (at 2.1, 2.47 and
2.latest) against oxstack's servers API: create and wait, show, paginated
detailed listing, metadata, tags, update, lock, delete and wait.

oxstack has no Neutron: servers get `networks="auto"` (the built-in
`private` network, 10.0.0.0/24 + fd00:0:0:1::/64) or `"none"`.
"""

from __future__ import annotations

import ipaddress
import time
from urllib.parse import parse_qs, urlsplit

import pytest
from openstack import exceptions as sdk_exc

from oxhelpers import RequestLog, compute, nova_wait, novaclient_at, unique

PRIVATE_V4 = ipaddress.ip_network("10.0.0.0/24")
PRIVATE_V6 = ipaddress.ip_network("fd00:0:0:1::/64")
TIMEOUT = 30


def split_addresses(addresses: dict) -> tuple[list, list]:
    items = addresses.get("private", [])
    v4 = [ipaddress.ip_address(a["addr"]) for a in items if a["version"] == 4]
    v6 = [ipaddress.ip_address(a["addr"]) for a in items if a["version"] == 6]
    return v4, v6


# --- openstacksdk ------------------------------------------------------------------

def test_sdk_server_lifecycle(conn, demo_conn, oxstack, admin_token, cirros, tiny, cleanup):
    name = unique("sdk-srv")
    server = conn.compute.create_server(name=name, image_id=cirros.id, flavor_id=tiny.id, networks="auto",
                                        metadata={"made": "by-sdk"})
    cleanup.append(server.id)
    assert server.id and server.admin_password, server
    assert [l["rel"] for l in server.links] == ["self", "bookmark"], server.links

    server = conn.compute.wait_for_server(server, status="ACTIVE", wait=TIMEOUT)
    assert server.status == "ACTIVE", server

    fetched = conn.compute.get_server(server.id)
    assert (fetched.id, fetched.name, fetched.status) == (server.id, name, "ACTIVE"), fetched
    assert (fetched.vm_state, fetched.task_state, fetched.power_state) == ("active", None, 1), fetched
    assert fetched.project_id == conn.current_project_id and fetched.user_id == conn.current_user_id, fetched
    assert fetched.image.id == cirros.id, fetched.image
    # The SDK speaks 2.100: the embedded flavor (2.47) with its extra specs.
    assert (fetched.flavor.original_name, fetched.flavor.vcpus, fetched.flavor.ram, fetched.flavor.disk) == (
        "m1.tiny", 1, 512, 1), fetched.flavor
    assert fetched.flavor.extra_specs == {"hw_rng:allowed": "True"}, fetched.flavor
    v4, v6 = split_addresses(fetched.addresses)
    assert len(v4) == 1 and v4[0] in PRIVATE_V4 and len(v6) == 1 and v6[0] in PRIVATE_V6, fetched.addresses
    assert fetched.metadata == {"made": "by-sdk"}, fetched
    assert fetched.is_locked is False and fetched.tags == [] and fetched.description is None, fetched
    assert fetched.launched_at and fetched.terminated_at is None, fetched
    assert fetched.hypervisor_hostname and fetched.instance_name, fetched  # admin-only attributes
    assert fetched.security_groups == [{"name": "default"}], fetched

    # Another project cannot see it.
    with pytest.raises(sdk_exc.NotFoundException):
        demo_conn.compute.get_server(server.id)
    assert demo_conn.compute.find_server(name) is None

    # Metadata: merge, read, delete keys.
    # (set_server_metadata POSTs, a merge; the SDK hands back only the keys
    # it sent, so the merged result is read back.)
    conn.compute.set_server_metadata(server, a="1", b="2")
    assert conn.compute.get_server_metadata(server).metadata == {"made": "by-sdk", "a": "1", "b": "2"}
    conn.compute.delete_server_metadata(server, ["a", "made"])
    assert conn.compute.get_server_metadata(server).metadata == {"b": "2"}
    raw = compute(oxstack, admin_token, "GET", f"/servers/{server.id}/metadata")
    assert raw.json() == {"metadata": {"b": "2"}}, raw
    assert compute(oxstack, admin_token, "GET", f"/servers/{server.id}/metadata/a").status == 404

    # Tags (2.26), through the Server resource's tag mixin.
    tag = unique("tag")
    server.add_tag(conn.compute, tag)
    server.add_tag(conn.compute, "second")
    assert sorted(conn.compute.get_server(server.id).tags) == sorted([tag, "second"])
    assert [s.id for s in conn.compute.servers(tags=tag)] == [server.id]
    assert server.check_tag(conn.compute, tag) is server
    server.remove_tag(conn.compute, "second")
    assert conn.compute.get_server(server.id).tags == [tag]
    with pytest.raises(sdk_exc.NotFoundException):
        server.check_tag(conn.compute, "second")
    server.set_tags(conn.compute, ["x", "y"])
    assert sorted(server.fetch_tags(conn.compute).tags) == ["x", "y"]
    assert [s.id for s in conn.compute.servers(tags="x,y", name=name)] == [server.id]
    assert list(conn.compute.servers(not_tags="x", name=name)) == []
    server.remove_all_tags(conn.compute)
    assert conn.compute.get_server(server.id).tags == []

    # Update: name and description.
    new_name = unique("sdk-renamed")
    updated = conn.compute.update_server(server, name=new_name, description="via the sdk")
    assert (updated.name, updated.description) == (new_name, "via the sdk"), updated
    again = conn.compute.get_server(server.id)
    assert (again.name, again.description) == (new_name, "via the sdk"), again
    assert conn.compute.find_server(new_name, ignore_missing=False).id == server.id

    # Lock / unlock (2.73 reason).
    conn.compute.lock_server(server, locked_reason="sdk says so")
    locked = conn.compute.get_server(server.id)
    assert (locked.is_locked, locked.locked_reason) == (True, "sdk says so"), locked
    conn.compute.unlock_server(server)
    unlocked = conn.compute.get_server(server.id)
    assert (unlocked.is_locked, unlocked.locked_reason) == (False, None), unlocked

    # Delete and wait.
    conn.compute.delete_server(server)
    conn.compute.wait_for_delete(server, wait=TIMEOUT)
    with pytest.raises(sdk_exc.NotFoundException):
        conn.compute.get_server(server.id)
    assert conn.compute.find_server(new_name) is None
    assert server.id not in {s.id for s in conn.compute.servers()}
    conn.compute.delete_server(server, ignore_missing=True)  # already gone: no error


def test_sdk_servers_paginated(conn, oxstack, admin_token, cirros, tiny, cleanup):
    prefix = unique("sdk-page")
    created = [conn.compute.create_server(name=f"{prefix}-{i}", image_id=cirros.id, flavor_id=tiny.id,
                                          networks="none") for i in range(5)]
    cleanup.extend(s.id for s in created)
    ids = {s.id for s in created}
    assert len(ids) == 5
    for s in created:
        conn.compute.wait_for_server(s, wait=TIMEOUT)

    # The server's order: created_at desc (then id desc).
    order = [s["id"] for s in compute(oxstack, admin_token, "GET", f"/servers?name=^{prefix}-").json()["servers"]]
    assert sorted(order) == sorted(ids), order

    for details, path in ((True, "/servers/detail"), (False, "/servers")):
        with RequestLog(conn) as log:
            listed = [s.id for s in conn.compute.servers(details=details, limit=2, name=f"^{prefix}-")]
        pages = [parse_qs(urlsplit(u).query) for m, u in log.requests
                 if m == "GET" and urlsplit(u).path.endswith("/compute/v2.1" + path)]
        assert listed == order, (details, listed, order)  # every server once, in the server's order
        # Three pages of 2, 2 and 1 (the SDK follows servers_links' next
        # marker), each asked with limit=2 and the name filter.
        assert len(pages) >= 3, pages
        assert all(p["limit"] == ["2"] and p["name"] == [f"^{prefix}-"] for p in pages), pages
        assert [p.get("marker") for p in pages[:3]] == [None, [order[1]], [order[3]]], (pages, order)
        if details:
            for s in conn.compute.servers(details=True, limit=2, name=f"^{prefix}-"):
                assert s.status == "ACTIVE" and s.flavor.original_name == "m1.tiny", s

    # The raw page: a full page carries servers_links with the next marker
    # and the query it was asked with.
    page = compute(oxstack, admin_token, "GET", f"/servers/detail?limit=2&name=^{prefix}-").json()
    assert [s["id"] for s in page["servers"]] == order[:2], page
    (link,) = page["servers_links"]
    assert link["rel"] == "next", link
    query = parse_qs(urlsplit(link["href"]).query)
    assert query == {"limit": ["2"], "name": [f"^{prefix}-"], "marker": [order[1]]}, link
    assert urlsplit(link["href"]).path == "/compute/v2.1/servers/detail", link

    # Sorting and other filters the SDK passes through.
    by_name = [s.name for s in conn.compute.servers(name=f"^{prefix}-", sort_key="display_name",
                                                    sort_dir="asc")]
    assert by_name == sorted(f"{prefix}-{i}" for i in range(5)), by_name
    assert {s.id for s in conn.compute.servers(name=f"^{prefix}-", status="ACTIVE")} == ids
    assert {s.id for s in conn.compute.servers(name=f"^{prefix}-", image=cirros.id, flavor=tiny.id)} == ids
    assert list(conn.compute.servers(name=f"^{prefix}-", flavor="2")) == []
    reservation = conn.compute.get_server(order[0]).reservation_id
    assert [s.id for s in conn.compute.servers(reservation_id=reservation)] == [order[0]]
    since = conn.compute.get_server(order[-1]).created_at
    assert {s.id for s in conn.compute.servers(name=f"^{prefix}-", changes_since=since)} == ids


# --- python-novaclient -------------------------------------------------------------

@pytest.mark.parametrize("version", ["2.1", "2.47", "2.latest"])
def test_novaclient_servers(conn, oxstack, admin_token, cirros, version, cleanup):
    from novaclient import exceptions as nova_exc

    nova = novaclient_at(conn, version)
    minor = nova.api_version.ver_minor
    name = unique(f"nova-{version}")
    # Before 2.37 `networks` may be left out (the one network is picked);
    # from 2.37 novaclient requires nics: "auto".
    kwargs = {} if minor < 37 else {"nics": "auto"}
    if minor >= 19:
        kwargs["description"] = "made by novaclient"
    created = nova.servers.create(name, cirros.id, "1", meta={"made": "by-novaclient"}, **kwargs)
    cleanup.append(created.id)
    assert created.adminPass and created.security_groups == [{"name": "default"}], created.to_dict()

    server = nova_wait(nova, created.id, passing=("BUILD",))
    info = server.to_dict()
    assert (server.name, server.status, server.tenant_id) == (name, "ACTIVE", conn.current_project_id), info
    assert server.image["id"] == cirros.id, info
    assert server.metadata == {"made": "by-novaclient"}, info
    assert info["OS-EXT-STS:vm_state"] == "active" and info["OS-EXT-STS:power_state"] == 1, info
    if minor >= 47:
        # The embedded flavor instead of a reference.
        assert server.flavor == {"vcpus": 1, "ram": 512, "disk": 1, "ephemeral": 0, "swap": 0,
                                 "original_name": "m1.tiny", "extra_specs": {"hw_rng:allowed": "True"}}, info
    else:
        assert server.flavor["id"] == "1", info
        assert [l["rel"] for l in server.flavor["links"]] == ["bookmark"], info
    # novaclient's `networks`: label -> addresses, IPv4 first.
    networks = server.networks
    assert list(networks) == ["private"], networks
    v4, v6 = (ipaddress.ip_address(a) for a in networks["private"])
    assert v4 in PRIVATE_V4 and v6 in PRIVATE_V6, networks
    assert nova.servers.ips(server) == {"private": [{"version": 4, "addr": str(v4)},
                                                    {"version": 6, "addr": str(v6)}]}
    assert ("locked" in info) == (minor >= 9), info
    assert ("description" in info) == (minor >= 19), info
    if minor >= 19:
        assert server.description == "made by novaclient", info

    detailed = {s.id: s for s in nova.servers.list(search_opts={"name": f"^{name}$"})}
    assert list(detailed) == [server.id] and detailed[server.id].status == "ACTIVE", detailed
    brief = nova.servers.list(detailed=False, search_opts={"name": f"^{name}$"})
    assert [(s.id, s.name) for s in brief] == [(server.id, name)], brief
    assert server.id in {s.id for s in nova.servers.list()}
    assert nova.servers.find(name=name).id == server.id

    nova.servers.set_meta(server, {"k": "v"})
    assert nova.servers.get(server.id).metadata == {"made": "by-novaclient", "k": "v"}
    nova.servers.delete_meta(server, ["made"])
    assert nova.servers.get(server.id).metadata == {"k": "v"}
    nova.servers.set_meta_item(server, "one", "1")
    assert nova.servers.get(server.id).metadata == {"k": "v", "one": "1"}

    new_name = name + "-renamed"
    nova.servers.update(server, name=new_name)
    assert nova.servers.get(server.id).name == new_name

    if minor >= 26:
        nova.servers.add_tag(server, "t1")
        nova.servers.set_tags(server, ["t2", "t3"])
        assert sorted(nova.servers.tag_list(server)) == ["t2", "t3"]
        nova.servers.delete_tag(server, "t2")
        assert nova.servers.get(server.id).tags == ["t3"]
        nova.servers.delete_all_tags(server)
        assert nova.servers.tag_list(server) == []

    if minor >= 73:
        nova.servers.lock(server, reason="novaclient")
    else:
        nova.servers.lock(server)
    if minor >= 9:
        assert nova.servers.get(server.id).locked is True
    nova.servers.unlock(server)
    if minor >= 9:
        assert nova.servers.get(server.id).locked is False

    nova.servers.delete(server)
    deadline = time.monotonic() + TIMEOUT
    while True:
        try:
            nova.servers.get(server.id)
        except nova_exc.NotFound:
            break
        assert time.monotonic() < deadline, f"server {server.id} still there after delete"
        time.sleep(0.1)
    assert server.id not in {s.id for s in nova.servers.list()}


@pytest.mark.parametrize("version", ["2.1", "2.latest"])
def test_novaclient_bad_list_query(conn, version):
    """A bad filter value: Nova's 400 names the query parameter, and
    novaclient shows that message to the user."""
    from novaclient import exceptions as nova_exc

    nova = novaclient_at(conn, version)
    with pytest.raises(nova_exc.BadRequest) as err:
        nova.servers.list(search_opts={"changes-since": "yesterday"})
    assert "Invalid input for query parameters changes-since. Value: yesterday." in str(err.value), str(err.value)
