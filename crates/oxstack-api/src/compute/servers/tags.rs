//! `/servers/{id}/tags` (2.26, `server_tags.py`).

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::{StatusCode, header};
use oxstack_identity::Rule;
use serde_json::{Value, json};

use super::super::error::NovaError;
use super::super::request::{NovaBody, Req};
use super::{schema, views};
use crate::AppState;
use crate::envelope::envelope;
use crate::validation::{self, Source};

pub async fn list_tags(
    State(state): State<AppState>,
    req: Req,
    Path(id): Path<String>,
) -> Result<Json<Value>, NovaError> {
    req.authorize("os_compute_api:os-server-tags:index", Rule::ProjectReader)?;
    let server = state
        .compute()
        .get_server(&views::caller(&req), &id)
        .await?;
    Ok(Json(envelope("tags", server.tags)))
}

pub async fn check_tag(
    State(state): State<AppState>,
    req: Req,
    Path((id, tag)): Path<(String, String)>,
) -> Result<StatusCode, NovaError> {
    req.authorize("os_compute_api:os-server-tags:show", Rule::ProjectReader)?;
    let server = state
        .compute()
        .get_server(&views::caller(&req), &id)
        .await?;
    if server.tags.contains(&tag) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(NovaError::not_found(format!(
            "Server {id} has no tag '{tag}'"
        )))
    }
}

pub async fn replace_tags(
    State(state): State<AppState>,
    req: Req,
    Path(id): Path<String>,
    body: NovaBody,
) -> Result<Json<Value>, NovaError> {
    let body = body.validate(&replace_all_schema())?;
    req.authorize(
        "os_compute_api:os-server-tags:update_all",
        Rule::ProjectMember,
    )?;
    let tags: Vec<String> = body["tags"]
        .as_array()
        .map(|t| {
            t.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let tags = state
        .compute()
        .replace_server_tags(&views::caller(&req), &id, &tags)
        .await?;
    Ok(Json(envelope("tags", tags)))
}

pub async fn add_tag(
    State(state): State<AppState>,
    req: Req,
    Path((id, tag)): Path<(String, String)>,
    body: NovaBody,
) -> Result<Response, NovaError> {
    body.validate(&json!({"type": "null"}))?;
    req.authorize("os_compute_api:os-server-tags:update", Rule::ProjectMember)?;
    if let Err(err) = validation::validate(&schema::tag(), &json!(tag), Source::Body) {
        let detail = validation::jsonschema_message(&schema::tag(), &json!(tag)).unwrap_or(err);
        return Err(NovaError::bad_request(format!(
            "Tag '{tag}' is invalid. It must be a non empty string without characters '/' and ','. Validation error message: {detail}"
        )));
    }
    let created = state
        .compute()
        .add_server_tag(&views::caller(&req), &id, &tag)
        .await?;
    if !created {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let links = req.links("servers", &id);
    let location = format!(
        "{}/tags/{tag}",
        links[0]["href"].as_str().unwrap_or_default()
    );
    Ok((StatusCode::CREATED, [(header::LOCATION, location)]).into_response())
}

pub async fn delete_tag(
    State(state): State<AppState>,
    req: Req,
    Path((id, tag)): Path<(String, String)>,
) -> Result<StatusCode, NovaError> {
    req.authorize("os_compute_api:os-server-tags:delete", Rule::ProjectMember)?;
    state
        .compute()
        .delete_server_tags(&views::caller(&req), &id, Some(&tag))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn delete_tags(
    State(state): State<AppState>,
    req: Req,
    Path(id): Path<String>,
) -> Result<StatusCode, NovaError> {
    req.authorize(
        "os_compute_api:os-server-tags:delete_all",
        Rule::ProjectMember,
    )?;
    state
        .compute()
        .delete_server_tags(&views::caller(&req), &id, None)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT /servers/{id}/tags`: the whole list.
pub(crate) fn replace_all_schema() -> Value {
    json!({"type": "object",
        "properties": {"tags": {"type": "array", "items": schema::tag(), "maxItems": 50}},
        "required": ["tags"], "additionalProperties": false})
}
