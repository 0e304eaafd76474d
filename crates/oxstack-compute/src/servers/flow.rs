//! The one action-flow model. Every change to a server that takes time
//! goes the same way:
//!
//! 1. **Accept** (in the API's request): [`Compute::accept`] checks the
//!    action's [`Rule`] with one compare-and-swap of the state columns and,
//!    in the same transaction, writes everything that belongs to it — the
//!    first task state, a new flavor and the project's usage, edits, the
//!    instance action (with the flow's [`FlowArgs`]), its first event, a
//!    migration record. Of two racing requests exactly one is accepted; a
//!    crash leaves either nothing or all of it.
//! 2. **Dispatch**: the [`Work`] goes to the server's host
//!    ([`Compute::dispatch`]), here or by waking that host.
//! 3. **Run**: [`Compute::run`] performs the [`Flow`], each step one
//!    compare-and-swap from the task state it expects, so a step that lost a
//!    race (the server was deleted meanwhile) stops quietly.
//!
//! Every flow continues from whatever task state it finds the server in,
//! so resuming after a crash, or on another host after a hand-over, is the
//! same call: [`Compute::resume`] finds the flow that owns the server's
//! task state (and its action, by the newest unfinished instance action)
//! and runs it.

use std::collections::BTreeMap;
use std::sync::Arc;

use oxstack_store::instance_actions::NewAction;
use oxstack_store::instances::{ActionStep, InstanceUpdate, MigrationStep, SizeLimits, Step};
use serde::{Deserialize, Serialize};

use super::rules::Rule;
use super::{Caller, PowerAction};
use crate::model::Server;
use crate::model::change::{Change, Guard};
use crate::model::states::{TaskState, VmState};
use crate::{Compute, ComputeError, ComputeResult, now_micros};

use TaskState as T;

/// Everything that runs in the background for a server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flow {
    Build,
    Delete,
    SoftDelete,
    Restore,
    /// Stop, start, reboot, pause, suspend, rescue, password, crash dump.
    Power(PowerAction),
    /// A resize or a cold migration.
    Resize,
    /// A revert of a resize or cold migration that changed hosts.
    RevertResize,
    LiveMigration,
    Evacuation,
    Rebuild,
    /// `createImage` and `createBackup`.
    Snapshot,
    Shelve,
    ShelveOffload,
    Unshelve,
}

const BUILD_TASKS: &[TaskState] = &[
    T::Scheduling,
    T::Networking,
    T::BlockDeviceMapping,
    T::Spawning,
];

impl Flow {
    const ALL_BUT_POWER: [Flow; 13] = [
        Self::Build,
        Self::Delete,
        Self::SoftDelete,
        Self::Restore,
        Self::Resize,
        Self::RevertResize,
        Self::LiveMigration,
        Self::Evacuation,
        Self::Rebuild,
        Self::Snapshot,
        Self::Shelve,
        Self::ShelveOffload,
        Self::Unshelve,
    ];

