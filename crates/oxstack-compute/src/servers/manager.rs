//! The compute manager: performs what the API recorded, through the
//! driver, one compare-and-swap per step so that a step that lost a race
//! (the server was deleted meanwhile) stops quietly instead of overwriting.
//!
//! All work in flight is visible in the database (`task_state`), so after a
//! crash [`Compute::recover`] finishes it, as Nova's `init_host` does:
//! interrupted builds are built again (spawning is idempotent), interrupted
//! deletes completed, and each action flow (the action table, resize,
//! rebuild, shelving, soft delete, restore) resumed from the task state it
//! reached; a task no flow owns is cleared.

use oxstack_store::instance_actions::Step;
use oxstack_store::instances::{StateChange, StateGuard};
use oxstack_virt::{GuestSpec, PowerState};

use super::Server;
use super::states::{task, vm};
use crate::{Compute, ComputeResult, now_micros};

/// The task states of an unfinished build.
const BUILD_TASKS: [&str; 4] = [
    task::SCHEDULING,
    task::NETWORKING,
    task::BLOCK_DEVICE_MAPPING,
    task::SPAWNING,
];

fn guard(vm_state: &str, task_state: &str) -> StateGuard {
    StateGuard {
        vm_states: Some(vec![vm_state.to_owned()]),
        task_states: Some(vec![Some(task_state.to_owned())]),
    }
}

pub(crate) fn set_task(task_state: &str) -> StateChange {
    StateChange {
        task_state: Some(Some(task_state.to_owned())),
        ..StateChange::default()
    }
}

/// A fault record as the server view shows it.
pub(crate) fn fault(code: i64, message: &str, details: &str) -> String {
    serde_json::json!({
        "code": code,
        "message": message,
        "details": details,
        "created": now_micros(),
    })
    .to_string()
}

impl Compute {
    /// Runs the build of a new server on `host` (`None`: this one), as the
    /// event of its `create` action (`action_id`; looked up when not given).
    pub(crate) fn start_build(&self, uuid: &str, host: Option<&str>, action_id: Option<i64>) {
        let id = uuid.to_owned();
        self.dispatch(host, uuid, move |compute| async move {
            if let Err(e) = compute.build(&id, action_id).await {
                tracing::error!(server = %id, error = %e, "build failed");
            }
        });
    }

    /// Ends the build of a server no host could take: ERROR, with Nova's
    /// `NoValidHost` fault.
    pub(crate) fn fail_unscheduled(&self, uuid: &str, action_id: i64) {
        let id = uuid.to_owned();
        self.dispatch(None, uuid, move |compute| async move {
            const EVENT: &str = "conductor_schedule_and_build_instances";
            let message = "No valid host was found. There are not enough hosts available.";
            let failed = StateChange {
                vm_state: Some(vm::ERROR.into()),
                task_state: Some(None),
                fault: Some(Some(fault(500, message, message))),
                ..StateChange::default()
            };
            let finish = Step::Finish {
                action_id,
                event: EVENT,
                error: Some(message),
            };
            let actions = compute.store.instance_actions();
            let start = actions.start_event(action_id, EVENT, &compute.host, now_micros());
            let done = async {
                start.await?;
                let scheduling = guard(vm::BUILDING, task::SCHEDULING);
                actions
                    .transition(&id, &scheduling, &failed, now_micros(), finish)
                    .await
            };
            if let Err(e) = done.await {
                tracing::error!(server = %id, error = %e, "recording a scheduling failure failed");
            }
        });
    }

    /// Runs the deletion of a server on `host` (`None`: this one), as the
    /// event of its `delete` action.
    pub(crate) fn start_delete(&self, uuid: &str, host: Option<&str>) {
        let id = uuid.to_owned();
        self.dispatch(host, uuid, move |compute| async move {
            let work = compute.finish_delete(&id);
            let done = compute.as_event(&id, "delete", "compute_terminate_instance", work);
            if let Err(e) = done.await {
                tracing::error!(server = %id, error = %e, "delete failed");
            }
        });
    }

