//! `/limits` and `/os-quota-sets`, black-box: keys per microversion as in
//! Nova's captured responses, defaults from config, admin overrides, and
//! tenancy.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use common::{Options, Server, assert_fault, cirros, json_of};
use serde_json::{Value, json};

const ADMIN: &str = "admin:admin";
const ALICE: &str = "alice:proj-a";
const BOB: &str = "bob:proj-b";

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

fn sorted(list: &[&str]) -> Vec<String> {
    let mut k: Vec<String> = list.iter().map(|s| s.to_string()).collect();
    k.sort();
    k
}

#[tokio::test]
async fn limits_have_nova_keys_at_each_microversion() {
    let server = Server::start_noauth().await;
    let latest_keys = [
        "maxTotalCores",
        "maxTotalInstances",
        "maxTotalKeypairs",
        "maxServerMeta",
        "maxTotalRAMSize",
        "maxServerGroups",
        "maxServerGroupMembers",
        "totalRAMUsed",
        "totalCoresUsed",
        "totalInstancesUsed",
        "totalServerGroupsUsed",
    ];
    let v21 = server.compute(ALICE, "2.1").get_ok("/limits").await;
    assert_eq!(v21["limits"]["rate"], json!([]));
    let absolute = &v21["limits"]["absolute"];
    let mut v21_keys = latest_keys.to_vec();
    v21_keys.extend([
        "maxPersonality",
        "maxPersonalitySize",
        "maxImageMeta",
        "maxTotalFloatingIps",
        "maxSecurityGroups",
        "maxSecurityGroupRules",
        "totalFloatingIpsUsed",
        "totalSecurityGroupsUsed",
    ]);
    assert_eq!(
        keys(absolute),
        sorted(&v21_keys),
        "the keys of Nova's 2.1 sample"
    );
    assert_eq!(
        (
            absolute["maxTotalCores"].clone(),
            absolute["maxTotalInstances"].clone(),
            absolute["maxTotalRAMSize"].clone(),
            absolute["maxPersonalitySize"].clone()
        ),
        (json!(20), json!(10), json!(51200), json!(10240))
    );
    assert_eq!(
        (
            absolute["maxSecurityGroups"].clone(),
            absolute["totalInstancesUsed"].clone()
        ),
        (json!(-1), json!(0))
    );

    let at = async |v: &str| {
        keys(&server.compute(ALICE, v).get_ok("/limits").await["limits"]["absolute"])
    };
    let mut v36 = latest_keys.to_vec();
    v36.extend(["maxPersonality", "maxPersonalitySize", "maxImageMeta"]);
    assert_eq!(at("2.36").await, sorted(&v36));
    assert_eq!(at("2.38").await, sorted(&v36));
    let mut v39 = latest_keys.to_vec();
    v39.extend(["maxPersonality", "maxPersonalitySize"]);
    assert_eq!(at("2.39").await, sorted(&v39));
    assert_eq!(at("2.56").await, sorted(&v39));
    assert_eq!(at("2.57").await, sorted(&latest_keys));
    assert_eq!(
        at("2.104").await,
        sorted(&latest_keys),
        "the keys of Nova's latest sample"
    );

    assert_eq!(
        server
            .compute(ALICE, "2.74")
            .get("/limits?colour=red")
            .await
            .status(),
        200
    );
    assert_eq!(
        server
            .compute(ALICE, "2.75")
            .get("/limits?colour=red")
            .await
            .status(),
        400
    );
}

#[tokio::test]
async fn configured_defaults_overrides_and_other_projects() {
    let server = Server::start_with(Options {
        args: vec!["--auth".into(), "noauth".into()],
        config_toml: Some("[quota]\ninstances = 4\ncores = 8\n".into()),
        ..Default::default()
    })
    .await;
    let limits = async |token: &str, path: &str| {
        server.compute(token, "2.57").get_ok(path).await["limits"]["absolute"].clone()
    };
    assert_eq!(limits(ALICE, "/limits").await["maxTotalInstances"], 4);
    assert_eq!(limits(ALICE, "/limits").await["maxTotalCores"], 8);

    let admin = server.compute(ADMIN, "2.57");
    let updated = admin
        .put(
            "/os-quota-sets/proj-a",
            &json!({"quota_set": {"instances": 25, "ram": "1024"}}),
        )
        .await;
    assert_eq!(updated.status(), 200);
    let body = json_of(updated).await;
    assert!(
        body["quota_set"].get("id").is_none(),
        "update echoes without id"
    );
    assert_eq!(
        (
            body["quota_set"]["instances"].clone(),
            body["quota_set"]["ram"].clone()
        ),
        (json!(25), json!(1024))
    );
    assert_eq!(limits(ALICE, "/limits").await["maxTotalInstances"], 25);
    assert_eq!(
        limits(BOB, "/limits").await["maxTotalInstances"],
        4,
        "other projects keep the default"
    );
    assert_eq!(
        limits(ADMIN, "/limits?tenant_id=proj-a").await["maxTotalRAMSize"],
        1024
    );
    assert_fault(
        server
            .compute(BOB, "2.57")
            .get("/limits?tenant_id=proj-a")
            .await,
        403,
        "Policy doesn't allow os_compute_api:limits:other_project to be performed.",
    )
    .await;
    assert_eq!(
        server
            .compute(BOB, "2.57")
            .get("/limits?tenant_id=proj-b")
            .await
            .status(),
        403,
        "naming a project, even one's own, is for admins"
    );

    assert_eq!(admin.delete("/os-quota-sets/proj-a").await.status(), 202);
    assert_eq!(limits(ALICE, "/limits").await["maxTotalInstances"], 4);
}

