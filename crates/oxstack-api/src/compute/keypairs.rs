//! `/os-keypairs`: a user's key pairs (`nova/api/openstack/compute/
//! keypairs.py`, `views/keypairs.py`, `schemas/keypairs.py`). A key pair
//! is named in the path; admins reach other users' with `user_id` (2.10).

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use oxstack_compute::keypairs::{CreatedKeyPair, KeyPair, KeyType, NewKeyPair};
use serde_json::{Map, Value, json};

use super::error::NovaError;
use super::pagination::{limit_and_marker, next_links};
use super::request::{NovaBody, Req};
use super::servers::views::{caller, naive_time};
use crate::AppState;
use crate::compute::microversion::mv;

/// Nova's key pair name: `parameter_types.keypair_name_special_chars`
/// (2.1-2.91), `..._v292` from 2.92; any printable name in the legacy v2
/// API, whose spaces around it are trimmed.
fn name_schema(req: &Req) -> Value {
    if req.root.legacy_v2 {
        return json!({"type": "string", "format": "name_with_leading_trailing_spaces",
                      "minLength": 1, "maxLength": 255});
    }
    let pattern = if req.at_least(mv::IMPORTED_KEYPAIRS) {
        "^[_\\-\\@\\. a-zA-Z0-9]+$"
    } else {
        "^[_\\- a-zA-Z0-9]+$"
    };
    // Nova's allOf of `name` and the pattern, flattened in the order its
    // errors are reported.
    json!({"type": "string", "minLength": 1, "maxLength": 255, "format": "name",
           "pattern": pattern})
}

fn create_schema(req: &Req) -> Value {
    let mut props = json!({"name": name_schema(req), "public_key": {"type": "string"}});
    if req.at_least(mv::KEYPAIR_TYPE) {
        props["type"] = json!({"type": "string", "enum": ["ssh", "x509"]});
    }
    if req.at_least(mv::KEYPAIR_USERS) {
        props["user_id"] = json!({"type": "string"});
    }
    let required = if req.at_least(mv::IMPORTED_KEYPAIRS) {
        json!(["name", "public_key"])
    } else {
        json!(["name"])
    };
    json!({
        "type": "object",
        "properties": {"keypair": {"type": "object", "properties": props,
                                   "required": required, "additionalProperties": false}},
        "required": ["keypair"],
        "additionalProperties": false,
    })
}

/// The query parameters of a listing (`paged`) or of one key pair, at the
/// request's version: free-form before 2.10, `user_id` from 2.10, paging
/// from 2.35, nothing else from 2.75.
fn query_schema(req: &Req, paged: bool) -> Value {
    let one = |item: Value| json!({"type": "array", "items": item});
    let mut props = Map::new();
    if req.at_least(mv::KEYPAIR_USERS) {
        props.insert("user_id".into(), one(json!({"type": "string"})));
    }
    if paged && req.at_least(mv::KEYPAIR_PAGING) {
        props.insert(
            "limit".into(),
            one(json!({"type": ["integer", "string"], "pattern": "^[0-9]*$",
                       "minimum": 0, "minLength": 1})),
        );
        props.insert("marker".into(), one(json!({"type": "string"})));
    }
    json!({"type": "object", "properties": props,
           "additionalProperties": !req.at_least(mv::STRICT_QUERIES)})
}

/// Whose key pairs the request is about: `?user_id=` (the first one, from
/// 2.10) or the caller's.
fn user_of(req: &Req) -> String {
    req.query
        .iter()
        .find(|(k, _)| k == "user_id")
        .filter(|_| req.at_least(mv::KEYPAIR_USERS))
        .map_or_else(|| req.ctx.user_id.clone(), |(_, v)| v.clone())
}

/// The fields every view has; `type` from 2.2.
fn base_view(req: &Req, k: &KeyPair) -> Map<String, Value> {
    let mut view = Map::new();
    view.insert("name".into(), json!(k.name));
    view.insert("public_key".into(), json!(k.public_key));
    view.insert("fingerprint".into(), json!(k.fingerprint));
    if req.at_least(mv::KEYPAIR_TYPE) {
        view.insert("type".into(), json!(k.key_type.to_string()));
    }
    view
}

