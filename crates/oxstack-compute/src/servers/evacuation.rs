//! `evacuate`: a server whose host is down is rebuilt from its image on
//! another host (stopped there if it was, or from 2.95 always), its
//! migration record going `accepted` → `pre-migrating` → `done`.

use oxstack_store::instances::MigrationStep;

use super::Caller;
use super::flow::{Acceptance, Flow, Work, finish};
use super::guest::guest_spec;
use super::migrate::no_valid_host;
use super::rules;
use crate::model::change::{Change, Guard};
use crate::model::states::{TaskState, VmState};
use crate::model::{Fault, MigrationStatus, MigrationType};
use crate::{Compute, ComputeError, ComputeResult};

use MigrationStatus as M;

impl Compute {
    /// `evacuate`: rebuilds a server whose host is down on another host;
    /// `stop` (2.95) leaves it stopped there whatever it was.
    pub async fn evacuate_server(
        &self,
        caller: &Caller,
        id: &str,
        host: Option<&str>,
        stop: bool,
    ) -> ComputeResult<()> {
        let rule = &rules::EVACUATE;
        let server = self.actionable(caller, id, rule).await?;
        if !rule.allows(&server) {
            return Err(rule.refusal(&server));
        }
        let source = server.host.clone().unwrap_or_default();
        let named = match host {
            Some(name) => {
                let Some(dest) = self.find_host(name).await? else {
                    return Err(ComputeError::NotFound(format!(
                        "Compute host {name} not found."
                    )));
                };
                if dest.host == source {
                    return Err(ComputeError::Invalid(
                        "The target host can't be the same one.".into(),
                    ));
                }
                Some(dest)
            }
            None => None,
        };
        if let Some(current) = self.find_host(&source).await?
            && self.service_is_up(&current)
        {
            return Err(ComputeError::Invalid(format!(
                "Compute service of {source} is still in use."
            )));
        }
        let dest = match named {
            Some(dest) => Some(dest),
            None => self.pick_host(&server, Some(&source)).await?,
        };
        let Some(dest) = dest.filter(|d| self.service_is_up(d)) else {
            return Err(ComputeError::Invalid(no_valid_host("evacuate")));
        };
        let migration = self.new_migration(
            &server,
            caller,
            MigrationType::Evacuation,
            M::Accepted,
            (None, None),
            Some((dest.host.clone(), dest.node.clone())),
        );
        // The state the rebuilt server ends in is recorded with the
        // acceptance (the task hides it until then), so that the host that
        // rebuilds it — or resumes the rebuild after a crash — knows it.
        let acceptance = Acceptance {
            change: Change {
                vm_state: stop.then_some(VmState::Stopped),
                host: Some(Some(dest.host.clone())),
                node: Some(Some(dest.node.clone())),
                ..Change::default()
            },
            migration: Some(MigrationStep::Insert(&migration)),
            ..Acceptance::default()
        };
        let action_id = self.accept(caller, &server, rule, acceptance).await?;
        self.dispatch(
            Some(&dest.host),
            &server.uuid,
            Work::new(Flow::Evacuation, Some(action_id)),
        );
        Ok(())
    }

    /// The destination's part of an evacuation: the guest is built again
    /// from its image, stopped if it was stopped.
    pub(crate) async fn run_evacuation(
        &self,
        uuid: &str,
        action_id: Option<i64>,
    ) -> ComputeResult<()> {
        const EVENT: &str = "compute_rebuild_instance";
        let Some(server) = self.load(uuid).await? else {
            return Ok(());
        };
        if server.task_state != Some(TaskState::Rebuilding) {
            return Ok(());
        }
        self.start_event(action_id, EVENT).await?;
        if let Some(m) = self.current_migration(uuid, &[M::Accepted]).await? {
            self.advance_migration(&m, &[M::Accepted], M::PreMigrating)
                .await?;
        }
        let stopped = server.vm_state == VmState::Stopped;
        let guest = guest_spec(&server);
        let mut result = self.driver.spawn(&guest).await;
        if result.is_ok() && stopped {
            result = self.driver.power_off(uuid, std::time::Duration::ZERO).await;
        }
        let error = result.err().map(|e| e.message);
        let end = match &error {
            None => Change {
                fault: Some(None),
                ..Change::settle(
                    if stopped {
                        VmState::Stopped
                    } else {
                        VmState::Active
                    },
                    self.driver.power_state(uuid).await,
                )
            },
            Some(message) => Change::error(Fault::new(500, message, message)),
        };
        let status = if error.is_some() { M::Error } else { M::Done };
        let from = MigrationStatus::names(&[M::Accepted, M::PreMigrating]);
        self.step(
            uuid,
            &Guard::in_task(TaskState::Rebuilding),
            &end,
            finish(action_id, EVENT, error.as_deref()),
            Some(MigrationStep::Advance {
                from: &from,
                to: status.as_str(),
            }),
        )
        .await?;
        Ok(())
    }
}
