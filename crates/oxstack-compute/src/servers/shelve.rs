//! `shelve`, `shelveOffload` and `unshelve`. With Nova's default
//! `shelved_offload_time` of 0 a shelved server is offloaded at once: its
//! guest is destroyed and it leaves its host (`SHELVED_OFFLOADED`), keeping
//! its addresses; `unshelve` spawns it again.

use std::time::Duration;

use oxstack_store::instances::InstanceUpdate;

use super::Caller;
use super::flow::{Acceptance, Flow, Work, finish};
use super::rules::{self, Rule};
use super::snapshot::SnapshotRequest;
use crate::model::Fault;
use crate::model::change::{Change, Guard};
use crate::model::states::{PowerState, TaskState, VmState};
use crate::{Compute, ComputeError, ComputeResult};

use TaskState as T;

const SHELVE_STEPS: [TaskState; 3] = [
    T::Shelving,
    T::ShelvingImagePendingUpload,
    T::ShelvingImageUploading,
];

/// Which shelving action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShelveKind {
    Shelve,
    Offload,
    Unshelve,
}

impl ShelveKind {
    fn rule(self) -> &'static Rule {
        match self {
            Self::Shelve => &rules::SHELVE,
            Self::Offload => &rules::SHELVE_OFFLOAD,
            Self::Unshelve => &rules::UNSHELVE,
        }
    }

    fn flow(self) -> Flow {
        match self {
            Self::Shelve => Flow::Shelve,
            Self::Offload => Flow::ShelveOffload,
            Self::Unshelve => Flow::Unshelve,
        }
    }
}

/// The action and event a flow ends.
#[derive(Clone, Copy, Debug)]
struct End {
    action_id: Option<i64>,
    event: &'static str,
}

/// The event of a shelving flow.
fn event(flow: Flow) -> &'static str {
    match flow {
        Flow::Shelve => "compute_shelve_instance",
        Flow::ShelveOffload => "compute_shelve_offload_instance",
        _ => "compute_unshelve_instance",
    }
}

impl Compute {
    /// Accepts a shelving action and has the server's host run it.
    /// `target` is 2.91's `host` for `unshelve`.
    pub async fn shelve_action(
        &self,
        caller: &Caller,
        id: &str,
        kind: ShelveKind,
        target: Option<&str>,
    ) -> ComputeResult<()> {
        let rule = kind.rule();
        let server = self.actionable(caller, id, rule).await?;
        if !rule.allows(&server) {
            return Err(rule.refusal(&server));
        }
        // An offloaded server has no host: unshelving places it again.
        let offloaded = kind == ShelveKind::Unshelve
            && server.vm_state == VmState::ShelvedOffloaded
            && server.host.is_none();
        let placed = match target {
            Some(name) if offloaded => Some(self.named_host(name).await?.host),
            None if offloaded => self.pick_host(&server, None).await?.map(|s| s.host),
            _ => None,
        };
        // Nova keeps the disk of a shelved server as a snapshot image,
        // made before the server changes; a volume-backed server's disk
        // is its volume, which stays.
        let image_id = match kind {
            ShelveKind::Shelve if !self.volume_backed(&server).await? => {
                let request = SnapshotRequest {
                    name: format!("{}-shelved", server.name),
                    ..SnapshotRequest::default()
                };
                Some(self.new_snapshot_image(&server, caller, &request).await?)
            }
            _ => None,
        };
        let acceptance = Acceptance {
            change: Change {
                host: placed.clone().map(Some),
                ..Change::default()
            },
            update: image_id.clone().map(|image| InstanceUpdate {
                shelved_image_id: Some(Some(image)),
                ..InstanceUpdate::default()
            }),
            ..Acceptance::default()
        };
        let action_id = match self.accept(caller, &server, rule, acceptance).await {
            Ok(action_id) => action_id,
            Err(e) => {
                if let Some(image_id) = &image_id {
                    self.delete_project_image(&server, image_id).await;
                }
                return Err(e);
            }
        };
        self.dispatch(
            placed.as_deref().or(server.host.as_deref()),
            &server.uuid,
            Work::new(kind.flow(), Some(action_id)),
        );
        Ok(())
    }

    /// Runs (or continues) a shelving flow as the event of its action.
    pub(crate) async fn run_shelving(
        &self,
        uuid: &str,
        flow: Flow,
        work: &Work,
    ) -> ComputeResult<()> {
        let end = End {
            action_id: work.action_id,
            event: event(flow),
        };
        self.start_event(end.action_id, end.event).await?;
        let finished = match flow {
            Flow::Shelve => self.shelve_then_offload(uuid, end).await,
            Flow::ShelveOffload => self.offload(uuid, end).await,
            _ => self.unshelve(uuid, end).await,
        }?;
        if finished {
            return Ok(());
        }
        // The flow stopped before its last step (the server went, or
        // changed under it): its event ends here.
        self.finish_event(end.action_id, end.event, None).await
    }

