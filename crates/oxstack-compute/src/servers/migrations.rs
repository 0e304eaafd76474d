//! Migration records: each move leaves one, whose status follows its flow
//! (see [`crate::model::MigrationStatus`]), and the live migration
//! operations on them (`force_complete`, abort).

use oxstack_store::instances::{MigrationStep, Step};
use oxstack_store::migrations::{MigrationQuery, MigrationRow};

use super::Caller;
use super::rules::invalid_state;
use crate::model::change::{Change, Guard};
use crate::model::states::{TaskState, VmState};
use crate::model::{Migration, MigrationStatus, MigrationType, Server};
use crate::{Compute, ComputeError, ComputeResult, now_micros};

use MigrationStatus as M;

/// Statuses of a live migration still in progress (`/servers/{id}/migrations`).
const IN_PROGRESS: [MigrationStatus; 3] = [M::Queued, M::Preparing, M::Running];

/// What `GET /servers/{id}/migrations/{id}` counts as in progress (Nova
/// adds `post-migrating` there, not in the listing).
const SHOWN: [MigrationStatus; 4] = [M::Queued, M::Preparing, M::Running, M::PostMigrating];

/// Which migrations to list (`GET /os-migrations`); every filter optional.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MigrationFilter {
    pub instance_uuid: Option<String>,
    pub project_id: Option<String>,
    pub user_id: Option<String>,
    /// A status as the request named it (an unknown one matches nothing).
    pub status: Option<String>,
    /// A type as the request named it.
    pub migration_type: Option<String>,
    /// Migrations from or to this host.
    pub host: Option<String>,
    pub source_compute: Option<String>,
    /// Updated at or after / at or before, in microseconds.
    pub changes_since: Option<i64>,
    pub changes_before: Option<i64>,
    /// Only migrations listed after the one with this UUID.
    pub marker: Option<String>,
    pub limit: Option<i64>,
}

/// Nova's 400 for a migration in a status an operation does not take.
fn wrong_status(m: &Migration, operation: &str) -> ComputeError {
    ComputeError::Invalid(format!(
        "Migration {} state of instance {} is {}. Cannot {operation} while the migration is in this state.",
        m.id,
        m.instance_uuid,
        m.status.as_str()
    ))
}

/// Nova's 409 unless the server is in the middle of a live migration.
fn live_migrating(server: &Server, action: &str) -> ComputeResult<()> {
    match server.task_state {
        Some(TaskState::Migrating) => Ok(()),
        other => Err(invalid_state(
            action,
            server,
            "task_state",
            other.map_or("None", TaskState::as_str),
        )),
    }
}

/// Nova's message for a migration id the server does not have.
fn not_found_for(id: &str, server: &Server) -> String {
    format!("Migration {id} not found for instance {}", server.uuid)
}

impl TryFrom<MigrationRow> for Migration {
    type Error = ComputeError;

