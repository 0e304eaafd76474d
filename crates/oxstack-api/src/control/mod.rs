//! The test cloud's control plane under `/_oxstack/` (never on OpenStack
//! paths): health and what this cloud is, the request trace, fault
//! injection, forcing a server's state, tuning the simulated hypervisors.
//! Everything but health and the OpenAPI document needs the admin role;
//! the whole plane can be switched off (`[control] enabled = false`), and
//! fault injection is off unless `[control] faults = true`.

mod driver;
pub mod faults;
pub mod health;
pub mod internal;
mod openapi;
pub mod operation;
mod reset;
pub mod seed;
mod seed_networks;
mod servers;
mod snapshot;
pub mod trace;

use axum::extract::FromRequestParts;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use http::StatusCode;
use http::request::Parts;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use faults::{FaultRule, Faults};
use trace::Trace;

/// Settings of the control plane.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ControlConfig {
    /// Serve `/_oxstack/` beyond health.
    pub enabled: bool,
    /// Accept fault rules.
    pub faults: bool,
    /// Requests the trace keeps (0: none).
    pub trace_size: usize,
}

impl Default for ControlConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            faults: false,
            trace_size: 1000,
        }
    }
}

/// The control plane's state.
#[derive(Debug)]
pub struct ControlPlane {
    pub config: ControlConfig,
    pub trace: Trace,
    pub faults: Faults,
}

impl ControlPlane {
    pub fn new(config: ControlConfig) -> Self {
        let size = if config.enabled { config.trace_size } else { 0 };
        Self {
            trace: Trace::new(size),
            faults: Faults::default(),
            config,
        }
    }
}

/// The control plane's own errors: `{"error": {"code", "message"}}`.
pub(super) fn error(status: StatusCode, message: impl Into<String>) -> Response {
    let body = json!({"error": {"code": status.as_u16(), "message": message.into()}});
    (status, Json(body)).into_response()
}

/// An admin allowed to use the control plane. As an extractor (before
/// any other that reads the request), it answers everyone else: 404 while
/// the plane is off, 401 without a valid token, 403 for a non-admin.
pub(super) struct ControlAdmin;

impl FromRequestParts<AppState> for ControlAdmin {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        if !state.control().config.enabled {
            return Err(error(
                StatusCode::NOT_FOUND,
                "The control plane is switched off ([control] enabled = false).",
            ));
        }
        match crate::auth::resolve(state, &parts.headers) {
            Err(()) => Err(crate::auth::unauthorized(state, &parts.headers)),
            Ok(context) if context.is_admin() => Ok(Self),
            Ok(_) => Err(error(
                StatusCode::FORBIDDEN,
                "The control plane is for admins only.",
            )),
        }
    }
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/health", get(health::get_health))
        .route("/openapi.json", get(openapi::get_openapi))
        .route("/trace", get(get_trace))
        .route(
            "/faults",
            get(list_faults).put(replace_faults).delete(clear_faults),
        )
        .route(
            "/servers/{server_id}/state",
            axum::routing::post(servers::force_state),
        )
        .route(
            "/servers/{server_id}/advance",
            axum::routing::post(servers::advance),
        )
        .route("/driver", get(driver::show_driver).put(driver::tune_driver))
        .route("/reset", axum::routing::post(reset::reset))
        .route("/seed", axum::routing::post(seed::post_seed))
        .route("/snapshot", get(snapshot::get_snapshot))
}

#[derive(Debug, Deserialize)]
pub struct TraceQuery {
    limit: Option<usize>,
    project: Option<String>,
}

/// `GET /_oxstack/trace?limit=&project=`: the newest requests, oldest
/// first (100 unless `limit` says).
async fn get_trace(
    State(state): State<AppState>,
    _admin: ControlAdmin,
    Query(query): Query<TraceQuery>,
) -> Response {
    let entries = state
        .control()
        .trace
        .newest(query.limit.unwrap_or(100), query.project.as_deref());
    let views: Vec<trace::TraceView<'_>> = entries.iter().map(trace::TraceEntry::view).collect();
    Json(json!({"requests": views})).into_response()
}

fn faults_view(state: &AppState) -> Value {
    json!({
        "enabled": state.control().config.faults,
        "rules": state.control().faults.list(),
    })
}

async fn list_faults(State(state): State<AppState>, _admin: ControlAdmin) -> Response {
    Json(faults_view(&state)).into_response()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRules {
    rules: Vec<FaultRule>,
}

/// `PUT /_oxstack/faults` `{"rules": [...]}`: the rules in force from now
/// (their counts start again).
async fn replace_faults(
    State(state): State<AppState>,
    _admin: ControlAdmin,
    body: axum::body::Bytes,
) -> Response {
    if !state.control().config.faults {
        return error(
            StatusCode::FORBIDDEN,
            "Fault injection is off; [control] faults = true turns it on.",
        );
    }
    let rules: FaultRules = match serde_json::from_slice(&body) {
        Ok(rules) => rules,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("Invalid fault rules: {e}")),
    };
    if let Some(why) = rules.rules.iter().find_map(FaultRule::invalid) {
        return error(StatusCode::BAD_REQUEST, why);
    }
    if rules.rules.iter().any(|r| r.server_error.is_some())
        && let Err(e) = state.compute().simulation()
    {
        // Only a simulated hypervisor can be told to fail a server.
        return refused(&e);
    }
    state.control().faults.replace(rules.rules);
    Json(faults_view(&state)).into_response()
}

async fn clear_faults(State(state): State<AppState>, _admin: ControlAdmin) -> Response {
    state.control().faults.replace(Vec::new());
    StatusCode::NO_CONTENT.into_response()
}

/// A domain refusal in the plane's own error form.
pub(super) fn refused(e: &oxstack_compute::ComputeError) -> Response {
    use oxstack_compute::ComputeError as E;
    let status = match e {
        E::Invalid(_) => StatusCode::BAD_REQUEST,
        E::NotFound(_) => StatusCode::NOT_FOUND,
        E::Conflict(_) => StatusCode::CONFLICT,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    error(status, e.to_string())
}
