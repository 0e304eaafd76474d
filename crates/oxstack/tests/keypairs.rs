//! `/os-keypairs`, black-box: the fields and codes of each microversion
//! (Nova's api_samples and tempest's response schemas), generated and
//! imported keys, every refusal with Nova's message, users and admins,
//! paging, the quota, and servers booted and rebuilt with a key.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::time::Duration;

use common::{Compute, Server, assert_fault, cirros, json_of, keys_of};
use serde_json::{Value, json};

const ADMIN: &str = "admin:admin";
const ALICE: &str = "alice:proj-a";
const BOB: &str = "bob:proj-b";

/// An ECDSA P-384 key, the kind tempest's client makes for itself.
const P384: &str = "ecdsa-sha2-nistp384 AAAAE2VjZHNhLXNoYTItbmlzdHAzODQAAAAIbmlzdHAzODQAAABhBCXGo4geymQOpvOJ3SSM1FJ1EDXusrRnCvOwKwfKww5ZKvlw3xRCgf6u3cewYXX/WYVDnN/C6LhKQGCvxaI5eSXuGrazizKyGL9WiOf0ZR44kl0VEIedEUCr74yfu31wKQ== root@vm";
/// Its MD5 fingerprint, as `ssh-keygen -l -E md5` prints it.
const P384_FINGERPRINT: &str = "dc:3b:ee:59:7e:ab:41:7d:34:e1:14:fe:bd:98:6a:46";

async fn create(c: &Compute<'_>, keypair: Value) -> (u16, Value) {
    let response = c.post("/os-keypairs", &json!({"keypair": keypair})).await;
    let status = response.status().as_u16();
    (status, json_of(response).await)
}

#[tokio::test]
async fn generated_and_imported_key_pairs_at_each_microversion() {
    let server = Server::start_noauth().await;
    let v21 = server.compute(ALICE, "2.1");
    let v22 = server.compute(ALICE, "2.2");

    // 2.1: generated, 200, no type.
    let (status, made) = create(&v21, json!({"name": "made"})).await;
    assert_eq!(status, 200, "{made}");
    let made = &made["keypair"];
    assert_eq!(
        keys_of(made),
        [
            "fingerprint",
            "name",
            "private_key",
            "public_key",
            "user_id"
        ]
    );
    assert_eq!(
        (made["name"].clone(), made["user_id"].clone()),
        (json!("made"), json!("alice"))
    );
    let public = made["public_key"].as_str().unwrap();
    assert!(public.starts_with("ssh-rsa AAAA") && public.ends_with(" Generated-by-Nova"));
    let private = made["private_key"].as_str().unwrap();
    assert!(
        private.starts_with("-----BEGIN RSA PRIVATE KEY-----\n"),
        "{private}"
    );
    assert_eq!(made["fingerprint"].as_str().unwrap().len(), 47);

    // 2.2: imported, 201, with type; no private key.
    let (status, imported) = create(&v22, json!({"name": "imported", "public_key": P384})).await;
    assert_eq!(status, 201, "{imported}");
    let imported = &imported["keypair"];
    assert_eq!(
        keys_of(imported),
        ["fingerprint", "name", "public_key", "type", "user_id"]
    );
    assert_eq!(imported["public_key"], P384, "kept as given");
    assert_eq!(imported["fingerprint"], P384_FINGERPRINT);
    assert_eq!(imported["type"], "ssh");

    // The listing repeats what creating answered (tempest compares them).
    let listed = v22.get_ok("/os-keypairs").await;
    assert_eq!(keys_of(&listed), ["keypairs"]);
    let entries = listed["keypairs"].as_array().unwrap();
    let names: Vec<&Value> = entries.iter().map(|e| &e["keypair"]["name"]).collect();
    assert_eq!(names, [&json!("imported"), &json!("made")], "by name");
    let mut expected = imported.clone();
    expected.as_object_mut().unwrap().remove("user_id");
    assert_eq!(entries[0]["keypair"], expected);
    let v21_entry = &v21.get_ok("/os-keypairs").await["keypairs"][1]["keypair"];
    assert_eq!(keys_of(v21_entry), ["fingerprint", "name", "public_key"]);
    assert_eq!(v21_entry["public_key"], made["public_key"]);

    // One key pair: Nova's model, soft-delete fields never set.
    let shown = v22.get_ok("/os-keypairs/imported").await;
    let shown = &shown["keypair"];
    assert_eq!(
        keys_of(shown),
        [
            "created_at",
            "deleted",
            "deleted_at",
            "fingerprint",
            "id",
            "name",
            "public_key",
            "type",
            "updated_at",
            "user_id"
        ]
    );
    assert_eq!(
        (
            shown["deleted"].clone(),
            shown["deleted_at"].clone(),
            shown["updated_at"].clone()
        ),
        (json!(false), Value::Null, Value::Null)
    );
    assert!(shown["id"].is_i64());
    let created_at = shown["created_at"].as_str().unwrap();
    assert!(chrono::NaiveDateTime::parse_from_str(created_at, "%Y-%m-%dT%H:%M:%S%.6f").is_ok());
    assert!(!keys_of(&v21.get_ok("/os-keypairs/made").await["keypair"]).contains(&"type"));

    // An x509 certificate, made here, then imported again.
    let (status, cert) = create(&v22, json!({"name": "winrm", "type": "x509"})).await;
    assert_eq!(status, 201, "{cert}");
    let cert = &cert["keypair"];
    assert_eq!(cert["type"], "x509");
    let pem = cert["public_key"].as_str().unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----\n"), "{pem}");
    assert_eq!(cert["fingerprint"].as_str().unwrap().len(), 59, "SHA-1");
    assert!(
        cert["private_key"].as_str().unwrap().len() > 1000,
        "a PKCS#12 file"
    );
    let (status, again) = create(
        &v22,
        json!({"name": "winrm-again", "type": "x509", "public_key": pem}),
    )
    .await;
    assert_eq!(status, 201, "{again}");
    assert_eq!(again["keypair"]["fingerprint"], cert["fingerprint"]);
    let shown = v22.get_ok("/os-keypairs/winrm").await;
    assert_eq!(shown["keypair"]["type"], "x509");

    // Deleting: 202 at 2.1, 204 from 2.2; then it is gone.
    assert_eq!(v21.delete("/os-keypairs/made").await.status(), 202);
    let gone = v22.delete("/os-keypairs/imported").await;
    assert_eq!(gone.status(), 204);
    assert_eq!(gone.bytes().await.unwrap().len(), 0);
    assert_fault(
        v22.get("/os-keypairs/imported").await,
        404,
        "Keypair imported not found for user alice",
    )
    .await;
    assert_fault(
        v22.delete("/os-keypairs/imported").await,
        404,
        "Keypair imported not found for user alice",
    )
    .await;
}

