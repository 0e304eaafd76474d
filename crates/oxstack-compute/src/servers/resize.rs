//! `resize`, `confirmResize`, `revertResize`: a server moves to another
//! flavor and waits in `VERIFY_RESIZE` until its owner confirms the new
//! size or reverts to the old one. The new size is claimed against the
//! project's quota when the resize is accepted (in the accepting
//! transaction, under the project's lock), and given back by a revert.
//! A cold migration is the same flow with the same flavor and another
//! host (see `migrate.rs`).

use oxstack_store::StoreError;
use oxstack_store::instances::{InstanceUpdate, MigrationStep, SizeLimits, Step};

use super::Caller;
use super::flow::{Acceptance, Flow, Work, finish};
use super::guest::guest_spec;
use super::rules;
use crate::model::change::{Change, Guard};
use crate::model::states::{PowerState, TaskState, VmState};
use crate::model::{Fault, FlavorSnapshot, MigrationStatus, MigrationType, Server};
use crate::quotas::Resource;
use crate::{Compute, ComputeError, ComputeResult};

use MigrationStatus as M;

/// The task states a resize runs through.
const RESIZE_STEPS: [TaskState; 4] = [
    TaskState::ResizePrep,
    TaskState::ResizeMigrating,
    TaskState::ResizeMigrated,
    TaskState::ResizeFinish,
];

/// Statuses of a resize or cold migration on its way.
pub(crate) const MOVING: [MigrationStatus; 3] = [M::PreMigrating, M::Migrating, M::PostMigrating];

/// The power state a moved guest resumes in: as it was.
fn resting_power(server: &Server) -> PowerState {
    if server.power_state == PowerState::Shutdown {
        PowerState::Shutdown
    } else {
        PowerState::Running
    }
}

/// The vm_state a resized server settles in: as it was powered.
fn settled(server: &Server) -> VmState {
    if server.power_state == PowerState::Shutdown {
        VmState::Stopped
    } else {
        VmState::Active
    }
}

impl Compute {
    async fn size_limits(&self, project_id: &str) -> ComputeResult<SizeLimits> {
        let limits = self.quota_limits(project_id).await?;
        let get = |r| limits.get(&r).copied().unwrap_or(-1);
        Ok(SizeLimits {
            cores: get(Resource::Cores),
            ram: get(Resource::Ram),
        })
    }

    /// Nova's over-quota message for a change of size.
    async fn resize_over_quota(
        &self,
        server: &Server,
        new: &FlavorSnapshot,
    ) -> ComputeResult<ComputeError> {
        let limits = self.size_limits(&server.project_id).await?;
        let used = self.store.instances().usage(&server.project_id).await?;
        let checks = [
            (
                Resource::Cores,
                limits.cores,
                used.cores,
                new.vcpus - server.flavor.vcpus,
            ),
            (
                Resource::Ram,
                limits.ram,
                used.ram,
                new.memory_mb - server.flavor.memory_mb,
            ),
        ];
        let overs: Vec<(Resource, i64, i64, i64)> = checks
            .into_iter()
            .filter(|(_, limit, used, delta)| *limit >= 0 && *delta > 0 && used + delta > *limit)
            .map(|(resource, limit, used, delta)| (resource, delta, used, limit))
            .collect();
        Ok(super::admission::over_quota(&overs, 1, 1))
    }

