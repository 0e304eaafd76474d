//! `/volumes`: list (summary, detail, summary totals), show, create,
//! update, delete, and the metadata sub-resource.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use oxstack_volume::{Source, Volume, VolumeChange, VolumeSpec};
use serde_json::{Map, Value, json};

use super::views::{self, Form};
use super::{CinderError, VolumeReq, listing, metadata_filter, respond, truthy, vv};
use crate::AppState;
use crate::compute::NovaBody;

/// The keys of a volume create (3.53 refuses others; before, they are
/// ignored, as cinderclient sends a few of its own).
fn create_schema(strict: bool) -> Value {
    let text = |max: u64| json!({"type": ["string", "null"], "maxLength": max});
    let uuid = json!({"type": ["string", "null"], "format": "uuid"});
    json!({
        "type": "object",
        "properties": {
            "volume": {
                "type": "object",
                "properties": {
                    "size": {"type": ["integer", "string", "null"]},
                    "name": text(255),
                    "display_name": text(255),
                    "description": text(255),
                    "display_description": text(255),
                    "volume_type": text(255),
                    "availability_zone": {"type": ["string", "null"], "minLength": 1, "maxLength": 255},
                    "metadata": metadata_schema(),
                    "snapshot_id": uuid,
                    "source_volid": uuid,
                    "consistencygroup_id": uuid,
                    "group_id": uuid,
                    "backup_id": uuid,
                    "imageRef": text(255),
                    "image_id": text(255),
                    "multiattach": {"type": ["boolean", "string", "null"]},
                },
                "additionalProperties": !strict,
            },
            "OS-SCH-HNT:scheduler_hints": {"type": ["object", "null"]},
        },
        "required": ["volume"],
        "additionalProperties": false,
    })
}

/// User metadata: keys of Cinder's characters, string values.
pub(super) fn metadata_schema() -> Value {
    json!({
        "type": ["object", "null"],
        "patternProperties": {"^[a-zA-Z0-9-_:. /]{1,255}$": {"type": "string", "maxLength": 255}},
        "additionalProperties": false,
    })
}

fn update_schema() -> Value {
    let text = json!({"type": ["string", "null"], "maxLength": 255});
    json!({
        "type": "object",
        "properties": {"volume": {
            "type": "object",
            "properties": {
                "name": text, "display_name": text,
                "description": text, "display_description": text,
                "metadata": metadata_schema(),
            },
            "additionalProperties": false,
        }},
        "required": ["volume"],
        "additionalProperties": false,
    })
}

/// A string field, by its name or legacy alias.
fn text_of(body: &Map<String, Value>, key: &str, alias: &str) -> Option<String> {
    body.get(key)
        .or_else(|| body.get(alias))
        .and_then(Value::as_str)
        .map(|s| s.trim().to_owned())
}

/// Whether either spelling of a field is present (null included).
fn given(body: &Map<String, Value>, key: &str, alias: &str) -> bool {
    body.contains_key(key) || body.contains_key(alias)
}

pub(crate) fn string_map(value: Option<&Value>) -> BTreeMap<String, String> {
    value
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// The largest size Cinder takes (its database's integer).
pub(super) const MAX_SIZE: i64 = 2_147_483_647;

fn size_of(value: Option<&Value>) -> Result<Option<i64>, CinderError> {
    let size = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        Some(_) => None,
    };
    match size {
        Some(n) if n > MAX_SIZE => Err(CinderError::bad_request(format!(
            "Invalid input for field/attribute size. Value: {n}. {n} is greater than the maximum of {MAX_SIZE}"
        ))),
        Some(n) if n >= 1 => Ok(Some(n)),
        _ => {
            let shown = value
                .map(crate::validation::pyrepr::str)
                .unwrap_or_default();
            Err(CinderError::bad_request(format!(
                "Invalid input received: Volume size '{shown}' must be an integer and greater than 0"
            )))
        }
    }
}

pub async fn create_volume(
    State(state): State<AppState>,
    req: VolumeReq,
    body: NovaBody,
) -> Result<Response, CinderError> {
    let body = body.validate(&create_schema(req.at_least(vv::STRICT_CREATE)))?;
    let v = body["volume"].as_object().cloned().unwrap_or_default();
    if v.get("multiattach").and_then(super::boolish) == Some(true) {
        return Err(CinderError::bad_request(
            "multiattach parameter has been removed. The default behavior is to use multiattach enabled volume types. Contact your administrator to create a multiattach enabled volume type and use it to create multiattach volumes.",
        ));
    }
    let id = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    let source = if let Some(snapshot) = id("snapshot_id") {
        Source::Snapshot(snapshot)
    } else if let Some(volume) = id("source_volid") {
        Source::Volume(volume)
    } else if let Some(image) = id("imageRef").or_else(|| id("image_id")) {
        // A Glance URL names its image by the last segment.
        Source::Image(image.rsplit('/').next().unwrap_or_default().to_owned())
    } else {
        Source::Blank
    };
    if id("backup_id").is_some() {
        return Err(CinderError::bad_request(
            "Invalid input received: volume backups are not supported by this cloud.",
        ));
    }
    let spec = VolumeSpec {
        id: None,
        size: size_of(v.get("size"))?,
        name: text_of(&v, "name", "display_name"),
        description: text_of(&v, "description", "display_description"),
        volume_type: id("volume_type"),
        availability_zone: id("availability_zone"),
        source,
        metadata: string_map(v.get("metadata")),
    };
    let volume = state.volumes().create_volume(&req.caller, spec).await?;
    Ok(respond(
        StatusCode::ACCEPTED,
        "volume",
        views::volume(&req, &volume, Form::Answer),
    ))
}

