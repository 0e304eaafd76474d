//! Rows and queries of the instance tables.
//!
//! A server is read whole in one query: its metadata, tags and fixed
//! addresses come back as JSON aggregates beside the row (the aggregate
//! functions differ per engine, so the SELECT is built per backend). A page
//! of a listing is therefore one query whatever its size.

use std::collections::BTreeMap;

use serde::Deserialize;
use sqlx::any::AnyRow;
use sqlx::{AnyPool, FromRow};

use crate::direct::{Columns, Reads, Record};
use crate::value::values;
use crate::writes::{WriteTx, Writes};
use crate::{Backend, StoreError, StoreResult, missing_if_none};

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
    /// The NIC's position in the server's network list.
    pub position: i64,
}

fn json_column<T: for<'de> Deserialize<'de> + Default>(
    row: &impl Columns,
    column: &str,
) -> sqlx::Result<T> {
    let text: Option<String> = row.column(column)?;
    match text {
        None => Ok(T::default()),
        Some(text) => serde_json::from_str(&text).map_err(|e| sqlx::Error::ColumnDecode {
            index: column.to_owned(),
            source: Box::new(e),
        }),
    }
}

impl FromRow<'_, AnyRow> for InstanceRow {
    fn from_row(row: &AnyRow) -> sqlx::Result<Self> {
        Self::decode(row)
    }
}

/// A row of [`select_instance`].
impl Record for InstanceRow {
    fn decode(row: &impl Columns) -> sqlx::Result<Self> {
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
            auto_disk_config: row.flag("auto_disk_config")?,
            config_drive: row.column("config_drive")?,
            root_device_name: row.column("root_device_name")?,
            locked_by: row.column("locked_by")?,
            locked_reason: row.column("locked_reason")?,
            security_groups: row.column("security_groups")?,
            scheduler_hints: row.column("scheduler_hints")?,
            trusted_certs: row.column("trusted_certs")?,
            fault: row.column("fault")?,
            old_flavor: row.column("old_flavor")?,
            shelved_image_id: row.column("shelved_image_id")?,
            created_at: row.column("created_at")?,
            updated_at: row.column("updated_at")?,
            launched_at: row.column("launched_at")?,
            terminated_at: row.column("terminated_at")?,
            deleted_at: row.column("deleted_at")?,
            deleted: row.flag("deleted")?,
            metadata: json_column(row, "metadata_json")?,
            tags: json_column(row, "tags_json")?,
            fixed_ips: json_column(row, "ips_json")?,
            floating_ips: json_column(row, "floating_json")?,
        })
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
             (SELECT json_group_array(json_object('network_id', network_id, 'address', address, \
              'version', version, 'mac', mac, 'position', position)) FROM (SELECT * FROM fixed_ips f \
              WHERE f.instance_uuid = i.uuid ORDER BY position, version, address)) AS ips_json, \
             (SELECT json_group_array(json_object('address', address, 'fixed_address', fixed_address)) \
              FROM (SELECT * FROM floating_ips fl WHERE fl.instance_uuid = i.uuid ORDER BY address)) \
              AS floating_json \
             FROM instances i"
        }
        Backend::Postgres => {
            "SELECT i.*, \
             (SELECT COALESCE(json_object_agg(key, value), '{}')::text FROM instance_metadata m \
              WHERE m.instance_uuid = i.uuid) AS metadata_json, \
             (SELECT COALESCE(json_agg(tag ORDER BY tag), '[]')::text FROM instance_tags t \
              WHERE t.instance_uuid = i.uuid) AS tags_json, \
             (SELECT COALESCE(json_agg(json_build_object('network_id', network_id, 'address', address, \
              'version', version, 'mac', mac, 'position', position) ORDER BY position, version, address), \
              '[]')::text FROM fixed_ips f WHERE f.instance_uuid = i.uuid) AS ips_json, \
             (SELECT COALESCE(json_agg(json_build_object('address', address, 'fixed_address', \
              fixed_address) ORDER BY address), '[]')::text FROM floating_ips fl \
              WHERE fl.instance_uuid = i.uuid) AS floating_json \
             FROM instances i"
        }
    }
}

pub use crate::value::SqlValue;

/// The columns a listing may filter on exactly or sort by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Column {
    Uuid,
    ProjectId,
    UserId,
    DisplayName,
    DisplayDescription,
    Hostname,
    ReservationId,
    LaunchIndex,
    ImageRef,
    FlavorId,
    KeyName,
    AvailabilityZone,
    Host,
    Node,
    VmState,
    TaskState,
    PowerState,
    Progress,
    AccessIpV4,
    AccessIpV6,
    AutoDiskConfig,
    ConfigDrive,
    RootDeviceName,
    LockedBy,
    Locked,
    CreatedAt,
    UpdatedAt,
    LaunchedAt,
    TerminatedAt,
    Seq,
}

