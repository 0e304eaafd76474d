//! The Keystone v3 subset, black-box: tokens and their catalog, validation
//! and revocation, and the admin API that tempest-style set-ups use.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use common::{Options, Server, header, json_of, password_auth, subject_token};
use serde_json::{Value, json};

async fn token_body(server: &Server, token: &str) -> Value {
    let response = server
        .http
        .get(server.url("/identity/v3/auth/tokens"))
        .header("X-Auth-Token", token)
        .header("X-Subject-Token", token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    json_of(response).await
}

#[tokio::test]
async fn password_token_has_keystone_shape_and_catalog() {
    let server = Server::start().await;
    let response = server
        .post_token(password_auth("admin", "admin", Some("admin")))
        .await;
    assert_eq!(response.status(), 201);
    let token = subject_token(&response);
    let body = json_of(response).await;
    let t = &body["token"];
    assert_eq!(t["methods"], json!(["password"]));
    assert_eq!(t["user"]["name"], "admin");
    assert_eq!(
        t["user"]["domain"],
        json!({"id": "default", "name": "Default"})
    );
    assert_eq!(t["project"]["name"], "admin");
    assert_eq!(t["project"]["domain"]["id"], "default");
    assert_eq!(t["is_domain"], false);
    let roles: Vec<&str> = t["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        roles,
        ["admin", "manager", "member", "reader"],
        "implied roles are expanded"
    );
    for stamp in ["issued_at", "expires_at"] {
        let s = t[stamp].as_str().unwrap();
        assert!(
            chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.6fZ").is_ok(),
            "{stamp}: {s}"
        );
    }
    assert_eq!(t["audit_ids"].as_array().unwrap().len(), 1);

    let catalog = t["catalog"].as_array().unwrap();
    let mut types: Vec<&str> = catalog
        .iter()
        .map(|s| s["type"].as_str().unwrap())
        .collect();
    types.sort_unstable();
    assert_eq!(
        types,
        [
            "block-storage",
            "compute",
            "identity",
            "image",
            "network",
            "volumev3"
        ]
    );
    for service in catalog {
        let endpoints = service["endpoints"].as_array().unwrap();
        let mut interfaces: Vec<&str> = endpoints
            .iter()
            .map(|e| e["interface"].as_str().unwrap())
            .collect();
        interfaces.sort_unstable();
        assert_eq!(interfaces, ["admin", "internal", "public"]);
        for e in endpoints {
            assert_eq!(e["region"], "RegionOne");
            assert_eq!(e["region_id"], "RegionOne");
            assert!(
                e["url"].as_str().unwrap().starts_with(&server.base),
                "built from the address reached"
            );
        }
    }
    let compute = catalog.iter().find(|s| s["type"] == "compute").unwrap();
    assert_eq!(compute["endpoints"][0]["url"], server.url("/compute/v2.1"));

    // The token works on the compute API.
    assert_eq!(
        server
            .get("/compute/v2.1/nonexistent", &token)
            .await
            .status(),
        404
    );
}

#[tokio::test]
async fn catalog_follows_the_host_the_client_used() {
    let server = Server::start().await;
    let response = server
        .http
        .post(server.url("/identity/v3/auth/tokens"))
        .header("Host", "cloud.example.org:8774")
        .json(&password_auth("demo", "demo", Some("demo")))
        .send()
        .await
        .unwrap();
    let body = json_of(response).await;
    let urls: Vec<&str> = body["token"]["catalog"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| {
            s["endpoints"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["url"].as_str().unwrap())
        })
        .collect();
    assert!(
        urls.iter()
            .all(|u| u.starts_with("http://cloud.example.org:8774/")),
        "{urls:?}"
    );

    let published = Server::start_with(Options {
        args: vec!["--public-url".into(), "https://cloud.example.com/".into()],
        ..Default::default()
    })
    .await;
    let body = json_of(
        published
            .post_token(password_auth("demo", "demo", Some("demo")))
            .await,
    )
    .await;
    let compute = body["token"]["catalog"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["type"] == "compute")
        .unwrap()
        .clone();
    assert_eq!(
        compute["endpoints"][0]["url"],
        "https://cloud.example.com/compute/v2.1"
    );
}

#[tokio::test]
async fn every_way_of_naming_user_project_and_domain() {
    let server = Server::start().await;
    let admin = server.admin_token().await;
    let me = token_body(&server, &admin).await;
    let user_id = me["token"]["user"]["id"].as_str().unwrap().to_owned();
    let project_id = me["token"]["project"]["id"].as_str().unwrap().to_owned();

    let by_ids = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {"id": user_id, "password": "admin"}}},
        "scope": {"project": {"id": project_id}}}});
    let by_domain_id = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"id": "default"}, "password": "admin"}}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}});
    for body in [by_ids, by_domain_id] {
        let response = server.post_token(body).await;
        assert_eq!(response.status(), 201);
        assert_eq!(
            json_of(response).await["token"]["project"]["id"],
            project_id
        );
    }

    // No scope: the user's default project (Keystone's rule).
    let response = server.post_token(password_auth("demo", "demo", None)).await;
    assert_eq!(response.status(), 201);
    assert_eq!(json_of(response).await["token"]["project"]["name"], "demo");

    // Explicitly unscoped: no project, roles or catalog; useless on compute.
    let mut unscoped = password_auth("demo", "demo", None);
    unscoped["auth"]["scope"] = json!("unscoped");
    let response = server.post_token(unscoped).await;
    assert_eq!(response.status(), 201);
    let token = subject_token(&response);
    let body = json_of(response).await;
    assert!(body["token"].get("project").is_none() && body["token"].get("catalog").is_none());
    assert_eq!(
        server.get("/compute/v2.1/nothing", &token).await.status(),
        401
    );

    // Token method: rescope the unscoped token to a project.
    let rescope = json!({"auth": {"identity": {"methods": ["token"], "token": {"id": token}},
        "scope": {"project": {"name": "demo", "domain": {"name": "Default"}}}}});
    let response = server.post_token(rescope).await;
    assert_eq!(response.status(), 201);
    let body = json_of(response).await;
    assert_eq!(body["token"]["methods"], json!(["password", "token"]));
    assert_eq!(
        body["token"]["audit_ids"].as_array().unwrap().len(),
        2,
        "audit chain kept"
    );
}

