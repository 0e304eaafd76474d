//! `/v2/images` and `/v2/images/{id}`: create, show, update, delete, and
//! tags (listing: `list.rs`).

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use oxstack_image::blank;
use serde_json::{Map, Value};

use super::error::GlanceError;
use super::{ImageCaller, patch, schema, views};
use crate::AppState;
use crate::body::{BodyError, read_body};

const MAX_TAGS: usize = 128;
const MAX_PROPERTIES: usize = 128;

/// Core attributes set from a create body; everything else is an extra property.
const CORE: [&str; 9] = [
    "name",
    "id",
    "visibility",
    "protected",
    "os_hidden",
    "min_ram",
    "min_disk",
    "disk_format",
    "container_format",
];

fn create_from_body(
    body: &Map<String, Value>,
    is_admin: bool,
) -> Result<oxstack_image::Image, GlanceError> {
    for key in ["direct_url", "self", "file", "schema", "stores"] {
        if body.contains_key(key) {
            return Err(GlanceError::read_only(key));
        }
    }
    schema::validate(&Value::Object(body.clone())).map_err(GlanceError::bad_request)?;
    for key in schema::READ_ONLY {
        if body.contains_key(key) && key != "id" {
            return Err(GlanceError::read_only(key));
        }
    }
    let id = body
        .get("id")
        .and_then(Value::as_str)
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
    let mut image = blank(id);
    let r = &mut image.row;
    r.name = body.get("name").and_then(Value::as_str).map(str::to_owned);
    if let Some(v) = body.get("visibility").and_then(Value::as_str) {
        r.visibility = v.to_owned();
    }
    r.protected = body
        .get("protected")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    r.os_hidden = body
        .get("os_hidden")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    r.min_ram = body.get("min_ram").and_then(Value::as_i64).unwrap_or(0);
    r.min_disk = body.get("min_disk").and_then(Value::as_i64).unwrap_or(0);
    r.disk_format = body
        .get("disk_format")
        .and_then(Value::as_str)
        .map(str::to_owned);
    r.container_format = body
        .get("container_format")
        .and_then(Value::as_str)
        .map(str::to_owned);
    if r.min_ram < 0 || r.min_disk < 0 {
        let (name, value) = if r.min_ram < 0 {
            ("min_ram", r.min_ram)
        } else {
            ("min_disk", r.min_disk)
        };
        return Err(GlanceError::bad_request(format!(
            "Invalid value '{value}' for parameter '{name}': Cannot be a negative value"
        )));
    }
    if let Some(owner) = body.get("owner").and_then(Value::as_str) {
        if !is_admin {
            return Err(GlanceError::forbidden(
                "Owner can't be updated by non admin.",
            ));
        }
        r.owner = Some(owner.to_owned());
    }
    if let Some(tags) = body.get("tags").and_then(Value::as_array) {
        image.tags = tags
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect();
        image.tags.sort();
        image.tags.dedup();
    }
    for (key, value) in body {
        if CORE.contains(&key.as_str()) || key == "owner" || key == "tags" {
            continue;
        }
        if schema::is_reserved(key) {
            return Err(GlanceError::reserved(key));
        }
        if key.chars().count() > 255 {
            return Err(GlanceError::bad_request(
                "Custom property should not be greater than 255 characters.",
            ));
        }
        image
            .properties
            .insert(key.clone(), value.as_str().unwrap_or_default().to_owned());
    }
    check_quotas(&image)?;
    Ok(image)
}

/// Glance's per-image limits on tags and properties.
pub fn check_quotas(image: &oxstack_image::Image) -> Result<(), GlanceError> {
    if image.tags.len() > MAX_TAGS {
        return Err(GlanceError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "The limit has been exceeded on the number of allowed image tags. Attempted: {}, Maximum: {MAX_TAGS}",
                image.tags.len()
            ),
        ));
    }
    if image.properties.len() > MAX_PROPERTIES {
        return Err(GlanceError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "The limit has been exceeded on the number of allowed image properties. Attempted: {}, Maximum: {MAX_PROPERTIES}",
                image.properties.len()
            ),
        ));
    }
    Ok(())
}

