//! `/os-server-groups`, black-box: the shapes of each microversion (Nova's
//! api_samples and tempest's schemas), every refusal with Nova's message,
//! projects and admins, paging, quotas, and servers created into groups on
//! one host (affinity holds, anti-affinity fails the second server as
//! Nova's scheduler does). Placement over several hosts is in hosts.rs.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::time::Duration;

use common::{Compute, Server, assert_fault, boot_into_group, cirros, json_of, keys_of, settled};
use serde_json::{Value, json};

const ADMIN: &str = "admin:admin";
const ALICE: &str = "alice:proj-a";
const BOB: &str = "bob:proj-b";

async fn create(c: &Compute<'_>, group: Value) -> (u16, Value) {
    let response = c
        .post("/os-server-groups", &json!({"server_group": group}))
        .await;
    let status = response.status().as_u16();
    (status, json_of(response).await)
}

/// Creates a group and returns it (the answer must be 200).
async fn group(c: &Compute<'_>, body: Value) -> Value {
    let (status, created) = create(c, body).await;
    assert_eq!(status, 200, "{created}");
    created["server_group"].clone()
}

#[tokio::test]
async fn server_groups_at_each_microversion() {
    let server = Server::start_noauth().await;
    let v21 = server.compute(ALICE, "2.1");
    let first = group(&v21, json!({"name": "test", "policies": ["anti-affinity"]})).await;
    assert_eq!(
        keys_of(&first),
        ["id", "members", "metadata", "name", "policies"]
    );
    assert_eq!(
        (
            first["name"].clone(),
            first["policies"].clone(),
            first["members"].clone(),
            first["metadata"].clone()
        ),
        (
            json!("test"),
            json!(["anti-affinity"]),
            json!([]),
            json!({})
        )
    );
    let id = first["id"].as_str().unwrap();
    assert_eq!(
        v21.get_ok(&format!("/os-server-groups/{id}")).await["server_group"],
        first
    );
    let listed = v21.get_ok("/os-server-groups").await;
    assert_eq!(listed["server_groups"], json!([first]));

    let v213 = server.compute(ALICE, "2.13");
    let shown = v213.get_ok(&format!("/os-server-groups/{id}")).await["server_group"].clone();
    assert_eq!(
        keys_of(&shown),
        [
            "id",
            "members",
            "metadata",
            "name",
            "policies",
            "project_id",
            "user_id"
        ]
    );
    assert_eq!(
        (shown["project_id"].clone(), shown["user_id"].clone()),
        (json!("proj-a"), json!("alice"))
    );

    let v215 = server.compute(ALICE, "2.15");
    let soft = group(
        &v215,
        json!({"name": "soft", "policies": ["soft-affinity"]}),
    )
    .await;
    assert_eq!(soft["policies"], json!(["soft-affinity"]));

    let v264 = server.compute(ALICE, "2.64");
    let ruled = group(
        &v264,
        json!({"name": "test", "policy": "anti-affinity", "rules": {"max_server_per_host": "3"}}),
    )
    .await;
    assert_eq!(
        keys_of(&ruled),
        [
            "id",
            "members",
            "name",
            "policy",
            "project_id",
            "rules",
            "user_id"
        ]
    );
    assert_eq!(ruled["rules"], json!({"max_server_per_host": 3}));
    // Groups made before 2.64 show empty rules; later ones the old shape below it.
    let old = v264.get_ok(&format!("/os-server-groups/{id}")).await["server_group"].clone();
    assert_eq!(
        (old["policy"].clone(), old["rules"].clone()),
        (json!("anti-affinity"), json!({}))
    );
    let ruled_id = ruled["id"].as_str().unwrap();
    let seen_old =
        v21.get_ok(&format!("/os-server-groups/{ruled_id}")).await["server_group"].clone();
    assert_eq!(seen_old["policies"], json!(["anti-affinity"]));
    let plain = group(
        &v264,
        json!({"name": "aff", "policy": "affinity", "rules": {}}),
    )
    .await;
    assert_eq!(plain["rules"], json!({}));
    // Duplicate names are allowed.
    let twin = group(&v264, json!({"name": "aff", "policy": "affinity"})).await;
    assert_ne!(twin["id"], plain["id"]);

    let response = v264.delete(&format!("/os-server-groups/{id}")).await;
    assert_eq!(response.status(), 204);
    assert_eq!(response.bytes().await.unwrap().len(), 0);
    assert_fault(
        v264.get(&format!("/os-server-groups/{id}")).await,
        404,
        &format!("Instance group {id} could not be found."),
    )
    .await;
    assert_fault(
        v264.delete("/os-server-groups/abc").await,
        404,
        "Instance group abc could not be found.",
    )
    .await;
}

