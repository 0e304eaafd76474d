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
            "hypervisor_type": "fake",
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
    let id = json_of(alice.post("/servers", &body).await).await["server"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(alice.get("/flavors?limit=1").await.status(), 200);

    let mine = trace(&server, "?project=proj-a").await;
    assert_eq!(mine.len(), 2, "{mine:?}");
    assert!(
        mine[0].get("rejected_keys").is_none() && mine[0].get("ignored_keys").is_none(),
        "{mine:?}"
    );
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

    // A refused key is named (never its value); an action by its name.
    let typo = json!({"server": {"name": "typo", "imageRef": image, "flavorRef": "1",
                                 "networks": "none", "key_nmae": "k"}});
    assert_eq!(alice.post("/servers", &typo).await.status(), 400);
    let reboot = json!({"reboot": {"type": "SOFT"}});
    alice.post(&format!("/servers/{id}/action"), &reboot).await;
    let last = trace(&server, "?limit=2").await;
    assert_eq!(last[0]["rejected_keys"], json!(["server.key_nmae"]));
    assert_eq!(last[0]["status"], 400);
    assert_eq!(last[1]["operation"], "server.action.reboot");

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
            "give delay_ms, error or server_error",
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
    let tuned = |delay: u64, delays: Value, fail: Value| json!({"delay_ms": delay, "delays_ms": delays, "fail": fail, "hold": [], "held": []});
    let shown = control(&server, reqwest::Method::GET, "/driver", Some(ADMIN), None).await;
    assert_eq!(json_of(shown).await, tuned(0, json!({}), json!([])));

    // Slow: a server stays in BUILD while its spawn takes its time.
    let slow = tune(ADMIN, json!({"delays_ms": {"spawn": 600}})).await;
    assert_eq!(
        json_of(slow).await,
        tuned(0, json!({"spawn": 600}), json!([]))
    );
    let held = boot("slow").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let building = alice.get_ok(&format!("/servers/{held}")).await;
    assert_eq!(building["server"]["status"], "BUILD");
    common::settled(&alice, &held, "ACTIVE").await;

    // Failing: every host's spawns fail, so new servers go to ERROR.
    let failing = tune(ADMIN, json!({"fail": ["spawn", "reboot"]})).await;
    assert_eq!(
        json_of(failing).await,
        tuned(0, json!({}), json!(["reboot", "spawn"]))
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
        json!({"hold": ["explode"]}),
        json!({"delays_ms": {"explode": 1}}),
        json!({"delay": 5}),
        json!({"delay_ms": -1}),
    ] {
        assert_eq!(tune(ADMIN, bad.clone()).await.status(), 400, "{bad}");
    }
    assert_eq!(tune(ALICE, json!({})).await.status(), 403);
}

