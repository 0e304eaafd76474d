//! `/_oxstack/driver`: how the simulated hypervisors of this process
//! behave (delay, failing operations), shown and changed while they run.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use oxstack_compute::simulation::Simulation;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{error, refusal, refused};
use crate::AppState;

fn simulation_view(s: &Simulation) -> Value {
    json!({"delay_ms": s.delay_ms, "fail": s.fail})
}

/// `GET /_oxstack/driver`: how the simulated hypervisors behave.
pub(super) async fn show_driver(State(state): State<AppState>, headers: HeaderMap) -> Response {
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
pub(super) async fn tune_driver(
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
    let wanted = Simulation {
        delay_ms: tuning.delay_ms,
        fail: tuning.fail,
    };
    match state.compute().set_simulation(&wanted) {
        Ok(s) => Json(simulation_view(&s)).into_response(),
        Err(e) => refused(&e),
    }
}
