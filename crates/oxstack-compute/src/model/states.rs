//! Nova's instance states (`nova/compute/vm_states.py`, `task_states.py`,
//! `power_state.py`) and the API status derived from a (vm_state,
//! task_state) pair (`nova/api/openstack/common.py` `_STATE_MAP`).
//!
//! The strings are Nova's: they are stored, shown as `OS-EXT-STS:*` and
//! matched by clients, so each enum converts to and from them exactly.

use strum::{EnumString, IntoStaticStr, VariantArray};

pub use oxstack_virt::PowerState;

/// Where a server rests (`OS-EXT-STS:vm_state`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumString, IntoStaticStr, VariantArray)]
#[strum(serialize_all = "snake_case")]
pub enum VmState {
    Active,
    Building,
    Paused,
    Suspended,
    Stopped,
    Rescued,
    Resized,
    #[strum(serialize = "soft-delete")]
    SoftDeleted,
    Deleted,
    Error,
    Shelved,
    ShelvedOffloaded,
}

/// What a server is doing (`OS-EXT-STS:task_state`); none when it rests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumString, IntoStaticStr, VariantArray)]
#[strum(serialize_all = "snake_case")]
pub enum TaskState {
    Scheduling,
    BlockDeviceMapping,
    Networking,
    Spawning,
    ImageSnapshot,
    ImageSnapshotPending,
    ImagePendingUpload,
    ImageUploading,
    ImageBackup,
    UpdatingPassword,
    ResizePrep,
    ResizeMigrating,
    ResizeMigrated,
    ResizeFinish,
    ResizeReverting,
    ResizeConfirming,
    Rebooting,
    RebootPending,
    RebootStarted,
    RebootingHard,
    RebootPendingHard,
    RebootStartedHard,
    Pausing,
    Unpausing,
    Suspending,
    Resuming,
    #[strum(serialize = "powering-off")]
    PoweringOff,
    #[strum(serialize = "powering-on")]
    PoweringOn,
    Rescuing,
    Unrescuing,
    Rebuilding,
    RebuildBlockDeviceMapping,
    RebuildSpawning,
    Migrating,
    Deleting,
    #[strum(serialize = "soft-deleting")]
    SoftDeleting,
    Restoring,
    Shelving,
    ShelvingImagePendingUpload,
    ShelvingImageUploading,
    ShelvingOffloading,
    Unshelving,
}

impl VmState {
    /// Nova's string.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The state named by Nova's string.
    pub fn parse(text: &str) -> Option<Self> {
        text.parse().ok()
    }
}

impl TaskState {
    /// Nova's string.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The state named by Nova's string.
    pub fn parse(text: &str) -> Option<Self> {
        text.parse().ok()
    }
}

impl std::fmt::Display for VmState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Display for TaskState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

use TaskState as T;

const REBOOT: &[TaskState] = &[T::Rebooting, T::RebootPending, T::RebootStarted];
const HARD_REBOOT: &[TaskState] = &[T::RebootingHard, T::RebootPendingHard, T::RebootStartedHard];
const REBUILD: &[TaskState] = &[
    T::Rebuilding,
    T::RebuildBlockDeviceMapping,
    T::RebuildSpawning,
];
const RESIZE: &[TaskState] = &[
    T::ResizePrep,
    T::ResizeMigrating,
    T::ResizeMigrated,
    T::ResizeFinish,
];

/// One row of Nova's state map: a vm_state, its default status and the
/// task states that override it.
struct StateRow {
    vm_state: VmState,
    default: &'static str,
    overrides: &'static [(&'static [TaskState], &'static str)],
}

const STATE_MAP: &[StateRow] = &[
    StateRow {
        vm_state: VmState::Active,
        default: "ACTIVE",
        overrides: &[
            (REBOOT, "REBOOT"),
            (HARD_REBOOT, "HARD_REBOOT"),
            (&[T::UpdatingPassword], "PASSWORD"),
            (REBUILD, "REBUILD"),
            (&[T::Migrating], "MIGRATING"),
            (RESIZE, "RESIZE"),
        ],
    },
    StateRow {
        vm_state: VmState::Building,
        default: "BUILD",
        overrides: &[],
    },
    StateRow {
        vm_state: VmState::Stopped,
        default: "SHUTOFF",
        overrides: &[(RESIZE, "RESIZE"), (REBUILD, "REBUILD")],
    },
    StateRow {
        vm_state: VmState::Resized,
        default: "VERIFY_RESIZE",
        overrides: &[(&[T::ResizeReverting], "REVERT_RESIZE")],
    },
    StateRow {
        vm_state: VmState::Paused,
        default: "PAUSED",
        overrides: &[(&[T::Migrating], "MIGRATING")],
    },
    StateRow {
        vm_state: VmState::Suspended,
        default: "SUSPENDED",
        overrides: &[],
    },
    StateRow {
        vm_state: VmState::Rescued,
        default: "RESCUE",
        overrides: &[],
    },
    StateRow {
        vm_state: VmState::Error,
        default: "ERROR",
        overrides: &[(REBUILD, "REBUILD")],
    },
    StateRow {
        vm_state: VmState::Deleted,
        default: "DELETED",
        overrides: &[],
    },
    StateRow {
        vm_state: VmState::SoftDeleted,
        default: "SOFT_DELETED",
        overrides: &[],
    },
    StateRow {
        vm_state: VmState::Shelved,
        default: "SHELVED",
        overrides: &[],
    },
    StateRow {
        vm_state: VmState::ShelvedOffloaded,
        default: "SHELVED_OFFLOADED",
        overrides: &[],
    },
];

