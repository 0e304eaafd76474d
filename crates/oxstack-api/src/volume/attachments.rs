//! `/attachments` (3.27+): reserve a volume for a server, connect it,
//! complete it (3.44), delete it; list and show.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use oxstack_volume::AttachmentRequest;
use serde_json::{Value, json};

use super::views::attachment;
use super::{CinderError, VolumeReq, listing, respond, vv};
use crate::AppState;
use crate::compute::NovaBody;

async fn detail(state: &AppState, a: &oxstack_volume::AttachmentRow) -> Result<Value, CinderError> {
    let info = state.volumes().connection_json(a).await?;
    Ok(attachment(a, Some(info)))
}

pub async fn create_attachment(
    State(state): State<AppState>,
    req: VolumeReq,
    body: NovaBody,
) -> Result<Response, CinderError> {
    req.since(vv::ATTACHMENTS)?;
    let mut props = json!({
        "volume_uuid": {"type": "string", "format": "uuid"},
        "instance_uuid": {"type": ["string", "null"], "format": "uuid"},
        "connector": {"type": ["object", "null"]},
    });
    if req.at_least(vv::ATTACHMENT_MODE) {
        props["mode"] = json!({"type": "string", "enum": ["rw", "ro"]});
    }
    let schema = json!({
        "type": "object",
        "properties": {"attachment": {
            "type": "object", "properties": props,
            "required": ["volume_uuid"], "additionalProperties": false,
        }},
        "required": ["attachment"],
        "additionalProperties": false,
    });
    let body = body.validate(&schema)?;
    let a = &body["attachment"];
    let text = |k: &str| a.get(k).and_then(Value::as_str).map(str::to_owned);
    let request = AttachmentRequest {
        volume_id: text("volume_uuid").unwrap_or_default(),
        instance_uuid: text("instance_uuid"),
        connector: a.get("connector").filter(|c| !c.is_null()).cloned(),
        mode: text("mode"),
    };
    let made = state
        .volumes()
        .create_attachment(&req.caller, request)
        .await?;
    Ok(respond(
        StatusCode::OK,
        "attachment",
        detail(&state, &made).await?,
    ))
}

async fn list(state: &AppState, req: &VolumeReq, detailed: bool) -> Result<Response, CinderError> {
    req.since(vv::ATTACHMENTS)?;
    let rows = state
        .volumes()
        .attachments(&req.caller, req.flag("all_tenants"))
        .await?;
    let mut views = Vec::new();
    for a in rows
        .iter()
        .filter(|a| req.param("volume_id").is_none_or(|v| a.volume_id == v))
        .filter(|a| {
            req.param("instance_id")
                .is_none_or(|i| a.instance_uuid.as_deref() == Some(i))
        })
        .filter(|a| {
            req.param("status")
                .or_else(|| req.param("attach_status"))
                .is_none_or(|s| a.attach_status == s)
        })
    {
        let mut view = detail(state, a).await?;
        // Sorted and paged with its creation time; shown without it.
        view["created_at"] = json!(a.created_at);
        views.push(view);
    }
    let mut out = listing(req, "attachments", views)?;
    if let Some(page) = out["attachments"].as_array_mut() {
        for v in page.iter_mut() {
            if let Some(o) = v.as_object_mut() {
                o.remove("created_at");
                if !detailed {
                    o.retain(|k, _| {
                        ["id", "status", "instance", "volume_id"].contains(&k.as_str())
                    });
                }
            }
        }
    }
    if let Some(o) = out.as_object_mut() {
        o.remove("attachments_links");
    }
    Ok(axum::Json(out).into_response())
}

pub async fn list_attachments(
    State(state): State<AppState>,
    req: VolumeReq,
) -> Result<Response, CinderError> {
    list(&state, &req, false).await
}

pub async fn list_attachments_detail(
    State(state): State<AppState>,
    req: VolumeReq,
) -> Result<Response, CinderError> {
    list(&state, &req, true).await
}

pub async fn show_attachment(
    State(state): State<AppState>,
    req: VolumeReq,
    Path(id): Path<String>,
) -> Result<Response, CinderError> {
    req.since(vv::ATTACHMENTS)?;
    let a = state.volumes().attachment(&req.caller, &id).await?;
    Ok(respond(
        StatusCode::OK,
        "attachment",
        detail(&state, &a).await?,
    ))
}

pub async fn update_attachment(
    State(state): State<AppState>,
    req: VolumeReq,
    Path(id): Path<String>,
    body: NovaBody,
) -> Result<Response, CinderError> {
    req.since(vv::ATTACHMENTS)?;
    let schema = json!({
        "type": "object",
        "properties": {"attachment": {
            "type": "object",
            "properties": {"connector": {"type": "object", "minProperties": 1}},
            "required": ["connector"],
            "additionalProperties": false,
        }},
        "required": ["attachment"],
        "additionalProperties": false,
    });
    let body = body.validate(&schema)?;
    let connector = body["attachment"]["connector"].clone();
    let a = state
        .volumes()
        .update_attachment(&req.caller, &id, connector)
        .await?;
    Ok(respond(
        StatusCode::OK,
        "attachment",
        detail(&state, &a).await?,
    ))
}

pub async fn delete_attachment(
    State(state): State<AppState>,
    req: VolumeReq,
    Path(id): Path<String>,
) -> Result<Response, CinderError> {
    req.since(vv::ATTACHMENTS)?;
    let left = state.volumes().delete_attachment(&req.caller, &id).await?;
    let views: Vec<Value> = left.iter().map(|a| attachment(a, None)).collect();
    Ok(respond(StatusCode::OK, "attachments", Value::Array(views)))
}

/// `POST /attachments/{id}/action` `{"os-complete": ...}` (3.44).
pub async fn attachment_action(
    State(state): State<AppState>,
    req: VolumeReq,
    Path(id): Path<String>,
    body: NovaBody,
) -> Result<Response, CinderError> {
    req.since(vv::ATTACHMENT_COMPLETE)?;
    match super::actions::action_of(&body)? {
        ("os-complete", _) => {
            state
                .volumes()
                .complete_attachment(&req.caller, &id)
                .await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        (other, _) => Err(super::actions::no_such_action(other)),
    }
}
