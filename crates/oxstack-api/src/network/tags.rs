//! Tags on networks, subnets, ports and security groups
//! (`/v2.0/{collection}/{id}/tags[/{tag}]`).

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use oxstack_network::Resource;
use serde_json::{Value, json};

use super::error::NeutronError;
use super::{NetworkCaller, json_body};
use crate::AppState;

/// The longest tag Neutron takes.
const MAX_TAG: usize = 255;

fn resource(collection: &str) -> Result<Resource, NeutronError> {
    match collection {
        "networks" => Ok(Resource::Network),
        "subnets" => Ok(Resource::Subnet),
        "ports" => Ok(Resource::Port),
        "security-groups" => Ok(Resource::SecurityGroup),
        "routers" => Ok(Resource::Router),
        "floatingips" => Ok(Resource::FloatingIp),
        _ => Err(NeutronError::not_found()),
    }
}

fn valid_tag(tag: &str) -> Result<(), NeutronError> {
    if tag.is_empty() || tag.chars().count() > MAX_TAG || tag.contains(',') {
        return Err(NeutronError::bad_request(format!(
            "Invalid input for tags. Reason: '{tag}' is not a valid tag."
        )));
    }
    Ok(())
}

pub async fn list_tags(
    State(state): State<AppState>,
    caller: NetworkCaller,
    Path((collection, id)): Path<(String, String)>,
) -> Result<Json<Value>, NeutronError> {
    let tags = state
        .networking()
        .tags(&caller.0, resource(&collection)?, &id)
        .await?;
    Ok(Json(json!({"tags": tags})))
}

pub async fn replace_tags(
    State(state): State<AppState>,
    caller: NetworkCaller,
    Path((collection, id)): Path<(String, String)>,
    request: Request,
) -> Result<Json<Value>, NeutronError> {
    let body = json_body(request, &state).await?;
    let tags: Vec<String> = match body.get("tags") {
        Some(Value::Array(items)) => items
            .iter()
            .map(|t| t.as_str().map(str::to_owned))
            .collect::<Option<_>>()
            .ok_or_else(|| {
                NeutronError::bad_request("Invalid input for tags. Reason: tags must be strings.")
            })?,
        _ => {
            return Err(NeutronError::bad_request(
                "Invalid input for tags. Reason: a list of tags is required.",
            ));
        }
    };
    for tag in &tags {
        valid_tag(tag)?;
    }
    let kind = resource(&collection)?;
    state
        .networking()
        .set_tags(&caller.0, kind, &id, &tags)
        .await?;
    let stored = state.networking().tags(&caller.0, kind, &id).await?;
    Ok(Json(json!({"tags": stored})))
}

pub async fn remove_all_tags(
    State(state): State<AppState>,
    caller: NetworkCaller,
    Path((collection, id)): Path<(String, String)>,
) -> Result<StatusCode, NeutronError> {
    state
        .networking()
        .set_tags(&caller.0, resource(&collection)?, &id, &[])
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn show_tag(
    State(state): State<AppState>,
    caller: NetworkCaller,
    Path((collection, id, tag)): Path<(String, String, String)>,
) -> Result<StatusCode, NeutronError> {
    let tags = state
        .networking()
        .tags(&caller.0, resource(&collection)?, &id)
        .await?;
    if tags.contains(&tag) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(NeutronError::new(
            StatusCode::NOT_FOUND,
            "TagNotFound",
            format!(
                "Tag {tag} could not be found for {} {id}.",
                resource(&collection)?.name()
            ),
        ))
    }
}

pub async fn add_tag(
    State(state): State<AppState>,
    caller: NetworkCaller,
    Path((collection, id, tag)): Path<(String, String, String)>,
) -> Result<Response, NeutronError> {
    valid_tag(&tag)?;
    state
        .networking()
        .change_tag(&caller.0, resource(&collection)?, &id, &tag, true)
        .await?;
    Ok(StatusCode::CREATED.into_response())
}

pub async fn remove_tag(
    State(state): State<AppState>,
    caller: NetworkCaller,
    Path((collection, id, tag)): Path<(String, String, String)>,
) -> Result<StatusCode, NeutronError> {
    state
        .networking()
        .change_tag(&caller.0, resource(&collection)?, &id, &tag, false)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
