//! Servers (Nova's instances): creation with quota and addresses, the
//! build and delete flows run by the compute manager through the driver,
//! listing, updates, metadata and tags. Records are the store's
//! [`InstanceRow`]s; the API renders them.

pub mod actions;
mod consoles;
mod create;
mod deferred_delete;
mod floating_ips;
pub mod instance_actions;
pub mod list;
pub mod manager;
mod migrate;
mod migrations;
mod multinic;
pub mod network;
mod periodic;
mod rebuild;
mod resize;
pub mod security_groups;
pub mod shelve;
pub mod snapshot;
pub mod states;
mod update;

use oxstack_store::instances::InstanceRow;

use crate::{Compute, ComputeError, ComputeResult};

pub use create::{BootImage, CreateRequest, Created, Networks, RequestedNic, generate_password};
pub use list::{ListRequest, ServerSort};
pub use oxstack_store::floating_ips::FloatingIpRow as FloatingIp;
pub use oxstack_store::instances::{Column as SortColumn, FixedIp, InstanceRow as Server};
pub use rebuild::RebuildRequest;
pub use update::{MAX_TAGS, ServerUpdate};

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

/// Nova's message for a refused state.
pub fn invalid_state(action: &str, server: &InstanceRow, attr: &str, state: &str) -> ComputeError {
    ComputeError::Conflict(format!(
        "Cannot '{action}' instance {} while it is in {attr} {state}",
        server.uuid
    ))
}

/// Nova's 409 for a server that is not where an action may start: its
/// vm_state when that is not one of `vm_states`, else its task state.
pub fn refused(action: &str, server: &InstanceRow, vm_states: &[&str]) -> ComputeError {
    if vm_states.contains(&server.vm_state.as_str()) {
        invalid_state(
            action,
            server,
            "task_state",
            server.task_state.as_deref().unwrap_or("None"),
        )
    } else {
        invalid_state(action, server, "vm_state", &server.vm_state)
    }
}

/// Nova's `check_instance_lock`: a locked server refuses changes unless
/// the caller is an admin.
pub fn check_lock(server: &InstanceRow, caller: &Caller) -> ComputeResult<()> {
    if server.locked_by.is_some() && !caller.is_admin {
        return Err(ComputeError::Conflict(format!(
            "Instance {} is locked",
            server.uuid
        )));
    }
    Ok(())
}

impl Compute {
    /// A live server the caller may see: their project's, or any for
    /// admins. Everything else (other projects', deleted, unknown) is the
    /// same "not found", so ids of other projects never leak.
    pub async fn get_server(&self, caller: &Caller, id: &str) -> ComputeResult<Server> {
        match self.store.instances().get(id).await? {
            Some(s) if !s.deleted && (caller.is_admin || s.project_id == caller.project_id) => {
                Ok(s)
            }
            _ => Err(not_found(id)),
        }
    }
}
