//! `/os-server-groups` (`nova/api/openstack/compute/server_groups.py`,
//! `schemas/server_groups.py`): one policy (`policies: [one]` before 2.64,
//! `policy` and `rules` from it), owners from 2.13, soft policies from
//! 2.15; listed by `limit`/`offset`.

use axum::Json;
use axum::extract::{Path, State};
use http::StatusCode;
use oxstack_compute::server_groups::{GroupPolicy, NewServerGroup, ServerGroup};
use oxstack_identity::Rule;
use serde_json::{Map, Value, json};

use super::error::NovaError;
use super::pagination::MAX_LIMIT;
use super::request::{NovaBody, Req};
use super::servers::views::caller;
use crate::AppState;
use crate::compute::microversion::mv;

fn policies(req: &Req) -> Vec<&'static str> {
    let mut all = vec!["anti-affinity", "affinity"];
    if req.at_least(mv::SOFT_GROUP_POLICIES) {
        all.extend(["soft-anti-affinity", "soft-affinity"]);
    }
    all
}

fn create_schema(req: &Req) -> Value {
    let name = json!({"type": "string", "minLength": 1, "maxLength": 255, "format": "name"});
    let policy = json!({"type": "string", "enum": policies(req)});
    let (props, required) = if req.at_least(mv::GROUP_POLICY_RULES) {
        let positive = json!({"type": ["integer", "string"], "pattern": "^[0-9]*$", "minimum": 1, "minLength": 1});
        let rules = json!({"type": "object", "properties": {"max_server_per_host": positive},
                           "additionalProperties": false});
        (
            json!({"name": name, "policy": policy, "rules": rules}),
            json!(["name", "policy"]),
        )
    } else {
        // Nova's one-item `prefixItems`, as `items` of an array of one.
        let list = json!({"type": "array", "items": policy, "uniqueItems": true,
                          "minItems": 1, "maxItems": 1});
        (
            json!({"name": name, "policies": list}),
            json!(["name", "policies"]),
        )
    };
    json!({
        "type": "object",
        "properties": {"server_group": {"type": "object", "properties": props,
                                        "required": required, "additionalProperties": false}},
        "required": ["server_group"],
        "additionalProperties": false,
    })
}

fn index_query(req: &Req) -> Value {
    let many = |item: Value| json!({"type": "array", "items": item});
    let count = many(
        json!({"type": ["integer", "string"], "pattern": "^[0-9]*$", "minimum": 0, "minLength": 1}),
    );
    json!({
        "type": "object",
        "properties": {"all_projects": many(json!({"type": "string"})), "limit": count,
                       "offset": count},
        "additionalProperties": !req.at_least(mv::STRICT_QUERIES),
    })
}

fn view(req: &Req, g: &ServerGroup) -> Value {
    let mut view = Map::new();
    view.insert("id".into(), json!(g.uuid));
    view.insert("name".into(), json!(g.name));
    if req.at_least(mv::GROUP_POLICY_RULES) {
        view.insert("policy".into(), json!(g.policy.to_string()));
        let rules = match g.max_server_per_host {
            Some(max) => json!({"max_server_per_host": max}),
            None => json!({}),
        };
        view.insert("rules".into(), rules);
    } else {
        view.insert("policies".into(), json!([g.policy.to_string()]));
        view.insert("metadata".into(), json!({}));
    }
    view.insert("members".into(), json!(g.members));
    if req.at_least(mv::SERVER_GROUP_OWNERS) {
        view.insert("project_id".into(), json!(g.project_id));
        view.insert("user_id".into(), json!(g.user_id));
    }
    Value::Object(view)
}

pub async fn list_server_groups(
    State(state): State<AppState>,
    req: Req,
) -> Result<Json<Value>, NovaError> {
    req.validate_query(&index_query(&req))?;
    req.authorize("os_compute_api:os-server-groups:index", Rule::ProjectReader)?;
    // Only the parameter's presence counts, and only for admins.
    let all_projects = req.ctx.is_admin() && req.param("all_projects").is_some();
    if all_projects {
        req.authorize(
            "os_compute_api:os-server-groups:index:all_projects",
            Rule::Admin,
        )?;
    }
    let number = |name| req.param(name).and_then(|v| v.parse::<i64>().ok());
    let limit = match number("limit") {
        Some(n) if n > 0 => n.min(MAX_LIMIT),
        _ => MAX_LIMIT,
    };
    let offset = number("offset").unwrap_or(0);
    let groups = state
        .compute()
        .list_server_groups(&caller(&req), all_projects, offset, limit)
        .await?;
    let views: Vec<Value> = groups.iter().map(|g| view(&req, g)).collect();
    Ok(Json(json!({"server_groups": views})))
}

pub async fn create_server_group(
    State(state): State<AppState>,
    req: Req,
    body: NovaBody,
) -> Result<Json<Value>, NovaError> {
    let params = &body.validate(&create_schema(&req))?["server_group"];
    req.authorize(
        "os_compute_api:os-server-groups:create",
        Rule::ProjectMember,
    )?;
    let policy = params
        .get("policy")
        .or_else(|| params.get("policies").and_then(|p| p.get(0)))
        .and_then(Value::as_str)
        .and_then(|p| p.parse::<GroupPolicy>().ok())
        .ok_or_else(|| NovaError::bad_request("A server group needs a policy."))?;
    let max_server_per_host = match params.pointer("/rules/max_server_per_host") {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.parse().ok(),
        _ => None,
    };
    let new = NewServerGroup {
        name: params["name"].as_str().unwrap_or_default().to_owned(),
        policy,
        max_server_per_host,
    };
    let group = state
        .compute()
        .create_server_group(&caller(&req), new)
        .await?;
    Ok(Json(json!({"server_group": view(&req, &group)})))
}

pub async fn show_server_group(
    State(state): State<AppState>,
    req: Req,
    Path(id): Path<String>,
) -> Result<Json<Value>, NovaError> {
    req.refuse_unknown_query(&[], mv::STRICT_QUERIES_EVERYWHERE)?;
    let group = state.compute().get_server_group(&caller(&req), &id).await?;
    req.ctx.authorize(
        "os_compute_api:os-server-groups:show",
        Rule::ProjectReader,
        &group.project_id,
    )?;
    Ok(Json(json!({"server_group": view(&req, &group)})))
}

pub async fn delete_server_group(
    State(state): State<AppState>,
    req: Req,
    Path(id): Path<String>,
) -> Result<StatusCode, NovaError> {
    let compute = state.compute();
    let group = compute.get_server_group(&caller(&req), &id).await?;
    req.ctx.authorize(
        "os_compute_api:os-server-groups:delete",
        Rule::ProjectMember,
        &group.project_id,
    )?;
    compute.delete_server_group(&caller(&req), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