    /// The task states the flow walks, in order.
    pub fn tasks(self) -> &'static [TaskState] {
        match self {
            Self::Build => BUILD_TASKS,
            Self::Delete => &[T::Deleting],
            Self::SoftDelete => &[T::SoftDeleting],
            Self::Restore => &[T::Restoring],
            Self::Power(action) => action.steps(),
            Self::Resize => &[
                T::ResizePrep,
                T::ResizeMigrating,
                T::ResizeMigrated,
                T::ResizeFinish,
            ],
            Self::RevertResize => &[T::ResizeReverting],
            Self::LiveMigration => &[T::Migrating],
            Self::Evacuation => &[T::Rebuilding],
            Self::Rebuild => &[
                T::Rebuilding,
                T::RebuildBlockDeviceMapping,
                T::RebuildSpawning,
            ],
            Self::Snapshot => &[
                T::ImageSnapshotPending,
                T::ImageSnapshot,
                T::ImageBackup,
                T::ImagePendingUpload,
                T::ImageUploading,
            ],
            Self::Shelve => &[
                T::Shelving,
                T::ShelvingImagePendingUpload,
                T::ShelvingImageUploading,
                T::ShelvingOffloading,
            ],
            Self::ShelveOffload => &[T::ShelvingOffloading],
            Self::Unshelve => &[T::Unshelving, T::Spawning],
        }
    }

    /// The instance actions that start the flow.
    pub fn records(self) -> &'static [&'static str] {
        match self {
            Self::Build => &["create"],
            Self::Delete | Self::SoftDelete => &["delete"],
            Self::Restore => &["restore"],
            Self::Power(action) => std::slice::from_ref(&action.rule().record),
            Self::Resize => &["resize", "migrate"],
            Self::RevertResize => &["revertResize"],
            Self::LiveMigration => &["live-migration"],
            Self::Evacuation => &["evacuate"],
            Self::Rebuild => &["rebuild"],
            Self::Snapshot => &["createImage", "createBackup"],
            Self::Shelve => &["shelve"],
            Self::ShelveOffload => &["shelveOffload"],
            Self::Unshelve => &["unshelve"],
        }
    }

    /// Every flow.
    fn all() -> impl Iterator<Item = Flow> {
        Self::ALL_BUT_POWER
            .into_iter()
            .chain(PowerAction::ALL.into_iter().map(Self::Power))
    }

    /// The flow a server in `task` (resting in `vm_state`) belongs to,
    /// told apart by the newest action of their kinds where two flows
    /// share a task state (a rebuild or an evacuation, a shelve or an
    /// offload).
    pub fn owning(task: TaskState, vm_state: VmState, action: Option<&str>) -> Option<Flow> {
        let candidates = Self::candidates(task, vm_state);
        candidates
            .iter()
            .copied()
            .find(|f| action.is_some_and(|a| f.records().contains(&a)))
            .or_else(|| candidates.first().copied())
    }

    /// The flows that walk `task` for a server resting in `vm_state`.
    fn candidates(task: TaskState, vm_state: VmState) -> Vec<Flow> {
        Self::all()
            .filter(|f| f.tasks().contains(&task))
            .filter(|f| (*f == Self::Build) == (vm_state == VmState::Building))
            .collect()
    }

    /// Whether the flow also runs without an action of its own: a reclaim
    /// deletes a soft-deleted server unasked, so the newest `delete` is
    /// then an earlier, finished one.
    fn runs_unrecorded(self) -> bool {
        matches!(self, Self::Delete)
    }
}

/// What a flow needs beyond the server's row, recorded with its action so
/// that it can resume after a restart. Never holds a secret.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FlowArgs {
    /// The image a snapshot, backup or shelve fills.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_id: Option<String>,
    /// `createBackup`: the backup type and how many to keep.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<(String, i64)>,
    /// `rescue`: the image to boot instead (`None`: the server's own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rescue_image: Option<String>,
    /// A build's volumes to make or attach.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub block_devices: Vec<super::create::BlockDevice>,
}

impl FlowArgs {
    pub(crate) fn to_json(&self) -> Option<String> {
        (*self != Self::default()).then(|| serde_json::to_string(self).unwrap_or_default())
    }

    fn from_json(text: Option<&str>) -> Self {
        text.and_then(|t| serde_json::from_str(t).ok())
            .unwrap_or_default()
    }
}

/// A flow to run for a server, with its action and arguments.
#[derive(Clone, Debug)]
pub(crate) struct Work {
    pub flow: Flow,
    /// The instance action whose events the flow records (`None`: none
    /// was recorded, e.g. a periodic reclaim).
    pub action_id: Option<i64>,
    pub args: FlowArgs,
    /// A password the request gave; lost with a restart, never stored.
    pub secret: Option<String>,
    /// The server as its acceptance left it, when the flow runs in the
    /// process that accepted it (saves the flow reading it back; a flow
    /// resumed elsewhere reads it).
    pub accepted: Option<Arc<Server>>,
}

impl Work {
    pub fn new(flow: Flow, action_id: Option<i64>) -> Self {
        Self {
            flow,
            action_id,
            args: FlowArgs::default(),
            secret: None,
            accepted: None,
        }
    }

    /// The server this work is for: as accepted, or as stored now.
    pub async fn server(
        &self,
        compute: &Compute,
        uuid: &str,
    ) -> ComputeResult<Option<Arc<Server>>> {
        match &self.accepted {
            Some(server) => Ok(Some(server.clone())),
            None => Ok(compute.load(uuid).await?.map(Arc::new)),
        }
    }
}

