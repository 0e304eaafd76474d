"""Guests on a Linux bridge (`[qemu] bridge`): each NIC is a tap on the
bridge, and the guest sets its port's address from its config drive's
network_data.json, so the host reaches it at the address the API shows.
Needs the right to make a bridge (CAP_NET_ADMIN, as root in CI)."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

from qemu_cloud import Cloud, qemus_of, upload_test_images

# TEST-NET-1 (RFC 5737): never a route of the machine running the tests.
SUBNET, HOST_ADDRESS = "192.0.2.0/24", "192.0.2.1"


def ip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def bridged():
    bridge = f"oxbr{uuid.uuid4().hex[:6]}"
    made = ip("link", "add", bridge, "type", "bridge")
    if made.returncode != 0:
        pytest.skip(f"cannot make a bridge here (CAP_NET_ADMIN): {made.stderr.strip()}")
    try:
        assert ip("addr", "add", f"{HOST_ADDRESS}/24", "dev", bridge).returncode == 0
        assert ip("link", "set", bridge, "up").returncode == 0
        cloud = Cloud(Path(tempfile.mkdtemp(prefix="oxb-", dir="/tmp")),
                      extra_config=f'[qemu]\nbridge = "{bridge}"\n')
        cloud.start()
        try:
            upload_test_images(cloud)
            cloud.openstack("network", "create", "bridged", "--share", cloud="oxstack")
            cloud.openstack("subnet", "create", "bridged-subnet", "--network", "bridged",
                            "--subnet-range", SUBNET, "--gateway", HOST_ADDRESS, cloud="oxstack")
            yield cloud, bridge
            for server in cloud.openstack("server", "list", "--all-projects", cloud="oxstack"):
                cloud.openstack("server", "delete", "--wait", server["ID"], cloud="oxstack")
        finally:
            cloud.stop()
        shutil.rmtree(cloud.root, ignore_errors=True)
    finally:
        ip("link", "del", bridge)


def test_a_guest_on_the_bridge_answers_at_its_ports_address(bridged):
    cloud, bridge = bridged
    server = cloud.openstack("server", "create", "--image", "test-guest", "--flavor", "m1.tiny",
                             "--network", "bridged", "--wait", "qemu-bridged")
    addresses = server["addresses"]  # a mapping, or "bridged=ADDRESS" from older clients
    address = (addresses["bridged"][0] if isinstance(addresses, dict)
               else re.search(r"bridged=([\d.]+)", addresses).group(1))
    console = cloud.wait_console(server["id"], "oxstack-guest: ready")
    assert f"oxstack-guest: network eth0 {address}/255.255.255.0" in console, console
    assert f"NICs are on bridge {bridge}" in console, console
    assert "SSH port 22 is forwarded" not in console, console

    # The guest's tap is on the bridge, and the guest answers there.
    taps = [p.name for p in Path(f"/sys/class/net/{bridge}/brif").iterdir()]
    assert len(taps) == 1 and taps[0].startswith("ox" + server["id"][:8]), taps
    ping = subprocess.run(["ping", "-c", "3", "-W", "5", address], capture_output=True, text=True)
    assert ping.returncode == 0, ping.stdout + ping.stderr

    # A hard reboot is a new QEMU with a new tap, on the bridge again.
    cloud.openstack("server", "reboot", "--hard", "--wait", server["id"])
    cloud.wait_console(server["id"], "oxstack-guest: ready", count=2)
    taps_now = [p.name for p in Path(f"/sys/class/net/{bridge}/brif").iterdir()]
    assert len(taps_now) == 1 and taps_now != taps, (taps, taps_now)

    cloud.openstack("server", "delete", "--wait", server["id"])
    assert qemus_of(server["id"]) == []
    assert list(Path(f"/sys/class/net/{bridge}/brif").iterdir()) == []
