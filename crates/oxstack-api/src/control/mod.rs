//! The test cloud's control plane under `/_oxstack/` (never on OpenStack
//! paths): health and what this cloud is, the request trace, fault
//! injection, forcing a server's state, tuning the simulated hypervisors. Everything but health needs the admin role; the whole plane
//! can be switched off (`[control] enabled = false`), and fault injection
//! is off unless `[control] faults = true`.

pub mod faults;
pub mod health;
pub mod operation;
pub mod trace;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use http::{HeaderMap, StatusCode};
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
fn error(status: StatusCode, message: impl Into<String>) -> Response {
    let body = json!({"error": {"code": status.as_u16(), "message": message.into()}});
    (status, Json(body)).into_response()
}

/// The answer for a caller who may not use the control plane (not an
/// admin, or the plane is off); `None` for an admin.
fn refusal(state: &AppState, headers: &HeaderMap) -> Option<Response> {
    if !state.control().config.enabled {
        return Some(error(
            StatusCode::NOT_FOUND,
            "The control plane is switched off ([control] enabled = false).",
        ));
    }
    match crate::auth::resolve(state, headers) {
        Err(()) => Some(crate::auth::unauthorized(state, headers)),
        Ok(context) if context.is_admin() => None,
        Ok(_) => Some(error(
            StatusCode::FORBIDDEN,
            "The control plane is for admins only.",
        )),
    }
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/health", get(health::get_health))
        .route("/trace", get(get_trace))
        .route(
            "/faults",
            get(list_faults).put(replace_faults).delete(clear_faults),
        )
        .route(
            "/servers/{server_id}/state",
            axum::routing::post(force_state),
        )
        .route("/driver", get(show_driver).put(tune_driver))
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
    headers: HeaderMap,
    Query(query): Query<TraceQuery>,
) -> Response {
    if let Some(refused) = refusal(&state, &headers) {
        return refused;
    }
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

async fn list_faults(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(refused) = refusal(&state, &headers) {
        return refused;
    }
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
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Some(refused) = refusal(&state, &headers) {
        return refused;
    }
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
    state.control().faults.replace(rules.rules);
    Json(faults_view(&state)).into_response()
}

async fn clear_faults(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(refused) = refusal(&state, &headers) {
        return refused;
    }
    state.control().faults.replace(Vec::new());
    StatusCode::NO_CONTENT.into_response()
}

/// `POST /_oxstack/servers/{id}/state`: any of `vm_state` (Nova's name),
/// `task_state` (a name, or `null` for none) and `power_state` (Nova's
/// number), forced as given.
async fn force_state(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::extract::Path(id): axum::extract::Path<String>,
    body: axum::body::Bytes,
) -> Response {
    if let Some(refused) = refusal(&state, &headers) {
        return refused;
    }
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
fn forced_state(body: &[u8]) -> Result<oxstack_compute::servers::ForcedState, String> {
    use oxstack_compute::model::states::{PowerState, TaskState, VmState};
    let value: Value = serde_json::from_slice(body).map_err(|e| format!("Invalid body: {e}"))?;
    let fields = value
        .as_object()
        .filter(|o| !o.is_empty())
        .ok_or("Give vm_state, task_state and/or power_state.")?;
    let mut forced = oxstack_compute::servers::ForcedState::default();
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

fn simulation_view(s: &oxstack_compute::simulation::Simulation) -> Value {
    json!({"delay_ms": s.delay_ms, "fail": s.fail})
}

/// A domain refusal in the plane's own error form.
fn refused(e: &oxstack_compute::ComputeError) -> Response {
    use oxstack_compute::ComputeError as E;
    let status = match e {
        E::Invalid(_) => StatusCode::BAD_REQUEST,
        E::NotFound(_) => StatusCode::NOT_FOUND,
        E::Conflict(_) => StatusCode::CONFLICT,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    error(status, e.to_string())
}

/// `GET /_oxstack/driver`: how the simulated hypervisors behave.
async fn show_driver(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(refusal) = refusal(&state, &headers) {
        return refusal;
    }
    match state.compute().simulation() {
        Ok(s) => Json(simulation_view(&s)).into_response(),
        Err(e) => refused(&e),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DriverTuning {
    #[serde(default)]
    delay_ms: u64,
    #[serde(default)]
    fail: Vec<String>,
}

/// `PUT /_oxstack/driver` `{"delay_ms": N, "fail": [operations]}`: how
/// every simulated hypervisor of this process behaves from now on.
async fn tune_driver(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Some(refusal) = refusal(&state, &headers) {
        return refusal;
    }
    let tuning: DriverTuning = match serde_json::from_slice(&body) {
        Ok(tuning) => tuning,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("Invalid tuning: {e}")),
    };
    let wanted = oxstack_compute::simulation::Simulation {
        delay_ms: tuning.delay_ms,
        fail: tuning.fail,
    };
    match state.compute().set_simulation(&wanted) {
        Ok(s) => Json(simulation_view(&s)).into_response(),
        Err(e) => refused(&e),
    }
}
