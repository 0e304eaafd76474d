"""The real `openstack` CLI and openstacksdk against oxstack's networking
(the Neutron v2.0 subset under /network), as a project's member would use
them: networks, subnets, ports, routers, floating IPs, security groups and
rules, and servers whose ports, groups and floating addresses the network
commands see.

Each test works in a fresh project of its own, so its networks do not
change what `--nic auto` means for the other tests.
"""

from __future__ import annotations

import ipaddress

import openstack as sdk
import pytest

from oxhelpers import (create_project_user, delete_project_user, http, openstack, openstack_fails, password_token,
                       unique, user_env)


@pytest.fixture
def member(oxstack, admin_token):
    pu = create_project_user(oxstack.base_url, admin_token, role="member")
    yield pu, user_env(oxstack, pu.username, pu.password, pu.project)
    delete_project_user(oxstack.base_url, admin_token, pu)


def osc(env, *args):
    return openstack(*args, cloud=None, env=env)


def test_network_subnet_and_port_commands(member):
    pu, env = member
    # DevStack's networks, as a new project sees them.
    names = {n["Name"] for n in osc(env, "network", "list")}
    assert {"public", "private"} <= names, names
    external = osc(env, "network", "list", "--external")
    assert [n["Name"] for n in external] == ["public"], external
    private = osc(env, "network", "show", "private")
    assert private["shared"] is True and private["router:external"] is False, private

    net = unique("net")
    made = osc(env, "network", "create", "--description", "mine", net)
    assert (made["name"], made["status"], made["project_id"]) == (net, "ACTIVE", pu.project_id), made
    subnet = osc(env, "subnet", "create", "--network", net, "--subnet-range", "192.168.60.0/24",
                 "--dns-nameserver", "8.8.8.8", f"{net}-subnet")
    assert subnet["gateway_ip"] == "192.168.60.1", subnet
    assert subnet["allocation_pools"] == [{"start": "192.168.60.2", "end": "192.168.60.254"}], subnet
    listed = osc(env, "subnet", "list", "--network", net)
    assert [s["Name"] for s in listed] == [f"{net}-subnet"], listed

    port = osc(env, "port", "create", "--network", net, "--fixed-ip", "ip-address=192.168.60.20",
               f"{net}-port")
    assert port["fixed_ips"] == [{"subnet_id": subnet["id"], "ip_address": "192.168.60.20"}], port
    assert port["mac_address"].startswith("fa:16:3e:"), port
    osc(env, "port", "set", "--name", f"{net}-renamed", "--description", "d", port["id"])
    shown = osc(env, "port", "show", port["id"])
    assert (shown["name"], shown["description"]) == (f"{net}-renamed", "d"), shown
    ports = osc(env, "port", "list", "--network", net)
    assert [p["ID"] for p in ports] == [port["id"]], ports
    by_address = osc(env, "port", "list", "--fixed-ip", "ip-address=192.168.60.20")
    assert [p["ID"] for p in by_address] == [port["id"]], by_address
    # Taken: the CLI shows Neutron's message.
    taken = openstack_fails("port", "create", "--network", net, "--fixed-ip", "ip-address=192.168.60.20",
                            unique("twin"), cloud=None, env=env)
    assert "IP address 192.168.60.20 already allocated in subnet" in taken.stderr, taken.error_message()
    # In use: the network cannot go.
    busy = openstack_fails("network", "delete", net, cloud=None, env=env)
    assert "There are one or more ports still in use on the network" in busy.stderr, busy.error_message()

    osc(env, "network", "set", "--name", f"{net}-2", net)
    osc(env, "port", "delete", port["id"])
    osc(env, "subnet", "delete", subnet["id"])
    osc(env, "network", "delete", f"{net}-2")
    assert net not in {n["Name"] for n in osc(env, "network", "list")}


def test_security_group_commands(member):
    pu, env = member
    groups = osc(env, "security", "group", "list")
    assert [g["Name"] for g in groups] == ["default"], groups
    web = unique("web")
    made = osc(env, "security", "group", "create", "--description", "web servers", web)
    assert made["name"] == web, made
    rule = osc(env, "security", "group", "rule", "create", "--protocol", "tcp", "--dst-port", "22",
               "--remote-ip", "0.0.0.0/0", web)
    assert (rule["port_range_min"], rule["port_range_max"], rule["protocol"]) == (22, 22, "tcp"), rule
    rules = osc(env, "security", "group", "rule", "list", web)
    assert len(rules) == 3, rules  # two egress rules and ours
    again = openstack_fails("security", "group", "rule", "create", "--protocol", "tcp", "--dst-port", "22",
                            "--remote-ip", "0.0.0.0/0", web, cloud=None, env=env)
    assert "Security group rule already exists" in again.stderr, again.error_message()
    osc(env, "security", "group", "set", "--name", f"{web}-2", web)
    osc(env, "security", "group", "rule", "delete", rule["id"])
    osc(env, "security", "group", "delete", f"{web}-2")
    assert [g["Name"] for g in osc(env, "security", "group", "list")] == ["default"]


