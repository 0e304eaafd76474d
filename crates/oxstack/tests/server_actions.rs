//! `POST /servers/{id}/action`, black-box: every action of the table with
//! its resulting state, the states it refuses (409 with Nova's message),
//! locks, tenancy, readers, bad bodies, microversion gates, transient task
//! states with a slow fake driver, failures, and racing requests.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::time::Duration;

use common::{Compute, Options, Server, assert_fault, cirros, json_of};
use serde_json::{Value, json};

const ADMIN: &str = "admin:admin";
const ALICE: &str = "alice:proj-a";
const BOB: &str = "bob:proj-b";

/// Boots an ACTIVE server and returns its id.
async fn active_server(c: &Compute<'_>, image: &str) -> String {
    let body = json!({"server": {"name": "acted", "imageRef": image, "flavorRef": "1", "networks": "none"}});
    let response = c.post("/servers", &body).await;
    assert_eq!(response.status(), 202);
    let id = json_of(response).await["server"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    wait_for(c, &id, "ACTIVE").await;
    id
}

async fn show(c: &Compute<'_>, id: &str) -> Value {
    c.get_ok(&format!("/servers/{id}")).await["server"].clone()
}

/// Polls until the server settles in `status` with no task (10 s at most).
async fn wait_for(c: &Compute<'_>, id: &str, status: &str) -> Value {
    for _ in 0..500 {
        let s = show(c, id).await;
        if s["status"] == status && s["OS-EXT-STS:task_state"].is_null() {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!(
        "server {id} never settled in {status}: {}",
        show(c, id).await
    );
}

async fn act(c: &Compute<'_>, id: &str, body: Value) -> reqwest::Response {
    c.post(&format!("/servers/{id}/action"), &body).await
}

#[tokio::test]
async fn the_power_actions_walk_the_state_machine() {
    let server = Server::start_noauth().await;
    let image = cirros(&server).await;
    let c = server.compute(ALICE, "latest");
    let id = active_server(&c, &image).await;
    let refused = |action: &str, attr: &str, state: &str| {
        format!("Cannot '{action}' instance {id} while it is in {attr} {state}")
    };
    // (action body, status reached, power state)
    let steps = [
        (json!({"os-stop": null}), "SHUTOFF", 4),
        (json!({"os-start": null}), "ACTIVE", 1),
        (json!({"pause": null}), "PAUSED", 3),
        (json!({"unpause": null}), "ACTIVE", 1),
        (json!({"suspend": null}), "SUSPENDED", 7),
        (json!({"resume": null}), "ACTIVE", 1),
        (json!({"reboot": {"type": "SOFT"}}), "ACTIVE", 1),
        (json!({"os-stop": null}), "SHUTOFF", 4),
        (json!({"reboot": {"type": "hard"}}), "ACTIVE", 1),
        (
            json!({"changePassword": {"adminPass": "s3cret"}}),
            "ACTIVE",
            1,
        ),
        (json!({"trigger_crash_dump": null}), "ACTIVE", 1),
    ];
    for (body, status, power) in steps {
        let response = act(&c, &id, body.clone()).await;
        assert_eq!(
            response.status(),
            202,
            "{body}: {}",
            json_of(response).await
        );
        let s = wait_for(&c, &id, status).await;
        assert_eq!(s["OS-EXT-STS:power_state"], power, "{body}");
    }
    // Refused states, with Nova's messages.
    assert_fault(
        act(&c, &id, json!({"os-start": null})).await,
        409,
        &refused("start", "vm_state", "active"),
    )
    .await;
    assert_fault(
        act(&c, &id, json!({"unpause": null})).await,
        409,
        &refused("unpause", "vm_state", "active"),
    )
    .await;
    assert_fault(
        act(&c, &id, json!({"resume": null})).await,
        409,
        &refused("resume", "vm_state", "active"),
    )
    .await;
    assert_fault(
        act(&c, &id, json!({"unrescue": null})).await,
        409,
        &refused("unrescue", "vm_state", "active"),
    )
    .await;
    act(&c, &id, json!({"pause": null})).await;
    wait_for(&c, &id, "PAUSED").await;
    assert_fault(
        act(&c, &id, json!({"os-stop": null})).await,
        409,
        &refused("stop", "vm_state", "paused"),
    )
    .await;
    assert_fault(
        act(&c, &id, json!({"reboot": {"type": "SOFT"}})).await,
        409,
        &refused("reboot", "vm_state", "paused"),
    )
    .await;
    assert_fault(
        act(&c, &id, json!({"suspend": null})).await,
        409,
        &refused("suspend", "vm_state", "paused"),
    )
    .await;
    // A hard reboot brings a paused server back.
    assert_eq!(
        act(&c, &id, json!({"reboot": {"type": "HARD"}}))
            .await
            .status(),
        202
    );
    wait_for(&c, &id, "ACTIVE").await;
    // Rescue answers 200 with the password, and unrescue returns.
    let rescued = act(&c, &id, json!({"rescue": {"adminPass": "rescue-me"}})).await;
    assert_eq!(rescued.status(), 200);
    assert_eq!(json_of(rescued).await, json!({"adminPass": "rescue-me"}));
    wait_for(&c, &id, "RESCUE").await;
    assert_fault(
        act(&c, &id, json!({"os-stop": null})).await,
        409,
        &refused("stop", "vm_state", "rescued"),
    )
    .await;
    assert_eq!(act(&c, &id, json!({"unrescue": null})).await.status(), 202);
    wait_for(&c, &id, "ACTIVE").await;
    let generated = json_of(act(&c, &id, json!({"rescue": null})).await).await;
    assert_eq!(generated["adminPass"].as_str().unwrap().len(), 12);
}

#[tokio::test]
async fn bad_bodies_versions_locks_tenancy_and_policy() {
    let server = Server::start_noauth().await;
    let image = cirros(&server).await;
    let c = server.compute(ALICE, "latest");
    let id = active_server(&c, &image).await;
    assert_fault(
        act(&c, &id, json!({"reboot": {"type": "GENTLE"}})).await,
        400,
        "Invalid input for field/attribute type. Value: GENTLE. 'GENTLE' is not one of ['HARD', 'Hard', 'hard', 'SOFT', 'Soft', 'soft']",
    )
    .await;
    assert_fault(
        act(&c, &id, json!({"reboot": {}})).await,
        400,
        "Invalid input for field/attribute reboot. Value: {}. 'type' is a required property",
    )
    .await;
    assert_fault(
        act(&c, &id, json!({"changePassword": {"adminPass": "x", "extra": 1}})).await,
        400,
        "Invalid input for field/attribute changePassword. Value: {'adminPass': 'x', 'extra': 1}. Additional properties are not allowed ('extra' was unexpected)",
    )
    .await;
    assert_fault(
        act(&c, &id, json!({"dance": null})).await,
        400,
        "There is no such action: dance",
    )
    .await;
    assert_fault(
        act(
            &server.compute(ALICE, "2.16"),
            &id,
            json!({"trigger_crash_dump": null}),
        )
        .await,
        404,
        "The resource could not be found.",
    )
    .await;
    assert_eq!(
        act(&c, &id, json!({"resetNetwork": null})).await.status(),
        410
    );
    // Locked: the owner is refused, an admin may act.
    assert_eq!(act(&c, &id, json!({"lock": null})).await.status(), 202);
    assert_fault(
        act(&c, &id, json!({"os-stop": null})).await,
        409,
        &format!("Instance {id} is locked"),
    )
    .await;
    let admin = server.compute(ADMIN, "latest");
    assert_eq!(
        act(&admin, &id, json!({"os-stop": null})).await.status(),
        202
    );
    wait_for(&c, &id, "SHUTOFF").await;
    assert_eq!(act(&c, &id, json!({"unlock": null})).await.status(), 202);
    // Another project's server does not exist for bob.
    let bob = server.compute(BOB, "latest");
    assert_fault(
        act(&bob, &id, json!({"os-start": null})).await,
        404,
        &format!("Instance {id} could not be found."),
    )
    .await;
    // Admin-only actions.
    assert_fault(
        act(&c, &id, json!({"os-resetState": {"state": "error"}})).await,
        403,
        "Policy doesn't allow os_compute_api:os-admin-actions:reset_state to be performed.",
    )
    .await;
    assert_eq!(
        act(&admin, &id, json!({"os-resetState": {"state": "error"}}))
            .await
            .status(),
        202
    );
    assert_eq!(show(&c, &id).await["status"], "ERROR");
    assert_eq!(
        act(&admin, &id, json!({"os-resetState": {"state": "active"}}))
            .await
            .status(),
        202
    );
    assert_eq!(show(&c, &id).await["status"], "ACTIVE");
    let log = c
        .get_ok(&format!("/servers/{id}/os-instance-actions"))
        .await;
    assert_eq!(log["instanceActions"][0]["action"], "resetState");
    // The console log.
    let output = act(&c, &id, json!({"os-getConsoleOutput": {"length": 2}})).await;
    assert_eq!(output.status(), 200);
    let text = json_of(output).await["output"].as_str().unwrap().to_owned();
    assert_eq!(text.lines().count(), 2);
    assert_eq!(
        act(&admin, &id, json!({"injectNetworkInfo": null}))
            .await
            .status(),
        202
    );
}

#[tokio::test]
async fn transient_task_states_are_visible_and_racing_requests_get_one_202() {
    let server = Server::start_with(Options {
        args: vec!["--auth".into(), "noauth".into()],
        config_toml: Some("[fake_driver]\ndelay_ms = 400\n".into()),
        ..Default::default()
    })
    .await;
    let image = cirros(&server).await;
    let c = server.compute(ALICE, "latest");
    let id = active_server(&c, &image).await;
    let reboots = (0..20).map(|_| act(&c, &id, json!({"reboot": {"type": "SOFT"}})));
    let responses = futures_util::future::join_all(reboots).await;
    let accepted = responses.iter().filter(|r| r.status() == 202).count();
    let conflicts = responses.iter().filter(|r| r.status() == 409).count();
    assert_eq!((accepted, conflicts), (1, 19));
    let during = show(&c, &id).await;
    assert_eq!(during["status"], "REBOOT");
    assert!(
        during["OS-EXT-STS:task_state"]
            .as_str()
            .unwrap()
            .starts_with("reboot")
    );
    // The reboot walks reboot_pending -> reboot_started meanwhile, so the
    // message names whichever of them the refusal saw.
    let refused = act(&c, &id, json!({"os-stop": null})).await;
    assert_eq!(refused.status(), 409);
    let message = json_of(refused).await["conflictingRequest"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    let prefix = format!("Cannot 'stop' instance {id} while it is in task_state ");
    let state = message.strip_prefix(&prefix).unwrap_or_default();
    assert!(state.starts_with("reboot"), "{message}");
    wait_for(&c, &id, "ACTIVE").await;
    assert_eq!(act(&c, &id, json!({"os-stop": null})).await.status(), 202);
    let stopping = show(&c, &id).await;
    assert_eq!(
        (
            stopping["status"].as_str(),
            stopping["OS-EXT-STS:task_state"].as_str()
        ),
        (Some("ACTIVE"), Some("powering-off"))
    );
    wait_for(&c, &id, "SHUTOFF").await;
}

#[tokio::test]
async fn a_failed_action_reverts_its_task_and_a_restart_finishes_interrupted_ones() {
    let options = Options {
        args: vec!["--auth".into(), "noauth".into()],
        config_toml: Some("[fake_driver]\nfail = [\"pause\"]\ndelay_ms = 300\n".into()),
        ..Default::default()
    };
    let server = Server::start_with(options).await;
    let image = cirros(&server).await;
    let c = server.compute(ALICE, "latest");
    let id = active_server(&c, &image).await;
    assert_eq!(act(&c, &id, json!({"pause": null})).await.status(), 202);
    let after = wait_for(&c, &id, "ACTIVE").await;
    assert_eq!(after["OS-EXT-STS:power_state"], 1);
    // Interrupt a stop: the restarted service finishes it.
    assert_eq!(act(&c, &id, json!({"os-stop": null})).await.status(), 202);
    let dir = server.stop();
    let server = Server::start_in(
        dir,
        Options {
            args: vec!["--auth".into(), "noauth".into()],
            ..Default::default()
        },
    )
    .await;
    let c = server.compute(ALICE, "latest");
    wait_for(&c, &id, "SHUTOFF").await;
}

#[tokio::test]
async fn instance_actions_record_what_happened() {
    let server = Server::start_with(Options {
        args: vec!["--auth".into(), "noauth".into()],
        config_toml: Some("[fake_driver]\nfail = [\"suspend\"]\n".into()),
        ..Default::default()
    })
    .await;
    let image = cirros(&server).await;
    let c = server.compute(ALICE, "latest");
    let id = active_server(&c, &image).await;
    let stop = act(&c, &id, json!({"os-stop": null})).await;
    let stop_request = stop.headers()["x-openstack-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    wait_for(&c, &id, "SHUTOFF").await;
    act(&c, &id, json!({"os-start": null})).await;
    wait_for(&c, &id, "ACTIVE").await;
    act(&c, &id, json!({"suspend": null})).await;
    wait_for(&c, &id, "ACTIVE").await;
    let path = format!("/servers/{id}/os-instance-actions");
    let list = c.get_ok(&path).await;
    let names: Vec<&str> = list["instanceActions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["suspend", "start", "stop", "create"]);
    let newest = &list["instanceActions"][0];
    assert_eq!(newest["message"], "Error");
    assert_eq!(newest["user_id"], "alice");
    assert!(newest["updated_at"].is_string());
    assert!(
        newest["start_time"].as_str().unwrap().contains('.'),
        "naive microseconds"
    );
    // One action with its event.
    let shown = c.get_ok(&format!("{path}/{stop_request}")).await["instanceAction"].clone();
    assert_eq!(shown["action"], "stop");
    assert_eq!(shown["request_id"], stop_request.as_str());
    let event = &shown["events"][0];
    assert_eq!(event["event"], "compute_stop_instance");
    assert_eq!(event["result"], "Success");
    assert_eq!(event["hostId"].as_str().unwrap().len(), 56);
    assert!(
        event.get("host").is_none() && event.get("traceback").is_none(),
        "admin only"
    );
    let failed_id = newest["request_id"].as_str().unwrap();
    let failed = c.get_ok(&format!("{path}/{failed_id}")).await["instanceAction"].clone();
    assert_eq!(failed["events"][0]["result"], "Error");
    assert!(
        failed["events"][0].get("details").is_none(),
        "details are for admins"
    );
    let failed_admin = server
        .compute(ADMIN, "latest")
        .get_ok(&format!("{path}/{failed_id}"))
        .await;
    assert!(
        failed_admin["instanceAction"]["events"][0]["details"]
            .as_str()
            .unwrap()
            .contains("suspend")
    );
    // Microversion shapes.
    let v250 = server
        .compute(ALICE, "2.50")
        .get_ok(&format!("{path}/{stop_request}"))
        .await;
    assert!(
        v250["instanceAction"].get("events").is_none(),
        "events for admins only before 2.51"
    );
    let v251 = server
        .compute(ALICE, "2.51")
        .get_ok(&format!("{path}/{stop_request}"))
        .await;
    assert!(v251["instanceAction"]["events"][0].get("hostId").is_none());
    assert!(v251["instanceAction"].get("updated_at").is_none());
    let admin = server
        .compute(ADMIN, "latest")
        .get_ok(&format!("{path}/{stop_request}"))
        .await;
    assert!(admin["instanceAction"]["events"][0]["host"].is_string());
    // Paging from 2.58.
    let page = c.get_ok(&format!("{path}?limit=2")).await;
    assert_eq!(page["instanceActions"].as_array().unwrap().len(), 2);
    assert!(
        page["links"][0]["href"]
            .as_str()
            .unwrap()
            .contains("marker=")
    );
    let marker = page["instanceActions"][1]["request_id"].as_str().unwrap();
    let rest = c.get_ok(&format!("{path}?limit=2&marker={marker}")).await;
    let rest_names: Vec<&str> = rest["instanceActions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert_eq!(rest_names, ["stop", "create"]);
    assert_fault(
        c.get(&format!("{path}?marker=req-nope")).await,
        400,
        "Marker req-nope could not be found.",
    )
    .await;
    assert_fault(
        c.get(&format!("{path}/req-nope")).await,
        404,
        &format!("Action for request_id req-nope on instance {id} not found"),
    )
    .await;
    assert_fault(
        server.compute(BOB, "latest").get(&path).await,
        404,
        &format!("Instance {id} could not be found."),
    )
    .await;
    // Deleted servers keep their history from 2.21.
    assert_eq!(c.delete(&format!("/servers/{id}")).await.status(), 204);
    for _ in 0..200 {
        if c.get(&format!("/servers/{id}")).await.status() == 404 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let after = c.get_ok(&path).await;
    assert_eq!(after["instanceActions"][0]["action"], "delete");
    assert_eq!(server.compute(ALICE, "2.20").get(&path).await.status(), 404);
}

#[tokio::test]
async fn resize_confirm_and_revert_with_quota() {
    let server = Server::start_noauth().await;
    let image = cirros(&server).await;
    let c = server.compute(ALICE, "latest");
    let id = active_server(&c, &image).await;
    assert_fault(
        act(&c, &id, json!({"resize": {"flavorRef": "1"}})).await,
        400,
        "When resizing, instances must change flavor!",
    )
    .await;
    assert_fault(
        act(&c, &id, json!({"resize": {"flavorRef": "999"}})).await,
        400,
        "Unable to locate requested flavor.",
    )
    .await;
    assert_fault(
        act(&c, &id, json!({"resize": {}})).await,
        400,
        "Invalid input for field/attribute resize. Value: {}. 'flavorRef' is a required property",
    )
    .await;
    assert_fault(
        act(&c, &id, json!({"confirmResize": null})).await,
        409,
        &format!("Cannot 'confirmResize' instance {id} while it is in vm_state active"),
    )
    .await;
    // Resize up (m1.tiny → m1.small), then revert.
    assert_eq!(
        act(&c, &id, json!({"resize": {"flavorRef": "2"}}))
            .await
            .status(),
        202
    );
    let verify = wait_for(&c, &id, "VERIFY_RESIZE").await;
    assert_eq!(verify["flavor"]["original_name"], "m1.small");
    let limits = c.get_ok("/limits").await;
    assert_eq!(limits["limits"]["absolute"]["totalRAMUsed"], 2048);
    assert_eq!(
        act(&c, &id, json!({"revertResize": null})).await.status(),
        202
    );
    let back = wait_for(&c, &id, "ACTIVE").await;
    assert_eq!(back["flavor"]["original_name"], "m1.tiny");
    assert_eq!(
        c.get_ok("/limits").await["limits"]["absolute"]["totalRAMUsed"],
        512
    );
    // Resize a stopped server and confirm: it stays stopped.
    act(&c, &id, json!({"os-stop": null})).await;
    wait_for(&c, &id, "SHUTOFF").await;
    assert_eq!(
        act(&c, &id, json!({"resize": {"flavorRef": "2"}}))
            .await
            .status(),
        202
    );
    wait_for(&c, &id, "VERIFY_RESIZE").await;
    assert_eq!(
        act(&c, &id, json!({"confirmResize": null})).await.status(),
        204
    );
    let confirmed = wait_for(&c, &id, "SHUTOFF").await;
    assert_eq!(confirmed["flavor"]["original_name"], "m1.small");
    assert_fault(
        act(&c, &id, json!({"resize": {"flavorRef": "1"}})).await,
        400,
        "Resize error: Unable to resize disk down.",
    )
    .await;
    // Over quota: the increase is refused with Nova's message.
    server
        .compute(ADMIN, "2.1")
        .put("/os-quota-sets/proj-a", &json!({"quota_set": {"cores": 2}}))
        .await;
    assert_fault(
        act(&c, &id, json!({"resize": {"flavorRef": "4"}})).await,
        403,
        "Quota exceeded for cores: Requested 3, but already used 1 of 2 cores",
    )
    .await;
    let actions = c
        .get_ok(&format!("/servers/{id}/os-instance-actions"))
        .await;
    let names: Vec<&str> = actions["instanceActions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        names[..5],
        ["confirmResize", "resize", "stop", "revertResize", "resize"]
    );
}

#[tokio::test]
async fn rebuild_replaces_the_image_and_answers_per_microversion() {
    let server = Server::start_noauth().await;
    let image = cirros(&server).await;
    let c = server.compute(ALICE, "latest");
    let id = active_server(&c, &image).await;
    let response = act(
        &c,
        &id,
        json!({"rebuild": {"imageRef": image, "name": "reborn", "adminPass": "pw",
                           "metadata": {"new": "yes"}, "user_data": "aGVsbG8=",
                           "description": "second life"}}),
    )
    .await;
    assert_eq!(response.status(), 202);
    assert!(
        common::header(&response, "location")
            .unwrap()
            .ends_with(&format!("/servers/{id}"))
    );
    let body = json_of(response).await["server"].clone();
    assert_eq!(body["adminPass"], "pw");
    assert_eq!(body["user_data"], "aGVsbG8=");
    assert_eq!(body["name"], "reborn");
    assert_eq!(body["status"], "REBUILD");
    assert_eq!(body["metadata"], json!({"new": "yes"}));
    assert!(
        body.get("OS-EXT-STS:vm_state").is_some(),
        "full form from 2.75"
    );
    let rebuilt = wait_for(&c, &id, "ACTIVE").await;
    assert_eq!(rebuilt["description"], "second life");
    // Before 2.75 the short form; a stopped server stays stopped.
    act(&c, &id, json!({"os-stop": null})).await;
    wait_for(&c, &id, "SHUTOFF").await;
    let old = server.compute(ALICE, "2.74");
    let response = act(&old, &id, json!({"rebuild": {"imageRef": image}})).await;
    assert_eq!(response.status(), 202);
    let short = json_of(response).await["server"].clone();
    assert!(short.get("OS-EXT-STS:vm_state").is_none());
    assert!(short.get("user_data").is_some(), "2.57 adds user_data");
    let stopped = wait_for(&c, &id, "SHUTOFF").await;
    assert_eq!(stopped["name"], "reborn", "a rebuild without name keeps it");
    // Refusals.
    assert_fault(
        act(
            &c,
            &id,
            json!({"rebuild": {"imageRef": "00000000-0000-0000-0000-000000000000"}}),
        )
        .await,
        400,
        "Cannot find image for rebuild",
    )
    .await;
    // Someone else's server is not found, before any image is looked at.
    assert_fault(
        act(
            &server.compute(BOB, "2.1"),
            &id,
            json!({"rebuild": {"imageRef": "00000000-0000-0000-0000-000000000000"}}),
        )
        .await,
        404,
        &format!("Instance {id} could not be found."),
    )
    .await;
    assert_fault(
        act(&server.compute(ALICE, "2.56"), &id, json!({"rebuild": {"imageRef": image, "user_data": "aGk="}})).await,
        400,
        &format!("Invalid input for field/attribute rebuild. Value: {{'imageRef': '{image}', 'user_data': 'aGk='}}. Additional properties are not allowed ('user_data' was unexpected)"),
    )
    .await;
    act(&c, &id, json!({"os-start": null})).await;
    wait_for(&c, &id, "ACTIVE").await;
    act(&c, &id, json!({"pause": null})).await;
    wait_for(&c, &id, "PAUSED").await;
    assert_fault(
        act(&c, &id, json!({"rebuild": {"imageRef": image}})).await,
        409,
        &format!("Cannot 'rebuild' instance {id} while it is in vm_state paused"),
    )
    .await;
}

/// An image of the image service, as the owner sees it.
async fn glance_image(server: &Server, token: &str, id: &str) -> reqwest::Response {
    server
        .http
        .get(server.url(&format!("/image/v2/images/{id}")))
        .header("X-Auth-Token", token)
        .send()
        .await
        .unwrap()
}

/// Whether Alice's image `id` is deleted within two seconds.
async fn image_goes(server: &Server, id: &str) -> bool {
    for _ in 0..100 {
        if glance_image(server, ALICE, id).await.status() == 404 {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test]
async fn create_image_and_backups_land_in_the_image_service() {
    let server = Server::start_noauth().await;
    let image = cirros(&server).await;
    let c = server.compute(ALICE, "latest");
    let id = active_server(&c, &image).await;
    let response = act(
        &c,
        &id,
        json!({"createImage": {"name": "snap", "metadata": {"purpose": "test"}}}),
    )
    .await;
    assert_eq!(response.status(), 202);
    let image_id = json_of(response).await["image_id"]
        .as_str()
        .unwrap()
        .to_owned();
    wait_for(&c, &id, "ACTIVE").await;
    let mut snapshot = Value::Null;
    for _ in 0..100 {
        snapshot = json_of(glance_image(&server, ALICE, &image_id).await).await;
        if snapshot["status"] == "active" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(snapshot["status"], "active", "{snapshot}");
    assert_eq!(snapshot["name"], "snap");
    assert_eq!(snapshot["owner"], "proj-a");
    assert_eq!(snapshot["visibility"], "private");
    assert_eq!(snapshot["instance_uuid"], id.as_str());
    assert_eq!(snapshot["image_type"], "snapshot");
    assert_eq!(snapshot["purpose"], "test");
    assert_eq!(glance_image(&server, BOB, &image_id).await.status(), 404);
    // Up to 2.44: no body, the image URL in Location.
    let old = act(
        &server.compute(ALICE, "2.44"),
        &id,
        json!({"createImage": {"name": "old"}}),
    )
    .await;
    assert_eq!(old.status(), 202);
    assert!(
        common::header(&old, "location")
            .unwrap()
            .contains("/image/images/")
    );
    wait_for(&c, &id, "ACTIVE").await;
    // Backups rotate: only the newest `rotation` of a type are kept.
    let mut backups = Vec::new();
    for n in 0..3 {
        let response = act(
            &c,
            &id,
            json!({"createBackup": {"name": format!("daily-{n}"), "backup_type": "daily", "rotation": 2}}),
        )
        .await;
        assert_eq!(response.status(), 202);
        backups.push(
            json_of(response).await["image_id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
        wait_for(&c, &id, "ACTIVE").await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        image_goes(&server, &backups[0]).await,
        "the oldest backup was rotated out"
    );
    assert_eq!(
        glance_image(&server, ALICE, &backups[2]).await.status(),
        200
    );
    // A snapshot the hypervisor fails takes its image with it, as Nova's.
    let failing = server
        .http
        .put(server.url("/_oxstack/driver"))
        .header("X-Auth-Token", "admin:admin")
        .json(&json!({"fail": ["snapshot"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(failing.status(), 200);
    let response = act(&c, &id, json!({"createImage": {"name": "doomed"}})).await;
    assert_eq!(response.status(), 202);
    let doomed = json_of(response).await["image_id"]
        .as_str()
        .unwrap()
        .to_owned();
    wait_for(&c, &id, "ACTIVE").await;
    assert!(
        image_goes(&server, &doomed).await,
        "the failed snapshot's image was deleted"
    );
    let actions = c
        .get_ok(&format!("/servers/{id}/os-instance-actions"))
        .await;
    let newest = &actions["instanceActions"][0];
    assert_eq!(newest["action"], "createImage");
    assert_eq!(newest["message"], "Error");
    let reset = server
        .http
        .put(server.url("/_oxstack/driver"))
        .header("X-Auth-Token", "admin:admin")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(reset.status(), 200);
    // Refusals.
    assert_fault(
        act(&c, &id, json!({"createBackup": {"name": "x", "backup_type": "daily"}})).await,
        400,
        "Invalid input for field/attribute createBackup. Value: {'name': 'x', 'backup_type': 'daily'}. 'rotation' is a required property",
    )
    .await;
    act(&c, &id, json!({"rescue": null})).await;
    wait_for(&c, &id, "RESCUE").await;
    assert_fault(
        act(&c, &id, json!({"createImage": {"name": "x"}})).await,
        409,
        &format!("Cannot 'createImage' instance {id} while it is in vm_state rescued"),
    )
    .await;
}

#[tokio::test]
async fn shelve_offloads_and_unshelve_spawns_again() {
    let server = Server::start_noauth().await;
    let image = cirros(&server).await;
    let c = server.compute(ALICE, "latest");
    let id = active_server(&c, &image).await;
    assert_eq!(act(&c, &id, json!({"shelve": null})).await.status(), 202);
    let offloaded = wait_for(&c, &id, "SHELVED_OFFLOADED").await;
    let shelved_images = |server: &Server| {
        let request = server
            .http
            .get(server.url("/image/v2/images?name=acted-shelved"))
            .header("X-Auth-Token", ALICE)
            .send();
        async move { json_of(request.await.unwrap()).await["images"].clone() }
    };
    let kept = shelved_images(&server).await;
    assert_eq!(
        kept[0]["status"], "active",
        "the disk is kept as an image: {kept}"
    );
    assert_eq!(kept[0]["instance_uuid"], id.as_str());
    assert_eq!(offloaded["OS-EXT-STS:power_state"], 0);
    let admin = server.compute(ADMIN, "latest");
    let admin_view = show(&admin, &id).await;
    assert_eq!(admin_view["OS-EXT-SRV-ATTR:host"], Value::Null);
    assert_fault(
        act(&c, &id, json!({"os-start": null})).await,
        409,
        &format!("Cannot 'start' instance {id} while it is in vm_state shelved_offloaded"),
    )
    .await;
    assert_fault(
        act(&c, &id, json!({"shelveOffload": null})).await,
        403,
        "Policy doesn't allow os_compute_api:os-shelve:shelve_offload to be performed.",
    )
    .await;
    assert_fault(
        act(
            &c,
            &id,
            json!({"unshelve": {"availability_zone": "elsewhere"}}),
        )
        .await,
        400,
        "The requested availability zone is not available",
    )
    .await;
    assert_fault(
        act(&c, &id, json!({"unshelve": {"host": "somewhere"}})).await,
        403,
        "Policy doesn't allow os_compute_api:os-shelve:unshelve_to_host to be performed.",
    )
    .await;
    assert_fault(
        act(&server.compute(ALICE, "2.77"), &id, json!({"unshelve": {}})).await,
        400,
        "Invalid input for field/attribute unshelve. Value: {}. 'availability_zone' is a required property",
    )
    .await;
    assert_eq!(act(&c, &id, json!({"unshelve": null})).await.status(), 202);
    let back = wait_for(&c, &id, "ACTIVE").await;
    assert_eq!(back["OS-EXT-STS:power_state"], 1);
    let mut remaining = json!(null);
    for _ in 0..100 {
        remaining = shelved_images(&server).await;
        if remaining == json!([]) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(remaining, json!([]), "unshelving deletes the shelved image");
    assert!(show(&admin, &id).await["OS-EXT-SRV-ATTR:host"].is_string());
    assert_fault(
        act(&c, &id, json!({"unshelve": null})).await,
        409,
        &format!("Cannot 'unshelve' instance {id} while it is in vm_state active"),
    )
    .await;
}

#[tokio::test]
async fn remote_consoles_carry_tokens_admins_can_check() {
    let server = Server::start_noauth().await;
    let image = cirros(&server).await;
    let c = server.compute(ALICE, "latest");
    let id = active_server(&c, &image).await;
    let path = format!("/servers/{id}/remote-consoles");
    let response = c
        .post(
            &path,
            &json!({"remote_console": {"protocol": "vnc", "type": "novnc"}}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let console = json_of(response).await["remote_console"].clone();
    assert_eq!(
        (console["protocol"].as_str(), console["type"].as_str()),
        (Some("vnc"), Some("novnc"))
    );
    let url = console["url"].as_str().unwrap();
    let token = url.rsplit("token%3D").next().unwrap();
    let admin = server.compute(ADMIN, "latest");
    let checked = admin
        .get_ok(&format!("/os-console-auth-tokens/{token}"))
        .await;
    assert_eq!(checked["console"]["instance_uuid"], id.as_str());
    assert_eq!(checked["console"]["port"], 5900);
    assert!(checked["console"].get("tls_port").is_some(), "2.99");
    assert_fault(
        admin.get("/os-console-auth-tokens/not-a-token").await,
        404,
        "Token not found",
    )
    .await;
    assert_fault(
        server
            .compute(ADMIN, "2.30")
            .get(&format!("/os-console-auth-tokens/{token}"))
            .await,
        401,
        "The requested console type details are not accessible",
    )
    .await;
    assert_fault(
        c.get(&format!("/os-console-auth-tokens/{token}")).await,
        403,
        "Policy doesn't allow os_compute_api:os-console-auth-tokens to be performed.",
    )
    .await;
    // Mismatched and unavailable types; version gates.
    assert_fault(
        c.post(
            &path,
            &json!({"remote_console": {"protocol": "vnc", "type": "serial"}}),
        )
        .await,
        400,
        "Invalid console type serial",
    )
    .await;
    assert_fault(
        c.post(
            &path,
            &json!({"remote_console": {"protocol": "rdp", "type": "rdp-html5"}}),
        )
        .await,
        400,
        "Unavailable console type rdp-html5.",
    )
    .await;
    assert_eq!(
        server
            .compute(ALICE, "2.7")
            .post(
                &path,
                &json!({"remote_console": {"protocol": "mks", "type": "webmks"}})
            )
            .await
            .status(),
        400,
        "mks arrives at 2.8"
    );
    assert_eq!(
        server
            .compute(ALICE, "2.5")
            .post(&path, &json!({}))
            .await
            .status(),
        404
    );
    let old = server.compute(ALICE, "2.5");
    let legacy = act(&old, &id, json!({"os-getVNCConsole": {"type": "xvpvnc"}})).await;
    assert_eq!(legacy.status(), 200);
    let legacy = json_of(legacy).await;
    assert_eq!(legacy["console"]["type"], "xvpvnc");
    assert!(
        legacy["console"]["url"]
            .as_str()
            .unwrap()
            .contains("token=")
    );
    assert_eq!(
        act(&c, &id, json!({"os-getVNCConsole": {"type": "novnc"}}))
            .await
            .status(),
        404
    );
    assert_eq!(
        act(
            &old,
            &id,
            json!({"os-getRDPConsole": {"type": "rdp-html5"}})
        )
        .await
        .status(),
        410
    );
    assert_fault(
        server
            .compute(BOB, "latest")
            .post(
                &path,
                &json!({"remote_console": {"protocol": "vnc", "type": "novnc"}}),
            )
            .await,
        404,
        &format!("Instance {id} could not be found."),
    )
    .await;
}

#[tokio::test]
async fn unconfirmed_resizes_are_confirmed_after_the_window() {
    let server = Server::start_with(Options {
        args: vec!["--auth".into(), "noauth".into()],
        config_toml: Some("resize_confirm_window = 1\n".into()),
        ..Default::default()
    })
    .await;
    let image = cirros(&server).await;
    let c = server.compute(ALICE, "latest");
    let id = active_server(&c, &image).await;
    assert_eq!(
        act(&c, &id, json!({"resize": {"flavorRef": "2"}}))
            .await
            .status(),
        202
    );
    wait_for(&c, &id, "VERIFY_RESIZE").await;
    let confirmed = wait_for(&c, &id, "ACTIVE").await;
    assert_eq!(confirmed["flavor"]["original_name"], "m1.small");
}

#[tokio::test]
async fn security_groups_of_a_server() {
    let server = Server::start_noauth().await;
    let image = cirros(&server).await;
    let c = server.compute(ALICE, "latest");
    let body =
        json!({"server": {"name": "sg", "imageRef": image, "flavorRef": "1", "networks": "auto"}});
    let id = json_of(c.post("/servers", &body).await).await["server"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    wait_for(&c, &id, "ACTIVE").await;
    let path = format!("/servers/{id}/os-security-groups");
    let groups = c.get_ok(&path).await;
    assert_eq!(groups["security_groups"][0]["name"], "default");
    assert_eq!(groups["security_groups"][0]["tenant_id"], "proj-a");
    assert_fault(
        act(&c, &id, json!({"addSecurityGroup": {"name": "default"}})).await,
        400,
        &format!("Security group default is already associated with the instance {id}"),
    )
    .await;
    assert_fault(
        act(&c, &id, json!({"addSecurityGroup": {"name": "web"}})).await,
        404,
        "Security group web not found.",
    )
    .await;
    assert_eq!(
        act(&c, &id, json!({"removeSecurityGroup": {"name": "default"}}))
            .await
            .status(),
        202
    );
    assert_eq!(c.get_ok(&path).await["security_groups"], json!([]));
    assert!(show(&c, &id).await.get("security_groups").is_none());
    assert_fault(
        act(&c, &id, json!({"removeSecurityGroup": {"name": "default"}})).await,
        400,
        &format!("Security group default is not associated with the instance {id}"),
    )
    .await;
    assert_eq!(
        act(&c, &id, json!({"addSecurityGroup": {"name": "default"}}))
            .await
            .status(),
        202
    );
    assert_eq!(
        show(&c, &id).await["security_groups"],
        json!([{"name": "default"}])
    );
    assert_eq!(
        act(&c, &id, json!({"addSecurityGroup": {}})).await.status(),
        400,
        "name is required"
    );
}

#[tokio::test]
async fn migrations_need_another_host() {
    let server = Server::start_noauth().await;
    let image = cirros(&server).await;
    let c = server.compute(ALICE, "latest");
    let id = active_server(&c, &image).await;
    let admin = server.compute(ADMIN, "latest");
    assert_fault(
        act(&c, &id, json!({"migrate": null})).await,
        403,
        "Policy doesn't allow os_compute_api:os-migrate-server:migrate to be performed.",
    )
    .await;
    assert_fault(
        act(&admin, &id, json!({"migrate": null})).await,
        400,
        "No valid host was found. No valid host found for cold migrate",
    )
    .await;
    assert_fault(
        act(&admin, &id, json!({"migrate": {"host": "elsewhere"}})).await,
        400,
        "Compute host elsewhere could not be found.",
    )
    .await;
    // Live migration is accepted, then fails: the server stays, the action says why.
    let live = act(
        &admin,
        &id,
        json!({"os-migrateLive": {"block_migration": "auto", "host": null}}),
    )
    .await;
    assert_eq!(live.status(), 202);
    let request = live.headers()["x-openstack-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    wait_for(&c, &id, "ACTIVE").await;
    let mut event = Value::Null;
    for _ in 0..100 {
        let action = admin
            .get_ok(&format!("/servers/{id}/os-instance-actions/{request}"))
            .await;
        event = action["instanceAction"]["events"][0].clone();
        if !event["result"].is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(event["result"], "Error");
    assert_eq!(
        act(&admin, &id, json!({"os-migrateLive": {"host": null}}))
            .await
            .status(),
        400,
        "block_migration is required"
    );
    let evacuate = act(&admin, &id, json!({"evacuate": {}})).await;
    assert_eq!(evacuate.status(), 400);
    assert!(
        json_of(evacuate).await["badRequest"]["message"]
            .as_str()
            .unwrap()
            .ends_with("is still in use.")
    );
    assert_fault(
        act(&c, &id, json!({"evacuate": {}})).await,
        403,
        "Policy doesn't allow os_compute_api:os-evacuate to be performed.",
    )
    .await;
}

#[tokio::test]
async fn resizes_and_live_migrations_leave_migration_records() {
    let server = Server::start_noauth().await;
    let image = cirros(&server).await;
    let c = server.compute(ALICE, "latest");
    let id = active_server(&c, &image).await;
    act(&c, &id, json!({"resize": {"flavorRef": "2"}})).await;
    wait_for(&c, &id, "VERIFY_RESIZE").await;
    let admin = server.compute(ADMIN, "latest");
    let finished = admin
        .get_ok(&format!("/os-migrations?instance_uuid={id}"))
        .await;
    let record = &finished["migrations"][0];
    assert_eq!(record["migration_type"], "resize");
    assert_eq!(record["status"], "finished");
    assert_eq!(
        (
            record["old_instance_type_id"].as_i64(),
            record["new_instance_type_id"].as_i64()
        ),
        (Some(1), Some(2))
    );
    assert!(record["uuid"].is_string() && record["project_id"] == "proj-a");
    act(&c, &id, json!({"confirmResize": null})).await;
    wait_for(&c, &id, "ACTIVE").await;
    let confirmed = admin.get_ok("/os-migrations").await;
    assert_eq!(confirmed["migrations"][0]["status"], "confirmed");
    let v21 = server.compute(ADMIN, "2.1").get_ok("/os-migrations").await;
    assert!(v21["migrations"][0].get("migration_type").is_none());
    assert!(v21["migrations"][0].get("uuid").is_none());
    // Live migration: recorded, then in error; nothing in progress remains.
    act(
        &admin,
        &id,
        json!({"os-migrateLive": {"block_migration": "auto", "host": null}}),
    )
    .await;
    wait_for(&c, &id, "ACTIVE").await;
    let mut status = Value::Null;
    for _ in 0..100 {
        let live = admin
            .get_ok("/os-migrations?migration_type=live-migration")
            .await;
        status = live["migrations"][0]["status"].clone();
        if status == "error" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(status, "error");
    assert_eq!(
        admin.get_ok(&format!("/servers/{id}/migrations")).await,
        json!({"migrations": []})
    );
    // One migration by id: only a live migration in progress is shown.
    let all = admin.get_ok("/os-migrations").await;
    let id_of = |kind: &str| {
        all["migrations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["migration_type"] == kind)
            .unwrap()["id"]
            .as_i64()
            .unwrap()
    };
    let (live, resize) = (id_of("live-migration"), id_of("resize"));
    assert_fault(
        admin.get(&format!("/servers/{id}/migrations/{live}")).await,
        404,
        &format!("Live migration {live} for server {id} is not in progress."),
    )
    .await;
    assert_fault(
        admin
            .get(&format!("/servers/{id}/migrations/{resize}"))
            .await,
        404,
        &format!("Migration {resize} for server {id} is not live-migration."),
    )
    .await;
    assert_fault(
        admin.get(&format!("/servers/{id}/migrations/999")).await,
        404,
        &format!("In-progress live migration 999 is not found for server {id}."),
    )
    .await;
    assert_fault(
        c.get(&format!("/servers/{id}/migrations/{live}")).await,
        403,
        "Policy doesn't allow os_compute_api:servers:migrations:show to be performed.",
    )
    .await;
    // force_complete and abort need the server to be live-migrating.
    let force = format!("/servers/{id}/migrations/{live}/action");
    assert_fault(
        admin.post(&force, &json!({"force_complete": null})).await,
        409,
        &format!("Cannot 'force_complete' instance {id} while it is in task_state None"),
    )
    .await;
    assert_fault(
        admin
            .post(&force, &json!({"force_complete": null, "x": 1}))
            .await,
        400,
        "Additional properties are not allowed ('x' was unexpected)",
    )
    .await;
    assert_fault(
        admin.post(&force, &json!({"force_complete": {}})).await,
        400,
        "Invalid input for field/attribute force_complete. Value: {}. {} is not of type 'null'",
    )
    .await;
    assert_fault(
        c.post(&force, &json!({"force_complete": null})).await,
        403,
        "Policy doesn't allow os_compute_api:servers:migrations:force_complete to be performed.",
    )
    .await;
    assert_fault(
        admin
            .delete(&format!("/servers/{id}/migrations/{live}"))
            .await,
        409,
        &format!("Cannot 'abort live migration' instance {id} while it is in task_state None"),
    )
    .await;
    let unknown = uuid::Uuid::new_v4();
    assert_fault(
        admin
            .delete(&format!("/servers/{unknown}/migrations/{live}"))
            .await,
        404,
        &format!("Instance {unknown} could not be found."),
    )
    .await;
    for (version, path, post) in [
        ("2.22", format!("/servers/{id}/migrations/{live}"), false),
        ("2.21", force.clone(), true),
        ("2.23", format!("/servers/{id}/migrations/{live}"), true),
    ] {
        let old = server.compute(ADMIN, version);
        let status = if post {
            if path.ends_with("/action") {
                old.post(&path, &json!({"force_complete": null}))
                    .await
                    .status()
            } else {
                old.delete(&path).await.status()
            }
        } else {
            old.get(&path).await.status()
        };
        assert_eq!(status, 404, "{path} at {version}");
    }
    assert_eq!(
        server
            .compute(ADMIN, "2.22")
            .get(&format!("/servers/{id}/migrations"))
            .await
            .status(),
        404
    );
    assert_fault(
        c.get("/os-migrations").await,
        403,
        "Policy doesn't allow os_compute_api:os-migrations:index to be performed.",
    )
    .await;
}

#[tokio::test]
async fn floating_ips_are_allocated_and_associated_up_to_2_43() {
    let server = Server::start_noauth().await;
    let image = cirros(&server).await;
    let c = server.compute(ALICE, "2.35");
    let body = json!({"server": {"name": "public", "imageRef": image, "flavorRef": "1"}});
    let id = json_of(c.post("/servers", &body).await).await["server"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    wait_for(&c, &id, "ACTIVE").await;
    assert_eq!(
        c.get_ok("/os-floating-ip-pools").await,
        json!({"floating_ip_pools": [{"name": "public"}]})
    );
    let allocated = json_of(c.post("/os-floating-ips", &json!({"pool": "public"})).await).await;
    let fip = allocated["floating_ip"].clone();
    let address = fip["ip"].as_str().unwrap().to_owned();
    assert!(address.starts_with("172.24.4."));
    assert_eq!(fip["instance_id"], Value::Null);
    // A pool is named by name or by id (tempest names it by id).
    let public_id =
        server.neutron(ALICE).get_ok("/networks?name=public").await["networks"][0]["id"].clone();
    let by_id = json_of(
        c.post("/os-floating-ips", &json!({"pool": public_id}))
            .await,
    )
    .await;
    assert_eq!(by_id["floating_ip"]["pool"], "public");
    let by_id = by_id["floating_ip"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        c.delete(&format!("/os-floating-ips/{by_id}"))
            .await
            .status(),
        202
    );
    assert_fault(
        c.post("/os-floating-ips", &json!({"pool": "nope"})).await,
        404,
        "Floating IP pool not found.",
    )
    .await;
    assert_eq!(
        act(&c, &id, json!({"addFloatingIp": {"address": address}}))
            .await
            .status(),
        202
    );
    let shown = show(&server.compute(ALICE, "latest"), &id).await;
    let addresses = shown["addresses"]["private"].as_array().unwrap();
    let floating = addresses
        .iter()
        .find(|a| a["OS-EXT-IPS:type"] == "floating")
        .unwrap();
    assert_eq!(floating["addr"], address.as_str());
    assert_eq!(
        floating["OS-EXT-IPS-MAC:mac_addr"],
        addresses[0]["OS-EXT-IPS-MAC:mac_addr"]
    );
    let listed = c
        .get_ok(&format!("/os-floating-ips/{}", fip["id"].as_str().unwrap()))
        .await;
    assert_eq!(listed["floating_ip"]["instance_id"], id.as_str());
    // Associated again, with another server: it moves there (Nova's and
    // Neutron's rule; tempest's test_associate_already_associated_floating_ip).
    let body = json!({"server": {"name": "second", "imageRef": image, "flavorRef": "1"}});
    let second = json_of(c.post("/servers", &body).await).await["server"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    wait_for(&c, &second, "ACTIVE").await;
    assert_eq!(
        act(&c, &second, json!({"addFloatingIp": {"address": address}}))
            .await
            .status(),
        202
    );
    let moved = c
        .get_ok(&format!("/os-floating-ips/{}", fip["id"].as_str().unwrap()))
        .await;
    assert_eq!(moved["floating_ip"]["instance_id"], second.as_str());
    let first = show(&server.compute(ALICE, "latest"), &id).await;
    assert!(
        first["addresses"]["private"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["OS-EXT-IPS:type"] == "fixed"),
        "{first}"
    );
    assert_fault(
        act(&c, &id, json!({"removeFloatingIp": {"address": address}})).await,
        409,
        &format!("Floating IP {address} is not associated with instance {id}."),
    )
    .await;
    // A second address for a fixed address that has one: Nova's 400
    // around Neutron's refusal.
    let other = json_of(c.post("/os-floating-ips", &json!({})).await).await;
    let other_ip = other["floating_ip"]["ip"].as_str().unwrap().to_owned();
    let refused = act(&c, &second, json!({"addFloatingIp": {"address": other_ip}})).await;
    assert_eq!(refused.status(), 400);
    let message = json_of(refused).await["badRequest"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message.starts_with(&format!(
            "Unable to associate floating IP {other_ip} to fixed IP"
        )) && message.contains("already has a floating IP on external network"),
        "{message}"
    );
    // Deleting the server lets the address go, still the project's.
    assert_eq!(c.delete(&format!("/servers/{second}")).await.status(), 204);
    common::wait_gone(&c, &second).await;
    let freed = c
        .get_ok(&format!("/os-floating-ips/{}", fip["id"].as_str().unwrap()))
        .await;
    assert_eq!(freed["floating_ip"]["instance_id"], Value::Null);
    assert_eq!(
        act(&c, &id, json!({"addFloatingIp": {"address": address}}))
            .await
            .status(),
        202
    );
    assert_fault(
        act(
            &c,
            &id,
            json!({"addFloatingIp": {"address": "172.24.4.250"}}),
        )
        .await,
        404,
        "floating IP not found",
    )
    .await;
    assert_fault(
        act(
            &server.compute(BOB, "2.35"),
            &id,
            json!({"addFloatingIp": {"address": address}}),
        )
        .await,
        404,
        &format!("Instance {id} could not be found."),
    )
    .await;
    assert_eq!(
        act(&c, &id, json!({"removeFloatingIp": {"address": address}}))
            .await
            .status(),
        202
    );
    assert_fault(
        act(&c, &id, json!({"removeFloatingIp": {"address": address}})).await,
        409,
        &format!("Floating IP {address} is not associated with instance {id}."),
    )
    .await;
    // Gone from the API at 2.44 (actions) and 2.36 (the proxy).
    assert_eq!(
        act(
            &server.compute(ALICE, "2.44"),
            &id,
            json!({"addFloatingIp": {"address": address}})
        )
        .await
        .status(),
        404
    );
    assert_eq!(
        server
            .compute(ALICE, "2.36")
            .get("/os-floating-ips")
            .await
            .status(),
        404
    );
    let fip_id = fip["id"].as_str().unwrap();
    assert_eq!(
        c.delete(&format!("/os-floating-ips/{fip_id}"))
            .await
            .status(),
        202
    );
    assert_fault(
        c.get(&format!("/os-floating-ips/{fip_id}")).await,
        404,
        &format!("Floating IP not found for ID {fip_id}"),
    )
    .await;
}

/// Every member action, as a reader (403 with its policy) and, for the
/// lock-checked ones, as the owner of a locked server (409).
#[tokio::test]
async fn readers_are_refused_every_action_and_locks_stop_owners() {
    let server = Server::start().await;
    let admin_token = server.admin_token().await;
    let project = json_of(
        server
            .get("/identity/v3/projects?name=demo", &admin_token)
            .await,
    )
    .await["projects"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let role = json_of(
        server
            .get("/identity/v3/roles?name=reader", &admin_token)
            .await,
    )
    .await["roles"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let user = server
        .http
        .post(server.url("/identity/v3/users"))
        .header("X-Auth-Token", &admin_token)
        .json(&json!({"user": {"name": "watcher", "password": "pw"}}))
        .send()
        .await
        .unwrap();
    let user_id = json_of(user).await["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let grant = server
        .http
        .put(server.url(&format!(
            "/identity/v3/projects/{project}/users/{user_id}/roles/{role}"
        )))
        .header("X-Auth-Token", &admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(grant.status(), 204);
    let member = server.compute(&server.token("demo", "demo", "demo").await, "latest");
    let reader = server.compute(&server.token("watcher", "pw", "demo").await, "latest");
    let image =
        json_of(server.get("/image/v2/images", &admin_token).await).await["images"][0]["id"]
            .as_str()
            .unwrap()
            .to_owned();
    let id = active_server(&member, &image).await;
    let cases = [
        (
            json!({"os-stop": null}),
            "os_compute_api:servers:stop",
            true,
        ),
        (
            json!({"os-start": null}),
            "os_compute_api:servers:start",
            true,
        ),
        (
            json!({"pause": null}),
            "os_compute_api:os-pause-server:pause",
            true,
        ),
        (
            json!({"unpause": null}),
            "os_compute_api:os-pause-server:unpause",
            true,
        ),
        (
            json!({"suspend": null}),
            "os_compute_api:os-suspend-server:suspend",
            true,
        ),
        (
            json!({"resume": null}),
            "os_compute_api:os-suspend-server:resume",
            true,
        ),
        (
            json!({"reboot": {"type": "SOFT"}}),
            "os_compute_api:servers:reboot",
            true,
        ),
        (json!({"rescue": null}), "os_compute_api:os-rescue", true),
        (
            json!({"unrescue": null}),
            "os_compute_api:os-rescue:unrescue",
            true,
        ),
        (
            json!({"changePassword": {"adminPass": "x"}}),
            "os_compute_api:os-admin-password",
            true,
        ),
        (
            json!({"trigger_crash_dump": null}),
            "os_compute_api:servers:trigger_crash_dump",
            true,
        ),
        (
            json!({"resize": {"flavorRef": "2"}}),
            "os_compute_api:servers:resize",
            true,
        ),
        (
            json!({"confirmResize": null}),
            "os_compute_api:servers:confirm_resize",
            true,
        ),
        (
            json!({"revertResize": null}),
            "os_compute_api:servers:revert_resize",
            true,
        ),
        (
            json!({"rebuild": {"imageRef": image}}),
            "os_compute_api:servers:rebuild",
            true,
        ),
        (
            json!({"shelve": null}),
            "os_compute_api:os-shelve:shelve",
            true,
        ),
        (
            json!({"unshelve": null}),
            "os_compute_api:os-shelve:unshelve",
            true,
        ),
        (
            json!({"createImage": {"name": "x"}}),
            "os_compute_api:servers:create_image",
            false,
        ),
        (
            json!({"createBackup": {"name": "x", "backup_type": "d", "rotation": 1}}),
            "os_compute_api:os-create-backup",
            false,
        ),
        (
            json!({"lock": null}),
            "os_compute_api:os-lock-server:lock",
            false,
        ),
        (
            json!({"addSecurityGroup": {"name": "default"}}),
            "os_compute_api:os-security-groups:add",
            false,
        ),
        (
            json!({"os-getConsoleOutput": {}}),
            "os_compute_api:os-console-output",
            false,
        ),
    ];
    for (body, policy, _) in &cases {
        assert_fault(
            act(&reader, &id, body.clone()).await,
            403,
            &format!("Policy doesn't allow {policy} to be performed."),
        )
        .await;
    }
    assert_eq!(act(&member, &id, json!({"lock": null})).await.status(), 202);
    for (body, _, lock_checked) in &cases {
        if *lock_checked {
            assert_fault(
                act(&member, &id, body.clone()).await,
                409,
                &format!("Instance {id} is locked"),
            )
            .await;
        }
    }
    assert_eq!(
        show(&member, &id).await["status"],
        "ACTIVE",
        "nothing happened"
    );
}

#[tokio::test]
async fn fixed_ips_are_added_and_removed_up_to_2_43() {
    let server = Server::start_noauth().await;
    let image = cirros(&server).await;
    let c = server.compute(ALICE, "2.43");
    let body = json!({"server": {"name": "multi", "imageRef": image, "flavorRef": "1", "networks": "auto"}});
    let id = json_of(c.post("/servers", &body).await).await["server"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    wait_for(&c, &id, "ACTIVE").await;
    let network =
        uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, b"oxstack-network:private").to_string();
    assert_eq!(
        act(&c, &id, json!({"addFixedIp": {"networkId": network}}))
            .await
            .status(),
        202
    );
    let addresses = c.get_ok(&format!("/servers/{id}/ips/private")).await["private"].clone();
    let v4: Vec<&str> = addresses
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["version"] == 4)
        .map(|a| a["addr"].as_str().unwrap())
        .collect();
    assert_eq!(v4.len(), 2, "{addresses}");
    assert_eq!(
        act(&c, &id, json!({"removeFixedIp": {"address": v4[1]}}))
            .await
            .status(),
        202
    );
    let after = c.get_ok(&format!("/servers/{id}/ips/private")).await["private"].clone();
    assert_eq!(after.as_array().unwrap().len(), 2, "one port left: {after}");
    assert_fault(
        act(&c, &id, json!({"removeFixedIp": {"address": "10.0.0.200"}})).await,
        400,
        &format!("Instance {id} doesn't have fixed IP '10.0.0.200'."),
    )
    .await;
    assert_fault(
        act(&c, &id, json!({"addFixedIp": {"networkId": "other"}})).await,
        400,
        "Network other could not be found.",
    )
    .await;
    assert_eq!(
        act(
            &server.compute(ALICE, "2.44"),
            &id,
            json!({"addFixedIp": {"networkId": network}})
        )
        .await
        .status(),
        404
    );
}
