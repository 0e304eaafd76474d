"""Helpers shared by the client tests: run the real `openstack` CLI, speak raw
HTTP to the server for independent checks.

Every CLI run carries `--debug`, so when a command fails the AssertionError
already holds the whole HTTP exchange (requests, statuses, response bodies)
and the failure can be diagnosed without running it again.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

VENV_BIN = Path(sys.executable).parent
OPENSTACK = str(VENV_BIN / "openstack") if (VENV_BIN / "openstack").exists() else "openstack"

# Verbs whose output is a table or a record: those get `-f json`.
_JSON_VERBS = {"list", "show", "create", "issue"}

# urllib3's debug line for each response: 'http://h:p "GET /path HTTP/1.1" 200 123'
_STATUS_LINE = re.compile(r'^\S+ "(?P<method>[A-Z]+) (?P<path>\S+) HTTP/[\d.]+" (?P<status>\d{3})')
_TRANSCRIPT_LINE = re.compile(r'^(REQ: |RESP: |RESP BODY: |\S+ "[A-Z]+ \S+ HTTP/)')

CLI_TIMEOUT = 60


def unique(prefix: str) -> str:
    """A name no other test (or earlier run on the same data dir) uses."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@dataclass
class CliResult:
    argv: list[str]
    env_overrides: dict[str, str]
    returncode: int
    stdout: str
    stderr: str
    data: object = None
    notes: list[str] = field(default_factory=list)

    @property
    def command(self) -> str:
        shown = {k: ("***" if "PASSWORD" in k else v) for k, v in self.env_overrides.items()}
        prefix = " ".join(f"{k}={shlex.quote(v)}" for k, v in shown.items())
        return (prefix + " " if prefix else "") + shlex.join(self.argv)

    def http_statuses(self) -> list[tuple[str, str, int]]:
        """(method, path, status) for every HTTP response the CLI received."""
        out = []
        for line in self.stderr.splitlines():
            m = _STATUS_LINE.match(line)
            if m:
                out.append((m["method"], m["path"], int(m["status"])))
        return out

    def transcript(self) -> str:
        """The HTTP exchange from the --debug output."""
        return "\n".join(l for l in self.stderr.splitlines() if _TRANSCRIPT_LINE.match(l))

    def error_message(self) -> str:
        """stderr without the --debug chatter: what a user would have seen."""
        lines = self.stderr.splitlines()
        keep = [l for l in lines if re.search(r"(Exception|HTTP \d{3}|Error|error|No \w+ with)", l)]
        return "\n".join(keep)

    def describe(self, headline: str) -> str:
        stderr_tail = "\n".join(self.stderr.splitlines()[-25:])
        parts = [
            headline,
            f"command:   {self.command}",
            f"exit code: {self.returncode}",
            *self.notes,
            "--- stdout ---",
            self.stdout.rstrip() or "(empty)",
            "--- HTTP exchange (from --debug) ---",
            self.transcript() or "(no HTTP traffic)",
            "--- stderr (last 25 lines) ---",
            stderr_tail or "(empty)",
        ]
        return "\n".join(parts)


def _wants_json(args: tuple[str, ...]) -> bool:
    if any(a in ("-f", "--format") or a.startswith("--format=") for a in args):
        return False
    words = []
    rest = list(args)
    # Leading global options (`--os-compute-api-version 2.55 flavor show`)
    # come before the command words.
    while rest and rest[0].startswith("--os-"):
        option = rest.pop(0)
        if "=" not in option and rest:
            rest.pop(0)
    for a in rest:
        if a.startswith("-"):
            break
        words.append(a)
    return bool(set(words[:4]) & _JSON_VERBS)


