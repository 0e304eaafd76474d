//! `POST /servers/{id}/action`: the body's one key names the action; each
//! action validates its body with Nova's schema for the microversion, is
//! checked against its policy, and is handed to the compute domain, whose
//! table decides whether the server's state allows it.

mod admin;
mod console;
mod lifecycle;
mod migrate;
mod rebuild;
mod resize;
mod security_groups;
mod shelve;
mod snapshot;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use oxstack_compute::servers::{PowerAction, PowerRequest};
use oxstack_identity::Rule;
use serde_json::{Value, json};

use super::error::NovaError;
use super::request::{NovaBody, Req};
use super::servers::views;
use crate::AppState;
use crate::compute::microversion::{Versions, mv};

/// Actions whose body is ignored (`{"pause": null}` and the like) and that
/// map directly onto the domain's action table.
fn table_action(name: &str) -> Option<(PowerAction, &'static str)> {
    Some(match name {
        "os-stop" => (PowerAction::Stop, "os_compute_api:servers:stop"),
        "os-start" => (PowerAction::Start, "os_compute_api:servers:start"),
        "pause" => (PowerAction::Pause, "os_compute_api:os-pause-server:pause"),
        "unpause" => (
            PowerAction::Unpause,
            "os_compute_api:os-pause-server:unpause",
        ),
        "suspend" => (
            PowerAction::Suspend,
            "os_compute_api:os-suspend-server:suspend",
        ),
        "resume" => (
            PowerAction::Resume,
            "os_compute_api:os-suspend-server:resume",
        ),
        "unrescue" => (PowerAction::Unrescue, "os_compute_api:os-rescue:unrescue"),
        _ => return None,
    })
}

/// Runs a power action for the request.
pub(super) async fn run(
    state: &AppState,
    req: &Req,
    id: &str,
    action: PowerAction,
    request: PowerRequest,
) -> Result<(), NovaError> {
    Ok(state
        .compute()
        .server_action(&views::caller(req), id, action, request)
        .await?)
}

/// Validates the action body against `{action: schema}`.
pub(super) fn validate(body: &NovaBody, action: &str, schema: Value) -> Result<(), NovaError> {
    body.validate(&json!({
        "type": "object",
        "properties": {action: schema},
        "required": [action],
        "additionalProperties": false,
    }))?;
    Ok(())
}

pub use security_groups::list_server_security_groups;

/// The microversions an action exists at, where Nova added or removed it;
/// every other action exists at all of them.
fn versions_of(action: &str) -> Versions {
    match action {
        "trigger_crash_dump" => Versions::since(mv::TRIGGER_CRASH_DUMP),
        "os-getVNCConsole" | "os-getSPICEConsole" | "os-getSerialConsole" | "os-getRDPConsole" => {
            Versions::until(mv::REMOTE_CONSOLES)
        }
        "addFixedIp" | "removeFixedIp" | "addFloatingIp" | "removeFloatingIp" => {
            Versions::until(mv::NO_NETWORK_ACTIONS)
        }
        _ => Versions::since(mv::BASE),
    }
}

pub async fn server_action(
    State(state): State<AppState>,
    req: Req,
    Path(id): Path<String>,
    body: NovaBody,
) -> Result<Response, NovaError> {
    let Some(action) = body.first_key().map(str::to_owned) else {
        return Err(NovaError::bad_request("Malformed request body"));
    };
    versions_of(&action).check(req.version)?;
    if let Some((kind, policy)) = table_action(&action) {
        req.authorize(policy, Rule::ProjectMember)?;
        run(&state, &req, &id, kind, PowerRequest::default()).await?;
        return Ok(StatusCode::ACCEPTED.into_response());
    }
    match action.as_str() {
        "reboot" | "trigger_crash_dump" | "rescue" | "changePassword" => {
            lifecycle::perform(&state, &req, &id, &action, &body).await
        }
        "lock" | "unlock" | "restore" | "forceDelete" | "os-resetState" | "injectNetworkInfo" => {
            admin::perform(&state, &req, &id, &action, &body).await
        }
        "rebuild" => rebuild::rebuild(&state, &req, &id, &body).await,
        "migrate" | "os-migrateLive" | "evacuate" => {
            migrate::perform(&state, &req, &id, &action, &body).await
        }
        "addFixedIp" | "removeFixedIp" => {
            super::floating_ips::fixed_ip_action(&state, &req, &id, &action, &body).await
        }
        "addFloatingIp" | "removeFloatingIp" => {
            super::floating_ips::floating_ip_action(&state, &req, &id, &action, &body).await
        }
        "addSecurityGroup" | "removeSecurityGroup" => {
            security_groups::perform(&state, &req, &id, &action, &body).await
        }
        "shelve" | "shelveOffload" | "unshelve" => {
            shelve::perform(&state, &req, &id, &action, &body).await
        }
        "createImage" | "createBackup" => {
            snapshot::perform(&state, &req, &id, &action, &body).await
        }
        "resize" | "confirmResize" | "revertResize" => {
            resize::perform(&state, &req, &id, &action, &body).await
        }
        "os-getVNCConsole" | "os-getSPICEConsole" | "os-getSerialConsole" | "os-getRDPConsole" => {
            super::consoles::legacy_console_action(&state, &req, &id, &action, &body).await
        }
        "os-getConsoleOutput" => console::console_output(&state, &req, &id, &body).await,
        "resetNetwork" => Err(NovaError::new(
            StatusCode::GONE,
            // webob's HTTPGone, which Nova's `@wsgi.removed` raises.
            "This resource is no longer available.  No forwarding address is given.",
        )),
        other => Err(NovaError::bad_request(format!(
            "There is no such action: {other}"
        ))),
    }
}
