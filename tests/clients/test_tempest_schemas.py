"""tempest's compute service clients against oxstack: every response of the
compute APIs oxstack implements (flavors, limits, quotas, extensions,
versions, the image proxy, key pairs, server groups, servers with their metadata, addresses
and tags, server actions and the instance-action log) is validated by tempest
against its copy of Nova's response schemas (a mismatch raises inside the
client), and again against the response schemas of the `nova` package
itself (tempest_support), which also know the microversions tempest's
schemas do not (2.75's integer swap, 2.101-2.104).

Every call goes through `check(client, "method", ...)`: a failure is an
AssertionError holding the HTTP request and response.
"""

from __future__ import annotations

import ipaddress
import os
import time
import uuid

import pytest

from oxhelpers import eventually, http, unique
from tempest_support import NOVA_VERSION, Checker, Compute, lib_exc, load_nova_schemas, microversion


def unavailable(reason):
    """Nova's own schemas could not be fetched. A developer without network
    access gets a visible skip; CI (CI=true) fails, so the check never
    silently disappears there."""
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


# Boundaries of the flavor, limits, quota and image schemas (2.36, 2.39, 2.50,
# 2.55, 2.57, 2.61, 2.75, 2.102) lie between or on these.
TEMPEST_MICROVERSIONS = ["2.1", "2.19", "2.26", "2.47", "2.55", "2.61", "2.63", "2.75", "2.90",
                         "2.100", "2.102"]
# Above tempest's knowledge: checked against Nova's schemas (tempest's
# open-ended newest schemas still run too).
NOVA_ONLY_MICROVERSIONS = ["2.101", "2.103", "2.104"]
MICROVERSIONS = sorted(TEMPEST_MICROVERSIONS + NOVA_ONLY_MICROVERSIONS, key=lambda v: int(v.split(".")[1]))
IMAGE_MICROVERSIONS = ["2.1", "2.19", "2.26", "2.35"]                   # /images: up to 2.35
IMAGE_METADATA_MICROVERSIONS = ["2.1", "2.19", "2.26", "2.35", "2.36", "2.38"]  # .../metadata: up to 2.38


def at_least(version: str, floor: str) -> bool:
    return tuple(map(int, version.split("."))) >= tuple(map(int, floor.split(".")))


def exercise_metadata(check, client, noun, resource_id, initial):
    """The six metadata calls of the image proxy and of servers (same API
    shape): list, replace, merge, show item, set item, delete item."""
    def call(verb, *args):
        return check(client, verb.format(noun), resource_id, *args)

    assert call("list_{}_metadata")["metadata"] == initial
    replaced = call("set_{}_metadata", {"a": "1", "b": "2"})["metadata"]
    assert replaced == {"a": "1", "b": "2"}, replaced
    merged = call("update_{}_metadata", {"b": "3", "c": "4"})["metadata"]
    assert merged == {"a": "1", "b": "3", "c": "4"}, merged
    assert call("show_{}_metadata_item", "c")["meta"] == {"c": "4"}
    assert call("set_{}_metadata_item", "d", {"d": "5"})["meta"] == {"d": "5"}
    call("delete_{}_metadata_item", "a")
    assert call("list_{}_metadata")["metadata"] == {"b": "3", "c": "4", "d": "5"}


@pytest.fixture(scope="module")
def nova_schemas():
    return load_nova_schemas()  # (NovaSchemas | None, why not)


@pytest.fixture(scope="module")
def admin(oxstack) -> Compute:
    return Compute(oxstack.base_url, "admin", "admin", "admin")


@pytest.fixture(scope="module")
def demo(oxstack) -> Compute:
    return Compute(oxstack.base_url, "demo", "demo", "demo")


@pytest.fixture
def checker(request, nova_schemas):
    """Checker(version): tempest's validation plus Nova's, at `version`."""
    schemas, why = nova_schemas

    def make(version: str | None) -> Checker:
        if schemas is None and version in NOVA_ONLY_MICROVERSIONS:
            unavailable(f"microversion {version} is checked against Nova's schemas, unavailable: {why}")
        return Checker(schemas, version)

    return make


def test_nova_schemas_available(nova_schemas, admin):
    """Nova's schemas load, and know every microversion oxstack offers."""
    schemas, why = nova_schemas
    if schemas is None:
        unavailable(f"Nova {NOVA_VERSION}'s response schemas are unavailable (only tempest's are checked): {why}")
    root = http("GET", admin.base_url.rstrip("/") + "/")
    assert root.status == 200, root
    offered = root.json()["version"]["version"]
    assert tuple(map(int, offered.split("."))) <= tuple(map(int, schemas.max_version.split("."))), (
        f"oxstack offers microversion {offered}; nova {NOVA_VERSION}'s schemas stop at {schemas.max_version}: "
        f"bump NOVA_VERSION in tempest_support.py")
    # Every tempest client method used below maps onto a Nova controller
    # method with response schemas.
    for op in ("flavors.show", "flavors.detail", "flavors.index", "flavors.create", "flavors.update",
               "flavors.delete", "flavors_extraspecs.index", "flavor_access.index", "limits.index",
               "quota_sets.show", "quota_sets.detail", "quota_sets.defaults", "quota_sets.update",
               "quota_sets.delete", "quota_classes.show", "quota_classes.update", "extension_info.index",
               "extension_info.show", "images.index", "images.detail", "images.show", "images.delete",
               "image_metadata.index", "image_metadata.update_all", "versions.Versions.index",
               "versionsV21.VersionsController.show", "servers.create", "servers.show", "servers.index",
               "servers.detail", "servers.update", "servers.delete", "server_metadata.index",
               "server_metadata.create", "server_metadata.update_all", "server_metadata.show",
               "server_metadata.update", "server_metadata.delete", "ips.index", "ips.show",
               "server_tags.index", "server_tags.show", "server_tags.update", "server_tags.update_all",
               "server_tags.delete", "server_tags.delete_all", "lock_server._lock", "lock_server._unlock",
               "servers._stop", "servers._start", "servers._reboot", "servers._resize", "servers._confirm_resize",
               "servers._revert_resize", "servers._rebuild", "servers._create_image", "servers._trigger_crash_dump",
               "pause_server._pause", "pause_server._unpause", "suspend_server._suspend", "suspend_server._resume",
               "rescue._rescue", "rescue._unrescue", "admin_password.change_password",
               "create_backup._create_backup", "shelve._shelve", "shelve._shelve_offload", "shelve._unshelve",
               "console_output.get_console_output", "admin_actions._reset_state",
               "admin_actions._inject_network_info", "instance_actions.index", "instance_actions.show"):
        assert schemas.ranges.get(op), op