def run_openstack(*args: str, cloud: str | None = "oxstack", env: dict[str, str] | None = None,
                  fmt: str = "auto") -> CliResult:
    """Run `openstack [--os-cloud CLOUD] --debug ARGS [-f json]`; never raises
    on a non-zero exit. cloud=None leaves authentication to OS_* variables in
    `env`."""
    argv = [OPENSTACK]
    if cloud is not None:
        argv += ["--os-cloud", cloud]
    argv += ["--debug", *args]
    as_json = fmt == "json" or (fmt == "auto" and _wants_json(args))
    if as_json:
        argv += ["-f", "json"]
    full_env = dict(os.environ)
    full_env.update(env or {})
    proc = subprocess.run(argv, env=full_env, capture_output=True, text=True, timeout=CLI_TIMEOUT)
    result = CliResult(argv, dict(env or {}), proc.returncode, proc.stdout, proc.stderr)
    if as_json and proc.returncode == 0:
        try:
            result.data = json.loads(proc.stdout)
        except json.JSONDecodeError as e:
            result.notes.append(f"stdout is not JSON: {e}")
            result.returncode = -1000  # make the caller's check fail loudly
    else:
        result.data = proc.stdout
    return result


def openstack(*args: str, cloud: str | None = "oxstack", env: dict[str, str] | None = None,
              fmt: str = "auto"):
    """Run the CLI and return its parsed `-f json` output (or its stdout for
    commands without one). A failure raises AssertionError with the command,
    exit code, stdout, the HTTP exchange and stderr."""
    result = run_openstack(*args, cloud=cloud, env=env, fmt=fmt)
    if result.returncode != 0:
        raise AssertionError(result.describe("openstack CLI command failed"))
    return result.data


def openstack_ok(*args: str, cloud: str | None = "oxstack", env: dict[str, str] | None = None,
                fmt: str = "auto") -> CliResult:
    """Like openstack(), but returns the whole CliResult (its .data is what
    openstack() returns) so the caller can also inspect the HTTP exchange."""
    result = run_openstack(*args, cloud=cloud, env=env, fmt=fmt)
    if result.returncode != 0:
        raise AssertionError(result.describe("openstack CLI command failed"))
    return result


def openstack_fails(*args: str, cloud: str | None = "oxstack", env: dict[str, str] | None = None,
                    fmt: str = "auto") -> CliResult:
    """Run a CLI command that must fail; returns the result to inspect."""
    result = run_openstack(*args, cloud=cloud, env=env, fmt=fmt)
    if result.returncode == 0:
        raise AssertionError(result.describe("openstack CLI command succeeded but was expected to fail"))
    return result


def expect_status(result: CliResult, method: str, path: str, status: int) -> None:
    """Assert the CLI got `status` for `method path` (path may include a query)."""
    seen = result.http_statuses()
    if (method, path, status) not in seen:
        raise AssertionError(result.describe(
            f"expected the CLI to receive {status} for {method} {path}; it saw {seen}"))


@dataclass
class HttpResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)

    def __str__(self) -> str:
        return f"HTTP {self.status} {self.headers} {self.body[:2000]!r}"


def http(method: str, url: str, headers: dict[str, str] | None = None,
         body: object = None, timeout: float = 10) -> HttpResponse:
    """A raw request that never raises on an HTTP error status. A `bytes`
    body is sent as it is (application/octet-stream unless `headers` say
    otherwise); anything else is sent as JSON."""
    data = None
    hdrs = {"Accept": "application/json", **(headers or {})}
    if isinstance(body, (bytes, bytearray)):
        data = bytes(body)
        hdrs.setdefault("Content-Type", "application/octet-stream")
    elif body is not None:
        data = json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return HttpResponse(resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read())
    except urllib.error.HTTPError as e:
        return HttpResponse(e.code, {k.lower(): v for k, v in e.headers.items()}, e.read())


def password_token(base_url: str, user: str, password: str, project: str) -> str:
    """A project-scoped token from a raw POST /v3/auth/tokens (no CLI start-up
    cost), for the independent checks that tests make beside the clients."""
    body = {"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": user, "password": password, "domain": {"id": "default"}}}},
        "scope": {"project": {"name": project, "domain": {"id": "default"}}},
    }}
    resp = http("POST", base_url + "/identity/v3/auth/tokens", body=body)
    assert resp.status == 201, f"POST /identity/v3/auth/tokens as {user}: {resp}"
    return resp.headers["x-subject-token"]


