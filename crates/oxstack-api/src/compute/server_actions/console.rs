//! `os-getConsoleOutput`: the guest's console log (200, `{"output": ...}`).

use axum::Json;
use axum::response::{IntoResponse, Response};
use oxstack_identity::Rule;
use serde_json::{Value, json};

use super::super::error::NovaError;
use super::super::request::{NovaBody, Req};
use super::super::servers::views;
use super::validate;
use crate::AppState;
use crate::envelope::envelope;

pub(super) async fn console_output(
    state: &AppState,
    req: &Req,
    id: &str,
    body: &NovaBody,
) -> Result<Response, NovaError> {
    validate(
        body,
        "os-getConsoleOutput",
        json!({"type": "object",
               "properties": {"length": {"type": ["integer", "string", "null"],
                                         "pattern": "^-?[0-9]+$", "minimum": -1}},
               "additionalProperties": false}),
    )?;
    req.authorize("os_compute_api:os-console-output", Rule::ProjectMember)?;
    let length = match &body.0["os-getConsoleOutput"]["length"] {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    };
    let lines = length.and_then(|n| usize::try_from(n).ok());
    let output = state
        .compute()
        .console_output(&views::caller(req), id, lines)
        .await?;
    Ok(Json(envelope("output", output)).into_response())
}
