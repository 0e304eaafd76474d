//! Glance's JSON patch for images: `application/openstack-images-v2.1-json-patch`
//! (`{"op", "path", "value"}`) and the deprecated v2.0 form
//! (`{"replace": "/name", "value": ...}`), applied to core attributes, tags
//! and extra properties with Glance's rules.

use http::{HeaderMap, HeaderValue, StatusCode, header};
use oxstack_image::Image;
use serde_json::{Value, json};

use super::error::GlanceError;
use super::{images, schema};

const V21: &str = "application/openstack-images-v2.1-json-patch";
const V20: &str = "application/openstack-images-v2.0-json-patch";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    V20,
    V21,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Add,
    Replace,
    Remove,
}

#[derive(Clone, Debug)]
pub struct Change {
    op: Op,
    /// The attribute or property name (JSON pointer of depth 1, unescaped).
    name: String,
    value: Option<Value>,
}

/// The patch style named by the Content-Type, else 415 with `Accept-Patch`.
pub fn style_of(headers: &HeaderMap) -> Result<Style, GlanceError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    match content_type.split(';').next().unwrap_or("").trim() {
        V21 => Ok(Style::V21),
        V20 => Ok(Style::V20),
        _ => Err(GlanceError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("Image PATCH expects Content-Type one of: {V20}, {V21}"),
        )),
    }
}

/// The `Accept-Patch` header Glance sends with a 415.
pub fn accept_patch() -> HeaderValue {
    HeaderValue::from_static(
        "application/openstack-images-v2.0-json-patch, application/openstack-images-v2.1-json-patch",
    )
}

fn pointer_name(path: &str) -> Result<String, GlanceError> {
    if !path.starts_with('/') {
        return Err(GlanceError::bad_request(format!(
            "Pointer `{path}` does not start with \"/\"."
        )));
    }
    if path.contains("//") {
        return Err(GlanceError::bad_request(format!(
            "Pointer `{path}` contains adjacent \"/\"."
        )));
    }
    if path.len() > 1 && path.ends_with('/') {
        return Err(GlanceError::bad_request(format!(
            "Pointer `{path}` end with \"/\"."
        )));
    }
    let inner = &path[1..];
    if inner.contains('/') {
        return Err(GlanceError::bad_request(format!(
            "Invalid JSON pointer for this resource: '{path}'"
        )));
    }
    Ok(inner.replace("~1", "/").replace("~0", "~"))
}

/// Parses the body into changes.
pub fn parse(bytes: &[u8], style: Style) -> Result<Vec<Change>, GlanceError> {
    let body: Value = serde_json::from_slice(bytes)
        .map_err(|_| GlanceError::bad_request("Malformed JSON in request body."))?;
    let Value::Array(items) = body else {
        return Err(GlanceError::bad_request(
            "Request body must be a JSON array of operation objects.",
        ));
    };
    let ops = "It must be one of the following: add, remove, replace.";
    let mut changes = Vec::with_capacity(items.len());
    for item in items {
        let Value::Object(obj) = item else {
            return Err(GlanceError::bad_request("Operations must be JSON objects."));
        };
        let (op_name, path) = match style {
            Style::V21 => {
                let op = obj.get("op").and_then(Value::as_str).ok_or_else(|| {
                    GlanceError::bad_request(format!(
                        "Unable to find `op` in JSON Schema change. {ops}"
                    ))
                })?;
                let path = obj.get("path").and_then(Value::as_str).ok_or_else(|| {
                    GlanceError::bad_request("Unable to find 'path' in JSON Schema change")
                })?;
                (op.to_owned(), path.to_owned())
            }
            Style::V20 => {
                let found = ["add", "replace", "remove"]
                    .into_iter()
                    .find(|k| obj.contains_key(*k))
                    .ok_or_else(|| {
                        GlanceError::bad_request(format!(
                            "Unable to find `op` in JSON Schema change. {ops}"
                        ))
                    })?;
                let path = obj[found].as_str().unwrap_or_default().to_owned();
                (found.to_owned(), path)
            }
        };
        let op = match op_name.as_str() {
            "add" => Op::Add,
            "replace" => Op::Replace,
            "remove" => Op::Remove,
            other => {
                return Err(GlanceError::bad_request(format!(
                    "Invalid operation: `{other}`. {ops}"
                )));
            }
        };
        let name = pointer_name(&path)?;
        let value = obj.get("value").cloned();
        if op != Op::Remove && value.is_none() {
            return Err(GlanceError::bad_request(format!(
                "Operation \"{op_name}\" requires a member named \"value\"."
            )));
        }
        if schema::READ_ONLY.contains(&name.as_str()) {
            return Err(GlanceError::read_only(&name));
        }
        if schema::is_reserved(&name) {
            return Err(GlanceError::reserved(&name));
        }
        if let Some(value) = &value {
            schema::validate(&json!({ name.clone(): value })).map_err(GlanceError::bad_request)?;
        }
        changes.push(Change { op, name, value });
    }
    Ok(changes)
}

