//! `createImage` and `createBackup`: 202; up to 2.44 the image's URL in
//! `Location` (for a backup only when `rotation` > 0), from 2.45
//! `{"image_id": ...}`.

use std::collections::BTreeMap;

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::{StatusCode, header};
use oxstack_compute::quotas::Resource;
use oxstack_compute::servers::snapshot::SnapshotRequest;
use oxstack_identity::Rule;
use serde_json::{Value, json};

use super::super::error::NovaError;
use super::super::request::{NovaBody, Req};
use super::super::servers::{schema, views};
use super::validate;
use crate::AppState;
use crate::compute::microversion::mv;
use crate::envelope::envelope;

pub(super) async fn perform(
    state: &AppState,
    req: &Req,
    id: &str,
    action: &str,
    body: &NovaBody,
) -> Result<Response, NovaError> {
    let backup = action == "createBackup";
    let mut properties = json!({
        "name": {"type": "string", "minLength": 0, "maxLength": 255},
        "metadata": schema::metadata(),
    });
    let mut required = vec!["name"];
    if backup {
        properties["backup_type"] = json!({"type": "string"});
        properties["rotation"] = json!({"type": ["integer", "string"], "pattern": "^[0-9]*$", "minimum": 0, "minLength": 1});
        required.extend(["backup_type", "rotation"]);
    }
    validate(
        body,
        action,
        json!({"type": "object", "properties": properties, "required": required,
               "additionalProperties": false}),
    )?;
    let policy = if backup {
        "os_compute_api:os-create-backup"
    } else {
        "os_compute_api:servers:create_image"
    };
    req.authorize(policy, Rule::ProjectMember)?;
    let args = &body.0[action];
    let metadata: BTreeMap<String, String> = args["metadata"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default();
    if !req.at_least(mv::NO_IMAGE_METADATA) {
        // Up to 2.38 image metadata counts against `metadata_items`.
        let limit = state
            .compute()
            .quota_limits(&req.ctx.project_id)
            .await?
            .get(&Resource::MetadataItems)
            .copied()
            .unwrap_or(-1);
        if limit >= 0 && metadata.len() as i64 > limit {
            return Err(NovaError::new(
                StatusCode::FORBIDDEN,
                "Image metadata limit exceeded",
            ));
        }
    }
    let rotation = match &args["rotation"] {
        Value::Number(n) => n.as_i64().unwrap_or(0),
        Value::String(s) => s.parse().unwrap_or(0),
        _ => 0,
    };
    let request = SnapshotRequest {
        name: args["name"].as_str().unwrap_or_default().to_owned(),
        metadata,
        backup: backup.then(|| {
            (
                args["backup_type"].as_str().unwrap_or_default().to_owned(),
                rotation,
            )
        }),
    };
    let image_id = state
        .compute()
        .snapshot_server(&views::caller(req), id, request)
        .await?;
    if req.at_least(mv::IMAGE_ID_IN_BODY) {
        return Ok((StatusCode::ACCEPTED, Json(envelope("image_id", image_id))).into_response());
    }
    if backup && rotation == 0 {
        return Ok(StatusCode::ACCEPTED.into_response());
    }
    // Nova points at the image service's (unversioned) image URL.
    let base = req
        .root
        .service_url
        .strip_suffix("/compute")
        .unwrap_or(&req.root.service_url);
    let location = format!("{base}/image/images/{image_id}");
    Ok((StatusCode::ACCEPTED, [(header::LOCATION, location)]).into_response())
}