    /// The last step of a flow: the server's change together with the end
    /// of the flow's event, so that no settled server is left with its
    /// action unfinished. `false` when the server was no longer `guard`.
    async fn last_step(
        &self,
        uuid: &str,
        guard: &Guard,
        change: &Change,
        end: End,
        error: Option<&str>,
    ) -> ComputeResult<bool> {
        self.step(
            uuid,
            guard,
            change,
            finish(end.action_id, end.event, error),
            None,
        )
        .await
    }

    /// Ends a failed flow: the task is cleared, the vm_state kept, the
    /// failure recorded as the server's fault and as the event's.
    async fn revert_task(
        &self,
        uuid: &str,
        task: TaskState,
        message: &str,
        end: End,
    ) -> ComputeResult<bool> {
        let change = Change {
            fault: Some(Some(Fault::new(500, message, message))),
            ..Change::clear_task()
        };
        self.last_step(uuid, &Guard::in_task(task), &change, end, Some(message))
            .await
    }

    async fn shelve_then_offload(&self, uuid: &str, end: End) -> ComputeResult<bool> {
        let Some(server) = self.load(uuid).await? else {
            return Ok(false);
        };
        if server.task_state == Some(T::ShelvingOffloading) {
            return self.offload(uuid, end).await;
        }
        let Some(at) = server
            .task_state
            .and_then(|t| SHELVE_STEPS.iter().position(|s| *s == t))
        else {
            return Ok(false);
        };
        if !self.walk_tasks(uuid, &SHELVE_STEPS[at..]).await? {
            return Ok(false);
        }
        let last = SHELVE_STEPS[2];
        if let Some(image_id) = &server.shelved_image_id
            && let Err(message) = self.upload_disk(&server, image_id).await?
        {
            return self.revert_task(uuid, last, &message, end).await;
        }
        if let Err(e) = self.driver.power_off(uuid, Duration::ZERO).await {
            return self.revert_task(uuid, last, &e.message, end).await;
        }
        let shelved = Change {
            vm_state: Some(VmState::Shelved),
            task_state: Some(Some(T::ShelvingOffloading)),
            power_state: Some(PowerState::Shutdown),
            ..Change::default()
        };
        if !self
            .transition(uuid, &Guard::in_task(last), &shelved)
            .await?
        {
            return Ok(false);
        }
        self.offload(uuid, end).await
    }

    async fn offload(&self, uuid: &str, end: End) -> ComputeResult<bool> {
        if let Err(e) = self.driver.destroy(uuid).await {
            return self
                .revert_task(uuid, T::ShelvingOffloading, &e.message, end)
                .await;
        }
        let offloaded = Change {
            host: Some(None),
            node: Some(None),
            ..Change::settle(VmState::ShelvedOffloaded, PowerState::NoState)
        };
        let guard = Guard::in_task(T::ShelvingOffloading);
        self.last_step(uuid, &guard, &offloaded, end, None).await
    }

    async fn unshelve(&self, uuid: &str, end: End) -> ComputeResult<bool> {
        let Some(server) = self.load(uuid).await? else {
            return Ok(false);
        };
        if server.task_state == Some(T::Unshelving) {
            if server.host.is_none() {
                let message = "No valid host was found. There are not enough hosts available.";
                return self.revert_task(uuid, T::Unshelving, message, end).await;
            }
            let placed = Change {
                host: Some(Some(self.host.clone())),
                node: Some(Some(self.driver.node_name().to_owned())),
                ..Change::task(T::Spawning)
            };
            if !self
                .transition(uuid, &Guard::in_task(T::Unshelving), &placed)
                .await?
            {
                return Ok(false);
            }
        }
        let Some(server) = self.load(uuid).await? else {
            return Ok(false);
        };
        if server.task_state != Some(T::Spawning) {
            return Ok(false);
        }
        let mut guest = self.guest_of(&server).await?;
        // The guest comes back from the disk it was shelved with (the
        // server keeps showing the image it was built from, as in Nova).
        if let Some(shelved) = &server.shelved_image_id {
            guest.image.id = shelved.clone();
        }
        if let Err(e) = self.driver.spawn(&guest).await {
            return self.revert_task(uuid, T::Spawning, &e.message, end).await;
        }
        let active = Change::settle(VmState::Active, self.driver.power_state(uuid).await);
        if !self
            .last_step(uuid, &Guard::in_task(T::Spawning), &active, end, None)
            .await?
        {
            return Ok(false);
        }
        // The server runs again: its shelved disk image goes (Nova's
        // `_delete_snapshot_of_shelved_instance`).
        if let Some(image_id) = &server.shelved_image_id {
            self.delete_project_image(&server, image_id).await;
            let update = InstanceUpdate {
                shelved_image_id: Some(None),
                ..InstanceUpdate::default()
            };
            self.store
                .instances()
                .update(uuid, &update, crate::now_micros())
                .await?;
        }
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
