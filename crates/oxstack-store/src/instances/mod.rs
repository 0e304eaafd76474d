//! Rows and queries of the instance tables.
//!
//! One server is read whole in one query: its parts (metadata, tags,
//! addresses, security groups, volumes) come back as JSON aggregates beside
//! the row (the aggregate functions differ per engine, so the SELECT is
//! built per backend). Many servers (a page of a listing) are read in two:
//! their rows, then the parts of all of them as plain rows (`parts.rs`).

mod create;
mod parts;
mod query;
mod write;

pub(crate) use write::claim_usage;

/// What one user's live (including soft-deleted) instances of a project
/// consume: `(instances, cores, ram)`.
const USER_USAGE: &str = "SELECT COUNT(*), CAST(COALESCE(SUM(vcpus), 0) AS BIGINT), \
     CAST(COALESCE(SUM(memory_mb), 0) AS BIGINT) FROM instances \
     WHERE project_id = $1 AND user_id = $2 AND deleted = FALSE";

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::db::{Columns, Db, DecodeError, Record};
use crate::db::{Sql, values};
use crate::{Backend, StoreResult};
use query::listing;

pub use crate::instance_actions::ActionStep;
pub use create::CreateTx;
pub use query::{Column, Condition, InstanceQuery};
pub use write::{
    FlavorColumns, InstanceUpdate, MigrationStep, SizeLimits, StateChange, StateGuard, Step,
};

/// The columns of an instance, plus its metadata, tags and addresses.
#[derive(Clone, Debug, PartialEq)]
pub struct InstanceRow {
    pub uuid: String,
    pub seq: i64,
    pub project_id: String,
    pub user_id: String,
    pub display_name: String,
    pub display_description: Option<String>,
    pub hostname: String,
    pub reservation_id: String,
    pub launch_index: i64,
    pub image_ref: String,
    /// JSON object: the image's properties when the server was built.
    pub image_properties: String,
    pub flavor_id: String,
    /// JSON object: the flavor as it was when the server was built.
    pub flavor: String,
    pub vcpus: i64,
    pub memory_mb: i64,
    pub root_gb: i64,
    pub ephemeral_gb: i64,
    pub key_name: Option<String>,
    pub key_data: Option<String>,
    pub user_data: Option<String>,
    pub availability_zone: Option<String>,
    pub pinned_availability_zone: Option<String>,
    pub host: Option<String>,
    pub node: Option<String>,
    pub vm_state: String,
    pub task_state: Option<String>,
    pub power_state: i64,
    pub progress: i64,
    pub access_ip_v4: Option<String>,
    pub access_ip_v6: Option<String>,
    pub auto_disk_config: bool,
    pub config_drive: String,
    pub root_device_name: Option<String>,
    /// `owner` or `admin` when locked.
    pub locked_by: Option<String>,
    pub locked_reason: Option<String>,
    /// JSON array of security group names.
    pub security_groups: String,
    /// JSON object.
    pub scheduler_hints: String,
    /// The server group it was created into.
    pub server_group: Option<String>,
    /// JSON array, or none.
    pub trusted_certs: Option<String>,
    /// JSON object `{code, message, details, created}`, or none.
    pub fault: Option<String>,
    /// JSON of the [`FlavorColumns`] a resize started from, until it is
    /// confirmed or reverted.
    pub old_flavor: Option<String>,
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
    /// Its volumes (attachments), the boot volume first.
    pub volumes: Vec<AttachedVolume>,
}

/// A volume an instance holds (`os-extended-volumes:volumes_attached`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct AttachedVolume {
    pub id: String,
    pub delete_on_termination: bool,
}

/// A floating address associated with one of the instance's fixed ones.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct FloatingAddress {
    pub address: String,
    pub fixed_address: String,
}

/// One fixed address of an instance.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct FixedIp {
    pub network_id: String,
    pub address: String,
    pub version: i64,
    pub mac: String,
    /// The NIC's position in the server's network list (its port's
    /// creation time: a server's ports are made in that order).
    pub position: i64,
    /// The network's name (the label of `addresses`).
    pub network: String,
}

fn json_column<T: for<'de> Deserialize<'de> + Default>(
    row: &impl Columns,
    column: &str,
) -> Result<T, DecodeError> {
    let text: Option<String> = row.column(column)?;
    match text {
        None => Ok(T::default()),
        Some(text) => serde_json::from_str(&text).map_err(|e| DecodeError::new(column, e)),
    }
}

