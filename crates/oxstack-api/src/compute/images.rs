//! The compute API's image proxy (`/images`, deprecated: 404 from 2.36),
//! served from the image store with Nova's view (`views/images.py`).

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use http::StatusCode;
use oxstack_image::{Image, ImageError, ImageSortKey, Query, Viewer};
use serde_json::{Value, json};

use super::error::NovaError;
use super::pagination::{limit_and_marker, next_links};
use super::request::Req;
use crate::AppState;
use crate::envelope::envelope;
use crate::oslo::{bool_from_string, parse_isotime};

/// The caller as the image service sees them.
pub fn viewer(req: &Req) -> Viewer<'_> {
    Viewer {
        project_id: &req.ctx.project_id,
        is_admin: req.ctx.is_admin(),
        is_member: req.ctx.has_role(oxstack_identity::policy::roles::MEMBER),
    }
}

/// Glance's errors as the image proxy reports them.
pub fn image_error(err: ImageError) -> NovaError {
    match err {
        ImageError::NotFound(_) => NovaError::not_found("Image not found."),
        ImageError::Forbidden(m) => NovaError::new(StatusCode::FORBIDDEN, m),
        ImageError::Conflict(m) => NovaError::new(StatusCode::CONFLICT, m),
        ImageError::Invalid(m) => NovaError::bad_request(m),
        ImageError::Store(e) if e.is_unavailable() => NovaError::unavailable(&e),
        other => {
            tracing::error!(error = %other, "image store failure");
            NovaError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Unexpected API Error. Please contact the administrator",
            )
        }
    }
}

fn links(req: &Req, id: &str) -> Value {
    let mut links = req.links("images", id);
    if let Some(list) = links.as_array_mut() {
        list.push(json!({
            "rel": "alternate",
            "type": "application/vnd.openstack.image",
            "href": format!("{}/image/images/{id}", base_of(&req.root.service_url)),
        }));
    }
    links
}

/// `http://host` of `http://host/compute`.
fn base_of(service_url: &str) -> &str {
    service_url.strip_suffix("/compute").unwrap_or(service_url)
}

fn summary(req: &Req, image: &Image) -> Value {
    json!({"id": image.row.id, "name": image.row.name, "links": links(req, &image.row.id)})
}

fn detail(req: &Req, image: &Image) -> Value {
    let r = &image.row;
    let status = match r.status.as_str() {
        "active" => "ACTIVE",
        "queued" | "saving" => "SAVING",
        "deleted" | "pending_delete" => "DELETED",
        "killed" => "ERROR",
        _ => "UNKNOWN",
    };
    let progress = match r.status.as_str() {
        "queued" => 25,
        "saving" => 50,
        "active" => 100,
        _ => 0,
    };
    let mut v = json!({
        "id": r.id,
        "name": r.name,
        "minRam": r.min_ram,
        "minDisk": r.min_disk,
        "metadata": image.properties,
        "created": crate::image::isotime(r.created_at),
        "updated": crate::image::isotime(r.updated_at),
        "status": status,
        "progress": progress,
        // Nova reports a size Glance does not know yet as 0 (`nova/image/glance.py`).
        "OS-EXT-IMG-SIZE:size": r.size.unwrap_or(0),
        "links": links(req, &r.id),
    });
    if let Some(server) = image.properties.get("instance_uuid") {
        v["server"] = json!({"id": server, "links": req.links("servers", server)});
    }
    if let Some(auto) = image.properties.get("auto_disk_config") {
        let on = bool_from_string(auto) == Some(true);
        v["OS-DCF:diskConfig"] = json!(if on { "AUTO" } else { "MANUAL" });
    }
    v
}

