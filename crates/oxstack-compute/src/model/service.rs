//! A compute service: one host that runs servers, its hypervisor, and the
//! operator's switches.

use oxstack_store::services::ServiceRow;

/// One compute host, as operators see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ComputeService {
    /// The API id before 2.53.
    pub id: i64,
    /// The API id from 2.53.
    pub uuid: String,
    pub host: String,
    /// The hypervisor's node name on that host.
    pub node: String,
    pub zone: String,
    pub disabled: bool,
    pub disabled_reason: Option<String>,
    pub forced_down: bool,
    /// Reporting within `service_down_time` and not forced down.
    pub up: bool,
    /// When the host first registered.
    pub created_at: i64,
    /// The last report or operator change.
    pub updated_at: i64,
    /// The hypervisor's id (2.53).
    pub node_uuid: String,
    pub vcpus: i64,
    pub memory_mb: i64,
    pub local_gb: i64,
    /// `fake`, `QEMU`, ...
    pub hypervisor_type: String,
    pub hypervisor_version: i64,
    pub host_ip: String,
}

/// What an operator changes on a service; `None` leaves a field alone.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceUpdate {
    /// Disabled, with the reason given (if any).
    pub disabled: Option<(bool, Option<String>)>,
    pub forced_down: Option<bool>,
}

impl ComputeService {
    /// The service of a row, up or not.
    pub(crate) fn of(row: ServiceRow, up: bool) -> Self {
        Self {
            id: row.id,
            uuid: row.uuid,
            host: row.host,
            node: row.node,
            zone: row.zone,
            disabled: row.disabled,
            disabled_reason: row.disabled_reason,
            forced_down: row.forced_down,
            up,
            created_at: row.created_at,
            updated_at: row.updated_at,
            node_uuid: row.node_uuid,
            vcpus: row.vcpus,
            memory_mb: row.memory_mb,
            local_gb: row.local_gb,
            hypervisor_type: row.hypervisor_type,
            hypervisor_version: row.hypervisor_version,
            host_ip: row.host_ip,
        }
    }
}
