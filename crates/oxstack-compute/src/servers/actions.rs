//! Server actions as one table: for each action the states it may start
//! from (Nova's `check_instance_state` on each `compute/api.py` method),
//! the task states it runs through, the driver operation and the state it
//! ends in. Accepting an action is one compare-and-swap of the state
//! columns, so of two racing requests exactly one is accepted; the compute
//! manager then performs it in the background, recording it as an
//! instance action with one event.

use oxstack_store::instance_actions::{NewAction, Step};
use oxstack_store::instances::{StateChange, StateGuard};
use oxstack_virt::{Operation, PowerState};

use super::states::vm;
use super::{Caller, Server, check_lock, invalid_state, refused};
use crate::{Compute, ComputeError, ComputeResult, now_micros};

/// The actions of the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActionKind {
    Stop,
    Start,
    SoftReboot,
    HardReboot,
    Pause,
    Unpause,
    Suspend,
    Resume,
    Rescue,
    Unrescue,
    ChangePassword,
    TriggerCrashDump,
}

/// How one action runs.
struct Rule {
    /// The name in Nova's 409 message (`Cannot 'pause' instance ...`).
    api_name: &'static str,
    /// The instance action recorded (`os-instance-actions`).
    record: &'static str,
    /// The event of the compute manager's work.
    event: &'static str,
    /// vm_states it may start from.
    vm_states: &'static [&'static str],
    /// task_states it may start from (`None`: no task in flight).
    task_states: &'static [Option<&'static str>],
    /// The task states it runs through; the first is set on acceptance.
    steps: &'static [&'static str],
    operation: Operation,
    /// The vm_state it ends in (`None`: unchanged).
    ends_in: Option<&'static str>,
}

const NO_TASK: &[Option<&str>] = &[None];

/// Task states from which a hard reboot may start (Nova lets it interrupt
/// soft reboots and pending power transitions).
const HARD_REBOOT_FROM: &[Option<&str>] = &[
    None,
    Some("rebooting"),
    Some("reboot_pending"),
    Some("reboot_started"),
    Some("resuming"),
    Some("rebooting_hard"),
    Some("unpausing"),
    Some("pausing"),
    Some("suspending"),
];

impl ActionKind {
    const ALL: [ActionKind; 12] = [
        Self::Stop,
        Self::Start,
        Self::SoftReboot,
        Self::HardReboot,
        Self::Pause,
        Self::Unpause,
        Self::Suspend,
        Self::Resume,
        Self::Rescue,
        Self::Unrescue,
        Self::ChangePassword,
        Self::TriggerCrashDump,
    ];

    fn rule(self) -> Rule {
        let rule = |api_name, record, event, vm_states, steps, operation, ends_in| Rule {
            api_name,
            record,
            event,
            vm_states,
            task_states: NO_TASK,
            steps,
            operation,
            ends_in,
        };
        match self {
            Self::Stop => rule(
                "stop",
                "stop",
                "compute_stop_instance",
                &[vm::ACTIVE, vm::ERROR],
                &["powering-off"],
                Operation::PowerOff,
                Some(vm::STOPPED),
            ),
            Self::Start => rule(
                "start",
                "start",
                "compute_start_instance",
                &[vm::STOPPED],
                &["powering-on"],
                Operation::PowerOn,
                Some(vm::ACTIVE),
            ),
            Self::SoftReboot => rule(
                "reboot",
                "reboot",
                "compute_reboot_instance",
                &[vm::ACTIVE],
                &["rebooting", "reboot_pending", "reboot_started"],
                Operation::Reboot,
                Some(vm::ACTIVE),
            ),
            Self::HardReboot => Rule {
                task_states: HARD_REBOOT_FROM,
                ..rule(
                    "reboot",
                    "reboot",
                    "compute_reboot_instance",
                    &[
                        vm::ACTIVE,
                        vm::STOPPED,
                        vm::PAUSED,
                        vm::SUSPENDED,
                        vm::ERROR,
                    ],
                    &[
                        "rebooting_hard",
                        "reboot_pending_hard",
                        "reboot_started_hard",
                    ],
                    Operation::Reboot,
                    Some(vm::ACTIVE),
                )
            },
            Self::Pause => rule(
                "pause",
                "pause",
                "compute_pause_instance",
                &[vm::ACTIVE],
                &["pausing"],
                Operation::Pause,
                Some(vm::PAUSED),
            ),
            Self::Unpause => rule(
                "unpause",
                "unpause",
                "compute_unpause_instance",
                &[vm::PAUSED],
                &["unpausing"],
                Operation::Unpause,
                Some(vm::ACTIVE),
            ),
            Self::Suspend => rule(
                "suspend",
                "suspend",
                "compute_suspend_instance",
                &[vm::ACTIVE],
                &["suspending"],
                Operation::Suspend,
                Some(vm::SUSPENDED),
            ),
            Self::Resume => rule(
                "resume",
                "resume",
                "compute_resume_instance",
                &[vm::SUSPENDED],
                &["resuming"],
                Operation::Resume,
                Some(vm::ACTIVE),
            ),
            Self::Rescue => rule(
                "rescue",
                "rescue",
                "compute_rescue_instance",
                &[vm::ACTIVE, vm::STOPPED, vm::ERROR],
                &["rescuing"],
                Operation::Rescue,
                Some(vm::RESCUED),
            ),
            Self::Unrescue => rule(
                "unrescue",
                "unrescue",
                "compute_unrescue_instance",
                &[vm::RESCUED],
                &["unrescuing"],
                Operation::Unrescue,
                Some(vm::ACTIVE),
            ),
            Self::ChangePassword => rule(
                "changePassword",
                "changePassword",
                "compute_set_admin_password",
                &[vm::ACTIVE],
                &["updating_password"],
                Operation::SetAdminPassword,
                None,
            ),
            Self::TriggerCrashDump => rule(
                "trigger_crash_dump",
                "trigger_crash_dump",
                "compute_trigger_crash_dump",
                &[vm::ACTIVE, vm::PAUSED, vm::RESCUED, vm::RESIZED, vm::ERROR],
                &[],
                Operation::TriggerCrashDump,
                None,
            ),
        }
    }

