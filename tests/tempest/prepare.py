"""Prepares a running oxstack for tempest: pre-provisioned accounts made
through its identity API (tempest runs with use_dynamic_credentials =
False), a second image, and the tempest.conf that describes the cloud.

    prepare.py BASE_URL WORKSPACE

writes WORKSPACE/accounts.yaml and WORKSPACE/etc/tempest.conf.
"""

from __future__ import annotations

import json
import sys
import urllib.request
from pathlib import Path

ADMIN = ("admin", "admin", "admin")  # oxstack's bootstrap admin: user, password, project
PASSWORD = "tempest-secret"
PROJECTS = 16  # each with a member, a reader and a manager
# tempest hands out any account holding a role asked for, so an admin
# request can take a service user: with 4 parallel classes each holding an
# admin and a service user, fewer than this ran out ("Insufficient number
# of users provided", the setUpClass failures of two CI runs).
ADMINS = 8
SERVICES = 8


def call(base: str, method: str, path: str, token: str | None = None, body=None, raw: bytes | None = None,
         content_type: str = "application/json"):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(base + path, data=data, method=method)
    if token:
        request.add_header("X-Auth-Token", token)
    if data is not None:
        request.add_header("Content-Type", content_type)
    with urllib.request.urlopen(request) as response:
        payload = response.read()
        return response.headers, (json.loads(payload) if payload and response.headers.get_content_type()
                                  == "application/json" else payload)


def admin_token(base: str) -> str:
    user, password, project = ADMIN
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": user, "domain": {"id": "default"}, "password": password}}},
        "scope": {"project": {"name": project, "domain": {"id": "default"}}}}}
    headers, _ = call(base, "POST", "/identity/v3/auth/tokens", body=body)
    return headers["X-Subject-Token"]


def provision(base: str, token: str) -> list[dict]:
    """Projects with a member, a reader and a manager each, admins in
    projects of their own and a service user; returns tempest's accounts
    list."""
    _, roles = call(base, "GET", "/identity/v3/roles", token)
    role_id = {r["name"]: r["id"] for r in roles["roles"]}
    accounts = []

    def user_in(project_id: str, project_name: str, name: str, *roles: str, **extra) -> None:
        _, user = call(base, "POST", "/identity/v3/users", token, {"user": {
            "name": name, "password": PASSWORD, "domain_id": "default", "default_project_id": project_id}})
        for role in roles:
            call(base, "PUT",
                 f"/identity/v3/projects/{project_id}/users/{user['user']['id']}/roles/{role_id[role]}", token)
        accounts.append({"username": name, "project_name": project_name, "password": PASSWORD,
                         "domain_name": "Default", "roles": list(roles), **extra})

    def project(name: str) -> str:
        _, made = call(base, "POST", "/identity/v3/projects", token, {"project": {
            "name": name, "domain_id": "default"}})
        return made["project"]["id"]

    for n in range(1, PROJECTS + 1):
        name = f"tempest-project-{n}"
        pid = project(name)
        user_in(pid, name, f"tempest-member-{n}", "member")
        user_in(pid, name, f"tempest-reader-{n}", "reader")
        user_in(pid, name, f"tempest-manager-{n}", "manager")
    for n in range(1, ADMINS + 1):
        name = f"tempest-admin-project-{n}"
        user_in(project(name), name, f"tempest-admin-{n}", "admin", types=["admin"])
    # What other services (Neutron, Cinder) call Nova as. tempest also
    # hands these out when it wants an admin, hence several.
    for n in range(1, SERVICES + 1):
        name = f"tempest-service-project-{n}"
        user_in(project(name), name, f"tempest-service-{n}", "admin", "service")
    return accounts


def second_image(base: str, token: str) -> tuple[str, str]:
    """The bootstrap image and a copy of it (tempest wants two)."""
    _, listed = call(base, "GET", "/image/v2/images?name=cirros", token)
    first = listed["images"][0]
    _, data = call(base, "GET", f"/image/v2/images/{first['id']}/file", token)
    _, copy = call(base, "POST", "/image/v2/images", token, {
        "name": "cirros-alt", "disk_format": first["disk_format"],
        "container_format": first["container_format"], "visibility": "public"})
    call(base, "PUT", f"/image/v2/images/{copy['id']}/file", token, raw=data,
         content_type="application/octet-stream")
    return first["id"], copy["id"]