    fn try_from(row: MigrationRow) -> ComputeResult<Self> {
        let unknown = |what: &str, value: &str| {
            ComputeError::Internal(format!(
                "unknown migration {what} {value:?} in the database"
            ))
        };
        Ok(Self {
            migration_type: MigrationType::parse(&row.migration_type)
                .ok_or_else(|| unknown("type", &row.migration_type))?,
            status: MigrationStatus::parse(&row.status)
                .ok_or_else(|| unknown("status", &row.status))?,
            id: row.id,
            uuid: row.uuid,
            instance_uuid: row.instance_uuid,
            source_compute: row.source_compute,
            dest_compute: row.dest_compute,
            source_node: row.source_node,
            dest_node: row.dest_node,
            dest_host: row.dest_host,
            incoming_uri: row.incoming_uri,
            old_flavor_seq: row.old_instance_type_id,
            new_flavor_seq: row.new_instance_type_id,
            project_id: row.project_id,
            user_id: row.user_id,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

fn migrations(rows: Vec<MigrationRow>) -> ComputeResult<Vec<Migration>> {
    rows.into_iter().map(Migration::try_from).collect()
}

impl Compute {
    /// The record of a move of `server` that starts now, to `dest`
    /// (`(host, node)`; `None` while no host was found).
    pub(crate) fn new_migration(
        &self,
        server: &Server,
        caller: &Caller,
        migration_type: MigrationType,
        status: MigrationStatus,
        flavors: (Option<i64>, Option<i64>),
        dest: Option<(String, String)>,
    ) -> MigrationRow {
        let now = now_micros();
        let (dest_compute, dest_node) = dest.unzip();
        MigrationRow {
            id: 0,
            uuid: uuid::Uuid::new_v4().to_string(),
            instance_uuid: server.uuid.clone(),
            migration_type: migration_type.as_str().into(),
            status: status.as_str().into(),
            source_compute: server.host.clone(),
            dest_compute,
            source_node: server.node.clone(),
            dest_node,
            dest_host: None,
            incoming_uri: None,
            old_instance_type_id: flavors.0,
            new_instance_type_id: flavors.1,
            project_id: server.project_id.clone(),
            user_id: caller.user_id.clone(),
            created_at: now,
            updated_at: now,
        }
    }

    /// The internal id of a flavor (migrations name flavors by it).
    pub(crate) async fn flavor_seq(&self, flavor_id: &str) -> ComputeResult<Option<i64>> {
        Ok(self.store.flavors().get(flavor_id).await?.map(|f| f.seq))
    }

    /// Moves one migration from one of `from` to `to`; `false` when it
    /// was in none of them (cancelled meanwhile). A flow names the
    /// migration it runs: an aborted flow still winding down must not move
    /// the server's next migration on.
    pub(crate) async fn advance_migration(
        &self,
        m: &Migration,
        from: &[MigrationStatus],
        to: MigrationStatus,
    ) -> ComputeResult<bool> {
        Ok(self
            .store
            .migrations()
            .advance(
                &m.uuid,
                &MigrationStatus::names(from),
                to.as_str(),
                now_micros(),
            )
            .await?)
    }

    /// The destination of a preparing live migration `m` is ready at
    /// `incoming_uri`: the migration runs; `false` when it was aborted.
    pub(crate) async fn record_incoming(
        &self,
        m: &Migration,
        incoming_uri: &str,
    ) -> ComputeResult<bool> {
        Ok(self
            .store
            .migrations()
            .set_incoming(
                &m.uuid,
                M::Preparing.as_str(),
                M::Running.as_str(),
                incoming_uri,
                now_micros(),
            )
            .await?)
    }

    /// The newest migration of a server in one of `statuses`.
    pub(crate) async fn current_migration(
        &self,
        uuid: &str,
        statuses: &[MigrationStatus],
    ) -> ComputeResult<Option<Migration>> {
        let q = MigrationQuery {
            instance_uuid: Some(uuid.to_owned()),
            statuses: statuses.iter().map(|s| s.as_str().to_owned()).collect(),
            ..MigrationQuery::default()
        };
        let rows = self.store.migrations().list(&q).await?;
        Ok(migrations(rows)?.into_iter().next())
    }

    /// `GET /os-migrations`: the migrations `filter` selects (the API has
    /// checked who may see which projects' migrations).
    pub async fn list_migrations(&self, filter: MigrationFilter) -> ComputeResult<Vec<Migration>> {
        let marker = filter.marker.clone().unwrap_or_default();
        let q = MigrationQuery {
            id: None,
            instance_uuid: filter.instance_uuid,
            project_id: filter.project_id,
            user_id: filter.user_id,
            status: filter.status,
            migration_type: filter.migration_type,
            host: filter.host,
            source_compute: filter.source_compute,
            statuses: Vec::new(),
            changes_since: filter.changes_since,
            changes_before: filter.changes_before,
            marker: filter.marker,
            limit: filter.limit,
        };
        match self.store.migrations().list(&q).await {
            Err(oxstack_store::StoreError::NotFound) => Err(ComputeError::Invalid(format!(
                "Marker {marker} could not be found."
            ))),
            other => migrations(other?),
        }
    }

    /// `GET /servers/{id}/migrations`: its live migrations in progress.
    pub async fn server_migrations(
        &self,
        caller: &Caller,
        id: &str,
    ) -> ComputeResult<Vec<Migration>> {
        let server = self.get_server(caller, id).await?;
        let q = MigrationQuery {
            instance_uuid: Some(server.uuid),
            migration_type: Some(MigrationType::LiveMigration.as_str().into()),
            statuses: IN_PROGRESS.iter().map(|s| s.as_str().to_owned()).collect(),
            ..MigrationQuery::default()
        };
        migrations(self.store.migrations().list(&q).await?)
    }

    /// A migration of the server by id (`None`: no such migration of it).
    async fn migration_of(&self, server: &Server, id: &str) -> ComputeResult<Option<Migration>> {
        let Ok(id) = id.parse::<i64>() else {
            return Ok(None);
        };
        let q = MigrationQuery {
            id: Some(id),
            instance_uuid: Some(server.uuid.clone()),
            ..MigrationQuery::default()
        };
        Ok(migrations(self.store.migrations().list(&q).await?)?.pop())
    }

    /// `GET /servers/{id}/migrations/{id}` (2.23): one live migration in
    /// progress; any other is 404, with Nova's reason.
    pub async fn server_migration(
        &self,
        caller: &Caller,
        server_id: &str,
        id: &str,
    ) -> ComputeResult<Migration> {
        let server = self.get_server(caller, server_id).await?;
        let uuid = &server.uuid;
        let m = self.migration_of(&server, id).await?.ok_or_else(|| {
            ComputeError::NotFound(format!(
                "In-progress live migration {id} is not found for server {uuid}."
            ))
        })?;
        if m.migration_type != MigrationType::LiveMigration {
            return Err(ComputeError::NotFound(format!(
                "Migration {id} for server {uuid} is not live-migration."
            )));
        }
        if !SHOWN.contains(&m.status) {
            return Err(ComputeError::NotFound(format!(
                "Live migration {id} for server {uuid} is not in progress."
            )));
        }
        Ok(m)
    }

    /// `POST /servers/{id}/migrations/{id}/action` `force_complete` (2.22):
    /// only an active server in the middle of a live migration that is
    /// running; the request is recorded as Nova records it.
    pub async fn force_complete_migration(
        &self,
        caller: &Caller,
        server_id: &str,
        id: &str,
    ) -> ComputeResult<()> {
        let server = self.get_server(caller, server_id).await?;
        super::check_lock(&server, caller)?;
        if server.vm_state != VmState::Active {
            return Err(invalid_state(
                "force_complete",
                &server,
                "vm_state",
                server.vm_state.as_str(),
            ));
        }
        live_migrating(&server, "force_complete")?;
        let m = self
            .migration_of(&server, id)
            .await?
            .ok_or_else(|| ComputeError::Invalid(not_found_for(id, &server)))?;
        if m.status != M::Running {
            return Err(wrong_status(&m, "force complete"));
        }
        self.record_done(
            caller,
            &server,
            "live_migration_force_complete",
            &[],
            &Guard::any(),
            Step::default(),
        )
        .await?;
        Ok(())
    }

    /// `DELETE /servers/{id}/migrations/{id}` (2.24): aborts a live
    /// migration that is running (or, from 2.65, still queued or
    /// preparing): the migration is cancelled and the server's task
    /// cleared, in one transaction.
    pub async fn abort_migration(
        &self,
        caller: &Caller,
        server_id: &str,
        id: &str,
        queued_too: bool,
    ) -> ComputeResult<()> {
        const ACTION: &str = "abort live migration";
        let server = self.get_server(caller, server_id).await?;
        super::check_lock(&server, caller)?;
        live_migrating(&server, ACTION)?;
        let m = self
            .migration_of(&server, id)
            .await?
            .ok_or_else(|| ComputeError::NotFound(not_found_for(id, &server)))?;
        let abortable: &[MigrationStatus] = if queued_too {
            &IN_PROGRESS
        } else {
            &[M::Running]
        };
        if !abortable.contains(&m.status) {
            return Err(wrong_status(&m, ACTION));
        }
        let from = MigrationStatus::names(abortable);
        let step = Step {
            change: (&Change::clear_task()).into(),
            migration: Some(MigrationStep::Advance {
                from: &from,
                to: M::Cancelled.as_str(),
            }),
            ..Step::default()
        };
        self.record_done(
            caller,
            &server,
            "live_migration_cancel",
            &[],
            &Guard::in_task(TaskState::Migrating),
            step,
        )
        .await?;
        Ok(())
    }
}
