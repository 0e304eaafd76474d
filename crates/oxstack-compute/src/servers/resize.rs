//! `resize`, `confirmResize`, `revertResize`: a server moves to another
//! flavor and waits in `VERIFY_RESIZE` until its owner confirms the new
//! size or reverts to the old one. The new size is claimed against the
//! project's quota when the resize is accepted (under the project's lock),
//! and given back by a revert.

use oxstack_store::StoreError;
use oxstack_store::instances::{FlavorColumns, SizeLimits, StateChange, StateGuard};
use oxstack_virt::PowerState;

use super::manager::{guest_spec, set_task};
use super::states::vm;
use super::{Caller, Server, check_lock, refused};
use crate::hosts::Flow;
use crate::quotas::Resource;
use crate::{Compute, ComputeError, ComputeResult, now_micros};

/// The task states a resize runs through.
const RESIZE_STEPS: [&str; 4] = [
    "resize_prep",
    "resize_migrating",
    "resize_migrated",
    "resize_finish",
];

/// The task state of a revert across hosts.
const REVERTING: &str = "resize_reverting";

/// Statuses of a resize or cold migration on its way.
const MOVING: [&str; 3] = ["pre-migrating", "migrating", "post-migrating"];

fn guard(vm_states: &[&str], task: Option<&str>) -> StateGuard {
    StateGuard {
        vm_states: Some(vm_states.iter().map(|s| (*s).to_owned()).collect()),
        task_states: Some(vec![task.map(str::to_owned)]),
    }
}

/// The power state a moved guest resumes in: as it was.
fn resting_power(server: &Server) -> PowerState {
    if server.power_state == PowerState::Shutdown.code() {
        PowerState::Shutdown
    } else {
        PowerState::Running
    }
}

