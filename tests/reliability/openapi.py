#!/usr/bin/env python3
"""Property-based fuzzing of the published OpenAPI document (issue 20):
schemathesis generates requests for every operation of
`GET /_oxstack/openapi.json` (valid and invalid bodies from the handlers'
own schemas, odd path parameters) against an oxstack of its own (noauth,
two simulated hosts) and checks that none is answered with a 5xx. Path
parameters named after the resources made first (a server, a key pair, a
server group, an aggregate, an image, a flavor, the project, and a network
with a subnet, a port, a security group and rule, a router and a floating
IP) take their ids, so that requests reach the resources rather than only 404s.

Usage (tests/reliability/openapi.sh installs schemathesis):
    tests/reliability/openapi.py --bin target/debug/oxstack \\
        --schemathesis .venv-reliability/bin/schemathesis --examples 5
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import Process, panic_in, report

ADMIN = "admin:admin"
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIP4GkTXPqWRl/m1Hx4BctS4cAWRA/sqjBq5noAiBi4N7 st"


def call(port: int, method: str, path: str, body=None) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"X-Auth-Token": ADMIN, "OpenStack-API-Version": "compute latest",
               "Content-Type": "application/json"}
    conn.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
    response = conn.getresponse()
    raw = response.read()
    if response.status >= 300:
        sys.exit(f"setup: {method} {path} answered {response.status}: {raw[:300]!r}")
    return json.loads(raw) if raw else {}


def make_resources(port: int) -> dict[str, str]:
    """The ids the fuzzer's path parameters take."""
    image = call(port, "GET", "/image/v2/images?name=cirros")["images"][0]["id"]
    server = call(port, "POST", "/compute/v2.1/servers", {"server": {
        "name": "fuzzed", "imageRef": image, "flavorRef": "1", "networks": "auto",
        "metadata": {"k": "v"}, "tags": ["t"]}})["server"]["id"]
    for _ in range(500):
        if call(port, "GET", f"/compute/v2.1/servers/{server}")["server"]["status"] == "ACTIVE":
            break
        time.sleep(0.02)
    call(port, "POST", "/compute/v2.1/os-keypairs", {"keypair": {"name": "fuzzed-key", "public_key": KEY}})
    group = call(port, "POST", "/compute/v2.1/os-server-groups",
                 {"server_group": {"name": "g", "policy": "anti-affinity"}})["server_group"]["id"]
    aggregate = call(port, "POST", "/compute/v2.1/os-aggregates", {"aggregate": {"name": "agg"}})
    private = call(port, "POST", "/image/v2/images", {
        "name": "fuzzed-image", "disk_format": "raw", "container_format": "bare"})["id"]
    request = call(port, "GET", f"/compute/v2.1/servers/{server}/os-instance-actions")
    n = "/network/v2.0"
    network = call(port, "POST", f"{n}/networks", {"network": {"name": "fuzzed-net"}})["network"]["id"]
    subnet = call(port, "POST", f"{n}/subnets", {"subnet": {
        "network_id": network, "ip_version": 4, "cidr": "10.60.0.0/24"}})["subnet"]["id"]
    port_id = call(port, "POST", f"{n}/ports", {"port": {"network_id": network}})["port"]["id"]
    group_id = call(port, "POST", f"{n}/security-groups",
                    {"security_group": {"name": "fuzzed-sg"}})["security_group"]["id"]
    rule = call(port, "POST", f"{n}/security-group-rules", {"security_group_rule": {
        "security_group_id": group_id, "direction": "ingress", "protocol": "icmp"}})["security_group_rule"]["id"]
    public = call(port, "GET", f"{n}/networks?name=public")["networks"][0]["id"]
    router = call(port, "POST", f"{n}/routers", {"router": {
        "name": "fuzzed-router", "external_gateway_info": {"network_id": public}}})["router"]["id"]
    call(port, "PUT", f"{n}/routers/{router}/add_router_interface", {"subnet_id": subnet})
    fip = call(port, "POST", f"{n}/floatingips", {"floatingip": {
        "floating_network_id": public, "port_id": port_id}})["floatingip"]["id"]
    return {
        "network_id": network, "subnet_id": subnet, "port_id": port_id, "security_group_id": group_id,
        "security_group_rule_id": rule, "router_id": router, "floatingip_id": fip,
        "collection": "networks", "resource_id": network, "alias": "router",
        "server_id": server, "image_id": private, "keypair_name": "fuzzed-key",
        "server_group_id": group, "aggregate_id": str(aggregate["aggregate"]["id"]),
        "flavor_id": "1", "tenant_id": "admin", "project_id": "admin", "key": "k", "tag": "t",
        "request_id": request["instanceActions"][0]["request_id"], "class": "default",
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", default="target/debug/oxstack")
    parser.add_argument("--schemathesis", default=".venv-reliability/bin/schemathesis")
    parser.add_argument("--examples", type=int, default=5, help="examples per operation and phase")
    parser.add_argument("--seed", type=int, default=int(time.time()))
    args = parser.parse_args()
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="oxstack-openapi-") as tmp:
        root = Path(tmp)
        server = Process(args.bin, root, ["--auth", "noauth", "--fake-hosts", "2"])
        try:
            ids = make_resources(server.port)
            config = root / "schemathesis.toml"
            config.write_text("[parameters]\n" + "".join(
                f'"path.{name}" = "{value}"\n' for name, value in ids.items()))
            started = time.monotonic()
            run = subprocess.run(
                [args.schemathesis, "--config-file", str(config), "run",
                 f"http://127.0.0.1:{server.port}/_oxstack/openapi.json",
                 "--checks", "not_a_server_error", "--max-examples", str(args.examples),
                 "--phases", "examples,coverage,fuzzing", "--workers", "2", "--seed", str(args.seed),
                 "--header", f"X-Auth-Token: {ADMIN}", "--header", "OpenStack-API-Version: compute latest",
                 "--suppress-health-check", "all", "--warnings", "off", "--no-color"],
                capture_output=True, text=True, cwd=root,
                env={**os.environ, "SCHEMATHESIS_HOOKS": str(Path(__file__).with_name("schemathesis_hooks.py"))})
            took = time.monotonic() - started
            output = run.stdout + run.stderr
            cases = re.search(r"(\d+) generated, (\d+) passed(?:, (\d+) failed)?", output)
            generated = int(cases.group(1)) if cases else 0
            if run.returncode != 0 or not cases:
                problems.append(f"schemathesis exited {run.returncode}:\n{output[-4000:]}")
            if not server.alive():
                problems.append("oxstack died")
        finally:
            if panic := panic_in(server.stop()):
                problems.append(f"a panic:\n{panic}")
    return report(f"openapi (schemathesis, seed {args.seed}): {generated:,} requests generated for "
                  f"every operation of /_oxstack/openapi.json in {took:.0f} s, checked to get no 5xx",
                  problems)


if __name__ == "__main__":
    sys.exit(main())
