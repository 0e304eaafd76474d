//! Images, black-box: the Glance v2 subset (create, upload, download, list,
//! patch, delete, tags, visibility between projects, errors) and the
//! compute API's deprecated image proxy and image metadata.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use common::{Options, Server, assert_fault, header, json_of};
use serde_json::{Value, json};

const ADMIN: &str = "admin:admin";
const ALICE: &str = "alice:proj-a";
const BOB: &str = "bob:proj-b";

struct Glance<'a> {
    server: &'a Server,
    token: &'a str,
}

impl Glance<'_> {
    fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.server
            .http
            .request(method, self.server.url(&format!("/image/v2{path}")))
            .header("X-Auth-Token", self.token)
            .header("Accept", "application/json")
    }

    async fn create(&self, body: Value) -> reqwest::Response {
        self.req(reqwest::Method::POST, "/images")
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn create_ok(&self, body: Value) -> Value {
        let response = self.create(body).await;
        assert_eq!(response.status(), 201);
        json_of(response).await
    }

    async fn upload(&self, id: &str, data: Vec<u8>) -> reqwest::Response {
        self.req(reqwest::Method::PUT, &format!("/images/{id}/file"))
            .header("Content-Type", "application/octet-stream")
            .body(data)
            .send()
            .await
            .unwrap()
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.req(reqwest::Method::GET, path).send().await.unwrap()
    }

    async fn patch(&self, id: &str, ops: Value) -> reqwest::Response {
        self.req(reqwest::Method::PATCH, &format!("/images/{id}"))
            .header(
                "Content-Type",
                "application/openstack-images-v2.1-json-patch",
            )
            .body(ops.to_string())
            .send()
            .await
            .unwrap()
    }

    async fn delete(&self, id: &str) -> reqwest::Response {
        self.req(reqwest::Method::DELETE, &format!("/images/{id}"))
            .send()
            .await
            .unwrap()
    }

    async fn names(&self, query: &str) -> Vec<String> {
        let body = json_of(self.get(&format!("/images{query}")).await).await;
        body["images"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["name"].as_str().unwrap_or("").to_owned())
            .collect()
    }
}

async fn glance_message(response: reqwest::Response, status: u16) -> String {
    assert_eq!(response.status().as_u16(), status);
    let body = json_of(response).await;
    body["message"]
        .as_str()
        .unwrap()
        .trim_end_matches("<br /><br />\n\n\n")
        .to_owned()
}

#[tokio::test]
async fn discovery_and_the_bootstrapped_cirros_image() {
    let server = Server::start_noauth().await;
    for path in ["/image", "/image/"] {
        let response = server.http.get(server.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 300, "{path}");
        let body = json_of(response).await;
        assert_eq!(
            body["versions"][0],
            json!({"id": "v2.5", "status": "CURRENT", "links": [{"rel": "self", "href": server.url("/image/v2/")}]})
        );
        assert_eq!(
            body["versions"].as_array().unwrap().last().unwrap()["id"],
            "v2.0"
        );
    }
    let glance = Glance {
        server: &server,
        token: BOB,
    };
    let list = json_of(glance.get("/images").await).await;
    assert_eq!(
        (list["first"].clone(), list["schema"].clone()),
        (json!("/v2/images"), json!("/v2/schemas/images"))
    );
    let cirros = &list["images"][0];
    assert_eq!(cirros["name"], "cirros");
    assert_eq!(
        (
            cirros["status"].clone(),
            cirros["visibility"].clone(),
            cirros["disk_format"].clone()
        ),
        (json!("active"), json!("public"), json!("qcow2"))
    );
    assert_eq!(cirros["virtual_size"], 112 * 1024 * 1024);
    for key in [
        "size",
        "checksum",
        "os_hash_algo",
        "os_hash_value",
        "owner",
        "created_at",
        "updated_at",
        "protected",
        "os_hidden",
        "min_ram",
        "min_disk",
        "tags",
        "self",
        "file",
        "schema",
    ] {
        assert!(cirros.get(key).is_some(), "{key} missing");
    }
    let schema = json_of(glance.get("/schemas/image").await).await;
    assert_eq!(schema["name"], "image");
    assert_eq!(schema["additionalProperties"], json!({"type": "string"}));
}

