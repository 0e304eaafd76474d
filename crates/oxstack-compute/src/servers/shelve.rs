//! `shelve`, `shelveOffload` and `unshelve`. With Nova's default
//! `shelved_offload_time` of 0 a shelved server is offloaded at once: its
//! guest is destroyed and it leaves its host (`SHELVED_OFFLOADED`), keeping
//! its addresses; `unshelve` spawns it again.

use oxstack_store::instances::{InstanceUpdate, StateChange, StateGuard};
use oxstack_virt::{Operation, PowerState};

use super::manager::guest_spec;
use super::snapshot::SnapshotRequest;
use super::states::vm;
use super::{Caller, Server, check_lock, refused};
use crate::{Compute, ComputeError, ComputeResult, now_micros};

const SHELVE_STEPS: [&str; 3] = [
    "shelving",
    "shelving_image_pending_upload",
    "shelving_image_uploading",
];
const OFFLOAD_STEP: &str = "shelving_offloading";
const UNSHELVE_STEPS: [&str; 2] = ["unshelving", "spawning"];

/// Which shelving flow runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShelveKind {
    Shelve,
    Offload,
    Unshelve,
}

impl ShelveKind {
    fn api_name(self) -> &'static str {
        match self {
            Self::Shelve => "shelve",
            Self::Offload => "shelveOffload",
            Self::Unshelve => "unshelve",
        }
    }

    fn starting_states(self) -> &'static [&'static str] {
        match self {
            Self::Shelve => &[vm::ACTIVE, vm::STOPPED, vm::PAUSED, vm::SUSPENDED],
            Self::Offload => &[vm::SHELVED],
            Self::Unshelve => &[vm::SHELVED, vm::SHELVED_OFFLOADED],
        }
    }

    fn first_task(self) -> &'static str {
        match self {
            Self::Shelve => SHELVE_STEPS[0],
            Self::Offload => OFFLOAD_STEP,
            Self::Unshelve => UNSHELVE_STEPS[0],
        }
    }

    fn event(self) -> &'static str {
        match self {
            Self::Shelve => "compute_shelve_instance",
            Self::Offload => "compute_shelve_offload_instance",
            Self::Unshelve => "compute_unshelve_instance",
        }
    }
}

impl Compute {
    /// Accepts a shelving action and runs it in the background.
    /// `target` is 2.91's `host` for `unshelve`.
    pub async fn shelve_action(
        &self,
        caller: &Caller,
        id: &str,
        kind: ShelveKind,
        target: Option<&str>,
    ) -> ComputeResult<()> {
        let server = self.get_server(caller, id).await?;
        check_lock(&server, caller)?;
        let from = kind.starting_states();
        let guard = StateGuard::settled_in(from);
        // An offloaded server has no host: unshelving places it again.
        let offloaded = kind == ShelveKind::Unshelve
            && server.vm_state == vm::SHELVED_OFFLOADED
            && server.task_state.is_none()
            && server.host.is_none();
        let placed = match target {
            Some(name) if offloaded => Some(self.named_host(name).await?.host),
            None if offloaded => self.pick_host(None).await?.map(|s| s.host),
            _ => None,
        };
        let change = StateChange {
            task_state: Some(Some(kind.first_task().into())),
            host: placed.clone().map(Some),
            ..StateChange::default()
        };
        let repo = self.store.instances();
        if !repo.transition(id, &guard, &change, now_micros()).await? {
            let now = self.get_server(caller, id).await?;
            return Err(refused(kind.api_name(), &now, from));
        }
        if kind == ShelveKind::Shelve {
            // Nova keeps the disk of a shelved server as a snapshot image.
            let request = SnapshotRequest {
                name: format!("{}-shelved", server.display_name),
                ..SnapshotRequest::default()
            };
            let image_id = match self.new_snapshot_image(&server, caller, &request).await {
                Ok(image_id) => image_id,
                Err(e) => {
                    let back = StateChange {
                        task_state: Some(None),
                        ..StateChange::default()
                    };
                    repo.transition(
                        id,
                        &StateGuard::in_task(kind.first_task()),
                        &back,
                        now_micros(),
                    )
                    .await?;
                    return Err(e);
                }
            };
            let update = InstanceUpdate {
                shelved_image_id: Some(Some(image_id)),
                ..InstanceUpdate::default()
            };
            repo.update(id, &update, now_micros()).await?;
        }
        let action_id = self.record_action(&server, caller, kind.api_name()).await?;
        let uuid = server.uuid.clone();
        self.dispatch(
            placed.as_deref().or(server.host.as_deref()),
            &server.uuid,
            move |compute| async move {
                if let Err(e) = compute.run_shelving(&uuid, kind, action_id).await {
                    tracing::error!(server = %uuid, action = ?kind, error = %e, "shelving failed");
                }
            },
        );
        Ok(())
    }

