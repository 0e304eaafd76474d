//! `shelve`, `shelveOffload` (admin) and `unshelve` (2.77 availability
//! zone, 2.91 host for admins).

use axum::response::{IntoResponse, Response};
use http::StatusCode;
use oxstack_compute::servers::shelve::ShelveKind;
use oxstack_identity::Rule;
use serde_json::{Value, json};

use super::super::error::NovaError;
use super::super::request::{NovaBody, Req};
use super::super::servers::views;
use super::validate;
use crate::AppState;
use crate::compute::microversion::mv;

fn unshelve_schema(req: &Req) -> Option<Value> {
    if req.at_least(mv::UNSHELVE_HOST) {
        Some(json!({"type": ["object", "null"],
                    "properties": {"availability_zone": {"type": ["string", "null"]},
                                   "host": {"type": "string"}},
                    "additionalProperties": false}))
    } else if req.at_least(mv::UNSHELVE_ZONE) {
        Some(json!({"type": ["object", "null"],
                    "properties": {"availability_zone": {"type": "string", "minLength": 1,
                                                         "maxLength": 255, "format": "name"}},
                    "required": ["availability_zone"],
                    "additionalProperties": false}))
    } else {
        None
    }
}

pub(super) async fn perform(
    state: &AppState,
    req: &Req,
    id: &str,
    action: &str,
    body: &NovaBody,
) -> Result<Response, NovaError> {
    let mut target = None;
    let kind = match action {
        "shelve" => {
            req.authorize("os_compute_api:os-shelve:shelve", Rule::ProjectMember)?;
            ShelveKind::Shelve
        }
        "shelveOffload" => {
            req.authorize("os_compute_api:os-shelve:shelve_offload", Rule::Admin)?;
            ShelveKind::Offload
        }
        _ => {
            if let Some(schema) = unshelve_schema(req) {
                validate(body, action, schema)?;
            }
            req.authorize("os_compute_api:os-shelve:unshelve", Rule::ProjectMember)?;
            let args = &body.0[action];
            if let Some(host) = args.get("host").and_then(Value::as_str) {
                req.authorize("os_compute_api:os-shelve:unshelve_to_host", Rule::Admin)?;
                target = Some(host);
            }
            if req.at_least(mv::UNSHELVE_ZONE) {
                let zone = args.get("availability_zone").and_then(Value::as_str);
                state.compute().check_unshelve_zone(zone)?;
            }
            ShelveKind::Unshelve
        }
    };
    state
        .compute()
        .shelve_action(&views::caller(req), id, kind, target)
        .await?;
    Ok(StatusCode::ACCEPTED.into_response())
}
