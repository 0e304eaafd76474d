//! `/os-security-groups` and `/os-security-group-rules` (deprecated,
//! 2.1–2.35): Nova's proxy of networking's security groups, in Nova's
//! shape — only ingress rules, `ip_protocol`/`from_port`/`to_port`, and a
//! rule's remote as `group` (name, tenant) or `ip_range` (cidr) — and
//! Nova's way of building a rule from those fields. The groups are the
//! same records the network API shows.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use oxstack_identity::Rule;
use oxstack_network::{Caller, NetworkError, RuleSpec, SecurityGroup};
use serde_json::{Map, Value, json};

use super::error::NovaError;
use super::request::{NovaBody, Req};
use crate::AppState;
use crate::envelope::envelope;

/// The caller, as networking sees it.
fn network_caller(req: &Req) -> Caller {
    Caller {
        project_id: req.ctx.project_id.clone(),
        is_admin: req.ctx.is_admin(),
        can_write: true,
    }
}

/// Networking's refusal as Nova passes it on: a missing group is a 404,
/// anything else the caller's error (Nova turns Neutron's 409s into 400s,
/// except a quota, which is 403).
fn refused(err: NetworkError) -> NovaError {
    match err {
        NetworkError::Refused {
            class,
            kind,
            message,
        } => match (class, kind) {
            (oxstack_network::Class::NotFound, _) => NovaError::not_found(message),
            (_, "OverQuota") => NovaError::new(StatusCode::FORBIDDEN, message),
            _ => NovaError::bad_request(message),
        },
        other => oxstack_compute::ComputeError::from(other).into(),
    }
}

fn check_uuid(id: &str) -> Result<(), NovaError> {
    uuid::Uuid::parse_str(id)
        .map(drop)
        .map_err(|_| NovaError::bad_request("Security group id should be uuid"))
}

/// A rule in Nova's shape; `None` for a rule of another direction, or
/// whose remote group is gone.
fn rule_view(rule: &oxstack_network::Rule, groups: &[SecurityGroup]) -> Option<Value> {
    let r = &rule.row;
    if r.direction != "ingress" {
        return None;
    }
    let (from, to) = match (&r.protocol, r.port_range_min, r.port_range_max) {
        (Some(p), None, None) if matches!(p.to_ascii_uppercase().as_str(), "TCP" | "UDP") => {
            (json!(1), json!(65535))
        }
        (Some(_), None, None) => (json!(-1), json!(-1)),
        (_, min, max) => (json!(min), json!(max)),
    };
    let (group, ip_range) = match &r.remote_group_id {
        Some(remote) => {
            let g = groups.iter().find(|g| &g.row.id == remote)?;
            (
                json!({"name": g.row.name, "tenant_id": g.row.project_id}),
                json!({}),
            )
        }
        None => (
            json!({}),
            json!({"cidr": r.remote_ip_prefix.clone().unwrap_or_else(|| "0.0.0.0/0".into())}),
        ),
    };
    Some(
        json!({"id": r.id, "parent_group_id": r.security_group_id, "ip_protocol": r.protocol,
                "from_port": from, "to_port": to, "group": group, "ip_range": ip_range}),
    )
}

/// A group in Nova's shape; `known` are the groups its rules may name.
pub fn group_view(g: &SecurityGroup, known: &[SecurityGroup]) -> Value {
    let rules: Vec<Value> = g.rules.iter().filter_map(|r| rule_view(r, known)).collect();
    json!({"id": g.row.id, "name": g.row.name, "description": g.row.description,
           "tenant_id": g.row.project_id, "rules": rules})
}

pub async fn list_security_groups(
    State(state): State<AppState>,
    req: Req,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Json<Value>, NovaError> {
    req.authorize("os_compute_api:os-security-groups:get", Rule::ProjectReader)?;
    let all = req.ctx.is_admin() && query.iter().any(|(k, _)| k == "all_tenants");
    let mut caller = network_caller(&req);
    caller.is_admin = all;
    let groups = state
        .networking()
        .security_groups(&caller)
        .await
        .map_err(refused)?;
    let number = |key: &str| -> Result<Option<usize>, NovaError> {
        query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| {
                v.parse::<usize>().map_err(|_| {
                    NovaError::bad_request(format!(
                        "Invalid input for query parameters {key}. Value: {v}. '{v}' does not match '^[0-9]*$'"
                    ))
                })
            })
            .transpose()
    };
    let (offset, limit) = (number("offset")?.unwrap_or(0), number("limit")?);
    let mut views: Vec<Value> = groups
        .iter()
        .skip(offset)
        .take(limit.unwrap_or(usize::MAX))
        .map(|g| group_view(g, &groups))
        .collect();
    views.sort_by(|a, b| {
        (a["tenant_id"].as_str(), a["name"].as_str())
            .cmp(&(b["tenant_id"].as_str(), b["name"].as_str()))
    });
    Ok(Json(envelope("security_groups", views)))
}

