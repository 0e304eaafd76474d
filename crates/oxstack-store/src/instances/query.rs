//! Listings: the filterable and sortable columns, the conditions a
//! listing may carry, and the one statement builder of this module.

use crate::db::{Sql, SqlValue};

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

/// `AND` a server-tags clause: all of / any of the tags, or not.
fn tags_clause(b: &mut Sql, tags: &[String], every: bool, negate: bool) {
    let list = b.bind_list(tags.iter().map(SqlValue::from));
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
        b.push(&format!(" AND NOT ({inner})"));
    } else {
        b.push(&format!(" AND {inner}"));
    }
}

/// `AND` the clause of one listing condition.
pub(crate) fn push_condition(b: &mut Sql, condition: &Condition) {
    match condition {
        Condition::In(_, values) if values.is_empty() => b.push(" AND 1 = 0"),
        Condition::In(column, values) => {
            let list = b.bind_list(values.iter().cloned());
            b.push(&format!(" AND {} IN ({list})", column.sql()));
        }
        Condition::TaskStateIn(states) => {
            let named: Vec<SqlValue> = states.iter().flatten().map(SqlValue::from).collect();
            let none = states.iter().any(Option::is_none);
            let mut parts = Vec::new();
            if none {
                parts.push("i.task_state IS NULL".to_owned());
            }
            if !named.is_empty() {
                parts.push(format!("i.task_state IN ({})", b.bind_list(named)));
            }
            if parts.is_empty() {
                parts.push("1 = 0".to_owned());
            }
            b.push(&format!(" AND ({})", parts.join(" OR ")));
        }
        Condition::ChangedSince(t) => {
            let p = b.bind(*t);
            b.push(&format!(" AND COALESCE(i.updated_at, i.created_at) >= {p}"));
        }
        Condition::ChangedBefore(t) => {
            let p = b.bind(*t);
            b.push(&format!(" AND COALESCE(i.updated_at, i.created_at) <= {p}"));
        }
        Condition::TagsAll(tags) => tags_clause(b, tags, true, false),
        Condition::TagsAny(tags) => tags_clause(b, tags, false, false),
        Condition::NotTagsAll(tags) => tags_clause(b, tags, true, true),
        Condition::NotTagsAny(tags) => tags_clause(b, tags, false, true),
    }
}
/// The statement of one page of a listing, selecting `select` (which
/// names the instance table `i`).
pub(super) fn listing(select: &str, q: &InstanceQuery) -> Sql {
    let mut b = Sql::new(select);
    b.push(" WHERE 1 = 1");
    if let Some(project) = &q.project_id {
        let p = b.bind(project.as_str());
        b.push(&format!(" AND i.project_id = {p}"));
    }
    // Soft-deleted servers count as deleted in listings (Nova's rule).
    match q.deleted {
        Some(false) => b.push(" AND i.deleted = FALSE AND i.vm_state <> 'soft-delete'"),
        Some(true) => b.push(" AND (i.deleted = TRUE OR i.vm_state = 'soft-delete')"),
        None => {}
    }
    for condition in &q.conditions {
        push_condition(&mut b, condition);
    }
    let mut keys = q.sort.clone();
    let descending_tiebreak = keys.first().is_none_or(|(_, desc)| *desc);
    keys.push((Column::Seq, descending_tiebreak));
    if let Some(marker) = &q.marker {
        let m = b.bind(marker.as_str());
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
