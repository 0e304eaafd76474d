//! `/v2.0/floatingips`: create (maybe associated), list, show, update
//! (associate with a port, or let go with `port_id: null`), delete.

use axum::Json;
use axum::extract::{Path, RawQuery, Request, State};
use axum::response::Response;
use http::{HeaderMap, StatusCode};
use oxstack_network::{FloatingIpChange, FloatingIpSpec};
use serde_json::Value;

use super::attributes::{Attr, Attrs, Kind, Method, attr, required};
use super::error::NeutronError;
use super::{NetworkCaller, checked_body, listing, respond, shown, views};
use crate::AppState;

const ATTRS: &[Attr] = &[
    attr("floating_network_id", Kind::Uuid, true, false),
    attr("floating_ip_address", Kind::Str(64), true, false),
    attr("subnet_id", Kind::NullableUuid, true, false),
    attr("port_id", Kind::NullableUuid, true, true),
    attr("fixed_ip_address", Kind::NullableStr(64), true, true),
    attr("description", Kind::Str(255), true, true),
    attr("project_id", Kind::Str(255), true, false),
    attr("tenant_id", Kind::Str(255), true, false),
];

pub async fn create_floating_ip(
    State(state): State<AppState>,
    caller: NetworkCaller,
    request: Request,
) -> Result<Response, NeutronError> {
    let body = checked_body(request, &state, "floatingip", ATTRS, Method::Post).await?;
    required(&body, "floating_network_id")?;
    let spec = FloatingIpSpec {
        project_id: body.project(),
        floating_network_id: body.text("floating_network_id").unwrap_or_default(),
        floating_ip_address: body.text("floating_ip_address"),
        subnet_id: body.nullable("subnet_id").flatten(),
        port_id: body.nullable("port_id").flatten(),
        fixed_ip_address: body.nullable("fixed_ip_address").flatten(),
        description: body.text("description").unwrap_or_default(),
        ..Default::default()
    };
    let created = state
        .networking()
        .create_floating_ip(&caller.0, spec)
        .await?;
    Ok(respond(
        StatusCode::CREATED,
        "floatingip",
        views::floating_ip(&created),
    ))
}

pub async fn list_floating_ips(
    State(state): State<AppState>,
    caller: NetworkCaller,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, NeutronError> {
    let found = state.networking().floating_ips(&caller.0).await?;
    let views = found.iter().map(views::floating_ip).collect();
    listing(
        ("floatingips", "floatingips", views::FLOATING_IP_FIELDS),
        views,
        &headers,
        &state,
        raw.as_deref(),
    )
}

pub async fn show_floating_ip(
    State(state): State<AppState>,
    caller: NetworkCaller,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, NeutronError> {
    let found = state.networking().floating_ip(&caller.0, &id).await?;
    Ok(shown(
        "floatingip",
        views::floating_ip(&found),
        raw.as_deref(),
    ))
}

pub async fn update_floating_ip(
    State(state): State<AppState>,
    caller: NetworkCaller,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response, NeutronError> {
    let body = checked_body(request, &state, "floatingip", ATTRS, Method::Put).await?;
    let change = FloatingIpChange {
        port_id: body.nullable("port_id"),
        fixed_ip_address: body.nullable("fixed_ip_address").flatten(),
        description: body.text("description"),
    };
    let updated = state
        .networking()
        .update_floating_ip(&caller.0, &id, change)
        .await?;
    Ok(respond(
        StatusCode::OK,
        "floatingip",
        views::floating_ip(&updated),
    ))
}

pub async fn delete_floating_ip(
    State(state): State<AppState>,
    caller: NetworkCaller,
    Path(id): Path<String>,
) -> Result<StatusCode, NeutronError> {
    state
        .networking()
        .delete_floating_ip(&caller.0, &id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
