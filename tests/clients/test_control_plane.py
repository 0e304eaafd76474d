"""The control plane as a test suite uses it: a fault rule that fires
exactly N times, seen through openstacksdk's retries (the session gives up
when the retries are fewer than the faults); the trace showing what the
client sent, at which microversion, and never its password or token.
"""

from __future__ import annotations

import json

import openstack
import pytest

from oxhelpers import http


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
