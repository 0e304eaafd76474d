//! `os-server-external-events`, black-box with keystone tokens: events
//! other services send, taken for servers with a host, Nova's per-event
//! codes (404 unknown server, 400 missing tag, 422 no host, 207 for a
//! mixed request,
//! 404 when none is taken), the names each microversion knows, and the
//! `service` role's policy (admins are not services).

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use common::{Compute, Server, assert_fault, json_of, settled};
use serde_json::{Value, json};

/// A user with the `service` role in the admin project; its token.
async fn service_token(server: &Server, admin: &str) -> String {
    let post = |path: &str, body: Value| {
        server
            .http
            .post(server.url(path))
            .header("X-Auth-Token", admin)
            .json(&body)
            .send()
    };
    let user = post(
        "/identity/v3/users",
        json!({"user": {"name": "nova-events", "password": "secret", "domain_id": "default"}}),
    )
    .await
    .unwrap();
    assert_eq!(user.status(), 201);
    let user = json_of(user).await["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let lookup = async |path: &str| json_of(server.get(path, admin).await).await;
    let roles = lookup("/identity/v3/roles?name=service").await;
    let role = roles["roles"][0]["id"].as_str().unwrap().to_owned();
    let projects = lookup("/identity/v3/projects?name=admin").await;
    let project = projects["projects"][0]["id"].as_str().unwrap().to_owned();
    let granted = server
        .http
        .put(server.url(&format!(
            "/identity/v3/projects/{project}/users/{user}/roles/{role}"
        )))
        .header("X-Auth-Token", admin)
        .send()
        .await
        .unwrap();
    assert_eq!(granted.status(), 204);
    server.token("nova-events", "secret", "admin").await
}

async fn send(c: &Compute<'_>, events: Value) -> reqwest::Response {
    c.post("/os-server-external-events", &json!({ "events": events }))
        .await
}

#[tokio::test]
async fn services_send_events_about_servers() {
    let server = Server::start().await;
    let admin = server.admin_token().await;
    let service = service_token(&server, &admin).await;
    let images = json_of(server.get("/image/v2/images", &admin).await).await;
    let image = images["images"][0]["id"].as_str().unwrap().to_owned();
    let owner = server.compute(&admin, "2.1");
    let body = json!({"server": {"name": "evented", "imageRef": image, "flavorRef": "1"}});
    let made = json_of(owner.post("/servers", &body).await).await;
    let id = made["server"]["id"].as_str().unwrap().to_owned();
    settled(&owner, &id, "ACTIVE").await;

    let events = server.compute(&service, "2.1");
    let taken = send(
        &events,
        json!([{"name": "network-changed", "server_uuid": id},
               {"name": "network-vif-plugged", "server_uuid": id, "tag": "port-1",
                "status": "in-progress"}]),
    )
    .await;
    assert_eq!(taken.status(), 200);
    assert_eq!(
        json_of(taken).await,
        json!({"events": [
            {"name": "network-changed", "server_uuid": id, "code": 200, "status": "completed"},
            {"name": "network-vif-plugged", "server_uuid": id, "tag": "port-1", "code": 200,
             "status": "completed"},
        ]})
    );

    // Some not taken: 207, each with its own code.
    let missing = "00000000-0000-0000-0000-000000000000";
    let mixed = send(
        &server.compute(&service, "2.51"),
        json!([{"name": "network-changed", "server_uuid": id},
               {"name": "network-changed", "server_uuid": missing},
               {"name": "volume-extended", "server_uuid": id}]),
    )
    .await;
    assert_eq!(mixed.status(), 207);
    let answered = json_of(mixed).await;
    let codes: Vec<(&Value, &Value)> = answered["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (&e["code"], &e["status"]))
        .collect();
    assert_eq!(
        codes,
        [
            (&json!(200), &json!("completed")),
            (&json!(404), &json!("failed")),
            (&json!(400), &json!("failed"))
        ]
    );
    // A server without a host (none could take it) cannot be told.
    let hint = json!({"server": {"name": "homeless", "imageRef": image, "flavorRef": "1"},
                      "os:scheduler_hints": {"same_host": missing}});
    let made = json_of(owner.post("/servers", &hint).await).await;
    let homeless = made["server"]["id"].as_str().unwrap().to_owned();
    settled(&owner, &homeless, "ERROR").await;
    let partly = send(
        &events,
        json!([{"name": "network-changed", "server_uuid": homeless},
               {"name": "network-changed", "server_uuid": id}]),
    )
    .await;
    assert_eq!(partly.status(), 207);
    let answered = json_of(partly).await;
    assert_eq!(
        (
            &answered["events"][0]["code"],
            &answered["events"][1]["code"]
        ),
        (&json!(422), &json!(200))
    );

    // None taken: 404.
    assert_fault(
        send(
            &events,
            json!([{"name": "network-changed", "server_uuid": missing}]),
        )
        .await,
        404,
        "No instances found for any event",
    )
    .await;

    // Names arrive with their microversions.
    let early = send(
        &events,
        json!([{"name": "volume-extended", "server_uuid": id, "tag": "v"}]),
    )
    .await;
    assert_eq!(early.status(), 400);
    for (version, name) in [
        ("2.76", "power-update"),
        ("2.82", "accelerator-request-bound"),
        ("2.93", "volume-reimaged"),
    ] {
        let before = send(
            &server.compute(&service, "2.50"),
            json!([{"name": name, "server_uuid": id, "tag": "t"}]),
        )
        .await;
        assert_eq!(before.status(), 400, "{name} before {version}");
        let at = send(
            &server.compute(&service, version),
            json!([{"name": name, "server_uuid": id, "tag": "t"}]),
        )
        .await;
        assert_eq!(at.status(), 200, "{name} at {version}");
    }
    for bad in [
        json!([]),
        json!([{"name": "network-changed"}]),
        json!([{"name": "network-changed", "server_uuid": "not-a-uuid"}]),
        json!([{"name": "network-changed", "server_uuid": id, "status": "done"}]),
        json!([{"name": "network-changed", "server_uuid": id, "extra": 1}]),
    ] {
        assert_eq!(send(&events, bad.clone()).await.status(), 400, "{bad}");
    }

    // Services only: not admins, not members.
    let denied =
        "Policy doesn't allow os_compute_api:os-server-external-events:create to be performed.";
    assert_fault(
        send(
            &owner,
            json!([{"name": "network-changed", "server_uuid": id}]),
        )
        .await,
        403,
        denied,
    )
    .await;
}
