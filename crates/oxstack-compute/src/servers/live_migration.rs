//! `os-migrateLive`: the guest keeps running while it moves. The source
//! host prepares and copies it (`preparing` → `running`), then hands the
//! server to the destination in the same compare-and-swap that moves its
//! migration to `post-migrating`; the destination resumes the guest
//! (`completed`). A move that cannot happen (no host, the same host, a
//! host that is down) fails in the background with the server left where
//! it was, as Nova's conductor does from 2.34; an abort is honoured until
//! the hand-over.

use oxstack_store::instances::MigrationStep;
use oxstack_store::services::ServiceRow;

use super::Caller;
use super::flow::{Acceptance, Flow, Work, finish};
use super::guest::guest_spec;
use super::migrate::no_valid_host;
use super::rules;
use crate::model::change::{Change, Guard};
use crate::model::states::TaskState;
use crate::model::{MigrationStatus, MigrationType, Server};
use crate::{Compute, ComputeResult};

use MigrationStatus as M;

/// Statuses of a live migration before the destination finishes it.
const LIVE_SOURCE: [MigrationStatus; 4] = [M::Accepted, M::Queued, M::Preparing, M::Running];

impl Compute {
    /// `os-migrateLive`: accepted, then run by the server's host; a move
    /// that cannot happen (no host, the same host, a host that is down)
    /// fails in the background with the server left where it was, as
    /// Nova's conductor does from 2.34.
    pub async fn live_migrate_server(
        &self,
        caller: &Caller,
        id: &str,
        host: Option<&str>,
    ) -> ComputeResult<()> {
        let rule = &rules::LIVE_MIGRATE;
        let server = self.actionable(caller, id, rule).await?;
        let dest = match host {
            Some(name) => Some(self.named_host(name).await?),
            None if rule.allows(&server) => self.pick_host(&server, server.host.as_deref()).await?,
            None => None,
        };
        let migration = self.new_migration(
            &server,
            caller,
            MigrationType::LiveMigration,
            M::Accepted,
            (None, None),
            dest.map(|d| (d.host, d.node)),
        );
        let acceptance = Acceptance {
            migration: Some(MigrationStep::Insert(&migration)),
            ..Acceptance::default()
        };
        let action_id = self.accept(caller, &server, rule, acceptance).await?;
        self.dispatch(
            server.host.as_deref(),
            &server.uuid,
            Work::new(Flow::LiveMigration, Some(action_id)),
        );
        Ok(())
    }

    /// Why a live migration to `dest` cannot start, in Nova's words.
    fn live_migration_refusal(&self, server: &Server, dest: Option<&ServiceRow>) -> Option<String> {
        let Some(dest) = dest else {
            return Some(no_valid_host("live migration"));
        };
        if server.host.as_deref() == Some(dest.host.as_str()) {
            return Some(format!(
                "Unable to migrate instance ({}) to current host ({}).",
                server.uuid, dest.host
            ));
        }
        if !self.service_is_up(dest) {
            return Some(format!(
                "Compute service of {} is unavailable at this time.",
                dest.host
            ));
        }
        None
    }

