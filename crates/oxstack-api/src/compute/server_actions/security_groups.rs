//! `addSecurityGroup` / `removeSecurityGroup` (202) and
//! `GET /servers/{id}/os-security-groups`.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use oxstack_identity::Rule;
use serde_json::{Value, json};

use super::super::error::NovaError;
use super::super::request::{NovaBody, Req};
use super::super::servers::views;
use crate::AppState;
use crate::compute::microversion::mv;
use crate::envelope::envelope;

pub(super) async fn perform(
    state: &AppState,
    req: &Req,
    id: &str,
    action: &str,
    body: &NovaBody,
) -> Result<Response, NovaError> {
    // Nova's schema: the action object needs a name; other top-level keys
    // are tolerated.
    body.validate(&json!({
        "type": "object",
        "properties": {action: {"type": "object",
            "properties": {"name": {"type": "string", "minLength": 1}},
            "required": ["name"]}},
        "required": [action],
    }))?;
    let add = action == "addSecurityGroup";
    let policy = if add {
        "os_compute_api:os-security-groups:add"
    } else {
        "os_compute_api:os-security-groups:remove"
    };
    req.authorize(policy, Rule::ProjectMember)?;
    let name = body.0[action]["name"].as_str().unwrap_or_default();
    state
        .compute()
        .change_security_group(&views::caller(req), id, name, add)
        .await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

pub async fn list_server_security_groups(
    State(state): State<AppState>,
    req: Req,
    Path(id): Path<String>,
) -> Result<Json<Value>, NovaError> {
    req.refuse_unknown_query(&[], mv::STRICT_QUERIES_EVERYWHERE)?;
    req.authorize(
        "os_compute_api:os-security-groups:list",
        Rule::ProjectReader,
    )?;
    let groups = state
        .compute()
        .server_security_groups(&views::caller(&req), &id)
        .await?;
    // In Nova's proxy shape, with their ingress rules.
    let caller = oxstack_network::Caller {
        project_id: req.ctx.project_id.clone(),
        is_admin: true,
        can_write: false,
    };
    let mut full = Vec::with_capacity(groups.len());
    for g in &groups {
        if let Ok(group) = state.networking().security_group(&caller, &g.id).await {
            full.push(group);
        }
    }
    let items: Vec<Value> = full
        .iter()
        .map(|g| crate::compute::security_groups::group_view(g, &full))
        .collect();
    Ok(Json(envelope("security_groups", items)))
}
