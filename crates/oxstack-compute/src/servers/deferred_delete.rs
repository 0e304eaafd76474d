//! Deferred delete (Nova's `reclaim_instance_interval`): a deleted server
//! is powered off and kept `SOFT_DELETED`; its owner may `restore` it or
//! `forceDelete` it, and the reaper deletes it for real once the interval
//! has passed.

use oxstack_store::instances::{StateChange, StateGuard};
use oxstack_virt::{Operation, PowerState};

use super::states::{task, vm};
use super::{Caller, Server, check_lock, invalid_state};
use crate::{Compute, ComputeResult, now_micros};

fn no_task() -> Option<Vec<Option<String>>> {
    Some(vec![None])
}

impl Compute {
    /// Starts a soft delete; `false` when the server is not in a state
    /// that allows one (a task in flight, already soft-deleted), in which
    /// case Nova falls back to a hard delete.
    pub(crate) async fn soft_delete(&self, server: &Server) -> ComputeResult<bool> {
        if server.vm_state == vm::SOFT_DELETED {
            return Ok(false);
        }
        let guard = StateGuard {
            vm_states: None,
            task_states: no_task(),
        };
        let change = StateChange {
            task_state: Some(Some(task::SOFT_DELETING.into())),
            ..StateChange::default()
        };
        let repo = self.store.instances();
        if !repo
            .transition(&server.uuid, &guard, &change, now_micros())
            .await?
        {
            return Ok(false);
        }
        let uuid = server.uuid.clone();
        self.dispatch(
            server.host.as_deref(),
            &server.uuid,
            move |compute| async move {
                if let Err(e) = compute.finish_soft_delete(&uuid).await {
                    tracing::error!(server = %uuid, error = %e, "soft delete failed");
                }
            },
        );
        Ok(true)
    }

    pub(crate) async fn finish_soft_delete(&self, uuid: &str) -> ComputeResult<()> {
        if let Err(e) = self.driver.operate(uuid, Operation::PowerOff).await {
            tracing::warn!(server = %uuid, error = %e, "power off for soft delete failed");
        }
        let guard = StateGuard::in_task(task::SOFT_DELETING);
        let done = StateChange {
            vm_state: Some(vm::SOFT_DELETED.into()),
            task_state: Some(None),
            power_state: Some(PowerState::Shutdown.code()),
            deleted_at: Some(Some(now_micros())),
            ..StateChange::default()
        };
        self.store
            .instances()
            .transition(uuid, &guard, &done, now_micros())
            .await?;
        Ok(())
    }

    /// `restore`: a soft-deleted server comes back, powered on.
    pub async fn restore_server(&self, caller: &Caller, id: &str) -> ComputeResult<()> {
        let server = self.get_server(caller, id).await?;
        check_lock(&server, caller)?;
        let guard = StateGuard {
            vm_states: Some(vec![vm::SOFT_DELETED.into()]),
            task_states: no_task(),
        };
        let restoring = StateChange {
            task_state: Some(Some(task::RESTORING.into())),
            ..StateChange::default()
        };
        let repo = self.store.instances();
        if !repo
            .transition(id, &guard, &restoring, now_micros())
            .await?
        {
            return Err(match server.task_state.as_deref() {
                Some(t) if server.vm_state == vm::SOFT_DELETED => {
                    invalid_state("restore", &server, "task_state", t)
                }
                _ => invalid_state("restore", &server, "vm_state", &server.vm_state),
            });
        }
        let uuid = server.uuid.clone();
        self.dispatch(
            server.host.as_deref(),
            &server.uuid,
            move |compute| async move {
                compute.finish_restore(&uuid).await;
            },
        );
        Ok(())
    }

    pub(crate) async fn finish_restore(&self, uuid: &str) {
        let power = match self.driver.operate(uuid, Operation::PowerOn).await {
            Ok(()) => PowerState::Running,
            Err(e) => {
                tracing::warn!(server = %uuid, error = %e, "power on for restore failed");
                PowerState::Shutdown
            }
        };
        let guard = StateGuard::in_task(task::RESTORING);
        let active = StateChange {
            vm_state: Some(vm::ACTIVE.into()),
            task_state: Some(None),
            power_state: Some(power.code()),
            deleted_at: Some(None),
            ..StateChange::default()
        };
        let repo = self.store.instances();
        if let Err(e) = repo.transition(uuid, &guard, &active, now_micros()).await {
            tracing::error!(server = %uuid, error = %e, "restore failed");
        }
    }

    /// `forceDelete`: deletes at once, whatever the reclaim interval.
    pub async fn force_delete_server(&self, caller: &Caller, id: &str) -> ComputeResult<()> {
        let server = self.get_server(caller, id).await?;
        check_lock(&server, caller)?;
        if let Some(t) = server.task_state.as_deref() {
            return Err(invalid_state("forceDelete", &server, "task_state", t));
        }
        self.record_action(&server, caller, "delete").await?;
        self.hard_delete(server).await
    }

    /// Deletes for real the soft-deleted servers whose interval is over.
    pub(crate) async fn reclaim_due(&self) -> ComputeResult<()> {
        let interval = self.settings.reclaim_instance_interval;
        for server in self.waiting(vm::SOFT_DELETED, interval).await? {
            tracing::info!(server = %server.uuid, "reclaiming a soft-deleted server");
            self.hard_delete(server).await?;
        }
        Ok(())
    }
}
