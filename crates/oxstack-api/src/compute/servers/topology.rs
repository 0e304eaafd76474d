//! `/servers/{id}/topology` (`server_topology.py`, 2.78): a server's NUMA
//! nodes and page size. Servers here are given no NUMA topology (flavors'
//! `hw:numa_*` extra specs are not acted on), which Nova answers with no
//! nodes.

use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};

use super::super::error::NovaError;
use super::super::request::Req;
use crate::AppState;

pub async fn show_topology(
    State(state): State<AppState>,
    req: Req,
    Path(id): Path<String>,
) -> Result<Json<Value>, NovaError> {
    super::readable_server(&state, &req, &id, "compute:server:topology:index").await?;
    Ok(Json(json!({"nodes": [], "pagesize_kb": null})))
}
