//! `POST /_oxstack/reset[?project=]`: the cloud back to its first start,
//! for every project or one (between the tests of a suite).

use std::time::Instant;

use axum::Json;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use oxstack_identity::IdentityReset;
use serde::Deserialize;
use serde_json::json;

use super::{ControlAdmin, error, refused};
use crate::AppState;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResetQuery {
    project: Option<String>,
}

/// Servers, images and (for every project) identity, flavors and the rest
/// back to what the cloud had at its first start; a reset of every
/// project also clears the fault rules.
pub(super) async fn reset(
    State(state): State<AppState>,
    _admin: ControlAdmin,
    Query(query): Query<ResetQuery>,
) -> Response {
    let started = Instant::now();
    let project = query.project.as_deref();
    // Without Keystone (noauth), any project id names a project.
    if let Some(id) = project
        && state.config().auth == crate::AuthMode::Keystone
        && state.identity().get_project(id).await.is_err()
    {
        return error(
            StatusCode::NOT_FOUND,
            format!("Could not find project: {id}."),
        );
    }
    let servers = match state.compute().reset(project).await {
        Ok(n) => n,
        Err(e) => return refused(&e),
    };
    let outcome = async {
        let admin_project = state
            .identity()
            .admin_project_id()
            .await
            .map_err(|e| e.to_string())?;
        state
            .networking()
            .reset(project)
            .await
            .map_err(|e| e.to_string())?;
        state
            .volumes()
            .reset(project)
            .await
            .map_err(|e| e.to_string())?;
        let images = state
            .images()
            .reset(project, &admin_project)
            .await
            .map_err(|e| e.to_string())?;
        let identity = match project {
            Some(_) => IdentityReset::default(),
            None => state.identity().reset().await.map_err(|e| e.to_string())?,
        };
        Ok::<_, String>((images, identity))
    };
    let (images, identity) = match outcome.await {
        Ok(done) => done,
        Err(e) => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("The reset failed: {e}"),
            );
        }
    };
    if project.is_none() {
        state.control().faults.replace(Vec::new());
    }
    Json(json!({"reset": {
        "project_id": project,
        "servers": servers,
        "images": images,
        "users": identity.users,
        "projects": identity.projects,
        "roles": identity.roles,
        "grants": identity.grants,
        "seconds": started.elapsed().as_secs_f64(),
    }}))
    .into_response()
}