/// `POST /v2/images`: 201 with the `queued` image and its `Location`.
pub async fn create_image(
    State(state): State<AppState>,
    caller: ImageCaller,
    request: axum::extract::Request,
) -> Result<Response, GlanceError> {
    let bytes = read_body(request, &state).await?;
    if bytes.is_empty() {
        return Err(GlanceError::bad_request("Body expected in request."));
    }
    let body: Value =
        serde_json::from_slice(&bytes).map_err(|_| GlanceError::from(BodyError::Malformed))?;
    let Value::Object(body) = body else {
        return Err(GlanceError::bad_request(
            "Unexpected body type. Expected list/dict.",
        ));
    };
    let image = create_from_body(&body, caller.0.is_admin())?;
    let image = state.images().create(caller.viewer(), image).await?;
    let mut response = (StatusCode::CREATED, Json(views::image(&image))).into_response();
    if let Ok(location) = HeaderValue::from_str(&format!("/v2/images/{}", image.row.id)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

pub async fn show_image(
    State(state): State<AppState>,
    caller: ImageCaller,
    Path(id): Path<String>,
) -> Result<Json<Value>, GlanceError> {
    Ok(Json(views::image(
        &state.images().get(caller.viewer(), &id).await?,
    )))
}

/// `GET /v2/images/{id}/tasks` (Glance 2.12): the asynchronous tasks
/// (imports, location changes) of an image. This cloud runs none, so an
/// image the caller sees has none.
pub async fn list_image_tasks(
    State(state): State<AppState>,
    caller: ImageCaller,
    Path(id): Path<String>,
) -> Result<Json<Value>, GlanceError> {
    state.images().get(caller.viewer(), &id).await?;
    Ok(Json(serde_json::json!({"tasks": []})))
}

pub async fn delete_image(
    State(state): State<AppState>,
    caller: ImageCaller,
    Path(id): Path<String>,
) -> Result<StatusCode, GlanceError> {
    match state.images().delete(caller.viewer(), &id).await {
        Err(oxstack_image::ImageError::NotFound(_)) => Err(GlanceError::not_found(format!(
            "Failed to find image {id} to delete"
        ))),
        other => other
            .map(|()| StatusCode::NO_CONTENT)
            .map_err(GlanceError::from),
    }
}

/// `PATCH /v2/images/{id}` with a v2.1 (or v2.0) JSON patch.
pub async fn update_image(
    State(state): State<AppState>,
    caller: ImageCaller,
    Path(id): Path<String>,
    request: axum::extract::Request,
) -> Result<Response, GlanceError> {
    let style = match patch::style_of(request.headers()) {
        Ok(style) => style,
        Err(e) => {
            let mut response = e.into_response();
            response
                .headers_mut()
                .insert("accept-patch", patch::accept_patch());
            return Ok(response);
        }
    };
    let bytes = axum::body::to_bytes(request.into_body(), state.config().max_body_bytes)
        .await
        .map_err(|_| GlanceError::new(StatusCode::PAYLOAD_TOO_LARGE, "Request is too large."))?;
    let ops = patch::parse(&bytes, style)?;
    let is_admin = caller.0.is_admin();
    let image = state
        .images()
        .update(caller.viewer(), &id, |image| {
            patch::apply(image, &ops, is_admin).map_err(GlanceError::into_image_error)
        })
        .await?;
    Ok(Json(views::image(&image)).into_response())
}

pub async fn add_tag(
    State(state): State<AppState>,
    caller: ImageCaller,
    Path((id, tag)): Path<(String, String)>,
) -> Result<StatusCode, GlanceError> {
    if tag.chars().count() > 255 {
        return Err(GlanceError::bad_request(format!(
            "Provided object does not match schema 'image': '{tag}' is too long"
        )));
    }
    let image = state.images().get(caller.viewer(), &id).await?;
    if image.tags.len() >= MAX_TAGS && !image.tags.contains(&tag) {
        return Err(GlanceError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "Image tag limit exceeded for image {id}: The limit has been exceeded on the number of allowed image tags. Attempted: {}, Maximum: {MAX_TAGS}",
                image.tags.len() + 1
            ),
        ));
    }
    state.images().add_tag(caller.viewer(), &id, &tag).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn remove_tag(
    State(state): State<AppState>,
    caller: ImageCaller,
    Path((id, tag)): Path<(String, String)>,
) -> Result<StatusCode, GlanceError> {
    state
        .images()
        .remove_tag(caller.viewer(), &id, &tag)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
