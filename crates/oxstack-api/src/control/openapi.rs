//! `GET /_oxstack/openapi.json`: an OpenAPI 3.1 document of the APIs this
//! cloud serves (compute, image, network, identity), for property-based fuzzers
//! such as schemathesis (`tests/reliability/schemathesis.sh`). Request
//! bodies carry the schemas the compute handlers validate against (at the
//! newest microversion, so send `OpenStack-API-Version: compute latest`);
//! elsewhere a body is declared as a JSON object. Public, like health: it
//! describes the API and holds nothing of anyone's.

use axum::Json;
use serde_json::{Map, Value, json};

use crate::compute::openapi::{self as compute, Body};

/// What an image or identity operation takes as its body.
#[derive(Clone, Copy)]
enum Media {
    None,
    /// A JSON object.
    Json,
    /// Glance's JSON patch (a list of operations).
    JsonPatch,
    /// Raw image data.
    Binary,
}

impl Media {
    fn content(self) -> Option<Value> {
        let (media_type, schema) = match self {
            Self::None => return None,
            Self::Json => ("application/json", json!({"type": "object"})),
            Self::JsonPatch => (
                "application/openstack-images-v2.1-json-patch",
                json!({"type": "array", "items": {"type": "object"}}),
            ),
            Self::Binary => (
                "application/octet-stream",
                json!({"type": "string", "format": "binary"}),
            ),
        };
        Some(json!({media_type: {"schema": schema}}))
    }
}

use Media::{Binary, Json as J, JsonPatch, None as N};

/// The image (Glance v2) operations, under `/image/v2`.
const IMAGE: &[(&str, &str, Media)] = &[
    ("get", "/images", N),
    ("post", "/images", J),
    ("get", "/images/{image_id}", N),
    ("patch", "/images/{image_id}", JsonPatch),
    ("delete", "/images/{image_id}", N),
    ("get", "/images/{image_id}/file", N),
    ("put", "/images/{image_id}/file", Binary),
    ("get", "/images/{image_id}/tasks", N),
    ("put", "/images/{image_id}/tags/{tag}", N),
    ("delete", "/images/{image_id}/tags/{tag}", N),
    ("get", "/schemas/image", N),
    ("get", "/schemas/images", N),
];

/// The identity (Keystone v3) operations, under `/identity`.
const IDENTITY: &[(&str, &str, Media)] = &[
    ("get", "/", N),
    ("get", "/v3", N),
    ("post", "/v3/auth/tokens", J),
    ("get", "/v3/auth/tokens", N),
    ("head", "/v3/auth/tokens", N),
    ("delete", "/v3/auth/tokens", N),
    ("get", "/v3/auth/catalog", N),
    ("get", "/v3/auth/projects", N),
    ("get", "/v3/domains", N),
    ("get", "/v3/domains/{domain_id}", N),
    ("get", "/v3/projects", N),
    ("post", "/v3/projects", J),
    ("get", "/v3/projects/{project_id}", N),
    ("patch", "/v3/projects/{project_id}", J),
    ("delete", "/v3/projects/{project_id}", N),
    ("get", "/v3/projects/{project_id}/users/{user_id}/roles", N),
    (
        "get",
        "/v3/projects/{project_id}/users/{user_id}/roles/{role_id}",
        N,
    ),
    (
        "put",
        "/v3/projects/{project_id}/users/{user_id}/roles/{role_id}",
        N,
    ),
    (
        "delete",
        "/v3/projects/{project_id}/users/{user_id}/roles/{role_id}",
        N,
    ),
    ("get", "/v3/users", N),
    ("post", "/v3/users", J),
    ("get", "/v3/users/{user_id}", N),
    ("patch", "/v3/users/{user_id}", J),
    ("delete", "/v3/users/{user_id}", N),
    ("get", "/v3/users/{user_id}/projects", N),
    ("get", "/v3/roles", N),
    ("post", "/v3/roles", J),
    ("get", "/v3/roles/{role_id}", N),
    ("delete", "/v3/roles/{role_id}", N),
    ("get", "/v3/role_assignments", N),
];