#[tokio::test]
async fn create_upload_download_and_hashes() {
    let server = Server::start_noauth().await;
    let glance = Glance {
        server: &server,
        token: ALICE,
    };
    let response = glance.create(json!({"name": "data", "disk_format": "raw", "container_format": "bare", "os_distro": "linux", "tags": ["b", "a"]})).await;
    assert_eq!(response.status(), 201);
    let location = header(&response, "location").unwrap().to_owned();
    let image = json_of(response).await;
    let id = image["id"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("/v2/images/{id}"));
    assert_eq!(
        (
            image["status"].clone(),
            image["visibility"].clone(),
            image["owner"].clone()
        ),
        (json!("queued"), json!("shared"), json!("proj-a"))
    );
    assert_eq!(
        (image["size"].clone(), image["checksum"].clone()),
        (Value::Null, Value::Null)
    );
    assert_eq!(image["os_distro"], "linux");
    assert_eq!(image["tags"], json!(["a", "b"]));
    let created = image["created_at"].as_str().unwrap();
    assert!(
        chrono::NaiveDateTime::parse_from_str(created, "%Y-%m-%dT%H:%M:%SZ").is_ok(),
        "{created}"
    );

    assert_eq!(
        glance.get(&format!("/images/{id}/file")).await.status(),
        204,
        "no data yet"
    );
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    assert_eq!(glance.upload(&id, data.clone()).await.status(), 204);
    let image = json_of(glance.get(&format!("/images/{id}")).await).await;
    assert_eq!(
        (image["status"].clone(), image["size"].clone()),
        (json!("active"), json!(300_000))
    );
    let md5 = format!("{:x}", md5::compute(&data));
    assert_eq!(image["checksum"], md5);
    assert_eq!(image["os_hash_algo"], "sha512");
    assert_eq!(image["os_hash_value"].as_str().unwrap().len(), 128);

    let download = glance.get(&format!("/images/{id}/file")).await;
    assert_eq!(download.status(), 200);
    assert_eq!(header(&download, "content-md5"), Some(md5.as_str()));
    assert_eq!(
        header(&download, "content-type"),
        Some("application/octet-stream")
    );
    assert_eq!(download.bytes().await.unwrap().to_vec(), data);

    assert_eq!(
        glance_message(glance.upload(&id, vec![1]).await, 409).await,
        "Image status transition from active to saving is not allowed"
    );
    let wrong_type = glance
        .req(reqwest::Method::PUT, &format!("/images/{id}/file"))
        .header("Content-Type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(
        glance_message(wrong_type, 415).await,
        "Invalid content type application/json"
    );
    let bare = glance.create_ok(json!({"name": "no-format"})).await;
    assert_eq!(
        glance_message(
            glance.upload(bare["id"].as_str().unwrap(), vec![1]).await,
            400
        )
        .await,
        "Properties disk_format, container_format must be set prior to saving data."
    );
}

#[tokio::test]
async fn create_refuses_bad_input() {
    let server = Server::start_noauth().await;
    let glance = Glance {
        server: &server,
        token: ALICE,
    };
    assert_eq!(
        glance_message(glance.create(json!({"disk_format": "floppy"})).await, 400).await,
        "Provided object does not match schema 'image': 'floppy' is not one of [None, 'ami', 'ari', 'aki', 'vhd', 'vhdx', 'vmdk', 'raw', 'qcow2', 'vdi', 'iso', 'ploop']"
    );
    assert_eq!(
        glance_message(glance.create(json!({"status": "active"})).await, 403).await,
        "Attribute 'status' is read-only."
    );
    assert_eq!(
        glance_message(glance.create(json!({"self": "x"})).await, 403).await,
        "Attribute 'self' is read-only."
    );
    assert_eq!(
        glance_message(glance.create(json!({"deleted": "x"})).await, 403).await,
        "Attribute 'deleted' is reserved."
    );
    assert_eq!(
        glance_message(glance.create(json!({"custom": 1})).await, 400).await,
        "Provided object does not match schema 'image': 1 is not of type 'string'"
    );
    assert_eq!(
        glance_message(glance.create(json!({"visibility": "public"})).await, 403).await,
        "You are not authorized to complete publicize_image action."
    );
    let id = "11111111-2222-3333-4444-555555555555";
    glance.create_ok(json!({"id": id})).await;
    assert_eq!(glance.create(json!({"id": id})).await.status(), 409);
    let malformed = glance
        .req(reqwest::Method::POST, "/images")
        .header("Content-Type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(
        glance_message(malformed, 400).await,
        "Malformed JSON in request body."
    );
}