/// The caller's volumes that pass the listing's filters.
async fn filtered(state: &AppState, req: &VolumeReq) -> Result<Vec<Volume>, CinderError> {
    let volumes = state
        .volumes()
        .volumes(&req.caller, req.flag("all_tenants"))
        .await?;
    let bootable = match req.param("bootable") {
        Some(b) => Some(truthy(b).ok_or_else(|| {
            CinderError::bad_request(format!("Invalid input received: 'bootable = {b}'"))
        })?),
        None => None,
    };
    let metadata = req.param("metadata").map(metadata_filter).transpose()?;
    let name = req.param("name").or_else(|| req.param("display_name"));
    Ok(volumes
        .into_iter()
        .filter(|v| name.is_none_or(|n| v.row.name.as_deref() == Some(n)))
        .filter(|v| req.param("status").is_none_or(|s| v.row.status == s))
        .filter(|v| {
            req.param("availability_zone")
                .is_none_or(|z| v.row.availability_zone == z)
        })
        .filter(|v| {
            req.param("size")
                .is_none_or(|s| v.row.size.to_string() == s)
        })
        .filter(|v| bootable.is_none_or(|b| v.row.bootable == b))
        .filter(|v| {
            req.param("project_id")
                .filter(|_| req.caller.is_admin)
                .is_none_or(|p| v.row.project_id == p)
        })
        .filter(|v| {
            metadata.as_ref().is_none_or(|m| {
                m.iter()
                    .all(|(k, want)| v.metadata.get(k).map(String::as_str) == want.as_str())
            })
        })
        .collect())
}

/// `GET /volumes`: ids, names and links.
pub async fn list_volumes(
    State(state): State<AppState>,
    req: VolumeReq,
) -> Result<Response, CinderError> {
    let volumes = filtered(&state, &req).await?;
    let views = volumes
        .iter()
        .map(|v| views::volume(&req, v, Form::Show))
        .collect();
    let mut out = listing(&req, "volumes", views)?;
    if let Some(page) = out["volumes"].as_array_mut() {
        for v in page.iter_mut() {
            *v = json!({"id": v["id"], "name": v["name"], "links": v["links"]});
        }
    }
    Ok(axum::Json(out).into_response())
}

/// `GET /volumes/detail`.
pub async fn list_volumes_detail(
    State(state): State<AppState>,
    req: VolumeReq,
) -> Result<Response, CinderError> {
    let volumes = filtered(&state, &req).await?;
    let views = volumes
        .iter()
        .map(|v| views::volume(&req, v, Form::Show))
        .collect();
    Ok(axum::Json(listing(&req, "volumes", views)?).into_response())
}

/// `GET /volumes/summary` (3.12): how many and how big.
pub async fn volume_summary(
    State(state): State<AppState>,
    req: VolumeReq,
) -> Result<Response, CinderError> {
    req.since(super::VolumeVersion(12))?;
    let volumes = filtered(&state, &req).await?;
    let size: i64 = volumes.iter().map(|v| v.row.size).sum();
    let mut summary = json!({"total_count": volumes.len(), "total_size": size});
    if req.at_least(super::VolumeVersion(36)) {
        let mut metadata: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for v in &volumes {
            for (k, val) in &v.metadata {
                let values = metadata.entry(k.clone()).or_default();
                if !values.contains(val) {
                    values.push(val.clone());
                }
            }
        }
        summary["metadata"] = json!(metadata);
    }
    Ok(respond(StatusCode::OK, "volume-summary", summary))
}

pub async fn show_volume(
    State(state): State<AppState>,
    req: VolumeReq,
    Path(id): Path<String>,
) -> Result<Response, CinderError> {
    let volume = state.volumes().volume(&req.caller, &id).await?;
    Ok(respond(
        StatusCode::OK,
        "volume",
        views::volume(&req, &volume, Form::Show),
    ))
}

pub async fn update_volume(
    State(state): State<AppState>,
    req: VolumeReq,
    Path(id): Path<String>,
    body: NovaBody,
) -> Result<Response, CinderError> {
    let body = body.validate(&update_schema())?;
    let v = body["volume"].as_object().cloned().unwrap_or_default();
    if req.at_least(vv::STRICT_CREATE) && v.is_empty() {
        return Err(CinderError::bad_request(
            "Invalid input for field/attribute volume. Value: {}. {} does not have enough properties",
        ));
    }
    let change = VolumeChange {
        name: given(&v, "name", "display_name").then(|| text_of(&v, "name", "display_name")),
        description: given(&v, "description", "display_description")
            .then(|| text_of(&v, "description", "display_description")),
        metadata: v
            .contains_key("metadata")
            .then(|| string_map(v.get("metadata"))),
    };
    let volume = state
        .volumes()
        .update_volume(&req.caller, &id, change)
        .await?;
    Ok(respond(
        StatusCode::OK,
        "volume",
        views::volume(&req, &volume, Form::Answer),
    ))
}