def public_network(base: str, token: str) -> str:
    """The id of DevStack's external network `public`."""
    _, listed = call(base, "GET", "/network/v2.0/networks?name=public&router:external=True", token)
    return listed["networks"][0]["id"]


def yaml_accounts(accounts: list[dict]) -> str:
    """accounts.yaml, written by hand: the values are plain strings."""
    lines = []
    for a in accounts:
        lines.append(f"- username: '{a['username']}'")
        for key in ("project_name", "password", "domain_name"):
            lines.append(f"  {key}: '{a[key]}'")
        for key in ("roles", "types"):
            if key in a:
                lines.append(f"  {key}: [{', '.join(repr(v) for v in a[key])}]")
    return "\n".join(lines) + "\n"


TEMPEST_CONF = """[DEFAULT]
log_dir = {ws}/logs
log_file = tempest.log
use_stderr = False

[oslo_concurrency]
lock_path = {ws}/locks

[auth]
use_dynamic_credentials = False
test_accounts_file = {ws}/accounts.yaml
default_credentials_domain_name = Default
create_isolated_networks = False
# The classes that insist on projects of their own (force_tenant_isolation)
# make them with these.
admin_username = {admin_user}
admin_password = {admin_password}
admin_project_name = {admin_project}
admin_domain_name = Default

[identity]
uri_v3 = {url}/identity/v3
auth_version = v3
region = RegionOne
disable_ssl_certificate_validation = True

[network]
public_network_id = {public_network}
floating_network_name = public
# Guests of the fake driver are not reached over the network.
project_networks_reachable = False

[network-feature-enabled]
api_extensions = all

[compute]
# Every project's servers attach to DevStack's shared `private`.
fixed_network_name = private
image_ref = {image}
image_ref_alt = {image_alt}
flavor_ref = 42
flavor_ref_alt = 84
min_compute_nodes = 2
min_microversion = 2.1
max_microversion = latest
build_timeout = 60
build_interval = 1
region = RegionOne

[compute-feature-enabled]
change_password = True
console_output = True
resize = True
pause = True
shelve = True
shelve_migrate = False
suspend = True
cold_migration = True
live_migration = True
block_migration_for_live_migration = True
volume_backed_live_migration = True
rescue = True
stable_rescue = True
snapshot = True
interface_attach = True
vnc_console = True
spice_console = False
serial_console = False
rdp_console = False
config_drive = True
metadata_service = False
personality = True
attach_encrypted_volume = False
hostname_fqdn_sanitization = True
# tempest's defaults and the host hints (same_host, different_host).
scheduler_enabled_filters = AvailabilityZoneFilter, ComputeFilter, ComputeCapabilitiesFilter, ImagePropertiesFilter, ServerGroupAntiAffinityFilter, ServerGroupAffinityFilter, SameHostFilter, DifferentHostFilter

[volume]
catalog_type = block-storage
region = RegionOne
build_timeout = 60
build_interval = 1
volume_size = 1
min_microversion = 3.0
max_microversion = latest

[volume-feature-enabled]
backup = False
snapshot = True
api_v3 = True
extend_attached_volume = False

[service_available]
cinder = True
neutron = True
glance = True
nova = True
swift = False
horizon = False

[validation]
run_validation = False

[enforce_scope]
nova = False
"""


def main() -> None:
    url, workspace = sys.argv[1].rstrip("/"), Path(sys.argv[2])
    token = admin_token(url)
    accounts = provision(url, token)
    image, image_alt = second_image(url, token)
    (workspace / "accounts.yaml").write_text(yaml_accounts(accounts))
    (workspace / "etc").mkdir(parents=True, exist_ok=True)
    (workspace / "etc" / "tempest.conf").write_text(
        TEMPEST_CONF.format(ws=workspace, url=url, image=image, image_alt=image_alt, admin_user=ADMIN[0],
                            admin_password=ADMIN[1], admin_project=ADMIN[2],
                            public_network=public_network(url, token)))


if __name__ == "__main__":
    main()
