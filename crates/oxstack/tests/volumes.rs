//! `/volume/v3` (the Cinder subset) and the volumes of servers,
//! black-box: version discovery, volumes through their status machine
//! with real data, snapshots, types, the attachments API, quotas, Nova's
//! os-volume_attachments and boot from volume; every refusal with
//! Cinder's or Nova's message; two projects that cannot see each other's
//! volumes; racing attaches; a restart in the middle of an attach.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use common::{Options, Server, assert_cinder, cirros, json_of, settled, wait_gone};
use serde_json::{Value, json};

const ADMIN: &str = "admin:admin";
const ALICE: &str = "alice:proj-a";
const BOB: &str = "bob:proj-b";

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

/// A server of Alice's, ACTIVE, without networks.
async fn active_server(server: &Server, name: &str) -> String {
    let c = server.compute(ALICE, "2.79");
    let image = cirros(server).await;
    let made = c
        .post(
            "/servers",
            &json!({"server": {"name": name, "flavorRef": "1", "imageRef": image, "networks": "none"}}),
        )
        .await;
    assert_eq!(made.status(), 202);
    let sid = id(&json_of(made).await["server"]);
    settled(&c, &sid, "ACTIVE").await;
    sid
}

#[tokio::test]
async fn versions_are_discovered_and_microversions_negotiated() {
    let server = Server::start_noauth().await;
    let root = server
        .http
        .get(server.url("/volume/"))
        .send()
        .await
        .unwrap();
    assert_eq!(root.status(), 300);
    let doc = json_of(root).await;
    let v = &doc["versions"][0];
    assert_eq!(v["id"], "v3.0");
    assert_eq!(v["min_version"], "3.0");
    assert_eq!(v["version"], "3.71");
    assert!(
        v["links"][1]["href"]
            .as_str()
            .unwrap()
            .ends_with("/volume/v3/")
    );
    // `/volume/v3/` (what clients probe) answers the same document.
    let versioned = server
        .http
        .get(server.url("/volume/v3/"))
        .send()
        .await
        .unwrap();
    assert_eq!(versioned.status(), 200);
    assert_eq!(json_of(versioned).await["versions"][0]["version"], "3.71");
    // The header is echoed; out of range is 406, malformed 400.
    let cinder = server.cinder(ALICE, "3.44");
    let response = server
        .http
        .get(server.url("/volume/v3/volumes"))
        .header("X-Auth-Token", ALICE)
        .header("OpenStack-API-Version", "volume 3.44")
        .send()
        .await
        .unwrap();
    assert_eq!(
        common::header(&response, "openstack-api-version"),
        Some("volume 3.44")
    );
    let too_new = server.cinder(ALICE, "3.99").get("/volumes").await;
    assert_cinder(
        &too_new,
        406,
        "Version 3.99 is not supported by the API. Minimum is 3.0 and maximum is 3.71.",
    );
    let malformed = server.cinder(ALICE, "3.x").get("/volumes").await;
    assert_cinder(
        &malformed,
        400,
        "API Version String 3.x is of invalid format. Must be of format MajorNum.MinorNum.",
    );
    // With the project in the path, as DevStack's catalog used to have it.
    let (status, _) = cinder.get("/proj-a/volumes").await;
    assert_eq!(status, 404, "a project id must look like one");
    let listed = server
        .http
        .get(server.url("/volume/v3/0123456789abcdef0123456789abcdef/volumes"))
        .header("X-Auth-Token", ALICE)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 200);
    // The attachments API needs 3.27.
    let old = server.cinder(ALICE, "3.0").get("/attachments").await;
    assert_cinder(&old, 404, "The resource could not be found.");
    // No token: Keystone's 401.
    let anonymous = server
        .http
        .get(server.url("/volume/v3/volumes"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
}

#[tokio::test]
async fn a_volume_goes_through_its_life_with_cinders_fields() {
    let server = Server::start_noauth().await;
    let cinder = server.cinder(ALICE, "3.71");
    let volume = cinder
        .volume(json!({"size": 1, "name": "data", "description": "d", "metadata": {"k": "v"}}))
        .await;
    let vid = id(&volume);
    assert_eq!(volume["bootable"], "false");
    assert_eq!(volume["volume_type"], "__DEFAULT__");
    assert_eq!(volume["availability_zone"], "nova");
    assert_eq!(volume["multiattach"], false);
    assert_eq!(volume["encrypted"], false);
    assert_eq!(volume["attachments"], json!([]));
    assert_eq!(volume["metadata"], json!({"k": "v"}));
    assert_eq!(volume["os-vol-tenant-attr:tenant_id"], "proj-a");
    assert!(volume.get("os-vol-host-attr:host").is_none(), "admins only");
    assert!(volume["volume_type_id"].is_string());
    assert_eq!(volume["consumes_quota"], true);
    // At 3.0 the later fields are absent.
    let old = server
        .cinder(ALICE, "3.0")
        .get_ok(&format!("/volumes/{vid}"))
        .await;
    for later in [
        "group_id",
        "shared_targets",
        "volume_type_id",
        "consumes_quota",
    ] {
        assert!(old["volume"].get(later).is_none(), "{later} at 3.0");
    }
    // Listings: summary, detail, filters, paging.
    cinder.volume(json!({"size": 1, "name": "other"})).await;
    let summary = cinder.get_ok("/volumes").await;
    assert_eq!(summary["volumes"].as_array().unwrap().len(), 2);
    assert_eq!(
        common::keys_of(&summary["volumes"][0]),
        vec!["id", "links", "name"]
    );
    let named = cinder.get_ok("/volumes/detail?name=data").await;
    assert_eq!(named["volumes"].as_array().unwrap().len(), 1);
    let by_metadata = cinder
        .get_ok("/volumes/detail?metadata=%7B%27k%27%3A+%27v%27%7D")
        .await;
    assert_eq!(by_metadata["volumes"][0]["id"], vid.as_str());
    let page = cinder.get_ok("/volumes?limit=1&with_count=true").await;
    assert_eq!(page["volumes"].as_array().unwrap().len(), 1);
    assert_eq!(page["count"], 2);
    let next = page["volumes_links"][0]["href"].as_str().unwrap();
    assert!(next.contains("marker="), "{next}");
    // Update, metadata, extend.
    let (status, updated) = cinder
        .put(
            &format!("/volumes/{vid}"),
            json!({"volume": {"name": "renamed"}}),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["volume"]["name"], "renamed");
    let (status, meta) = cinder
        .post(
            &format!("/volumes/{vid}/metadata"),
            json!({"metadata": {"x": "1"}}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(meta["metadata"], json!({"k": "v", "x": "1"}));
    let item = cinder.get_ok(&format!("/volumes/{vid}/metadata/x")).await;
    assert_eq!(item["meta"], json!({"x": "1"}));
    let (status, _) = cinder.delete(&format!("/volumes/{vid}/metadata/x")).await;
    assert_eq!(status, 200);
    let (status, _) = cinder
        .post(
            &format!("/volumes/{vid}/action"),
            json!({"os-extend": {"new_size": 3}}),
        )
        .await;
    assert_eq!(status, 202);
    let grown = cinder.wait_volume(&vid, "available").await;
    assert_eq!(grown["size"], 3);
    let smaller = cinder
        .post(
            &format!("/volumes/{vid}/action"),
            json!({"os-extend": {"new_size": 2}}),
        )
        .await;
    assert_cinder(
        &smaller,
        400,
        "Invalid input received: New size for extend must be greater than current size. (current: 3, extended: 2).",
    );
    let (status, _) = cinder
        .post(
            &format!("/volumes/{vid}/action"),
            json!({"os-set_bootable": {"bootable": true}}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        cinder.wait_volume(&vid, "available").await["bootable"],
        "true"
    );
    // Usage follows: two volumes, 4 GiB.
    let limits = cinder.get_ok("/limits").await;
    assert_eq!(limits["limits"]["absolute"]["totalVolumesUsed"], 2);
    assert_eq!(limits["limits"]["absolute"]["totalGigabytesUsed"], 4);
    // Delete: gone, and its usage with it.
    let (status, _) = cinder.delete(&format!("/volumes/{vid}")).await;
    assert_eq!(status, 202);
    let gone = cinder.get(&format!("/volumes/{vid}")).await;
    assert_cinder(&gone, 404, &format!("Volume {vid} could not be found."));
    let limits = cinder.get_ok("/limits").await;
    assert_eq!(limits["limits"]["absolute"]["totalGigabytesUsed"], 1);
}

#[tokio::test]
async fn bad_volume_requests_are_refused_and_change_nothing() {
    let server = Server::start_noauth().await;
    let cinder = server.cinder(ALICE, "3.71");
    let zero = cinder
        .post("/volumes", json!({"volume": {"size": 0}}))
        .await;
    assert_cinder(
        &zero,
        400,
        "Invalid input received: Volume size '0' must be an integer and greater than 0",
    );
    let no_size = cinder
        .post("/volumes", json!({"volume": {"name": "x"}}))
        .await;
    assert_cinder(
        &no_size,
        400,
        "Invalid input received: Volume size 'None' must be an integer and greater than 0",
    );
    let extra = cinder
        .post("/volumes", json!({"volume": {"size": 1, "bogus": 1}}))
        .await;
    assert_eq!(extra.0, 400, "{}", extra.1);
    // Before 3.53 unknown keys are ignored (cinderclient sends some).
    let lenient = server
        .cinder(ALICE, "3.0")
        .post(
            "/volumes",
            json!({"volume": {"size": 1, "status": "creating"}}),
        )
        .await;
    assert_eq!(lenient.0, 202, "{}", lenient.1);
    let multiattach = cinder
        .post(
            "/volumes",
            json!({"volume": {"size": 1, "multiattach": true}}),
        )
        .await;
    assert_eq!(multiattach.0, 400);
    let bad_type = cinder
        .post(
            "/volumes",
            json!({"volume": {"size": 1, "volume_type": "gold"}}),
        )
        .await;
    assert_cinder(
        &bad_type,
        404,
        "Volume type with name gold could not be found.",
    );
    let bad_image = cinder
        .post(
            "/volumes",
            json!({"volume": {"size": 1, "imageRef": "nope"}}),
        )
        .await;
    assert_cinder(
        &bad_image,
        400,
        "Invalid image identifier or unable to access requested image.",
    );
    let malformed = server
        .http
        .post(server.url("/volume/v3/volumes"))
        .header("X-Auth-Token", ALICE)
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);
    let unknown = cinder
        .get("/volumes/00000000-0000-0000-0000-000000000000")
        .await;
    assert_cinder(
        &unknown,
        404,
        "Volume 00000000-0000-0000-0000-000000000000 could not be found.",
    );
    let volume = cinder.volume(json!({"size": 1})).await;
    let vid = id(&volume);
    let action = cinder
        .post(
            &format!("/volumes/{vid}/action"),
            json!({"os-frobnicate": {}}),
        )
        .await;
    assert_cinder(
        &action,
        400,
        "There is no such action: os-frobnicate. Verify the request body and Content-Type header and try again.",
    );
    let reset = cinder
        .post(
            &format!("/volumes/{vid}/action"),
            json!({"os-reset_status": {"status": "error"}}),
        )
        .await;
    assert_eq!(reset.0, 403, "resetting a status is for admins");
    // Nothing of that changed the project's usage: the lenient create and
    // the good one.
    let limits = cinder.get_ok("/limits").await;
    assert_eq!(limits["limits"]["absolute"]["totalVolumesUsed"], 2);
    // Quotas: an admin lowers them; past them is Cinder's 413.
    let admin = server.cinder(ADMIN, "3.71");
    let (status, set) = admin
        .put(
            "/os-quota-sets/proj-a",
            json!({"quota_set": {"volumes": 3, "gigabytes": 3}}),
        )
        .await;
    assert_eq!(status, 200, "{set}");
    assert_eq!(set["quota_set"]["volumes"], 3);
    let too_big = cinder
        .post("/volumes", json!({"volume": {"size": 5}}))
        .await;
    assert_cinder(
        &too_big,
        413,
        "VolumeSizeExceedsAvailableQuota: Requested volume or snapshot exceeds allowed gigabytes quota. Requested 5G, quota is 3G and 2G has been consumed.",
    );
    cinder.volume(json!({"size": 1})).await;
    let too_many = cinder
        .post("/volumes", json!({"volume": {"size": 1}}))
        .await;
    assert_cinder(
        &too_many,
        413,
        "VolumeLimitExceeded: Maximum number of volumes allowed (3) exceeded for quota 'volumes'.",
    );
    let usage = cinder.get_ok("/os-quota-sets/proj-a?usage=True").await;
    assert_eq!(usage["quota_set"]["volumes"]["in_use"], 3);
    assert_eq!(usage["quota_set"]["gigabytes"]["in_use"], 3);
    let others = cinder.get("/os-quota-sets/proj-b").await;
    assert_eq!(others.0, 403);
    let bad_key = admin
        .put("/os-quota-sets/proj-a", json!({"quota_set": {"cores": 2}}))
        .await;
    assert_cinder(&bad_key, 400, "Bad key(s) in quota set: cores");
}

#[tokio::test]
async fn projects_do_not_see_each_others_volumes() {
    let server = Server::start_noauth().await;
    let alice = server.cinder(ALICE, "3.71");
    let bob = server.cinder(BOB, "3.71");
    let volume = alice.volume(json!({"size": 1})).await;
    let vid = id(&volume);
    let missing = format!("Volume {vid} could not be found.");
    assert_cinder(&bob.get(&format!("/volumes/{vid}")).await, 404, &missing);
    assert_cinder(&bob.delete(&format!("/volumes/{vid}")).await, 404, &missing);
    assert_cinder(
        &bob.put(
            &format!("/volumes/{vid}"),
            json!({"volume": {"name": "mine"}}),
        )
        .await,
        404,
        &missing,
    );
    assert_eq!(bob.get_ok("/volumes").await["volumes"], json!([]));
    assert_eq!(
        bob.get_ok("/volumes?all_tenants=1").await["volumes"],
        json!([])
    );
    let snapshot = bob
        .post("/snapshots", json!({"snapshot": {"volume_id": vid}}))
        .await;
    assert_cinder(&snapshot, 404, &missing);
    let attach = bob
        .post("/attachments", json!({"attachment": {"volume_uuid": vid}}))
        .await;
    assert_cinder(&attach, 404, &missing);
    // Bob's server cannot take Alice's volume either.
    let c = server.compute(BOB, "2.79");
    let image = cirros(&server).await;
    let made = json_of(
        c.post(
            "/servers",
            &json!({"server": {"name": "b", "flavorRef": "1", "imageRef": image, "networks": "none"}}),
        )
        .await,
    )
    .await;
    let sid = id(&made["server"]);
    settled(&c, &sid, "ACTIVE").await;
    common::assert_fault(
        c.post(
            &format!("/servers/{sid}/os-volume_attachments"),
            &json!({"volumeAttachment": {"volumeId": vid}}),
        )
        .await,
        404,
        &missing,
    )
    .await;
    // The admin sees every project's with all_tenants.
    let admin = server.cinder(ADMIN, "3.71");
    let all = admin.get_ok("/volumes/detail?all_tenants=1").await;
    assert_eq!(all["volumes"][0]["os-vol-tenant-attr:tenant_id"], "proj-a");
    assert!(all["volumes"][0]["os-vol-host-attr:host"].is_string());
}

#[tokio::test]
async fn data_is_real_through_images_snapshots_and_clones() {
    let server = Server::start_noauth().await;
    let cinder = server.cinder(ALICE, "3.71");
    let image = cirros(&server).await;
    let original = server
        .http
        .get(server.url(&format!("/image/v2/images/{image}/file")))
        .header("X-Auth-Token", ALICE)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let volume = cinder.volume(json!({"size": 1, "imageRef": image})).await;
    let vid = id(&volume);
    assert_eq!(volume["bootable"], "true");
    assert_eq!(volume["volume_image_metadata"]["image_id"], image.as_str());
    // A snapshot, a volume from it, a clone of that: the same bytes.
    let (status, snap) = cinder
        .post(
            "/snapshots",
            json!({"snapshot": {"volume_id": vid, "name": "s1"}}),
        )
        .await;
    assert_eq!(status, 202, "{snap}");
    let sid = id(&snap["snapshot"]);
    for _ in 0..200 {
        if cinder.get_ok(&format!("/snapshots/{sid}")).await["snapshot"]["status"] == "available" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let shown = cinder.get_ok(&format!("/snapshots/{sid}")).await;
    assert_eq!(
        shown["snapshot"]["os-extended-snapshot-attributes:progress"],
        "100%"
    );
    let from_snapshot = cinder.volume(json!({"snapshot_id": sid})).await;
    assert_eq!(from_snapshot["size"], 1);
    assert_eq!(from_snapshot["bootable"], "true");
    let clone = cinder
        .volume(json!({"source_volid": id(&from_snapshot)}))
        .await;
    let (status, uploaded) = cinder
        .post(
            &format!("/volumes/{}/action", id(&clone)),
            json!({"os-volume_upload_image": {"image_name": "from-volume", "disk_format": "qcow2"}}),
        )
        .await;
    assert_eq!(status, 202, "{uploaded}");
    let new_image = uploaded["os-volume_upload_image"]["image_id"]
        .as_str()
        .unwrap()
        .to_owned();
    cinder.wait_volume(&id(&clone), "available").await;
    let mut bytes = Vec::new();
    for _ in 0..200 {
        let response = server
            .http
            .get(server.url(&format!("/image/v2/images/{new_image}/file")))
            .header("X-Auth-Token", ALICE)
            .send()
            .await
            .unwrap();
        if response.status() == 200 {
            bytes = response.bytes().await.unwrap().to_vec();
            if !bytes.is_empty() {
                break;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        bytes,
        original.to_vec(),
        "the image's bytes went through three volumes"
    );
    // A volume with a snapshot cannot go; with cascade it goes with it.
    let refused = cinder.delete(&format!("/volumes/{vid}")).await;
    assert_eq!(refused.0, 400, "{}", refused.1);
    let (status, _) = cinder.delete(&format!("/volumes/{vid}?cascade=True")).await;
    assert_eq!(status, 202);
    assert_eq!(cinder.get(&format!("/snapshots/{sid}")).await.0, 404);
}

#[tokio::test]
async fn the_attachments_api_reserves_connects_completes_and_deletes() {
    let server = Server::start_noauth().await;
    let cinder = server.cinder(ALICE, "3.44");
    let volume = cinder.volume(json!({"size": 1})).await;
    let vid = id(&volume);
    let (status, made) = cinder
        .post("/attachments", json!({"attachment": {"volume_uuid": vid}}))
        .await;
    assert_eq!(status, 200, "{made}");
    let aid = id(&made["attachment"]);
    assert_eq!(made["attachment"]["status"], "reserved");
    assert_eq!(made["attachment"]["attach_mode"], "null");
    assert_eq!(
        cinder.wait_volume(&vid, "reserved").await["status"],
        "reserved"
    );
    // Another reservation of the reserved volume: Cinder's 400.
    let second = cinder
        .post("/attachments", json!({"attachment": {"volume_uuid": vid}}))
        .await;
    assert_cinder(
        &second,
        400,
        &format!(
            "Invalid volume: Volume {vid} status must be available or downloading to reserve, but the current status is reserved."
        ),
    );
    let (status, updated) = cinder
        .put(
            &format!("/attachments/{aid}"),
            json!({"attachment": {"connector": {"host": "h1", "mountpoint": "/dev/vdc"}}}),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["attachment"]["status"], "attaching");
    assert_eq!(updated["attachment"]["attach_mode"], "rw");
    assert!(updated["attachment"]["connection_info"]["data"]["device_path"].is_string());
    let (status, _) = cinder
        .post(
            &format!("/attachments/{aid}/action"),
            json!({"os-complete": {}}),
        )
        .await;
    assert_eq!(status, 204);
    let attached = cinder.wait_volume(&vid, "in-use").await;
    assert_eq!(attached["attachments"][0]["attachment_id"], aid.as_str());
    assert_eq!(attached["attachments"][0]["device"], "/dev/vdc");
    let listed = cinder
        .get_ok(&format!("/attachments?volume_id={vid}"))
        .await;
    assert_eq!(
        common::keys_of(&listed["attachments"][0]),
        vec!["id", "instance", "status", "volume_id"]
    );
    let (status, left) = cinder.delete(&format!("/attachments/{aid}")).await;
    assert_eq!(status, 200);
    assert_eq!(left["attachments"], json!([]));
    cinder.wait_volume(&vid, "available").await;
    let gone = cinder.get(&format!("/attachments/{aid}")).await;
    assert_eq!(gone.0, 404);
}

#[tokio::test]
async fn servers_attach_and_detach_volumes_as_nova_does() {
    let server = Server::start_noauth().await;
    let cinder = server.cinder(ALICE, "3.71");
    let sid = active_server(&server, "vm").await;
    let other = active_server(&server, "vm2").await;
    let vid = id(&cinder.volume(json!({"size": 1})).await);
    let c = server.compute(ALICE, "2.79");
    let path = format!("/servers/{sid}/os-volume_attachments");
    let attached = c
        .post(
            &path,
            &json!({"volumeAttachment": {"volumeId": vid, "delete_on_termination": true}}),
        )
        .await;
    assert_eq!(attached.status(), 200);
    let body = json_of(attached).await;
    let view = &body["volumeAttachment"];
    assert_eq!(view["device"], "/dev/vdb");
    assert_eq!(view["serverId"], sid.as_str());
    assert_eq!(view["delete_on_termination"], true);
    assert!(view["tag"].is_null());
    let volume = cinder.wait_volume(&vid, "in-use").await;
    assert_eq!(volume["attachments"][0]["server_id"], sid.as_str());
    // The listing holds the same view; the server shows the volume.
    let listed = c.get_ok(&path).await;
    assert_eq!(listed["volumeAttachments"][0], *view);
    let shown = c.get_ok(&format!("/servers/{sid}")).await;
    assert_eq!(
        shown["server"]["os-extended-volumes:volumes_attached"],
        json!([{"id": vid, "delete_on_termination": true}])
    );
    // 2.89: the attachment's ids, no `id`.
    let at_89 = server
        .compute(ALICE, "2.89")
        .get_ok(&format!("{path}/{vid}"))
        .await;
    assert!(at_89["volumeAttachment"].get("id").is_none());
    assert!(at_89["volumeAttachment"]["attachment_id"].is_string());
    assert!(at_89["volumeAttachment"]["bdm_uuid"].is_string());
    // Refusals: attached already (to this server or another), unknown
    // volume, a tag before 2.49, Cinder's delete of an attached volume.
    common::assert_fault(
        c.post(
            &format!("/servers/{other}/os-volume_attachments"),
            &json!({"volumeAttachment": {"volumeId": vid}}),
        )
        .await,
        400,
        &format!("Invalid volume: volume {vid} is already attached to instances: {sid}"),
    )
    .await;
    let unknown = "00000000-0000-0000-0000-000000000000";
    common::assert_fault(
        c.post(&path, &json!({"volumeAttachment": {"volumeId": unknown}}))
            .await,
        404,
        &format!("Volume {unknown} could not be found."),
    )
    .await;
    let tagged = server
        .compute(ALICE, "2.48")
        .post(
            &path,
            &json!({"volumeAttachment": {"volumeId": vid, "tag": "t"}}),
        )
        .await;
    assert_eq!(tagged.status(), 400);
    let delete = cinder.delete(&format!("/volumes/{vid}")).await;
    assert_eq!(delete.0, 400);
    // Locked: 409 for its owner.
    assert_eq!(
        c.post(&format!("/servers/{sid}/action"), &json!({"lock": null}))
            .await
            .status(),
        202
    );
    common::assert_fault(
        c.delete(&format!("{path}/{vid}")).await,
        409,
        &format!("Instance {sid} is locked"),
    )
    .await;
    assert_eq!(
        c.post(&format!("/servers/{sid}/action"), &json!({"unlock": null}))
            .await
            .status(),
        202
    );
    // Detach: the volume is free again, the actions recorded.
    assert_eq!(c.delete(&format!("{path}/{vid}")).await.status(), 202);
    cinder.wait_volume(&vid, "available").await;
    common::assert_fault(
        c.get(&format!("{path}/{vid}")).await,
        404,
        &format!("Instance {sid} is not attached to volume {vid}"),
    )
    .await;
    let actions = c
        .get_ok(&format!("/servers/{sid}/os-instance-actions"))
        .await;
    let names: Vec<&str> = actions["instanceActions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert_eq!(names[0], "detach_volume");
    assert!(names.contains(&"attach_volume"), "{names:?}");
    // Attached again and the server deleted: delete_on_termination.
    let again = c
        .post(
            &path,
            &json!({"volumeAttachment": {"volumeId": vid, "delete_on_termination": true}}),
        )
        .await;
    assert_eq!(again.status(), 200);
    cinder.wait_volume(&vid, "in-use").await;
    assert_eq!(c.delete(&format!("/servers/{sid}")).await.status(), 204);
    wait_gone(&c, &sid).await;
    for _ in 0..200 {
        if cinder.get(&format!("/volumes/{vid}")).await.0 == 404 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the volume did not go with its server");
}

#[tokio::test]
async fn racing_attaches_of_one_volume_give_it_to_one_server() {
    let server = Server::start_noauth().await;
    let cinder = server.cinder(ALICE, "3.71");
    let first = active_server(&server, "a").await;
    let second = active_server(&server, "b").await;
    let vid = id(&cinder.volume(json!({"size": 1})).await);
    let c = server.compute(ALICE, "2.79");
    let body = json!({"volumeAttachment": {"volumeId": vid}});
    let path_a = format!("/servers/{first}/os-volume_attachments");
    let path_b = format!("/servers/{second}/os-volume_attachments");
    let (a, b) = tokio::join!(c.post(&path_a, &body), c.post(&path_b, &body));
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 400]);
    let volume = cinder.wait_volume(&vid, "in-use").await;
    assert_eq!(volume["attachments"].as_array().unwrap().len(), 1);
    let holders = c.get_ok(&path_a).await["volumeAttachments"]
        .as_array()
        .unwrap()
        .len()
        + c.get_ok(&path_b).await["volumeAttachments"]
            .as_array()
            .unwrap()
            .len();
    assert_eq!(holders, 1);
}

#[tokio::test]
async fn servers_boot_from_volumes() {
    let server = Server::start_noauth().await;
    let cinder = server.cinder(ALICE, "3.71");
    let c = server.compute(ALICE, "2.79");
    let image = cirros(&server).await;
    // From an image, the volume made by the build (OSC's --boot-from-volume).
    let made = c
        .post(
            "/servers",
            &json!({"server": {"name": "bfv", "flavorRef": "1", "networks": "none",
                "block_device_mapping_v2": [{"uuid": image, "source_type": "image",
                    "destination_type": "volume", "boot_index": 0, "volume_size": 1,
                    "delete_on_termination": true}]}}),
        )
        .await;
    assert_eq!(made.status(), 202);
    let sid = id(&json_of(made).await["server"]);
    let active = settled(&c, &sid, "ACTIVE").await;
    assert_eq!(active["image"], "");
    let volumes = active["os-extended-volumes:volumes_attached"]
        .as_array()
        .unwrap();
    assert_eq!(volumes.len(), 1);
    let root = volumes[0]["id"].as_str().unwrap().to_owned();
    let root_volume = cinder.wait_volume(&root, "in-use").await;
    assert_eq!(root_volume["bootable"], "true");
    assert_eq!(root_volume["attachments"][0]["device"], "/dev/vda");
    // The boot volume cannot be detached.
    common::assert_fault(
        c.delete(&format!("/servers/{sid}/os-volume_attachments/{root}"))
            .await,
        400,
        "Cannot detach a root device volume",
    )
    .await;
    // From an existing volume that is not bootable: Nova's 400.
    let plain = id(&cinder.volume(json!({"size": 1})).await);
    common::assert_fault(
        c.post(
            "/servers",
            &json!({"server": {"name": "nb", "flavorRef": "1", "networks": "none", "imageRef": "",
                "block_device_mapping_v2": [{"uuid": plain, "source_type": "volume",
                    "destination_type": "volume", "boot_index": 0}]}}),
        )
        .await,
        400,
        &format!("Block Device {plain} is not bootable."),
    )
    .await;
    // Missing sizes, a bad boot sequence.
    common::assert_fault(
        c.post(
            "/servers",
            &json!({"server": {"name": "x", "flavorRef": "1", "networks": "none",
                "block_device_mapping_v2": [{"uuid": image, "source_type": "image",
                    "destination_type": "volume", "boot_index": 0}]}}),
        )
        .await,
        400,
        "Block Device Mapping is Invalid: Images with destination_type 'volume' need to have a non-zero size specified",
    )
    .await;
    common::assert_fault(
        c.post(
            "/servers",
            &json!({"server": {"name": "x", "flavorRef": "1", "networks": "none", "imageRef": image,
                "block_device_mapping_v2": [{"source_type": "blank",
                    "destination_type": "volume", "boot_index": 2, "volume_size": 1}]}}),
        )
        .await,
        400,
        "Block Device Mapping is Invalid: Boot sequence for the instance and image/block device mapping combination is not valid.",
    )
    .await;
    // An image server with a blank data volume made for it.
    let made = c
        .post(
            "/servers",
            &json!({"server": {"name": "data", "flavorRef": "1", "networks": "none", "imageRef": image,
                "block_device_mapping_v2": [{"source_type": "blank", "destination_type": "volume",
                    "boot_index": -1, "volume_size": 2}]}}),
        )
        .await;
    assert_eq!(made.status(), 202);
    let data_server = id(&json_of(made).await["server"]);
    let active = settled(&c, &data_server, "ACTIVE").await;
    assert_eq!(active["image"]["id"], image.as_str());
    let blank = active["os-extended-volumes:volumes_attached"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let blank_volume = cinder.wait_volume(&blank, "in-use").await;
    assert_eq!(blank_volume["name"], format!("{data_server}-blank-vol"));
    assert_eq!(blank_volume["size"], 2);
    // Deleting: the boot volume (delete_on_termination) goes, the blank
    // one (kept by default) is available again.
    for s in [&sid, &data_server] {
        assert_eq!(c.delete(&format!("/servers/{s}")).await.status(), 204);
        wait_gone(&c, s).await;
    }
    cinder.wait_volume(&blank, "available").await;
    for _ in 0..200 {
        if cinder.get(&format!("/volumes/{root}")).await.0 == 404 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the boot volume did not go with its server");
}

#[tokio::test]
async fn an_attach_cut_by_a_restart_ends_attached() {
    let dir = tempfile::tempdir().unwrap();
    let options = || Options {
        args: vec!["--auth".into(), "noauth".into()],
        ..Default::default()
    };
    let server = Server::start_in(dir, options()).await;
    let sid = active_server(&server, "vm").await;
    let cinder = server.cinder(ALICE, "3.71");
    let vid = id(&cinder.volume(json!({"size": 1})).await);
    // The hypervisor holds the attach: the volume waits in `attaching`.
    let (status, _) = common::send_json(
        server
            .http
            .put(server.url("/_oxstack/driver"))
            .header("X-Auth-Token", ADMIN),
        Some(json!({"hold": ["attach_volume"]})),
    )
    .await;
    assert_eq!(status, 200);
    let c = server.compute(ALICE, "2.79");
    let attached = c
        .post(
            &format!("/servers/{sid}/os-volume_attachments"),
            &json!({"volumeAttachment": {"volumeId": vid}}),
        )
        .await;
    assert_eq!(attached.status(), 200);
    cinder.wait_volume(&vid, "attaching").await;
    let dir = server.stop();
    let server = Server::start_in(dir, options()).await;
    let cinder = server.cinder(ALICE, "3.71");
    let volume = cinder.wait_volume(&vid, "in-use").await;
    assert_eq!(volume["attachments"][0]["server_id"], sid.as_str());
    let c = server.compute(ALICE, "2.79");
    let actions = c
        .get_ok(&format!("/servers/{sid}/os-instance-actions"))
        .await;
    let attach = &actions["instanceActions"][0];
    assert_eq!(attach["action"], "attach_volume");
    let request = attach["request_id"].as_str().unwrap();
    for _ in 0..200 {
        let detail = c
            .get_ok(&format!("/servers/{sid}/os-instance-actions/{request}"))
            .await;
        let events = detail["instanceAction"]["events"]
            .as_array()
            .unwrap()
            .clone();
        if events.iter().all(|e| !e["finish_time"].is_null()) && !events.is_empty() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the attach's event never finished");
}

#[tokio::test]
async fn a_volume_backed_servers_image_maps_snapshots_that_new_servers_boot_from() {
    let server = Server::start_noauth().await;
    let cinder = server.cinder(ALICE, "3.71");
    let c = server.compute(ALICE, "2.79");
    let image = cirros(&server).await;
    let made = c
        .post(
            "/servers",
            &json!({"server": {"name": "bfv", "flavorRef": "1", "networks": "none",
                "block_device_mapping_v2": [{"uuid": image, "source_type": "image",
                    "destination_type": "volume", "boot_index": 0, "volume_size": 1}]}}),
        )
        .await;
    let sid = id(&json_of(made).await["server"]);
    settled(&c, &sid, "ACTIVE").await;
    let snapshot = c
        .post(
            &format!("/servers/{sid}/action"),
            &json!({"createImage": {"name": "bfv-snap"}}),
        )
        .await;
    assert_eq!(snapshot.status(), 202);
    let new_image = json_of(snapshot).await["image_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // The image is active and empty; its properties map a volume snapshot.
    let shown = server
        .http
        .get(server.url(&format!("/image/v2/images/{new_image}")))
        .header("X-Auth-Token", ALICE)
        .send()
        .await
        .unwrap();
    let shown = json_of(shown).await;
    assert_eq!(shown["status"], "active", "{shown}");
    assert_eq!(shown["size"], 0);
    assert_eq!(shown["bdm_v2"], "True");
    let mapping: Value =
        serde_json::from_str(shown["block_device_mapping"].as_str().unwrap()).unwrap();
    let snapshot_id = mapping[0]["snapshot_id"].as_str().unwrap().to_owned();
    assert_eq!(mapping[0]["source_type"], "snapshot");
    assert_eq!(mapping[0]["boot_index"], 0);
    let snap = cinder.get_ok(&format!("/snapshots/{snapshot_id}")).await;
    assert_eq!(snap["snapshot"]["name"], "snapshot for bfv-snap");
    let actions = c
        .get_ok(&format!("/servers/{sid}/os-instance-actions"))
        .await;
    assert_eq!(actions["instanceActions"][0]["action"], "createImage");
    // A server booted from that image gets a volume made of the snapshot.
    for _ in 0..200 {
        let s = cinder.get_ok(&format!("/snapshots/{snapshot_id}")).await;
        if s["snapshot"]["status"] == "available" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let made = c
        .post(
            "/servers",
            &json!({"server": {"name": "again", "flavorRef": "1", "networks": "none",
                "imageRef": new_image}}),
        )
        .await;
    assert_eq!(made.status(), 202);
    let again = id(&json_of(made).await["server"]);
    let active = settled(&c, &again, "ACTIVE").await;
    let root = active["os-extended-volumes:volumes_attached"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let volume = cinder.wait_volume(&root, "in-use").await;
    assert_eq!(volume["snapshot_id"], snapshot_id.as_str());
    assert_eq!(volume["bootable"], "true");
}

#[tokio::test]
async fn volume_backed_servers_rebuild_and_resize_by_novas_rules() {
    let server = Server::start_noauth().await;
    let c = server.compute(ALICE, "2.79");
    let image = cirros(&server).await;
    let made = c
        .post(
            "/servers",
            &json!({"server": {"name": "bfv", "flavorRef": "2", "networks": "none",
                "block_device_mapping_v2": [{"uuid": image, "source_type": "image",
                    "destination_type": "volume", "boot_index": 0, "volume_size": 1}]}}),
        )
        .await;
    let sid = id(&json_of(made).await["server"]);
    settled(&c, &sid, "ACTIVE").await;
    let action = format!("/servers/{sid}/action");
    // Another image: refused before 2.93, as Nova refuses it.
    let other = json_of(
        server
            .http
            .post(server.url("/image/v2/images"))
            .header("X-Auth-Token", ALICE)
            .json(&json!({"name": "other", "disk_format": "raw", "container_format": "bare"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let other = id(&other);
    let uploaded = server
        .http
        .put(server.url(&format!("/image/v2/images/{other}/file")))
        .header("X-Auth-Token", ALICE)
        .header("Content-Type", "application/octet-stream")
        .body(vec![1u8; 512])
        .send()
        .await
        .unwrap();
    assert_eq!(uploaded.status(), 204);
    common::assert_fault(
        c.post(&action, &json!({"rebuild": {"imageRef": other}})).await,
        400,
        &format!("Image {other} is unacceptable: Unable to rebuild with a different image for a volume-backed server."),
    )
    .await;
    // Its own image: rebuilt, still volume-backed (no image of its own).
    let rebuilt = c
        .post(&action, &json!({"rebuild": {"imageRef": image}}))
        .await;
    assert_eq!(rebuilt.status(), 202);
    let active = settled(&c, &sid, "ACTIVE").await;
    assert_eq!(active["image"], "");
    // From 2.93 another image is taken.
    let at_93 = server
        .compute(ALICE, "2.93")
        .post(&action, &json!({"rebuild": {"imageRef": other}}))
        .await;
    assert_eq!(at_93.status(), 202);
    settled(&c, &sid, "ACTIVE").await;
    // Its boot volume holds the new image now (Cinder's os-reimage).
    let shown = c.get_ok(&format!("/servers/{sid}")).await;
    let root = shown["server"]["os-extended-volumes:volumes_attached"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let volume = server
        .cinder(ALICE, "3.71")
        .wait_volume(&root, "in-use")
        .await;
    assert_eq!(volume["volume_image_metadata"]["image_id"], other.as_str());
    // Resizing to a smaller disk: the flavor's disk does not matter.
    let resized = c
        .post(&action, &json!({"resize": {"flavorRef": "1"}}))
        .await;
    assert_eq!(resized.status(), 202);
    settled(&c, &sid, "VERIFY_RESIZE").await;
    // An image-backed server cannot, nor go to a flavor without a disk.
    let plain = active_server(&server, "plain").await;
    let plain_action = format!("/servers/{plain}/action");
    let admin = server.compute(ADMIN, "2.79");
    let zero = admin
        .post(
            "/flavors",
            &json!({"flavor": {"name": "zero", "ram": 512, "vcpus": 1, "disk": 0, "id": "zero"}}),
        )
        .await;
    assert_eq!(zero.status(), 200);
    common::assert_fault(
        c.post(&plain_action, &json!({"resize": {"flavorRef": "zero"}}))
            .await,
        400,
        "Server disk was unable to be resized because: Resize to zero disk flavor is not allowed.",
    )
    .await;
}

#[tokio::test]
async fn a_volume_backed_server_shelves_without_an_image_and_keeps_its_volume() {
    let server = Server::start_noauth().await;
    let cinder = server.cinder(ALICE, "3.71");
    let c = server.compute(ALICE, "2.79");
    let image = cirros(&server).await;
    let made = c
        .post(
            "/servers",
            &json!({"server": {"name": "bfv", "flavorRef": "1", "networks": "none",
                "block_device_mapping_v2": [{"uuid": image, "source_type": "image",
                    "destination_type": "volume", "boot_index": 0, "volume_size": 1}]}}),
        )
        .await;
    let sid = id(&json_of(made).await["server"]);
    let active = settled(&c, &sid, "ACTIVE").await;
    let root = active["os-extended-volumes:volumes_attached"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let images_before = server
        .http
        .get(server.url("/image/v2/images"))
        .header("X-Auth-Token", ALICE)
        .send()
        .await
        .unwrap();
    let images_before = json_of(images_before).await["images"]
        .as_array()
        .unwrap()
        .len();
    let action = format!("/servers/{sid}/action");
    assert_eq!(
        c.post(&action, &json!({"shelve": null})).await.status(),
        202
    );
    settled(&c, &sid, "SHELVED_OFFLOADED").await;
    let images_after = server
        .http
        .get(server.url("/image/v2/images"))
        .header("X-Auth-Token", ALICE)
        .send()
        .await
        .unwrap();
    let images_after = json_of(images_after).await["images"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(
        images_after, images_before,
        "no shelved image for a volume-backed server"
    );
    assert_eq!(
        cinder.wait_volume(&root, "in-use").await["attachments"][0]["server_id"],
        sid.as_str()
    );
    assert_eq!(
        c.post(&action, &json!({"unshelve": null})).await.status(),
        202
    );
    let back = settled(&c, &sid, "ACTIVE").await;
    assert_eq!(
        back["os-extended-volumes:volumes_attached"][0]["id"],
        root.as_str()
    );
}