/// `{"security_group": {"name", "description"}}`, both strings of at
/// most 255 characters (other keys are tolerated, as Nova does).
fn name_and_description(body: &NovaBody) -> Result<(String, String), NovaError> {
    body.validate(&json!({
        "type": "object",
        "properties": {"security_group": {"type": "object",
            "properties": {"name": {"type": "string", "maxLength": 255},
                           "description": {"type": "string", "maxLength": 255}},
            "required": ["name", "description"]}},
        "required": ["security_group"],
    }))?;
    let field = |k: &str| {
        body.0["security_group"][k]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    Ok((field("name"), field("description")))
}

pub async fn create_security_group(
    State(state): State<AppState>,
    req: Req,
    body: NovaBody,
) -> Result<Json<Value>, NovaError> {
    req.authorize(
        "os_compute_api:os-security-groups:create",
        Rule::ProjectMember,
    )?;
    let (name, description) = name_and_description(&body)?;
    let group = state
        .networking()
        .create_security_group(&network_caller(&req), None, name, description, true)
        .await
        .map_err(|e| match e {
            NetworkError::Refused {
                class: oxstack_network::Class::Conflict,
                message,
                ..
            } => NovaError::new(StatusCode::FORBIDDEN, message),
            other => refused(other),
        })?;
    Ok(Json(envelope("security_group", group_view(&group, &[]))))
}

pub async fn show_security_group(
    State(state): State<AppState>,
    req: Req,
    Path(id): Path<String>,
) -> Result<Json<Value>, NovaError> {
    req.authorize(
        "os_compute_api:os-security-groups:show",
        Rule::ProjectReader,
    )?;
    check_uuid(&id)?;
    let caller = network_caller(&req);
    let group = state
        .networking()
        .security_group(&caller, &id)
        .await
        .map_err(refused)?;
    let known = state
        .networking()
        .security_groups(&caller)
        .await
        .map_err(refused)?;
    Ok(Json(envelope("security_group", group_view(&group, &known))))
}

pub async fn update_security_group(
    State(state): State<AppState>,
    req: Req,
    Path(id): Path<String>,
    body: NovaBody,
) -> Result<Json<Value>, NovaError> {
    req.authorize(
        "os_compute_api:os-security-groups:update",
        Rule::ProjectMember,
    )?;
    check_uuid(&id)?;
    let (name, description) = name_and_description(&body)?;
    let caller = network_caller(&req);
    let group = state
        .networking()
        .update_security_group(&caller, &id, Some(name), Some(description))
        .await
        .map_err(refused)?;
    let known = state
        .networking()
        .security_groups(&caller)
        .await
        .map_err(refused)?;
    Ok(Json(envelope("security_group", group_view(&group, &known))))
}

pub async fn delete_security_group(
    State(state): State<AppState>,
    req: Req,
    Path(id): Path<String>,
) -> Result<Response, NovaError> {
    req.authorize(
        "os_compute_api:os-security-groups:delete",
        Rule::ProjectMember,
    )?;
    check_uuid(&id)?;
    state
        .networking()
        .delete_security_group(&network_caller(&req), &id)
        .await
        .map_err(refused)?;
    Ok(StatusCode::ACCEPTED.into_response())
}

/// Nova's port fields: absent, null or an integer (strings of digits too).
fn port_of(rule: &Map<String, Value>, key: &str, icmp: bool) -> Result<Option<i64>, NovaError> {
    match rule.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) if n.is_i64() => Ok(n.as_i64()),
        Some(Value::String(s)) if s.trim().parse::<i64>().is_ok() => Ok(s.trim().parse().ok()),
        Some(_) => Err(NovaError::bad_request(if icmp {
            "Invalid input received: Type and Code must be integers for ICMP protocol type"
        } else {
            "Invalid input received: To and From ports must be integers"
        })),
    }
}