#[tokio::test]
async fn refusals_carry_novas_codes_and_messages() {
    let server = Server::start_noauth().await;
    let v21 = server.compute(ALICE, "2.1");
    let v264 = server.compute(ALICE, "2.64");
    let post = async |c: &Compute<'_>, body: Value| {
        c.post("/os-server-groups", &json!({"server_group": body}))
            .await
    };
    let cases: Vec<(&Compute<'_>, Value, &str)> = vec![
        (
            &v21,
            json!({"name": "g", "policies": ["wrong-policy"]}),
            "Invalid input for field/attribute 0. Value: wrong-policy. 'wrong-policy' is not one of ['anti-affinity', 'affinity']",
        ),
        (
            &v21,
            json!({"name": "g", "policies": ["soft-affinity"]}),
            "Invalid input for field/attribute 0. Value: soft-affinity. 'soft-affinity' is not one of ['anti-affinity', 'affinity']",
        ),
        (
            &v21,
            json!({"name": "g", "policies": ["affinity", "affinity"]}),
            "Invalid input for field/attribute policies. Value: ['affinity', 'affinity']. ['affinity', 'affinity'] has non-unique elements",
        ),
        (
            &v21,
            json!({"name": "g", "policies": ["anti-affinity", "affinity"]}),
            "Invalid input for field/attribute policies. Value: ['anti-affinity', 'affinity']. ['anti-affinity', 'affinity'] is too long",
        ),
        (
            &v21,
            json!({"name": "g", "policies": "affinity"}),
            "Invalid input for field/attribute policies. Value: affinity. 'affinity' is not of type 'array'",
        ),
        (
            &v21,
            json!({"name": "x"}),
            "Invalid input for field/attribute server_group. Value: {'name': 'x'}. 'policies' is a required property",
        ),
        (
            &v21,
            json!({"name": "", "policies": ["affinity"]}),
            "Invalid input for field/attribute name. Value: . '' should be non-empty",
        ),
        (
            &v21,
            json!({"name": " g", "policies": ["affinity"]}),
            "An invalid 'name' value was provided. The name must be: printable characters. Can not start or end with whitespace.",
        ),
        (
            &v21,
            json!({"name": "g", "policies": ["affinity"], "rules": {}}),
            "Invalid input for field/attribute server_group. Value: {'name': 'g', 'policies': ['affinity'], 'rules': {}}. Additional properties are not allowed ('rules' was unexpected)",
        ),
        (
            &v264,
            json!({"name": "g", "policies": ["affinity"]}),
            "Invalid input for field/attribute server_group. Value: {'name': 'g', 'policies': ['affinity']}. 'policy' is a required property",
        ),
        (
            &v264,
            json!({"name": "g", "policy": "invalid"}),
            "Invalid input for field/attribute policy. Value: invalid. 'invalid' is not one of ['anti-affinity', 'affinity', 'soft-anti-affinity', 'soft-affinity']",
        ),
        (
            &v264,
            json!({"name": "g", "policy": "anti-affinity", "rules": {"max_server_per_host": 0}}),
            "Invalid input for field/attribute max_server_per_host. Value: 0. 0 is less than the minimum of 1",
        ),
        (
            &v264,
            json!({"name": "g", "policy": "anti-affinity", "rules": {"max_server_per_host": "foo"}}),
            "Invalid input for field/attribute max_server_per_host. Value: foo. 'foo' does not match '^[0-9]*$'",
        ),
        (
            &v264,
            json!({"name": "g", "policy": "anti-affinity", "rules": {"unknown_key": "3"}}),
            "Invalid input for field/attribute rules. Value: {'unknown_key': '3'}. Additional properties are not allowed ('unknown_key' was unexpected)",
        ),
        (
            &v264,
            json!({"name": "g", "policy": "affinity", "rules": {"max_server_per_host": 2}}),
            "Only anti-affinity policy supports rules.",
        ),
        (
            &v264,
            json!({"name": "g", "policy": "soft-anti-affinity", "rules": {"max_server_per_host": 2}}),
            "Only anti-affinity policy supports rules.",
        ),
    ];
    for (c, body, message) in cases {
        assert_fault(post(c, body).await, 400, message).await;
    }
    assert_fault(
        v21.post("/os-server-groups", &json!({})).await,
        400,
        "'server_group' is a required property",
    )
    .await;
    assert_eq!(
        v21.get_ok("/os-server-groups").await["server_groups"],
        json!([]),
        "nothing was made"
    );

    // Query parameters.
    assert_eq!(
        server
            .compute(ALICE, "2.74")
            .get("/os-server-groups?dummy=1")
            .await
            .status(),
        200
    );
    let strict = server.compute(ALICE, "2.75");
    assert_eq!(strict.get("/os-server-groups?dummy=1").await.status(), 400);
    assert_fault(
        strict.get("/os-server-groups?limit=-1").await,
        400,
        "Invalid input for query parameters limit. Value: -1. '-1' does not match '^[0-9]*$'",
    )
    .await;
    assert_eq!(
        server
            .compute(ALICE, "2.101")
            .get("/os-server-groups/x?dummy=1")
            .await
            .status(),
        404
    );
    assert_eq!(
        server
            .compute(ALICE, "2.102")
            .get("/os-server-groups/x?dummy=1")
            .await
            .status(),
        400
    );
}

