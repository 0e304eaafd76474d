//! Flavor access: which projects may use a private flavor (admin only).

use axum::Json;
use axum::extract::{Path, State};
use oxstack_identity::Rule;
use serde_json::{Value, json};

use super::schema;
use crate::AppState;
use crate::compute::error::NovaError;
use crate::compute::microversion::mv;
use crate::compute::request::{NovaBody, Req};
use crate::envelope::envelope;

fn access_list(flavor_id: &str, projects: &[String]) -> Json<Value> {
    let items: Vec<Value> = projects
        .iter()
        .map(|p| json!({"flavor_id": flavor_id, "tenant_id": p}))
        .collect();
    Json(envelope("flavor_access", items))
}

/// `GET /flavors/{id}/os-flavor-access`.
pub async fn list_flavor_access(
    State(state): State<AppState>,
    req: Req,
    Path(id): Path<String>,
) -> Result<Json<Value>, NovaError> {
    req.authorize("os_compute_api:os-flavor-access", Rule::Admin)?;
    req.refuse_unknown_query(&[], mv::STRICT_QUERIES_EVERYWHERE)?;
    let projects = state.compute().flavor_access(&id).await?;
    Ok(access_list(&id, &projects))
}

/// `POST /flavors/{id}/action`: `addTenantAccess` or `removeTenantAccess`.
pub async fn flavor_action(
    State(state): State<AppState>,
    req: Req,
    Path(id): Path<String>,
    body: NovaBody,
) -> Result<Json<Value>, NovaError> {
    let action = body.action()?.to_owned();
    let projects = match action.as_str() {
        "addTenantAccess" => {
            req.authorize(
                "os_compute_api:os-flavor-access:add_tenant_access",
                Rule::Admin,
            )?;
            let body = body.validate(&schema::tenant_access(&action))?;
            let tenant = body[&action]["tenant"].as_str().unwrap_or_default();
            state
                .compute()
                .add_flavor_access(&id, tenant, req.at_least(mv::PUBLIC_FLAVOR_ACCESS_CONFLICT))
                .await?
        }
        "removeTenantAccess" => {
            req.authorize(
                "os_compute_api:os-flavor-access:remove_tenant_access",
                Rule::Admin,
            )?;
            let body = body.validate(&schema::tenant_access(&action))?;
            let tenant = body[&action]["tenant"].as_str().unwrap_or_default();
            state.compute().remove_flavor_access(&id, tenant).await?
        }
        other => {
            return Err(NovaError::bad_request(format!(
                "There is no such action: {other}"
            )));
        }
    };
    Ok(access_list(&id, &projects))
}
