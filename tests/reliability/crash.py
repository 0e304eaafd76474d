#!/usr/bin/env python3
"""Crash runs and database faults (issue 20's "a crash loses nothing
acknowledged").

32 clients of one project create servers, act on them (stop, start,
reboot, pause, unpause, resize, confirm, revert, snapshot), give them
floating IPs (Neutron's, through DevStack's router1), delete them and
upload images while, at a random moment of every round, one of these
faults strikes (`--fault`):

* `kill-api`: oxstack is killed with SIGKILL, then started again;
* `kill-compute`: the second compute host of a two-host cloud on
  PostgreSQL (`oxstack compute`) is killed while the API goes on answering
  (and acknowledging work for it), then started again;
* `restart-db`: the cloud's PostgreSQL restarts (a server of the run's own);
* `stop-db`: it stops for 10 s, then starts again. oxstack is not
  touched: it must answer 503 with the service's error body meanwhile
  (never a 500, never a request slower than 8 s) and come back by itself.

A request cut off, or answered 503, may or may not have happened: either
outcome is accepted, and what was found is what the client believes from
then on. After each round, with the clients paused, the script checks that

* no server is stuck: every task ends within a minute, and the newest
  instance action of every server has finished;
* every acknowledged operation is done: a created server exists, a
  deleted one is gone, an action's end state holds;
* no server appears that nobody asked for (a create that was cut off may
  have made one, found by its unique name);
* quota usage (instances, cores, RAM) is the sum of the live servers;
* no IP address is held by two servers;
* every acknowledged floating IP exists, is associated with its server's
  port while the server lives and with no port once its deletion is
  acknowledged, points at no port that is gone, and the project's Neutron
  usage of floating IPs and ports is what exists;
* no image is half-written: every image is `queued` or `active`, every
  active image's data has the size and md5 it claims (read back once),
  and every acknowledged upload has exactly the bytes sent; every
  acknowledged snapshot is an active image.

Standard library only (the database faults need PostgreSQL's server
programs). Usage:
    tests/reliability/crash.py --bin target/debug/oxstack --rounds 20 --seed 1
    tests/reliability/crash.py ... --database-url postgres://... [--fault kill-compute]
    tests/reliability/crash.py ... --fault stop-db
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import http.client
import json
import random
import re
import sys
import tempfile
import threading
import time
from pathlib import Path

from harness import Postgres, Process, panic_in, report

ADMIN = "admin:admin"
PROJECT = "crash-project"
V = "latest"
# Two flavors a resize can go between either way (same disk): id → name.
FLAVORS = {"42": "m1.nano", "84": "m1.micro"}
OTHER_FLAVOR = {"42": "84", "84": "42"}
FLAVOR_ID = {name: id for id, name in FLAVORS.items()}
GONE = ("GONE", None)


class Down(Exception):
    """The request got no answer (the process it went to died), or a 503
    (the database was out of reach): it may or may not have happened."""


# How long a request may take while the database is down: the pool's wait
# for a connection (`Store::ACQUIRE_WAIT`, 3 s) and a margin.
PATIENCE = 8.0
FAULTS = ["kill-api", "kill-compute", "restart-db", "stop-db"]


class Cloud:
    """The oxstack processes under test (restartable on the same port and
    data directory), and what `fault` does to them."""

    def __init__(self, binary: str, root: Path, database_url: str | None, fault: str):
        self.binary, self.root, self.fault_kind = binary, root, fault
        config = root / "oxstack.toml"
        root.mkdir(parents=True, exist_ok=True)
        # Every hypervisor operation takes a while, so that faults find
        # servers in every transient state.
        config.write_text("[fake_driver]\ndelay_ms = 40\n")
        self.postgres = Postgres(root) if fault.endswith("-db") else None
        self.public = ""  # the external network's id, once the cloud runs
        if self.postgres:
            database_url = self.postgres.url
        self.args = ["--auth", "noauth", "--config", str(config)]
        if database_url:
            self.args += ["--database-url", database_url]
        self.port: int | None = None
        self.api: Process | None = None
        self.compute: Process | None = None
        self.start_api()
        if fault == "kill-compute":
            self.start_compute()

    def start_api(self) -> None:
        hosts = ["--host", "node1", "--fake-hosts", "1" if self.compute_apart() else "2"]
        listen = f"127.0.0.1:{self.port}" if self.port else "127.0.0.1:0"
        self.api = Process(self.binary, self.root, self.args + hosts, listen=listen)
        self.port = self.api.port

    def compute_apart(self) -> bool:
        return self.fault_kind == "kill-compute"

    def start_compute(self) -> None:
        self.compute = Process(self.binary, self.root, self.args + ["--host", "node2"],
                               command="compute", log_name="compute.log")

    def api_dies(self) -> bool:
        """Whether the fault leaves the clients without an API."""
        return self.fault_kind == "kill-api"

    def fault(self, rng: random.Random, counts: collections.Counter) -> None:
        """Does the fault while the clients work, and lets them work on a
        little after it (they are stopped once this returns)."""
        if self.fault_kind == "kill-api":
            self.api.kill()
        elif self.fault_kind == "kill-compute":
            self.compute.kill()
            time.sleep(rng.uniform(0.2, 1.0))  # the API acknowledges work for the dead host
        elif self.fault_kind == "restart-db":
            self.postgres.restart()
            counts["seconds to answer again"] = max(counts["seconds to answer again"], self.recovery())
        else:
            self.postgres.stop()
            time.sleep(10)
            self.postgres.start()
            counts["seconds to answer again"] = max(counts["seconds to answer again"], self.recovery())

    def recovery(self) -> int:
        """Seconds (rounded up) until the API answers a listing again."""
        started = time.monotonic()
        probe = Connection(self, ADMIN)
        while True:
            try:
                probe.json("GET", "/compute/v2.1/servers?limit=1")
                return int(time.monotonic() - started) + 1
            except Down:
                time.sleep(0.1)

    def recover(self) -> None:
        """What the operator does after the fault: restart what died."""
        if self.fault_kind == "kill-api":
            self.start_api()
        elif self.fault_kind == "kill-compute":
            self.start_compute()

    def logs(self) -> str:
        text = self.api.stop()
        if self.compute:
            text += self.compute.stop()
        if self.postgres:
            self.postgres.stop()
        return text


def unavailable_body(path: str, raw: bytes) -> bool:
    """Whether a 503's body is the service's own error body."""
    try:
        body = json.loads(raw)
    except ValueError:
        return False
    if path.startswith("/compute/"):
        fault = body.get("serviceUnavailable", {})
        return fault.get("code") == 503 and bool(fault.get("message"))
    if path.startswith("/image/"):
        return "503" in json.dumps(body)
    if path.startswith("/network/"):
        return bool(body.get("NeutronError", {}).get("message"))
    error = body.get("error", {})
    return error.get("code") == 503 and bool(error.get("message"))


class Connection:
    """One client's keep-alive connection. A request the process never
    answered, or answered with a well-formed 503, raises `Down`; a
    malformed 503 or one that took longer than `PATIENCE` raises
    `AssertionError` (a problem)."""

    def __init__(self, cloud: Cloud, token: str):
        self.cloud, self.token = cloud, token
        self.conn = http.client.HTTPConnection("127.0.0.1", cloud.port, timeout=60)

    def request(self, method: str, path: str, body=None, raw: bytes | None = None,
                content_type: str = "application/json") -> tuple[int, bytes]:
        headers = {"X-Auth-Token": self.token, "OpenStack-API-Version": f"compute {V}",
                   "Accept": "application/json"}
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        if data is not None:
            headers["Content-Type"] = content_type
        started = time.monotonic()
        try:
            self.conn.request(method, path, body=data, headers=headers)
            response = self.conn.getresponse()
            status, answer = response.status, response.read()
        except (http.client.HTTPException, OSError) as e:
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.cloud.port, timeout=60)
            raise Down(f"{method} {path}: {e}") from e
        took = time.monotonic() - started
        if took > PATIENCE:
            raise AssertionError(f"{method} {path} took {took:.1f} s (answered {status})")
        if status == 503:
            if not unavailable_body(path, answer):
                raise AssertionError(f"{method} {path} answered 503 with {answer[:300]!r}")
            raise Down(f"{method} {path}: 503")
        return status, answer

    def json(self, method: str, path: str, body=None) -> dict:
        status, raw = self.request(method, path, body)
        if status >= 300:
            raise AssertionError(f"{method} {path} answered {status}: {raw[:300]!r}")
        return json.loads(raw) if raw else {}


class Tracked:
    """A server a client made, and the states it may be found in: a set of
    (status, flavor name), or GONE."""

    def __init__(self, id: str, flavor: str):
        self.id = id
        self.expect = {("ACTIVE", flavor)}
        self.old_flavor: str | None = None

    def state(self) -> tuple[str, str | None]:
        """The one state the client believes (the server is settled)."""
        return next(iter(self.expect))


class Client:
    """One of the 32 users, with the servers and images it made."""

    def __init__(self, n: int, cloud: Cloud, image: str, rng: random.Random,
                 counts: collections.Counter, problems: list[str]):
        self.n, self.cloud, self.image, self.rng = n, cloud, image, rng
        self.counts, self.problems = counts, problems
        self.token = f"crash-user{n}:{PROJECT}"
        self.servers: dict[str, Tracked] = {}
        self.maybe_servers: list[str] = []        # names of creates the crash cut off
        self.uploads: dict[str, tuple[str, bool]] = {}   # image id → (md5 of what was sent, acknowledged)
        self.maybe_images: list[str] = []         # names of image creates the crash cut off
        self.snapshots: dict[str, bool] = {}      # image id → acknowledged
        self.maybe_snapshots: list[str] = []      # names of snapshots the crash cut off
        self.floating: dict[str, str] = {}        # acknowledged floating IP → its server
        self.maybe_floating: list[str] = []       # descriptions of floating IPs the crash cut off
        self.seq = 0

    # The round: work until told to stop or the process dies.

    def run(self, stop: threading.Event) -> None:
        conn = Connection(self.cloud, self.token)
        while not stop.is_set():
            try:
                self.step(conn, stop)
            except Down:
                self.counts["requests cut off or refused with 503"] += 1
                if self.cloud.api_dies():
                    return  # killed: the round is over for this client
            except AssertionError as e:
                self.problems.append(f"client {self.n}: {e}")
                return

    def name(self, kind: str) -> str:
        self.seq += 1
        return f"{kind}-{self.n}-{self.seq}"

    def step(self, conn: Connection, stop: threading.Event) -> None:
        roll = self.rng.random()
        live = [s for s in self.servers.values() if s.expect != {GONE}]
        if len(live) < 3 or roll < 0.08:
            self.create(conn, stop)
        elif roll < 0.14:
            self.upload(conn)
        elif roll < 0.18:
            self.associate(conn, self.rng.choice(live))
        else:
            self.act(conn, self.rng.choice(live), stop)

    def create(self, conn: Connection, stop: threading.Event) -> None:
        name = self.name("srv")
        self.maybe_servers.append(name)
        status, raw = conn.request("POST", "/compute/v2.1/servers", {"server": {
            "name": name, "imageRef": self.image, "flavorRef": "42", "networks": "auto"}})
        if status != 202:
            raise AssertionError(f"create answered {status}: {raw[:300]!r}")
        self.maybe_servers.remove(name)
        server = Tracked(json.loads(raw)["server"]["id"], FLAVORS["42"])
        self.servers[server.id] = server
        self.counts["creates acknowledged"] += 1
        self.wait(conn, server, stop)

    def upload(self, conn: Connection) -> None:
        name = self.name("img")
        self.maybe_images.append(name)
        created = conn.json("POST", "/image/v2/images", {
            "name": name, "disk_format": "raw", "container_format": "bare"})
        self.maybe_images.remove(name)
        data = self.rng.randbytes(self.rng.randint(1, 256 * 1024))
        digest = hashlib.md5(data).hexdigest()
        self.uploads[created["id"]] = (digest, False)
        status, raw = conn.request("PUT", f"/image/v2/images/{created['id']}/file", raw=data,
                                   content_type="application/octet-stream")
        if status != 204:
            raise AssertionError(f"upload answered {status}: {raw[:300]!r}")
        self.uploads[created["id"]] = (digest, True)
        self.counts["uploads acknowledged"] += 1

    def associate(self, conn: Connection, server: Tracked) -> None:
        """A floating IP for a settled, live server that has none yet."""
        if len(server.expect) > 1 or server.expect == {GONE} or server.id in self.floating.values():
            return
        ports = conn.json("GET", f"/network/v2.0/ports?device_id={server.id}")["ports"]
        if not ports:
            return
        description = self.name("fip")
        self.maybe_floating.append(description)
        status, raw = conn.request("POST", "/network/v2.0/floatingips", {"floatingip": {
            "floating_network_id": self.cloud.public, "port_id": ports[0]["id"],
            "description": description}})
        if status == 409:
            # A request of this round that a fault cut off may have given
            # the port its floating IP already (found after the round).
            self.counts["refused with 409"] += 1
            return
        if status != 201:
            raise AssertionError(f"floating IP for {server.id} answered {status}: {raw[:300]!r}")
        self.maybe_floating.remove(description)
        self.floating[json.loads(raw)["floatingip"]["id"]] = server.id
        self.counts["floating IPs acknowledged"] += 1

    def act(self, conn: Connection, server: Tracked, stop: threading.Event) -> None:
        if len(server.expect) > 1 and not self.resolve(conn, server):
            return
        if server.expect == {GONE}:
            return
        status, flavor = server.state()
        choices = {
            "ACTIVE": ["os-stop", "reboot", "pause", "resize", "createImage", "delete"],
            "SHUTOFF": ["os-start", "delete"],
            "PAUSED": ["unpause", "delete"],
            "VERIFY_RESIZE": ["confirmResize", "revertResize"],
            "ERROR": ["delete"],
        }[status]
        action = self.rng.choice(choices)
        end = {
            "os-stop": ("SHUTOFF", flavor), "os-start": ("ACTIVE", flavor),
            "reboot": ("ACTIVE", flavor), "pause": ("PAUSED", flavor),
            "unpause": ("ACTIVE", flavor), "createImage": ("ACTIVE", flavor),
            "resize": ("VERIFY_RESIZE", FLAVORS[OTHER_FLAVOR[FLAVOR_ID.get(flavor, "42")]]),
            "confirmResize": ("ACTIVE", flavor), "revertResize": ("ACTIVE", server.old_flavor),
            "delete": GONE,
        }[action]
        body = {
            "reboot": {"reboot": {"type": self.rng.choice(["SOFT", "HARD"])}},
            "resize": {"resize": {"flavorRef": FLAVOR_ID.get(end[1], "42")}},
        }.get(action, {action: None})
        snapshot = None
        if action == "createImage":
            snapshot = self.name("snap")
            body = {"createImage": {"name": snapshot}}
            self.maybe_snapshots.append(snapshot)
        before = set(server.expect)
        server.expect |= {end}
        if action == "resize":
            server.old_flavor = flavor
        if action == "delete":
            answer, raw = conn.request("DELETE", f"/compute/v2.1/servers/{server.id}")
            accepted = answer == 204
        else:
            answer, raw = conn.request("POST", f"/compute/v2.1/servers/{server.id}/action", body)
            accepted = answer in (202, 204)
        if answer == 409:
            # Refused (Nova's conflict): nothing happened.
            server.expect = before
            if snapshot:
                self.maybe_snapshots.remove(snapshot)
            self.counts["refused with 409"] += 1
            return
        if not accepted:
            raise AssertionError(f"{action} of {server.id} answered {answer}: {raw[:300]!r}")
        self.counts[f"{action} acknowledged"] += 1
        server.expect = {end}
        if snapshot:
            self.maybe_snapshots.remove(snapshot)
            self.snapshots[json.loads(raw)["image_id"]] = True
        self.wait(conn, server, stop)

    def resolve(self, conn: Connection, server: Tracked) -> bool:
        """Finds out which of the states a request that got no answer may
        have left the server in; `False` while it is still busy."""
        status, raw = conn.request("GET", f"/compute/v2.1/servers/{server.id}")
        if status == 404:
            state = GONE
        else:
            body = json.loads(raw)["server"]
            if body["OS-EXT-STS:task_state"] is not None or body["status"] == "BUILD":
                return False
            state = (body["status"], body["flavor"]["original_name"])
        if state not in server.expect:
            raise AssertionError(f"server {server.id} is {state}, expected one of "
                                 f"{sorted(server.expect, key=str)}")
        server.expect = {state}
        return True

    def wait(self, conn: Connection, server: Tracked, stop: threading.Event) -> None:
        """Until the server settles (or the round ends, or 5 s pass: its
        host may be down)."""
        deadline = time.monotonic() + 5
        while not stop.is_set() and time.monotonic() < deadline:
            status, raw = conn.request("GET", f"/compute/v2.1/servers/{server.id}")
            if status == 404 and server.state() == GONE:
                return
            if status == 200:
                body = json.loads(raw)["server"]
                if body["OS-EXT-STS:task_state"] is None and body["status"] != "BUILD":
                    return
            time.sleep(0.03)


class Checker:
    """What must hold after every restart."""

    def __init__(self, cloud: Cloud, clients: list[Client], counts: collections.Counter,
                 problems: list[str]):
        self.cloud, self.clients, self.counts, self.problems = cloud, clients, counts, problems
        self.admin = Connection(cloud, ADMIN)
        self.user = Connection(cloud, f"crash-user0:{PROJECT}")
        self.verified: set[str] = set()   # active images whose data was read back

    def check(self, round: int) -> None:
        self.admin = Connection(self.cloud, ADMIN)
        self.user = Connection(self.cloud, f"crash-user0:{PROJECT}")
        found = self.settle(round)
        self.servers(round, found)
        self.quota(round, found)
        self.addresses(round, found)
        self.actions(round, found)
        self.images(round)
        self.floating(round, found)

    def problem(self, round: int, text: str) -> None:
        self.problems.append(f"round {round}: {text}")

    def listed(self) -> dict[str, dict]:
        servers = self.admin.json("GET", "/compute/v2.1/servers/detail?all_tenants=1")["servers"]
        return {s["id"]: s for s in servers}

    def settle(self, round: int) -> dict[str, dict]:
        deadline = time.monotonic() + 60
        while True:
            found = self.listed()
            busy = [s for s in found.values()
                    if s["OS-EXT-STS:task_state"] is not None or s["status"] == "BUILD"]
            if not busy:
                return found
            if time.monotonic() > deadline:
                for s in busy:
                    self.problem(round, f"server {s['id']} stuck in {s['status']}/"
                                        f"{s['OS-EXT-STS:task_state']} a minute after the restart")
                return found
            time.sleep(0.1)

    def servers(self, round: int, found: dict[str, dict]) -> None:
        by_name = {s["name"]: s for s in found.values()}
        known: set[str] = set()
        for client in self.clients:
            for name in client.maybe_servers:
                if name in by_name:
                    server = by_name[name]
                    tracked = Tracked(server["id"], server["flavor"]["original_name"])
                    client.servers[server["id"]] = tracked
                    self.counts["cut-off creates that happened"] += 1
                else:
                    self.counts["cut-off creates that did not happen"] += 1
            client.maybe_servers = []
            for tracked in list(client.servers.values()):
                server = found.get(tracked.id)
                state = GONE if server is None else (server["status"], server["flavor"]["original_name"])
                self.counts["servers checked"] += 1
                if state not in tracked.expect:
                    fault = (server or {}).get("fault", {}).get("message", "")
                    self.problem(round, f"server {tracked.id} is {state}, expected one of "
                                        f"{sorted(tracked.expect, key=str)} {fault}")
                if state == GONE:
                    del client.servers[tracked.id]
                else:
                    tracked.expect = {state}
                    known.add(tracked.id)
        for id in found.keys() - known:
            self.problem(round, f"server {id} ({found[id]['name']}) was made by nobody")

    def quota(self, round: int, found: dict[str, dict]) -> None:
        usage = self.admin.json("GET", f"/compute/v2.1/os-quota-sets/{PROJECT}/detail")["quota_set"]
        expected = {
            "instances": len(found),
            "cores": sum(s["flavor"]["vcpus"] for s in found.values()),
            "ram": sum(s["flavor"]["ram"] for s in found.values()),
        }
        for resource, value in expected.items():
            self.counts["quota figures checked"] += 1
            if usage[resource]["in_use"] != value:
                self.problem(round, f"quota {resource} in use is {usage[resource]['in_use']}, "
                                    f"the live servers hold {value}")

    def addresses(self, round: int, found: dict[str, dict]) -> None:
        holders = collections.defaultdict(set)
        for server in found.values():
            for entries in server["addresses"].values():
                for entry in entries:
                    holders[entry["addr"]].add(server["id"])
                    self.counts["addresses checked"] += 1
        for addr, ids in holders.items():
            if len(ids) > 1:
                self.problem(round, f"address {addr} is held by {sorted(ids)}")

    def floating(self, round: int, found: dict[str, dict]) -> None:
        n = "/network/v2.0"
        fips = self.admin.json("GET", f"{n}/floatingips")["floatingips"]
        ports = {p["id"]: p for p in self.admin.json("GET", f"{n}/ports")["ports"]}
        by_id = {f["id"]: f for f in fips}
        by_description = {f["description"]: f for f in fips}
        for f in fips:
            self.counts["floating IPs checked"] += 1
            port = ports.get(f["port_id"]) if f["port_id"] else None
            if f["port_id"] and port is None:
                self.problem(round, f"floating IP {f['id']} points at port {f['port_id']}, which is gone")
            if port and port["device_id"] not in found:
                self.problem(round, f"floating IP {f['id']} is associated with {port['device_id']}, "
                                    f"which is not a live server")
        addresses = collections.Counter(f["floating_ip_address"] for f in fips)
        for address, times in addresses.items():
            if times > 1:
                self.problem(round, f"floating address {address} is held {times} times")
        for client in self.clients:
            for description in client.maybe_floating:
                if description in by_description:
                    server = next((s for s in client.servers.values()
                                   if s.id == ports.get(by_description[description]["port_id"] or "", {})
                                   .get("device_id")), None)
                    if server:
                        client.floating[by_description[description]["id"]] = server.id
            client.maybe_floating = []
            for fip_id, server_id in list(client.floating.items()):
                f = by_id.get(fip_id)
                if f is None:
                    self.problem(round, f"acknowledged floating IP {fip_id} is gone")
                    continue
                server = client.servers.get(server_id)
                if server is None or len(server.expect) > 1:
                    continue  # not settled: checked once it is
                device = ports.get(f["port_id"] or "", {}).get("device_id")
                if server.expect == {GONE}:
                    if f["port_id"]:
                        self.problem(round, f"floating IP {fip_id} is still associated after its "
                                            f"server {server_id} was deleted")
                    del client.floating[fip_id]
                elif device != server_id:
                    self.problem(round, f"floating IP {fip_id} of live server {server_id} is "
                                        f"associated with {f['port_id']}")
        mine = [f for f in fips if f["project_id"] == PROJECT]
        usage = self.admin.json("GET", f"{n}/quotas/{PROJECT}/details")["quota"]
        expected = {"floatingip": len(mine),
                    "port": sum(1 for p in ports.values() if p["project_id"] == PROJECT)}
        for resource, value in expected.items():
            self.counts["quota figures checked"] += 1
            if usage[resource]["used"] != value:
                self.problem(round, f"Neutron's {resource} in use is {usage[resource]['used']}, "
                                    f"{value} exist")

    def actions(self, round: int, found: dict[str, dict]) -> None:
        for id in found:
            actions = self.user.json("GET", f"/compute/v2.1/servers/{id}/os-instance-actions")
            newest = actions["instanceActions"][0]
            detail = self.user.json(
                "GET", f"/compute/v2.1/servers/{id}/os-instance-actions/{newest['request_id']}")
            self.counts["instance actions checked"] += 1
            unfinished = [e["event"] for e in detail["instanceAction"]["events"] if not e["finish_time"]]
            if unfinished:
                self.problem(round, f"server {id}'s {newest['action']} never finished {unfinished}")

    def images(self, round: int) -> None:
        images = self.user.json("GET", "/image/v2/images?limit=1000")["images"]
        by_id = {i["id"]: i for i in images}
        by_name = collections.defaultdict(list)
        for image in images:
            by_name[image["name"]].append(image)
        for image in images:
            self.counts["images checked"] += 1
            if image["status"] not in ("queued", "active"):
                self.problem(round, f"image {image['id']} ({image['name']}) is {image['status']}")
            if image["status"] == "active" and image["id"] not in self.verified:
                self.verified.add(image["id"])
                status, data = self.user.request("GET", f"/image/v2/images/{image['id']}/file")
                if status != 200 or len(data) != image["size"] or \
                        hashlib.md5(data).hexdigest() != image["checksum"]:
                    self.problem(round, f"image {image['id']} ({image['name']}) claims {image['size']}"
                                        f" bytes, md5 {image['checksum']}; its data answers {status}"
                                        f" with {len(data)} bytes")
        for client in self.clients:
            for name in client.maybe_images:
                for image in by_name.get(name, []):
                    client.uploads[image["id"]] = ("", False)
            client.maybe_images = []
            for id, (digest, acknowledged) in list(client.uploads.items()):
                image = by_id.get(id)
                if image is None:
                    self.problem(round, f"uploaded image {id} is gone")
                    continue
                if acknowledged and image["status"] != "active":
                    self.problem(round, f"acknowledged upload {id} is {image['status']}")
                if image["status"] == "active" and digest and image["checksum"] != digest:
                    self.problem(round, f"image {id} holds other bytes than were uploaded")
                if image["status"] == "active" or not acknowledged:
                    del client.uploads[id]  # settled: nothing more to expect
                self.counts["uploads checked"] += 1
            for name in client.maybe_snapshots:
                for image in by_name.get(name, []):
                    client.snapshots[image["id"]] = False
            client.maybe_snapshots = []
            for id, acknowledged in list(client.snapshots.items()):
                image = by_id.get(id)
                self.counts["snapshots checked"] += 1
                if acknowledged and (image is None or image["status"] != "active"):
                    self.problem(round, f"acknowledged snapshot {id} is "
                                        f"{'gone' if image is None else image['status']}")
                del client.snapshots[id]


def keep_log(log: str, args, problems: list[str]) -> None:
    """Keeps the servers' log of a run that found problems (in
    target/reliability/) and prints its lines about the ids the problems
    name: a CI run cannot be repeated, its log can be read."""
    out = Path(__file__).resolve().parents[2] / "target" / "reliability"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"crash-{args.fault}-{args.seed}.log"
    path.write_text(log)
    ids = set(re.findall(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", " ".join(problems)))
    lines = [line for line in log.splitlines()
             if any(i in line for i in ids) or " WARN " in line or " ERROR " in line]
    print(f"== the servers' log: {path}; its warnings and lines about {sorted(ids)}, the last 80 of {len(lines)}:")
    for line in lines[-80:]:
        print("   ", line[:400])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", default="target/debug/oxstack")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--database-url")
    parser.add_argument("--keep", metavar="DIR", help="keep the data directory and logs in DIR")
    parser.add_argument("--fault", choices=FAULTS, default="kill-api")
    args = parser.parse_args()
    if args.fault == "kill-compute" and not args.database_url:
        parser.error("--fault kill-compute needs --database-url (a cloud of several processes)")
    rng = random.Random(args.seed)
    engine = "PostgreSQL" if args.database_url or args.fault.endswith("-db") else "SQLite"
    print(f"crash: {engine}, {args.fault} {args.rounds} times, {args.clients} clients, "
          f"seed {args.seed}", flush=True)

    problems: list[str] = []
    counts: collections.Counter = collections.Counter()
    with tempfile.TemporaryDirectory(prefix="oxstack-crash-") as tmp:
        tmp = args.keep or tmp
        cloud = Cloud(args.bin, Path(tmp), args.database_url, args.fault)
        try:
            admin = Connection(cloud, ADMIN)
            admin.json("PUT", f"/compute/v2.1/os-quota-sets/{PROJECT}",
                       {"quota_set": {"instances": -1, "cores": -1, "ram": -1}})
            image = admin.json("GET", "/image/v2/images?name=cirros")["images"][0]["id"]
            cloud.public = admin.json("GET", "/network/v2.0/networks?name=public")["networks"][0]["id"]
            clients = [Client(n, cloud, image, random.Random(rng.random()), counts, problems)
                       for n in range(args.clients)]
            checker = Checker(cloud, clients, counts, problems)
            for round in range(1, args.rounds + 1):
                stop = threading.Event()
                threads = [threading.Thread(target=c.run, args=(stop,)) for c in clients]
                for t in threads:
                    t.start()
                time.sleep(rng.uniform(0.3, 2.5))
                cloud.fault(rng, counts)
                stop.set()
                for t in threads:
                    t.join()
                cloud.recover()
                checker.check(round)
                print(f"  round {round}: {sum(len(c.servers) for c in clients)} servers, "
                      f"{len(problems)} problems so far", flush=True)
        finally:
            log = cloud.logs()
        if panic := panic_in(log):
            problems.append(f"a panic:\n{panic}")
        if problems:
            keep_log(log, args, problems)

    acknowledged = sum(v for k, v in counts.items() if k.endswith("acknowledged"))
    details = ", ".join(f"{v:,} {k}" for k, v in sorted(counts.items()))
    return report(f"crash ({engine}, {args.fault}, seed {args.seed}): {args.rounds} faults, "
                  f"{acknowledged:,} operations acknowledged; {details}", problems)


if __name__ == "__main__":
    sys.exit(main())
