//! `/os-aggregates`, black-box, on an embedded cloud of two simulated
//! hosts: Nova's shapes (2.1, 2.41), hosts and metadata, every refusal
//! with Nova's message, and aggregates as availability zones (listed,
//! scheduled into, kept consistent for hosts with servers).

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::time::Duration;

use common::{Compute, Server, assert_fault, cirros, json_of, keys_of};
use serde_json::{Value, json};

const ADMIN: &str = "admin:admin";
const ALICE: &str = "alice:proj-a";

async fn create(c: &Compute<'_>, body: Value) -> Value {
    let response = c.post("/os-aggregates", &json!({"aggregate": body})).await;
    let status = response.status();
    let made = json_of(response).await;
    assert_eq!(status, 200, "{made}");
    made["aggregate"].clone()
}

async fn act(c: &Compute<'_>, id: &Value, body: Value) -> reqwest::Response {
    c.post(&format!("/os-aggregates/{id}/action"), &body).await
}

async fn act_ok(c: &Compute<'_>, id: &Value, body: Value) -> Value {
    let response = act(c, id, body).await;
    let status = response.status();
    let answer = json_of(response).await;
    assert_eq!(status, 200, "{answer}");
    answer["aggregate"].clone()
}

#[tokio::test]
async fn aggregates_hosts_and_metadata() {
    let server = Server::start_noauth_hosts(2).await;
    let admin = server.compute(ADMIN, "2.1");
    let plain = create(&admin, json!({"name": "plain"})).await;
    assert_eq!(
        keys_of(&plain),
        [
            "availability_zone",
            "created_at",
            "deleted",
            "deleted_at",
            "id",
            "name",
            "updated_at"
        ]
    );
    assert_eq!(
        (
            plain["availability_zone"].clone(),
            plain["deleted"].clone(),
            plain["updated_at"].clone()
        ),
        (Value::Null, json!(false), Value::Null)
    );
    let id = plain["id"].clone();
    let shown = admin.get_ok(&format!("/os-aggregates/{id}")).await["aggregate"].clone();
    assert_eq!(
        keys_of(&shown),
        [
            "availability_zone",
            "created_at",
            "deleted",
            "deleted_at",
            "hosts",
            "id",
            "metadata",
            "name",
            "updated_at"
        ]
    );
    assert_eq!(
        (shown["hosts"].clone(), shown["metadata"].clone()),
        (json!([]), json!({}))
    );
    let v241 = server.compute(ADMIN, "2.41");
    let with_uuid = v241.get_ok(&format!("/os-aggregates/{id}")).await["aggregate"].clone();
    assert_eq!(with_uuid["uuid"].as_str().unwrap().len(), 36);

    // Metadata merges; null removes a key.
    let meta = act_ok(
        &admin,
        &id,
        json!({"set_metadata": {"metadata": {"key": "value", "k2": "v2"}}}),
    )
    .await;
    assert_eq!(meta["metadata"], json!({"key": "value", "k2": "v2"}));
    let meta = act_ok(
        &admin,
        &id,
        json!({"set_metadata": {"metadata": {"k2": null, "k3": "v3"}}}),
    )
    .await;
    assert_eq!(meta["metadata"], json!({"key": "value", "k3": "v3"}));

    // Hosts.
    let added = act_ok(&admin, &id, json!({"add_host": {"host": "alpha-2"}})).await;
    assert_eq!(added["hosts"], json!(["alpha-2"]));
    assert_fault(
        act(&admin, &id, json!({"add_host": {"host": "alpha-2"}})).await,
        409,
        &format!("Aggregate {id} already has host alpha-2."),
    )
    .await;
    assert_fault(
        act(&admin, &id, json!({"add_host": {"host": "nope"}})).await,
        404,
        "Compute host nope could not be found.",
    )
    .await;
    assert_fault(
        act(&admin, &id, json!({"remove_host": {"host": "alpha"}})).await,
        404,
        &format!("Cannot remove host alpha in aggregate {id}"),
    )
    .await;
    assert_fault(
        admin.delete(&format!("/os-aggregates/{id}")).await,
        400,
        &format!("Cannot remove host from aggregate {id}. Reason: Host aggregate is not empty."),
    )
    .await;
    let removed = act_ok(&admin, &id, json!({"remove_host": {"host": "alpha-2"}})).await;
    assert_eq!(removed["hosts"], json!([]));

    // Renames.
    let response = admin
        .put(
            &format!("/os-aggregates/{id}"),
            &json!({"aggregate": {"name": " renamed "}}),
        )
        .await;
    let renamed = json_of(response).await["aggregate"].clone();
    assert_eq!(renamed["name"], "renamed");
    assert!(renamed["updated_at"].is_string());
    create(&admin, json!({"name": "other"})).await;
    assert_fault(
        admin
            .post("/os-aggregates", &json!({"aggregate": {"name": "other"}}))
            .await,
        409,
        "Aggregate other already exists.",
    )
    .await;
    assert_fault(
        admin
            .put(
                &format!("/os-aggregates/{id}"),
                &json!({"aggregate": {"name": "other"}}),
            )
            .await,
        409,
        "Aggregate other already exists.",
    )
    .await;
    let listed = admin.get_ok("/os-aggregates").await["aggregates"].clone();
    assert_eq!(listed.as_array().unwrap().len(), 2);

    // Deleting: 200 and no body; then gone.
    let response = admin.delete(&format!("/os-aggregates/{id}")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.bytes().await.unwrap().len(), 0);
    assert_fault(
        admin.get(&format!("/os-aggregates/{id}")).await,
        404,
        &format!("Aggregate {id} could not be found."),
    )
    .await;
    assert_fault(
        admin.get("/os-aggregates/-1").await,
        404,
        "Aggregate -1 could not be found.",
    )
    .await;
    assert_fault(
        admin.get("/os-aggregates/abc").await,
        400,
        "Invalid input received: id must be an integer",
    )
    .await;

    // Bad bodies and callers.
    assert_eq!(
        admin
            .post("/os-aggregates", &json!({"aggregate": {"name": ""}}))
            .await
            .status(),
        400
    );
    let long = "a".repeat(256);
    assert_eq!(
        admin
            .post("/os-aggregates", &json!({"aggregate": {"name": long}}))
            .await
            .status(),
        400
    );
    assert_fault(
        admin.post("/os-aggregates", &json!({"aggregate": {"name": "z", "availability_zone": "a:b"}})).await,
        400,
        // Under Nova's oneOf (a zone or null) the format's own message is lost.
        "Invalid input for field/attribute availability_zone. Value: a:b. 'a:b' is not valid under any of the given schemas",
    )
    .await;
    assert_eq!(
        admin
            .put("/os-aggregates/1", &json!({"aggregate": {}}))
            .await
            .status(),
        400
    );
    let alice = server.compute(ALICE, "2.1");
    assert_fault(
        alice.get("/os-aggregates").await,
        403,
        "Policy doesn't allow os_compute_api:os-aggregates:index to be performed.",
    )
    .await;
    assert_fault(
        alice
            .post("/os-aggregates", &json!({"aggregate": {"name": "x"}}))
            .await,
        403,
        "Policy doesn't allow os_compute_api:os-aggregates:create to be performed.",
    )
    .await;
    let other = listed[1]["id"].clone();
    assert_fault(
        act(&alice, &other, json!({"add_host": {"host": "alpha"}})).await,
        403,
        "Policy doesn't allow os_compute_api:os-aggregates:add_host to be performed.",
    )
    .await;
    assert_fault(
        act(&admin, &other, json!({"bogus": {}})).await,
        400,
        "There is no such action: bogus",
    )
    .await;

    // 2.81: images to cache must exist, once each.
    let v281 = server.compute(ADMIN, "2.81");
    let image = cirros(&server).await;
    let cache = |ids: Vec<&str>| json!({"cache": ids.into_iter().map(|i| json!({"id": i})).collect::<Vec<_>>()});
    let path = format!("/os-aggregates/{other}/images");
    assert_eq!(v281.post(&path, &cache(vec![&image])).await.status(), 202);
    assert_fault(
        v281.post(&path, &cache(vec![&image, &image])).await,
        400,
        "Duplicate images in request",
    )
    .await;
    let missing = "00000000-0000-0000-0000-000000000000";
    assert_fault(
        v281.post(&path, &cache(vec![missing])).await,
        400,
        &format!("Image {missing} could not be found."),
    )
    .await;
    assert_eq!(
        server
            .compute(ADMIN, "2.80")
            .post(&path, &cache(vec![&image]))
            .await
            .status(),
        404
    );
}

