//! Migration records: a resize (or a live migration) leaves one, whose
//! status follows the move (`pre-migrating` → `finished` → `confirmed` or
//! `reverted`; live: `accepted` → `error` when no host takes it).

use oxstack_store::instances::{StateChange, StateGuard};
use oxstack_store::migrations::{MigrationQuery, MigrationRow};

use super::states::{task, vm};
use super::{Caller, Server, check_lock, invalid_state};
use crate::{Compute, ComputeError, ComputeResult, now_micros};

/// Statuses of a live migration still in progress (`/servers/{id}/migrations`).
const IN_PROGRESS: [&str; 3] = ["queued", "preparing", "running"];

/// What `GET /servers/{id}/migrations/{id}` counts as in progress (Nova
/// adds `post-migrating` there, not in the listing).
const SHOWN: [&str; 4] = ["queued", "preparing", "running", "post-migrating"];

/// Nova's 400 for a migration in a status an operation does not take.
fn wrong_status(m: &MigrationRow, operation: &str) -> ComputeError {
    ComputeError::Invalid(format!(
        "Migration {} state of instance {} is {}. Cannot {operation} while the migration is in this state.",
        m.id, m.instance_uuid, m.status
    ))
}

/// Nova's 409 unless the server is in the middle of a live migration.
fn live_migrating(server: &Server, action: &str) -> ComputeResult<()> {
    match server.task_state.as_deref() {
        Some(task::MIGRATING) => Ok(()),
        other => Err(invalid_state(
            action,
            server,
            "task_state",
            other.unwrap_or("None"),
        )),
    }
}

/// Nova's message for a migration id the server does not have.
fn not_found_for(id: &str, server: &Server) -> String {
    format!("Migration {id} not found for instance {}", server.uuid)
}

impl Compute {
    /// Records a migration of `server` to `dest` (`(host, node)`; `None`
    /// while no host was found).
    pub(crate) async fn record_migration(
        &self,
        server: &Server,
        caller: &Caller,
        migration_type: &str,
        status: &str,
        flavors: (Option<i64>, Option<i64>),
        dest: Option<(&str, &str)>,
    ) -> ComputeResult<()> {
        let now = now_micros();
        self.store
            .migrations()
            .insert(&MigrationRow {
                id: 0,
                uuid: uuid::Uuid::new_v4().to_string(),
                instance_uuid: server.uuid.clone(),
                migration_type: migration_type.into(),
                status: status.into(),
                source_compute: server.host.clone(),
                dest_compute: dest.map(|(host, _)| host.to_owned()),
                source_node: server.node.clone(),
                dest_node: dest.map(|(_, node)| node.to_owned()),
                dest_host: None,
                old_instance_type_id: flavors.0,
                new_instance_type_id: flavors.1,
                project_id: server.project_id.clone(),
                user_id: caller.user_id.clone(),
                created_at: now,
                updated_at: now,
            })
            .await?;
        Ok(())
    }

    /// Moves the newest migration of a server from one of `from` to `to`;
    /// `false` when it had none in those statuses (cancelled meanwhile).
    pub(crate) async fn advance_migration(
        &self,
        uuid: &str,
        from: &[&str],
        to: &str,
    ) -> ComputeResult<bool> {
        Ok(self
            .store
            .migrations()
            .advance(uuid, from, to, now_micros())
            .await?)
    }

    /// The newest migration of a server in one of `statuses`.
    pub(crate) async fn current_migration(
        &self,
        uuid: &str,
        statuses: &[&str],
    ) -> ComputeResult<Option<MigrationRow>> {
        let q = MigrationQuery {
            instance_uuid: Some(uuid.to_owned()),
            statuses: statuses.iter().map(|s| (*s).to_owned()).collect(),
            ..MigrationQuery::default()
        };
        Ok(self.store.migrations().list(&q).await?.into_iter().next())
    }

    /// `GET /os-migrations`: the migrations `q` selects (the API has
    /// checked who may see which projects' migrations).
    pub async fn list_migrations(&self, q: MigrationQuery) -> ComputeResult<Vec<MigrationRow>> {
        let marker = q.marker.clone().unwrap_or_default();
        match self.store.migrations().list(&q).await {
            Err(oxstack_store::StoreError::NotFound) => Err(ComputeError::Invalid(format!(
                "Marker {marker} could not be found."
            ))),
            other => Ok(other?),
        }
    }

