//! `/os-aggregates` (`nova/api/openstack/compute/aggregates.py`,
//! `schemas/aggregates.py`): host aggregates for admins, their hosts and
//! metadata (`add_host`, `remove_host`, `set_metadata`), `uuid` from 2.41
//! and image pre-caching from 2.81. Every answer is 200, as in Nova (its
//! code notes that some should not be).

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use oxstack_compute::aggregates::Aggregate;
use oxstack_identity::Rule;
use serde_json::{Map, Value, json};

use super::error::NovaError;
use super::images::viewer;
use super::request::{NovaBody, Req};
use super::servers::views::naive_time;
use crate::AppState;
use crate::compute::microversion::mv;

fn zone_schema() -> Value {
    json!({"oneOf": [{"type": "string", "minLength": 1, "maxLength": 255, "format": "az_name"},
                     {"type": "null"}]})
}

fn create_schema() -> Value {
    let name = json!({"type": "string", "minLength": 1, "maxLength": 255, "format": "name"});
    json!({
        "type": "object",
        "properties": {"aggregate": {"type": "object",
            "properties": {"name": name, "availability_zone": zone_schema()},
            "required": ["name"], "additionalProperties": false}},
        "required": ["aggregate"],
        "additionalProperties": false,
    })
}

fn update_schema() -> Value {
    // Nova lets an update's name have spaces around it (and strips them).
    let name = json!({"type": "string", "minLength": 1, "maxLength": 255,
                      "format": "name_with_leading_trailing_spaces"});
    json!({
        "type": "object",
        "properties": {"aggregate": {"type": "object",
            "properties": {"name": name, "availability_zone": zone_schema()},
            "anyOf": [{"required": ["name"]}, {"required": ["availability_zone"]}],
            "additionalProperties": false}},
        "required": ["aggregate"],
        "additionalProperties": false,
    })
}

fn host_schema(action: &str) -> Value {
    let host = json!({"type": "string", "minLength": 1, "maxLength": 255,
                      "pattern": "^[a-zA-Z0-9-._]*$"});
    json!({
        "type": "object",
        "properties": {action: {"type": "object", "properties": {"host": host},
                                "required": ["host"], "additionalProperties": false}},
        "required": [action],
        "additionalProperties": false,
    })
}

fn metadata_schema() -> Value {
    let metadata = json!({"type": "object", "patternProperties": {
        "^[a-zA-Z0-9-_:. ]{1,255}$": {"type": ["string", "null"], "maxLength": 255}},
        "additionalProperties": false});
    json!({
        "type": "object",
        "properties": {"set_metadata": {"type": "object", "properties": {"metadata": metadata},
                                        "required": ["metadata"], "additionalProperties": false}},
        "required": ["set_metadata"],
        "additionalProperties": false,
    })
}

fn images_schema() -> Value {
    json!({
        "type": "object",
        "properties": {"cache": {"type": "array", "minItems": 1, "items": {"type": "object",
            "properties": {"id": {"type": "string", "format": "uuid"}},
            "required": ["id"], "additionalProperties": false}}},
        "required": ["cache"],
        "additionalProperties": false,
    })
}

/// An aggregate as Nova marshals it; creating one answers without its
/// (empty) hosts and metadata.
fn view(req: &Req, a: &Aggregate, created: bool) -> Value {
    let mut view = Map::new();
    view.insert("id".into(), json!(a.id));
    view.insert("name".into(), json!(a.name));
    view.insert("availability_zone".into(), json!(a.availability_zone()));
    if !created {
        view.insert("hosts".into(), json!(a.hosts));
        view.insert("metadata".into(), json!(a.metadata));
    }
    view.insert("created_at".into(), naive_time(Some(a.created_at)));
    view.insert("updated_at".into(), naive_time(a.updated_at));
    view.insert("deleted_at".into(), Value::Null);
    view.insert("deleted".into(), json!(false));
    if req.at_least(mv::AGGREGATE_UUIDS) {
        view.insert("uuid".into(), json!(a.uuid));
    }
    json!({"aggregate": view})
}

pub async fn list_aggregates(
    State(state): State<AppState>,
    req: Req,
) -> Result<Json<Value>, NovaError> {
    req.authorize("os_compute_api:os-aggregates:index", Rule::Admin)?;
    req.refuse_unknown_query(&[], mv::STRICT_QUERIES_EVERYWHERE)?;
    let all = state.compute().list_aggregates().await?;
    let views: Vec<Value> = all
        .iter()
        .map(|a| view(&req, a, false)["aggregate"].clone())
        .collect();
    Ok(Json(json!({"aggregates": views})))
}

