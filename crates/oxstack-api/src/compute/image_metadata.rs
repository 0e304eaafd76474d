//! `/images/{id}/metadata`: an image's properties through the compute API
//! (deprecated: 404 from 2.39), limited by the `metadata_items` quota.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use http::StatusCode;
use oxstack_compute::quotas::Resource;
use oxstack_image::ImageError;
use serde_json::{Value, json};

use super::error::NovaError;
use super::images::{image_error, viewer};
use super::request::{NovaBody, Req};
use crate::AppState;

const KEY: &str = "^[a-zA-Z0-9-_:. ]{1,255}$";

pub(super) fn metadata_schema(wrapper: &str, single: bool) -> Value {
    let mut metadata = json!({
        "type": "object",
        "patternProperties": {KEY: {"type": "string", "maxLength": 255}},
        "additionalProperties": false,
    });
    if single {
        metadata["minProperties"] = json!(1);
        metadata["maxProperties"] = json!(1);
    }
    json!({"type": "object", "properties": {wrapper: metadata}, "required": [wrapper], "additionalProperties": false})
}

fn strings(value: &Value) -> BTreeMap<String, String> {
    value
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
        .collect()
}

/// Nova's check: the resulting metadata may not exceed `metadata_items`.
async fn check_quota(state: &AppState, req: &Req, count: usize) -> Result<(), NovaError> {
    let limits = state.compute().quota_limits(&req.ctx.project_id).await?;
    let max = limits.get(&Resource::MetadataItems).copied().unwrap_or(-1);
    if max >= 0 && count as i64 > max {
        return Err(NovaError::new(
            StatusCode::FORBIDDEN,
            "Image metadata limit exceeded",
        ));
    }
    Ok(())
}

async fn replace_properties(
    state: &AppState,
    req: &Req,
    id: &str,
    merge: bool,
    given: BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, NovaError> {
    let current = state
        .images()
        .get(viewer(req), id)
        .await
        .map_err(image_error)?;
    let mut next = if merge {
        current.properties.clone()
    } else {
        BTreeMap::new()
    };
    next.extend(given);
    check_quota(state, req, next.len()).await?;
    let image = state
        .images()
        .update(viewer(req), id, |image| {
            image.properties = next;
            Ok::<(), ImageError>(())
        })
        .await
        .map_err(image_error)?;
    Ok(image.properties)
}

pub async fn list_image_metadata(
    State(state): State<AppState>,
    req: Req,
    Path(id): Path<String>,
) -> Result<Json<Value>, NovaError> {
    let image = state
        .images()
        .get(viewer(&req), &id)
        .await
        .map_err(image_error)?;
    Ok(Json(json!({"metadata": image.properties})))
}

/// `POST`: merges the given items in.
pub async fn update_image_metadata(
    State(state): State<AppState>,
    req: Req,
    Path(id): Path<String>,
    body: NovaBody,
) -> Result<Json<Value>, NovaError> {
    let body = body.validate(&metadata_schema("metadata", false))?;
    let metadata = replace_properties(&state, &req, &id, true, strings(&body["metadata"])).await?;
    Ok(Json(json!({"metadata": metadata})))
}

/// `PUT`: replaces all items.
pub async fn replace_image_metadata(
    State(state): State<AppState>,
    req: Req,
    Path(id): Path<String>,
    body: NovaBody,
) -> Result<Json<Value>, NovaError> {
    let body = body.validate(&metadata_schema("metadata", false))?;
    let metadata = replace_properties(&state, &req, &id, false, strings(&body["metadata"])).await?;
    Ok(Json(json!({"metadata": metadata})))
}

pub async fn show_image_metadata_item(
    State(state): State<AppState>,
    req: Req,
    Path((id, key)): Path<(String, String)>,
) -> Result<Json<Value>, NovaError> {
    let image = state
        .images()
        .get(viewer(&req), &id)
        .await
        .map_err(image_error)?;
    let value = image
        .properties
        .get(&key)
        .ok_or_else(|| NovaError::not_found("Invalid metadata key"))?;
    Ok(Json(json!({"meta": {key: value}})))
}

pub async fn set_image_metadata_item(
    State(state): State<AppState>,
    req: Req,
    Path((id, key)): Path<(String, String)>,
    body: NovaBody,
) -> Result<Json<Value>, NovaError> {
    let body = body.validate(&metadata_schema("meta", true))?;
    let given = strings(&body["meta"]);
    if !given.contains_key(&key) {
        return Err(NovaError::bad_request("Request body and URI mismatch"));
    }
    replace_properties(&state, &req, &id, true, given.clone()).await?;
    Ok(Json(json!({"meta": given})))
}

pub async fn delete_image_metadata_item(
    State(state): State<AppState>,
    req: Req,
    Path((id, key)): Path<(String, String)>,
) -> Result<StatusCode, NovaError> {
    state
        .images()
        .update(viewer(&req), &id, |image| {
            match image.properties.remove(&key) {
                Some(_) => Ok(()),
                None => Err(ImageError::NotFound("Invalid metadata key".into())),
            }
        })
        .await
        .map_err(|e| match e {
            ImageError::NotFound(m) if m == "Invalid metadata key" => NovaError::not_found(m),
            other => image_error(other),
        })?;
    Ok(StatusCode::NO_CONTENT)
}
