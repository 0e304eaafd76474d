//! `GET /v2/images`: Glance's filters (`eq:`/`in:` values, time
//! comparisons, booleans, sizes, tags, extra properties), sort keys and
//! directions, and paging with a `next` link.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{RawQuery, State};
use oxstack_image::{Compare, ImageSortKey, Query, TimeColumn, TimeFilter};
use serde_json::{Value, json};

use super::error::GlanceError;
use super::{ImageCaller, views};
use crate::AppState;
use crate::oslo::parse_isotime;

/// Glance's page size when none is asked for, and its maximum.
const DEFAULT_LIMIT: i64 = 25;
const MAX_LIMIT: i64 = 1000;

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