/// The vm_state a resized server settles in: as it was powered.
fn settled(server: &Server) -> &'static str {
    if server.power_state == PowerState::Shutdown.code() {
        vm::STOPPED
    } else {
        vm::ACTIVE
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
        new: &FlavorColumns,
    ) -> ComputeResult<ComputeError> {
        let limits = self.size_limits(&server.project_id).await?;
        let used = self.store.instances().usage(&server.project_id).await?;
        let checks = [
            (
                Resource::Cores,
                limits.cores,
                used.cores,
                new.vcpus - server.vcpus,
            ),
            (
                Resource::Ram,
                limits.ram,
                used.ram,
                new.memory_mb - server.memory_mb,
            ),
        ];
        let overs: Vec<(Resource, i64, i64, i64)> = checks
            .into_iter()
            .filter(|(_, limit, used, delta)| *limit >= 0 && *delta > 0 && used + delta > *limit)
            .map(|(resource, limit, used, delta)| (resource, delta, used, limit))
            .collect();
        Ok(super::create::over_quota(&overs, 1, 1))
    }

    /// `resize` to `flavor_id`: 202, then `VERIFY_RESIZE`.
    pub async fn resize_server(
        &self,
        caller: &Caller,
        id: &str,
        flavor_id: &str,
        auto_disk_config: Option<bool>,
    ) -> ComputeResult<()> {
        let server = self.get_server(caller, id).await?;
        check_lock(&server, caller)?;
        if server.task_state.is_none()
            && [vm::ACTIVE, vm::STOPPED].contains(&server.vm_state.as_str())
        {
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
        if flavor.id == server.flavor_id {
            return Err(ComputeError::Invalid(
                "When resizing, instances must change flavor!".into(),
            ));
        }
        if flavor.root_gb < server.root_gb {
            return Err(ComputeError::Invalid(
                "Resize error: Unable to resize disk down.".into(),
            ));
        }
        let new = FlavorColumns {
            flavor_id: flavor.id.clone(),
            flavor: self.flavor_snapshot(&flavor).await?,
            vcpus: flavor.vcpus,
            memory_mb: flavor.memory_mb,
            root_gb: flavor.root_gb,
            ephemeral_gb: flavor.ephemeral_gb,
        };
        let old = serde_json::to_string(&FlavorColumns::of(&server))
            .map_err(|e| ComputeError::Invalid(e.to_string()))?;
        let from = [vm::ACTIVE, vm::STOPPED];
        let change = StateChange {
            task_state: Some(Some(RESIZE_STEPS[0].into())),
            flavor: Some(new.clone()),
            old_flavor: Some(Some(old)),
            ..StateChange::default()
        };
        let limits = self.size_limits(&server.project_id).await?;
        let repo = self.store.instances();
        let accepted = repo
            .transition_within_quota(
                id,
                &server.project_id,
                limits,
                &guard(&from, None),
                &change,
                now_micros(),
            )
            .await;
        match accepted {
            Err(StoreError::LimitExceeded) => {
                return Err(self.resize_over_quota(&server, &new).await?);
            }
            Ok(false) => {
                let now = self.get_server(caller, id).await?;
                return Err(refused("resize", &now, &from));
            }
            other => other?,
        };
        if let Some(auto) = auto_disk_config {
            let update = oxstack_store::instances::InstanceUpdate {
                auto_disk_config: Some(auto),
                ..Default::default()
            };
            repo.update(id, &update, now_micros()).await?;
        }
        let action_id = self.record_action(&server, caller, "resize").await?;
        let old_seq = self
            .store
            .flavors()
            .get(&server.flavor_id)
            .await?
            .map(|f| f.seq);
        let here = server.host.as_deref().zip(server.node.as_deref());
        self.record_migration(
            &server,
            caller,
            "resize",
            "pre-migrating",
            (old_seq, Some(flavor.seq)),
            here,
        )
        .await?;
        self.start_resize(&server, action_id);
        Ok(())
    }

    /// Runs an accepted resize or cold migration on the server's host.
    pub(crate) fn start_resize(&self, server: &Server, action_id: i64) {
        self.resize_on(server.host.as_deref(), &server.uuid, action_id);
    }

    /// Runs (the rest of) a resize on `host`.
    fn resize_on(&self, host: Option<&str>, uuid: &str, action_id: i64) {
        let id = uuid.to_owned();
        self.dispatch(host, uuid, move |compute| -> Flow {
            Box::pin(async move {
                if let Err(e) = compute.run_resize(&id, action_id).await {
                    tracing::error!(server = %id, error = %e, "resize failed");
                }
            })
        });
    }

    /// Runs (or continues, from the task state the server is in) a
    /// resize or cold migration. The source host's part ends by handing
    /// the server to the destination host (`resize_migrated`), whose part
    /// leaves it `resized`; a resize within one host does both here.
    pub(crate) async fn run_resize(&self, uuid: &str, action_id: i64) -> ComputeResult<()> {
        let repo = self.store.instances();
        let Some(server) = repo.get(uuid).await? else {
            return Ok(());
        };
        let Some(step) = server
            .task_state
            .as_deref()
            .and_then(|t| RESIZE_STEPS.iter().position(|s| *s == t))
        else {
            return Ok(());
        };
        let Some(m) = self.current_migration(uuid, &MOVING).await? else {
            return Ok(());
        };
        let moves = m.dest_compute.is_some() && m.source_compute != m.dest_compute;
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
                self.advance_migration(uuid, &["pre-migrating"], "migrating")
                    .await?;
                if let Err(e) = self.driver.send_guest(uuid).await {
                    return self
                        .fail_move(uuid, action_id, "compute_resize_instance", &e.message)
                        .await;
                }
            }
            let mut handed = set_task(RESIZE_STEPS[2]);
            if moves {
                handed.host = Some(m.dest_compute.clone());
                handed.node = Some(m.dest_node.clone());
            }
            let migrating = StateGuard::in_task(RESIZE_STEPS[1]);
            if !repo
                .transition(uuid, &migrating, &handed, now_micros())
                .await?
            {
                return Ok(());
            }
            self.advance_migration(uuid, &["pre-migrating", "migrating"], "post-migrating")
                .await?;
            if moves {
                self.resize_on(m.dest_compute.as_deref(), uuid, action_id);
                return Ok(());
            }
        }
        let event = "compute_finish_resize";
        let actions = self.store.instance_actions();
        actions
            .start_event(action_id, event, &self.host, now_micros())
            .await?;
        let from = step.max(2);
        if !self.walk_tasks(uuid, &RESIZE_STEPS[from..]).await? {
            return Ok(());
        }
        let mut done = StateChange {
            vm_state: Some(vm::RESIZED.into()),
            task_state: Some(None),
            ..StateChange::default()
        };
        if moves {
            let power = resting_power(&server);
            if let Err(e) = self.driver.receive_guest(&guest_spec(&server), power).await {
                return self.fail_move(uuid, action_id, event, &e.message).await;
            }
            done.power_state = Some(power.code());
        }
        let finishing = StateGuard::in_task(RESIZE_STEPS[3]);
        repo.transition(uuid, &finishing, &done, now_micros())
            .await?;
        self.advance_migration(uuid, &MOVING, "finished").await?;
        actions.finish(action_id, event, None, now_micros()).await?;
        Ok(())
    }

    /// Resumes a resize or cold migration (its source or destination part)
    /// that a restart interrupted or another node handed over; `false`
    /// when the server is not resizing.
    pub(crate) async fn resume_resize(&self, server: &Server) -> ComputeResult<bool> {
        let resizing = server
            .task_state
            .as_deref()
            .is_some_and(|t| RESIZE_STEPS.contains(&t));
        if !resizing {
            return Ok(false);
        }
        let Some(action_id) = self
            .unfinished_action(&server.uuid, &["resize", "migrate"])
            .await?
        else {
            return Ok(false);
        };
        self.resize_on(None, &server.uuid, action_id);
        Ok(true)
    }

    /// `confirmResize`: keeps the new size (204).
    pub async fn confirm_resize(&self, caller: &Caller, id: &str) -> ComputeResult<()> {
        let server = self.get_server(caller, id).await?;
        check_lock(&server, caller)?;
        if !self.confirm(&server).await? {
            return Err(refused("confirmResize", &server, &[vm::RESIZED]));
        }
        self.advance_migration(&server.uuid, &["finished"], "confirmed")
            .await?;
        let action_id = self.record_action(&server, caller, "confirmResize").await?;
        self.record_events(action_id, &["compute_confirm_resize"])
            .await?;
        Ok(())
    }

    /// Settles a resized server in its new size; `false` when it was not
    /// waiting for confirmation.
    async fn confirm(&self, server: &Server) -> ComputeResult<bool> {
        let change = StateChange {
            vm_state: Some(settled(server).into()),
            old_flavor: Some(None),
            ..StateChange::default()
        };
        Ok(self
            .store
            .instances()
            .transition(
                &server.uuid,
                &guard(&[vm::RESIZED], None),
                &change,
                now_micros(),
            )
            .await?)
    }

    /// Confirms the resizes left unconfirmed for `resize_confirm_window`.
    pub(crate) async fn confirm_due_resizes(&self) -> ComputeResult<()> {
        let window = self.settings.resize_confirm_window;
        for server in self.waiting(vm::RESIZED, window).await? {
            tracing::info!(server = %server.uuid, "confirming a resize after the confirm window");
            if self.confirm(&server).await? {
                self.advance_migration(&server.uuid, &["finished"], "confirmed")
                    .await?;
            }
        }
        Ok(())
    }

    /// `revertResize`: back to the old flavor (202) — and, after a cold
    /// migration or a resize that moved the server, back to its old host.
    pub async fn revert_resize(&self, caller: &Caller, id: &str) -> ComputeResult<()> {
        let server = self.get_server(caller, id).await?;
        check_lock(&server, caller)?;
        let from = [vm::RESIZED];
        let old: Option<FlavorColumns> = server
            .old_flavor
            .as_deref()
            .and_then(|text| serde_json::from_str(text).ok());
        let (Some(old), true) = (old, server.vm_state == vm::RESIZED) else {
            return Err(refused("revertResize", &server, &from));
        };
        let moved = self
            .current_migration(&server.uuid, &["finished"])
            .await?
            .is_some_and(|m| m.dest_compute.is_some() && m.source_compute != m.dest_compute);
        // Within one host the revert is done at once; across hosts both
        // hosts take part, and the server shows REVERT_RESIZE meanwhile.
        let change = if moved {
            StateChange {
                task_state: Some(Some(REVERTING.into())),
                flavor: Some(old.clone()),
                old_flavor: Some(None),
                ..StateChange::default()
            }
        } else {
            StateChange {
                vm_state: Some(settled(&server).into()),
                task_state: Some(None),
                flavor: Some(old.clone()),
                old_flavor: Some(None),
                ..StateChange::default()
            }
        };
        let limits = self.size_limits(&server.project_id).await?;
        let reverted = self
            .store
            .instances()
            .transition_within_quota(
                id,
                &server.project_id,
                limits,
                &guard(&from, None),
                &change,
                now_micros(),
            )
            .await;
        match reverted {
            Err(StoreError::LimitExceeded) => {
                return Err(self.resize_over_quota(&server, &old).await?);
            }
            Ok(false) => return Err(refused("revertResize", &server, &from)),
            other => other?,
        };
        let action_id = self.record_action(&server, caller, "revertResize").await?;
        if !moved {
            self.advance_migration(&server.uuid, &["finished"], "reverted")
                .await?;
            self.record_events(
                action_id,
                &["compute_revert_resize", "compute_finish_revert_resize"],
            )
            .await?;
            return Ok(());
        }
        self.advance_migration(&server.uuid, &["finished"], "reverting")
            .await?;
        self.start_revert(server.host.as_deref(), &server.uuid, action_id);
        Ok(())
    }

    fn start_revert(&self, host: Option<&str>, uuid: &str, action_id: i64) {
        let id = uuid.to_owned();
        self.dispatch(host, uuid, move |compute| -> Flow {
            Box::pin(async move {
                if let Err(e) = compute.run_revert(&id, action_id).await {
                    tracing::error!(server = %id, error = %e, "reverting a resize failed");
                }
            })
        });
    }

    /// A revert across hosts: the destination sends the guest back and
    /// hands the server to the source host, which starts it in its old
    /// size.
    async fn run_revert(&self, uuid: &str, action_id: i64) -> ComputeResult<()> {
        let repo = self.store.instances();
        let Some(server) = repo.get(uuid).await? else {
            return Ok(());
        };
        let Some(m) = self.current_migration(uuid, &["reverting"]).await? else {
            return Ok(());
        };
        if server.task_state.as_deref() != Some(REVERTING) {
            return Ok(());
        }
        let actions = self.store.instance_actions();
        let reverting = StateGuard::in_task(REVERTING);
        if server.host != m.source_compute {
            let event = "compute_revert_resize";
            actions
                .start_event(action_id, event, &self.host, now_micros())
                .await?;
            if let Err(e) = self.driver.send_guest(uuid).await {
                return self.fail_move(uuid, action_id, event, &e.message).await;
            }
            let back = StateChange {
                host: Some(m.source_compute.clone()),
                node: Some(m.source_node.clone()),
                ..StateChange::default()
            };
            if repo
                .transition(uuid, &reverting, &back, now_micros())
                .await?
            {
                actions.finish(action_id, event, None, now_micros()).await?;
                self.start_revert(m.source_compute.as_deref(), uuid, action_id);
            }
            return Ok(());
        }
        let event = "compute_finish_revert_resize";
        actions
            .start_event(action_id, event, &self.host, now_micros())
            .await?;
        let power = resting_power(&server);
        if let Err(e) = self.driver.receive_guest(&guest_spec(&server), power).await {
            return self.fail_move(uuid, action_id, event, &e.message).await;
        }
        let done = StateChange {
            vm_state: Some(settled(&server).into()),
            task_state: Some(None),
            power_state: Some(power.code()),
            ..StateChange::default()
        };
        repo.transition(uuid, &reverting, &done, now_micros())
            .await?;
        self.advance_migration(uuid, &["reverting"], "reverted")
            .await?;
        actions.finish(action_id, event, None, now_micros()).await?;
        Ok(())
    }

    /// Resumes a revert across hosts; `false` when the server is not
    /// reverting.
    pub(crate) async fn resume_revert(&self, server: &Server) -> ComputeResult<bool> {
        if server.task_state.as_deref() != Some(REVERTING) {
            return Ok(false);
        }
        let Some(action_id) = self
            .unfinished_action(&server.uuid, &["revertResize"])
            .await?
        else {
            return Ok(false);
        };
        self.start_revert(None, &server.uuid, action_id);
        Ok(true)
    }
}