    /// Runs `work` as `event` of the newest unfinished `action` of the
    /// server (when one was recorded), ending the event with the work's
    /// outcome: `Ok(Some(message))` is a failure the server reports.
    async fn as_event(
        &self,
        uuid: &str,
        action: &str,
        event: &str,
        work: impl std::future::Future<Output = ComputeResult<Option<String>>>,
    ) -> ComputeResult<()> {
        let actions = self.store.instance_actions();
        let action_id = actions.latest_unfinished(uuid, action).await?;
        if let Some(id) = action_id {
            actions
                .start_event(id, event, &self.host, now_micros())
                .await?;
        }
        let failure = work.await?;
        if let Some(id) = action_id {
            actions
                .finish(id, event, failure.as_deref(), now_micros())
                .await?;
        }
        Ok(())
    }

    /// scheduling → networking → block_device_mapping → spawning → active,
    /// as the event `compute__do_build_and_run_instance` of the server's
    /// `create` action: the event starts with the first step and ends with
    /// the last, in their transactions.
    async fn build(&self, uuid: &str, action_id: Option<i64>) -> ComputeResult<()> {
        const EVENT: &str = "compute__do_build_and_run_instance";
        let repo = self.store.instances();
        let actions = self.store.instance_actions();
        let action_id = match action_id {
            Some(id) => Some(id),
            None => actions.latest_unfinished(uuid, "create").await?,
        };
        let scheduled = StateChange {
            host: Some(Some(self.host.clone())),
            node: Some(Some(self.driver.node_name().to_owned())),
            // The host's zone (this cloud has one), as Nova's scheduler sets it.
            availability_zone: Some(Some(self.settings.availability_zone.clone())),
            ..set_task(task::NETWORKING)
        };
        let scheduling = guard(vm::BUILDING, task::SCHEDULING);
        let started = match action_id {
            Some(action_id) => {
                let start = Step::Start {
                    action_id,
                    event: EVENT,
                    host: &self.host,
                };
                let done = actions.transition(uuid, &scheduling, &scheduled, now_micros(), start);
                done.await?.is_some()
            }
            None => {
                repo.transition(uuid, &scheduling, &scheduled, now_micros())
                    .await?
            }
        };
        if !started {
            return Ok(());
        }
        let steps = [
            (task::NETWORKING, set_task(task::BLOCK_DEVICE_MAPPING)),
            (task::BLOCK_DEVICE_MAPPING, set_task(task::SPAWNING)),
        ];
        for (from, change) in steps {
            if !repo
                .transition(uuid, &guard(vm::BUILDING, from), &change, now_micros())
                .await?
            {
                return Ok(());
            }
        }
        let Some(server) = repo.get(uuid).await? else {
            return Ok(());
        };
        let spawning = guard(vm::BUILDING, task::SPAWNING);
        let (end, error) = match self.driver.spawn(&guest_spec(&server)).await {
            Ok(()) => {
                let power = self.driver.power_state(uuid).await;
                let active = StateChange {
                    vm_state: Some(vm::ACTIVE.into()),
                    task_state: Some(None),
                    power_state: Some(power.code()),
                    launched_at: Some(now_micros()),
                    ..StateChange::default()
                };
                (active, None)
            }
            Err(e) => {
                tracing::warn!(server = %uuid, error = %e, "spawn failed");
                let failed = StateChange {
                    vm_state: Some(vm::ERROR.into()),
                    task_state: Some(None),
                    power_state: Some(PowerState::NoState.code()),
                    fault: Some(Some(fault(
                        500,
                        &format!("Build of instance {uuid} aborted: {}", e.message),
                        &e.message,
                    ))),
                    ..StateChange::default()
                };
                (failed, Some(e.message))
            }
        };
        let ended = match action_id {
            Some(action_id) => {
                let finish = Step::Finish {
                    action_id,
                    event: EVENT,
                    error: error.as_deref(),
                };
                let done = actions.transition(uuid, &spawning, &end, now_micros(), finish);
                done.await?.is_some()
            }
            None => repo.transition(uuid, &spawning, &end, now_micros()).await?,
        };
        if !ended && error.is_none() {
            // Deleted while spawning: do not leave the guest behind.
            let _ = self.driver.destroy(uuid).await;
        }
        Ok(())
    }

