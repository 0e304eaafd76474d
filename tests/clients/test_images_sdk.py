"""openstacksdk's image and compute proxies, and python-novaclient at several
microversions, against oxstack: uploads, downloads with hash verification,
updates, paging, flavors and limits."""

from __future__ import annotations

import hashlib
import io
import os
from urllib.parse import parse_qs, urlsplit

import openstack
import pytest
from openstack import exceptions as sdk_exc

from oxhelpers import RequestLog, http, novaclient_at, password_token, unique

# (id, name, ram, disk, vcpus) of DevStack's flavors, in Nova's order.
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


# --- images -----------------------------------------------------------------------

def test_image_upload_download_update_delete(conn, oxstack, tmp_path):
    payload = os.urandom(2 * 1024 * 1024 + 7)
    src = tmp_path / "sdk.raw"
    src.write_bytes(payload)
    md5 = hashlib.md5(payload).hexdigest()
    sha512 = hashlib.sha512(payload).hexdigest()
    name = unique("sdk-img")

    # validate_checksum: the SDK hashes the file itself and compares with the
    # checksum the server reports after the upload.
    image = conn.image.create_image(name, filename=str(src), disk_format="raw", container_format="bare",
                                    validate_checksum=True, wait=True)
    try:
        fetched = conn.image.get_image(image.id)
        assert (fetched.name, fetched.status, fetched.visibility) == (name, "active", "shared"), fetched
        assert (fetched.disk_format, fetched.container_format) == ("raw", "bare"), fetched
        assert fetched.size == len(payload) and fetched.checksum == md5, fetched
        assert (fetched.hash_algo, fetched.hash_value) == ("sha512", sha512), fetched
        assert fetched.owner_id == conn.current_project_id, fetched
        assert fetched.properties["owner_specified.openstack.md5"] == md5, fetched.properties

        # download_image checks the bytes against hash_value/hash_algo (and
        # raises InvalidResponse on a mismatch).
        resp = conn.image.download_image(fetched)
        assert resp.content == payload
        out = tmp_path / "downloaded.raw"
        conn.image.download_image(fetched, output=str(out), stream=True, chunk_size=65536)
        assert out.read_bytes() == payload
        buf = io.BytesIO()
        conn.image.download_image(fetched, output=buf)
        assert buf.getvalue() == payload
        # The served Content-MD5 agrees too.
        assert resp.headers.get("Content-MD5") == md5, dict(resp.headers)

        new_name = unique("sdk-renamed")
        updated = conn.image.update_image(fetched, name=new_name, min_ram=64, os_distro="cirros",
                                          custom_key="custom value")
        assert (updated.name, updated.min_ram, updated.os_distro) == (new_name, 64, "cirros"), updated
        again = conn.image.get_image(image.id)
        assert (again.name, again.min_ram, again.os_distro) == (new_name, 64, "cirros"), again
        assert again.properties.get("custom_key") == "custom value", again.properties
        assert again.checksum == md5 and again.size == len(payload), again

        conn.image.add_tag(again, "sdk-tag")
        assert conn.image.get_image(image.id).tags == ["sdk-tag"]
        assert [i.id for i in conn.image.images(tag="sdk-tag")] == [image.id]
    finally:
        conn.image.delete_image(image.id, ignore_missing=True)
    with pytest.raises(sdk_exc.NotFoundException):
        conn.image.get_image(image.id)
    assert conn.image.find_image(name) is None
    assert image.id not in {i.id for i in conn.image.images()}


