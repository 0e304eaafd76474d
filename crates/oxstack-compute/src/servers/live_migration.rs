//! `os-migrateLive`: the guest keeps running while it moves. The source
//! host starts it (`preparing`) and hands it to the destination, which
//! readies itself to receive the guest (Nova's `pre_live_migration`) and
//! records where (`running`); the source copies the guest up to the
//! switch-over, hands the server to the destination in one
//! compare-and-swap with the migration's move to `post-migrating`, and
//! lets the copy finish; the destination resumes the guest (`completed`).
//! A move that cannot happen (no host, the same host, a host that is
//! down) fails in the background with the server left where it was, as
//! Nova's conductor does from 2.34; an abort is honoured until the
//! hand-over, the guest then staying where it was.

use oxstack_store::instances::MigrationStep;
use oxstack_store::services::ServiceRow;

use super::Caller;
use super::flow::{Acceptance, Flow, Work, finish};
use super::migrate::no_valid_host;
use super::rules;
use crate::model::change::{Change, Guard};
use crate::model::states::TaskState;
use crate::model::{Migration, MigrationStatus, MigrationType, Server};
use crate::{Compute, ComputeResult};

use MigrationStatus as M;

/// The event of the whole move, as Nova's conductor records it.
const CONDUCTOR: &str = "conductor_live_migrate_instance";

