//! `/v2.0/routers`: create, list, show, update, delete, and
//! `add_router_interface` / `remove_router_interface`.

use axum::Json;
use axum::extract::{Path, RawQuery, Request, State};
use axum::response::Response;
use http::{HeaderMap, StatusCode};
use oxstack_network::{GatewaySpec, InterfaceRef, RouterChange, RouterInterface, RouterSpec};
use serde_json::{Map, Value, json};

use super::attributes::{Attr, Attrs, Kind, Method, as_bool, attr};
use super::error::NeutronError;
use super::ports::fixed_ips;
use super::{NetworkCaller, checked_body, json_body, listing, respond, shown, views};
use crate::AppState;

const ATTRS: &[Attr] = &[
    attr("name", Kind::Str(255), true, true),
    attr("description", Kind::Str(255), true, true),
    attr("admin_state_up", Kind::Bool, true, true),
    attr("external_gateway_info", Kind::NullableDict, true, true),
    attr("availability_zone_hints", Kind::List, true, false),
    attr("project_id", Kind::Str(255), true, false),
    attr("tenant_id", Kind::Str(255), true, false),
];

/// `external_gateway_info`: `None` when absent, `Some(None)` when null or
/// empty (no gateway), else the gateway asked for.
fn gateway(body: &Map<String, Value>) -> Result<Option<Option<GatewaySpec>>, NeutronError> {
    let Some(value) = body.get("external_gateway_info") else {
        return Ok(None);
    };
    // `null` and `{}` both take the gateway away (`router unset
    // --external-gateway` sends the latter).
    let info = match value {
        Value::Object(info) if !info.is_empty() => info,
        _ => return Ok(Some(None)),
    };
    let invalid = |reason: String| {
        NeutronError::bad_request(format!(
            "Invalid input for external_gateway_info. Reason: {reason}."
        ))
    };
    if let Some(k) = info.keys().find(|k| {
        !matches!(
            k.as_str(),
            "network_id" | "enable_snat" | "external_fixed_ips"
        )
    }) {
        return Err(invalid(format!(
            "Validation of dictionary's keys failed. Expected keys: \
             {{'network_id'}} Provided keys: {{'{k}'}}"
        )));
    }
    let Some(network_id) = info.get("network_id").and_then(Value::as_str) else {
        return Err(invalid(
            "Validation of dictionary's keys failed. Expected keys: {'network_id'} Provided \
             keys: {}"
                .into(),
        ));
    };
    let enable_snat = match info.get("enable_snat") {
        None => None,
        Some(v) => Some(as_bool(v).ok_or_else(|| {
            NeutronError::bad_request(format!(
                "Invalid input for operation: '{v}' cannot be converted to boolean."
            ))
        })?),
    };
    Ok(Some(Some(GatewaySpec {
        network_id: network_id.to_owned(),
        enable_snat,
        external_fixed_ips: fixed_ips(info, "external_fixed_ips")?,
    })))
}

pub async fn create_router(
    State(state): State<AppState>,
    caller: NetworkCaller,
    request: Request,
) -> Result<Response, NeutronError> {
    let body = checked_body(request, &state, "router", ATTRS, Method::Post).await?;
    let spec = RouterSpec {
        project_id: body.project(),
        name: body.text("name").unwrap_or_default(),
        description: body.text("description").unwrap_or_default(),
        admin_state_up: body.flag("admin_state_up"),
        gateway: gateway(&body)?.flatten(),
        ..Default::default()
    };
    let router = state.networking().create_router(&caller.0, spec).await?;
    Ok(respond(
        StatusCode::CREATED,
        "router",
        views::router(&router, caller.is_admin()),
    ))
}

pub async fn list_routers(
    State(state): State<AppState>,
    caller: NetworkCaller,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, NeutronError> {
    let routers = state.networking().routers(&caller.0).await?;
    let views = routers
        .iter()
        .map(|r| views::router(r, caller.is_admin()))
        .collect();
    listing(
        ("routers", "routers", views::ROUTER_FIELDS),
        views,
        &headers,
        &state,
        raw.as_deref(),
    )
}

pub async fn show_router(
    State(state): State<AppState>,
    caller: NetworkCaller,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, NeutronError> {
    let router = state.networking().router(&caller.0, &id).await?;
    Ok(shown(
        "router",
        views::router(&router, caller.is_admin()),
        raw.as_deref(),
    ))
}

pub async fn update_router(
    State(state): State<AppState>,
    caller: NetworkCaller,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response, NeutronError> {
    let body = checked_body(request, &state, "router", ATTRS, Method::Put).await?;
    let change = RouterChange {
        name: body.text("name"),
        description: body.text("description"),
        admin_state_up: body.flag("admin_state_up"),
        gateway: gateway(&body)?,
    };
    let router = state
        .networking()
        .update_router(&caller.0, &id, change)
        .await?;
    Ok(respond(
        StatusCode::OK,
        "router",
        views::router(&router, caller.is_admin()),
    ))
}

pub async fn delete_router(
    State(state): State<AppState>,
    caller: NetworkCaller,
    Path(id): Path<String>,
) -> Result<StatusCode, NeutronError> {
    state.networking().delete_router(&caller.0, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The body of an interface change: `subnet_id` or `port_id` (removal
/// takes both, the port checked against the subnet).
async fn interface(
    request: Request,
    state: &AppState,
    removal: bool,
) -> Result<InterfaceRef, NeutronError> {
    let body = json_body(request, state).await?;
    let Value::Object(body) = body else {
        return Err(NeutronError::bad_request("Body contains invalid data"));
    };
    let bad = |message: &str| {
        NeutronError::new(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            format!("Bad router request: {message}."),
        )
    };
    let text = |key: &str| match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(NeutronError::bad_request(format!(
            "Invalid input for {key}. Reason: '{other}' is not a valid UUID."
        ))),
    };
    match (text("subnet_id")?, text("port_id")?) {
        (None, None) => Err(bad("Either subnet_id or port_id must be specified")),
        (Some(subnet), None) => Ok(InterfaceRef::Subnet(subnet)),
        (None, Some(port)) => Ok(InterfaceRef::Port(port)),
        (Some(subnet_id), Some(port_id)) if removal => {
            Ok(InterfaceRef::PortOnSubnet { port_id, subnet_id })
        }
        (Some(_), Some(_)) => Err(bad("Cannot specify both subnet-id and port-id")),
    }
}

fn interface_view(i: &RouterInterface) -> Json<Value> {
    Json(json!({
        "id": i.router_id,
        "project_id": i.project_id,
        "tenant_id": i.project_id,
        "port_id": i.port_id,
        "network_id": i.network_id,
        "subnet_id": i.subnet_id,
        "subnet_ids": i.subnet_ids,
    }))
}

pub async fn add_router_interface(
    State(state): State<AppState>,
    caller: NetworkCaller,
    Path(id): Path<String>,
    request: Request,
) -> Result<Json<Value>, NeutronError> {
    let what = interface(request, &state, false).await?;
    let added = state
        .networking()
        .add_router_interface(&caller.0, &id, what)
        .await?;
    Ok(interface_view(&added))
}

pub async fn remove_router_interface(
    State(state): State<AppState>,
    caller: NetworkCaller,
    Path(id): Path<String>,
    request: Request,
) -> Result<Json<Value>, NeutronError> {
    let what = interface(request, &state, true).await?;
    let removed = state
        .networking()
        .remove_router_interface(&caller.0, &id, what)
        .await?;
    Ok(interface_view(&removed))
}
