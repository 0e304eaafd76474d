//! `/os-quota-sets/{tenant_id}` (show, detail with usage, defaults, and the
//! admin's update and reset) and `/os-quota-class-sets/{class}` (admin).
//! Keys follow the microversion: network quotas (stored and shown, never
//! counted) until 2.35 for quota sets and 2.49 for classes, server-group
//! quotas on classes from 2.50, injected-file quotas until 2.56.

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
use crate::compute::microversion::{Microversion, mv};
use crate::envelope::envelope;

/// Where the key set of a quota document changes.
#[derive(Clone, Copy)]
struct Era {
    /// Network quotas are shown before this version.
    networks_gone: Microversion,
    /// Server-group quotas are shown from this version.
    server_groups_from: Microversion,
}

const QUOTA_SETS: Era = Era {
    networks_gone: mv::NO_PROXIES,
    server_groups_from: mv::BASE,
};
const QUOTA_CLASSES: Era = Era {
    networks_gone: mv::QUOTA_CLASS_SERVER_GROUPS,
    server_groups_from: mv::QUOTA_CLASS_SERVER_GROUPS,
};

/// The resources shown at the request's microversion, in Nova's order.
fn resources(req: &Req, era: Era) -> Vec<Resource> {
    let mut out = vec![Resource::Cores];
    if !req.at_least(mv::REBUILD_USER_DATA) {
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
    ]);
    if req.at_least(era.server_groups_from) {
        out.extend([Resource::ServerGroupMembers, Resource::ServerGroups]);
    }
    if !req.at_least(era.networks_gone) {
        out.extend(Resource::NETWORK);
    }
    out
}

fn quota_set(req: &Req, id: Option<&str>, limits: &Limits, usage: Option<&Usage>) -> Value {
    envelope("quota_set", render(req, QUOTA_SETS, id, limits, usage))
}

fn render(
    req: &Req,
    era: Era,
    id: Option<&str>,
    limits: &Limits,
    usage: Option<&Usage>,
) -> Map<String, Value> {
    let mut set = Map::new();
    if let Some(id) = id {
        set.insert("id".into(), json!(id));
    }
    for r in resources(req, era) {
        let limit = limits.get(&r).copied().unwrap_or(-1);
        let value = match usage {
            Some(u) => json!({"in_use": u.of(r), "limit": limit, "reserved": 0}),
            None => json!(limit),
        };
        set.insert(r.name().to_owned(), value);
    }
    set
}

/// The user a request names (`?user_id=`), after Nova's query schema
/// (only `user_id`, strictly from 2.75). Nova reads the first value, but
/// the last for `detail`.
fn user_of(req: &Req, last: bool) -> Result<Option<String>, NovaError> {
    req.refuse_unknown_query(&["user_id"], mv::STRICT_QUERIES)?;
    let mut named = req.query.iter().filter(|(k, _)| k == "user_id");
    let value = if last {
        named.next_back()
    } else {
        named.next()
    };
    Ok(value.map(|(_, v)| v.clone()).filter(|v| !v.is_empty()))
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
    let compute = state.compute();
    let limits = match user_of(&req, false)? {
        Some(user) => compute.user_quota_limits(&project, &user).await?,
        None => compute.quota_limits(&project).await?,
    };
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
    let compute = state.compute();
    let (limits, usage) = match user_of(&req, true)? {
        Some(user) => (
            compute.user_quota_limits(&project, &user).await?,
            compute.user_quota_usage(&project, &user).await?,
        ),
        None => (
            compute.quota_limits(&project).await?,
            compute.quota_usage(&project).await?,
        ),
    };
    Ok(Json(quota_set(&req, Some(&project), &limits, Some(&usage))))
}

pub async fn show_quota_defaults(
    State(state): State<AppState>,
    req: Req,
    Path(project): Path<String>,
) -> Result<Json<Value>, NovaError> {
    req.refuse_unknown_query(&[], mv::STRICT_QUERIES)?;
    let defaults = state.compute().default_limits().await?;
    Ok(Json(quota_set(&req, Some(&project), &defaults, None)))
}

