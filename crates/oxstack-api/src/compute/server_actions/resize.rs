//! `resize`, `confirmResize` (204) and `revertResize`.

use axum::response::{IntoResponse, Response};
use http::StatusCode;
use oxstack_identity::Rule;
use serde_json::json;

use super::super::error::NovaError;
use super::super::request::{NovaBody, Req};
use super::super::servers::create::id_from_href;
use super::super::servers::views;
use super::validate;
use crate::AppState;

pub(super) async fn perform(
    state: &AppState,
    req: &Req,
    id: &str,
    action: &str,
    body: &NovaBody,
) -> Result<Response, NovaError> {
    let caller = views::caller(req);
    let compute = state.compute();
    match action {
        "resize" => {
            validate(
                body,
                action,
                json!({"type": "object",
                       "properties": {
                           "flavorRef": {"type": ["string", "integer"], "minLength": 1},
                           "OS-DCF:diskConfig": {"type": "string", "enum": ["AUTO", "MANUAL"]}},
                       "required": ["flavorRef"], "additionalProperties": false}),
            )?;
            req.authorize("os_compute_api:servers:resize", Rule::ProjectMember)?;
            let resize = &body.0["resize"];
            let flavor = id_from_href(&resize["flavorRef"]);
            let disk = resize["OS-DCF:diskConfig"].as_str().map(|d| d == "AUTO");
            compute.resize_server(&caller, id, &flavor, disk).await?;
            Ok(StatusCode::ACCEPTED.into_response())
        }
        "confirmResize" => {
            req.authorize("os_compute_api:servers:confirm_resize", Rule::ProjectMember)?;
            compute.confirm_resize(&caller, id).await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        _ => {
            req.authorize("os_compute_api:servers:revert_resize", Rule::ProjectMember)?;
            compute.revert_resize(&caller, id).await?;
            Ok(StatusCode::ACCEPTED.into_response())
        }
    }
}
