"""Server groups through the real clients: the `openstack` CLI (create with
a policy and rules, list, show, delete, `server create --hint group=`),
openstacksdk and python-novaclient at the versions before and after 2.64,
checked by what the compute API then says.
"""

from __future__ import annotations

from oxhelpers import compute, novaclient_at, openstack, openstack_fails, raw_server, unique


def test_cli_server_groups_and_a_server_created_into_one(oxstack, admin_token, cleanup):
    name = unique("cli-group")
    created = openstack("server", "group", "create", "--policy", "anti-affinity", "--rule", "max_server_per_host=2",
                        name)
    gid = created["id"]
    assert (created["name"], created["policy"], created["rules"]) == (name, "anti-affinity",
                                                                     {"max_server_per_host": 2}), created
    assert created["members"] in ([], ""), created

    listed = {row["ID"]: row for row in openstack("server", "group", "list")}
    assert listed[gid]["Name"] == name, listed
    server = openstack("server", "create", "--flavor", "m1.tiny", "--image", "cirros", "--nic", "none",
                       "--hint", f"group={gid}", "--wait", unique("cli-grouped"))
    cleanup.append(server["id"])
    shown = openstack("server", "group", "show", name)
    assert server["id"] in shown["members"], shown
    raw = raw_server(oxstack, admin_token, server["id"])
    assert raw["server_groups"] == [gid], raw

    refused = openstack_fails("server", "group", "create", "--policy", "affinity", "--rule", "max_server_per_host=2",
                              unique("cli-bad"))
    assert "Only anti-affinity policy supports rules." in refused.stderr, refused.stderr

    openstack("server", "group", "delete", gid)
    assert compute(oxstack, admin_token, "GET", f"/os-server-groups/{gid}").status == 404
    assert raw_server(oxstack, admin_token, server["id"])["server_groups"] == [], "the server left the group"


def test_sdk_and_novaclient_server_groups(conn, oxstack, admin_token, cirros, tiny, cleanup):
    group = conn.compute.create_server_group(name=unique("sdk-group"), policy="soft-affinity")
    try:
        assert (group.policy, group.member_ids) == ("soft-affinity", []), group
        server = conn.compute.create_server(name=unique("sdk-grouped"), image_id=cirros.id, flavor_id=tiny.id,
                                            networks="none", scheduler_hints={"group": group.id})
        cleanup.append(server.id)
        conn.compute.wait_for_server(server, wait=60)
        found = conn.compute.get_server_group(group.id)
        assert found.member_ids == [server.id], found
        assert group.id in [g.id for g in conn.compute.server_groups()]
    finally:
        conn.compute.delete_server_group(group, ignore_missing=True)

    old = novaclient_at(conn, "2.1")
    legacy = old.server_groups.create(name=unique("nova-group"), policies=["affinity"])
    assert (legacy.policies, legacy.members, legacy.metadata) == (["affinity"], [], {}), legacy.to_dict()
    new = novaclient_at(conn, "2.64")
    same = new.server_groups.get(legacy.id)
    assert (same.policy, same.rules) == ("affinity", {}), same.to_dict()
    assert legacy.id in [g.id for g in new.server_groups.list()]
    new.server_groups.delete(legacy.id)
    assert compute(oxstack, admin_token, "GET", f"/os-server-groups/{legacy.id}").status == 404
