"""The real `openstack` CLI against oxstack's compute flavors, limits and
quotas and its Glance v2 images, checked by their effects.

Each CLI run costs about two seconds of interpreter start-up, so the
independent checks beside the CLI (did the property really go away? can the
other project see it?) are raw HTTP calls with a token of the right user.
"""

from __future__ import annotations

import hashlib
import os
import re

import pytest

from oxhelpers import (
    compute,
    create_project_user,
    delete_project_user,
    expect_status,
    http,
    openstack,
    openstack_fails,
    openstack_ok,
    password_token,
    unique,
    user_env,
)

# DevStack's flavors (lib/nova create_flavors and lib/tempest's m1.nano and
# m1.micro), in Nova's default order (flavorid, ascending as strings):
# (id, name, ram MiB, disk GiB, vcpus).
DEVSTACK_FLAVORS = [
    ("1", "m1.tiny", 512, 1, 1),
    ("2", "m1.small", 2048, 20, 1),
    ("3", "m1.medium", 4096, 40, 2),
    ("4", "m1.large", 8192, 80, 4),
    ("42", "m1.nano", 192, 1, 1),
    ("5", "m1.xlarge", 16384, 160, 8),
    ("84", "m1.micro", 256, 1, 1),
    ("c1", "cirros256", 256, 1, 1),
    ("d1", "ds512M", 512, 5, 1),
    ("d2", "ds1G", 1024, 10, 1),
    ("d3", "ds2G", 2048, 10, 2),
    ("d4", "ds4G", 4096, 20, 4),
]

HEX32 = re.compile(r"[0-9a-f]{32}")


@pytest.fixture(scope="module")
def project_ids(oxstack, admin_token) -> dict[str, str]:
    resp = http("GET", oxstack.url("/identity/v3/projects"), headers={"X-Auth-Token": admin_token})
    assert resp.status == 200, resp
    return {p["name"]: p["id"] for p in resp.json()["projects"]}


def glance(server, token, method, path, body=None, headers=None):
    return http(method, server.url("/image/v2" + path), headers={"X-Auth-Token": token, **(headers or {})},
                body=body)


def request_lines(result, method: str, path_prefix: str) -> list[str]:
    """The `REQ: curl ...` lines of the --debug output for METHOD on a URL
    containing `path_prefix`."""
    return [l for l in result.stderr.splitlines()
            if l.startswith("REQ: curl") and f"-X {method} " in l and path_prefix in l]


# --- flavors -----------------------------------------------------------------

def test_flavor_list_is_devstacks():
    rows = openstack("flavor", "list")
    got = [(r["ID"], r["Name"], r["RAM"], r["Disk"], r["VCPUs"]) for r in rows]
    assert got == DEVSTACK_FLAVORS, rows
    for r in rows:
        assert r["Ephemeral"] == 0 and r["Is Public"] is True, r

    long_rows = openstack("flavor", "list", "--long")
    assert [r["ID"] for r in long_rows] == [f[0] for f in DEVSTACK_FLAVORS], long_rows
    for r in long_rows:
        assert r["Swap"] == 0 and r["RXTX Factor"] == 1.0, r
        assert r["Properties"] == {"hw_rng:allowed": "True"}, r
    tiny = long_rows[0]
    assert (tiny["Name"], tiny["RAM"], tiny["Disk"], tiny["VCPUs"]) == ("m1.tiny", 512, 1, 1), tiny


def test_flavor_show_by_name_and_id():
    by_name = openstack("flavor", "show", "m1.tiny")
    by_id = openstack("flavor", "show", "1")
    assert by_name == by_id, (by_name, by_id)
    assert by_name["id"] == "1" and by_name["name"] == "m1.tiny", by_name
    assert (by_name["ram"], by_name["disk"], by_name["vcpus"], by_name["swap"]) == (512, 1, 1, 0), by_name
    assert by_name["OS-FLV-EXT-DATA:ephemeral"] == 0 and by_name["OS-FLV-DISABLED:disabled"] is False, by_name
    assert by_name["os-flavor-access:is_public"] is True, by_name
    assert by_name["properties"] == {"hw_rng:allowed": "True"}, by_name