/// The update body of a quota set (`wrapper` `quota_set`, with `force`) or
/// a quota class (`quota_class_set`).
fn update_schema(req: &Req, era: Era, wrapper: &str) -> Value {
    let quota = json!({"type": ["integer", "string"], "pattern": "^-?[0-9]+$", "minimum": -1, "maximum": 2147483647});
    let mut props = Map::new();
    for r in resources(req, era) {
        props.insert(r.name().to_owned(), quota.clone());
    }
    if wrapper == "quota_set" {
        props.insert("force".into(), super::flavors::boolean_schema());
    }
    json!({
        "type": "object",
        "properties": {wrapper: {"type": "object", "properties": props, "additionalProperties": false}},
        "required": [wrapper],
        "additionalProperties": false,
    })
}

/// The resource limits of an update body.
fn limits_of(body: &Value) -> Limits {
    let mut changes = BTreeMap::new();
    for (key, value) in body.as_object().into_iter().flatten() {
        if let Some(resource) = Resource::parse(key) {
            let limit = match value {
                Value::Number(n) => n.as_i64(),
                Value::String(s) => s.parse().ok(),
                _ => None,
            };
            changes.insert(resource, limit.unwrap_or(-1));
        }
    }
    changes
}

pub async fn show_quota_class_set(
    State(state): State<AppState>,
    req: Req,
    Path(class): Path<String>,
) -> Result<Json<Value>, NovaError> {
    req.authorize("os_compute_api:os-quota-class-sets:show", Rule::Admin)?;
    req.refuse_unknown_query(&[], mv::STRICT_QUERIES_EVERYWHERE)?;
    let limits = state.compute().quota_class_limits(&class).await?;
    Ok(Json(envelope(
        "quota_class_set",
        render(&req, QUOTA_CLASSES, Some(&class), &limits, None),
    )))
}

pub async fn update_quota_class_set(
    State(state): State<AppState>,
    req: Req,
    Path(class): Path<String>,
    body: NovaBody,
) -> Result<Json<Value>, NovaError> {
    req.authorize("os_compute_api:os-quota-class-sets:update", Rule::Admin)?;
    let body = body.validate(&update_schema(&req, QUOTA_CLASSES, "quota_class_set"))?;
    let limits = state
        .compute()
        .set_quota_class_limits(&class, &limits_of(&body["quota_class_set"]))
        .await?;
    Ok(Json(envelope(
        "quota_class_set",
        render(&req, QUOTA_CLASSES, None, &limits, None),
    )))
}

pub async fn update_quota_set(
    State(state): State<AppState>,
    req: Req,
    Path(project): Path<String>,
    body: NovaBody,
) -> Result<Json<Value>, NovaError> {
    req.authorize("os_compute_api:os-quota-sets:update", Rule::Admin)?;
    let user = user_of(&req, false)?;
    let body = body.validate(&update_schema(&req, QUOTA_SETS, "quota_set"))?;
    let set = &body["quota_set"];
    let force = set.get("force").is_some_and(super::flavors::is_true);
    let compute = state.compute();
    let limits = match user {
        Some(user) => {
            compute
                .set_user_quota_limits(&project, &user, &limits_of(set), force)
                .await?
        }
        None => {
            compute
                .set_quota_limits(&project, &limits_of(set), force)
                .await?
        }
    };
    Ok(Json(quota_set(&req, None, &limits, None)))
}

pub async fn delete_quota_set(
    State(state): State<AppState>,
    req: Req,
    Path(project): Path<String>,
) -> Result<StatusCode, NovaError> {
    req.authorize("os_compute_api:os-quota-sets:delete", Rule::Admin)?;
    match user_of(&req, false)? {
        Some(user) => {
            state
                .compute()
                .reset_user_quota_limits(&project, &user)
                .await?
        }
        None => state.compute().reset_quota_limits(&project).await?,
    }
    Ok(StatusCode::ACCEPTED)
}