def test_server_on_a_network_with_a_group(oxstack, admin_token, member):
    pu, env = member
    web = unique("web")
    osc(env, "security", "group", "create", web)
    name = unique("vm")
    created = osc(env, "server", "create", "--flavor", "m1.tiny", "--image", "cirros", "--network", "private",
                  "--security-group", web, "--wait", name)
    sid = created["id"]
    try:
        assert created["security_groups"] == [{"name": web}], created
        ports = osc(env, "port", "list", "--server", sid)
        assert len(ports) == 1, ports
        port = osc(env, "port", "show", ports[0]["ID"])
        assert port["device_owner"] == "compute:nova", port
        addresses = [ipaddress.ip_address(ip["ip_address"]) for ip in port["fixed_ips"]]
        assert addresses[0] in ipaddress.ip_network("10.0.0.0/24"), port
        shown = osc(env, "server", "show", sid)
        assert shown["addresses"]["private"][0] == str(addresses[0]), shown

        osc(env, "server", "add", "security", "group", sid, "default")
        groups = {g["name"] for g in osc(env, "server", "show", sid)["security_groups"]}
        assert groups == {web, "default"}, groups
        osc(env, "server", "remove", "security", "group", sid, web)
        port = osc(env, "port", "show", ports[0]["ID"])
        assert len(port["security_group_ids"]) == 1, port
    finally:
        osc(env, "server", "delete", "--wait", sid)
    # The server's port went with it.
    token = password_token(oxstack.base_url, pu.username, pu.password, pu.project)
    left = http("GET", oxstack.url(f"/network/v2.0/ports?device_id={sid}"), headers={"X-Auth-Token": token})
    assert left.status == 200 and left.json()["ports"] == [], left


def test_openstacksdk_networking(oxstack, admin_token, member):
    pu, _ = member
    conn = sdk.connect(auth_url=oxstack.url("/identity"), username=pu.username, password=pu.password,
                       project_name=pu.project, user_domain_name="Default", project_domain_name="Default",
                       region_name="RegionOne")
    net = conn.network.create_network(name=unique("sdk-net"))
    subnet = conn.network.create_subnet(network_id=net.id, ip_version=4, cidr="192.168.61.0/24")
    port = conn.network.create_port(network_id=net.id)
    assert port.fixed_ips[0]["subnet_id"] == subnet.id
    assert {n.name for n in conn.network.networks()} >= {"private", "public", net.name}
    assert conn.get_network("private").is_shared is True
    group = conn.network.create_security_group(name=unique("sdk-sg"))
    conn.network.create_security_group_rule(security_group_id=group.id, direction="ingress",
                                            protocol="icmp", ethertype="IPv4")
    assert len(list(conn.network.security_group_rules(security_group_id=group.id))) == 3
    # create_server resolves the network by name through networking (no
    # router joins this network to `public`: no floating address).
    server = conn.create_server(unique("sdk-vm"), image="cirros", flavor="m1.tiny", network=net.name,
                                auto_ip=False, wait=True, timeout=60)
    try:
        assert list(server.addresses) == [net.name], server.addresses
        ports = list(conn.network.ports(device_id=server.id))
        assert len(ports) == 1 and ports[0].network_id == net.id
    finally:
        conn.delete_server(server.id, wait=True, timeout=60)
    conn.network.delete_port(port)
    conn.network.delete_security_group(group)
    conn.network.delete_subnet(subnet)
    conn.network.delete_network(net)
    assert conn.network.find_network(net.name) is None


def test_server_add_and_remove_port_and_network(oxstack, admin_token, member):
    """`server add port`/`remove port` and `server add network` go through
    Nova's os-interface; the port keeps existing after it is removed."""
    pu, env = member
    net = unique("net")
    osc(env, "network", "create", net)
    osc(env, "subnet", "create", "--network", net, "--subnet-range", "192.168.62.0/24", f"{net}-subnet")
    port = osc(env, "port", "create", "--network", net, f"{net}-port")
    name = unique("vm")
    sid = osc(env, "server", "create", "--flavor", "m1.tiny", "--image", "cirros", "--network", "private",
              "--wait", name)["id"]
    try:
        osc(env, "server", "add", "port", sid, port["id"])
        shown = osc(env, "server", "show", sid)
        assert set(shown["addresses"]) == {"private", net}, shown
        assert osc(env, "port", "show", port["id"])["device_id"] == sid
        osc(env, "server", "remove", "port", sid, port["id"])
        assert osc(env, "port", "show", port["id"])["device_id"] == ""
        osc(env, "server", "add", "network", sid, net)
        shown = osc(env, "server", "show", sid)
        assert net in shown["addresses"], shown
    finally:
        osc(env, "server", "delete", "--wait", sid)
    osc(env, "port", "delete", port["id"])