pub async fn create_aggregate(
    State(state): State<AppState>,
    req: Req,
    body: NovaBody,
) -> Result<Json<Value>, NovaError> {
    let params = &body.validate(&create_schema())?["aggregate"];
    req.authorize("os_compute_api:os-aggregates:create", Rule::Admin)?;
    let name = params["name"].as_str().unwrap_or_default().trim();
    let zone = params
        .get("availability_zone")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|z| !z.is_empty());
    let made = state.compute().create_aggregate(name, zone).await?;
    Ok(Json(view(&req, &made, true)))
}

pub async fn show_aggregate(
    State(state): State<AppState>,
    req: Req,
    Path(id): Path<String>,
) -> Result<Json<Value>, NovaError> {
    req.authorize("os_compute_api:os-aggregates:show", Rule::Admin)?;
    req.refuse_unknown_query(&[], mv::STRICT_QUERIES_EVERYWHERE)?;
    let found = state.compute().get_aggregate(&id).await?;
    Ok(Json(view(&req, &found, false)))
}

pub async fn update_aggregate(
    State(state): State<AppState>,
    req: Req,
    Path(id): Path<String>,
    body: NovaBody,
) -> Result<Json<Value>, NovaError> {
    let params = &body.validate(&update_schema())?["aggregate"];
    req.authorize("os_compute_api:os-aggregates:update", Rule::Admin)?;
    let name = params.get("name").and_then(Value::as_str).map(str::trim);
    let zone = params
        .get("availability_zone")
        .map(|z| z.as_str().map(str::trim).filter(|z| !z.is_empty()));
    let updated = state.compute().update_aggregate(&id, name, zone).await?;
    Ok(Json(view(&req, &updated, false)))
}

pub async fn delete_aggregate(
    State(state): State<AppState>,
    req: Req,
    Path(id): Path<String>,
) -> Result<StatusCode, NovaError> {
    req.authorize("os_compute_api:os-aggregates:delete", Rule::Admin)?;
    state.compute().delete_aggregate(&id).await?;
    Ok(StatusCode::OK)
}

/// `POST /os-aggregates/{id}/action`: `add_host`, `remove_host` or
/// `set_metadata`.
pub async fn aggregate_action(
    State(state): State<AppState>,
    req: Req,
    Path(id): Path<String>,
    body: NovaBody,
) -> Result<Json<Value>, NovaError> {
    let compute = state.compute();
    let action = body.action()?;
    let changed = match action {
        "add_host" | "remove_host" => {
            let params = &body.validate(&host_schema(action))?[action];
            req.authorize(
                &format!("os_compute_api:os-aggregates:{action}"),
                Rule::Admin,
            )?;
            let host = params["host"].as_str().unwrap_or_default();
            if action == "add_host" {
                compute.add_aggregate_host(&id, host).await?
            } else {
                compute.remove_aggregate_host(&id, host).await?
            }
        }
        "set_metadata" => {
            let params = &body.validate(&metadata_schema())?["set_metadata"];
            req.authorize("os_compute_api:os-aggregates:set_metadata", Rule::Admin)?;
            let changes: BTreeMap<String, Option<String>> = params["metadata"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.as_str().map(str::to_owned)))
                .collect();
            compute.set_aggregate_metadata(&id, changes).await?
        }
        other => {
            return Err(NovaError::bad_request(format!(
                "There is no such action: {other}"
            )));
        }
    };
    Ok(Json(view(&req, &changed, false)))
}

/// `POST /os-aggregates/{id}/images` (2.81): asks the aggregate's hosts to
/// cache images. The images must exist; the fake hypervisor has no cache
/// to fill, so the request is accepted and done.
pub async fn cache_images(
    State(state): State<AppState>,
    req: Req,
    Path(id): Path<String>,
    body: NovaBody,
) -> Result<Response, NovaError> {
    let params = body.validate(&images_schema())?;
    req.authorize("compute:aggregates:images", Rule::Admin)?;
    state.compute().get_aggregate(&id).await?;
    let ids: Vec<&str> = params["cache"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["id"].as_str())
        .collect();
    let mut unique = ids.clone();
    unique.sort_unstable();
    unique.dedup();
    if unique.len() != ids.len() {
        return Err(NovaError::bad_request("Duplicate images in request"));
    }
    for image in ids {
        if state.images().get(viewer(&req), image).await.is_err() {
            return Err(NovaError::bad_request(format!(
                "Image {image} could not be found."
            )));
        }
    }
    Ok(StatusCode::ACCEPTED.into_response())
}
