//! Seeds and snapshots, black-box: a YAML seed makes projects, users,
//! flavors, images, key pairs and servers in the states it asks for;
//! applied again it changes nothing; the snapshot of the cloud is a seed
//! that, after a reset, makes the same cloud again; `serve --seed` makes
//! it at start.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use common::{Options, Server, json_of};
use serde_json::{Value, json};

const SEED: &str = r#"
projects:
  - name: team-a
    description: The A team
users:
  - name: alice
    password: secret
    project: team-a
flavors:
  - name: seed.small
    id: seed-1
    ram: 256
    vcpus: 1
    disk: 1
    extra_specs: {"hw:cpu_policy": "shared"}
images:
  - name: seed-image
    project: team-a
    disk_format: raw
    container_format: bare
    size: 2048
    os_distro: debian
keypairs:
  - name: alice-key
    user: alice
    public_key: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIP4GkTXPqWRl/m1Hx4BctS4cAWRA/sqjBq5noAiBi4N7 seed
servers:
  - name: web-1
    project: team-a
    flavor: seed.small
    image: seed-image
    key_name: alice-key
    metadata: {role: web}
  - name: web-2
    project: team-a
    flavor: m1.tiny
    image: cirros
    status: SHUTOFF
  - name: "broken (1)"
    project: team-a
    flavor: m1.tiny
    image: cirros
    status: ERROR
"#;

async fn control(
    server: &Server,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<&str>,
) -> reqwest::Response {
    let mut request = server
        .http
        .request(method, server.url(&format!("/_oxstack{path}")))
        .header("X-Auth-Token", token);
    if let Some(body) = body {
        request = request
            .header("Content-Type", "application/yaml")
            .body(body.to_owned());
    }
    request.send().await.unwrap()
}

async fn seed(server: &Server, token: &str, text: &str) -> reqwest::Response {
    control(server, reqwest::Method::POST, "/seed", token, Some(text)).await
}

