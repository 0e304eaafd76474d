//! `/os-simple-tenant-usage[/{tenant_id}]`
//! (`nova/api/openstack/compute/simple_tenant_usage.py`): what projects'
//! servers used over a period, `start` to `end` (now by default, never
//! past now): each server's hours, flavor and state, each project's
//! totals. Every project for admins, one's own project for its readers;
//! pages of servers with `limit` and `marker` from 2.40.

use axum::Json;
use axum::extract::{Path, State};
use chrono::NaiveDateTime;
use oxstack_compute::usage::{ServerUsage, TenantUsage, UsagePage};
use oxstack_identity::Rule;
use serde_json::{Map, Value, json};

use super::error::NovaError;
use super::pagination::{MAX_LIMIT, limit_and_marker, next_links};
use super::request::Req;
use super::servers::views::naive_time;
use crate::AppState;
use crate::compute::microversion::mv;
use crate::oslo::bool_from_string;

const COLLECTION: &str = "os-simple-tenant-usage";

fn query_schema(req: &Req, list: bool) -> Value {
    let many = |item: Value| json!({"type": "array", "items": item});
    let text = || many(json!({"type": "string"}));
    let mut props = Map::new();
    props.insert("start".into(), text());
    props.insert("end".into(), text());
    if list {
        props.insert("detailed".into(), text());
    }
    if req.at_least(mv::USAGE_PAGING) {
        props.insert(
            "limit".into(),
            many(json!({"type": ["integer", "string"], "pattern": "^[0-9]*$",
                        "minimum": 0, "minLength": 1})),
        );
        props.insert("marker".into(), text());
    }
    json!({"type": "object", "properties": props,
           "additionalProperties": !req.at_least(mv::STRICT_QUERIES)})
}

/// The first value of a query parameter (Nova reads these with
/// `parse_qs(...)[0]`).
fn first<'a>(req: &'a Req, name: &str) -> Option<&'a str> {
    req.query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Nova's period bounds: `%Y-%m-%dT%H:%M:%S[.%f]` or
/// `%Y-%m-%d %H:%M:%S.%f`, naive UTC.
fn parse_bound(text: &str) -> Result<i64, NovaError> {
    let spaced = text.contains(' ') && text.contains('.');
    let parsed = if spaced {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f")
    } else {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
    };
    parsed.map(|t| t.and_utc().timestamp_micros()).map_err(|_| {
        NovaError::bad_request("Invalid datetime string: Datetime is in invalid format")
    })
}

/// `start` and `end` of the request, if given (an empty one is not).
fn period(req: &Req) -> Result<(Option<i64>, Option<i64>), NovaError> {
    let bound = |name: &str| {
        first(req, name)
            .filter(|t| !t.is_empty())
            .map(parse_bound)
            .transpose()
    };
    Ok((bound("start")?, bound("end")?))
}

fn server_usage(u: &ServerUsage) -> Value {
    json!({
        "instance_id": u.instance_id,
        "name": u.name,
        "tenant_id": u.tenant_id,
        "flavor": u.flavor,
        "hours": u.hours,
        "memory_mb": u.memory_mb,
        "local_gb": u.local_gb,
        "vcpus": u.vcpus,
        "started_at": naive_time(Some(u.started_at)),
        "ended_at": naive_time(u.ended_at),
        "state": u.state,
        "uptime": u.uptime,
    })
}

fn tenant_usage(t: &TenantUsage, detailed: bool) -> Value {
    let mut out = Map::new();
    out.insert("tenant_id".into(), json!(t.tenant_id));
    out.insert("start".into(), naive_time(Some(t.start)));
    out.insert("stop".into(), naive_time(Some(t.stop)));
    out.insert("total_hours".into(), json!(t.total_hours));
    out.insert("total_local_gb_usage".into(), json!(t.total_local_gb_usage));
    out.insert(
        "total_memory_mb_usage".into(),
        json!(t.total_memory_mb_usage),
    );
    out.insert("total_vcpus_usage".into(), json!(t.total_vcpus_usage));
    if detailed {
        let servers: Vec<Value> = t.server_usages.iter().map(server_usage).collect();
        out.insert("server_usages".into(), json!(servers));
    }
    Value::Object(out)
}

/// The page of the request for `project` (or every project).
async fn usage_page(
    state: &AppState,
    req: &Req,
    project: Option<&str>,
) -> Result<UsagePage, NovaError> {
    let period = period(req)?;
    let (limit, marker) = if req.at_least(mv::USAGE_PAGING) {
        limit_and_marker(req)?
    } else {
        (MAX_LIMIT, None)
    };
    Ok(state
        .compute()
        .tenant_usage(project, period, marker.as_deref(), limit)
        .await?)
}

/// `tenant_usages_links`/`tenant_usage_links` (2.40) for a full page.
fn page_links(req: &Req, collection: &str, page: &UsagePage) -> Option<Value> {
    if !req.at_least(mv::USAGE_PAGING) {
        return None;
    }
    next_links(req, collection, page.servers, page.last.as_deref())
}

pub async fn list_tenant_usages(
    State(state): State<AppState>,
    req: Req,
) -> Result<Json<Value>, NovaError> {
    req.validate_query(&query_schema(&req, true))?;
    req.authorize("os_compute_api:os-simple-tenant-usage:list", Rule::Admin)?;
    // Nova reads `1` only; openstacksdk (and so `openstack usage list`)
    // sends `True`, which Nova leaves undetailed. Any true value is taken.
    let detailed = first(&req, "detailed").and_then(bool_from_string) == Some(true);
    let page = usage_page(&state, &req, None).await?;
    let usages: Vec<Value> = page
        .tenants
        .iter()
        .map(|t| tenant_usage(t, detailed))
        .collect();
    let mut body = json!({"tenant_usages": usages});
    if let Some(links) = page_links(&req, COLLECTION, &page) {
        body["tenant_usages_links"] = links;
    }
    Ok(Json(body))
}

pub async fn show_tenant_usage(
    State(state): State<AppState>,
    req: Req,
    Path(tenant_id): Path<String>,
) -> Result<Json<Value>, NovaError> {
    req.validate_query(&query_schema(&req, false))?;
    req.ctx.authorize(
        "os_compute_api:os-simple-tenant-usage:show",
        Rule::ProjectReader,
        &tenant_id,
    )?;
    let page = usage_page(&state, &req, Some(&tenant_id)).await?;
    let usage = page
        .tenants
        .first()
        .map_or_else(|| json!({}), |t| tenant_usage(t, true));
    let mut body = json!({"tenant_usage": usage});
    if let Some(links) = page_links(&req, &format!("{COLLECTION}/{tenant_id}"), &page) {
        body["tenant_usage_links"] = links;
    }
    Ok(Json(body))
}