impl Column {
    /// The SQL expression; nullable columns compare as '' / 0 so that keyset
    /// paging works on them.
    fn sql(self) -> &'static str {
        match self {
            Self::Uuid => "i.uuid",
            Self::ProjectId => "i.project_id",
            Self::UserId => "i.user_id",
            Self::DisplayName => "i.display_name",
            Self::DisplayDescription => "COALESCE(i.display_description, '')",
            Self::Hostname => "i.hostname",
            Self::ReservationId => "i.reservation_id",
            Self::LaunchIndex => "i.launch_index",
            Self::ImageRef => "i.image_ref",
            Self::FlavorId => "i.flavor_id",
            Self::KeyName => "COALESCE(i.key_name, '')",
            Self::AvailabilityZone => "COALESCE(i.availability_zone, '')",
            Self::Host => "COALESCE(i.host, '')",
            Self::Node => "COALESCE(i.node, '')",
            Self::VmState => "i.vm_state",
            Self::TaskState => "COALESCE(i.task_state, '')",
            Self::PowerState => "i.power_state",
            Self::Progress => "i.progress",
            Self::AccessIpV4 => "COALESCE(i.access_ip_v4, '')",
            Self::AccessIpV6 => "COALESCE(i.access_ip_v6, '')",
            Self::AutoDiskConfig => "i.auto_disk_config",
            Self::ConfigDrive => "i.config_drive",
            Self::RootDeviceName => "COALESCE(i.root_device_name, '')",
            Self::LockedBy => "COALESCE(i.locked_by, '')",
            Self::Locked => "(CASE WHEN i.locked_by IS NULL THEN 0 ELSE 1 END)",
            Self::CreatedAt => "i.created_at",
            Self::UpdatedAt => "COALESCE(i.updated_at, 0)",
            Self::LaunchedAt => "COALESCE(i.launched_at, 0)",
            Self::TerminatedAt => "COALESCE(i.terminated_at, 0)",
            Self::Seq => "i.seq",
        }
    }
}

/// One SQL-level condition of a listing.
#[derive(Clone, Debug, PartialEq)]
pub enum Condition {
    /// The column equals one of the values.
    In(Column, Vec<SqlValue>),
    /// `task_state IS NULL` (Nova's `task_state=None`), or one of the values.
    TaskStateIn(Vec<Option<String>>),
    /// Changed at or after (`changes-since`) / at or before (`changes-before`).
    ChangedSince(i64),
    ChangedBefore(i64),
    /// Server tags: all of / any of / not all of / none of.
    TagsAll(Vec<String>),
    TagsAny(Vec<String>),
    NotTagsAll(Vec<String>),
    NotTagsAny(Vec<String>),
}

/// Which instances a listing returns, in which order, from where.
#[derive(Clone, Debug, Default)]
pub struct InstanceQuery {
    /// `None`: every project (admin).
    pub project_id: Option<String>,
    /// `None`: deleted and live; `Some(true)`: deleted or soft-deleted only;
    /// `Some(false)`: neither.
    pub deleted: Option<bool>,
    pub conditions: Vec<Condition>,
    /// Sort keys with `true` for descending; the internal id breaks ties.
    pub sort: Vec<(Column, bool)>,
    /// Start after this instance.
    pub marker: Option<String>,
    pub limit: Option<i64>,
}

/// What a summary listing shows of an instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceSummary {
    pub uuid: String,
    pub display_name: String,
}

impl Record for InstanceSummary {
    fn decode(row: &impl Columns) -> sqlx::Result<Self> {
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

/// Fields a server update may change; `None` leaves a field alone.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct InstanceUpdate {
    pub display_name: Option<String>,
    pub display_description: Option<Option<String>>,
    pub hostname: Option<String>,
    pub access_ip_v4: Option<Option<String>>,
    pub access_ip_v6: Option<Option<String>>,
    pub auto_disk_config: Option<bool>,
    pub pinned_availability_zone: Option<Option<String>>,
    pub locked_by: Option<Option<String>>,
    pub locked_reason: Option<Option<String>>,
    /// A rebuild: the new image and what it says about the guest.
    pub image_ref: Option<String>,
    pub image_properties: Option<String>,
    pub user_data: Option<Option<String>>,
    pub trusted_certs: Option<Option<String>>,
    pub key_name: Option<Option<String>>,
    /// JSON array of security group names.
    pub security_groups: Option<String>,
    pub shelved_image_id: Option<Option<String>>,
}

/// Which states a transition starts from.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StateGuard {
    /// `None`: any vm_state.
    pub vm_states: Option<Vec<String>>,
    /// `None`: any task_state; otherwise one of these (None = no task).
    pub task_states: Option<Vec<Option<String>>>,
}

impl StateGuard {
    /// Any vm_state, in this task state.
    pub fn in_task(task: &str) -> Self {
        Self {
            vm_states: None,
            task_states: Some(vec![Some(task.to_owned())]),
        }
    }

    /// One of these vm_states, with no task in flight.
    pub fn settled_in(vm_states: &[&str]) -> Self {
        Self {
            vm_states: Some(vm_states.iter().map(|s| (*s).to_owned()).collect()),
            task_states: Some(vec![None]),
        }
    }
}

/// What a transition sets; `None` leaves a field alone.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StateChange {
    pub vm_state: Option<String>,
    pub task_state: Option<Option<String>>,
    pub power_state: Option<i64>,
    pub progress: Option<i64>,
    pub host: Option<Option<String>>,
    pub node: Option<Option<String>>,
    pub availability_zone: Option<Option<String>>,
    pub launched_at: Option<i64>,
    /// Set when soft-deleted (the reclaim clock), cleared on restore.
    pub deleted_at: Option<Option<i64>>,
    pub fault: Option<Option<String>>,
    /// A resize: the flavor columns to switch to.
    pub flavor: Option<FlavorColumns>,
    pub old_flavor: Option<Option<String>>,
}

/// The flavor an instance runs with: its id, the snapshot servers show,
/// and the sizes quotas count.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, Deserialize)]
pub struct FlavorColumns {
    pub flavor_id: String,
    pub flavor: String,
    pub vcpus: i64,
    pub memory_mb: i64,
    pub root_gb: i64,
    pub ephemeral_gb: i64,
}