def test_validators_reject_known_bad_bodies(nova_schemas):
    """The two validators are not vacuous: bodies that break Nova's rules
    at a microversion are refused, the same bodies pass where they are
    right."""
    from tempest.lib.api_schema.response.compute.v2_61 import flavors as tempest_v261
    from tempest.lib.services.compute.flavors_client import FlavorsClient

    class Resp(dict):
        status = 200

    links = [{"rel": "self", "href": "http://127.0.0.1/compute/v2.1/flavors/1"},
             {"rel": "bookmark", "href": "http://127.0.0.1/compute/flavors/1"}]
    flavor = {"id": "1", "name": "m1.tiny", "links": links, "ram": 512, "vcpus": 1, "disk": 1,
              "swap": 0, "OS-FLV-EXT-DATA:ephemeral": 0, "OS-FLV-DISABLED:disabled": False,
              "os-flavor-access:is_public": True, "rxtx_factor": 1.0, "description": None,
              "extra_specs": {}}
    schema = tempest_v261.create_update_get_flavor_details
    FlavorsClient.validate_response(schema, Resp(), {"flavor": flavor})
    with pytest.raises(lib_exc.InvalidHTTPResponseBody):
        FlavorsClient.validate_response(schema, Resp(), {"flavor": {**flavor, "surprise": 1}})
    with pytest.raises(lib_exc.InvalidHTTPResponseBody):
        FlavorsClient.validate_response(schema, Resp(), {"flavor": {**flavor, "ram": "512"}})

    schemas, why = nova_schemas
    if schemas is None:
        unavailable(f"Nova's response schemas are unavailable: {why}")
    schemas.validate("flavors.show", "2.101", {"flavor": flavor})
    schemas.validate("flavors.show", "2.74", {"flavor": {**flavor, "swap": ""}})
    with pytest.raises(AssertionError, match="rxtx_factor"):
        schemas.validate("flavors.show", "2.102", {"flavor": flavor})   # removed at 2.102
    with pytest.raises(AssertionError, match="swap"):
        schemas.validate("flavors.show", "2.75", {"flavor": {**flavor, "swap": ""}})  # integer from 2.75
    with pytest.raises(AssertionError, match="description"):
        schemas.validate("flavors.show", "2.54", {"flavor": flavor})   # added at 2.55
    with pytest.raises(AssertionError, match="is not of type 'null'"):
        schemas.validate("flavors.delete", "2.1", {})                  # 202 with no body
    # The server schemas are loaded and strict too.
    with pytest.raises(AssertionError, match="'id' is a required property"):
        schemas.validate("servers.index", "2.1", {"servers": [{"name": "x", "links": []}]})
    with pytest.raises(AssertionError, match="servers.py"):
        schemas.validate("servers.show", "2.100", {"server": {}})
    schemas.validate("server_tags.index", "2.26", {"tags": ["a"]})
    with pytest.raises(AssertionError, match="is not of type 'null'"):
        schemas.validate("lock_server._lock", "2.1", {})              # 202 with no body


# ---------------------------------------------------------------- flavors

@pytest.mark.parametrize("mv", MICROVERSIONS)
def test_flavors(mv, admin, demo, checker):
    check = checker(mv)
    flavors = admin.flavors

    listed = check(flavors, "list_flavors")["flavors"]
    detailed = check(flavors, "list_flavors", detail=True)["flavors"]
    assert [f["id"] for f in listed] == [f["id"] for f in detailed]
    assert len(detailed) >= 2, detailed
    check(flavors, "list_flavors", detail=True, is_public="None")
    check(demo.flavors, "list_flavors", detail=True)
    check(demo.flavors, "list_flavors")

    # Paging: a full page carries flavors_links (validated by both schemas).
    for detail in (False, True):
        page1 = check(flavors, "list_flavors", detail=detail, limit=1)
        assert len(page1["flavors"]) == 1, page1
        assert [l["rel"] for l in page1.get("flavors_links", [])] == ["next"], page1
        page2 = check(flavors, "list_flavors", detail=detail, limit=1, marker=page1["flavors"][0]["id"])
        assert page2["flavors"] and page2["flavors"][0]["id"] != page1["flavors"][0]["id"], page2

    for flavor in detailed:
        check(flavors, "show_flavor", flavor["id"])
        check(demo.flavors, "show_flavor", flavor["id"])

    # Create: every optional field the microversion accepts, then the bare minimum.
    full = dict(name=unique("tempest-full"), ram=512, vcpus=2, disk=5, ephemeral=1, swap=256,
                is_public=True)
    if not at_least(mv, "2.102"):
        full["rxtx_factor"] = 1.5   # removed from the request at 2.102
    if at_least(mv, "2.55"):
        full["description"] = "made by tempest's FlavorsClient"
    created = [check(flavors, "create_flavor", **full)["flavor"],
               check(flavors, "create_flavor", name=unique("tempest-min"), ram=64, vcpus=1, disk=0,
                     id=str(uuid.uuid4()))["flavor"]]
    try:
        for flavor in created:
            shown = check(flavors, "show_flavor", flavor["id"])["flavor"]
            assert shown["name"] == flavor["name"], shown
            check(demo.flavors, "show_flavor", flavor["id"])
        check(flavors, "list_flavors", detail=True)
        if at_least(mv, "2.55"):
            updated = check(flavors, "update_flavor", created[0]["id"], description="updated")["flavor"]
            assert updated["description"] == "updated", updated
            updated = check(flavors, "update_flavor", created[1]["id"], description=None)["flavor"]
            assert updated["description"] is None, updated
    finally:
        for flavor in created:
            check(flavors, "delete_flavor", flavor["id"])
    for flavor in created:
        check.fails(lib_exc.NotFound, flavors, "show_flavor", flavor["id"])


@pytest.mark.parametrize("mv", MICROVERSIONS)
def test_flavor_extra_specs(mv, admin, demo, checker):
    check = checker(mv)
    flavors = admin.flavors
    flavor = check(flavors, "create_flavor", name=unique("tempest-specs"), ram=128, vcpus=1, disk=1)["flavor"]
    fid = flavor["id"]
    try:
        assert check(flavors, "list_flavor_extra_specs", fid)["extra_specs"] == {}
        specs = {"hw:cpu_policy": "dedicated", "hw:numa_nodes": "1", "hw_rng:allowed": "true"}
        assert check(flavors, "set_flavor_extra_spec", fid, **specs)["extra_specs"] == specs
        assert check(flavors, "list_flavor_extra_specs", fid)["extra_specs"] == specs
        assert check(flavors, "show_flavor_extra_spec", fid, "hw:cpu_policy") == {"hw:cpu_policy": "dedicated"}
        assert check(flavors, "update_flavor_extra_spec", fid, "hw:cpu_policy",
                     **{"hw:cpu_policy": "shared"}) == {"hw:cpu_policy": "shared"}
        check(demo.flavors, "list_flavor_extra_specs", fid)
        check(demo.flavors, "show_flavor_extra_spec", fid, "hw:numa_nodes")
        # From 2.61 flavors carry their extra specs: both schemas check them.
        shown = check(flavors, "show_flavor", fid)["flavor"]
        if at_least(mv, "2.61"):
            assert shown["extra_specs"] == {**specs, "hw:cpu_policy": "shared"}, shown
        else:
            assert "extra_specs" not in shown, shown
        check(demo.flavors, "show_flavor", fid)
        check(flavors, "list_flavors", detail=True)
        check(flavors, "unset_flavor_extra_spec", fid, "hw:numa_nodes")
        assert "hw:numa_nodes" not in check(flavors, "list_flavor_extra_specs", fid)["extra_specs"]
        check.fails(lib_exc.NotFound, flavors, "show_flavor_extra_spec", fid, "hw:numa_nodes")
    finally:
        check(flavors, "delete_flavor", fid)


