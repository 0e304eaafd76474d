//! `/snapshots`: list, show, create, update, delete, and the admin
//! actions (status reset, forced delete).

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use oxstack_volume::{Snapshot, SnapshotSpec};
use serde_json::{Value, json};

use super::views::{self, Form};
use super::volumes::{metadata_schema, string_map};
use super::{CinderError, VolumeReq, boolish, listing, metadata_filter, respond, vv};
use crate::AppState;
use crate::compute::NovaBody;

fn create_schema() -> Value {
    let text = json!({"type": ["string", "null"], "maxLength": 255});
    json!({
        "type": "object",
        "properties": {"snapshot": {
            "type": "object",
            "properties": {
                "volume_id": {"type": "string", "format": "uuid"},
                "name": text, "display_name": text, "description": text,
                "force": {"type": ["boolean", "string", "null"]},
                "metadata": metadata_schema(),
            },
            "required": ["volume_id"],
            "additionalProperties": false,
        }},
        "required": ["snapshot"],
        "additionalProperties": false,
    })
}

pub async fn create_snapshot(
    State(state): State<AppState>,
    req: VolumeReq,
    body: NovaBody,
) -> Result<Response, CinderError> {
    let body = body.validate(&create_schema())?;
    let s = &body["snapshot"];
    let force = match s.get("force") {
        None | Some(Value::Null) => None,
        Some(v) => Some(boolish(v).ok_or_else(|| {
            CinderError::bad_request(format!(
                "Invalid value '{}' for force.",
                crate::validation::pyrepr::str(v)
            ))
        })?),
    };
    if req.at_least(vv::SNAPSHOT_IN_USE) && force == Some(false) {
        return Err(CinderError::bad_request(
            "Since microversion 3.66 the 'force' flag is invalid for this request.  For backward compatability, however, when the 'force' flag is passed with a value evaluating to True, it is silently ignored.",
        ));
    }
    let text = |k: &str, alias: &str| {
        s.get(k)
            .or_else(|| s.get(alias))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let spec = SnapshotSpec {
        volume_id: s["volume_id"].as_str().unwrap_or_default().to_owned(),
        name: text("name", "display_name"),
        description: text("description", "display_description"),
        force: force.unwrap_or(false) || req.at_least(vv::SNAPSHOT_IN_USE),
        metadata: string_map(s.get("metadata")),
    };
    let snapshot = state.volumes().create_snapshot(&req.caller, spec).await?;
    Ok(respond(
        StatusCode::ACCEPTED,
        "snapshot",
        views::snapshot(&req, &snapshot, Form::Answer),
    ))
}

async fn filtered(state: &AppState, req: &VolumeReq) -> Result<Vec<Snapshot>, CinderError> {
    let snapshots = state
        .volumes()
        .snapshots(&req.caller, req.flag("all_tenants"))
        .await?;
    let metadata = req.param("metadata").map(metadata_filter).transpose()?;
    let name = req.param("name").or_else(|| req.param("display_name"));
    Ok(snapshots
        .into_iter()
        .filter(|s| name.is_none_or(|n| s.row.name.as_deref() == Some(n)))
        .filter(|s| req.param("status").is_none_or(|st| s.row.status == st))
        .filter(|s| req.param("volume_id").is_none_or(|v| s.row.volume_id == v))
        .filter(|s| {
            metadata.as_ref().is_none_or(|m| {
                m.iter()
                    .all(|(k, want)| s.metadata.get(k).map(String::as_str) == want.as_str())
            })
        })
        .collect())
}

async fn list(state: &AppState, req: &VolumeReq, form: Form) -> Result<Response, CinderError> {
    let snapshots = filtered(state, req).await?;
    let views = snapshots
        .iter()
        .map(|s| views::snapshot(req, s, form))
        .collect();
    Ok(axum::Json(listing(req, "snapshots", views)?).into_response())
}

pub async fn list_snapshots(
    State(state): State<AppState>,
    req: VolumeReq,
) -> Result<Response, CinderError> {
    list(&state, &req, Form::Answer).await
}

pub async fn list_snapshots_detail(
    State(state): State<AppState>,
    req: VolumeReq,
) -> Result<Response, CinderError> {
    list(&state, &req, Form::Show).await
}

pub async fn show_snapshot(
    State(state): State<AppState>,
    req: VolumeReq,
    Path(id): Path<String>,
) -> Result<Response, CinderError> {
    let snapshot = state.volumes().snapshot(&req.caller, &id).await?;
    Ok(respond(
        StatusCode::OK,
        "snapshot",
        views::snapshot(&req, &snapshot, Form::Show),
    ))
}

pub async fn update_snapshot(
    State(state): State<AppState>,
    req: VolumeReq,
    Path(id): Path<String>,
    body: NovaBody,
) -> Result<Response, CinderError> {
    let text = json!({"type": ["string", "null"], "maxLength": 255});
    let schema = json!({
        "type": "object",
        "properties": {"snapshot": {
            "type": "object",
            "properties": {"name": text, "display_name": text, "description": text,
                           "display_description": text, "metadata": metadata_schema()},
            "additionalProperties": false,
            "minProperties": 1,
        }},
        "required": ["snapshot"],
        "additionalProperties": false,
    });
    let body = body.validate(&schema)?;
    let s = body["snapshot"].as_object().cloned().unwrap_or_default();
    let field = |k: &str, alias: &str| {
        (s.contains_key(k) || s.contains_key(alias)).then(|| {
            s.get(k)
                .or_else(|| s.get(alias))
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
    };
    let snapshot = state
        .volumes()
        .update_snapshot(
            &req.caller,
            &id,
            field("name", "display_name"),
            field("description", "display_description"),
            s.contains_key("metadata")
                .then(|| string_map(s.get("metadata"))),
        )
        .await?;
    Ok(respond(
        StatusCode::OK,
        "snapshot",
        views::snapshot(&req, &snapshot, Form::Answer),
    ))
}

pub async fn delete_snapshot(
    State(state): State<AppState>,
    req: VolumeReq,
    Path(id): Path<String>,
) -> Result<Response, CinderError> {
    state
        .volumes()
        .delete_snapshot(&req.caller, &id, false)
        .await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

pub async fn snapshot_action(
    State(state): State<AppState>,
    req: VolumeReq,
    Path(id): Path<String>,
    body: NovaBody,
) -> Result<Response, CinderError> {
    match super::actions::action_of(&body)? {
        ("os-reset_status", arg) => {
            let status = arg
                .get("status")
                .and_then(Value::as_str)
                .ok_or_else(|| CinderError::bad_request("'status' is a required property"))?;
            state
                .volumes()
                .reset_snapshot_status(&req.caller, &id, status)
                .await?;
        }
        ("os-force_delete", _) => {
            state
                .volumes()
                .delete_snapshot(&req.caller, &id, true)
                .await?;
        }
        (other, _) => return Err(super::actions::no_such_action(other)),
    }
    Ok(StatusCode::ACCEPTED.into_response())
}
