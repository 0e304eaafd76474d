//! `GET /os-migrations` and a server's migrations: list and show (2.23),
//! `force_complete` (2.22) and abort (2.24), with the fields of each
//! microversion (2.23 type and links, 2.59 uuid, 2.80 user and project).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use oxstack_compute::model::{Migration, MigrationStatus, MigrationType};
use oxstack_compute::servers::MigrationFilter;
use oxstack_identity::Rule;
use serde_json::{Map, Value, json};

use super::error::NovaError;
use super::pagination::{limit_and_marker, next_links};
use super::request::{NovaBody, Req};
use super::servers::views::{caller, naive_time};
use crate::AppState;
use crate::compute::microversion::mv;
use crate::envelope::envelope;
use crate::oslo::parse_isotime;

fn common(req: &Req, m: &Migration, out: &mut Map<String, Value>) {
    out.insert("created_at".into(), naive_time(Some(m.created_at)));
    out.insert("dest_compute".into(), json!(m.dest_compute));
    out.insert("dest_host".into(), json!(m.dest_host));
    out.insert("dest_node".into(), json!(m.dest_node));
    out.insert("id".into(), json!(m.id));
    out.insert("source_compute".into(), json!(m.source_compute));
    out.insert("source_node".into(), json!(m.source_node));
    out.insert("status".into(), json!(m.status.as_str()));
    out.insert("updated_at".into(), naive_time(Some(m.updated_at)));
    if req.at_least(mv::MIGRATION_PAGING) {
        out.insert("uuid".into(), json!(m.uuid));
    }
    if req.at_least(mv::MIGRATION_OWNERS) {
        out.insert("user_id".into(), json!(m.user_id));
        out.insert("project_id".into(), json!(m.project_id));
    }
}

fn migration(req: &Req, m: &Migration) -> Value {
    let mut out = Map::new();
    common(req, m, &mut out);
    out.insert("instance_uuid".into(), json!(m.instance_uuid));
    out.insert("new_instance_type_id".into(), json!(m.new_flavor_seq));
    out.insert("old_instance_type_id".into(), json!(m.old_flavor_seq));
    if req.at_least(mv::SERVER_MIGRATIONS) {
        out.insert("migration_type".into(), json!(m.migration_type.as_str()));
        let in_progress = matches!(
            m.status,
            MigrationStatus::Queued | MigrationStatus::Preparing | MigrationStatus::Running
        );
        if m.migration_type == MigrationType::LiveMigration && in_progress {
            out.insert(
                "links".into(),
                req.links(
                    &format!("servers/{}/migrations", m.instance_uuid),
                    &m.id.to_string(),
                ),
            );
        }
    }
    Value::Object(out)
}

/// Nova's query schema of `GET /os-migrations` at this version: free-form
/// before 2.59, then paging (2.59), `changes-before` (2.66) and user and
/// project filters (2.80), nothing else.
fn index_query(req: &Req) -> Value {
    let many = json!({"type": "array", "items": {"type": "string"}});
    let one = |item: Value| json!({"type": "array", "items": item, "maxItems": 1});
    let time = one(json!({"type": "string", "format": "date-time"}));
    let mut props = Map::new();
    for key in [
        "hidden",
        "host",
        "instance_uuid",
        "source_compute",
        "status",
        "migration_type",
    ] {
        props.insert(key.into(), many.clone());
    }
    if !req.at_least(mv::MIGRATION_PAGING) {
        return json!({"type": "object", "properties": props, "additionalProperties": true});
    }
    props.insert(
        "limit".into(),
        one(json!({"type": ["integer", "string"], "pattern": "^[0-9]*$", "minimum": 0, "minLength": 1})),
    );
    props.insert("marker".into(), one(json!({"type": "string"})));
    props.insert("changes-since".into(), time.clone());
    if req.at_least(mv::CHANGES_BEFORE) {
        props.insert("changes-before".into(), time);
    }
    if req.at_least(mv::MIGRATION_OWNERS) {
        props.insert("user_id".into(), one(json!({"type": "string"})));
        props.insert("project_id".into(), one(json!({"type": "string"})));
    }
    json!({"type": "object", "properties": props, "additionalProperties": false})
}

fn time_param(req: &Req, name: &str) -> Option<i64> {
    req.param(name).and_then(parse_isotime)
}

