//! `/servers`, black-box: create (schema per microversion, quota, addresses,
//! multi-create), the build to ACTIVE through the fake driver, list filters
//! and paging, show per microversion and caller, update, delete, metadata,
//! ips, tags, tenancy, concurrency at the quota edge, and restart mid-build.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::time::Duration;

use common::{Compute, Options, Server, assert_fault, cirros, header, json_of};
use serde_json::{Value, json};

const ADMIN: &str = "admin:admin";
const ALICE: &str = "alice:proj-a";
const BOB: &str = "bob:proj-b";

fn server_body(name: &str, image: &str, extra: Value) -> Value {
    let mut server = json!({"name": name, "imageRef": image, "flavorRef": "1"});
    for (k, v) in extra.as_object().unwrap() {
        server[k] = v.clone();
    }
    json!({ "server": server })
}

/// Whether a client's microversion requires `networks` (2.37).
fn needs_networks(c: &Compute<'_>) -> bool {
    c.version == "latest" || c.version.split('.').nth(1).unwrap().parse::<u32>().unwrap() >= 37
}

/// A create body valid at the client's microversion.
fn body_for(c: &Compute<'_>, name: &str, image: &str, extra: Value) -> Value {
    let mut body = server_body(name, image, extra);
    if needs_networks(c) && body["server"].get("networks").is_none() {
        body["server"]["networks"] = json!("auto");
    }
    body
}

/// Creates a server and returns its id.
async fn boot(c: &Compute<'_>, image: &str, name: &str, extra: Value) -> String {
    let response = c.post("/servers", &body_for(c, name, image, extra)).await;
    let status = response.status();
    let body = json_of(response).await;
    assert_eq!(status, 202, "{body}");
    body["server"]["id"].as_str().unwrap().to_owned()
}

