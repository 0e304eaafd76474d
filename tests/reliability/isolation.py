#!/usr/bin/env python3
"""The isolation matrix (issue 20): no project sees or touches another's
resources, a reader changes nothing, and tokens that should not work do
not.

It starts its own oxstack (Keystone auth) and makes two projects:

* project A, with a member, a reader, a manager and a disabled user;
* project B, with a member, a reader and a manager.

A's member makes a server (with metadata and tags), a key pair, a server
group, a private image, and networking: a network with a subnet, a port, a
security group with a rule, a router (gateway on `public`, an interface on
the subnet) and a floating IP associated with the port; and block storage:
a volume with a snapshot, and a second volume attached to the server.
Then:

* every endpoint on each of A's resources, called by each of B's users,
  answers as Nova, Neutron, Glance and Keystone do for someone else's
  resource (404, or 403 where they say so);
* no answer to B, lists included, contains any of A's ids;
* A's reader can read A's resources but every write of them answers 403;
* A's manager reads them as a member does;
* the cloud's admin reads every one of them and finds them in the
  all-projects listings (so the calls that answer B 404 do reach them);
* the disabled user, a revoked token, a forged token and an expired token
  (on a second cloud whose tokens live one second) all get 401;
* A's resources are unchanged at the end.

Standard library only. Usage: tests/reliability/isolation.py --bin target/debug/oxstack
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import tempfile
import time
from pathlib import Path

from harness import Process, panic_in, report

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIP4GkTXPqWRl/m1Hx4BctS4cAWRA/sqjBq5noAiBi4N7 iso"


class Cloud:
    def __init__(self, binary: str, root: Path, ttl: int | None = None):
        root.mkdir(parents=True, exist_ok=True)
        config = root / "oxstack.toml"
        config.write_text(f"token_ttl_seconds = {ttl}\n" if ttl else "")
        self.server = Process(binary, root, ["--config", str(config)])
        self.port = self.server.port

    def call(self, method: str, path: str, token: str | None, body=None,
             version: str = "latest") -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {"OpenStack-API-Version": f"compute {version}, volume 3.71", "Accept": "application/json"}
        if token:
            headers["X-Auth-Token"] = token
        data = None
        if body is not None:
            headers["Content-Type"] = ("application/openstack-images-v2.1-json-patch"
                                       if isinstance(body, list) else "application/json")
            data = json.dumps(body).encode()
        conn.request(method, path, body=data, headers=headers)
        response = conn.getresponse()
        raw = response.read()
        self.last_headers = {k.lower(): v for k, v in response.getheaders()}
        conn.close()
        return response.status, raw

    def ok(self, method: str, path: str, token: str, body=None) -> dict:
        status, raw = self.call(method, path, token, body)
        if status >= 300:
            raise AssertionError(f"{method} {path}: {status} {raw[:300]!r}")
        return json.loads(raw) if raw else {}

    def token(self, user: str, password: str, project: str) -> str:
        status, raw = self.call("POST", "/identity/v3/auth/tokens", None, password_auth(user, password, project))
        if status != 201:
            raise AssertionError(f"token for {user}: {status} {raw[:200]!r}")
        return self.last_headers["x-subject-token"]


def password_auth(user: str, password: str, project: str) -> dict:
    return {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": user, "domain": {"id": "default"}, "password": password}}},
        "scope": {"project": {"name": project, "domain": {"id": "default"}}}}}


def make_accounts(cloud: Cloud, admin: str) -> None:
    roles = {r["name"]: r["id"] for r in cloud.ok("GET", "/identity/v3/roles", admin)["roles"]}
    for project, users in [("iso-a", [("a-member", "member"), ("a-reader", "reader"),
                                      ("a-manager", "manager"), ("a-disabled", "member")]),
                           ("iso-b", [("b-member", "member"), ("b-reader", "reader"),
                                      ("b-manager", "manager")])]:
        pid = cloud.ok("POST", "/identity/v3/projects", admin, {"project": {"name": project}})["project"]["id"]
        for name, role in users:
            uid = cloud.ok("POST", "/identity/v3/users", admin, {"user": {
                "name": name, "password": "pw", "default_project_id": pid,
                "enabled": name != "a-disabled"}})["user"]["id"]
            cloud.ok("PUT", f"/identity/v3/projects/{pid}/users/{uid}/roles/{roles[role]}", admin)


def make_resources(cloud: Cloud, token: str) -> dict[str, str]:
    image = cloud.ok("GET", "/image/v2/images?name=cirros", token)["images"][0]["id"]
    server = cloud.ok("POST", "/compute/v2.1/servers", token, {"server": {
        "name": "a-server", "imageRef": image, "flavorRef": "1", "networks": "auto",
        "metadata": {"k": "v"}, "tags": ["a-tag"]}})["server"]["id"]
    for _ in range(500):
        shown = cloud.ok("GET", f"/compute/v2.1/servers/{server}", token)["server"]
        if shown["status"] == "ACTIVE":
            break
        time.sleep(0.02)
    cloud.ok("POST", "/compute/v2.1/os-keypairs", token, {"keypair": {"name": "a-key", "public_key": KEY}})
    group = cloud.ok("POST", "/compute/v2.1/os-server-groups", token, {"server_group": {
        "name": "a-group", "policy": "affinity"}})["server_group"]["id"]
    private = cloud.ok("POST", "/image/v2/images", token, {
        "name": "a-image", "disk_format": "raw", "container_format": "bare",
        "visibility": "private"})["id"]
    project = cloud.ok("GET", "/identity/v3/projects?name=iso-a", cloud.admin)["projects"][0]["id"]
    actions = cloud.ok("GET", f"/compute/v2.1/servers/{server}/os-instance-actions", token)["instanceActions"]
    return {"server": server, "group": group, "image": private, "project": project,
            "request": actions[0]["request_id"], **make_networking(cloud, token),
            **make_volumes(cloud, token, server)}


def make_networking(cloud: Cloud, token: str) -> dict[str, str]:
    n = "/network/v2.0"
    net = cloud.ok("POST", f"{n}/networks", token, {"network": {"name": "a-net"}})["network"]["id"]
    subnet = cloud.ok("POST", f"{n}/subnets", token, {"subnet": {
        "name": "a-subnet", "network_id": net, "ip_version": 4, "cidr": "10.50.0.0/24"}})["subnet"]["id"]
    port = cloud.ok("POST", f"{n}/ports", token, {"port": {"name": "a-port", "network_id": net}})["port"]["id"]
    sg = cloud.ok("POST", f"{n}/security-groups", token, {"security_group": {"name": "a-sg"}})["security_group"]["id"]
    rule = cloud.ok("POST", f"{n}/security-group-rules", token, {"security_group_rule": {
        "security_group_id": sg, "direction": "ingress", "protocol": "tcp", "port_range_min": 22,
        "port_range_max": 22}})["security_group_rule"]["id"]
    public = cloud.ok("GET", f"{n}/networks?name=public", token)["networks"][0]["id"]
    router = cloud.ok("POST", f"{n}/routers", token, {"router": {
        "name": "a-router", "external_gateway_info": {"network_id": public}}})["router"]["id"]
    cloud.ok("PUT", f"{n}/routers/{router}/add_router_interface", token, {"subnet_id": subnet})
    fip = cloud.ok("POST", f"{n}/floatingips", token, {"floatingip": {
        "floating_network_id": public, "port_id": port}})["floatingip"]["id"]
    return {"net": net, "subnet": subnet, "port": port, "sg": sg, "rule": rule, "router": router, "fip": fip}


def wait_volume(cloud: Cloud, token: str, vid: str, status: str) -> None:
    for _ in range(500):
        if cloud.ok("GET", f"/volume/v3/volumes/{vid}", token)["volume"]["status"] == status:
            return
        time.sleep(0.02)
    raise AssertionError(f"volume {vid} never became {status}")


def make_volumes(cloud: Cloud, token: str, server: str) -> dict[str, str]:
    v = "/volume/v3"
    vol = cloud.ok("POST", f"{v}/volumes", token, {"volume": {"name": "a-vol", "size": 1}})["volume"]["id"]
    wait_volume(cloud, token, vol, "available")
    snap = cloud.ok("POST", f"{v}/snapshots", token, {"snapshot": {"volume_id": vol, "name": "a-snap"}})
    data = cloud.ok("POST", f"{v}/volumes", token, {"volume": {"name": "a-data", "size": 1}})["volume"]["id"]
    wait_volume(cloud, token, data, "available")
    cloud.ok("POST", f"/compute/v2.1/servers/{server}/os-volume_attachments", token,
             {"volumeAttachment": {"volumeId": data}})
    wait_volume(cloud, token, data, "in-use")
    attachment = cloud.ok("GET", f"{v}/volumes/{data}", token)["volume"]["attachments"][0]["attachment_id"]
    return {"vol": vol, "snap": snap["snapshot"]["id"], "data": data, "attachment": attachment}


def foreign_calls(ids: dict[str, str]) -> list[tuple[str, str, object, set[int]]]:
    """Calls on A's resources, with the statuses someone else may get."""
    s, c = ids["server"], "/compute/v2.1"
    act = f"{c}/servers/{s}/action"
    hidden, refused = {404}, {403}
    return [
        ("GET", f"{c}/servers/{s}", None, hidden),
        ("PUT", f"{c}/servers/{s}", {"server": {"name": "x"}}, hidden),
        ("DELETE", f"{c}/servers/{s}", None, hidden),
        ("GET", f"{c}/servers/{s}/metadata", None, hidden),
        ("GET", f"{c}/servers/{s}/metadata/k", None, hidden),
        ("PUT", f"{c}/servers/{s}/metadata", {"metadata": {"x": "y"}}, hidden),
        ("DELETE", f"{c}/servers/{s}/metadata/k", None, hidden),
        ("GET", f"{c}/servers/{s}/tags", None, hidden),
        ("PUT", f"{c}/servers/{s}/tags/x", None, hidden),
        ("DELETE", f"{c}/servers/{s}/tags", None, hidden),
        ("GET", f"{c}/servers/{s}/ips", None, hidden),
        ("GET", f"{c}/servers/{s}/os-instance-actions", None, hidden),
        ("GET", f"{c}/servers/{s}/os-instance-actions/{ids['request']}", None, hidden),
        ("GET", f"{c}/servers/{s}/os-server-password", None, hidden),
        ("DELETE", f"{c}/servers/{s}/os-server-password", None, hidden),
        ("GET", f"{c}/servers/{s}/os-security-groups", None, hidden),
        ("GET", f"{c}/servers/{s}/topology", None, hidden | refused),
        ("GET", f"{c}/servers/{s}/diagnostics", None, hidden | refused),
        ("GET", f"{c}/servers/{s}/migrations", None, hidden | refused),
        ("POST", f"{c}/servers/{s}/remote-consoles",
         {"remote_console": {"protocol": "vnc", "type": "novnc"}}, hidden),
        ("POST", act, {"reboot": {"type": "HARD"}}, hidden),
        ("POST", act, {"os-stop": None}, hidden),
        ("POST", act, {"lock": None}, hidden),
        ("POST", act, {"pause": None}, hidden),
        ("POST", act, {"createImage": {"name": "stolen"}}, hidden),
        ("POST", act, {"rebuild": {"imageRef": ids["image"]}}, hidden),
        ("POST", act, {"resize": {"flavorRef": "2"}}, hidden),
        ("POST", act, {"os-getConsoleOutput": {}}, hidden),
        ("POST", act, {"shelve": None}, hidden),
        ("POST", act, {"os-resetState": {"state": "error"}}, hidden | refused),
        ("POST", act, {"forceDelete": None}, hidden),
        ("GET", f"{c}/os-server-groups/{ids['group']}", None, hidden),
        ("DELETE", f"{c}/os-server-groups/{ids['group']}", None, hidden),
        ("GET", f"{c}/os-keypairs/a-key", None, hidden),
        ("DELETE", f"{c}/os-keypairs/a-key", None, hidden),
        ("GET", f"{c}/os-quota-sets/{ids['project']}", None, refused),
        ("PUT", f"{c}/os-quota-sets/{ids['project']}", {"quota_set": {"instances": 1}}, refused),
        ("GET", f"{c}/os-simple-tenant-usage/{ids['project']}", None, refused),
        ("GET", f"/image/v2/images/{ids['image']}", None, hidden),
        ("PATCH", f"/image/v2/images/{ids['image']}", [{"op": "replace", "path": "/name", "value": "x"}], hidden),
        ("DELETE", f"/image/v2/images/{ids['image']}", None, hidden),
        ("PUT", f"/image/v2/images/{ids['image']}/tags/x", None, hidden),
        ("GET", f"/image/v2/images/{ids['image']}/file", None, hidden),
        ("GET", f"/identity/v3/projects/{ids['project']}", None, refused),
        *network_calls(ids),
        *volume_calls(ids),
    ]


