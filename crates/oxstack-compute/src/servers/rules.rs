//! Which states allow which action: one rule per API action (Nova's
//! `check_instance_state`, `check_instance_lock` and friends on each
//! `nova/compute/api.py` method), in one table to audit. A rule also names
//! what accepting the action records: the instance action, the first task
//! state its flow takes, and the event that starts with it.

use crate::ComputeError;
use crate::model::Server;
use crate::model::states::{TaskState, VmState};

use TaskState as T;
use VmState as V;

/// How an action may start.
#[derive(Debug)]
pub(crate) struct Rule {
    /// The name in Nova's 409 message (`Cannot 'pause' instance ...`).
    pub api_name: &'static str,
    /// The instance action recorded (`os-instance-actions`).
    pub record: &'static str,
    /// vm_states it may start from (empty: any).
    pub vm_states: &'static [VmState],
    /// Task states it may start from (`None`: no task; empty: any).
    pub task_states: &'static [Option<TaskState>],
    /// The task state set on acceptance (`None`: the task is unchanged).
    pub first_task: Option<TaskState>,
    /// The event that starts on acceptance.
    pub event: Option<&'static str>,
    /// A locked server refuses it unless the caller is an admin.
    pub checks_lock: bool,
    /// Only a server that was ever launched may do it.
    pub needs_launched: bool,
}

const NO_TASK: &[Option<TaskState>] = &[None];

const fn rule(
    api_name: &'static str,
    vm_states: &'static [VmState],
    first_task: TaskState,
    event: &'static str,
) -> Rule {
    Rule {
        api_name,
        record: api_name,
        vm_states,
        task_states: NO_TASK,
        first_task: Some(first_task),
        event: Some(event),
        checks_lock: true,
        needs_launched: true,
    }
}

pub(crate) const STOP: Rule = rule(
    "stop",
    &[V::Active, V::Error],
    T::PoweringOff,
    "compute_stop_instance",
);
pub(crate) const START: Rule = rule(
    "start",
    &[V::Stopped],
    T::PoweringOn,
    "compute_start_instance",
);
pub(crate) const REBOOT: Rule = rule(
    "reboot",
    &[V::Active],
    T::Rebooting,
    "compute_reboot_instance",
);
/// A hard reboot may interrupt soft reboots and pending power changes.
pub(crate) const HARD_REBOOT: Rule = Rule {
    task_states: &[
        None,
        Some(T::Rebooting),
        Some(T::RebootPending),
        Some(T::RebootStarted),
        Some(T::Resuming),
        Some(T::RebootingHard),
        Some(T::Unpausing),
        Some(T::Pausing),
        Some(T::Suspending),
    ],
    first_task: Some(T::RebootingHard),
    ..rule(
        "reboot",
        &[V::Active, V::Stopped, V::Paused, V::Suspended, V::Error],
        T::RebootingHard,
        "compute_reboot_instance",
    )
};
pub(crate) const PAUSE: Rule = rule("pause", &[V::Active], T::Pausing, "compute_pause_instance");
pub(crate) const UNPAUSE: Rule = rule(
    "unpause",
    &[V::Paused],
    T::Unpausing,
    "compute_unpause_instance",
);
pub(crate) const SUSPEND: Rule = rule(
    "suspend",
    &[V::Active],
    T::Suspending,
    "compute_suspend_instance",
);
pub(crate) const RESUME: Rule = rule(
    "resume",
    &[V::Suspended],
    T::Resuming,
    "compute_resume_instance",
);
pub(crate) const RESCUE: Rule = rule(
    "rescue",
    &[V::Active, V::Stopped, V::Error],
    T::Rescuing,
    "compute_rescue_instance",
);
pub(crate) const UNRESCUE: Rule = rule(
    "unrescue",
    &[V::Rescued],
    T::Unrescuing,
    "compute_unrescue_instance",
);
pub(crate) const CHANGE_PASSWORD: Rule = rule(
    "changePassword",
    &[V::Active],
    T::UpdatingPassword,
    "compute_set_admin_password",
);
/// A crash dump takes no task state: the guest keeps running.
pub(crate) const TRIGGER_CRASH_DUMP: Rule = Rule {
    first_task: None,
    ..rule(
        "trigger_crash_dump",
        &[V::Active, V::Paused, V::Rescued, V::Resized, V::Error],
        T::Rebooting,
        "compute_trigger_crash_dump",
    )
};

/// The events of longer flows start in the flow, on the host that runs it.
const fn move_rule(
    api_name: &'static str,
    record: &'static str,
    vm_states: &'static [VmState],
    first_task: TaskState,
) -> Rule {
    Rule {
        api_name,
        record,
        vm_states,
        task_states: NO_TASK,
        first_task: Some(first_task),
        event: None,
        checks_lock: true,
        needs_launched: false,
    }
}

