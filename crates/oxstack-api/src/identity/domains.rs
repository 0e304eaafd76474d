//! `/v3/domains`: read-only; the `Default` domain always exists.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use http::HeaderMap;
use serde_json::{Value, json};

use super::views::{collection_links, domain};
use super::{Caller, KeystoneError};
use crate::envelope::envelope;
use crate::{AppState, urls};

pub async fn list_domains(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, KeystoneError> {
    caller.require_admin("identity:list_domains")?;
    let base = urls::base_url(&headers, state.config());
    let rows = state
        .identity()
        .list_domains(query.get("name").map(String::as_str))
        .await?;
    let items: Vec<Value> = rows.iter().map(|d| domain(&base, d)).collect();
    Ok(Json(
        json!({"domains": items, "links": collection_links(&base, "domains")}),
    ))
}

/// Any authenticated caller may read a domain (clients look up `default`).
pub async fn show_domain(
    State(state): State<AppState>,
    _caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, KeystoneError> {
    let base = urls::base_url(&headers, state.config());
    let row = state.identity().get_domain(&id).await?;
    Ok(Json(envelope("domain", domain(&base, &row))))
}