@pytest.mark.parametrize("mv", MICROVERSIONS)
def test_flavor_access(mv, admin, demo, checker):
    check = checker(mv)
    flavors = admin.flavors
    flavor = check(flavors, "create_flavor", name=unique("tempest-private"), ram=128, vcpus=1, disk=1,
                   is_public=False)["flavor"]
    fid = flavor["id"]
    try:
        assert flavor["os-flavor-access:is_public"] is False, flavor
        before = check(flavors, "list_flavor_access", fid)["flavor_access"]
        assert demo.project_id not in {a["tenant_id"] for a in before}, before
        added = check(flavors, "add_flavor_access", fid, demo.project_id)["flavor_access"]
        assert {"flavor_id": fid, "tenant_id": demo.project_id} in added, added
        listed = check(flavors, "list_flavor_access", fid)["flavor_access"]
        assert {"flavor_id": fid, "tenant_id": demo.project_id} in listed, listed
        # demo now sees the private flavor.
        check(demo.flavors, "show_flavor", fid)
        assert fid in {f["id"] for f in check(demo.flavors, "list_flavors", detail=True)["flavors"]}
        check(flavors, "list_flavors", detail=True, is_public="false")
        removed = check(flavors, "remove_flavor_access", fid, demo.project_id)["flavor_access"]
        assert demo.project_id not in {a["tenant_id"] for a in removed}, removed
        check(flavors, "list_flavor_access", fid)
    finally:
        check(flavors, "delete_flavor", fid)


# ---------------------------------------------------------------- limits and quotas

@pytest.mark.parametrize("mv", MICROVERSIONS)
def test_limits(mv, admin, demo, checker):
    check = checker(mv)
    for user in (admin, demo):
        absolute = check(user.limits, "show_limits")["limits"]["absolute"]
        assert ("maxTotalFloatingIps" in absolute) == (not at_least(mv, "2.36")), absolute
        assert ("maxImageMeta" in absolute) == (not at_least(mv, "2.39")), absolute
        assert ("maxPersonality" in absolute) == (not at_least(mv, "2.57")), absolute


@pytest.mark.parametrize("mv", MICROVERSIONS)
def test_quota_sets(mv, admin, demo, checker):
    check = checker(mv)
    quotas = admin.quotas
    throwaway = uuid.uuid4().hex  # a project id nothing else uses
    check(quotas, "show_quota_set", admin.project_id)
    check(quotas, "show_quota_set", admin.project_id, detail=True)
    check(demo.quotas, "show_quota_set", demo.project_id)
    check(demo.quotas, "show_quota_set", demo.project_id, detail=True)
    check(demo.quotas, "show_default_quota_set", demo.project_id)

    defaults = check(quotas, "show_default_quota_set", throwaway)["quota_set"]
    check(quotas, "show_quota_set", throwaway)
    check(quotas, "show_quota_set", throwaway, detail=True)
    try:
        updated = check(quotas, "update_quota_set", throwaway, cores=7, ram=1024, instances=3,
                        key_pairs=11, metadata_items=12, server_groups=4,
                        server_group_members=5)["quota_set"]
        assert (updated["cores"], updated["ram"], updated["instances"]) == (7, 1024, 3), updated
        shown = check(quotas, "show_quota_set", throwaway)["quota_set"]
        assert (shown["cores"], shown["ram"]) == (7, 1024), shown
        check(quotas, "show_quota_set", throwaway, detail=True)
        check(quotas, "update_quota_set", throwaway, cores=8, force=True)
    finally:
        check(quotas, "delete_quota_set", throwaway)
    reverted = check(quotas, "show_quota_set", throwaway)["quota_set"]
    assert reverted["cores"] == defaults["cores"], (reverted, defaults)


@pytest.mark.parametrize("mv", MICROVERSIONS)
def test_quota_class_sets(mv, admin, checker):
    """oxstack implements os-quota-class-sets (show, update): QuotaClassesClient.
    Updates go to a throwaway class, never to `default` (which would change
    every project's defaults under the other tests)."""
    check = checker(mv)
    classes = admin.quota_classes
    default = check(classes, "show_quota_class_set", "default")["quota_class_set"]
    assert default["id"] == "default", default
    name = unique("tempest-class")
    updated = check(classes, "update_quota_class_set", name, cores=9, ram=2048)["quota_class_set"]
    assert (updated["cores"], updated["ram"]) == (9, 2048), updated
    shown = check(classes, "show_quota_class_set", name)["quota_class_set"]
    assert (shown["id"], shown["cores"], shown["ram"]) == (name, 9, 2048), shown


# ---------------------------------------------------------------- extensions and versions

@pytest.mark.parametrize("mv", MICROVERSIONS)
def test_extensions(mv, admin, demo, checker):
    check = checker(mv)
    extensions = check(admin.extensions, "list_extensions")["extensions"]
    check(demo.extensions, "list_extensions")
    aliases = [e["alias"] for e in extensions]
    assert len(aliases) == len(set(aliases)) and aliases, aliases
    # tempest has no schema for show_extension: check it against the list
    # entry's schema too (Nova's schema checks it independently).
    from tempest.lib.api_schema.response.compute.v2_1 import extensions as tempest_schema
    item = tempest_schema.list_extensions["response_body"]["properties"]["extensions"]["items"]
    show_schema = {"status_code": [200], "response_body": {
        "type": "object", "properties": {"extension": item},
        "required": ["extension"], "additionalProperties": False}}
    wanted = [aliases[0], aliases[-1]] + [a for a in ("os-flavor-access", "os-quota-sets") if a in aliases]
    for alias in wanted:
        shown = check(admin.extensions, "show_extension", alias)
        try:
            admin.extensions.validate_response(show_schema, shown.response, dict(shown))
        except Exception as e:
            raise AssertionError(f"show_extension({alias!r}) at {mv}: {e}\n{admin.extensions.exchanges[-1]}")
        assert shown["extension"] == next(e for e in extensions if e["alias"] == alias), shown


def test_versions(admin, oxstack, checker):
    check = checker(None)
    versions = admin.versions
    listed = check(versions, "list_versions")["versions"]
    assert {v["id"] for v in listed} >= {"v2.1"}, listed
    for path in ("/compute/v2.1/", "/compute/v2/", "/v2.1/", "/v2/"):
        doc = check(versions, "get_version_by_url", oxstack.url(path))["version"]
        assert doc["id"] == ("v2.1" if "v2.1" in path else "v2.0"), doc


# ---------------------------------------------------------------- the compute image proxy

# Key pairs change at 2.2 (type, 201/204), 2.10 (user_id), 2.35 (paging),
# 2.75 (strict queries) and 2.92 (import only).
KEYPAIR_MICROVERSIONS = ["2.1", "2.2", "2.10", "2.35", "2.75", "2.91", "2.92", "2.104"]
# An ECDSA P-384 public key, the kind tempest's own client makes.
P384 = ("ecdsa-sha2-nistp384 AAAAE2VjZHNhLXNoYTItbmlzdHAzODQAAAAIbmlzdHAzODQAAABhBCXGo4geymQOpvOJ3SSM1FJ1EDXusrRnC"
        "vOwKwfKww5ZKvlw3xRCgf6u3cewYXX/WYVDnN/C6LhKQGCvxaI5eSXuGrazizKyGL9WiOf0ZR44kl0VEIedEUCr74yfu31wKQ== root@vm")


