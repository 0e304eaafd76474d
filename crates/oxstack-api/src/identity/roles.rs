//! `/v3/roles`, project grants and `/v3/role_assignments`.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use http::{HeaderMap, StatusCode};
use oxstack_identity::policy::with_implied_roles;
use oxstack_identity::{Assignment, AssignmentFilter, Role};
use serde_json::{Value, json};

use super::views::{collection_links, domain_ref, role, v3_url};
use super::{Caller, KeystoneError, KeystoneJson};
use crate::envelope::envelope;
use crate::{AppState, urls};

pub async fn list_roles(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, KeystoneError> {
    caller.require_admin("identity:list_roles")?;
    let base = urls::base_url(&headers, state.config());
    let rows = state
        .identity()
        .list_roles(query.get("name").map(String::as_str))
        .await?;
    let items: Vec<Value> = rows.iter().map(|r| role(&base, r)).collect();
    Ok(Json(
        json!({"roles": items, "links": collection_links(&base, "roles")}),
    ))
}

#[derive(serde::Deserialize)]
pub struct RoleBody {
    role: RoleFields,
}

#[derive(serde::Deserialize)]
struct RoleFields {
    name: Option<String>,
    description: Option<String>,
}

pub async fn create_role(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    KeystoneJson(body): KeystoneJson<RoleBody>,
) -> Result<(StatusCode, Json<Value>), KeystoneError> {
    caller.require_admin("identity:create_role")?;
    let name = body.role.name.ok_or_else(|| {
        KeystoneError::bad_request("Invalid input for field 'role': 'name' is a required property")
    })?;
    let row = state
        .identity()
        .create_role(&name, body.role.description)
        .await?;
    let base = urls::base_url(&headers, state.config());
    Ok((
        StatusCode::CREATED,
        Json(envelope("role", role(&base, &row))),
    ))
}

pub async fn delete_role(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, KeystoneError> {
    caller.require_admin("identity:delete_role")?;
    state.identity().delete_role(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn show_role(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, KeystoneError> {
    caller.require_admin("identity:get_role")?;
    let row = state.identity().get_role(&id).await?;
    Ok(Json(envelope(
        "role",
        role(&urls::base_url(&headers, state.config()), &row),
    )))
}

/// `GET /v3/projects/{p}/users/{u}/roles`: the roles granted directly.
pub async fn list_grants(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path((project_id, user_id)): Path<(String, String)>,
) -> Result<Json<Value>, KeystoneError> {
    caller.require_admin("identity:list_grants")?;
    state.identity().get_project(&project_id).await?;
    state.identity().get_user(&user_id).await?;
    let filter = AssignmentFilter {
        project_id: Some(project_id.clone()),
        user_id: Some(user_id.clone()),
        role_id: None,
    };
    let grants = state.identity().list_assignments(&filter).await?;
    let roles = state.identity().list_roles(None).await?;
    let base = urls::base_url(&headers, state.config());
    let items: Vec<Value> = roles
        .iter()
        .filter(|r| grants.iter().any(|g| g.role_id == r.id))
        .map(|r| role(&base, r))
        .collect();
    Ok(Json(
        json!({"roles": items, "links": collection_links(&base, &format!("projects/{project_id}/users/{user_id}/roles"))}),
    ))
}

pub async fn grant_role(
    State(state): State<AppState>,
    caller: Caller,
    Path((project_id, user_id, role_id)): Path<(String, String, String)>,
) -> Result<StatusCode, KeystoneError> {
    caller.require_admin("identity:create_grant")?;
    state
        .identity()
        .grant_role(&project_id, &user_id, &role_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `HEAD`/`GET` of a grant: 204 when held, 404 when not.
pub async fn check_grant(
    State(state): State<AppState>,
    caller: Caller,
    Path((project_id, user_id, role_id)): Path<(String, String, String)>,
) -> Result<StatusCode, KeystoneError> {
    caller.require_admin("identity:check_grant")?;
    if state
        .identity()
        .has_grant(&project_id, &user_id, &role_id)
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(KeystoneError::new(
            StatusCode::NOT_FOUND,
            format!(
                "Could not find role assignment with role: {role_id}, user or group: {user_id}, project, domain, or system: {project_id}."
            ),
        ))
    }
}

pub async fn revoke_grant(
    State(state): State<AppState>,
    caller: Caller,
    Path((project_id, user_id, role_id)): Path<(String, String, String)>,
) -> Result<StatusCode, KeystoneError> {
    caller.require_admin("identity:revoke_grant")?;
    state
        .identity()
        .revoke_role(&project_id, &user_id, &role_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v3/role_assignments` with Keystone's filters (`user.id`,
/// `scope.project.id`, `role.id`), `effective` (implied roles expanded) and
/// `include_names`. Group and domain assignments do not exist here, so
/// filters on them match nothing.
pub async fn list_assignments(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, KeystoneError> {
    caller.require_admin("identity:list_role_assignments")?;
    let base = urls::base_url(&headers, state.config());
    let links = collection_links(&base, "role_assignments");
    if query.contains_key("group.id")
        || query.contains_key("scope.domain.id")
        || query.contains_key("scope.system")
    {
        return Ok(Json(json!({"role_assignments": [], "links": links})));
    }
    let identity = state.identity();
    let roles = identity.list_roles(None).await?;
    let role_filter = query.get("role.id").cloned();
    let filter = AssignmentFilter {
        project_id: query.get("scope.project.id").cloned(),
        user_id: query.get("user.id").cloned(),
        role_id: None,
    };
    let mut rows = identity.list_assignments(&filter).await?;
    if query.contains_key("effective") {
        rows = expand_implied(rows, &roles);
    }
    rows.retain(|a| role_filter.as_ref().is_none_or(|r| *r == a.role_id));

    let names = query.contains_key("include_names");
    let mut items = Vec::with_capacity(rows.len());
    for a in &rows {
        let mut role_ref = json!({"id": a.role_id});
        let mut user_ref = json!({"id": a.user_id});
        let mut project_ref = json!({"id": a.project_id});
        if names {
            if let Some(r) = roles.iter().find(|r| r.id == a.role_id) {
                role_ref["name"] = json!(r.name);
            }
            let user = identity.get_user(&a.user_id).await?;
            user_ref["name"] = json!(user.name);
            user_ref["domain"] = domain_ref(&identity.get_domain(&user.domain_id).await?);
            let project = identity.get_project(&a.project_id).await?;
            project_ref["name"] = json!(project.name);
            project_ref["domain"] = domain_ref(&identity.get_domain(&project.domain_id).await?);
        }
        let assignment = format!(
            "{}/projects/{}/users/{}/roles/{}",
            v3_url(&base),
            a.project_id,
            a.user_id,
            a.role_id
        );
        items.push(json!({
            "role": role_ref,
            "user": user_ref,
            "scope": {"project": project_ref},
            "links": {"assignment": assignment},
        }));
    }
    Ok(Json(json!({"role_assignments": items, "links": links})))
}

/// Adds the roles implied by each grant, as Keystone's `effective` does.
fn expand_implied(rows: Vec<Assignment>, roles: &[Role]) -> Vec<Assignment> {
    let name_of = |id: &str| roles.iter().find(|r| r.id == id).map(|r| r.name.clone());
    let id_of = |name: &str| roles.iter().find(|r| r.name == name).map(|r| r.id.clone());
    let mut out: Vec<Assignment> = Vec::new();
    for a in rows {
        let Some(name) = name_of(&a.role_id) else {
            continue;
        };
        for implied in with_implied_roles([name]) {
            if let Some(role_id) = id_of(&implied) {
                let row = Assignment {
                    project_id: a.project_id.clone(),
                    user_id: a.user_id.clone(),
                    role_id,
                };
                if !out.contains(&row) {
                    out.push(row);
                }
            }
        }
    }
    out
}
