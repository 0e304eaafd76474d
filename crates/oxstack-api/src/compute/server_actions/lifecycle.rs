//! Actions with a body: `reboot`, `rescue`, `changePassword`,
//! `trigger_crash_dump` (2.17).

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use oxstack_compute::servers::actions::ActionKind;
use oxstack_compute::servers::generate_password;
use oxstack_identity::Rule;
use serde_json::{Value, json};

use super::super::error::NovaError;
use super::super::request::{NovaBody, Req};
use super::{run, validate};
use crate::AppState;
use crate::envelope::envelope;

pub(super) async fn perform(
    state: &AppState,
    req: &Req,
    id: &str,
    action: &str,
    body: &NovaBody,
) -> Result<Response, NovaError> {
    match action {
        "reboot" => {
            validate(
                body,
                action,
                json!({"type": "object",
                       "properties": {"type": {"type": "string",
                           "enum": ["HARD", "Hard", "hard", "SOFT", "Soft", "soft"]}},
                       "required": ["type"], "additionalProperties": false}),
            )?;
            req.authorize("os_compute_api:servers:reboot", Rule::ProjectMember)?;
            let hard = body.0["reboot"]["type"]
                .as_str()
                .is_some_and(|t| t.eq_ignore_ascii_case("hard"));
            let kind = if hard {
                ActionKind::HardReboot
            } else {
                ActionKind::SoftReboot
            };
            run(state, req, id, kind).await?;
        }
        "trigger_crash_dump" => {
            if !req.at_least(17) {
                return Err(NovaError::not_at_this_version());
            }
            validate(body, action, json!({"type": "null"}))?;
            req.authorize(
                "os_compute_api:servers:trigger_crash_dump",
                Rule::ProjectMember,
            )?;
            run(state, req, id, ActionKind::TriggerCrashDump).await?;
        }
        "changePassword" => {
            validate(
                body,
                action,
                json!({"type": "object", "properties": {"adminPass": {"type": "string"}},
                       "required": ["adminPass"], "additionalProperties": false}),
            )?;
            req.authorize("os_compute_api:os-admin-password", Rule::ProjectMember)?;
            run(state, req, id, ActionKind::ChangePassword).await?;
        }
        _ => return rescue(state, req, id, body).await,
    }
    Ok(StatusCode::ACCEPTED.into_response())
}

/// `rescue`: 200 with the rescue password (Nova's response code).
async fn rescue(
    state: &AppState,
    req: &Req,
    id: &str,
    body: &NovaBody,
) -> Result<Response, NovaError> {
    validate(
        body,
        "rescue",
        json!({"type": ["object", "null"],
               "properties": {"adminPass": {"type": "string"},
                              "rescue_image_ref": {"type": "string", "format": "uuid"}},
               "additionalProperties": false}),
    )?;
    req.authorize("os_compute_api:os-rescue", Rule::ProjectMember)?;
    run(state, req, id, ActionKind::Rescue).await?;
    if !state.compute().settings().enable_instance_password {
        return Ok(Json(json!({})).into_response());
    }
    let password = body.0["rescue"]
        .get("adminPass")
        .and_then(Value::as_str)
        .map_or_else(|| generate_password(12), str::to_owned);
    Ok(Json(envelope("adminPass", password)).into_response())
}