@pytest.mark.parametrize("mv", KEYPAIR_MICROVERSIONS)
def test_keypairs(mv, admin, demo, checker):
    check = checker(mv)
    keypairs = demo.keypairs
    typed = at_least(mv, "2.2")
    imported = check(keypairs, "create_keypair", name=unique("tempest-key"), public_key=P384)["keypair"]
    assert "private_key" not in imported and ("type" in imported) == typed, imported
    names = [imported["name"]]
    if not at_least(mv, "2.92"):
        made = check(keypairs, "create_keypair", name=unique("tempest-made"))["keypair"]
        assert made["private_key"].startswith("-----BEGIN RSA PRIVATE KEY-----"), made
        names.append(made["name"])
        if typed:
            cert = check(keypairs, "create_keypair", name=unique("tempest-x509"), type="x509")["keypair"]
            assert cert["type"] == "x509" and cert["public_key"].startswith("-----BEGIN CERTIFICATE-----"), cert
            names.append(cert["name"])
    listed = check(keypairs, "list_keypairs")["keypairs"]
    entry = next(k["keypair"] for k in listed if k["keypair"]["name"] == imported["name"])
    assert entry == {k: v for k, v in imported.items() if k != "user_id"}, (entry, imported)
    shown = check(keypairs, "show_keypair", imported["name"])["keypair"]
    assert (shown["user_id"], shown["deleted"]) == (demo.user_id, False), shown
    if at_least(mv, "2.10"):
        # An admin reaches the demo user's key pairs by naming the user.
        theirs = check(admin.keypairs, "list_keypairs", user_id=demo.user_id)["keypairs"]
        assert {k["keypair"]["name"] for k in theirs} >= set(names), theirs
        check(admin.keypairs, "show_keypair", imported["name"], user_id=demo.user_id)
    if at_least(mv, "2.35"):
        # A page that is not full: no keypairs_links, which tempest's schema
        # does not know.
        after = check(keypairs, "list_keypairs", limit=100, marker=sorted(names)[0])["keypairs"]
        assert [k["keypair"]["name"] for k in after if k["keypair"]["name"] in names] == sorted(names)[1:], after
    for name in names:
        check(keypairs, "delete_keypair", name)
    with pytest.raises(lib_exc.NotFound):
        keypairs.show_keypair(imported["name"])


# Server groups change at 2.13 (owners), 2.15 (soft policies), 2.64 (policy
# and rules), 2.71 (server_groups in server views) and 2.75 (strict queries).
SERVER_GROUP_MICROVERSIONS = ["2.1", "2.13", "2.15", "2.64", "2.71", "2.75", "2.104"]


@pytest.mark.parametrize("mv", SERVER_GROUP_MICROVERSIONS)
def test_server_groups(mv, admin, demo, cirros_id, checker, server_cleanup):
    check = checker(mv)
    groups = demo.server_groups
    policy = "soft-anti-affinity" if at_least(mv, "2.15") else "anti-affinity"
    if at_least(mv, "2.64"):
        body = {"policy": policy}
    else:
        body = {"policies": [policy]}
    made = check(groups, "create_server_group", name=unique("tempest-group"), **body)["server_group"]
    assert made["members"] == [], made
    assert check(groups, "show_server_group", made["id"])["server_group"] == made
    assert made in check(groups, "list_server_groups")["server_groups"]
    check(admin.server_groups, "list_server_groups", all_projects=True)
    if at_least(mv, "2.64"):
        ruled = check(groups, "create_server_group", name=unique("tempest-ruled"), policy="anti-affinity",
                      rules={"max_server_per_host": 2})["server_group"]
        assert ruled["rules"] == {"max_server_per_host": 2}, ruled
        check(groups, "delete_server_group", ruled["id"])
    if at_least(mv, "2.71"):
        # A server created into the group shows it (tempest's 2.71 schema).
        created = check(demo.servers, "create_server", name=unique("tempest-grouped"), imageRef=cirros_id,
                        flavorRef="1", networks="none", scheduler_hints={"group": made["id"]})["server"]
        server_cleanup.append(created["id"])
        shown = wait_for_status(check, demo.servers, created["id"])
        assert shown["server_groups"] == [made["id"]], shown
        members = check(groups, "show_server_group", made["id"])["server_group"]["members"]
        assert members == [created["id"]], members
    check(groups, "delete_server_group", made["id"])
    with pytest.raises(lib_exc.NotFound):
        groups.show_server_group(made["id"])


def _glance_image(oxstack, token: str, data: bytes | None, **props) -> str:
    auth = {"X-Auth-Token": token}
    body = {"name": unique("tempest-img"), "disk_format": "raw", "container_format": "bare", **props}
    resp = http("POST", oxstack.url("/image/v2/images"), headers=auth, body=body)
    assert resp.status == 201, f"POST /image/v2/images {body}: {resp}"
    image_id = resp.json()["id"]
    if data is not None:
        resp = http("PUT", oxstack.url(f"/image/v2/images/{image_id}/file"), headers=auth, body=data)
        assert resp.status == 204, f"PUT /image/v2/images/{image_id}/file: {resp}"
    return image_id


@pytest.fixture(scope="module")
def glance_images(oxstack, admin):
    """An active image with data and properties, and a queued snapshot."""
    token = admin.token
    active = _glance_image(oxstack, token, b"\0" * 4096, min_ram=64, min_disk=1, visibility="public",
                           os_distro="cirros", hw_disk_bus="scsi")
    # Queued (no data yet) and tied to a server, like a snapshot in progress:
    # the proxy then shows a `server` entry.
    queued = _glance_image(oxstack, token, None, instance_uuid=str(uuid.uuid4()), image_type="snapshot")
    yield active, queued
    for image_id in (active, queued):
        http("DELETE", oxstack.url(f"/image/v2/images/{image_id}"), headers={"X-Auth-Token": admin.token})


@pytest.mark.parametrize("mv", IMAGE_MICROVERSIONS)
def test_compute_images(mv, admin, demo, oxstack, glance_images, checker):
    check = checker(mv)
    images = admin.images
    active, queued = glance_images
    # Unfiltered pages may not reach these two (other tests make images):
    # membership is checked through the name filter.
    check(images, "list_images")
    check(images, "list_images", detail=True)
    check(demo.images, "list_images", detail=True)
    for image_id in (active, queued):
        name = check(images, "show_image", image_id)["image"]["name"]
        for detail in (False, True):
            found = check(images, "list_images", detail=detail, name=name)["images"]
            assert [i["id"] for i in found] == [image_id], found
    for detail in (False, True):
        page1 = check(images, "list_images", detail=detail, limit=1)
        assert len(page1["images"]) == 1, page1
        check(images, "list_images", detail=detail, limit=1, marker=page1["images"][0]["id"])
    shown = check(images, "show_image", active)["image"]
    assert (shown["status"], shown["minRam"], shown["minDisk"]) == ("ACTIVE", 64, 1), shown
    assert shown["OS-EXT-IMG-SIZE:size"] == 4096, shown
    snapshot = check(images, "show_image", queued)["image"]
    assert (snapshot["status"], snapshot["progress"]) == ("SAVING", 25), snapshot
    assert snapshot["server"]["id"], snapshot
    check(demo.images, "show_image", active)

    doomed = _glance_image(oxstack, admin.token, b"x")
    check(images, "delete_image", doomed)
    check.fails(lib_exc.NotFound, images, "show_image", doomed)


def test_compute_images_gone_after_2_35(admin, glance_images, checker):
    check = checker("2.36")
    check.fails(lib_exc.NotFound, admin.images, "list_images")
    check.fails(lib_exc.NotFound, admin.images, "show_image", glance_images[0])


@pytest.mark.parametrize("mv", IMAGE_METADATA_MICROVERSIONS)
def test_compute_image_metadata(mv, admin, oxstack, checker):
    check = checker(mv)
    images = admin.images
    image_id = _glance_image(oxstack, admin.token, b"meta", os_distro="cirros")
    try:
        exercise_metadata(check, images, "image", image_id, {"os_distro": "cirros"})
    finally:
        http("DELETE", oxstack.url(f"/image/v2/images/{image_id}"), headers={"X-Auth-Token": admin.token})


