//! Deferred delete (Nova's `reclaim_instance_interval`): a deleted server
//! is powered off and kept `SOFT_DELETED`; its owner may `restore` it or
//! `forceDelete` it, and the reaper deletes it for real once the interval
//! has passed.

use std::time::Duration;

use super::Caller;
use super::flow::{Acceptance, Flow, Work, finish};
use super::rules;
use crate::model::Server;
use crate::model::change::{Change, Guard};
use crate::model::states::{PowerState, TaskState, VmState};
use crate::{Compute, ComputeResult, now_micros};

impl Compute {
    /// Starts a soft delete; `false` when the server is not in a state
    /// that allows one (a task in flight, already soft-deleted), in which
    /// case Nova falls back to a hard delete.
    pub(crate) async fn soft_delete(
        &self,
        caller: &Caller,
        server: &Server,
    ) -> ComputeResult<bool> {
        let rule = &rules::SOFT_DELETE;
        if server.vm_state == VmState::SoftDeleted || !rule.allows(server) {
            return Ok(false);
        }
        let action_id = match self
            .accept(caller, server, rule, Acceptance::default())
            .await
        {
            Ok(action_id) => action_id,
            Err(crate::ComputeError::Conflict(_)) => return Ok(false),
            Err(e) => return Err(e),
        };
        self.dispatch(
            server.host.as_deref(),
            &server.uuid,
            Work::new(Flow::SoftDelete, Some(action_id)),
        );
        Ok(true)
    }

    /// The guest is powered off and the server kept, as the event
    /// `compute_soft_delete_instance` of its `delete` action.
    pub(crate) async fn run_soft_delete(
        &self,
        uuid: &str,
        action_id: Option<i64>,
    ) -> ComputeResult<()> {
        const EVENT: &str = "compute_soft_delete_instance";
        self.start_event(action_id, EVENT).await?;
        if let Err(e) = self.driver.power_off(uuid, Duration::ZERO).await {
            tracing::warn!(server = %uuid, error = %e, "power off for soft delete failed");
        }
        let done = Change {
            deleted_at: Some(Some(now_micros())),
            ..Change::settle(VmState::SoftDeleted, PowerState::Shutdown)
        };
        let guard = Guard::in_task(TaskState::SoftDeleting);
        self.step(uuid, &guard, &done, finish(action_id, EVENT, None), None)
            .await?;
        Ok(())
    }

    /// `restore`: a soft-deleted server comes back, powered on.
    pub async fn restore_server(&self, caller: &Caller, id: &str) -> ComputeResult<()> {
        let rule = &rules::RESTORE;
        let server = self.actionable(caller, id, rule).await?;
        let action_id = self
            .accept(caller, &server, rule, Acceptance::default())
            .await?;
        self.dispatch(
            server.host.as_deref(),
            &server.uuid,
            Work::new(Flow::Restore, Some(action_id)),
        );
        Ok(())
    }

    /// The guest is powered on again, as the event
    /// `compute_restore_instance` of its `restore` action.
    pub(crate) async fn run_restore(
        &self,
        uuid: &str,
        action_id: Option<i64>,
    ) -> ComputeResult<()> {
        const EVENT: &str = "compute_restore_instance";
        let Some(server) = self.load(uuid).await? else {
            return Ok(());
        };
        self.start_event(action_id, EVENT).await?;
        let power = match self.driver.power_on(&self.guest_of(&server).await?).await {
            Ok(()) => PowerState::Running,
            Err(e) => {
                tracing::warn!(server = %uuid, error = %e, "power on for restore failed");
                PowerState::Shutdown
            }
        };
        let active = Change {
            deleted_at: Some(None),
            ..Change::settle(VmState::Active, power)
        };
        let guard = Guard::in_task(TaskState::Restoring);
        self.step(uuid, &guard, &active, finish(action_id, EVENT, None), None)
            .await?;
        Ok(())
    }

    /// `forceDelete`: deletes at once, whatever the reclaim interval.
    pub async fn force_delete_server(&self, caller: &Caller, id: &str) -> ComputeResult<()> {
        let server = self.actionable(caller, id, &rules::FORCE_DELETE).await?;
        self.hard_delete(Some(caller), server, &rules::FORCE_DELETE)
            .await
    }

    /// Deletes for real the soft-deleted servers whose interval is over.
    pub(crate) async fn reclaim_due(&self) -> ComputeResult<()> {
        let interval = self.settings.reclaim_instance_interval;
        for server in self.waiting(VmState::SoftDeleted, interval).await? {
            tracing::info!(server = %server.uuid, "reclaiming a soft-deleted server");
            self.hard_delete(None, server, &rules::FORCE_DELETE).await?;
        }
        Ok(())
    }
}
