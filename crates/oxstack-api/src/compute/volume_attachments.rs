//! `/servers/{id}/os-volume_attachments[/{volume_id}]`: a server's
//! volumes, attached and detached as Nova's `os-volumes_attachments`
//! does (the work itself runs on the server's host).

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use oxstack_compute::servers::VolumeAttachRequest;
use oxstack_identity::Rule;
use oxstack_volume::AttachmentRow;
use serde_json::{Value, json};

use super::error::NovaError;
use super::microversion::mv;
use super::request::{NovaBody, Req};
use super::servers::views::caller;
use crate::AppState;
use crate::envelope::envelope;

/// One attachment as Nova shows it; `answer`: an attach's response, which
/// never takes the 2.89 shape.
fn view(req: &Req, server_id: &str, a: &AttachmentRow, answer: bool) -> Value {
    let mut v = json!({
        "serverId": server_id,
        "volumeId": a.volume_id,
    });
    let ids = req.at_least(mv::ATTACHMENT_IDS) && !answer;
    if !ids {
        v["id"] = json!(a.volume_id);
    }
    if answer || a.mountpoint.is_some() {
        v["device"] = json!(a.mountpoint);
    }
    if req.at_least(mv::INTERFACE_TAGS) {
        v["tag"] = json!(a.tag);
    }
    if req.at_least(mv::ATTACH_DELETE_ON_TERMINATION) {
        v["delete_on_termination"] = json!(a.delete_on_termination);
    }
    if ids {
        v["attachment_id"] = json!(a.id);
        v["bdm_uuid"] = json!(a.bdm_uuid);
    }
    v
}

