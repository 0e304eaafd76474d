//! `/v3/users`.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use http::{HeaderMap, StatusCode};
use oxstack_identity::{DEFAULT_DOMAIN_ID, NewUser, UserPatch};
use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};

use super::projects::list_filter;
use super::views::{collection_links, user};
use super::{Caller, KeystoneError, KeystoneJson};
use crate::envelope::envelope;
use crate::{AppState, urls};

pub async fn list_users(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, KeystoneError> {
    caller.require_admin("identity:list_users")?;
    let base = urls::base_url(&headers, state.config());
    let rows = state.identity().list_users(&list_filter(&query)?).await?;
    let items: Vec<Value> = rows.iter().map(|u| user(&base, u)).collect();
    Ok(Json(
        json!({"users": items, "links": collection_links(&base, "users")}),
    ))
}

/// Admins, and users themselves, may read a user.
pub async fn show_user(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, KeystoneError> {
    if !caller.0.is_admin() && caller.0.user_id != id {
        return Err(KeystoneError::forbidden("identity:get_user"));
    }
    let row = state.identity().get_user(&id).await?;
    Ok(Json(envelope(
        "user",
        user(&urls::base_url(&headers, state.config()), &row),
    )))
}

/// Distinguishes an absent field (`None`) from an explicit `null` (`Some(None)`).
fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Deserialize)]
pub struct UserBody {
    user: UserFields,
}

#[derive(Deserialize)]
struct UserFields {
    name: Option<String>,
    domain_id: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    password: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    default_project_id: Option<Option<String>>,
    enabled: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    email: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    description: Option<Option<String>>,
}

pub async fn create_user(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    KeystoneJson(body): KeystoneJson<UserBody>,
) -> Result<(StatusCode, Json<Value>), KeystoneError> {
    caller.require_admin("identity:create_user")?;
    let f = body.user;
    let name = f.name.ok_or_else(|| {
        KeystoneError::bad_request("Invalid input for field 'user': 'name' is a required property")
    })?;
    let row = state
        .identity()
        .create_user(NewUser {
            name,
            domain_id: f.domain_id.unwrap_or_else(|| DEFAULT_DOMAIN_ID.into()),
            password: f.password.flatten(),
            default_project_id: f.default_project_id.flatten(),
            enabled: f.enabled.unwrap_or(true),
            email: f.email.flatten(),
            description: f.description.flatten(),
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(envelope(
            "user",
            user(&urls::base_url(&headers, state.config()), &row),
        )),
    ))
}

pub async fn update_user(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    KeystoneJson(body): KeystoneJson<UserBody>,
) -> Result<Json<Value>, KeystoneError> {
    caller.require_admin("identity:update_user")?;
    let f = body.user;
    if f.domain_id.is_some() {
        return Err(KeystoneError::bad_request(
            "Update of `domain_id` is not allowed.",
        ));
    }
    let patch = UserPatch {
        name: f.name,
        password: f.password,
        default_project_id: f.default_project_id,
        enabled: f.enabled,
        email: f.email,
        description: f.description,
    };
    let row = state.identity().update_user(&id, patch).await?;
    Ok(Json(envelope(
        "user",
        user(&urls::base_url(&headers, state.config()), &row),
    )))
}

pub async fn delete_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, KeystoneError> {
    caller.require_admin("identity:delete_user")?;
    state.identity().delete_user(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}