impl FlavorColumns {
    /// The flavor columns of a row.
    pub fn of(row: &InstanceRow) -> Self {
        Self {
            flavor_id: row.flavor_id.clone(),
            flavor: row.flavor.clone(),
            vcpus: row.vcpus,
            memory_mb: row.memory_mb,
            root_gb: row.root_gb,
            ephemeral_gb: row.ephemeral_gb,
        }
    }
}

/// Limits a resize must stay within (-1: unlimited).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SizeLimits {
    pub cores: i64,
    pub ram: i64,
}

impl SizeLimits {
    /// No limit on either (Nova's -1).
    pub const UNLIMITED: Self = Self { cores: -1, ram: -1 };
}

pub(crate) struct Builder {
    pub(crate) sql: String,
    pub(crate) binds: Vec<SqlValue>,
}

impl Builder {
    fn new(sql: &str) -> Self {
        Self {
            sql: sql.to_owned(),
            binds: Vec::new(),
        }
    }

    fn bind(&mut self, value: SqlValue) -> String {
        self.binds.push(value);
        format!("${}", self.binds.len())
    }

    fn push(&mut self, fragment: &str) {
        self.sql.push_str(fragment);
    }

    fn placeholders(&mut self, values: Vec<SqlValue>) -> String {
        values
            .into_iter()
            .map(|v| self.bind(v))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn tags_clause(&mut self, tags: &[String], every: bool, negate: bool) {
        let list = self.placeholders(tags.iter().cloned().map(SqlValue::Text).collect());
        let count = tags.len();
        let inner = if every {
            format!(
                "(SELECT COUNT(DISTINCT tag) FROM instance_tags t WHERE t.instance_uuid = i.uuid \
                 AND t.tag IN ({list})) = {count}"
            )
        } else {
            format!(
                "EXISTS (SELECT 1 FROM instance_tags t WHERE t.instance_uuid = i.uuid AND t.tag IN ({list}))"
            )
        };
        if negate {
            self.push(&format!(" AND NOT ({inner})"));
        } else {
            self.push(&format!(" AND {inner}"));
        }
    }

    fn condition(&mut self, condition: &Condition) {
        match condition {
            Condition::In(column, values) => {
                let list = self.placeholders(values.clone());
                self.push(&format!(" AND {} IN ({list})", column.sql()));
            }
            Condition::TaskStateIn(states) => {
                let named: Vec<SqlValue> = states
                    .iter()
                    .flatten()
                    .cloned()
                    .map(SqlValue::Text)
                    .collect();
                let none = states.iter().any(Option::is_none);
                let mut parts = Vec::new();
                if none {
                    parts.push("i.task_state IS NULL".to_owned());
                }
                if !named.is_empty() {
                    parts.push(format!("i.task_state IN ({})", self.placeholders(named)));
                }
                if parts.is_empty() {
                    parts.push("1 = 0".to_owned());
                }
                self.push(&format!(" AND ({})", parts.join(" OR ")));
            }
            Condition::ChangedSince(t) => {
                let p = self.bind(SqlValue::Int(*t));
                self.push(&format!(" AND COALESCE(i.updated_at, i.created_at) >= {p}"));
            }
            Condition::ChangedBefore(t) => {
                let p = self.bind(SqlValue::Int(*t));
                self.push(&format!(" AND COALESCE(i.updated_at, i.created_at) <= {p}"));
            }
            Condition::TagsAll(tags) => self.tags_clause(tags, true, false),
            Condition::TagsAny(tags) => self.tags_clause(tags, false, false),
            Condition::NotTagsAll(tags) => self.tags_clause(tags, true, true),
            Condition::NotTagsAny(tags) => self.tags_clause(tags, false, true),
        }
    }
}

/// Queries over instances.
pub struct InstanceRepo<'a> {
    pool: &'a AnyPool,
    backend: Backend,
    reads: Reads<'a>,
    writes: Writes<'a>,
}

impl<'a> InstanceRepo<'a> {
    pub(crate) fn new(
        pool: &'a AnyPool,
        backend: Backend,
        reads: Reads<'a>,
        writes: Writes<'a>,
    ) -> Self {
        Self {
            pool,
            backend,
            reads,
            writes,
        }
    }

    /// One instance, deleted or not.
    pub async fn get(&self, uuid: &str) -> StoreResult<Option<InstanceRow>> {
        let mut b = Builder::new(select_instance(self.backend));
        let p = b.bind(SqlValue::Text(uuid.to_owned()));
        b.push(&format!(" WHERE i.uuid = {p}"));
        Ok(self.reads.point(&b.sql, &b.binds).await?.pop())
    }

    /// Whether an instance with this uuid exists at all (for markers).
    pub async fn exists(&self, uuid: &str) -> StoreResult<bool> {
        let found: Vec<(i64,)> = self
            .reads
            .point("SELECT 1 FROM instances WHERE uuid = $1", &values![uuid])
            .await?;
        Ok(!found.is_empty())
    }

    /// One page of instances in one query.
    pub async fn list(&self, q: &InstanceQuery) -> StoreResult<Vec<InstanceRow>> {
        let b = listing(select_instance(self.backend), q);
        self.reads.scan(&b.sql, &b.binds).await
    }

