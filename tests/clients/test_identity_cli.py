"""The real `openstack` CLI against oxstack: tokens, catalog, version
discovery and the identity admin API, checked by their effects."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from oxhelpers import expect_status, http, openstack, openstack_fails, password_token, unique


def user_env(server, username, password, project) -> dict[str, str]:
    """OS_* variables that authenticate as a user without clouds.yaml."""
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


def validate_token(server, token: str):
    """GET /v3/auth/tokens for `token`, authenticated by a fresh admin token."""
    admin = password_token(server.base_url, "admin", "admin", "admin")
    return http("GET", server.url("/identity/v3/auth/tokens"),
                headers={"X-Auth-Token": admin, "X-Subject-Token": token})


# --- tokens ---------------------------------------------------------------

def test_token_issue_admin_and_demo(oxstack):
    tokens = {}
    for cloud, user, project in (("oxstack", "admin", "admin"), ("oxstack-demo", "demo", "demo")):
        tok = openstack("token", "issue", cloud=cloud)
        assert set(tok) == {"expires", "id", "project_id", "user_id"}, tok
        expires = datetime.strptime(tok["expires"], "%Y-%m-%dT%H:%M:%S%z")
        now = datetime.now(timezone.utc)
        assert now < expires <= now + timedelta(days=2), tok["expires"]
        assert tok["id"] and re.fullmatch(r"[0-9a-f]{32}", tok["project_id"]), tok
        assert re.fullmatch(r"[0-9a-f]{32}", tok["user_id"]), tok
        # The ids are those of the named user and project, as the admin API reports them.
        assert openstack("project", "show", project)["id"] == tok["project_id"]
        assert openstack("user", "show", user)["id"] == tok["user_id"]
        # The token is real: the server validates it and it carries that scope.
        resp = validate_token(oxstack, tok["id"])
        assert resp.status == 200, resp
        body = resp.json()["token"]
        assert body["project"]["id"] == tok["project_id"], body
        assert body["user"]["id"] == tok["user_id"], body
        tokens[cloud] = tok
    assert tokens["oxstack"]["project_id"] != tokens["oxstack-demo"]["project_id"]
    assert tokens["oxstack"]["user_id"] != tokens["oxstack-demo"]["user_id"]


def test_token_revoke(oxstack):
    token = openstack("token", "issue", cloud="oxstack-demo")["id"]
    assert validate_token(oxstack, token).status == 200
    openstack("token", "revoke", token)
    resp = validate_token(oxstack, token)
    assert resp.status == 404, resp
    # And the revoked token no longer authorizes anything.
    resp = http("GET", oxstack.url("/identity/v3/auth/projects"), headers={"X-Auth-Token": token})
    assert resp.status == 401, resp


# --- catalog and version discovery ------------------------------------------

def test_catalog_list(oxstack):
    catalog = openstack("catalog", "list")
    by_type = {entry["Type"]: entry for entry in catalog}
    expected_paths = {"identity": "/identity", "compute": "/compute/v2.1", "image": "/image"}
    assert set(expected_paths) <= set(by_type), catalog
    for service_type, path in expected_paths.items():
        endpoints = by_type[service_type]["Endpoints"]
        by_interface = {ep["interface"]: ep for ep in endpoints}
        assert set(by_interface) == {"public", "internal", "admin"}, endpoints
        for ep in endpoints:
            assert ep["url"] == oxstack.url(path), ep
            assert ep["region"] == "RegionOne", ep


def test_versions_show_compute(oxstack):
    rows = openstack("versions", "show", "--service", "compute")
    current = [r for r in rows if r["Version"] == "2.1"]
    assert len(current) == 1, rows
    v21 = current[0]
    assert v21["Service Type"] == "compute", v21
    assert v21["Status"] == "CURRENT", v21
    assert v21["Region Name"] == "RegionOne", v21
    assert v21["Endpoint"].rstrip("/") == oxstack.url("/compute/v2.1"), v21
    assert v21["Min Microversion"] == "2.1", v21
    # The maximum is what the server's own version document advertises
    # (it grows as compute features land); the CLI must report it unchanged.
    doc = http("GET", oxstack.url("/compute/v2.1")).json()["version"]
    assert doc["min_version"] == "2.1" and doc["id"] == "v2.1", doc
    assert re.fullmatch(r"2\.\d+", doc["version"]), doc
    assert v21["Max Microversion"] == doc["version"], (v21, doc)


# --- projects ---------------------------------------------------------------

def test_project_lifecycle():
    name = unique("proj")
    created = openstack("project", "create", "--description", "first words", name)
    assert created["name"] == name and created["description"] == "first words", created
    assert created["domain_id"] == "default" and created["enabled"] is True, created
    pid = created["id"]

    listed = {p["Name"]: p["ID"] for p in openstack("project", "list")}
    assert listed.get(name) == pid, listed

    shown = openstack("project", "show", name)
    assert shown["id"] == pid and shown["description"] == "first words", shown

    openstack("project", "set", "--description", "second words", name)
    assert openstack("project", "show", pid)["description"] == "second words"

    openstack("project", "delete", name)
    gone = openstack_fails("project", "show", pid)
    expect_status(gone, "GET", f"/identity/v3/projects/{pid}", 404)
    assert name not in {p["Name"] for p in openstack("project", "list")}


def test_duplicate_project_conflicts():
    name = unique("dup")
    first = openstack("project", "create", name)
    try:
        again = openstack_fails("project", "create", name)
        expect_status(again, "POST", "/identity/v3/projects", 409)
        message = again.error_message()
        assert "Conflict" in message and "Duplicate entry" in message and name in message, message
        # Nothing was created by the failed call.
        ids = [p["ID"] for p in openstack("project", "list") if p["Name"] == name]
        assert ids == [first["id"]]
    finally:
        openstack("project", "delete", first["id"])


def test_demo_cannot_list_projects(oxstack):
    # With a filter the CLI passes the server's 403 straight through.
    denied = openstack_fails("project", "list", "--domain", "default", cloud="oxstack-demo")
    expect_status(denied, "GET", "/identity/v3/projects?domain_id=default", 403)
    assert "403" in denied.error_message() and "Forbidden" in denied.error_message(), denied.stderr[-2000:]

    # Unfiltered, the CLI reacts to the 403 by listing the user's own projects
    # (GET /v3/users/{id}/projects): demo sees its project and nothing else.
    own = openstack("project", "list", cloud="oxstack-demo")
    assert [p["Name"] for p in own] == ["demo"], own

    # The 403 came from the server, not from the client's own guess.
    demo_token = password_token(oxstack.base_url, "demo", "demo", "demo")
    resp = http("GET", oxstack.url("/identity/v3/projects"), headers={"X-Auth-Token": demo_token})
    assert resp.status == 403, resp
    assert resp.json()["error"]["code"] == 403, resp

    # Nor may demo create one.
    name = unique("demo-made")
    denied = openstack_fails("project", "create", name, cloud="oxstack-demo")
    expect_status(denied, "POST", "/identity/v3/projects", 403)
    assert name not in {p["Name"] for p in openstack("project", "list")}


# --- users and role assignments ------------------------------------------------

def test_user_role_token_and_delete(oxstack):
    project = unique("team")
    username = unique("alice")
    password = "s3cret-" + unique("pw")
    p = openstack("project", "create", project)
    try:
        u = openstack("user", "create", "--project", project, "--password", password, username)
        assert u["name"] == username and u["default_project_id"] == p["id"], u
        assert u["enabled"] is True and u["domain_id"] == "default", u
        assert "password" not in u, u

        # Without a role the user cannot get a token scoped to the project.
        env = user_env(oxstack, username, password, project)
        no_role = openstack_fails("token", "issue", cloud=None, env=env)
        expect_status(no_role, "POST", "/identity/v3/auth/tokens", 401)

        openstack("role", "add", "--project", project, "--user", username, "member")

        rows = openstack("role", "assignment", "list", "--project", project, "--names")
        assert rows == [{
            "Role": "member", "User": f"{username}@Default", "Group": "",
            "Project": f"{project}@Default", "Domain": "", "System": "", "Inherited": False,
        }], rows
        member_id = openstack("role", "show", "member")["id"]
        rows = openstack("role", "assignment", "list", "--project", project)
        assert [(r["Role"], r["User"], r["Project"]) for r in rows] == [(member_id, u["id"], p["id"])], rows

        tok = openstack("token", "issue", cloud=None, env=env)
        assert tok["user_id"] == u["id"] and tok["project_id"] == p["id"], tok

        # A wrong password is refused.
        wrong = openstack_fails("token", "issue", cloud=None, env={**env, "OS_PASSWORD": "wrong"})
        expect_status(wrong, "POST", "/identity/v3/auth/tokens", 401)

        openstack("user", "delete", username)
        gone = openstack_fails("token", "issue", cloud=None, env=env)
        expect_status(gone, "POST", "/identity/v3/auth/tokens", 401)
        assert "401" in gone.error_message(), gone.error_message()
        # Deleting the user also ended the token it already had.
        assert validate_token(oxstack, tok["id"]).status == 404
        assert username not in {x["Name"] for x in openstack("user", "list")}
        assert openstack("role", "assignment", "list", "--project", project) == []
    finally:
        openstack("project", "delete", p["id"])