    /// `resize` to `flavor_id`: 202, then `VERIFY_RESIZE`.
    pub async fn resize_server(
        &self,
        caller: &Caller,
        id: &str,
        flavor_id: &str,
        auto_disk_config: Option<bool>,
    ) -> ComputeResult<()> {
        let rule = &rules::RESIZE;
        let server = self.actionable(caller, id, rule).await?;
        if rule.allows(&server) {
            self.check_host_is_up(&server).await?;
        }
        let flavor = self
            .get_flavor(
                flavor_id,
                crate::flavors::Viewer::Project(&caller.project_id),
            )
            .await
            .map_err(|e| match e {
                ComputeError::NotFound(_) => {
                    ComputeError::Invalid("Unable to locate requested flavor.".into())
                }
                other => other,
            })?;
        if flavor.id == server.flavor.id {
            return Err(ComputeError::Invalid(
                "When resizing, instances must change flavor!".into(),
            ));
        }
        // A volume-backed server's disk is its volume: the flavor's does
        // not matter.
        let volume_backed = self.volume_backed(&server).await?;
        if !volume_backed && flavor.root_gb == 0 && server.flavor.root_gb != 0 {
            return Err(ComputeError::Invalid(
                "Server disk was unable to be resized because: Resize to zero disk flavor is not allowed."
                    .into(),
            ));
        }
        if !volume_backed && flavor.root_gb < server.flavor.root_gb {
            return Err(ComputeError::Invalid(
                "Resize error: Unable to resize disk down.".into(),
            ));
        }
        let new = self.flavor_snapshot(&flavor).await?;
        let old_seq = self.flavor_seq(&server.flavor.id).await?;
        let here = server.host.clone().zip(server.node.clone());
        let migration = self.new_migration(
            &server,
            caller,
            MigrationType::Resize,
            M::PreMigrating,
            (old_seq, Some(flavor.seq)),
            here,
        );
        let acceptance = Acceptance {
            migration: Some(MigrationStep::Insert(&migration)),
            change: Change {
                flavor: Some(new.clone()),
                old_flavor: Some(Some(server.flavor.clone())),
                ..Change::default()
            },
            limits: Some(self.size_limits(&server.project_id).await?),
            update: auto_disk_config.map(|auto| InstanceUpdate {
                auto_disk_config: Some(auto),
                ..InstanceUpdate::default()
            }),
            ..Acceptance::default()
        };
        let action_id = match self.accept(caller, &server, rule, acceptance).await {
            Err(ComputeError::Store(StoreError::LimitExceeded)) => {
                return Err(self.resize_over_quota(&server, &new).await?);
            }
            other => other?,
        };
        self.dispatch(
            server.host.as_deref(),
            &server.uuid,
            Work::new(Flow::Resize, Some(action_id)),
        );
        Ok(())
    }

    /// Runs (or continues, from the task state the server is in) a
    /// resize or cold migration. The source host's part ends by handing
    /// the server to the destination host (`resize_migrated`), whose part
    /// leaves it `resized`; a resize within one host does both here.
    pub(crate) async fn run_resize(&self, uuid: &str, action_id: Option<i64>) -> ComputeResult<()> {
        let Some(server) = self.load(uuid).await? else {
            return Ok(());
        };
        let Some(step) = server
            .task_state
            .and_then(|t| RESIZE_STEPS.iter().position(|s| *s == t))
        else {
            return Ok(());
        };
        let Some(m) = self.current_migration(uuid, &MOVING).await? else {
            return Ok(());
        };
        let moves = m.changes_host();
        if step < 2 {
            self.record_events(
                action_id,
                &[
                    "conductor_migrate_server",
                    "compute_prep_resize",
                    "compute_resize_instance",
                ],
            )
            .await?;
            if !self.walk_tasks(uuid, &RESIZE_STEPS[step..2]).await? {
                return Ok(());
            }
            if moves {
                self.advance_migration(&m, &[M::PreMigrating], M::Migrating)
                    .await?;
                let dest = m.dest_compute.as_deref().unwrap_or_default();
                if let Err(e) = self.driver.send_guest(uuid, dest).await {
                    return self
                        .fail_move(uuid, action_id, "compute_resize_instance", &e.message)
                        .await;
                }
            }
            let mut handed = Change::task(RESIZE_STEPS[2]);
            if moves {
                handed.host = Some(m.dest_compute.clone());
                handed.node = Some(m.dest_node.clone());
            }
            let advance = MigrationStatus::names(&[M::PreMigrating, M::Migrating]);
            let migration = MigrationStep::Advance {
                from: &advance,
                to: M::PostMigrating.as_str(),
            };
            if !self
                .step(
                    uuid,
                    &Guard::in_task(RESIZE_STEPS[1]),
                    &handed,
                    None,
                    Some(migration),
                )
                .await?
            {
                return Ok(());
            }
            if moves {
                let work = Work::new(Flow::Resize, action_id);
                self.dispatch(m.dest_compute.as_deref(), uuid, work);
                return Ok(());
            }
        }
        let event = "compute_finish_resize";
        self.start_event(action_id, event).await?;
        let from = step.max(2);
        if !self.walk_tasks(uuid, &RESIZE_STEPS[from..]).await? {
            return Ok(());
        }
        let mut done = Change {
            vm_state: Some(VmState::Resized),
            task_state: Some(None),
            ..Change::default()
        };
        let Some(server) = self.load(uuid).await? else {
            return Ok(());
        };
        let guest = self.guest_of(&server).await?;
        let finished = if moves {
            let power = resting_power(&server);
            done.power_state = Some(power);
            self.driver.receive_guest(&guest, power).await
        } else {
            self.driver.resize(&guest).await
        };
        if let Err(e) = finished {
            return self.fail_move(uuid, action_id, event, &e.message).await;
        }
        let moving = MigrationStatus::names(&MOVING);
        self.step(
            uuid,
            &Guard::in_task(RESIZE_STEPS[3]),
            &done,
            finish(action_id, event, None),
            Some(MigrationStep::Advance {
                from: &moving,
                to: M::Finished.as_str(),
            }),
        )
        .await?;
        Ok(())
    }

