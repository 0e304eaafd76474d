//! The service as an operator sees it: health, configuration sources,
//! noauth mode, graceful shutdown, durability across restarts, and the
//! same behaviour on PostgreSQL as on SQLite.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::process::Command;

use common::{Options, Server, json_of, password_auth};
use serde_json::json;

#[tokio::test]
async fn health_reports_backend_driver_and_auth() {
    let server = Server::start().await;
    let response = server
        .http
        .get(server.url("/_oxstack/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body = json_of(response).await;
    assert_eq!(body["status"], "ok");
    assert_eq!(
        body["database"],
        json!({"backend": "sqlite", "reachable": true})
    );
    assert_eq!(body["driver"], "fake");
    assert_eq!(body["auth"], "keystone");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    assert!(body["uptime_seconds"].as_f64().unwrap() >= 0.0);
}

#[tokio::test]
async fn noauth_mode_takes_user_and_project_from_the_token() {
    let server = Server::start_with(Options {
        args: vec!["--auth".into(), "noauth".into()],
        ..Default::default()
    })
    .await;
    assert_eq!(
        json_of(
            server
                .http
                .get(server.url("/_oxstack/health"))
                .send()
                .await
                .unwrap()
        )
        .await["auth"],
        "noauth"
    );
    assert_eq!(
        server
            .get("/compute/v2.1/nothing", "admin:admin")
            .await
            .status(),
        404
    );
    assert_eq!(
        server
            .get("/compute/v2.1/abc/nothing", "bob:abc")
            .await
            .status(),
        404
    );
    assert_eq!(
        server
            .get("/compute/v2.1/abc/nothing", "bob:def")
            .await
            .status(),
        400,
        "project mismatch"
    );
    assert_eq!(
        server
            .http
            .get(server.url("/compute/v2.1/nothing"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
}

#[tokio::test]
async fn environment_and_config_file_are_honoured() {
    let server = Server::start_with(Options {
        config_toml: Some(
            "region = \"RegionTwo\"\n[bootstrap]\nadmin_password = \"s3cret\"\n".into(),
        ),
        ..Default::default()
    })
    .await;
    assert_eq!(
        server
            .post_token(password_auth("admin", "admin", Some("admin")))
            .await
            .status(),
        401
    );
    let response = server
        .post_token(password_auth("admin", "s3cret", Some("admin")))
        .await;
    assert_eq!(response.status(), 201);
    let body = json_of(response).await;
    assert_eq!(
        body["token"]["catalog"][0]["endpoints"][0]["region"],
        "RegionTwo"
    );

    let out = Command::new(env!("CARGO_BIN_EXE_oxstack"))
        .args(["clouds-yaml"])
        .env("OXSTACK_LISTEN", "127.0.0.1:9999")
        .output()
        .unwrap();
    assert!(out.status.success());
    let yaml = String::from_utf8(out.stdout).unwrap();
    assert!(
        yaml.contains("auth_url: http://127.0.0.1:9999/identity"),
        "{yaml}"
    );

    let bad = Command::new(env!("CARGO_BIN_EXE_oxstack"))
        .args(["serve", "--listen", "not-an-address"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid listen address"));
}

#[tokio::test]
async fn graceful_shutdown_and_restart_keep_everything_acknowledged() {
    let server = Server::start().await;
    let admin = server.admin_token().await;
    let created = server
        .http
        .post(server.url("/identity/v3/projects"))
        .header("X-Auth-Token", &admin)
        .json(&json!({"project": {"name": "survivor"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let data_dir = server.stop();
    assert!(data_dir.path().join("oxstack.db").exists());

    let server = Server::start_in(data_dir, Options::default()).await;
    // The signing key persisted: tokens issued before the restart still work.
    assert_eq!(
        server.get("/compute/v2.1/nothing", &admin).await.status(),
        404
    );
    let projects = json_of(
        server
            .get("/identity/v3/projects?name=survivor", &admin)
            .await,
    )
    .await;
    assert_eq!(projects["projects"].as_array().unwrap().len(), 1);
    // Bootstrap ran again without duplicating anything.
    let users = json_of(server.get("/identity/v3/users?name=admin", &admin).await).await;
    assert_eq!(users["users"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn postgresql_backend_serves_the_same_api() {
    let Some(url) = common::scratch_postgres_database("the same API").await else {
        return;
    };
    let options = Options {
        database_url: Some(url),
        ..Default::default()
    };
    let first = Server::start_with(options.clone()).await;
    let health = json_of(
        first
            .http
            .get(first.url("/_oxstack/health"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(health["database"]["backend"], "postgresql");
    let admin = first.admin_token().await;

    // A second API node on the same database shares identity and keys.
    let second = Server::start_with(options).await;
    assert_eq!(
        second.get("/compute/v2.1/nothing", &admin).await.status(),
        404,
        "token from node 1 valid on node 2"
    );
    let created = second
        .http
        .post(second.url("/identity/v3/users"))
        .header("X-Auth-Token", &admin)
        .json(&json!({"user": {"name": "shared", "password": "pw"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let found = json_of(first.get("/identity/v3/users?name=shared", &admin).await).await;
    assert_eq!(found["users"].as_array().unwrap().len(), 1);

    // Revocation on node 1 reaches node 2 within its refresh interval.
    let demo = first.token("demo", "demo", "demo").await;
    let revoke = first
        .http
        .delete(first.url("/identity/v3/auth/tokens"))
        .header("X-Auth-Token", &admin)
        .header("X-Subject-Token", &demo)
        .send()
        .await
        .unwrap();
    assert_eq!(revoke.status(), 204);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(8);
    loop {
        if second.get("/compute/v2.1/nothing", &demo).await.status() == 401 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "revocation did not propagate"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
