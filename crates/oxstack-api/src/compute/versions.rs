//! Version discovery documents, shaped exactly as Nova serves them.

use axum::Json;
use axum::extract::{Extension, Path};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::ApiRoot;
use super::microversion::{MAX, MIN};

use crate::envelope::envelope;

const V21_UPDATED: &str = "2013-07-23T11:33:21Z";
const V20_UPDATED: &str = "2025-07-04T12:00:00Z";

/// The summary of one API version, as listed at the service root.
fn summary(id: &str, href: String) -> Value {
    let (status, version, min_version, updated) = match id {
        "v2.1" => ("CURRENT", MAX.to_string(), MIN.to_string(), V21_UPDATED),
        _ => ("DEPRECATED", String::new(), String::new(), V20_UPDATED),
    };
    json!({
        "id": id,
        "status": status,
        "version": version,
        "min_version": min_version,
        "updated": updated,
        "links": [{"rel": "self", "href": href}],
    })
}

/// `GET /` (and `GET /compute/`): every version of the compute API.
pub fn list(service_url: &str) -> Value {
    json!({"versions": [
        summary("v2.0", format!("{service_url}/v2/")),
        summary("v2.1", format!("{service_url}/v2.1/")),
    ]})
}

/// The full document of one version.
fn document(root: &ApiRoot) -> Value {
    let (id, href, media) = if root.legacy_v2 {
        (
            "v2.0",
            format!("{}/v2/", root.service_url),
            "application/vnd.openstack.compute+json;version=2",
        )
    } else {
        (
            "v2.1",
            format!("{}/v2.1/", root.service_url),
            "application/vnd.openstack.compute+json;version=2.1",
        )
    };
    let mut version = summary(id, href);
    version["links"]
        .as_array_mut()
        .expect("summary has links")
        .push(json!({
            "rel": "describedby",
            "type": "text/html",
            "href": "http://docs.openstack.org/",
        }));
    version["media-types"] = json!([{"base": "application/json", "type": media}]);
    envelope("version", version)
}

/// `GET /v2.1/` (and `/v2/`).
pub async fn show_current(Extension(root): Extension<ApiRoot>) -> Json<Value> {
    Json(document(&root))
}

/// `GET /v2.1/versions/{id}`: the version document, 404 for other ids.
pub async fn show_by_id(Extension(root): Extension<ApiRoot>, Path(id): Path<String>) -> Response {
    let current = if root.legacy_v2 { "v2.0" } else { "v2.1" };
    if id == current {
        Json(document(&root)).into_response()
    } else {
        super::error::NovaError::not_found("The resource could not be found.").into_response()
    }
}

/// `GET` on an unknown path of the root: `300 Multiple Choices` pointing at
/// the same path under each version.
pub fn choices(service_url: &str, rest: &str) -> Value {
    let choice = |id: &str, segment: &str, status: &str, media: &str| {
        json!({
            "id": id,
            "status": status,
            "links": [{"rel": "self", "href": format!("{service_url}/{segment}{rest}")}],
            "media-types": [{"base": "application/json", "type": media}],
        })
    };
    json!({"choices": [
        choice("v2.0", "v2", "DEPRECATED", "application/vnd.openstack.compute+json;version=2"),
        choice("v2.1", "v2.1", "CURRENT", "application/vnd.openstack.compute+json;version=2.1"),
    ]})
}
