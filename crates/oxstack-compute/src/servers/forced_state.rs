//! Forcing a server into any state, for the control plane: tests of how
//! clients handle states that are hard to reach (an ERROR mid-resize, a
//! task that never ends). Nothing runs because of it: a forced task state
//! is worked on by no flow until the process restarts (which resumes the
//! flow that owns that task, if one does), and the hypervisor's periodic
//! power sync corrects a forced power state that the guest does not match.

use crate::model::Server;
use crate::model::change::{Change, Guard};
use crate::model::states::{PowerState, TaskState, VmState};
use crate::{Compute, ComputeError, ComputeResult};

/// The states to force; `None` leaves one as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ForcedState {
    pub vm_state: Option<VmState>,
    /// `Some(None)`: no task.
    pub task_state: Option<Option<TaskState>>,
    pub power_state: Option<PowerState>,
}

impl Compute {
    /// Puts a live server in `forced`, whatever it was in; the server
    /// after.
    pub async fn force_server_state(
        &self,
        uuid: &str,
        forced: &ForcedState,
    ) -> ComputeResult<Server> {
        let not_found = || ComputeError::NotFound(format!("Instance {uuid} could not be found."));
        let live = self.load(uuid).await?.filter(|s| !s.deleted);
        if live.is_none() {
            return Err(not_found());
        }
        let change = Change {
            vm_state: forced.vm_state,
            task_state: forced.task_state,
            power_state: forced.power_state,
            ..Change::default()
        };
        if !self.transition(uuid, &Guard::any(), &change).await? {
            return Err(not_found());
        }
        tracing::warn!(server = %uuid, ?forced, "server state forced");
        self.load(uuid).await?.ok_or_else(not_found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{Cloud, settled};

    #[tokio::test]
    async fn any_state_can_be_forced_and_stays() {
        let cloud = Cloud::new().await;
        let compute = cloud.host().await;
        let uuid = cloud.boot(&compute).await;
        settled(&compute, &uuid).await;
        let forced = ForcedState {
            vm_state: Some(VmState::Error),
            task_state: Some(Some(TaskState::ResizeMigrating)),
            power_state: Some(PowerState::Crashed),
        };
        let server = compute
            .force_server_state(&uuid, &forced)
            .await
            .expect("forced");
        assert_eq!(
            (server.vm_state, server.task_state, server.power_state),
            (
                VmState::Error,
                Some(TaskState::ResizeMigrating),
                PowerState::Crashed
            )
        );
        let cleared = ForcedState {
            task_state: Some(None),
            ..ForcedState::default()
        };
        let server = compute
            .force_server_state(&uuid, &cleared)
            .await
            .expect("forced");
        assert_eq!((server.vm_state, server.task_state), (VmState::Error, None));
        let missing = compute
            .force_server_state("00000000-0000-0000-0000-000000000000", &cleared)
            .await;
        assert!(matches!(missing, Err(ComputeError::NotFound(_))));
    }
}