    /// The action whose work a task state belongs to (for recovery).
    fn owning(task_state: &str) -> Option<(Self, usize)> {
        Self::ALL.into_iter().find_map(|kind| {
            kind.rule()
                .steps
                .iter()
                .position(|s| *s == task_state)
                .map(|i| (kind, i))
        })
    }
}

/// The record of an action `caller` asked of `server`, starting now.
pub(crate) fn new_action<'a>(
    server: &'a Server,
    caller: &'a Caller,
    action: &'a str,
) -> NewAction<'a> {
    NewAction {
        instance_uuid: &server.uuid,
        request_id: &caller.request_id,
        action,
        project_id: &caller.project_id,
        user_id: &caller.user_id,
        now: now_micros(),
    }
}

fn owned(states: &[&str]) -> Vec<String> {
    states.iter().map(|s| (*s).to_owned()).collect()
}

impl Compute {
    /// Accepts an action (checks lock and state, sets its first task state
    /// atomically, records it) and has the manager perform it.
    pub async fn server_action(
        &self,
        caller: &Caller,
        id: &str,
        kind: ActionKind,
    ) -> ComputeResult<()> {
        let rule = kind.rule();
        let server = self.get_server(caller, id).await?;
        check_lock(&server, caller)?;
        if server.launched_at.is_none() {
            return Err(invalid_state(rule.api_name, &server, "launched_at", "None"));
        }
        let guard = StateGuard {
            vm_states: Some(owned(rule.vm_states)),
            task_states: Some(
                rule.task_states
                    .iter()
                    .map(|t| t.map(str::to_owned))
                    .collect(),
            ),
        };
        let change = StateChange {
            task_state: rule.steps.first().map(|s| Some((*s).to_owned())),
            ..StateChange::default()
        };
        let action = new_action(&server, caller, rule.record);
        let accept = Step::Accept {
            action: &action,
            event: rule.event,
            host: &self.host,
        };
        let accepted = self
            .store
            .instance_actions()
            .transition(id, &guard, &change, now_micros(), accept)
            .await?;
        let Some(action_id) = accepted else {
            let now = self.get_server(caller, id).await?;
            return Err(refused(rule.api_name, &now, rule.vm_states));
        };
        let uuid = server.uuid.clone();
        self.dispatch(
            server.host.as_deref(),
            &server.uuid,
            move |compute| async move {
                compute.run_action(&uuid, kind, 0, action_id).await;
            },
        );
        Ok(())
    }

    /// Performs an accepted action from its `step`-th task state.
    async fn run_action(&self, uuid: &str, kind: ActionKind, step: usize, action_id: i64) {
        if let Err(e) = self.try_run_action(uuid, kind, step, action_id).await {
            tracing::error!(server = %uuid, action = ?kind, error = %e, "action failed");
        }
    }