/// Polls until the server reaches `status` (or fails after 10 s).
async fn wait_for(c: &Compute<'_>, id: &str, status: &str) -> Value {
    for _ in 0..500 {
        let response = c.get(&format!("/servers/{id}")).await;
        if response.status() == 200 {
            let body = json_of(response).await;
            if body["server"]["status"] == status {
                return body["server"].clone();
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("server {id} never reached {status}");
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

/// The keys of `GET /servers/{id}` as an admin, captured from Nova 34.0.0
/// (`nova-samples/get_server_v2.1.json` and `get_server_latest.json` of the
/// shared reference).
const NOVA_SHOW_KEYS_2_1: &[&str] = &[
    "OS-DCF:diskConfig",
    "OS-EXT-AZ:availability_zone",
    "OS-EXT-SRV-ATTR:host",
    "OS-EXT-SRV-ATTR:hypervisor_hostname",
    "OS-EXT-SRV-ATTR:instance_name",
    "OS-EXT-STS:power_state",
    "OS-EXT-STS:task_state",
    "OS-EXT-STS:vm_state",
    "OS-SRV-USG:launched_at",
    "OS-SRV-USG:terminated_at",
    "accessIPv4",
    "accessIPv6",
    "addresses",
    "config_drive",
    "created",
    "flavor",
    "hostId",
    "id",
    "image",
    "key_name",
    "links",
    "metadata",
    "name",
    "os-extended-volumes:volumes_attached",
    "progress",
    "status",
    "tenant_id",
    "updated",
    "user_id",
];

const NOVA_SHOW_KEYS_LATEST: &[&str] = &[
    "OS-DCF:diskConfig",
    "OS-EXT-AZ:availability_zone",
    "OS-EXT-SRV-ATTR:host",
    "OS-EXT-SRV-ATTR:hostname",
    "OS-EXT-SRV-ATTR:hypervisor_hostname",
    "OS-EXT-SRV-ATTR:instance_name",
    "OS-EXT-SRV-ATTR:kernel_id",
    "OS-EXT-SRV-ATTR:launch_index",
    "OS-EXT-SRV-ATTR:ramdisk_id",
    "OS-EXT-SRV-ATTR:reservation_id",
    "OS-EXT-SRV-ATTR:root_device_name",
    "OS-EXT-SRV-ATTR:user_data",
    "OS-EXT-STS:power_state",
    "OS-EXT-STS:task_state",
    "OS-EXT-STS:vm_state",
    "OS-SRV-USG:launched_at",
    "OS-SRV-USG:terminated_at",
    "accessIPv4",
    "accessIPv6",
    "addresses",
    "config_drive",
    "created",
    "description",
    "flavor",
    "hostId",
    "host_status",
    "id",
    "image",
    "key_name",
    "links",
    "locked",
    "locked_reason",
    "metadata",
    "name",
    "os-extended-volumes:volumes_attached",
    "pinned_availability_zone",
    "progress",
    "scheduler_hints",
    "server_groups",
    "status",
    "tags",
    "tenant_id",
    "trusted_image_certificates",
    "updated",
    "user_id",
];

#[tokio::test]
async fn create_answers_like_nova_and_the_build_reaches_active() {
    let server = Server::start_noauth().await;
    let image = cirros(&server).await;
    for version in ["2.1", "latest"] {
        let c = server.compute(ADMIN, version);
        let response = c
            .post("/servers", &body_for(&c, "vm-one", &image, json!({})))
            .await;
        assert_eq!(response.status(), 202);
        let location = header(&response, "location").unwrap().to_owned();
        let body = json_of(response).await;
        let created = &body["server"];
        assert_eq!(
            keys(created),
            [
                "OS-DCF:diskConfig",
                "adminPass",
                "id",
                "links",
                "security_groups"
            ]
        );
        assert_eq!(created["links"][0]["href"], location.as_str());
        assert!(location.ends_with(&format!(
            "/compute/v2.1/servers/{}",
            created["id"].as_str().unwrap()
        )));
        assert_eq!(created["security_groups"], json!([{"name": "default"}]));
        assert_eq!(created["OS-DCF:diskConfig"], "MANUAL");
        assert_eq!(created["adminPass"].as_str().unwrap().len(), 12);

        let id = created["id"].as_str().unwrap();
        let active = wait_for(&c, id, "ACTIVE").await;
        assert_eq!(active["OS-EXT-STS:vm_state"], "active");
        assert_eq!(active["OS-EXT-STS:task_state"], Value::Null);
        assert_eq!(active["OS-EXT-STS:power_state"], 1);
        assert_eq!(active["OS-EXT-AZ:availability_zone"], "nova");
        assert!(active["OS-SRV-USG:launched_at"].is_string());
        assert_eq!(active["hostId"].as_str().unwrap().len(), 56);
        let private = active["addresses"]["private"].as_array().unwrap();
        assert_eq!(private[0]["version"], 4);
        assert!(private[0]["addr"].as_str().unwrap().starts_with("10.0.0."));
        assert_eq!(private[0]["OS-EXT-IPS:type"], "fixed");
        assert!(
            private[0]["OS-EXT-IPS-MAC:mac_addr"]
                .as_str()
                .unwrap()
                .starts_with("fa:16:3e:")
        );
        assert_eq!(private[1]["version"], 6);
        assert!(private[1]["addr"].as_str().unwrap().starts_with("fd00::1:"));
        // The same keys as Nova's captured responses (plus security groups,
        // which Nova omits only because its capture had no ports).
        let sample = if version == "2.1" {
            NOVA_SHOW_KEYS_2_1
        } else {
            NOVA_SHOW_KEYS_LATEST
        };
        let mut expected: Vec<String> = sample.iter().map(|k| (*k).to_owned()).collect();
        expected.push("security_groups".into());
        expected.sort();
        assert_eq!(keys(&active), expected, "show keys at {version}");
    }
}

#[tokio::test]
async fn show_fields_follow_microversions_and_roles() {
    let server = Server::start_noauth().await;
    let image = cirros(&server).await;
    let alice = server.compute(ALICE, "2.1");
    let id = boot(&alice, &image, "versions", json!({})).await;
    wait_for(&alice, &id, "ACTIVE").await;
    let show = |version: &'static str, token: &'static str| {
        let server = &server;
        let id = id.clone();
        async move {
            server
                .compute(token, version)
                .get_ok(&format!("/servers/{id}"))
                .await["server"]
                .clone()
        }
    };
    let has = |v: &Value, k: &str| v.as_object().unwrap().contains_key(k);
    let v21 = show("2.1", ALICE).await;
    for k in [
        "locked",
        "description",
        "tags",
        "OS-EXT-SRV-ATTR:host",
        "host_status",
    ] {
        assert!(!has(&v21, k), "{k} at 2.1");
    }
    assert_eq!(v21["flavor"]["id"], "1");
    assert!(
        v21["flavor"]["links"][0]["href"]
            .as_str()
            .unwrap()
            .ends_with("/flavors/1")
    );
    assert!(has(&show("2.9", ALICE).await, "locked"));
    assert!(
        !has(&show("2.16", ALICE).await, "host_status"),
        "admin only"
    );
    assert_eq!(show("2.16", ADMIN).await["host_status"], "UP");
    assert_eq!(
        show("2.3", ADMIN).await["OS-EXT-SRV-ATTR:reservation_id"]
            .as_str()
            .unwrap()
            .len(),
        10
    );
    assert!(!has(
        &show("2.3", ALICE).await,
        "OS-EXT-SRV-ATTR:reservation_id"
    ));
    // Created at 2.1, the description is the name (Nova's rule).
    assert_eq!(show("2.19", ALICE).await["description"], "versions");
    assert_eq!(show("2.26", ALICE).await["tags"], json!([]));
    let v247 = show("2.47", ALICE).await;
    assert_eq!(v247["flavor"]["original_name"], "m1.tiny");
    assert_eq!(v247["flavor"]["ram"], 512);
    assert_eq!(v247["flavor"]["extra_specs"]["hw_rng:allowed"], "True");
    assert_eq!(
        show("2.63", ALICE).await["trusted_image_certificates"],
        Value::Null
    );
    assert_eq!(show("2.71", ALICE).await["server_groups"], json!([]));
    assert_eq!(show("2.73", ALICE).await["locked_reason"], Value::Null);
    assert!(!has(&show("2.89", ALICE).await, "OS-EXT-SRV-ATTR:hostname"));
    assert_eq!(
        show("2.90", ALICE).await["OS-EXT-SRV-ATTR:hostname"],
        "versions"
    );
    assert!(has(&show("2.96", ALICE).await, "pinned_availability_zone"));
    assert!(!has(&show("2.97", ALICE).await["image"], "properties"));
    assert_eq!(
        show("2.98", ALICE).await["image"]["properties"]["os_distro"],
        "cirros"
    );
    assert_eq!(show("2.100", ALICE).await["scheduler_hints"], json!({}));
    // Detail lists never carry server_groups.
    let detail = server
        .compute(ALICE, "latest")
        .get_ok("/servers/detail")
        .await;
    assert!(!has(&detail["servers"][0], "server_groups"));
    // 2.102: query parameters on show are refused.
    let response = server
        .compute(ALICE, "2.102")
        .get(&format!("/servers/{id}?foo=1"))
        .await;
    assert_eq!(response.status(), 400);
    assert_eq!(
        server
            .compute(ALICE, "2.101")
            .get(&format!("/servers/{id}?foo=1"))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn a_directly_booted_kernel_is_kept_for_the_hypervisor_but_not_shown() {
    // An image that boots its kernel directly (`kernel_id`, `ramdisk_id`):
    // the server keeps both for its hypervisor, while 2.98's
    // `image.properties` leaves them out as Nova's does.
    let server = Server::start_noauth().await;
    let cirros = cirros(&server).await;
    let admin = |request: reqwest::RequestBuilder| request.header("X-Auth-Token", "admin:admin");
    let created = admin(server.http.post(server.url("/image/v2/images")))
        .json(&json!({
            "name": "direct-boot", "disk_format": "raw", "container_format": "bare",
            "visibility": "public", "kernel_id": cirros, "ramdisk_id": cirros,
            "os_command_line": "console=ttyS0", "os_distro": "debian",
        }))
        .send()
        .await
        .expect("request");
    assert_eq!(created.status(), 201);
    let image = json_of(created).await["id"].as_str().unwrap().to_owned();
    let uploaded = admin(
        server
            .http
            .put(server.url(&format!("/image/v2/images/{image}/file"))),
    )
    .header("Content-Type", "application/octet-stream")
    .body(vec![0u8; 1024])
    .send()
    .await
    .expect("request");
    assert_eq!(uploaded.status(), 204);
    let alice = server.compute(ALICE, "2.98");
    let id = boot(&alice, &image, "direct", json!({})).await;
    let active = wait_for(&alice, &id, "ACTIVE").await;
    let properties = &active["image"]["properties"];
    assert_eq!(properties["os_command_line"], "console=ttyS0", "{active}");
    assert_eq!(properties["os_distro"], "debian", "{active}");
    for hidden in ["kernel_id", "ramdisk_id"] {
        assert!(
            properties.get(hidden).is_none(),
            "{hidden} shown: {properties}"
        );
    }
    // A snapshot of the server inherits them, so it boots alike.
    let snapshot = alice
        .post(
            &format!("/servers/{id}/action"),
            &json!({"createImage": {"name": "direct-snap"}}),
        )
        .await;
    assert_eq!(snapshot.status(), 202);
    let snapshot_id = json_of(snapshot).await["image_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let shown = admin(
        server
            .http
            .get(server.url(&format!("/image/v2/images/{snapshot_id}"))),
    )
    .send()
    .await
    .expect("request");
    let shown = json_of(shown).await;
    assert_eq!(
        (&shown["kernel_id"], &shown["ramdisk_id"]),
        (&json!(cirros), &json!(cirros)),
        "{shown}"
    );
}

#[tokio::test]
async fn create_refuses_bad_requests_with_nova_messages() {
    let server = Server::start_noauth().await;
    let image = cirros(&server).await;
    let c21 = server.compute(ALICE, "2.1");
    let latest = server.compute(ALICE, "latest");
    let c257 = server.compute(ALICE, "2.57");
    let c274 = server.compute(ALICE, "2.74");
    let cases: Vec<(&Compute<'_>, Value, u16, String)> = vec![
        (&c21, json!({"server": {"imageRef": image, "flavorRef": "1"}}), 400,
         format!("Invalid input for field/attribute server. Value: {{'imageRef': '{image}', 'flavorRef': '1'}}. 'name' is a required property")),
        (&c21, json!({"server": {"name": "x", "imageRef": image}}), 400,
         format!("Invalid input for field/attribute server. Value: {{'name': 'x', 'imageRef': '{image}'}}. 'flavorRef' is a required property")),
        (&latest, json!({"server": {"name": "x", "imageRef": image, "flavorRef": "1"}}), 400,
         format!("Invalid input for field/attribute server. Value: {{'name': 'x', 'imageRef': '{image}', 'flavorRef': '1'}}. 'networks' is a required property")),
        (&c21, server_body(" x", &image, json!({})), 400,
         "An invalid 'name' value was provided. The name must be: printable characters. Can not start or end with whitespace.".into()),
        (&c21, server_body("", &image, json!({})), 400,
         "Invalid input for field/attribute name. Value: . '' should be non-empty".into()),
        (&c21, server_body("x", &image, json!({"flavorRef": "999"})), 400, "Flavor 999 could not be found.".into()),
        (&c21, server_body("x", "00000000-0000-0000-0000-000000000000", json!({})), 400, "Can not find requested image".into()),
        (&c21, server_body("x", &image, json!({"foo": 1})), 400,
         format!("Invalid input for field/attribute server. Value: {{'name': 'x', 'imageRef': '{image}', 'flavorRef': '1', 'foo': 1}}. Additional properties are not allowed ('foo' was unexpected)")),
        (&c21, json!({"server": {"name": "x", "imageRef": image, "flavorRef": "1"}, "extra": 1}), 400,
         "Additional properties are not allowed ('extra' was unexpected)".into()),
        (&c21, server_body("x", &image, json!({"min_count": 3, "max_count": 2})), 400, "min_count must be <= max_count".into()),
        (&c21, server_body("x", &image, json!({"key_name": "nokey"})), 400, "Invalid key_name provided.".into()),
        (&c21, server_body("x", &image, json!({"availability_zone": "elsewhere"})), 400,
         "The requested availability zone is not available".into()),
        (&c21, server_body("x", &image, json!({"security_groups": [{"name": "web"}]})), 400,
         "Security group web not found.".into()),
        (&c21, server_body("x", &image, json!({"networks": [{"uuid": "00000000-0000-0000-0000-000000000001"}]})), 400,
         "Network 00000000-0000-0000-0000-000000000001 could not be found.".into()),
        (&c21, server_body("x", &image, json!({"networks": [{"fixed_ip": "10.0.0.9"}]})), 400,
         "Bad network format: missing 'uuid'".into()),
        (&c21, server_body("x", &image, json!({"metadata": {"k": "v".repeat(256)}})), 400,
         format!("Invalid input for field/attribute k. Value: {}. '{}' is too long", "v".repeat(256), "v".repeat(256))),
        (&c257, body_for(&c257, "x", &image, json!({"personality": []})), 400,
         "Invalid input for field/attribute server. Value: {'name': 'x', 'imageRef': 'IMAGE', 'flavorRef': '1', 'personality': [], 'networks': 'auto'}. Additional properties are not allowed ('personality' was unexpected)".replace("IMAGE", &image)),
        (&c274, body_for(&c274, "x", &image, json!({"host": "elsewhere"})), 403,
         "Policy doesn't allow compute:servers:create:requested_destination to be performed.".into()),
        (&c21, server_body("x", &image, json!({"user_data": "not base64!"})), 400,
         "Invalid input for field/attribute user_data. Value: not base64!. 'not base64!' is not a 'base64'".into()),
        (&c21, server_body("x", &image, json!({"block_device_mapping_v2": [{"source_type": "volume", "uuid": "vol-1", "destination_type": "volume", "boot_index": 0}]})), 400,
         "Block Device Mapping is Invalid: failed to get volume vol-1.".into()),
    ];
    for (client, body, status, message) in cases {
        let response = client.post("/servers", &body).await;
        assert_fault(response, status, &message).await;
    }
    // Tags arrive at 2.52.
    let response = server
        .compute(ALICE, "2.51")
        .post(
            "/servers",
            &body_for(
                &server.compute(ALICE, "2.51"),
                "x",
                &image,
                json!({"tags": ["a"]}),
            ),
        )
        .await;
    assert_eq!(response.status(), 400);
    let too_many: Vec<String> = (0..51).map(|i| format!("t{i}")).collect();
    let response = server
        .compute(ALICE, "2.52")
        .post(
            "/servers",
            &body_for(
                &server.compute(ALICE, "2.52"),
                "x",
                &image,
                json!({"tags": too_many}),
            ),
        )
        .await;
    assert_eq!(response.status(), 400);
    // Malformed JSON is a 400, never a 500.
    let response = server
        .http
        .post(server.url("/compute/v2.1/servers"))
        .header("X-Auth-Token", ALICE)
        .header("Content-Type", "application/json")
        .body("{\"server\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    // Nothing was created by any of the refused requests.
    let list = c21.get_ok("/servers").await;
    assert_eq!(list["servers"], json!([]));
    // A missing token is a 401.
    let response = server
        .http
        .post(server.url("/compute/v2.1/servers"))
        .json(&server_body("x", &image, json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn networks_allocate_fixed_addresses() {
    let server = Server::start_noauth().await;
    let image = cirros(&server).await;
    let c = server.compute(ALICE, "latest");
    let net_id = private_network_id();
    let fixed = boot(
        &c,
        &image,
        "fixed",
        json!({"networks": [{"uuid": net_id, "fixed_ip": "10.0.0.50"}]}),
    )
    .await;
    let active = wait_for(&c, &fixed, "ACTIVE").await;
    assert_eq!(active["addresses"]["private"][0]["addr"], "10.0.0.50");
    let taken = c
        .post(
            "/servers",
            &body_for(
                &c,
                "again",
                &image,
                json!({"networks": [{"uuid": net_id, "fixed_ip": "10.0.0.50"}]}),
            ),
        )
        .await;
    assert_fault(
        taken,
        400,
        &format!("Fixed IP address 10.0.0.50 is already in use on instance {fixed}."),
    )
    .await;
    let outside = c
        .post(
            "/servers",
            &body_for(
                &c,
                "outside",
                &image,
                json!({"networks": [{"uuid": net_id, "fixed_ip": "192.168.1.5"}]}),
            ),
        )
        .await;
    assert_fault(outside, 400, "Fixed IP address 192.168.1.5 is invalid.").await;
    let none = boot(&c, &image, "isolated", json!({"networks": "none"})).await;
    let isolated = wait_for(&c, &none, "ACTIVE").await;
    assert_eq!(isolated["addresses"], json!({}));
    assert!(
        !isolated
            .as_object()
            .unwrap()
            .contains_key("security_groups")
    );
    // Deleting frees the address for the next server.
    assert_eq!(c.delete(&format!("/servers/{fixed}")).await.status(), 204);
    common::wait_gone(&c, &fixed).await;
    let reused = boot(
        &c,
        &image,
        "reused",
        json!({"networks": [{"uuid": net_id, "fixed_ip": "10.0.0.50"}]}),
    )
    .await;
    wait_for(&c, &reused, "ACTIVE").await;
}

#[tokio::test]
async fn addresses_go_round_the_subnet_and_a_full_network_refuses_with_409() {
    // A /29 has five addresses a server may get: .2 to .6.
    let server = Server::start_with(Options {
        args: vec!["--auth".into(), "noauth".into()],
        config_toml: Some("[network]\nipv4_cidr = \"10.9.0.0/29\"\n".into()),
        ..Default::default()
    })
    .await;
    let image = cirros(&server).await;
    let c = server.compute(ALICE, "latest");
    let v4 = |server: &Value| server["addresses"]["private"][0]["addr"].clone();
    let mut ids = Vec::new();
    for n in 2..=6 {
        let id = boot(&c, &image, &format!("s{n}"), json!({})).await;
        assert_eq!(
            v4(&wait_for(&c, &id, "ACTIVE").await),
            format!("10.9.0.{n}")
        );
        ids.push(id);
    }
    let full = c
        .post("/servers", &body_for(&c, "full", &image, json!({})))
        .await;
    assert_fault(
        full,
        409,
        &format!(
            "No more IP addresses available on network {}.",
            private_network_id()
        ),
    )
    .await;
    // A released address is found again once the walk comes round.
    assert_eq!(
        c.delete(&format!("/servers/{}", ids[2])).await.status(),
        204
    );
    common::wait_gone(&c, &ids[2]).await;
    let again = boot(&c, &image, "again", json!({})).await;
    assert_eq!(v4(&wait_for(&c, &again, "ACTIVE").await), "10.9.0.4");
}

/// Posts a server action.
async fn act_on(c: &Compute<'_>, id: &str, body: Value) -> reqwest::Response {
    c.post(&format!("/servers/{id}/action"), &body).await
}

/// The id of the `private` network: derived from its name, so the same in
/// every oxstack with the default configuration.
fn private_network_id() -> String {
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, b"oxstack-network:private").to_string()
}

#[tokio::test]
async fn multi_create_names_servers_and_shares_a_reservation() {
    let server = Server::start_noauth().await;
    let image = cirros(&server).await;
    let c = server.compute(ALICE, "latest");
    let response = c
        .post(
            "/servers",
            &body_for(
                &c,
                "web",
                &image,
                json!({"min_count": 2, "max_count": 3, "return_reservation_id": true}),
            ),
        )
        .await;
    assert_eq!(response.status(), 202);
    assert!(header(&response, "location").is_none());
    let body = json_of(response).await;
    assert_eq!(keys(&body), ["reservation_id"]);
    let reservation = body["reservation_id"].as_str().unwrap();
    assert!(reservation.starts_with("r-"));
    let listed = c
        .get_ok(&format!(
            "/servers/detail?reservation_id={reservation}&sort_key=display_name&sort_dir=asc"
        ))
        .await;
    let names: Vec<&str> = listed["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["web-1", "web-2", "web-3"]);
    let hostnames: Vec<&str> = listed["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["OS-EXT-SRV-ATTR:hostname"].as_str().unwrap())
        .collect();
    assert_eq!(hostnames, ["web-1", "web-2", "web-3"]);
    // Without return_reservation_id the body describes the first server.
    let response = c
        .post(
            "/servers",
            &body_for(&c, "db", &image, json!({"max_count": 2})),
        )
        .await;
    assert_eq!(response.status(), 202);
    let first = json_of(response).await["server"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(wait_for(&c, &first, "ACTIVE").await["name"], "db-1");
    // A fixed address cannot be shared by several servers.
    let response = c
        .post(
            "/servers",
            &body_for(&c, "x", &image, json!({"max_count": 2, "networks": [{"uuid": private_network_id(), "fixed_ip": "10.0.0.9"}]})),
        )
        .await;
    assert_fault(
        response,
        400,
        "Failed to launch instances: max_count cannot be greater than 1 if an fixed_ip is specified.",
    )
    .await;
}

#[tokio::test]
async fn quota_is_checked_and_reduces_multi_create_to_what_fits() {
    let server = Server::start_noauth().await;
    let image = cirros(&server).await;
    let admin = server.compute(ADMIN, "2.1");
    let response = admin
        .put(
            "/os-quota-sets/proj-a",
            &json!({"quota_set": {"instances": 3, "cores": 20}}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let c = server.compute(ALICE, "2.1");
    let response = c
        .post(
            "/servers",
            &body_for(&c, "big", &image, json!({"min_count": 4})),
        )
        .await;
    assert_fault(
        response,
        403,
        "Quota exceeded for instances: Requested 4, but already used 0 of 3 instances",
    )
    .await;
    // min 1, max 5: the three that fit are created.
    let response = c
        .post(
            "/servers",
            &body_for(&c, "fit", &image, json!({"min_count": 1, "max_count": 5})),
        )
        .await;
    assert_eq!(response.status(), 202);
    let list = c.get_ok("/servers").await;
    assert_eq!(list["servers"].as_array().unwrap().len(), 3);
    let limits = c.get_ok("/limits").await;
    assert_eq!(limits["limits"]["absolute"]["totalInstancesUsed"], 3);
    assert_eq!(limits["limits"]["absolute"]["totalCoresUsed"], 3);
    assert_eq!(limits["limits"]["absolute"]["totalRAMUsed"], 1536);
    let response = c
        .post("/servers", &body_for(&c, "one-more", &image, json!({})))
        .await;
    assert_fault(
        response,
        403,
        "Quota exceeded for instances: Requested 1, but already used 3 of 3 instances",
    )
    .await;
    // Cores are counted too (m1.medium has 2 vCPUs).
    admin
        .put(
            "/os-quota-sets/proj-a",
            &json!({"quota_set": {"instances": 10, "cores": 4}}),
        )
        .await;
    let response = c
        .post(
            "/servers",
            &body_for(&c, "wide", &image, json!({"flavorRef": "3"})),
        )
        .await;
    assert_fault(
        response,
        403,
        "Quota exceeded for cores: Requested 2, but already used 3 of 4 cores",
    )
    .await;
    // Deleting gives the quota back.
    let ids: Vec<String> = list["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect();
    for id in &ids {
        assert_eq!(c.delete(&format!("/servers/{id}")).await.status(), 204);
    }
    for id in &ids {
        common::wait_gone(&c, id).await;
    }
    let limits = c.get_ok("/limits").await;
    assert_eq!(limits["limits"]["absolute"]["totalInstancesUsed"], 0);
    let detail = admin.get_ok("/os-quota-sets/proj-a/detail").await;
    assert_eq!(detail["quota_set"]["instances"]["in_use"], 0);
}

#[tokio::test]
async fn concurrent_creates_never_exceed_the_quota() {
    let server = Server::start_noauth().await;
    let image = cirros(&server).await;
    let c = server.compute(ALICE, "latest");
    let body = body_for(&c, "racer", &image, json!({}));
    let attempts = (0..50).map(|_| c.post("/servers", &body));
    let responses = futures_util::future::join_all(attempts).await;
    let mut accepted = 0;
    let mut refused = 0;
    for response in responses {
        match response.status().as_u16() {
            202 => accepted += 1,
            403 => refused += 1,
            other => panic!("unexpected status {other}: {}", json_of(response).await),
        }
    }
    assert_eq!((accepted, refused), (10, 40));
    let list = c.get_ok("/servers/detail").await;
    let servers = list["servers"].as_array().unwrap();
    assert_eq!(servers.len(), 10);
    let mut addresses: Vec<&str> = servers
        .iter()
        .filter_map(|s| s["addresses"]["private"][0]["addr"].as_str())
        .collect();
    addresses.sort();
    addresses.dedup();
    assert_eq!(
        addresses.len(),
        servers.iter().filter(|s| s["status"] == "ACTIVE").count()
    );
}

/// Twelve concurrent creates against a port quota of five: five servers,
/// seven refusals with Nova's message, five ports counted (a create counts
/// its ports just before it commits).
async fn creates_race_for_the_port_quota(server: &Server) {
    let image = cirros(server).await;
    let (status, _) = server
        .neutron(ADMIN)
        .put("/quotas/proj-a", json!({"quota": {"port": 5}}))
        .await;
    assert_eq!(status, 200);
    let c = server.compute(ALICE, "latest");
    let body = body_for(&c, "port-racer", &image, json!({}));
    let attempts = (0..12).map(|_| c.post("/servers", &body));
    let mut accepted = 0;
    for response in futures_util::future::join_all(attempts).await {
        match response.status().as_u16() {
            202 => accepted += 1,
            403 => assert_eq!(
                json_of(response).await["forbidden"]["message"],
                "Maximum number of ports exceeded"
            ),
            other => panic!("unexpected status {other}: {}", json_of(response).await),
        }
    }
    assert_eq!(accepted, 5);
    let servers = c.get_ok("/servers").await;
    assert_eq!(servers["servers"].as_array().unwrap().len(), 5);
    let (_, usage) = server.neutron(ALICE).get("/quotas/proj-a/details").await;
    assert_eq!(usage["quota"]["port"]["used"], 5);
}

#[tokio::test]
async fn concurrent_creates_never_exceed_the_port_quota() {
    creates_race_for_the_port_quota(&Server::start_noauth().await).await;
    let Some(url) = common::scratch_postgres_database("the port quota race").await else {
        return;
    };
    let server = Server::start_with(Options::noauth(Some(url))).await;
    creates_race_for_the_port_quota(&server).await;
}

#[tokio::test]
async fn lists_filter_sort_and_page_like_nova() {
    let server = Server::start_noauth().await;
    let image = cirros(&server).await;
    let c = server.compute(ALICE, "latest");
    let mut ids = Vec::new();
    for (name, tags) in [
        ("alpha", json!(["red"])),
        ("beta", json!(["red", "blue"])),
        ("gamma", json!([])),
    ] {
        let id = boot(&c, &image, name, json!({"tags": tags})).await;
        wait_for(&c, &id, "ACTIVE").await;
        ids.push(id);
    }
    let names = |v: &Value| -> Vec<String> {
        v["servers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap().to_owned())
            .collect()
    };
    // Default order: newest first. Index items are {id, links, name}.
    let index = c.get_ok("/servers").await;
    assert_eq!(names(&index), ["gamma", "beta", "alpha"]);
    assert_eq!(keys(&index["servers"][0]), ["id", "links", "name"]);
    assert_eq!(names(&c.get_ok("/servers?name=^al").await), ["alpha"]);
    assert_eq!(
        names(
            &c.get_ok("/servers?name=a$&sort_key=display_name&sort_dir=asc")
                .await
        ),
        ["alpha", "beta", "gamma"]
    );
    assert_eq!(names(&c.get_ok("/servers?tags=red,blue").await), ["beta"]);
    assert_eq!(
        names(&c.get_ok("/servers?tags-any=red").await),
        ["beta", "alpha"]
    );
    assert_eq!(
        names(&c.get_ok("/servers?not-tags-any=red").await),
        ["gamma"]
    );
    assert_eq!(
        names(&c.get_ok("/servers?not-tags=red,blue").await),
        ["gamma", "alpha"]
    );
    assert_eq!(names(&c.get_ok("/servers?status=active").await).len(), 3);
    assert_eq!(names(&c.get_ok("/servers?status=SHUTOFF").await).len(), 0);
    assert_eq!(
        names(&c.get_ok(&format!("/servers?image={image}")).await).len(),
        3
    );
    assert_eq!(names(&c.get_ok("/servers?flavor=2").await).len(), 0);
    assert_eq!(names(&c.get_ok("/servers?ip=10.0.0.2$").await), ["alpha"]);
    assert_eq!(names(&c.get_ok("/servers?ip6=fd00").await).len(), 3);
    assert_eq!(
        names(
            &c.get_ok("/servers?changes-since=2999-01-01T00:00:00Z")
                .await
        )
        .len(),
        0
    );
    assert_eq!(names(&c.get_ok("/servers?locked=false").await).len(), 3);
    // Admin-only filters are ignored for project users, not refused.
    assert_eq!(names(&c.get_ok("/servers?host=nowhere").await).len(), 3);
    assert_eq!(
        names(
            &server
                .compute(ADMIN, "latest")
                .get_ok("/servers?all_tenants=1&host=nowhere")
                .await
        )
        .len(),
        0
    );
    // Paging: a full page links to the next one.
    let page = c.get_ok("/servers?limit=2").await;
    assert_eq!(names(&page), ["gamma", "beta"]);
    let next = page["servers_links"][0]["href"].as_str().unwrap();
    assert!(next.contains(&format!("marker={}", ids[1])), "{next}");
    let rest = c
        .get_ok(&format!("/servers?limit=2&marker={}", ids[1]))
        .await;
    assert_eq!(names(&rest), ["alpha"]);
    assert!(rest.get("servers_links").is_none());
    let detail_page = c.get_ok("/servers/detail?limit=1").await;
    assert!(
        detail_page["servers_links"][0]["href"]
            .as_str()
            .unwrap()
            .contains("/servers/detail?")
    );
    // Errors.
    assert_fault(
        c.get("/servers?marker=nonexistent").await,
        400,
        "marker [nonexistent] not found",
    )
    .await;
    let bad_limit = json_of(c.get("/servers?limit=-1").await).await;
    assert!(
        bad_limit["badRequest"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Invalid input for query parameters limit. Value: -1."),
        "{bad_limit}"
    );
    assert_fault(
        c.get("/servers?name=").await,
        400,
        "Invalid input for query parameters name. Value: . '' is not a 'regex'",
    )
    .await;
    assert_eq!(c.get("/servers?limit=abc").await.status(), 400);
    assert_fault(
        c.get("/servers?status=bogus").await,
        400,
        "Invalid status value",
    )
    .await;
    let old = server.compute(ALICE, "2.37");
    assert_eq!(
        old.get_ok("/servers?status=bogus").await["servers"],
        json!([])
    );
    // python-jsonschema's wording when patternProperties (`^_`) exist.
    assert_fault(
        c.get("/servers?foo=bar").await,
        400,
        "'foo' does not match any of the regexes: '^_'",
    )
    .await;
    assert_eq!(
        server
            .compute(ALICE, "2.74")
            .get("/servers?foo=bar")
            .await
            .status(),
        200
    );
    assert_fault(
        c.get("/servers?sort_key=host").await,
        403,
        "Only administrators can sort servers by host",
    )
    .await;
    assert_fault(
        c.get("/servers?sort_key=display_name&sort_dir=up").await,
        400,
        "Invalid input received: Unknown sort direction, must be 'desc' or 'asc'",
    )
    .await;
    assert_fault(
        c.get("/servers?all_tenants=1").await,
        403,
        "Policy doesn't allow os_compute_api:servers:index:get_all_tenants to be performed.",
    )
    .await;
    assert_fault(
        c.get("/servers?changes-since=2020-01-02T00:00:00Z&changes-before=2020-01-01T00:00:00Z")
            .await,
        400,
        "The value of changes-since must be less than or equal to changes-before.",
    )
    .await;
    assert_fault(
        server
            .compute(ADMIN, "latest")
            .get("/servers?metadata=x")
            .await,
        400,
        "Invalid filter field: metadata.",
    )
    .await;
}

#[tokio::test]
async fn update_changes_fields_with_the_response_of_the_version() {
    let server = Server::start_noauth().await;
    let image = cirros(&server).await;
    let c = server.compute(ALICE, "latest");
    let id = boot(&c, &image, "before", json!({})).await;
    wait_for(&c, &id, "ACTIVE").await;
    let path = format!("/servers/{id}");
    let old = server.compute(ALICE, "2.74");
    let response = old
        .put(
            &path,
            &json!({"server": {"name": "renamed", "accessIPv4": "192.0.2.1", "description": "d"}}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let body = json_of(response).await["server"].clone();
    assert_eq!(body["name"], "renamed");
    assert_eq!(body["accessIPv4"], "192.0.2.1");
    assert_eq!(body["description"], "d");
    // Before 2.75 the short form: no extended attributes, short addresses.
    assert!(body.get("OS-EXT-STS:vm_state").is_none());
    assert!(
        body["addresses"]["private"][0]
            .get("OS-EXT-IPS:type")
            .is_none()
    );
    let response = c
        .put(&path, &json!({"server": {"OS-DCF:diskConfig": "AUTO", "hostname": "new-host", "description": null}}))
        .await;
    let body = json_of(response).await["server"].clone();
    assert_eq!(body["OS-DCF:diskConfig"], "AUTO");
    assert_eq!(body["OS-EXT-SRV-ATTR:hostname"], "new-host");
    assert_eq!(body["description"], Value::Null);
    assert_eq!(body["OS-EXT-STS:vm_state"], "active");
    assert_eq!(
        body["name"], "renamed",
        "renaming keeps the hostname and vice versa"
    );
    // Pinning (2.104): only to the current zone, and unpin before moving.
    let response = c
        .put(
            &path,
            &json!({"server": {"pinned_availability_zone": "other"}}),
        )
        .await;
    assert_fault(
        response,
        409,
        "Server can only be pinned to its current availability zone 'nova', but 'other' was requested.",
    )
    .await;
    let pinned = c
        .put(
            &path,
            &json!({"server": {"pinned_availability_zone": "nova"}}),
        )
        .await;
    assert_eq!(
        json_of(pinned).await["server"]["pinned_availability_zone"],
        "nova"
    );
    let unpinned = c
        .put(
            &path,
            &json!({"server": {"pinned_availability_zone": null}}),
        )
        .await;
    assert_eq!(
        json_of(unpinned).await["server"]["pinned_availability_zone"],
        Value::Null
    );
    // Bad bodies.
    assert_fault(
        c.put(&path, &json!({"server": {"name": ""}})).await,
        400,
        "Invalid input for field/attribute name. Value: . '' should be non-empty",
    )
    .await;
    assert_fault(
        server.compute(ALICE, "2.18").put(&path, &json!({"server": {"description": "x"}})).await,
        400,
        "Invalid input for field/attribute server. Value: {'description': 'x'}. Additional properties are not allowed ('description' was unexpected)",
    )
    .await;
    assert_fault(
        server.compute(ALICE, "2.103").put(&path, &json!({"server": {"pinned_availability_zone": null}})).await,
        400,
        "Invalid input for field/attribute server. Value: {'pinned_availability_zone': None}. Additional properties are not allowed ('pinned_availability_zone' was unexpected)",
    )
    .await;
    assert_fault(
        c.put(
            "/servers/00000000-0000-0000-0000-000000000000",
            &json!({"server": {}}),
        )
        .await,
        404,
        "Instance 00000000-0000-0000-0000-000000000000 could not be found.",
    )
    .await;
}

#[tokio::test]
async fn delete_frees_everything_and_leaves_a_record_for_admins() {
    let server = Server::start_noauth().await;
    let image = cirros(&server).await;
    let c = server.compute(ALICE, "latest");
    let id = boot(&c, &image, "doomed", json!({})).await;
    wait_for(&c, &id, "ACTIVE").await;
    let path = format!("/servers/{id}");
    // Locked: the owner cannot delete, an admin can lock and only an admin unlock.
    let admin = server.compute(ADMIN, "latest");
    let lock = admin
        .post(
            &format!("{path}/action"),
            &json!({"lock": {"locked_reason": "audit"}}),
        )
        .await;
    assert_eq!(lock.status(), 202);
    let shown = c.get_ok(&path).await["server"].clone();
    assert_eq!(
        (shown["locked"].clone(), shown["locked_reason"].clone()),
        (json!(true), json!("audit"))
    );
    assert_fault(
        c.delete(&path).await,
        409,
        &format!("Instance {id} is locked"),
    )
    .await;
    assert_fault(
        c.post(&format!("{path}/action"), &json!({"unlock": null})).await,
        403,
        "Policy doesn't allow os_compute_api:os-lock-server:unlock:unlock_override to be performed.",
    )
    .await;
    assert_eq!(
        admin
            .post(&format!("{path}/action"), &json!({"unlock": null}))
            .await
            .status(),
        202
    );
    assert_fault(
        c.post(&format!("{path}/action"), &json!({"fly": null}))
            .await,
        400,
        "There is no such action: fly",
    )
    .await;
    let response = c.delete(&path).await;
    assert_eq!(response.status(), 204);
    common::wait_gone(&c, &id).await;
    assert_fault(
        c.get(&path).await,
        404,
        &format!("Instance {id} could not be found."),
    )
    .await;
    assert_eq!(c.get_ok("/servers").await["servers"], json!([]));
    assert_eq!(c.delete(&path).await.status(), 404);
    // Admins see it with deleted=true, and changes-since shows it to its project.
    let deleted = admin
        .get_ok("/servers/detail?all_tenants=1&deleted=true")
        .await;
    let record = &deleted["servers"][0];
    assert_eq!(
        (record["id"].as_str(), record["status"].as_str()),
        (Some(id.as_str()), Some("DELETED"))
    );
    assert!(record["OS-SRV-USG:terminated_at"].is_string());
    assert_eq!(record["addresses"], json!({}));
    let changes = c
        .get_ok("/servers?changes-since=2000-01-01T00:00:00Z")
        .await;
    assert_eq!(changes["servers"][0]["id"], id.as_str());
    assert_fault(
        c.get("/servers?status=deleted").await,
        403,
        "Only administrators may list deleted instances",
    )
    .await;
}

#[tokio::test]
async fn metadata_ips_and_tags_follow_nova_rules() {
    let server = Server::start_noauth().await;
    let image = cirros(&server).await;
    let c = server.compute(ALICE, "latest");
    let id = boot(&c, &image, "meta", json!({"metadata": {"a": "1"}})).await;
    wait_for(&c, &id, "ACTIVE").await;
    let m = format!("/servers/{id}/metadata");
    assert_eq!(c.get_ok(&m).await, json!({"metadata": {"a": "1"}}));
    let merged = json_of(c.post(&m, &json!({"metadata": {"b": "2"}})).await).await;
    assert_eq!(merged, json!({"metadata": {"a": "1", "b": "2"}}));
    let replaced = json_of(c.put(&m, &json!({"metadata": {"c": "3"}})).await).await;
    assert_eq!(replaced, json!({"metadata": {"c": "3"}}));
    assert_eq!(
        c.get_ok(&format!("{m}/c")).await,
        json!({"meta": {"c": "3"}})
    );
    assert_fault(
        c.get(&format!("{m}/zz")).await,
        404,
        "Metadata item was not found",
    )
    .await;
    let item = c.put(&format!("{m}/d"), &json!({"meta": {"d": "4"}})).await;
    assert_eq!(json_of(item).await, json!({"meta": {"d": "4"}}));
    assert_fault(
        c.put(&format!("{m}/d"), &json!({"meta": {"e": "5"}})).await,
        400,
        "Request body and URI mismatch",
    )
    .await;
    assert_fault(
        c.put(&format!("{m}/d"), &json!({"meta": {"d": "4", "e": "5"}})).await,
        400,
        "Invalid input for field/attribute meta. Value: {'d': '4', 'e': '5'}. {'d': '4', 'e': '5'} has too many properties",
    )
    .await;
    assert_eq!(c.delete(&format!("{m}/d")).await.status(), 204);
    assert_fault(
        c.delete(&format!("{m}/d")).await,
        404,
        "Metadata item was not found",
    )
    .await;
    server
        .compute(ADMIN, "2.1")
        .put(
            "/os-quota-sets/proj-a",
            &json!({"quota_set": {"metadata_items": 2}}),
        )
        .await;
    assert_fault(
        c.post(&m, &json!({"metadata": {"x": "1", "y": "2"}})).await,
        403,
        "Maximum number of metadata items exceeds 2",
    )
    .await;
    assert_eq!(
        c.get_ok(&m).await,
        json!({"metadata": {"c": "3"}}),
        "nothing changed"
    );

    // ips: the short form, per network label.
    let ips = c.get_ok(&format!("/servers/{id}/ips")).await;
    let private = ips["addresses"]["private"].as_array().unwrap();
    assert_eq!(keys(&private[0]), ["addr", "version"]);
    assert_eq!(
        c.get_ok(&format!("/servers/{id}/ips/private")).await["private"],
        json!(private)
    );
    assert_fault(
        c.get(&format!("/servers/{id}/ips/public")).await,
        404,
        "Instance is not a member of specified network",
    )
    .await;

    // tags: from 2.26.
    let t = format!("/servers/{id}/tags");
    assert_fault(
        server.compute(ALICE, "2.25").get(&t).await,
        404,
        "The resource could not be found.",
    )
    .await;
    let added = c
        .send(reqwest::Method::PUT, &format!("{t}/one"), &Value::Null)
        .await;
    assert_eq!(added.status(), 201);
    assert!(
        header(&added, "location")
            .unwrap()
            .ends_with(&format!("/servers/{id}/tags/one"))
    );
    assert_eq!(
        c.send(reqwest::Method::PUT, &format!("{t}/one"), &Value::Null)
            .await
            .status(),
        204
    );
    assert_eq!(c.get(&format!("{t}/one")).await.status(), 204);
    assert_fault(
        c.get(&format!("{t}/two")).await,
        404,
        &format!("Server {id} has no tag 'two'"),
    )
    .await;
    let all = json_of(c.put(&t, &json!({"tags": ["b", "a", "b"]})).await).await;
    assert_eq!(all, json!({"tags": ["a", "b"]}));
    assert_eq!(c.delete(&format!("{t}/a")).await.status(), 204);
    assert_fault(
        c.delete(&format!("{t}/a")).await,
        404,
        &format!("Instance {id} has no tag 'a'"),
    )
    .await;
    let fifty: Vec<String> = (0..50).map(|i| format!("t{i}")).collect();
    assert_eq!(c.put(&t, &json!({"tags": fifty})).await.status(), 200);
    assert_fault(
        c.send(reqwest::Method::PUT, &format!("{t}/extra"), &Value::Null)
            .await,
        400,
        "The number of tags exceeded the per-server limit 50",
    )
    .await;
    assert_eq!(c.delete(&t).await.status(), 204);
    assert_eq!(c.get_ok(&t).await, json!({"tags": []}));
    assert_eq!(
        c.get_ok(&format!("/servers/{id}")).await["server"]["tags"],
        json!([])
    );
}

#[tokio::test]
async fn another_projects_servers_are_invisible_everywhere() {
    let server = Server::start_noauth().await;
    let image = cirros(&server).await;
    let alice = server.compute(ALICE, "latest");
    let id = boot(&alice, &image, "private", json!({})).await;
    wait_for(&alice, &id, "ACTIVE").await;
    let bob = server.compute(BOB, "latest");
    let missing = format!("Instance {id} could not be found.");
    let s = format!("/servers/{id}");
    assert_fault(bob.get(&s).await, 404, &missing).await;
    assert_fault(
        bob.put(&s, &json!({"server": {"name": "x"}})).await,
        404,
        &missing,
    )
    .await;
    assert_fault(bob.delete(&s).await, 404, &missing).await;
    assert_fault(bob.get(&format!("{s}/metadata")).await, 404, &missing).await;
    assert_fault(
        bob.post(&format!("{s}/metadata"), &json!({"metadata": {"a": "b"}}))
            .await,
        404,
        &missing,
    )
    .await;
    assert_fault(bob.delete(&format!("{s}/metadata/a")).await, 404, &missing).await;
    assert_fault(bob.get(&format!("{s}/ips")).await, 404, &missing).await;
    assert_fault(bob.get(&format!("{s}/tags")).await, 404, &missing).await;
    assert_fault(
        bob.put(&format!("{s}/tags"), &json!({"tags": []})).await,
        404,
        &missing,
    )
    .await;
    assert_fault(
        bob.post(&format!("{s}/action"), &json!({"lock": null}))
            .await,
        404,
        &missing,
    )
    .await;
    assert_eq!(bob.get_ok("/servers/detail").await["servers"], json!([]));
    assert_eq!(
        bob.get_ok("/servers?changes-since=2000-01-01T00:00:00Z")
            .await["servers"],
        json!([])
    );
    // Marker of another project's server pages nothing of theirs either.
    assert_eq!(
        bob.get_ok(&format!("/servers?marker={id}")).await["servers"],
        json!([])
    );
    // Alice's server is untouched; the admin sees it with all_tenants.
    assert_eq!(alice.get_ok(&s).await["server"]["name"], "private");
    let admin = server.compute(ADMIN, "latest");
    let all = admin.get_ok("/servers?all_tenants=1").await;
    assert_eq!(all["servers"][0]["id"], id.as_str());
    assert_eq!(
        admin.get_ok("/servers").await["servers"],
        json!([]),
        "admins list their project by default"
    );
    let filtered = admin
        .get_ok("/servers?all_tenants=1&project_id=proj-b")
        .await;
    assert_eq!(filtered["servers"], json!([]));
}

#[tokio::test]
async fn a_failing_driver_leaves_the_server_in_error_with_a_fault() {
    let server = Server::start_with(Options {
        args: vec!["--auth".into(), "noauth".into()],
        config_toml: Some("[fake_driver]\nfail = [\"spawn\"]\n".into()),
        ..Default::default()
    })
    .await;
    let image = cirros(&server).await;
    let c = server.compute(ALICE, "latest");
    let id = boot(&c, &image, "broken", json!({})).await;
    let failed = wait_for(&c, &id, "ERROR").await;
    assert_eq!(failed["OS-EXT-STS:vm_state"], "error");
    assert_eq!(failed["OS-EXT-STS:task_state"], Value::Null);
    assert_eq!(failed["fault"]["code"], 500);
    assert!(
        failed["fault"]["message"]
            .as_str()
            .unwrap()
            .contains("spawn")
    );
    assert!(
        failed["fault"].get("details").is_none(),
        "details are for admins"
    );
    assert!(failed.get("progress").is_none());
    let admin_view = server
        .compute(ADMIN, "latest")
        .get_ok(&format!("/servers/{id}"))
        .await;
    assert!(admin_view["server"]["fault"]["details"].is_string());
    // An errored server can still be deleted.
    assert_eq!(c.delete(&format!("/servers/{id}")).await.status(), 204);
    common::wait_gone(&c, &id).await;
}

#[tokio::test]
async fn a_restart_mid_build_loses_nothing() {
    let options = Options {
        args: vec!["--auth".into(), "noauth".into()],
        config_toml: Some("[fake_driver]\ndelay_ms = 300\n".into()),
        ..Default::default()
    };
    let server = Server::start_with(options.clone()).await;
    let image = cirros(&server).await;
    let c = server.compute(ALICE, "latest");
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(boot(&c, &image, &format!("survivor-{n}"), json!({})).await);
    }
    let building = c.get_ok("/servers/detail").await;
    assert!(
        building["servers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["status"] == "BUILD")
    );
    let dir = server.stop();
    let server = Server::start_in(dir, options).await;
    let c = server.compute(ALICE, "latest");
    for id in &ids {
        let active = wait_for(&c, id, "ACTIVE").await;
        assert_eq!(active["addresses"]["private"].as_array().unwrap().len(), 2);
    }
    assert_eq!(
        c.get_ok("/servers").await["servers"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
}

#[tokio::test]
async fn two_api_nodes_on_postgresql_share_servers_and_quota() {
    let Some(url) = common::scratch_postgres_database("two API nodes").await else {
        return;
    };
    let options = Options::noauth(Some(url));
    let one = Server::start_with(options.clone()).await;
    let two = Server::start_with(options).await;
    let image = cirros(&one).await;
    let (c1, c2) = (one.compute(ALICE, "latest"), two.compute(ALICE, "latest"));
    let body = body_for(
        &c1,
        "racer",
        &image,
        json!({"tags": ["pg"], "metadata": {"k": "v"}}),
    );
    let attempts = (0..40).map(|n| {
        if n % 2 == 0 {
            c1.post("/servers", &body)
        } else {
            c2.post("/servers", &body)
        }
    });
    let responses = futures_util::future::join_all(attempts).await;
    let accepted = responses.iter().filter(|r| r.status() == 202).count();
    let refused = responses.iter().filter(|r| r.status() == 403).count();
    assert_eq!((accepted, refused), (10, 30));
    let listed = c2.get_ok("/servers/detail?tags=pg").await;
    let servers = listed["servers"].as_array().unwrap();
    assert_eq!(servers.len(), 10);
    for s in servers {
        let id = s["id"].as_str().unwrap();
        let active = wait_for(&c1, id, "ACTIVE").await;
        assert_eq!(active["metadata"], json!({"k": "v"}));
    }
    let mut addresses: Vec<String> = c1.get_ok("/servers/detail").await["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            s["addresses"]["private"][0]["addr"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    addresses.sort();
    addresses.dedup();
    assert_eq!(addresses.len(), 10, "every server got its own address");
    let first = servers[0]["id"].as_str().unwrap();
    assert_eq!(c2.delete(&format!("/servers/{first}")).await.status(), 204);
    common::wait_gone(&c1, first).await;
    assert_eq!(
        c1.get_ok("/limits").await["limits"]["absolute"]["totalInstancesUsed"],
        9
    );

    // Actions, their records, resizes, migrations, consoles and floating
    // addresses on PostgreSQL, across the two nodes.
    let second = servers[1]["id"].as_str().unwrap();
    assert_eq!(
        act_on(&c1, second, json!({"os-stop": null})).await.status(),
        202
    );
    wait_for(&c2, second, "SHUTOFF").await;
    assert_eq!(
        act_on(&c2, second, json!({"resize": {"flavorRef": "2"}}))
            .await
            .status(),
        202
    );
    wait_for(&c1, second, "VERIFY_RESIZE").await;
    assert_eq!(
        act_on(&c1, second, json!({"revertResize": null}))
            .await
            .status(),
        202
    );
    wait_for(&c2, second, "SHUTOFF").await;
    let actions = c2
        .get_ok(&format!("/servers/{second}/os-instance-actions"))
        .await;
    let names: Vec<&str> = actions["instanceActions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["revertResize", "resize", "stop", "create"]);
    let migrations = one.compute(ADMIN, "latest").get_ok("/os-migrations").await;
    assert_eq!(migrations["migrations"][0]["status"], "reverted");
    let console = c1
        .post(
            &format!("/servers/{second}/remote-consoles"),
            &json!({"remote_console": {"protocol": "serial", "type": "serial"}}),
        )
        .await;
    let url = json_of(console).await["remote_console"]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let token = url.rsplit("token=").next().unwrap();
    let checked = two
        .compute(ADMIN, "latest")
        .get_ok(&format!("/os-console-auth-tokens/{token}"))
        .await;
    assert_eq!(checked["console"]["instance_uuid"], second);
    let fip = json_of(
        two.compute(ALICE, "2.35")
            .post("/os-floating-ips", &json!({}))
            .await,
    )
    .await;
    let address = fip["floating_ip"]["ip"].as_str().unwrap().to_owned();
    let associate = act_on(
        &one.compute(ALICE, "2.35"),
        second,
        json!({"addFloatingIp": {"address": address}}),
    )
    .await;
    assert_eq!(associate.status(), 202);
    let shown = c2.get_ok(&format!("/servers/{second}")).await;
    let kinds: Vec<&str> = shown["server"]["addresses"]["private"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["OS-EXT-IPS:type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["fixed", "fixed", "floating"]);

    // A page reads its servers' parts otherwise than a show reads one
    // server's: with a volume too, the listed server is the shown one.
    let cinder = one.cinder(ALICE, "3.71");
    let volume = cinder.volume(json!({"size": 1})).await;
    let vid = volume["id"].as_str().unwrap();
    let attach = json!({"volumeAttachment": {"volumeId": vid}});
    let path = format!("/servers/{second}/os-volume_attachments");
    assert_eq!(
        c1.post(&path, &attach).await.status(),
        202,
        "accepted: at 2.101 an attach is asynchronous"
    );
    cinder.wait_volume(vid, "in-use").await;
    let mut shown = c2.get_ok(&format!("/servers/{second}")).await["server"].clone();
    shown.as_object_mut().unwrap().remove("server_groups");
    assert_eq!(shown["tags"], json!(["pg"]));
    assert_eq!(shown["os-extended-volumes:volumes_attached"][0]["id"], vid);
    let listed = c2.get_ok("/servers/detail").await["servers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == second)
        .unwrap()
        .clone();
    assert_eq!(listed, shown);
}

#[tokio::test]
async fn soft_delete_restore_force_delete_and_reclaim() {
    let server = Server::start_with(Options {
        args: vec!["--auth".into(), "noauth".into()],
        config_toml: Some("reclaim_instance_interval = 2\n".into()),
        ..Default::default()
    })
    .await;
    let image = cirros(&server).await;
    let c = server.compute(ALICE, "latest");
    let id = boot(&c, &image, "keeper", json!({})).await;
    wait_for(&c, &id, "ACTIVE").await;
    let path = format!("/servers/{id}");
    let action = format!("{path}/action");
    assert_fault(
        c.post(&action, &json!({"restore": null})).await,
        409,
        &format!("Cannot 'restore' instance {id} while it is in vm_state active"),
    )
    .await;
    assert_eq!(c.delete(&path).await.status(), 204);
    let soft = wait_for(&c, &id, "SOFT_DELETED").await;
    assert_eq!(soft["OS-EXT-STS:power_state"], 4);
    assert_eq!(
        c.get_ok("/servers").await["servers"],
        json!([]),
        "hidden from lists"
    );
    let limits = c.get_ok("/limits").await;
    assert_eq!(
        limits["limits"]["absolute"]["totalInstancesUsed"], 1,
        "still counts"
    );
    assert_eq!(
        c.post(&action, &json!({"restore": null})).await.status(),
        202
    );
    let back = wait_for(&c, &id, "ACTIVE").await;
    assert_eq!(back["OS-EXT-STS:power_state"], 1);
    assert_eq!(back["addresses"]["private"].as_array().unwrap().len(), 2);
    // forceDelete skips the waiting period.
    assert_eq!(
        c.post(&action, &json!({"forceDelete": null}))
            .await
            .status(),
        202
    );
    common::wait_gone(&c, &id).await;
    // The reclaimer deletes soft-deleted servers after the interval.
    let other = boot(&c, &image, "reclaimed", json!({})).await;
    wait_for(&c, &other, "ACTIVE").await;
    assert_eq!(c.delete(&format!("/servers/{other}")).await.status(), 204);
    wait_for(&c, &other, "SOFT_DELETED").await;
    for _ in 0..100 {
        if c.get(&format!("/servers/{other}")).await.status() == 404 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the soft-deleted server was never reclaimed");
}

/// Sends an identity admin call and returns the JSON body.
async fn identity_post(server: &Server, token: &str, path: &str, body: Value) -> Value {
    let response = server
        .http
        .post(server.url(&format!("/identity/v3{path}")))
        .header("X-Auth-Token", token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{path}: {}",
        response.status()
    );
    json_of(response).await
}

#[tokio::test]
async fn readers_read_and_members_write() {
    let server = Server::start().await;
    let admin = server.admin_token().await;
    let projects = json_of(server.get("/identity/v3/projects?name=demo", &admin).await).await;
    let demo_project = projects["projects"][0]["id"].as_str().unwrap().to_owned();
    let roles = json_of(server.get("/identity/v3/roles?name=reader", &admin).await).await;
    let reader_role = roles["roles"][0]["id"].as_str().unwrap().to_owned();
    let user = identity_post(
        &server,
        &admin,
        "/users",
        json!({"user": {"name": "viewer", "password": "pw"}}),
    )
    .await;
    let user_id = user["user"]["id"].as_str().unwrap();
    let grant = server
        .http
        .put(server.url(&format!(
            "/identity/v3/projects/{demo_project}/users/{user_id}/roles/{reader_role}"
        )))
        .header("X-Auth-Token", &admin)
        .send()
        .await
        .unwrap();
    assert_eq!(grant.status(), 204);
    let member_token = server.token("demo", "demo", "demo").await;
    let reader_token = server.token("viewer", "pw", "demo").await;
    let image = {
        let images = server.get("/image/v2/images", &member_token).await;
        json_of(images).await["images"][0]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let member = server.compute(&member_token, "latest");
    let id = boot(&member, &image, "watched", json!({})).await;
    wait_for(&member, &id, "ACTIVE").await;
    let reader = server.compute(&reader_token, "latest");
    let path = format!("/servers/{id}");
    assert_eq!(reader.get_ok(&path).await["server"]["name"], "watched");
    assert_eq!(
        reader.get_ok("/servers/detail").await["servers"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        reader.get_ok(&format!("{path}/metadata")).await,
        json!({"metadata": {}})
    );
    assert_eq!(
        reader.get_ok(&format!("{path}/ips")).await["addresses"]["private"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let denied = |policy: &str| format!("Policy doesn't allow {policy} to be performed.");
    assert_fault(
        reader
            .post("/servers", &body_for(&reader, "nope", &image, json!({})))
            .await,
        403,
        &denied("os_compute_api:servers:create"),
    )
    .await;
    assert_fault(
        reader.put(&path, &json!({"server": {"name": "x"}})).await,
        403,
        &denied("os_compute_api:servers:update"),
    )
    .await;
    assert_fault(
        reader.delete(&path).await,
        403,
        &denied("os_compute_api:servers:delete"),
    )
    .await;
    assert_fault(
        reader
            .post(
                &format!("{path}/metadata"),
                &json!({"metadata": {"a": "b"}}),
            )
            .await,
        403,
        &denied("os_compute_api:server-metadata:create"),
    )
    .await;
    assert_fault(
        reader
            .put(&format!("{path}/tags"), &json!({"tags": ["a"]}))
            .await,
        403,
        &denied("os_compute_api:os-server-tags:update_all"),
    )
    .await;
    assert_fault(
        reader
            .post(&format!("{path}/action"), &json!({"lock": null}))
            .await,
        403,
        &denied("os_compute_api:os-lock-server:lock"),
    )
    .await;
    assert_eq!(
        member.get_ok(&path).await["server"]["name"],
        "watched",
        "unchanged"
    );
}

#[tokio::test]
async fn the_network_proxy_lists_the_projects_networks_until_2_35() {
    let server = Server::start_noauth().await;
    let c = server.compute(ALICE, "2.1");
    let list = c.get_ok("/os-networks").await;
    let labels: Vec<&str> = list["networks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["label"].as_str().unwrap())
        .collect();
    // What networking shows the project: the external and shared ones.
    assert_eq!(labels, ["public", "private"]);
    let net = &list["networks"][1];
    assert_eq!(net["id"], private_network_id().as_str());
    assert_eq!(net["label"], "private");
    assert_eq!(
        net.as_object().unwrap().len(),
        11,
        "non-admins see 11 fields"
    );
    assert_eq!(net["cidr"], Value::Null, "Nova fills only id and label");
    let admin = server.compute(ADMIN, "2.1").get_ok("/os-networks").await;
    assert_eq!(admin["networks"][0].as_object().unwrap().len(), 32);
    let shown = c
        .get_ok(&format!("/os-networks/{}", private_network_id()))
        .await;
    assert_eq!(shown["network"], *net);
    assert_fault(
        c.get("/os-networks/private").await,
        404,
        "Network not found",
    )
    .await;
    assert_fault(
        server.compute(ALICE, "2.36").get("/os-networks").await,
        404,
        "The resource could not be found.",
    )
    .await;
}

#[tokio::test]
async fn access_addresses_are_kept_in_canonical_form() {
    let server = Server::start_noauth().await;
    let image = cirros(&server).await;
    let c = server.compute(ALICE, "2.1");
    let extra = json!({"accessIPv4": "192.168.0.1",
                       "accessIPv6": "0000:0000:0000:0000:0000:babe:220.12.22.2"});
    let id = boot(&c, &image, "addressed", extra).await;
    let shown = c.get_ok(&format!("/servers/{id}")).await["server"].clone();
    assert_eq!(
        (shown["accessIPv4"].clone(), shown["accessIPv6"].clone()),
        (json!("192.168.0.1"), json!("::babe:dc0c:1602"))
    );
    let body = json!({"server": {"accessIPv6": "2001:0DB8:0000:0000:0000:0000:0000:0001"}});
    let updated = json_of(c.put(&format!("/servers/{id}"), &body).await).await;
    assert_eq!(updated["server"]["accessIPv6"], "2001:db8::1");
    let filtered = c.get_ok("/servers/detail?access_ip_v6=2001:db8::1").await;
    assert_eq!(filtered["servers"].as_array().unwrap().len(), 1);
}