def volume_calls(ids: dict[str, str]) -> list[tuple[str, str, object, set[int]]]:
    """Cinder's calls on A's volumes, and Nova's on the server's: someone
    else's is a 404 (their quota set a 403)."""
    v, hidden = "/volume/v3", {404}
    vol, snap, data = f"{v}/volumes/{ids['vol']}", f"{v}/snapshots/{ids['snap']}", ids["data"]
    attach = f"/compute/v2.1/servers/{ids['server']}/os-volume_attachments"
    return [
        ("GET", vol, None, hidden),
        ("PUT", vol, {"volume": {"name": "x"}}, hidden),
        ("DELETE", vol, None, hidden),
        ("GET", f"{vol}/metadata", None, hidden),
        ("POST", f"{vol}/metadata", {"metadata": {"x": "y"}}, hidden),
        ("POST", f"{vol}/action", {"os-extend": {"new_size": 2}}, hidden),
        ("POST", f"{vol}/action", {"os-volume_upload_image": {"image_name": "stolen"}}, hidden),
        ("POST", f"{v}/volumes", {"volume": {"source_volid": ids["vol"]}}, hidden),
        ("POST", f"{v}/snapshots", {"snapshot": {"volume_id": ids["vol"]}}, hidden),
        ("POST", f"{v}/attachments", {"attachment": {"volume_uuid": ids["vol"]}}, hidden),
        ("GET", snap, None, hidden),
        ("PUT", snap, {"snapshot": {"name": "x"}}, hidden),
        ("DELETE", snap, None, hidden),
        ("GET", f"{v}/volumes/{data}", None, hidden),
        ("GET", f"{v}/attachments/{ids['attachment']}", None, hidden),
        ("DELETE", f"{v}/attachments/{ids['attachment']}", None, hidden),
        ("GET", f"{v}/os-quota-sets/{ids['project']}", None, {403}),
        ("GET", attach, None, hidden),
        ("GET", f"{attach}/{data}", None, hidden),
        ("DELETE", f"{attach}/{data}", None, hidden),
        ("POST", attach, {"volumeAttachment": {"volumeId": ids["vol"]}}, hidden),
    ]


