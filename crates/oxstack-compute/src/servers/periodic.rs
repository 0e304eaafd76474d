//! The compute manager's periodic tasks (Nova's `_reclaim_queued_deletes`
//! and `_poll_unconfirmed_resizes`): soft-deleted servers are deleted once
//! `reclaim_instance_interval` has passed, resized servers confirmed once
//! `resize_confirm_window` has.

use std::time::Duration;

use crate::model::Server;
use crate::model::states::VmState;
use crate::{Compute, ComputeResult, now_micros};

impl Compute {
    /// Live servers that have rested in `vm_state` with no task for longer
    /// than `age`.
    pub(crate) async fn waiting(
        &self,
        vm_state: VmState,
        age: Duration,
    ) -> ComputeResult<Vec<Server>> {
        let before = now_micros() - i64::try_from(age.as_micros()).unwrap_or(i64::MAX);
        let repo = self.store.instances();
        let mut servers = Vec::new();
        for uuid in repo.waiting_in(vm_state.as_str(), before).await? {
            if let Some(server) = self.load(&uuid).await? {
                servers.push(server);
            }
        }
        Ok(servers)
    }

    /// Runs the periodic tasks that are configured, until the process
    /// ends (returns at once when none is).
    pub async fn run_periodic_tasks(self) {
        let intervals = [
            self.settings.reclaim_instance_interval,
            self.settings.resize_confirm_window,
        ];
        let Some(shortest) = intervals.into_iter().filter(|d| !d.is_zero()).min() else {
            return;
        };
        let tick = (shortest / 2).clamp(Duration::from_millis(500), Duration::from_secs(60));
        let mut timer = tokio::time::interval(tick);
        loop {
            timer.tick().await;
            if !self.settings.reclaim_instance_interval.is_zero()
                && let Err(e) = self.reclaim_due().await
            {
                tracing::warn!(error = %e, "reclaiming soft-deleted servers failed");
            }
            if !self.settings.resize_confirm_window.is_zero()
                && let Err(e) = self.confirm_due_resizes().await
            {
                tracing::warn!(error = %e, "confirming resizes failed");
            }
        }
    }
}
