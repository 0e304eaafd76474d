//! `/flavors`: list, show, and the admin operations (create, update,
//! delete), with extra specs and project access beside them.

mod access;
mod extra_specs;
pub(super) mod schema;
mod views;

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use http::StatusCode;
use oxstack_compute::flavors::{FlavorListing, FlavorSortKey, NewFlavor, Viewer};
use oxstack_identity::Rule;
use serde_json::Value;

pub use access::{flavor_action, list_flavor_access};
pub use extra_specs::{
    create_extra_specs, delete_extra_spec, list_extra_specs, show_extra_spec, update_extra_spec,
};
pub use schema::{boolean as boolean_schema, truthy as is_true};

use super::error::NovaError;
use super::pagination::{limit_and_marker, next_links};
use super::request::{NovaBody, Req};
use crate::AppState;
use crate::compute::microversion::mv;
use crate::envelope::envelope;
use crate::oslo::bool_from_string;

fn viewer(req: &Req) -> Viewer<'_> {
    if req.ctx.is_admin() {
        Viewer::Admin {
            project_id: &req.ctx.project_id,
        }
    } else {
        Viewer::Project(&req.ctx.project_id)
    }
}

/// Whether views should carry `extra_specs`.
fn shows_extra_specs(req: &Req) -> bool {
    req.at_least(mv::FLAVOR_EXTRA_SPECS) && req.ctx.allows(Rule::ProjectReader, &req.ctx.project_id)
}

fn listing_from_query(req: &Req) -> Result<FlavorListing, NovaError> {
    req.validate_query(&schema::index_query(
        req.at_least(mv::STRICT_QUERIES),
        req.at_least(mv::STRICT_QUERIES_EVERYWHERE),
    ))?;
    let is_public = match req.param("is_public") {
        None => Some(true),
        Some(v) if v.eq_ignore_ascii_case("none") => None,
        Some(v) => match bool_from_string(v) {
            Some(public) => Some(public),
            None => {
                return Err(NovaError::bad_request(format!(
                    "Invalid is_public filter [{v}]"
                )));
            }
        },
    };
    let int_filter = |name: &str| -> Result<Option<i64>, NovaError> {
        req.param(name)
            .map(|v| {
                v.trim()
                    .parse::<i64>()
                    .map_err(|_| NovaError::bad_request(format!("Invalid {name} filter [{v}]")))
            })
            .transpose()
    };
    let (limit, marker) = limit_and_marker(req)?;
    let sort_key = req.param("sort_key").unwrap_or("flavorid");
    Ok(FlavorListing {
        is_public,
        min_memory_mb: int_filter("minRam")?,
        min_root_gb: int_filter("minDisk")?,
        name_pattern: if req.at_least(mv::STRICT_QUERIES_EVERYWHERE) {
            req.param("name").map(str::to_owned)
        } else {
            None
        },
        sort_key: FlavorSortKey::parse(sort_key).unwrap_or(FlavorSortKey::FlavorId),
        descending: req.param("sort_dir") == Some("desc"),
        limit: Some(limit),
        marker,
    })
}

async fn list(state: &AppState, req: &Req, detail: bool) -> Result<Json<Value>, NovaError> {
    let listing = listing_from_query(req)?;
    let flavors = state.compute().list_flavors(viewer(req), listing).await?;
    let items: Vec<Value> = if detail {
        let specs = if shows_extra_specs(req) {
            let ids: Vec<String> = flavors.iter().map(|f| f.id.clone()).collect();
            Some(state.compute().flavors_extra_specs(&ids).await?)
        } else {
            None
        };
        let empty = BTreeMap::new();
        flavors
            .iter()
            .map(|f| {
                views::detail(
                    req,
                    f,
                    specs.as_ref().map(|s| s.get(&f.id).unwrap_or(&empty)),
                )
            })
            .collect()
    } else {
        flavors.iter().map(|f| views::summary(req, f)).collect()
    };
    let mut body = envelope("flavors", items);
    let collection = if detail { "flavors/detail" } else { "flavors" };
    if let Some(links) = next_links(
        req,
        collection,
        flavors.len(),
        flavors.last().map(|f| f.id.as_str()),
    ) {
        body["flavors_links"] = links;
    }
    Ok(Json(body))
}