async fn list(state: &AppState, req: &Req, detailed: bool) -> Result<Json<Value>, NovaError> {
    let (limit, marker) = limit_and_marker(req)?;
    let viewer = viewer(req);
    let marker = match marker {
        Some(id) => Some(
            state
                .images()
                .get(viewer, &id)
                .await
                .map_err(|_| NovaError::bad_request(format!("marker [{id}] not found")))?
                .row,
        ),
        None => None,
    };
    let mut properties = BTreeMap::new();
    if let Some(server) = req.param("server") {
        properties.insert(
            "instance_uuid".to_owned(),
            server.rsplit('/').next().unwrap_or(server).to_owned(),
        );
    }
    if let Some(kind) = req.param("type") {
        properties.insert("image_type".to_owned(), kind.to_owned());
    }
    for (k, v) in &req.query {
        if let Some(name) = k.strip_prefix("property-") {
            properties.insert(name.to_owned(), v.clone());
        }
    }
    let query = Query {
        scope: viewer.scope(),
        visibility: None,
        name: req.param("name").map(str::to_owned),
        status: req.param("status").map(str::to_ascii_lowercase),
        owner: None,
        disk_format: None,
        container_format: None,
        tags: Vec::new(),
        protected: None,
        os_hidden: Some(false),
        size_min: None,
        size_max: None,
        properties,
        id: None,
        times: Vec::new(),
        sort: vec![(ImageSortKey::CreatedAt, true)],
        limit: None,
        marker,
    };
    let min = |name: &str| -> Result<Option<i64>, NovaError> {
        req.param(name)
            .map(|v| {
                v.parse()
                    .map_err(|_| NovaError::bad_request(format!("Invalid {name} filter [{v}]")))
            })
            .transpose()
    };
    let (min_ram, min_disk) = (min("minRam")?, min("minDisk")?);
    let changes_since = req
        .param("changes-since")
        .map(|v| {
            parse_isotime(v)
                .ok_or_else(|| NovaError::bad_request(format!("Invalid changes-since value [{v}]")))
        })
        .transpose()?;
    let images: Vec<Image> = state
        .images()
        .list(&query)
        .await
        .map_err(image_error)?
        .into_iter()
        .filter(|i| min_ram.is_none_or(|m| i.row.min_ram >= m))
        .filter(|i| min_disk.is_none_or(|m| i.row.min_disk >= m))
        .filter(|i| changes_since.is_none_or(|t| i.row.updated_at >= t))
        .take(limit as usize)
        .collect();
    let items: Vec<Value> = images
        .iter()
        .map(|i| {
            if detailed {
                detail(req, i)
            } else {
                summary(req, i)
            }
        })
        .collect();
    let mut body = envelope("images", items);
    let collection = if detailed { "images/detail" } else { "images" };
    if let Some(links) = next_links(
        req,
        collection,
        images.len(),
        images.last().map(|i| i.row.id.as_str()),
    ) {
        body["images_links"] = links;
    }
    Ok(Json(body))
}

pub async fn list_images(
    State(state): State<AppState>,
    req: Req,
) -> Result<Json<Value>, NovaError> {
    list(&state, &req, false).await
}

pub async fn list_images_detail(
    State(state): State<AppState>,
    req: Req,
) -> Result<Json<Value>, NovaError> {
    list(&state, &req, true).await
}

pub async fn show_image(
    State(state): State<AppState>,
    req: Req,
    Path(id): Path<String>,
) -> Result<Json<Value>, NovaError> {
    let image = state
        .images()
        .get(viewer(&req), &id)
        .await
        .map_err(image_error)?;
    Ok(Json(envelope("image", detail(&req, &image))))
}

pub async fn delete_image(
    State(state): State<AppState>,
    req: Req,
    Path(id): Path<String>,
) -> Result<StatusCode, NovaError> {
    state
        .images()
        .delete(viewer(&req), &id)
        .await
        .map_err(|e| match e {
            ImageError::Forbidden(_) => NovaError::new(
                StatusCode::FORBIDDEN,
                "You are not allowed to delete the image.",
            ),
            other => image_error(other),
        })?;
    Ok(StatusCode::NO_CONTENT)
}
