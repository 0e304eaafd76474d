//! `GET /_oxstack/health`: for load balancers, CI wait loops and container
//! probes, and for test suites to learn what this cloud is (its
//! `capabilities`). Unauthenticated, outside the OpenStack paths; 503 when
//! the database cannot be reached.

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
    let auth = match state.config().auth {
        crate::AuthMode::Keystone => "keystone",
        crate::AuthMode::NoAuth => "noauth",
    };
    // The compute hosts, up or not; none when the database is away.
    let hosts: Vec<Value> = state
        .compute()
        .list_services()
        .await
        .unwrap_or_default()
        .iter()
        .map(|s| json!({"host": s.host, "up": s.up, "enabled": !s.disabled}))
        .collect();
    let control = &state.control().config;
    let body = json!({
        "status": if reachable { "ok" } else { "degraded" },
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": state.0.started.elapsed().as_secs_f64(),
        "database": {"backend": database.backend, "reachable": reachable},
        "driver": state.config().driver,
        "auth": auth,
        "capabilities": {
            "driver": state.config().driver,
            "hypervisor_type": state.compute().hypervisor_type(),
            "auth": auth,
            "backend": database.backend,
            "hosts": hosts,
            "max_microversion": crate::compute::microversion::MAX.to_string(),
            "control": {
                "enabled": control.enabled,
                "trace": control.enabled && control.trace_size > 0,
                "faults": control.enabled && control.faults,
            },
        },
    });
    (status, Json(body))
}