/// The zones `os-availability-zone` lists, by name.
async fn zones(c: &Compute<'_>) -> Vec<String> {
    let info = c.get_ok("/os-availability-zone").await["availabilityZoneInfo"].clone();
    info.as_array()
        .unwrap()
        .iter()
        .map(|z| z["zoneName"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn aggregates_with_a_zone_are_availability_zones() {
    let server = Server::start_noauth_hosts(2).await;
    let admin = server.compute(ADMIN, "latest");
    let london = create(
        &admin,
        json!({"name": "london-hosts", "availability_zone": "london"}),
    )
    .await;
    assert_eq!(london["availability_zone"], "london");
    let id = london["id"].clone();
    assert_eq!(
        zones(&admin).await,
        ["nova"],
        "a zone without hosts is not listed"
    );
    act_ok(&admin, &id, json!({"add_host": {"host": "alpha-2"}})).await;
    assert_eq!(zones(&admin).await, ["london", "nova"]);
    let shown = admin.get_ok(&format!("/os-aggregates/{id}")).await["aggregate"].clone();
    assert_eq!(shown["metadata"], json!({"availability_zone": "london"}));
    let hypervisors = admin.get_ok("/os-hypervisors/detail").await;
    assert_eq!(hypervisors["hypervisors"].as_array().unwrap().len(), 2);

    // Servers asking for the zone land on its host, and show it.
    let image = cirros(&server).await;
    let alice = server.compute(ALICE, "latest");
    let boot = |zone: &str| {
        json!({"server": {"name": "vm", "imageRef": image, "flavorRef": "1", "networks": "none",
                          "availability_zone": zone}})
    };
    let mut ids = Vec::new();
    for _ in 0..2 {
        let response = alice.post("/servers", &boot("london")).await;
        assert_eq!(response.status(), 202);
        ids.push(
            json_of(response).await["server"]["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    for id in &ids {
        let mut server = Value::Null;
        for _ in 0..250 {
            server = admin.get_ok(&format!("/servers/{id}")).await["server"].clone();
            if server["status"] == "ACTIVE" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(
            (
                server["OS-EXT-SRV-ATTR:host"].clone(),
                server["OS-EXT-AZ:availability_zone"].clone()
            ),
            (json!("alpha-2"), json!("london")),
            "{server}"
        );
    }
    assert_fault(
        alice.post("/servers", &boot("nowhere")).await,
        400,
        "The requested availability zone is not available",
    )
    .await;

    // One zone per host; a host with servers keeps its zone.
    let paris = create(
        &admin,
        json!({"name": "paris-hosts", "availability_zone": "paris"}),
    )
    .await;
    assert_fault(
        act(&admin, &paris["id"], json!({"add_host": {"host": "alpha-2"}})).await,
        409,
        &format!(
            "Cannot add host to aggregate {}. Reason: One or more hosts already in availability zone(s) ['london'].",
            paris["id"]
        ),
    )
    .await;
    let response = act(&admin, &id, json!({"remove_host": {"host": "alpha-2"}})).await;
    assert_eq!(response.status(), 409);
    let message = json_of(response).await["conflictingRequest"]["message"].clone();
    assert!(
        message.as_str().unwrap().starts_with(&format!(
            "Cannot remove host from aggregate {id}. Reason: The host cannot be removed from the aggregate as the availability zone of the host would change from 'london' to 'nova' but the host already has 2 instance(s)."
        )),
        "{message}"
    );
    assert_fault(
        admin.put(&format!("/os-aggregates/{id}"), &json!({"aggregate": {"availability_zone": "berlin"}})).await,
        400,
        &format!("Cannot update aggregate {id}. Reason: One or more hosts contain instances in this zone."),
    )
    .await;
    assert_fault(
        admin.put(&format!("/os-aggregates/{id}"), &json!({"aggregate": {"availability_zone": null}})).await,
        400,
        &format!("Cannot update aggregate {id}. Reason: Aggregate london-hosts does not support empty named availability zone."),
    )
    .await;
    assert_fault(
        act(&admin, &id, json!({"set_metadata": {"metadata": {"availability_zone": "berlin"}}})).await,
        400,
        &format!("Cannot update metadata of aggregate {id}. Reason: One or more hosts contain instances in this zone."),
    )
    .await;

    // Without servers the zone moves, and with it the host.
    for id in &ids {
        assert_eq!(alice.delete(&format!("/servers/{id}")).await.status(), 204);
    }
    // Deleting finishes on the host, a moment after the answer.
    for id in &ids {
        for _ in 0..250 {
            if alice.get(&format!("/servers/{id}")).await.status() == 404 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let moved = admin
        .put(
            &format!("/os-aggregates/{id}"),
            &json!({"aggregate": {"availability_zone": "berlin"}}),
        )
        .await;
    assert_eq!(moved.status(), 200);
    assert_eq!(zones(&admin).await, ["berlin", "nova"]);
    act_ok(&admin, &id, json!({"remove_host": {"host": "alpha-2"}})).await;
    assert_eq!(zones(&admin).await, ["nova"]);
}