#[tokio::test]
async fn upload_limit_and_errors_rendered_by_accept() {
    let server = Server::start_with(Options {
        args: vec!["--auth".into(), "noauth".into()],
        config_toml: Some("image_max_bytes = 1000\n".into()),
        ..Default::default()
    })
    .await;
    let glance = Glance {
        server: &server,
        token: ALICE,
    };
    let image = glance
        .create_ok(json!({"name": "big", "disk_format": "raw", "container_format": "bare"}))
        .await;
    let id = image["id"].as_str().unwrap();
    assert_eq!(glance.upload(id, vec![0; 5000]).await.status(), 413);
    let after = json_of(glance.get(&format!("/images/{id}")).await).await;
    assert_eq!(
        (after["status"].clone(), after["size"].clone()),
        (json!("queued"), Value::Null),
        "nothing of the upload is kept"
    );
    assert_eq!(
        glance.upload(id, vec![0; 1000]).await.status(),
        204,
        "a retry within the limit works"
    );

    let url = server.url("/image/v2/images/nope");
    let plain = server
        .http
        .get(&url)
        .header("X-Auth-Token", ALICE)
        .header("Accept", "text/plain")
        .send()
        .await
        .unwrap();
    assert_eq!(
        header(&plain, "content-type"),
        Some("text/plain; charset=UTF-8")
    );
    assert_eq!(
        plain.text().await.unwrap(),
        "404 Not Found\n\nNo image found with ID nope\n\n   "
    );
    let html = server
        .http
        .get(&url)
        .header("X-Auth-Token", ALICE)
        .header("Accept", "*/*")
        .send()
        .await
        .unwrap();
    assert_eq!(
        header(&html, "content-type"),
        Some("text/html; charset=UTF-8")
    );
    assert!(
        html.text()
            .await
            .unwrap()
            .contains("<h1>404 Not Found</h1>\n  No image found with ID nope<br />")
    );
    assert_eq!(
        server.http.get(&url).send().await.unwrap().status(),
        401,
        "a token is required"
    );
}

#[tokio::test]
async fn visibility_between_projects() {
    let server = Server::start_noauth().await;
    let alice = Glance {
        server: &server,
        token: ALICE,
    };
    let bob = Glance {
        server: &server,
        token: BOB,
    };
    let admin = Glance {
        server: &server,
        token: ADMIN,
    };
    for (name, visibility) in [
        ("a-private", "private"),
        ("a-shared", "shared"),
        ("a-community", "community"),
    ] {
        alice
            .create_ok(json!({"name": name, "visibility": visibility}))
            .await;
    }
    admin
        .create_ok(json!({"name": "pub", "visibility": "public"}))
        .await;
    let mut mine = alice.names("").await;
    mine.sort();
    assert_eq!(
        mine,
        ["a-community", "a-private", "a-shared", "cirros", "pub"]
    );
    let mut theirs = bob.names("").await;
    theirs.sort();
    assert_eq!(
        theirs,
        ["cirros", "pub"],
        "others' private, shared and community images are not listed"
    );
    assert_eq!(bob.names("?visibility=community").await, ["a-community"]);
    assert_eq!(alice.names("?visibility=private").await, ["a-private"]);
    assert_eq!(admin.names("?visibility=shared").await, ["a-shared"]);
    assert!(bob.names("?visibility=private").await.is_empty());
    assert_eq!(admin.names("").await.len(), 5);
    assert_eq!(
        glance_message(bob.get("/images?visibility=secret").await, 400).await,
        "Invalid visibility value: secret"
    );

    let private_id = json_of(alice.get("/images?name=a-private").await).await["images"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        glance_message(bob.get(&format!("/images/{private_id}")).await, 404).await,
        format!("No image found with ID {private_id}")
    );
    assert_eq!(bob.delete(&private_id).await.status(), 404);
    let pub_id = json_of(bob.get("/images?name=pub").await).await["images"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        bob.delete(&pub_id).await.status(),
        403,
        "visible is not owned"
    );
    assert_eq!(
        bob.patch(
            &pub_id,
            json!([{"op": "replace", "path": "/name", "value": "x"}])
        )
        .await
        .status(),
        403
    );
}