def test_flavor_lifecycle(oxstack, admin_token):
    name = "test.flavor"
    try:
        created = openstack("flavor", "create", "--ram", "256", "--disk", "1", "--vcpus", "1", "--id", "t1",
                            "--property", "hw:cpu_policy=dedicated", name)
        assert (created["id"], created["name"], created["ram"], created["disk"], created["vcpus"]) == (
            "t1", name, 256, 1, 1), created
        assert created["os-flavor-access:is_public"] is True, created
        assert created["properties"] == {"hw:cpu_policy": "dedicated"}, created

        shown = openstack("flavor", "show", name)
        assert shown["id"] == "t1" and shown["properties"] == {"hw:cpu_policy": "dedicated"}, shown
        assert shown["description"] is None, shown

        openstack("flavor", "set", "--property", "k=v", "t1")
        specs = compute(oxstack, admin_token, "GET", "/flavors/t1/os-extra_specs")
        assert specs.status == 200, specs
        assert specs.json() == {"extra_specs": {"hw:cpu_policy": "dedicated", "k": "v"}}, specs

        openstack("flavor", "unset", "--property", "k", "t1")
        specs = compute(oxstack, admin_token, "GET", "/flavors/t1/os-extra_specs")
        assert specs.json() == {"extra_specs": {"hw:cpu_policy": "dedicated"}}, specs
        gone = compute(oxstack, admin_token, "GET", "/flavors/t1/os-extra_specs/k")
        assert gone.status == 404, gone

        # PUT /flavors/{id} exists from 2.55 (the description is the only
        # thing it may change).
        described = openstack_ok("--os-compute-api-version", "2.55", "flavor", "set",
                                 "--description", "for tests", "t1")
        expect_status(described, "PUT", "/compute/v2.1/flavors/t1", 200)
        puts = request_lines(described, "PUT", "/flavors/t1")
        assert len(puts) == 1 and '"OpenStack-API-Version: compute 2.55"' in puts[0], described.describe(
            "expected one PUT /flavors/t1 at compute 2.55")
        shown = openstack("--os-compute-api-version", "2.55", "flavor", "show", "t1")
        assert shown["description"] == "for tests", shown
        assert shown["properties"] == {"hw:cpu_policy": "dedicated"}, shown
        raw = compute(oxstack, admin_token, "GET", "/flavors/t1", version="2.55")
        assert raw.json()["flavor"]["description"] == "for tests", raw

        openstack("flavor", "delete", name)
        assert compute(oxstack, admin_token, "GET", "/flavors/t1").status == 404
        listed = compute(oxstack, admin_token, "GET", "/flavors").json()["flavors"]
        assert "t1" not in {f["id"] for f in listed}, listed
    finally:
        compute(oxstack, admin_token, "DELETE", "/flavors/t1")


def test_private_flavor_access(oxstack, admin_token, demo_token, project_ids):
    name = unique("private.flavor")
    created = openstack("flavor", "create", "--private", "--ram", "128", "--disk", "0", "--vcpus", "1", name)
    fid = created["id"]
    try:
        assert created["os-flavor-access:is_public"] is False, created
        # Before access is granted, demo cannot see it at all.
        assert compute(oxstack, demo_token, "GET", f"/flavors/{fid}").status == 404
        assert fid not in {f["id"] for f in compute(oxstack, demo_token, "GET", "/flavors").json()["flavors"]}

        openstack("flavor", "set", "--project", "demo", name)
        access = compute(oxstack, admin_token, "GET", f"/flavors/{fid}/os-flavor-access")
        assert access.status == 200, access
        assert access.json() == {"flavor_access": [{"flavor_id": fid, "tenant_id": project_ids["demo"]}]}, access

        # demo finds it by name (GET /flavors/{name} is a 404, then the list).
        # Listing a flavor's access is admin-only in Nova, so the CLI's extra
        # os-flavor-access call gets a 403 and it just leaves that field out.
        shown = openstack("flavor", "show", name, cloud="oxstack-demo")
        assert (shown["id"], shown["name"], shown["ram"]) == (fid, name, 128), shown
        assert shown["os-flavor-access:is_public"] is False, shown
        assert fid in {f["id"] for f in compute(oxstack, demo_token, "GET", "/flavors").json()["flavors"]}

        openstack("flavor", "unset", "--project", "demo", fid)
        access = compute(oxstack, admin_token, "GET", f"/flavors/{fid}/os-flavor-access")
        assert access.json() == {"flavor_access": []}, access
        assert compute(oxstack, demo_token, "GET", f"/flavors/{fid}").status == 404

        openstack("flavor", "delete", fid)
        assert compute(oxstack, admin_token, "GET", f"/flavors/{fid}").status == 404
        assert compute(oxstack, demo_token, "GET", f"/flavors/{fid}").status == 404
    finally:
        compute(oxstack, admin_token, "DELETE", f"/flavors/{fid}")