    /// The same page as [`InstanceRepo::list`], but only each instance's
    /// id and name (what a summary listing shows): no row decoding, no
    /// aggregates of metadata, tags and addresses.
    pub async fn list_summaries(&self, q: &InstanceQuery) -> StoreResult<Vec<InstanceSummary>> {
        let b = listing("SELECT i.uuid, i.display_name FROM instances i", q);
        self.reads.scan(&b.sql, &b.binds).await
    }

    /// What the live instances on each host consume, by host.
    pub async fn usage_by_host(&self) -> StoreResult<BTreeMap<String, HostUsage>> {
        let rows: Vec<(String, i64, i64, i64, i64, i64)> = sqlx::query_as(
            "SELECT host, COUNT(*), COUNT(task_state), \
             CAST(COALESCE(SUM(vcpus), 0) AS BIGINT), CAST(COALESCE(SUM(memory_mb), 0) AS BIGINT), \
             CAST(COALESCE(SUM(root_gb + ephemeral_gb), 0) AS BIGINT) \
             FROM instances WHERE deleted = 0 AND host IS NOT NULL GROUP BY host",
        )
        .fetch_all(self.pool)
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
        Ok(sqlx::query_as(
            "SELECT uuid, display_name FROM instances WHERE deleted = 0 AND host = $1 ORDER BY seq",
        )
        .bind(host)
        .fetch_all(self.pool)
        .await?)
    }

    /// What a project's live instances consume.
    pub async fn usage(&self, project_id: &str) -> StoreResult<InstanceUsage> {
        let row: Option<(i64, i64, i64)> =
            sqlx::query_as("SELECT instances, cores, ram FROM project_usage WHERE project_id = $1")
                .bind(project_id)
                .fetch_optional(self.pool)
                .await?;
        Ok(row.map(InstanceUsage::from).unwrap_or_default())
    }

    /// Changes the user-editable fields of a live instance.
    pub async fn update(&self, uuid: &str, u: &InstanceUpdate, now: i64) -> StoreResult<()> {
        let mut b = Builder::new("UPDATE instances AS i SET updated_at = ");
        let p = b.bind(SqlValue::Int(now));
        b.push(&p);
        let required = |v: &Option<String>| v.clone().map(Some);
        set_nullable(&mut b, "display_name", &required(&u.display_name));
        set_nullable(&mut b, "display_description", &u.display_description);
        set_nullable(&mut b, "hostname", &required(&u.hostname));
        set_nullable(&mut b, "access_ip_v4", &u.access_ip_v4);
        set_nullable(&mut b, "access_ip_v6", &u.access_ip_v6);
        set_nullable(
            &mut b,
            "pinned_availability_zone",
            &u.pinned_availability_zone,
        );
        set_nullable(&mut b, "locked_by", &u.locked_by);
        set_nullable(&mut b, "locked_reason", &u.locked_reason);
        set_nullable(&mut b, "image_ref", &required(&u.image_ref));
        set_nullable(&mut b, "image_properties", &required(&u.image_properties));
        set_nullable(&mut b, "user_data", &u.user_data);
        set_nullable(&mut b, "trusted_certs", &u.trusted_certs);
        set_nullable(&mut b, "key_name", &u.key_name);
        set_nullable(&mut b, "security_groups", &required(&u.security_groups));
        set_nullable(&mut b, "shelved_image_id", &u.shelved_image_id);
        if let Some(auto) = u.auto_disk_config {
            b.push(&format!(", auto_disk_config = {}", i64::from(auto)));
        }
        let p = b.bind(SqlValue::Text(uuid.to_owned()));
        b.push(&format!(" WHERE uuid = {p} AND deleted = 0"));
        missing_if_none(self.writes.execute(&b.sql, &b.binds).await?)
    }

    /// Compare-and-swap of the state columns: applies `change` only if the
    /// live instance is in a state `guard` allows. `Ok(false)`: it was not.
    pub async fn transition(
        &self,
        uuid: &str,
        guard: &StateGuard,
        change: &StateChange,
        now: i64,
    ) -> StoreResult<bool> {
        if change.flavor.is_some() {
            // The project's usage changes with the flavor.
            let project: Option<(String,)> = self
                .reads
                .point(
                    "SELECT project_id FROM instances WHERE uuid = $1",
                    &values![uuid],
                )
                .await?
                .pop();
            let Some((project_id,)) = project else {
                return Ok(false);
            };
            return self
                .transition_within_quota(
                    uuid,
                    &project_id,
                    SizeLimits::UNLIMITED,
                    guard,
                    change,
                    now,
                )
                .await;
        }
        let statement = transition_statement(uuid, guard, change, now);
        Ok(self
            .writes
            .execute(&statement.sql, &statement.binds)
            .await?
            == 1)
    }

    /// A transition that changes the flavor (a resize, or its revert),
    /// checked against the project's core and RAM limits under the
    /// project's lock, so concurrent creates and resizes never over-commit.
    /// `Err(LimitExceeded)`: the new size does not fit.
    pub async fn transition_within_quota(
        &self,
        uuid: &str,
        project_id: &str,
        limits: SizeLimits,
        guard: &StateGuard,
        change: &StateChange,
        now: i64,
    ) -> StoreResult<bool> {
        let mut tx = self.writes.begin().await?;
        let used = claim_usage(&mut tx, project_id).await?;
        let mut delta = InstanceUsage::default();
        if let Some(new) = &change.flavor {
            let (cores, ram): (i64, i64) = tx
                .fetch_one(
                    "SELECT vcpus, memory_mb FROM instances WHERE uuid = $1",
                    &values![uuid],
                )
                .await?;
            let over = |limit: i64, used: i64, old: i64, new: i64| {
                limit >= 0 && new > old && used - old + new > limit
            };
            if over(limits.cores, used.cores, cores, new.vcpus)
                || over(limits.ram, used.ram, ram, new.memory_mb)
            {
                return Err(StoreError::LimitExceeded);
            }
            delta = InstanceUsage {
                instances: 0,
                cores: new.vcpus - cores,
                ram: new.memory_mb - ram,
            };
        }
        let statement = transition_statement(uuid, guard, change, now);
        let done = tx.execute(&statement.sql, &statement.binds).await? == 1;
        if done {
            add_usage(&mut tx, project_id, delta).await?;
        }
        tx.commit().await?;
        Ok(done)
    }

