//! `/limits`, `/os-quota-sets` and `/os-availability-zone`.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use oxstack_volume::Quota;
use serde_json::{Map, Value, json};

use super::{CinderError, VolumeReq, respond};
use crate::AppState;
use crate::compute::NovaBody;

fn find(quotas: &[Quota], resource: &str) -> (i64, i64) {
    quotas
        .iter()
        .find(|q| q.resource == resource)
        .map(|q| (q.limit, q.in_use))
        .unwrap_or((-1, 0))
}

pub async fn show_limits(
    State(state): State<AppState>,
    req: VolumeReq,
) -> Result<Response, CinderError> {
    let project = req
        .param("project_id")
        .or_else(|| req.param("tenant_id"))
        .filter(|_| req.caller.is_admin)
        .unwrap_or(&req.caller.project_id)
        .to_owned();
    let quotas = state.volumes().quotas(&req.caller, &project).await?;
    let (volumes, volumes_used) = find(&quotas, "volumes");
    let (gigabytes, gigabytes_used) = find(&quotas, "gigabytes");
    let (snapshots, snapshots_used) = find(&quotas, "snapshots");
    let (backups, _) = find(&quotas, "backups");
    let (backup_gigabytes, _) = find(&quotas, "backup_gigabytes");
    Ok(respond(
        StatusCode::OK,
        "limits",
        json!({
            "rate": [],
            "absolute": {
                "maxTotalVolumes": volumes,
                "maxTotalSnapshots": snapshots,
                "maxTotalVolumeGigabytes": gigabytes,
                "maxTotalBackups": backups,
                "maxTotalBackupGigabytes": backup_gigabytes,
                "totalVolumesUsed": volumes_used,
                "totalGigabytesUsed": gigabytes_used,
                "totalSnapshotsUsed": snapshots_used,
                "totalBackupsUsed": 0,
                "totalBackupGigabytesUsed": 0,
            },
        }),
    ))
}

fn quota_set(project: Option<&str>, quotas: &[Quota], usage: bool) -> Value {
    let mut out = Map::new();
    if let Some(p) = project {
        out.insert("id".into(), json!(p));
    }
    for q in quotas {
        let value = if usage {
            json!({"limit": q.limit, "in_use": q.in_use, "reserved": 0})
        } else {
            json!(q.limit)
        };
        out.insert(q.resource.to_owned(), value);
    }
    Value::Object(out)
}

pub async fn show_quota_set(
    State(state): State<AppState>,
    req: VolumeReq,
    Path(project): Path<String>,
) -> Result<Response, CinderError> {
    let quotas = state.volumes().quotas(&req.caller, &project).await?;
    let usage = req.flag("usage");
    Ok(respond(
        StatusCode::OK,
        "quota_set",
        quota_set(Some(&project), &quotas, usage),
    ))
}

pub async fn show_default_quota_set(
    State(state): State<AppState>,
    _req: VolumeReq,
    Path(project): Path<String>,
) -> Result<Response, CinderError> {
    let quotas = state.volumes().default_quotas();
    Ok(respond(
        StatusCode::OK,
        "quota_set",
        quota_set(Some(&project), &quotas, false),
    ))
}

pub async fn update_quota_set(
    State(state): State<AppState>,
    req: VolumeReq,
    Path(project): Path<String>,
    body: NovaBody,
) -> Result<Response, CinderError> {
    let schema = json!({
        "type": "object",
        "properties": {"quota_set": {"type": "object"}},
        "required": ["quota_set"],
        "additionalProperties": false,
    });
    let body = body.validate(&schema)?;
    let mut limits = BTreeMap::new();
    for (k, v) in body["quota_set"].as_object().into_iter().flatten() {
        if k == "id" || k == "tenant_id" {
            continue;
        }
        let n = v
            .as_i64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            .ok_or_else(|| {
                CinderError::bad_request(format!(
                    "Invalid input received: Quota value {} for {k} must be an integer.",
                    crate::validation::pyrepr::str(v)
                ))
            })?;
        limits.insert(k.clone(), n);
    }
    let quotas = state
        .volumes()
        .set_quotas(&req.caller, &project, limits)
        .await?;
    Ok(respond(
        StatusCode::OK,
        "quota_set",
        quota_set(None, &quotas, false),
    ))
}

pub async fn reset_quota_set(
    State(state): State<AppState>,
    req: VolumeReq,
    Path(project): Path<String>,
) -> Result<Response, CinderError> {
    state.volumes().clear_quotas(&req.caller, &project).await?;
    Ok(StatusCode::OK.into_response())
}

pub async fn list_zones(
    State(state): State<AppState>,
    _req: VolumeReq,
) -> Result<Response, CinderError> {
    let zone = state.volumes().settings().availability_zone.clone();
    Ok(axum::Json(json!({"availabilityZoneInfo": [
        {"zoneName": zone, "zoneState": {"available": true}}
    ]}))
    .into_response())
}
