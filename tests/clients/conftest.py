"""Session fixture: one real oxstack server for the whole client test run.

Starts `oxstack serve --listen 127.0.0.1:0 --data-dir <tmp>`, reads the port
from its single stdout line, waits for /_oxstack/health, writes clouds.yaml
from `oxstack clouds-yaml` and points OS_CLIENT_CONFIG_FILE at it (for the CLI
subprocesses and for openstacksdk in this process). On teardown it sends
SIGTERM and requires a clean exit (code 0) within 10 s.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from oxhelpers import compute, http, password_token, wait_gone  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
LISTEN_LINE = re.compile(r"^oxstack listening on http://127\.0\.0\.1:(\d+)$")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
START_TIMEOUT = 60
SHUTDOWN_TIMEOUT = 10

# The user's own OpenStack settings must not leak into the clients under test.
for _name in list(os.environ):
    if _name.startswith("OS_"):
        del os.environ[_name]


def oxstack_bin() -> str:
    path = os.environ.get("OXSTACK_BIN") or str(REPO / "target" / "debug" / "oxstack")
    if not os.access(path, os.X_OK):
        pytest.exit(f"oxstack binary not found or not executable: {path} (set OXSTACK_BIN)", returncode=2)
    return path


@dataclass
class Server:
    binary: str
    proc: subprocess.Popen
    port: int
    data_dir: Path
    log_path: Path
    clouds_yaml: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def log(self, since: int = 0) -> str:
        with open(self.log_path, "rb") as f:
            f.seek(since)
            return ANSI.sub("", f.read().decode(errors="replace"))

    def log_size(self) -> int:
        return self.log_path.stat().st_size


def _read_first_line(proc: subprocess.Popen, timeout: float) -> str | None:
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: lines.put(proc.stdout.readline()), daemon=True).start()
    try:
        return lines.get(timeout=timeout)
    except queue.Empty:
        return None


@pytest.fixture(scope="session", autouse=True)
def oxstack(tmp_path_factory) -> Server:
    binary = oxstack_bin()
    root = tmp_path_factory.mktemp("oxstack")
    data_dir = root / "data"
    log_path = root / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OXSTACK_")}
    env["NO_COLOR"] = "1"
    # Fault injection on, for the control-plane tests (no rule is in force
    # unless a test puts one).
    config = root / "oxstack.toml"
    config.write_text("[control]\nfaults = true\n")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [binary, "serve", "--listen", "127.0.0.1:0", "--data-dir", str(data_dir),
             "--config", str(config)],
            stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, env=env, text=True,
        )

    def fail(why: str):
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log_text = ANSI.sub("", log_path.read_text(errors="replace"))
        pytest.fail(f"{why}\n--- oxstack stderr ---\n{log_text[-5000:]}", pytrace=False)

    line = _read_first_line(proc, START_TIMEOUT)
    if not line:
        fail(f"oxstack printed no listening line within {START_TIMEOUT}s (exit code {proc.poll()})")
    m = LISTEN_LINE.match(line.rstrip("\n"))
    if not m:
        fail(f"unexpected first stdout line from oxstack serve: {line!r}")
    port = int(m.group(1))

    deadline = time.monotonic() + START_TIMEOUT
    last = None
    while True:
        try:
            last = http("GET", f"http://127.0.0.1:{port}/_oxstack/health", timeout=2)
            if last.status == 200 and last.json().get("status") == "ok":
                break
        except OSError as e:  # connection refused while starting
            last = e
        if proc.poll() is not None or time.monotonic() > deadline:
            fail(f"oxstack never became healthy on port {port}; last answer: {last}")
        time.sleep(0.1)

    clouds = subprocess.run([binary, "clouds-yaml", "--listen", f"127.0.0.1:{port}"],
                            capture_output=True, text=True, env=env, timeout=30)
    if clouds.returncode != 0:
        fail(f"oxstack clouds-yaml failed ({clouds.returncode}): {clouds.stderr}")
    config_dir = root / "config"
    config_dir.mkdir()
    clouds_yaml = config_dir / "clouds.yaml"
    clouds_yaml.write_text(clouds.stdout)
    os.environ["OS_CLIENT_CONFIG_FILE"] = str(clouds_yaml)

    server = Server(binary, proc, port, data_dir, log_path, clouds_yaml)
    yield server

    # Teardown: a graceful stop is part of what is tested.
    del os.environ["OS_CLIENT_CONFIG_FILE"]
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(timeout=SHUTDOWN_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail(f"oxstack did not exit within {SHUTDOWN_TIMEOUT}s of SIGTERM\n"
                    f"--- oxstack stderr (tail) ---\n{server.log()[-3000:]}", pytrace=False)
    extra_stdout = proc.stdout.read()
    proc.stdout.close()
    log_text = server.log()
    assert code == 0, f"oxstack exited with {code} after SIGTERM\n--- stderr (tail) ---\n{log_text[-3000:]}"
    assert extra_stdout == "", f"oxstack printed more than its listening line on stdout: {extra_stdout!r}"
    assert "panicked" not in log_text, f"oxstack panicked during the run:\n{log_text[-5000:]}"


@pytest.fixture(autouse=True)
def _server_log_on_failure(request, oxstack):
    """Remember where the server log stood when the test began."""
    request.node._oxstack_log_start = oxstack.log_size()
    request.node._oxstack_server = oxstack
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    server = getattr(item, "_oxstack_server", None)
    if report.when == "call" and report.failed and server is not None:
        text = server.log(getattr(item, "_oxstack_log_start", 0))
        if len(text) > 8000:
            text = "...\n" + text[-8000:]
        report.sections.append(("oxstack server log during this test", text))


# --- shared per-module fixtures ----------------------------------------------------

@pytest.fixture(scope="module")
def admin_token(oxstack) -> str:
    return password_token(oxstack.base_url, "admin", "admin", "admin")


@pytest.fixture(scope="module")
def demo_token(oxstack) -> str:
    return password_token(oxstack.base_url, "demo", "demo", "demo")


@pytest.fixture(scope="module")
def conn():
    import openstack

    c = openstack.connect(cloud="oxstack")
    yield c
    c.close()


@pytest.fixture(scope="module")
def demo_conn():
    import openstack

    c = openstack.connect(cloud="oxstack-demo")
    yield c
    c.close()


@pytest.fixture(scope="module")
def cirros_id(oxstack, admin_token) -> str:
    """The id of the `cirros` image every oxstack starts with."""
    resp = http("GET", oxstack.url("/image/v2/images?name=cirros"), headers={"X-Auth-Token": admin_token})
    assert resp.status == 200 and len(resp.json()["images"]) == 1, resp
    return resp.json()["images"][0]["id"]


@pytest.fixture(scope="module")
def cirros(conn):
    """The `cirros` image, as openstacksdk sees it."""
    return conn.image.find_image("cirros", ignore_missing=False)


@pytest.fixture(scope="module")
def tiny(conn):
    """The m1.tiny flavor, as openstacksdk sees it."""
    return conn.compute.find_flavor("m1.tiny", ignore_missing=False)


@pytest.fixture
def cleanup(oxstack, admin_token):
    """Server ids to delete (as admin, any project) and wait for after the test."""
    ids: list[str] = []
    yield ids
    for sid in ids:
        compute(oxstack, admin_token, "DELETE", f"/servers/{sid}")
    for sid in ids:
        wait_gone(oxstack, admin_token, sid)


@pytest.fixture
def image_cleanup(oxstack, admin_token):
    """Image ids to delete (as admin) after the test."""
    ids: list[str] = []
    yield ids
    for image_id in ids:
        http("DELETE", oxstack.url(f"/image/v2/images/{image_id}"), headers={"X-Auth-Token": admin_token})
