//! `/v3/projects`, `/v3/auth/projects` and `/v3/users/{id}/projects`.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use http::{HeaderMap, StatusCode};
use oxstack_identity::{DEFAULT_DOMAIN_ID, NewProject, ProjectPatch};
use oxstack_identity::{ListFilter, Project};
use serde::Deserialize;
use serde_json::{Value, json};

use super::views::{collection_links, project};
use super::{Caller, KeystoneError, KeystoneJson};
use crate::envelope::envelope;
use crate::{AppState, urls};

/// Keystone's list filters: `name`, `domain_id`, `enabled`.
pub fn list_filter(query: &HashMap<String, String>) -> Result<ListFilter, KeystoneError> {
    let enabled = match query.get("enabled").map(|v| v.to_ascii_lowercase()) {
        None => None,
        Some(v) if matches!(v.as_str(), "" | "1" | "true" | "yes" | "on") => Some(true),
        Some(v) if matches!(v.as_str(), "0" | "false" | "no" | "off") => Some(false),
        Some(v) => {
            return Err(KeystoneError::bad_request(format!(
                "Invalid input for field 'enabled': {v} is not a boolean."
            )));
        }
    };
    Ok(ListFilter {
        name: query.get("name").cloned(),
        domain_id: query.get("domain_id").cloned(),
        enabled,
    })
}

fn listing(base: &str, path: &str, rows: &[Project]) -> Json<Value> {
    let items: Vec<Value> = rows.iter().map(|p| project(base, p)).collect();
    Json(json!({"projects": items, "links": collection_links(base, path)}))
}

pub async fn list_projects(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, KeystoneError> {
    caller.require_admin("identity:list_projects")?;
    let rows = state
        .identity()
        .list_projects(&list_filter(&query)?)
        .await?;
    Ok(listing(
        &urls::base_url(&headers, state.config()),
        "projects",
        &rows,
    ))
}

/// The projects the caller's user may scope a token to.
pub async fn list_auth_projects(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
) -> Result<Json<Value>, KeystoneError> {
    let rows = state
        .identity()
        .list_projects_of_user(&caller.0.user_id)
        .await?;
    let rows: Vec<Project> = rows.into_iter().filter(|p| p.enabled).collect();
    Ok(listing(
        &urls::base_url(&headers, state.config()),
        "auth/projects",
        &rows,
    ))
}

pub async fn list_user_projects(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(user_id): Path<String>,
) -> Result<Json<Value>, KeystoneError> {
    if !caller.0.is_admin() && caller.0.user_id != user_id {
        return Err(KeystoneError::forbidden("identity:list_user_projects"));
    }
    state.identity().get_user(&user_id).await?;
    let rows = state.identity().list_projects_of_user(&user_id).await?;
    Ok(listing(
        &urls::base_url(&headers, state.config()),
        &format!("users/{user_id}/projects"),
        &rows,
    ))
}

/// Admins, and members of the project itself, may read it.
pub async fn show_project(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, KeystoneError> {
    if !caller.0.is_admin() && caller.0.project_id != id {
        return Err(KeystoneError::forbidden("identity:get_project"));
    }
    let row = state.identity().get_project(&id).await?;
    Ok(Json(envelope(
        "project",
        project(&urls::base_url(&headers, state.config()), &row),
    )))
}

#[derive(Deserialize)]
pub struct ProjectBody {
    project: ProjectFields,
}

#[derive(Deserialize)]
struct ProjectFields {
    name: Option<String>,
    domain_id: Option<String>,
    description: Option<String>,
    enabled: Option<bool>,
}

pub async fn create_project(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    KeystoneJson(body): KeystoneJson<ProjectBody>,
) -> Result<(StatusCode, Json<Value>), KeystoneError> {
    caller.require_admin("identity:create_project")?;
    let f = body.project;
    let name = f.name.ok_or_else(|| {
        KeystoneError::bad_request(
            "Invalid input for field 'project': 'name' is a required property",
        )
    })?;
    let row = state
        .identity()
        .create_project(NewProject {
            name,
            domain_id: f.domain_id.unwrap_or_else(|| DEFAULT_DOMAIN_ID.into()),
            description: f.description.unwrap_or_default(),
            enabled: f.enabled.unwrap_or(true),
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(envelope(
            "project",
            project(&urls::base_url(&headers, state.config()), &row),
        )),
    ))
}

pub async fn update_project(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    KeystoneJson(body): KeystoneJson<ProjectBody>,
) -> Result<Json<Value>, KeystoneError> {
    caller.require_admin("identity:update_project")?;
    let f = body.project;
    if f.domain_id.is_some() {
        return Err(KeystoneError::bad_request(
            "Update of `domain_id` is not allowed.",
        ));
    }
    let row = state
        .identity()
        .update_project(
            &id,
            ProjectPatch {
                name: f.name,
                description: f.description,
                enabled: f.enabled,
            },
        )
        .await?;
    Ok(Json(envelope(
        "project",
        project(&urls::base_url(&headers, state.config()), &row),
    )))
}

pub async fn delete_project(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, KeystoneError> {
    caller.require_admin("identity:delete_project")?;
    state.identity().delete_project(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}
