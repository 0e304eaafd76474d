//! What operators ask of hosts and guests, black-box on two simulated
//! hosts: `os-hosts` (list, zones, resources by project, enable/disable,
//! maintenance, power actions, up to 2.42), server diagnostics (the flat
//! shape and 2.48's), `os-server-password` and the server topology
//! (2.78) — with Nova's refusals and policies.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use common::{Compute, Server, assert_fault, cirros, json_of, keys_of, settled};
use serde_json::{Value, json};

const ADMIN: &str = "admin:admin";
const ALICE: &str = "alice:proj-a";
const BOB: &str = "bob:proj-b";

/// Creates a server of `image` as `c` with the `server` fields given
/// (named `s`, m1.tiny unless said), and waits for ACTIVE.
async fn boot_with(c: &Compute<'_>, image: &str, mut server: Value) -> String {
    server["name"] = json!("s");
    server["imageRef"] = json!(image);
    if server.get("flavorRef").is_none() {
        server["flavorRef"] = json!("1");
    }
    let response = c.post("/servers", &json!({ "server": server })).await;
    let status = response.status();
    let made = json_of(response).await;
    assert_eq!(status, 202, "{made}");
    let id = made["server"]["id"].as_str().unwrap().to_owned();
    settled(c, &id, "ACTIVE").await;
    id
}

/// Boots a server of `flavor` onto `host` (2.74).
async fn boot_on(c: &Compute<'_>, image: &str, flavor: &str, host: &str) -> String {
    let server = json!({"flavorRef": flavor, "networks": "none", "host": host});
    boot_with(c, image, server).await
}

/// Boots an m1.tiny server on the default network (no `networks` before
/// 2.37).
async fn boot(c: &Compute<'_>, image: &str) -> String {
    boot_with(c, image, json!({})).await
}

fn host_names(listed: &Value) -> Vec<&str> {
    listed["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["host_name"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn hosts_their_zones_and_resources() {
    let server = Server::start_noauth_hosts(2).await;
    let image = cirros(&server).await;
    let admin = server.compute(ADMIN, "2.1");
    let listed = admin.get_ok("/os-hosts").await;
    assert_eq!(
        listed,
        json!({"hosts": [
            {"host_name": "alpha", "service": "compute", "zone": "nova"},
            {"host_name": "alpha-2", "service": "compute", "zone": "nova"},
        ]})
    );
    assert_eq!(
        host_names(&admin.get_ok("/os-hosts?zone=nova").await).len(),
        2
    );
    assert_eq!(host_names(&admin.get_ok("/os-hosts?zone=").await).len(), 2);
    assert_eq!(
        admin.get_ok("/os-hosts?zone=elsewhere").await,
        json!({"hosts": []})
    );

    // Resources: what the host offers, uses, and each project's share.
    let placer = server.compute(ADMIN, "2.74");
    boot_on(&placer, &image, "1", "alpha-2").await;
    boot_on(&server.compute(ADMIN, "2.74"), &image, "2", "alpha-2").await;
    let shown = admin.get_ok("/os-hosts/alpha-2").await["host"].clone();
    let rows: Vec<&Value> = shown
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["resource"])
        .collect();
    let projects: Vec<&str> = rows
        .iter()
        .map(|r| r["project"].as_str().unwrap())
        .collect();
    assert_eq!(projects, ["(total)", "(used_now)", "(used_max)", "admin"]);
    let hypervisor = &admin.get_ok("/os-hypervisors/detail").await["hypervisors"][1];
    assert_eq!(rows[0]["cpu"], hypervisor["vcpus"]);
    assert_eq!(rows[0]["memory_mb"], hypervisor["memory_mb"]);
    assert_eq!(rows[0]["disk_gb"], hypervisor["local_gb"]);
    // m1.tiny (1 vCPU, 512 MiB, 1 GB) and m1.small (1, 2048, 20).
    for row in &rows[1..] {
        assert_eq!(
            (
                &row["host"],
                &row["cpu"],
                &row["memory_mb"],
                &row["disk_gb"]
            ),
            (&json!("alpha-2"), &json!(2), &json!(2560), &json!(21)),
            "{row}"
        );
    }
    let idle = admin.get_ok("/os-hosts/alpha").await["host"].clone();
    assert_eq!(idle.as_array().unwrap().len(), 3, "{idle}");
    assert_eq!(idle[2]["resource"]["cpu"], 0);
}

