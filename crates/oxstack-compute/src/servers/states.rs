//! Nova's instance states and the API status derived from them
//! (`nova/compute/vm_states.py`, `task_states.py`,
//! `nova/api/openstack/common.py` `_STATE_MAP`).

/// vm_state values.
pub mod vm {
    pub const ACTIVE: &str = "active";
    pub const BUILDING: &str = "building";
    pub const PAUSED: &str = "paused";
    pub const SUSPENDED: &str = "suspended";
    pub const STOPPED: &str = "stopped";
    pub const RESCUED: &str = "rescued";
    pub const RESIZED: &str = "resized";
    pub const SOFT_DELETED: &str = "soft-delete";
    pub const DELETED: &str = "deleted";
    pub const ERROR: &str = "error";
    pub const SHELVED: &str = "shelved";
    pub const SHELVED_OFFLOADED: &str = "shelved_offloaded";
}

/// task_state values used by the build and delete flows.
pub mod task {
    pub const SCHEDULING: &str = "scheduling";
    pub const NETWORKING: &str = "networking";
    pub const BLOCK_DEVICE_MAPPING: &str = "block_device_mapping";
    pub const SPAWNING: &str = "spawning";
    pub const DELETING: &str = "deleting";
    pub const SOFT_DELETING: &str = "soft-deleting";
    pub const RESTORING: &str = "restoring";
    pub const MIGRATING: &str = "migrating";
}

const REBOOT: &[&str] = &["rebooting", "reboot_pending", "reboot_started"];
const HARD_REBOOT: &[&str] = &[
    "rebooting_hard",
    "reboot_pending_hard",
    "reboot_started_hard",
];
const REBUILD: &[&str] = &[
    "rebuilding",
    "rebuild_block_device_mapping",
    "rebuild_spawning",
];
const RESIZE: &[&str] = &[
    "resize_prep",
    "resize_migrating",
    "resize_migrated",
    "resize_finish",
];

/// One row of Nova's state map: a vm_state, its default status and the
/// task states that override it.
struct StateRow {
    vm_state: &'static str,
    default: &'static str,
    overrides: &'static [(&'static [&'static str], &'static str)],
}

const STATE_MAP: &[StateRow] = &[
    StateRow {
        vm_state: vm::ACTIVE,
        default: "ACTIVE",
        overrides: &[
            (REBOOT, "REBOOT"),
            (HARD_REBOOT, "HARD_REBOOT"),
            (&["updating_password"], "PASSWORD"),
            (REBUILD, "REBUILD"),
            (&["migrating"], "MIGRATING"),
            (RESIZE, "RESIZE"),
        ],
    },
    StateRow {
        vm_state: vm::BUILDING,
        default: "BUILD",
        overrides: &[],
    },
    StateRow {
        vm_state: vm::STOPPED,
        default: "SHUTOFF",
        overrides: &[(RESIZE, "RESIZE"), (REBUILD, "REBUILD")],
    },
    StateRow {
        vm_state: vm::RESIZED,
        default: "VERIFY_RESIZE",
        overrides: &[(&["resize_reverting"], "REVERT_RESIZE")],
    },
    StateRow {
        vm_state: vm::PAUSED,
        default: "PAUSED",
        overrides: &[(&["migrating"], "MIGRATING")],
    },
    StateRow {
        vm_state: vm::SUSPENDED,
        default: "SUSPENDED",
        overrides: &[],
    },
    StateRow {
        vm_state: vm::RESCUED,
        default: "RESCUE",
        overrides: &[],
    },
    StateRow {
        vm_state: vm::ERROR,
        default: "ERROR",
        overrides: &[(REBUILD, "REBUILD")],
    },
    StateRow {
        vm_state: vm::DELETED,
        default: "DELETED",
        overrides: &[],
    },
    StateRow {
        vm_state: vm::SOFT_DELETED,
        default: "SOFT_DELETED",
        overrides: &[],
    },
    StateRow {
        vm_state: vm::SHELVED,
        default: "SHELVED",
        overrides: &[],
    },
    StateRow {
        vm_state: vm::SHELVED_OFFLOADED,
        default: "SHELVED_OFFLOADED",
        overrides: &[],
    },
];

/// The API status of a (vm_state, task_state) pair.
pub fn status(vm_state: &str, task_state: Option<&str>) -> &'static str {
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
/// `task_and_vm_state_from_status`): vm_states, and task_states unless a
/// matched status is some vm_state's default (then any task state).
/// `None` when no status matched.
pub fn states_for_statuses(statuses: &[String]) -> Option<(Vec<String>, Option<Vec<String>>)> {
    let wanted: Vec<String> = statuses.iter().map(|s| s.to_uppercase()).collect();
    let mut vm_states = Vec::new();
    let mut task_states = Vec::new();
    let mut any_default = false;
    for row in STATE_MAP {
        if wanted.iter().any(|w| w == row.default) {
            vm_states.push(row.vm_state.to_owned());
            any_default = true;
        }
        for (tasks, status) in row.overrides {
            if wanted.iter().any(|w| w == status) {
                vm_states.push(row.vm_state.to_owned());
                task_states.extend(tasks.iter().map(|t| (*t).to_owned()));
            }
        }
    }
    if vm_states.is_empty() {
        return None;
    }
    vm_states.sort();
    vm_states.dedup();
    task_states.sort();
    task_states.dedup();
    Some((vm_states, (!any_default).then_some(task_states)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_follows_nova_state_map() {
        assert_eq!(status("active", None), "ACTIVE");
        assert_eq!(status("active", Some("rebooting")), "REBOOT");
        assert_eq!(status("active", Some("reboot_started_hard")), "HARD_REBOOT");
        assert_eq!(status("active", Some("deleting")), "ACTIVE");
        assert_eq!(status("building", Some("spawning")), "BUILD");
        assert_eq!(status("stopped", Some("resize_prep")), "RESIZE");
        assert_eq!(status("resized", Some("resize_reverting")), "REVERT_RESIZE");
        assert_eq!(status("soft-delete", None), "SOFT_DELETED");
        assert_eq!(status("bogus", None), "UNKNOWN");
    }

    #[test]
    fn status_filters_map_back_to_states() {
        let (vm, task) = states_for_statuses(&["active".into()]).expect("matches");
        assert_eq!(vm, vec!["active"]);
        assert_eq!(task, None);
        let (vm, task) = states_for_statuses(&["REBOOT".into()]).expect("matches");
        assert_eq!(vm, vec!["active"]);
        assert_eq!(
            task,
            Some(vec![
                "reboot_pending".to_owned(),
                "reboot_started".into(),
                "rebooting".into()
            ])
        );
        assert!(states_for_statuses(&["nonsense".into()]).is_none());
    }
}
