//! Server listings: the filters Nova turns into SQL are [`ServerFilter`]s,
//! run as conditions of one query; the ones that are regular expressions
//! in Nova (names, addresses, most columns) are applied to the rows here,
//! since neither engine shares Python's regex dialect.

use fancy_regex::Regex;
use oxstack_store::instances::{Column, Condition, InstanceQuery, SqlValue};

use super::Caller;
use crate::model::Server;
use crate::model::states::{TaskState, VmState};
use crate::{Compute, ComputeError, ComputeResult};

/// A filter of a listing that the database applies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerFilter {
    /// In one of these vm_states.
    VmStates(Vec<VmState>),
    /// In one of these task states (`None`: no task).
    TaskStates(Vec<Option<TaskState>>),
    /// Changed at or after (`changes-since`) / at or before
    /// (`changes-before`), in microseconds.
    ChangedSince(i64),
    ChangedBefore(i64),
    /// Server tags: all of / any of / not all of / none of.
    TagsAll(Vec<String>),
    TagsAny(Vec<String>),
    NotTagsAll(Vec<String>),
    NotTagsAny(Vec<String>),
    /// Exactly this value.
    Image(String),
    Flavor(String),
    Uuid(String),
    User(String),
    Host(String),
    Locked(bool),
}

/// The keys a listing may be sorted by (Nova's `sort_key`s).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerSortKey {
    AccessIpV4,
    AccessIpV6,
    AutoDiskConfig,
    AvailabilityZone,
    ConfigDrive,
    CreatedAt,
    Description,
    Name,
    Host,
    Hostname,
    Image,
    Flavor,
    KeyName,
    LaunchIndex,
    LaunchedAt,
    Locked,
    LockedBy,
    Node,
    PowerState,
    Progress,
    ProjectId,
    RootDeviceName,
    TaskState,
    TerminatedAt,
    UpdatedAt,
    UserId,
    Uuid,
    VmState,
}

impl ServerSortKey {
    fn column(self) -> Column {
        match self {
            Self::AccessIpV4 => Column::AccessIpV4,
            Self::AccessIpV6 => Column::AccessIpV6,
            Self::AutoDiskConfig => Column::AutoDiskConfig,
            Self::AvailabilityZone => Column::AvailabilityZone,
            Self::ConfigDrive => Column::ConfigDrive,
            Self::CreatedAt => Column::CreatedAt,
            Self::Description => Column::DisplayDescription,
            Self::Name => Column::DisplayName,
            Self::Host => Column::Host,
            Self::Hostname => Column::Hostname,
            Self::Image => Column::ImageRef,
            Self::Flavor => Column::FlavorId,
            Self::KeyName => Column::KeyName,
            Self::LaunchIndex => Column::LaunchIndex,
            Self::LaunchedAt => Column::LaunchedAt,
            Self::Locked => Column::Locked,
            Self::LockedBy => Column::LockedBy,
            Self::Node => Column::Node,
            Self::PowerState => Column::PowerState,
            Self::Progress => Column::Progress,
            Self::ProjectId => Column::ProjectId,
            Self::RootDeviceName => Column::RootDeviceName,
            Self::TaskState => Column::TaskState,
            Self::TerminatedAt => Column::TerminatedAt,
            Self::UpdatedAt => Column::UpdatedAt,
            Self::UserId => Column::UserId,
            Self::Uuid => Column::Uuid,
            Self::VmState => Column::VmState,
        }
    }
}

impl ServerFilter {
    fn condition(&self) -> Condition {
        let text = |column, v: &String| Condition::In(column, vec![SqlValue::from(v.as_str())]);
        match self {
            Self::VmStates(states) => Condition::In(
                Column::VmState,
                states.iter().map(|s| SqlValue::from(s.as_str())).collect(),
            ),
            Self::TaskStates(states) => Condition::TaskStateIn(
                states
                    .iter()
                    .map(|s| s.map(|s| s.as_str().to_owned()))
                    .collect(),
            ),
            Self::ChangedSince(t) => Condition::ChangedSince(*t),
            Self::ChangedBefore(t) => Condition::ChangedBefore(*t),
            Self::TagsAll(tags) => Condition::TagsAll(tags.clone()),
            Self::TagsAny(tags) => Condition::TagsAny(tags.clone()),
            Self::NotTagsAll(tags) => Condition::NotTagsAll(tags.clone()),
            Self::NotTagsAny(tags) => Condition::NotTagsAny(tags.clone()),
            Self::Image(v) => text(Column::ImageRef, v),
            Self::Flavor(v) => text(Column::FlavorId, v),
            Self::Uuid(v) => text(Column::Uuid, v),
            Self::User(v) => text(Column::UserId, v),
            Self::Host(v) => text(Column::Host, v),
            Self::Locked(locked) => {
                Condition::In(Column::Locked, vec![SqlValue::from(i64::from(*locked))])
            }
        }
    }
}

/// What a summary listing shows of a server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerSummary {
    pub uuid: String,
    pub name: String,
}

/// A column Nova matches as an (unanchored) regular expression.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegexField {
    DisplayName,
    DisplayDescription,
    Hostname,
    ReservationId,
    Node,
    KeyName,
    AvailabilityZone,
    ConfigDrive,
    AccessIpV4,
    AccessIpV6,
    Progress,
    PowerState,
    LaunchIndex,
    LockedBy,
    RootDeviceName,
    AutoDiskConfig,
    /// Fixed IPv4 / IPv6 addresses: Nova matches these from the start.
    Ip,
    Ip6,
}

