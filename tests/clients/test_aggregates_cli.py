"""Host aggregates through the real clients: `openstack aggregate create
--zone/--property`, `add host`, `set`/`unset`, `show`, `remove host`,
`delete`, the zone in `availability zone list` and `server create
--availability-zone`, and `hypervisor show` (which reads the aggregates);
openstacksdk's aggregate calls. Everything made is removed again, so the
session's one host ends in the default zone.
"""

from __future__ import annotations

from oxhelpers import compute, openstack, openstack_fails, run_openstack, unique, wait_gone


def the_host(oxstack, token) -> str:
    resp = compute(oxstack, token, "GET", "/os-services")
    assert resp.status == 200, resp
    (service,) = resp.json()["services"]
    return service["host"]


def test_cli_aggregate_as_an_availability_zone(oxstack, admin_token):
    host = the_host(oxstack, admin_token)
    name, zone = unique("cli-agg"), unique("cli-zone")
    created = openstack("aggregate", "create", "--zone", zone, "--property", "ssd=true", name)
    assert (created["name"], created["availability_zone"]) == (name, zone), created
    try:
        openstack("aggregate", "add", "host", name, host)
        shown = openstack("aggregate", "show", name)
        assert shown["hosts"] == [host], shown
        assert shown["properties"] == {"ssd": "true"}, shown
        hypervisor = openstack("hypervisor", "show", host)
        assert name in hypervisor["aggregates"], hypervisor
        zones = [row["Zone Name"] for row in openstack("availability", "zone", "list", "--compute")]
        assert zones == [zone], zones

        openstack("aggregate", "set", "--property", "tier=gold", name)
        openstack("aggregate", "unset", "--property", "ssd", name)
        assert openstack("aggregate", "show", name)["properties"] == {"tier": "gold"}

        server = openstack("server", "create", "--flavor", "m1.tiny", "--image", "cirros", "--nic", "none",
                           "--availability-zone", zone, "--wait", unique("cli-zoned"))
        assert server["OS-EXT-AZ:availability_zone"] == zone, server
        refused = openstack_fails("aggregate", "remove", "host", name, host)
        assert "already has 1 instance(s)" in refused.stderr, refused.stderr
        compute(oxstack, admin_token, "DELETE", f"/servers/{server['id']}")
        wait_gone(oxstack, admin_token, server["id"])
    finally:
        run_openstack("aggregate", "remove", "host", name, host)  # may have nothing to do
        openstack("aggregate", "delete", name)
    zones = [row["Zone Name"] for row in openstack("availability", "zone", "list", "--compute")]
    assert zones == ["nova"], zones


def test_sdk_aggregates(conn, oxstack, admin_token):
    host = the_host(oxstack, admin_token)
    aggregate = conn.compute.create_aggregate(name=unique("sdk-agg"))
    try:
        aggregate = conn.compute.add_host_to_aggregate(aggregate, host)
        assert aggregate.hosts == [host], aggregate
        aggregate = conn.compute.set_aggregate_metadata(aggregate, {"k": "v"})
        assert aggregate.metadata == {"k": "v"}, aggregate
        assert aggregate.id in [a.id for a in conn.compute.aggregates()]
        aggregate = conn.compute.remove_host_from_aggregate(aggregate, host)
        assert aggregate.hosts == [], aggregate
    finally:
        conn.compute.delete_aggregate(aggregate, ignore_missing=True)
