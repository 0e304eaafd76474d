//! `/v2.0/security-groups` and `/v2.0/security-group-rules`.

use axum::Json;
use axum::extract::{Path, RawQuery, Request, State};
use axum::response::Response;
use http::{HeaderMap, StatusCode};
use oxstack_network::RuleSpec;
use serde_json::Value;

use super::attributes::{Attr, Attrs, Kind, Method, attr, required};
use super::error::NeutronError;
use super::{NetworkCaller, checked_body, listing, respond, shown, views};
use crate::AppState;

const GROUP_ATTRS: &[Attr] = &[
    attr("name", Kind::Str(255), true, true),
    attr("description", Kind::Str(255), true, true),
    attr("stateful", Kind::Bool, true, false),
    attr("project_id", Kind::Str(255), true, false),
    attr("tenant_id", Kind::Str(255), true, false),
];

const RULE_ATTRS: &[Attr] = &[
    attr("security_group_id", Kind::Uuid, true, false),
    attr("direction", Kind::Str(16), true, false),
    attr("ethertype", Kind::Str(16), true, false),
    attr("protocol", Kind::NullableStr(40), true, false),
    attr("port_range_min", Kind::Int, true, false),
    attr("port_range_max", Kind::Int, true, false),
    attr("remote_ip_prefix", Kind::NullableStr(64), true, false),
    attr("remote_group_id", Kind::NullableUuid, true, false),
    attr("description", Kind::Str(255), true, false),
    attr("project_id", Kind::Str(255), true, false),
    attr("tenant_id", Kind::Str(255), true, false),
];

pub async fn create_security_group(
    State(state): State<AppState>,
    caller: NetworkCaller,
    request: Request,
) -> Result<Response, NeutronError> {
    let body = checked_body(request, &state, "security_group", GROUP_ATTRS, Method::Post).await?;
    let group = state
        .networking()
        .create_security_group(
            &caller.0,
            body.project().as_deref(),
            body.text("name").unwrap_or_default(),
            body.text("description").unwrap_or_default(),
            body.flag("stateful").unwrap_or(true),
        )
        .await?;
    Ok(respond(
        StatusCode::CREATED,
        "security_group",
        views::security_group(&group),
    ))
}

pub async fn list_security_groups(
    State(state): State<AppState>,
    caller: NetworkCaller,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, NeutronError> {
    let groups = state.networking().security_groups(&caller.0).await?;
    let views = groups.iter().map(views::security_group).collect();
    listing(
        (
            "security_groups",
            "security-groups",
            views::SECURITY_GROUP_FIELDS,
        ),
        views,
        &headers,
        &state,
        raw.as_deref(),
    )
}

pub async fn show_security_group(
    State(state): State<AppState>,
    caller: NetworkCaller,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, NeutronError> {
    let group = state.networking().security_group(&caller.0, &id).await?;
    Ok(shown(
        "security_group",
        views::security_group(&group),
        raw.as_deref(),
    ))
}

pub async fn update_security_group(
    State(state): State<AppState>,
    caller: NetworkCaller,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response, NeutronError> {
    let body = checked_body(request, &state, "security_group", GROUP_ATTRS, Method::Put).await?;
    let group = state
        .networking()
        .update_security_group(&caller.0, &id, body.text("name"), body.text("description"))
        .await?;
    Ok(respond(
        StatusCode::OK,
        "security_group",
        views::security_group(&group),
    ))
}

pub async fn delete_security_group(
    State(state): State<AppState>,
    caller: NetworkCaller,
    Path(id): Path<String>,
) -> Result<StatusCode, NeutronError> {
    state
        .networking()
        .delete_security_group(&caller.0, &id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn create_rule(
    State(state): State<AppState>,
    caller: NetworkCaller,
    request: Request,
) -> Result<Response, NeutronError> {
    let body = checked_body(
        request,
        &state,
        "security_group_rule",
        RULE_ATTRS,
        Method::Post,
    )
    .await?;
    for key in ["security_group_id", "direction"] {
        required(&body, key)?;
    }
    let spec = RuleSpec {
        project_id: body.project(),
        security_group_id: body.text("security_group_id").unwrap_or_default(),
        direction: body.text("direction").unwrap_or_default(),
        ethertype: body.text("ethertype"),
        protocol: body.text("protocol"),
        port_range_min: body.int("port_range_min"),
        port_range_max: body.int("port_range_max"),
        remote_ip_prefix: body.text("remote_ip_prefix"),
        remote_group_id: body.text("remote_group_id"),
        description: body.text("description").unwrap_or_default(),
        ..Default::default()
    };
    let rule = state
        .networking()
        .create_security_group_rule(&caller.0, spec)
        .await?;
    Ok(respond(
        StatusCode::CREATED,
        "security_group_rule",
        views::rule(&rule),
    ))
}

pub async fn list_rules(
    State(state): State<AppState>,
    caller: NetworkCaller,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, NeutronError> {
    let rules = state.networking().security_group_rules(&caller.0).await?;
    let views = rules.iter().map(views::rule).collect();
    listing(
        (
            "security_group_rules",
            "security-group-rules",
            views::RULE_FIELDS,
        ),
        views,
        &headers,
        &state,
        raw.as_deref(),
    )
}

pub async fn show_rule(
    State(state): State<AppState>,
    caller: NetworkCaller,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, NeutronError> {
    let rule = state
        .networking()
        .security_group_rule(&caller.0, &id)
        .await?;
    Ok(shown(
        "security_group_rule",
        views::rule(&rule),
        raw.as_deref(),
    ))
}

pub async fn delete_rule(
    State(state): State<AppState>,
    caller: NetworkCaller,
    Path(id): Path<String>,
) -> Result<StatusCode, NeutronError> {
    state
        .networking()
        .delete_security_group_rule(&caller.0, &id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
