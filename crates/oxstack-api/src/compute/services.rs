//! `os-services`: the compute hosts, for operators. List (filters `host`
//! and `binary`; `forced_down` from 2.11; UUID ids from 2.53), enable,
//! disable and force down — by UUID from 2.53, by `host` and `binary`
//! through the named actions before — and delete.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use oxstack_compute::model::{ComputeService, ServiceUpdate};
use oxstack_identity::Rule;
use serde_json::{Map, Value, json};

use super::error::NovaError;
use super::flavors::{boolean_schema, is_true};
use super::request::{NovaBody, Req};
use super::servers::views::naive_time;
use crate::AppState;
use crate::compute::microversion::mv;

/// The only kind of service this cloud has.
const BINARY: &str = "nova-compute";

fn reason_schema() -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": 255})
}

fn view(req: &Req, s: &ComputeService) -> Value {
    let mut out = Map::new();
    out.insert("binary".into(), json!(BINARY));
    out.insert("disabled_reason".into(), json!(s.disabled_reason));
    out.insert("host".into(), json!(s.host));
    let id = if req.at_least(mv::SERVICE_UUIDS) {
        json!(s.uuid)
    } else {
        json!(s.id)
    };
    out.insert("id".into(), id);
    let state = if s.up { "up" } else { "down" };
    out.insert("state".into(), json!(state));
    let status = if s.disabled { "disabled" } else { "enabled" };
    out.insert("status".into(), json!(status));
    out.insert("updated_at".into(), naive_time(Some(s.updated_at)));
    out.insert("zone".into(), json!(s.zone));
    if req.at_least(mv::FORCED_DOWN) {
        out.insert("forced_down".into(), json!(s.forced_down));
    }
    Value::Object(out)
}

pub async fn list_services(
    State(state): State<AppState>,
    req: Req,
) -> Result<Json<Value>, NovaError> {
    req.authorize("os_compute_api:os-services:list", Rule::Admin)?;
    let compute = state.compute();
    let host = req.param("host").filter(|h| !h.is_empty());
    let binary = req.param("binary").filter(|b| !b.is_empty());
    let items: Vec<Value> = compute
        .list_services()
        .await?
        .iter()
        .filter(|s| host.is_none_or(|h| s.host == h))
        .filter(|_| binary.is_none_or(|b| b == BINARY))
        .map(|s| view(&req, s))
        .collect();
    Ok(Json(json!({ "services": items })))
}

/// `PUT /os-services/{id}`: from 2.53 a service by UUID with `status`,
/// `disabled_reason` and `forced_down`; before, the named actions
/// `enable`, `disable`, `disable-log-reason` and (2.11) `force-down`.
pub async fn update_service(
    State(state): State<AppState>,
    req: Req,
    Path(id): Path<String>,
    body: NovaBody,
) -> Result<Json<Value>, NovaError> {
    if req.at_least(mv::SERVICE_UUIDS) {
        update_by_uuid(&state, &req, &id, &body).await
    } else {
        update_by_action(&state, &req, &id, &body).await
    }
}

async fn update_by_uuid(
    state: &AppState,
    req: &Req,
    id: &str,
    body: &NovaBody,
) -> Result<Json<Value>, NovaError> {
    let body = body.validate(&json!({
        "type": "object",
        "properties": {
            "status": {"type": "string", "enum": ["enabled", "disabled"]},
            "disabled_reason": reason_schema(),
            "forced_down": boolean_schema(),
        },
        "additionalProperties": false,
    }))?;
    if uuid::Uuid::parse_str(id).is_err() {
        return Err(NovaError::bad_request(format!("Invalid uuid {id}")));
    }
    req.authorize("os_compute_api:os-services:update", Rule::Admin)?;
    let reason = body.get("disabled_reason").and_then(Value::as_str);
    let mut change = ServiceUpdate::default();
    match body.get("status").and_then(Value::as_str) {
        Some("enabled") if reason.is_some() => {
            return Err(NovaError::bad_request(
                "Specifying 'disabled_reason' with status 'enabled' is invalid.",
            ));
        }
        Some("enabled") => change.disabled = Some((false, None)),
        Some(_) => change.disabled = Some((true, reason.map(str::to_owned))),
        None => {}
    }
    change.forced_down = body.get("forced_down").map(is_true);
    if change.disabled.is_none() && change.forced_down.is_none() {
        return Err(NovaError::bad_request(
            "No updates were requested. Fields 'status' or 'forced_down' should be specified.",
        ));
    }
    let compute = state.compute();
    let service = compute.change_service(id, &change).await?;
    Ok(Json(json!({ "service": view(req, &service) })))
}