def network_calls(ids: dict[str, str]) -> list[tuple[str, str, object, set[int]]]:
    """Neutron's calls on A's networking: another project's is a 404."""
    n, hidden = "/network/v2.0", {404}
    calls = []
    for collection, key, kind in [("networks", "network", "net"), ("subnets", "subnet", "subnet"),
                                  ("ports", "port", "port"), ("security-groups", "security_group", "sg"),
                                  ("routers", "router", "router"), ("floatingips", "floatingip", "fip")]:
        path = f"{n}/{collection}/{ids[kind]}"
        calls += [("GET", path, None, hidden),
                  ("PUT", path, {key: {"description": "x"}}, hidden),
                  ("PUT", f"{path}/tags/x", None, hidden),
                  ("DELETE", path, None, hidden)]
    router = f"{n}/routers/{ids['router']}"
    calls += [("GET", f"{n}/security-group-rules/{ids['rule']}", None, hidden),
              ("DELETE", f"{n}/security-group-rules/{ids['rule']}", None, hidden),
              ("PUT", f"{router}/add_router_interface", {"subnet_id": ids["subnet"]}, hidden),
              ("PUT", f"{router}/remove_router_interface", {"subnet_id": ids["subnet"]}, hidden),
              ("PUT", f"{n}/floatingips/{ids['fip']}", {"floatingip": {"port_id": None}}, hidden)]
    return calls


