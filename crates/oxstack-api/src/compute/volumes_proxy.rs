//! Nova's `os-volumes` and `os-snapshots` (deprecated, up to 2.35): the
//! block storage service's volumes and snapshots in Nova's older shapes,
//! read and written through the same records as `/volume/v3`.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use oxstack_identity::Rule;
use oxstack_volume::{Caller, Snapshot, SnapshotSpec, Source, Volume, VolumeSpec};
use serde_json::{Value, json};

use super::error::NovaError;
use super::naive_time;
use super::request::{NovaBody, Req};
use crate::AppState;
use crate::envelope::envelope;

fn owner(req: &Req) -> Caller {
    Caller {
        project_id: req.ctx.project_id.clone(),
        user_id: req.ctx.user_id.clone(),
        is_admin: req.ctx.is_admin(),
        can_write: true,
    }
}

/// A volume as Nova's proxy shows it: the first attachment only, and a
/// list holding one empty object when there is none (as Nova does).
fn volume_view(v: &Volume) -> Value {
    let r = &v.row;
    let attachment = v
        .attached()
        .next()
        .map(|a| {
            let mut out = json!({"id": r.id, "volumeId": r.id, "serverId": a.instance_uuid});
            if let Some(device) = &a.mountpoint {
                out["device"] = json!(device);
            }
            out
        })
        .unwrap_or_else(|| json!({}));
    json!({
        "id": r.id,
        "status": r.status,
        "size": r.size,
        "availabilityZone": r.availability_zone,
        "createdAt": naive_time(Some(r.created_at)),
        "displayName": r.name,
        "displayDescription": r.description,
        "volumeType": v.type_name,
        "snapshotId": r.snapshot_id,
        "metadata": v.metadata,
        "attachments": [attachment],
    })
}

fn snapshot_view(s: &Snapshot) -> Value {
    let r = &s.row;
    json!({
        "id": r.id,
        "volumeId": r.volume_id,
        "status": r.status,
        "size": r.size,
        "createdAt": naive_time(Some(r.created_at)),
        "displayName": r.name,
        "displayDescription": r.description,
    })
}

/// `offset` and `limit`, applied after the whole listing, as Nova does.
fn page<T>(req: &Req, items: Vec<T>) -> Vec<T> {
    let number = |k: &str| req.param(k).and_then(|v| v.parse::<usize>().ok());
    let offset = number("offset").unwrap_or(0);
    let limit = number("limit").unwrap_or(usize::MAX);
    items.into_iter().skip(offset).take(limit).collect()
}

pub async fn list_volumes(
    State(state): State<AppState>,
    req: Req,
) -> Result<Json<Value>, NovaError> {
    req.authorize("os_compute_api:os-volumes:list", Rule::ProjectReader)?;
    let volumes = state.volumes().volumes(&owner(&req), false).await?;
    let views: Vec<Value> = page(&req, volumes).iter().map(volume_view).collect();
    Ok(Json(envelope("volumes", views)))
}

pub async fn show_volume(
    State(state): State<AppState>,
    req: Req,
    Path(id): Path<String>,
) -> Result<Json<Value>, NovaError> {
    req.authorize("os_compute_api:os-volumes:show", Rule::ProjectReader)?;
    let volume = state.volumes().volume(&owner(&req), &id).await?;
    Ok(Json(envelope("volume", volume_view(&volume))))
}

