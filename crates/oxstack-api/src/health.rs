//! `GET /_oxstack/health`: for load balancers, CI wait loops and container
//! probes. Unauthenticated, outside the OpenStack paths; 503 when the
//! database cannot be reached.

use axum::Json;
use axum::extract::State;
use http::StatusCode;
use serde_json::{Value, json};

use crate::AppState;

pub async fn get_health(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let database = state.compute().database_status().await;
    let reachable = database.reachable;
    let status = if reachable {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if reachable { "ok" } else { "degraded" },
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": state.0.started.elapsed().as_secs_f64(),
        "database": {"backend": database.backend, "reachable": reachable},
        "driver": state.config().driver,
        "auth": match state.config().auth {
            crate::AuthMode::Keystone => "keystone",
            crate::AuthMode::NoAuth => "noauth",
        },
    });
    (status, Json(body))
}