def test_compute_image_metadata_gone_after_2_38(admin, oxstack, glance_images, checker):
    check = checker("2.39")
    check.fails(lib_exc.NotFound, admin.images, "list_image_metadata", glance_images[0])


# ---------------------------------------------------------------- servers

# oxstack's built-in network (DevStack's `private`, no Neutron): its id is
# derived from its name, uuid5(OID, "oxstack-network:<name>").
PRIVATE_NET = "private"
PRIVATE_NET_ID = str(uuid.uuid5(uuid.NAMESPACE_OID, "oxstack-network:private"))
PRIVATE_V4 = ipaddress.ip_network("10.0.0.0/24")
PRIVATE_V6 = ipaddress.ip_network("fd00:0:0:1::/64")
BUILD_TIMEOUT = 30


def wait_for_status(check, client, server_id: str, status: str = "ACTIVE") -> dict:
    """Polls show_server (each answer validated by both schemas) until the
    server reaches `status` with no task in progress."""
    deadline = time.monotonic() + BUILD_TIMEOUT
    seen = []
    while True:
        server = check(client, "show_server", server_id)["server"]
        if not seen or seen[-1] != server["status"]:
            seen.append(server["status"])
        if server["status"] == status and server.get("OS-EXT-STS:task_state") is None:
            return server
        if server["status"] == "ERROR" or time.monotonic() > deadline:
            raise AssertionError(f"server {server_id} never became {status} (statuses seen: {seen}): {server}")
        time.sleep(0.1)


def wait_for_deletion(check, client, server_id: str) -> None:
    """Polls show_server until it answers 404 (delete is asynchronous)."""
    deadline = time.monotonic() + BUILD_TIMEOUT
    while True:
        try:
            with microversion(check.version):
                client.show_server(server_id)
        except lib_exc.NotFound:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"server {server_id} still exists {BUILD_TIMEOUT}s after DELETE\n"
                                 f"{client.exchanges[-1]}")
        time.sleep(0.1)


def addresses_of(server: dict) -> tuple[list, list]:
    """(IPv4, IPv6) addresses of the `private` network in an `addresses` dict."""
    items = server["addresses"].get(PRIVATE_NET, [])
    v4 = [ipaddress.ip_address(a["addr"]) for a in items if a["version"] == 4]
    v6 = [ipaddress.ip_address(a["addr"]) for a in items if a["version"] == 6]
    return v4, v6


def expected_flavor(mv: str, flavor: dict) -> None:
    if at_least(mv, "2.47"):
        assert {k: flavor[k] for k in ("vcpus", "ram", "disk", "ephemeral", "swap", "original_name")} == {
            "vcpus": 1, "ram": 512, "disk": 1, "ephemeral": 0, "swap": 0, "original_name": "m1.tiny"}, flavor
        assert "id" not in flavor, flavor
    else:
        assert flavor["id"] == "1" and [l["rel"] for l in flavor["links"]] == ["bookmark"], flavor


@pytest.fixture
def server_cleanup(admin, demo):
    """Server ids a test created, deleted (as admin) if the test did not."""
    created: list[str] = []
    yield created
    for sid in created:
        http("DELETE", admin.base_url.rstrip("/") + f"/servers/{sid}", headers={"X-Auth-Token": admin.token})