    /// The source host's part of a live migration (preparing → running,
    /// the guest copied over, then handed to the destination), or the
    /// destination's (the guest resumes there; `completed`).
    pub(crate) async fn run_live_migration(
        &self,
        uuid: &str,
        action_id: Option<i64>,
    ) -> ComputeResult<()> {
        const CONDUCTOR: &str = "conductor_live_migrate_instance";
        let Some(server) = self.load(uuid).await? else {
            return Ok(());
        };
        if server.task_state != Some(TaskState::Migrating) {
            return Ok(());
        }
        let mut statuses = LIVE_SOURCE.to_vec();
        statuses.push(M::PostMigrating);
        let Some(m) = self.current_migration(uuid, &statuses).await? else {
            return self.end_live_migration(uuid, action_id, None).await;
        };
        if m.status == M::PostMigrating {
            return self.finish_live_migration(&server, action_id).await;
        }
        self.start_event(action_id, CONDUCTOR).await?;
        let dest = match &m.dest_compute {
            Some(name) => self.find_host(name).await?,
            None => None,
        };
        if let Some(reason) = self.live_migration_refusal(&server, dest.as_ref()) {
            if !self.advance_migration(&m, &LIVE_SOURCE, M::Error).await? {
                return self.left_aborted(action_id, &[CONDUCTOR]).await;
            }
            return self
                .end_live_migration(uuid, action_id, Some((CONDUCTOR, &reason)))
                .await;
        }
        self.advance_migration(&m, &[M::Accepted, M::Queued], M::Preparing)
            .await?;
        self.record_events(action_id, &["compute_pre_live_migration"])
            .await?;
        if !self
            .advance_migration(&m, &[M::Preparing], M::Running)
            .await?
        {
            return self.left_aborted(action_id, &[CONDUCTOR]).await;
        }
        const COPY: &str = "compute_live_migration";
        self.start_event(action_id, COPY).await?;
        let dest_host = m.dest_compute.as_deref().unwrap_or_default();
        if let Err(e) = self.driver.send_guest(uuid, dest_host).await {
            if !self.advance_migration(&m, &[M::Running], M::Error).await? {
                return self.left_aborted(action_id, &[COPY, CONDUCTOR]).await;
            }
            self.finish_event(action_id, COPY, Some(&e.message)).await?;
            return self
                .end_live_migration(uuid, action_id, Some((CONDUCTOR, &e.message)))
                .await;
        }
        if !self
            .advance_migration(&m, &[M::Running], M::PostMigrating)
            .await?
        {
            // Aborted while the guest was copied: it stays here.
            let _ = self
                .driver
                .receive_guest(&guest_spec(&server), server.power_state)
                .await;
            return self.left_aborted(action_id, &[COPY, CONDUCTOR]).await;
        }
        let handed = Change {
            host: Some(m.dest_compute.clone()),
            node: Some(m.dest_node.clone()),
            ..Change::default()
        };
        if !self
            .step(
                uuid,
                &Guard::in_task(TaskState::Migrating),
                &handed,
                finish(action_id, COPY, None),
                None,
            )
            .await?
        {
            return Ok(());
        }
        self.finish_event(action_id, CONDUCTOR, None).await?;
        self.dispatch(
            m.dest_compute.as_deref(),
            uuid,
            Work::new(Flow::LiveMigration, action_id),
        );
        Ok(())
    }

    /// The destination's part: the guest runs here as it ran there.
    async fn finish_live_migration(
        &self,
        server: &Server,
        action_id: Option<i64>,
    ) -> ComputeResult<()> {
        const EVENT: &str = "compute_post_live_migration_at_destination";
        self.start_event(action_id, EVENT).await?;
        let received = self
            .driver
            .receive_guest(&guest_spec(server), server.power_state)
            .await;
        let done = Change {
            task_state: Some(None),
            power_state: Some(self.driver.power_state(&server.uuid).await),
            ..Change::default()
        };
        let error = received.err().map(|e| e.message);
        let status = if error.is_some() {
            M::Error
        } else {
            M::Completed
        };
        let from = MigrationStatus::names(&[M::PostMigrating]);
        self.step(
            &server.uuid,
            &Guard::in_task(TaskState::Migrating),
            &done,
            finish(action_id, EVENT, error.as_deref()),
            Some(MigrationStep::Advance {
                from: &from,
                to: status.as_str(),
            }),
        )
        .await?;
        Ok(())
    }

    /// Winds down a flow whose migration was aborted: the abort already
    /// cleared the server's task (a new migration may have begun since),
    /// so only this flow's open events are closed.
    async fn left_aborted(&self, action_id: Option<i64>, events: &[&str]) -> ComputeResult<()> {
        for event in events {
            self.finish_event(action_id, event, None).await?;
        }
        Ok(())
    }

    /// Leaves a live migration that did not happen: the server stays where
    /// it is with its task cleared; `failure` is `(event, reason)`.
    async fn end_live_migration(
        &self,
        uuid: &str,
        action_id: Option<i64>,
        failure: Option<(&str, &str)>,
    ) -> ComputeResult<()> {
        let (event, reason) = failure.unzip();
        let action = event.and_then(|event| finish(action_id, event, reason));
        self.step(
            uuid,
            &Guard::in_task(TaskState::Migrating),
            &Change::clear_task(),
            action,
            None,
        )
        .await?;
        Ok(())
    }
}