#[tokio::test]
async fn from_2_92_keys_are_imported_only_and_names_may_hold_at_and_dot() {
    let server = Server::start_noauth().await;
    let v291 = server.compute(ALICE, "2.91");
    let v292 = server.compute(ALICE, "2.92");
    let (status, made) = create(&v291, json!({"name": "still-made"})).await;
    assert_eq!(status, 201, "{made}");
    assert!(made["keypair"]["private_key"].is_string());
    let response = v292
        .post("/os-keypairs", &json!({"keypair": {"name": "foo"}}))
        .await;
    assert_fault(
        response,
        400,
        "Invalid input for field/attribute keypair. Value: {'name': 'foo'}. 'public_key' is a required property",
    )
    .await;

    let name = "me.and.myself@this.nice.domain.com mooh.";
    let (status, imported) = create(&v292, json!({"name": name, "public_key": P384})).await;
    assert_eq!(status, 201, "{imported}");
    let shown = v292
        .get_ok("/os-keypairs/me.and.myself@this.nice.domain.com%20mooh.")
        .await;
    assert_eq!(shown["keypair"]["name"], name);
    let response = v291
        .post(
            "/os-keypairs",
            &json!({"keypair": {"name": "a@b", "public_key": P384}}),
        )
        .await;
    assert_fault(
        response,
        400,
        r"Invalid input for field/attribute name. Value: a@b. 'a@b' does not match '^[_\\- a-zA-Z0-9]+$'",
    )
    .await;
}