def test_demo_cannot_create_flavor(oxstack, admin_token):
    name = unique("demo.flavor")
    denied = openstack_fails("flavor", "create", "--ram", "64", "--disk", "1", "--vcpus", "1", name,
                             cloud="oxstack-demo")
    expect_status(denied, "POST", "/compute/v2.1/flavors", 403)
    assert "os_compute_api:os-flavor-manage:create" in denied.error_message(), denied.error_message()
    listed = compute(oxstack, admin_token, "GET", "/flavors/detail?is_public=None").json()["flavors"]
    assert name not in {f["name"] for f in listed}, listed


# --- limits and quotas ---------------------------------------------------------

def _limits_table(rows) -> dict[str, int]:
    table = {r["Name"]: r["Value"] for r in rows}
    assert len(table) == len(rows), rows
    return table


def test_limits_show_absolute(oxstack, admin_token):
    result_rows = openstack("limits", "show", "--absolute")
    limits = _limits_table(result_rows)
    assert limits["max_total_instances"] == 10, limits
    assert limits["max_total_cores"] == 20, limits
    assert limits["max_total_ram_size"] == 51200, limits
    assert limits["max_total_keypairs"] == 100, limits
    assert limits["total_instances_used"] == 0, limits
    assert limits["total_cores_used"] == 0, limits
    assert limits["total_ram_used"] == 0, limits
    # The CLI renders what GET /limits says (Nova's camelCase keys).
    raw = compute(oxstack, admin_token, "GET", "/limits").json()["limits"]["absolute"]
    assert (raw["maxTotalInstances"], raw["maxTotalCores"], raw["maxTotalRAMSize"]) == (10, 20, 51200), raw
    assert (raw["totalInstancesUsed"], raw["totalCoresUsed"], raw["totalRAMUsed"]) == (0, 0, 0), raw


def test_quota_show_default():
    rows = openstack("quota", "show", "--default")
    quotas = {r["Resource"]: r["Limit"] for r in rows}
    expected = {"instances": 10, "cores": 20, "ram": 51200, "key-pairs": 100, "properties": 128,
                "injected-files": 5, "injected-file-size": 10240, "injected-path-size": 255,
                "server-groups": 10, "server-group-members": 10}
    assert {k: quotas.get(k) for k in expected} == expected, rows


def test_quota_set_changes_limits(oxstack, admin_token):
    pu = create_project_user(oxstack.base_url, admin_token)
    try:
        openstack("quota", "set", "--instances", "20", "--cores", "40", pu.project)
        raw = compute(oxstack, admin_token, "GET", f"/os-quota-sets/{pu.project_id}").json()["quota_set"]
        assert (raw["instances"], raw["cores"], raw["ram"]) == (20, 40, 51200), raw

        limits = _limits_table(openstack("limits", "show", "--absolute", "--project", pu.project))
        assert limits["max_total_instances"] == 20, limits
        assert limits["max_total_cores"] == 40, limits
        assert limits["max_total_ram_size"] == 51200, limits
        assert limits["total_instances_used"] == 0, limits

        # The project's own user sees the same limits; the defaults and the
        # admin project's limits are unchanged.
        own = password_token(oxstack.base_url, pu.username, pu.password, pu.project)
        mine = compute(oxstack, own, "GET", "/limits").json()["limits"]["absolute"]
        assert (mine["maxTotalInstances"], mine["maxTotalCores"]) == (20, 40), mine
        admin = compute(oxstack, admin_token, "GET", "/limits").json()["limits"]["absolute"]
        assert (admin["maxTotalInstances"], admin["maxTotalCores"]) == (10, 20), admin
        defaults = compute(oxstack, admin_token, "GET", f"/os-quota-sets/{pu.project_id}/defaults")
        assert defaults.json()["quota_set"]["instances"] == 10, defaults
    finally:
        delete_project_user(oxstack.base_url, admin_token, pu)