@pytest.mark.parametrize("mv", MICROVERSIONS)
def test_servers(mv, admin, cirros_id, checker, server_cleanup):
    """The whole life of two admin servers (one on the private network, one
    without networks from 2.37) through every server call tempest has for
    the APIs oxstack implements."""
    check = checker(mv)
    servers = admin.servers
    index = MICROVERSIONS.index(mv)
    name = unique("tempest-srv")

    # --- create
    wired = dict(name=name, imageRef=cirros_id, flavorRef="1", metadata={"m1": "v1"})
    if at_least(mv, "2.37"):
        wired["networks"] = "auto"
    if at_least(mv, "2.19"):
        wired["description"] = "made by tempest"
    if at_least(mv, "2.52"):
        wired["tags"] = ["boot-tag"]
    created = check(servers, "create_server", **wired)["server"]
    server_cleanup.append(created["id"])
    assert created["adminPass"] and created["security_groups"] == [{"name": "default"}], created
    assert created["OS-DCF:diskConfig"] == "MANUAL", created
    assert [l["rel"] for l in created["links"]] == ["self", "bookmark"], created
    bare = None
    if at_least(mv, "2.37"):
        bare = check(servers, "create_server", name=name + "-bare", imageRef=cirros_id, flavorRef="1",
                     networks="none")["server"]
        server_cleanup.append(bare["id"])
    # The built-in network by uuid with a fixed IP (a list: any microversion).
    fixed_ip = f"10.0.0.{200 + index}"
    pinned = check(servers, "create_server", name=name + "-fixed", imageRef=cirros_id, flavorRef="1",
                   networks=[{"uuid": PRIVATE_NET_ID, "fixed_ip": fixed_ip}])["server"]
    server_cleanup.append(pinned["id"])

    # --- show
    shown = wait_for_status(check, servers, created["id"])
    assert (shown["id"], shown["name"], shown["status"]) == (created["id"], name, "ACTIVE"), shown
    assert shown["metadata"] == {"m1": "v1"}, shown
    assert shown["image"]["id"] == cirros_id, shown
    assert shown["tenant_id"] == admin.project_id, shown
    expected_flavor(mv, shown["flavor"])
    v4, v6 = addresses_of(shown)
    assert len(v4) == 1 and v4[0] in PRIVATE_V4 and len(v6) == 1 and v6[0] in PRIVATE_V6, shown["addresses"]
    assert shown["OS-EXT-STS:vm_state"] == "active" and shown["OS-EXT-STS:power_state"] == 1, shown
    if at_least(mv, "2.9"):
        assert shown["locked"] is False, shown
    if at_least(mv, "2.19"):
        assert shown["description"] == "made by tempest", shown
    if at_least(mv, "2.26"):
        assert shown["tags"] == (["boot-tag"] if at_least(mv, "2.52") else []), shown
    if bare is not None:
        assert wait_for_status(check, servers, bare["id"])["addresses"] == {}
    pinned_shown = wait_for_status(check, servers, pinned["id"])
    assert addresses_of(pinned_shown)[0] == [ipaddress.ip_address(fixed_ip)], pinned_shown["addresses"]

    # --- list
    ours = {created["id"], pinned["id"]} | ({bare["id"]} if bare else set())
    for detail in (False, True):
        listed = check(servers, "list_servers", detail=detail)["servers"]
        assert ours <= {s["id"] for s in listed}, listed
        named = check(servers, "list_servers", detail=detail, name=f"^{name}")["servers"]
        assert {s["id"] for s in named} == ours, named
        page1 = check(servers, "list_servers", detail=detail, name=f"^{name}", limit=1)
        assert len(page1["servers"]) == 1, page1
        assert [l["rel"] for l in page1.get("servers_links", [])] == ["next"], page1
        page2 = check(servers, "list_servers", detail=detail, name=f"^{name}", limit=1,
                      marker=page1["servers"][0]["id"])
        assert page2["servers"] and page2["servers"][0]["id"] != page1["servers"][0]["id"], page2
        check(servers, "list_servers", detail=detail, status="ACTIVE", flavor="1", image=cirros_id)
        by_ip = check(servers, "list_servers", detail=detail, ip=fixed_ip.replace(".", r"\.") + "$")["servers"]
        assert [s["id"] for s in by_ip] == [pinned["id"]], by_ip
        if at_least(mv, "2.26"):
            check(servers, "list_servers", detail=detail, tags="boot-tag")
    detailed = {s["id"]: s for s in check(servers, "list_servers", detail=True, name=f"^{name}")["servers"]}
    assert detailed[created["id"]]["metadata"] == {"m1": "v1"}, detailed

    # --- update
    new_name = name + "-renamed"
    updated = check(servers, "update_server", created["id"], name=new_name)["server"]
    assert updated["name"] == new_name and updated["id"] == created["id"], updated
    if at_least(mv, "2.19"):
        updated = check(servers, "update_server", created["id"], description="changed")["server"]
        assert updated["description"] == "changed", updated
        updated = check(servers, "update_server", created["id"], description=None)["server"]
        assert updated["description"] is None, updated
    assert check(servers, "show_server", created["id"])["server"]["name"] == new_name

    # --- metadata
    sid = created["id"]
    exercise_metadata(check, servers, "server", sid, {"m1": "v1"})
    check.fails(lib_exc.NotFound, servers, "show_server_metadata_item", sid, "a")
    assert check(servers, "show_server", sid)["server"]["metadata"] == {"b": "3", "c": "4", "d": "5"}

    # --- addresses
    ips = check(servers, "list_addresses", sid)["addresses"]
    assert list(ips) == [PRIVATE_NET], ips
    assert ips[PRIVATE_NET] == [{"version": a["version"], "addr": a["addr"]}
                                for a in shown["addresses"][PRIVATE_NET]], (ips, shown["addresses"])
    assert check(servers, "list_addresses_by_network", sid, PRIVATE_NET) == {PRIVATE_NET: ips[PRIVATE_NET]}
    check.fails(lib_exc.NotFound, servers, "list_addresses_by_network", sid, "public")
    if bare is not None:
        assert check(servers, "list_addresses", bare["id"])["addresses"] == {}
        check.fails(lib_exc.NotFound, servers, "list_addresses_by_network", bare["id"], PRIVATE_NET)

    # --- tags (2.26)
    if at_least(mv, "2.26"):
        start = ["boot-tag"] if at_least(mv, "2.52") else []
        assert check(servers, "list_tags", sid)["tags"] == start
        assert sorted(check(servers, "update_all_tags", sid, ["t-a", "t-b"])["tags"]) == ["t-a", "t-b"]
        check(servers, "check_tag_existence", sid, "t-a")
        check.fails(lib_exc.NotFound, servers, "check_tag_existence", sid, "t-zz")
        added = check(servers, "update_tag", sid, "t-c")
        assert added.response.status == 201, added.response
        assert added.response.get("location", "").endswith(f"/servers/{sid}/tags/t-c"), added.response
        # Adding it again is a 204 without a Location header in Nova
        # (server_tags.py update), which tempest's update_tag schema (it
        # requires `location` for 201 and 204 alike) would refuse: raw.
        again = http("PUT", servers.base_url.rstrip("/") + f"/servers/{sid}/tags/t-c",
                     headers={"X-Auth-Token": admin.token, "OpenStack-API-Version": f"compute {mv}"})
        assert (again.status, again.body, "location" in again.headers) == (204, b"", False), again
        check(servers, "delete_tag", sid, "t-a")
        check.fails(lib_exc.NotFound, servers, "delete_tag", sid, "t-a")
        assert sorted(check(servers, "list_tags", sid)["tags"]) == ["t-b", "t-c"]
        assert sorted(check(servers, "show_server", sid)["server"]["tags"]) == ["t-b", "t-c"]
        found = check(servers, "list_servers", detail=True, tags="t-b,t-c", name=f"^{name}")["servers"]
        assert [s["id"] for s in found] == [sid], found
        check(servers, "delete_all_tags", sid)
        assert check(servers, "list_tags", sid)["tags"] == []
    else:
        check.fails(lib_exc.NotFound, servers, "list_tags", sid)

    # --- lock / unlock
    reason = {"locked_reason": "tempest"} if at_least(mv, "2.73") else {}
    check(servers, "lock_server", sid, **reason)
    locked = check(servers, "show_server", sid)["server"]
    if at_least(mv, "2.9"):
        assert locked["locked"] is True, locked
    if at_least(mv, "2.73"):
        assert locked["locked_reason"] == "tempest", locked
        found = check(servers, "list_servers", detail=True, locked="true", name=f"^{name}")["servers"]
        assert [s["id"] for s in found] == [sid], found
    check(servers, "list_servers", detail=True)
    check(servers, "unlock_server", sid)
    unlocked = check(servers, "show_server", sid)["server"]
    if at_least(mv, "2.9"):
        assert unlocked["locked"] is False, unlocked
    if at_least(mv, "2.73"):
        assert unlocked["locked_reason"] is None, unlocked

    # --- delete
    for server_id in ours:
        check(servers, "delete_server", server_id)
    for server_id in ours:
        wait_for_deletion(check, servers, server_id)
        check.fails(lib_exc.NotFound, servers, "show_server", server_id)
        check.fails(lib_exc.NotFound, servers, "list_server_metadata", server_id)
    for detail in (False, True):
        left = check(servers, "list_servers", detail=detail, name=f"^{name}")["servers"]
        assert left == [], left

    # Nova's schemas really were applied to every kind of call.
    if check.nova is not None:
        validated = {op for op, _ in check.validated}
        wanted = {"servers.create", "servers.show", "servers.index", "servers.detail", "servers.update",
                  "servers.delete", "server_metadata.index", "server_metadata.update_all",
                  "server_metadata.create", "server_metadata.show", "server_metadata.update",
                  "server_metadata.delete", "ips.index", "ips.show", "lock_server._lock", "lock_server._unlock"}
        if at_least(mv, "2.26"):
            wanted |= {"server_tags.index", "server_tags.update_all", "server_tags.show", "server_tags.update",
                       "server_tags.delete", "server_tags.delete_all"}
        assert wanted <= validated, sorted(wanted - validated)


@pytest.mark.parametrize("mv", MICROVERSIONS)
def test_servers_as_member(mv, demo, cirros_id, checker, server_cleanup):
    """A project member's own server: the non-admin view (no extended
    server attributes, host_status only when UNKNOWN)."""
    check = checker(mv)
    servers = demo.servers
    name = unique("tempest-member")
    kwargs = dict(name=name, imageRef=cirros_id, flavorRef="1")
    if at_least(mv, "2.37"):
        kwargs["networks"] = "auto"
    created = check(servers, "create_server", **kwargs)["server"]
    server_cleanup.append(created["id"])
    shown = wait_for_status(check, servers, created["id"])
    assert shown["tenant_id"] == demo.project_id, shown
    assert not any(k.startswith("OS-EXT-SRV-ATTR:") for k in shown if k != "OS-EXT-SRV-ATTR:hostname"), shown
    assert ("OS-EXT-SRV-ATTR:hostname" in shown) == at_least(mv, "2.90"), shown
    expected_flavor(mv, shown["flavor"])
    for detail in (False, True):
        listed = check(servers, "list_servers", detail=detail, name=f"^{name}$")["servers"]
        assert [s["id"] for s in listed] == [created["id"]], listed
    check(servers, "update_server", created["id"], name=name + "-2")
    check(servers, "set_server_metadata", created["id"], {"k": "v"})
    check(servers, "list_addresses", created["id"])
    if at_least(mv, "2.26"):
        check(servers, "update_tag", created["id"], "mine")
        assert check(servers, "list_tags", created["id"])["tags"] == ["mine"]
    check(servers, "lock_server", created["id"])
    # Locked by its owner: a member may not change its metadata (409).
    check.fails(lib_exc.Conflict, servers, "set_server_metadata", created["id"], {"k": "w"})
    check(servers, "unlock_server", created["id"])
    check(servers, "delete_server", created["id"])
    wait_for_deletion(check, servers, created["id"])


