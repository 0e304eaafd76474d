//! `/v2.0/ports`: create, list (with `fixed_ips` filters), show, update,
//! delete.

use axum::Json;
use axum::extract::{Path, RawQuery, Request, State};
use axum::response::Response;
use http::{HeaderMap, StatusCode};
use oxstack_network::{FixedIpRequest, PairRequest, Port, PortChange, PortSpec};
use serde_json::{Map, Value};

use super::attributes::{Attr, Attrs, Kind, Method, attr, items, required};
use super::error::NeutronError;
use super::query::{Query, list, store_page};
use super::{NetworkCaller, checked_body, collection, respond, shown, views};
use crate::AppState;

const ATTRS: &[Attr] = &[
    attr("name", Kind::Str(255), true, true),
    attr("description", Kind::Str(255), true, true),
    attr("network_id", Kind::Uuid, true, false),
    attr("admin_state_up", Kind::Bool, true, true),
    attr("mac_address", Kind::Str(32), true, true),
    attr("fixed_ips", Kind::List, true, true),
    attr("device_id", Kind::Str(255), true, true),
    attr("device_owner", Kind::Str(255), true, true),
    attr("security_groups", Kind::List, true, true),
    attr("port_security_enabled", Kind::Bool, true, true),
    attr("allowed_address_pairs", Kind::List, true, true),
    attr("binding:host_id", Kind::Str(255), true, true),
    attr("binding:profile", Kind::Dict, true, true),
    attr("binding:vnic_type", Kind::Str(64), true, true),
    attr("dns_name", Kind::Str(255), true, true),
    attr("project_id", Kind::Str(255), true, false),
    attr("tenant_id", Kind::Str(255), true, false),
];

