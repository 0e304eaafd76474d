//! The `/_oxstack/` control plane, black-box: what health tells of the
//! cloud, the request trace (and what it never holds), fault rules that
//! fire a number of times in each service's dialect, with delays and per
//! project, servers forced into any state, and the switches that turn the
//! plane off.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::time::{Duration, Instant};

use common::{Options, Server, assert_fault, cirros, json_of};
use serde_json::{Value, json};

const ADMIN: &str = "admin:admin";
const ALICE: &str = "alice:proj-a";

async fn with_config(toml: &str) -> Server {
    Server::start_with(Options {
        args: ["--auth", "noauth", "--host", "alpha", "--fake-hosts", "2"]
            .iter()
            .map(|a| (*a).to_owned())
            .collect(),
        config_toml: Some(toml.to_owned()),
        ..Options::default()
    })
    .await
}

async fn control(
    server: &Server,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = server
        .http
        .request(method, server.url(&format!("/_oxstack{path}")));
    if let Some(token) = token {
        request = request.header("X-Auth-Token", token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

async fn trace(server: &Server, query: &str) -> Vec<Value> {
    let response = control(
        server,
        reqwest::Method::GET,
        &format!("/trace{query}"),
        Some(ADMIN),
        None,
    )
    .await;
    assert_eq!(response.status(), 200);
    json_of(response).await["requests"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn health_tells_what_this_cloud_is() {
    let server = with_config("").await;
    let health = json_of(control(&server, reqwest::Method::GET, "/health", None, None).await).await;
    assert_eq!(
        health["capabilities"],
        json!({
            "driver": "fake",
            "auth": "noauth",
            "backend": "sqlite",
            "hosts": [
                {"host": "alpha", "up": true, "enabled": true},
                {"host": "alpha-2", "up": true, "enabled": true},
            ],
            "max_microversion": "2.104",
            "control": {"enabled": true, "trace": true, "faults": false},
        })
    );
}

#[tokio::test]
async fn the_trace_shows_requests_and_never_secrets() {
    let server = with_config("").await;
    let image = cirros(&server).await;
    let alice = server.compute(ALICE, "2.50");
    let body = json!({"server": {"name": "traced", "imageRef": image, "flavorRef": "1",
                                 "networks": "none", "adminPass": "hunter2-secret",
                                 "user_data": "c2VjcmV0LWRhdGE="}});
    assert_eq!(alice.post("/servers", &body).await.status(), 202);
    assert_eq!(alice.get("/flavors?limit=1").await.status(), 200);

    let mine = trace(&server, "?project=proj-a").await;
    assert_eq!(mine.len(), 2, "{mine:?}");
    let created = &mine[0];
    assert_eq!(
        (
            &created["method"],
            &created["path"],
            &created["operation"],
            &created["status"],
            &created["microversion"],
            &created["project_id"]
        ),
        (
            &json!("POST"),
            &json!("/compute/v2.1/servers"),
            &json!("server.create"),
            &json!(202),
            &json!("compute 2.50"),
            &json!("proj-a")
        )
    );
    assert!(created["request_id"].as_str().unwrap().starts_with("req-"));
    assert_eq!(mine[1]["query"], "limit=1");
    assert_eq!(mine[1]["operation"], "flavor.list");
    let everything = serde_json::to_string(&trace(&server, "?limit=1000").await).unwrap();
    for secret in ["hunter2-secret", "c2VjcmV0LWRhdGE=", "alice:proj-a"] {
        assert!(!everything.contains(secret), "{secret} in the trace");
    }
    assert_eq!(trace(&server, "?limit=1").await.len(), 1);

    // Admins only.
    let denied = control(&server, reqwest::Method::GET, "/trace", Some(ALICE), None).await;
    assert_eq!(denied.status(), 403);
    let anonymous = control(&server, reqwest::Method::GET, "/trace", None, None).await;
    assert_eq!(anonymous.status(), 401);
}

#[tokio::test]
async fn fault_rules_fire_in_each_services_dialect() {
    let server = with_config("[control]\nfaults = true\n").await;
    let image = cirros(&server).await;
    let alice = server.compute(ALICE, "2.1");
    let put = async |rules: Value| {
        control(
            &server,
            reqwest::Method::PUT,
            "/faults",
            Some(ADMIN),
            Some(json!({"rules": rules})),
        )
        .await
    };
    let rules = json!([
        {"operation": "server.create", "count": 2, "error": {"status": 503, "message": "Compute is down"}},
        {"operation": "server.action.reboot", "error": {"status": 409, "message": "Not now"}},
        {"operation": "image.upload", "error": {"status": 500}},
        {"operation": "flavor.*", "project_id": "proj-b", "error": {"status": 500}},
        {"operation": "keypair.list", "delay_ms": 300},
    ]);
    assert_eq!(put(rules).await.status(), 200);

    let body = json!({"server": {"name": "flaky", "imageRef": image, "flavorRef": "1"}});
    for _ in 0..2 {
        assert_fault(alice.post("/servers", &body).await, 503, "Compute is down").await;
    }
    let made = alice.post("/servers", &body).await;
    assert_eq!(made.status(), 202, "the rule fired its count and stopped");
    let id = json_of(made).await["server"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    common::settled(&alice, &id, "ACTIVE").await;

    // Only the named action.
    let action = async |body: Value| alice.post(&format!("/servers/{id}/action"), &body).await;
    assert_fault(
        action(json!({"reboot": {"type": "SOFT"}})).await,
        409,
        "Not now",
    )
    .await;
    assert_eq!(action(json!({"os-stop": null})).await.status(), 202);

    // Glance's dialect for images.
    let upload = server
        .http
        .put(server.url(&format!("/image/v2/images/{image}/file")))
        .header("X-Auth-Token", ADMIN)
        .header("Content-Type", "application/octet-stream")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(upload.status(), 500);
    let text = upload.text().await.unwrap();
    assert!(text.contains("Injected fault"), "{text}");

    // One project only.
    assert_eq!(alice.get("/flavors").await.status(), 200);
    let bob = server.compute("bob:proj-b", "2.1");
    assert_eq!(bob.get("/flavors").await.status(), 500);

    // Late, then answered.
    let started = Instant::now();
    assert_eq!(alice.get("/os-keypairs").await.status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(300));

    // Counted, listed, cleared.
    let listed =
        json_of(control(&server, reqwest::Method::GET, "/faults", Some(ADMIN), None).await).await;
    let fired: Vec<&Value> = listed["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["fired"])
        .collect();
    assert_eq!(
        fired,
        [&json!(2), &json!(1), &json!(1), &json!(1), &json!(1)]
    );
    assert_eq!(listed["enabled"], true);
    let cleared = control(
        &server,
        reqwest::Method::DELETE,
        "/faults",
        Some(ADMIN),
        None,
    )
    .await;
    assert_eq!(cleared.status(), 204);
    assert_eq!(bob.get("/flavors").await.status(), 200);

    // Rules are checked; only admins set them.
    for (bad, why) in [
        (
            json!([{"operation": "server.create"}]),
            "give delay_ms, error or both",
        ),
        (
            json!([{"operation": "server.create", "error": {"status": 200}}]),
            "status must be an HTTP error",
        ),
        (
            json!([{"operation": "server.create", "probability": 2, "delay_ms": 1}]),
            "probability must be within 0 and 1",
        ),
        (
            json!([{"operation": "server.create", "delay_ms": 1, "typo": 1}]),
            "unknown field `typo`",
        ),
    ] {
        let refused = put(bad.clone()).await;
        assert_eq!(refused.status(), 400, "{bad}");
        let body = json_of(refused).await;
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(why), "{bad}: {message}");
        assert_eq!(body["error"]["code"], 400);
    }
    let denied = control(
        &server,
        reqwest::Method::PUT,
        "/faults",
        Some(ALICE),
        Some(json!({"rules": []})),
    )
    .await;
    assert_eq!(denied.status(), 403);
}

#[tokio::test]
async fn the_control_plane_can_be_switched_off() {
    let server = with_config("").await;
    let refused = control(
        &server,
        reqwest::Method::PUT,
        "/faults",
        Some(ADMIN),
        Some(json!({"rules": [{"operation": "*", "delay_ms": 1}]})),
    )
    .await;
    assert_eq!(refused.status(), 403, "fault injection is off by default");

    let off = with_config("[control]\nenabled = false\n").await;
    let health = control(&off, reqwest::Method::GET, "/health", None, None).await;
    assert_eq!(health.status(), 200);
    assert_eq!(
        json_of(health).await["capabilities"]["control"]["enabled"],
        false
    );
    for path in ["/trace", "/faults"] {
        let gone = control(&off, reqwest::Method::GET, path, Some(ADMIN), None).await;
        assert_eq!(gone.status(), 404, "{path}");
    }
}

#[tokio::test]
async fn a_server_can_be_forced_into_any_state() {
    let server = with_config("").await;
    let image = cirros(&server).await;
    let alice = server.compute(ALICE, "2.1");
    let body = json!({"server": {"name": "forced", "imageRef": image, "flavorRef": "1"}});
    let id = json_of(alice.post("/servers", &body).await).await["server"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    common::settled(&alice, &id, "ACTIVE").await;
    let force = async |token: &str, body: Value| {
        control(
            &server,
            reqwest::Method::POST,
            &format!("/servers/{id}/state"),
            Some(token),
            Some(body),
        )
        .await
    };

    let forced = force(
        ADMIN,
        json!({"vm_state": "error", "task_state": "resize_migrating", "power_state": 4}),
    )
    .await;
    assert_eq!(forced.status(), 200);
    assert_eq!(
        json_of(forced).await,
        json!({"server": {"id": id, "vm_state": "error", "task_state": "resize_migrating",
                          "power_state": 4}})
    );
    let seen = server
        .compute(ADMIN, "2.1")
        .get_ok(&format!("/servers/{id}"))
        .await["server"]
        .clone();
    assert_eq!(
        (
            &seen["status"],
            &seen["OS-EXT-STS:task_state"],
            &seen["OS-EXT-STS:power_state"]
        ),
        (&json!("ERROR"), &json!("resize_migrating"), &json!(4))
    );
    // The API's own rules then apply to it.
    let refused = alice
        .post(&format!("/servers/{id}/action"), &json!({"os-start": null}))
        .await;
    assert_eq!(refused.status(), 409);
    let back = force(
        ADMIN,
        json!({"vm_state": "active", "task_state": null, "power_state": 1}),
    )
    .await;
    assert_eq!(back.status(), 200);
    common::settled(&alice, &id, "ACTIVE").await;

    for bad in [
        json!({}),
        json!({"vm_state": "happy"}),
        json!({"task_state": 3}),
        json!({"power_state": 2}),
        json!({"status": "ACTIVE"}),
    ] {
        assert_eq!(force(ADMIN, bad.clone()).await.status(), 400, "{bad}");
    }
    let missing = control(
        &server,
        reqwest::Method::POST,
        "/servers/00000000-0000-0000-0000-000000000000/state",
        Some(ADMIN),
        Some(json!({"vm_state": "error"})),
    )
    .await;
    assert_eq!(missing.status(), 404);
    assert_eq!(
        force(ALICE, json!({"vm_state": "error"})).await.status(),
        403
    );
}

#[tokio::test]
async fn the_simulated_hypervisors_are_retuned_while_they_run() {
    let server = with_config("").await;
    let image = cirros(&server).await;
    let alice = server.compute(ALICE, "2.1");
    let tune = async |token: &str, body: Value| {
        control(
            &server,
            reqwest::Method::PUT,
            "/driver",
            Some(token),
            Some(body),
        )
        .await
    };
    let boot = async |name: &str| {
        let body = json!({"server": {"name": name, "imageRef": image, "flavorRef": "1"}});
        json_of(alice.post("/servers", &body).await).await["server"]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let shown = control(&server, reqwest::Method::GET, "/driver", Some(ADMIN), None).await;
    assert_eq!(json_of(shown).await, json!({"delay_ms": 0, "fail": []}));

    // Slow: a server stays in BUILD while its spawn takes its time.
    let slow = tune(ADMIN, json!({"delay_ms": 600})).await;
    assert_eq!(json_of(slow).await, json!({"delay_ms": 600, "fail": []}));
    let held = boot("slow").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let building = alice.get_ok(&format!("/servers/{held}")).await;
    assert_eq!(building["server"]["status"], "BUILD");
    common::settled(&alice, &held, "ACTIVE").await;

    // Failing: every host's spawns fail, so new servers go to ERROR.
    let failing = tune(ADMIN, json!({"fail": ["spawn", "reboot"]})).await;
    assert_eq!(
        json_of(failing).await,
        json!({"delay_ms": 0, "fail": ["reboot", "spawn"]})
    );
    for name in ["broken-1", "broken-2"] {
        let id = boot(name).await;
        let failed = common::settled(&alice, &id, "ERROR").await;
        let fault = failed["fault"]["message"].as_str().unwrap();
        assert!(
            fault.contains("The fake driver was told to fail spawn."),
            "{fault}"
        );
    }
    assert_eq!(tune(ADMIN, json!({})).await.status(), 200);
    let healthy = boot("healthy").await;
    common::settled(&alice, &healthy, "ACTIVE").await;

    for bad in [
        json!({"fail": ["explode"]}),
        json!({"delay": 5}),
        json!({"delay_ms": -1}),
    ] {
        assert_eq!(tune(ADMIN, bad.clone()).await.status(), 400, "{bad}");
    }
    assert_eq!(tune(ALICE, json!({})).await.status(), 403);
}