@pytest.mark.parametrize("mv", ["2.1", "2.37", "2.75", "2.104"])
def test_server_list_bad_queries(mv, admin, checker):
    """Nova's query-string validation: the message names the parameter
    (`Invalid input for query parameters <name>. Value: ...`)."""
    check = checker(mv)
    servers = admin.servers
    wrong = []
    for params, needle in (
        ({"changes-since": "2011/01/01"}, "Invalid input for query parameters changes-since. Value: 2011/01/01."),
        ({"limit": "-1"}, "Invalid input for query parameters limit. Value: -1."),
        ({"limit": "testing"}, "Invalid input for query parameters limit. Value: testing."),
        # The regex filters refuse an empty pattern (Nova's 'regex' format).
        ({"name": ""}, "Invalid input for query parameters name. Value: . '' is not a 'regex'"),
    ):
        for detail in (False, True):
            try:
                err = check.fails(lib_exc.BadRequest, servers, "list_servers", detail=detail, **params)
            except AssertionError as e:
                wrong.append(f"{params} (detail={detail}): {e}")
                continue
            message = (err.resp_body or {}).get("message", "") if isinstance(err.resp_body, dict) else str(err)
            if needle not in message:
                wrong.append(f"{params} (detail={detail}): expected a message containing {needle!r}, "
                             f"got {message!r}")
    assert not wrong, "\n".join(wrong)


# ---------------------------------------------------------------- server actions

def boot(check, servers, cirros_id, name: str) -> str:
    """An ACTIVE m1.tiny server without networks (on the built-in network
    before 2.37, where `networks` cannot say none)."""
    kwargs = dict(name=name, imageRef=cirros_id, flavorRef="1")
    if at_least(check.version, "2.37"):
        kwargs["networks"] = "none"
    sid = check(servers, "create_server", **kwargs)["server"]["id"]
    wait_for_status(check, servers, sid)
    return sid


def image_id_of(check, result) -> str:
    """createImage / createBackup: the new image's id, in the Location
    header up to 2.44 and in the body from 2.45."""
    if at_least(check.version, "2.45"):
        return result["image_id"]
    return result.response["location"].rsplit("/", 1)[1]


def glance_image(oxstack, token, image_id) -> dict:
    resp = http("GET", oxstack.url(f"/image/v2/images/{image_id}"), headers={"X-Auth-Token": token})
    assert resp.status == 200, f"GET /image/v2/images/{image_id}: {resp}"
    return resp.json()


def flavor_name(mv: str, server: dict) -> str:
    """The flavor as the microversion shows it: its id before 2.47, its
    name from 2.47."""
    return server["flavor"]["original_name"] if at_least(mv, "2.47") else server["flavor"]["id"]


def expect_action_log(check, servers, sid, oldest_first: list[str]) -> None:
    """list_instance_actions holds these actions (newest first);
    show_instance_action of each, as admin: every event successful, with
    its traceback field, its host and hostId from 2.62, details from 2.84."""
    mv = check.version
    listed = check(servers, "list_instance_actions", sid)["instanceActions"]
    assert [a["action"] for a in listed] == oldest_first[::-1], [a["action"] for a in listed]
    for action in listed:
        shown = eventually(lambda: check(servers, "show_instance_action", sid, action["request_id"]),
                           lambda r: all(e["finish_time"] for e in r["instanceAction"]["events"]))["instanceAction"]
        assert (shown["action"], shown["request_id"]) == (action["action"], action["request_id"]), shown
        for event in shown["events"]:
            assert event["result"] == "Success" and "traceback" in event, shown
            assert ("host" in event, "hostId" in event, "details" in event) == (
                at_least(mv, "2.62"), at_least(mv, "2.62"), at_least(mv, "2.84")), event
    check.fails(lib_exc.NotFound, servers, "show_instance_action", sid, "req-00000000-0000-0000-0000-000000000000")


def expect_nova_validated(check, *operations: str) -> None:
    """Nova's schemas really were applied to these operations."""
    if check.nova is not None:
        missing = set(operations) - {op for op, _ in check.validated}
        assert not missing, sorted(missing)


@pytest.mark.parametrize("mv", MICROVERSIONS)
def test_server_power_actions(mv, admin, cirros_id, checker, server_cleanup):
    """stop/start, reboot, pause/unpause, suspend/resume, trigger_crash_dump
    (2.17, through tempest's generic `action`), rescue/unrescue,
    changePassword, console output, lock/unlock, and their action log."""
    check = checker(mv)
    servers = admin.servers
    sid = boot(check, servers, cirros_id, unique("tempest-power"))
    server_cleanup.append(sid)

    def settle(status: str) -> dict:
        return wait_for_status(check, servers, sid, status)

    check(servers, "stop_server", sid)
    assert settle("SHUTOFF")["OS-EXT-STS:vm_state"] == "stopped"
    check(servers, "start_server", sid)
    settle("ACTIVE")
    for kind in ("SOFT", "HARD"):
        check(servers, "reboot_server", sid, type=kind)
        assert settle("ACTIVE")["OS-EXT-STS:power_state"] == 1
    check(servers, "pause_server", sid)
    assert settle("PAUSED")["OS-EXT-STS:vm_state"] == "paused"
    check(servers, "unpause_server", sid)
    settle("ACTIVE")
    check(servers, "suspend_server", sid)
    assert settle("SUSPENDED")["OS-EXT-STS:vm_state"] == "suspended"
    check(servers, "resume_server", sid)
    settle("ACTIVE")
    crash_dump = dict(schema={"status_code": [202]}, body={"trigger_crash_dump": None})
    if at_least(mv, "2.17"):
        check(servers, "action", sid, "trigger_crash_dump", **crash_dump)
        settle("ACTIVE")
    else:  # Nova: a versioned action below its version is a bare 404
        check.fails(lib_exc.NotFound, servers, "action", sid, "trigger_crash_dump", **crash_dump)

    rescued = check(servers, "rescue_server", sid, adminPass="rescue-pw")
    assert rescued.response.status == 200 and rescued["adminPass"] == "rescue-pw", rescued
    assert settle("RESCUE")["OS-EXT-STS:vm_state"] == "rescued"
    check(servers, "unrescue_server", sid)
    settle("ACTIVE")
    check(servers, "change_password", sid, adminPass="changed-pw")
    settle("ACTIVE")

    output = check(servers, "get_console_output", sid, length=2)["output"]
    assert output and len(output.rstrip("\n").split("\n")) <= 2, output
    check(servers, "get_console_output", sid)
    check(servers, "lock_server", sid, **({"locked_reason": "tempest"} if at_least(mv, "2.73") else {}))
    check(servers, "unlock_server", sid)

    expect_action_log(check, servers, sid, [
        "create", "stop", "start", "reboot", "reboot", "pause", "unpause", "suspend", "resume",
        *(["trigger_crash_dump"] if at_least(mv, "2.17") else []), "rescue", "unrescue", "changePassword",
        "lock", "unlock"])
    expect_nova_validated(check, "servers._stop", "servers._start", "servers._reboot", "pause_server._pause",
                          "pause_server._unpause", "suspend_server._suspend", "suspend_server._resume",
                          "rescue._rescue", "rescue._unrescue", "admin_password.change_password",
                          "console_output.get_console_output", "lock_server._lock", "lock_server._unlock",
                          "instance_actions.index", "instance_actions.show",
                          *(["servers._trigger_crash_dump"] if at_least(mv, "2.17") else []))


