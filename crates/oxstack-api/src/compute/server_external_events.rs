//! `POST /os-server-external-events` (`server_external_events.py`): other
//! services tell Nova about servers (ports plugged, volumes extended,
//! power changed). For the `service` role only. Each event comes back
//! with its `code` and `status`; 207 when some were not taken, 404 when
//! none was.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use oxstack_compute::servers::external_events::{EventOutcome, ExternalEvent};
use oxstack_identity::Rule;
use serde_json::{Value, json};

use super::error::NovaError;
use super::request::{NovaBody, Req};
use crate::AppState;
use crate::compute::microversion::mv;

/// The event names a microversion knows.
fn names(req: &Req) -> Vec<&'static str> {
    let mut names = vec![
        "network-changed",
        "network-vif-plugged",
        "network-vif-unplugged",
        "network-vif-deleted",
    ];
    for (since, name) in [
        (mv::VOLUME_EXTENDED_EVENT, "volume-extended"),
        (mv::POWER_UPDATE_EVENT, "power-update"),
        (mv::ACCELERATOR_EVENT, "accelerator-request-bound"),
        (mv::VOLUME_REIMAGED_EVENT, "volume-reimaged"),
    ] {
        if req.at_least(since) {
            names.push(name);
        }
    }
    names
}

fn create_schema(req: &Req) -> Value {
    json!({
        "type": "object",
        "properties": {"events": {"type": "array", "minItems": 1, "items": {
            "type": "object",
            "properties": {
                "server_uuid": {"type": "string", "format": "uuid"},
                "name": {"type": "string", "enum": names(req)},
                "status": {"type": "string", "enum": ["failed", "completed", "in-progress"]},
                "tag": {"type": "string", "maxLength": 255},
            },
            "required": ["server_uuid", "name"],
            "additionalProperties": false,
        }}},
        "required": ["events"],
        "additionalProperties": false,
    })
}

pub async fn create_events(
    State(state): State<AppState>,
    req: Req,
    body: NovaBody,
) -> Result<Response, NovaError> {
    let events = body.validate(&create_schema(&req))?["events"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    req.authorize(
        "os_compute_api:os-server-external-events:create",
        Rule::Service,
    )?;
    let text = |e: &Value, key: &str| e.get(key).and_then(Value::as_str).map(str::to_owned);
    let asked: Vec<ExternalEvent> = events
        .iter()
        .map(|e| ExternalEvent {
            server_uuid: text(e, "server_uuid").unwrap_or_default(),
            name: text(e, "name").unwrap_or_default(),
            tag: text(e, "tag"),
        })
        .collect();
    let outcomes = state.compute().take_external_events(&asked).await?;
    if !outcomes.contains(&EventOutcome::Taken) {
        return Err(NovaError::not_found("No instances found for any event"));
    }
    let mut all_taken = true;
    let answered: Vec<Value> = events
        .into_iter()
        .zip(outcomes)
        .map(|(mut event, outcome)| {
            let code = match outcome {
                EventOutcome::Taken => 200,
                EventOutcome::UnknownServer => 404,
                EventOutcome::MissingTag => 400,
                EventOutcome::NoHost => 422,
            };
            all_taken &= code == 200;
            event["code"] = json!(code);
            event["status"] = json!(if code == 200 { "completed" } else { "failed" });
            event
        })
        .collect();
    let status = if all_taken {
        StatusCode::OK
    } else {
        StatusCode::MULTI_STATUS
    };
    Ok((status, Json(json!({"events": answered}))).into_response())
}
