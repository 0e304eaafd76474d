//! `/v2.0/networks`: create, list, show, update, delete.

use axum::Json;
use axum::extract::{Path, RawQuery, Request, State};
use axum::response::Response;
use http::{HeaderMap, StatusCode};
use oxstack_network::{NetworkChange, NetworkSpec};
use serde_json::Value;

use super::attributes::{Attr, Attrs, Kind, Method, attr};
use super::error::NeutronError;
use super::{NetworkCaller, checked_body, listing, respond, shown, views};
use crate::AppState;

const ATTRS: &[Attr] = &[
    attr("name", Kind::Str(255), true, true),
    attr("description", Kind::Str(255), true, true),
    attr("admin_state_up", Kind::Bool, true, true),
    attr("shared", Kind::Bool, true, true),
    attr("router:external", Kind::Bool, true, true),
    attr("is_default", Kind::Bool, true, true),
    attr("mtu", Kind::Int, true, true),
    attr("port_security_enabled", Kind::Bool, true, true),
    attr("dns_domain", Kind::Str(255), true, true),
    attr("availability_zone_hints", Kind::List, true, false),
    attr("project_id", Kind::Str(255), true, false),
    attr("tenant_id", Kind::Str(255), true, false),
];

pub async fn create_network(
    State(state): State<AppState>,
    caller: NetworkCaller,
    request: Request,
) -> Result<Response, NeutronError> {
    let body = checked_body(request, &state, "network", ATTRS, Method::Post).await?;
    let spec = NetworkSpec {
        project_id: body.project(),
        name: body.text("name").unwrap_or_default(),
        description: body.text("description").unwrap_or_default(),
        admin_state_up: body.flag("admin_state_up"),
        shared: body.flag("shared").unwrap_or(false),
        external: body.flag("router:external").unwrap_or(false),
        is_default: body.flag("is_default").unwrap_or(false),
        mtu: body.int("mtu"),
        port_security_enabled: body.flag("port_security_enabled"),
        dns_domain: body.text("dns_domain").unwrap_or_default(),
        ..Default::default()
    };
    let network = state.networking().create_network(&caller.0, spec).await?;
    Ok(respond(
        StatusCode::CREATED,
        "network",
        views::network(&network, caller.is_admin()),
    ))
}

pub async fn list_networks(
    State(state): State<AppState>,
    caller: NetworkCaller,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, NeutronError> {
    let networks = state.networking().networks(&caller.0).await?;
    let views = networks
        .iter()
        .map(|n| views::network(n, caller.is_admin()))
        .collect();
    listing(
        ("networks", "networks", views::NETWORK_FIELDS),
        views,
        &headers,
        &state,
        raw.as_deref(),
    )
}

pub async fn show_network(
    State(state): State<AppState>,
    caller: NetworkCaller,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, NeutronError> {
    let network = state.networking().network(&caller.0, &id).await?;
    Ok(shown(
        "network",
        views::network(&network, caller.is_admin()),
        raw.as_deref(),
    ))
}

pub async fn update_network(
    State(state): State<AppState>,
    caller: NetworkCaller,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response, NeutronError> {
    let body = checked_body(request, &state, "network", ATTRS, Method::Put).await?;
    let change = NetworkChange {
        name: body.text("name"),
        description: body.text("description"),
        admin_state_up: body.flag("admin_state_up"),
        shared: body.flag("shared"),
        external: body.flag("router:external"),
        is_default: body.flag("is_default"),
        mtu: body.int("mtu"),
        port_security_enabled: body.flag("port_security_enabled"),
        dns_domain: body.text("dns_domain"),
    };
    let network = state
        .networking()
        .update_network(&caller.0, &id, change)
        .await?;
    Ok(respond(
        StatusCode::OK,
        "network",
        views::network(&network, caller.is_admin()),
    ))
}

pub async fn delete_network(
    State(state): State<AppState>,
    caller: NetworkCaller,
    Path(id): Path<String>,
) -> Result<StatusCode, NeutronError> {
    state.networking().delete_network(&caller.0, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