NETWORK_KINDS = ["net", "subnet", "port", "sg", "rule", "router", "fip"]
VOLUME_KINDS = ["vol", "snap", "data", "attachment"]


LISTINGS = ["/compute/v2.1/servers", "/compute/v2.1/servers/detail",
            "/compute/v2.1/servers/detail?all_tenants=1", f"/compute/v2.1/servers?name=a-server",
            "/compute/v2.1/os-server-groups", "/compute/v2.1/os-server-groups?all_projects=True",
            "/compute/v2.1/os-keypairs", "/image/v2/images", "/image/v2/images?visibility=private",
            "/compute/v2.1/os-simple-tenant-usage", "/compute/v2.1/limits",
            "/compute/v2.1/os-migrations", "/identity/v3/projects", "/identity/v3/users",
            "/network/v2.0/networks", "/network/v2.0/subnets", "/network/v2.0/ports",
            "/network/v2.0/security-groups", "/network/v2.0/security-group-rules", "/network/v2.0/routers",
            "/network/v2.0/floatingips", "/compute/v2.1/os-floating-ips", "/compute/v2.1/os-security-groups",
            "/volume/v3/volumes/detail", "/volume/v3/volumes/detail?all_tenants=1", "/volume/v3/snapshots/detail",
            "/volume/v3/attachments/detail", "/volume/v3/attachments?all_tenants=1"]


