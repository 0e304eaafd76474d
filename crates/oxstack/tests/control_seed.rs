//! Seeds and snapshots, black-box: a YAML seed makes projects, users,
//! flavors, images, key pairs, networks, routers, security groups and
//! servers in the states it asks for; applied again it changes nothing; the
//! snapshot of the cloud is a seed that, after a reset, makes the same
//! cloud again; `serve --seed` makes it at start.

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
        ("networks: [{subnets: []}]", "A seeded network needs a name"),
        (
            "routers: [{name: r, external_network: nowhere}]",
            "No network nowhere",
        ),
        (
            "servers: [{name: x, flavor: m1.tiny, image: cirros, networks: [nowhere]}]",
            "No network nowhere",
        ),
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

const NETWORKED: &str = r#"
projects:
  - name: team-n
users:
  - {name: nora, password: secret, project: team-n}
networks:
  - name: web-net
    project: team-n
    description: the web tier
    subnets:
      - {name: web-subnet, cidr: 10.20.0.0/24, ip_version: 4, dns_nameservers: [10.20.0.2]}
routers:
  - {name: web-router, project: team-n, external_network: public, interfaces: [web-subnet]}
security_groups:
  - name: web
    project: team-n
    description: web servers
    rules:
      - {direction: ingress, protocol: tcp, port_range_min: 80, port_range_max: 80,
         remote_ip_prefix: 0.0.0.0/0}
      - {direction: ingress, protocol: tcp, port_range_min: 5432, port_range_max: 5432,
         remote_group: web}
  - name: default
    project: team-n
    rules:
      - {direction: ingress, protocol: icmp}
servers:
  - {name: web-1, project: team-n, flavor: m1.tiny, image: cirros,
     networks: [web-net], security_groups: [web]}
"#;

/// What nora's project has of networking, as she sees it through Neutron
/// and Nova: (network, subnet CIDR, router gateway's network name and its
/// interfaces' subnets, groups with their rule counts, web-1's network,
/// address and groups).
async fn nora_sees(server: &Server) -> Value {
    let nora = server.token("nora", "secret", "team-n").await;
    let get = |path: &str| {
        let (server, nora) = (server, nora.clone());
        let path = path.to_owned();
        async move { json_of(server.get(&path, &nora).await).await }
    };
    let network = get("/network/v2.0/networks?name=web-net").await["networks"][0].clone();
    let subnet = get("/network/v2.0/subnets?name=web-subnet").await["subnets"][0].clone();
    let router = get("/network/v2.0/routers?name=web-router").await["routers"][0].clone();
    let gateway = router["external_gateway_info"]["network_id"]
        .as_str()
        .unwrap();
    let gateway =
        get(&format!("/network/v2.0/networks/{gateway}")).await["network"]["name"].clone();
    let interfaces = get(&format!(
        "/network/v2.0/ports?device_id={}&device_owner=network:router_interface",
        router["id"].as_str().unwrap()
    ))
    .await["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["fixed_ips"][0]["subnet_id"] == subnet["id"])
        .collect::<Vec<_>>();
    let groups = get("/network/v2.0/security-groups").await["security_groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            let remote_self = g["security_group_rules"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|r| r["remote_group_id"] == g["id"])
                .count();
            json!([
                g["name"],
                g["security_group_rules"].as_array().unwrap().len(),
                remote_self
            ])
        })
        .collect::<Vec<_>>();
    let web1 = get("/compute/v2.1/servers/detail?name=web-1").await["servers"][0].clone();
    let address = web1["addresses"]["web-net"][0]["addr"]
        .as_str()
        .unwrap_or_default();
    json!({
        "network": [network["name"], network["description"], network["project_id"].is_string()],
        "subnet": [subnet["cidr"], subnet["dns_nameservers"]],
        "router": [gateway, interfaces],
        "groups": groups,
        "web-1": [web1["status"], address.starts_with("10.20.0."), web1["security_groups"]],
    })
}