pub(crate) const RESIZE: Rule =
    move_rule("resize", "resize", &[V::Active, V::Stopped], T::ResizePrep);
pub(crate) const MIGRATE: Rule = move_rule(
    "migrate",
    "migrate",
    &[V::Active, V::Stopped],
    T::ResizePrep,
);
/// A revert across hosts; within one host it is done at acceptance.
pub(crate) const REVERT_RESIZE: Rule = move_rule(
    "revertResize",
    "revertResize",
    &[V::Resized],
    T::ResizeReverting,
);
pub(crate) const CONFIRM_RESIZE: Rule = Rule {
    first_task: None,
    ..move_rule(
        "confirmResize",
        "confirmResize",
        &[V::Resized],
        T::ResizeConfirming,
    )
};
pub(crate) const LIVE_MIGRATE: Rule = move_rule(
    "os-migrateLive",
    "live-migration",
    &[V::Active, V::Paused],
    T::Migrating,
);
/// Evacuation rescues a server from a dead host: no lock applies.
pub(crate) const EVACUATE: Rule = Rule {
    checks_lock: false,
    ..move_rule(
        "evacuate",
        "evacuate",
        &[V::Active, V::Stopped, V::Error],
        T::Rebuilding,
    )
};
pub(crate) const REBUILD: Rule = move_rule(
    "rebuild",
    "rebuild",
    &[V::Active, V::Stopped, V::Error],
    T::Rebuilding,
);

const SNAPSHOT_FROM: &[VmState] = &[V::Active, V::Stopped, V::Paused, V::Suspended];
/// Nova takes snapshots of locked servers too.
pub(crate) const CREATE_IMAGE: Rule = Rule {
    checks_lock: false,
    ..move_rule(
        "createImage",
        "createImage",
        SNAPSHOT_FROM,
        T::ImageSnapshotPending,
    )
};
pub(crate) const CREATE_BACKUP: Rule = Rule {
    checks_lock: false,
    ..move_rule(
        "createBackup",
        "createBackup",
        SNAPSHOT_FROM,
        T::ImageBackup,
    )
};
pub(crate) const SHELVE: Rule = move_rule("shelve", "shelve", SNAPSHOT_FROM, T::Shelving);
pub(crate) const SHELVE_OFFLOAD: Rule = move_rule(
    "shelveOffload",
    "shelveOffload",
    &[V::Shelved],
    T::ShelvingOffloading,
);
pub(crate) const UNSHELVE: Rule = move_rule(
    "unshelve",
    "unshelve",
    &[V::Shelved, V::ShelvedOffloaded],
    T::Unshelving,
);

/// Deletion: any state, any task (it interrupts them).
pub(crate) const DELETE: Rule = Rule {
    api_name: "delete",
    record: "delete",
    vm_states: &[],
    task_states: &[],
    first_task: Some(T::Deleting),
    event: None,
    checks_lock: true,
    needs_launched: false,
};
/// With a reclaim interval: any state but soft-deleted, no task.
pub(crate) const SOFT_DELETE: Rule = Rule {
    task_states: NO_TASK,
    first_task: Some(T::SoftDeleting),
    ..DELETE
};
/// `forceDelete`: no task in flight.
pub(crate) const FORCE_DELETE: Rule = Rule {
    api_name: "forceDelete",
    task_states: NO_TASK,
    ..DELETE
};
pub(crate) const RESTORE: Rule = Rule {
    api_name: "restore",
    record: "restore",
    vm_states: &[V::SoftDeleted],
    task_states: NO_TASK,
    first_task: Some(T::Restoring),
    ..DELETE
};

impl Rule {
    /// Whether `server` is in a state the rule allows.
    pub fn allows(&self, server: &Server) -> bool {
        (self.vm_states.is_empty() || self.vm_states.contains(&server.vm_state))
            && (self.task_states.is_empty() || self.task_states.contains(&server.task_state))
    }

    /// Nova's 409 for a server the rule does not allow: its vm_state when
    /// that is not allowed, else its task state.
    pub fn refusal(&self, server: &Server) -> ComputeError {
        if self.vm_states.is_empty() || self.vm_states.contains(&server.vm_state) {
            let task = server.task_state.map_or("None", TaskState::as_str);
            invalid_state(self.api_name, server, "task_state", task)
        } else {
            invalid_state(self.api_name, server, "vm_state", server.vm_state.as_str())
        }
    }
}

/// Nova's message for a refused state.
pub fn invalid_state(action: &str, server: &Server, attr: &str, state: &str) -> ComputeError {
    ComputeError::Conflict(format!(
        "Cannot '{action}' instance {} while it is in {attr} {state}",
        server.uuid
    ))
}