READER_WRITES = ["PUT", "DELETE", "POST", "PATCH"]
# Not the project's users' to read: the project record, quotas and usage
# (admin's), the image's data (it has none), key pairs (their user's own).
SELF_SERVICE = ("/identity/", "quota", "tenant-usage", "/file", "os-keypairs")


def fingerprint(cloud: Cloud, admin: str, ids: dict[str, str]) -> str:
    """A's resources as the admin sees them (answers included, so that a
    deleted one shows as its 404)."""
    n = "/network/v2.0"
    paths = [f"/compute/v2.1/servers/{ids['server']}", f"/compute/v2.1/servers/{ids['server']}/tags",
             f"/compute/v2.1/os-server-groups/{ids['group']}", f"/image/v2/images/{ids['image']}",
             f"/compute/v2.1/os-quota-sets/{ids['project']}", f"{n}/networks/{ids['net']}",
             f"{n}/subnets/{ids['subnet']}", f"{n}/ports/{ids['port']}", f"{n}/security-groups/{ids['sg']}",
             f"{n}/routers/{ids['router']}", f"{n}/floatingips/{ids['fip']}",
             f"/volume/v3/volumes/{ids['vol']}", f"/volume/v3/volumes/{ids['data']}",
             f"/volume/v3/snapshots/{ids['snap']}"]
    return json.dumps([cloud.call("GET", path, admin) for path in paths], default=repr)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", default="target/debug/oxstack")
    args = parser.parse_args()
    problems: list[str] = []
    checked = 0
    root = Path(tempfile.mkdtemp(prefix="oxstack-isolation-"))
    cloud = Cloud(args.bin, root / "main")
    try:
        admin = cloud.admin = cloud.token("admin", "admin", "admin")
        make_accounts(cloud, admin)
        a_member = cloud.token("a-member", "pw", "iso-a")
        ids = make_resources(cloud, a_member)
        secret_ids = ([ids["server"], ids["group"], ids["image"], ids["request"]]
                      + [ids[k] for k in NETWORK_KINDS + VOLUME_KINDS])
        before = fingerprint(cloud, admin, ids)
        outsiders = {name: cloud.token(name, "pw", "iso-b") for name in ["b-member", "b-reader", "b-manager"]}
        for name, token in outsiders.items():
            for method, path, body, allowed in foreign_calls(ids):
                if name == "b-reader" and (method != "GET" or "remote-consoles" in path):
                    # A reader's write is refused by policy before any
                    # lookup, whatever the id: a 403 that tells nothing.
                    allowed = allowed | {403}
                status, raw = cloud.call(method, path, token, body)
                checked += 1
                if status not in allowed:
                    problems.append(f"{name}: {method} {path} answered {status} (expected {sorted(allowed)}): {raw[:200]!r}")
                # An id the caller sent (in the path or the body) may come
                # back in the refusal ("Volume <id> could not be found.").
                sent = path + json.dumps(body)
                leaked = [i for i in secret_ids if i.encode() in raw and i not in sent]
                if leaked:
                    problems.append(f"{name}: {method} {path} leaked {leaked}")
            for path in LISTINGS:
                status, raw = cloud.call("GET", path, token)
                checked += 1
                names = ["a-key", "a-server", "a-group", "a-image", "a-net", "a-subnet", "a-port", "a-sg", "a-router",
                         "a-vol", "a-snap", "a-data"]
                leaked = [i for i in secret_ids + names if i.encode() in raw]
                if status >= 500 or leaked:
                    problems.append(f"{name}: GET {path} answered {status}, leaked {leaked}")
        if fingerprint(cloud, admin, ids) != before:
            problems.append("A's resources changed under outsiders")
        # A's reader reads, and changes nothing.
        reader = cloud.token("a-reader", "pw", "iso-a")
        for method, path, body, _ in foreign_calls(ids):
            if any(part in path for part in SELF_SERVICE):
                continue
            status, raw = cloud.call(method, path, reader, body)
            checked += 1
            if method == "GET" and "/action" not in path and status >= 400 and status != 403:
                problems.append(f"a-reader: {method} {path} answered {status}: {raw[:200]!r}")
            if method in READER_WRITES and status < 400:
                problems.append(f"a-reader: {method} {path} was allowed ({status})")
        if fingerprint(cloud, admin, ids) != before:
            problems.append("A's resources changed under the reader")
        # A's manager reads what a member reads.
        manager = cloud.token("a-manager", "pw", "iso-a")
        for method, path, body, _ in foreign_calls(ids):
            if method != "GET" or any(part in path for part in SELF_SERVICE):
                continue
            status, raw = cloud.call(method, path, manager, body)
            checked += 1
            if status >= 400 and status != 403:
                problems.append(f"a-manager: {method} {path} answered {status}: {raw[:200]!r}")
        # The cloud's admin sees all of A's (so the leak checks above are
        # not vacuous: the same calls do find A's resources).
        for method, path, body, _ in foreign_calls(ids):
            if method != "GET" or "os-keypairs" in path:
                continue  # key pairs are their user's own, the admin's included
            status, raw = cloud.call(method, path, admin, body)
            checked += 1
            if status >= 400:
                problems.append(f"admin: {method} {path} answered {status}: {raw[:200]!r}")
        for path, secret in [("/compute/v2.1/servers/detail?all_tenants=1", ids["server"]),
                             ("/compute/v2.1/os-server-groups?all_projects=True", ids["group"]),
                             ("/image/v2/images", ids["image"]),
                             ("/network/v2.0/routers", ids["router"]),
                             ("/network/v2.0/floatingips", ids["fip"]),
                             ("/volume/v3/volumes/detail?all_tenants=1", ids["vol"]),
                             ("/volume/v3/attachments?all_tenants=1", ids["attachment"])]:
            status, raw = cloud.call("GET", path, admin)
            checked += 1
            if status != 200 or secret.encode() not in raw:
                problems.append(f"admin: GET {path} answered {status} without A's {secret}")
        # Tokens that must not work.
        status, _ = cloud.call("POST", "/identity/v3/auth/tokens", None, password_auth("a-disabled", "pw", "iso-a"))
        checked += 1
        if status != 401:
            problems.append(f"a disabled user got a token ({status})")
        victim = cloud.token("a-manager", "pw", "iso-a")
        forged = a_member[:-4] + ("AAAA" if not a_member.endswith("AAAA") else "BBBB")
        for label, token in [("forged", forged), ("garbage", "not-a-token"), ("empty", "")]:
            status, _ = cloud.call("GET", "/compute/v2.1/servers", token or None)
            checked += 1
            if status != 401:
                problems.append(f"a {label} token answered {status}")
        revoke = http.client.HTTPConnection("127.0.0.1", cloud.port, timeout=30)
        revoke.request("DELETE", "/identity/v3/auth/tokens",
                       headers={"X-Auth-Token": admin, "X-Subject-Token": victim})
        revoked_status = revoke.getresponse().status
        revoke.close()
        status, _ = cloud.call("GET", "/compute/v2.1/servers", victim)
        checked += 1
        if revoked_status != 204 or status != 401:
            problems.append(f"a revoked token (revocation {revoked_status}) answered {status}")
    finally:
        panic = panic_in(cloud.server.stop())
    if panic:
        problems.append("oxstack panicked:\n" + panic)
    # Expiry, on a cloud whose tokens live one second.
    short = Cloud(args.bin, root / "short", ttl=1)
    try:
        token = short.token("demo", "demo", "demo")
        time.sleep(2.1)
        status, _ = short.call("GET", "/compute/v2.1/servers", token)
        checked += 1
        if status != 401:
            problems.append(f"an expired token answered {status}")
    finally:
        short.server.stop()
    return report(f"isolation: {checked} calls checked (3 outsiders x {len(foreign_calls(ids))} calls on "
                  f"another project's resources and {len(LISTINGS)} listings, a reader's writes, a manager's "
                  f"and the admin's reads, "
                  f"disabled/forged/revoked/expired tokens)", problems)


if __name__ == "__main__":
    sys.exit(main())