/// `GET /flavors`.
pub async fn list_flavors(
    State(state): State<AppState>,
    req: Req,
) -> Result<Json<Value>, NovaError> {
    list(&state, &req, false).await
}

/// `GET /flavors/detail`.
pub async fn list_flavors_detail(
    State(state): State<AppState>,
    req: Req,
) -> Result<Json<Value>, NovaError> {
    list(&state, &req, true).await
}

async fn show(state: &AppState, req: &Req, id: &str) -> Result<Json<Value>, NovaError> {
    req.refuse_unknown_query(&[], mv::STRICT_QUERIES_EVERYWHERE)?;
    let flavor = state.compute().get_flavor(id, viewer(req)).await?;
    let specs = if shows_extra_specs(req) {
        Some(state.compute().flavor_extra_specs(id).await?)
    } else {
        None
    };
    Ok(Json(envelope(
        "flavor",
        views::detail(req, &flavor, specs.as_ref()),
    )))
}

/// `GET /flavors/{id}`.
pub async fn show_flavor(
    State(state): State<AppState>,
    req: Req,
    Path(id): Path<String>,
) -> Result<Json<Value>, NovaError> {
    show(&state, &req, &id).await
}

fn int_field(value: &Value, default: i64) -> i64 {
    match value {
        Value::Number(n) => n.as_i64().unwrap_or(default),
        Value::String(s) => s.trim().parse().unwrap_or(default),
        _ => default,
    }
}

/// `POST /flavors` (admin): 200 with the new flavor.
pub async fn create_flavor(
    State(state): State<AppState>,
    req: Req,
    body: NovaBody,
) -> Result<Json<Value>, NovaError> {
    req.authorize("os_compute_api:os-flavor-manage:create", Rule::Admin)?;
    let body = body.validate(&schema::create(
        req.at_least(mv::FLAVOR_DESCRIPTION),
        req.at_least(mv::STRICT_QUERIES_EVERYWHERE),
    ))?;
    let f = &body["flavor"];
    let id = match &f["id"] {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    let rxtx_factor = match &f["rxtx_factor"] {
        Value::Number(n) => n.as_f64().unwrap_or(1.0),
        Value::String(s) => s.parse().unwrap_or(1.0),
        _ => 1.0,
    };
    let new = NewFlavor {
        id,
        name: f["name"].as_str().unwrap_or_default().to_owned(),
        memory_mb: int_field(&f["ram"], 0),
        vcpus: int_field(&f["vcpus"], 0),
        root_gb: int_field(&f["disk"], 0),
        ephemeral_gb: int_field(&f["OS-FLV-EXT-DATA:ephemeral"], 0),
        swap: int_field(&f["swap"], 0),
        rxtx_factor,
        is_public: f
            .get("os-flavor-access:is_public")
            .is_none_or(schema::truthy),
        description: f["description"].as_str().map(str::to_owned),
    };
    let flavor = state.compute().create_flavor(new).await?;
    let specs = shows_extra_specs(&req).then(BTreeMap::new);
    Ok(Json(envelope(
        "flavor",
        views::detail(&req, &flavor, specs.as_ref()),
    )))
}

/// `PUT /flavors/{id}` (2.55, admin): only the description changes.
pub async fn update_flavor(
    State(state): State<AppState>,
    req: Req,
    Path(id): Path<String>,
    body: NovaBody,
) -> Result<Json<Value>, NovaError> {
    req.authorize("os_compute_api:os-flavor-manage:update", Rule::Admin)?;
    let body = body.validate(&schema::update())?;
    let flavor = state
        .compute()
        .set_flavor_description(&id, body["flavor"]["description"].as_str())
        .await?;
    let specs = if shows_extra_specs(&req) {
        Some(state.compute().flavor_extra_specs(&id).await?)
    } else {
        None
    };
    Ok(Json(envelope(
        "flavor",
        views::detail(&req, &flavor, specs.as_ref()),
    )))
}

/// `DELETE /flavors/{id}` (admin): 202.
pub async fn delete_flavor(
    State(state): State<AppState>,
    req: Req,
    Path(id): Path<String>,
) -> Result<StatusCode, NovaError> {
    req.authorize("os_compute_api:os-flavor-manage:delete", Rule::Admin)?;
    state.compute().delete_flavor(&id).await?;
    Ok(StatusCode::ACCEPTED)
}
