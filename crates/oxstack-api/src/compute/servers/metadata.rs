//! `/servers/{id}/metadata` (`server_metadata.py`): read, merge, replace,
//! and single items.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use http::StatusCode;
use oxstack_identity::Rule;
use serde_json::{Value, json};

use super::super::error::NovaError;
use super::super::request::{NovaBody, Req};
use super::{schema, views};
use crate::AppState;

fn items(value: &Value) -> BTreeMap<String, String> {
    value
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// The body of a metadata write: `{key: {...}}`, with exactly one item
/// for a single key.
pub(crate) fn body_schema(key: &str, exactly_one: bool) -> Value {
    let mut inner = schema::metadata();
    if exactly_one {
        inner["minProperties"] = json!(1);
        inner["maxProperties"] = json!(1);
    }
    json!({"type": "object", "properties": {key: inner}, "required": [key], "additionalProperties": false})
}

pub async fn list_metadata(
    State(state): State<AppState>,
    req: Req,
    Path(id): Path<String>,
) -> Result<Json<Value>, NovaError> {
    let server =
        super::readable_server(&state, &req, &id, "os_compute_api:server-metadata:index").await?;
    Ok(Json(json!({"metadata": server.metadata})))
}

async fn write(
    state: &AppState,
    req: &Req,
    id: &str,
    body: &NovaBody,
    replace: bool,
) -> Result<Json<Value>, NovaError> {
    let body = body.validate(&body_schema("metadata", false))?;
    let policy = if replace {
        "os_compute_api:server-metadata:update_all"
    } else {
        "os_compute_api:server-metadata:create"
    };
    req.authorize(policy, Rule::ProjectMember)?;
    let metadata = state
        .compute()
        .write_server_metadata(&views::caller(req), id, &items(&body["metadata"]), replace)
        .await?;
    Ok(Json(json!({"metadata": metadata})))
}

pub async fn create_metadata(
    State(state): State<AppState>,
    req: Req,
    Path(id): Path<String>,
    body: NovaBody,
) -> Result<Json<Value>, NovaError> {
    write(&state, &req, &id, &body, false).await
}

pub async fn replace_metadata(
    State(state): State<AppState>,
    req: Req,
    Path(id): Path<String>,
    body: NovaBody,
) -> Result<Json<Value>, NovaError> {
    write(&state, &req, &id, &body, true).await
}

pub async fn show_metadata_item(
    State(state): State<AppState>,
    req: Req,
    Path((id, key)): Path<(String, String)>,
) -> Result<Json<Value>, NovaError> {
    let server =
        super::readable_server(&state, &req, &id, "os_compute_api:server-metadata:show").await?;
    match server.metadata.get(&key) {
        Some(value) => Ok(Json(json!({"meta": {key: value}}))),
        None => Err(NovaError::not_found("Metadata item was not found")),
    }
}

pub async fn set_metadata_item(
    State(state): State<AppState>,
    req: Req,
    Path((id, key)): Path<(String, String)>,
    body: NovaBody,
) -> Result<Json<Value>, NovaError> {
    let body = body.validate(&body_schema("meta", true))?;
    req.authorize("os_compute_api:server-metadata:update", Rule::ProjectMember)?;
    let meta = items(&body["meta"]);
    if !meta.contains_key(&key) {
        return Err(NovaError::bad_request("Request body and URI mismatch"));
    }
    state
        .compute()
        .write_server_metadata(&views::caller(&req), &id, &meta, false)
        .await?;
    Ok(Json(json!({"meta": meta})))
}

pub async fn delete_metadata_item(
    State(state): State<AppState>,
    req: Req,
    Path((id, key)): Path<(String, String)>,
) -> Result<StatusCode, NovaError> {
    req.authorize("os_compute_api:server-metadata:delete", Rule::ProjectMember)?;
    state
        .compute()
        .delete_server_metadata(&views::caller(&req), &id, &key)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