#[tokio::test]
async fn failed_authentication_is_401_with_a_challenge() {
    let server = Server::start().await;
    for body in [
        password_auth("admin", "wrong", Some("admin")),
        password_auth("nobody", "x", Some("admin")),
        password_auth("admin", "admin", Some("no-such-project")),
        password_auth("demo", "demo", Some("admin")), // no role there
    ] {
        let response = server.post_token(body.clone()).await;
        assert_eq!(response.status(), 401, "{body}");
        assert_eq!(
            header(&response, "www-authenticate"),
            Some(format!("Keystone uri=\"{}/identity\"", server.base).as_str())
        );
        let error = json_of(response).await;
        assert_eq!(error["error"]["code"], 401);
        assert_eq!(error["error"]["title"], "Unauthorized");
    }
}

#[tokio::test]
async fn malformed_and_incomplete_auth_requests_are_400() {
    let server = Server::start().await;
    let url = server.url("/identity/v3/auth/tokens");
    let send = |body: &'static str, content_type: &'static str| {
        server
            .http
            .post(&url)
            .header("Content-Type", content_type)
            .body(body)
            .send()
    };
    let response = send("{\"auth\": ", "application/json").await.unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(json_of(response).await["error"]["title"], "Bad Request");
    assert_eq!(
        send("{\"auth\": {}}", "application/json")
            .await
            .unwrap()
            .status(),
        400
    );
    assert_eq!(
        send(
            "{\"auth\": {\"identity\": {\"methods\": [\"password\"]}}}",
            "application/json"
        )
        .await
        .unwrap()
        .status(),
        400
    );
    assert_eq!(
        send("<auth/>", "application/xml").await.unwrap().status(),
        415
    );
    let too_big = server
        .http
        .post(&url)
        .header("Content-Type", "application/json")
        .body(format!("{{\"pad\": \"{}\"}}", "x".repeat(200_000)))
        .send()
        .await
        .unwrap();
    assert_eq!(too_big.status(), 413);
}