/// `fixed_ips` (a router gateway's `external_fixed_ips`): entries of
/// `subnet_id` and/or `ip_address`.
pub(super) fn fixed_ips(
    body: &Map<String, Value>,
    key: &str,
) -> Result<Option<Vec<FixedIpRequest>>, NeutronError> {
    let Some(entries) = items::<Map<String, Value>>(body, key)? else {
        return Ok(None);
    };
    entries
        .iter()
        .map(|e| {
            if let Some(k) = e
                .keys()
                .find(|k| !matches!(k.as_str(), "subnet_id" | "ip_address"))
            {
                return Err(NeutronError::bad_request(format!(
                    "Invalid input for {key}. Reason: Unrecognized attribute(s) '{k}'."
                )));
            }
            let text = |k: &str| e.get(k).and_then(Value::as_str).map(str::to_owned);
            let request = FixedIpRequest {
                subnet_id: text("subnet_id"),
                ip_address: text("ip_address"),
            };
            if request.subnet_id.is_none() && request.ip_address.is_none() {
                return Err(NeutronError::bad_request(format!(
                    "Invalid input for {key}. Reason: Exactly one of subnet_id or ip_address \
                     must be given."
                )));
            }
            Ok(request)
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// `allowed_address_pairs`: `ip_address` with an optional `mac_address`.
fn address_pairs(body: &Map<String, Value>) -> Result<Option<Vec<PairRequest>>, NeutronError> {
    let Some(entries) = items::<Map<String, Value>>(body, "allowed_address_pairs")? else {
        return Ok(None);
    };
    entries
        .iter()
        .map(|e| match e.get("ip_address").and_then(Value::as_str) {
            Some(ip) => Ok((
                ip.to_owned(),
                e.get("mac_address")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            )),
            None => Err(NeutronError::new(
                StatusCode::BAD_REQUEST,
                "AllowedAddressPairsMissingIP",
                "AllowedAddressPair must contain ip_address",
            )),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

fn profile(body: &Map<String, Value>) -> Option<String> {
    body.get("binding:profile").map(Value::to_string)
}

pub async fn create_port(
    State(state): State<AppState>,
    caller: NetworkCaller,
    request: Request,
) -> Result<Response, NeutronError> {
    let body = checked_body(request, &state, "port", ATTRS, Method::Post).await?;
    required(&body, "network_id")?;
    let spec = PortSpec {
        project_id: body.project(),
        network_id: body.text("network_id").unwrap_or_default(),
        name: body.text("name").unwrap_or_default(),
        description: body.text("description").unwrap_or_default(),
        mac_address: body.text("mac_address"),
        admin_state_up: body.flag("admin_state_up"),
        device_id: body.text("device_id").unwrap_or_default(),
        device_owner: body.text("device_owner").unwrap_or_default(),
        fixed_ips: fixed_ips(&body, "fixed_ips")?,
        security_groups: items::<String>(&body, "security_groups")?,
        port_security_enabled: body.flag("port_security_enabled"),
        allowed_address_pairs: address_pairs(&body)?.unwrap_or_default(),
        binding_host_id: body.text("binding:host_id"),
        binding_vnic_type: body.text("binding:vnic_type"),
        binding_profile: profile(&body),
        dns_name: body.text("dns_name").unwrap_or_default(),
        ..Default::default()
    };
    let port = state.networking().create_port(&caller.0, spec).await?;
    Ok(respond(
        StatusCode::CREATED,
        "port",
        views::port(&port, caller.is_admin()),
    ))
}

/// Whether a port matches `fixed_ips=ip_address=...`, `subnet_id=...`
/// or `ip_address_substr=...` filters (any of them).
fn matches_fixed_ips(port: &Port, filters: &[&str]) -> bool {
    filters.is_empty()
        || filters.iter().any(|f| {
            let (key, value) = f.split_once('=').unwrap_or((f, ""));
            port.fixed_ips.iter().any(|ip| match key {
                "ip_address" => ip.ip_address == value,
                "subnet_id" => ip.subnet_id == value,
                "ip_address_substr" => ip.ip_address.contains(value),
                _ => false,
            })
        })
}

pub async fn list_ports(
    State(state): State<AppState>,
    caller: NetworkCaller,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, NeutronError> {
    let query = Query::parse(raw.as_deref());
    let single = |key: &str| {
        let all = query.all(key);
        (all.len() == 1).then(|| all[0])
    };
    let filters = (single("network_id"), single("device_id"));
    let mut collection = collection("ports", "ports", views::PORT_FIELDS, &headers, &state);
    collection.handled = &["fixed_ips"];
    let ports = match store_page(&query, &["network_id", "device_id"]) {
        // One more than the page, to know whether another follows.
        Some((limit, marker)) => {
            collection.paged = true;
            state
                .networking()
                .ports_page(&caller.0, filters, marker, limit.saturating_add(1))
                .await?
        }
        None => {
            state
                .networking()
                .ports(&caller.0, filters.0, filters.1)
                .await?
        }
    };
    let fixed = query.all("fixed_ips");
    let views = ports
        .iter()
        .filter(|p| matches_fixed_ips(p, &fixed))
        .map(|p| views::port(p, caller.is_admin()))
        .collect();
    Ok(Json(list(&collection, &query, views)?))
}

pub async fn show_port(
    State(state): State<AppState>,
    caller: NetworkCaller,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, NeutronError> {
    let port = state.networking().port(&caller.0, &id).await?;
    Ok(shown(
        "port",
        views::port(&port, caller.is_admin()),
        raw.as_deref(),
    ))
}

pub async fn update_port(
    State(state): State<AppState>,
    caller: NetworkCaller,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response, NeutronError> {
    let body = checked_body(request, &state, "port", ATTRS, Method::Put).await?;
    let change = PortChange {
        name: body.text("name"),
        description: body.text("description"),
        admin_state_up: body.flag("admin_state_up"),
        device_id: body.text("device_id"),
        device_owner: body.text("device_owner"),
        mac_address: body.text("mac_address"),
        fixed_ips: fixed_ips(&body, "fixed_ips")?,
        security_groups: items::<String>(&body, "security_groups")?,
        port_security_enabled: body.flag("port_security_enabled"),
        allowed_address_pairs: address_pairs(&body)?,
        binding_host_id: body.text("binding:host_id"),
        binding_vnic_type: body.text("binding:vnic_type"),
        binding_profile: profile(&body),
        dns_name: body.text("dns_name"),
    };
    let port = state
        .networking()
        .update_port(&caller.0, &id, change)
        .await?;
    Ok(respond(
        StatusCode::OK,
        "port",
        views::port(&port, caller.is_admin()),
    ))
}

pub async fn delete_port(
    State(state): State<AppState>,
    caller: NetworkCaller,
    Path(id): Path<String>,
) -> Result<StatusCode, NeutronError> {
    state.networking().delete_port(&caller.0, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
