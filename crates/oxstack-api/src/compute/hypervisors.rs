//! `os-hypervisors` (admins): each compute host's hypervisor — list and
//! detail (paged from 2.33; `hypervisor_hostname_pattern` and
//! `with_servers` from 2.53, when ids become UUIDs), show, and the routes
//! later versions dropped: `statistics` and `uptime` (before 2.88, which
//! also drops the resource figures), `search` and `servers` (before 2.53).

use axum::Json;
use axum::extract::{Path, State};
use oxstack_compute::hypervisors::Hypervisor;
use oxstack_identity::Rule;
use serde_json::{Map, Value, json};

use super::error::NovaError;
use super::flavors::{boolean_schema, is_true};
use super::pagination::{limit_and_marker, next_links};
use super::request::Req;
use crate::AppState;
use crate::compute::microversion::mv;

/// The servers a view lists: `None` when they were not asked for.
type Servers = Option<Vec<(String, String)>>;

fn id_of(req: &Req, h: &Hypervisor) -> Value {
    if req.at_least(mv::SERVICE_UUIDS) {
        json!(h.service.node_uuid)
    } else {
        json!(h.service.id)
    }
}

/// The id as a path or marker writes it.
fn id_text(req: &Req, h: &Hypervisor) -> String {
    match id_of(req, h) {
        Value::String(id) => id,
        id => id.to_string(),
    }
}

fn view(req: &Req, h: &Hypervisor, detail: bool, servers: &Servers) -> Value {
    let s = &h.service;
    let mut out = Map::new();
    out.insert("id".into(), id_of(req, h));
    out.insert("hypervisor_hostname".into(), json!(s.node));
    out.insert(
        "state".into(),
        json!(if h.service.up { "up" } else { "down" }),
    );
    let status = if s.disabled { "disabled" } else { "enabled" };
    out.insert("status".into(), json!(status));
    if detail {
        out.insert("hypervisor_type".into(), json!(s.hypervisor_type));
        out.insert("hypervisor_version".into(), json!(s.hypervisor_version));
        out.insert("host_ip".into(), json!(s.host_ip));
        let service_id = if req.at_least(mv::SERVICE_UUIDS) {
            json!(s.uuid)
        } else {
            json!(s.id)
        };
        out.insert(
            "service".into(),
            json!({"id": service_id, "host": s.host, "disabled_reason": s.disabled_reason}),
        );
        if req.at_least(mv::NO_HYPERVISOR_RESOURCES) {
            out.insert("uptime".into(), Value::Null);
        } else {
            for (key, value) in RESOURCE_KEYS.into_iter().zip(resources(h)) {
                out.insert(key.into(), json!(value));
            }
            let cpu_info = if req.at_least(mv::CPU_INFO_OBJECT) {
                json!({})
            } else {
                json!("{}")
            };
            out.insert("cpu_info".into(), cpu_info);
        }
    }
    match servers {
        Some(list) if !list.is_empty() => {
            let items: Vec<Value> = list
                .iter()
                .map(|(uuid, name)| json!({"uuid": uuid, "name": name}))
                .collect();
            out.insert("servers".into(), Value::Array(items));
        }
        Some(_) if req.at_least(mv::STRICT_QUERIES) => {
            out.insert("servers".into(), json!([]));
        }
        _ => {}
    }
    Value::Object(out)
}

/// The resource figures of a hypervisor (before 2.88), in this order.
const RESOURCE_KEYS: [&str; 11] = [
    "vcpus",
    "memory_mb",
    "local_gb",
    "vcpus_used",
    "memory_mb_used",
    "local_gb_used",
    "free_ram_mb",
    "free_disk_gb",
    "current_workload",
    "running_vms",
    "disk_available_least",
];

fn resources(h: &Hypervisor) -> [i64; 11] {
    let (s, u) = (&h.service, &h.usage);
    [
        s.vcpus,
        s.memory_mb,
        s.local_gb,
        u.vcpus,
        u.memory_mb,
        u.disk_gb,
        s.memory_mb - u.memory_mb,
        s.local_gb - u.disk_gb,
        u.busy,
        u.instances,
        s.local_gb - u.disk_gb,
    ]
}

