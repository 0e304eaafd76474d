//! The translation between the store's rows (strings and JSON text, as
//! both engines keep them) and the domain's types. Nothing else in the
//! crate reads a state string or a JSON column.

use std::collections::BTreeMap;

use oxstack_store::instances::{
    FixedIp as FixedIpRow, FlavorColumns, FloatingAddress as FloatingRow, InstanceRow,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::server::{
    Fault, FixedIp, FlavorSnapshot, FloatingAddress, LockedBy, Server, ServerImage,
};
use super::states::{PowerState, TaskState, VmState};
use crate::{ComputeError, ComputeResult};

/// A state string this version does not know: the database was written by
/// something else.
fn unknown(what: &str, value: &str) -> ComputeError {
    ComputeError::Internal(format!("unknown {what} {value:?} in the database"))
}

pub(crate) fn vm_state(text: &str) -> ComputeResult<VmState> {
    VmState::parse(text).ok_or_else(|| unknown("vm_state", text))
}

pub(crate) fn task_state(text: Option<&str>) -> ComputeResult<Option<TaskState>> {
    text.map(|t| TaskState::parse(t).ok_or_else(|| unknown("task_state", t)))
        .transpose()
}

/// The flavor as the `flavor` column keeps it (the 2.47 view's fields).
#[derive(Debug, Default, Serialize, Deserialize)]
struct StoredFlavor {
    #[serde(default)]
    vcpus: i64,
    #[serde(default)]
    ram: i64,
    #[serde(default)]
    disk: i64,
    #[serde(default)]
    ephemeral: i64,
    #[serde(default)]
    swap: i64,
    #[serde(default)]
    original_name: String,
    #[serde(default)]
    extra_specs: BTreeMap<String, String>,
}

/// The `flavor` column's text of a snapshot.
pub(crate) fn flavor_text(f: &FlavorSnapshot) -> String {
    let stored = StoredFlavor {
        vcpus: f.vcpus,
        ram: f.memory_mb,
        disk: f.root_gb,
        ephemeral: f.ephemeral_gb,
        swap: f.swap_mb,
        original_name: f.name.clone(),
        extra_specs: f.extra_specs.clone(),
    };
    serde_json::to_string(&stored).unwrap_or_else(|_| "{}".into())
}

/// The flavor columns of an instance row for a snapshot.
pub(crate) fn flavor_columns(f: &FlavorSnapshot) -> FlavorColumns {
    FlavorColumns {
        flavor_id: f.id.clone(),
        flavor: flavor_text(f),
        vcpus: f.vcpus,
        memory_mb: f.memory_mb,
        root_gb: f.root_gb,
        ephemeral_gb: f.ephemeral_gb,
    }
}

/// A snapshot from the flavor columns: the sizes quotas count are the
/// columns; name, swap and extra specs come from the JSON.
fn flavor_snapshot(c: &FlavorColumns) -> FlavorSnapshot {
    let stored: StoredFlavor = serde_json::from_str(&c.flavor).unwrap_or_default();
    FlavorSnapshot {
        id: c.flavor_id.clone(),
        name: stored.original_name,
        vcpus: c.vcpus,
        memory_mb: c.memory_mb,
        root_gb: c.root_gb,
        ephemeral_gb: c.ephemeral_gb,
        swap_mb: stored.swap,
        extra_specs: stored.extra_specs,
    }
}

/// The `old_flavor` column's text (the flavor columns as JSON).
pub(crate) fn old_flavor_text(f: &FlavorSnapshot) -> String {
    serde_json::to_string(&flavor_columns(f)).unwrap_or_else(|_| "null".into())
}

fn old_flavor(text: Option<&str>) -> Option<FlavorSnapshot> {
    let columns: FlavorColumns = serde_json::from_str(text?).ok()?;
    Some(flavor_snapshot(&columns))
}

#[derive(Serialize, Deserialize)]
struct StoredFault {
    code: i64,
    message: String,
    #[serde(default)]
    details: String,
    created: i64,
}

/// The `fault` column's text.
pub(crate) fn fault_text(f: &Fault) -> String {
    let stored = StoredFault {
        code: f.code,
        message: f.message.clone(),
        details: f.details.clone(),
        created: f.created,
    };
    serde_json::to_string(&stored).unwrap_or_else(|_| "null".into())
}

fn fault(text: Option<&str>) -> Option<Fault> {
    let stored: StoredFault = serde_json::from_str(text?).ok()?;
    Some(Fault {
        code: stored.code,
        message: stored.message,
        details: stored.details,
        created: stored.created,
    })
}

fn json_or_default<T: for<'de> Deserialize<'de> + Default>(text: &str) -> T {
    serde_json::from_str(text).unwrap_or_default()
}

fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".into())
}