    /// Marks an instance deleted and frees its addresses, in one
    /// transaction. `Ok(false)`: it was already gone.
    pub async fn finish_delete(&self, uuid: &str, now: i64) -> StoreResult<bool> {
        let mut tx = self.writes.begin().await?;
        let freed: Option<(String, i64, i64)> = tx
            .fetch_optional(
                "UPDATE instances SET deleted = 1, deleted_at = $2, terminated_at = $2, \
                 updated_at = $2, vm_state = 'deleted', task_state = NULL, power_state = 0 \
                 WHERE uuid = $1 AND deleted = 0 RETURNING project_id, vcpus, memory_mb",
                &values![uuid, now],
            )
            .await?;
        tx.execute(
            "DELETE FROM fixed_ips WHERE instance_uuid = $1",
            &values![uuid],
        )
        .await?;
        tx.execute(
            "UPDATE floating_ips SET instance_uuid = NULL, fixed_address = NULL WHERE instance_uuid = $1",
            &values![uuid],
        )
        .await?;
        if let Some((project_id, cores, ram)) = &freed {
            let delta = InstanceUsage {
                instances: -1,
                cores: -cores,
                ram: -ram,
            };
            add_usage(&mut tx, project_id, delta).await?;
        }
        tx.commit().await?;
        Ok(freed.is_some())
    }