pub async fn list_migrations(
    State(state): State<AppState>,
    req: Req,
) -> Result<Json<Value>, NovaError> {
    req.validate_query(&index_query(&req))?;
    req.authorize("os_compute_api:os-migrations:index", Rule::ProjectManager)?;
    let project_id = req.param("project_id").map(str::to_owned);
    if project_id.as_deref() != Some(req.ctx.project_id.as_str()) {
        req.authorize(
            "os_compute_api:os-migrations:index:all_projects",
            Rule::Admin,
        )?;
    }
    let paged = req.at_least(mv::MIGRATION_PAGING);
    let mut q = MigrationFilter {
        instance_uuid: req.param("instance_uuid").map(str::to_owned),
        status: req.param("status").map(str::to_owned),
        host: req.param("host").map(str::to_owned),
        source_compute: req.param("source_compute").map(str::to_owned),
        migration_type: req
            .param("migration_type")
            .filter(|_| req.at_least(mv::SERVER_MIGRATIONS))
            .map(str::to_owned),
        project_id,
        user_id: req.param("user_id").map(str::to_owned),
        ..MigrationFilter::default()
    };
    if paged {
        let (limit, marker) = limit_and_marker(&req)?;
        q.limit = Some(limit);
        q.marker = marker;
        q.changes_since = time_param(&req, "changes-since");
        q.changes_before =
            time_param(&req, "changes-before").filter(|_| req.at_least(mv::CHANGES_BEFORE));
        if let (Some(since), Some(before)) = (q.changes_since, q.changes_before)
            && before < since
        {
            return Err(NovaError::bad_request(
                "The value of changes-since must be less than or equal to changes-before.",
            ));
        }
    }
    let found = state.compute().list_migrations(q).await?;
    let items: Vec<Value> = found.iter().map(|m| migration(&req, m)).collect();
    let mut body = envelope("migrations", items);
    if paged
        && let Some(links) = next_links(
            &req,
            "os-migrations",
            found.len(),
            found.last().map(|m| m.uuid.as_str()),
        )
    {
        body["migrations_links"] = links;
    }
    Ok(Json(body))
}

/// A migration as `/servers/{id}/migrations` shows it.
fn server_migration_view(req: &Req, m: &Migration) -> Value {
    let mut out = Map::new();
    common(req, m, &mut out);
    out.insert("server_uuid".into(), json!(m.instance_uuid));
    for key in [
        "disk_processed_bytes",
        "disk_remaining_bytes",
        "disk_total_bytes",
        "memory_processed_bytes",
        "memory_remaining_bytes",
        "memory_total_bytes",
    ] {
        out.insert(key.into(), Value::Null);
    }
    Value::Object(out)
}

pub async fn list_server_migrations(
    State(state): State<AppState>,
    req: Req,
    Path(id): Path<String>,
) -> Result<Json<Value>, NovaError> {
    req.authorize(
        "os_compute_api:servers:migrations:index",
        Rule::ProjectManager,
    )?;
    let found = state
        .compute()
        .server_migrations(&caller(&req), &id)
        .await?;
    let items: Vec<Value> = found
        .iter()
        .map(|m| server_migration_view(&req, m))
        .collect();
    Ok(Json(envelope("migrations", items)))
}

pub async fn show_server_migration(
    State(state): State<AppState>,
    req: Req,
    Path((server_id, id)): Path<(String, String)>,
) -> Result<Json<Value>, NovaError> {
    req.authorize(
        "os_compute_api:servers:migrations:show",
        Rule::ProjectManager,
    )?;
    let m = state
        .compute()
        .server_migration(&caller(&req), &server_id, &id)
        .await?;
    Ok(Json(envelope("migration", server_migration_view(&req, &m))))
}

/// `POST /servers/{id}/migrations/{id}/action`: `force_complete` (2.22).
pub async fn server_migration_action(
    State(state): State<AppState>,
    req: Req,
    Path((server_id, id)): Path<(String, String)>,
    body: NovaBody,
) -> Result<StatusCode, NovaError> {
    body.validate(&json!({
        "type": "object",
        "properties": {"force_complete": {"type": "null"}},
        "required": ["force_complete"],
        "additionalProperties": false,
    }))?;
    req.authorize(
        "os_compute_api:servers:migrations:force_complete",
        Rule::ProjectManager,
    )?;
    state
        .compute()
        .force_complete_migration(&caller(&req), &server_id, &id)
        .await?;
    Ok(StatusCode::ACCEPTED)
}

/// `DELETE /servers/{id}/migrations/{id}` (2.24): abort a live migration.
pub async fn abort_server_migration(
    State(state): State<AppState>,
    req: Req,
    Path((server_id, id)): Path<(String, String)>,
) -> Result<StatusCode, NovaError> {
    req.authorize(
        "os_compute_api:servers:migrations:delete",
        Rule::ProjectManager,
    )?;
    state
        .compute()
        .abort_migration(
            &caller(&req),
            &server_id,
            &id,
            req.at_least(mv::ABORT_QUEUED_MIGRATION),
        )
        .await?;
    Ok(StatusCode::ACCEPTED)
}