    /// `confirmResize`: keeps the new size (204).
    pub async fn confirm_resize(&self, caller: &Caller, id: &str) -> ComputeResult<()> {
        let rule = &rules::CONFIRM_RESIZE;
        let server = self.actionable(caller, id, rule).await?;
        if !self.confirm(caller, &server).await? {
            return Err(rule.refusal(&server));
        }
        Ok(())
    }

    /// Settles a resized server in its new size, the confirmation recorded
    /// (by `caller`, or by this host's periodic task); `false` when it was
    /// not waiting for confirmation.
    async fn confirm(&self, caller: &Caller, server: &Server) -> ComputeResult<bool> {
        let change = Change {
            vm_state: Some(settled(server)),
            old_flavor: Some(None),
            ..Change::default()
        };
        let finished = MigrationStatus::names(&[M::Finished]);
        let step = Step {
            change: (&change).into(),
            migration: Some(MigrationStep::Advance {
                from: &finished,
                to: M::Confirmed.as_str(),
            }),
            ..Step::default()
        };
        self.record_done(
            caller,
            server,
            rules::CONFIRM_RESIZE.record,
            &["compute_confirm_resize"],
            &Guard::settled_in(&[VmState::Resized]),
            step,
        )
        .await
    }

    /// Confirms the resizes left unconfirmed for `resize_confirm_window`.
    pub(crate) async fn confirm_due_resizes(&self) -> ComputeResult<()> {
        let window = self.settings.resize_confirm_window;
        for server in self.waiting(VmState::Resized, window).await? {
            tracing::info!(server = %server.uuid, "confirming a resize after the confirm window");
            let caller = Caller {
                project_id: server.project_id.clone(),
                user_id: server.user_id.clone(),
                is_admin: true,
                request_id: format!("req-{}", uuid::Uuid::new_v4()),
            };
            self.confirm(&caller, &server).await?;
        }
        Ok(())
    }