impl InstanceRow {
    /// The instance's own columns; its parts (metadata, tags, addresses,
    /// groups, volumes) empty.
    fn decode_own(row: &impl Columns) -> Result<Self, DecodeError> {
        Ok(Self {
            uuid: row.column("uuid")?,
            seq: row.column("seq")?,
            project_id: row.column("project_id")?,
            user_id: row.column("user_id")?,
            display_name: row.column("display_name")?,
            display_description: row.column("display_description")?,
            hostname: row.column("hostname")?,
            reservation_id: row.column("reservation_id")?,
            launch_index: row.column("launch_index")?,
            image_ref: row.column("image_ref")?,
            image_properties: row.column("image_properties")?,
            flavor_id: row.column("flavor_id")?,
            flavor: row.column("flavor")?,
            vcpus: row.column("vcpus")?,
            memory_mb: row.column("memory_mb")?,
            root_gb: row.column("root_gb")?,
            ephemeral_gb: row.column("ephemeral_gb")?,
            key_name: row.column("key_name")?,
            key_data: row.column("key_data")?,
            user_data: row.column("user_data")?,
            availability_zone: row.column("availability_zone")?,
            pinned_availability_zone: row.column("pinned_availability_zone")?,
            host: row.column("host")?,
            node: row.column("node")?,
            vm_state: row.column("vm_state")?,
            task_state: row.column("task_state")?,
            power_state: row.column("power_state")?,
            progress: row.column("progress")?,
            access_ip_v4: row.column("access_ip_v4")?,
            access_ip_v6: row.column("access_ip_v6")?,
            auto_disk_config: row.column("auto_disk_config")?,
            config_drive: row.column("config_drive")?,
            root_device_name: row.column("root_device_name")?,
            locked_by: row.column("locked_by")?,
            locked_reason: row.column("locked_reason")?,
            // The groups of the instance's ports, read with its parts (the
            // column keeps the names asked for at creation).
            security_groups: "[]".to_owned(),
            scheduler_hints: row.column("scheduler_hints")?,
            server_group: row.column("server_group")?,
            trusted_certs: row.column("trusted_certs")?,
            fault: row.column("fault")?,
            old_flavor: row.column("old_flavor")?,
            shelved_image_id: row.column("shelved_image_id")?,
            created_at: row.column("created_at")?,
            updated_at: row.column("updated_at")?,
            launched_at: row.column("launched_at")?,
            terminated_at: row.column("terminated_at")?,
            deleted_at: row.column("deleted_at")?,
            deleted: row.column("deleted")?,
            metadata: BTreeMap::new(),
            tags: Vec::new(),
            fixed_ips: Vec::new(),
            floating_ips: Vec::new(),
            volumes: Vec::new(),
        })
    }
}

/// A row of [`select_instance`]: the instance and its parts as JSON.
impl Record for InstanceRow {
    fn decode(row: &impl Columns) -> Result<Self, DecodeError> {
        Ok(Self {
            security_groups: row.column("groups_json")?,
            metadata: json_column(row, "metadata_json")?,
            tags: json_column(row, "tags_json")?,
            fixed_ips: json_column(row, "ips_json")?,
            floating_ips: json_column(row, "floating_json")?,
            volumes: json_column(row, "volumes_json")?,
            ..Self::decode_own(row)?
        })
    }
}

/// The SELECT list of instances read without their parts.
const SELECT_OWN: &str = "SELECT i.* FROM instances i";

/// A row of [`SELECT_OWN`]: the instance without its parts, which
/// [`parts::attach`] reads for the whole page.
struct WithoutParts(InstanceRow);

impl Record for WithoutParts {
    fn decode(row: &impl Columns) -> Result<Self, DecodeError> {
        InstanceRow::decode_own(row).map(Self)
    }
}

