"""Live migration of a real guest between two compute hosts of one cloud:
`oxstack serve` (API and host qemu-a) and `oxstack compute` (host qemu-b),
two processes sharing a PostgreSQL database and a data directory, as a
cloud of several nodes runs. The guest's disks are copied by QEMU's own
block mirror and its memory by QEMU's migration over TCP; what the guest
prints on its console after the move shows it went on running rather
than booting again.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from qemu_cloud import (BOOT_TIMEOUT, GUEST, RUNNING, SHUTDOWN, Cloud, boots, qemus_of,
                        upload_test_images)

POSTGRES = os.environ.get("OXSTACK_TEST_POSTGRES_URL")


class ComputeHost:
    """`oxstack compute`: a second host of the cloud, without an API."""

    def __init__(self, cloud: Cloud, host: str):
        self.cloud = cloud
        self.host = host
        self.log_path = cloud.root / f"{host}.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        binary = os.environ.get("OXSTACK_BIN", "target/debug/oxstack")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OXSTACK_", "OS_"))}
        env["NO_COLOR"] = "1"
        args = [binary, "compute", "--driver", "qemu", "--host", self.host,
                "--data-dir", str(self.cloud.data), "--database-url", self.cloud.database_url]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log,
                                         stdin=subprocess.DEVNULL, env=env, text=True)
        line = self.proc.stdout.readline()
        assert "running" in line, f"{line!r}\n{self.log_path.read_text()[-3000:]}"

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(timeout=60) == 0, self.log_path.read_text()[-3000:]


def psql(url: str, sql: str) -> None:
    subprocess.run(["psql", url, "-qAtX", "-c", sql], check=True, capture_output=True)


@pytest.fixture(scope="module")
def two_hosts():
    if not POSTGRES:
        if os.environ.get("OXSTACK_REQUIRE_POSTGRES") == "1":
            pytest.fail("OXSTACK_REQUIRE_POSTGRES=1 but OXSTACK_TEST_POSTGRES_URL is not set")
        pytest.skip("a cloud of two hosts needs PostgreSQL (OXSTACK_TEST_POSTGRES_URL)")
    database = f"oxstack_test_qemu_{uuid.uuid4().hex[:12]}"
    psql(POSTGRES, f"CREATE DATABASE {database}")
    url = re.sub(r"/[^/]*$", f"/{database}", POSTGRES)
    cloud = Cloud(Path(tempfile.mkdtemp(prefix="oxm-", dir="/tmp")), host="qemu-a", database_url=url)
    # Placing a server on a host is for admins.
    cloud.user = "oxstack"
    cloud.start()
    second = ComputeHost(cloud, "qemu-b")
    second.start()
    upload_test_images(cloud)
    yield cloud, second
    try:
        for server in cloud.openstack("server", "list", "--all-projects"):
            cloud.openstack("server", "delete", "--wait", server["ID"])
        for host in ("qemu-a", "qemu-b"):
            leftovers = list((cloud.data / "qemu" / host / "instances").iterdir())
            assert leftovers == [], f"VM folders left behind on {host}: {leftovers}"
    finally:
        second.stop()
        cloud.stop()
        psql(POSTGRES, f"DROP DATABASE IF EXISTS {database}")
    shutil.rmtree(cloud.root, ignore_errors=True)


def live_migrate(cloud: Cloud, server_id: str, host: str) -> dict:
    cloud.openstack("--os-compute-api-version", "2.30", "server", "migrate", "--live-migration",
                    "--host", host, server_id)
    return settled(cloud, server_id)


def settled(cloud: Cloud, server_id: str) -> dict:
    """The server once no task runs on it."""
    deadline = time.monotonic() + BOOT_TIMEOUT
    while True:
        server = cloud.openstack("server", "show", server_id)
        if not server.get("OS-EXT-STS:task_state"):
            return server
        assert time.monotonic() < deadline, server
        time.sleep(0.5)


def test_a_running_guest_moves_with_its_memory_and_disk(two_hosts):
    cloud, _ = two_hosts
    created = cloud.openstack("server", "create", "--image", "test-guest", "--flavor", "m1.tiny",
                              "--nic", "none", "--availability-zone", "nova:qemu-a",
                              "--wait", "qemu-mover")
    server_id = created["id"]
    assert created["OS-EXT-SRV-ATTR:host"] == "qemu-a"
    console = cloud.wait_console(server_id, "oxstack-guest: ready")
    first_boots = boots(console)
    source_pid = cloud.qemu_pid(server_id, "qemu-a")
    assert source_pid

    moved = live_migrate(cloud, server_id, "qemu-b")
    assert moved["status"] == "ACTIVE", moved.get("fault")
    assert moved["OS-EXT-SRV-ATTR:host"] == "qemu-b"
    assert moved["OS-EXT-STS:power_state"] == RUNNING
    migrations = cloud.openstack("--os-compute-api-version", "2.23", "server", "migration", "list",
                                 "--server", server_id)
    assert [(m["Status"], m["Source Compute"], m["Dest Compute"]) for m in migrations] == [
        ("completed", "qemu-a", "qemu-b")], migrations

    # One QEMU runs the guest now, the destination's; the source's is gone
    # with its folder.
    dest_pid = cloud.qemu_pid(server_id, "qemu-b")
    # (A QEMU that ended may linger as a zombie until reaped, so it is
    # known by its command line.)
    assert qemus_of(server_id) == [dest_pid] and dest_pid != source_pid, (qemus_of(server_id), dest_pid)
    assert not cloud.vm_dir(server_id, "qemu-a").exists()
    assert not (cloud.vm_dir(server_id, "qemu-b") / "incoming.json").exists()

    # The guest did not boot there: its console there holds no boot, yet
    # the ACPI daemon it started before the move powers it off cleanly.
    console = cloud.console(server_id)
    assert "on host qemu-b" in console, console
    assert "oxstack-guest: kernel" not in console, console
    cloud.openstack("server", "stop", server_id)
    stopped = cloud.wait_status(server_id, "SHUTOFF")
    assert stopped["OS-EXT-STS:power_state"] == SHUTDOWN
    console = cloud.console(server_id)
    assert "reboot: Power down" in console, console
    assert "oxstack-guest: kernel" not in console, console

    # Its disk came along: the next boot counts on from the boots before.
    cloud.openstack("server", "start", server_id)
    cloud.wait_status(server_id, "ACTIVE")
    console = cloud.wait_console(server_id, r"oxstack-guest: disk boots=\d+")
    assert boots(console) == first_boots + 1, console

    # And back again, paused: it stays paused on arrival.
    cloud.openstack("server", "pause", server_id)
    cloud.wait_status(server_id, "PAUSED")
    back = live_migrate(cloud, server_id, "qemu-a")
    assert (back["status"], back["OS-EXT-SRV-ATTR:host"]) == ("PAUSED", "qemu-a"), back
    assert qemus_of(server_id) == [cloud.qemu_pid(server_id, "qemu-a")]
    cloud.openstack("server", "unpause", server_id)
    cloud.wait_status(server_id, "ACTIVE")
    cloud.openstack("server", "delete", "--wait", server_id)
    assert qemus_of(server_id) == []


def test_a_move_the_destination_cannot_prepare_leaves_the_guest_running(two_hosts):
    """The destination cannot make the guest's disks (its image is gone
    from the cloud by then): the migration fails with the reason, and the
    guest runs on at the source, untouched."""
    cloud, _ = two_hosts
    kernel, ramdisk = (cloud.openstack("image", "show", name)["id"] for name in ("test-kernel", "test-ramdisk"))
    image = cloud.openstack("image", "create", "--public", "--disk-format", "raw",
                            "--container-format", "bare", "--file", str(GUEST / "disk.raw"),
                            "--property", f"kernel_id={kernel}", "--property", f"ramdisk_id={ramdisk}",
                            "--property", "os_command_line=console=ttyS0 quiet panic=-1",
                            "short-lived")
    created = cloud.openstack("server", "create", "--image", image["id"], "--flavor", "m1.tiny",
                              "--nic", "none", "--availability-zone", "nova:qemu-a",
                              "--wait", "qemu-stayer")
    server_id = created["id"]
    cloud.wait_console(server_id, "oxstack-guest: ready")
    pid = cloud.qemu_pid(server_id, "qemu-a")
    cloud.openstack("image", "delete", image["id"])

    stayed = live_migrate(cloud, server_id, "qemu-b")
    assert (stayed["status"], stayed["OS-EXT-SRV-ATTR:host"]) == ("ACTIVE", "qemu-a"), stayed
    assert stayed["OS-EXT-STS:power_state"] == RUNNING
    migrations = cloud.openstack("--os-compute-api-version", "2.23", "server", "migration", "list",
                                 "--server", server_id)
    assert [m["Status"] for m in migrations] == ["error"], migrations
    assert qemus_of(server_id) == [pid]
    assert not cloud.vm_dir(server_id, "qemu-b").exists()
    cloud.openstack("server", "pause", server_id)
    cloud.wait_status(server_id, "PAUSED")
    cloud.openstack("server", "delete", "--wait", server_id)


def test_a_move_whose_destination_dies_leaves_the_guest_running(two_hosts):
    """The destination's QEMU is killed while the guest is being moved:
    the source takes the guest back (the copy cancelled, the guest
    running as before) and the migration ends in error."""
    cloud, _ = two_hosts
    created = cloud.openstack("server", "create", "--image", "test-guest", "--flavor", "m1.tiny",
                              "--nic", "none", "--availability-zone", "nova:qemu-a",
                              "--wait", "qemu-survivor")
    server_id = created["id"]
    first_boots = boots(cloud.wait_console(server_id, "oxstack-guest: ready"))
    source_pid = cloud.qemu_pid(server_id, "qemu-a")
    cloud.openstack("--os-compute-api-version", "2.30", "server", "migrate", "--live-migration",
                    "--host", "qemu-b", server_id)
    deadline = time.monotonic() + BOOT_TIMEOUT
    while not (dest_pid := cloud.qemu_pid(server_id, "qemu-b")):
        assert time.monotonic() < deadline, "no QEMU at the destination"
        time.sleep(0.05)
    os.kill(dest_pid, signal.SIGKILL)

    stayed = settled(cloud, server_id)
    assert (stayed["status"], stayed["OS-EXT-SRV-ATTR:host"]) == ("ACTIVE", "qemu-a"), stayed
    assert stayed["OS-EXT-STS:power_state"] == RUNNING
    migrations = cloud.openstack("--os-compute-api-version", "2.23", "server", "migration", "list",
                                 "--server", server_id)
    assert [m["Status"] for m in migrations] == ["error"], migrations
    assert qemus_of(server_id) == [source_pid]
    deadline = time.monotonic() + 30
    while cloud.vm_dir(server_id, "qemu-b").exists():
        assert time.monotonic() < deadline, "the destination's folder stays"
        time.sleep(0.5)
    # The guest runs on in the same boot: its ACPI daemon answers a soft
    # reboot, and the disk counts one boot more.
    cloud.openstack("server", "reboot", "--soft", "--wait", server_id)
    console = cloud.wait_console(server_id, r"oxstack-guest: disk boots=\d+", count=2)
    assert boots(console) == first_boots + 1, console
    cloud.openstack("server", "delete", "--wait", server_id)