#[tokio::test]
async fn refusals_carry_novas_codes_and_messages_and_change_nothing() {
    let server = Server::start_noauth().await;
    let v21 = server.compute(ALICE, "2.1");
    let v22 = server.compute(ALICE, "2.2");
    let post = async |c: &Compute<'_>, body: Value| c.post("/os-keypairs", &body).await;

    // Tempest's invalid keys.
    for junk in [
        "ssh-rsa JUNK nova@ubuntu".to_owned(),
        " ".to_owned(),
        format!("ssh-rsa {} openstack@ubuntu", "A".repeat(2048)),
    ] {
        assert_fault(
            post(
                &v21,
                json!({"keypair": {"name": "bad", "public_key": junk}}),
            )
            .await,
            400,
            "Keypair data is invalid: failed to generate fingerprint",
        )
        .await;
    }
    let not_a_certificate = json!({"keypair": {"name": "bad", "type": "x509", "public_key": P384}});
    let response = post(&v22, not_a_certificate).await;
    assert_eq!(response.status(), 400);
    let message = json_of(response).await["badRequest"]["message"].clone();
    assert!(
        message.as_str().unwrap().starts_with(
            "Keypair data is invalid: failed to generate X509 fingerprint. Error message: "
        ),
        "{message}"
    );

    // Names.
    assert_fault(
        post(&v21, json!({"keypair": {"name": ""}})).await,
        400,
        "Invalid input for field/attribute name. Value: . '' should be non-empty",
    )
    .await;
    let long = format!("keypair-{}", "0".repeat(252));
    assert_fault(
        post(&v21, json!({"keypair": {"name": long}})).await,
        400,
        &format!("Invalid input for field/attribute name. Value: {long}. '{long}' is too long"),
    )
    .await;
    assert_fault(
        post(&v21, json!({"keypair": {"name": r"key_/.\@:"}})).await,
        400,
        r"Invalid input for field/attribute name. Value: key_/.\@:. 'key_/.\\@:' does not match '^[_\\- a-zA-Z0-9]+$'",
    )
    .await;
    assert_fault(
        post(&v21, json!({"keypair": {"name": " padded"}})).await,
        400,
        "An invalid 'name' value was provided. The name must be: printable characters. Can not start or end with whitespace.",
    )
    .await;

    // Shape, and fields of later versions.
    assert_fault(
        post(&v21, json!({})).await,
        400,
        "'keypair' is a required property",
    )
    .await;
    assert_fault(
        post(&v21, json!({"keypair": {"name": "k", "type": "ssh"}})).await,
        400,
        "Invalid input for field/attribute keypair. Value: {'name': 'k', 'type': 'ssh'}. Additional properties are not allowed ('type' was unexpected)",
    )
    .await;
    let v29 = server.compute(ALICE, "2.9");
    assert_eq!(
        post(&v29, json!({"keypair": {"name": "k", "user_id": "alice"}}))
            .await
            .status(),
        400
    );
    assert_fault(
        post(&v22, json!({"keypair": {"name": "k", "type": "rsa"}})).await,
        400,
        "Invalid input for field/attribute type. Value: rsa. 'rsa' is not one of ['ssh', 'x509']",
    )
    .await;
    let response = v21
        .server
        .http
        .post(server.url("/compute/v2.1/os-keypairs"))
        .header("X-Auth-Token", ALICE)
        .header("Content-Type", "application/json")
        .body("{\"keypair\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);

    // A taken name.
    let (status, _) = create(&v21, json!({"name": "dup", "public_key": P384})).await;
    assert_eq!(status, 200);
    assert_fault(
        post(
            &v21,
            json!({"keypair": {"name": "dup", "public_key": P384}}),
        )
        .await,
        409,
        "Key pair 'dup' already exists.",
    )
    .await;
    // None of the refusals stored anything.
    let listed = v21.get_ok("/os-keypairs").await;
    assert_eq!(listed["keypairs"].as_array().unwrap().len(), 1, "{listed}");

    // Query parameters: ignored before 2.75, refused from it.
    assert_eq!(
        server
            .compute(ALICE, "2.74")
            .get("/os-keypairs?foo=1")
            .await
            .status(),
        200
    );
    let strict = server.compute(ALICE, "2.75");
    assert_eq!(strict.get("/os-keypairs?foo=1").await.status(), 400);
    assert_eq!(strict.get("/os-keypairs/dup?foo=1").await.status(), 400);
    assert_eq!(strict.get("/os-keypairs?limit=x").await.status(), 400);
    assert_fault(
        strict.get("/os-keypairs?marker=nope").await,
        400,
        "Marker nope could not be found.",
    )
    .await;
}

#[tokio::test]
async fn the_quota_counts_each_users_key_pairs() {
    let server = Server::start_noauth().await;
    let admin = server.compute(ADMIN, "2.10");
    let response = admin
        .put(
            "/os-quota-sets/proj-a",
            &json!({"quota_set": {"key_pairs": 2}}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let alice = server.compute(ALICE, "2.10");
    let limits = alice.get_ok("/limits").await;
    assert_eq!(limits["limits"]["absolute"]["maxTotalKeypairs"], 2);
    for name in ["k1", "k2"] {
        let (status, body) = create(&alice, json!({"name": name, "public_key": P384})).await;
        assert_eq!(status, 201, "{body}");
    }
    let over = async |keypair: Value| {
        alice
            .post("/os-keypairs", &json!({"keypair": keypair}))
            .await
    };
    assert_fault(
        over(json!({"name": "k3", "public_key": P384})).await,
        403,
        "Quota exceeded, too many key pairs.",
    )
    .await;
    // Nova checks the quota before the key.
    assert_fault(
        over(json!({"name": "k3", "public_key": "junk"})).await,
        403,
        "Quota exceeded, too many key pairs.",
    )
    .await;
    assert_eq!(alice.delete("/os-keypairs/k1").await.status(), 204);
    let (status, _) = create(&alice, json!({"name": "k3", "public_key": P384})).await;
    assert_eq!(status, 201);
    // Key pairs are users', so the project's quota set shows none in use.
    let detail = admin.get_ok("/os-quota-sets/proj-a/detail").await;
    assert_eq!(
        detail["quota_set"]["key_pairs"],
        json!({"in_use": 0, "limit": 2, "reserved": 0})
    );
}

#[tokio::test]
async fn users_see_their_own_and_admins_anyones() {
    let server = Server::start_noauth().await;
    let alice = server.compute(ALICE, "2.10");
    let bob = server.compute(BOB, "2.10");
    let admin = server.compute(ADMIN, "2.10");
    let (status, _) = create(&alice, json!({"name": "k1", "public_key": P384})).await;
    assert_eq!(status, 201);
    // Names are unique per user only.
    let (status, _) = create(&bob, json!({"name": "k1", "public_key": P384})).await;
    assert_eq!(status, 201);
    assert_eq!(
        bob.get_ok("/os-keypairs").await["keypairs"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    for (method, path, policy) in [
        ("GET", "/os-keypairs?user_id=alice", "index"),
        ("GET", "/os-keypairs/k1?user_id=alice", "show"),
        ("DELETE", "/os-keypairs/k1?user_id=alice", "delete"),
    ] {
        let response = bob.send(method.parse().unwrap(), path, &Value::Null).await;
        assert_fault(
            response,
            403,
            &format!("Policy doesn't allow os_compute_api:os-keypairs:{policy} to be performed."),
        )
        .await;
    }
    assert_fault(
        bob.post(
            "/os-keypairs",
            &json!({"keypair": {"name": "x", "public_key": P384, "user_id": "alice"}}),
        )
        .await,
        403,
        "Policy doesn't allow os_compute_api:os-keypairs:create to be performed.",
    )
    .await;
    // Before 2.10 the parameter means nothing: bob gets his own.
    let v29 = server.compute(BOB, "2.9");
    let own = v29.get_ok("/os-keypairs?user_id=alice").await;
    assert_eq!(own["keypairs"][0]["keypair"]["public_key"], P384);

    // An admin manages alice's key pairs by naming her.
    let (status, made) = create(
        &admin,
        json!({"name": "from-admin", "type": "ssh", "user_id": "alice"}),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    assert_eq!(made["keypair"]["user_id"], "alice");
    let shown = admin.get_ok("/os-keypairs/from-admin?user_id=alice").await;
    assert_eq!(shown["keypair"]["user_id"], "alice");
    let listed = admin.get_ok("/os-keypairs?user_id=alice").await;
    assert_eq!(listed["keypairs"].as_array().unwrap().len(), 2);
    assert_eq!(
        admin.get_ok("/os-keypairs").await["keypairs"],
        json!([]),
        "the admin's own"
    );
    let alice_sees = alice.get_ok("/os-keypairs").await;
    assert_eq!(alice_sees["keypairs"].as_array().unwrap().len(), 2);
    assert_eq!(
        admin
            .delete("/os-keypairs/from-admin?user_id=alice")
            .await
            .status(),
        204
    );
    assert_eq!(alice.get("/os-keypairs/from-admin").await.status(), 404);
}

#[tokio::test]
async fn listings_page_by_name_from_2_35() {
    let server = Server::start_noauth().await;
    let alice = server.compute(ALICE, "2.35");
    for name in ["k-c", "k-a", "k-b"] {
        let (status, _) = create(&alice, json!({"name": name, "public_key": P384})).await;
        assert_eq!(status, 201);
    }
    let page = alice.get_ok("/os-keypairs?limit=2").await;
    let names: Vec<&Value> = page["keypairs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| &k["keypair"]["name"])
        .collect();
    assert_eq!(names, [&json!("k-a"), &json!("k-b")]);
    let next = page["keypairs_links"][0]["href"].as_str().unwrap();
    assert_eq!(page["keypairs_links"][0]["rel"], "next");
    assert!(next.ends_with("/os-keypairs?limit=2&marker=k-b"), "{next}");
    let rest = alice.get_ok("/os-keypairs?limit=2&marker=k-b").await;
    assert_eq!(rest["keypairs"][0]["keypair"]["name"], "k-c");
    assert!(rest.get("keypairs_links").is_none(), "{rest}");
    // Before 2.35 there is no paging: every key pair, no links.
    let all = server
        .compute(ALICE, "2.34")
        .get_ok("/os-keypairs?limit=1")
        .await;
    assert_eq!(all["keypairs"].as_array().unwrap().len(), 3);
    assert!(all.get("keypairs_links").is_none());
}

/// Polls until the server reaches `status` (or fails after 10 s).
async fn wait_for(c: &Compute<'_>, id: &str, status: &str) -> Value {
    for _ in 0..500 {
        let body = c.get_ok(&format!("/servers/{id}")).await;
        if body["server"]["status"] == status {
            return body["server"].clone();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("server {id} never reached {status}");
}

#[tokio::test]
async fn servers_boot_and_rebuild_with_a_key_pair() {
    let server = Server::start_noauth().await;
    let image = cirros(&server).await;
    let alice = server.compute(ALICE, "2.54");
    let bob = server.compute(BOB, "2.54");
    for name in ["first", "second"] {
        let (status, _) = create(&alice, json!({"name": name, "public_key": P384})).await;
        assert_eq!(status, 201);
    }
    let body = |key: &str| {
        json!({"server": {"name": "vm", "imageRef": image, "flavorRef": "1",
                          "networks": "auto", "key_name": key}})
    };
    assert_fault(
        bob.post("/servers", &body("first")).await,
        400,
        "Invalid key_name provided.",
    )
    .await;
    assert_fault(
        alice.post("/servers", &body("nope")).await,
        400,
        "Invalid key_name provided.",
    )
    .await;
    let response = alice.post("/servers", &body("first")).await;
    assert_eq!(response.status(), 202);
    let id = json_of(response).await["server"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let active = wait_for(&alice, &id, "ACTIVE").await;
    assert_eq!(active["key_name"], "first");
    let filtered = alice.get_ok("/servers/detail?key_name=fir").await;
    assert_eq!(filtered["servers"].as_array().unwrap().len(), 1);

    let rebuild = |key: Value| json!({"rebuild": {"imageRef": image, "key_name": key}});
    let action = format!("/servers/{id}/action");
    let response = alice.post(&action, &rebuild(json!("second"))).await;
    assert_eq!(response.status(), 202);
    assert_eq!(json_of(response).await["server"]["key_name"], "second");
    wait_for(&alice, &id, "ACTIVE").await;
    assert_fault(
        alice.post(&action, &rebuild(json!("nope"))).await,
        400,
        "Invalid key_name provided.",
    )
    .await;
    let response = alice.post(&action, &rebuild(Value::Null)).await;
    assert_eq!(response.status(), 202);
    assert_eq!(
        wait_for(&alice, &id, "ACTIVE").await["key_name"],
        Value::Null
    );
    let before = server.compute(ALICE, "2.53");
    assert_eq!(
        before
            .post(&action, &rebuild(json!("first")))
            .await
            .status(),
        400
    );

    // Deleting a key pair leaves the servers that use it alone.
    let response = alice.post(&action, &rebuild(json!("first"))).await;
    assert_eq!(response.status(), 202);
    wait_for(&alice, &id, "ACTIVE").await;
    assert_eq!(alice.delete("/os-keypairs/first").await.status(), 204);
    assert_eq!(
        alice.get_ok(&format!("/servers/{id}")).await["server"]["key_name"],
        "first"
    );
}
