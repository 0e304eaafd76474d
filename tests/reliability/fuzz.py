#!/usr/bin/env python3
"""A mutating fuzzer of the compute, network, image and identity APIs (issue 20's
"bad input gets a clear 4xx and changes nothing").

It starts its own oxstack (noauth, two simulated hosts), makes a few
resources, then sends mutations of valid requests: wrong types, huge and
empty strings, deep nesting, invalid UTF-8, duplicate keys, NUL bytes,
numbers out of range, missing and unknown keys, truncated and non-JSON
bodies, bodies over the limit, odd query strings. It checks that

* no answer is a 5xx and the process never dies (nor logs a panic);
* every 4xx answer has a JSON error body;
* a refused request changes nothing: the cloud's fingerprint (servers in
  detail, key pairs, flavors, images, groups, aggregates, quotas, networks,
  subnets, ports, routers, floating IPs, security groups) is the same after
  it as before.

Standard library only. Usage:
    tests/reliability/fuzz.py --bin target/debug/oxstack --requests 10000 --seed 1
"""

from __future__ import annotations

import argparse
import copy
import http.client
import json
import random
import re
import sys
import tempfile
import time
from pathlib import Path

from harness import Process, panic_in, report

ADMIN = "admin:admin"
USER = "fuzz-user:fuzz-project"
V = "latest"
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIP4GkTXPqWRl/m1Hx4BctS4cAWRA/sqjBq5noAiBi4N7 fuzz"