#[tokio::test]
async fn quota_sets_show_detail_defaults_and_update_rules() {
    let server = Server::start_noauth().await;
    let alice = server.compute(ALICE, "2.57");
    let shown = alice.get_ok("/os-quota-sets/proj-a").await;
    assert_eq!(
        shown,
        json!({"quota_set": {"id": "proj-a", "cores": 20, "instances": 10, "key_pairs": 100, "metadata_items": 128,
               "ram": 51200, "server_group_members": 10, "server_groups": 10}})
    );
    let old = server
        .compute(ALICE, "2.1")
        .get_ok("/os-quota-sets/proj-a")
        .await;
    assert_eq!(
        keys(&old["quota_set"]),
        sorted(&[
            "id",
            "cores",
            "instances",
            "key_pairs",
            "metadata_items",
            "ram",
            "server_group_members",
            "server_groups",
            "injected_file_content_bytes",
            "injected_file_path_bytes",
            "injected_files",
            "fixed_ips",
            "floating_ips",
            "security_group_rules",
            "security_groups"
        ])
    );
    assert_eq!(old["quota_set"]["floating_ips"], -1);
    let mid = server
        .compute(ALICE, "2.36")
        .get_ok("/os-quota-sets/proj-a")
        .await;
    assert!(
        mid["quota_set"].get("floating_ips").is_none()
            && mid["quota_set"].get("injected_files").is_some()
    );

    let detail = alice.get_ok("/os-quota-sets/proj-a/detail").await;
    assert_eq!(
        detail["quota_set"]["instances"],
        json!({"in_use": 0, "limit": 10, "reserved": 0})
    );
    assert_eq!(detail["quota_set"]["id"], "proj-a");
    let defaults = server
        .compute(BOB, "2.57")
        .get_ok("/os-quota-sets/anything/defaults")
        .await;
    assert_eq!(defaults["quota_set"]["cores"], 20);

    assert_fault(
        alice.get("/os-quota-sets/proj-b").await,
        403,
        "Policy doesn't allow os_compute_api:os-quota-sets:show to be performed.",
    )
    .await;
    assert_eq!(
        alice
            .put(
                "/os-quota-sets/proj-a",
                &json!({"quota_set": {"instances": 50}})
            )
            .await
            .status(),
        403
    );
    assert_eq!(alice.delete("/os-quota-sets/proj-a").await.status(), 403);

    let admin = server.compute(ADMIN, "2.57");
    assert_fault(
        admin
            .put(
                "/os-quota-sets/proj-a",
                &json!({"quota_set": {"instances": -2}}),
            )
            .await,
        400,
        "Invalid input for field/attribute instances. Value: -2. -2 is less than the minimum of -1",
    )
    .await;
    assert_eq!(
        admin
            .put(
                "/os-quota-sets/proj-a",
                &json!({"quota_set": {"instances": "ten"}})
            )
            .await
            .status(),
        400
    );
    assert_eq!(
        admin
            .put(
                "/os-quota-sets/proj-a",
                &json!({"quota_set": {"injected_files": 3}})
            )
            .await
            .status(),
        400,
        "gone at 2.57"
    );
    assert_eq!(
        server
            .compute(ADMIN, "2.56")
            .put(
                "/os-quota-sets/proj-a",
                &json!({"quota_set": {"injected_files": 3}})
            )
            .await
            .status(),
        200
    );
    assert_eq!(
        admin
            .put(
                "/os-quota-sets/proj-a",
                &json!({"quota_set": {"cores": -1, "force": true}})
            )
            .await
            .status(),
        200
    );
    assert_eq!(
        admin.get_ok("/os-quota-sets/proj-a").await["quota_set"]["cores"],
        -1
    );
}