/// The SELECT list of a whole instance, aggregates included.
fn select_instance(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => {
            "SELECT i.*, \
             (SELECT json_group_object(key, value) FROM instance_metadata m \
              WHERE m.instance_uuid = i.uuid) AS metadata_json, \
             (SELECT json_group_array(tag) FROM (SELECT tag FROM instance_tags t \
              WHERE t.instance_uuid = i.uuid ORDER BY tag)) AS tags_json, \
             (SELECT json_group_array(json_object('network_id', network_id, 'address', ip_address, \
              'version', ip_version, 'mac', mac_address, 'position', created_at, 'network', name)) \
              FROM (SELECT pi.network_id, pi.ip_address, pi.ip_version, p.mac_address, p.created_at, \
              n.name FROM ports p JOIN port_ips pi ON pi.port_id = p.id \
              JOIN networks n ON n.id = p.network_id WHERE p.device_id = i.uuid \
              ORDER BY p.device_id, p.created_at)) AS ips_json, \
             (SELECT json_group_array(g.name) FROM ports p \
              JOIN port_security_groups pg ON pg.port_id = p.id \
              JOIN security_groups g ON g.id = pg.security_group_id \
              WHERE p.device_id = i.uuid) AS groups_json, \
             (SELECT json_group_array(json_object('address', floating_ip_address, \
              'fixed_address', fixed_ip_address)) FROM (SELECT f.floating_ip_address, \
              f.fixed_ip_address FROM floatingips f JOIN ports p ON p.id = f.port_id \
              WHERE p.device_id = i.uuid ORDER BY f.floating_ip_address)) AS floating_json, \
             (SELECT json_group_array(json_object('id', volume_id, 'delete_on_termination', \
              json(CASE WHEN delete_on_termination THEN 'true' ELSE 'false' END))) \
              FROM (SELECT volume_id, delete_on_termination FROM volume_attachments a \
              WHERE a.instance_uuid = i.uuid \
              ORDER BY CASE WHEN a.boot_index = 0 THEN 0 ELSE 1 END, a.created_at)) AS volumes_json \
             FROM instances i"
        }
        Backend::Postgres => {
            "SELECT i.*, \
             (SELECT COALESCE(json_object_agg(key, value), '{}')::text FROM instance_metadata m \
              WHERE m.instance_uuid = i.uuid) AS metadata_json, \
             (SELECT COALESCE(json_agg(tag ORDER BY tag), '[]')::text FROM instance_tags t \
              WHERE t.instance_uuid = i.uuid) AS tags_json, \
             (SELECT COALESCE(json_agg(json_build_object('network_id', pi.network_id, \
              'address', pi.ip_address, 'version', pi.ip_version, 'mac', p.mac_address, \
              'position', p.created_at, 'network', n.name) \
              ORDER BY p.created_at, p.id, pi.position), '[]')::text \
              FROM ports p JOIN port_ips pi ON pi.port_id = p.id \
              JOIN networks n ON n.id = p.network_id WHERE p.device_id = i.uuid) AS ips_json, \
             (SELECT COALESCE(json_agg(DISTINCT g.name), '[]')::text FROM ports p \
              JOIN port_security_groups pg ON pg.port_id = p.id \
              JOIN security_groups g ON g.id = pg.security_group_id \
              WHERE p.device_id = i.uuid) AS groups_json, \
             (SELECT COALESCE(json_agg(json_build_object('address', f.floating_ip_address, \
              'fixed_address', f.fixed_ip_address) ORDER BY f.floating_ip_address), '[]')::text \
              FROM floatingips f JOIN ports p ON p.id = f.port_id \
              WHERE p.device_id = i.uuid) AS floating_json, \
             (SELECT COALESCE(json_agg(json_build_object('id', a.volume_id, \
              'delete_on_termination', a.delete_on_termination) \
              ORDER BY CASE WHEN a.boot_index = 0 THEN 0 ELSE 1 END, a.created_at), '[]')::text \
              FROM volume_attachments a WHERE a.instance_uuid = i.uuid) AS volumes_json \
             FROM instances i"
        }
    }
}

pub use crate::db::SqlValue;

/// What a summary listing shows of an instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceSummary {
    pub uuid: String,
    pub display_name: String,
}

impl Record for InstanceSummary {
    fn decode(row: &impl Columns) -> Result<Self, DecodeError> {
        Ok(Self {
            uuid: row.column_at(0)?,
            display_name: row.column_at(1)?,
        })
    }
}

/// What the live instances on one host consume.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HostUsage {
    pub instances: i64,
    /// Instances with a task in progress (Nova's `current_workload`).
    pub busy: i64,
    pub vcpus: i64,
    pub memory_mb: i64,
    pub disk_gb: i64,
}

/// The counted usage of a project.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InstanceUsage {
    pub instances: i64,
    pub cores: i64,
    pub ram: i64,
}

impl InstanceUsage {
    fn plus(self, other: Self) -> Self {
        Self {
            instances: self.instances + other.instances,
            cores: self.cores + other.cores,
            ram: self.ram + other.ram,
        }
    }

    fn minus(self, other: Self) -> Self {
        Self {
            instances: self.instances - other.instances,
            cores: self.cores - other.cores,
            ram: self.ram - other.ram,
        }
    }
}