pub async fn create_rule(
    State(state): State<AppState>,
    req: Req,
    body: NovaBody,
) -> Result<Json<Value>, NovaError> {
    req.authorize(
        "os_compute_api:os-security-groups:rule:create",
        Rule::ProjectMember,
    )?;
    body.validate(&json!({
        "type": "object",
        "properties": {"security_group_rule": {"type": "object",
            "properties": {"group_id": {"type": ["string", "null"], "format": "uuid"},
                           "parent_group_id": {"type": "string", "format": "uuid"}},
            "required": ["parent_group_id"]}},
        "required": ["security_group_rule"],
    }))?;
    let rule = body.0["security_group_rule"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let text = |k: &str| rule.get(k).and_then(Value::as_str).map(str::to_owned);
    let parent_id = text("parent_group_id").unwrap_or_default();
    let caller = network_caller(&req);
    let networking = state.networking();
    let parent = networking
        .security_group(&caller, &parent_id)
        .await
        .map_err(refused)?;
    let group_id = text("group_id");
    let source = match &group_id {
        Some(id) => Some(
            networking
                .security_group(&caller, id)
                .await
                .map_err(refused)?,
        ),
        None => None,
    };
    let protocol = match rule.get("ip_protocol") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => Some(other.to_string()),
    };
    let upper = protocol
        .as_deref()
        .map(str::to_ascii_uppercase)
        .unwrap_or_default();
    let icmp = upper == "ICMP";
    let (mut from, mut to) = (
        port_of(&rule, "from_port", icmp)?,
        port_of(&rule, "to_port", icmp)?,
    );
    let cidr = match group_id {
        Some(_) => {
            if from.is_none() && to.is_none() {
                match upper.as_str() {
                    "ICMP" => (from, to) = (Some(-1), Some(-1)),
                    "TCP" | "UDP" => (from, to) = (Some(1), Some(65535)),
                    _ => {}
                }
            }
            None
        }
        None => Some(parse_cidr(text("cidr").as_deref())?),
    };
    let ported = protocol.is_some() && from.is_some() && to.is_some();
    if ported {
        let (f, t) = (from.unwrap_or_default(), to.unwrap_or_default());
        if !matches!(upper.as_str(), "TCP" | "UDP" | "ICMP") {
            return Err(NovaError::bad_request(format!(
                "Invalid IP protocol {}.",
                protocol.as_deref().unwrap_or_default()
            )));
        }
        let range =
            |why: &str| NovaError::bad_request(format!("Invalid port range {f}:{t}. {why}"));
        if upper != "ICMP" && f > t {
            return Err(range("Former value cannot be greater than the later"));
        }
        if upper != "ICMP" && (f < 1 || t > 65535) {
            return Err(range(&format!(
                "Valid {upper} ports should be between 1-65535"
            )));
        }
        if icmp && !((-1..=255).contains(&f) && (-1..=255).contains(&t)) {
            return Err(range("For ICMP, the type:code must be valid"));
        }
    } else if cidr.is_some() {
        return Err(NovaError::bad_request(
            "Not enough parameters to build a valid rule.",
        ));
    }
    if let Some(c) = &cidr
        && let Some((net, prefix)) = c.split_once('/')
        && prefix == "0"
        && !matches!(net, "0.0.0.0" | "::")
    {
        return Err(NovaError::bad_request(format!(
            "Bad prefix for network in cidr {c}"
        )));
    }
    let (protocol, from, to) = if ported {
        (protocol, from, to)
    } else {
        (None, None, None)
    };
    // Nova's own duplicate check, on the rules as it shows them.
    let exists = parent
        .rules
        .iter()
        .filter_map(|r| rule_view(r, std::slice::from_ref(&parent)))
        .any(|v| {
            let same_group = v["group"].get("name").is_some() == source.is_some();
            let same_cidr = cidr
                .as_ref()
                .map_or(v["ip_range"].get("cidr").is_none(), |c| {
                    v["ip_range"]["cidr"] == *c
                });
            same_group
                && same_cidr
                && v["ip_protocol"] == json!(protocol)
                && v["from_port"] == json!(from)
                && v["to_port"] == json!(to)
        });
    if exists && cidr.is_some() {
        return Err(NovaError::bad_request(format!(
            "This rule already exists in group {parent_id}"
        )));
    }
    let ethertype = match &cidr {
        Some(c) if c.contains(':') => "IPv6",
        _ => "IPv4",
    };
    let spec = RuleSpec {
        security_group_id: parent_id.clone(),
        direction: "ingress".into(),
        ethertype: Some(ethertype.into()),
        protocol: protocol.clone(),
        port_range_min: from.filter(|p| *p != -1),
        port_range_max: to.filter(|p| *p != -1),
        remote_ip_prefix: cidr,
        remote_group_id: source.as_ref().map(|g| g.row.id.clone()),
        ..Default::default()
    };
    let made = networking
        .create_security_group_rule(&caller, spec)
        .await
        .map_err(|e| match e {
            NetworkError::Refused {
                class: oxstack_network::Class::Conflict,
                message,
                ..
            } => NovaError::new(StatusCode::FORBIDDEN, message),
            other => refused(other),
        })?;
    let known: Vec<SecurityGroup> = [Some(parent), source].into_iter().flatten().collect();
    let view = rule_view(&made, &known).unwrap_or(Value::Null);
    Ok(Json(envelope("security_group_rule", view)))
}

/// Nova's `parse_cidr`: none is `0.0.0.0/0`; else a valid network.
fn parse_cidr(cidr: Option<&str>) -> Result<String, NovaError> {
    let Some(text) = cidr.filter(|c| !c.is_empty()) else {
        return Ok("0.0.0.0/0".into());
    };
    let valid = text.contains('/') && text.parse::<ipnet::IpNet>().is_ok();
    if valid {
        Ok(text.to_owned())
    } else {
        Err(NovaError::bad_request(format!(
            "{text} is not a valid IP network."
        )))
    }
}

pub async fn delete_rule(
    State(state): State<AppState>,
    req: Req,
    Path(id): Path<String>,
) -> Result<Response, NovaError> {
    req.authorize(
        "os_compute_api:os-security-groups:rule:delete",
        Rule::ProjectMember,
    )?;
    check_uuid(&id)?;
    state
        .networking()
        .delete_security_group_rule(&network_caller(&req), &id)
        .await
        .map_err(refused)?;
    Ok(StatusCode::ACCEPTED.into_response())
}