#[tokio::test]
async fn validation_head_and_revocation() {
    let server = Server::start().await;
    let admin = server.admin_token().await;
    let demo = server.token("demo", "demo", "demo").await;

    let body = token_body(&server, &demo).await;
    assert_eq!(body["token"]["user"]["name"], "demo");
    let head = server
        .http
        .head(server.url("/identity/v3/auth/tokens"))
        .header("X-Auth-Token", &admin)
        .header("X-Subject-Token", &demo)
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(header(&head, "x-subject-token"), Some(demo.as_str()));
    let nocatalog = server
        .http
        .get(server.url("/identity/v3/auth/tokens?nocatalog"))
        .header("X-Auth-Token", &admin)
        .header("X-Subject-Token", &demo)
        .send()
        .await
        .unwrap();
    assert!(json_of(nocatalog).await["token"].get("catalog").is_none());

    // A member may not inspect an admin's token.
    let peek = server
        .http
        .get(server.url("/identity/v3/auth/tokens"))
        .header("X-Auth-Token", &demo)
        .header("X-Subject-Token", &admin)
        .send()
        .await
        .unwrap();
    assert_eq!(peek.status(), 403);

    let forged = format!("{}x", &demo[..demo.len() - 1]);
    let response = server
        .http
        .get(server.url("/identity/v3/auth/tokens"))
        .header("X-Auth-Token", &admin)
        .header("X-Subject-Token", &forged)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);

    let revoke = server
        .http
        .delete(server.url("/identity/v3/auth/tokens"))
        .header("X-Auth-Token", &admin)
        .header("X-Subject-Token", &demo)
        .send()
        .await
        .unwrap();
    assert_eq!(revoke.status(), 204);
    assert_eq!(
        server.get("/compute/v2.1/nothing", &demo).await.status(),
        401,
        "revoked token refused"
    );
    assert_eq!(
        server.get("/compute/v2.1/nothing", &admin).await.status(),
        404,
        "other tokens unaffected"
    );
    let again = server.token("demo", "demo", "demo").await;
    assert_eq!(
        server.get("/compute/v2.1/nothing", &again).await.status(),
        404,
        "new tokens work"
    );
}