#[tokio::test]
async fn list_filters_sorting_and_paging() {
    let server = Server::start_noauth().await;
    let glance = Glance {
        server: &server,
        token: ALICE,
    };
    for i in 0..7 {
        let format = if i % 2 == 0 { "raw" } else { "qcow2" };
        glance.create_ok(json!({"name": format!("img-{i}"), "disk_format": format, "container_format": "bare", "tags": [format!("t{}", i % 3)], "stage": "x"})).await;
    }
    assert_eq!(
        glance.names("?disk_format=qcow2&name=img-3").await,
        ["img-3"]
    );
    assert_eq!(
        glance.names("?tag=t0&sort_key=name&sort_dir=asc").await,
        ["img-0", "img-3", "img-6"]
    );
    assert_eq!(
        glance.names("?status=queued&sort=name:asc&limit=2").await,
        ["img-0", "img-1"]
    );
    assert_eq!(
        glance.names("?stage=x&sort=name:desc&limit=1").await,
        ["img-6"],
        "extra properties filter"
    );
    assert_eq!(glance.get("/images?sort_key=colour").await.status(), 400);
    assert_eq!(glance.get("/images?sort=name:up").await.status(), 400);
    assert_eq!(
        glance.get("/images?sort=name&sort_key=name").await.status(),
        400
    );
    assert_eq!(glance.get("/images?limit=-1").await.status(), 400);
    assert_eq!(glance.get("/images?marker=nope").await.status(), 400);

    let mut seen = Vec::new();
    let mut path = "/images?limit=3".to_owned();
    loop {
        let page = json_of(glance.get(&path).await).await;
        let names: Vec<String> = page["images"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["name"].as_str().unwrap().to_owned())
            .collect();
        assert!(names.len() <= 3);
        seen.extend(names);
        let Some(next) = page["next"].as_str() else {
            break;
        };
        assert!(next.starts_with("/v2/images?limit=3&marker="), "{next}");
        path = next.trim_start_matches("/v2").to_owned();
    }
    // Filters apply before paging: the oldest image is found by id.
    let oldest =
        json_of(glance.get("/images?sort=created_at:asc&limit=1").await).await["images"][0].clone();
    let by_id = json_of(
        glance
            .get(&format!(
                "/images?id={}&limit=1",
                oldest["id"].as_str().unwrap()
            ))
            .await,
    )
    .await;
    assert_eq!(by_id["images"][0]["id"], oldest["id"]);
    assert_eq!(
        glance.names("?created_at=gt:2099-01-01T00:00:00Z").await,
        Vec::<String>::new()
    );
    assert_eq!(
        glance
            .names("?created_at=lt:2099-01-01T00:00:00Z&limit=100")
            .await
            .len(),
        8
    );
    assert_eq!(
        glance.get("/images?created_at=gt:yesterday").await.status(),
        400
    );
    assert_eq!(
        glance
            .get("/images?updated_at=around:2020-01-01T00:00:00Z")
            .await
            .status(),
        400
    );
    let mut all = glance.names("?limit=100").await;
    assert_eq!(seen, all, "paging visits every image once, newest first");
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 8);
}