/// `config_drive` as Nova keeps it: `"True"` or empty.
fn config_drive_text(on: bool) -> String {
    if on { "True".into() } else { String::new() }
}

impl TryFrom<InstanceRow> for Server {
    type Error = ComputeError;

    fn try_from(row: InstanceRow) -> ComputeResult<Self> {
        let flavor = flavor_snapshot(&FlavorColumns::of(&row));
        let locked_by = match row.locked_by.as_deref() {
            Some(text) => Some(LockedBy::parse(text).ok_or_else(|| unknown("lock", text))?),
            None => None,
        };
        Ok(Self {
            vm_state: vm_state(&row.vm_state)?,
            task_state: task_state(row.task_state.as_deref())?,
            power_state: PowerState::from_code(row.power_state),
            image: ServerImage {
                id: row.image_ref,
                properties: json_or_default(&row.image_properties),
            },
            flavor,
            old_flavor: old_flavor(row.old_flavor.as_deref()),
            fault: fault(row.fault.as_deref()),
            locked_by,
            config_drive: !row.config_drive.is_empty(),
            security_groups: group_names(&row.security_groups),
            scheduler_hints: json_or_default::<Map<String, Value>>(&row.scheduler_hints),
            server_group: row.server_group,
            trusted_certs: row
                .trusted_certs
                .as_deref()
                .and_then(|t| serde_json::from_str(t).ok()),
            uuid: row.uuid,
            seq: row.seq,
            project_id: row.project_id,
            user_id: row.user_id,
            name: row.display_name,
            description: row.display_description,
            hostname: row.hostname,
            reservation_id: row.reservation_id,
            launch_index: row.launch_index,
            key_name: row.key_name,
            key_data: row.key_data,
            user_data: row.user_data,
            availability_zone: row.availability_zone,
            pinned_availability_zone: row.pinned_availability_zone,
            host: row.host,
            node: row.node,
            progress: row.progress,
            access_ip_v4: row.access_ip_v4,
            access_ip_v6: row.access_ip_v6,
            auto_disk_config: row.auto_disk_config,
            root_device_name: row.root_device_name,
            locked_reason: row.locked_reason,
            shelved_image_id: row.shelved_image_id,
            created_at: row.created_at,
            updated_at: row.updated_at,
            launched_at: row.launched_at,
            terminated_at: row.terminated_at,
            deleted_at: row.deleted_at,
            deleted: row.deleted,
            metadata: row.metadata,
            tags: row.tags,
            fixed_ips: row.fixed_ips.into_iter().map(FixedIp::from).collect(),
            floating_ips: row
                .floating_ips
                .into_iter()
                .map(|f| FloatingAddress {
                    address: f.address,
                    fixed_address: f.fixed_address,
                })
                .collect(),
            volumes: row.volumes,
        })
    }
}

impl From<FixedIpRow> for FixedIp {
    fn from(ip: FixedIpRow) -> Self {
        Self {
            network_id: ip.network_id,
            address: ip.address,
            version: ip.version,
            mac: ip.mac,
            position: ip.position,
            network: ip.network,
        }
    }
}

impl From<&FixedIp> for FixedIpRow {
    fn from(ip: &FixedIp) -> Self {
        Self {
            network_id: ip.network_id.clone(),
            address: ip.address.clone(),
            version: ip.version,
            mac: ip.mac.clone(),
            position: ip.position,
            network: ip.network.clone(),
        }
    }
}