#[tokio::test]
async fn hosts_enabled_maintained_and_powered() {
    let server = Server::start_noauth_hosts(2).await;
    let image = cirros(&server).await;
    let admin = server.compute(ADMIN, "2.1");
    let update = |body: Value| {
        let admin = &admin;
        async move { admin.put("/os-hosts/alpha-2", &body).await }
    };
    let answer = update(json!({"status": "disable"})).await;
    assert_eq!(answer.status(), 200);
    assert_eq!(
        json_of(answer).await,
        json!({"host": "alpha-2", "status": "disabled"})
    );
    // A disabled host is not listed, and takes no new servers.
    assert_eq!(host_names(&admin.get_ok("/os-hosts").await), ["alpha"]);
    let services = server.compute(ADMIN, "2.53").get_ok("/os-services").await;
    let disabled: Vec<&Value> = services["services"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["status"] == "disabled")
        .map(|s| &s["host"])
        .collect();
    assert_eq!(disabled, [&json!("alpha-2")]);
    for _ in 0..3 {
        let id = boot(&server.compute(ALICE, "2.1"), &image).await;
        let placed = server
            .compute(ADMIN, "2.1")
            .get_ok(&format!("/servers/{id}"))
            .await;
        assert_eq!(placed["server"]["OS-EXT-SRV-ATTR:host"], "alpha");
    }

    let answer = update(json!({"status": "ENABLE", "maintenance_mode": "Enable"})).await;
    assert_eq!(
        json_of(answer).await,
        json!({"host": "alpha-2", "status": "enabled", "maintenance_mode": "on_maintenance"})
    );
    assert_eq!(host_names(&admin.get_ok("/os-hosts").await).len(), 2);
    let answer = update(json!({"maintenance_mode": "disable"})).await;
    assert_eq!(
        json_of(answer).await,
        json!({"host": "alpha-2", "maintenance_mode": "off_maintenance"})
    );
    // Nova's schema requires neither: the host alone.
    assert_eq!(
        json_of(update(json!({})).await).await,
        json!({"host": "alpha-2"})
    );

    for (action, done) in [
        ("reboot", "reboot"),
        ("shutdown", "shutdown"),
        ("startup", "startup"),
    ] {
        assert_eq!(
            admin.get_ok(&format!("/os-hosts/alpha/{action}")).await,
            json!({"host": "alpha", "power_action": done})
        );
    }
}

