//! `GET /v2.0/extensions`: the API extensions this subset really serves,
//! by the aliases clients check before using a feature.

use axum::Json;
use axum::extract::Path;
use serde_json::{Value, json};

use super::NetworkCaller;
use super::error::NeutronError;

/// (alias, name, description) of each served extension.
const EXTENSIONS: &[(&str, &str, &str)] = &[
    (
        "allowed-address-pairs",
        "Allowed Address Pairs",
        "Provides allowed address pairs",
    ),
    (
        "binding",
        "Port Binding",
        "Expose port bindings of a virtual port to external application",
    ),
    (
        "ext-gw-mode",
        "Neutron L3 Configurable external gateway mode",
        "Extension of the router abstraction for specifying whether SNAT should occur on the \
         external gateway",
    ),
    (
        "external-net",
        "Neutron external network",
        "Adds external network attribute to network resource.",
    ),
    (
        "filter-validation",
        "Filter parameters validation",
        "Provides validation on filter parameters.",
    ),
    (
        "net-mtu",
        "Network MTU",
        "Provides MTU attribute for a network resource.",
    ),
    (
        "net-mtu-writable",
        "Network MTU (writable)",
        "Provides a writable MTU attribute for a network resource.",
    ),
    (
        "network_availability_zone",
        "Network Availability Zone",
        "Availability zone support for network.",
    ),
    (
        "pagination",
        "Pagination support",
        "Extension that indicates that pagination is enabled.",
    ),
    ("port-security", "Port Security", "Provides port security"),
    (
        "router",
        "Neutron L3 Router",
        "Router abstraction for basic L3 forwarding between L2 Neutron networks and access to \
         external networks via a NAT gateway.",
    ),
    (
        "project-id",
        "project_id field enabled",
        "Extension that indicates that project_id field is enabled.",
    ),
    (
        "provider",
        "Provider Network",
        "Expose mapping of virtual networks to physical networks",
    ),
    (
        "quotas",
        "Quota management support",
        "Expose functions for quotas management per tenant",
    ),
    (
        "quota_details",
        "Quota details management support",
        "Expose functions for quotas usage statistics per project",
    ),
    (
        "security-group",
        "security-group",
        "The security groups extension.",
    ),
    (
        "sorting",
        "Sorting support",
        "Extension that indicates that sorting is enabled.",
    ),
    (
        "standard-attr-description",
        "standard-attr-description",
        "Extension to add descriptions to standard attributes",
    ),
    (
        "standard-attr-revisions",
        "Resource revision numbers",
        "This extension will display the revision number of neutron resources.",
    ),
    (
        "standard-attr-tag",
        "Tag support for resources with standard attribute: subnet, trunk, network_segment_range, router, network, policy, subnetpool, port, security_group, floatingip",
        "Enables to set tag on resources with standard attribute.",
    ),
    (
        "standard-attr-timestamp",
        "Resource timestamps",
        "Adds created_at and updated_at fields to all Neutron resources that have Neutron standard attributes.",
    ),
    (
        "stateful-security-group",
        "Stateful security group",
        "Indicates if the security group is stateful or not",
    ),
];

fn view(alias: &str, name: &str, description: &str) -> Value {
    json!({"alias": alias, "name": name, "description": description,
           "updated": "2013-01-01T10:00:00-00:00", "links": []})
}

pub async fn list_extensions(_caller: NetworkCaller) -> Json<Value> {
    let all: Vec<Value> = EXTENSIONS.iter().map(|(a, n, d)| view(a, n, d)).collect();
    Json(json!({"extensions": all}))
}

pub async fn show_extension(
    _caller: NetworkCaller,
    Path(alias): Path<String>,
) -> Result<Json<Value>, NeutronError> {
    EXTENSIONS
        .iter()
        .find(|(a, _, _)| *a == alias)
        .map(|(a, n, d)| Json(json!({"extension": view(a, n, d)})))
        .ok_or_else(|| {
            NeutronError::new(
                http::StatusCode::NOT_FOUND,
                "HTTPNotFound",
                format!("Extension with alias {alias} does not exist"),
            )
        })
}