/// The network (Neutron v2.0) operations, under `/network`.
const NETWORK: &[(&str, &str, Media)] = &[
    ("get", "/", N),
    ("get", "/v2.0/", N),
    ("get", "/v2.0/extensions", N),
    ("get", "/v2.0/extensions/{alias}", N),
    ("get", "/v2.0/networks", N),
    ("post", "/v2.0/networks", J),
    ("get", "/v2.0/networks/{network_id}", N),
    ("put", "/v2.0/networks/{network_id}", J),
    ("delete", "/v2.0/networks/{network_id}", N),
    ("get", "/v2.0/subnets", N),
    ("post", "/v2.0/subnets", J),
    ("get", "/v2.0/subnets/{subnet_id}", N),
    ("put", "/v2.0/subnets/{subnet_id}", J),
    ("delete", "/v2.0/subnets/{subnet_id}", N),
    ("get", "/v2.0/ports", N),
    ("post", "/v2.0/ports", J),
    ("get", "/v2.0/ports/{port_id}", N),
    ("put", "/v2.0/ports/{port_id}", J),
    ("delete", "/v2.0/ports/{port_id}", N),
    ("get", "/v2.0/routers", N),
    ("post", "/v2.0/routers", J),
    ("get", "/v2.0/routers/{router_id}", N),
    ("put", "/v2.0/routers/{router_id}", J),
    ("delete", "/v2.0/routers/{router_id}", N),
    ("put", "/v2.0/routers/{router_id}/add_router_interface", J),
    (
        "put",
        "/v2.0/routers/{router_id}/remove_router_interface",
        J,
    ),
    ("get", "/v2.0/floatingips", N),
    ("post", "/v2.0/floatingips", J),
    ("get", "/v2.0/floatingips/{floatingip_id}", N),
    ("put", "/v2.0/floatingips/{floatingip_id}", J),
    ("delete", "/v2.0/floatingips/{floatingip_id}", N),
    ("get", "/v2.0/security-groups", N),
    ("post", "/v2.0/security-groups", J),
    ("get", "/v2.0/security-groups/{security_group_id}", N),
    ("put", "/v2.0/security-groups/{security_group_id}", J),
    ("delete", "/v2.0/security-groups/{security_group_id}", N),
    ("get", "/v2.0/security-group-rules", N),
    ("post", "/v2.0/security-group-rules", J),
    (
        "get",
        "/v2.0/security-group-rules/{security_group_rule_id}",
        N,
    ),
    (
        "delete",
        "/v2.0/security-group-rules/{security_group_rule_id}",
        N,
    ),
    ("get", "/v2.0/{collection}/{resource_id}/tags", N),
    ("put", "/v2.0/{collection}/{resource_id}/tags", J),
    ("delete", "/v2.0/{collection}/{resource_id}/tags", N),
    ("get", "/v2.0/{collection}/{resource_id}/tags/{tag}", N),
    ("put", "/v2.0/{collection}/{resource_id}/tags/{tag}", N),
    ("delete", "/v2.0/{collection}/{resource_id}/tags/{tag}", N),
    ("get", "/v2.0/quotas", N),
    ("get", "/v2.0/quotas/{project_id}", N),
    ("put", "/v2.0/quotas/{project_id}", J),
    ("delete", "/v2.0/quotas/{project_id}", N),
    ("get", "/v2.0/quotas/{project_id}/default", N),
    ("get", "/v2.0/quotas/{project_id}/details", N),
];

pub async fn get_openapi() -> Json<Value> {
    Json(document())
}

/// The whole document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for (method, path, body) in compute::operations() {
        let schema = match body {
            Body::None => None,
            Body::Object => Some(json!({"type": "object"})),
            Body::Schema(schema) => Some(schema()),
        };
        let content = schema.map(|schema| json!({"application/json": {"schema": schema}}));
        let path = format!("/compute/v2.1{path}");
        add(&mut paths, "compute", method, &path, content);
    }
    for (prefix, service, operations) in [
        ("/image/v2", "image", IMAGE),
        ("/identity", "identity", IDENTITY),
        ("/network", "network", NETWORK),
    ] {
        for (method, path, media) in operations {
            let path = format!("{prefix}{path}");
            add(&mut paths, service, method, &path, media.content());
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "oxstack",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The OpenStack APIs this cloud serves: compute (Nova v2.1), image (Glance v2), network (Neutron v2.0) and identity (Keystone v3).",
        },
        "servers": [{"url": "/"}],
        "components": {"securitySchemes": {"token": {"type": "apiKey", "in": "header", "name": "X-Auth-Token"}}},
        "security": [{"token": []}],
        "paths": paths,
    })
}

/// Adds one operation: its path parameters (strings), its body, and the
/// answers every operation may give.
fn add(
    paths: &mut Map<String, Value>,
    service: &str,
    method: &str,
    path: &str,
    content: Option<Value>,
) {
    let parameters: Vec<Value> = path
        .split('/')
        .filter_map(|part| part.strip_prefix('{')?.strip_suffix('}'))
        .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
        .collect();
    let mut operation = json!({
        "operationId": format!("{service}:{method}:{path}"),
        "tags": [service],
        "parameters": parameters,
        "responses": {"default": {"description": "The service's answer (Nova, Glance, Neutron or Keystone style)."}},
    });
    if let Some(content) = content {
        operation["requestBody"] = json!({"required": true, "content": content});
    }
    let item = paths.entry(path.to_owned()).or_insert_with(|| json!({}));
    item[method] = operation;
}