    async fn try_run_action(
        &self,
        uuid: &str,
        kind: ActionKind,
        step: usize,
        action_id: i64,
    ) -> ComputeResult<()> {
        let rule = kind.rule();
        let task_guard = |task: Option<&str>| StateGuard {
            vm_states: None,
            task_states: Some(vec![task.map(str::to_owned)]),
        };
        // Walk the intermediate task states (Nova's reboot_pending, ...).
        if !self
            .walk_tasks(uuid, rule.steps.get(step..).unwrap_or_default())
            .await?
        {
            return Ok(());
        }
        let current = rule.steps.last().copied();
        let result = self.driver.operate(uuid, rule.operation).await;
        let power = self.driver.power_state(uuid).await;
        let (change, error) = match &result {
            Ok(()) => (
                StateChange {
                    vm_state: rule.ends_in.map(str::to_owned),
                    task_state: Some(None),
                    power_state: Some(power.code()),
                    ..StateChange::default()
                },
                None,
            ),
            Err(e) => {
                tracing::warn!(server = %uuid, action = ?kind, error = %e, "driver operation failed");
                // Nova: a failed reboot of a guest that still runs only
                // clears the task; otherwise the server goes to ERROR. Other
                // actions revert their task state and keep the vm_state.
                let to_error = matches!(kind, ActionKind::SoftReboot | ActionKind::HardReboot)
                    && power != PowerState::Running;
                (
                    StateChange {
                        vm_state: to_error.then(|| vm::ERROR.to_owned()),
                        task_state: Some(None),
                        power_state: Some(power.code()),
                        fault: Some(Some(super::manager::fault(500, &e.message, &e.message))),
                        ..StateChange::default()
                    },
                    Some(e.message.clone()),
                )
            }
        };
        let finish = Step::Finish {
            action_id,
            event: rule.event,
            error: error.as_deref(),
        };
        self.store
            .instance_actions()
            .transition(uuid, &task_guard(current), &change, now_micros(), finish)
            .await?;
        Ok(())
    }

    /// Records an instance action for the request.
    pub(crate) async fn record_action(
        &self,
        server: &Server,
        caller: &Caller,
        action: &str,
    ) -> ComputeResult<i64> {
        Ok(self
            .store
            .instance_actions()
            .start(&new_action(server, caller, action))
            .await?)
    }

    /// Records events of an action that completed at once (steps Nova's
    /// conductor and compute run that this cloud does in one go).
    pub(crate) async fn record_events(&self, action_id: i64, events: &[&str]) -> ComputeResult<()> {
        let actions = self.store.instance_actions();
        for event in events {
            actions
                .start_event(action_id, event, &self.host, now_micros())
                .await?;
            actions.finish(action_id, event, None, now_micros()).await?;
        }
        Ok(())
    }

    /// Resumes an action a restart interrupted; `false` when the task
    /// state belongs to no action of the table.
    pub(crate) async fn resume_action(&self, server: &Server) -> ComputeResult<bool> {
        let Some(task) = server.task_state.as_deref() else {
            return Ok(false);
        };
        let Some((kind, step)) = ActionKind::owning(task) else {
            return Ok(false);
        };
        let rule = kind.rule();
        let action_id = self
            .store
            .instance_actions()
            .latest_unfinished(&server.uuid, rule.record)
            .await?;
        let Some(action_id) = action_id else {
            return Ok(false);
        };
        tracing::info!(server = %server.uuid, action = ?kind, "resuming an interrupted action");
        self.store
            .instance_actions()
            .start_event(action_id, rule.event, &self.host, now_micros())
            .await?;
        let uuid = server.uuid.clone();
        self.dispatch(None, &server.uuid, move |compute| async move {
            compute.run_action(&uuid, kind, step, action_id).await;
        });
        Ok(true)
    }
}

impl Compute {
    /// `os-resetState` (admin): sets the vm_state (`active` or `error`)
    /// and clears any task, whatever the server is doing.
    pub async fn reset_server_state(
        &self,
        caller: &Caller,
        id: &str,
        to: &str,
    ) -> ComputeResult<()> {
        let server = self.get_server(caller, id).await?;
        let action_id = self.record_action(&server, caller, "resetState").await?;
        self.store
            .instance_actions()
            .close(action_id, now_micros())
            .await?;
        let change = StateChange {
            vm_state: Some(to.to_owned()),
            task_state: Some(None),
            ..StateChange::default()
        };
        self.store
            .instances()
            .transition(id, &StateGuard::default(), &change, now_micros())
            .await?;
        Ok(())
    }

    /// The console log of a server that runs on a host.
    pub async fn console_output(
        &self,
        caller: &Caller,
        id: &str,
        lines: Option<usize>,
    ) -> ComputeResult<String> {
        let server = self.get_server(caller, id).await?;
        if server.host.is_none() {
            return Err(ComputeError::Conflict(format!(
                "Instance {} is not ready",
                server.uuid
            )));
        }
        self.driver
            .console_output(&server.uuid, lines)
            .await
            .map_err(|e| ComputeError::Conflict(e.message))
    }
}