/// An action as accepted: its rule and what the acceptance writes beside
/// the rule's first task state.
#[derive(Default)]
pub(crate) struct Acceptance<'a> {
    /// More to change than the task state (a flavor, a destination, ...).
    pub change: Change,
    /// A flavor change must fit these (`None` with a flavor: unlimited).
    pub limits: Option<SizeLimits>,
    pub update: Option<InstanceUpdate>,
    /// The server's new metadata and the project's limit on items.
    pub metadata: Option<(&'a BTreeMap<String, String>, i64)>,
    /// A move's record, or the step of the current one.
    pub migration: Option<MigrationStep<'a>>,
    pub args: FlowArgs,
}

impl Compute {
    /// The caller's server for an action under `rule`: the lock and
    /// launch checks come before any state check, as in Nova.
    pub(crate) async fn actionable(
        &self,
        caller: &Caller,
        id: &str,
        rule: &Rule,
    ) -> ComputeResult<Server> {
        let server = self.get_server(caller, id).await?;
        if rule.checks_lock {
            super::check_lock(&server, caller)?;
        }
        if rule.needs_launched && server.launched_at.is_none() {
            return Err(super::rules::invalid_state(
                rule.api_name,
                &server,
                "launched_at",
                "None",
            ));
        }
        Ok(server)
    }

    /// Accepts an action on `server` (see the module's documentation);
    /// returns the recorded action's id. The server in another state now
    /// is Nova's 409; a flavor or metadata over the project's limits is
    /// `Store(LimitExceeded)`, for the caller to word.
    pub(crate) async fn accept(
        &self,
        caller: &Caller,
        server: &Server,
        rule: &Rule,
        acceptance: Acceptance<'_>,
    ) -> ComputeResult<i64> {
        let mut change = acceptance.change;
        if let Some(task) = rule.first_task {
            change.task_state = Some(Some(task));
        }
        let guard = Guard {
            vm_states: (!rule.vm_states.is_empty()).then(|| rule.vm_states.to_vec()),
            task_states: (!rule.task_states.is_empty()).then(|| rule.task_states.to_vec()),
        };
        let args = acceptance.args.to_json();
        let action = new_action(server, caller, rule.record, args.as_deref());
        let step = Step {
            guard: (&guard).into(),
            change: (&change).into(),
            limits: acceptance.limits,
            update: acceptance.update,
            metadata: acceptance.metadata,
            action: Some(ActionStep::Accept {
                action: &action,
                event: rule.event,
                host: &self.host,
            }),
            migration: acceptance.migration,
        };
        match self
            .store
            .instances()
            .apply(&server.uuid, &step, now_micros())
            .await?
        {
            Some(action_id) => action_id.ok_or_else(|| {
                ComputeError::Internal("an accepted action recorded no action".into())
            }),
            None => {
                let now = self.get_server(caller, &server.uuid).await?;
                Err(rule.refusal(&now))
            }
        }
    }

    /// Records an action that is done at once (lock, confirm, reset, ...)
    /// with its events, all finished, together with `change` from a state
    /// `guard` allows; `false` when the server was not in such a state.
    pub(crate) async fn record_done(
        &self,
        caller: &Caller,
        server: &Server,
        record: &str,
        events: &[&str],
        guard: &Guard,
        step: Step<'_>,
    ) -> ComputeResult<bool> {
        let action = new_action(server, caller, record, None);
        let step = Step {
            guard: guard.into(),
            action: Some(ActionStep::Record {
                action: &action,
                events,
                host: &self.host,
            }),
            ..step
        };
        Ok(self
            .store
            .instances()
            .apply(&server.uuid, &step, now_micros())
            .await?
            .is_some())
    }

