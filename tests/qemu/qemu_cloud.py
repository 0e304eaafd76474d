"""A cloud of oxstack processes with the qemu driver, for the tests here:
started, restarted or killed on their data directory, driven through the
`openstack` CLI, with the test guest's images uploaded."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
GUEST = Path(os.environ.get("OXSTACK_TEST_GUEST", REPO / "target" / "test-guest"))
# Nova's power state codes, as `server show -f json` gives them.
RUNNING, PAUSED, SHUTDOWN = 1, 3, 4
BOOT_TIMEOUT = 180  # a guest boots in ~10 s under TCG; CI machines are busy


class Cloud:
    """One oxstack process with the qemu driver, restartable on its data."""

    def __init__(self, root: Path, host: str = "qemu-a", database_url: str | None = None,
                 extra_config: str = ""):
        self.root = root
        self.extra_config = extra_config
        self.host = host
        self.database_url = database_url
        self.data = root / "data"
        self.log_path = root / "server.log"
        self.clouds = root / "clouds.yaml"
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None
        # Whose servers the helpers below look at.
        self.user = "oxstack-demo"

    def start(self) -> None:
        binary = os.environ.get("OXSTACK_BIN", str(REPO / "target" / "debug" / "oxstack"))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OXSTACK_", "OS_"))}
        env["NO_COLOR"] = "1"
        # noVNC's pages: a stand-in page, to see them served.
        novnc = self.root / "novnc"
        novnc.mkdir(exist_ok=True)
        (novnc / "vnc_lite.html").write_text("<title>noVNC stand-in</title>")
        config = self.root / "oxstack.toml"
        config.write_text(f'[vnc]\nnovnc_dir = "{novnc}"\n' + self.extra_config)
        args = [binary, "serve", "--driver", "qemu", "--data-dir", str(self.data), "--host", self.host,
                "--listen", f"127.0.0.1:{self.port or 0}", "--config", str(config)]
        if self.database_url:
            args += ["--database-url", self.database_url]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log,
                                         stdin=subprocess.DEVNULL, env=env, text=True)
        line = self.proc.stdout.readline()
        m = re.search(r":(\d+)$", line.strip())
        assert m, f"no listening line: {line!r}\n{self.log()[-3000:]}"
        self.port = int(m.group(1))
        clouds = subprocess.run([binary, "clouds-yaml", "--listen", f"127.0.0.1:{self.port}"],
                                capture_output=True, text=True, env=env, check=True)
        self.clouds.write_text(clouds.stdout)

    def stop(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(timeout=60) == 0, self.log()[-3000:]

    def kill(self) -> None:
        """SIGKILL: the process ends with no chance to tidy up."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=30)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def openstack(self, *args: str, cloud: str | None = None):
        env = dict(os.environ, OS_CLIENT_CONFIG_FILE=str(self.clouds))
        argv = ["openstack", "--os-cloud", cloud or self.user, *args]
        wants_json = args[:2] != ("console", "log") and any(
            verb in args for verb in ("show", "list", "create"))
        if wants_json:
            argv += ["-f", "json"]
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, f"{' '.join(argv)}\n{proc.stdout}\n{proc.stderr}"
        return json.loads(proc.stdout) if wants_json and proc.stdout.strip() else proc.stdout

    def openstack_fails(self, *args: str, cloud: str | None = None) -> str:
        """Runs a command that must fail; its error output."""
        env = dict(os.environ, OS_CLIENT_CONFIG_FILE=str(self.clouds))
        proc = subprocess.run(["openstack", "--os-cloud", cloud or self.user, *args], env=env,
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode != 0, f"{args} succeeded: {proc.stdout}"
        return proc.stderr

    def vm_dir(self, server_id: str, host: str | None = None) -> Path:
        """A VM's folder: each host has its own."""
        return self.data / "qemu" / (host or self.host) / "instances" / server_id

    def qemu_pid(self, server_id: str, host: str | None = None) -> int | None:
        try:
            pid = int((self.vm_dir(server_id, host) / "qemu.pid").read_text())
        except (FileNotFoundError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        return pid

    def qemu_args(self, server_id: str) -> list[str]:
        pid = self.qemu_pid(server_id)
        assert pid, f"no QEMU runs {server_id}"
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")

    def status(self, server_id: str) -> dict:
        return self.openstack("server", "show", server_id)

    def wait_status(self, server_id: str, status: str, timeout: float = BOOT_TIMEOUT) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            server = self.status(server_id)
            if server["status"] == status and not server.get("OS-EXT-STS:task_state"):
                return server
            assert server["status"] != "ERROR" or status == "ERROR", server.get("fault")
            assert time.monotonic() < deadline, f"{server_id} is {server['status']}, not {status}"
            time.sleep(0.5)

    def console(self, server_id: str) -> str:
        return self.openstack("console", "log", "show", server_id)

    def wait_console(self, server_id: str, pattern: str, count: int = 1,
                     timeout: float = BOOT_TIMEOUT) -> str:
        """Waits until the console holds `count` lines matching `pattern`."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.console(server_id)
            if len(re.findall(pattern, text, re.M)) >= count:
                return text
            assert time.monotonic() < deadline, f"console of {server_id} lacks {pattern!r}:\n{text}"
            time.sleep(1)


def qemus_of(server_id: str) -> list[int]:
    """Every QEMU process running the guest, found by its command line."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"-uuid" in args and server_id.encode() in args:
            found.append(int(entry.name))
    return found


def boots(console: str) -> int:
    """The last boot count the guest reported."""
    counts = re.findall(r"oxstack-guest: disk boots=(\d+)", console)
    assert counts, console
    return int(counts[-1])


def upload_test_images(cloud: Cloud) -> None:
    """The test guest's kernel, ramdisk and disk as public images; the disk
    image boots with the kernel (`kernel_id`, `ramdisk_id`)."""
    subprocess.run([str(HERE / "make-image.sh"), str(GUEST)], check=True)
    kernel = cloud.openstack("image", "create", "--public", "--disk-format", "aki",
                             "--container-format", "aki", "--file", str(GUEST / "vmlinuz"),
                             "test-kernel", cloud="oxstack")
    ramdisk = cloud.openstack("image", "create", "--public", "--disk-format", "ari",
                              "--container-format", "ari", "--file", str(GUEST / "initrd.img"),
                              "test-ramdisk", cloud="oxstack")
    cloud.openstack("image", "create", "--public", "--disk-format", "raw",
                    "--container-format", "bare", "--file", str(GUEST / "disk.raw"),
                    "--property", f"kernel_id={kernel['id']}",
                    "--property", f"ramdisk_id={ramdisk['id']}",
                    "--property", "os_command_line=console=ttyS0 quiet panic=-1",
                    "test-guest", cloud="oxstack")
