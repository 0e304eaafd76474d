//! `/types`: volume types (everyone lists the public ones; admins make,
//! change and delete them) and their extra specs.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use oxstack_volume::VolumeTypeSpec;
use serde_json::{Value, json};

use super::views::volume_type;
use super::volumes::string_map;
use super::{CinderError, VolumeReq, boolish, listing, respond};
use crate::AppState;
use crate::compute::NovaBody;

fn specs_schema() -> Value {
    json!({
        "type": "object",
        "patternProperties": {"^[a-zA-Z0-9-_:. ]{1,255}$": {"type": ["string", "null"], "maxLength": 255}},
        "additionalProperties": false,
    })
}

pub async fn list_types(
    State(state): State<AppState>,
    req: VolumeReq,
) -> Result<Response, CinderError> {
    let types = state.volumes().volume_types(&req.caller).await?;
    // Public types only unless an admin asks for private ones (`false`)
    // or every one (`none`), as Cinder's `_parse_is_public`.
    let public = match req.param("is_public") {
        Some(p) if req.caller.is_admin && p.eq_ignore_ascii_case("none") => None,
        Some(p) if req.caller.is_admin => Some(super::truthy(p).unwrap_or(true)),
        _ => Some(true),
    };
    let views = types
        .iter()
        .filter(|t| public.is_none_or(|p| t.row.is_public == p))
        .map(|t| volume_type(&req, t))
        .collect();
    let mut out = listing(&req, "volume_types", views)?;
    // Cinder names a type listing's links `volume_type_links`.
    if let Some(links) = out
        .as_object_mut()
        .and_then(|o| o.remove("volume_types_links"))
    {
        out["volume_type_links"] = links;
    }
    Ok(axum::Json(out).into_response())
}

pub async fn show_type(
    State(state): State<AppState>,
    req: VolumeReq,
    Path(id): Path<String>,
) -> Result<Response, CinderError> {
    let t = state.volumes().volume_type(&req.caller, &id).await?;
    Ok(respond(
        StatusCode::OK,
        "volume_type",
        volume_type(&req, &t),
    ))
}

pub async fn show_default_type(
    State(state): State<AppState>,
    req: VolumeReq,
) -> Result<Response, CinderError> {
    let t = state.volumes().default_volume_type().await?;
    Ok(respond(
        StatusCode::OK,
        "volume_type",
        volume_type(&req, &t),
    ))
}

pub async fn create_type(
    State(state): State<AppState>,
    req: VolumeReq,
    body: NovaBody,
) -> Result<Response, CinderError> {
    let schema = json!({
        "type": "object",
        "properties": {"volume_type": {
            "type": "object",
            "properties": {
                "name": {"type": "string", "minLength": 1, "maxLength": 255},
                "description": {"type": ["string", "null"], "maxLength": 255},
                "extra_specs": specs_schema(),
                "os-volume-type-access:is_public": {"type": ["boolean", "string"]},
            },
            "required": ["name"],
            "additionalProperties": false,
        }},
        "required": ["volume_type"],
        "additionalProperties": false,
    });
    let body = body.validate(&schema)?;
    let t = &body["volume_type"];
    let spec = VolumeTypeSpec {
        name: t["name"].as_str().map(|s| s.trim().to_owned()),
        description: t
            .get("description")
            .and_then(Value::as_str)
            .map(str::to_owned),
        is_public: t.get("os-volume-type-access:is_public").and_then(boolish),
        extra_specs: string_map(t.get("extra_specs")),
    };
    let made = state
        .volumes()
        .create_volume_type(&req.caller, spec)
        .await?;
    Ok(respond(
        StatusCode::OK,
        "volume_type",
        volume_type(&req, &made),
    ))
}

