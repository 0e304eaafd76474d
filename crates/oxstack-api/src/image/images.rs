//! `/v2/images` and `/v2/images/{id}`: create, list, show, update, delete,
//! and tags.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use oxstack_image::{Compare, ImageSortKey, Query, TimeColumn, TimeFilter, blank};
use serde_json::{Map, Value, json};

use super::error::GlanceError;
use super::{ImageCaller, patch, schema, views};
use crate::AppState;
use crate::body::{BodyError, read_body};
use crate::oslo::parse_isotime;

/// Glance's page size when none is asked for, and its maximum.
const DEFAULT_LIMIT: i64 = 25;
const MAX_LIMIT: i64 = 1000;
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

/// Splits `eq:value` / `in:value` filter syntax (only single values).
fn filter_value(raw: &str) -> Result<String, GlanceError> {
    match raw.split_once(':') {
        Some(("eq" | "in", value)) => Ok(value.trim_matches('"').to_owned()),
        Some((op, _)) if !op.is_empty() && op.chars().all(|c| c.is_ascii_alphabetic()) => Err(
            GlanceError::bad_request(format!("Unable to filter by unknown operator '{op}'.")),
        ),
        _ => Ok(raw.to_owned()),
    }
}

/// `created_at=gte:2026-01-01T00:00:00Z` and the like.
fn time_filters(params: &[(String, String)]) -> Result<Vec<TimeFilter>, GlanceError> {
    let mut out = Vec::new();
    for (key, value) in params {
        let column = match key.as_str() {
            "created_at" => TimeColumn::CreatedAt,
            "updated_at" => TimeColumn::UpdatedAt,
            _ => continue,
        };
        let bad = || {
            GlanceError::bad_request(format!(
                "Bad \"{key}\" query filter format. Use ISO 8601 DateTime notation."
            ))
        };
        let (op, time) = value.split_once(':').ok_or_else(bad)?;
        let op = match op {
            "eq" => Compare::Eq,
            "neq" => Compare::Ne,
            "lt" => Compare::Lt,
            "lte" => Compare::Le,
            "gt" => Compare::Gt,
            "gte" => Compare::Ge,
            other => {
                return Err(GlanceError::bad_request(format!(
                    "Unable to filter by unknown operator '{other}'."
                )));
            }
        };
        let micros = parse_isotime(time).ok_or_else(bad)?;
        out.push(TimeFilter { column, op, micros });
    }
    Ok(out)
}

fn strict_bool(name: &str, value: &str, lowercase: bool) -> Result<bool, GlanceError> {
    let v = if lowercase {
        value.to_ascii_lowercase()
    } else {
        value.to_owned()
    };
    match v.as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(GlanceError::bad_request(format!(
            "Invalid value '{value}' for '{name}' filter. Valid values are 'true' or 'false'."
        ))),
    }
}

fn parse_sort(params: &[(String, String)]) -> Result<Vec<(ImageSortKey, bool)>, GlanceError> {
    let keys: Vec<&str> = params
        .iter()
        .filter(|(k, _)| k == "sort_key")
        .map(|(_, v)| v.as_str())
        .collect();
    let dirs: Vec<&str> = params
        .iter()
        .filter(|(k, _)| k == "sort_dir")
        .map(|(_, v)| v.as_str())
        .collect();
    let new_style = params
        .iter()
        .find(|(k, _)| k == "sort")
        .map(|(_, v)| v.as_str());
    if new_style.is_some() && (!keys.is_empty() || !dirs.is_empty()) {
        return Err(GlanceError::bad_request(
            "Old and new sorting syntax cannot be combined",
        ));
    }
    let key = |k: &str| {
        ImageSortKey::parse(k).filter(|_| !matches!(k, "min_disk" | "min_ram" | "visibility" | "owner")).ok_or_else(|| {
            GlanceError::bad_request(format!(
                "Invalid sort key: {k}. It must be one of the following: name, status, container_format, disk_format, size, id, created_at, updated_at."
            ))
        })
    };
    let dir = |d: &str| match d {
        "asc" => Ok(false),
        "desc" => Ok(true),
        other => Err(GlanceError::bad_request(format!(
            "Invalid sort direction: {other}"
        ))),
    };
    let mut out = Vec::new();
    if let Some(spec) = new_style {
        for item in spec.split(',').filter(|s| !s.is_empty()) {
            let (k, d) = item.split_once(':').unwrap_or((item, "desc"));
            out.push((key(k.trim())?, dir(d.trim())?));
        }
    } else {
        if dirs.len() > 1 && dirs.len() != keys.len() {
            return Err(GlanceError::bad_request(
                "Number of sort dirs does not match the number of sort keys",
            ));
        }
        let default_dir = dirs.first().map(|d| dir(d)).transpose()?.unwrap_or(true);
        for (i, k) in keys.iter().enumerate() {
            let d = if dirs.len() > 1 {
                dir(dirs[i])?
            } else {
                default_dir
            };
            out.push((key(k)?, d));
        }
        if out.is_empty() {
            out.push((ImageSortKey::CreatedAt, default_dir));
        }
    }
    if !out.iter().any(|(k, _)| *k == ImageSortKey::CreatedAt) {
        let d = out.first().is_some_and(|(_, d)| *d);
        out.push((ImageSortKey::CreatedAt, d));
    }
    Ok(out)
}

