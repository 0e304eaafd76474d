//! Remote consoles: `POST /servers/{id}/remote-consoles` (2.6; `mks` 2.8,
//! `spice-direct` 2.99), the older `os-get*Console` actions (up to 2.5),
//! and `GET /os-console-auth-tokens/{token}` (admin).

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use oxstack_identity::Rule;
use serde_json::{Value, json};

use super::error::NovaError;
use super::request::{NovaBody, Req};
use super::servers::views::caller;
use crate::AppState;
use crate::compute::microversion::mv;
use crate::envelope::envelope;

fn remote_console_schema(req: &Req) -> Value {
    let mut protocols = vec!["vnc", "spice", "rdp", "serial"];
    let mut types = vec!["novnc", "xvpvnc", "rdp-html5", "spice-html5", "serial"];
    if req.at_least(mv::MKS_CONSOLE) {
        protocols.push("mks");
        types.push("webmks");
    }
    if req.at_least(mv::SPICE_DIRECT) {
        types.push("spice-direct");
    }
    json!({
        "type": "object",
        "properties": {"remote_console": {
            "type": "object",
            "properties": {
                "protocol": {"type": "string", "enum": protocols},
                "type": {"type": "string", "enum": types},
            },
            "required": ["protocol", "type"],
            "additionalProperties": false,
        }},
        "required": ["remote_console"],
        "additionalProperties": false,
    })
}

pub async fn create_remote_console(
    State(state): State<AppState>,
    req: Req,
    Path(id): Path<String>,
    body: NovaBody,
) -> Result<Json<Value>, NovaError> {
    let body = body.validate(&remote_console_schema(&req))?;
    req.authorize("os_compute_api:os-remote-consoles", Rule::ProjectMember)?;
    let protocol = body["remote_console"]["protocol"]
        .as_str()
        .unwrap_or_default();
    let console_type = body["remote_console"]["type"].as_str().unwrap_or_default();
    let url = state
        .compute()
        .create_console(&caller(&req), &id, protocol, console_type)
        .await?;
    Ok(Json(json!({"remote_console": {
        "protocol": protocol, "type": console_type, "url": url,
    }})))
}

/// `os-getVNCConsole`, `os-getSPICEConsole`, `os-getSerialConsole` (up to
/// 2.5): `{"console": {"type", "url"}}`; `os-getRDPConsole` is gone (410).
pub(super) async fn legacy_console_action(
    state: &AppState,
    req: &Req,
    id: &str,
    action: &str,
    body: &NovaBody,
) -> Result<Response, NovaError> {
    let (protocol, types): (&str, &[&str]) = match action {
        "os-getVNCConsole" => ("vnc", &["novnc", "xvpvnc"]),
        "os-getSPICEConsole" => ("spice", &["spice-html5"]),
        "os-getSerialConsole" => ("serial", &["serial"]),
        _ => {
            return Err(NovaError::new(
                StatusCode::GONE,
                "This resource is no longer available.  No forwarding address is given.",
            ));
        }
    };
    body.validate(&json!({
        "type": "object",
        "properties": {action: {"type": "object",
            "properties": {"type": {"type": "string", "enum": types}},
            "required": ["type"], "additionalProperties": false}},
        "required": [action],
        "additionalProperties": false,
    }))?;
    req.authorize("os_compute_api:os-remote-consoles", Rule::ProjectMember)?;
    let console_type = body.0[action]["type"].as_str().unwrap_or_default();
    let url = state
        .compute()
        .create_console(&caller(req), id, protocol, console_type)
        .await?;
    Ok(Json(json!({"console": {"type": console_type, "url": url}})).into_response())
}

pub async fn show_console_token(
    State(state): State<AppState>,
    req: Req,
    Path(token): Path<String>,
) -> Result<Json<Value>, NovaError> {
    req.authorize("os_compute_api:os-console-auth-tokens", Rule::Admin)?;
    let found = state.compute().check_console_token(&token).await?;
    // Before 2.31 only RDP consoles' details were given out.
    if !req.at_least(mv::ANY_CONSOLE_TOKEN) && found.console_type != "rdp-html5" {
        return Err(NovaError::new(
            StatusCode::UNAUTHORIZED,
            "The requested console type details are not accessible",
        ));
    }
    let mut console = json!({
        "instance_uuid": found.instance_uuid,
        "host": found.host,
        "port": found.port,
        "internal_access_path": found.internal_access_path,
    });
    if req.at_least(mv::SPICE_DIRECT) {
        console["tls_port"] = Value::Null;
    }
    Ok(Json(envelope("console", console)))
}