pub async fn delete_volume(
    State(state): State<AppState>,
    req: VolumeReq,
    Path(id): Path<String>,
) -> Result<Response, CinderError> {
    let force = req.at_least(vv::DELETE_FORCE) && req.flag("force");
    state
        .volumes()
        .delete_volume(&req.caller, &id, req.flag("cascade"), force)
        .await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

// --- metadata ---

async fn metadata_of(
    state: &AppState,
    req: &VolumeReq,
    id: &str,
) -> Result<BTreeMap<String, String>, CinderError> {
    let volume = state.volumes().volume(&req.caller, id).await?;
    Ok(oxstack_volume_metadata(&volume))
}

/// The user's metadata of a volume (without the keys Cinder adds).
fn oxstack_volume_metadata(volume: &Volume) -> BTreeMap<String, String> {
    serde_json::from_str(&volume.row.metadata).unwrap_or_default()
}

async fn write_metadata(
    state: &AppState,
    req: &VolumeReq,
    id: &str,
    metadata: BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, CinderError> {
    let change = VolumeChange {
        metadata: Some(metadata),
        ..VolumeChange::default()
    };
    let volume = state
        .volumes()
        .update_volume(&req.caller, id, change)
        .await?;
    Ok(oxstack_volume_metadata(&volume))
}

fn metadata_body(body: &NovaBody, key: &str) -> Result<BTreeMap<String, String>, CinderError> {
    let schema = json!({
        "type": "object",
        "properties": {key: metadata_schema()},
        "required": [key],
        "additionalProperties": false,
    });
    let body = body.validate(&schema)?;
    Ok(string_map(body.get(key)))
}

pub async fn show_metadata(
    State(state): State<AppState>,
    req: VolumeReq,
    Path(id): Path<String>,
) -> Result<Response, CinderError> {
    let metadata = metadata_of(&state, &req, &id).await?;
    Ok(respond(StatusCode::OK, "metadata", json!(metadata)))
}

/// `POST .../metadata`: merges.
pub async fn merge_metadata(
    State(state): State<AppState>,
    req: VolumeReq,
    Path(id): Path<String>,
    body: NovaBody,
) -> Result<Response, CinderError> {
    let new = metadata_body(&body, "metadata")?;
    let mut metadata = metadata_of(&state, &req, &id).await?;
    metadata.extend(new);
    let metadata = write_metadata(&state, &req, &id, metadata).await?;
    Ok(respond(StatusCode::OK, "metadata", json!(metadata)))
}

/// `PUT .../metadata`: replaces.
pub async fn replace_metadata(
    State(state): State<AppState>,
    req: VolumeReq,
    Path(id): Path<String>,
    body: NovaBody,
) -> Result<Response, CinderError> {
    let new = metadata_body(&body, "metadata")?;
    let metadata = write_metadata(&state, &req, &id, new).await?;
    Ok(respond(StatusCode::OK, "metadata", json!(metadata)))
}

pub async fn show_metadata_item(
    State(state): State<AppState>,
    req: VolumeReq,
    Path((id, key)): Path<(String, String)>,
) -> Result<Response, CinderError> {
    let metadata = metadata_of(&state, &req, &id).await?;
    let value = metadata.get(&key).ok_or_else(|| {
        CinderError::not_found(format!("Volume {id} has no metadata with key {key}."))
    })?;
    Ok(respond(StatusCode::OK, "meta", json!({ key: value })))
}

pub async fn set_metadata_item(
    State(state): State<AppState>,
    req: VolumeReq,
    Path((id, key)): Path<(String, String)>,
    body: NovaBody,
) -> Result<Response, CinderError> {
    let item = metadata_body(&body, "meta")?;
    if item.len() != 1 || !item.contains_key(&key) {
        return Err(CinderError::bad_request("Request body and URI mismatch"));
    }
    let mut metadata = metadata_of(&state, &req, &id).await?;
    metadata.extend(item.clone());
    write_metadata(&state, &req, &id, metadata).await?;
    Ok(respond(StatusCode::OK, "meta", json!(item)))
}

pub async fn delete_metadata_item(
    State(state): State<AppState>,
    req: VolumeReq,
    Path((id, key)): Path<(String, String)>,
) -> Result<Response, CinderError> {
    let mut metadata = metadata_of(&state, &req, &id).await?;
    if metadata.remove(&key).is_none() {
        return Err(CinderError::not_found(format!(
            "Volume {id} has no metadata with key {key}."
        )));
    }
    write_metadata(&state, &req, &id, metadata).await?;
    Ok(StatusCode::OK.into_response())
}