/// The source's copy of the guest.
const COPY: &str = "compute_live_migration";

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
        self.pass_live_migration(server.host.as_deref(), &server.uuid, Some(action_id));
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

    /// A live migration's part on this host, by its record: the source
    /// starts it (`preparing`) and hands it to the destination, which
    /// readies itself to receive the guest, records where (`running`) and
    /// hands it back; the source copies the guest up to the switch-over,
    /// hands the server to the destination in the same compare-and-swap
    /// that moves the migration to `post-migrating`, and lets the copy
    /// finish; the destination resumes the guest (`completed`).
    pub(crate) async fn run_live_migration(
        &self,
        uuid: &str,
        action_id: Option<i64>,
    ) -> ComputeResult<()> {
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
        let here = Some(self.host.as_str());
        match m.status {
            // Cut short between the copy and the hand-over.
            M::PostMigrating if server.host.as_deref() == m.source_compute.as_deref() => {
                self.hand_over(&server, &m, action_id).await
            }
            M::PostMigrating => self.finish_live_migration(&server, action_id).await,
            M::Preparing if m.dest_compute.as_deref() == here => {
                self.prepare_live_migration(&server, &m, action_id).await
            }
            // Resumed after a restart: the destination prepares (again).
            M::Preparing => {
                self.pass_live_migration(m.dest_compute.as_deref(), uuid, action_id);
                Ok(())
            }
            M::Running => self.send_live_migration(&server, &m, action_id).await,
            _ => self.start_live_migration(&server, &m, action_id).await,
        }
    }

    /// Whether this host is the destination of the live migration of
    /// `server` that is being prepared (its part runs here before the
    /// server is this host's).
    pub(crate) async fn prepares_live_migration_of(&self, server: &Server) -> ComputeResult<bool> {
        if server.deleted || server.task_state != Some(TaskState::Migrating) {
            return Ok(false);
        }
        let m = self
            .current_migration(&server.uuid, &[M::Preparing])
            .await?;
        Ok(m.is_some_and(|m| m.dest_compute.as_deref() == Some(self.host.as_str())))
    }

    /// The source's first part: a move that cannot happen fails here;
    /// otherwise the destination is asked to prepare.
    async fn start_live_migration(
        &self,
        server: &Server,
        m: &Migration,
        action_id: Option<i64>,
    ) -> ComputeResult<()> {
        let uuid = &server.uuid;
        self.start_event(action_id, CONDUCTOR).await?;
        let dest = match &m.dest_compute {
            Some(name) => self.find_host(name).await?,
            None => None,
        };
        if let Some(reason) = self.live_migration_refusal(server, dest.as_ref()) {
            if !self.advance_migration(m, &LIVE_SOURCE, M::Error).await? {
                return self.left_aborted(action_id, &[CONDUCTOR]).await;
            }
            return self
                .end_live_migration(uuid, action_id, Some((CONDUCTOR, &reason)))
                .await;
        }
        if !self
            .advance_migration(m, &[M::Accepted, M::Queued], M::Preparing)
            .await?
        {
            return self.left_aborted(action_id, &[CONDUCTOR]).await;
        }
        self.pass_live_migration(m.dest_compute.as_deref(), uuid, action_id);
        Ok(())
    }

    /// The destination's first part (Nova's `pre_live_migration`): ready
    /// to receive the guest, with the address recorded for the source.
    async fn prepare_live_migration(
        &self,
        server: &Server,
        m: &Migration,
        action_id: Option<i64>,
    ) -> ComputeResult<()> {
        const EVENT: &str = "compute_pre_live_migration";
        let uuid = &server.uuid;
        self.start_event(action_id, EVENT).await?;
        let prepared = match self.guest_of(server).await {
            Ok(guest) => self
                .driver
                .prepare_incoming(&guest)
                .await
                .map_err(|e| e.message),
            Err(e) => Err(e.to_string()),
        };
        let incoming = match prepared {
            Ok(incoming) => incoming,
            Err(reason) => {
                let _ = self.driver.destroy(uuid).await;
                return self
                    .fail_live_migration(m, M::Preparing, action_id, EVENT, &reason)
                    .await;
            }
        };
        if !self
            .record_incoming(m, incoming.as_deref().unwrap_or_default())
            .await?
        {
            // Aborted while preparing: nothing comes.
            let _ = self.driver.destroy(uuid).await;
            return self.left_aborted(action_id, &[EVENT, CONDUCTOR]).await;
        }
        self.finish_event(action_id, EVENT, None).await?;
        self.pass_live_migration(m.source_compute.as_deref(), uuid, action_id);
        Ok(())
    }

    /// The source's second part: the guest is copied to the switch-over,
    /// the server handed to the destination, and the copy let finish; an
    /// abort or a failure before the hand-over keeps the guest here.
    async fn send_live_migration(
        &self,
        server: &Server,
        m: &Migration,
        action_id: Option<i64>,
    ) -> ComputeResult<()> {
        let uuid = &server.uuid;
        self.start_event(action_id, COPY).await?;
        let destination = match m.incoming_uri.as_deref() {
            Some(uri) if !uri.is_empty() => uri,
            _ => m.dest_compute.as_deref().unwrap_or_default(),
        };
        if let Err(e) = self.driver.live_send(uuid, destination).await {
            return self
                .fail_live_migration(m, M::Running, action_id, COPY, &e.message)
                .await;
        }
        if !self
            .advance_migration(m, &[M::Running], M::PostMigrating)
            .await?
        {
            // Aborted while the guest was copied: it stays here.
            if let Err(e) = self.driver.finish_live_send(uuid, false).await {
                tracing::error!(server = %uuid, error = %e, "taking back a live migration failed");
            }
            return self.left_aborted(action_id, &[COPY, CONDUCTOR]).await;
        }
        self.hand_over(server, m, action_id).await
    }

    /// The source's last part, past the point of no return: the server
    /// goes to the destination, the copy finishes, and the destination
    /// resumes the guest.
    async fn hand_over(
        &self,
        server: &Server,
        m: &Migration,
        action_id: Option<i64>,
    ) -> ComputeResult<()> {
        let uuid = &server.uuid;
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
        if let Err(e) = self.driver.finish_live_send(uuid, true).await {
            // The destination finds the guest missing and says so.
            tracing::error!(server = %uuid, error = %e, "completing a live migration failed");
        }
        self.finish_event(action_id, CONDUCTOR, None).await?;
        self.pass_live_migration(m.dest_compute.as_deref(), uuid, action_id);
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
        let received = match self.guest_of(server).await {
            Ok(guest) => self
                .driver
                .receive_guest(&guest, server.power_state)
                .await
                .map_err(|e| e.message),
            Err(e) => Err(e.to_string()),
        };
        let done = Change {
            task_state: Some(None),
            power_state: Some(self.driver.power_state(&server.uuid).await),
            ..Change::default()
        };
        let error = received.err();
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

    /// Runs the next part of a live migration on `host`.
    fn pass_live_migration(&self, host: Option<&str>, uuid: &str, action_id: Option<i64>) {
        self.dispatch(host, uuid, Work::new(Flow::LiveMigration, action_id));
    }

    /// Ends a live migration whose part `event` failed while it was
    /// `status`: the migration errs, and the server stays at its source
    /// with the reason (unless it was aborted meanwhile).
    async fn fail_live_migration(
        &self,
        m: &Migration,
        status: MigrationStatus,
        action_id: Option<i64>,
        event: &str,
        reason: &str,
    ) -> ComputeResult<()> {
        if !self.advance_migration(m, &[status], M::Error).await? {
            return self.left_aborted(action_id, &[event, CONDUCTOR]).await;
        }
        self.finish_event(action_id, event, Some(reason)).await?;
        self.end_live_migration(&m.instance_uuid, action_id, Some((CONDUCTOR, reason)))
            .await
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
