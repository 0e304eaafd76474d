//! Migration records: a resize (or a live migration) leaves one, whose
//! status follows the move (`pre-migrating` → `finished` → `confirmed` or
//! `reverted`; live: `accepted` → `error` when no host takes it).

use oxstack_store::migrations::{MigrationQuery, MigrationRow};

use super::{Caller, Server};
use crate::{Compute, ComputeResult, now_micros};

/// Statuses of a live migration still in progress (`/servers/{id}/migrations`).
const IN_PROGRESS: [&str; 3] = ["queued", "preparing", "running"];

impl Compute {
    /// Records a migration of `server` on this host.
    pub(crate) async fn record_migration(
        &self,
        server: &Server,
        caller: &Caller,
        migration_type: &str,
        status: &str,
        flavors: (Option<i64>, Option<i64>),
    ) -> ComputeResult<()> {
        let now = now_micros();
        let node = self.driver.node_name().to_owned();
        self.store
            .migrations()
            .insert(&MigrationRow {
                id: 0,
                uuid: uuid::Uuid::new_v4().to_string(),
                instance_uuid: server.uuid.clone(),
                migration_type: migration_type.into(),
                status: status.into(),
                source_compute: server.host.clone(),
                dest_compute: Some(self.host.clone()),
                source_node: server.node.clone(),
                dest_node: Some(node),
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

    /// Moves the newest migration of a server from one of `from` to `to`.
    pub(crate) async fn advance_migration(
        &self,
        uuid: &str,
        from: &[&str],
        to: &str,
    ) -> ComputeResult<()> {
        Ok(self
            .store
            .migrations()
            .advance(uuid, from, to, now_micros())
            .await?)
    }

    /// `GET /os-migrations` (admins and project managers): the project's
    /// migrations, or every project's for admins.
    pub async fn list_migrations(
        &self,
        caller: &Caller,
        mut q: MigrationQuery,
    ) -> ComputeResult<Vec<MigrationRow>> {
        if !caller.is_admin {
            q.project_id = Some(caller.project_id.clone());
        }
        Ok(self.store.migrations().list(&q).await?)
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
}