def user_env(server, username: str, password: str, project: str) -> dict[str, str]:
    """OS_* variables that authenticate the CLI as a user without clouds.yaml
    (use with `cloud=None`)."""
    return {
        "OS_AUTH_URL": server.url("/identity"),
        "OS_IDENTITY_API_VERSION": "3",
        "OS_USERNAME": username,
        "OS_PASSWORD": password,
        "OS_PROJECT_NAME": project,
        "OS_USER_DOMAIN_NAME": "Default",
        "OS_PROJECT_DOMAIN_NAME": "Default",
        "OS_REGION_NAME": "RegionOne",
    }


@dataclass
class ProjectUser:
    project_id: str
    project: str
    user_id: str
    username: str
    password: str


def create_project_user(base_url: str, admin_token: str, role: str = "member") -> ProjectUser:
    """A fresh project and a user holding `role` on it, made through the raw
    identity admin API (no CLI start-up cost). Undo with delete_project_user."""
    auth = {"X-Auth-Token": admin_token}
    project, username, password = unique("proj"), unique("user"), unique("pw")
    resp = http("POST", base_url + "/identity/v3/projects", headers=auth,
                body={"project": {"name": project, "domain_id": "default"}})
    assert resp.status == 201, f"POST /v3/projects: {resp}"
    project_id = resp.json()["project"]["id"]
    resp = http("POST", base_url + "/identity/v3/users", headers=auth, body={"user": {
        "name": username, "password": password, "domain_id": "default",
        "default_project_id": project_id}})
    assert resp.status == 201, f"POST /v3/users: {resp}"
    user_id = resp.json()["user"]["id"]
    resp = http("GET", base_url + f"/identity/v3/roles?name={role}", headers=auth)
    assert resp.status == 200 and len(resp.json()["roles"]) == 1, f"GET /v3/roles?name={role}: {resp}"
    role_id = resp.json()["roles"][0]["id"]
    resp = http("PUT", base_url + f"/identity/v3/projects/{project_id}/users/{user_id}/roles/{role_id}",
                headers=auth)
    assert resp.status == 204, f"PUT role assignment: {resp}"
    return ProjectUser(project_id, project, user_id, username, password)


def delete_project_user(base_url: str, admin_token: str, pu: ProjectUser) -> None:
    auth = {"X-Auth-Token": admin_token}
    for path in (f"/identity/v3/users/{pu.user_id}", f"/identity/v3/projects/{pu.project_id}"):
        resp = http("DELETE", base_url + path, headers=auth)
        assert resp.status == 204, f"DELETE {path}: {resp}"


# --- compute API over raw HTTP ---------------------------------------------------

SERVER_TIMEOUT = 30

# The events Nova records for each instance action (the names of the
# `@wrap_instance_event` methods that run for it, nova 34.0.0
# compute/manager.py and conductor/manager.py). Nova's shelve offloads at
# once (shelved_offload_time 0) inside compute_shelve_instance; lock,
# unlock and os-resetState record the action with no events.
NOVA_ACTION_EVENTS = {
    "create": ["compute__do_build_and_run_instance"],
    "stop": ["compute_stop_instance"],
    "start": ["compute_start_instance"],
    "reboot": ["compute_reboot_instance"],
    "pause": ["compute_pause_instance"],
    "unpause": ["compute_unpause_instance"],
    "suspend": ["compute_suspend_instance"],
    "resume": ["compute_resume_instance"],
    "rebuild": ["compute_rebuild_instance"],
    "resize": ["conductor_migrate_server", "compute_prep_resize", "compute_resize_instance",
               "compute_finish_resize"],
    "confirmResize": ["compute_confirm_resize"],
    "revertResize": ["compute_revert_resize", "compute_finish_revert_resize"],
    "rescue": ["compute_rescue_instance"],
    "unrescue": ["compute_unrescue_instance"],
    "shelve": ["compute_shelve_instance"],
    "shelveOffload": ["compute_shelve_offload_instance"],
    "unshelve": ["compute_unshelve_instance"],
    "createImage": ["compute_snapshot_instance"],
    "createBackup": ["compute_backup_instance"],
    "changePassword": ["compute_set_admin_password"],
    "trigger_crash_dump": ["compute_trigger_crash_dump"],
    "lock": [],
    "unlock": [],
    "resetState": [],
}