#[tokio::test]
async fn per_user_quotas_within_a_project() {
    let server = Server::start_noauth().await;
    let admin = server.compute(ADMIN, "2.57");
    let put = async |path: &str, body: Value| {
        let response = admin.put(path, &body).await;
        let status = response.status().as_u16();
        (status, json_of(response).await)
    };
    let (status, _) = put(
        "/os-quota-sets/proj-a",
        json!({"quota_set": {"instances": 10, "ram": 5120}}),
    )
    .await;
    assert_eq!(status, 200);

    // A user without limits of their own has the project's.
    let alice = server.compute(ALICE, "2.57");
    let own = alice.get_ok("/os-quota-sets/proj-a?user_id=alice").await;
    assert_eq!(
        (
            own["quota_set"]["id"].clone(),
            own["quota_set"]["ram"].clone()
        ),
        (json!("proj-a"), json!(5120))
    );

    let (status, set) = put(
        "/os-quota-sets/proj-a?user_id=alice",
        json!({"quota_set": {"ram": "2048", "instances": 1}}),
    )
    .await;
    assert_eq!(status, 200, "{set}");
    assert_eq!(
        (set["quota_set"]["ram"].clone(), set["quota_set"].get("id")),
        (json!(2048), None)
    );
    assert_eq!(
        alice.get_ok("/os-quota-sets/proj-a?user_id=alice").await["quota_set"]["ram"],
        2048
    );
    assert_eq!(
        admin.get_ok("/os-quota-sets/proj-a").await["quota_set"]["ram"],
        5120,
        "the project's stays"
    );

    // What one user has is not the others'.
    assert_fault(
        admin
            .put(
                "/os-quota-sets/proj-a?user_id=carol",
                &json!({"quota_set": {"ram": 4096}}),
            )
            .await,
        400,
        "Quota limit 4096 for ram must be less than or equal to 3072.",
    )
    .await;
    assert_fault(
        admin
            .put(
                "/os-quota-sets/proj-a?user_id=carol",
                &json!({"quota_set": {"instances": -1}}),
            )
            .await,
        400,
        "Quota limit -1 for instances must be less than or equal to 9.",
    )
    .await;
    assert_fault(
        admin
            .put(
                "/os-quota-sets/proj-a",
                &json!({"quota_set": {"ram": 1024}}),
            )
            .await,
        400,
        "Quota limit 1024 for ram must be greater than or equal to already used and reserved 2048.",
    )
    .await;
    let (status, _) = put(
        "/os-quota-sets/proj-a?user_id=carol",
        json!({"quota_set": {"ram": 9999, "force": true}}),
    )
    .await;
    assert_eq!(status, 200, "force skips the checks");

    // The user's limit holds at create, with the user's numbers.
    let image = cirros(&server).await;
    let boot =
        json!({"server": {"name": "vm", "imageRef": image, "flavorRef": "1", "networks": "none"}});
    let first = alice.post("/servers", &boot).await;
    assert_eq!(first.status(), 202);
    assert_fault(
        alice.post("/servers", &boot).await,
        403,
        "Quota exceeded for instances: Requested 1, but already used 1 of 1 instances",
    )
    .await;
    let detail = alice
        .get_ok("/os-quota-sets/proj-a/detail?user_id=alice")
        .await;
    assert_eq!(
        detail["quota_set"]["instances"],
        json!({"in_use": 1, "limit": 1, "reserved": 0})
    );
    let bob_in_a = server.compute("bob:proj-a", "2.57");
    assert_eq!(
        bob_in_a.post("/servers", &boot).await.status(),
        202,
        "other users keep the project's limit"
    );

    // Deleting the user's limits gives back the project's; deleting the
    // project's removes its users' too.
    assert_eq!(
        admin
            .delete("/os-quota-sets/proj-a?user_id=alice")
            .await
            .status(),
        202
    );
    assert_eq!(
        alice.get_ok("/os-quota-sets/proj-a?user_id=alice").await["quota_set"]["instances"],
        10
    );
    assert_eq!(admin.delete("/os-quota-sets/proj-a").await.status(), 202);
    assert_eq!(
        admin.get_ok("/os-quota-sets/proj-a?user_id=carol").await["quota_set"]["ram"],
        51200
    );
    assert_eq!(
        server
            .compute(ALICE, "2.75")
            .get("/os-quota-sets/proj-a?user_id=alice&foo=1")
            .await
            .status(),
        400
    );
}

