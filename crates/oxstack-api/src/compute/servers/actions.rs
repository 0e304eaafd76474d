//! `POST /servers/{id}/action`: the body's one key names the action.
//! This build runs `lock`/`unlock` and the deferred-delete pair
//! `restore`/`forceDelete`; every other action of Nova is refused as
//! unknown until the state machine lands.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use oxstack_identity::Rule;
use serde_json::{Value, json};

use super::super::error::NovaError;
use super::super::request::{NovaBody, Req};
use super::views;
use crate::AppState;

pub async fn server_action(
    State(state): State<AppState>,
    req: Req,
    Path(id): Path<String>,
    body: NovaBody,
) -> Result<Response, NovaError> {
    let Some((action, _)) = body.0.as_object().and_then(|o| o.iter().next()) else {
        return Err(NovaError::bad_request("Malformed request body"));
    };
    let caller = views::caller(&req);
    match action.as_str() {
        "lock" => {
            if req.at_least(73) {
                body.validate(&json!({"type": "object", "properties": {"lock": {
                    "type": ["object", "null"],
                    "properties": {"locked_reason": {"type": "string", "minLength": 1, "maxLength": 255}},
                    "additionalProperties": false}},
                    "required": ["lock"], "additionalProperties": false}))?;
            }
            req.authorize("os_compute_api:os-lock-server:lock", Rule::ProjectMember)?;
            let reason = req
                .at_least(73)
                .then(|| {
                    body.0["lock"]
                        .get("locked_reason")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                })
                .flatten();
            state.compute().lock_server(&caller, &id, reason).await?;
        }
        "unlock" => {
            req.authorize("os_compute_api:os-lock-server:unlock", Rule::ProjectMember)?;
            state.compute().unlock_server(&caller, &id).await?;
        }
        "restore" => {
            req.authorize(
                "os_compute_api:os-deferred-delete:restore",
                Rule::ProjectMember,
            )?;
            state.compute().restore_server(&caller, &id).await?;
        }
        "forceDelete" => {
            req.authorize(
                "os_compute_api:os-deferred-delete:force",
                Rule::ProjectMember,
            )?;
            state.compute().force_delete_server(&caller, &id).await?;
        }
        other => {
            return Err(NovaError::bad_request(format!(
                "There is no such action: {other}"
            )));
        }
    }
    Ok(StatusCode::ACCEPTED.into_response())
}
