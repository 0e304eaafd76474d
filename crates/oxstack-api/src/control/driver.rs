//! `/_oxstack/driver`: how the simulated hypervisors of this process
//! behave (delays, failing and held operations), shown and changed while
//! they run, with the operations held now.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use oxstack_compute::simulation::Simulation;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ControlAdmin, error, refused};
use crate::AppState;

fn simulation_view(state: &AppState, s: &Simulation) -> Value {
    let held: Vec<Value> = state
        .compute()
        .held_operations()
        .unwrap_or_default()
        .into_iter()
        .map(|h| {
            json!({
                "server_id": h.server,
                "host": h.host,
                "operation": h.operation,
                "since": chrono::DateTime::<chrono::Utc>::from(h.since)
                    .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            })
        })
        .collect();
    json!({
        "delay_ms": s.delay_ms,
        "delays_ms": s.delays_ms,
        "fail": s.fail,
        "hold": s.hold,
        "held": held,
    })
}

/// `GET /_oxstack/driver`: how the simulated hypervisors behave.
pub(super) async fn show_driver(State(state): State<AppState>, _admin: ControlAdmin) -> Response {
    match state.compute().simulation() {
        Ok(s) => Json(simulation_view(&state, &s)).into_response(),
        Err(e) => refused(&e),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DriverTuning {
    #[serde(default)]
    delay_ms: u64,
    #[serde(default)]
    delays_ms: std::collections::BTreeMap<String, u64>,
    #[serde(default)]
    fail: Vec<String>,
    #[serde(default)]
    hold: Vec<String>,
}

/// `PUT /_oxstack/driver` `{"delay_ms": N, "delays_ms": {operation: N},
/// "fail": [operations], "hold": [operations]}`: how every simulated
/// hypervisor of this process behaves from now on.
pub(super) async fn tune_driver(
    State(state): State<AppState>,
    _admin: ControlAdmin,
    body: axum::body::Bytes,
) -> Response {
    let tuning: DriverTuning = match serde_json::from_slice(&body) {
        Ok(tuning) => tuning,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("Invalid tuning: {e}")),
    };
    let wanted = Simulation {
        delay_ms: tuning.delay_ms,
        delays_ms: tuning.delays_ms,
        fail: tuning.fail,
        hold: tuning.hold,
    };
    match state.compute().set_simulation(&wanted) {
        Ok(s) => Json(simulation_view(&state, &s)).into_response(),
        Err(e) => refused(&e),
    }
}