impl RegexField {
    fn matches(self, re: &Regex, s: &Server) -> bool {
        let test = |v: &str| re.is_match(v).unwrap_or(false);
        let any_ip = |version: i64| {
            s.fixed_ips
                .iter()
                .filter(|ip| ip.version == version)
                .any(|ip| {
                    re.find(&ip.address)
                        .ok()
                        .flatten()
                        .is_some_and(|m| m.start() == 0)
                })
        };
        match self {
            Self::DisplayName => test(&s.name),
            Self::DisplayDescription => s.description.as_deref().is_some_and(test),
            Self::Hostname => test(&s.hostname),
            Self::ReservationId => test(&s.reservation_id),
            Self::Node => s.node.as_deref().is_some_and(test),
            Self::KeyName => s.key_name.as_deref().is_some_and(test),
            Self::AvailabilityZone => s.availability_zone.as_deref().is_some_and(test),
            Self::ConfigDrive => test(if s.config_drive { "True" } else { "" }),
            Self::AccessIpV4 => s.access_ip_v4.as_deref().is_some_and(test),
            Self::AccessIpV6 => s.access_ip_v6.as_deref().is_some_and(test),
            Self::Progress => test(&s.progress.to_string()),
            Self::PowerState => test(&s.power_state.code().to_string()),
            Self::LaunchIndex => test(&s.launch_index.to_string()),
            Self::LockedBy => s.locked_by.is_some_and(|l| test(l.as_str())),
            Self::RootDeviceName => s.root_device_name.as_deref().is_some_and(test),
            Self::AutoDiskConfig => test(if s.auto_disk_config { "1" } else { "0" }),
            Self::Ip => any_ip(4),
            Self::Ip6 => any_ip(6),
        }
    }
}

/// A validated listing request.
#[derive(Clone, Debug, Default)]
pub struct ListRequest {
    /// Admin with `all_tenants`: every project (or `project_id`'s).
    pub all_projects: bool,
    pub project_id: Option<String>,
    /// `None`: live only unless `changes-since`/`-before` is given.
    pub deleted: Option<bool>,
    pub filters: Vec<ServerFilter>,
    pub regex: Vec<(RegexField, Regex)>,
    /// Sort keys with `true` for descending.
    pub sort: Vec<(ServerSortKey, bool)>,
    pub marker: Option<String>,
    pub limit: i64,
}

impl Compute {
    /// One page of servers the caller may see.
    pub async fn list_servers(
        &self,
        caller: &Caller,
        req: ListRequest,
    ) -> ComputeResult<Vec<Server>> {
        let (query, regex, limit) = self.page_query(caller, req).await?;
        let rows = self.store.instances().list(&query).await?;
        let mut servers = rows
            .into_iter()
            .map(Server::try_from)
            .collect::<ComputeResult<Vec<_>>>()?;
        if !regex.is_empty() {
            servers.retain(|s| regex.iter().all(|(field, re)| field.matches(re, s)));
            servers.truncate(usize::try_from(limit).unwrap_or(0));
        }
        Ok(servers)
    }

    /// The same page as [`Compute::list_servers`], id and name only (the
    /// summary listing), read without the rest of each server unless a
    /// regular-expression filter needs it.
    pub async fn list_server_summaries(
        &self,
        caller: &Caller,
        req: ListRequest,
    ) -> ComputeResult<Vec<ServerSummary>> {
        if !req.regex.is_empty() {
            let servers = self.list_servers(caller, req).await?;
            return Ok(servers
                .into_iter()
                .map(|s| ServerSummary {
                    uuid: s.uuid,
                    name: s.name,
                })
                .collect());
        }
        let (query, _, _) = self.page_query(caller, req).await?;
        let rows = self.store.instances().list_summaries(&query).await?;
        Ok(rows
            .into_iter()
            .map(|r| ServerSummary {
                uuid: r.uuid,
                name: r.display_name,
            })
            .collect())
    }

    /// The store query of a listing page, with the regular-expression
    /// filters left to apply here and the page size. With such filters
    /// the query has no limit: they may drop rows.
    async fn page_query(
        &self,
        caller: &Caller,
        req: ListRequest,
    ) -> ComputeResult<(InstanceQuery, Vec<(RegexField, Regex)>, i64)> {
        let repo = self.store.instances();
        if let Some(marker) = &req.marker
            && !repo.exists(marker).await?
        {
            return Err(ComputeError::Invalid(format!(
                "marker [{marker}] not found"
            )));
        }
        let changes = req.filters.iter().any(|f| {
            matches!(
                f,
                ServerFilter::ChangedSince(_) | ServerFilter::ChangedBefore(_)
            )
        });
        let project_id = if caller.is_admin && req.all_projects {
            req.project_id.clone()
        } else {
            Some(caller.project_id.clone())
        };
        let filtered_here = !req.regex.is_empty();
        let query = InstanceQuery {
            project_id,
            deleted: match req.deleted {
                Some(d) => Some(d),
                None if changes => None,
                None => Some(false),
            },
            conditions: req.filters.iter().map(ServerFilter::condition).collect(),
            sort: req
                .sort
                .iter()
                .map(|(k, desc)| (k.column(), *desc))
                .collect(),
            marker: req.marker,
            limit: (!filtered_here).then_some(req.limit),
        };
        Ok((query, req.regex, req.limit))
    }
}
