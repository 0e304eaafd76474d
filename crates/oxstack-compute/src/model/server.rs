//! A server (Nova's instance) as the domain sees it: states as enums, the
//! embedded flavor, fault, lock and hints parsed, times in microseconds
//! since the epoch.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::states::{PowerState, TaskState, VmState, status};

/// One server, with its metadata, tags and addresses.
#[derive(Clone, Debug, PartialEq)]
pub struct Server {
    pub uuid: String,
    /// The cloud-wide sequence number, behind the hypervisor's name.
    pub seq: i64,
    pub project_id: String,
    pub user_id: String,
    pub name: String,
    pub description: Option<String>,
    pub hostname: String,
    pub reservation_id: String,
    pub launch_index: i64,
    /// The image it was built (or rebuilt) from; empty id when none.
    pub image: ServerImage,
    /// The flavor it runs with, as it was when it was built or resized.
    pub flavor: FlavorSnapshot,
    /// The flavor a resize started from, until confirmed or reverted.
    pub old_flavor: Option<FlavorSnapshot>,
    pub key_name: Option<String>,
    pub key_data: Option<String>,
    /// Base64, as given.
    pub user_data: Option<String>,
    pub availability_zone: Option<String>,
    pub pinned_availability_zone: Option<String>,
    pub host: Option<String>,
    pub node: Option<String>,
    pub vm_state: VmState,
    pub task_state: Option<TaskState>,
    pub power_state: PowerState,
    pub progress: i64,
    pub access_ip_v4: Option<String>,
    pub access_ip_v6: Option<String>,
    pub auto_disk_config: bool,
    pub config_drive: bool,
    pub root_device_name: Option<String>,
    pub locked_by: Option<LockedBy>,
    pub locked_reason: Option<String>,
    /// Names of its security groups.
    pub security_groups: Vec<String>,
    /// What the create request asked of the scheduler, as given.
    pub scheduler_hints: Map<String, Value>,
    /// The server group it was created into (while the group exists).
    pub server_group: Option<String>,
    pub trusted_certs: Option<Vec<String>>,
    pub fault: Option<Fault>,
    /// The image a shelved server's disk is kept in.
    pub shelved_image_id: Option<String>,
    pub created_at: i64,
    pub updated_at: Option<i64>,
    pub launched_at: Option<i64>,
    pub terminated_at: Option<i64>,
    pub deleted_at: Option<i64>,
    pub deleted: bool,
    pub metadata: BTreeMap<String, String>,
    pub tags: Vec<String>,
    pub fixed_ips: Vec<FixedIp>,
    pub floating_ips: Vec<FloatingAddress>,
    /// Its volumes, the boot volume first.
    pub volumes: Vec<oxstack_store::instances::AttachedVolume>,
}

impl Server {
    /// The API status (`ACTIVE`, `REBOOT`, ...).
    pub fn status(&self) -> &'static str {
        if self.deleted {
            "DELETED"
        } else {
            status(self.vm_state, self.task_state)
        }
    }

    /// The hypervisor's name of the guest (`instance-0000002a`).
    pub fn instance_name(&self) -> String {
        format!("instance-{:08x}", self.seq)
    }

    /// Whether it rests in one of `vm_states` with no task in flight.
    pub fn settled_in(&self, vm_states: &[VmState]) -> bool {
        self.task_state.is_none() && vm_states.contains(&self.vm_state)
    }
}

/// The image a server was built from and what it said of the guest.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerImage {
    pub id: String,
    pub properties: BTreeMap<String, String>,
}

/// A flavor as a server keeps it (Nova's embedded flavor, 2.47).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FlavorSnapshot {
    /// The flavor's API id.
    pub id: String,
    /// The flavor's name when it was taken (`original_name`).
    pub name: String,
    pub vcpus: i64,
    pub memory_mb: i64,
    pub root_gb: i64,
    pub ephemeral_gb: i64,
    /// Swap in MB.
    pub swap_mb: i64,
    pub extra_specs: BTreeMap<String, String>,
}

/// Who locked a server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockedBy {
    Owner,
    Admin,
}

impl LockedBy {
    /// Nova's stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Admin => "admin",
        }
    }

    /// The lock named by Nova's stored name.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "owner" => Some(Self::Owner),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }
}

/// Why a server went to ERROR (or an action failed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    pub code: i64,
    pub message: String,
    pub details: String,
    pub created: i64,
}

impl Fault {
    /// A fault that happens now (`code` 500 unless a request's own).
    pub fn new(code: i64, message: impl Into<String>, details: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            details: details.into(),
            created: crate::now_micros(),
        }
    }
}

/// One fixed address of a server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FixedIp {
    pub network_id: String,
    pub address: String,
    pub version: i64,
    pub mac: String,
    /// The NIC's position in the server's network list.
    pub position: i64,
    /// The network's name (the label of `addresses`).
    pub network: String,
}

/// A floating address associated with one of a server's fixed ones.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FloatingAddress {
    pub address: String,
    pub fixed_address: String,
}

/// An access address as Nova's `IPV4AddressField`/`IPV6AddressField` keep
/// it: in canonical form (`0000:0000:0000:0000:0000:babe:220.12.22.2` is
/// `::babe:dc0c:1602`); text that is no address stays as given (the API's
/// schema lets none through).
fn canonical_ip(text: String) -> String {
    text.parse::<std::net::IpAddr>()
        .map_or(text, |ip| ip.to_string())
}

/// [`canonical_ip`] of an optional address.
pub(crate) fn canonical_ips(text: Option<String>) -> Option<String> {
    text.map(canonical_ip)
}