fn index_query(req: &Req) -> Value {
    if !req.at_least(mv::SERVICE_UUIDS) {
        return json!({"type": "object", "additionalProperties": true});
    }
    let one = |item: Value| json!({"type": "array", "items": item, "maxItems": 1});
    json!({"type": "object", "properties": {
        "limit": one(json!({"type": ["integer", "string"], "pattern": "^[0-9]*$", "minimum": 0, "minLength": 1})),
        "marker": one(json!({"type": "string"})),
        "hypervisor_hostname_pattern": one(json!({"type": "string", "minLength": 1, "maxLength": 255})),
        "with_servers": one(boolean_schema()),
    }, "additionalProperties": false})
}

fn with_servers(req: &Req) -> bool {
    req.at_least(mv::SERVICE_UUIDS)
        && req
            .param("with_servers")
            .is_some_and(|v| is_true(&json!(v)))
}

async fn servers_of(state: &AppState, h: &Hypervisor, wanted: bool) -> Result<Servers, NovaError> {
    if !wanted {
        return Ok(None);
    }
    Ok(Some(
        state.compute().servers_on_host(&h.service.host).await?,
    ))
}

fn no_match(pattern: &str) -> NovaError {
    NovaError::not_found(format!(
        "No hypervisor matching '{pattern}' could be found."
    ))
}

/// The hypervisors whose node name contains `pattern` (404 for none).
fn matching(all: Vec<Hypervisor>, pattern: &str) -> Result<Vec<Hypervisor>, NovaError> {
    let found: Vec<Hypervisor> = all
        .into_iter()
        .filter(|h| h.service.node.contains(pattern))
        .collect();
    if found.is_empty() {
        return Err(no_match(pattern));
    }
    Ok(found)
}

async fn listing(state: &AppState, req: &Req, detail: bool) -> Result<Json<Value>, NovaError> {
    req.validate_query(&index_query(req))?;
    let policy = if detail { "list-detail" } else { "list" };
    req.authorize(
        &format!("os_compute_api:os-hypervisors:{policy}"),
        Rule::Admin,
    )?;
    let all = state.compute().list_hypervisors().await?;
    let pattern = req
        .param("hypervisor_hostname_pattern")
        .filter(|_| req.at_least(mv::SERVICE_UUIDS));
    let paged = req.at_least(mv::HYPERVISOR_PAGING) && pattern.is_none();
    let page = if let Some(pattern) = pattern {
        if req.param("limit").is_some() || req.param("marker").is_some() {
            return Err(NovaError::bad_request(
                "Paging over hypervisors with the hypervisor_hostname_pattern query parameter is not supported.",
            ));
        }
        matching(all, pattern)?
    } else if paged {
        let (limit, marker) = limit_and_marker(req)?;
        let start = match marker {
            None => 0,
            Some(marker) => {
                let at = all.iter().position(|h| id_text(req, h) == marker);
                at.ok_or_else(|| NovaError::bad_request(format!("marker [{marker}] not found")))?
                    + 1
            }
        };
        all.into_iter()
            .skip(start)
            .take(usize::try_from(limit).unwrap_or(0))
            .collect()
    } else {
        all
    };
    let wanted = with_servers(req);
    let mut items = Vec::with_capacity(page.len());
    for h in &page {
        items.push(view(req, h, detail, &servers_of(state, h, wanted).await?));
    }
    let mut body = json!({ "hypervisors": items });
    if paged {
        let collection = if detail {
            "os-hypervisors/detail"
        } else {
            "os-hypervisors"
        };
        let last = page.last().map(|h| id_text(req, h));
        if let Some(links) = next_links(req, collection, page.len(), last.as_deref()) {
            body["hypervisors_links"] = links;
        }
    }
    Ok(Json(body))
}

pub async fn list_hypervisors(
    State(state): State<AppState>,
    req: Req,
) -> Result<Json<Value>, NovaError> {
    listing(&state, &req, false).await
}

pub async fn list_hypervisors_detail(
    State(state): State<AppState>,
    req: Req,
) -> Result<Json<Value>, NovaError> {
    listing(&state, &req, true).await
}

/// The hypervisor `id` names: a UUID from 2.53 (else 400), a number
/// before (else 404).
async fn find(state: &AppState, req: &Req, id: &str) -> Result<Hypervisor, NovaError> {
    let not_found =
        || NovaError::not_found(format!("Hypervisor with ID '{id}' could not be found."));
    if req.at_least(mv::SERVICE_UUIDS) {
        if uuid::Uuid::parse_str(id).is_err() {
            return Err(NovaError::bad_request(format!("Invalid uuid {id}")));
        }
    } else if id.parse::<i64>().is_err() {
        return Err(not_found());
    }
    state
        .compute()
        .list_hypervisors()
        .await?
        .into_iter()
        .find(|h| id_text(req, h) == id)
        .ok_or_else(not_found)
}

