//! `/v2.0/quotas`: per-project limits, their defaults and their use.

use axum::Json;
use axum::extract::{Path, Request, State};
use http::StatusCode;
use oxstack_network::Quota;
use serde_json::{Map, Value, json};

use super::attributes::as_int;
use super::error::NeutronError;
use super::{NetworkCaller, json_body};
use crate::AppState;

fn limits(quotas: &[Quota]) -> Map<String, Value> {
    quotas
        .iter()
        .map(|q| (q.resource.clone(), json!(q.limit)))
        .collect()
}

pub async fn list_quotas(
    State(state): State<AppState>,
    caller: NetworkCaller,
) -> Result<Json<Value>, NeutronError> {
    let all = state.networking().all_quotas(&caller.0).await?;
    let quotas: Vec<Value> = all
        .iter()
        .map(|(project, q)| {
            let mut m = limits(q);
            m.insert("project_id".into(), json!(project));
            m.insert("tenant_id".into(), json!(project));
            Value::Object(m)
        })
        .collect();
    Ok(Json(json!({"quotas": quotas})))
}

pub async fn show_quota(
    State(state): State<AppState>,
    caller: NetworkCaller,
    Path(project_id): Path<String>,
) -> Result<Json<Value>, NeutronError> {
    let quotas = state.networking().quotas(&caller.0, &project_id).await?;
    Ok(Json(json!({"quota": limits(&quotas)})))
}

pub async fn show_default_quota(
    State(state): State<AppState>,
    _caller: NetworkCaller,
    Path(_project_id): Path<String>,
) -> Json<Value> {
    let defaults: Map<String, Value> = state
        .networking()
        .default_quotas()
        .into_iter()
        .map(|(r, l)| (r, json!(l)))
        .collect();
    Json(json!({"quota": defaults}))
}

pub async fn show_quota_details(
    State(state): State<AppState>,
    caller: NetworkCaller,
    Path(project_id): Path<String>,
) -> Result<Json<Value>, NeutronError> {
    let quotas = state.networking().quotas(&caller.0, &project_id).await?;
    let details: Map<String, Value> = quotas
        .iter()
        .map(|q| {
            (
                q.resource.clone(),
                json!({"used": q.used, "limit": q.limit, "reserved": 0}),
            )
        })
        .collect();
    Ok(Json(json!({"quota": details})))
}

pub async fn update_quota(
    State(state): State<AppState>,
    caller: NetworkCaller,
    Path(project_id): Path<String>,
    request: Request,
) -> Result<Json<Value>, NeutronError> {
    let body = json_body(request, &state).await?;
    let Some(Value::Object(quota)) = body.get("quota") else {
        return Err(NeutronError::bad_request(
            "Unable to find 'quota' in request body",
        ));
    };
    let mut wanted = Vec::new();
    for (resource, value) in quota {
        let limit = as_int(value).ok_or_else(|| {
            NeutronError::bad_request(format!(
                "Invalid input for {resource}. Reason: '{value}' is not an integer."
            ))
        })?;
        wanted.push((resource.clone(), limit));
    }
    let quotas = state
        .networking()
        .set_quotas(&caller.0, &project_id, &wanted)
        .await?;
    Ok(Json(json!({"quota": limits(&quotas)})))
}

pub async fn reset_quota(
    State(state): State<AppState>,
    caller: NetworkCaller,
    Path(project_id): Path<String>,
) -> Result<StatusCode, NeutronError> {
    state
        .networking()
        .reset_quotas(&caller.0, &project_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
