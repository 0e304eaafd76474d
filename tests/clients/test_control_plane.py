"""The control plane as a test suite uses it: a fault rule that fires
exactly N times, seen through openstacksdk's retries (the session gives up
when the retries are fewer than the faults); the trace showing what the
client sent, at which microversion, and never its password or token; a
seed the CLI then sees, a project reset in the middle of the suite, and a
server held in BUILD until the test advances it.
"""

from __future__ import annotations

import json
import time

import openstack
import pytest

from oxhelpers import http, openstack as osc, unique, user_env


def control(oxstack, token, method, path, body=None):
    headers = {"X-Auth-Token": token}
    data = None
    if body is not None:
        headers["Content-Type"] = "application/json"
        data = json.dumps(body).encode()
    return http(method, oxstack.url(f"/_oxstack{path}"), headers=headers, body=data)


@pytest.fixture
def faults(oxstack, admin_token):
    """Puts fault rules; removes them after the test."""
    def put(rules):
        resp = control(oxstack, admin_token, "PUT", "/faults", {"rules": rules})
        assert resp.status == 200, resp
    yield put
    assert control(oxstack, admin_token, "DELETE", "/faults").status == 204


def fired(oxstack, admin_token) -> list[int]:
    resp = control(oxstack, admin_token, "GET", "/faults")
    assert resp.status == 200, resp
    return [rule["fired"] for rule in resp.json()["rules"]]


def test_sdk_retries_through_a_fault_that_fires_twice(oxstack, admin_token, faults):
    faults([{"operation": "flavor.list", "count": 2, "error": {"status": 503, "message": "Try again"}}])
    conn = openstack.connect(cloud="oxstack", status_code_retries=3)
    try:
        flavors = [f.name for f in conn.compute.flavors()]
    finally:
        conn.close()
    assert "m1.tiny" in flavors
    assert fired(oxstack, admin_token) == [2]


def test_sdk_without_enough_retries_sees_novas_fault(oxstack, admin_token, faults):
    faults([{"operation": "flavor.list", "count": 2, "error": {"status": 503, "message": "Try again"}}])
    conn = openstack.connect(cloud="oxstack", status_code_retries=1)
    try:
        with pytest.raises(openstack.exceptions.HttpException) as failure:
            list(conn.compute.flavors())
    finally:
        conn.close()
    assert failure.value.status_code == 503
    assert "Try again" in str(failure.value)
    assert fired(oxstack, admin_token) == [2]


def test_the_trace_shows_what_the_client_sent(oxstack, admin_token, demo_conn, demo_token):
    list(demo_conn.compute.servers())
    project = http("GET", oxstack.url("/identity/v3/auth/tokens"),
                   headers={"X-Auth-Token": demo_token, "X-Subject-Token": demo_token}).json()["token"]["project"]["id"]
    resp = control(oxstack, admin_token, "GET", f"/trace?project={project}&limit=1000")
    assert resp.status == 200, resp
    requests = resp.json()["requests"]
    listed = [r for r in requests if r["operation"] == "server.list"]
    assert listed, requests
    assert listed[-1]["microversion"].startswith("compute 2."), listed[-1]
    assert listed[-1]["status"] == 200
    everything = json.dumps(control(oxstack, admin_token, "GET", "/trace?limit=100000").json())
    assert demo_token not in everything and admin_token not in everything
    assert "\"demo\"" not in everything  # the demo password is "demo"
    assert control(oxstack, demo_token, "GET", "/trace").status == 403


def test_a_seed_then_a_project_reset_in_the_middle_of_the_suite(oxstack, admin_token):
    project, password = unique("seeded"), unique("pw")
    seed = f"""
projects: [{{name: {project}}}]
users: [{{name: {project}-user, password: {password}, project: {project}}}]
servers:
  - {{name: web, project: {project}, flavor: m1.tiny, image: cirros}}
  - {{name: stopped, project: {project}, flavor: m1.tiny, image: cirros, status: SHUTOFF}}
"""
    resp = http("POST", oxstack.url("/_oxstack/seed"),
                headers={"X-Auth-Token": admin_token, "Content-Type": "application/yaml"},
                body=seed.encode())
    assert resp.status == 200, resp
    env = user_env(oxstack, f"{project}-user", password, project)
    listed = osc("server", "list", cloud=None, env=env)
    assert sorted((s["Name"], s["Status"]) for s in listed) == [("stopped", "SHUTOFF"), ("web", "ACTIVE")]

    project_id = http("GET", oxstack.url(f"/identity/v3/projects?name={project}"),
                      headers={"X-Auth-Token": admin_token}).json()["projects"][0]["id"]
    resp = control(oxstack, admin_token, "POST", f"/reset?project={project_id}")
    assert resp.status == 200, resp
    assert resp.json()["reset"]["servers"] == 2
    assert osc("server", "list", cloud=None, env=env) == []
    # The project and its user stay, and work on.
    created = osc("server", "create", "--flavor", "m1.tiny", "--image", "cirros", "--wait", "again",
                  cloud=None, env=env)
    assert created["status"] == "ACTIVE"
    assert control(oxstack, admin_token, "POST", f"/reset?project={project_id}").status == 200


def test_a_server_held_in_build_until_the_test_advances_it(oxstack, admin_token, conn, cirros, tiny, cleanup):
    assert control(oxstack, admin_token, "PUT", "/driver", {"hold": ["spawn"]}).status == 200
    try:
        server = conn.compute.create_server(name=unique("held"), image_id=cirros.id, flavor_id=tiny.id,
                                            networks="none")
        cleanup.append(server.id)
        time.sleep(0.3)
        assert conn.compute.get_server(server.id).status == "BUILD"
        held = control(oxstack, admin_token, "GET", "/driver").json()["held"]
        assert {"server_id": server.id, "operation": "spawn"}.items() <= held[0].items(), held
        resp = control(oxstack, admin_token, "POST", f"/servers/{server.id}/advance")
        assert resp.status == 200, resp
        assert resp.json()["server"]["operation"] == "spawn"
        assert conn.compute.wait_for_server(server, wait=30).status == "ACTIVE"
    finally:
        assert control(oxstack, admin_token, "PUT", "/driver", {}).status == 200
