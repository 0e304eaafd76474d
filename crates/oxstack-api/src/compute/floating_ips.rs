//! The deprecated address APIs: the floating address proxies (up to 2.35:
//! `/os-floating-ip-pools`, `/os-floating-ips[/{id}]`) and the
//! `addFloatingIp` / `removeFloatingIp` / `addFixedIp` / `removeFixedIp`
//! actions (up to 2.43).

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use oxstack_compute::servers::FloatingIp;
use oxstack_identity::Rule;
use serde_json::{Value, json};

use super::error::NovaError;
use super::request::{NovaBody, Req};
use super::servers::views::caller;
use crate::AppState;
use crate::envelope::envelope;

fn view(f: &FloatingIp) -> Value {
    json!({"fixed_ip": f.fixed_address, "id": f.id, "instance_id": f.instance_uuid,
           "ip": f.address, "pool": f.pool})
}

pub async fn list_pools(State(state): State<AppState>, req: Req) -> Result<Json<Value>, NovaError> {
    req.authorize("os_compute_api:os-floating-ip-pools", Rule::Any)?;
    let pools: Vec<Value> = state
        .compute()
        .floating_ip_pools(&caller(&req))
        .await?
        .into_iter()
        .map(|name| envelope("name", name))
        .collect();
    Ok(Json(envelope("floating_ip_pools", pools)))
}

pub async fn list_floating_ips(
    State(state): State<AppState>,
    req: Req,
) -> Result<Json<Value>, NovaError> {
    req.authorize("os_compute_api:os-floating-ips:list", Rule::ProjectReader)?;
    let found = state.compute().list_floating_ips(&caller(&req)).await?;
    Ok(Json(envelope(
        "floating_ips",
        found.iter().map(view).collect::<Vec<_>>(),
    )))
}

pub async fn allocate_floating_ip(
    State(state): State<AppState>,
    req: Req,
    body: NovaBody,
) -> Result<Json<Value>, NovaError> {
    req.authorize("os_compute_api:os-floating-ips:create", Rule::ProjectMember)?;
    let pool = body.0.get("pool").and_then(Value::as_str);
    let f = state
        .compute()
        .allocate_floating_ip(&caller(&req), pool)
        .await?;
    Ok(Json(envelope("floating_ip", view(&f))))
}

pub async fn show_floating_ip(
    State(state): State<AppState>,
    req: Req,
    Path(id): Path<String>,
) -> Result<Json<Value>, NovaError> {
    req.authorize("os_compute_api:os-floating-ips:show", Rule::ProjectReader)?;
    let f = state.compute().get_floating_ip(&caller(&req), &id).await?;
    Ok(Json(envelope("floating_ip", view(&f))))
}

pub async fn release_floating_ip(
    State(state): State<AppState>,
    req: Req,
    Path(id): Path<String>,
) -> Result<StatusCode, NovaError> {
    req.authorize("os_compute_api:os-floating-ips:delete", Rule::ProjectMember)?;
    state
        .compute()
        .release_floating_ip(&caller(&req), &id)
        .await?;
    Ok(StatusCode::ACCEPTED)
}

/// `addFixedIp` / `removeFixedIp` (Nova's multinic, up to 2.43).
pub(super) async fn fixed_ip_action(
    state: &AppState,
    req: &Req,
    id: &str,
    action: &str,
    body: &NovaBody,
) -> Result<Response, NovaError> {
    let add = action == "addFixedIp";
    let (key, schema) = if add {
        (
            "networkId",
            json!({"type": ["string", "number"], "minLength": 1, "maxLength": 36,
                             "pattern": "^(?! )[a-zA-Z0-9._-]+(?<! )$"}),
        )
    } else {
        (
            "address",
            json!({"type": "string", "oneOf": [{"format": "ipv4"}, {"format": "ipv6"}]}),
        )
    };
    body.validate(&json!({
        "type": "object",
        "properties": {action: {"type": "object", "properties": {key: schema},
                                "required": [key], "additionalProperties": false}},
        "required": [action],
        "additionalProperties": false,
    }))?;
    let value = match &body.0[action][key] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let compute = state.compute();
    if add {
        req.authorize("os_compute_api:os-multinic:add", Rule::ProjectMember)?;
        compute.add_fixed_ip(&caller(req), id, &value).await?;
    } else {
        req.authorize("os_compute_api:os-multinic:remove", Rule::ProjectMember)?;
        compute.remove_fixed_ip(&caller(req), id, &value).await?;
    }
    Ok(StatusCode::ACCEPTED.into_response())
}

/// `addFloatingIp` / `removeFloatingIp`.
pub(super) async fn floating_ip_action(
    state: &AppState,
    req: &Req,
    id: &str,
    action: &str,
    body: &NovaBody,
) -> Result<Response, NovaError> {
    let add = action == "addFloatingIp";
    let ip = json!({"type": "string", "oneOf": [{"format": "ipv4"}, {"format": "ipv6"}]});
    let mut props = envelope("address", ip.clone());
    if add {
        props["fixed_address"] = ip;
    }
    body.validate(&json!({
        "type": "object",
        "properties": {action: {"type": "object", "properties": props,
                                "required": ["address"], "additionalProperties": false}},
        "required": [action],
        "additionalProperties": false,
    }))?;
    let args = &body.0[action];
    let address = args["address"].as_str().unwrap_or_default();
    let compute = state.compute();
    if add {
        req.authorize("os_compute_api:os-floating-ips:add", Rule::ProjectMember)?;
        let fixed = args.get("fixed_address").and_then(Value::as_str);
        compute
            .add_floating_ip(&caller(req), id, address, fixed)
            .await?;
    } else {
        req.authorize("os_compute_api:os-floating-ips:remove", Rule::ProjectMember)?;
        compute
            .remove_floating_ip(&caller(req), id, address)
            .await?;
    }
    Ok(StatusCode::ACCEPTED.into_response())
}