    /// Destroys the guest and marks the server deleted (addresses freed).
    async fn finish_delete(&self, uuid: &str) -> ComputeResult<Option<String>> {
        if let Err(e) = self.driver.destroy(uuid).await {
            tracing::warn!(server = %uuid, error = %e, "destroy failed; server goes to ERROR");
            let failed = StateChange {
                vm_state: Some(vm::ERROR.into()),
                task_state: Some(None),
                fault: Some(Some(fault(500, &e.message, &e.message))),
                ..StateChange::default()
            };
            self.store
                .instances()
                .transition(uuid, &StateGuard::default(), &failed, now_micros())
                .await?;
            return Ok(Some(e.message));
        }
        self.store
            .instances()
            .finish_delete(uuid, now_micros())
            .await?;
        Ok(None)
    }

    /// Finishes the work a previous run of this host left unfinished.
    /// Returns how many servers were picked up.
    pub async fn recover(&self) -> ComputeResult<usize> {
        let unsettled = self.store.instances().unsettled(&self.host).await?;
        let count = unsettled.len();
        for server in unsettled {
            self.pick_up(server.uuid, true);
        }
        Ok(count)
    }

    /// Continues the recorded work of `server`. After a restart of this
    /// host (`restarted`), a task no flow owns is a leftover and cleared;
    /// otherwise it belongs to work another node runs (a snapshot upload)
    /// and is left alone.
    pub(crate) async fn resume(&self, server: Server, restarted: bool) -> ComputeResult<()> {
        let repo = self.store.instances();
        match server.task_state.as_deref() {
            Some(task::DELETING) => self.start_delete(&server.uuid, None),
            Some(task::SOFT_DELETING) => self.finish_soft_delete(&server.uuid).await?,
            Some(task::RESTORING) => self.finish_restore(&server.uuid).await,
            Some(t) if server.vm_state == vm::BUILDING && BUILD_TASKS.contains(&t) => {
                let restart = set_task(task::SCHEDULING);
                if repo
                    .transition(
                        &server.uuid,
                        &guard(vm::BUILDING, t),
                        &restart,
                        now_micros(),
                    )
                    .await?
                {
                    tracing::info!(server = %server.uuid, from = t, "resuming an interrupted build");
                    self.start_build(&server.uuid, None, None);
                }
            }
            Some(_) if self.resume_action(&server).await? => {}
            Some(_) if self.resume_move(&server).await? => {}
            Some(_) if self.resume_revert(&server).await? => {}
            Some(_) if self.resume_resize(&server).await? => {}
            Some(_) if self.resume_rebuild(&server).await? => {}
            Some(_) if self.resume_shelving(&server).await? => {}
            _ if !restarted => {}
            other => {
                // A task this version does not run: clear it, leaving the
                // server in its last settled vm_state.
                tracing::warn!(server = %server.uuid, task = ?other, "clearing an unknown task");
                let clear = StateChange {
                    task_state: Some(None),
                    ..StateChange::default()
                };
                let guard = StateGuard {
                    vm_states: None,
                    task_states: Some(vec![other.map(str::to_owned)]),
                };
                repo.transition(&server.uuid, &guard, &clear, now_micros())
                    .await?;
            }
        }
        Ok(())
    }
}

pub(crate) fn guest_spec(server: &Server) -> GuestSpec {
    GuestSpec {
        uuid: server.uuid.clone(),
        name: format!("instance-{:08x}", server.seq),
        vcpus: server.vcpus,
        memory_mb: server.memory_mb,
        root_gb: server.root_gb,
        image_id: server.image_ref.clone(),
    }
}

impl Compute {
    /// Moves a server through consecutive task states (`steps[0]` is the
    /// one it is in); `false` when a step lost its race (the server was
    /// deleted or reset meanwhile) and the flow should stop.
    pub(crate) async fn walk_tasks(&self, uuid: &str, steps: &[&str]) -> ComputeResult<bool> {
        let repo = self.store.instances();
        for pair in steps.windows(2) {
            let from = StateGuard::in_task(pair[0]);
            if !repo
                .transition(uuid, &from, &set_task(pair[1]), now_micros())
                .await?
            {
                return Ok(false);
            }
        }
        Ok(true)
    }
}