pub async fn show_hypervisor(
    State(state): State<AppState>,
    req: Req,
    Path(id): Path<String>,
) -> Result<Json<Value>, NovaError> {
    if req.at_least(mv::SERVICE_UUIDS) {
        req.validate_query(&json!({"type": "object", "properties": {
            "with_servers": {"type": "array", "items": boolean_schema(), "maxItems": 1}},
            "additionalProperties": false}))?;
    }
    req.authorize("os_compute_api:os-hypervisors:show", Rule::Admin)?;
    let h = find(&state, &req, &id).await?;
    let servers = servers_of(&state, &h, with_servers(&req)).await?;
    Ok(Json(
        json!({ "hypervisor": view(&req, &h, true, &servers) }),
    ))
}

/// `GET /os-hypervisors/{id}/uptime` (before 2.88).
pub async fn show_hypervisor_uptime(
    State(state): State<AppState>,
    req: Req,
    Path(id): Path<String>,
) -> Result<Json<Value>, NovaError> {
    req.authorize("os_compute_api:os-hypervisors:uptime", Rule::Admin)?;
    let h = find(&state, &req, &id).await?;
    if !h.service.up {
        return Err(NovaError::bad_request(format!(
            "Compute service of {} is unavailable at this time.",
            h.service.host
        )));
    }
    let mut shown = view(&req, &h, false, &None);
    shown["uptime"] = json!(uptime(h.service.created_at));
    Ok(Json(json!({ "hypervisor": shown })))
}

/// The host's uptime as `uptime(1)` prints it, from its registration.
fn uptime(since_micros: i64) -> String {
    let now = chrono::Utc::now();
    let up = now.timestamp_micros().saturating_sub(since_micros).max(0) / 1_000_000;
    let (days, hours, minutes) = (up / 86_400, up % 86_400 / 3600, up % 3600 / 60);
    format!(
        " {} up {days} days, {hours:2}:{minutes:02},  0 users,  load average: 0.00, 0.00, 0.00",
        now.format("%H:%M:%S")
    )
}

/// `GET /os-hypervisors/{pattern}/search` (before 2.53).
pub async fn search_hypervisors(
    State(state): State<AppState>,
    req: Req,
    Path(pattern): Path<String>,
) -> Result<Json<Value>, NovaError> {
    search(&state, &req, &pattern, false).await
}

/// `GET /os-hypervisors/{pattern}/servers` (before 2.53).
pub async fn hypervisor_servers(
    State(state): State<AppState>,
    req: Req,
    Path(pattern): Path<String>,
) -> Result<Json<Value>, NovaError> {
    search(&state, &req, &pattern, true).await
}

/// The hypervisors whose name matches `pattern`, with their servers when
/// `with_servers`.
async fn search(
    state: &AppState,
    req: &Req,
    pattern: &str,
    with_servers: bool,
) -> Result<Json<Value>, NovaError> {
    let what = if with_servers { "servers" } else { "search" };
    req.authorize(
        &format!("os_compute_api:os-hypervisors:{what}"),
        Rule::Admin,
    )?;
    let found = matching(state.compute().list_hypervisors().await?, pattern)?;
    let mut items = Vec::with_capacity(found.len());
    for h in &found {
        items.push(view(
            req,
            h,
            false,
            &servers_of(state, h, with_servers).await?,
        ));
    }
    Ok(Json(json!({ "hypervisors": items })))
}

/// `GET /os-hypervisors/statistics` (before 2.88): the enabled hosts'
/// figures added up.
pub async fn hypervisor_statistics(
    State(state): State<AppState>,
    req: Req,
) -> Result<Json<Value>, NovaError> {
    req.authorize("os_compute_api:os-hypervisors:statistics", Rule::Admin)?;
    let enabled: Vec<Hypervisor> = state
        .compute()
        .list_hypervisors()
        .await?
        .into_iter()
        .filter(|h| !h.service.disabled)
        .collect();
    let mut totals = [0i64; 11];
    for h in &enabled {
        for (total, value) in totals.iter_mut().zip(resources(h)) {
            *total += value;
        }
    }
    let mut stats = Map::new();
    stats.insert("count".into(), json!(enabled.len()));
    for (key, total) in RESOURCE_KEYS.into_iter().zip(totals) {
        stats.insert(key.into(), json!(total));
    }
    Ok(Json(json!({ "hypervisor_statistics": stats })))
}