#[tokio::test]
async fn networks_routers_and_security_groups_are_seeded_and_snapshotted() {
    let server = Server::start().await;
    let admin = server.admin_token().await;
    let applied = json_of(seed(&server, &admin, NETWORKED).await).await;
    let seeded = applied["seeded"].clone();
    assert!(seeded.is_object(), "{applied}");
    for (kind, created, existing) in [
        ("networks", 1, 0),
        ("subnets", 1, 0),
        ("routers", 1, 0),
        ("security_groups", 1, 1),
        ("security_group_rules", 3, 0),
    ] {
        assert_eq!(
            seeded[kind],
            json!({"created": created, "existing": existing}),
            "{kind}: {seeded}"
        );
    }
    // Neutron's own rules: two egress in every group, and the default
    // group's two ingress from itself; the seeded ones beside them.
    let expected = json!({
        "network": ["web-net", "the web tier", true],
        "subnet": ["10.20.0.0/24", ["10.20.0.2"]],
        "router": ["public", [true]],
        "groups": [["default", 5, 2], ["web", 4, 1]],
        "web-1": ["ACTIVE", true, [{"name": "web"}]],
    });
    assert_eq!(nora_sees(&server).await, expected);

    // Applied again, nothing changes.
    let again = json_of(seed(&server, &admin, NETWORKED).await).await["seeded"].clone();
    assert_eq!(again["networks"], json!({"created": 0, "existing": 1}));
    assert_eq!(again["subnets"], json!({"created": 0, "existing": 1}));
    assert_eq!(again["routers"], json!({"created": 0, "existing": 1}));
    assert_eq!(
        again["security_group_rules"],
        json!({"created": 0, "existing": 3})
    );
    assert_eq!(nora_sees(&server).await, expected);

    // The snapshot holds what nora's project made, and no more: not the
    // cloud's own networks and router, nor Neutron's own rules.
    let snapshot: Value =
        json_of(control(&server, reqwest::Method::GET, "/snapshot", &admin, None).await).await;
    let networks = snapshot["networks"].as_array().unwrap();
    assert_eq!(networks.len(), 1, "{snapshot}");
    assert_eq!(
        (&networks[0]["name"], &networks[0]["project"]),
        (&json!("web-net"), &json!("team-n"))
    );
    assert_eq!(
        networks[0]["subnets"][0]["allocation_pools"],
        json!([{"start": "10.20.0.2", "end": "10.20.0.254"}])
    );
    assert_eq!(
        (
            &snapshot["routers"][0]["external_network"],
            &snapshot["routers"][0]["interfaces"]
        ),
        (&json!("public"), &json!(["web-subnet"]))
    );
    let groups = snapshot["security_groups"].as_array().unwrap();
    let web = groups.iter().find(|g| g["name"] == "web").unwrap();
    assert_eq!(web["rules"][1]["remote_group"], "web", "{web}");
    let default = groups.iter().find(|g| g["name"] == "default").unwrap();
    assert_eq!(
        default["rules"],
        json!([{"direction": "ingress", "ethertype": "IPv4", "protocol": "icmp"}])
    );
    assert_eq!(groups.len(), 2, "{groups:?}");
    let web1 = &snapshot["servers"][0];
    assert_eq!(
        (&web1["networks"], &web1["security_groups"]),
        (&json!(["web-net"]), &json!(["web"]))
    );

    // After a reset, the snapshot (nora's password added) makes it again.
    let reset = control(&server, reqwest::Method::POST, "/reset", &admin, None).await;
    assert_eq!(reset.status(), 200);
    let mut again = snapshot.clone();
    again["users"][0]["password"] = json!("secret");
    let applied = seed(&server, &admin, &again.to_string()).await;
    assert_eq!(applied.status(), 200, "{}", json_of(applied).await);
    assert_eq!(nora_sees(&server).await, expected);
}