def test_image_auto_pagination(conn, demo_conn):
    tag = unique("sdk-page")
    # One more than Glance's default page size (25).
    created = [conn.image.create_image(f"{tag}-{i:02d}", allow_duplicates=True, disk_format="raw",
                                       container_format="bare", tags=[tag]) for i in range(26)]
    ids = {i.id for i in created}
    try:
        assert len(ids) == 26

        with RequestLog(conn) as log:
            everything = [i.id for i in conn.image.images()]
        pages = [u for m, u in log.requests if m == "GET" and "/v2/images" in u]
        assert len(everything) == len(set(everything)), everything  # no image twice
        assert ids <= set(everything), (len(everything), sorted(ids - set(everything)))
        assert len(pages) >= 2, pages
        assert any("marker=" in u for u in pages), pages

        with RequestLog(conn) as log:
            tagged = [i.id for i in conn.image.images(tag=tag, limit=5)]
        pages = [u for m, u in log.requests if m == "GET" and "/v2/images" in u]
        assert sorted(tagged) == sorted(ids), tagged
        # 26 images, 5 per page: at least six pages, each asked with limit=5.
        assert len(pages) >= 6 and all("limit=5" in u for u in pages), pages

        # These are the admin project's (shared, no members) images: demo sees none.
        assert not ids & {i.id for i in demo_conn.image.images(tag=tag)}
    finally:
        for image in created:
            conn.image.delete_image(image.id, ignore_missing=True)
    assert not ids & {i.id for i in conn.image.images(tag=tag)}


# --- compute: flavors and limits ---------------------------------------------------

def test_sdk_flavors_detailed(conn):
    flavors = list(conn.compute.flavors(details=True))
    got = [(f.id, f.name, f.ram, f.disk, f.vcpus) for f in flavors]
    assert got == DEVSTACK_FLAVORS, got
    for f in flavors:
        assert f.is_public is True and f.is_disabled is False, f
        assert (f.swap, f.ephemeral, f.rxtx_factor) == (0, 0, 1.0), f
        assert f.extra_specs == {"hw_rng:allowed": "True"}, f
    # Paged: Nova's flavors_links "next" until a short page.
    with RequestLog(conn) as log:
        paged = [f.id for f in conn.compute.flavors(details=True, limit=5)]
    pages = [parse_qs(urlsplit(u).query) for m, u in log.requests if m == "GET" and "/flavors/detail" in u]
    assert paged == [f[0] for f in DEVSTACK_FLAVORS], paged
    assert all(p["limit"] == ["5"] for p in pages), pages
    # The server's next links: after 42 (5th) and d2 (10th), none after the
    # short third page. (The SDK then probes once more past d4 on its own
    # when a limit was given; that answer is empty.)
    assert [p.get("marker") for p in pages[:3]] == [None, ["42"], ["d2"]], pages
    assert len(pages) <= 4, pages

    tiny = conn.compute.get_flavor("1")
    assert (tiny.name, tiny.ram, tiny.disk, tiny.vcpus) == ("m1.tiny", 512, 1, 1), tiny
    assert conn.compute.find_flavor("ds1G", ignore_missing=False).id == "d2"


# The SDK asks for /limits without a microversion (2.1), where Nova still
# sends maxPersonality*; the SDK flags those fields as removed when present.
@pytest.mark.filterwarnings("ignore:The field 'maxPersonality:openstack.warnings.RemovedFieldWarning")
def test_sdk_limits(conn):
    limits = conn.compute.get_limits()
    a = limits.absolute
    assert (a.instances, a.total_cores, a.total_ram) == (10, 20, 51200), a
    assert (a.instances_used, a.total_cores_used, a.total_ram_used) == (0, 0, 0), a
    assert (a.keypairs, a.server_meta, a.server_groups, a.server_group_members) == (100, 128, 10, 10), a


# --- python-novaclient -------------------------------------------------------------

# GET /limits 'absolute' keys: all of them at 2.1; 2.36 drops the network
# proxies, 2.39 maxImageMeta, 2.57 the personality limits.
LIMITS_2_1 = {
    "maxTotalCores", "maxPersonality", "maxPersonalitySize", "maxTotalInstances", "maxTotalKeypairs",
    "maxServerMeta", "maxImageMeta", "maxTotalRAMSize", "maxServerGroups", "maxServerGroupMembers",
    "maxTotalFloatingIps", "maxSecurityGroups", "maxSecurityGroupRules", "totalRAMUsed", "totalCoresUsed",
    "totalInstancesUsed", "totalFloatingIpsUsed", "totalSecurityGroupsUsed", "totalServerGroupsUsed",
}
LIMITS_2_47 = LIMITS_2_1 - {"maxTotalFloatingIps", "maxSecurityGroups", "maxSecurityGroupRules",
                            "totalFloatingIpsUsed", "totalSecurityGroupsUsed", "maxImageMeta"}
