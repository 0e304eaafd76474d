//! `migrate`, `os-migrateLive` and `evacuate`. This cloud runs servers on
//! the hosts that share its database; with one host there is nowhere to
//! move a server to, and the answers are Nova's for that case: a cold
//! migration finds no valid host (400), a live migration is accepted and
//! then fails in the background (the server stays where it is, the
//! instance action says why), and an evacuation is refused while the
//! server's host is up.

use oxstack_store::instances::{StateChange, StateGuard};

use super::states::{task, vm};
use super::{Caller, check_lock, refused};
use crate::{Compute, ComputeError, ComputeResult, now_micros};

/// Nova's `NoValidHost` for a migration with no other host.
fn no_valid_host(kind: &str) -> String {
    format!("No valid host was found. No valid host found for {kind}")
}

impl Compute {
    /// Checks an explicitly requested destination host.
    fn check_destination(&self, host: Option<&str>) -> ComputeResult<()> {
        match host {
            None => Ok(()),
            Some(h) if h == self.host => Err(ComputeError::Invalid(
                "The target host can't be the same one.".into(),
            )),
            Some(h) => Err(ComputeError::Invalid(format!(
                "Compute host {h} could not be found."
            ))),
        }
    }

    /// `migrate` (cold): no other host can take the server.
    pub async fn migrate_server(
        &self,
        caller: &Caller,
        id: &str,
        host: Option<&str>,
    ) -> ComputeResult<()> {
        let server = self.get_server(caller, id).await?;
        check_lock(&server, caller)?;
        let from = [vm::ACTIVE, vm::STOPPED];
        if !from.contains(&server.vm_state.as_str()) || server.task_state.is_some() {
            return Err(refused("migrate", &server, &from));
        }
        self.check_destination(host)?;
        Err(ComputeError::Invalid(no_valid_host("cold migrate")))
    }

    /// `os-migrateLive`: accepted, then fails for want of a destination.
    pub async fn live_migrate_server(
        &self,
        caller: &Caller,
        id: &str,
        host: Option<&str>,
    ) -> ComputeResult<()> {
        let server = self.get_server(caller, id).await?;
        check_lock(&server, caller)?;
        self.check_destination(host)?;
        let from = [vm::ACTIVE, vm::PAUSED];
        let guard = StateGuard::settled_in(&from);
        let migrating = StateChange {
            task_state: Some(Some(task::MIGRATING.into())),
            ..StateChange::default()
        };
        let repo = self.store.instances();
        if !repo
            .transition(id, &guard, &migrating, now_micros())
            .await?
        {
            let now = self.get_server(caller, id).await?;
            return Err(refused("os-migrateLive", &now, &from));
        }
        let action_id = self
            .record_action(&server, caller, "live-migration")
            .await?;
        self.record_migration(&server, caller, "live-migration", "accepted", (None, None))
            .await?;
        let compute = self.clone();
        let uuid = server.uuid.clone();
        tokio::spawn(async move {
            if let Err(e) = compute.fail_live_migration(&uuid, action_id).await {
                tracing::error!(server = %uuid, error = %e, "live migration bookkeeping failed");
            }
        });
        Ok(())
    }

    async fn fail_live_migration(&self, uuid: &str, action_id: i64) -> ComputeResult<()> {
        let event = "conductor_live_migrate_instance";
        let actions = self.store.instance_actions();
        actions
            .start_event(action_id, event, &self.host, now_micros())
            .await?;
        let back = StateChange {
            task_state: Some(None),
            ..StateChange::default()
        };
        let from = StateGuard::in_task(task::MIGRATING);
        self.store
            .instances()
            .transition(uuid, &from, &back, now_micros())
            .await?;
        self.advance_migration(uuid, &["accepted"], "error").await?;
        let reason = no_valid_host("live migration");
        actions
            .finish(action_id, event, Some(&reason), now_micros())
            .await?;
        Ok(())
    }

    /// `evacuate`: only for servers whose host is down, and this host is up.
    pub async fn evacuate_server(
        &self,
        caller: &Caller,
        id: &str,
        host: Option<&str>,
    ) -> ComputeResult<()> {
        let server = self.get_server(caller, id).await?;
        let from = [vm::ACTIVE, vm::STOPPED, vm::ERROR];
        if !from.contains(&server.vm_state.as_str()) || server.task_state.is_some() {
            return Err(refused("evacuate", &server, &from));
        }
        if let Some(target) = host.filter(|h| *h != self.host) {
            return Err(ComputeError::NotFound(format!(
                "Compute host {target} could not be found."
            )));
        }
        Err(ComputeError::Invalid(format!(
            "Compute service of {} is still in use.",
            server.host.as_deref().unwrap_or(&self.host)
        )))
    }
}
