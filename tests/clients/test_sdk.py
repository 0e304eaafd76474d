"""openstacksdk (and python-novaclient on the same session) against oxstack."""

from __future__ import annotations

import pytest
from openstack import exceptions as sdk_exc

from oxhelpers import http, unique


def test_authorize(conn, oxstack):
    token = conn.authorize()
    assert isinstance(token, str) and token
    admin = conn.identity.find_project("admin", ignore_missing=False)
    assert conn.current_project_id == admin.id
    # The token the SDK holds is one the server accepts.
    resp = http("GET", oxstack.url("/identity/v3/auth/tokens"),
                headers={"X-Auth-Token": token, "X-Subject-Token": token})
    assert resp.status == 200, resp
    assert resp.json()["token"]["project"]["name"] == "admin"


def test_list_projects(conn):
    names = {p.name for p in conn.identity.projects()}
    assert {"admin", "demo"} <= names, names


def test_create_and_delete_project(conn):
    name = unique("sdk")
    project = conn.identity.create_project(name=name, description="made by the sdk", domain_id="default")
    try:
        assert project.id and project.name == name
        fetched = conn.identity.get_project(project.id)
        assert (fetched.name, fetched.description, fetched.domain_id, fetched.is_enabled) == (
            name, "made by the sdk", "default", True)
        assert project.id in {p.id for p in conn.identity.projects()}
        updated = conn.identity.update_project(project, description="changed")
        assert updated.description == "changed"
        assert conn.identity.get_project(project.id).description == "changed"
    finally:
        conn.identity.delete_project(project)
    assert conn.identity.find_project(name) is None
    with pytest.raises(sdk_exc.NotFoundException):
        conn.identity.get_project(project.id)


def test_demo_is_not_admin(demo_conn, conn):
    demo_conn.authorize()
    assert demo_conn.current_project_id == conn.identity.find_project("demo", ignore_missing=False).id
    with pytest.raises(sdk_exc.ForbiddenException):
        list(demo_conn.identity.projects())
    own = [p.name for p in demo_conn.identity.user_projects(demo_conn.current_user_id)]
    assert own == ["demo"], own


def test_compute_version_document(conn, oxstack):
    resp = conn.compute.get("/")
    assert resp.status_code == 200, resp.text
    version = resp.json()["version"]
    assert version["id"] == "v2.1" and version["status"] == "CURRENT", version
    assert version["min_version"] == "2.1", version
    major, minor = (int(x) for x in version["version"].split("."))
    assert major == 2 and minor >= 1, version
    self_links = [l["href"] for l in version["links"] if l["rel"] == "self"]
    assert [h.rstrip("/") for h in self_links] == [oxstack.url("/compute/v2.1")], version

    # keystoneauth's discovery (what every SDK call relies on) agrees.
    data = conn.compute.get_endpoint_data()
    assert data.min_microversion == (2, 1), data
    assert data.max_microversion == (major, minor), data
    assert data.service_url.rstrip("/") == oxstack.url("/compute/v2.1"), data
    all_versions = conn.compute.get_all_version_data()["RegionOne"]["public"]["compute"]
    current = [v for v in all_versions if v["status"] == "CURRENT"]
    assert [(v["version"], v["min_microversion"], v["max_microversion"]) for v in current] == [
        ("2.1", "2.1", version["version"])], all_versions


def test_novaclient_versions(conn):
    from novaclient import client as nova_client

    nova = nova_client.Client("2.1", session=conn.session)
    current = nova.versions.get_current()
    assert (current.id, current.status, current.min_version) == ("v2.1", "CURRENT", "2.1")
    listed = {v.id: v for v in nova.versions.list()}
    assert listed["v2.1"].version == current.version
