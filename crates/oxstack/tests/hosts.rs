//! Compute hosts as operators and users see them: `os-services` (list,
//! enable/disable, force down, delete; 2.11 and 2.53 forms), scheduling
//! onto the hosts that are up and enabled, and servers moving between two
//! hosts — a `serve` node and an `oxstack compute` agent sharing one
//! PostgreSQL database — by live migration (with abort and
//! force-complete), cold migration (confirmed and reverted) and evacuation.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::time::Duration;

use common::{Agent, Compute, Options, Server, assert_fault, boot_into_group, cirros, json_of};
use serde_json::{Value, json};

const ADMIN: &str = "admin:admin";
const ALICE: &str = "alice:proj-a";

async fn boot(c: &Compute<'_>, image: &str, name: &str) -> String {
    boot_hinted(c, image, name, json!({})).await
}

/// Polls the server (as `c` sees it) until `done` holds; returns it.
async fn wait_until(c: &Compute<'_>, id: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..750 {
        let server = c.get_ok(&format!("/servers/{id}")).await["server"].clone();
        if done(&server) {
            return server;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("server {id} never became {what}");
}

async fn settled(c: &Compute<'_>, id: &str, status: &str) -> Value {
    wait_until(c, id, status, |s| {
        s["status"] == status && s["OS-EXT-STS:task_state"].is_null()
    })
    .await
}

fn host_of(server: &Value) -> &str {
    server["OS-EXT-SRV-ATTR:host"].as_str().unwrap_or_default()
}

async fn act(c: &Compute<'_>, id: &str, body: Value) -> reqwest::Response {
    c.post(&format!("/servers/{id}/action"), &body).await
}

/// The services by host name, at 2.53.
async fn services(server: &Server) -> Vec<Value> {
    let admin = server.compute(ADMIN, "2.53");
    admin.get_ok("/os-services").await["services"]
        .as_array()
        .unwrap()
        .clone()
}

/// `"host" "state" "status"` of each service.
async fn host_states(server: &Server) -> Vec<String> {
    services(server)
        .await
        .iter()
        .map(|s| format!("{} {} {}", s["host"], s["state"], s["status"]))
        .collect()
}

async fn service_named(server: &Server, host: &str) -> Value {
    services(server)
        .await
        .into_iter()
        .find(|s| s["host"] == host)
        .unwrap_or_else(|| panic!("no service {host}"))
}

/// The newest migration of a server, as `GET /os-migrations` shows it.
async fn newest_migration(admin: &Compute<'_>, id: &str) -> Value {
    admin
        .get_ok(&format!("/os-migrations?instance_uuid={id}"))
        .await["migrations"][0]
        .clone()
}

/// `oxstack serve` as compute host `alpha` (noauth).
async fn start_alpha(database_url: Option<String>) -> Server {
    let args = ["--auth", "noauth", "--host", "alpha"];
    Server::start_with(Options {
        args: args.iter().map(|a| (*a).to_owned()).collect(),
        database_url,
        ..Options::default()
    })
    .await
}

#[tokio::test]
async fn os_services_shows_this_host_and_takes_operator_switches() {
    let server = start_alpha(None).await;
    let image = cirros(&server).await;
    let alice = server.compute(ALICE, "latest");
    let admin = server.compute(ADMIN, "latest");

    assert_fault(
        alice.get("/os-services").await,
        403,
        "Policy doesn't allow os_compute_api:os-services:list to be performed.",
    )
    .await;
    let old = server.compute(ADMIN, "2.1").get_ok("/os-services").await;
    let only = &old["services"][0];
    let mut keys: Vec<&String> = only.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "binary",
            "disabled_reason",
            "host",
            "id",
            "state",
            "status",
            "updated_at",
            "zone"
        ]
    );
    assert_eq!(only["binary"], "nova-compute");
    assert_eq!(only["host"], "alpha");
    assert!(only["id"].is_i64(), "{only}");
    assert_eq!(
        (&only["state"], &only["status"]),
        (&json!("up"), &json!("enabled"))
    );
    assert_eq!(only["zone"], "nova");
    let v211 = server.compute(ADMIN, "2.11").get_ok("/os-services").await;
    assert_eq!(v211["services"][0]["forced_down"], false);
    let alpha = service_named(&server, "alpha").await;
    let uuid = alpha["id"].as_str().unwrap().to_owned();
    assert!(uuid::Uuid::parse_str(&uuid).is_ok(), "{alpha}");
    assert_eq!(
        admin
            .get_ok("/os-services?host=alpha&binary=nova-compute")
            .await["services"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    for filter in ["host=beta", "binary=nova-scheduler"] {
        let found = admin.get_ok(&format!("/os-services?{filter}")).await;
        assert_eq!(found["services"], json!([]), "{filter}");
    }

    // 2.53 updates: bad requests change nothing.
    let path = format!("/os-services/{uuid}");
    assert_fault(
        admin
            .put("/os-services/abc", &json!({"status": "disabled"}))
            .await,
        400,
        "Invalid uuid abc",
    )
    .await;
    let unknown = "9a6b7a3e-3f0f-4b5e-9d71-6d1f0e0c2a11";
    assert_fault(
        admin
            .put(
                &format!("/os-services/{unknown}"),
                &json!({"status": "disabled"}),
            )
            .await,
        404,
        &format!("Service {unknown} could not be found."),
    )
    .await;
    assert_fault(
        admin.put(&path, &json!({})).await,
        400,
        "No updates were requested. Fields 'status' or 'forced_down' should be specified.",
    )
    .await;
    assert_fault(
        admin
            .put(
                &path,
                &json!({"status": "enabled", "disabled_reason": "why"}),
            )
            .await,
        400,
        "Specifying 'disabled_reason' with status 'enabled' is invalid.",
    )
    .await;
    for bad in [
        json!({"status": "sleeping"}),
        json!({"status": "disabled", "colour": "red"}),
        json!({"forced_down": "maybe"}),
        json!({"status": "disabled", "disabled_reason": ""}),
    ] {
        assert_eq!(admin.put(&path, &bad).await.status(), 400, "{bad}");
    }
    assert_eq!(
        alice
            .put(&path, &json!({"status": "disabled"}))
            .await
            .status(),
        403
    );
    assert_eq!(service_named(&server, "alpha").await["status"], "enabled");

    // The zone of the host, for everyone; its hosts, for admins.
    let zones = alice.get_ok("/os-availability-zone").await;
    assert_eq!(
        zones,
        json!({"availabilityZoneInfo": [
            {"zoneName": "nova", "zoneState": {"available": true}, "hosts": null}]})
    );
    let detail = admin.get_ok("/os-availability-zone/detail").await;
    let alpha_service = &detail["availabilityZoneInfo"][0]["hosts"]["alpha"]["nova-compute"];
    assert_eq!(
        (&alpha_service["available"], &alpha_service["active"]),
        (&json!(true), &json!(true)),
        "{detail}"
    );
    assert!(alpha_service["updated_at"].is_string(), "{detail}");
    assert_fault(
        alice.get("/os-availability-zone/detail").await,
        403,
        "Policy doesn't allow os_compute_api:os-availability-zone:detail to be performed.",
    )
    .await;

    // Disabled, the only host takes no new server: it fails to schedule.
    let disabled = admin
        .put(
            &path,
            &json!({"status": "disabled", "disabled_reason": "maintenance"}),
        )
        .await;
    assert_eq!(disabled.status(), 200);
    let shown = json_of(disabled).await["service"].clone();
    assert_eq!(shown["status"], "disabled");
    assert_eq!(shown["disabled_reason"], "maintenance");
    assert_eq!(shown["id"], uuid.as_str());
    let zones = admin.get_ok("/os-availability-zone/detail").await;
    assert_eq!(
        zones["availabilityZoneInfo"],
        json!([{"zoneName": "nova", "zoneState": {"available": false}, "hosts": null}])
    );
    let unplaced = boot(&alice, &image, "unplaced").await;
    let failed = wait_until(&admin, &unplaced, "ERROR", |s| s["status"] == "ERROR").await;
    assert_eq!(
        failed["fault"]["message"],
        "No valid host was found. There are not enough hosts available."
    );
    assert_eq!(failed["OS-EXT-SRV-ATTR:host"], Value::Null);
    let enabled = admin.put(&path, &json!({"status": "enabled"})).await;
    assert_eq!(
        json_of(enabled).await["service"]["disabled_reason"],
        Value::Null
    );
    let placed = boot(&alice, &image, "placed").await;
    assert_eq!(host_of(&settled(&admin, &placed, "ACTIVE").await), "alpha");

    // Forced down, the host is shown down (and servers on it may be
    // evacuated; with no other host there is nowhere to go).
    let down = admin.put(&path, &json!({"forced_down": true})).await;
    let down = json_of(down).await["service"].clone();
    assert_eq!(
        (&down["state"], &down["forced_down"]),
        (&json!("down"), &json!(true))
    );
    assert_fault(
        act(&admin, &placed, json!({"evacuate": {}})).await,
        400,
        "No valid host was found. No valid host found for evacuate",
    )
    .await;
    admin.put(&path, &json!({"forced_down": false})).await;
    assert_fault(
        act(&admin, &placed, json!({"evacuate": {}})).await,
        400,
        "Compute service of alpha is still in use.",
    )
    .await;
    assert_fault(
        act(&admin, &placed, json!({"migrate": null})).await,
        400,
        "No valid host was found. No valid host found for cold migrate",
    )
    .await;
    let named_checks = [
        (
            json!({"migrate": {"host": "alpha"}}),
            400,
            "Cannot migrate to the host where the server exists.",
        ),
        (
            json!({"migrate": {"host": "gamma"}}),
            400,
            "Compute host gamma could not be found.",
        ),
        (
            json!({"evacuate": {"host": "gamma"}}),
            404,
            "Compute host gamma not found.",
        ),
        (
            json!({"evacuate": {"host": "alpha"}}),
            400,
            "The target host can't be the same one.",
        ),
    ];
    for (body, status, message) in named_checks {
        assert_fault(act(&admin, &placed, body).await, status, message).await;
    }
    assert_fault(
        server
            .compute(ADMIN, "2.29")
            .post(
                &format!("/servers/{placed}/action"),
                &json!({"evacuate": {"force": true}}),
            )
            .await,
        400,
        "Can't force to a non-provided destination",
    )
    .await;
    // Forced down, the host cannot resize its servers.
    admin.put(&path, &json!({"forced_down": true})).await;
    assert_fault(
        act(&alice, &placed, json!({"resize": {"flavorRef": "2"}})).await,
        409,
        "Service is unavailable at this time.",
    )
    .await;
    admin.put(&path, &json!({"forced_down": false})).await;

    // Unshelving places an offloaded server again: nowhere while the only
    // host is disabled, on it once enabled; a named host (2.91) must exist.
    assert_eq!(
        act(&alice, &placed, json!({"shelve": null})).await.status(),
        202
    );
    let offloaded = settled(&admin, &placed, "SHELVED_OFFLOADED").await;
    assert_eq!(offloaded["OS-EXT-SRV-ATTR:host"], Value::Null);
    assert_fault(
        act(&admin, &placed, json!({"unshelve": {"host": "gamma"}})).await,
        400,
        "Compute host gamma could not be found.",
    )
    .await;
    admin.put(&path, &json!({"status": "disabled"})).await;
    assert_eq!(
        act(&alice, &placed, json!({"unshelve": null}))
            .await
            .status(),
        202
    );
    settled(&admin, &placed, "SHELVED_OFFLOADED").await;
    let actions = admin
        .get_ok(&format!("/servers/{placed}/os-instance-actions"))
        .await;
    let newest = &actions["instanceActions"][0];
    assert_eq!(
        (&newest["action"], &newest["message"]),
        (&json!("unshelve"), &json!("Error"))
    );
    admin.put(&path, &json!({"status": "enabled"})).await;
    assert_eq!(
        act(&admin, &placed, json!({"unshelve": {"host": "alpha"}}))
            .await
            .status(),
        202
    );
    assert_eq!(host_of(&settled(&admin, &placed, "ACTIVE").await), "alpha");

    // Before 2.53: the named actions, by host and binary.
    let legacy = server.compute(ADMIN, "2.10");
    let host = json!({"host": "alpha", "binary": "nova-compute"});
    let off = legacy.put("/os-services/disable", &host).await;
    assert_eq!(off.status(), 200);
    assert_eq!(
        json_of(off).await,
        json!({"service": {"host": "alpha", "binary": "nova-compute", "status": "disabled"}})
    );
    let logged = legacy
        .put(
            "/os-services/disable-log-reason",
            &json!({"host": "alpha", "binary": "nova-compute", "disabled_reason": "disk"}),
        )
        .await;
    assert_eq!(json_of(logged).await["service"]["disabled_reason"], "disk");
    assert_fault(
        legacy.put("/os-services/disable-log-reason", &host).await,
        400,
        "Missing disabled reason field",
    )
    .await;
    let on = legacy.put("/os-services/enable", &host).await;
    assert_eq!(json_of(on).await["service"]["status"], "enabled");
    assert_fault(
        legacy
            .put(
                "/os-services/enable",
                &json!({"host": "nowhere", "binary": "nova-compute"}),
            )
            .await,
        404,
        "Host 'nowhere' is not mapped to any cell",
    )
    .await;
    // `forced_down` is not a field before 2.11, nor `force-down` an action.
    let early = json!({"host": "alpha", "binary": "nova-compute", "forced_down": true});
    assert_eq!(
        legacy.put("/os-services/disable", &early).await.status(),
        400
    );
    let plain = json!({"host": "alpha", "binary": "nova-compute"});
    assert_fault(
        legacy.put("/os-services/force-down", &plain).await,
        404,
        "Unknown action",
    )
    .await;
    assert_eq!(
        legacy
            .put("/os-services/enable", &json!({"host": "alpha"}))
            .await
            .status(),
        400
    );
    let v211 = server.compute(ADMIN, "2.11");
    let forced = v211
        .put(
            "/os-services/force-down",
            &json!({"host": "alpha", "binary": "nova-compute", "forced_down": true}),
        )
        .await;
    assert_eq!(
        json_of(forced).await,
        json!({"service": {"host": "alpha", "binary": "nova-compute", "forced_down": true}})
    );
    assert_eq!(service_named(&server, "alpha").await["state"], "down");
    v211.put(
        "/os-services/force-down",
        &json!({"host": "alpha", "binary": "nova-compute", "forced_down": false}),
    )
    .await;
    assert_eq!(service_named(&server, "alpha").await["state"], "up");

    // A host with servers cannot be deleted.
    assert_fault(
        admin.delete(&path).await,
        409,
        "Unable to delete compute service that is hosting instances. Migrate or delete the instances first.",
    )
    .await;
    assert_fault(
        admin.delete("/os-services/abc").await,
        400,
        "Invalid uuid abc",
    )
    .await;
    assert_fault(
        server
            .compute(ADMIN, "2.52")
            .delete("/os-services/abc")
            .await,
        400,
        "Invalid input received: id must be an integer.",
    )
    .await;
    assert_eq!(alice.delete(&path).await.status(), 403);
}

#[tokio::test]
async fn servers_move_between_two_compute_hosts_on_postgresql() {
    let Some(url) = common::scratch_postgres_database("moving servers between hosts").await else {
        return;
    };
    let server = start_alpha(Some(url.clone())).await;
    // The second host's hypervisor is slow, so that its moves can be
    // watched (and aborted) while they run.
    let beta_agent = Agent::start("beta", &url, "[fake_driver]\ndelay_ms = 700\n").await;
    assert_eq!(
        host_states(&server).await,
        [
            "\"alpha\" \"up\" \"enabled\"",
            "\"beta\" \"up\" \"enabled\""
        ]
    );

    let image = cirros(&server).await;
    let alice = server.compute(ALICE, "latest");
    let admin = server.compute(ADMIN, "latest");
    let mut ids = Vec::new();
    for n in 0..4 {
        ids.push(boot(&alice, &image, &format!("vm{n}")).await);
    }
    let mut on_beta = Vec::new();
    let mut on_alpha = Vec::new();
    for id in &ids {
        let active = settled(&admin, id, "ACTIVE").await;
        assert_eq!(active["OS-EXT-STS:power_state"], 1);
        match host_of(&active) {
            "beta" => on_beta.push(id.clone()),
            "alpha" => on_alpha.push(id.clone()),
            other => panic!("scheduled on {other}"),
        }
        assert_eq!(
            active["OS-EXT-SRV-ATTR:hypervisor_hostname"],
            host_of(&active),
            "the node is the host's"
        );
    }
    assert_eq!(
        (on_alpha.len(), on_beta.len()),
        (2, 2),
        "round robin over both hosts"
    );

    // Actions on a server of the other host are run by that host's agent.
    let (b1, b2) = (on_beta[0].clone(), on_beta[1].clone());
    assert_eq!(
        act(&alice, &b1, json!({"os-stop": null})).await.status(),
        202
    );
    let stopped = settled(&admin, &b1, "SHUTOFF").await;
    assert_eq!(stopped["OS-EXT-STS:power_state"], 4);
    assert_eq!(
        act(&alice, &b1, json!({"os-start": null})).await.status(),
        202
    );
    settled(&admin, &b1, "ACTIVE").await;

    // Live migration, chosen by the scheduler: beta → alpha, watched
    // while it runs, then force-completed.
    assert_eq!(
        act(
            &admin,
            &b1,
            json!({"os-migrateLive": {"host": null, "block_migration": "auto"}})
        )
        .await
        .status(),
        202
    );
    let running = wait_for_live_migration(&admin, &b1, "running").await;
    assert_eq!(running["source_compute"], "beta");
    assert_eq!(running["dest_compute"], "alpha");
    let migration_path = format!("/servers/{b1}/migrations/{}", running["id"]);
    assert_eq!(
        admin
            .post(
                &format!("{migration_path}/action"),
                &json!({"force_complete": null})
            )
            .await
            .status(),
        202
    );
    let moved = settled(&admin, &b1, "ACTIVE").await;
    assert_eq!(host_of(&moved), "alpha");
    assert_eq!(moved["OS-EXT-STS:power_state"], 1);
    let done = newest_migration(&admin, &b1).await;
    assert_eq!(
        (&done["status"], &done["migration_type"]),
        (&json!("completed"), &json!("live-migration"))
    );
    let events = admin
        .get_ok(&format!("/servers/{b1}/os-instance-actions"))
        .await;
    let actions: Vec<&str> = events["instanceActions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"live-migration"), "{actions:?}");
    assert!(
        actions.contains(&"live_migration_force_complete"),
        "{actions:?}"
    );

    // A live migration aborted while it runs leaves the server where it was.
    assert_eq!(
        act(
            &admin,
            &b2,
            json!({"os-migrateLive": {"host": "alpha", "block_migration": false}})
        )
        .await
        .status(),
        202
    );
    let running = wait_for_live_migration(&admin, &b2, "running").await;
    let abort = admin
        .delete(&format!("/servers/{b2}/migrations/{}", running["id"]))
        .await;
    assert_eq!(abort.status(), 202);
    let stayed = settled(&admin, &b2, "ACTIVE").await;
    assert_eq!(host_of(&stayed), "beta");
    tokio::time::sleep(Duration::from_millis(900)).await;
    let stayed = settled(&admin, &b2, "ACTIVE").await;
    assert_eq!(host_of(&stayed), "beta");
    assert_eq!(stayed["OS-EXT-STS:power_state"], 1);
    assert_eq!(newest_migration(&admin, &b2).await["status"], "cancelled");
    // Live migrating to the host the server is on fails in the background.
    assert_eq!(
        act(
            &admin,
            &b2,
            json!({"os-migrateLive": {"host": "beta", "block_migration": "auto"}})
        )
        .await
        .status(),
        202
    );
    let same = settled(&admin, &b2, "ACTIVE").await;
    assert_eq!(host_of(&same), "beta");
    wait_for_migration_status(&admin, &b2, "error").await;
    assert_fault(
        act(
            &admin,
            &b2,
            json!({"os-migrateLive": {"host": "gamma", "block_migration": "auto"}}),
        )
        .await,
        400,
        "Compute host gamma could not be found.",
    )
    .await;

    // Cold migration to a named host (2.56), confirmed; the server has a
    // port (bound to its host) to carry along.
    let a1 = on_alpha[0].clone();
    let attached = alice
        .post(
            &format!("/servers/{a1}/os-interface"),
            &json!({"interfaceAttachment": {}}),
        )
        .await;
    assert_eq!(attached.status(), 200);
    let neutron = server.neutron(ADMIN);
    let binding = async || {
        neutron.get_ok(&format!("/ports?device_id={a1}")).await["ports"][0]["binding:host_id"]
            .clone()
    };
    assert_eq!(binding().await, "alpha");
    assert_eq!(
        act(&admin, &a1, json!({"migrate": {"host": "beta"}}))
            .await
            .status(),
        202
    );
    let verify = settled(&admin, &a1, "VERIFY_RESIZE").await;
    assert_eq!(host_of(&verify), "beta");
    assert_migration(&admin, &a1, ["migration", "finished", "alpha", "beta"]).await;
    assert_eq!(
        act(&alice, &a1, json!({"confirmResize": null}))
            .await
            .status(),
        204
    );
    let confirmed = settled(&admin, &a1, "ACTIVE").await;
    assert_eq!(host_of(&confirmed), "beta");
    assert_eq!(newest_migration(&admin, &a1).await["status"], "confirmed");
    assert_eq!(
        binding().await,
        "beta",
        "the port is bound where it runs now"
    );

    // Cold migration by the scheduler (beta → alpha), reverted: the server
    // goes back to beta, still running.
    assert_eq!(
        act(&admin, &a1, json!({"migrate": null})).await.status(),
        202
    );
    let verify = settled(&admin, &a1, "VERIFY_RESIZE").await;
    assert_eq!(host_of(&verify), "alpha");
    assert_eq!(
        act(&alice, &a1, json!({"revertResize": null}))
            .await
            .status(),
        202
    );
    let reverting = alice.get_ok(&format!("/servers/{a1}")).await;
    assert_eq!(reverting["server"]["status"], "REVERT_RESIZE");
    let reverted = settled(&admin, &a1, "ACTIVE").await;
    assert_eq!(host_of(&reverted), "beta");
    assert_eq!(reverted["OS-EXT-STS:power_state"], 1);
    assert_eq!(newest_migration(&admin, &a1).await["status"], "reverted");

    // Evacuation: refused while beta is up; once it is forced down, its
    // servers are rebuilt on alpha (a stopped one stays stopped).
    let mut extra_on_beta = Vec::new();
    for n in 0..4 {
        let id = boot(&alice, &image, &format!("extra{n}")).await;
        if host_of(&settled(&admin, &id, "ACTIVE").await) == "beta" {
            extra_on_beta.push(id);
        }
    }
    let [b3, b4] = <[String; 2]>::try_from(extra_on_beta).expect("two of four land on beta");
    assert_eq!(
        act(&alice, &b2, json!({"os-stop": null})).await.status(),
        202
    );
    settled(&admin, &b2, "SHUTOFF").await;
    assert_fault(
        act(&admin, &b2, json!({"evacuate": {}})).await,
        400,
        "Compute service of beta is still in use.",
    )
    .await;
    let beta = service_named(&server, "beta").await;
    let beta_path = format!("/os-services/{}", beta["id"].as_str().unwrap());
    let down = admin.put(&beta_path, &json!({"forced_down": true})).await;
    assert_eq!(json_of(down).await["service"]["state"], "down");
    let evacuated = server
        .compute(ADMIN, "2.13")
        .post(
            &format!("/servers/{b2}/action"),
            &json!({"evacuate": {"onSharedStorage": false}}),
        )
        .await;
    assert_eq!(evacuated.status(), 200);
    assert!(json_of(evacuated).await["adminPass"].is_string());
    let rebuilt = settled(&admin, &b2, "SHUTOFF").await;
    assert_eq!(host_of(&rebuilt), "alpha");
    assert_migration(&admin, &b2, ["evacuation", "done", "beta", "alpha"]).await;
    // From 2.14 nothing is returned; from 2.95 the evacuated server is
    // left stopped.
    let v214 = server
        .compute(ADMIN, "2.94")
        .post(
            &format!("/servers/{a1}/action"),
            &json!({"evacuate": {"host": "alpha"}}),
        )
        .await;
    assert_eq!(v214.status(), 200);
    assert_eq!(v214.text().await.unwrap(), "");
    assert_eq!(host_of(&settled(&admin, &a1, "ACTIVE").await), "alpha");
    let b3_evacuated = act(&admin, &b3, json!({"evacuate": {}})).await;
    assert_eq!(b3_evacuated.status(), 200);
    let stopped = settled(&admin, &b3, "SHUTOFF").await;
    assert_eq!(host_of(&stopped), "alpha");
    assert_eq!(stopped["OS-EXT-STS:power_state"], 4);

    // With beta down, new servers all go to alpha; beta hosts none now,
    // so once its agent is gone for good its service can be deleted.
    for n in 0..2 {
        let id = boot(&alice, &image, &format!("late{n}")).await;
        assert_eq!(host_of(&settled(&admin, &id, "ACTIVE").await), "alpha");
    }
    // A server whose host is down is deleted here (Nova's local delete);
    // the host's cold migration or resize is refused meanwhile.
    assert_fault(
        act(&alice, &b4, json!({"resize": {"flavorRef": "2"}})).await,
        409,
        "Service is unavailable at this time.",
    )
    .await;
    drop(beta_agent);
    assert_eq!(alice.delete(&format!("/servers/{b4}")).await.status(), 204);
    for _ in 0..500 {
        if alice.get(&format!("/servers/{b4}")).await.status() == 404 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(alice.get(&format!("/servers/{b4}")).await.status(), 404);
    assert_eq!(admin.delete(&beta_path).await.status(), 204);
    let left: Vec<Value> = services(&server).await;
    assert_eq!(left.len(), 1);
}

/// The newest migration of a server is of `[type, status, source, dest]`.
async fn assert_migration(admin: &Compute<'_>, id: &str, expected: [&str; 4]) {
    let m = newest_migration(admin, id).await;
    let keys = ["migration_type", "status", "source_compute", "dest_compute"];
    let got: Vec<&str> = keys
        .iter()
        .map(|k| m[k].as_str().unwrap_or_default())
        .collect();
    assert_eq!(got, expected, "{m}");
}

async fn wait_for_live_migration(admin: &Compute<'_>, id: &str, status: &str) -> Value {
    for _ in 0..750 {
        let found = admin.get_ok(&format!("/servers/{id}/migrations")).await;
        if let Some(m) = found["migrations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["status"] == status)
        {
            return m.clone();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no {status} live migration of {id}");
}

async fn wait_for_migration_status(admin: &Compute<'_>, id: &str, status: &str) {
    for _ in 0..750 {
        if newest_migration(admin, id).await["status"] == status {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the migration of {id} never became {status}");
}

#[tokio::test]
async fn os_migrations_pages_and_filters() {
    let server = start_alpha(None).await;
    let image = cirros(&server).await;
    let alice = server.compute(ALICE, "latest");
    let admin = server.compute(ADMIN, "latest");
    let id = boot(&alice, &image, "mover").await;
    settled(&admin, &id, "ACTIVE").await;
    // Three resizes (each confirmed) and a live migration that finds no host.
    for flavor in ["2", "3", "4"] {
        assert_eq!(
            act(&alice, &id, json!({"resize": {"flavorRef": flavor}}))
                .await
                .status(),
            202
        );
        settled(&admin, &id, "VERIFY_RESIZE").await;
        assert_eq!(
            act(&alice, &id, json!({"confirmResize": null}))
                .await
                .status(),
            204
        );
        settled(&admin, &id, "ACTIVE").await;
    }
    let live = json!({"os-migrateLive": {"host": null, "block_migration": "auto"}});
    assert_eq!(act(&admin, &id, live).await.status(), 202);
    wait_for_migration_status(&admin, &id, "error").await;

    let all = admin.get_ok("/os-migrations").await["migrations"].clone();
    let uuids: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["uuid"].as_str().unwrap())
        .collect();
    assert_eq!(uuids.len(), 4);
    let types: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["migration_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        ["live-migration", "resize", "resize", "resize"],
        "newest first"
    );

    // Pages of two, linked by the last UUID.
    let first = admin.get_ok("/os-migrations?limit=2").await;
    let page: Vec<&str> = first["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["uuid"].as_str().unwrap())
        .collect();
    assert_eq!(page, uuids[..2]);
    let next = first["migrations_links"][0]["href"].as_str().unwrap();
    assert_eq!(first["migrations_links"][0]["rel"], "next");
    assert!(
        next.ends_with(&format!("/os-migrations?limit=2&marker={}", uuids[1])),
        "{next}"
    );
    let second = admin
        .get_ok(&format!("/os-migrations?limit=2&marker={}", uuids[1]))
        .await;
    let page: Vec<&str> = second["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["uuid"].as_str().unwrap())
        .collect();
    assert_eq!(page, uuids[2..]);
    let last = admin
        .get_ok(&format!("/os-migrations?marker={}", uuids[3]))
        .await;
    assert_eq!(last["migrations"], json!([]));
    assert!(last.get("migrations_links").is_none(), "{last}");
    assert_fault(
        admin.get("/os-migrations?marker=nope").await,
        400,
        "Marker nope could not be found.",
    )
    .await;

    // Filters.
    let count = |body: Value| body["migrations"].as_array().unwrap().len();
    for (query, expected) in [
        ("host=alpha", 4),
        ("host=beta", 0),
        ("source_compute=alpha", 4),
        ("migration_type=resize", 3),
        ("status=error", 1),
        ("user_id=alice", 3),
        ("user_id=admin", 1),
        ("project_id=proj-b", 0),
        ("changes-since=2000-01-01T00:00:00Z", 4),
        ("changes-since=2999-01-01T00:00:00Z", 0),
        ("changes-before=2000-01-01T00:00:00Z", 0),
    ] {
        let found = admin.get_ok(&format!("/os-migrations?{query}")).await;
        assert_eq!(count(found), expected, "{query}");
    }
    assert_fault(
        admin
            .get("/os-migrations?changes-since=2020-01-02T00:00:00Z&changes-before=2020-01-01T00:00:00Z")
            .await,
        400,
        "The value of changes-since must be less than or equal to changes-before.",
    )
    .await;
    // Each parameter only from its version; before 2.59 anything goes.
    let at = |version: &str| server.compute(ADMIN, version);
    for (version, query) in [
        ("2.59", "colour=red"),
        ("2.59", "limit=-1"),
        ("2.59", "limit=1&limit=2"),
        ("2.59", "changes-since=yesterday"),
        ("2.65", "changes-before=2020-01-01T00:00:00Z"),
        ("2.79", "user_id=alice"),
    ] {
        assert_eq!(
            at(version)
                .get(&format!("/os-migrations?{query}"))
                .await
                .status(),
            400,
            "{version} {query}"
        );
    }
    let old = at("2.58").get_ok("/os-migrations?colour=red&limit=1").await;
    assert_eq!(
        count(old.clone()),
        4,
        "2.58 ignores paging and unknown parameters"
    );
    assert!(old["migrations"][0].get("uuid").is_none());

    // Listing every project's migrations is for admins.
    assert_fault(
        alice.get("/os-migrations?project_id=proj-a").await,
        403,
        "Policy doesn't allow os_compute_api:os-migrations:index to be performed.",
    )
    .await;
}

#[tokio::test]
async fn an_embedded_cloud_keeps_its_host_when_the_machine_name_changes() {
    let first = start_alpha(None).await;
    let image = cirros(&first).await;
    let id = boot(&first.compute(ALICE, "latest"), &image, "kept").await;
    settled(&first.compute(ADMIN, "latest"), &id, "ACTIVE").await;
    let data_dir = first.stop();
    // Restarted without a host name (as in a new container, whose machine
    // name differs): the data directory's one host is still this one.
    let again = Server::start_in(
        data_dir,
        Options {
            args: vec!["--auth".into(), "noauth".into()],
            ..Options::default()
        },
    )
    .await;
    let listed = services(&again).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(
        (&listed[0]["host"], &listed[0]["state"]),
        (&json!("alpha"), &json!("up"))
    );
    let alice = again.compute(ALICE, "latest");
    assert_eq!(
        act(&alice, &id, json!({"os-stop": null})).await.status(),
        202
    );
    let stopped = settled(&again.compute(ADMIN, "latest"), &id, "SHUTOFF").await;
    assert_eq!(host_of(&stopped), "alpha");

    // Renamed on purpose: new servers go to the new host, and the old
    // host's servers still answer — one process runs everything here.
    let data_dir = again.stop();
    let renamed = Server::start_in(
        data_dir,
        Options {
            args: vec![
                "--auth".into(),
                "noauth".into(),
                "--host".into(),
                "omega".into(),
            ],
            ..Options::default()
        },
    )
    .await;
    let (alice, admin) = (
        renamed.compute(ALICE, "latest"),
        renamed.compute(ADMIN, "latest"),
    );
    assert_eq!(
        act(&alice, &id, json!({"os-start": null})).await.status(),
        202
    );
    assert_eq!(host_of(&settled(&admin, &id, "ACTIVE").await), "alpha");
    let image = cirros(&renamed).await;
    let fresh = boot(&alice, &image, "fresh").await;
    assert_eq!(host_of(&settled(&admin, &fresh, "ACTIVE").await), "omega");
}

#[tokio::test]
async fn os_hypervisors_show_each_host_and_its_use() {
    let server = start_alpha(None).await;
    let image = cirros(&server).await;
    let alice = server.compute(ALICE, "latest");
    let admin = server.compute(ADMIN, "latest");
    let mut ids = Vec::new();
    for n in 0..2 {
        let id = boot(&alice, &image, &format!("guest{n}")).await;
        settled(&admin, &id, "ACTIVE").await;
        ids.push(id);
    }
    let at = |version: &str| server.compute(ADMIN, version);

    assert_fault(
        alice.get("/os-hypervisors").await,
        403,
        "Policy doesn't allow os_compute_api:os-hypervisors:list to be performed.",
    )
    .await;
    let listed = at("2.1").get_ok("/os-hypervisors").await;
    let only = &listed["hypervisors"][0];
    let mut keys: Vec<&String> = only.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["hypervisor_hostname", "id", "state", "status"]);
    assert_eq!(
        (
            &only["hypervisor_hostname"],
            &only["state"],
            &only["status"]
        ),
        (&json!("alpha"), &json!("up"), &json!("enabled"))
    );
    let number = only["id"].as_i64().expect("a number before 2.53");

    // Before 2.88 the resource figures, with what the two servers use.
    let old = at("2.1").get_ok("/os-hypervisors/detail").await["hypervisors"][0].clone();
    let figures: Vec<i64> = [
        "vcpus",
        "memory_mb",
        "local_gb",
        "vcpus_used",
        "memory_mb_used",
        "local_gb_used",
        "free_ram_mb",
        "running_vms",
        "current_workload",
    ]
    .iter()
    .map(|k| old[*k].as_i64().unwrap_or(-1))
    .collect();
    assert_eq!(
        figures,
        [1000, 800_000, 600_000, 2, 1024, 2, 798_976, 2, 0],
        "{old}"
    );
    assert_eq!(
        (&old["hypervisor_type"], &old["host_ip"]),
        (&json!("fake"), &json!("127.0.0.1"))
    );
    assert_eq!(old["cpu_info"], "{}");
    assert_eq!(
        old["service"],
        json!({"id": number, "host": "alpha", "disabled_reason": null})
    );
    let v228 = at("2.28")
        .get_ok(&format!("/os-hypervisors/{number}"))
        .await;
    assert_eq!(v228["hypervisor"]["cpu_info"], json!({}));
    let v288 = at("2.88").get_ok("/os-hypervisors/detail").await["hypervisors"][0].clone();
    assert!(
        v288.get("vcpus").is_none() && v288.get("cpu_info").is_none(),
        "{v288}"
    );
    assert_eq!(v288["uptime"], Value::Null);

    // From 2.53: UUIDs, hosted servers, name patterns.
    let v253 = at("2.53");
    let found = v253.get_ok("/os-hypervisors?with_servers=true").await["hypervisors"][0].clone();
    let uuid = found["id"].as_str().unwrap().to_owned();
    assert!(uuid::Uuid::parse_str(&uuid).is_ok(), "{found}");
    let mut hosted: Vec<&str> = found["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["uuid"].as_str().unwrap())
        .collect();
    hosted.sort();
    let mut expected: Vec<&str> = ids.iter().map(String::as_str).collect();
    expected.sort();
    assert_eq!(hosted, expected);
    let shown = v253
        .get_ok(&format!("/os-hypervisors/{uuid}?with_servers=1"))
        .await;
    assert_eq!(shown["hypervisor"]["servers"].as_array().unwrap().len(), 2);
    assert!(shown["hypervisor"]["service"]["id"].is_string());
    let matched = v253
        .get_ok("/os-hypervisors/detail?hypervisor_hostname_pattern=lph")
        .await;
    assert_eq!(matched["hypervisors"].as_array().unwrap().len(), 1);
    assert_fault(
        v253.get("/os-hypervisors?hypervisor_hostname_pattern=zzz")
            .await,
        404,
        "No hypervisor matching 'zzz' could be found.",
    )
    .await;
    assert_fault(
        v253.get("/os-hypervisors?hypervisor_hostname_pattern=a&limit=1").await,
        400,
        "Paging over hypervisors with the hypervisor_hostname_pattern query parameter is not supported.",
    )
    .await;
    assert_eq!(v253.get("/os-hypervisors?colour=red").await.status(), 400);
    assert_eq!(
        at("2.52").get("/os-hypervisors?colour=red").await.status(),
        200
    );
    assert_fault(
        v253.get("/os-hypervisors/abc").await,
        400,
        "Invalid uuid abc",
    )
    .await;
    let unknown = "9a6b7a3e-3f0f-4b5e-9d71-6d1f0e0c2a11";
    assert_fault(
        v253.get(&format!("/os-hypervisors/{unknown}")).await,
        404,
        &format!("Hypervisor with ID '{unknown}' could not be found."),
    )
    .await;
    assert_fault(
        at("2.1").get("/os-hypervisors/abc").await,
        404,
        "Hypervisor with ID 'abc' could not be found.",
    )
    .await;

    // Paging (2.33), by id.
    let page = at("2.33").get_ok("/os-hypervisors?limit=1").await;
    assert_eq!(page["hypervisors"].as_array().unwrap().len(), 1);
    let next = page["hypervisors_links"][0]["href"].as_str().unwrap();
    assert!(
        next.ends_with(&format!("/os-hypervisors?limit=1&marker={number}")),
        "{next}"
    );
    let rest = at("2.33")
        .get_ok(&format!("/os-hypervisors?limit=1&marker={number}"))
        .await;
    assert_eq!(rest["hypervisors"], json!([]));
    assert_fault(
        at("2.33").get("/os-hypervisors?marker=999").await,
        400,
        "marker [999] not found",
    )
    .await;

    // The routes later versions dropped.
    let stats = at("2.87").get_ok("/os-hypervisors/statistics").await;
    assert_eq!(
        (
            &stats["hypervisor_statistics"]["count"],
            &stats["hypervisor_statistics"]["running_vms"]
        ),
        (&json!(1), &json!(2))
    );
    assert_eq!(
        at("2.88").get("/os-hypervisors/statistics").await.status(),
        404
    );
    let up = at("2.1")
        .get_ok(&format!("/os-hypervisors/{number}/uptime"))
        .await;
    assert!(
        up["hypervisor"]["uptime"]
            .as_str()
            .unwrap()
            .contains(" up 0 days,"),
        "{up}"
    );
    assert_eq!(
        at("2.88")
            .get(&format!("/os-hypervisors/{uuid}/uptime"))
            .await
            .status(),
        404
    );
    let searched = at("2.1").get_ok("/os-hypervisors/alp/search").await;
    assert_eq!(searched["hypervisors"][0]["hypervisor_hostname"], "alpha");
    assert!(searched["hypervisors"][0].get("servers").is_none());
    let with = at("2.1").get_ok("/os-hypervisors/alp/servers").await;
    assert_eq!(
        with["hypervisors"][0]["servers"].as_array().unwrap().len(),
        2
    );
    assert_eq!(
        at("2.53").get("/os-hypervisors/alp/search").await.status(),
        404
    );
    assert_fault(
        at("2.1").get("/os-hypervisors/zzz/servers").await,
        404,
        "No hypervisor matching 'zzz' could be found.",
    )
    .await;
}

#[tokio::test]
async fn server_group_policies_place_servers_over_two_hosts_on_postgresql() {
    let Some(url) = common::scratch_postgres_database("server group placement").await else {
        return;
    };
    let server = start_alpha(Some(url.clone())).await;
    let _beta = Agent::start("beta", &url, "").await;
    let image = cirros(&server).await;
    let admin = server.compute(ADMIN, "latest");
    let new_group = async |policy: &str| {
        let body = json!({"server_group": {"name": policy, "policy": policy}});
        let response = admin.post("/os-server-groups", &body).await;
        assert_eq!(response.status(), 200);
        json_of(response).await["server_group"]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let hosts_of = async |ids: &[String]| {
        let mut hosts = Vec::new();
        for id in ids {
            hosts.push(host_of(&settled(&admin, id, "ACTIVE").await).to_owned());
        }
        hosts
    };

    // Anti-affinity: the two servers of one request on different hosts.
    let anti = new_group("anti-affinity").await;
    let spread = boot_into_group(&admin, &image, "spread", &anti, 2).await;
    let mut hosts = hosts_of(&spread).await;
    hosts.sort();
    assert_eq!(hosts, ["alpha", "beta"]);
    // Each host has one: a third cannot go anywhere, nor can either move.
    let third = boot_into_group(&admin, &image, "third", &anti, 1).await;
    let failed = settled(&admin, &third[0], "ERROR").await;
    assert_eq!(
        failed["fault"]["message"],
        "No valid host was found. There are not enough hosts available."
    );
    assert_fault(
        act(&admin, &spread[0], json!({"migrate": null})).await,
        400,
        "No valid host was found. No valid host found for cold migrate",
    )
    .await;
    for id in spread.iter().chain(&third) {
        assert_eq!(admin.delete(&format!("/servers/{id}")).await.status(), 204);
    }

    // Affinity: wherever the first went, the rest follow.
    let affinity = new_group("affinity").await;
    let together = boot_into_group(&admin, &image, "together", &affinity, 3).await;
    let hosts = hosts_of(&together).await;
    assert!(hosts.iter().all(|h| *h == hosts[0]), "{hosts:?}");

    // os-hosts and diagnostics for a host another process runs: what the
    // database knows is answered, its hypervisor cannot be asked (501).
    let v21 = server.compute(ADMIN, "2.1");
    let listed = v21.get_ok("/os-hosts").await;
    assert_eq!(listed["hosts"].as_array().unwrap().len(), 2, "{listed}");
    let shown = v21.get_ok("/os-hosts/beta").await;
    assert_eq!(shown["host"][0]["resource"]["project"], "(total)");
    let unsupported = "The requested functionality is not supported.";
    assert_fault(v21.get("/os-hosts/beta/reboot").await, 501, unsupported).await;
    assert_fault(
        v21.put("/os-hosts/beta", &json!({"maintenance_mode": "enable"}))
            .await,
        501,
        unsupported,
    )
    .await;
    let body = json!({"server": {"name": "on-beta", "imageRef": image, "flavorRef": "1",
                                 "networks": "none", "host": "beta"}});
    let made = json_of(admin.post("/servers", &body).await).await;
    let on_beta = made["server"]["id"].as_str().unwrap().to_owned();
    settled(&admin, &on_beta, "ACTIVE").await;
    assert_fault(
        v21.get(&format!("/servers/{on_beta}/diagnostics")).await,
        501,
        unsupported,
    )
    .await;
    let disabled = v21
        .put("/os-hosts/beta", &json!({"status": "disable"}))
        .await;
    assert_eq!(
        json_of(disabled).await,
        json!({"host": "beta", "status": "disabled"})
    );
}

#[tokio::test]
async fn one_embedded_process_runs_several_fake_hosts() {
    let server = Server::start_with(Options {
        args: ["--auth", "noauth", "--host", "alpha", "--fake-hosts", "3"]
            .iter()
            .map(|a| (*a).to_owned())
            .collect(),
        ..Options::default()
    })
    .await;
    assert_eq!(
        host_states(&server).await,
        [
            "\"alpha\" \"up\" \"enabled\"",
            "\"alpha-2\" \"up\" \"enabled\"",
            "\"alpha-3\" \"up\" \"enabled\""
        ]
    );
    let image = cirros(&server).await;
    let admin = server.compute(ADMIN, "latest");
    let body = json!({"server_group": {"name": "spread", "policy": "anti-affinity"}});
    let group = json_of(admin.post("/os-server-groups", &body).await).await["server_group"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let ids = boot_into_group(&admin, &image, "spread", &group, 3).await;
    let mut placed = Vec::new();
    for id in &ids {
        placed.push(host_of(&settled(&admin, id, "ACTIVE").await).to_owned());
    }
    placed.sort();
    assert_eq!(placed, ["alpha", "alpha-2", "alpha-3"]);

    // Servers move between the process's hosts, and each host's
    // hypervisor answers for its own servers.
    let plain = boot(&admin, &image, "mover").await;
    let before = host_of(&settled(&admin, &plain, "ACTIVE").await).to_owned();
    let response = act(
        &admin,
        &plain,
        json!({"os-migrateLive": {"host": null, "block_migration": "auto"}}),
    )
    .await;
    assert_eq!(response.status(), 202);
    let moved = wait_until(&admin, &plain, "moved", |s| {
        s["status"] == "ACTIVE" && s["OS-EXT-STS:task_state"].is_null() && host_of(s) != before
    })
    .await;
    assert_ne!(host_of(&moved), before);
    let response = act(&admin, &plain, json!({"migrate": null})).await;
    assert_eq!(response.status(), 202);
    settled(&admin, &plain, "VERIFY_RESIZE").await;
    assert_eq!(
        act(&admin, &plain, json!({"confirmResize": null}))
            .await
            .status(),
        204
    );
    let confirmed = settled(&admin, &plain, "ACTIVE").await;
    assert_ne!(host_of(&confirmed), host_of(&moved));
    let log = act(
        &admin,
        &plain,
        json!({"os-getConsoleOutput": {"length": 5}}),
    )
    .await;
    assert_eq!(log.status(), 200);
}

/// Boots `name` with scheduler hints `hints` (as admin, latest); its id.
async fn boot_hinted(c: &Compute<'_>, image: &str, name: &str, hints: Value) -> String {
    let body = json!({"server": {"name": name, "imageRef": image, "flavorRef": "1",
                                 "networks": "none"},
                      "os:scheduler_hints": hints});
    let response = c.post("/servers", &body).await;
    let status = response.status();
    let made = json_of(response).await;
    assert_eq!(status, 202, "{made}");
    made["server"]["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn same_host_and_different_host_hints_choose_among_hosts() {
    let server = Server::start_noauth_hosts(3).await;
    let image = cirros(&server).await;
    let admin = server.compute(ADMIN, "latest");
    let first = boot(&admin, &image, "first").await;
    let first_host = host_of(&settled(&admin, &first, "ACTIVE").await).to_owned();

    // Beside it, as often as asked.
    for n in 0..3 {
        let id = boot_hinted(
            &admin,
            &image,
            &format!("near-{n}"),
            json!({"same_host": first}),
        )
        .await;
        let placed = settled(&admin, &id, "ACTIVE").await;
        assert_eq!(host_of(&placed), first_host);
    }
    // Away from it, and away from a list of servers.
    let away = boot_hinted(&admin, &image, "away", json!({"different_host": [first]})).await;
    let away_host = host_of(&settled(&admin, &away, "ACTIVE").await).to_owned();
    assert_ne!(away_host, first_host);
    let third = boot_hinted(
        &admin,
        &image,
        "third",
        json!({"different_host": [first, away]}),
    )
    .await;
    let third_host = host_of(&settled(&admin, &third, "ACTIVE").await).to_owned();
    assert!(
        third_host != first_host && third_host != away_host,
        "{third_host}"
    );
    // No host left: Nova's NoValidHost.
    let none = boot_hinted(
        &admin,
        &image,
        "none",
        json!({"different_host": [first, away, third]}),
    )
    .await;
    let failed = settled(&admin, &none, "ERROR").await;
    assert!(
        failed["fault"]["message"]
            .as_str()
            .unwrap()
            .starts_with("No valid host was found."),
        "{failed}"
    );
    // Servers that run nowhere leave no host to share.
    let missing = "00000000-0000-0000-0000-000000000000";
    let lonely = boot_hinted(&admin, &image, "lonely", json!({"same_host": missing})).await;
    settled(&admin, &lonely, "ERROR").await;

    // A move keeps to the hints: the only other host allowed is taken.
    let response = act(&admin, &away, json!({"migrate": null})).await;
    assert_eq!(response.status(), 202);
    let moved = wait_until(&admin, &away, "resized", |s| s["status"] == "VERIFY_RESIZE").await;
    assert_eq!(host_of(&moved), third_host);
}
