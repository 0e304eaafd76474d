//! Flavors, black-box, against the shapes of Nova's api_samples and the
//! captured Nova responses: listing, filters, paging, microversion
//! boundaries, admin operations, extra specs and access.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use common::{Server, assert_fault, json_of};
use serde_json::{Value, json};

const ADMIN: &str = "admin:admin";
const ALICE: &str = "alice:proj-a";
const BOB: &str = "bob:proj-b";

fn ids(body: &Value) -> Vec<String> {
    body["flavors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn default_flavors_in_nova_shapes_across_microversions() {
    let server = Server::start_noauth().await;
    let v21 = server.compute(ALICE, "2.1");
    let index = v21.get_ok("/flavors").await;
    assert_eq!(
        ids(&index),
        [
            "1", "2", "3", "4", "42", "5", "84", "c1", "d1", "d2", "d3", "d4"
        ],
        "sorted by flavorid"
    );
    assert!(
        index.get("flavors_links").is_none(),
        "no next link for a partial page"
    );
    let tiny_links = json!([
        {"rel": "self", "href": server.url("/compute/v2.1/flavors/1")},
        {"rel": "bookmark", "href": server.url("/compute/flavors/1")},
    ]);
    assert_eq!(
        index["flavors"][0],
        json!({"id": "1", "name": "m1.tiny", "links": tiny_links})
    );

    // Nova's captured 2.1 detail of m1.tiny.
    let detail = v21.get_ok("/flavors/detail").await;
    assert_eq!(
        detail["flavors"][0],
        json!({"id": "1", "name": "m1.tiny", "ram": 512, "disk": 1, "swap": "", "OS-FLV-EXT-DATA:ephemeral": 0,
               "OS-FLV-DISABLED:disabled": false, "vcpus": 1, "os-flavor-access:is_public": true,
               "rxtx_factor": 1.0, "links": tiny_links})
    );
    // ...and the latest one.
    let latest = server.compute(ALICE, "2.104").get_ok("/flavors/1").await;
    assert_eq!(
        latest,
        json!({"flavor": {"id": "1", "name": "m1.tiny", "ram": 512, "disk": 1, "swap": 0,
               "OS-FLV-EXT-DATA:ephemeral": 0, "vcpus": 1, "os-flavor-access:is_public": true,
               "links": tiny_links, "description": null, "extra_specs": {"hw_rng:allowed": "True"}}})
    );

    // Each field appears, changes or vanishes exactly at its microversion.
    let show =
        async |v: &str| server.compute(ALICE, v).get_ok("/flavors/1").await["flavor"].clone();
    let (f54, f55, f60, f61, f74, f75, f101, f102) = (
        show("2.54").await,
        show("2.55").await,
        show("2.60").await,
        show("2.61").await,
        show("2.74").await,
        show("2.75").await,
        show("2.101").await,
        show("2.102").await,
    );
    assert!(f54.get("description").is_none() && f55.get("description").is_some());
    assert!(f60.get("extra_specs").is_none() && f61.get("extra_specs").is_some());
    assert_eq!(
        (f74["swap"].clone(), f75["swap"].clone()),
        (json!(""), json!(0))
    );
    assert!(f101.get("rxtx_factor").is_some() && f101.get("OS-FLV-DISABLED:disabled").is_some());
    assert!(f102.get("rxtx_factor").is_none() && f102.get("OS-FLV-DISABLED:disabled").is_none());
    let summary = server.compute(ALICE, "2.55").get_ok("/flavors").await;
    assert_eq!(summary["flavors"][0]["description"], json!(null));
}

#[tokio::test]
async fn filters_sorting_and_errors() {
    let server = Server::start_noauth().await;
    let c = server.compute(ALICE, "2.1");
    assert_eq!(
        ids(&c.get_ok("/flavors?minRam=4096").await),
        ["3", "4", "5", "d4"]
    );
    assert_eq!(
        ids(&c.get_ok("/flavors?minDisk=40&minRam=8192").await),
        ["4", "5"]
    );
    // Ties break on creation order, in the same direction (Nova sorts by [key, id]).
    assert_eq!(
        ids(&c
            .get_ok("/flavors?sort_key=memory_mb&sort_dir=desc&limit=3")
            .await),
        ["5", "4", "d4"]
    );
    assert_eq!(
        ids(&c.get_ok("/flavors?sort_key=name&limit=2").await),
        ["c1", "d2"]
    );
    assert_fault(
        c.get("/flavors?minRam=lots").await,
        400,
        "Invalid minRam filter [lots]",
    )
    .await;
    assert_fault(
        c.get("/flavors?minDisk=1.5").await,
        400,
        "Invalid minDisk filter [1.5]",
    )
    .await;
    assert_fault(
        c.get("/flavors?marker=nope").await,
        400,
        "marker [nope] not found",
    )
    .await;
    let bad_key = json_of(c.get("/flavors?sort_key=colour").await).await;
    assert!(
        bad_key["badRequest"]["message"]
            .as_str()
            .unwrap()
            .starts_with(
                "Invalid input for query parameters sort_key. Value: colour. 'colour' is not one of"
            ),
        "{bad_key}"
    );
    assert_eq!(c.get("/flavors?limit=-1").await.status(), 400);
    assert_eq!(c.get("/flavors?limit=x").await.status(), 400);

    // Unknown parameters: ignored before 2.75, refused from 2.75.
    assert_eq!(
        server
            .compute(ALICE, "2.74")
            .get("/flavors?colour=red")
            .await
            .status(),
        200
    );
    let refused = json_of(
        server
            .compute(ALICE, "2.75")
            .get("/flavors?colour=red")
            .await,
    )
    .await;
    assert_eq!(
        refused["badRequest"]["message"],
        "Additional properties are not allowed ('colour' was unexpected)"
    );
    // `name` filters from 2.102 (and is an unknown parameter before).
    assert_eq!(
        ids(&server
            .compute(ALICE, "2.102")
            .get_ok("/flavors?name=m1.")
            .await),
        ["1", "2", "3", "4", "42", "5", "84"]
    );
    assert_eq!(
        server
            .compute(ALICE, "2.101")
            .get("/flavors?name=m1.")
            .await
            .status(),
        400
    );
    // Regular expressions, unanchored (Nova uses the database's REGEXP).
    assert_eq!(
        ids(&server
            .compute(ALICE, "2.102")
            .get_ok("/flavors?name=^ds[12]")
            .await),
        ["d2", "d3"]
    );
    // From 2.102 no GET takes unknown parameters.
    assert_eq!(
        server
            .compute(ALICE, "2.101")
            .get("/flavors/1?x=1")
            .await
            .status(),
        200
    );
    assert_eq!(
        server
            .compute(ALICE, "2.102")
            .get("/flavors/1?x=1")
            .await
            .status(),
        400
    );
    assert_eq!(
        server
            .compute(ALICE, "2.102")
            .get("/flavors/1/os-extra_specs?x=1")
            .await
            .status(),
        400
    );
}

#[tokio::test]
async fn paging_visits_every_flavor_once() {
    let server = Server::start_noauth().await;
    let c = server.compute(ALICE, "2.1");
    let all = ids(&c.get_ok("/flavors/detail").await);
    let mut seen = Vec::new();
    let mut url = "/flavors/detail?limit=5".to_owned();
    loop {
        let page = c.get_ok(&url).await;
        let page_ids = ids(&page);
        assert!(page_ids.len() <= 5);
        seen.extend(page_ids);
        let Some(next) = page["flavors_links"][0]["href"].as_str() else {
            break;
        };
        assert_eq!(page["flavors_links"][0]["rel"], "next");
        url = next.split_once("/compute/v2.1").unwrap().1.to_owned();
        assert!(url.starts_with("/flavors/detail?limit=5&marker="), "{url}");
    }
    assert_eq!(seen, all);
    assert_eq!(c.get_ok("/flavors?limit=0").await["flavors"], json!([]));
}

#[tokio::test]
async fn admin_creates_updates_and_deletes_flavors() {
    let server = Server::start_noauth().await;
    let admin = server.compute(ADMIN, "2.1");
    let created = admin
        .post(
            "/flavors",
            &json!({"flavor": {"name": "gp.1", "ram": 1024, "vcpus": "2", "disk": 10,
        "id": "gp1", "swap": 512, "OS-FLV-EXT-DATA:ephemeral": 5, "rxtx_factor": 2.5}}),
        )
        .await;
    assert_eq!(created.status(), 200);
    let f = json_of(created).await["flavor"].clone();
    assert_eq!(
        (
            f["id"].clone(),
            f["vcpus"].clone(),
            f["swap"].clone(),
            f["rxtx_factor"].clone()
        ),
        (json!("gp1"), json!(2), json!(512), json!(2.5))
    );
    assert_eq!(f["OS-FLV-EXT-DATA:ephemeral"], 5);
    assert_eq!(admin.get_ok("/flavors/gp1").await["flavor"], f);

    // Without an id, the flavor gets a UUID.
    let auto = json_of(
        admin
            .post(
                "/flavors",
                &json!({"flavor": {"name": "auto", "ram": 1, "vcpus": 1, "disk": 0}}),
            )
            .await,
    )
    .await;
    assert!(uuid::Uuid::parse_str(auto["flavor"]["id"].as_str().unwrap()).is_ok());

    assert_fault(
        admin
            .post(
                "/flavors",
                &json!({"flavor": {"name": "gp.1", "ram": 1, "vcpus": 1, "disk": 0}}),
            )
            .await,
        409,
        "Flavor with name gp.1 already exists.",
    )
    .await;
    assert_fault(
        admin
            .post(
                "/flavors",
                &json!({"flavor": {"name": "other", "ram": 1, "vcpus": 1, "disk": 0, "id": "gp1"}}),
            )
            .await,
        409,
        "Flavor with ID gp1 already exists.",
    )
    .await;
    for (body, message) in [
        (
            json!({"flavor": {"ram": 1, "vcpus": 1, "disk": 0}}),
            "Invalid input for field/attribute flavor. Value: {'ram': 1, 'vcpus': 1, 'disk': 0}. 'name' is a required property",
        ),
        (
            json!({"flavor": {"name": "n", "ram": 0, "vcpus": 1, "disk": 0}}),
            "Invalid input for field/attribute ram. Value: 0. 0 is less than the minimum of 1",
        ),
        (
            json!({"flavor": {"name": "n", "ram": 1, "vcpus": 1, "disk": -1}}),
            "Invalid input for field/attribute disk. Value: -1. -1 is less than the minimum of 0",
        ),
        (
            json!({"flavor": {"name": "n", "ram": 1, "vcpus": 1, "disk": 0, "id": " x"}}),
            "Invalid input for field/attribute id. Value:  x. ' x' does not match '^(?! )[a-zA-Z0-9. _-]+(?<! )$'",
        ),
        (
            json!({"flavor": {"name": " n", "ram": 1, "vcpus": 1, "disk": 0}}),
            "An invalid 'name' value was provided. The name must be: printable characters. Can not start or end with whitespace.",
        ),
        (
            json!({"flavor": {"name": "n", "ram": 1, "vcpus": 1, "disk": 0, "colour": "red"}}),
            "Invalid input for field/attribute flavor. Value: {'name': 'n', 'ram': 1, 'vcpus': 1, 'disk': 0, 'colour': 'red'}. Additional properties are not allowed ('colour' was unexpected)",
        ),
        (
            json!({"flavor": {"name": "n", "ram": 1, "vcpus": 1, "disk": 0, "description": "d"}}),
            "Invalid input for field/attribute flavor. Value: {'name': 'n', 'ram': 1, 'vcpus': 1, 'disk': 0, 'description': 'd'}. Additional properties are not allowed ('description' was unexpected)",
        ),
    ] {
        assert_fault(admin.post("/flavors", &body).await, 400, message).await;
    }
    let malformed = server
        .http
        .post(server.url("/compute/v2.1/flavors"))
        .header("X-Auth-Token", ADMIN)
        .header("Content-Type", "application/json")
        .body("{\"flavor\": ")
        .send()
        .await
        .unwrap();
    assert_fault(malformed, 400, "Malformed request body").await;
    let xml = server
        .http
        .post(server.url("/compute/v2.1/flavors"))
        .header("X-Auth-Token", ADMIN)
        .header("Content-Type", "application/xml")
        .body("<flavor/>")
        .send()
        .await
        .unwrap();
    assert_fault(xml, 415, "Unsupported Content-Type").await;
    let huge = json!({"flavor": {"name": "x".repeat(200_000), "ram": 1, "vcpus": 1, "disk": 0}});
    assert_fault(
        admin.post("/flavors", &huge).await,
        413,
        "Request is too large.",
    )
    .await;

    // 2.55: description on create and update; update does not exist before.
    let v55 = server.compute(ADMIN, "2.55");
    let described = json_of(v55.post("/flavors", &json!({"flavor": {"name": "desc", "ram": 1, "vcpus": 1, "disk": 0, "id": "desc", "description": "first"}})).await).await;
    assert_eq!(described["flavor"]["description"], "first");
    let updated = v55
        .put(
            "/flavors/desc",
            &json!({"flavor": {"description": "second"}}),
        )
        .await;
    assert_eq!(updated.status(), 200);
    assert_eq!(json_of(updated).await["flavor"]["description"], "second");
    assert_eq!(
        server
            .compute(ADMIN, "2.54")
            .put("/flavors/desc", &json!({"flavor": {"description": "x"}}))
            .await
            .status(),
        404
    );
    assert_fault(
        v55.put("/flavors/nope", &json!({"flavor": {"description": "x"}}))
            .await,
        404,
        "Flavor nope could not be found.",
    )
    .await;
    assert_eq!(
        v55.put("/flavors/desc", &json!({"flavor": {"name": "x"}}))
            .await
            .status(),
        400
    );

    // Members may not manage flavors.
    let alice = server.compute(ALICE, "2.55");
    assert_fault(
        alice
            .post(
                "/flavors",
                &json!({"flavor": {"name": "mine", "ram": 1, "vcpus": 1, "disk": 0}}),
            )
            .await,
        403,
        "Policy doesn't allow os_compute_api:os-flavor-manage:create to be performed.",
    )
    .await;
    assert_eq!(
        alice
            .put("/flavors/desc", &json!({"flavor": {"description": "x"}}))
            .await
            .status(),
        403
    );
    assert_eq!(alice.delete("/flavors/gp1").await.status(), 403);

    assert_eq!(admin.delete("/flavors/gp1").await.status(), 202);
    assert_fault(
        admin.get("/flavors/gp1").await,
        404,
        "Flavor gp1 could not be found.",
    )
    .await;
    assert_fault(
        admin.delete("/flavors/gp1").await,
        404,
        "Flavor gp1 could not be found.",
    )
    .await;
}

#[tokio::test]
async fn private_flavors_and_access() {
    let server = Server::start_noauth().await;
    let admin = server.compute(ADMIN, "2.7");
    let created = admin.post("/flavors", &json!({"flavor": {"name": "secret", "ram": 1, "vcpus": 1, "disk": 0, "id": "s1", "os-flavor-access:is_public": "False"}})).await;
    assert_eq!(
        json_of(created).await["flavor"]["os-flavor-access:is_public"],
        false
    );
    let alice = server.compute(ALICE, "2.7");
    let bob = server.compute(BOB, "2.7");
    assert!(!ids(&alice.get_ok("/flavors").await).contains(&"s1".to_owned()));
    assert_fault(
        alice.get("/flavors/s1").await,
        404,
        "Flavor s1 could not be found.",
    )
    .await;
    assert_eq!(
        admin
            .get_ok(
                "/flavors/os-flavor-access"
                    .replace("os-flavor-access", "s1/os-flavor-access")
                    .as_str()
            )
            .await,
        json!({"flavor_access": []})
    );

    let granted = admin
        .post(
            "/flavors/s1/action",
            &json!({"addTenantAccess": {"tenant": "proj-a"}}),
        )
        .await;
    assert_eq!(granted.status(), 200);
    assert_eq!(
        json_of(granted).await,
        json!({"flavor_access": [{"flavor_id": "s1", "tenant_id": "proj-a"}]})
    );
    assert!(ids(&alice.get_ok("/flavors").await).contains(&"s1".to_owned()));
    assert_eq!(
        alice.get_ok("/flavors/s1").await["flavor"]["name"],
        "secret"
    );
    assert_eq!(
        bob.get("/flavors/s1").await.status(),
        404,
        "other projects still cannot see it"
    );
    assert_fault(
        admin
            .post(
                "/flavors/s1/action",
                &json!({"addTenantAccess": {"tenant": "proj-a"}}),
            )
            .await,
        409,
        "Flavor access already exists for flavor s1 and project proj-a combination.",
    )
    .await;

    // Admin listing: public by default, private or all on request.
    assert!(!ids(&admin.get_ok("/flavors").await).contains(&"s1".to_owned()));
    assert_eq!(ids(&admin.get_ok("/flavors?is_public=false").await), ["s1"]);
    assert_eq!(
        ids(&admin.get_ok("/flavors?is_public=None").await).len(),
        13
    );
    assert_fault(
        admin.get("/flavors?is_public=maybe").await,
        400,
        "Invalid is_public filter [maybe]",
    )
    .await;

    assert_fault(
        admin.get("/flavors/1/os-flavor-access").await,
        404,
        "Access list not available for public flavors.",
    )
    .await;
    assert_fault(
        admin
            .post(
                "/flavors/1/action",
                &json!({"addTenantAccess": {"tenant": "proj-a"}}),
            )
            .await,
        409,
        "Can not add access to a public flavor.",
    )
    .await;
    assert_eq!(
        server
            .compute(ADMIN, "2.6")
            .post(
                "/flavors/1/action",
                &json!({"addTenantAccess": {"tenant": "proj-a"}})
            )
            .await
            .status(),
        200,
        "allowed before 2.7"
    );

    let removed = admin
        .post(
            "/flavors/s1/action",
            &json!({"removeTenantAccess": {"tenant": "proj-a"}}),
        )
        .await;
    assert_eq!(json_of(removed).await, json!({"flavor_access": []}));
    assert_fault(
        admin
            .post(
                "/flavors/s1/action",
                &json!({"removeTenantAccess": {"tenant": "proj-a"}}),
            )
            .await,
        404,
        "Flavor access not found for s1 / proj-a combination.",
    )
    .await;
    assert_fault(
        admin
            .post("/flavors/s1/action", &json!({"shareWithEveryone": {}}))
            .await,
        400,
        "There is no such action: shareWithEveryone",
    )
    .await;
    assert_eq!(
        admin
            .post("/flavors/s1/action", &json!({"addTenantAccess": {}}))
            .await
            .status(),
        400
    );
    assert_eq!(
        alice
            .post(
                "/flavors/s1/action",
                &json!({"addTenantAccess": {"tenant": "proj-a"}})
            )
            .await
            .status(),
        403
    );
    assert_eq!(
        alice.get("/flavors/s1/os-flavor-access").await.status(),
        403
    );
    assert_fault(
        admin
            .post(
                "/flavors/nope/action",
                &json!({"addTenantAccess": {"tenant": "p"}}),
            )
            .await,
        404,
        "Flavor nope could not be found.",
    )
    .await;
}

#[tokio::test]
async fn extra_specs_crud() {
    let server = Server::start_noauth().await;
    let admin = server.compute(ADMIN, "2.61");
    let alice = server.compute(ALICE, "2.61");
    let created = admin
        .post(
            "/flavors/1/os-extra_specs",
            &json!({"extra_specs": {"hw:cpu_policy": "dedicated", "hw:numa_nodes": 2}}),
        )
        .await;
    assert_eq!(created.status(), 200);
    assert_eq!(
        json_of(created).await,
        json!({"extra_specs": {"hw:cpu_policy": "dedicated", "hw:numa_nodes": "2"}})
    );
    assert_eq!(
        alice.get_ok("/flavors/1/os-extra_specs").await,
        json!({"extra_specs": {"hw:cpu_policy": "dedicated", "hw:numa_nodes": "2", "hw_rng:allowed": "True"}}),
        "merged with DevStack's spec"
    );
    assert_eq!(
        alice
            .get_ok("/flavors/1/os-extra_specs/hw:numa_nodes")
            .await,
        json!({"hw:numa_nodes": "2"})
    );
    assert_eq!(
        alice.get_ok("/flavors/1").await["flavor"]["extra_specs"]["hw:cpu_policy"],
        "dedicated"
    );
    assert_eq!(
        alice.get_ok("/flavors/detail").await["flavors"][0]["extra_specs"]["hw:numa_nodes"],
        "2"
    );

    let updated = admin
        .put(
            "/flavors/1/os-extra_specs/hw:cpu_policy",
            &json!({"hw:cpu_policy": "shared"}),
        )
        .await;
    assert_eq!(json_of(updated).await, json!({"hw:cpu_policy": "shared"}));
    assert_fault(
        admin
            .put(
                "/flavors/1/os-extra_specs/hw:cpu_policy",
                &json!({"hw:other": "x"}),
            )
            .await,
        400,
        "Request body and URI mismatch",
    )
    .await;
    assert_eq!(
        admin
            .put("/flavors/1/os-extra_specs/a", &json!({"a": "1", "b": "2"}))
            .await
            .status(),
        400
    );
    assert_eq!(
        admin
            .post(
                "/flavors/1/os-extra_specs",
                &json!({"extra_specs": {"bad/key": "x"}})
            )
            .await
            .status(),
        400
    );
    assert_eq!(
        admin
            .post(
                "/flavors/1/os-extra_specs",
                &json!({"extra_specs": {"k": "v".repeat(256)}})
            )
            .await
            .status(),
        400
    );
    assert_eq!(
        alice
            .post(
                "/flavors/1/os-extra_specs",
                &json!({"extra_specs": {"k": "v"}})
            )
            .await
            .status(),
        403
    );
    assert_eq!(
        alice
            .delete("/flavors/1/os-extra_specs/hw:cpu_policy")
            .await
            .status(),
        403
    );

    assert_eq!(
        admin
            .delete("/flavors/1/os-extra_specs/hw:cpu_policy")
            .await
            .status(),
        200
    );
    assert_fault(
        admin.get("/flavors/1/os-extra_specs/hw:cpu_policy").await,
        404,
        "Flavor 1 has no extra specs with key hw:cpu_policy.",
    )
    .await;
    assert_fault(
        admin
            .delete("/flavors/1/os-extra_specs/hw:cpu_policy")
            .await,
        404,
        "Flavor 1 has no extra specs with key hw:cpu_policy.",
    )
    .await;
    assert_fault(
        admin.get("/flavors/nope/os-extra_specs").await,
        404,
        "Flavor nope could not be found.",
    )
    .await;
}
