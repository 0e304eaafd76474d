//! Lock, deferred delete and the admin actions: `lock` (2.73 reason),
//! `unlock`, `restore`, `forceDelete`, `os-resetState`, `injectNetworkInfo`.

use axum::response::{IntoResponse, Response};
use http::StatusCode;
use oxstack_compute::model::states::VmState;
use oxstack_identity::Rule;
use serde_json::{Value, json};

use super::super::error::NovaError;
use super::super::request::{NovaBody, Req};
use super::super::servers::views;
use super::validate;
use crate::AppState;
use crate::compute::microversion::mv;

pub(super) async fn perform(
    state: &AppState,
    req: &Req,
    id: &str,
    action: &str,
    body: &NovaBody,
) -> Result<Response, NovaError> {
    let caller = views::caller(req);
    let compute = state.compute();
    match action {
        "lock" => {
            if req.at_least(mv::LOCKED_REASON) {
                validate(
                    body,
                    action,
                    json!({"type": ["object", "null"],
                           "properties": {"locked_reason": {"type": "string", "minLength": 1, "maxLength": 255}},
                           "additionalProperties": false}),
                )?;
            }
            req.authorize("os_compute_api:os-lock-server:lock", Rule::ProjectMember)?;
            let reason = req
                .at_least(mv::LOCKED_REASON)
                .then(|| {
                    body.0["lock"]
                        .get("locked_reason")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                })
                .flatten();
            compute.lock_server(&caller, id, reason).await?;
        }
        "unlock" => {
            req.authorize("os_compute_api:os-lock-server:unlock", Rule::ProjectMember)?;
            compute.unlock_server(&caller, id).await?;
        }
        "restore" => {
            req.authorize(
                "os_compute_api:os-deferred-delete:restore",
                Rule::ProjectMember,
            )?;
            compute.restore_server(&caller, id).await?;
        }
        "forceDelete" => {
            req.authorize(
                "os_compute_api:os-deferred-delete:force",
                Rule::ProjectMember,
            )?;
            compute.force_delete_server(&caller, id).await?;
        }
        "os-resetState" => {
            validate(
                body,
                action,
                json!({"type": "object",
                       "properties": {"state": {"type": "string", "enum": ["active", "error"]}},
                       "required": ["state"], "additionalProperties": false}),
            )?;
            req.authorize("os_compute_api:os-admin-actions:reset_state", Rule::Admin)?;
            let to = match body.0[action]["state"].as_str() {
                Some("active") => VmState::Active,
                _ => VmState::Error,
            };
            compute.reset_server_state(&caller, id, to).await?;
        }
        _ => {
            req.authorize(
                "os_compute_api:os-admin-actions:inject_network_info",
                Rule::Admin,
            )?;
            // The fake hypervisor has no guest agent to inject into; the
            // server must exist all the same.
            compute.get_server(&caller, id).await?;
        }
    }
    Ok(StatusCode::ACCEPTED.into_response())
}