    /// `GET /servers/{id}/migrations`: its live migrations in progress.
    pub async fn server_migrations(
        &self,
        caller: &Caller,
        id: &str,
    ) -> ComputeResult<Vec<MigrationRow>> {
        let server = self.get_server(caller, id).await?;
        let q = MigrationQuery {
            instance_uuid: Some(server.uuid),
            migration_type: Some("live-migration".into()),
            statuses: IN_PROGRESS.iter().map(|s| (*s).to_owned()).collect(),
            ..MigrationQuery::default()
        };
        Ok(self.store.migrations().list(&q).await?)
    }

    /// A migration of the server by id (`None`: no such migration of it).
    async fn migration_of(&self, server: &Server, id: &str) -> ComputeResult<Option<MigrationRow>> {
        let Ok(id) = id.parse::<i64>() else {
            return Ok(None);
        };
        let q = MigrationQuery {
            id: Some(id),
            instance_uuid: Some(server.uuid.clone()),
            ..MigrationQuery::default()
        };
        Ok(self.store.migrations().list(&q).await?.pop())
    }

    /// `GET /servers/{id}/migrations/{id}` (2.23): one live migration in
    /// progress; any other is 404, with Nova's reason.
    pub async fn server_migration(
        &self,
        caller: &Caller,
        server_id: &str,
        id: &str,
    ) -> ComputeResult<MigrationRow> {
        let server = self.get_server(caller, server_id).await?;
        let uuid = &server.uuid;
        let m = self.migration_of(&server, id).await?.ok_or_else(|| {
            ComputeError::NotFound(format!(
                "In-progress live migration {id} is not found for server {uuid}."
            ))
        })?;
        if m.migration_type != "live-migration" {
            return Err(ComputeError::NotFound(format!(
                "Migration {id} for server {uuid} is not live-migration."
            )));
        }
        if !SHOWN.contains(&m.status.as_str()) {
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
        check_lock(&server, caller)?;
        if server.vm_state != vm::ACTIVE {
            return Err(invalid_state(
                "force_complete",
                &server,
                "vm_state",
                &server.vm_state,
            ));
        }
        live_migrating(&server, "force_complete")?;
        let m = self
            .migration_of(&server, id)
            .await?
            .ok_or_else(|| ComputeError::Invalid(not_found_for(id, &server)))?;
        if m.status != "running" {
            return Err(wrong_status(&m, "force complete"));
        }
        self.record_action(&server, caller, "live_migration_force_complete")
            .await?;
        Ok(())
    }

    /// `DELETE /servers/{id}/migrations/{id}` (2.24): aborts a live
    /// migration that is running (or, from 2.65, still queued or
    /// preparing): the migration is cancelled and the server's task
    /// cleared.
    pub async fn abort_migration(
        &self,
        caller: &Caller,
        server_id: &str,
        id: &str,
        queued_too: bool,
    ) -> ComputeResult<()> {
        const ACTION: &str = "abort live migration";
        let server = self.get_server(caller, server_id).await?;
        check_lock(&server, caller)?;
        live_migrating(&server, ACTION)?;
        let m = self
            .migration_of(&server, id)
            .await?
            .ok_or_else(|| ComputeError::NotFound(not_found_for(id, &server)))?;
        let abortable: &[&str] = if queued_too {
            &IN_PROGRESS
        } else {
            &["running"]
        };
        if !abortable.contains(&m.status.as_str()) {
            return Err(wrong_status(&m, ACTION));
        }
        self.record_action(&server, caller, "live_migration_cancel")
            .await?;
        self.advance_migration(&server.uuid, abortable, "cancelled")
            .await?;
        let clear = StateChange {
            task_state: Some(None),
            ..StateChange::default()
        };
        self.store
            .instances()
            .transition(
                &server.uuid,
                &StateGuard::in_task(task::MIGRATING),
                &clear,
                now_micros(),
            )
            .await?;
        Ok(())
    }
}