#[tokio::test]
async fn quota_classes_and_the_default_class() {
    let server = Server::start_noauth().await;
    let show = async |v: &str| {
        server
            .compute(ADMIN, v)
            .get_ok("/os-quota-class-sets/default")
            .await["quota_class_set"]
            .clone()
    };
    assert_eq!(
        keys(&show("2.1").await),
        sorted(&[
            "id",
            "cores",
            "fixed_ips",
            "floating_ips",
            "injected_file_content_bytes",
            "injected_file_path_bytes",
            "injected_files",
            "instances",
            "key_pairs",
            "metadata_items",
            "ram",
            "security_group_rules",
            "security_groups"
        ])
    );
    assert_eq!(
        keys(&show("2.50").await),
        sorted(&[
            "id",
            "cores",
            "injected_file_content_bytes",
            "injected_file_path_bytes",
            "injected_files",
            "instances",
            "key_pairs",
            "metadata_items",
            "ram",
            "server_group_members",
            "server_groups"
        ])
    );
    let latest = show("2.57").await;
    assert_eq!(
        latest,
        json!({"id": "default", "cores": 20, "instances": 10, "key_pairs": 100, "metadata_items": 128, "ram": 51200,
               "server_group_members": 10, "server_groups": 10})
    );

    let admin = server.compute(ADMIN, "2.57");
    admin
        .put(
            "/os-quota-sets/proj-b",
            &json!({"quota_set": {"instances": 3}}),
        )
        .await;
    let updated = admin
        .put(
            "/os-quota-class-sets/default",
            &json!({"quota_class_set": {"instances": 15, "cores": "30"}}),
        )
        .await;
    assert_eq!(updated.status(), 200);
    let body = json_of(updated).await;
    assert!(body["quota_class_set"].get("id").is_none());
    assert_eq!(
        (
            body["quota_class_set"]["instances"].clone(),
            body["quota_class_set"]["cores"].clone()
        ),
        (json!(15), json!(30))
    );
    let alice = server.compute(ALICE, "2.57").get_ok("/limits").await;
    assert_eq!(
        alice["limits"]["absolute"]["maxTotalInstances"], 15,
        "the default class sets every project's defaults"
    );
    let bob = server.compute(BOB, "2.57").get_ok("/limits").await;
    assert_eq!(
        bob["limits"]["absolute"]["maxTotalInstances"], 3,
        "project overrides still win"
    );
    assert_eq!(
        admin.get_ok("/os-quota-sets/x/defaults").await["quota_set"]["cores"],
        30
    );

    // nova-network's quotas are stored and shown where Nova has them
    // (classes before 2.50), though nothing counts them.
    let v21 = server.compute(ADMIN, "2.1");
    let updated = json_of(
        v21.put(
            "/os-quota-class-sets/netted",
            &json!({"quota_class_set": {"floating_ips": 99, "security_groups": 7}}),
        )
        .await,
    )
    .await;
    assert_eq!(
        (
            updated["quota_class_set"]["floating_ips"].clone(),
            updated["quota_class_set"]["security_groups"].clone(),
            updated["quota_class_set"]["fixed_ips"].clone()
        ),
        (json!(99), json!(7), json!(-1))
    );
    let shown = v21.get_ok("/os-quota-class-sets/netted").await;
    assert_eq!(shown["quota_class_set"]["floating_ips"], 99);
    let later = server
        .compute(ADMIN, "2.50")
        .get_ok("/os-quota-class-sets/netted")
        .await;
    assert!(later["quota_class_set"].get("floating_ips").is_none());

    // Other classes are kept and shown, but apply to no project.
    admin
        .put(
            "/os-quota-class-sets/gold",
            &json!({"quota_class_set": {"instances": 99}}),
        )
        .await;
    assert_eq!(
        admin.get_ok("/os-quota-class-sets/gold").await["quota_class_set"]["instances"],
        99
    );
    assert_eq!(
        server.compute(ALICE, "2.57").get_ok("/limits").await["limits"]["absolute"]["maxTotalInstances"],
        15
    );

    assert_eq!(
        admin
            .put(
                "/os-quota-class-sets/default",
                &json!({"quota_class_set": {"force": true}})
            )
            .await
            .status(),
        400
    );
    assert_eq!(
        admin
            .put(
                "/os-quota-class-sets/default",
                &json!({"quota_class_set": {"instances": -5}})
            )
            .await
            .status(),
        400
    );
    assert_fault(
        server
            .compute(ALICE, "2.57")
            .get("/os-quota-class-sets/default")
            .await,
        403,
        "Policy doesn't allow os_compute_api:os-quota-class-sets:show to be performed.",
    )
    .await;
    assert_eq!(
        server
            .compute(ALICE, "2.57")
            .put(
                "/os-quota-class-sets/default",
                &json!({"quota_class_set": {"instances": 1}})
            )
            .await
            .status(),
        403
    );
}
