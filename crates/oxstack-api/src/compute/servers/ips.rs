//! `/servers/{id}/ips`: a server's addresses by network label, in the short
//! `{version, addr}` form (`ips.py`).

use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};

use super::super::error::NovaError;
use super::super::request::Req;
use super::views;
use crate::AppState;
use crate::envelope::envelope;

pub async fn list_ips(
    State(state): State<AppState>,
    req: Req,
    Path(id): Path<String>,
) -> Result<Json<Value>, NovaError> {
    let server = super::readable_server(&state, &req, &id, "os_compute_api:ips:index").await?;
    Ok(Json(envelope(
        "addresses",
        views::addresses(&server, false),
    )))
}

pub async fn show_ips(
    State(state): State<AppState>,
    req: Req,
    Path((id, network)): Path<(String, String)>,
) -> Result<Json<Value>, NovaError> {
    let server = super::readable_server(&state, &req, &id, "os_compute_api:ips:show").await?;
    match views::addresses(&server, false).get(&network) {
        Some(items) => Ok(Json(json!({ network: items }))),
        None => Err(NovaError::not_found(
            "Instance is not a member of specified network",
        )),
    }
}