class Cloud:
    """A running oxstack and a connection to it."""

    def __init__(self, binary: str, root: Path, database_url: str | None):
        args = ["--auth", "noauth", "--fake-hosts", "2"]
        self.server = Process(binary, root, args + (["--database-url", database_url] if database_url else []))
        self.port = self.server.port
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)

    def request(self, method: str, path: str, body: bytes | None = None, token: str = USER,
                headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        # Glance renders its errors as the client accepts them: JSON here.
        all_headers = {"X-Auth-Token": token, "OpenStack-API-Version": f"compute {V}, volume 3.71",
                       "Accept": "application/json"}
        if body is not None:
            all_headers["Content-Type"] = "application/json"
        all_headers.update(headers or {})
        for attempt in range(2):
            try:
                self.conn.request(method, path, body=body, headers=all_headers)
                response = self.conn.getresponse()
                return response.status, response.read()
            except (http.client.HTTPException, OSError):
                # The server may close a connection after an error answer.
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                if attempt == 1 or not self.server.alive():
                    raise
        raise AssertionError("unreachable")

    def json(self, method: str, path: str, body=None, token: str = USER) -> dict:
        data = None if body is None else json.dumps(body).encode()
        status, raw = self.request(method, path, data, token)
        if status >= 300:
            raise AssertionError(f"setup {method} {path} answered {status}: {raw[:500]!r}")
        return json.loads(raw) if raw else {}

    def settle(self) -> None:
        """Waits until no server has a task in progress and no volume or
        snapshot is between two statuses (their work runs in the
        background)."""
        moving = {"creating", "attaching", "detaching", "deleting", "extending", "uploading"}
        volumes: list = []
        for _ in range(500):
            listed = self.json("GET", "/compute/v2.1/servers/detail?all_tenants=1", token=ADMIN)
            volumes = self.json("GET", "/volume/v3/volumes/detail?all_tenants=1", token=ADMIN)["volumes"]
            snapshots = self.json("GET", "/volume/v3/snapshots/detail?all_tenants=1", token=ADMIN)["snapshots"]
            if (all(s["OS-EXT-STS:task_state"] is None for s in listed["servers"])
                    and not any(v["status"] in moving for v in volumes + snapshots)):
                return
            time.sleep(0.02)
        stuck = [(v["id"], v["status"]) for v in volumes if v["status"] in moving]
        raise AssertionError(f"servers and volumes never settled: {stuck}")

    def fingerprint(self) -> str:
        """What a refused request must not change."""
        self.settle()
        parts = [
            self.json("GET", "/compute/v2.1/servers/detail?all_tenants=1", token=ADMIN),
            self.json("GET", "/compute/v2.1/os-keypairs"),
            self.json("GET", "/compute/v2.1/flavors/detail?is_public=None", token=ADMIN),
            self.json("GET", "/compute/v2.1/os-server-groups?all_projects=True", token=ADMIN),
            self.json("GET", "/compute/v2.1/os-aggregates", token=ADMIN),
            self.json("GET", "/compute/v2.1/os-quota-sets/fuzz-project", token=ADMIN),
            self.json("GET", "/image/v2/images", token=ADMIN),
        ]
        parts += [self.json("GET", f"/network/v2.0/{collection}", token=ADMIN)
                  for collection in ["networks", "subnets", "ports", "routers", "floatingips",
                                     "security-groups", "security-group-rules"]]
        parts += [self.json("GET", f"/volume/v3/{collection}?all_tenants=1", token=ADMIN)
                  for collection in ["volumes/detail", "snapshots/detail", "types"]]
        parts.append(self.json("GET", "/volume/v3/attachments/detail?all_tenants=1", token=ADMIN))
        for server in self_servers(parts[0]):
            parts.append(self.json("GET", f"/compute/v2.1/servers/{server}/tags"))
        return json.dumps(parts, sort_keys=True)


def self_servers(detail: dict) -> list[str]:
    return [s["id"] for s in detail["servers"]]


def setup(cloud: Cloud) -> dict[str, str]:
    """The resources the corpus refers to."""
    image = cloud.json("GET", "/image/v2/images?name=cirros", token=ADMIN)["images"][0]["id"]
    server = cloud.json("POST", "/compute/v2.1/servers", {"server": {
        "name": "fuzz", "imageRef": image, "flavorRef": "1", "networks": "auto",
        "metadata": {"k": "v"}}})["server"]["id"]
    cloud.json("POST", "/compute/v2.1/os-keypairs", {"keypair": {"name": "fuzz-key", "public_key": KEY}})
    group = cloud.json("POST", "/compute/v2.1/os-server-groups",
                       {"server_group": {"name": "g", "policy": "anti-affinity"}})["server_group"]["id"]
    aggregate = cloud.json("POST", "/compute/v2.1/os-aggregates",
                           {"aggregate": {"name": "agg"}}, token=ADMIN)["aggregate"]["id"]
    n = "/network/v2.0"
    net = cloud.json("POST", f"{n}/networks", {"network": {"name": "fuzz-net"}})["network"]["id"]
    subnet = cloud.json("POST", f"{n}/subnets", {"subnet": {
        "network_id": net, "ip_version": 4, "cidr": "10.70.0.0/24"}})["subnet"]["id"]
    public = cloud.json("GET", f"{n}/networks?name=public")["networks"][0]["id"]
    router = cloud.json("POST", f"{n}/routers", {"router": {"name": "fuzz-router"}})["router"]["id"]
    sg = cloud.json("POST", f"{n}/security-groups", {"security_group": {"name": "fuzz-sg"}})["security_group"]["id"]
    volume = cloud.json("POST", "/volume/v3/volumes", {"volume": {"name": "fuzz-vol", "size": 1}})["volume"]["id"]
    cloud.settle()
    for _ in range(500):
        if cloud.json("GET", f"/volume/v3/volumes/{volume}")["volume"]["status"] == "available":
            break
        time.sleep(0.02)
    return {"image": image, "server": server, "group": group, "aggregate": str(aggregate),
            "net": net, "subnet": subnet, "public": public, "router": router, "sg": sg, "volume": volume}


def corpus(ids: dict[str, str]) -> list[tuple[str, str, object, str]]:
    """Valid requests: (method, path, body, token)."""
    s, img = ids["server"], ids["image"]
    act = f"/compute/v2.1/servers/{s}/action"
    return [
        ("POST", "/compute/v2.1/servers", {"server": {
            "name": "made", "imageRef": img, "flavorRef": "1", "networks": "auto",
            "metadata": {"a": "b"}, "min_count": 1, "max_count": 1, "description": "d",
            "tags": ["t"], "key_name": "fuzz-key", "availability_zone": "nova",
            "user_data": "aGVsbG8=", "block_device_mapping_v2": [{
                "boot_index": 0, "uuid": img, "source_type": "image",
                "destination_type": "local", "delete_on_termination": True}]},
            "os:scheduler_hints": {"group": ids["group"]}}, USER),
        ("PUT", f"/compute/v2.1/servers/{s}", {"server": {"name": "renamed", "description": "x"}}, USER),
        ("POST", act, {"reboot": {"type": "SOFT"}}, USER),
        ("POST", act, {"resize": {"flavorRef": "2", "OS-DCF:diskConfig": "AUTO"}}, USER),
        ("POST", act, {"rebuild": {"imageRef": img, "name": "rebuilt", "metadata": {"x": "y"},
                                   "preserve_ephemeral": False, "adminPass": "secret"}}, USER),
        ("POST", act, {"createImage": {"name": "snap", "metadata": {"m": "n"}}}, USER),
        ("POST", act, {"createBackup": {"name": "b", "backup_type": "daily", "rotation": 1}}, USER),
        ("POST", act, {"changePassword": {"adminPass": "p"}}, USER),
        ("POST", act, {"rescue": {"adminPass": "p", "rescue_image_ref": img}}, USER),
        ("POST", act, {"lock": {"locked_reason": "r"}}, USER),
        ("POST", act, {"os-getConsoleOutput": {"length": 10}}, USER),
        ("POST", act, {"os-resetState": {"state": "active"}}, ADMIN),
        ("POST", act, {"os-migrateLive": {"host": None, "block_migration": "auto"}}, ADMIN),
        ("POST", act, {"evacuate": {"host": "x"}}, ADMIN),
        ("POST", act, {"addSecurityGroup": {"name": "default"}}, USER),
        ("POST", f"/compute/v2.1/servers/{s}/remote-consoles",
         {"remote_console": {"protocol": "vnc", "type": "novnc"}}, USER),
        ("PUT", f"/compute/v2.1/servers/{s}/metadata", {"metadata": {"k": "v2"}}, USER),
        ("POST", f"/compute/v2.1/servers/{s}/metadata", {"metadata": {"k2": "v"}}, USER),
        ("PUT", f"/compute/v2.1/servers/{s}/metadata/k", {"meta": {"k": "v3"}}, USER),
        ("PUT", f"/compute/v2.1/servers/{s}/tags", {"tags": ["a", "b"]}, USER),
        ("POST", "/compute/v2.1/os-keypairs", {"keypair": {"name": "k2", "type": "ssh", "public_key": KEY}}, USER),
        ("POST", "/compute/v2.1/os-server-groups",
         {"server_group": {"name": "g2", "policy": "affinity", "rules": {}}}, USER),
        ("POST", "/compute/v2.1/flavors", {"flavor": {
            "name": "f", "ram": 64, "vcpus": 1, "disk": 1, "id": "fz",
            "OS-FLV-EXT-DATA:ephemeral": 0, "swap": 0, "rxtx_factor": 1.0,
            "os-flavor-access:is_public": True, "description": "d"}}, ADMIN),
        ("POST", "/compute/v2.1/flavors/1/os-extra_specs", {"extra_specs": {"hw:x": "y"}}, ADMIN),
        ("POST", "/compute/v2.1/os-aggregates", {"aggregate": {"name": "a2", "availability_zone": "z"}}, ADMIN),
        ("POST", f"/compute/v2.1/os-aggregates/{ids['aggregate']}/action",
         {"set_metadata": {"metadata": {"k": "v"}}}, ADMIN),
        ("PUT", "/compute/v2.1/os-quota-sets/fuzz-project",
         {"quota_set": {"instances": 20, "cores": 40, "force": True}}, ADMIN),
        ("POST", "/compute/v2.1/os-server-external-events",
         {"events": [{"name": "network-changed", "server_uuid": s, "tag": "t"}]}, ADMIN),
        ("POST", "/image/v2/images", {"name": "i", "disk_format": "raw", "container_format": "bare",
                                      "visibility": "private", "min_disk": 0, "tags": ["x"]}, USER),
        *network_corpus(ids),
        *volume_corpus(ids),
    ]


def volume_corpus(ids: dict[str, str]) -> list[tuple[str, str, object, str]]:
    """Valid Cinder requests, and Nova's on volumes."""
    v, vol, img = "/volume/v3", ids["volume"], ids["image"]
    return [
        ("POST", f"{v}/volumes", {"volume": {"size": 1, "name": "v2", "description": "d",
                                             "metadata": {"k": "v"}, "volume_type": "__DEFAULT__",
                                             "availability_zone": "nova"}}, USER),
        ("POST", f"{v}/volumes", {"volume": {"size": 1, "imageRef": img}}, USER),
        ("POST", f"{v}/volumes", {"volume": {"source_volid": vol, "size": 2}}, USER),
        ("PUT", f"{v}/volumes/{vol}", {"volume": {"name": "renamed", "metadata": {"a": "b"}}}, USER),
        ("POST", f"{v}/volumes/{vol}/metadata", {"metadata": {"m": "n"}}, USER),
        ("POST", f"{v}/volumes/{vol}/action", {"os-extend": {"new_size": 2}}, USER),
        ("POST", f"{v}/volumes/{vol}/action", {"os-set_bootable": {"bootable": True}}, USER),
        ("POST", f"{v}/volumes/{vol}/action", {"os-reset_status": {"status": "available"}}, ADMIN),
        ("POST", f"{v}/snapshots", {"snapshot": {"volume_id": vol, "name": "s", "force": True,
                                                 "metadata": {"k": "v"}}}, USER),
        ("POST", f"{v}/attachments", {"attachment": {"volume_uuid": vol, "instance_uuid": ids["server"]}}, USER),
        ("POST", f"{v}/types", {"volume_type": {"name": "gold", "extra_specs": {"k": "v"},
                                                "os-volume-type-access:is_public": True}}, ADMIN),
        ("PUT", f"{v}/os-quota-sets/fuzz-project", {"quota_set": {"volumes": 20, "gigabytes": 100}}, ADMIN),
        ("POST", f"/compute/v2.1/servers/{ids['server']}/os-volume_attachments",
         {"volumeAttachment": {"volumeId": vol, "device": "/dev/vdc", "tag": "t",
                               "delete_on_termination": False}}, USER),
        ("POST", "/compute/v2.1/servers", {"server": {
            "name": "bfv", "flavorRef": "1", "networks": "none", "block_device_mapping_v2": [{
                "boot_index": 0, "uuid": img, "source_type": "image", "destination_type": "volume",
                "volume_size": 1, "delete_on_termination": True}]}}, USER),
    ]


def network_corpus(ids: dict[str, str]) -> list[tuple[str, str, object, str]]:
    """Valid Neutron requests."""
    n = "/network/v2.0"
    return [
        ("POST", f"{n}/networks", {"network": {"name": "n2", "admin_state_up": True, "mtu": 1400,
                                               "port_security_enabled": True, "description": "d"}}, USER),
        ("PUT", f"{n}/networks/{ids['net']}", {"network": {"name": "renamed", "mtu": 1300}}, USER),
        ("POST", f"{n}/subnets", {"subnet": {
            "network_id": ids["net"], "ip_version": 4, "cidr": "10.71.0.0/24", "gateway_ip": "10.71.0.1",
            "allocation_pools": [{"start": "10.71.0.10", "end": "10.71.0.20"}], "dns_nameservers": ["8.8.8.8"],
            "host_routes": [{"destination": "10.9.0.0/16", "nexthop": "10.71.0.5"}], "enable_dhcp": True}}, USER),
        ("POST", f"{n}/ports", {"port": {
            "network_id": ids["net"], "name": "p", "fixed_ips": [{"subnet_id": ids["subnet"]}],
            "security_groups": [ids["sg"]], "allowed_address_pairs": [{"ip_address": "10.70.0.200"}],
            "mac_address": "fa:16:3e:00:11:22", "admin_state_up": True}}, USER),
        ("POST", f"{n}/routers", {"router": {
            "name": "r2", "admin_state_up": True, "external_gateway_info": {"network_id": ids["public"]}}}, USER),
        ("PUT", f"{n}/routers/{ids['router']}/add_router_interface", {"subnet_id": ids["subnet"]}, USER),
        ("POST", f"{n}/floatingips", {"floatingip": {
            "floating_network_id": ids["public"], "description": "f"}}, USER),
        ("POST", f"{n}/security-groups", {"security_group": {"name": "sg2", "description": "d"}}, USER),
        ("POST", f"{n}/security-group-rules", {"security_group_rule": {
            "security_group_id": ids["sg"], "direction": "ingress", "ethertype": "IPv4", "protocol": "tcp",
            "port_range_min": 80, "port_range_max": 81, "remote_ip_prefix": "10.0.0.0/8"}}, USER),
        ("PUT", f"{n}/networks/{ids['net']}/tags", {"tags": ["a", "b"]}, USER),
        ("PUT", f"{n}/quotas/fuzz-project", {"quota": {"network": 20, "port": 100}}, ADMIN),
    ]


WRONG = [None, True, False, 0, -1, 1.5, 1e308, 2**63, -(2**63) - 1, 10**40, "", " ", "x" * 300,
         "\u0000", "\ud7ff\U0001f600", [], {}, [None], {"x": {"y": []}}, "1; DROP TABLE instances"]


def leaves(value, path=()):
    """Every path into a JSON value."""
    yield path
    if isinstance(value, dict):
        for k, v in value.items():
            yield from leaves(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from leaves(v, path + (i,))


def replace(value, path, new):
    if not path:
        return new
    clone = copy.deepcopy(value)
    target = clone
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = new
    return clone


def delete(value, path):
    clone = copy.deepcopy(value)
    target = clone
    for step in path[:-1]:
        target = target[step]
    del target[path[-1]]
    return clone


def mutate(body, rng: random.Random) -> bytes | None:
    """One mutation of a valid body, as bytes (None: no body)."""
    paths = list(leaves(body))
    path = rng.choice(paths)
    kind = rng.randrange(14)
    if kind <= 4:
        return json.dumps(replace(body, path, rng.choice(WRONG))).encode()
    if kind == 5 and path:
        return json.dumps(delete(body, path)).encode()
    if kind == 6:
        parent = path[:-1] if path else ()
        target = body
        for step in parent:
            target = target[step]
        if isinstance(target, dict):
            return json.dumps(replace(body, parent + ("unknown\u0000key",), 1)).encode()
        return json.dumps(body).encode()
    if kind == 7:
        depth = rng.choice([64, 1000, 20000])
        return json.dumps(replace(body, path, None)).encode().replace(
            b"null", b"[" * depth + b"]" * depth, 1)
    if kind == 8:
        text = json.dumps(body).encode()
        at = text.find(b'"', rng.randrange(len(text)))
        if at < 0:
            return text + b"\xff"
        return text[:at + 1] + rng.choice([b"\xff\xfe", b"\xc3\x28", b"\xed\xa0\x80", b"\x00"]) + text[at + 1:]
    if kind == 9:
        text = json.dumps(body)
        # A duplicate of the first key of the outermost object.
        m = re.match(r'\{"([^"]+)": ', text)
        return (text[:1] + f'"{m.group(1)}": 1, ' + text[1:]).encode() if m else text.encode()
    if kind == 10:
        text = json.dumps(body).encode()
        return text[:rng.randrange(max(1, len(text)))]
    if kind == 11:
        return rng.choice([b"", b"null", b"[]", b"42", b'"s"', b"not json", b"{", b"\xff" * 10])
    if kind == 12:
        return json.dumps(replace(body, path, "y" * rng.choice([10_000, 200_000]))).encode()
    return json.dumps(replace(body, path, rng.choice([-2**31, 2**31, 2**53 + 1, -0.0, 1e-310]))).encode()


QUERIES = ["limit=-1", "limit=abc", "limit=99999999999999999999", "marker=nope", "sort_key=bogus",
           "sort_dir=sideways", "changes-since=yesterday", "name=%00", "name=" + "a" * 5000,
           "status=NOPE", "all_tenants=maybe", "deleted=2", "ip=%5B", "name=(", "tags=,,,",
           "flavor=%FF%FE", "image=" + "%E2%82" * 3, "limit=1&limit=2&marker=", "detailed=yes",
           "start=2020-13-45", "end=garbage", "is_public=xyz", "minRam=-5", "minDisk=1e999",
           "user_id=x&all_tenants=1", "fields=id", "sort_key=name&sort_key=bogus"]

LISTINGS = ["/compute/v2.1/servers", "/compute/v2.1/servers/detail", "/compute/v2.1/flavors",
            "/compute/v2.1/flavors/detail", "/compute/v2.1/os-keypairs", "/compute/v2.1/os-server-groups",
            "/compute/v2.1/os-simple-tenant-usage", "/compute/v2.1/os-migrations",
            "/compute/v2.1/os-hypervisors/detail", "/compute/v2.1/os-services", "/compute/v2.1/images",
            "/image/v2/images", "/compute/v2.1/os-instance-actions", "/compute/v2.1/limits"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", default="target/debug/oxstack")
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--database-url", help="an empty PostgreSQL database (default: SQLite)")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    root = Path(tempfile.mkdtemp(prefix="oxstack-fuzz-"))
    cloud = Cloud(args.bin, root, args.database_url)
    problems: list[str] = []
    counts = {"2xx": 0, "3xx": 0, "4xx": 0, "5xx": 0, "unchanged": 0}
    started = time.monotonic()
    try:
        ids = setup(cloud)
        valid = corpus(ids)
        before = cloud.fingerprint()
        for n in range(args.requests):
            if rng.random() < 0.15:
                method, path = "GET", rng.choice(LISTINGS) + "?" + rng.choice(QUERIES)
                body, token, data = None, rng.choice([USER, ADMIN]), None
            else:
                method, path, body, token = rng.choice(valid)
                data = mutate(body, rng)
            status, raw = cloud.request(method, path, data, token)
            what = f"#{n} {method} {path} {(data or b'')[:300]!r}"
            if status >= 500:
                counts["5xx"] += 1
                problems.append(f"{status} for {what}: {raw[:500]!r}")
                continue
            if 400 <= status < 500:
                counts["4xx"] += 1
                if status != 405 and raw:
                    try:
                        json.loads(raw)
                    except ValueError:
                        problems.append(f"{status} without a JSON body for {what}: {raw[:200]!r}")
                if method != "GET":
                    after = cloud.fingerprint()
                    if after != before:
                        problems.append(f"{status} changed the cloud: {what}")
                        before = after
                    else:
                        counts["unchanged"] += 1
            else:
                counts[f"{status // 100}xx"] += 1
                if method != "GET":
                    before = cloud.fingerprint()
            if not cloud.server.alive():
                problems.append(f"oxstack died after {what}")
                break
    finally:
        panic = panic_in(cloud.server.stop())
    if panic:
        problems.append("oxstack panicked:\n" + panic)
    elapsed = time.monotonic() - started
    engine = "PostgreSQL" if args.database_url else "SQLite"
    return report(f"fuzz ({engine}): {args.requests} requests (seed {args.seed}) in {elapsed:.0f} s: "
                  f"{counts['2xx']} 2xx, {counts['4xx']} 4xx ({counts['unchanged']} refused writes "
                  f"checked to change nothing), {counts['5xx']} 5xx", problems)


if __name__ == "__main__":
    sys.exit(main())
