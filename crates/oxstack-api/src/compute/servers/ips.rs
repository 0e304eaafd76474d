//! `/servers/{id}/ips`: a server's addresses by network label, in the short
//! `{version, addr}` form (`ips.py`).

use axum::Json;
use axum::extract::{Path, State};
use oxstack_identity::Rule;
use serde_json::{Value, json};

use super::super::error::NovaError;
use super::super::request::Req;
use super::views;
use crate::AppState;

pub async fn list_ips(
    State(state): State<AppState>,
    req: Req,
    Path(id): Path<String>,
) -> Result<Json<Value>, NovaError> {
    req.refuse_unknown_query(&[], 102)?;
    req.authorize("os_compute_api:ips:index", Rule::ProjectReader)?;
    let server = state
        .compute()
        .get_server(&views::caller(&req), &id)
        .await?;
    let label = &state.compute().settings().network.name;
    Ok(Json(
        json!({"addresses": views::addresses(&server, label, false)}),
    ))
}

pub async fn show_ips(
    State(state): State<AppState>,
    req: Req,
    Path((id, network)): Path<(String, String)>,
) -> Result<Json<Value>, NovaError> {
    req.refuse_unknown_query(&[], 102)?;
    req.authorize("os_compute_api:ips:show", Rule::ProjectReader)?;
    let server = state
        .compute()
        .get_server(&views::caller(&req), &id)
        .await?;
    let label = &state.compute().settings().network.name;
    match views::addresses(&server, label, false).get(&network) {
        Some(items) => Ok(Json(json!({ network: items }))),
        None => Err(NovaError::not_found(
            "Instance is not a member of specified network",
        )),
    }
}
