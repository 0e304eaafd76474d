//! `POST /_oxstack/servers/{id}/state`: a live server forced into any
//! state, for tests of how clients handle odd ones;
//! `POST /_oxstack/servers/{id}/advance`: its held hypervisor operation
//! let go.

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use oxstack_compute::model::states::{PowerState, TaskState, VmState};
use oxstack_compute::servers::ForcedState;
use serde_json::{Value, json};

use super::{ControlAdmin, error, refused};
use crate::AppState;

/// `POST /_oxstack/servers/{id}/state`: any of `vm_state` (Nova's name),
/// `task_state` (a name, or `null` for none) and `power_state` (Nova's
/// number), forced as given.
pub(super) async fn force_state(
    State(state): State<AppState>,
    _admin: ControlAdmin,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let forced = match forced_state(&body) {
        Ok(forced) => forced,
        Err(why) => return error(StatusCode::BAD_REQUEST, why),
    };
    match state.compute().force_server_state(&id, &forced).await {
        Ok(server) => Json(json!({"server": {
            "id": server.uuid,
            "vm_state": server.vm_state.as_str(),
            "task_state": server.task_state.map(|t| t.as_str()),
            "power_state": server.power_state.code(),
        }}))
        .into_response(),
        Err(e) => refused(&e),
    }
}

/// The states a body asks for.
fn forced_state(body: &[u8]) -> Result<ForcedState, String> {
    let value: Value = serde_json::from_slice(body).map_err(|e| format!("Invalid body: {e}"))?;
    let fields = value
        .as_object()
        .filter(|o| !o.is_empty())
        .ok_or("Give vm_state, task_state and/or power_state.")?;
    let mut forced = ForcedState::default();
    for (key, v) in fields {
        match key.as_str() {
            "vm_state" => {
                let name = v.as_str().unwrap_or_default();
                forced.vm_state =
                    Some(VmState::parse(name).ok_or(format!("Unknown vm_state {v}."))?);
            }
            "task_state" => {
                forced.task_state = Some(match v {
                    Value::Null => None,
                    _ => Some(
                        TaskState::parse(v.as_str().unwrap_or_default())
                            .ok_or(format!("Unknown task_state {v}."))?,
                    ),
                });
            }
            "power_state" => {
                let code = v.as_i64().ok_or(format!("Unknown power_state {v}."))?;
                let power = PowerState::from_code(code);
                if power.code() != code {
                    return Err(format!("Unknown power_state {v}."));
                }
                forced.power_state = Some(power);
            }
            other => return Err(format!("Unknown field {other}.")),
        }
    }
    Ok(forced)
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Advance {
    /// The operation fails with this message instead of completing.
    fail: Option<String>,
    /// How long to wait for an operation to be held (default 10 s, at
    /// most a minute).
    wait_ms: Option<u64>,
}

/// `POST /_oxstack/servers/{id}/advance` (optional body `{"fail":
/// "message", "wait_ms": N}`): the server's oldest held hypervisor
/// operation completes (or fails), so its flow goes on; waits a while for
/// one to be held.
pub(super) async fn advance(
    State(state): State<AppState>,
    _admin: ControlAdmin,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let advance: Advance = if body.iter().all(u8::is_ascii_whitespace) {
        Advance::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(advance) => advance,
            Err(e) => return error(StatusCode::BAD_REQUEST, format!("Invalid body: {e}")),
        }
    };
    let failed = advance.fail.is_some();
    let patience = Duration::from_millis(advance.wait_ms.unwrap_or(10_000).min(60_000));
    match state.compute().advance(&id, advance.fail, patience).await {
        Ok(operation) => Json(json!({"server": {
            "id": id, "operation": operation, "failed": failed,
        }}))
        .into_response(),
        Err(e) => refused(&e),
    }
}