def test_router_and_floating_ip_commands(member):
    pu, env = member
    net = unique("net")
    osc(env, "network", "create", net)
    subnet = osc(env, "subnet", "create", "--network", net, "--subnet-range", "192.168.63.0/24", f"{net}-subnet")
    router = osc(env, "router", "create", unique("router"))
    rid = router["id"]
    assert router["status"] == "ACTIVE" and router["project_id"] == pu.project_id, router
    osc(env, "router", "set", "--external-gateway", "public", rid)
    osc(env, "router", "add", "subnet", rid, subnet["id"])
    shown = osc(env, "router", "show", rid)
    gateway = shown["external_gateway_info"]
    public = osc(env, "network", "show", "public")
    assert gateway["network_id"] == public["id"], shown
    interfaces = osc(env, "port", "list", "--router", rid)
    assert [p["Fixed IP Addresses"][0]["ip_address"] for p in interfaces] == ["192.168.63.1"], interfaces

    port = osc(env, "port", "create", "--network", net, f"{net}-port")
    fip = osc(env, "floating", "ip", "create", "public")
    address = fip["floating_ip_address"]
    assert ipaddress.ip_address(address) in ipaddress.ip_network("172.24.4.0/24"), fip
    assert fip["status"] == "DOWN" and fip["port_id"] is None, fip
    osc(env, "floating", "ip", "set", "--port", port["id"], fip["id"])
    associated = osc(env, "floating", "ip", "show", address)
    assert associated["port_id"] == port["id"] and associated["router_id"] == rid, associated
    assert associated["fixed_ip_address"] == port["fixed_ips"][0]["ip_address"], associated
    assert associated["status"] == "ACTIVE", associated
    listed = osc(env, "floating", "ip", "list", "--port", port["id"])
    assert [f["Floating IP Address"] for f in listed] == [address], listed
    # The router cannot lose the interface the address needs.
    refused = openstack_fails("router", "remove", "subnet", rid, subnet["id"], cloud=None, env=env)
    assert "required by one or more floating IPs" in refused.stderr, refused.describe("refusal")
    osc(env, "floating", "ip", "unset", "--port", fip["id"])
    assert osc(env, "floating", "ip", "show", fip["id"])["port_id"] is None
    osc(env, "floating", "ip", "delete", address)
    assert osc(env, "floating", "ip", "list") == []
    osc(env, "port", "delete", port["id"])
    osc(env, "router", "remove", "subnet", rid, subnet["id"])
    osc(env, "router", "unset", "--external-gateway", rid)
    osc(env, "router", "delete", rid)
    assert all(r["ID"] != rid for r in osc(env, "router", "list"))


def test_server_add_and_remove_floating_ip(member):
    """DevStack's router1 joins `private` to `public`: a server there takes
    a floating address with `server add floating ip`."""
    pu, env = member
    sid = osc(env, "server", "create", "--flavor", "m1.tiny", "--image", "cirros", "--network", "private",
              "--wait", unique("vm"))["id"]
    try:
        address = osc(env, "floating", "ip", "create", "public")["floating_ip_address"]
        osc(env, "server", "add", "floating", "ip", sid, address)
        shown = osc(env, "server", "show", sid)
        assert address in shown["addresses"]["private"], shown
        assert osc(env, "floating", "ip", "show", address)["status"] == "ACTIVE"
        osc(env, "server", "remove", "floating", "ip", sid, address)
        shown = osc(env, "server", "show", sid)
        assert address not in shown["addresses"]["private"], shown
        osc(env, "floating", "ip", "delete", address)
    finally:
        osc(env, "server", "delete", "--wait", sid)


def test_openstacksdk_create_server_with_auto_ip(oxstack, member):
    """openstacksdk's create_server adds a floating address by default
    (auto_ip=True) and waits until the server's addresses show it."""
    pu, _ = member
    conn = sdk.connect(auth_url=oxstack.url("/identity"), username=pu.username, password=pu.password,
                       project_name=pu.project, user_domain_name="Default", project_domain_name="Default",
                       region_name="RegionOne")
    server = conn.create_server(unique("sdk-ip"), image="cirros", flavor="m1.tiny", network="private",
                                wait=True, timeout=60)
    try:
        floating = [a for a in server.addresses["private"] if a["OS-EXT-IPS:type"] == "floating"]
        assert len(floating) == 1, server.addresses
        address = floating[0]["addr"]
        assert ipaddress.ip_address(address) in ipaddress.ip_network("172.24.4.0/24")
        assert conn.get_server_public_ip(server) == address
    finally:
        conn.delete_server(server.id, wait=True, timeout=60, delete_ips=True)
    assert list(conn.network.ips(floating_ip_address=address)) == []