/// The servers alice sees: (name, status), sorted.
async fn alice_servers(server: &Server, token: &str) -> Vec<(String, String)> {
    let listed = json_of(server.get("/compute/v2.1/servers/detail", token).await).await;
    let mut servers: Vec<(String, String)> = listed["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_owned(),
                s["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    servers.sort();
    servers
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

#[tokio::test]
async fn a_seed_makes_a_known_cloud_and_a_snapshot_makes_it_again() {
    let server = Server::start().await;
    let admin = server.admin_token().await;
    let applied = seed(&server, &admin, SEED).await;
    assert_eq!(applied.status(), 200);
    let seeded = json_of(applied).await["seeded"].clone();
    for kind in ["projects", "users", "flavors", "images", "keypairs"] {
        assert_eq!(
            seeded[kind],
            json!({"created": 1, "existing": 0}),
            "{kind}: {seeded}"
        );
    }
    assert_eq!(seeded["servers"].as_array().unwrap().len(), 3);

    let alice = server.token("alice", "secret", "team-a").await;
    let expected = pairs(&[
        ("broken (1)", "ERROR"),
        ("web-1", "ACTIVE"),
        ("web-2", "SHUTOFF"),
    ]);
    assert_eq!(alice_servers(&server, &alice).await, expected);
    let web1 = json_of(
        server
            .get("/compute/v2.1/servers/detail?name=web-1", &alice)
            .await,
    )
    .await["servers"][0]
        .clone();
    assert_eq!(
        (&web1["key_name"], &web1["metadata"], &web1["flavor"]["id"]),
        (
            &json!("alice-key"),
            &json!({"role": "web"}),
            &json!("seed-1")
        )
    );
    let image = json_of(server.get("/image/v2/images?name=seed-image", &alice).await).await;
    assert_eq!(image["images"][0]["os_distro"], "debian");
    assert_eq!(image["images"][0]["size"], 2048);

    // Applied again, nothing changes.
    let again = json_of(seed(&server, &admin, SEED).await).await["seeded"].clone();
    assert_eq!(again["projects"], json!({"created": 0, "existing": 1}));
    assert_eq!(again["servers"][0]["created"], false);
    assert_eq!(alice_servers(&server, &alice).await, expected);

    // The snapshot is a seed of what users made.
    let snapshot = control(&server, reqwest::Method::GET, "/snapshot", &admin, None).await;
    assert_eq!(snapshot.status(), 200);
    let snapshot: Value = json_of(snapshot).await;
    assert_eq!(
        snapshot["projects"],
        json!([{"name": "team-a", "description": "The A team"}])
    );
    assert_eq!(
        snapshot["users"],
        json!([{"name": "alice", "project": "team-a",
                "roles": {"team-a": ["member", "reader"]}}])
    );
    assert_eq!(snapshot["flavors"][0]["id"], "seed-1");
    assert_eq!(
        snapshot["flavors"][0]["extra_specs"],
        json!({"hw:cpu_policy": "shared"})
    );
    assert_eq!(snapshot["images"][0]["project"], "team-a");
    assert_eq!(snapshot["keypairs"][0]["user"], "alice");
    assert_eq!(snapshot["servers"].as_array().unwrap().len(), 3);
    let yaml = control(
        &server,
        reqwest::Method::GET,
        "/snapshot?format=yaml",
        &admin,
        None,
    )
    .await;
    assert_eq!(
        common::header(&yaml, "content-type"),
        Some("application/yaml")
    );
    let yaml = yaml.text().await.unwrap();
    assert!(yaml.contains("name: team-a"), "{yaml}");

    // Reset, then the snapshot (with alice's password added back) makes
    // the same cloud.
    let reset = control(&server, reqwest::Method::POST, "/reset", &admin, None).await;
    assert_eq!(reset.status(), 200);
    let mut again = snapshot.clone();
    again["users"][0]["password"] = json!("secret");
    let applied = seed(&server, &admin, &again.to_string()).await;
    assert_eq!(applied.status(), 200);
    let alice = server.token("alice", "secret", "team-a").await;
    assert_eq!(alice_servers(&server, &alice).await, expected);
}

#[tokio::test]
async fn bad_seeds_are_refused_with_reasons() {
    let server = Server::start().await;
    let admin = server.admin_token().await;
    for (text, why) in [
        ("networks: []", "networks cannot be seeded yet"),
        ("volumes: []", "unknown field `volumes`"),
        (
            "servers: [{name: x, flavor: m1.tiny, image: cirros, status: EXPLODED}]",
            "not EXPLODED",
        ),
        (
            "servers: [{name: x, flavor: m9.huge, image: cirros}]",
            "No flavor m9.huge",
        ),
        ("flavors: [{ram: 1}]", "needs a name"),
        (
            "users: [{name: bob, project: nowhere}]",
            "No project nowhere",
        ),
        ("{", "Invalid seed"),
    ] {
        let refused = seed(&server, &admin, text).await;
        assert_eq!(refused.status(), 400, "{text}");
        let body = json_of(refused).await;
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(why), "{text}: {message}");
    }
    let demo = server.token("demo", "demo", "demo").await;
    assert_eq!(seed(&server, &demo, "{}").await.status(), 403);
}

#[tokio::test]
async fn serve_makes_its_seed_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("seed.yaml");
    std::fs::write(
        &path,
        "servers:\n  - {name: seeded-at-start, flavor: m1.tiny, image: cirros, status: PAUSED}\n",
    )
    .unwrap();
    let server = Server::start_with(Options {
        args: vec![
            "--auth".into(),
            "noauth".into(),
            "--seed".into(),
            path.display().to_string(),
        ],
        ..Options::default()
    })
    .await;
    let listed = server
        .compute("admin:admin", "2.1")
        .get_ok("/servers/detail")
        .await;
    assert_eq!(listed["servers"][0]["name"], "seeded-at-start");
    assert_eq!(listed["servers"][0]["status"], "PAUSED");
    // Without Keystone, projects and users are not seeded.
    let refused = seed(&server, "admin:admin", "projects: [{name: p}]").await;
    assert_eq!(refused.status(), 400);
}
