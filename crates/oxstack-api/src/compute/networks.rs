//! `/os-networks` (deprecated, 2.1–2.35): Nova's read-only proxy view of
//! the networks a project sees in networking.

use axum::Json;
use axum::extract::{Path, State};
use oxstack_identity::Rule;
use serde_json::{Map, Value, json};

use super::error::NovaError;
use super::request::Req;
use crate::AppState;
use crate::envelope::envelope;

const FIELDS: [&str; 11] = [
    "id",
    "cidr",
    "netmask",
    "gateway",
    "broadcast",
    "dns1",
    "dns2",
    "cidr_v6",
    "gateway_v6",
    "label",
    "netmask_v6",
];

const ADMIN_FIELDS: [&str; 21] = [
    "created_at",
    "updated_at",
    "deleted_at",
    "deleted",
    "injected",
    "bridge",
    "vlan",
    "vpn_public_address",
    "vpn_public_port",
    "vpn_private_address",
    "dhcp_start",
    "project_id",
    "host",
    "bridge_interface",
    "multi_host",
    "priority",
    "rxtx_base",
    "mtu",
    "dhcp_server",
    "enable_dhcp",
    "share_address",
];

/// Nova's `network_dict`: the id and label, every other field null (Nova
/// fills nothing else since nova-network is gone).
fn network(req: &Req, net: &oxstack_network::Network) -> Value {
    let mut out = Map::new();
    let admin = req.ctx.is_admin();
    for field in FIELDS.iter().chain(ADMIN_FIELDS.iter().filter(|_| admin)) {
        let value = match *field {
            "id" => json!(net.row.id),
            "label" => json!(net.row.name),
            _ => Value::Null,
        };
        out.insert((*field).to_owned(), value);
    }
    Value::Object(out)
}

pub async fn list_networks(
    State(state): State<AppState>,
    req: Req,
) -> Result<Json<Value>, NovaError> {
    req.authorize("os_compute_api:os-networks:list", Rule::ProjectReader)?;
    let networks = state
        .networking()
        .networks(&network_caller(&req))
        .await
        .map_err(oxstack_compute::ComputeError::from)?;
    let views: Vec<Value> = networks.iter().map(|n| network(&req, n)).collect();
    Ok(Json(json!({ "networks": views })))
}

pub async fn show_network(
    State(state): State<AppState>,
    req: Req,
    Path(id): Path<String>,
) -> Result<Json<Value>, NovaError> {
    req.authorize("os_compute_api:os-networks:view", Rule::ProjectReader)?;
    let net = state
        .networking()
        .network(&network_caller(&req), &id)
        .await
        .map_err(|_| NovaError::not_found("Network not found"))?;
    Ok(Json(envelope("network", network(&req, &net))))
}

/// `/os-tenant-networks` (2.1–2.35): the same networks, as Nova's
/// `network_dict` for Neutron gives them (`cidr` the string "None").
fn tenant_network(net: &oxstack_network::Network) -> Value {
    json!({"id": net.row.id, "cidr": "None", "label": net.row.name})
}

pub async fn list_tenant_networks(
    State(state): State<AppState>,
    req: Req,
) -> Result<Json<Value>, NovaError> {
    req.authorize(
        "os_compute_api:os-tenant-networks:list",
        Rule::ProjectReader,
    )?;
    let networks = state
        .networking()
        .networks(&network_caller(&req))
        .await
        .map_err(oxstack_compute::ComputeError::from)?;
    let views: Vec<Value> = networks.iter().map(tenant_network).collect();
    Ok(Json(json!({ "networks": views })))
}

pub async fn show_tenant_network(
    State(state): State<AppState>,
    req: Req,
    Path(id): Path<String>,
) -> Result<Json<Value>, NovaError> {
    req.authorize(
        "os_compute_api:os-tenant-networks:show",
        Rule::ProjectReader,
    )?;
    let net = state
        .networking()
        .network(&network_caller(&req), &id)
        .await
        .map_err(|_| NovaError::not_found("Network not found"))?;
    Ok(Json(envelope("network", tenant_network(&net))))
}

/// Creating and deleting networks through Nova went with nova-network.
pub async fn removed_tenant_network() -> NovaError {
    NovaError::new(
        http::StatusCode::GONE,
        "This resource is no longer available.  No forwarding address is given.",
    )
}

/// The caller, as networking sees it.
fn network_caller(req: &Req) -> oxstack_network::Caller {
    oxstack_network::Caller {
        project_id: req.ctx.project_id.clone(),
        is_admin: req.ctx.is_admin(),
        can_write: false,
    }
}
