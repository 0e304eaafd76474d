//! State transitions in domain terms: which states a compare-and-swap
//! starts from ([`Guard`]) and what it sets ([`Change`]); converted into
//! the store's statement at the last moment.

use oxstack_store::instances::{StateChange, StateGuard};

use super::records::{fault_text, flavor_columns, old_flavor_text};
use super::server::{Fault, FlavorSnapshot};
use super::states::{PowerState, TaskState, VmState};

/// The states a transition may start from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Guard {
    /// `None`: any vm_state.
    pub vm_states: Option<Vec<VmState>>,
    /// `None`: any task state; otherwise one of these (`None`: no task).
    pub task_states: Option<Vec<Option<TaskState>>>,
}

impl Guard {
    /// Any state at all (an admin's reset, a failure that must land).
    pub fn any() -> Self {
        Self::default()
    }

    /// Any vm_state, in this task state.
    pub fn in_task(task: TaskState) -> Self {
        Self {
            vm_states: None,
            task_states: Some(vec![Some(task)]),
        }
    }

    /// One of these vm_states and one of these task states.
    pub fn new(vm_states: &[VmState], task_states: &[Option<TaskState>]) -> Self {
        Self {
            vm_states: Some(vm_states.to_vec()),
            task_states: Some(task_states.to_vec()),
        }
    }

    /// One of these vm_states, with no task in flight.
    pub fn settled_in(vm_states: &[VmState]) -> Self {
        Self::new(vm_states, &[None])
    }
}

/// What a transition sets; `None` leaves a field alone.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Change {
    pub vm_state: Option<VmState>,
    pub task_state: Option<Option<TaskState>>,
    pub power_state: Option<PowerState>,
    pub host: Option<Option<String>>,
    pub node: Option<Option<String>>,
    pub availability_zone: Option<Option<String>>,
    pub launched_at: Option<i64>,
    /// Set when soft-deleted (the reclaim clock), cleared on restore.
    pub deleted_at: Option<Option<i64>>,
    pub fault: Option<Option<Fault>>,
    /// A resize: the flavor to switch to (the project's usage follows).
    pub flavor: Option<FlavorSnapshot>,
    pub old_flavor: Option<Option<FlavorSnapshot>>,
}

impl Change {
    /// Moves on to task state `task`.
    pub fn task(task: TaskState) -> Self {
        Self {
            task_state: Some(Some(task)),
            ..Self::default()
        }
    }

    /// Ends the task, leaving the vm_state as it is.
    pub fn clear_task() -> Self {
        Self {
            task_state: Some(None),
            ..Self::default()
        }
    }

    /// Rests in `vm_state` with the guest in `power`.
    pub fn settle(vm_state: VmState, power: PowerState) -> Self {
        Self {
            vm_state: Some(vm_state),
            task_state: Some(None),
            power_state: Some(power),
            ..Self::default()
        }
    }

    /// ERROR with a fault, the task ended.
    pub fn error(fault: Fault) -> Self {
        Self {
            vm_state: Some(VmState::Error),
            task_state: Some(None),
            fault: Some(Some(fault)),
            ..Self::default()
        }
    }
}

impl From<&Guard> for StateGuard {
    fn from(g: &Guard) -> Self {
        Self {
            vm_states: g
                .vm_states
                .as_ref()
                .map(|v| v.iter().map(|s| s.as_str().to_owned()).collect()),
            task_states: g
                .task_states
                .as_ref()
                .map(|t| t.iter().map(|s| s.map(|s| s.as_str().to_owned())).collect()),
        }
    }
}

impl From<&Change> for StateChange {
    fn from(c: &Change) -> Self {
        Self {
            vm_state: c.vm_state.map(|s| s.as_str().to_owned()),
            task_state: c.task_state.map(|t| t.map(|t| t.as_str().to_owned())),
            power_state: c.power_state.map(PowerState::code),
            progress: None,
            host: c.host.clone(),
            node: c.node.clone(),
            availability_zone: c.availability_zone.clone(),
            launched_at: c.launched_at,
            deleted_at: c.deleted_at,
            fault: c.fault.as_ref().map(|f| f.as_ref().map(fault_text)),
            flavor: c.flavor.as_ref().map(flavor_columns),
            old_flavor: c
                .old_flavor
                .as_ref()
                .map(|f| f.as_ref().map(old_flavor_text)),
        }
    }
}