impl From<(i64, i64, i64)> for InstanceUsage {
    fn from((instances, cores, ram): (i64, i64, i64)) -> Self {
        Self {
            instances,
            cores,
            ram,
        }
    }
}

/// Queries over instances.
pub struct InstanceRepo<'a> {
    db: &'a Db,
    backend: Backend,
}

impl<'a> InstanceRepo<'a> {
    pub(crate) fn new(db: &'a Db, backend: Backend) -> Self {
        Self { db, backend }
    }

    /// One instance, deleted or not.
    pub async fn get(&self, uuid: &str) -> StoreResult<Option<InstanceRow>> {
        let mut b = Sql::new(select_instance(self.backend));
        let p = b.bind(SqlValue::from(uuid));
        b.push(&format!(" WHERE i.uuid = {p}"));
        Ok(self.db.point(&b.sql, &b.binds).await?.pop())
    }

    /// Whether an instance with this uuid exists at all (for markers).
    pub async fn exists(&self, uuid: &str) -> StoreResult<bool> {
        let found: Vec<(i64,)> = self
            .db
            .point("SELECT seq FROM instances WHERE uuid = $1", &values![uuid])
            .await?;
        Ok(!found.is_empty())
    }

    /// One page of instances: their rows in one query, their parts in
    /// another.
    pub async fn list(&self, q: &InstanceQuery) -> StoreResult<Vec<InstanceRow>> {
        let b = listing(SELECT_OWN, q);
        self.many(&b.sql, &b.binds).await
    }

    /// The instances a statement selecting [`SELECT_OWN`] finds, with their
    /// parts. The parts are read by a second statement, so a change
    /// committed between the two shows in the parts and not yet in the row
    /// (Nova too reads a server's addresses apart from its row, from its
    /// network info cache); a server deleted in between is listed as it
    /// was, without the parts it lost.
    async fn many(&self, sql: &str, binds: &[SqlValue]) -> StoreResult<Vec<InstanceRow>> {
        let page: Vec<WithoutParts> = self.db.scan(sql, binds).await?;
        let mut rows: Vec<InstanceRow> = page.into_iter().map(|WithoutParts(r)| r).collect();
        parts::attach(self.db, self.backend, &mut rows).await?;
        Ok(rows)
    }

    /// The same page as [`InstanceRepo::list`], but only each instance's
    /// id and name (what a summary listing shows): no row decoding, no
    /// aggregates of metadata, tags and addresses.
    pub async fn list_summaries(&self, q: &InstanceQuery) -> StoreResult<Vec<InstanceSummary>> {
        let b = listing("SELECT i.uuid, i.display_name FROM instances i", q);
        self.db.scan(&b.sql, &b.binds).await
    }

    /// What the live instances on each host consume, by host.
    pub async fn usage_by_host(&self) -> StoreResult<BTreeMap<String, HostUsage>> {
        let rows: Vec<(String, i64, i64, i64, i64, i64)> = self
            .db
            .scan(
                "SELECT host, COUNT(*), COUNT(task_state), \
                 CAST(COALESCE(SUM(vcpus), 0) AS BIGINT), \
                 CAST(COALESCE(SUM(memory_mb), 0) AS BIGINT), \
                 CAST(COALESCE(SUM(root_gb + ephemeral_gb), 0) AS BIGINT) \
                 FROM instances WHERE deleted = FALSE AND host IS NOT NULL GROUP BY host",
                &[],
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(|(host, instances, busy, vcpus, memory_mb, disk_gb)| {
                let usage = HostUsage {
                    instances,
                    busy,
                    vcpus,
                    memory_mb,
                    disk_gb,
                };
                (host, usage)
            })
            .collect())
    }

    /// The live instances on `host`, as `(uuid, name)`, oldest first.
    pub async fn on_host(&self, host: &str) -> StoreResult<Vec<(String, String)>> {
        self.db
            .scan(
                "SELECT uuid, display_name FROM instances WHERE deleted = FALSE AND host = $1 \
                 ORDER BY seq",
                &values![host],
            )
            .await
    }

    /// The live instances among `uuids`, each with its host (if placed).
    pub async fn hosts_by_instance(
        &self,
        uuids: &[String],
    ) -> StoreResult<Vec<(String, Option<String>)>> {
        if uuids.is_empty() {
            return Ok(Vec::new());
        }
        let mut b =
            Sql::new("SELECT uuid, host FROM instances WHERE deleted = FALSE AND uuid IN (");
        let list = b.bind_list(uuids.iter().map(|u| SqlValue::from(u.as_str())));
        b.push(&list);
        b.push(")");
        self.db.scan(&b.sql, &b.binds).await
    }

