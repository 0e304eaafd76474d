//! `POST /_oxstack/reset`, black-box: one project's servers, groups,
//! quotas and images go while the others' stay; a reset of everything
//! leaves the cloud as at its first start (the same bootstrap image and
//! accounts, their tokens still valid), and the cloud works on after it.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use common::{Options, Server, cirros, json_of};
use serde_json::{Value, json};

const ADMIN: &str = "admin:admin";
const ALICE: &str = "alice:proj-a";
const BOB: &str = "bob:proj-b";

async fn reset(server: &Server, token: &str, query: &str) -> reqwest::Response {
    server
        .http
        .post(server.url(&format!("/_oxstack/reset{query}")))
        .header("X-Auth-Token", token)
        .send()
        .await
        .unwrap()
}

async fn boot(c: &common::Compute<'_>, image: &str, name: &str) -> String {
    let body = json!({"server": {"name": name, "imageRef": image, "flavorRef": "1",
                                 "networks": "auto"}});
    let response = c.post("/servers", &body).await;
    assert_eq!(response.status(), 202);
    json_of(response).await["server"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn names(listing: &Value, key: &str) -> Vec<String> {
    let mut names: Vec<String> = listing[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

/// An image `name` owned by the caller's project, with data.
async fn upload_image(server: &Server, token: &str, name: &str) -> String {
    let created = server
        .http
        .post(server.url("/image/v2/images"))
        .header("X-Auth-Token", token)
        .json(&json!({"name": name, "disk_format": "raw", "container_format": "bare"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let id = json_of(created).await["id"].as_str().unwrap().to_owned();
    let uploaded = server
        .http
        .put(server.url(&format!("/image/v2/images/{id}/file")))
        .header("X-Auth-Token", token)
        .header("Content-Type", "application/octet-stream")
        .body(vec![7u8; 4096])
        .send()
        .await
        .unwrap();
    assert_eq!(uploaded.status(), 204);
    id
}

#[tokio::test]
async fn a_reset_removes_one_projects_things_or_everything() {
    let server = Server::start_with(Options {
        args: ["--auth", "noauth", "--host", "alpha", "--fake-hosts", "2"]
            .iter()
            .map(|a| (*a).to_owned())
            .collect(),
        ..Options::default()
    })
    .await;
    let image = cirros(&server).await;
    let (alice, bob, admin) = (
        server.compute(ALICE, "2.64"),
        server.compute(BOB, "2.64"),
        server.compute(ADMIN, "2.64"),
    );
    let default_flavors = names(&admin.get_ok("/flavors").await, "flavors");
    // A zone of its own for one host (before it runs servers).
    let aggregate = admin
        .post(
            "/os-aggregates",
            &json!({"aggregate": {"name": "agg", "availability_zone": "az1"}}),
        )
        .await;
    assert_eq!(aggregate.status(), 200);
    let aggregate = json_of(aggregate).await["aggregate"]["id"].clone();
    let added = admin
        .post(
            &format!("/os-aggregates/{aggregate}/action"),
            &json!({"add_host": {"host": "alpha-2"}}),
        )
        .await;
    assert_eq!(added.status(), 200);
    let zones = |listing: Value| -> Vec<String> {
        let mut names: Vec<String> = listing["availabilityZoneInfo"]
            .as_array()
            .unwrap()
            .iter()
            .map(|z| z["zoneName"].as_str().unwrap().to_owned())
            .collect();
        names.sort();
        names
    };
    assert_eq!(
        zones(admin.get_ok("/os-availability-zone").await),
        ["az1", "nova"]
    );
    let a1 = boot(&alice, &image, "a1").await;
    let a2 = boot(&alice, &image, "a2").await;
    let b1 = boot(&bob, &image, "b1").await;
    for id in [&a1, &a2] {
        common::settled(&alice, id, "ACTIVE").await;
    }
    common::settled(&bob, &b1, "ACTIVE").await;
    let group = alice
        .post(
            "/os-server-groups",
            &json!({"server_group": {"name": "g", "policy": "affinity"}}),
        )
        .await;
    assert_eq!(group.status(), 200);
    let keypair = alice
        .post("/os-keypairs", &json!({"keypair": {"name": "k"}}))
        .await;
    assert_eq!(keypair.status(), 201);
    let quota = admin
        .put(
            "/os-quota-sets/proj-a",
            &json!({"quota_set": {"instances": 3}}),
        )
        .await;
    assert_eq!(quota.status(), 200);
    let alice_image = upload_image(&server, ALICE, "alice-image").await;
    let flavor = admin
        .post(
            "/flavors",
            &json!({"flavor": {"name": "custom", "ram": 64, "vcpus": 1, "disk": 1}}),
        )
        .await;
    assert_eq!(flavor.status(), 200);

    // Only alice's project.
    let done = reset(&server, ADMIN, "?project=proj-a").await;
    assert_eq!(done.status(), 200);
    let report = json_of(done).await["reset"].clone();
    assert_eq!(
        (&report["project_id"], &report["servers"], &report["images"]),
        (&json!("proj-a"), &json!(2), &json!(1))
    );
    for id in [&a1, &a2] {
        assert_eq!(alice.get(&format!("/servers/{id}")).await.status(), 404);
    }
    assert!(
        alice.get_ok("/servers").await["servers"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert!(
        alice.get_ok("/os-server-groups").await["server_groups"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let limits = alice.get_ok("/limits").await["limits"]["absolute"].clone();
    assert_eq!(
        (&limits["maxTotalInstances"], &limits["totalInstancesUsed"]),
        (&json!(10), &json!(0))
    );
    let gone = server
        .http
        .get(server.url(&format!("/image/v2/images/{alice_image}")))
        .header("X-Auth-Token", ALICE)
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 404);
    // Key pairs are the user's, not the project's; bob's server stays.
    assert_eq!(alice.get("/os-keypairs/k").await.status(), 200);
    common::settled(&bob, &b1, "ACTIVE").await;
    // The project works on.
    let again = boot(&alice, &image, "a3").await;
    common::settled(&alice, &again, "ACTIVE").await;

    // Everything.
    let done = reset(&server, ADMIN, "").await;
    assert_eq!(done.status(), 200);
    let report = json_of(done).await["reset"].clone();
    assert_eq!(
        (&report["project_id"], &report["servers"], &report["images"]),
        (&Value::Null, &json!(2), &json!(0))
    );
    assert!(report["seconds"].as_f64().unwrap() < 1.0, "{report}");
    assert!(
        admin.get_ok("/servers/detail?all_tenants=1").await["servers"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        names(&admin.get_ok("/flavors").await, "flavors"),
        default_flavors
    );
    assert_eq!(alice.get("/os-keypairs/k").await.status(), 404);
    assert!(
        admin.get_ok("/os-aggregates").await["aggregates"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(cirros(&server).await, image, "the cloud's own image stays");
    assert_eq!(
        zones(admin.get_ok("/os-availability-zone").await),
        ["nova"],
        "every host is back in the default zone"
    );
    // The cloud boots again, on either host.
    let fresh = boot(&bob, &image, "fresh").await;
    common::settled(&bob, &fresh, "ACTIVE").await;

    assert_eq!(reset(&server, ALICE, "").await.status(), 403);
    assert_eq!(
        reset(&server, ADMIN, "?tenant=x").await.status(),
        400,
        "unknown parameters are refused"
    );
}

#[tokio::test]
async fn a_reset_keeps_the_bootstrap_accounts_and_removes_the_others() {
    let server = Server::start().await;
    let admin = server.admin_token().await;
    let post = async |path: &str, body: Value| {
        let response = server
            .http
            .post(server.url(path))
            .header("X-Auth-Token", &admin)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{path}");
        json_of(response).await
    };
    let project = post(
        "/identity/v3/projects",
        json!({"project": {"name": "scratch"}}),
    )
    .await["project"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let user = post(
        "/identity/v3/users",
        json!({"user": {"name": "carol", "password": "pw", "default_project_id": project}}),
    )
    .await["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let roles = json_of(server.get("/identity/v3/roles?name=member", &admin).await).await;
    let member = roles["roles"][0]["id"].as_str().unwrap().to_owned();
    let granted = server
        .http
        .put(server.url(&format!(
            "/identity/v3/projects/{project}/users/{user}/roles/{member}"
        )))
        .header("X-Auth-Token", &admin)
        .send()
        .await
        .unwrap();
    assert_eq!(granted.status(), 204);
    post("/identity/v3/roles", json!({"role": {"name": "auditor"}})).await;
    let carol = server.token("carol", "pw", "scratch").await;
    let demo = server.token("demo", "demo", "demo").await;

    let unknown = reset(&server, &admin, "?project=no-such-project").await;
    assert_eq!(unknown.status(), 404);
    let done = reset(&server, &admin, "").await;
    assert_eq!(done.status(), 200);
    let report = json_of(done).await["reset"].clone();
    assert_eq!(
        (&report["users"], &report["projects"], &report["roles"]),
        (&json!(1), &json!(1), &json!(1))
    );
    // Carol and her token are gone; the bootstrap accounts' tokens work.
    let users = json_of(server.get("/identity/v3/users", &admin).await).await;
    assert_eq!(names(&users, "users"), ["admin", "demo"]);
    let projects = json_of(server.get("/identity/v3/projects", &admin).await).await;
    assert_eq!(names(&projects, "projects"), ["admin", "demo"]);
    let servers = server.get("/compute/v2.1/servers", &carol).await;
    assert_eq!(servers.status(), 401);
    let servers = server.get("/compute/v2.1/servers", &demo).await;
    assert_eq!(servers.status(), 200);
    assert_eq!(
        server
            .post_token(common::password_auth("carol", "pw", Some("scratch")))
            .await
            .status(),
        401
    );
}

#[tokio::test]
async fn a_reset_removes_networking_resources_but_keeps_the_clouds_networks() {
    let server = Server::start_noauth().await;
    let server = &server;
    let made = |project: &'static str| async move {
        let n = server.neutron(project);
        let net = n
            .create(
                "/networks",
                "network",
                json!({"name": format!("net-{project}")}),
            )
            .await;
        n.create(
            "/subnets",
            "subnet",
            json!({"network_id": net["id"], "ip_version": 4, "cidr": "10.30.0.0/24"}),
        )
        .await;
        n.create("/ports", "port", json!({"network_id": net["id"]}))
            .await;
        n.create("/security-groups", "security_group", json!({"name": "web"}))
            .await;
        let private = n.get_ok("/networks?name=private").await["networks"][0]["id"].clone();
        n.create("/ports", "port", json!({"network_id": private}))
            .await;
    };
    made(ALICE).await;
    made(BOB).await;
    let count = |token: &'static str, path: &'static str, key: &'static str| {
        let n = server.neutron(token);
        async move { n.get_ok(path).await[key].as_array().unwrap().len() }
    };
    assert_eq!(reset(server, ADMIN, "?project=proj-a").await.status(), 200);
    assert_eq!(count(ALICE, "/ports", "ports").await, 0);
    assert_eq!(count(ALICE, "/networks", "networks").await, 2);
    assert_eq!(count(BOB, "/ports", "ports").await, 2);
    assert_eq!(count(BOB, "/networks", "networks").await, 3);
    // Alice's default group comes back on first use, alone.
    assert_eq!(count(ALICE, "/security-groups", "security_groups").await, 1);
    let usage = server.neutron(ALICE).get_ok("/quotas/proj-a/details").await;
    assert_eq!(usage["quota"]["port"]["used"], 0);
    assert_eq!(usage["quota"]["network"]["used"], 0);

    assert_eq!(reset(server, ADMIN, "").await.status(), 200);
    assert_eq!(count(BOB, "/ports", "ports").await, 0);
    let networks = server.neutron(ADMIN).get_ok("/networks").await;
    assert_eq!(names(&networks, "networks"), ["private", "public"]);
    assert_eq!(count(ADMIN, "/subnets", "subnets").await, 3);
    // The cloud's networks still hand out addresses.
    let private = networks["networks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == "private")
        .unwrap()["id"]
        .clone();
    server
        .neutron(BOB)
        .create("/ports", "port", json!({"network_id": private}))
        .await;
}
