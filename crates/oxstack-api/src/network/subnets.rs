//! `/v2.0/subnets`: create, list, show, update, delete.

use std::collections::HashSet;

use axum::Json;
use axum::extract::{Path, RawQuery, Request, State};
use axum::response::Response;
use http::{HeaderMap, StatusCode};
use oxstack_network::{AllocationPool, Caller, HostRoute, SubnetChange, SubnetSpec};
use serde_json::Value;

use super::attributes::{Attr, Attrs, Kind, Method, attr, items, required};
use super::error::NeutronError;
use super::{NetworkCaller, checked_body, listing, respond, shown, views};
use crate::AppState;

const ATTRS: &[Attr] = &[
    attr("name", Kind::Str(255), true, true),
    attr("description", Kind::Str(255), true, true),
    attr("network_id", Kind::Uuid, true, false),
    attr("ip_version", Kind::Int, true, false),
    attr("cidr", Kind::Str(255), true, false),
    attr("gateway_ip", Kind::NullableStr(64), true, true),
    attr("enable_dhcp", Kind::Bool, true, true),
    attr("allocation_pools", Kind::List, true, true),
    attr("dns_nameservers", Kind::List, true, true),
    attr("host_routes", Kind::List, true, true),
    attr("ipv6_address_mode", Kind::NullableStr(32), true, false),
    attr("ipv6_ra_mode", Kind::NullableStr(32), true, false),
    attr("project_id", Kind::Str(255), true, false),
    attr("tenant_id", Kind::Str(255), true, false),
];

pub async fn create_subnet(
    State(state): State<AppState>,
    caller: NetworkCaller,
    request: Request,
) -> Result<Response, NeutronError> {
    let body = checked_body(request, &state, "subnet", ATTRS, Method::Post).await?;
    for key in ["network_id", "ip_version", "cidr"] {
        required(&body, key)?;
    }
    let ip_version = body.int("ip_version").unwrap_or(0);
    if ![4, 6].contains(&ip_version) {
        return Err(NeutronError::bad_request(format!(
            "Invalid input for ip_version. Reason: {ip_version} is not in [4, 6]."
        )));
    }
    let spec = SubnetSpec {
        project_id: body.project(),
        network_id: body.text("network_id").unwrap_or_default(),
        name: body.text("name").unwrap_or_default(),
        description: body.text("description").unwrap_or_default(),
        ip_version,
        cidr: body.text("cidr").unwrap_or_default(),
        gateway_ip: body.nullable("gateway_ip"),
        enable_dhcp: body.flag("enable_dhcp"),
        allocation_pools: items::<AllocationPool>(&body, "allocation_pools")?,
        dns_nameservers: items::<String>(&body, "dns_nameservers")?.unwrap_or_default(),
        host_routes: items::<HostRoute>(&body, "host_routes")?.unwrap_or_default(),
        ipv6_address_mode: body.text("ipv6_address_mode"),
        ipv6_ra_mode: body.text("ipv6_ra_mode"),
        ..Default::default()
    };
    let subnet = state.networking().create_subnet(&caller.0, spec).await?;
    let external = external_networks(&state, &caller.0).await?;
    Ok(respond(
        StatusCode::CREATED,
        "subnet",
        views::subnet(&subnet, external.contains(&subnet.row.network_id)),
    ))
}

/// The ids of the external networks the caller sees.
async fn external_networks(
    state: &AppState,
    caller: &Caller,
) -> Result<HashSet<String>, NeutronError> {
    Ok(state
        .networking()
        .networks(caller)
        .await?
        .into_iter()
        .filter(|n| n.row.external)
        .map(|n| n.row.id)
        .collect())
}

pub async fn list_subnets(
    State(state): State<AppState>,
    caller: NetworkCaller,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, NeutronError> {
    let subnets = state.networking().subnets(&caller.0).await?;
    let external = external_networks(&state, &caller.0).await?;
    let views = subnets
        .iter()
        .map(|s| views::subnet(s, external.contains(&s.row.network_id)))
        .collect();
    listing(
        ("subnets", "subnets", views::SUBNET_FIELDS),
        views,
        &headers,
        &state,
        raw.as_deref(),
    )
}

pub async fn show_subnet(
    State(state): State<AppState>,
    caller: NetworkCaller,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, NeutronError> {
    let subnet = state.networking().subnet(&caller.0, &id).await?;
    let external = external_networks(&state, &caller.0).await?;
    Ok(shown(
        "subnet",
        views::subnet(&subnet, external.contains(&subnet.row.network_id)),
        raw.as_deref(),
    ))
}

pub async fn update_subnet(
    State(state): State<AppState>,
    caller: NetworkCaller,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response, NeutronError> {
    let body = checked_body(request, &state, "subnet", ATTRS, Method::Put).await?;
    let change = SubnetChange {
        name: body.text("name"),
        description: body.text("description"),
        gateway_ip: body.nullable("gateway_ip"),
        enable_dhcp: body.flag("enable_dhcp"),
        allocation_pools: items::<AllocationPool>(&body, "allocation_pools")?,
        dns_nameservers: items::<String>(&body, "dns_nameservers")?,
        host_routes: items::<HostRoute>(&body, "host_routes")?,
    };
    let subnet = state
        .networking()
        .update_subnet(&caller.0, &id, change)
        .await?;
    let external = external_networks(&state, &caller.0).await?;
    Ok(respond(
        StatusCode::OK,
        "subnet",
        views::subnet(&subnet, external.contains(&subnet.row.network_id)),
    ))
}

pub async fn delete_subnet(
    State(state): State<AppState>,
    caller: NetworkCaller,
    Path(id): Path<String>,
) -> Result<StatusCode, NeutronError> {
    state.networking().delete_subnet(&caller.0, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
