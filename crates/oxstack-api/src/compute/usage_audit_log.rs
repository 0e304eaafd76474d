//! `/os-instance_usage_audit_log[/{before}]`
//! (`nova/api/openstack/compute/instance_usage_audit_log.py`): how far the
//! compute hosts got with the instance usage audit of the last month
//! completed (before `before`, a `%Y-%m-%d %H:%M:%S[.%f]` time). No host
//! of this cloud runs the audit (Nova's `instance_usage_audit` is off by
//! default), so every host reports it not run. Admins only.

use axum::Json;
use axum::extract::{Path, State};
use chrono::{DateTime, NaiveDateTime};
use oxstack_compute::usage::UsageAudit;
use oxstack_identity::Rule;
use serde_json::{Value, json};

use super::error::NovaError;
use super::request::Req;
use crate::AppState;

/// Python's `str()` of a naive datetime on the hour.
fn plain_time(micros: i64) -> String {
    DateTime::from_timestamp_micros(micros)
        .unwrap_or_default()
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

fn view(audit: &UsageAudit) -> Value {
    let hosts = audit.hosts_not_run.len();
    // No host has run it: all are done only when there are none.
    let done = 0;
    let progress = if done == hosts {
        "ALL".to_owned()
    } else {
        format!("{done} of {hosts}")
    };
    json!({
        "period_beginning": plain_time(audit.period_beginning),
        "period_ending": plain_time(audit.period_ending),
        "num_hosts": hosts,
        "num_hosts_done": done,
        "num_hosts_running": 0,
        "num_hosts_not_run": hosts,
        "hosts_not_run": audit.hosts_not_run,
        "total_instances": 0,
        "total_errors": 0,
        "overall_status": format!("{progress} hosts done. 0 errors."),
        "log": {},
    })
}

pub async fn list_audit_logs(
    State(state): State<AppState>,
    req: Req,
) -> Result<Json<Value>, NovaError> {
    req.authorize(
        "os_compute_api:os-instance-usage-audit-log:list",
        Rule::Admin,
    )?;
    let audit = state.compute().usage_audit(None).await?;
    Ok(Json(json!({"instance_usage_audit_logs": view(&audit)})))
}

pub async fn show_audit_log(
    State(state): State<AppState>,
    req: Req,
    Path(before): Path<String>,
) -> Result<Json<Value>, NovaError> {
    req.authorize(
        "os_compute_api:os-instance-usage-audit-log:show",
        Rule::Admin,
    )?;
    let format = if before.contains('.') {
        "%Y-%m-%d %H:%M:%S%.f"
    } else {
        "%Y-%m-%d %H:%M:%S"
    };
    let at = NaiveDateTime::parse_from_str(&before, format)
        .map_err(|_| NovaError::bad_request(format!("Invalid timestamp for date {before}")))?;
    let audit = state
        .compute()
        .usage_audit(Some(at.and_utc().timestamp_micros()))
        .await?;
    Ok(Json(json!({"instance_usage_audit_log": view(&audit)})))
}
