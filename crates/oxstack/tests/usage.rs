//! `os-simple-tenant-usage` and `os-instance_usage_audit_log`,
//! black-box: usage computed from real servers' lifetimes and flavors
//! (live and deleted), its shapes against Nova's api samples, periods,
//! 2.40 paging, policies and every refusal with Nova's message.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::time::Duration;

use chrono::{DateTime, Duration as Span, NaiveDateTime, Utc};
use common::{Compute, Server, assert_fault, cirros, json_of, keys_of};
use serde_json::{Value, json};

const ADMIN: &str = "admin:admin";
const ALICE: &str = "alice:proj-a";
const BOB: &str = "bob:proj-b";

/// Boots an m1.tiny server and waits until it is ACTIVE.
async fn active_server(c: &Compute<'_>, image: &str, name: &str) -> String {
    let body = json!({"server": {"name": name, "imageRef": image, "flavorRef": "1"}});
    let response = c.post("/servers", &body).await;
    let status = response.status();
    let made = json_of(response).await;
    assert_eq!(status, 202, "{made}");
    let id = made["server"]["id"].as_str().unwrap().to_owned();
    for _ in 0..500 {
        let server = c.get_ok(&format!("/servers/{id}")).await["server"].clone();
        if server["status"] == "ACTIVE" {
            return id;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("server {id} never became ACTIVE");
}

async fn delete_and_wait(c: &Compute<'_>, id: &str) {
    assert_eq!(c.delete(&format!("/servers/{id}")).await.status(), 204);
    for _ in 0..500 {
        if c.get(&format!("/servers/{id}")).await.status() == 404 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("server {id} was never deleted");
}

/// Nova's naive time with microseconds, as its usages print times.
fn nova_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
}

fn parse(v: &Value) -> DateTime<Utc> {
    NaiveDateTime::parse_from_str(v.as_str().unwrap(), "%Y-%m-%dT%H:%M:%S%.6f")
        .unwrap_or_else(|e| panic!("{v}: {e}"))
        .and_utc()
}

fn period_query(start: DateTime<Utc>, end: DateTime<Utc>) -> String {
    format!("start={}&end={}", nova_time(start), nova_time(end))
}

#[tokio::test]
async fn usage_of_projects_from_their_servers() {
    let server = Server::start_noauth_hosts(2).await;
    let image = cirros(&server).await;
    let alice = server.compute(ALICE, "2.1");
    let bob = server.compute(BOB, "2.1");
    let admin = server.compute(ADMIN, "2.1");
    let before = Utc::now() - Span::hours(1);
    let kept = active_server(&alice, &image, "kept").await;
    let gone = active_server(&alice, &image, "gone").await;
    let bobs = active_server(&bob, &image, "bobs").await;
    delete_and_wait(&alice, &gone).await;
    let after = Utc::now() + Span::hours(1);
    let query = period_query(before, after);

    // Every project, detailed: one entry per project with its servers.
    let listed = admin
        .get_ok(&format!("/os-simple-tenant-usage?{query}&detailed=1"))
        .await["tenant_usages"]
        .clone();
    let listed = listed.as_array().unwrap();
    let tenants: Vec<&str> = listed
        .iter()
        .map(|t| t["tenant_id"].as_str().unwrap())
        .collect();
    assert_eq!(tenants, ["proj-a", "proj-b"]);
    let a = &listed[0];
    assert_eq!(
        keys_of(a),
        [
            "server_usages",
            "start",
            "stop",
            "tenant_id",
            "total_hours",
            "total_local_gb_usage",
            "total_memory_mb_usage",
            "total_vcpus_usage"
        ]
    );
    assert_eq!(a["start"], nova_time(before));
    // The period never reaches past now.
    let stop = parse(&a["stop"]);
    assert!(stop <= Utc::now() && stop > before, "{a}");
    let usages = a["server_usages"].as_array().unwrap();
    assert_eq!(usages.len(), 2, "{a}");
    let of = |id: &str| usages.iter().find(|u| u["instance_id"] == id).unwrap();
    let live = of(&kept);
    assert_eq!(
        keys_of(live),
        [
            "ended_at",
            "flavor",
            "hours",
            "instance_id",
            "local_gb",
            "memory_mb",
            "name",
            "started_at",
            "state",
            "tenant_id",
            "uptime",
            "vcpus"
        ]
    );
    assert_eq!(
        (
            &live["name"],
            &live["flavor"],
            &live["state"],
            &live["ended_at"],
            &live["tenant_id"]
        ),
        (
            &json!("kept"),
            &json!("m1.tiny"),
            &json!("active"),
            &Value::Null,
            &json!("proj-a")
        )
    );
    assert_eq!(
        (&live["vcpus"], &live["memory_mb"], &live["local_gb"]),
        (&json!(1), &json!(512), &json!(1))
    );
    let terminated = of(&gone);
    assert_eq!(terminated["state"], "terminated");
    let ended = parse(&terminated["ended_at"]);
    let started = parse(&terminated["started_at"]);
    assert!(started <= ended && ended <= stop, "{terminated}");
    // Hours: from launch to the end of the period or of the server.
    let hours = |u: &Value| u["hours"].as_f64().unwrap();
    let expected = (ended - started).num_microseconds().unwrap() as f64 / 3.6e9;
    assert!((hours(terminated) - expected).abs() < 1e-9, "{terminated}");
    assert!(hours(live) > 0.0 && hours(live) < 0.01, "{live}");
    let total = hours(live) + hours(terminated);
    assert!(
        (a["total_hours"].as_f64().unwrap() - total).abs() < 1e-12,
        "{a}"
    );
    assert!((a["total_memory_mb_usage"].as_f64().unwrap() - 512.0 * total).abs() < 1e-9);
    assert!((a["total_vcpus_usage"].as_f64().unwrap() - total).abs() < 1e-12);
    assert!((a["total_local_gb_usage"].as_f64().unwrap() - total).abs() < 1e-12);
    assert!(listed[1]["server_usages"][0]["instance_id"] == bobs.as_str());

    // openstacksdk's `detailed=True` is detailed too.
    let by_sdk = admin
        .get_ok(&format!("/os-simple-tenant-usage?{query}&detailed=True"))
        .await;
    assert!(by_sdk["tenant_usages"][0]["server_usages"].is_array());

    // Not detailed: the totals only.
    let summary = admin
        .get_ok(&format!("/os-simple-tenant-usage?{query}"))
        .await;
    assert!(summary["tenant_usages"][0].get("server_usages").is_none());
    // Asked later, the live server has run a little longer.
    let later = summary["tenant_usages"][0]["total_hours"].as_f64().unwrap();
    assert!(later >= total && later < total + 0.01, "{summary}");

    // A project's reader sees its own; other projects are the admin's.
    let own = alice
        .get_ok(&format!("/os-simple-tenant-usage/proj-a?{query}"))
        .await["tenant_usage"]
        .clone();
    assert_eq!(own["server_usages"].as_array().unwrap().len(), 2);
    assert_fault(
        alice
            .get(&format!("/os-simple-tenant-usage/proj-b?{query}"))
            .await,
        403,
        "Policy doesn't allow os_compute_api:os-simple-tenant-usage:show to be performed.",
    )
    .await;
    assert_fault(
        alice.get(&format!("/os-simple-tenant-usage?{query}")).await,
        403,
        "Policy doesn't allow os_compute_api:os-simple-tenant-usage:list to be performed.",
    )
    .await;
    // A project without servers in the period: an empty usage.
    assert_eq!(
        admin
            .get_ok(&format!("/os-simple-tenant-usage/proj-none?{query}"))
            .await,
        json!({"tenant_usage": {}})
    );
    // A period before any server: nothing.
    let long_ago = period_query(before - Span::days(3), before - Span::days(2));
    assert_eq!(
        admin
            .get_ok(&format!("/os-simple-tenant-usage?{long_ago}"))
            .await,
        json!({"tenant_usages": []})
    );
    // Nova's other format of times (a space, microseconds) is read too.
    let spaced = format!(
        "start={}&end={}",
        before.format("%Y-%m-%d %H:%M:%S%.6f"),
        after.format("%Y-%m-%d %H:%M:%S%.6f")
    );
    let by_spaced = admin
        .get_ok(&format!("/os-simple-tenant-usage?{spaced}"))
        .await;
    assert_eq!(by_spaced["tenant_usages"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn usage_pages_from_2_40() {
    let server = Server::start_noauth_hosts(2).await;
    let image = cirros(&server).await;
    let alice = server.compute(ALICE, "2.1");
    let before = Utc::now() - Span::minutes(5);
    let mut ids = [
        active_server(&alice, &image, "one").await,
        active_server(&alice, &image, "two").await,
        active_server(&alice, &image, "three").await,
    ];
    ids.sort();
    let query = period_query(before, Utc::now() + Span::minutes(5));
    let admin = server.compute(ADMIN, "2.40");

    let first = admin
        .get_ok(&format!(
            "/os-simple-tenant-usage?{query}&detailed=1&limit=2"
        ))
        .await;
    let servers: Vec<&str> = first["tenant_usages"][0]["server_usages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["instance_id"].as_str().unwrap())
        .collect();
    assert_eq!(servers, ids[..2]);
    let next = first["tenant_usages_links"][0]["href"].as_str().unwrap();
    assert_eq!(first["tenant_usages_links"][0]["rel"], "next");
    assert!(
        next.contains("/v2.1/os-simple-tenant-usage?")
            && next.contains(&format!("marker={}", ids[1])),
        "{next}"
    );
    let rest = admin
        .get_ok(&format!(
            "/os-simple-tenant-usage?{query}&detailed=1&limit=2&marker={}",
            ids[1]
        ))
        .await;
    assert_eq!(
        rest["tenant_usages"][0]["server_usages"][0]["instance_id"],
        ids[2].as_str()
    );
    assert!(rest.get("tenant_usages_links").is_none(), "{rest}");

    // Show pages the same way, its links under the project.
    let shown = admin
        .get_ok(&format!("/os-simple-tenant-usage/proj-a?{query}&limit=1"))
        .await;
    assert_eq!(
        shown["tenant_usage"]["server_usages"][0]["instance_id"],
        ids[0].as_str()
    );
    let link = shown["tenant_usage_links"][0]["href"].as_str().unwrap();
    assert!(link.contains("/os-simple-tenant-usage/proj-a?"), "{link}");

    assert_fault(
        admin
            .get(&format!("/os-simple-tenant-usage?{query}&marker=nope"))
            .await,
        400,
        "Marker nope could not be found.",
    )
    .await;
    let negative = admin
        .get(&format!("/os-simple-tenant-usage?{query}&limit=-1"))
        .await;
    assert_eq!(negative.status(), 400);
    // Before 2.40 limit and marker mean nothing.
    let all = server
        .compute(ADMIN, "2.39")
        .get_ok(&format!(
            "/os-simple-tenant-usage?{query}&detailed=1&limit=1"
        ))
        .await;
    assert_eq!(
        all["tenant_usages"][0]["server_usages"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert!(all.get("tenant_usages_links").is_none());
}

#[tokio::test]
async fn usage_refusals() {
    let server = Server::start_noauth().await;
    let admin = server.compute(ADMIN, "2.1");
    for bad in [
        "yesterday",
        "2026-13-01T00:00:00",
        "2026-12-01",
        "2026-12-01 10:00:00",
    ] {
        assert_fault(
            admin
                .get(&format!("/os-simple-tenant-usage?start={bad}"))
                .await,
            400,
            "Invalid datetime string: Datetime is in invalid format",
        )
        .await;
    }
    assert_fault(
        admin
            .get("/os-simple-tenant-usage/p?start=2026-12-02T00:00:00&end=2026-12-01T00:00:00")
            .await,
        400,
        "Invalid start time. The start time cannot occur after the end time.",
    )
    .await;
    // Unknown parameters: ignored until 2.75, refused from it.
    let lenient = admin.get("/os-simple-tenant-usage?bogus=1").await;
    assert_eq!(lenient.status(), 200);
    let strict = server
        .compute(ADMIN, "2.75")
        .get("/os-simple-tenant-usage?bogus=1")
        .await;
    assert_eq!(strict.status(), 400);
    assert!(
        json_of(strict).await["badRequest"]["message"]
            .as_str()
            .unwrap()
            .contains("bogus"),
    );
    // Without a period: from now to now, so nothing ran in it.
    assert_eq!(
        admin.get_ok("/os-simple-tenant-usage").await,
        json!({"tenant_usages": []})
    );
}

#[tokio::test]
async fn the_usage_audit_log_reports_hosts_that_did_not_run_it() {
    let server = Server::start_noauth_hosts(2).await;
    let admin = server.compute(ADMIN, "2.1");
    let listed = admin.get_ok("/os-instance_usage_audit_log").await;
    let log = &listed["instance_usage_audit_logs"];
    assert_eq!(
        keys_of(log),
        [
            "hosts_not_run",
            "log",
            "num_hosts",
            "num_hosts_done",
            "num_hosts_not_run",
            "num_hosts_running",
            "overall_status",
            "period_beginning",
            "period_ending",
            "total_errors",
            "total_instances"
        ]
    );
    assert_eq!(log["hosts_not_run"], json!(["alpha", "alpha-2"]));
    assert_eq!(
        (
            &log["num_hosts"],
            &log["num_hosts_done"],
            &log["num_hosts_not_run"],
            &log["overall_status"],
            &log["log"]
        ),
        (
            &json!(2),
            &json!(0),
            &json!(2),
            &json!("0 of 2 hosts done. 0 errors."),
            &json!({})
        )
    );
    // The month completed last before now.
    let now = Utc::now();
    let this_month = now.format("%Y-%m-01 00:00:00").to_string();
    assert_eq!(log["period_ending"], this_month);

    // Before a time: the month that ended before it, a 1st at midnight
    // not having ended its month yet.
    let shown = admin
        .get_ok("/os-instance_usage_audit_log/2026-12-01%2000:00:00")
        .await["instance_usage_audit_log"]
        .clone();
    assert_eq!(
        (&shown["period_beginning"], &shown["period_ending"]),
        (&json!("2026-10-01 00:00:00"), &json!("2026-11-01 00:00:00"))
    );
    let shown = admin
        .get_ok("/os-instance_usage_audit_log/2026-01-15%2010:00:00.5")
        .await["instance_usage_audit_log"]
        .clone();
    assert_eq!(
        (&shown["period_beginning"], &shown["period_ending"]),
        (&json!("2025-12-01 00:00:00"), &json!("2026-01-01 00:00:00"))
    );
    assert_fault(
        admin.get("/os-instance_usage_audit_log/2026-12-01").await,
        400,
        "Invalid timestamp for date 2026-12-01",
    )
    .await;
    let alice = server.compute(ALICE, "2.1");
    assert_fault(
        alice.get("/os-instance_usage_audit_log").await,
        403,
        "Policy doesn't allow os_compute_api:os-instance-usage-audit-log:list to be performed.",
    )
    .await;
    assert_fault(
        alice
            .get("/os-instance_usage_audit_log/2026-12-01%2000:00:00")
            .await,
        403,
        "Policy doesn't allow os_compute_api:os-instance-usage-audit-log:show to be performed.",
    )
    .await;
}
