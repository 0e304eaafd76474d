//! `/servers/{id}/os-interface[/{port_id}]`: a server's ports, attached
//! and detached as Nova's `os-attach-interfaces` does.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use oxstack_compute::servers::interfaces::{AttachRequest, Interface};
use oxstack_identity::Rule;
use serde_json::{Value, json};

use super::error::NovaError;
use super::microversion::mv;
use super::request::{NovaBody, Req};
use super::servers::views::caller;
use crate::AppState;
use crate::envelope::envelope;

fn view(req: &Req, i: &Interface) -> Value {
    let fixed: Vec<Value> = i
        .fixed_ips
        .iter()
        .map(|(subnet, ip)| json!({"subnet_id": subnet, "ip_address": ip}))
        .collect();
    let mut v = json!({"fixed_ips": fixed, "mac_addr": i.mac_addr, "net_id": i.net_id,
                       "port_id": i.port_id, "port_state": i.port_state});
    if req.at_least(mv::INTERFACE_TAGS) {
        v["tag"] = json!(i.tag);
    }
    v
}

pub async fn list_interfaces(
    State(state): State<AppState>,
    req: Req,
    Path(id): Path<String>,
) -> Result<Json<Value>, NovaError> {
    req.authorize(
        "os_compute_api:os-attach-interfaces:list",
        Rule::ProjectReader,
    )?;
    let found = state.compute().interfaces(&caller(&req), &id).await?;
    let items: Vec<Value> = found.iter().map(|i| view(&req, i)).collect();
    Ok(Json(envelope("interfaceAttachments", items)))
}

pub async fn show_interface(
    State(state): State<AppState>,
    req: Req,
    Path((id, port_id)): Path<(String, String)>,
) -> Result<Json<Value>, NovaError> {
    req.authorize(
        "os_compute_api:os-attach-interfaces:show",
        Rule::ProjectReader,
    )?;
    let found = state
        .compute()
        .interface(&caller(&req), &id, &port_id)
        .await?;
    Ok(Json(envelope("interfaceAttachment", view(&req, &found))))
}

pub async fn attach_interface(
    State(state): State<AppState>,
    req: Req,
    Path(id): Path<String>,
    body: NovaBody,
) -> Result<Json<Value>, NovaError> {
    req.authorize(
        "os_compute_api:os-attach-interfaces:create",
        Rule::ProjectMember,
    )?;
    let mut attachment = json!({
        "net_id": {"type": "string", "format": "uuid"},
        "port_id": {"type": "string", "format": "uuid"},
        "fixed_ips": {"type": "array", "minItems": 1, "maxItems": 1, "items": {
            "type": "object",
            "properties": {"ip_address": {"type": "string", "anyOf": [
                {"format": "ipv4"}, {"format": "ipv6"}]}},
            "required": ["ip_address"], "additionalProperties": false}},
    });
    if req.at_least(mv::ATTACH_TAGS) {
        attachment["tag"] = json!({"type": "string", "maxLength": 60, "pattern": "^[^,/]*$"});
    }
    body.validate(&json!({
        "type": "object",
        "properties": {"interfaceAttachment": {"type": "object", "properties": attachment,
                                               "additionalProperties": false}},
        "additionalProperties": false,
    }))?;
    let a = &body.0["interfaceAttachment"];
    let text = |k: &str| a.get(k).and_then(Value::as_str).map(str::to_owned);
    let request = AttachRequest {
        port_id: text("port_id"),
        net_id: text("net_id"),
        fixed_ip: a["fixed_ips"][0]["ip_address"].as_str().map(str::to_owned),
        tag: text("tag"),
    };
    if request.port_id.is_some() && request.net_id.is_some() {
        return Err(NovaError::bad_request(
            "Must not input both network_id and port_id",
        ));
    }
    if request.fixed_ip.is_some() && request.net_id.is_none() {
        return Err(NovaError::bad_request(
            "Must input network_id when request IP address",
        ));
    }
    let attached = state
        .compute()
        .attach_interface(&caller(&req), &id, request)
        .await?;
    Ok(Json(envelope("interfaceAttachment", view(&req, &attached))))
}

pub async fn detach_interface(
    State(state): State<AppState>,
    req: Req,
    Path((id, port_id)): Path<(String, String)>,
) -> Result<Response, NovaError> {
    req.authorize(
        "os_compute_api:os-attach-interfaces:delete",
        Rule::ProjectMember,
    )?;
    state
        .compute()
        .detach_interface(&caller(&req), &id, &port_id)
        .await?;
    Ok(StatusCode::ACCEPTED.into_response())
}
