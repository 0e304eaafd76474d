//! `migrate` (manager; `host` 2.56, admin), `os-migrateLive` (manager;
//! `host` admin) and `evacuate` (admin), with Nova's body schemas.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use oxstack_compute::servers::generate_password;
use oxstack_identity::Rule;
use serde_json::{Value, json};

use super::super::error::NovaError;
use super::super::request::{NovaBody, Req};
use super::super::servers::views;
use super::validate;
use crate::AppState;
use crate::compute::microversion::mv;

fn host_schema() -> Value {
    json!({"type": ["string", "null"], "pattern": "^[a-zA-Z0-9-._]*$", "minLength": 1, "maxLength": 255})
}

fn boolean() -> Value {
    super::super::flavors::boolean_schema()
}

fn live_schema(req: &Req) -> Value {
    if !req.at_least(mv::AUTO_BLOCK_MIGRATION) {
        return json!({"type": "object",
            "properties": {"block_migration": boolean(), "disk_over_commit": boolean(), "host": host_schema()},
            "required": ["block_migration", "disk_over_commit", "host"], "additionalProperties": false});
    }
    let mut props = json!({
        "block_migration": {"oneOf": [boolean(), {"type": "string", "enum": ["auto"]}]},
        "host": host_schema(),
    });
    if req.between(mv::LIVE_MIGRATE_FORCE, mv::NO_FORCE) {
        props["force"] = boolean();
    }
    json!({"type": "object", "properties": props, "required": ["block_migration", "host"],
           "additionalProperties": false})
}

fn evacuate_schema(req: &Req) -> Value {
    let mut props = json!({"host": host_schema(), "adminPass": {"type": "string"}});
    let mut required: Vec<&str> = Vec::new();
    if !req.at_least(mv::EVACUATE_WITHOUT_SHARED_STORAGE) {
        props["onSharedStorage"] = boolean();
        required.push("onSharedStorage");
    }
    if req.between(mv::EVACUATE_FORCE, mv::NO_FORCE) {
        props["force"] = boolean();
    }
    json!({"type": "object", "properties": props, "required": required, "additionalProperties": false})
}

pub(super) async fn perform(
    state: &AppState,
    req: &Req,
    id: &str,
    action: &str,
    body: &NovaBody,
) -> Result<Response, NovaError> {
    let caller = views::caller(req);
    let compute = state.compute();
    let host = |v: &Value| v.get("host").and_then(Value::as_str).map(str::to_owned);
    match action {
        "migrate" => {
            if req.at_least(mv::MIGRATE_TO_HOST) {
                validate(
                    body,
                    action,
                    json!({"type": ["object", "null"],
                    "properties": {"host": host_schema()}, "additionalProperties": false}),
                )?;
            }
            req.authorize(
                "os_compute_api:os-migrate-server:migrate",
                Rule::ProjectManager,
            )?;
            let host = host(&body.0[action]).filter(|_| req.at_least(mv::MIGRATE_TO_HOST));
            if host.is_some() {
                req.authorize("os_compute_api:os-migrate-server:migrate:host", Rule::Admin)?;
            }
            compute.migrate_server(&caller, id, host.as_deref()).await?;
            Ok(StatusCode::ACCEPTED.into_response())
        }
        "os-migrateLive" => {
            validate(body, action, live_schema(req))?;
            req.authorize(
                "os_compute_api:os-migrate-server:migrate_live",
                Rule::ProjectManager,
            )?;
            let host = host(&body.0[action]);
            if host.is_some() {
                req.authorize(
                    "os_compute_api:os-migrate-server:migrate_live:host",
                    Rule::Admin,
                )?;
            }
            compute
                .live_migrate_server(&caller, id, host.as_deref())
                .await?;
            Ok(StatusCode::ACCEPTED.into_response())
        }
        _ => {
            validate(body, action, evacuate_schema(req))?;
            req.authorize("os_compute_api:os-evacuate", Rule::Admin)?;
            let args = &body.0[action];
            let forced = args
                .get("force")
                .is_some_and(super::super::flavors::is_true);
            if forced && args.get("host").is_none_or(Value::is_null) {
                return Err(NovaError::bad_request(
                    "Can't force to a non-provided destination",
                ));
            }
            compute
                .evacuate_server(
                    &caller,
                    id,
                    host(&body.0[action]).as_deref(),
                    req.at_least(mv::EVACUATE_STOPPED),
                )
                .await?;
            // The rebuilt server's password is shown up to 2.13.
            if req.at_least(mv::EVACUATE_WITHOUT_SHARED_STORAGE)
                || !compute.settings().enable_instance_password
            {
                return Ok(StatusCode::OK.into_response());
            }
            let password = body.0[action]
                .get("adminPass")
                .and_then(Value::as_str)
                .map_or_else(|| generate_password(12), str::to_owned);
            Ok(Json(json!({ "adminPass": password })).into_response())
        }
    }
}