#[tokio::test]
async fn patch_tags_protection_and_delete() {
    let server = Server::start_noauth().await;
    let glance = Glance {
        server: &server,
        token: ALICE,
    };
    let id = glance.create_ok(json!({"name": "p", "k1": "v1"})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Glance 2.12's image tasks: none run here.
    let tasks = glance.get(&format!("/images/{id}/tasks")).await;
    assert_eq!(tasks.status(), 200);
    assert_eq!(json_of(tasks).await, json!({"tasks": []}));
    let unknown = glance
        .get("/images/00000000-0000-0000-0000-000000000000/tasks")
        .await;
    assert_eq!(unknown.status(), 404);
    let patched = glance
        .patch(
            &id,
            json!([
                {"op": "add", "path": "/k2", "value": "v2"},
                {"op": "add", "path": "/name", "value": "renamed"},
                {"op": "replace", "path": "/k1", "value": "new"},
                {"op": "add", "path": "/min_ram", "value": 256},
                {"op": "replace", "path": "/tags", "value": ["x", "y"]},
            ]),
        )
        .await;
    assert_eq!(patched.status(), 200);
    let image = json_of(patched).await;
    assert_eq!(
        (
            image["name"].clone(),
            image["k1"].clone(),
            image["k2"].clone(),
            image["min_ram"].clone()
        ),
        (json!("renamed"), json!("new"), json!("v2"), json!(256))
    );
    assert_eq!(image["tags"], json!(["x", "y"]));
    let removed = json_of(
        glance
            .patch(&id, json!([{"op": "remove", "path": "/k2"}]))
            .await,
    )
    .await;
    assert!(removed.get("k2").is_none());

    assert_eq!(
        glance_message(
            glance
                .patch(
                    &id,
                    json!([{"op": "replace", "path": "/status", "value": "active"}])
                )
                .await,
            403
        )
        .await,
        "Attribute 'status' is read-only."
    );
    assert_eq!(
        glance_message(
            glance
                .patch(&id, json!([{"op": "remove", "path": "/name"}]))
                .await,
            403
        )
        .await,
        "Property name may not be removed."
    );
    assert_eq!(
        glance_message(
            glance
                .patch(
                    &id,
                    json!([{"op": "replace", "path": "/nope", "value": "x"}])
                )
                .await,
            409
        )
        .await,
        "Property nope does not exist."
    );
    assert_eq!(
        glance_message(
            glance
                .patch(&id, json!([{"op": "move", "path": "/name"}]))
                .await,
            400
        )
        .await,
        "Invalid operation: `move`. It must be one of the following: add, remove, replace."
    );
    assert_eq!(
        glance_message(glance.patch(&id, json!({"op": "add"})).await, 400).await,
        "Request body must be a JSON array of operation objects."
    );
    assert_eq!(
        glance_message(
            glance
                .patch(
                    &id,
                    json!([{"op": "add", "path": "/min_ram", "value": "512"}])
                )
                .await,
            400
        )
        .await,
        "Provided object does not match schema 'image': '512' is not of type 'integer'"
    );
    let wrong = glance
        .req(reqwest::Method::PATCH, &format!("/images/{id}"))
        .header("Content-Type", "application/json")
        .body("[]")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 415);
    assert!(
        header(&wrong, "accept-patch")
            .unwrap()
            .contains("application/openstack-images-v2.1-json-patch")
    );

    let tag = glance
        .req(reqwest::Method::PUT, &format!("/images/{id}/tags/z"))
        .send()
        .await
        .unwrap();
    assert_eq!(tag.status(), 204);
    assert_eq!(
        json_of(glance.get(&format!("/images/{id}")).await).await["tags"],
        json!(["x", "y", "z"])
    );
    assert_eq!(
        glance
            .req(reqwest::Method::DELETE, &format!("/images/{id}/tags/x"))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(
        glance
            .req(reqwest::Method::DELETE, &format!("/images/{id}/tags/x"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    glance
        .patch(
            &id,
            json!([{"op": "replace", "path": "/protected", "value": true}]),
        )
        .await;
    assert_eq!(
        glance_message(glance.delete(&id).await, 403).await,
        format!("Image {id} is protected and cannot be deleted.")
    );
    glance
        .patch(
            &id,
            json!([{"op": "replace", "path": "/protected", "value": false}]),
        )
        .await;
    assert_eq!(glance.delete(&id).await.status(), 204);
    assert_eq!(glance.get(&format!("/images/{id}")).await.status(), 404);
    assert_eq!(
        glance_message(glance.delete(&id).await, 404).await,
        format!("Failed to find image {id} to delete")
    );
}

#[tokio::test]
async fn compute_image_proxy_and_metadata() {
    let server = Server::start_with(Options {
        args: vec!["--auth".into(), "noauth".into()],
        config_toml: Some("[quota]\nmetadata_items = 3\n".into()),
        ..Default::default()
    })
    .await;
    let glance = Glance {
        server: &server,
        token: ALICE,
    };
    let image = glance.create_ok(json!({"name": "proxied", "disk_format": "raw", "container_format": "bare", "min_ram": 64, "instance_uuid": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"})).await;
    let id = image["id"].as_str().unwrap().to_owned();
    let nova = server.compute(ALICE, "2.1");

    let index = nova.get_ok("/images").await;
    let entry = index["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == id)
        .unwrap()
        .clone();
    assert_eq!(entry["name"], "proxied");
    assert_eq!(
        entry["links"][0],
        json!({"rel": "self", "href": server.url(&format!("/compute/v2.1/images/{id}"))})
    );
    assert_eq!(
        entry["links"][2],
        json!({"rel": "alternate", "type": "application/vnd.openstack.image", "href": server.url(&format!("/image/images/{id}"))})
    );

    let shown = nova.get_ok(&format!("/images/{id}")).await["image"].clone();
    assert_eq!(
        (
            shown["status"].clone(),
            shown["progress"].clone(),
            shown["minRam"].clone(),
            shown["minDisk"].clone()
        ),
        (json!("SAVING"), json!(25), json!(64), json!(0))
    );
    assert_eq!(
        shown["OS-EXT-IMG-SIZE:size"], 0,
        "Nova shows an unknown size as 0"
    );
    assert_eq!(
        shown["server"]["id"],
        "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
    );
    assert_eq!(
        shown["metadata"],
        json!({"instance_uuid": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"})
    );
    let cirros = nova.get_ok("/images/detail?name=cirros").await["images"][0].clone();
    assert_eq!(
        (cirros["status"].clone(), cirros["progress"].clone()),
        (json!("ACTIVE"), json!(100))
    );
    assert_eq!(
        nova.get_ok("/images/detail?minRam=32").await["images"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        nova.get_ok("/images?limit=1").await["images_links"][0]["rel"],
        "next"
    );
    assert_fault(nova.get("/images/nope").await, 404, "Image not found.").await;

    // Gone from 2.36 (images) and 2.39 (image metadata).
    assert_fault(
        server.compute(ALICE, "2.36").get("/images").await,
        404,
        "The resource could not be found.",
    )
    .await;
    assert_eq!(
        server.compute(ALICE, "2.35").get("/images").await.status(),
        200
    );
    assert_eq!(
        server
            .compute(ALICE, "2.38")
            .get(&format!("/images/{id}/metadata"))
            .await
            .status(),
        200
    );
    assert_eq!(
        server
            .compute(ALICE, "2.39")
            .get(&format!("/images/{id}/metadata"))
            .await
            .status(),
        404
    );

    let meta = format!("/images/{id}/metadata");
    let merged = nova.post(&meta, &json!({"metadata": {"a": "1"}})).await;
    assert_eq!(
        json_of(merged).await["metadata"],
        json!({"a": "1", "instance_uuid": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"})
    );
    assert_eq!(
        nova.get_ok(&format!("{meta}/a")).await,
        json!({"meta": {"a": "1"}})
    );
    assert_eq!(
        json_of(
            nova.put(&format!("{meta}/b"), &json!({"meta": {"b": "2"}}))
                .await
        )
        .await,
        json!({"meta": {"b": "2"}})
    );
    assert_fault(
        nova.post(&meta, &json!({"metadata": {"c": "3", "d": "4"}}))
            .await,
        403,
        "Image metadata limit exceeded",
    )
    .await;
    assert_fault(
        nova.put(&format!("{meta}/b"), &json!({"meta": {"c": "2"}}))
            .await,
        400,
        "Request body and URI mismatch",
    )
    .await;
    assert_eq!(
        nova.put(&format!("{meta}/b"), &json!({"meta": {"b": "2", "c": "3"}}))
            .await
            .status(),
        400
    );
    let replaced = nova.put(&meta, &json!({"metadata": {"only": "one"}})).await;
    assert_eq!(json_of(replaced).await["metadata"], json!({"only": "one"}));
    assert_eq!(nova.delete(&format!("{meta}/only")).await.status(), 204);
    assert_fault(
        nova.delete(&format!("{meta}/only")).await,
        404,
        "Invalid metadata key",
    )
    .await;
    assert_eq!(
        server.compute(BOB, "2.1").get(&meta).await.status(),
        404,
        "another project's shared image"
    );

    assert_eq!(nova.delete(&format!("/images/{id}")).await.status(), 204);
    assert_fault(
        nova.get(&format!("/images/{id}")).await,
        404,
        "Image not found.",
    )
    .await;
}