pub async fn update_type(
    State(state): State<AppState>,
    req: VolumeReq,
    Path(id): Path<String>,
    body: NovaBody,
) -> Result<Response, CinderError> {
    let schema = json!({
        "type": "object",
        "properties": {"volume_type": {
            "type": "object",
            "properties": {
                "name": {"type": ["string", "null"], "maxLength": 255},
                "description": {"type": ["string", "null"], "maxLength": 255},
                "is_public": {"type": ["boolean", "string"]},
            },
            "additionalProperties": false,
        }},
        "required": ["volume_type"],
        "additionalProperties": false,
    });
    let body = body.validate(&schema)?;
    let t = &body["volume_type"];
    if t.get("name").is_none() && t.get("description").is_none() && t.get("is_public").is_none() {
        return Err(CinderError::bad_request(
            "Specify volume type name, description, is_public or a combination thereof.",
        ));
    }
    let name = t
        .get("name")
        .and_then(Value::as_str)
        .map(|s| s.trim().to_owned());
    if name.as_deref() == Some("") {
        return Err(CinderError::bad_request(
            "Volume type name can not be empty.",
        ));
    }
    let spec = VolumeTypeSpec {
        name,
        description: t
            .get("description")
            .and_then(Value::as_str)
            .map(str::to_owned),
        is_public: t.get("is_public").and_then(boolish),
        extra_specs: Default::default(),
    };
    let changed = state
        .volumes()
        .update_volume_type(&req.caller, &id, spec)
        .await?;
    Ok(respond(
        StatusCode::OK,
        "volume_type",
        volume_type(&req, &changed),
    ))
}

pub async fn delete_type(
    State(state): State<AppState>,
    req: VolumeReq,
    Path(id): Path<String>,
) -> Result<Response, CinderError> {
    state.volumes().delete_volume_type(&req.caller, &id).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

pub async fn list_extra_specs(
    State(state): State<AppState>,
    req: VolumeReq,
    Path(id): Path<String>,
) -> Result<Response, CinderError> {
    let t = state.volumes().volume_type(&req.caller, &id).await?;
    Ok(respond(StatusCode::OK, "extra_specs", json!(t.extra_specs)))
}

pub async fn set_extra_specs(
    State(state): State<AppState>,
    req: VolumeReq,
    Path(id): Path<String>,
    body: NovaBody,
) -> Result<Response, CinderError> {
    let schema = json!({
        "type": "object",
        "properties": {"extra_specs": specs_schema()},
        "required": ["extra_specs"],
        "additionalProperties": false,
    });
    let body = body.validate(&schema)?;
    let specs = string_map(body.get("extra_specs"));
    state
        .volumes()
        .set_extra_specs(&req.caller, &id, specs.clone())
        .await?;
    Ok(respond(StatusCode::OK, "extra_specs", json!(specs)))
}

pub async fn show_extra_spec(
    State(state): State<AppState>,
    req: VolumeReq,
    Path((id, key)): Path<(String, String)>,
) -> Result<Response, CinderError> {
    let t = state.volumes().volume_type(&req.caller, &id).await?;
    let value = t.extra_specs.get(&key).ok_or_else(|| {
        CinderError::not_found(format!(
            "Volume Type {id} has no extra specs with key {key}."
        ))
    })?;
    Ok(axum::Json(json!({ key: value })).into_response())
}

pub async fn set_extra_spec(
    State(state): State<AppState>,
    req: VolumeReq,
    Path((id, key)): Path<(String, String)>,
    body: NovaBody,
) -> Result<Response, CinderError> {
    let body = body.validate(&specs_schema())?;
    let specs = string_map(Some(body));
    if specs.len() != 1 || !specs.contains_key(&key) {
        return Err(CinderError::bad_request("Request body and URI mismatch"));
    }
    state
        .volumes()
        .set_extra_specs(&req.caller, &id, specs.clone())
        .await?;
    Ok(axum::Json(json!(specs)).into_response())
}

pub async fn delete_extra_spec(
    State(state): State<AppState>,
    req: VolumeReq,
    Path((id, key)): Path<(String, String)>,
) -> Result<Response, CinderError> {
    state
        .volumes()
        .delete_extra_spec(&req.caller, &id, &key)
        .await?;
    Ok(StatusCode::ACCEPTED.into_response())
}
