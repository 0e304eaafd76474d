//! The compute API's foundation, black-box: version discovery documents as
//! Nova serves them, microversion negotiation, error bodies, request ids.
//! Expected values are Nova's (captured from Nova 34 / the api-ref).

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use common::{Server, header, header_all, json_of};
use serde_json::json;

const MAX: &str = "2.104";

#[tokio::test]
async fn root_lists_both_versions_without_auth_or_version_headers() {
    let server = Server::start().await;
    for (path, prefix) in [
        ("/", ""),
        ("/compute", "/compute"),
        ("/compute/", "/compute"),
    ] {
        let response = server.http.get(server.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert!(
            header(&response, "openstack-api-version").is_none(),
            "root is not microversioned"
        );
        let body = json_of(response).await;
        assert_eq!(
            body,
            json!({"versions": [
                {"id": "v2.0", "status": "DEPRECATED", "version": "", "min_version": "",
                 "updated": "2025-07-04T12:00:00Z",
                 "links": [{"rel": "self", "href": server.url(&format!("{prefix}/v2/"))}]},
                {"id": "v2.1", "status": "CURRENT", "version": MAX, "min_version": "2.1",
                 "updated": "2013-07-23T11:33:21Z",
                 "links": [{"rel": "self", "href": server.url(&format!("{prefix}/v2.1/"))}]},
            ]}),
            "{path}"
        );
    }
}

#[tokio::test]
async fn version_document_at_every_spelling_of_the_root() {
    let server = Server::start().await;
    for path in [
        "/compute/v2.1",
        "/compute/v2.1/",
        "/v2.1",
        "/v2.1/",
        "/compute/v2.1/versions/v2.1",
    ] {
        let response = server.http.get(server.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(
            header(&response, "openstack-api-version"),
            Some("compute 2.1")
        );
        let prefix = if path.starts_with("/compute") {
            "/compute"
        } else {
            ""
        };
        assert_eq!(
            json_of(response).await,
            json!({"version": {
                "id": "v2.1", "status": "CURRENT", "version": MAX, "min_version": "2.1",
                "updated": "2013-07-23T11:33:21Z",
                "links": [
                    {"rel": "self", "href": server.url(&format!("{prefix}/v2.1/"))},
                    {"rel": "describedby", "type": "text/html", "href": "http://docs.openstack.org/"},
                ],
                "media-types": [{"base": "application/json",
                                 "type": "application/vnd.openstack.compute+json;version=2.1"}],
            }}),
            "{path}"
        );
    }
    let legacy = server
        .http
        .get(server.url("/compute/v2/"))
        .send()
        .await
        .unwrap();
    assert_eq!(legacy.status(), 200);
    assert!(
        header(&legacy, "openstack-api-version").is_none(),
        "the legacy v2 API has no microversions"
    );
    let body = json_of(legacy).await;
    assert_eq!(body["version"]["id"], "v2.0");
    assert_eq!(body["version"]["status"], "DEPRECATED");
    assert_eq!(
        body["version"]["media-types"][0]["type"],
        "application/vnd.openstack.compute+json;version=2"
    );

    let unknown = server
        .http
        .get(server.url("/compute/v2.1/versions/v3.0"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    assert_eq!(json_of(unknown).await["itemNotFound"]["code"], 404);
}

#[tokio::test]
async fn other_root_paths_offer_multiple_choices() {
    let server = Server::start().await;
    let response = server
        .http
        .get(server.url("/compute/servers"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 300);
    let body = json_of(response).await;
    assert_eq!(body["choices"][0]["id"], "v2.0");
    assert_eq!(
        body["choices"][1]["links"][0]["href"],
        server.url("/compute/v2.1/servers")
    );
}

#[tokio::test]
async fn microversion_header_matrix() {
    let server = Server::start().await;
    let token = server.admin_token().await;
    let get = |headers: Vec<(&'static str, &'static str)>| {
        let mut request = server
            .http
            .get(server.url("/compute/v2.1/"))
            .header("X-Auth-Token", &token);
        for (k, v) in headers {
            request = request.header(k, v);
        }
        request.send()
    };

    let cases: Vec<(Vec<(&'static str, &'static str)>, &str)> = vec![
        (vec![], "2.1"),
        (vec![("OpenStack-API-Version", "compute 2.1")], "2.1"),
        (vec![("OpenStack-API-Version", "compute latest")], MAX),
        (vec![("X-OpenStack-Nova-API-Version", "2.1")], "2.1"),
        (vec![("X-OpenStack-Nova-API-Version", "latest")], MAX),
        (
            vec![("OpenStack-API-Version", "volume 3.0, compute 2.1")],
            "2.1",
        ),
    ];
    for (headers, expected) in cases {
        let response = get(headers.clone()).await.unwrap();
        assert_eq!(response.status(), 200, "{headers:?}");
        assert_eq!(
            header(&response, "openstack-api-version"),
            Some(format!("compute {expected}").as_str())
        );
        assert_eq!(
            header(&response, "x-openstack-nova-api-version"),
            Some(expected)
        );
        assert_eq!(
            header_all(&response, "vary"),
            ["OpenStack-API-Version", "X-OpenStack-Nova-API-Version"]
        );
    }

    for (headers, requested) in [
        (vec![("OpenStack-API-Version", "compute 9.999")], "9.999"),
        (vec![("OpenStack-API-Version", "compute 2.0")], "2.0"),
        (vec![("X-OpenStack-Nova-API-Version", "2.105")], "2.105"),
        (vec![("X-OpenStack-Nova-API-Version", "3.0")], "3.0"),
    ] {
        let response = get(headers).await.unwrap();
        assert_eq!(response.status(), 406);
        assert_eq!(
            header(&response, "openstack-api-version"),
            Some(format!("compute {requested}").as_str())
        );
        assert_eq!(
            header(&response, "content-type"),
            Some("application/json; charset=UTF-8")
        );
        assert_eq!(
            json_of(response).await,
            json!({"computeFault": {"code": 406, "message": format!(
                "Version {requested} is not supported by the API. Minimum is 2.1 and maximum is {MAX}.")}})
        );
    }

    for bad in ["compute abc", "compute 2.01", "compute Latest"] {
        let response = get(vec![("OpenStack-API-Version", bad)]).await.unwrap();
        assert_eq!(response.status(), 400, "{bad}");
        assert!(header(&response, "openstack-api-version").is_none());
        let version = bad.trim_start_matches("compute ");
        assert_eq!(
            json_of(response).await,
            json!({"badRequest": {"code": 400, "message": format!(
                "API Version String {version} is of invalid format. Must be of format MajorNum.MinorNum.")}})
        );
    }
}

#[tokio::test]
async fn unknown_routes_methods_and_foreign_project_ids() {
    let server = Server::start().await;
    let token = server.admin_token().await;

    let missing = server.get("/compute/v2.1/nonexistent", &token).await;
    assert_eq!(missing.status(), 404);
    assert_eq!(
        header(&missing, "openstack-api-version"),
        Some("compute 2.1")
    );
    assert_eq!(
        json_of(missing).await,
        json!({"message": "The resource could not be found.<br /><br />\n\n\n", "code": "404 Not Found", "title": "Not Found"})
    );

    let wrong_method = server
        .http
        .delete(server.url("/compute/v2.1/"))
        .header("X-Auth-Token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_method.status(), 405);
    assert_eq!(json_of(wrong_method).await["badMethod"]["code"], 405);

    // No token: authentication comes before routing.
    let anonymous = server
        .http
        .get(server.url("/compute/v2.1/nonexistent"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);

    // A project id in the URL must be the token's project.
    let response = server
        .get("/compute/v2.1/0123abcd/nonexistent", &token)
        .await;
    assert_eq!(response.status(), 400);
    let message = json_of(response).await["badRequest"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message.starts_with("Malformed request URL: URL's project_id '0123abcd' doesn't match Context's project_id '"),
        "{message}"
    );
    let tokens = json_of(
        server
            .http
            .get(server.url("/identity/v3/auth/tokens"))
            .header("X-Auth-Token", &token)
            .header("X-Subject-Token", &token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let own = tokens["token"]["project"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let response = server
        .get(&format!("/compute/v2.1/{own}/nonexistent"), &token)
        .await;
    assert_eq!(
        response.status(),
        404,
        "own project id in the path is accepted"
    );
}

#[tokio::test]
async fn every_response_carries_a_fresh_request_id() {
    let server = Server::start().await;
    let token = server.admin_token().await;
    let mut seen = std::collections::HashSet::new();
    for path in [
        "/",
        "/compute/v2.1/",
        "/compute/v2.1/nonexistent",
        "/identity/v3",
        "/_oxstack/health",
        "/image/nothing",
    ] {
        let response = server.get(path, &token).await;
        let id = header(&response, "x-openstack-request-id")
            .unwrap_or_else(|| panic!("{path}: no request id"))
            .to_owned();
        assert_eq!(
            header(&response, "x-compute-request-id"),
            Some(id.as_str()),
            "{path}"
        );
        let uuid = id.strip_prefix("req-").unwrap_or_else(|| panic!("{id}"));
        assert!(uuid::Uuid::parse_str(uuid).is_ok(), "{id}");
        assert!(seen.insert(id), "request ids are unique");
    }
}

#[tokio::test]
async fn extensions_list_as_nova_serves_it() {
    let server = Server::start().await;
    let token = server.admin_token().await;
    let list = json_of(server.get("/compute/v2.1/extensions", &token).await).await;
    let extensions = list["extensions"].as_array().unwrap();
    assert_eq!(extensions.len(), 99);
    assert_eq!(
        extensions[0],
        json!({"alias": "NMN", "description": "Multiple network support.", "links": [], "name": "Multinic",
               "namespace": "http://docs.openstack.org/compute/ext/fake_xml", "updated": "2014-12-03T00:00:00Z"})
    );
    let aliases: Vec<&str> = extensions
        .iter()
        .map(|e| e["alias"].as_str().unwrap())
        .collect();
    let mut sorted = aliases.clone();
    sorted.sort_unstable();
    assert_eq!(aliases, sorted);
    assert!(aliases.contains(&"os-keypairs") && aliases.contains(&"OS-EXT-STS"));

    let one = json_of(server.get("/compute/v2.1/extensions/OS-DCF", &token).await).await;
    assert_eq!(one["extension"]["name"], "DiskConfig");
    let missing = server.get("/compute/v2.1/extensions/OS-NOPE", &token).await;
    assert_eq!(missing.status(), 404);
    assert_eq!(
        json_of(missing).await["itemNotFound"]["message"],
        "The resource could not be found."
    );
    // The legacy v2 API lists one more.
    let legacy = json_of(server.get("/compute/v2/extensions", &token).await).await;
    assert_eq!(legacy["extensions"].as_array().unwrap().len(), 100);
    assert_eq!(
        server
            .get("/compute/v2.1/extensions/OS-EXT-VIF-NET", &token)
            .await
            .status(),
        404
    );
    let strict = server
        .http
        .get(server.url("/compute/v2.1/extensions?verbose=1"))
        .header("X-Auth-Token", &token)
        .header("OpenStack-API-Version", "compute 2.102")
        .send()
        .await
        .unwrap();
    assert_eq!(strict.status(), 400);
    assert_eq!(
        server
            .http
            .get(server.url("/compute/v2.1/extensions"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
}

/// Routes and actions Nova added or removed at a microversion: outside
/// their versions they are Nova's 404 before anything else is looked at
/// (no policy, no body, no server lookup); inside, they are served.
#[tokio::test]
async fn routes_and_actions_exist_at_their_microversions_only() {
    use reqwest::Method;
    let server = Server::start_noauth().await;
    let admin = "admin:admin";
    let missing = "00000000-0000-0000-0000-000000000000";
    let cases: Vec<(Method, String, serde_json::Value, &str, &str)> = vec![
        // (method, path, body, a version without it, a version with it)
        (
            Method::GET,
            format!("/servers/{missing}/tags"),
            json!(null),
            "2.25",
            "2.26",
        ),
        (
            Method::GET,
            format!("/servers/{missing}/migrations"),
            json!(null),
            "2.22",
            "2.23",
        ),
        (
            Method::DELETE,
            format!("/servers/{missing}/migrations/1"),
            json!(null),
            "2.23",
            "2.24",
        ),
        (
            Method::POST,
            format!("/servers/{missing}/migrations/1/action"),
            json!({"force_complete": null}),
            "2.21",
            "2.22",
        ),
        (
            Method::POST,
            format!("/servers/{missing}/remote-consoles"),
            json!({"remote_console": {"protocol": "vnc", "type": "novnc"}}),
            "2.5",
            "2.6",
        ),
        (
            Method::PUT,
            "/flavors/1".into(),
            json!({"flavor": {"description": "d"}}),
            "2.54",
            "2.55",
        ),
        (Method::GET, "/images".into(), json!(null), "2.36", "2.35"),
        (
            Method::GET,
            "/images/x/metadata".into(),
            json!(null),
            "2.39",
            "2.38",
        ),
        (
            Method::GET,
            "/os-networks".into(),
            json!(null),
            "2.36",
            "2.35",
        ),
        (
            Method::GET,
            "/os-floating-ips".into(),
            json!(null),
            "2.36",
            "2.35",
        ),
        (
            Method::GET,
            "/os-hypervisors/statistics".into(),
            json!(null),
            "2.88",
            "2.87",
        ),
        (
            Method::GET,
            "/os-hypervisors/x/search".into(),
            json!(null),
            "2.53",
            "2.52",
        ),
        (
            Method::GET,
            "/os-hypervisors/x/servers".into(),
            json!(null),
            "2.53",
            "2.52",
        ),
        (Method::GET, "/os-hosts".into(), json!(null), "2.43", "2.42"),
        (
            Method::PUT,
            "/os-hosts/x".into(),
            json!({"status": "enable"}),
            "2.43",
            "2.42",
        ),
        (
            Method::GET,
            "/os-hosts/x/reboot".into(),
            json!(null),
            "2.43",
            "2.42",
        ),
        (
            Method::GET,
            format!("/servers/{missing}/topology"),
            json!(null),
            "2.77",
            "2.78",
        ),
        (
            Method::POST,
            format!("/servers/{missing}/action"),
            json!({"trigger_crash_dump": null}),
            "2.16",
            "2.17",
        ),
        (
            Method::POST,
            format!("/servers/{missing}/action"),
            json!({"addFloatingIp": {"address": "10.0.0.1"}}),
            "2.44",
            "2.43",
        ),
        (
            Method::POST,
            format!("/servers/{missing}/action"),
            json!({"os-getVNCConsole": {"type": "novnc"}}),
            "2.6",
            "2.5",
        ),
    ];
    for (method, path, body, without, with) in cases {
        let absent = server
            .compute(admin, without)
            .send(method.clone(), &path, &body)
            .await;
        let status = absent.status();
        let fault = json_of(absent).await;
        assert_eq!(status, 404, "{method} {path} at {without}: {fault}");
        assert_eq!(
            fault,
            json!({"itemNotFound": {"code": 404, "message": "The resource could not be found."}}),
            "{method} {path} at {without}"
        );
        let present = server
            .compute(admin, with)
            .send(method.clone(), &path, &body)
            .await;
        let status = present.status();
        let answer = json_of(present).await;
        assert!(
            answer
                != json!({"itemNotFound": {"code": 404, "message": "The resource could not be found."}}),
            "{method} {path} at {with} is served: {status} {answer}"
        );
    }
    // A sub-resource the hypervisors never had is the router's 404.
    let unknown = server
        .compute(admin, "2.1")
        .get("/os-hypervisors/x/bogus")
        .await;
    assert_eq!(unknown.status(), 404);
    assert_eq!(json_of(unknown).await["code"], "404 Not Found");
}
