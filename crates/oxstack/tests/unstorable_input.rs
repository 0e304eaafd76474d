//! Text no engine stores alike (a NUL character: PostgreSQL refuses it)
//! is the caller's bad input on both engines: a 400 in each service's
//! dialect, and nothing changed. Found by tests/reliability/fuzz.py.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use common::{Options, Server, cirros, json_of};
use serde_json::json;

const MESSAGE: &str = "Invalid input: a value contains a NUL character, which cannot be stored.";

async fn check(server: Server) {
    let image = cirros(&server).await;
    let alice = server.compute("alice:proj-a", "2.1");
    let admin = server.compute("admin:admin", "2.1");
    let body = json!({"server": {"name": "nul", "imageRef": image, "flavorRef": "1",
                                 "metadata": {"k": "v\u{0}"}}});
    common::assert_fault(alice.post("/servers", &body).await, 400, MESSAGE).await;
    assert!(
        alice.get_ok("/servers").await["servers"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let spec = json!({"extra_specs": {"hw:x": "\u{0}"}});
    common::assert_fault(
        admin.post("/flavors/1/os-extra_specs", &spec).await,
        400,
        MESSAGE,
    )
    .await;
    assert_eq!(
        admin.get_ok("/flavors/1/os-extra_specs").await["extra_specs"].get("hw:x"),
        None
    );
    // A filter holding one finds nothing to read: the same 400.
    let glance = server
        .http
        .get(server.url("/image/v2/images?name=%00"))
        .header("X-Auth-Token", "admin:admin")
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(glance.status(), 400);
    assert!(
        json_of(glance).await["message"]
            .as_str()
            .unwrap()
            .contains("NUL character")
    );
}

#[tokio::test]
async fn nul_characters_are_refused_with_400_on_sqlite() {
    check(Server::start_noauth().await).await;
}

#[tokio::test]
async fn nul_characters_are_refused_with_400_on_postgres() {
    let Some(url) = common::scratch_postgres_database("NUL characters").await else {
        return;
    };
    let server = Server::start_with(Options::noauth(Some(url))).await;
    check(server).await;
}