pub async fn list_volume_attachments(
    State(state): State<AppState>,
    req: Req,
    Path(id): Path<String>,
) -> Result<Json<Value>, NovaError> {
    req.authorize(
        "os_compute_api:os-volumes-attachments:index",
        Rule::ProjectReader,
    )?;
    req.refuse_unknown_query(&["limit", "offset"], mv::STRICT_QUERIES)?;
    let found = state.compute().server_volumes(&caller(&req), &id).await?;
    let offset = req
        .param("offset")
        .and_then(|o| o.parse::<usize>().ok())
        .unwrap_or(0);
    let limit = req
        .param("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(usize::MAX);
    let items: Vec<Value> = found
        .iter()
        .skip(offset)
        .take(limit)
        .map(|a| view(&req, &id, a, false))
        .collect();
    Ok(Json(envelope("volumeAttachments", items)))
}

pub async fn show_volume_attachment(
    State(state): State<AppState>,
    req: Req,
    Path((id, volume_id)): Path<(String, String)>,
) -> Result<Json<Value>, NovaError> {
    req.authorize(
        "os_compute_api:os-volumes-attachments:show",
        Rule::ProjectReader,
    )?;
    let found = state
        .compute()
        .server_volume(&caller(&req), &id, &volume_id)
        .await?;
    Ok(Json(envelope(
        "volumeAttachment",
        view(&req, &id, &found, false),
    )))
}

fn attach_schema(req: &Req) -> Value {
    let mut props = json!({
        "volumeId": {"type": "string", "format": "uuid"},
        "device": {"type": ["string", "null"],
                   "pattern": "(^/dev/x{0,1}[a-z]{0,1}d{0,1})([a-z]+)[0-9]*$"},
    });
    if req.at_least(mv::ATTACH_TAGS) {
        props["tag"] =
            json!({"type": "string", "minLength": 1, "maxLength": 60, "pattern": "^[^,/]*$"});
    }
    if req.at_least(mv::ATTACH_DELETE_ON_TERMINATION) {
        props["delete_on_termination"] = json!({"type": ["boolean", "string"],
            "enum": [true, "True", "TRUE", "true", "1", "ON", "On", "on", "YES", "Yes", "yes", "y", "t",
                     false, "False", "FALSE", "false", "0", "OFF", "Off", "off", "NO", "No", "no", "n", "f"]});
    }
    json!({
        "type": "object",
        "properties": {"volumeAttachment": {
            "type": "object",
            "properties": props,
            "required": ["volumeId"],
            "additionalProperties": false,
        }},
        "required": ["volumeAttachment"],
        "additionalProperties": false,
    })
}

pub async fn attach_volume(
    State(state): State<AppState>,
    req: Req,
    Path(id): Path<String>,
    body: NovaBody,
) -> Result<Response, NovaError> {
    req.authorize(
        "os_compute_api:os-volumes-attachments:create",
        Rule::ProjectMember,
    )?;
    let body = body.validate(&attach_schema(&req))?;
    let a = &body["volumeAttachment"];
    let text = |k: &str| a.get(k).and_then(Value::as_str).map(str::to_owned);
    let request = VolumeAttachRequest {
        volume_id: text("volumeId").unwrap_or_default(),
        device: text("device"),
        tag: text("tag"),
        delete_on_termination: a
            .get("delete_on_termination")
            .and_then(crate::volume::boolish)
            .unwrap_or(false),
    };
    let made = state
        .compute()
        .attach_volume(
            &caller(&req),
            &id,
            request,
            req.at_least(mv::SHELVED_VOLUMES),
        )
        .await?;
    if req.at_least(mv::ASYNC_VOLUME_ATTACH) {
        return Ok(StatusCode::ACCEPTED.into_response());
    }
    Ok(Json(envelope("volumeAttachment", view(&req, &id, &made, true))).into_response())
}

pub async fn update_volume_attachment(
    State(state): State<AppState>,
    req: Req,
    Path((id, volume_id)): Path<(String, String)>,
    body: NovaBody,
) -> Result<Response, NovaError> {
    let mut props = json!({"volumeId": {"type": "string", "format": "uuid"}});
    if req.at_least(mv::ATTACHMENT_UPDATE) {
        for key in ["device", "tag", "serverId", "id"] {
            props[key] = json!({"type": ["string", "null"]});
        }
        props["delete_on_termination"] = json!({"type": ["boolean", "string"]});
    }
    let schema = json!({
        "type": "object",
        "properties": {"volumeAttachment": {
            "type": "object", "properties": props,
            "required": ["volumeId"], "additionalProperties": false,
        }},
        "required": ["volumeAttachment"],
        "additionalProperties": false,
    });
    let body = body.validate(&schema)?;
    let a = &body["volumeAttachment"];
    let new_volume = a["volumeId"].as_str().unwrap_or_default();
    let swap = new_volume != volume_id;
    if swap {
        // Swapping is for Cinder's volume migrations, which this cloud
        // does not run: Nova refuses a swap of a volume not migrating.
        req.authorize("os_compute_api:os-volumes-attachments:swap", Rule::Admin)?;
        let c = caller(&req);
        state.compute().server_volume(&c, &id, &volume_id).await?;
        return Err(NovaError::new(
            StatusCode::CONFLICT,
            format!(
                "volume {volume_id} is not migrating; this API should only be called by Cinder"
            ),
        ));
    }
    req.authorize(
        "os_compute_api:os-volumes-attachments:update",
        Rule::ProjectMember,
    )?;
    let c = caller(&req);
    let current = state.compute().server_volume(&c, &id, &volume_id).await?;
    for (key, now) in [
        ("device", json!(current.mountpoint)),
        ("tag", json!(current.tag)),
        ("serverId", json!(id)),
        ("id", json!(volume_id)),
    ] {
        if let Some(asked) = a.get(key)
            && *asked != now
        {
            return Err(NovaError::bad_request(format!(
                "The {key} property is not mutable"
            )));
        }
    }
    let delete_on_termination = a
        .get("delete_on_termination")
        .and_then(crate::volume::boolish);
    state
        .compute()
        .update_volume_attachment(&c, &id, &volume_id, delete_on_termination)
        .await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

pub async fn detach_volume(
    State(state): State<AppState>,
    req: Req,
    Path((id, volume_id)): Path<(String, String)>,
) -> Result<Response, NovaError> {
    req.authorize(
        "os_compute_api:os-volumes-attachments:delete",
        Rule::ProjectMember,
    )?;
    state
        .compute()
        .detach_volume(
            &caller(&req),
            &id,
            &volume_id,
            req.at_least(mv::SHELVED_VOLUMES),
        )
        .await?;
    Ok(StatusCode::ACCEPTED.into_response())
}
