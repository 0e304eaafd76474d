//! The flows that begin and end a server: the build (scheduling →
//! networking → block_device_mapping → spawning → active) and the delete
//! (the guest destroyed, the server marked deleted, its addresses freed),
//! and [`Compute::recover`], which resumes a host's flows after a restart
//! (Nova's `init_host`).

use oxstack_store::instances::ActionStep;

use super::flow::{Work, finish};
use crate::model::Fault;
use crate::model::change::{Change, Guard};
use crate::model::states::{PowerState, TaskState, VmState};
use crate::{Compute, ComputeResult, now_micros};

/// The event of a server's build.
const BUILD_EVENT: &str = "compute__do_build_and_run_instance";

fn building(task: TaskState) -> Guard {
    Guard::new(&[VmState::Building], &[Some(task)])
}

impl Compute {
    /// Builds a new server on this host, as the event of its `create`
    /// action: the event starts with the first step and ends with the
    /// last, in their transactions. An interrupted build starts again from
    /// scheduling (spawning is idempotent).
    pub(crate) async fn run_build(&self, uuid: &str, work: &Work) -> ComputeResult<()> {
        let action_id = work.action_id;
        let scheduled = Change {
            host: Some(Some(self.host.clone())),
            node: Some(Some(self.driver.node_name().to_owned())),
            // The host's zone, as Nova's scheduler sets it.
            availability_zone: Some(Some(self.own_zone().await?)),
            ..Change::task(TaskState::Networking)
        };
        let unplaced = building(TaskState::Scheduling);
        let place = || {
            let start = action_id.map(|action_id| ActionStep::Start {
                action_id,
                event: BUILD_EVENT,
                host: &self.host,
            });
            self.step(uuid, &unplaced, &scheduled, start, None)
        };
        // The common case, a build accepted a moment ago, needs no read: its
        // server waits in scheduling. Only when that step does not apply is
        // the server read, to restart a build a crash interrupted.
        let placed =
            place().await? || (self.restart_interrupted_build(uuid).await? && place().await?);
        if !placed {
            return Ok(());
        }
        if !self
            .transition(
                uuid,
                &building(TaskState::Networking),
                &Change::task(TaskState::BlockDeviceMapping),
            )
            .await?
        {
            return Ok(());
        }
        if let Err(message) = self
            .map_block_devices(uuid, &work.args.block_devices)
            .await?
        {
            let fault = Fault::new(
                500,
                format!("Build of instance {uuid} aborted: {message}"),
                &message,
            );
            let failed = Change {
                power_state: Some(PowerState::NoState),
                ..Change::error(fault)
            };
            self.step(
                uuid,
                &building(TaskState::BlockDeviceMapping),
                &failed,
                finish(action_id, BUILD_EVENT, Some(&message)),
                None,
            )
            .await?;
            return Ok(());
        }
        if !self
            .transition(
                uuid,
                &building(TaskState::BlockDeviceMapping),
                &Change::task(TaskState::Spawning),
            )
            .await?
        {
            return Ok(());
        }
        let Some(server) = self.load(uuid).await? else {
            return Ok(());
        };
        let mut guest = self.guest_of(&server).await?;
        guest.admin_password = work.secret.clone();
        let (end, error) = match self.driver.spawn(&guest).await {
            Ok(()) => {
                let power = self.driver.power_state(uuid).await;
                let active = Change {
                    launched_at: Some(now_micros()),
                    ..Change::settle(VmState::Active, power)
                };
                (active, None)
            }
            Err(e) => {
                tracing::warn!(server = %uuid, error = %e, "spawn failed");
                let fault = Fault::new(
                    500,
                    format!("Build of instance {uuid} aborted: {}", e.message),
                    &e.message,
                );
                let failed = Change {
                    power_state: Some(PowerState::NoState),
                    ..Change::error(fault)
                };
                (failed, Some(e.message))
            }
        };
        let ended = self
            .step(
                uuid,
                &building(TaskState::Spawning),
                &end,
                finish(action_id, BUILD_EVENT, error.as_deref()),
                None,
            )
            .await?;
        if !ended && error.is_none() {
            // Deleted while spawning: do not leave the guest behind.
            let _ = self.driver.destroy(uuid).await;
        }
        Ok(())
    }

    /// Puts a build a crash interrupted (still building, past scheduling)
    /// back in scheduling; false when the server is gone or not building.
    async fn restart_interrupted_build(&self, uuid: &str) -> ComputeResult<bool> {
        let Some(server) = self.load(uuid).await? else {
            return Ok(false);
        };
        match server.task_state {
            Some(task) if task != TaskState::Scheduling => {
                self.transition(uuid, &building(task), &Change::task(TaskState::Scheduling))
                    .await
            }
            _ => Ok(false),
        }
    }

    /// Destroys the guest and marks the server deleted (addresses freed),
    /// as the event `compute_terminate_instance` of its `delete` action.
    pub(crate) async fn run_delete(&self, uuid: &str, action_id: Option<i64>) -> ComputeResult<()> {
        const EVENT: &str = "compute_terminate_instance";
        self.start_event(action_id, EVENT).await?;
        if let Err(e) = self.driver.destroy(uuid).await {
            tracing::warn!(server = %uuid, error = %e, "destroy failed; server goes to ERROR");
            let failed = Change::error(Fault::new(500, &e.message, &e.message));
            self.step(
                uuid,
                &Guard::in_task(TaskState::Deleting),
                &failed,
                finish(action_id, EVENT, Some(&e.message)),
                None,
            )
            .await?;
            return Ok(());
        }
        let event = action_id.map(|id| (id, EVENT));
        self.store
            .instances()
            .finish_delete(uuid, event, now_micros())
            .await?;
        self.release_volumes(uuid).await
    }

    /// Finishes the work a previous run of this host left unfinished.
    /// Returns how many servers were picked up.
    pub async fn recover(&self) -> ComputeResult<usize> {
        self.release_orphaned_volumes().await?;
        let unsettled = self.unsettled().await?;
        let count = unsettled.len();
        for uuid in unsettled {
            self.pick_up(uuid, true, None);
        }
        Ok(count)
    }

    /// The servers of this host with work to finish: a task in flight,
    /// or volumes being attached or detached.
    pub(crate) async fn unsettled(&self) -> ComputeResult<Vec<String>> {
        let mut uuids: Vec<String> = self
            .store
            .instances()
            .unsettled(&self.host)
            .await?
            .into_iter()
            .map(|s| s.uuid)
            .collect();
        for uuid in self.servers_with_volumes_in_transit().await? {
            if !uuids.contains(&uuid) {
                uuids.push(uuid);
            }
        }
        Ok(uuids)
    }
}