@pytest.mark.parametrize("mv", MICROVERSIONS)
def test_server_resize(mv, admin, cirros_id, checker, server_cleanup):
    """resize to m1.small and confirm (204), resize to m1.medium and revert."""
    check = checker(mv)
    servers = admin.servers
    sid = boot(check, servers, cirros_id, unique("tempest-resize"))
    server_cleanup.append(sid)
    small = "m1.small" if at_least(mv, "2.47") else "2"

    check(servers, "resize_server", sid, "2")
    resized = wait_for_status(check, servers, sid, "VERIFY_RESIZE")
    assert (resized["OS-EXT-STS:vm_state"], flavor_name(mv, resized)) == ("resized", small), resized
    confirmed = check(servers, "confirm_resize_server", sid)
    assert confirmed.response.status == 204, confirmed.response
    assert flavor_name(mv, wait_for_status(check, servers, sid)) == small
    check(servers, "resize_server", sid, "3")
    assert flavor_name(mv, wait_for_status(check, servers, sid, "VERIFY_RESIZE")) != small
    check(servers, "revert_resize_server", sid)
    assert flavor_name(mv, wait_for_status(check, servers, sid)) == small

    expect_action_log(check, servers, sid, ["create", "resize", "confirmResize", "resize", "revertResize"])
    expect_nova_validated(check, "servers._resize", "servers._confirm_resize", "servers._revert_resize")


@pytest.mark.parametrize("mv", MICROVERSIONS)
def test_server_rebuild(mv, admin, cirros_id, checker, server_cleanup):
    """rebuild: 202 with the server (the short view up to 2.74, the full
    one from 2.75), adminPass, key_name from 2.54, user_data from 2.57."""
    check = checker(mv)
    servers = admin.servers
    sid = boot(check, servers, cirros_id, unique("tempest-rebuild"))
    server_cleanup.append(sid)
    rebuild = dict(name=unique("tempest-rebuilt"), metadata={"r": "1"}, adminPass="rebuild-pw")
    if at_least(mv, "2.19"):
        rebuild["description"] = "rebuilt by tempest"
    if at_least(mv, "2.57"):
        rebuild["user_data"] = "IyEvYmluL3NoCmVjaG8gaGkK"
    rebuilt = check(servers, "rebuild_server", sid, cirros_id, **rebuild)["server"]
    assert (rebuilt["id"], rebuilt["name"], rebuilt["adminPass"]) == (sid, rebuild["name"], "rebuild-pw"), rebuilt
    assert rebuilt["metadata"] == {"r": "1"} and rebuilt["image"]["id"] == cirros_id, rebuilt
    if at_least(mv, "2.57"):
        assert rebuilt["user_data"] == rebuild["user_data"], rebuilt
    assert wait_for_status(check, servers, sid)["name"] == rebuild["name"]

    expect_action_log(check, servers, sid, ["create", "rebuild"])
    expect_nova_validated(check, "servers._rebuild")


@pytest.mark.parametrize("mv", MICROVERSIONS)
def test_server_images_and_shelve(mv, admin, oxstack, cirros_id, checker, server_cleanup, image_cleanup):
    """createImage (the compute ImagesClient) and createBackup (Location
    up to 2.44, image_id from 2.45); shelve (offloaded at once, so the
    admin's shelveOffload finds nothing left to offload: 409), unshelve."""
    check = checker(mv)
    servers = admin.servers
    sid = boot(check, servers, cirros_id, unique("tempest-images"))
    server_cleanup.append(sid)

    snapshot = image_id_of(check, check(admin.images, "create_image", sid, name=unique("tempest-snap")))
    image_cleanup.append(snapshot)
    wait_for_status(check, servers, sid)
    backup = image_id_of(check, check(servers, "create_backup", sid, name=unique("tempest-backup"),
                                      backup_type="daily", rotation=1))
    image_cleanup.append(backup)
    wait_for_status(check, servers, sid)
    for image_id, kind in ((snapshot, "snapshot"), (backup, "backup")):
        image = glance_image(oxstack, admin.token, image_id)
        assert (image["status"], image["image_type"], image["instance_uuid"]) == ("active", kind, sid), image

    check(servers, "shelve_server", sid)
    wait_for_status(check, servers, sid, "SHELVED_OFFLOADED")
    refused = check.fails(lib_exc.Conflict, servers, "shelve_offload_server", sid)
    assert f"Cannot 'shelveOffload' instance {sid} while it is in vm_state shelved_offloaded" in str(refused)
    check(servers, "unshelve_server", sid)
    wait_for_status(check, servers, sid)

    expect_action_log(check, servers, sid, ["create", "createImage", "createBackup", "shelve", "unshelve"])
    expect_nova_validated(check, "servers._create_image", "create_backup._create_backup", "shelve._shelve",
                          "shelve._unshelve")


@pytest.mark.parametrize("mv", MICROVERSIONS)
def test_admin_server_actions(mv, admin, cirros_id, checker, server_cleanup):
    """os-resetState and injectNetworkInfo (admin only); Nova logs the
    reset as a `resetState` instance action (admin_actions.py
    _reset_state), injectNetworkInfo records nothing."""
    check = checker(mv)
    servers = admin.servers
    sid = boot(check, servers, cirros_id, unique("tempest-admin-act"))
    server_cleanup.append(sid)
    check(servers, "reset_state", sid, state="error")
    assert wait_for_status(check, servers, sid, "ERROR")["OS-EXT-STS:vm_state"] == "error"
    check(servers, "reset_state", sid, state="active")
    wait_for_status(check, servers, sid, "ACTIVE")
    check(servers, "inject_network_info", sid)
    wait_for_status(check, servers, sid, "ACTIVE")
    expect_nova_validated(check, "admin_actions._reset_state", "admin_actions._inject_network_info")
    expect_action_log(check, servers, sid, ["create", "resetState", "resetState"])


@pytest.mark.parametrize("mv", ["2.1", "2.51", "2.73", "2.104"])
def test_server_actions_as_member(mv, demo, cirros_id, checker, server_cleanup):
    """A member's own server: its actions, and its view of the action log
    (Nova's instance_actions.py show: events from 2.51, never their host,
    traceback or details; the hashed hostId from 2.62)."""
    check = checker(mv)
    servers = demo.servers
    sid = boot(check, servers, cirros_id, unique("tempest-member-act"))
    server_cleanup.append(sid)
    check(servers, "stop_server", sid)
    wait_for_status(check, servers, sid, "SHUTOFF")
    check(servers, "start_server", sid)
    wait_for_status(check, servers, sid, "ACTIVE")
    check.fails(lib_exc.Forbidden, servers, "reset_state", sid, state="error")
    listed = check(servers, "list_instance_actions", sid)["instanceActions"]
    assert [a["action"] for a in listed] == ["start", "stop", "create"], listed
    for action in listed:
        assert (action["user_id"], action["project_id"]) == (demo.user_id, demo.project_id), action
        shown = check(servers, "show_instance_action", sid, action["request_id"])["instanceAction"]
        assert ("events" in shown) == at_least(mv, "2.51"), shown
        for event in shown.get("events", []):
            assert not {"host", "traceback", "details"} & set(event), event
            assert ("hostId" in event) == at_least(mv, "2.62"), event