# --- images ----------------------------------------------------------------------

def test_cirros_is_listed_and_shown(oxstack, admin_token):
    listed = openstack("image", "list")
    cirros = [r for r in listed if r["Name"] == "cirros"]
    assert len(cirros) == 1 and cirros[0]["Status"] == "active", listed

    shown = openstack("image", "show", "cirros")
    assert shown["id"] == cirros[0]["ID"], shown
    assert (shown["disk_format"], shown["container_format"], shown["visibility"]) == (
        "qcow2", "bare", "public"), shown
    assert shown["status"] == "active" and shown["protected"] is False, shown
    assert shown["size"] > 0 and HEX32.fullmatch(shown["checksum"]), shown
    assert shown["properties"]["os_hash_algo"] == "sha512", shown

    # The recorded size and hashes are those of the bytes actually served.
    data = glance(oxstack, admin_token, "GET", f"/images/{shown['id']}/file")
    assert data.status == 200, data.status
    assert len(data.body) == shown["size"], (len(data.body), shown["size"])
    assert hashlib.md5(data.body).hexdigest() == shown["checksum"]
    assert hashlib.sha512(data.body).hexdigest() == shown["properties"]["os_hash_value"]


def test_image_lifecycle(oxstack, admin_token, project_ids, tmp_path):
    payload = os.urandom(3 * 1024 * 1024 + 123)
    src = tmp_path / "disk.raw"
    src.write_bytes(payload)
    md5 = hashlib.md5(payload).hexdigest()
    sha512 = hashlib.sha512(payload).hexdigest()
    name, new_name, tag = unique("img"), unique("renamed"), unique("tag")

    created = openstack("image", "create", "--file", str(src), "--disk-format", "raw",
                        "--container-format", "bare", name)
    iid = created["id"]
    try:
        assert created["name"] == name and created["status"] == "active", created
        assert created["visibility"] == "shared", created  # Glance's default since Pike
        assert created["owner"] == project_ids["admin"], created

        shown = openstack("image", "show", name)
        assert shown["id"] == iid and shown["status"] == "active", shown
        assert (shown["disk_format"], shown["container_format"]) == ("raw", "bare"), shown
        assert shown["size"] == len(payload) and shown["checksum"] == md5, shown
        assert shown["properties"]["os_hash_algo"] == "sha512", shown
        assert shown["properties"]["os_hash_value"] == sha512, shown

        out = tmp_path / "saved.raw"
        openstack("image", "save", "--file", str(out), iid)
        assert out.read_bytes() == payload

        openstack("image", "set", "--property", "k1=v1", "--property", "k2=v2", "--name", new_name, name)
        raw = glance(oxstack, admin_token, "GET", f"/images/{iid}").json()
        assert raw["name"] == new_name and raw["k1"] == "v1" and raw["k2"] == "v2", raw

        openstack("image", "unset", "--property", "k1", new_name)
        raw = glance(oxstack, admin_token, "GET", f"/images/{iid}").json()
        assert "k1" not in raw and raw["k2"] == "v2", raw

        openstack("image", "set", "--tag", tag, iid)
        assert glance(oxstack, admin_token, "GET", f"/images/{iid}").json()["tags"] == [tag]
        tagged = openstack("image", "list", "--tag", tag)
        assert [(r["ID"], r["Name"]) for r in tagged] == [(iid, new_name)], tagged

        openstack("image", "set", "--protected", iid)
        assert glance(oxstack, admin_token, "GET", f"/images/{iid}").json()["protected"] is True
        refused = openstack_fails("image", "delete", iid)
        expect_status(refused, "DELETE", f"/image/v2/images/{iid}", 403)
        assert "is protected and cannot be deleted" in refused.error_message(), refused.error_message()
        assert glance(oxstack, admin_token, "GET", f"/images/{iid}").status == 200

        openstack("image", "set", "--unprotected", iid)
        openstack("image", "delete", iid)
        gone = openstack_fails("image", "show", iid)
        expect_status(gone, "GET", f"/image/v2/images/{iid}", 404)
        assert glance(oxstack, admin_token, "GET", f"/images/{iid}/file").status == 404
    finally:
        glance(oxstack, admin_token, "PATCH", f"/images/{iid}",
               body=[{"op": "replace", "path": "/protected", "value": False}],
               headers={"Content-Type": "application/openstack-images-v2.1-json-patch"})
        glance(oxstack, admin_token, "DELETE", f"/images/{iid}")