const BASE: [&str; 11] = [
    "name",
    "visibility",
    "protected",
    "os_hidden",
    "min_ram",
    "min_disk",
    "disk_format",
    "container_format",
    "tags",
    "owner",
    "locations",
];

/// Applies the changes to the image.
pub fn apply(image: &mut Image, changes: &[Change], is_admin: bool) -> Result<(), GlanceError> {
    for change in changes {
        let name = change.name.as_str();
        if BASE.contains(&name) {
            let Some(value) = &change.value else {
                return Err(GlanceError::forbidden(format!(
                    "Property {name} may not be removed."
                )));
            };
            set_base(image, name, value, is_admin)?;
            continue;
        }
        let exists = image.properties.contains_key(name);
        match change.op {
            Op::Remove | Op::Replace if !exists => {
                return Err(GlanceError::new(
                    StatusCode::CONFLICT,
                    format!("Property {name} does not exist."),
                ));
            }
            Op::Remove => {
                image.properties.remove(name);
            }
            Op::Add | Op::Replace => {
                let text = change
                    .value
                    .as_ref()
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                image.properties.insert(name.to_owned(), text);
            }
        }
    }
    images::check_quotas(image)
}

fn set_base(
    image: &mut Image,
    name: &str,
    value: &Value,
    is_admin: bool,
) -> Result<(), GlanceError> {
    let r = &mut image.row;
    let text = || value.as_str().map(str::to_owned);
    match name {
        "name" => r.name = text(),
        "visibility" => r.visibility = text().unwrap_or_default(),
        "protected" => r.protected = value.as_bool().unwrap_or(false),
        "os_hidden" => r.os_hidden = value.as_bool().unwrap_or(false),
        "min_ram" | "min_disk" => {
            let n = value.as_i64().unwrap_or(0);
            if n < 0 {
                return Err(GlanceError::bad_request(format!(
                    "Invalid value '{n}' for parameter '{name}': Cannot be a negative value"
                )));
            }
            if name == "min_ram" {
                r.min_ram = n
            } else {
                r.min_disk = n
            }
        }
        "disk_format" | "container_format" => {
            if r.status != "queued" {
                return Err(GlanceError::forbidden(format!(
                    "Attribute {name} can be only replaced for a queued image."
                )));
            }
            if name == "disk_format" {
                r.disk_format = text()
            } else {
                r.container_format = text()
            }
        }
        "tags" => {
            let mut tags: Vec<String> = value
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect();
            tags.sort();
            tags.dedup();
            image.tags = tags;
        }
        "owner" => {
            if !is_admin {
                return Err(GlanceError::forbidden(
                    "Owner can't be updated by non admin.",
                ));
            }
            r.owner = text();
        }
        _ => {
            return Err(GlanceError::forbidden(
                "Cannot set locations: image locations are not exposed.",
            ));
        }
    }
    Ok(())
}
