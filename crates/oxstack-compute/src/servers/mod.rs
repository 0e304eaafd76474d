//! Servers (Nova's instances): creation with quota and addresses, the
//! flows that change them (see [`flow`] for the one model they follow,
//! [`rules`] for which states allow what), listing, updates, metadata and
//! tags.

mod admission;
mod build;
mod consoles;
mod create;
mod deferred_delete;
mod diagnostics;
mod evacuation;
pub mod external_events;
mod floating_ips;
pub(crate) mod flow;
mod forced_state;
mod guest;
pub mod instance_actions;
pub mod interfaces;
mod list;
mod live_migration;
mod migrate;
mod migrations;
mod multinic;
pub mod network;
mod password;
mod periodic;
mod power;
mod power_sync;
mod rebuild;
mod resize;
pub(crate) mod rules;
pub mod security_groups;
pub mod shelve;
pub mod snapshot;
mod update;
mod volume_backed;
pub mod volumes;

use crate::model::{LockedBy, Server};
use crate::{Compute, ComputeError, ComputeResult};

pub use create::{
    BlockDevice, BootImage, CreateRequest, Created, Networks, RequestedNic, generate_password,
};
pub use floating_ips::FloatingIp;
pub use forced_state::ForcedState;
pub use list::{ListRequest, RegexField, ServerFilter, ServerSortKey, ServerSummary};
pub use migrations::MigrationFilter;
pub use power::{PowerAction, PowerRequest};
pub use rebuild::RebuildRequest;
pub use update::{MAX_TAGS, ServerUpdate};
pub use volumes::VolumeAttachRequest;

/// Who is acting on servers: their project and user, whether they are an
/// admin (who sees and may act on every project's servers), and the
/// request they act through (instance actions are recorded under its id).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub project_id: String,
    pub user_id: String,
    pub is_admin: bool,
    pub request_id: String,
}

/// Nova's not-found message for a server.
pub fn not_found(id: &str) -> ComputeError {
    ComputeError::NotFound(format!("Instance {id} could not be found."))
}

/// Nova's `check_instance_lock`: a locked server refuses changes unless
/// the caller is an admin.
pub(crate) fn check_lock(server: &Server, caller: &Caller) -> ComputeResult<()> {
    if server.locked_by.is_some() && !caller.is_admin {
        return Err(ComputeError::Conflict(format!(
            "Instance {} is locked",
            server.uuid
        )));
    }
    Ok(())
}

/// Checks a server may take a change that needs it unlocked, resting in
/// one of `states` with no task in flight (interface and volume attaches),
/// with Nova's 409s.
pub(crate) fn check_resting(
    server: &Server,
    caller: &Caller,
    action: &str,
    states: &[crate::model::states::VmState],
) -> ComputeResult<()> {
    check_lock(server, caller)?;
    if !states.contains(&server.vm_state) {
        return Err(rules::invalid_state(
            action,
            server,
            "vm_state",
            server.vm_state.as_str(),
        ));
    }
    if let Some(task) = server.task_state {
        return Err(rules::invalid_state(
            action,
            server,
            "task_state",
            task.as_str(),
        ));
    }
    Ok(())
}

impl Compute {
    /// A live server the caller may see: their project's, or any for
    /// admins. Everything else (other projects', deleted, unknown) is the
    /// same "not found", so ids of other projects never leak.
    pub async fn get_server(&self, caller: &Caller, id: &str) -> ComputeResult<Server> {
        match self.load(id).await? {
            Some(s) if !s.deleted && (caller.is_admin || s.project_id == caller.project_id) => {
                Ok(s)
            }
            _ => Err(not_found(id)),
        }
    }

    /// The name of live server `uuid`, whoever owns it (what the control
    /// plane's fault rules match).
    pub async fn server_name(&self, uuid: &str) -> ComputeResult<Option<String>> {
        Ok(self
            .load(uuid)
            .await?
            .filter(|s| !s.deleted)
            .map(|s| s.name))
    }

    /// A server by id, deleted or not, whoever asks (for the flows).
    pub(crate) async fn load(&self, uuid: &str) -> ComputeResult<Option<Server>> {
        self.store
            .instances()
            .get(uuid)
            .await?
            .map(Server::try_from)
            .transpose()
    }
}

impl LockedBy {
    /// Who locks a server when `caller` does.
    pub(crate) fn of(server: &Server, caller: &Caller) -> Self {
        if server.project_id == caller.project_id {
            Self::Owner
        } else {
            Self::Admin
        }
    }
}
#[cfg(test)]
mod recovery_tests;