#[tokio::test]
async fn hosts_refusals() {
    let server = Server::start_noauth_hosts(2).await;
    let admin = server.compute(ADMIN, "2.1");
    let unknown = "Host 'nowhere' is not mapped to any cell";
    assert_fault(admin.get("/os-hosts/nowhere").await, 404, unknown).await;
    assert_fault(
        admin
            .put("/os-hosts/nowhere", &json!({"status": "enable"}))
            .await,
        404,
        unknown,
    )
    .await;
    assert_fault(
        admin
            .put("/os-hosts/nowhere", &json!({"maintenance_mode": "enable"}))
            .await,
        404,
        unknown,
    )
    .await;
    for action in ["reboot", "shutdown", "startup"] {
        assert_fault(
            admin.get(&format!("/os-hosts/nowhere/{action}")).await,
            404,
            unknown,
        )
        .await;
    }
    for bad in [
        json!({"status": "bad"}),
        json!({"maintenance_mode": "on"}),
        json!({"status": null, "maintenance_mode": null}),
        json!({"status": "enable", "extra": 1}),
        json!({"host": {"status": "enable"}}),
    ] {
        let refused = admin.put("/os-hosts/alpha", &bad).await;
        assert_eq!(refused.status(), 400, "{bad}");
    }
    // The body checked before the host is looked for.
    let refused = admin
        .put("/os-hosts/nowhere", &json!({"status": "off"}))
        .await;
    assert_eq!(refused.status(), 400);

    let alice = server.compute(ALICE, "2.1");
    let denied = |policy: &str| {
        format!("Policy doesn't allow os_compute_api:os-hosts:{policy} to be performed.")
    };
    assert_fault(alice.get("/os-hosts").await, 403, &denied("list")).await;
    assert_fault(alice.get("/os-hosts/alpha").await, 403, &denied("show")).await;
    assert_fault(
        alice
            .put("/os-hosts/alpha", &json!({"status": "disable"}))
            .await,
        403,
        &denied("update"),
    )
    .await;
    for (action, policy) in [
        ("reboot", "reboot"),
        ("shutdown", "shutdown"),
        ("startup", "start"),
    ] {
        assert_fault(
            alice.get(&format!("/os-hosts/alpha/{action}")).await,
            403,
            &denied(policy),
        )
        .await;
    }
    // A host whose service is down cannot be asked anything.
    let services = server.compute(ADMIN, "2.53").get_ok("/os-services").await;
    let second = services["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["host"] == "alpha-2")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let forced = server
        .compute(ADMIN, "2.53")
        .put(
            &format!("/os-services/{second}"),
            &json!({"forced_down": true}),
        )
        .await;
    assert_eq!(forced.status(), 200);
    assert_fault(
        admin.get("/os-hosts/alpha-2/reboot").await,
        400,
        "Compute service of alpha-2 is unavailable at this time.",
    )
    .await;
}

#[tokio::test]
async fn server_diagnostics_in_both_shapes() {
    let server = Server::start_noauth_hosts(2).await;
    let image = cirros(&server).await;
    let alice = server.compute(ALICE, "2.1");
    let id = boot(&alice, &image).await;
    let path = format!("/servers/{id}/diagnostics");

    let flat = server.compute(ADMIN, "2.1").get_ok(&path).await;
    assert_eq!(flat["cpu0_time"], 17_300_000_000_i64);
    assert_eq!(flat["memory"], 512 * 1024);
    for key in [
        "vda_read",
        "vda_read_req",
        "vda_write",
        "vda_write_req",
        "vda_errors",
        "vnet0_rx",
        "vnet0_tx_packets",
    ] {
        assert!(flat.get(key).is_some(), "{key} in {flat}");
    }

    let standard = server.compute(ADMIN, "2.48").get_ok(&path).await;
    assert_eq!(
        keys_of(&standard),
        [
            "config_drive",
            "cpu_details",
            "disk_details",
            "driver",
            "hypervisor",
            "hypervisor_os",
            "memory_details",
            "nic_details",
            "num_cpus",
            "num_disks",
            "num_nics",
            "state",
            "uptime"
        ]
    );
    assert_eq!(
        (
            &standard["state"],
            &standard["num_cpus"],
            &standard["num_nics"]
        ),
        (&json!("running"), &json!(1), &json!(1))
    );
    assert_eq!(
        standard["memory_details"],
        json!({"maximum": 512, "used": 0})
    );
    // The NIC is the server's port, by its MAC address.
    let shown = server
        .compute(ADMIN, "2.1")
        .get_ok(&format!("/servers/{id}"))
        .await;
    let mac = shown["server"]["addresses"]
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap()[0]["OS-EXT-IPS-MAC:mac_addr"]
        .clone();
    assert_eq!(standard["nic_details"][0]["mac_address"], mac);

    // Admins only; other projects' and unknown servers are not found.
    assert_fault(
        alice.get(&path).await,
        403,
        "Policy doesn't allow os_compute_api:os-server-diagnostics to be performed.",
    )
    .await;
    assert_fault(
        server.compute(BOB, "2.1").get(&path).await,
        404,
        &format!("Instance {id} could not be found."),
    )
    .await;
    let missing = "00000000-0000-0000-0000-000000000000";
    assert_fault(
        server
            .compute(ADMIN, "2.48")
            .get(&format!("/servers/{missing}/diagnostics"))
            .await,
        404,
        &format!("Instance {missing} could not be found."),
    )
    .await;

    // A server that is not running has none.
    let stop = alice
        .post(&format!("/servers/{id}/action"), &json!({"os-stop": null}))
        .await;
    assert_eq!(stop.status(), 202);
    settled(&alice, &id, "SHUTOFF").await;
    assert_fault(
        server.compute(ADMIN, "2.48").get(&path).await,
        409,
        &format!("Cannot 'get_diagnostics' instance {id} while it is in power state shutdown"),
    )
    .await;
}

#[tokio::test]
async fn server_password_and_topology() {
    let server = Server::start_noauth_hosts(2).await;
    let image = cirros(&server).await;
    let alice = server.compute(ALICE, "2.1");
    let id = boot(&alice, &image).await;
    let password = format!("/servers/{id}/os-server-password");

    // No guest has posted one: empty, and clearing it is fine.
    assert_eq!(alice.get_ok(&password).await, json!({"password": ""}));
    let cleared = alice.delete(&password).await;
    assert_eq!(cleared.status(), 204);
    assert_eq!(cleared.bytes().await.unwrap().len(), 0);
    assert_eq!(alice.get_ok(&password).await, json!({"password": ""}));
    let bob = server.compute(BOB, "2.1");
    let not_found = format!("Instance {id} could not be found.");
    assert_fault(bob.get(&password).await, 404, &not_found).await;
    assert_fault(bob.delete(&password).await, 404, &not_found).await;
    assert_eq!(
        server.compute(ADMIN, "2.1").get_ok(&password).await,
        json!({"password": ""})
    );

    let topology = format!("/servers/{id}/topology");
    let at_78 = server.compute(ALICE, "2.78");
    assert_eq!(
        at_78.get_ok(&topology).await,
        json!({"nodes": [], "pagesize_kb": null})
    );
    assert_fault(
        server.compute(BOB, "2.78").get(&topology).await,
        404,
        &not_found,
    )
    .await;
    assert_eq!(alice.get(&topology).await.status(), 404, "before 2.78");
}