    /// `revertResize`: back to the old flavor (202) — and, after a cold
    /// migration or a resize that moved the server, back to its old host.
    pub async fn revert_resize(&self, caller: &Caller, id: &str) -> ComputeResult<()> {
        let rule = &rules::REVERT_RESIZE;
        let server = self.actionable(caller, id, rule).await?;
        let (Some(old), true) = (server.old_flavor.clone(), rule.allows(&server)) else {
            return Err(rule.refusal(&server));
        };
        let moved = self
            .current_migration(&server.uuid, &[M::Finished])
            .await?
            .is_some_and(|m| m.changes_host());
        if moved {
            // Across hosts both hosts take part, and the server shows
            // REVERT_RESIZE meanwhile.
            let finished = MigrationStatus::names(&[M::Finished]);
            let acceptance = Acceptance {
                change: Change {
                    flavor: Some(old),
                    old_flavor: Some(None),
                    ..Change::default()
                },
                migration: Some(MigrationStep::Advance {
                    from: &finished,
                    to: M::Reverting.as_str(),
                }),
                ..Acceptance::default()
            };
            let action_id = self.accept(caller, &server, rule, acceptance).await?;
            self.dispatch(
                server.host.as_deref(),
                &server.uuid,
                Work::new(Flow::RevertResize, Some(action_id)),
            );
            return Ok(());
        }
        // Within one host the revert is done at once.
        let change = Change {
            vm_state: Some(settled(&server)),
            task_state: Some(None),
            flavor: Some(old),
            old_flavor: Some(None),
            ..Change::default()
        };
        let finished = MigrationStatus::names(&[M::Finished]);
        let step = Step {
            change: (&change).into(),
            migration: Some(MigrationStep::Advance {
                from: &finished,
                to: M::Reverted.as_str(),
            }),
            ..Step::default()
        };
        let events = ["compute_revert_resize", "compute_finish_revert_resize"];
        let reverted = self
            .record_done(
                caller,
                &server,
                rule.record,
                &events,
                &Guard::settled_in(rule.vm_states),
                step,
            )
            .await?;
        if !reverted {
            let now = self.get_server(caller, id).await?;
            return Err(rule.refusal(&now));
        }
        let Some(server) = self.load(id).await? else {
            return Ok(());
        };
        if let Err(e) = self.driver.resize(&self.guest_of(&server).await?).await {
            tracing::warn!(server = %id, error = %e, "reverting the guest's size failed");
        }
        Ok(())
    }

    /// A revert across hosts: the destination sends the guest back and
    /// hands the server to the source host, which starts it in its old
    /// size.
    pub(crate) async fn run_revert(&self, uuid: &str, action_id: Option<i64>) -> ComputeResult<()> {
        let Some(server) = self.load(uuid).await? else {
            return Ok(());
        };
        if server.task_state != Some(TaskState::ResizeReverting) {
            return Ok(());
        }
        let Some(m) = self.current_migration(uuid, &[M::Reverting]).await? else {
            return Ok(());
        };
        let reverting = Guard::in_task(TaskState::ResizeReverting);
        if server.host != m.source_compute {
            let event = "compute_revert_resize";
            self.start_event(action_id, event).await?;
            let source = m.source_compute.as_deref().unwrap_or_default();
            if let Err(e) = self.driver.send_guest(uuid, source).await {
                return self.fail_move(uuid, action_id, event, &e.message).await;
            }
            let back = Change {
                host: Some(m.source_compute.clone()),
                node: Some(m.source_node.clone()),
                ..Change::default()
            };
            if self
                .step(
                    uuid,
                    &reverting,
                    &back,
                    finish(action_id, event, None),
                    None,
                )
                .await?
            {
                let work = Work::new(Flow::RevertResize, action_id);
                self.dispatch(m.source_compute.as_deref(), uuid, work);
            }
            return Ok(());
        }
        let event = "compute_finish_revert_resize";
        self.start_event(action_id, event).await?;
        let power = resting_power(&server);
        if let Err(e) = self.driver.receive_guest(&guest_spec(&server), power).await {
            return self.fail_move(uuid, action_id, event, &e.message).await;
        }
        let done = Change::settle(settled(&server), power);
        let from = MigrationStatus::names(&[M::Reverting]);
        self.step(
            uuid,
            &reverting,
            &done,
            finish(action_id, event, None),
            Some(MigrationStep::Advance {
                from: &from,
                to: M::Reverted.as_str(),
            }),
        )
        .await?;
        Ok(())
    }

    /// A failed step of a resize or cold migration: the server goes to
    /// ERROR with the fault, its migration to `error`.
    pub(crate) async fn fail_move(
        &self,
        uuid: &str,
        action_id: Option<i64>,
        event: &str,
        message: &str,
    ) -> ComputeResult<()> {
        tracing::warn!(server = %uuid, error = %message, "moving a server failed");
        self.start_event(action_id, event).await?;
        let failed = Change::error(Fault::new(500, message, message));
        let from = MigrationStatus::names(&[
            M::PreMigrating,
            M::Migrating,
            M::PostMigrating,
            M::Reverting,
        ]);
        self.step(
            uuid,
            &Guard::any(),
            &failed,
            finish(action_id, event, Some(message)),
            Some(MigrationStep::Advance {
                from: &from,
                to: M::Error.as_str(),
            }),
        )
        .await?;
        Ok(())
    }
}