/// The API status of a (vm_state, task_state) pair.
pub fn status(vm_state: VmState, task_state: Option<TaskState>) -> &'static str {
    let Some(row) = STATE_MAP.iter().find(|r| r.vm_state == vm_state) else {
        return "UNKNOWN";
    };
    if let Some(task) = task_state {
        for (tasks, status) in row.overrides {
            if tasks.contains(&task) {
                return status;
            }
        }
    }
    row.default
}

/// The states a `?status=` filter selects (Nova's
/// `task_and_vm_state_from_status`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusStates {
    pub vm_states: Vec<VmState>,
    /// `None`: any task state (a matched status is some vm_state's default).
    pub task_states: Option<Vec<TaskState>>,
}

/// The states of `statuses` (case-insensitive); `None` when none matched.
pub fn states_for_statuses(statuses: &[String]) -> Option<StatusStates> {
    let wanted: Vec<String> = statuses.iter().map(|s| s.to_uppercase()).collect();
    let mut vm_states = Vec::new();
    let mut task_states = Vec::new();
    let mut any_default = false;
    for row in STATE_MAP {
        if wanted.iter().any(|w| w == row.default) {
            vm_states.push(row.vm_state);
            any_default = true;
        }
        for (tasks, status) in row.overrides {
            if wanted.iter().any(|w| w == status) {
                vm_states.push(row.vm_state);
                task_states.extend_from_slice(tasks);
            }
        }
    }
    if vm_states.is_empty() {
        return None;
    }
    let by_name = |a: &VmState, b: &VmState| a.as_str().cmp(b.as_str());
    vm_states.sort_by(by_name);
    vm_states.dedup();
    task_states.sort_by_key(|t| t.as_str());
    task_states.dedup();
    Some(StatusStates {
        vm_states,
        task_states: (!any_default).then_some(task_states),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_round_trips_through_novas_string() {
        for vm in VmState::VARIANTS {
            assert_eq!(VmState::parse(vm.as_str()), Some(*vm));
        }
        for task in TaskState::VARIANTS {
            assert_eq!(TaskState::parse(task.as_str()), Some(*task));
        }
        assert_eq!(VmState::SoftDeleted.as_str(), "soft-delete");
        assert_eq!(VmState::ShelvedOffloaded.as_str(), "shelved_offloaded");
        assert_eq!(TaskState::PoweringOff.as_str(), "powering-off");
        assert_eq!(TaskState::SoftDeleting.as_str(), "soft-deleting");
        assert_eq!(
            TaskState::ShelvingImagePendingUpload.as_str(),
            "shelving_image_pending_upload"
        );
        assert_eq!(VmState::parse("bogus"), None);
    }

    #[test]
    fn status_follows_nova_state_map() {
        use TaskState as T;
        use VmState as V;
        assert_eq!(status(V::Active, None), "ACTIVE");
        assert_eq!(status(V::Active, Some(T::Rebooting)), "REBOOT");
        assert_eq!(status(V::Active, Some(T::RebootStartedHard)), "HARD_REBOOT");
        assert_eq!(status(V::Active, Some(T::Deleting)), "ACTIVE");
        assert_eq!(status(V::Building, Some(T::Spawning)), "BUILD");
        assert_eq!(status(V::Stopped, Some(T::ResizePrep)), "RESIZE");
        assert_eq!(
            status(V::Resized, Some(T::ResizeReverting)),
            "REVERT_RESIZE"
        );
        assert_eq!(status(V::SoftDeleted, None), "SOFT_DELETED");
    }

    #[test]
    fn status_filters_map_back_to_states() {
        let active = states_for_statuses(&["active".into()]).expect("matches");
        assert_eq!(active.vm_states, vec![VmState::Active]);
        assert_eq!(active.task_states, None);
        let reboot = states_for_statuses(&["REBOOT".into()]).expect("matches");
        assert_eq!(reboot.vm_states, vec![VmState::Active]);
        assert_eq!(
            reboot.task_states,
            Some(vec![
                TaskState::RebootPending,
                TaskState::RebootStarted,
                TaskState::Rebooting,
            ])
        );
        assert!(states_for_statuses(&["nonsense".into()]).is_none());
    }
}
