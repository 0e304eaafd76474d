//! `/servers`: create, list, show, update, delete, and the sub-resources
//! metadata, ips and tags.

mod block_devices;
pub(super) mod create;
mod diagnostics;
mod ips;
pub(super) mod list;
pub(super) mod metadata;
mod password;
pub(super) mod schema;
pub(super) mod tags;
mod topology;
pub(super) mod views;

use axum::extract::{Path, State};
use axum::response::Response;
use http::StatusCode;
use oxstack_compute::model::Server;
use oxstack_compute::servers::ServerUpdate;
use oxstack_identity::Rule;
use serde_json::Value;

pub use create::create_server;
pub use diagnostics::show_diagnostics;
pub use ips::{list_ips, show_ips};
pub use list::{list_servers, list_servers_detail};
pub use metadata::{
    create_metadata, delete_metadata_item, list_metadata, replace_metadata, set_metadata_item,
    show_metadata_item,
};
pub use password::{clear_password, show_password};
pub use tags::{add_tag, check_tag, delete_tag, delete_tags, list_tags, replace_tags};
pub use topology::show_topology;

use super::error::NovaError;
use super::request::{NovaBody, Req};
use crate::AppState;
use crate::compute::microversion::mv;
use crate::envelope::{Enveloped, json_response};

/// A server for a read endpoint: Nova's 2.102 query rule, the read
/// `policy`, then the caller's server (404 for anyone else's).
pub(super) async fn readable_server(
    state: &AppState,
    req: &Req,
    id: &str,
    policy: &str,
) -> Result<oxstack_compute::model::Server, NovaError> {
    req.refuse_unknown_query(&[], mv::STRICT_QUERIES_EVERYWHERE)?;
    req.authorize(policy, Rule::ProjectReader)?;
    Ok(state.compute().get_server(&views::caller(req), id).await?)
}

pub async fn show_server(
    State(state): State<AppState>,
    req: Req,
    Path(id): Path<String>,
) -> Result<Response, NovaError> {
    let server = readable_server(&state, &req, &id, "os_compute_api:servers:show").await?;
    Ok(server_response(&req, &server, views::Kind::Show))
}

/// `{"server": ...}`, the view written straight into the body.
fn server_response(req: &Req, server: &Server, kind: views::Kind) -> Response {
    json_response(&Enveloped(
        "server",
        views::ServerView::new(req, server, kind),
    ))
}

pub async fn update_server(
    State(state): State<AppState>,
    req: Req,
    Path(id): Path<String>,
    body: NovaBody,
) -> Result<Response, NovaError> {
    let body = body.validate(&schema::update(req.version))?;
    req.authorize("os_compute_api:servers:update", Rule::ProjectMember)?;
    let fields = &body["server"];
    let text = |k: &str| fields.get(k).map(|v| v.as_str().map(str::to_owned));
    let update = ServerUpdate {
        name: fields
            .get("name")
            .and_then(Value::as_str)
            .map(|n| n.trim().to_owned()),
        description: text("description"),
        hostname: fields
            .get("hostname")
            .and_then(Value::as_str)
            .map(str::to_owned),
        access_ip_v4: text("accessIPv4"),
        access_ip_v6: text("accessIPv6"),
        auto_disk_config: fields
            .get("OS-DCF:diskConfig")
            .and_then(Value::as_str)
            .map(|d| d == "AUTO"),
        pinned_availability_zone: text("pinned_availability_zone"),
    };
    let server = state
        .compute()
        .update_server(&views::caller(&req), &id, update)
        .await?;
    let kind = if req.at_least(mv::STRICT_QUERIES) {
        views::Kind::Show
    } else {
        views::Kind::UpdateBefore275
    };
    Ok(server_response(&req, &server, kind))
}

pub async fn delete_server(
    State(state): State<AppState>,
    req: Req,
    Path(id): Path<String>,
) -> Result<StatusCode, NovaError> {
    req.authorize("os_compute_api:servers:delete", Rule::ProjectMember)?;
    state
        .compute()
        .delete_server(&views::caller(&req), &id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