LIMITS_LATEST = LIMITS_2_47 - {"maxPersonality", "maxPersonalitySize"}


@pytest.mark.parametrize("version", ["2.1", "2.47", "2.latest"])
def test_novaclient(conn, oxstack, version):
    import novaclient

    nova = novaclient_at(conn, version)
    api = nova.api_version
    if version == "2.latest":
        server_max = http("GET", oxstack.url("/compute/v2.1")).json()["version"]["version"]
        from novaclient import api_versions
        expected = min(api_versions.APIVersion(server_max), novaclient.API_MAX_VERSION)
        assert api == expected, (api, server_max, novaclient.API_MAX_VERSION)
        assert api.ver_minor > 75, api  # past every flavor/limits boundary checked below
    else:
        assert api.get_string() == version

    current = nova.versions.get_current()
    assert (current.id, current.status, current.min_version) == ("v2.1", "CURRENT", "2.1"), current
    assert current.version == http("GET", oxstack.url("/compute/v2.1")).json()["version"]["version"]

    flavors = nova.flavors.list()
    assert [(f.id, f.name, f.ram, f.disk, f.vcpus) for f in flavors] == DEVSTACK_FLAVORS, flavors
    tiny = nova.flavors.get("1")
    assert (tiny.name, tiny.ram, tiny.disk, tiny.vcpus, tiny.is_public) == ("m1.tiny", 512, 1, 1, True)
    assert tiny.ephemeral == 0 and tiny.rxtx_factor == 1.0
    assert tiny.get_keys() == {"hw_rng:allowed": "True"}
    info = tiny.to_dict()
    if api.ver_minor < 55:
        assert tiny.swap == "", info  # Nova's empty string for "no swap" before 2.75
        assert "description" not in info and "extra_specs" not in info, info
    else:
        assert tiny.swap == 0, info
        assert info["description"] is None, info
        assert info["extra_specs"] == {"hw_rng:allowed": "True"}, info
    self_links = [l["href"] for l in info["links"] if l["rel"] == "self"]
    assert self_links == [oxstack.url("/compute/v2.1/flavors/1")], info["links"]

    limits = nova.limits.get()
    absolute = {l.name: l.value for l in limits.absolute}
    expected_keys = {"2.1": LIMITS_2_1, "2.47": LIMITS_2_47}.get(version, LIMITS_LATEST)
    assert set(absolute) == expected_keys, sorted(set(absolute) ^ expected_keys)
    assert (absolute["maxTotalInstances"], absolute["maxTotalCores"], absolute["maxTotalRAMSize"]) == (
        10, 20, 51200), absolute
    assert (absolute["totalInstancesUsed"], absolute["totalCoresUsed"], absolute["totalRAMUsed"]) == (
        0, 0, 0), absolute
    assert list(limits.rate) == [], limits.to_dict()


def test_novaclient_demo_limits_are_its_own(oxstack, conn):
    """Per-project quotas reach GET /limits of that project (novaclient as demo)."""
    from novaclient import client as nova_client

    demo_id = conn.identity.find_project("demo", ignore_missing=False).id
    admin_token = password_token(oxstack.base_url, "admin", "admin", "admin")
    quota_url = oxstack.url(f"/compute/v2.1/os-quota-sets/{demo_id}")
    resp = http("PUT", quota_url, headers={"X-Auth-Token": admin_token},
                body={"quota_set": {"instances": 7}})
    assert resp.status == 200, resp
    try:
        demo = openstack.connect(cloud="oxstack-demo")
        try:
            nova = nova_client.Client("2.1", session=demo.session)
            absolute = {l.name: l.value for l in nova.limits.get().absolute}
            assert absolute["maxTotalInstances"] == 7, absolute
            assert absolute["maxTotalCores"] == 20, absolute
        finally:
            demo.close()
        admin_nova = nova_client.Client("2.1", session=conn.session)
        assert {l.name: l.value for l in admin_nova.limits.get().absolute}["maxTotalInstances"] == 10
    finally:
        resp = http("DELETE", quota_url, headers={"X-Auth-Token": admin_token})
        assert resp.status == 202, resp
    assert http("GET", quota_url, headers={"X-Auth-Token": admin_token}).json()["quota_set"]["instances"] == 10
