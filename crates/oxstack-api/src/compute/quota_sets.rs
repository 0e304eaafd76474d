//! `/os-quota-sets/{tenant_id}`: show, detail (with usage), defaults, and
//! the admin's update and reset. Keys follow the microversion: network
//! quotas until 2.35, injected-file quotas until 2.56.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use http::StatusCode;
use oxstack_compute::quotas::{Limits, Resource, Usage};
use oxstack_identity::Rule;
use serde_json::{Map, Value, json};

use super::error::NovaError;
use super::request::{NovaBody, Req};
use crate::AppState;

const NETWORK_QUOTAS: [&str; 4] = [
    "fixed_ips",
    "floating_ips",
    "security_group_rules",
    "security_groups",
];

/// The resources shown at the request's microversion, in Nova's order.
fn resources(req: &Req) -> Vec<Resource> {
    let mut out = vec![Resource::Cores];
    if !req.at_least(57) {
        out.extend([
            Resource::InjectedFileContentBytes,
            Resource::InjectedFilePathBytes,
            Resource::InjectedFiles,
        ]);
    }
    out.extend([
        Resource::Instances,
        Resource::KeyPairs,
        Resource::MetadataItems,
        Resource::Ram,
        Resource::ServerGroupMembers,
        Resource::ServerGroups,
    ]);
    out
}

fn quota_set(req: &Req, id: Option<&str>, limits: &Limits, usage: Option<&Usage>) -> Value {
    let mut set = Map::new();
    if let Some(id) = id {
        set.insert("id".into(), json!(id));
    }
    for r in resources(req) {
        let limit = limits.get(&r).copied().unwrap_or(-1);
        let value = match usage {
            Some(u) => json!({"in_use": u.of(r), "limit": limit, "reserved": 0}),
            None => json!(limit),
        };
        set.insert(r.name().to_owned(), value);
    }
    if !req.at_least(36) {
        for name in NETWORK_QUOTAS {
            let value = if usage.is_some() {
                json!({"in_use": 0, "limit": -1, "reserved": 0})
            } else {
                json!(-1)
            };
            set.insert(name.to_owned(), value);
        }
    }
    json!({ "quota_set": set })
}

fn refuse_user_quotas(req: &Req) -> Result<(), NovaError> {
    req.refuse_unknown_query(&["user_id"], 75)?;
    if req.param("user_id").is_some() {
        return Err(NovaError::bad_request(
            "Per-user quotas are not supported by this cloud; omit user_id.",
        ));
    }
    Ok(())
}

pub async fn show_quota_set(
    State(state): State<AppState>,
    req: Req,
    Path(project): Path<String>,
) -> Result<Json<Value>, NovaError> {
    req.ctx.authorize(
        "os_compute_api:os-quota-sets:show",
        Rule::ProjectReader,
        &project,
    )?;
    refuse_user_quotas(&req)?;
    let limits = state.compute().quota_limits(&project).await?;
    Ok(Json(quota_set(&req, Some(&project), &limits, None)))
}

pub async fn show_quota_set_detail(
    State(state): State<AppState>,
    req: Req,
    Path(project): Path<String>,
) -> Result<Json<Value>, NovaError> {
    req.ctx.authorize(
        "os_compute_api:os-quota-sets:detail",
        Rule::ProjectReader,
        &project,
    )?;
    refuse_user_quotas(&req)?;
    let limits = state.compute().quota_limits(&project).await?;
    let usage = state.compute().quota_usage(&project).await?;
    Ok(Json(quota_set(&req, Some(&project), &limits, Some(&usage))))
}

pub async fn show_quota_defaults(
    State(state): State<AppState>,
    req: Req,
    Path(project): Path<String>,
) -> Result<Json<Value>, NovaError> {
    req.refuse_unknown_query(&[], 75)?;
    let defaults = state.compute().default_limits();
    Ok(Json(quota_set(&req, Some(&project), &defaults, None)))
}

fn update_schema(req: &Req) -> Value {
    let quota = json!({"type": ["integer", "string"], "pattern": "^-?[0-9]+$", "minimum": -1, "maximum": 2147483647});
    let mut props = Map::new();
    for r in resources(req) {
        props.insert(r.name().to_owned(), quota.clone());
    }
    if !req.at_least(36) {
        for name in NETWORK_QUOTAS {
            props.insert(name.to_owned(), quota.clone());
        }
    }
    props.insert("force".into(), super::flavors::boolean_schema());
    json!({
        "type": "object",
        "properties": {"quota_set": {"type": "object", "properties": props, "additionalProperties": false}},
        "required": ["quota_set"],
        "additionalProperties": false,
    })
}

pub async fn update_quota_set(
    State(state): State<AppState>,
    req: Req,
    Path(project): Path<String>,
    body: NovaBody,
) -> Result<Json<Value>, NovaError> {
    req.authorize("os_compute_api:os-quota-sets:update", Rule::Admin)?;
    refuse_user_quotas(&req)?;
    let body = body.validate(&update_schema(&req))?;
    let mut changes = BTreeMap::new();
    let mut force = false;
    for (key, value) in body["quota_set"].as_object().into_iter().flatten() {
        if key == "force" {
            force = super::flavors::is_true(value);
        } else if let Some(resource) = Resource::parse(key) {
            let limit = match value {
                Value::Number(n) => n.as_i64(),
                Value::String(s) => s.parse().ok(),
                _ => None,
            };
            changes.insert(resource, limit.unwrap_or(-1));
        }
    }
    let limits = state
        .compute()
        .set_quota_limits(&project, &changes, force)
        .await?;
    Ok(Json(quota_set(&req, None, &limits, None)))
}

pub async fn delete_quota_set(
    State(state): State<AppState>,
    req: Req,
    Path(project): Path<String>,
) -> Result<StatusCode, NovaError> {
    req.authorize("os_compute_api:os-quota-sets:delete", Rule::Admin)?;
    refuse_user_quotas(&req)?;
    state.compute().reset_quota_limits(&project).await?;
    Ok(StatusCode::ACCEPTED)
}
