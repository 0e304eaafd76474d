//! Moving servers between compute hosts: `migrate` (cold: the resize flow
//! with the same flavor on another host, confirmed or reverted like a
//! resize) here; `os-migrateLive` in `live_migration.rs`, `evacuate` in
//! `evacuation.rs`. The scheduler picks the destination unless the request
//! names one. Each move runs on the hosts that take part: the source
//! host's part ends by handing the server to the destination host (its
//! `host` changes in the same compare-and-swap), whose part finishes it.

use oxstack_store::instances::MigrationStep;
use oxstack_store::services::ServiceRow;

use super::Caller;
use super::flow::{Acceptance, Flow, Work};
use super::rules;
use crate::model::change::Change;
use crate::model::{MigrationStatus, MigrationType, Server};
use crate::{Compute, ComputeError, ComputeResult};

use MigrationStatus as M;

/// Nova's `NoValidHost` for a move with no host to go to.
pub(super) fn no_valid_host(kind: &str) -> String {
    format!("No valid host was found. No valid host found for {kind}")
}

impl Compute {
    /// Nova's `check_instance_host(check_is_up=True)`: a resize or cold
    /// migration needs the server's own host to do its part.
    pub(crate) async fn check_host_is_up(&self, server: &Server) -> ComputeResult<()> {
        let Some(host) = server.host.as_deref() else {
            return Err(ComputeError::Conflict(format!(
                "Instance {} is not ready",
                server.uuid
            )));
        };
        match self.find_host(host).await? {
            Some(service) if !self.service_is_up(&service) => Err(ComputeError::Conflict(
                "Service is unavailable at this time.".into(),
            )),
            _ => Ok(()),
        }
    }

    /// A destination named by a request: a known compute host, else
    /// Nova's 400.
    pub(crate) async fn named_host(&self, name: &str) -> ComputeResult<ServiceRow> {
        self.find_host(name).await?.ok_or_else(|| {
            ComputeError::Invalid(format!("Compute host {name} could not be found."))
        })
    }

    /// `migrate` (cold): to `host`, or where the scheduler finds room.
    pub async fn migrate_server(
        &self,
        caller: &Caller,
        id: &str,
        host: Option<&str>,
    ) -> ComputeResult<()> {
        let rule = &rules::MIGRATE;
        let server = self.actionable(caller, id, rule).await?;
        if !rule.allows(&server) {
            return Err(rule.refusal(&server));
        }
        self.check_host_is_up(&server).await?;
        let dest = match host {
            Some(name) => {
                let named = self.named_host(name).await?;
                if Some(&named.host) == server.host.as_ref() {
                    return Err(ComputeError::Invalid(
                        "Cannot migrate to the host where the server exists.".into(),
                    ));
                }
                Some(named).filter(|d| !d.disabled && self.service_is_up(d))
            }
            None => self.pick_host(&server, server.host.as_deref()).await?,
        };
        let Some(dest) = dest else {
            return Err(ComputeError::Invalid(no_valid_host("cold migrate")));
        };
        let seq = self.flavor_seq(&server.flavor.id).await?;
        let migration = self.new_migration(
            &server,
            caller,
            MigrationType::Migration,
            M::PreMigrating,
            (seq, seq),
            Some((dest.host, dest.node)),
        );
        let acceptance = Acceptance {
            change: Change {
                old_flavor: Some(Some(server.flavor.clone())),
                ..Change::default()
            },
            migration: Some(MigrationStep::Insert(&migration)),
            ..Acceptance::default()
        };
        let action_id = self.accept(caller, &server, rule, acceptance).await?;
        self.dispatch(
            server.host.as_deref(),
            &server.uuid,
            Work::new(Flow::Resize, Some(action_id)),
        );
        Ok(())
    }
}