/// `GET /v2/images`.
pub async fn list_images(
    State(state): State<AppState>,
    caller: ImageCaller,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, GlanceError> {
    let params: Vec<(String, String)> = match &raw {
        Some(q) => serde_urlencoded::from_str(q)
            .map_err(|_| GlanceError::bad_request("Malformed query string"))?,
        None => Vec::new(),
    };
    let param = |name: &str| {
        params
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let limit = match param("limit") {
        None => DEFAULT_LIMIT,
        Some(v) => {
            let n: i64 = v
                .parse()
                .map_err(|_| GlanceError::bad_request("limit param must be an integer"))?;
            if n < 0 {
                return Err(GlanceError::bad_request("limit param must be positive"));
            }
            n.min(MAX_LIMIT)
        }
    };
    let viewer = caller.viewer();
    let marker = match param("marker") {
        Some(id) => Some(
            state
                .images()
                .get(viewer, id)
                .await
                .map_err(|_| GlanceError::bad_request(format!("No image found with ID {id}")))?
                .row,
        ),
        None => None,
    };
    if let Some(v) = param("visibility")
        && !matches!(v, "community" | "public" | "private" | "shared" | "all")
    {
        return Err(GlanceError::bad_request(format!(
            "Invalid visibility value: {v}"
        )));
    }
    if param("changes-since").is_some() {
        return Err(GlanceError::bad_request(
            "The \"changes-since\" filter is no longer available on v2.",
        ));
    }
    let size = |name: &str| {
        param(name)
            .map(|v| {
                v.parse::<i64>().map_err(|_| {
                    GlanceError::bad_request(
                        "Unable to filter on a range with a non-numeric value.",
                    )
                })
            })
            .transpose()
    };
    let mut properties = BTreeMap::new();
    const KNOWN: [&str; 17] = [
        "limit",
        "marker",
        "sort_key",
        "sort_dir",
        "sort",
        "visibility",
        "member_status",
        "os_hidden",
        "protected",
        "tag",
        "name",
        "status",
        "container_format",
        "disk_format",
        "size_min",
        "size_max",
        "owner",
    ];
    for (k, v) in &params {
        if !KNOWN.contains(&k.as_str()) && !matches!(k.as_str(), "id" | "created_at" | "updated_at")
        {
            properties.insert(k.clone(), v.clone());
        }
    }
    let exact = |name: &str| param(name).map(filter_value).transpose();
    let query = Query {
        scope: viewer.scope(),
        visibility: param("visibility").map(str::to_owned),
        name: exact("name")?,
        status: exact("status")?,
        owner: param("owner").map(str::to_owned),
        disk_format: exact("disk_format")?,
        container_format: exact("container_format")?,
        tags: params
            .iter()
            .filter(|(k, _)| k == "tag")
            .map(|(_, v)| v.clone())
            .collect(),
        protected: param("protected")
            .map(|v| strict_bool("protected", v, false))
            .transpose()?,
        os_hidden: Some(
            param("os_hidden")
                .map(|v| strict_bool("os_hidden", v, true))
                .transpose()?
                .unwrap_or(false),
        ),
        size_min: size("size_min")?,
        size_max: size("size_max")?,
        properties,
        id: param("id").map(filter_value).transpose()?,
        times: time_filters(&params)?,
        sort: parse_sort(&params)?,
        limit: Some(limit),
        marker,
    };
    let images = state.images().list(&query).await?;
    let without_marker: Vec<(String, String)> = params
        .iter()
        .filter(|(k, _)| k != "marker")
        .cloned()
        .collect();
    let encoded = serde_urlencoded::to_string(&without_marker).unwrap_or_default();
    let first = if encoded.is_empty() {
        "/v2/images".to_owned()
    } else {
        format!("/v2/images?{encoded}")
    };
    let mut body = json!({
        "images": images.iter().map(views::image).collect::<Vec<_>>(),
        "first": first,
        "schema": "/v2/schemas/images",
    });
    if limit > 0
        && images.len() as i64 == limit
        && let Some(last) = images.last()
    {
        let mut next = without_marker;
        next.push(("marker".into(), last.row.id.clone()));
        body["next"] = json!(format!(
            "/v2/images?{}",
            serde_urlencoded::to_string(&next).unwrap_or_default()
        ));
    }
    Ok(Json(body))
}