    async fn run_shelving(
        &self,
        uuid: &str,
        kind: ShelveKind,
        action_id: i64,
    ) -> ComputeResult<()> {
        let actions = self.store.instance_actions();
        actions
            .start_event(action_id, kind.event(), &self.host, now_micros())
            .await?;
        let outcome = match kind {
            ShelveKind::Shelve => self.shelve_then_offload(uuid).await,
            ShelveKind::Offload => self.offload(uuid).await,
            ShelveKind::Unshelve => self.unshelve(uuid).await,
        }?;
        actions
            .finish(action_id, kind.event(), outcome.as_deref(), now_micros())
            .await?;
        Ok(())
    }

    /// Ends a failed step: the task is cleared, the vm_state kept, the
    /// failure recorded as the server's fault.
    async fn revert_task(
        &self,
        uuid: &str,
        task: &str,
        message: &str,
    ) -> ComputeResult<Option<String>> {
        let change = StateChange {
            task_state: Some(None),
            fault: Some(Some(super::manager::fault(500, message, message))),
            ..StateChange::default()
        };
        self.store
            .instances()
            .transition(uuid, &StateGuard::in_task(task), &change, now_micros())
            .await?;
        Ok(Some(message.to_owned()))
    }

    async fn shelve_then_offload(&self, uuid: &str) -> ComputeResult<Option<String>> {
        if !self.walk_tasks(uuid, &SHELVE_STEPS).await? {
            return Ok(None);
        }
        let last = SHELVE_STEPS[2];
        let Some(server) = self.store.instances().get(uuid).await? else {
            return Ok(None);
        };
        if let Some(image_id) = &server.shelved_image_id
            && let Err(message) = self.upload_disk(&server, image_id).await
        {
            return self.revert_task(uuid, last, &message).await;
        }
        if let Err(e) = self.driver.operate(uuid, Operation::PowerOff).await {
            return self.revert_task(uuid, last, &e.message).await;
        }
        let shelved = StateChange {
            vm_state: Some(vm::SHELVED.into()),
            task_state: Some(Some(OFFLOAD_STEP.into())),
            power_state: Some(PowerState::Shutdown.code()),
            ..StateChange::default()
        };
        let repo = self.store.instances();
        if !repo
            .transition(uuid, &StateGuard::in_task(last), &shelved, now_micros())
            .await?
        {
            return Ok(None);
        }
        self.offload(uuid).await
    }

    async fn offload(&self, uuid: &str) -> ComputeResult<Option<String>> {
        if let Err(e) = self.driver.destroy(uuid).await {
            return self.revert_task(uuid, OFFLOAD_STEP, &e.message).await;
        }
        let offloaded = StateChange {
            vm_state: Some(vm::SHELVED_OFFLOADED.into()),
            task_state: Some(None),
            power_state: Some(PowerState::NoState.code()),
            host: Some(None),
            node: Some(None),
            ..StateChange::default()
        };
        self.store
            .instances()
            .transition(
                uuid,
                &StateGuard::in_task(OFFLOAD_STEP),
                &offloaded,
                now_micros(),
            )
            .await?;
        Ok(None)
    }