fn created_view(req: &Req, created: &CreatedKeyPair) -> Value {
    let mut view = base_view(req, &created.key_pair);
    view.insert("user_id".into(), json!(created.key_pair.user_id));
    if let Some(private_key) = &created.private_key {
        view.insert("private_key".into(), json!(private_key));
    }
    json!({"keypair": view})
}

/// One key pair, with the soft-delete fields Nova's model has (never set:
/// key pairs are neither updated nor soft-deleted).
fn detail_view(req: &Req, k: &KeyPair) -> Value {
    let mut view = base_view(req, k);
    view.insert("user_id".into(), json!(k.user_id));
    view.insert("id".into(), json!(k.id));
    view.insert("created_at".into(), naive_time(Some(k.created_at)));
    view.insert("updated_at".into(), Value::Null);
    view.insert("deleted_at".into(), Value::Null);
    view.insert("deleted".into(), json!(false));
    json!({"keypair": view})
}

pub async fn list_keypairs(
    State(state): State<AppState>,
    req: Req,
) -> Result<Json<Value>, NovaError> {
    req.validate_query(&query_schema(&req, true))?;
    let user_id = user_of(&req);
    req.authorize_user("os_compute_api:os-keypairs:index", &user_id)?;
    let paged = req.at_least(mv::KEYPAIR_PAGING);
    let (limit, marker) = if paged {
        let (limit, marker) = limit_and_marker(&req)?;
        (Some(limit), marker)
    } else {
        (None, None)
    };
    let found = state
        .compute()
        .list_key_pairs(&user_id, marker.as_deref(), limit)
        .await?;
    let items: Vec<Value> = found
        .iter()
        .map(|k| json!({"keypair": base_view(&req, k)}))
        .collect();
    let mut body = json!({"keypairs": items});
    if paged
        && let Some(links) = next_links(
            &req,
            "os-keypairs",
            found.len(),
            found.last().map(|k| k.name.as_str()),
        )
    {
        body["keypairs_links"] = links;
    }
    Ok(Json(body))
}

pub async fn create_keypair(
    State(state): State<AppState>,
    req: Req,
    body: NovaBody,
) -> Result<Response, NovaError> {
    let params = &body.validate(&create_schema(&req))?["keypair"];
    let text = |key: &str| params.get(key).and_then(Value::as_str);
    let user_id = text("user_id")
        .filter(|u| !u.is_empty())
        .map_or_else(|| req.ctx.user_id.clone(), str::to_owned);
    req.authorize_user("os_compute_api:os-keypairs:create", &user_id)?;
    let new = NewKeyPair {
        // Nova's `normalize_name` (only the legacy API lets spaces around).
        name: text("name").unwrap_or_default().trim().to_owned(),
        key_type: match text("type") {
            Some("x509") => KeyType::X509,
            _ => KeyType::Ssh,
        },
        public_key: text("public_key").map(str::to_owned),
        user_id: Some(user_id),
    };
    let created = state.compute().create_key_pair(&caller(&req), new).await?;
    let status = if req.at_least(mv::KEYPAIR_TYPE) {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(created_view(&req, &created))).into_response())
}

pub async fn show_keypair(
    State(state): State<AppState>,
    req: Req,
    Path(name): Path<String>,
) -> Result<Json<Value>, NovaError> {
    req.validate_query(&query_schema(&req, false))?;
    let user_id = user_of(&req);
    req.authorize_user("os_compute_api:os-keypairs:show", &user_id)?;
    let found = state.compute().get_key_pair(&user_id, &name).await?;
    Ok(Json(detail_view(&req, &found)))
}

pub async fn delete_keypair(
    State(state): State<AppState>,
    req: Req,
    Path(name): Path<String>,
) -> Result<StatusCode, NovaError> {
    req.validate_query(&query_schema(&req, false))?;
    let user_id = user_of(&req);
    req.authorize_user("os_compute_api:os-keypairs:delete", &user_id)?;
    state.compute().delete_key_pair(&user_id, &name).await?;
    Ok(if req.at_least(mv::KEYPAIR_TYPE) {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::ACCEPTED
    })
}