    /// Runs a flow here, to its end; failures are logged (the flow has
    /// recorded them on the server and its action).
    pub(crate) async fn run(&self, uuid: &str, work: Work) {
        let flow = work.flow;
        let result = match flow {
            Flow::Build => self.run_build(uuid, &work).await,
            Flow::Delete => self.run_delete(uuid, work.action_id).await,
            Flow::SoftDelete => self.run_soft_delete(uuid, work.action_id).await,
            Flow::Restore => self.run_restore(uuid, work.action_id).await,
            Flow::Power(action) => self.run_power(uuid, action, &work).await,
            Flow::Resize => self.run_resize(uuid, work.action_id).await,
            Flow::RevertResize => self.run_revert(uuid, work.action_id).await,
            Flow::LiveMigration => self.run_live_migration(uuid, work.action_id).await,
            Flow::Evacuation => self.run_evacuation(uuid, work.action_id).await,
            Flow::Rebuild => self.run_rebuild(uuid, &work).await,
            Flow::Snapshot => self.run_snapshot(uuid, &work).await,
            Flow::Shelve | Flow::ShelveOffload | Flow::Unshelve => {
                self.run_shelving(uuid, flow, &work).await
            }
        };
        if let Err(e) = result {
            tracing::error!(server = %uuid, ?flow, error = %e, "a server's flow failed");
            if e.is_unavailable() {
                self.retry_when_reachable(uuid.to_owned());
            }
        }
    }

    /// Continues the recorded work of `server` (with the request's
    /// `secret` when another node handed it over). After a restart of this
    /// host (`restarted`), a task no flow owns is a leftover and cleared;
    /// otherwise it is left alone.
    pub(crate) async fn resume(
        &self,
        server: Server,
        restarted: bool,
        secret: Option<String>,
    ) -> ComputeResult<()> {
        let Some(task) = server.task_state else {
            return Ok(());
        };
        // The action that set the task is the newest of its flow's kind;
        // its events may all look finished if the crash came between two
        // steps, so the task (not the action's finish) says it runs.
        let candidates = Flow::candidates(task, server.vm_state);
        let records: Vec<&str> = candidates
            .iter()
            .flat_map(|f| f.records())
            .copied()
            .collect();
        let action = if records.is_empty() {
            None
        } else {
            self.store
                .instance_actions()
                .latest_named(&server.uuid, &records)
                .await?
                .filter(|a| {
                    a.finish_time.is_none()
                        || !candidates.iter().any(|f| {
                            f.runs_unrecorded() && f.records().contains(&a.action.as_str())
                        })
                })
        };
        let name = action.as_ref().map(|a| a.action.as_str());
        match Flow::owning(task, server.vm_state, name) {
            Some(flow) => {
                let (action_id, args) = match action {
                    Some(a) if flow.records().contains(&a.action.as_str()) => {
                        (Some(a.id), FlowArgs::from_json(a.args.as_deref()))
                    }
                    _ => (None, FlowArgs::default()),
                };
                tracing::info!(server = %server.uuid, ?flow, %task, "resuming a flow");
                let work = Work {
                    args,
                    secret,
                    ..Work::new(flow, action_id)
                };
                self.dispatch(None, &server.uuid, work);
            }
            None if restarted => {
                tracing::warn!(server = %server.uuid, %task, "clearing a task no flow owns");
                self.transition(&server.uuid, &Guard::in_task(task), &Change::clear_task())
                    .await?;
            }
            None => {}
        }
        Ok(())
    }

    /// A compare-and-swap of the server's state alone; `false` when it was
    /// not in a state `guard` allows.
    pub(crate) async fn transition(
        &self,
        uuid: &str,
        guard: &Guard,
        change: &Change,
    ) -> ComputeResult<bool> {
        Ok(self
            .store
            .instances()
            .transition(uuid, &guard.into(), &change.into(), now_micros())
            .await?)
    }

    /// A compare-and-swap together with a step of the flow's action (and
    /// of its migration): `Some(..)` when it applied.
    pub(crate) async fn step(
        &self,
        uuid: &str,
        guard: &Guard,
        change: &Change,
        action: Option<ActionStep<'_>>,
        migration: Option<MigrationStep<'_>>,
    ) -> ComputeResult<bool> {
        let step = Step {
            guard: guard.into(),
            change: change.into(),
            action,
            migration,
            ..Step::default()
        };
        Ok(self
            .store
            .instances()
            .apply(uuid, &step, now_micros())
            .await?
            .is_some())
    }