#[tokio::test]
async fn held_operations_wait_until_advanced() {
    let server = with_config("").await;
    let image = cirros(&server).await;
    let alice = server.compute(ALICE, "2.1");
    let admin = server.compute(ADMIN, "2.1");
    let driver = async |method: reqwest::Method, body: Option<Value>| {
        json_of(control(&server, method, "/driver", Some(ADMIN), body).await).await
    };
    let advance = async |id: &str, token: &str, body: Option<Value>| {
        control(
            &server,
            reqwest::Method::POST,
            &format!("/servers/{id}/advance"),
            Some(token),
            body,
        )
        .await
    };
    driver(
        reqwest::Method::PUT,
        Some(json!({"hold": ["spawn", "reboot"]})),
    )
    .await;
    let body = json!({"server": {"name": "held", "imageRef": image, "flavorRef": "1"}});
    let id = json_of(alice.post("/servers", &body).await).await["server"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // The spawn waits: the server stays in BUILD/spawning, listed as held.
    let held = loop {
        let shown = driver(reqwest::Method::GET, None).await;
        if !shown["held"].as_array().unwrap().is_empty() {
            break shown["held"].clone();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(held[0]["server_id"], json!(id));
    assert_eq!(held[0]["operation"], "spawn");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let building = admin.get_ok(&format!("/servers/{id}")).await;
    assert_eq!(building["server"]["status"], "BUILD");
    assert_eq!(building["server"]["OS-EXT-STS:task_state"], "spawning");

    let advanced = advance(&id, ADMIN, None).await;
    assert_eq!(advanced.status(), 200);
    assert_eq!(
        json_of(advanced).await,
        json!({"server": {"id": id, "operation": "spawn", "failed": false}})
    );
    common::settled(&alice, &id, "ACTIVE").await;

    // A held reboot advanced with a failure fails as the hypervisor's would.
    let reboot = alice
        .post(
            &format!("/servers/{id}/action"),
            &json!({"reboot": {"type": "SOFT"}}),
        )
        .await;
    assert_eq!(reboot.status(), 202);
    let rebooting = alice.get_ok(&format!("/servers/{id}")).await;
    assert_eq!(rebooting["server"]["status"], "REBOOT");
    let failed = advance(&id, ADMIN, Some(json!({"fail": "Guest hung"}))).await;
    assert_eq!(
        json_of(failed).await,
        json!({"server": {"id": id, "operation": "reboot", "failed": true}})
    );
    let after = common::settled(&alice, &id, "ACTIVE").await;
    assert_eq!(after["OS-EXT-STS:task_state"], Value::Null);
    let actions = alice
        .get_ok(&format!("/servers/{id}/os-instance-actions"))
        .await;
    let reboot_action = actions["instanceActions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["action"] == "reboot")
        .unwrap()
        .clone();
    let events = admin
        .get_ok(&format!(
            "/servers/{id}/os-instance-actions/{}",
            reboot_action["request_id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(events["instanceAction"]["events"][0]["result"], "Error");

    // Nothing held: the wait is given up with a 409.
    let idle = advance(&id, ADMIN, Some(json!({"wait_ms": 50}))).await;
    assert_fault_plane(idle, 409, "has no hypervisor operation held").await;
    // Dropping the hold lets held operations go at once.
    let second = json!({"server": {"name": "released", "imageRef": image, "flavorRef": "1"}});
    let released = json_of(alice.post("/servers", &second).await).await["server"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    while driver(reqwest::Method::GET, None).await["held"]
        .as_array()
        .unwrap()
        .is_empty()
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    driver(reqwest::Method::PUT, Some(json!({}))).await;
    common::settled(&alice, &released, "ACTIVE").await;

    for (body, status) in [(json!({"fail": 3}), 400), (json!({"later": true}), 400)] {
        assert_eq!(
            advance(&id, ADMIN, Some(body.clone())).await.status(),
            status,
            "{body}"
        );
    }
    let missing = advance("00000000-0000-0000-0000-000000000000", ADMIN, None).await;
    assert_eq!(missing.status(), 404);
    assert_eq!(advance(&id, ALICE, None).await.status(), 403);
}

async fn assert_fault_plane(response: reqwest::Response, status: u16, part: &str) {
    assert_eq!(response.status(), status);
    let body = json_of(response).await;
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains(part), "{message}");
}

#[tokio::test]
async fn fault_rules_fail_servers_by_name_or_answer_an_error_after_serving() {
    let server = with_config("[control]\nfaults = true\n").await;
    let image = cirros(&server).await;
    let alice = server.compute(ALICE, "2.1");
    let rules = async |body: Value| {
        control(
            &server,
            reqwest::Method::PUT,
            "/faults",
            Some(ADMIN),
            Some(body),
        )
        .await
    };
    let create = async |name: &str| {
        let body = json!({"server": {"name": name, "imageRef": image, "flavorRef": "1"}});
        alice.post("/servers", &body).await
    };
    let id_of = async |response: reqwest::Response| {
        assert_eq!(response.status(), 202);
        json_of(response).await["server"]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };

    // The hypervisor fails the servers whose names match, only theirs.
    let set = rules(json!({"rules": [{
        "operation": "server.create", "name": "doomed-*",
        "server_error": "No valid host was found."}]}))
    .await;
    assert_eq!(set.status(), 200);
    let doomed = id_of(create("doomed-1").await).await;
    let spared = id_of(create("spared-1").await).await;
    let failed = common::settled(&alice, &doomed, "ERROR").await;
    assert_eq!(
        failed["fault"]["message"],
        format!("Build of instance {doomed} aborted: No valid host was found.")
    );
    common::settled(&alice, &spared, "ACTIVE").await;
    // Rules on a server's own requests match by the server's name.
    rules(json!({"rules": [{
        "operation": "server.action.reboot", "name": "spared-*", "count": 1,
        "error": {"status": 409, "message": "Cannot reboot now"}}]}))
    .await;
    let reboot = json!({"reboot": {"type": "HARD"}});
    let refused = alice
        .post(&format!("/servers/{spared}/action"), &reboot)
        .await;
    assert_fault(refused, 409, "Cannot reboot now").await;
    let served = alice
        .post(&format!("/servers/{spared}/action"), &reboot)
        .await;
    assert_eq!(served.status(), 202);
    common::settled(&alice, &spared, "ACTIVE").await;

    // Answered with an error, created all the same (as autoscalers meet).
    rules(json!({"rules": [{
        "operation": "server.create", "count": 1, "serve": true,
        "error": {"status": 500, "message": "Gateway lost the answer"}}]}))
    .await;
    let lost = create("ghost").await;
    assert_fault(lost, 500, "Gateway lost the answer").await;
    let listed = alice.get_ok("/servers?name=ghost").await;
    let ghosts = listed["servers"].as_array().unwrap();
    assert_eq!(ghosts.len(), 1, "{listed}");
    let ghost = ghosts[0]["id"].as_str().unwrap().to_owned();
    common::settled(&alice, &ghost, "ACTIVE").await;

    for bad in [
        json!({"operation": "server.create", "serve": true}),
        json!({"operation": "server.create", "server_error": "x",
               "error": {"status": 500}}),
        json!({"operation": "server.create", "name": 3, "error": {"status": 500}}),
    ] {
        let refused = rules(json!({"rules": [bad.clone()]})).await;
        assert_eq!(refused.status(), 400, "{bad}");
    }
}

/// The OpenAPI document is public, and every operation it lists is one
/// the router serves: with placeholder ids each answers as its handler
/// does (an error about the id, a refusal), never with a method the path
/// does not take (405) or, on compute, with the router's own 404 for a
/// path it does not know.
#[tokio::test]
async fn the_openapi_document_lists_only_served_operations() {
    let server = Server::start_noauth().await;
    let doc = json_of(
        server
            .http
            .get(server.url("/_oxstack/openapi.json"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() > 90, "{} paths", paths.len());
    let create = &paths["/compute/v2.1/servers"]["post"]["requestBody"]["content"]["application/json"]
        ["schema"];
    assert_eq!(
        create["required"],
        json!(["server"]),
        "the handler's own schema"
    );
    let mut checked = 0;
    for (path, item) in paths {
        let concrete = path
            .split('/')
            .map(|part| {
                if part.starts_with('{') {
                    "placeholder"
                } else {
                    part
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        for method in item.as_object().unwrap().keys() {
            if concrete.ends_with("/auth/tokens") && method == "delete" {
                continue; // would need a subject token; routing is shown by the others
            }
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let response = server
                .http
                .request(method.clone(), server.url(&concrete))
                .header("X-Auth-Token", ADMIN)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let body = response.text().await.unwrap();
            assert_ne!(status, 405, "{method} {concrete}: {body}");
            if concrete.starts_with("/compute/") {
                assert!(
                    !body.contains("404 Not Found"),
                    "{method} {concrete} is not routed: {body}"
                );
            }
            // Neutron's fallback answer (the tag routes' `placeholder`
            // collection gets it from the handler, which is routed).
            if concrete.starts_with("/network/") && !path.contains("{collection}") {
                assert!(
                    !body.contains("The resource could not be found."),
                    "{method} {concrete} is not routed: {body}"
                );
            }
            assert!(status < 500, "{method} {concrete}: {status} {body}");
            checked += 1;
        }
    }
    assert!(checked > 150, "{checked} operations");
}
