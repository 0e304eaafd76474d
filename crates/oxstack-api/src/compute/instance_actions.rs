//! `/servers/{id}/os-instance-actions[/{request_id}]`: what was done to a
//! server and how each step ended, per microversion (2.21 deleted servers,
//! 2.51 events for everyone, 2.58 paging and `updated_at`, 2.62 event
//! `hostId`/`host`, 2.66 `changes-before`, 2.84 event `details`).

use axum::Json;
use axum::extract::{Path, State};
use oxstack_compute::model::{ActionEvent, InstanceAction};
use oxstack_compute::servers::instance_actions::ActionListing;
use oxstack_identity::Rule;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha224};

use super::error::NovaError;
use super::pagination::{limit_and_marker, next_links};
use super::request::Req;
use super::servers::views::{caller, naive_time};
use crate::AppState;
use crate::compute::microversion::mv;
use crate::envelope::envelope;
use crate::oslo::parse_isotime;

fn action(req: &Req, a: &InstanceAction) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("action".into(), json!(a.action));
    out.insert("instance_uuid".into(), json!(a.instance_uuid));
    out.insert("message".into(), json!(a.message));
    out.insert("project_id".into(), json!(a.project_id));
    out.insert("request_id".into(), json!(a.request_id));
    out.insert("start_time".into(), naive_time(Some(a.start_time)));
    out.insert("user_id".into(), json!(a.user_id));
    if req.at_least(mv::ACTION_PAGING) {
        out.insert("updated_at".into(), naive_time(Some(a.updated_at)));
    }
    out
}

fn event(req: &Req, project_id: &str, e: &ActionEvent) -> Value {
    let admin = req.ctx.is_admin();
    let mut out = Map::new();
    out.insert("event".into(), json!(e.event));
    out.insert("start_time".into(), naive_time(Some(e.start_time)));
    out.insert("finish_time".into(), naive_time(e.finish_time));
    out.insert("result".into(), json!(e.result));
    if admin {
        out.insert("traceback".into(), json!(e.traceback));
    }
    if req.at_least(mv::EVENT_HOSTS) {
        let host_id = e.host.as_deref().map_or(String::new(), |host| {
            Sha224::digest(format!("{project_id}{host}").as_bytes())
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect()
        });
        out.insert("hostId".into(), json!(host_id));
        if admin {
            out.insert("host".into(), json!(e.host));
        }
    }
    if req.at_least(mv::EVENT_DETAILS) && admin {
        out.insert("details".into(), json!(e.details));
    }
    Value::Object(out)
}

fn time_param(req: &Req, name: &str) -> Result<Option<i64>, NovaError> {
    req.param(name)
        .map(|t| {
            parse_isotime(t)
                .ok_or_else(|| NovaError::bad_request(format!("Invalid filter field: {name}.")))
        })
        .transpose()
}

pub async fn list_instance_actions(
    State(state): State<AppState>,
    req: Req,
    Path(id): Path<String>,
) -> Result<Json<Value>, NovaError> {
    let mut allowed = vec!["limit", "marker", "changes-since"];
    if req.at_least(mv::CHANGES_BEFORE) {
        allowed.push("changes-before");
    }
    req.refuse_unknown_query(&allowed, mv::ACTION_PAGING)?;
    req.authorize(
        "os_compute_api:os-instance-actions:list",
        Rule::ProjectReader,
    )?;
    let paged = req.at_least(mv::ACTION_PAGING);
    let (limit, marker) = if paged {
        limit_and_marker(&req)?
    } else {
        (i64::MAX, None)
    };
    let listing = ActionListing {
        limit,
        marker,
        changes_since: if paged {
            time_param(&req, "changes-since")?
        } else {
            None
        },
        changes_before: if req.at_least(mv::CHANGES_BEFORE) {
            time_param(&req, "changes-before")?
        } else {
            None
        },
    };
    let actions = state
        .compute()
        .instance_actions(
            &caller(&req),
            &id,
            req.at_least(mv::DELETED_SERVER_ACTIONS),
            &listing,
        )
        .await?;
    let items: Vec<Value> = actions
        .iter()
        .map(|a| Value::Object(action(&req, a)))
        .collect();
    let mut body = envelope("instanceActions", items);
    if paged {
        let collection = format!("servers/{id}/os-instance-actions");
        if let Some(links) = next_links(
            &req,
            &collection,
            actions.len(),
            actions.last().map(|a| a.request_id.as_str()),
        ) {
            body["links"] = links;
        }
    }
    Ok(Json(body))
}

pub async fn show_instance_action(
    State(state): State<AppState>,
    req: Req,
    Path((id, request_id)): Path<(String, String)>,
) -> Result<Json<Value>, NovaError> {
    req.refuse_unknown_query(&[], mv::STRICT_QUERIES_EVERYWHERE)?;
    req.authorize(
        "os_compute_api:os-instance-actions:show",
        Rule::ProjectReader,
    )?;
    let (found, events) = state
        .compute()
        .instance_action(
            &caller(&req),
            &id,
            &request_id,
            req.at_least(mv::DELETED_SERVER_ACTIONS),
        )
        .await?;
    let mut out = action(&req, &found);
    // Events: admins always; everyone from 2.51.
    if req.ctx.is_admin() || req.at_least(mv::EVENTS_FOR_OWNERS) {
        let events: Vec<Value> = events
            .iter()
            .map(|e| event(&req, &found.project_id, e))
            .collect();
        out.insert("events".into(), json!(events));
    }
    Ok(Json(envelope("instanceAction", out)))
}