#[tokio::test]
async fn projects_quotas_and_paging() {
    let server = Server::start_noauth().await;
    let alice = server.compute(ALICE, "2.13");
    let bob = server.compute(BOB, "2.13");
    let admin = server.compute(ADMIN, "2.13");
    let mut ids = Vec::new();
    for n in 0..3 {
        let made = group(
            &alice,
            json!({"name": format!("g{n}"), "policies": ["affinity"]}),
        )
        .await;
        ids.push(made["id"].as_str().unwrap().to_owned());
    }
    // Other projects see nothing of them.
    assert_eq!(
        bob.get_ok("/os-server-groups").await["server_groups"],
        json!([])
    );
    assert_eq!(
        bob.get_ok("/os-server-groups?all_projects=1").await["server_groups"],
        json!([])
    );
    let message = format!("Instance group {} could not be found.", ids[0]);
    assert_fault(
        bob.get(&format!("/os-server-groups/{}", ids[0])).await,
        404,
        &message,
    )
    .await;
    assert_fault(
        bob.delete(&format!("/os-server-groups/{}", ids[0])).await,
        404,
        &message,
    )
    .await;
    // Admins: their own project, or every project with all_projects.
    assert_eq!(
        admin.get_ok("/os-server-groups").await["server_groups"],
        json!([])
    );
    let every = admin.get_ok("/os-server-groups?all_projects=False").await;
    assert_eq!(every["server_groups"].as_array().unwrap().len(), 3);
    assert_eq!(
        admin.get_ok(&format!("/os-server-groups/{}", ids[0])).await["server_group"]["user_id"],
        "alice"
    );

    let page = |query: &str| {
        let alice = &alice;
        let query = query.to_owned();
        async move {
            alice.get_ok(&format!("/os-server-groups?{query}")).await["server_groups"]
                .as_array()
                .unwrap()
                .iter()
                .map(|g| g["id"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(page("limit=2").await, ids[..2]);
    assert_eq!(page("offset=1").await, ids[1..]);
    assert_eq!(
        page("offset=2&limit=2&limit=1&offset=1").await,
        ids[1..2],
        "the last value counts"
    );
    assert_eq!(page("limit=0").await, ids, "0 means the most");

    // The server_groups quota and its usage.
    let admin_latest = server.compute(ADMIN, "latest");
    let response = admin_latest
        .put(
            "/os-quota-sets/proj-a",
            &json!({"quota_set": {"server_groups": 3}}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let limits = alice.get_ok("/limits").await["limits"]["absolute"].clone();
    assert_eq!(
        (
            limits["maxServerGroups"].clone(),
            limits["totalServerGroupsUsed"].clone()
        ),
        (json!(3), json!(3))
    );
    let detail = admin_latest.get_ok("/os-quota-sets/proj-a/detail").await;
    assert_eq!(detail["quota_set"]["server_groups"]["in_use"], 3);
    assert_fault(
        alice
            .post(
                "/os-server-groups",
                &json!({"server_group": {"name": "over", "policies": ["affinity"]}}),
            )
            .await,
        403,
        "Quota exceeded, too many server groups.",
    )
    .await;
    assert_eq!(
        alice
            .delete(&format!("/os-server-groups/{}", ids[0]))
            .await
            .status(),
        204
    );
    group(&alice, json!({"name": "room", "policies": ["affinity"]})).await;
}

#[tokio::test]
async fn servers_created_into_groups_on_one_host() {
    let server = Server::start_noauth().await;
    let image = cirros(&server).await;
    let alice = server.compute(ALICE, "latest");
    let quota = json!({"quota_set": {"instances": 50, "cores": 50, "ram": 51200 * 4, "server_group_members": 50}});
    let response = server
        .compute(ADMIN, "latest")
        .put("/os-quota-sets/proj-a", &quota)
        .await;
    assert_eq!(response.status(), 200);

    let affinity = group(&alice, json!({"name": "aff", "policy": "affinity"})).await;
    let aff = affinity["id"].as_str().unwrap();
    let ids = boot_into_group(&alice, &image, "aff", aff, 2).await;
    for id in &ids {
        let active = settled(&alice, id, "ACTIVE").await;
        assert_eq!(active["server_groups"], json!([aff]), "2.71");
    }
    let members =
        alice.get_ok(&format!("/os-server-groups/{aff}")).await["server_group"]["members"].clone();
    assert_eq!(members, json!(ids));
    let detail = alice.get_ok("/servers/detail").await;
    assert!(
        detail["servers"][0].get("server_groups").is_none(),
        "not in listings"
    );
    assert!(
        server
            .compute(ALICE, "2.70")
            .get_ok(&format!("/servers/{}", ids[0]))
            .await["server"]
            .get("server_groups")
            .is_none()
    );

    // Anti-affinity on one host: the first fits, the second cannot.
    let anti = group(&alice, json!({"name": "anti", "policy": "anti-affinity"})).await;
    let anti = anti["id"].as_str().unwrap();
    let first = boot_into_group(&alice, &image, "anti-a", anti, 1).await;
    settled(&alice, &first[0], "ACTIVE").await;
    let second = boot_into_group(&alice, &image, "anti-b", anti, 1).await;
    let failed = settled(&alice, &second[0], "ERROR").await;
    assert_eq!(
        failed["fault"]["message"],
        "No valid host was found. There are not enough hosts available."
    );
    // A request of two that cannot all be placed fails as a whole.
    let ruled = group(
        &alice,
        json!({"name": "two", "policy": "anti-affinity", "rules": {"max_server_per_host": 2}}),
    )
    .await;
    let ruled = ruled["id"].as_str().unwrap();
    for id in boot_into_group(&alice, &image, "two", ruled, 3).await {
        settled(&alice, &id, "ERROR").await;
    }
    for id in boot_into_group(&alice, &image, "two", ruled, 2).await {
        settled(&alice, &id, "ACTIVE").await;
    }
    // Soft policies never fail.
    let soft = group(
        &alice,
        json!({"name": "soft", "policy": "soft-anti-affinity"}),
    )
    .await;
    for id in boot_into_group(&alice, &image, "soft", soft["id"].as_str().unwrap(), 2).await {
        settled(&alice, &id, "ACTIVE").await;
    }

    // Deleted servers leave; deleting a group lets its servers go.
    assert_eq!(
        alice.delete(&format!("/servers/{}", ids[0])).await.status(),
        204
    );
    for _ in 0..100 {
        let members =
            alice.get_ok(&format!("/os-server-groups/{aff}")).await["server_group"]["members"]
                .clone();
        if members == json!([ids[1]]) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let members =
        alice.get_ok(&format!("/os-server-groups/{aff}")).await["server_group"]["members"].clone();
    assert_eq!(members, json!([ids[1]]));
    assert_eq!(
        alice
            .delete(&format!("/os-server-groups/{aff}"))
            .await
            .status(),
        204
    );
    let kept = alice.get_ok(&format!("/servers/{}", ids[1])).await["server"].clone();
    assert_eq!(
        (kept["status"].clone(), kept["server_groups"].clone()),
        (json!("ACTIVE"), json!([]))
    );
}

#[tokio::test]
async fn the_group_hint_is_checked_and_members_are_counted() {
    let server = Server::start_noauth().await;
    let image = cirros(&server).await;
    let alice = server.compute(ALICE, "latest");
    let bob = server.compute(BOB, "latest");
    let theirs = group(&bob, json!({"name": "bobs", "policy": "affinity"})).await;
    let theirs = theirs["id"].as_str().unwrap();
    let body = |hint: Value| {
        json!({"server": {"name": "vm", "imageRef": image, "flavorRef": "1", "networks": "none"},
               "os:scheduler_hints": {"group": hint}})
    };
    assert_fault(
        alice.post("/servers", &body(json!(theirs))).await,
        400,
        &format!("Instance group {theirs} could not be found."),
    )
    .await;
    assert_fault(
        alice.post("/servers", &body(json!("non-uuid"))).await,
        400,
        "Invalid input for field/attribute group. Value: non-uuid. 'non-uuid' is not valid under any of the given schemas",
    )
    .await;

    let mine = group(&alice, json!({"name": "mine", "policy": "soft-affinity"})).await;
    let mine = mine["id"].as_str().unwrap();
    let admin = server.compute(ADMIN, "latest");
    let response = admin
        .put(
            "/os-quota-sets/proj-a",
            &json!({"quota_set": {"server_group_members": 2}}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let mut over = body(json!(mine));
    over["server"]["min_count"] = json!(3);
    assert_fault(
        alice.post("/servers", &over).await,
        403,
        "Quota exceeded, too many servers in group",
    )
    .await;
    assert_eq!(
        alice.get_ok("/servers").await["servers"],
        json!([]),
        "nothing was made"
    );
    let response = alice.post("/servers", &body(json!([mine]))).await;
    assert_eq!(response.status(), 202, "a list of one group");
    let detail = admin.get_ok("/os-quota-sets/proj-a/detail").await;
    assert_eq!(
        detail["quota_set"]["server_group_members"]["in_use"], 0,
        "as Nova reports it"
    );
}