def compute(server, token, method, path, body=None, version=None):
    """One compute API call as `token`, optionally at a microversion."""
    headers = {"X-Auth-Token": token}
    if version:
        headers["OpenStack-API-Version"] = f"compute {version}"
    return http(method, server.url("/compute/v2.1" + path), headers=headers, body=body)


def eventually(fetch, settled, timeout: float = SERVER_TIMEOUT, interval: float = 0.1):
    """Calls fetch() until settled(result) holds or `timeout` passes;
    returns the last result (the caller asserts on it). For the short
    windows Nova has too, e.g. an action's event finishes just after the
    server it changed is saved."""
    deadline = time.monotonic() + timeout
    while True:
        result = fetch()
        if settled(result) or time.monotonic() > deadline:
            return result
        time.sleep(interval)


def raw_server(server, token, sid, version="2.100") -> dict:
    """GET /servers/{id} as `token`: the server's JSON (the answer must be 200)."""
    resp = compute(server, token, "GET", f"/servers/{sid}", version=version)
    assert resp.status == 200, f"GET /servers/{sid}: {resp}"
    return resp.json()["server"]


def wait_server(server, token, sid, status="ACTIVE", passing=None) -> dict:
    """Polls GET /servers/{id} until the server shows `status` with no task
    in progress (OS-EXT-STS:task_state null) and returns it. `passing`, when
    given, lists the only other statuses it may show on the way; ERROR is
    never waited through."""
    deadline = time.monotonic() + SERVER_TIMEOUT
    seen = []
    while True:
        found = raw_server(server, token, sid)
        if not seen or seen[-1] != found["status"]:
            seen.append(found["status"])
        if found["status"] == status and found["OS-EXT-STS:task_state"] is None:
            return found
        stray = found["status"] == "ERROR" or (passing is not None and found["status"] not in (status, *passing))
        if stray or time.monotonic() > deadline:
            raise AssertionError(f"server {sid} did not reach {status} (statuses seen: {seen}): {found}")
        time.sleep(0.1)


def wait_gone(server, token, sid) -> None:
    """Waits until a deleted server answers 404."""
    deadline = time.monotonic() + SERVER_TIMEOUT
    while compute(server, token, "GET", f"/servers/{sid}").status != 404:
        assert time.monotonic() < deadline, f"server {sid} still there {SERVER_TIMEOUT}s after DELETE"
        time.sleep(0.1)


class RequestLog:
    """Records (method, url) of every HTTP request an openstacksdk connection sends."""

    def __init__(self, connection):
        self.requests: list[tuple[str, str]] = []
        self._hooks = connection.session.session.hooks["response"]

    def _hook(self, resp, *args, **kwargs):
        self.requests.append((resp.request.method, resp.request.url))

    def __enter__(self):
        self._hooks.append(self._hook)
        return self

    def __exit__(self, *exc):
        self._hooks.remove(self._hook)


# --- python-novaclient -------------------------------------------------------------

def novaclient_at(conn, version: str):
    """A python-novaclient Client on `conn`'s session at `version`; "2.latest"
    is what `nova --os-compute-api-version 2.latest` does: the highest version
    both the server and this client know."""
    from novaclient import api_versions
    from novaclient import client as nova_client

    if version == "2.latest":
        probe = nova_client.Client("2.1", session=conn.session)
        version = api_versions.discover_version(probe, api_versions.APIVersion("2.latest")).get_string()
    return nova_client.Client(version, session=conn.session)


def nova_wait(nova, sid, status="ACTIVE", passing=None):
    """Polls novaclient's servers.get until `status` with no task state;
    `passing` as for wait_server."""
    deadline = time.monotonic() + SERVER_TIMEOUT
    while True:
        found = nova.servers.get(sid)
        info = found.to_dict()
        if found.status == status and info.get("OS-EXT-STS:task_state") is None:
            return found
        stray = found.status == "ERROR" or (passing is not None and found.status not in (status, *passing))
        assert not stray and time.monotonic() < deadline, f"server {sid} did not reach {status}: {info}"
        time.sleep(0.1)