#[tokio::test]
async fn missing_forged_and_expired_tokens_are_refused() {
    let server = Server::start_with(Options {
        config_toml: Some("token_ttl_seconds = 1\n".into()),
        ..Default::default()
    })
    .await;
    let token = server.admin_token().await;
    let mut forged = token.clone();
    forged.insert(10, 'A');
    for bad in [forged.as_str(), "admin:admin", "garbage"] {
        let response = server.get("/compute/v2.1/nothing", bad).await;
        assert_eq!(response.status(), 401, "{bad}");
        assert!(header(&response, "www-authenticate").is_some());
        assert_eq!(
            json_of(response).await["error"]["message"],
            "The request you have made requires authentication."
        );
    }
    let anonymous = server
        .http
        .get(server.url("/compute/v2.1/nothing"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(
        server.get("/compute/v2.1/nothing", &token).await.status(),
        404
    );
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(
        server.get("/compute/v2.1/nothing", &token).await.status(),
        401,
        "expired"
    );
}

async fn send_json(
    server: &Server,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Value,
) -> reqwest::Response {
    server
        .http
        .request(method, server.url(path))
        .header("X-Auth-Token", token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn admin_sets_up_projects_users_and_grants() {
    let server = Server::start().await;
    let admin = server.admin_token().await;
    let base = server.url("/identity/v3");

    let roles = json_of(server.get("/identity/v3/roles", &admin).await).await;
    let role_id = |name: &str| {
        roles["roles"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("role {name}"))["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    for name in ["admin", "member", "reader", "manager"] {
        role_id(name);
    }
    let by_name = json_of(server.get("/identity/v3/roles?name=member", &admin).await).await;
    assert_eq!(by_name["roles"].as_array().unwrap().len(), 1);

    let response = send_json(
        &server,
        reqwest::Method::POST,
        "/identity/v3/projects",
        &admin,
        json!({"project": {"name": "tempest-1", "description": "d"}}),
    )
    .await;
    assert_eq!(response.status(), 201);
    let project = json_of(response).await["project"].clone();
    assert_eq!(project["domain_id"], "default");
    assert_eq!(project["enabled"], true);
    assert_eq!(
        project["links"]["self"],
        format!("{base}/projects/{}", project["id"].as_str().unwrap())
    );
    let pid = project["id"].as_str().unwrap().to_owned();
    let dup = send_json(
        &server,
        reqwest::Method::POST,
        "/identity/v3/projects",
        &admin,
        json!({"project": {"name": "tempest-1"}}),
    )
    .await;
    assert_eq!(dup.status(), 409);

    let response = send_json(
        &server,
        reqwest::Method::POST,
        "/identity/v3/users",
        &admin,
        json!({"user": {"name": "alice", "password": "pw", "default_project_id": pid}}),
    )
    .await;
    assert_eq!(response.status(), 201);
    let user = json_of(response).await["user"].clone();
    assert!(user.get("password").is_none(), "passwords are never shown");
    let uid = user["id"].as_str().unwrap().to_owned();

    // Without a role alice cannot scope to the project.
    assert_eq!(
        server
            .post_token(password_auth("alice", "pw", Some("tempest-1")))
            .await
            .status(),
        401
    );
    let member = role_id("member");
    let grant_path = format!("/identity/v3/projects/{pid}/users/{uid}/roles/{member}");
    let put = server
        .http
        .put(server.url(&grant_path))
        .header("X-Auth-Token", &admin)
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 204);
    let check = server
        .http
        .head(server.url(&grant_path))
        .header("X-Auth-Token", &admin)
        .send()
        .await
        .unwrap();
    assert_eq!(check.status(), 204);
    let alice = server.token("alice", "pw", "tempest-1").await;

    let listing = json_of(
        server
            .get(
                &format!("/identity/v3/role_assignments?scope.project.id={pid}&include_names"),
                &admin,
            )
            .await,
    )
    .await;
    let items = listing["role_assignments"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["role"]["name"], "member");
    assert_eq!(items[0]["user"]["name"], "alice");
    assert_eq!(items[0]["scope"]["project"]["name"], "tempest-1");
    assert_eq!(items[0]["links"]["assignment"], server.url(&grant_path));
    let effective = json_of(
        server
            .get(
                &format!("/identity/v3/role_assignments?user.id={uid}&effective"),
                &admin,
            )
            .await,
    )
    .await;
    assert_eq!(
        effective["role_assignments"].as_array().unwrap().len(),
        2,
        "member implies reader"
    );

    // Members may not administer identity.
    for path in [
        "/identity/v3/projects",
        "/identity/v3/users",
        "/identity/v3/roles",
        "/identity/v3/role_assignments",
    ] {
        let response = server.get(path, &alice).await;
        assert_eq!(response.status(), 403, "{path}");
        assert!(
            json_of(response).await["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("You are not authorized to perform the requested action: identity:")
        );
    }
    // ...but may read their own user and projects.
    assert_eq!(
        server
            .get(&format!("/identity/v3/users/{uid}"), &alice)
            .await
            .status(),
        200
    );
    let own = json_of(server.get("/identity/v3/auth/projects", &alice).await).await;
    assert_eq!(own["projects"][0]["id"], pid);
    assert_eq!(
        json_of(
            server
                .get(&format!("/identity/v3/users/{uid}/projects"), &alice)
                .await
        )
        .await["projects"][0]["id"],
        pid
    );

    // Revoking the grant revokes alice's token on that project.
    let delete = server
        .http
        .delete(server.url(&grant_path))
        .header("X-Auth-Token", &admin)
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), 204);
    assert_eq!(
        server.get("/compute/v2.1/nothing", &alice).await.status(),
        401
    );
    let missing = server
        .http
        .head(server.url(&grant_path))
        .header("X-Auth-Token", &admin)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);

    // Patch and delete.
    let patched = send_json(
        &server,
        reqwest::Method::PATCH,
        &format!("/identity/v3/users/{uid}"),
        &admin,
        json!({"user": {"enabled": false}}),
    )
    .await;
    assert_eq!(json_of(patched).await["user"]["enabled"], false);
    assert_eq!(
        server
            .post_token(password_auth("alice", "pw", None))
            .await
            .status(),
        401,
        "disabled user"
    );
    let gone = server
        .http
        .delete(server.url(&format!("/identity/v3/users/{uid}")))
        .header("X-Auth-Token", &admin)
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 204);
    assert_eq!(
        server
            .get(&format!("/identity/v3/users/{uid}"), &admin)
            .await
            .status(),
        404
    );
    let renamed = send_json(
        &server,
        reqwest::Method::PATCH,
        &format!("/identity/v3/projects/{pid}"),
        &admin,
        json!({"project": {"name": "renamed"}}),
    )
    .await;
    assert_eq!(json_of(renamed).await["project"]["name"], "renamed");
    let filtered = json_of(
        server
            .get("/identity/v3/projects?name=renamed", &admin)
            .await,
    )
    .await;
    assert_eq!(filtered["projects"].as_array().unwrap().len(), 1);
    assert_eq!(
        server
            .http
            .delete(server.url(&format!("/identity/v3/projects/{pid}")))
            .header("X-Auth-Token", &admin)
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(
        server
            .get(&format!("/identity/v3/projects/{pid}"), &admin)
            .await
            .status(),
        404
    );

    // Grants on things that do not exist are 404s.
    let bogus = server
        .http
        .put(server.url(&format!(
            "/identity/v3/projects/nope/users/{uid}/roles/{member}"
        )))
        .header("X-Auth-Token", &admin)
        .send()
        .await
        .unwrap();
    assert_eq!(bogus.status(), 404);
}

#[tokio::test]
async fn discovery_documents() {
    let server = Server::start().await;
    for path in ["/identity", "/identity/"] {
        let response = server.http.get(server.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 300, "{path}");
        let body = json_of(response).await;
        assert_eq!(body["versions"]["values"][0]["id"], "v3.14");
        assert_eq!(
            body["versions"]["values"][0]["links"][0]["href"],
            server.url("/identity/v3/")
        );
    }
    let v3 = json_of(
        server
            .http
            .get(server.url("/identity/v3"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(v3["version"]["status"], "stable");
    assert_eq!(
        v3["version"]["media-types"][0]["type"],
        "application/vnd.openstack.identity-v3+json"
    );
    let domain = json_of(
        server
            .get(
                "/identity/v3/domains/default",
                &server.token("demo", "demo", "demo").await,
            )
            .await,
    )
    .await;
    assert_eq!(domain["domain"]["name"], "Default");
}

#[tokio::test]
async fn roles_can_be_created_and_deleted() {
    let server = Server::start().await;
    let admin = server.admin_token().await;
    let created = send_json(
        &server,
        reqwest::Method::POST,
        "/identity/v3/roles",
        &admin,
        json!({"role": {"name": "auditor"}}),
    )
    .await;
    assert_eq!(created.status(), 201);
    let role = json_of(created).await["role"].clone();
    assert_eq!(role["name"], "auditor");
    let dup = send_json(
        &server,
        reqwest::Method::POST,
        "/identity/v3/roles",
        &admin,
        json!({"role": {"name": "auditor"}}),
    )
    .await;
    assert_eq!(dup.status(), 409);
    let demo = server.token("demo", "demo", "demo").await;
    let denied = send_json(
        &server,
        reqwest::Method::POST,
        "/identity/v3/roles",
        &demo,
        json!({"role": {"name": "x"}}),
    )
    .await;
    assert_eq!(denied.status(), 403);

    // Grant it to demo, then delete it: the grant and demo's tokens go too.
    let me = token_body(&server, &demo).await;
    let (pid, uid) = (
        me["token"]["project"]["id"].as_str().unwrap().to_owned(),
        me["token"]["user"]["id"].as_str().unwrap().to_owned(),
    );
    let rid = role["id"].as_str().unwrap();
    let grant = format!("/identity/v3/projects/{pid}/users/{uid}/roles/{rid}");
    assert_eq!(
        server
            .http
            .put(server.url(&grant))
            .header("X-Auth-Token", &admin)
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    let delete = server
        .http
        .delete(server.url(&format!("/identity/v3/roles/{rid}")))
        .header("X-Auth-Token", &admin)
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), 204);
    assert_eq!(
        server
            .get(&format!("/identity/v3/roles/{rid}"), &admin)
            .await
            .status(),
        404
    );
    assert_eq!(
        server.get("/compute/v2.1/nothing", &demo).await.status(),
        401,
        "holders' tokens revoked"
    );
    let still = json_of(
        server
            .get(
                &format!("/identity/v3/role_assignments?user.id={uid}"),
                &admin,
            )
            .await,
    )
    .await;
    assert_eq!(
        still["role_assignments"].as_array().unwrap().len(),
        2,
        "only member and reader remain"
    );

    let wrong = server
        .http
        .put(server.url("/identity/v3/roles"))
        .header("X-Auth-Token", &admin)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 405);
    assert_eq!(json_of(wrong).await["error"]["code"], 405);
}