def test_image_visibility_across_projects(oxstack, admin_token, demo_token, project_ids, tmp_path):
    src = tmp_path / "small.raw"
    src.write_bytes(os.urandom(4096))
    demo_name, private_name = unique("demo-img"), unique("admin-private")

    demo_img = openstack("image", "create", "--file", str(src), "--disk-format", "raw",
                         "--container-format", "bare", demo_name, cloud="oxstack-demo")
    did = demo_img["id"]
    resp = glance(oxstack, admin_token, "POST", "/images", body={
        "name": private_name, "visibility": "private", "disk_format": "raw", "container_format": "bare"})
    assert resp.status == 201, resp
    pid = resp.json()["id"]
    other = create_project_user(oxstack.base_url, admin_token)
    try:
        assert demo_img["visibility"] == "shared" and demo_img["owner"] == project_ids["demo"], demo_img

        # The admin sees every project's images.
        seen = openstack("image", "show", did)
        assert (seen["name"], seen["owner"], seen["status"]) == (demo_name, project_ids["demo"], "active"), seen

        shared = {r["ID"] for r in openstack("image", "list", "--shared")}
        assert did in shared and pid not in shared, shared
        private = {r["ID"] for r in openstack("image", "list", "--private")}
        assert pid in private and did not in private, private
        cirros_id = glance(oxstack, admin_token, "GET", "/images?name=cirros").json()["images"][0]["id"]
        assert cirros_id not in shared | private

        # demo cannot see the admin's private image.
        assert glance(oxstack, demo_token, "GET", f"/images/{pid}").status == 404

        # A user of a third project sees the public cirros and neither of those.
        env = user_env(oxstack, other.username, other.password, other.project)
        listed = {r["ID"] for r in openstack("image", "list", cloud=None, env=env)}
        assert cirros_id in listed and did not in listed and pid not in listed, listed
        hidden = openstack_fails("image", "show", did, cloud=None, env=env)
        expect_status(hidden, "GET", f"/image/v2/images/{did}", 404)
    finally:
        delete_project_user(oxstack.base_url, admin_token, other)
        glance(oxstack, admin_token, "DELETE", f"/images/{did}")
        glance(oxstack, admin_token, "DELETE", f"/images/{pid}")


def test_image_list_limit_and_marker(oxstack, admin_token):
    tag = unique("page")
    ids = []
    try:
        for i in range(5):
            resp = glance(oxstack, admin_token, "POST", "/images", body={
                "name": f"{tag}-{i}", "tags": [tag], "disk_format": "raw", "container_format": "bare"})
            assert resp.status == 201, resp
            ids.append(resp.json()["id"])
        # The server's order (created_at desc, then id desc) decides the pages.
        order = [i["id"] for i in glance(oxstack, admin_token, "GET", f"/images?tag={tag}").json()["images"]]
        assert sorted(order) == sorted(ids), order

        first = openstack_ok("image", "list", "--tag", tag, "--limit", "2")
        assert {r["ID"] for r in first.data} == set(order[:2]), (first.data, order)
        # --limit is one page: a single GET with limit=2, the next link not followed.
        lists = [p for m, p, _ in first.http_statuses() if m == "GET" and p.startswith("/image/v2/images?")]
        assert len(lists) == 1 and "limit=2" in lists[0], first.describe(f"list requests: {lists}")

        second = openstack_ok("image", "list", "--tag", tag, "--limit", "2", "--marker", order[1])
        assert {r["ID"] for r in second.data} == set(order[2:4]), (second.data, order)
        lists = [p for m, p, _ in second.http_statuses() if m == "GET" and p.startswith("/image/v2/images?")]
        assert len(lists) == 1 and f"marker={order[1]}" in lists[0], second.describe(f"list requests: {lists}")

        last = openstack("image", "list", "--tag", tag, "--limit", "2", "--marker", order[3])
        assert [r["ID"] for r in last] == order[4:], (last, order)
    finally:
        for iid in ids:
            glance(oxstack, admin_token, "DELETE", f"/images/{iid}")
