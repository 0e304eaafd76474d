//! `/flavors/{id}/os-extra_specs`: reading is for project readers, writing
//! for admins.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use oxstack_identity::Rule;
use serde_json::{Map, Value, json};

use super::{schema, viewer};
use crate::AppState;
use crate::compute::error::NovaError;
use crate::compute::microversion::mv;
use crate::compute::request::{NovaBody, Req};

/// Spec values may be given as numbers or booleans; they are stored as text.
fn as_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Bool(b) => {
            if *b {
                "True".into()
            } else {
                "False".into()
            }
        }
        other => other.to_string(),
    }
}

fn specs_of(map: &Map<String, Value>) -> BTreeMap<String, String> {
    map.iter().map(|(k, v)| (k.clone(), as_text(v))).collect()
}

pub async fn list_extra_specs(
    State(state): State<AppState>,
    req: Req,
    Path(id): Path<String>,
) -> Result<Json<Value>, NovaError> {
    req.authorize(
        "os_compute_api:os-flavor-extra-specs:index",
        Rule::ProjectReader,
    )?;
    req.refuse_unknown_query(&[], mv::STRICT_QUERIES_EVERYWHERE)?;
    state.compute().get_flavor(&id, viewer(&req)).await?;
    Ok(Json(
        json!({"extra_specs": state.compute().flavor_extra_specs(&id).await?}),
    ))
}

pub async fn show_extra_spec(
    State(state): State<AppState>,
    req: Req,
    Path((id, key)): Path<(String, String)>,
) -> Result<Json<Value>, NovaError> {
    req.authorize(
        "os_compute_api:os-flavor-extra-specs:show",
        Rule::ProjectReader,
    )?;
    req.refuse_unknown_query(&[], mv::STRICT_QUERIES_EVERYWHERE)?;
    state.compute().get_flavor(&id, viewer(&req)).await?;
    let value = state.compute().flavor_extra_spec(&id, &key).await?;
    Ok(Json(json!({ key: value })))
}

pub async fn create_extra_specs(
    State(state): State<AppState>,
    req: Req,
    Path(id): Path<String>,
    body: NovaBody,
) -> Result<Json<Value>, NovaError> {
    req.authorize("os_compute_api:os-flavor-extra-specs:create", Rule::Admin)?;
    let body = body.validate(&schema::extra_specs_create())?;
    state.compute().get_flavor(&id, viewer(&req)).await?;
    let specs = body["extra_specs"]
        .as_object()
        .map(specs_of)
        .unwrap_or_default();
    state.compute().set_flavor_extra_specs(&id, &specs).await?;
    Ok(Json(json!({"extra_specs": specs})))
}

pub async fn update_extra_spec(
    State(state): State<AppState>,
    req: Req,
    Path((id, key)): Path<(String, String)>,
    body: NovaBody,
) -> Result<Json<Value>, NovaError> {
    req.authorize("os_compute_api:os-flavor-extra-specs:update", Rule::Admin)?;
    let body = body.validate(&schema::extra_spec_update())?;
    let given = body.as_object().cloned().unwrap_or_default();
    if !given.contains_key(&key) {
        return Err(NovaError::bad_request("Request body and URI mismatch"));
    }
    state.compute().get_flavor(&id, viewer(&req)).await?;
    let specs = specs_of(&given);
    state.compute().set_flavor_extra_specs(&id, &specs).await?;
    Ok(Json(json!(specs)))
}

/// 200 with an empty body, as Nova answers.
pub async fn delete_extra_spec(
    State(state): State<AppState>,
    req: Req,
    Path((id, key)): Path<(String, String)>,
) -> Result<(), NovaError> {
    req.authorize("os_compute_api:os-flavor-extra-specs:delete", Rule::Admin)?;
    state.compute().get_flavor(&id, viewer(&req)).await?;
    state.compute().delete_flavor_extra_spec(&id, &key).await?;
    Ok(())
}