    /// Live instances that have rested in `vm_state` with no task since
    /// before `before` (soft-deleted ones counted from their soft deletion,
    /// others from their last change): what periodic tasks act on.
    pub async fn waiting_in(&self, vm_state: &str, before: i64) -> StoreResult<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT uuid FROM instances WHERE deleted = 0 AND vm_state = $1 \
             AND task_state IS NULL AND COALESCE(deleted_at, updated_at, created_at) <= $2 \
             ORDER BY uuid",
        )
        .bind(vm_state)
        .bind(before)
        .fetch_all(self.pool)
        .await?)
    }

    /// Removes the port (every address sharing its MAC) that holds
    /// `address`; `false` when the instance has no such address.
    pub async fn remove_port_of(&self, uuid: &str, address: &str) -> StoreResult<bool> {
        let mut tx = self.writes.begin().await?;
        let mac: Option<(String,)> = tx
            .fetch_optional(
                "SELECT mac FROM fixed_ips WHERE instance_uuid = $1 AND address = $2",
                &values![uuid, address],
            )
            .await?;
        let Some((mac,)) = mac else {
            return Ok(false);
        };
        tx.execute(
            "UPDATE floating_ips SET instance_uuid = NULL, fixed_address = NULL \
             WHERE instance_uuid = $1 AND fixed_address IN \
             (SELECT address FROM fixed_ips WHERE instance_uuid = $1 AND mac = $2)",
            &values![uuid, &mac],
        )
        .await?;
        tx.execute(
            "DELETE FROM fixed_ips WHERE instance_uuid = $1 AND mac = $2",
            &values![uuid, &mac],
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Live instances of `host` with work in flight (building, or a task
    /// set), for the compute manager to finish after a restart.
    pub async fn unsettled(&self, host: &str) -> StoreResult<Vec<InstanceRow>> {
        let sql = format!(
            "{} WHERE i.deleted = 0 AND (i.host = $1 OR i.host IS NULL) \
             AND (i.task_state IS NOT NULL OR i.vm_state = 'building') ORDER BY i.seq",
            select_instance(self.backend)
        );
        Ok(sqlx::query_as(&sql).bind(host).fetch_all(self.pool).await?)
    }

    // --- metadata ------------------------------------------------------

    /// Writes metadata of a live instance: replaces the whole set, or
    /// merges `items` into it; then the count must stay within
    /// `max_items` (-1: unlimited), else nothing changes and
    /// `Err(LimitExceeded)` is returned.
    pub async fn write_metadata(
        &self,
        uuid: &str,
        items: &BTreeMap<String, String>,
        replace: bool,
        max_items: i64,
        now: i64,
    ) -> StoreResult<()> {
        let mut tx = self.writes.begin().await?;
        touch_live(&mut tx, uuid, now).await?;
        if replace {
            tx.execute(
                "DELETE FROM instance_metadata WHERE instance_uuid = $1",
                &values![uuid],
            )
            .await?;
        }
        for (key, value) in items {
            tx.execute(
                "INSERT INTO instance_metadata (instance_uuid, key, value) VALUES ($1, $2, $3) \
                 ON CONFLICT (instance_uuid, key) DO UPDATE SET value = excluded.value",
                &values![uuid, key, value],
            )
            .await?;
        }
        let (count,): (i64,) = tx
            .fetch_one(
                "SELECT COUNT(*) FROM instance_metadata WHERE instance_uuid = $1",
                &values![uuid],
            )
            .await?;
        if max_items >= 0 && count > max_items {
            return Err(StoreError::LimitExceeded);
        }
        tx.commit().await?;
        Ok(())
    }

    /// Deletes one metadata item; `NotFound` when absent.
    pub async fn delete_metadata(&self, uuid: &str, key: &str, now: i64) -> StoreResult<()> {
        let mut tx = self.writes.begin().await?;
        touch_live(&mut tx, uuid, now).await?;
        let done = tx
            .execute(
                "DELETE FROM instance_metadata WHERE instance_uuid = $1 AND key = $2",
                &values![uuid, key],
            )
            .await?;
        missing_if_none(done)?;
        tx.commit().await?;
        Ok(())
    }

    // --- tags ------------------------------------------------------------

    /// Replaces (`replace`) or extends the tags of a live instance; the
    /// result may hold at most `max_tags`. Returns whether anything was added.
    pub async fn write_tags(
        &self,
        uuid: &str,
        tags: &[String],
        replace: bool,
        max_tags: i64,
        now: i64,
    ) -> StoreResult<bool> {
        let mut tx = self.writes.begin().await?;
        touch_live(&mut tx, uuid, now).await?;
        if replace {
            tx.execute(
                "DELETE FROM instance_tags WHERE instance_uuid = $1",
                &values![uuid],
            )
            .await?;
        }
        let mut added = false;
        for tag in tags {
            let done = tx
                .execute(
                    "INSERT INTO instance_tags (instance_uuid, tag) VALUES ($1, $2) \
                     ON CONFLICT DO NOTHING",
                    &values![uuid, tag],
                )
                .await?;
            added |= done > 0;
        }
        let (count,): (i64,) = tx
            .fetch_one(
                "SELECT COUNT(*) FROM instance_tags WHERE instance_uuid = $1",
                &values![uuid],
            )
            .await?;
        if count > max_tags {
            return Err(StoreError::LimitExceeded);
        }
        tx.commit().await?;
        Ok(added)
    }

    /// Deletes one tag (`Some`) or all tags (`None`); `NotFound` when a
    /// named tag is absent.
    pub async fn delete_tags(&self, uuid: &str, tag: Option<&str>, now: i64) -> StoreResult<()> {
        let mut tx = self.writes.begin().await?;
        touch_live(&mut tx, uuid, now).await?;
        match tag {
            Some(tag) => {
                let done = tx
                    .execute(
                        "DELETE FROM instance_tags WHERE instance_uuid = $1 AND tag = $2",
                        &values![uuid, tag],
                    )
                    .await?;
                missing_if_none(done)?;
            }
            None => {
                tx.execute(
                    "DELETE FROM instance_tags WHERE instance_uuid = $1",
                    &values![uuid],
                )
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    // --- creation --------------------------------------------------------

    /// Starts the transaction that creates instances of `project_id`. It
    /// first takes the project's lock row, so concurrent creates of one
    /// project check their quota one after the other (SQLite: the write
    /// lock; PostgreSQL: the row lock), and never both pass on one slot.
    pub async fn begin_create(&self, project_id: &str) -> StoreResult<CreateTx> {
        let mut tx = self.writes.begin().await?;
        let usage = claim_usage(&mut tx, project_id).await?;
        Ok(CreateTx {
            tx,
            project_id: project_id.to_owned(),
            usage,
            added: InstanceUsage::default(),
        })
    }
}

/// The statement of one page of a listing, selecting `select` (which
/// names the instance table `i`).
fn listing(select: &str, q: &InstanceQuery) -> Builder {
    let mut b = Builder::new(select);
    b.push(" WHERE 1 = 1");
    if let Some(project) = &q.project_id {
        let p = b.bind(SqlValue::Text(project.clone()));
        b.push(&format!(" AND i.project_id = {p}"));
    }
    // Soft-deleted servers count as deleted in listings (Nova's rule).
    match q.deleted {
        Some(false) => b.push(" AND i.deleted = 0 AND i.vm_state <> 'soft-delete'"),
        Some(true) => b.push(" AND (i.deleted = 1 OR i.vm_state = 'soft-delete')"),
        None => {}
    }
    for condition in &q.conditions {
        b.condition(condition);
    }
    let mut keys = q.sort.clone();
    let descending_tiebreak = keys.first().is_none_or(|(_, desc)| *desc);
    keys.push((Column::Seq, descending_tiebreak));
    if let Some(marker) = &q.marker {
        let m = b.bind(SqlValue::Text(marker.clone()));
        let of_marker =
            |c: Column| format!("(SELECT {} FROM instances i WHERE i.uuid = {m})", c.sql());
        let mut alternatives = Vec::new();
        for (n, (column, desc)) in keys.iter().enumerate() {
            let mut parts: Vec<String> = keys[..n]
                .iter()
                .map(|(c, _)| format!("{} = {}", c.sql(), of_marker(*c)))
                .collect();
            let cmp = if *desc { "<" } else { ">" };
            parts.push(format!("{} {cmp} {}", column.sql(), of_marker(*column)));
            alternatives.push(format!("({})", parts.join(" AND ")));
        }
        b.push(&format!(" AND ({})", alternatives.join(" OR ")));
    }
    let order: Vec<String> = keys
        .iter()
        .map(|(c, desc)| format!("{} {}", c.sql(), if *desc { "DESC" } else { "ASC" }))
        .collect();
    b.push(&format!(" ORDER BY {}", order.join(", ")));
    if let Some(limit) = q.limit {
        b.push(&format!(" LIMIT {}", limit.max(0)));
    }
    b
}

/// The UPDATE of a state transition (see [`InstanceRepo::transition`]).
pub(crate) fn transition_statement(
    uuid: &str,
    guard: &StateGuard,
    change: &StateChange,
    now: i64,
) -> Builder {
    let mut b = Builder::new("UPDATE instances AS i SET updated_at = ");
    let p = b.bind(SqlValue::Int(now));
    b.push(&p);
    if let Some(vm) = &change.vm_state {
        let p = b.bind(SqlValue::Text(vm.clone()));
        b.push(&format!(", vm_state = {p}"));
    }
    set_nullable(&mut b, "task_state", &change.task_state);
    set_nullable(&mut b, "host", &change.host);
    set_nullable(&mut b, "node", &change.node);
    set_nullable(&mut b, "availability_zone", &change.availability_zone);
    set_nullable(&mut b, "fault", &change.fault);
    set_nullable(&mut b, "old_flavor", &change.old_flavor);
    if let Some(f) = &change.flavor {
        let text = [("flavor_id", &f.flavor_id), ("flavor", &f.flavor)];
        for (column, value) in text {
            let p = b.bind(SqlValue::Text(value.clone()));
            b.push(&format!(", {column} = {p}"));
        }
        let ints = [
            ("vcpus", f.vcpus),
            ("memory_mb", f.memory_mb),
            ("root_gb", f.root_gb),
            ("ephemeral_gb", f.ephemeral_gb),
        ];
        for (column, value) in ints {
            let p = b.bind(SqlValue::Int(value));
            b.push(&format!(", {column} = {p}"));
        }
    }
    for (column, value) in [
        ("power_state", change.power_state),
        ("progress", change.progress),
        ("launched_at", change.launched_at),
    ] {
        if let Some(v) = value {
            let p = b.bind(SqlValue::Int(v));
            b.push(&format!(", {column} = {p}"));
        }
    }
    match change.deleted_at {
        Some(Some(t)) => {
            let p = b.bind(SqlValue::Int(t));
            b.push(&format!(", deleted_at = {p}"));
        }
        Some(None) => b.push(", deleted_at = NULL"),
        None => {}
    }
    let p = b.bind(SqlValue::Text(uuid.to_owned()));
    b.push(&format!(" WHERE uuid = {p} AND deleted = 0"));
    guard_clause(&mut b, guard);
    b
}

/// `, column = value` (or NULL) when the change names the column.
fn set_nullable(b: &mut Builder, column: &str, value: &Option<Option<String>>) {
    match value {
        Some(Some(v)) => {
            let p = b.bind(SqlValue::Text(v.clone()));
            b.push(&format!(", {column} = {p}"));
        }
        Some(None) => b.push(&format!(", {column} = NULL")),
        None => {}
    }
}

fn guard_clause(b: &mut Builder, guard: &StateGuard) {
    if let Some(vm) = &guard.vm_states {
        b.condition(&Condition::In(
            Column::VmState,
            vm.iter().cloned().map(SqlValue::Text).collect(),
        ));
    }
    if let Some(tasks) = &guard.task_states {
        b.condition(&Condition::TaskStateIn(tasks.clone()));
    }
}

/// Takes a project's usage row for the rest of the transaction and reads
/// it: quota checks of one project then run one after the other on both
/// engines (SQLite: the write lock; PostgreSQL: the row lock taken by the
/// upsert, even when it changes nothing).
async fn claim_usage(tx: &mut WriteTx, project_id: &str) -> StoreResult<InstanceUsage> {
    let row: (i64, i64, i64) = tx
        .fetch_one(
            "INSERT INTO project_usage (project_id, instances, cores, ram) VALUES ($1, 0, 0, 0) \
             ON CONFLICT (project_id) DO UPDATE SET instances = project_usage.instances \
             RETURNING instances, cores, ram",
            &values![project_id],
        )
        .await?;
    Ok(row.into())
}

/// Adds `delta` to a project's usage row (taken by [`claim_usage`] or
/// written since the instances it counts exist).
async fn add_usage(tx: &mut WriteTx, project_id: &str, delta: InstanceUsage) -> StoreResult<()> {
    if delta == InstanceUsage::default() {
        return Ok(());
    }
    tx.execute(
        "UPDATE project_usage SET instances = instances + $2, cores = cores + $3, ram = ram + $4 \
         WHERE project_id = $1",
        &values![project_id, delta.instances, delta.cores, delta.ram],
    )
    .await?;
    Ok(())
}

/// Bumps `updated_at` of a live instance inside a transaction; `NotFound`
/// when it is gone.
async fn touch_live(tx: &mut WriteTx, uuid: &str, now: i64) -> StoreResult<()> {
    let done = tx
        .execute(
            "UPDATE instances SET updated_at = $2 WHERE uuid = $1 AND deleted = 0",
            &values![uuid, now],
        )
        .await?;
    missing_if_none(done)
}

/// The transaction of one create request (see [`InstanceRepo::begin_create`]).
pub struct CreateTx {
    tx: WriteTx,
    project_id: String,
    /// The project's usage when the transaction took its row.
    usage: InstanceUsage,
    /// What the instances inserted so far add to it.
    added: InstanceUsage,
}

impl CreateTx {
    /// The project's usage, as of this transaction.
    pub fn usage(&self) -> InstanceUsage {
        self.usage.plus(self.added)
    }

    /// Reserves `n` consecutive values of a counter; returns the first.
    pub async fn next_values(&mut self, counter: &str, n: i64) -> StoreResult<i64> {
        let (last,): (i64,) = self
            .tx
            .fetch_one(
                "INSERT INTO counters (name, value) VALUES ($1, $2) \
                 ON CONFLICT (name) DO UPDATE SET value = counters.value + excluded.value \
                 RETURNING value",
                &values![counter, n],
            )
            .await?;
        Ok(last - n + 1)
    }

    /// The instance holding a fixed address, if any, as this transaction sees it.
    pub async fn holder_of(
        &mut self,
        network_id: &str,
        address: &str,
    ) -> StoreResult<Option<String>> {
        let holder: Option<(String,)> = self
            .tx
            .fetch_optional(
                "SELECT instance_uuid FROM fixed_ips WHERE network_id = $1 AND address = $2",
                &values![network_id, address],
            )
            .await?;
        Ok(holder.map(|(uuid,)| uuid))
    }

    /// Inserts an instance with its metadata, tags and addresses.
    pub async fn insert(&mut self, i: &InstanceRow) -> StoreResult<()> {
        self.tx
            .execute(
                "INSERT INTO instances (uuid, seq, project_id, user_id, display_name, \
                 display_description, hostname, reservation_id, launch_index, image_ref, \
                 image_properties, flavor_id, flavor, vcpus, memory_mb, root_gb, ephemeral_gb, \
                 key_name, key_data, user_data, availability_zone, pinned_availability_zone, host, \
                 node, vm_state, task_state, power_state, progress, access_ip_v4, access_ip_v6, \
                 auto_disk_config, config_drive, root_device_name, locked_by, locked_reason, \
                 security_groups, scheduler_hints, trusted_certs, fault, created_at, updated_at, \
                 launched_at, terminated_at, deleted_at, deleted) VALUES ($1, $2, $3, $4, $5, $6, \
                 $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, \
                 $24, $25, $26, $27, $28, $29, $30, $31, $32, $33, $34, $35, $36, $37, $38, $39, \
                 $40, $41, $42, $43, $44, $45)",
                &values![
                    &i.uuid,
                    i.seq,
                    &i.project_id,
                    &i.user_id,
                    &i.display_name,
                    i.display_description.as_deref(),
                    &i.hostname,
                    &i.reservation_id,
                    i.launch_index,
                    &i.image_ref,
                    &i.image_properties,
                    &i.flavor_id,
                    &i.flavor,
                    i.vcpus,
                    i.memory_mb,
                    i.root_gb,
                    i.ephemeral_gb,
                    i.key_name.as_deref(),
                    i.key_data.as_deref(),
                    i.user_data.as_deref(),
                    i.availability_zone.as_deref(),
                    i.pinned_availability_zone.as_deref(),
                    i.host.as_deref(),
                    i.node.as_deref(),
                    &i.vm_state,
                    i.task_state.as_deref(),
                    i.power_state,
                    i.progress,
                    i.access_ip_v4.as_deref(),
                    i.access_ip_v6.as_deref(),
                    i.auto_disk_config,
                    &i.config_drive,
                    i.root_device_name.as_deref(),
                    i.locked_by.as_deref(),
                    i.locked_reason.as_deref(),
                    &i.security_groups,
                    &i.scheduler_hints,
                    i.trusted_certs.as_deref(),
                    i.fault.as_deref(),
                    i.created_at,
                    i.updated_at,
                    i.launched_at,
                    i.terminated_at,
                    i.deleted_at,
                    i.deleted,
                ],
            )
            .await?;
        if !i.deleted {
            self.added = self.added.plus(InstanceUsage {
                instances: 1,
                cores: i.vcpus,
                ram: i.memory_mb,
            });
        }
        for (key, value) in &i.metadata {
            self.tx
                .execute(
                    "INSERT INTO instance_metadata (instance_uuid, key, value) VALUES ($1, $2, $3)",
                    &values![&i.uuid, key, value],
                )
                .await?;
        }
        for tag in &i.tags {
            self.tx
                .execute(
                    "INSERT INTO instance_tags (instance_uuid, tag) VALUES ($1, $2) \
                     ON CONFLICT DO NOTHING",
                    &values![&i.uuid, tag],
                )
                .await?;
        }
        self.insert_fixed_ips(&i.uuid, &i.fixed_ips).await
    }

    /// Adds addresses (a new port) to an existing instance.
    pub async fn insert_fixed_ips(&mut self, uuid: &str, ips: &[FixedIp]) -> StoreResult<()> {
        for ip in ips {
            self.tx
                .execute(
                    "INSERT INTO fixed_ips (network_id, address, version, mac, instance_uuid, \
                     position) VALUES ($1, $2, $3, $4, $5, $6)",
                    &values![
                        &ip.network_id,
                        &ip.address,
                        ip.version,
                        &ip.mac,
                        uuid,
                        ip.position
                    ],
                )
                .await?;
        }
        Ok(())
    }

    /// Records an action on an instance inserted here; returns its id.
    pub async fn record_action(
        &mut self,
        action: &crate::instance_actions::NewAction<'_>,
    ) -> StoreResult<i64> {
        crate::instance_actions::insert_action(&mut self.tx, action).await
    }

    pub async fn commit(mut self) -> StoreResult<()> {
        add_usage(&mut self.tx, &self.project_id, self.added).await?;
        self.tx.commit().await
    }
}