    /// Moves a server through consecutive task states (`steps[0]` is the
    /// one it is in); `false` when a step lost its race (the server was
    /// deleted or reset meanwhile) and the flow should stop.
    pub(crate) async fn walk_tasks(&self, uuid: &str, steps: &[TaskState]) -> ComputeResult<bool> {
        for pair in steps.windows(2) {
            if !self
                .transition(uuid, &Guard::in_task(pair[0]), &Change::task(pair[1]))
                .await?
            {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Starts an event of the flow's action, if it has one.
    pub(crate) async fn start_event(
        &self,
        action_id: Option<i64>,
        event: &str,
    ) -> ComputeResult<()> {
        if let Some(id) = action_id {
            self.store
                .instance_actions()
                .start_event(id, event, &self.host, now_micros())
                .await?;
        }
        Ok(())
    }

    /// Ends an event of the flow's action (and the action), if it has one.
    pub(crate) async fn finish_event(
        &self,
        action_id: Option<i64>,
        event: &str,
        error: Option<&str>,
    ) -> ComputeResult<()> {
        if let Some(id) = action_id {
            self.store
                .instance_actions()
                .finish(id, event, error, now_micros())
                .await?;
        }
        Ok(())
    }

    /// Records events of an action that completed at once (steps Nova's
    /// conductor and compute run that this cloud does in one go).
    pub(crate) async fn record_events(
        &self,
        action_id: Option<i64>,
        events: &[&str],
    ) -> ComputeResult<()> {
        for event in events {
            self.start_event(action_id, event).await?;
            self.finish_event(action_id, event, None).await?;
        }
        Ok(())
    }
}

/// The record of an action `caller` asked of `server`, starting now.
pub(crate) fn new_action<'a>(
    server: &'a Server,
    caller: &'a Caller,
    action: &'a str,
    args: Option<&'a str>,
) -> NewAction<'a> {
    NewAction {
        instance_uuid: &server.uuid,
        request_id: &caller.request_id,
        action,
        project_id: &caller.project_id,
        user_id: &caller.user_id,
        args,
        now: now_micros(),
    }
}

/// The finish of an event as a step of a transition.
pub(crate) fn finish<'a>(
    action_id: Option<i64>,
    event: &'a str,
    error: Option<&'a str>,
) -> Option<ActionStep<'a>> {
    action_id.map(|action_id| ActionStep::Finish {
        action_id,
        event,
        error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_task_state_this_cloud_sets_has_an_owner() {
        // A confirm is done at once here: nothing sets `resize_confirming`.
        let never_set = [T::ResizeConfirming];
        for task in <TaskState as strum::VariantArray>::VARIANTS {
            if never_set.contains(task) {
                continue;
            }
            let building = Flow::owning(*task, VmState::Building, None);
            let settled = Flow::owning(*task, VmState::Active, None);
            assert!(
                building.is_some() || settled.is_some(),
                "{task} belongs to no flow"
            );
            if BUILD_TASKS.contains(task) {
                assert_eq!(building, Some(Flow::Build), "{task}");
            }
        }
    }

    #[test]
    fn shared_task_states_go_to_the_flow_of_the_newest_action() {
        assert_eq!(
            Flow::owning(T::Rebuilding, VmState::Active, Some("evacuate")),
            Some(Flow::Evacuation)
        );
        assert_eq!(
            Flow::owning(T::Rebuilding, VmState::Active, Some("rebuild")),
            Some(Flow::Rebuild)
        );
        assert_eq!(
            Flow::owning(
                T::ShelvingOffloading,
                VmState::Shelved,
                Some("shelveOffload")
            ),
            Some(Flow::ShelveOffload)
        );
        assert_eq!(
            Flow::owning(T::ShelvingOffloading, VmState::Shelved, Some("shelve")),
            Some(Flow::Shelve)
        );
        assert_eq!(
            Flow::owning(T::Spawning, VmState::ShelvedOffloaded, Some("unshelve")),
            Some(Flow::Unshelve)
        );
        assert_eq!(
            Flow::owning(T::RebootingHard, VmState::Active, Some("reboot")),
            Some(Flow::Power(PowerAction::HardReboot))
        );
    }
}
