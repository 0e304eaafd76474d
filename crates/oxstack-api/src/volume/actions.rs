//! `POST /volumes/{id}/action`: extend, bootable and read-only flags,
//! status resets and forced deletes (admins), image metadata, and the
//! upload of a volume's data to the image service.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use oxstack_volume::ImageUpload;
use serde_json::{Value, json};

use super::views::volume_type;
use super::volumes::string_map;
use super::{CinderError, VolumeReq, boolish, respond, vv};
use crate::AppState;
use crate::compute::NovaBody;

/// The one-key body of an action, with its argument.
pub(super) fn action_of(body: &NovaBody) -> Result<(&str, &Value), CinderError> {
    match body.0.as_object() {
        Some(o) if o.len() == 1 => {
            let (k, v) = o
                .iter()
                .next()
                .map(|(k, v)| (k.as_str(), v))
                .unwrap_or_default();
            Ok((k, v))
        }
        _ => Err(CinderError::bad_request("Malformed request body")),
    }
}

/// A field of an action's argument that must read as a boolean.
fn flag(arg: &Value, field: &str) -> Result<bool, CinderError> {
    let value = arg
        .get(field)
        .ok_or_else(|| CinderError::bad_request(format!("'{field}' is a required property")))?;
    boolish(value).ok_or_else(|| {
        CinderError::bad_request(format!(
            "Invalid input for field/attribute {field}. Value: {}. {} is not of type 'boolean'",
            crate::validation::pyrepr::str(value),
            crate::validation::pyrepr::repr(value)
        ))
    })
}

fn text<'a>(arg: &'a Value, field: &str) -> Option<&'a str> {
    arg.get(field).and_then(Value::as_str)
}

pub async fn volume_action(
    State(state): State<AppState>,
    req: VolumeReq,
    Path(id): Path<String>,
    body: NovaBody,
) -> Result<Response, CinderError> {
    let (action, arg) = action_of(&body)?;
    let volumes = state.volumes();
    let caller = &req.caller;
    match action {
        "os-extend" => {
            let new_size = arg
                .get("new_size")
                .and_then(|v| v.as_i64().or_else(|| v.as_str()?.trim().parse().ok()))
                .filter(|n| (1..=super::volumes::MAX_SIZE).contains(n))
                .ok_or_else(|| {
                    CinderError::bad_request(format!(
                        "Invalid input for field/attribute new_size. Value: {}. {} is not valid under any of the given schemas",
                        crate::validation::pyrepr::str(&arg["new_size"]),
                        crate::validation::pyrepr::repr(&arg["new_size"])
                    ))
                })?;
            volumes
                .extend_volume(caller, &id, new_size, req.at_least(vv::EXTEND_IN_USE))
                .await?;
            Ok(StatusCode::ACCEPTED.into_response())
        }
        "os-set_bootable" => {
            volumes
                .set_bootable(caller, &id, flag(arg, "bootable")?)
                .await?;
            Ok(StatusCode::OK.into_response())
        }
        "os-update_readonly_flag" => {
            volumes
                .set_readonly(caller, &id, flag(arg, "readonly")?)
                .await?;
            Ok(StatusCode::ACCEPTED.into_response())
        }
        "os-reset_status" => {
            volumes
                .reset_volume_status(caller, &id, text(arg, "status"), text(arg, "attach_status"))
                .await?;
            Ok(StatusCode::ACCEPTED.into_response())
        }
        "os-force_delete" => {
            volumes.delete_volume(caller, &id, false, true).await?;
            Ok(StatusCode::ACCEPTED.into_response())
        }
        "os-set_image_metadata" => {
            let set = string_map(arg.get("metadata"));
            let meta = volumes
                .change_image_metadata(caller, &id, set, None)
                .await?;
            Ok(respond(StatusCode::OK, "metadata", json!(meta)))
        }
        "os-unset_image_metadata" => {
            let key = text(arg, "key")
                .ok_or_else(|| CinderError::bad_request("'key' is a required property"))?;
            volumes
                .change_image_metadata(caller, &id, Default::default(), Some(key))
                .await?;
            Ok(StatusCode::OK.into_response())
        }
        "os-show_image_metadata" => {
            let volume = volumes.volume(caller, &id).await?;
            Ok(respond(
                StatusCode::OK,
                "metadata",
                json!(volume.image_metadata),
            ))
        }
        "os-volume_upload_image" => upload_image(&state, &req, &id, arg).await,
        other => Err(no_such_action(other)),
    }
}

/// Cinder's 400 for an action it does not know.
pub(super) fn no_such_action(action: &str) -> CinderError {
    CinderError::bad_request(format!(
        "There is no such action: {action}. Verify the request body and Content-Type header and try again."
    ))
}

async fn upload_image(
    state: &AppState,
    req: &VolumeReq,
    id: &str,
    arg: &Value,
) -> Result<Response, CinderError> {
    let image_name = text(arg, "image_name")
        .filter(|n| !n.is_empty() && n.len() <= 255)
        .ok_or_else(|| CinderError::bad_request("'image_name' is a required property"))?;
    let force = match arg.get("force") {
        Some(v) => boolish(v).ok_or_else(|| {
            CinderError::bad_request(format!(
                "Invalid input for field/attribute force. Value: {}. Invalid boolean",
                crate::validation::pyrepr::str(v)
            ))
        })?,
        None => false,
    };
    let upload = ImageUpload {
        image_name: image_name.to_owned(),
        force,
        disk_format: text(arg, "disk_format").map(str::to_owned),
        container_format: text(arg, "container_format").map(str::to_owned),
        visibility: text(arg, "visibility").map(str::to_owned),
        protected: arg.get("protected").and_then(boolish).unwrap_or(false),
    };
    let volumes = state.volumes();
    let (volume, image_id) = volumes
        .upload_to_image(&req.caller, id, upload.clone())
        .await?;
    let vtype = volumes
        .volume_type(&req.caller, &volume.row.volume_type_id)
        .await
        .ok();
    Ok(respond(
        StatusCode::ACCEPTED,
        "os-volume_upload_image",
        json!({
            "id": volume.row.id,
            "updated_at": crate::compute::naive_time(Some(volume.row.updated_at)),
            "status": "uploading",
            "display_description": volume.row.description,
            "size": volume.row.size,
            "volume_type": vtype.map(|t| volume_type(req, &t)),
            "image_id": image_id,
            "container_format": upload.container_format.unwrap_or_else(|| "bare".into()),
            "disk_format": upload.disk_format.unwrap_or_else(|| "raw".into()),
            "image_name": upload.image_name,
            "protected": upload.protected,
            "visibility": upload.visibility.unwrap_or_else(|| "private".into()),
        }),
    ))
}
