//! Actions with a body: `reboot`, `rescue`, `changePassword`,
//! `trigger_crash_dump` (2.17).

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use oxstack_compute::servers::{PowerAction, PowerRequest, generate_password};
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
            let action = if hard {
                PowerAction::HardReboot
            } else {
                PowerAction::SoftReboot
            };
            run(state, req, id, action, PowerRequest::default()).await?;
        }
        "trigger_crash_dump" => {
            validate(body, action, json!({"type": "null"}))?;
            req.authorize(
                "os_compute_api:servers:trigger_crash_dump",
                Rule::ProjectMember,
            )?;
            let request = PowerRequest::default();
            run(state, req, id, PowerAction::TriggerCrashDump, request).await?;
        }
        "changePassword" => {
            validate(
                body,
                action,
                json!({"type": "object", "properties": {"adminPass": {"type": "string"}},
                       "required": ["adminPass"], "additionalProperties": false}),
            )?;
            req.authorize("os_compute_api:os-admin-password", Rule::ProjectMember)?;
            let request = PowerRequest {
                password: body.0["changePassword"]["adminPass"]
                    .as_str()
                    .map(str::to_owned),
                ..PowerRequest::default()
            };
            run(state, req, id, PowerAction::ChangePassword, request).await?;
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
    let rescue = &body.0["rescue"];
    let password = rescue
        .get("adminPass")
        .and_then(Value::as_str)
        .map_or_else(|| generate_password(12), str::to_owned);
    let request = PowerRequest {
        password: Some(password.clone()),
        rescue_image: rescue
            .get("rescue_image_ref")
            .and_then(Value::as_str)
            .map(str::to_owned),
    };
    run(state, req, id, PowerAction::Rescue, request).await?;
    if !state.compute().settings().enable_instance_password {
        return Ok(Json(json!({})).into_response());
    }
    Ok(Json(envelope("adminPass", password)).into_response())
}
