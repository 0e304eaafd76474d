//! `/servers/{id}/os-server-password` (`server_password.py`): the password
//! a server's guest posted, encrypted with its key pair (empty when none
//! was), and clearing it.

use axum::Json;
use axum::extract::{Path, State};
use http::StatusCode;
use oxstack_identity::Rule;
use serde_json::{Value, json};

use super::super::error::NovaError;
use super::super::request::Req;
use super::views;
use crate::AppState;

pub async fn show_password(
    State(state): State<AppState>,
    req: Req,
    Path(id): Path<String>,
) -> Result<Json<Value>, NovaError> {
    let server =
        super::readable_server(&state, &req, &id, "os_compute_api:os-server-password:show").await?;
    let password = state.compute().server_password(&server).await?;
    Ok(Json(json!({"password": password})))
}

pub async fn clear_password(
    State(state): State<AppState>,
    req: Req,
    Path(id): Path<String>,
) -> Result<StatusCode, NovaError> {
    let compute = state.compute();
    let server = compute.get_server(&views::caller(&req), &id).await?;
    req.ctx.authorize(
        "os_compute_api:os-server-password:clear",
        Rule::ProjectMember,
        &server.project_id,
    )?;
    compute.clear_server_password(&server).await?;
    Ok(StatusCode::NO_CONTENT)
}