    /// What a project's live instances consume.
    pub async fn usage(&self, project_id: &str) -> StoreResult<InstanceUsage> {
        let row: Option<(i64, i64, i64)> = self
            .db
            .optional(
                "SELECT instances, cores, ram FROM project_usage WHERE project_id = $1",
                &values![project_id],
            )
            .await?;
        Ok(row.map(InstanceUsage::from).unwrap_or_default())
    }

    /// What one user's live (including soft-deleted) instances of a
    /// project consume.
    pub async fn user_usage(&self, project_id: &str, user_id: &str) -> StoreResult<InstanceUsage> {
        let row: Option<(i64, i64, i64)> = self
            .db
            .optional(USER_USAGE, &values![project_id, user_id])
            .await?;
        Ok(row.map(InstanceUsage::from).unwrap_or_default())
    }

    /// Instances (deleted ones too) that ran during `[start, end)`:
    /// launched before its end and not terminated before its start; of
    /// one project or all, by project and uuid, after `after` (a
    /// `(project, uuid)` of the previous page), at most `limit`.
    pub async fn active_in_window(
        &self,
        start: i64,
        end: i64,
        project_id: Option<&str>,
        after: Option<(&str, &str)>,
        limit: i64,
    ) -> StoreResult<Vec<InstanceRow>> {
        let mut b = Sql::new(SELECT_OWN);
        let end = b.bind(end);
        let start = b.bind(start);
        b.push(&format!(
            " WHERE i.launched_at IS NOT NULL AND i.launched_at < {end} \
             AND (i.terminated_at IS NULL OR i.terminated_at > {start})"
        ));
        if let Some(project_id) = project_id {
            let p = b.bind(project_id);
            b.push(&format!(" AND i.project_id = {p}"));
        }
        if let Some((project, uuid)) = after {
            let p = b.bind(project);
            let u = b.bind(uuid);
            b.push(&format!(
                " AND (i.project_id > {p} OR (i.project_id = {p} AND i.uuid > {u}))"
            ));
        }
        let n = b.bind(limit);
        b.push(&format!(" ORDER BY i.project_id, i.uuid LIMIT {n}"));
        self.many(&b.sql, &b.binds).await
    }

    /// What each project's live instances on `host` consume:
    /// `(project, vcpus, memory_mb, disk_gb)`, by project.
    pub async fn usage_on_host_by_project(
        &self,
        host: &str,
    ) -> StoreResult<Vec<(String, i64, i64, i64)>> {
        self.db
            .scan(
                "SELECT project_id, CAST(COALESCE(SUM(vcpus), 0) AS BIGINT), \
                 CAST(COALESCE(SUM(memory_mb), 0) AS BIGINT), \
                 CAST(COALESCE(SUM(root_gb + ephemeral_gb), 0) AS BIGINT) \
                 FROM instances WHERE deleted = FALSE AND host = $1 \
                 GROUP BY project_id ORDER BY project_id",
                &values![host],
            )
            .await
    }

    // (writes: write.rs; creation: create.rs)

    /// Live instances that have rested in `vm_state` with no task since
    /// before `before` (soft-deleted ones counted from their soft deletion,
    /// others from their last change): what periodic tasks act on.
    pub async fn waiting_in(&self, vm_state: &str, before: i64) -> StoreResult<Vec<String>> {
        let rows: Vec<(String,)> = self
            .db
            .scan(
                "SELECT uuid FROM instances WHERE deleted = FALSE AND vm_state = $1 \
                 AND task_state IS NULL AND COALESCE(deleted_at, updated_at, created_at) <= $2 \
                 ORDER BY uuid",
                &values![vm_state, before],
            )
            .await?;
        Ok(rows.into_iter().map(|(uuid,)| uuid).collect())
    }

    /// Live instances of `host` with work in flight (building, or a task
    /// set), for the compute manager to finish after a restart.
    pub async fn unsettled(&self, host: &str) -> StoreResult<Vec<InstanceRow>> {
        let sql = format!(
            "{SELECT_OWN} WHERE i.deleted = FALSE AND (i.host = $1 OR i.host IS NULL) \
             AND (i.task_state IS NOT NULL OR i.vm_state = 'building') ORDER BY i.seq"
        );
        self.many(&sql, &values![host]).await
    }
}