    async fn unshelve(&self, uuid: &str) -> ComputeResult<Option<String>> {
        let repo = self.store.instances();
        let Some(server) = repo.get(uuid).await? else {
            return Ok(None);
        };
        if server.host.is_none() {
            let message = "No valid host was found. There are not enough hosts available.";
            return self.revert_task(uuid, UNSHELVE_STEPS[0], message).await;
        }
        let placed = StateChange {
            task_state: Some(Some(UNSHELVE_STEPS[1].into())),
            host: Some(Some(self.host.clone())),
            node: Some(Some(self.driver.node_name().to_owned())),
            ..StateChange::default()
        };
        if !repo
            .transition(
                uuid,
                &StateGuard::in_task(UNSHELVE_STEPS[0]),
                &placed,
                now_micros(),
            )
            .await?
        {
            return Ok(None);
        }
        let Some(server) = repo.get(uuid).await? else {
            return Ok(None);
        };
        if let Err(e) = self.driver.spawn(&guest_spec(&server)).await {
            return self.revert_task(uuid, UNSHELVE_STEPS[1], &e.message).await;
        }
        let active = StateChange {
            vm_state: Some(vm::ACTIVE.into()),
            task_state: Some(None),
            power_state: Some(self.driver.power_state(uuid).await.code()),
            ..StateChange::default()
        };
        repo.transition(
            uuid,
            &StateGuard::in_task(UNSHELVE_STEPS[1]),
            &active,
            now_micros(),
        )
        .await?;
        // The server runs again: its shelved disk image goes (Nova's
        // `_delete_snapshot_of_shelved_instance`).
        if let Some(image_id) = &server.shelved_image_id {
            self.delete_project_image(&server, image_id).await;
            let update = InstanceUpdate {
                shelved_image_id: Some(None),
                ..InstanceUpdate::default()
            };
            repo.update(uuid, &update, now_micros()).await?;
        }
        Ok(None)
    }

    /// Resumes a shelving flow a restart interrupted; `false` when the
    /// server is not shelving.
    pub(crate) async fn resume_shelving(&self, server: &Server) -> ComputeResult<bool> {
        let Some(task) = server.task_state.as_deref() else {
            return Ok(false);
        };
        let kind = if SHELVE_STEPS.contains(&task) {
            ShelveKind::Shelve
        } else if task == OFFLOAD_STEP {
            ShelveKind::Offload
        } else if UNSHELVE_STEPS.contains(&task) {
            ShelveKind::Unshelve
        } else {
            return Ok(false);
        };
        let record = if kind == ShelveKind::Offload && server.vm_state == vm::SHELVED {
            "shelve"
        } else {
            kind.api_name()
        };
        let actions = self.store.instance_actions();
        let action_id = match actions.latest_unfinished(&server.uuid, record).await? {
            Some(id) => id,
            None => match actions
                .latest_unfinished(&server.uuid, "shelveOffload")
                .await?
            {
                Some(id) => id,
                None => return Ok(false),
            },
        };
        // Restart each flow from its first task state: every step is
        // idempotent against the fake hypervisor.
        let restart = StateChange {
            task_state: Some(Some(
                match kind {
                    ShelveKind::Shelve if task != OFFLOAD_STEP => SHELVE_STEPS[0],
                    ShelveKind::Unshelve => UNSHELVE_STEPS[0],
                    _ => OFFLOAD_STEP,
                }
                .into(),
            )),
            ..StateChange::default()
        };
        let repo = self.store.instances();
        if !repo
            .transition(
                &server.uuid,
                &StateGuard::in_task(task),
                &restart,
                now_micros(),
            )
            .await?
        {
            return Ok(false);
        }
        let uuid = server.uuid.clone();
        self.dispatch(None, &server.uuid, move |compute| async move {
            if let Err(e) = compute.run_shelving(&uuid, kind, action_id).await {
                tracing::error!(server = %uuid, error = %e, "resuming shelving failed");
            }
        });
        Ok(true)
    }

    /// Validates `unshelve`'s 2.77/2.91 availability zone against the one
    /// zone of this cloud.
    pub fn check_unshelve_zone(&self, zone: Option<&str>) -> ComputeResult<()> {
        match zone {
            Some(z) if z != self.settings.availability_zone => Err(ComputeError::Invalid(
                "The requested availability zone is not available".into(),
            )),
            _ => Ok(()),
        }
    }
}