pub async fn create_volume(
    State(state): State<AppState>,
    req: Req,
    body: NovaBody,
) -> Result<Json<Value>, NovaError> {
    req.authorize("os_compute_api:os-volumes:create", Rule::ProjectMember)?;
    let text = json!({"type": ["string", "null"], "maxLength": 255});
    let schema = json!({
        "type": "object",
        "properties": {"volume": {
            "type": "object",
            "properties": {
                "volume_type": {"type": "string"},
                "metadata": {"type": "object", "additionalProperties": {"type": "string", "maxLength": 255}},
                "snapshot_id": {"type": "string"},
                "size": {"type": ["integer", "string"], "pattern": "^[0-9]+$", "minimum": 1,
                         "minLength": 1, "maximum": 2147483647},
                "availability_zone": {"type": "string"},
                "display_name": text,
                "display_description": text,
            },
            "required": ["size"],
            "additionalProperties": false,
        }},
        "required": ["volume"],
        "additionalProperties": false,
    });
    let body = body.validate(&schema)?;
    let v = &body["volume"];
    let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    let size = v["size"]
        .as_i64()
        .or_else(|| v["size"].as_str().and_then(|s| s.parse().ok()))
        .filter(|s| *s >= 1)
        .ok_or_else(|| {
            NovaError::bad_request("Invalid input received: the size must be at least 1.")
        })?;
    let spec = VolumeSpec {
        id: None,
        size: Some(size),
        name: text("display_name"),
        description: text("display_description"),
        volume_type: text("volume_type"),
        availability_zone: text("availability_zone"),
        source: text("snapshot_id").map_or(Source::Blank, Source::Snapshot),
        metadata: crate::volume::string_map(v.get("metadata")),
    };
    let volume = state.volumes().create_volume(&owner(&req), spec).await?;
    Ok(Json(envelope("volume", volume_view(&volume))))
}

pub async fn delete_volume(
    State(state): State<AppState>,
    req: Req,
    Path(id): Path<String>,
) -> Result<Response, NovaError> {
    req.authorize("os_compute_api:os-volumes:delete", Rule::ProjectMember)?;
    state
        .volumes()
        .delete_volume(&owner(&req), &id, false, false)
        .await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

pub async fn list_snapshots(
    State(state): State<AppState>,
    req: Req,
) -> Result<Json<Value>, NovaError> {
    req.authorize(
        "os_compute_api:os-volumes:snapshots:list",
        Rule::ProjectReader,
    )?;
    let snapshots = state.volumes().snapshots(&owner(&req), false).await?;
    let views: Vec<Value> = page(&req, snapshots).iter().map(snapshot_view).collect();
    Ok(Json(envelope("snapshots", views)))
}

pub async fn show_snapshot(
    State(state): State<AppState>,
    req: Req,
    Path(id): Path<String>,
) -> Result<Json<Value>, NovaError> {
    req.authorize(
        "os_compute_api:os-volumes:snapshots:show",
        Rule::ProjectReader,
    )?;
    let snapshot = state.volumes().snapshot(&owner(&req), &id).await?;
    Ok(Json(envelope("snapshot", snapshot_view(&snapshot))))
}

pub async fn create_snapshot(
    State(state): State<AppState>,
    req: Req,
    body: NovaBody,
) -> Result<Json<Value>, NovaError> {
    req.authorize(
        "os_compute_api:os-volumes:snapshots:create",
        Rule::ProjectMember,
    )?;
    let text = json!({"type": ["string", "null"], "maxLength": 255});
    let schema = json!({
        "type": "object",
        "properties": {"snapshot": {
            "type": "object",
            "properties": {
                "volume_id": {"type": "string"},
                "force": {"type": ["boolean", "string"]},
                "display_name": text,
                "display_description": text,
            },
            "required": ["volume_id"],
            "additionalProperties": false,
        }},
        "required": ["snapshot"],
        "additionalProperties": false,
    });
    let body = body.validate(&schema)?;
    let s = &body["snapshot"];
    let text = |k: &str| s.get(k).and_then(Value::as_str).map(str::to_owned);
    let spec = SnapshotSpec {
        volume_id: text("volume_id").unwrap_or_default(),
        name: text("display_name"),
        description: text("display_description"),
        force: s
            .get("force")
            .and_then(crate::volume::boolish)
            .unwrap_or(false),
        metadata: Default::default(),
    };
    let snapshot = state.volumes().create_snapshot(&owner(&req), spec).await?;
    Ok(Json(envelope("snapshot", snapshot_view(&snapshot))))
}

pub async fn delete_snapshot(
    State(state): State<AppState>,
    req: Req,
    Path(id): Path<String>,
) -> Result<Response, NovaError> {
    req.authorize(
        "os_compute_api:os-volumes:snapshots:delete",
        Rule::ProjectMember,
    )?;
    state
        .volumes()
        .delete_snapshot(&owner(&req), &id, false)
        .await?;
    Ok(StatusCode::ACCEPTED.into_response())
}