async fn update_by_action(
    state: &AppState,
    req: &Req,
    action: &str,
    body: &NovaBody,
) -> Result<Json<Value>, NovaError> {
    let mut properties = json!({
        "host": {"type": "string", "minLength": 1, "maxLength": 255,
                 "pattern": "^[a-zA-Z0-9-._]*$"},
        "binary": {"type": "string", "minLength": 1, "maxLength": 255},
        "disabled_reason": reason_schema(),
    });
    if req.at_least(mv::FORCED_DOWN) {
        properties["forced_down"] = boolean_schema();
    }
    let body = body.validate(&json!({
        "type": "object",
        "properties": properties,
        "required": ["host", "binary"],
        "additionalProperties": false,
    }))?;
    req.authorize("os_compute_api:os-services:update", Rule::Admin)?;
    let host = body["host"].as_str().unwrap_or_default();
    let binary = body["binary"].as_str().unwrap_or_default();
    let mut shown = json!({"host": host, "binary": binary});
    let change = match action {
        "enable" => {
            shown["status"] = json!("enabled");
            ServiceUpdate {
                disabled: Some((false, None)),
                ..ServiceUpdate::default()
            }
        }
        "disable" | "disable-log-reason" => {
            let reason = body.get("disabled_reason").and_then(Value::as_str);
            if action == "disable-log-reason" && reason.is_none() {
                return Err(NovaError::bad_request("Missing disabled reason field"));
            }
            let reason = reason.filter(|_| action == "disable-log-reason");
            shown["status"] = json!("disabled");
            if let Some(reason) = reason {
                shown["disabled_reason"] = json!(reason);
            }
            ServiceUpdate {
                disabled: Some((true, reason.map(str::to_owned))),
                ..ServiceUpdate::default()
            }
        }
        "force-down" if req.at_least(mv::FORCED_DOWN) => {
            let Some(forced) = body.get("forced_down") else {
                return Err(NovaError::bad_request("Missing forced_down field"));
            };
            shown["forced_down"] = forced.clone();
            ServiceUpdate {
                forced_down: Some(is_true(forced)),
                ..ServiceUpdate::default()
            }
        }
        _ => return Err(NovaError::not_found("Unknown action")),
    };
    let compute = state.compute();
    let found = compute
        .list_services()
        .await?
        .into_iter()
        .find(|s| s.host == host);
    let Some(service) = found else {
        return Err(NovaError::not_found(format!(
            "Host '{host}' is not mapped to any cell"
        )));
    };
    if binary != BINARY {
        return Err(NovaError::not_found(format!(
            "Could not find binary {binary} on host {host}."
        )));
    }
    compute.change_service(&service.uuid, &change).await?;
    Ok(Json(json!({ "service": shown })))
}

/// `DELETE /os-services/{id}`: a compute host that runs no servers (its
/// UUID from 2.53, its number before).
pub async fn delete_service(
    State(state): State<AppState>,
    req: Req,
    Path(id): Path<String>,
) -> Result<StatusCode, NovaError> {
    req.authorize("os_compute_api:os-services:delete", Rule::Admin)?;
    let compute = state.compute();
    let uuid = if req.at_least(mv::SERVICE_UUIDS) {
        if uuid::Uuid::parse_str(&id).is_err() {
            return Err(NovaError::bad_request(format!("Invalid uuid {id}")));
        }
        Some(id.clone())
    } else {
        let number = id.parse::<i64>().map_err(|_| {
            NovaError::bad_request("Invalid input received: id must be an integer.")
        })?;
        compute
            .list_services()
            .await?
            .into_iter()
            .find(|s| s.id == number)
            .map(|s| s.uuid)
    };
    let Some(uuid) = uuid else {
        return Err(NovaError::not_found(format!("Service {id} not found.")));
    };
    compute.delete_service(&uuid).await.map_err(|e| match e {
        oxstack_compute::ComputeError::NotFound(_) => {
            NovaError::not_found(format!("Service {id} not found."))
        }
        other => other.into(),
    })?;
    Ok(StatusCode::NO_CONTENT)
}