/// The names of the groups of a server's ports (one per port and group
/// as read), sorted, each once.
fn group_names(text: &str) -> Vec<String> {
    let mut names: Vec<String> = json_or_default(text);
    names.sort();
    names.dedup();
    names
}

/// The row that stores a new server.
impl From<&Server> for InstanceRow {
    fn from(s: &Server) -> Self {
        let flavor = flavor_columns(&s.flavor);
        Self {
            uuid: s.uuid.clone(),
            seq: s.seq,
            project_id: s.project_id.clone(),
            user_id: s.user_id.clone(),
            display_name: s.name.clone(),
            display_description: s.description.clone(),
            hostname: s.hostname.clone(),
            reservation_id: s.reservation_id.clone(),
            launch_index: s.launch_index,
            image_ref: s.image.id.clone(),
            image_properties: to_json(&s.image.properties),
            flavor_id: flavor.flavor_id,
            flavor: flavor.flavor,
            vcpus: flavor.vcpus,
            memory_mb: flavor.memory_mb,
            root_gb: flavor.root_gb,
            ephemeral_gb: flavor.ephemeral_gb,
            key_name: s.key_name.clone(),
            key_data: s.key_data.clone(),
            user_data: s.user_data.clone(),
            availability_zone: s.availability_zone.clone(),
            pinned_availability_zone: s.pinned_availability_zone.clone(),
            host: s.host.clone(),
            node: s.node.clone(),
            vm_state: s.vm_state.as_str().to_owned(),
            task_state: s.task_state.map(|t| t.as_str().to_owned()),
            power_state: s.power_state.code(),
            progress: s.progress,
            access_ip_v4: s.access_ip_v4.clone(),
            access_ip_v6: s.access_ip_v6.clone(),
            auto_disk_config: s.auto_disk_config,
            config_drive: config_drive_text(s.config_drive),
            root_device_name: s.root_device_name.clone(),
            locked_by: s.locked_by.map(|l| l.as_str().to_owned()),
            locked_reason: s.locked_reason.clone(),
            security_groups: to_json(&s.security_groups),
            scheduler_hints: to_json(&s.scheduler_hints),
            server_group: s.server_group.clone(),
            trusted_certs: s.trusted_certs.as_ref().map(to_json),
            fault: s.fault.as_ref().map(fault_text),
            old_flavor: s.old_flavor.as_ref().map(old_flavor_text),
            shelved_image_id: s.shelved_image_id.clone(),
            created_at: s.created_at,
            updated_at: s.updated_at,
            launched_at: s.launched_at,
            terminated_at: s.terminated_at,
            deleted_at: s.deleted_at,
            deleted: s.deleted,
            metadata: s.metadata.clone(),
            tags: s.tags.clone(),
            fixed_ips: s.fixed_ips.iter().map(FixedIpRow::from).collect(),
            floating_ips: s
                .floating_ips
                .iter()
                .map(|f| FloatingRow {
                    address: f.address.clone(),
                    fixed_address: f.fixed_address.clone(),
                })
                .collect(),
            volumes: s.volumes.clone(),
        }
    }
}

/// The JSON text of image properties.
pub(crate) fn properties_text(properties: &BTreeMap<String, String>) -> String {
    to_json(properties)
}

/// The JSON text of trusted certificates.
pub(crate) fn certs_text(certs: &[String]) -> String {
    to_json(&certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flavor_snapshot_survives_the_columns() {
        let f = FlavorSnapshot {
            id: "42".into(),
            name: "m1.huge".into(),
            vcpus: 8,
            memory_mb: 16384,
            root_gb: 160,
            ephemeral_gb: 10,
            swap_mb: 512,
            extra_specs: BTreeMap::from([("hw:cpu_policy".into(), "dedicated".into())]),
        };
        assert_eq!(flavor_snapshot(&flavor_columns(&f)), f);
        assert_eq!(old_flavor(Some(&old_flavor_text(&f))), Some(f));
    }

    #[test]
    fn a_fault_survives_its_column() {
        let f = Fault {
            code: 500,
            message: "boom".into(),
            details: "trace".into(),
            created: 7,
        };
        assert_eq!(fault(Some(&fault_text(&f))), Some(f));
        assert_eq!(fault(Some("not json")), None);
    }
}
