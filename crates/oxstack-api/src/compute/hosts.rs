//! `/os-hosts` (`nova/api/openstack/compute/hosts.py`, up to 2.42): the
//! compute hosts and their zones, a host's resources by project, whether
//! it takes new servers, its maintenance mode and power actions. Admins
//! only.

use axum::Json;
use axum::extract::{Path, State};
use oxstack_compute::host_admin::{HostPowerAction, HostResources};
use oxstack_identity::Rule;
use serde_json::{Map, Value, json};

use super::error::NovaError;
use super::request::{NovaBody, Req};
use crate::AppState;

/// The topic Nova lists compute hosts' services under.
const SERVICE: &str = "compute";

fn update_schema() -> Value {
    let switch = json!({"type": "string",
        "enum": ["enable", "disable", "Enable", "Disable", "ENABLE", "DISABLE"]});
    // Nova's schema puts its `anyOf` among the properties, where it
    // requires nothing: an empty update answers the host alone.
    json!({
        "type": "object",
        "properties": {"status": switch, "maintenance_mode": switch},
        "additionalProperties": false,
    })
}

pub async fn list_hosts(State(state): State<AppState>, req: Req) -> Result<Json<Value>, NovaError> {
    req.authorize("os_compute_api:os-hosts:list", Rule::Admin)?;
    let zone = req.param("zone").filter(|z| !z.is_empty());
    let hosts: Vec<Value> = state
        .compute()
        .list_services()
        .await?
        .iter()
        .filter(|s| !s.disabled && zone.is_none_or(|z| s.zone == z))
        .map(|s| json!({"host_name": s.host, "service": SERVICE, "zone": s.zone}))
        .collect();
    Ok(Json(json!({"hosts": hosts})))
}

fn resource(host: &str, project: &str, cpu: i64, memory_mb: i64, disk_gb: i64) -> Value {
    json!({"resource": {"host": host, "project": project, "cpu": cpu,
                        "memory_mb": memory_mb, "disk_gb": disk_gb}})
}

/// Nova's rows: what the host offers `(total)`, what it uses now
/// `(used_now)`, what its servers' flavors add up to `(used_max)`, then
/// each project's share.
fn resources(r: &HostResources) -> Vec<Value> {
    let host = r.service.host.as_str();
    let s = &r.service;
    let mut rows = vec![
        resource(host, "(total)", s.vcpus, s.memory_mb, s.local_gb),
        resource(
            host,
            "(used_now)",
            r.used.vcpus,
            r.used.memory_mb,
            r.used.disk_gb,
        ),
        resource(
            host,
            "(used_max)",
            r.used.vcpus,
            r.used.memory_mb,
            r.used.disk_gb,
        ),
    ];
    rows.extend(
        r.by_project
            .iter()
            .map(|p| resource(host, &p.project_id, p.vcpus, p.memory_mb, p.disk_gb)),
    );
    rows
}

pub async fn show_host(
    State(state): State<AppState>,
    req: Req,
    Path(host): Path<String>,
) -> Result<Json<Value>, NovaError> {
    req.authorize("os_compute_api:os-hosts:show", Rule::Admin)?;
    let found = state.compute().host_resources(&host).await?;
    Ok(Json(json!({"host": resources(&found)})))
}

/// `PUT /os-hosts/{host}`: `status` enables or disables the host for new
/// servers, `maintenance_mode` starts or ends its maintenance.
pub async fn update_host(
    State(state): State<AppState>,
    req: Req,
    Path(host): Path<String>,
    body: NovaBody,
) -> Result<Json<Value>, NovaError> {
    let params = body.validate(&update_schema())?;
    req.authorize("os_compute_api:os-hosts:update", Rule::Admin)?;
    let enable = |key: &str| {
        params
            .get(key)
            .and_then(Value::as_str)
            .map(|v| v.eq_ignore_ascii_case("enable"))
    };
    let compute = state.compute();
    let mut out = Map::new();
    out.insert("host".into(), json!(host));
    if let Some(enabled) = enable("status") {
        let status = compute.set_host_enabled(&host, enabled).await?;
        out.insert("status".into(), json!(status));
    }
    if let Some(on) = enable("maintenance_mode") {
        let mode = compute.set_host_maintenance(&host, on).await?;
        out.insert("maintenance_mode".into(), json!(mode));
    }
    Ok(Json(Value::Object(out)))
}

async fn power_action(
    state: &AppState,
    req: &Req,
    host: &str,
    action: HostPowerAction,
    policy: &str,
) -> Result<Json<Value>, NovaError> {
    req.authorize(&format!("os_compute_api:os-hosts:{policy}"), Rule::Admin)?;
    let done = state.compute().host_power_action(host, action).await?;
    Ok(Json(json!({"host": host, "power_action": done.as_ref()})))
}

pub async fn reboot_host(
    State(state): State<AppState>,
    req: Req,
    Path(host): Path<String>,
) -> Result<Json<Value>, NovaError> {
    power_action(&state, &req, &host, HostPowerAction::Reboot, "reboot").await
}

pub async fn shutdown_host(
    State(state): State<AppState>,
    req: Req,
    Path(host): Path<String>,
) -> Result<Json<Value>, NovaError> {
    power_action(&state, &req, &host, HostPowerAction::Shutdown, "shutdown").await
}

pub async fn startup_host(
    State(state): State<AppState>,
    req: Req,
    Path(host): Path<String>,
) -> Result<Json<Value>, NovaError> {
    power_action(&state, &req, &host, HostPowerAction::Startup, "start").await
}
