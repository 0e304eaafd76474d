//! Server listings: the filters Nova turns into SQL become [`Condition`]s
//! of one query; the ones that are regular expressions in Nova (names,
//! addresses, most columns) are applied to the rows here, since neither
//! engine shares Python's regex dialect.

use fancy_regex::Regex;
use oxstack_store::instances::{Column, Condition, InstanceQuery, InstanceSummary};

use super::{Caller, Server};
use crate::{Compute, ComputeError, ComputeResult};

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
            Self::DisplayName => test(&s.display_name),
            Self::DisplayDescription => s.display_description.as_deref().is_some_and(test),
            Self::Hostname => test(&s.hostname),
            Self::ReservationId => test(&s.reservation_id),
            Self::Node => s.node.as_deref().is_some_and(test),
            Self::KeyName => s.key_name.as_deref().is_some_and(test),
            Self::AvailabilityZone => s.availability_zone.as_deref().is_some_and(test),
            Self::ConfigDrive => test(&s.config_drive),
            Self::AccessIpV4 => s.access_ip_v4.as_deref().is_some_and(test),
            Self::AccessIpV6 => s.access_ip_v6.as_deref().is_some_and(test),
            Self::Progress => test(&s.progress.to_string()),
            Self::PowerState => test(&s.power_state.to_string()),
            Self::LaunchIndex => test(&s.launch_index.to_string()),
            Self::LockedBy => s.locked_by.as_deref().is_some_and(test),
            Self::RootDeviceName => s.root_device_name.as_deref().is_some_and(test),
            Self::AutoDiskConfig => test(if s.auto_disk_config { "1" } else { "0" }),
            Self::Ip => any_ip(4),
            Self::Ip6 => any_ip(6),
        }
    }
}

/// How to sort: columns with `true` for descending.
pub type ServerSort = Vec<(Column, bool)>;

/// A validated listing request.
#[derive(Clone, Debug, Default)]
pub struct ListRequest {
    /// Admin with `all_tenants`: every project (or `project_id`'s).
    pub all_projects: bool,
    pub project_id: Option<String>,
    /// `None`: live only unless `changes-since`/`-before` is given.
    pub deleted: Option<bool>,
    pub conditions: Vec<Condition>,
    pub regex: Vec<(RegexField, Regex)>,
    pub sort: ServerSort,
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
        let mut rows = self.store.instances().list(&query).await?;
        if !regex.is_empty() {
            rows.retain(|s| regex.iter().all(|(field, re)| field.matches(re, s)));
            rows.truncate(usize::try_from(limit).unwrap_or(0));
        }
        Ok(rows)
    }

    /// The same page as [`Compute::list_servers`], id and name only (the
    /// summary listing), read without the rest of each server unless a
    /// regular-expression filter needs it.
    pub async fn list_server_summaries(
        &self,
        caller: &Caller,
        req: ListRequest,
    ) -> ComputeResult<Vec<InstanceSummary>> {
        if !req.regex.is_empty() {
            let servers = self.list_servers(caller, req).await?;
            return Ok(servers
                .into_iter()
                .map(|s| InstanceSummary {
                    uuid: s.uuid,
                    display_name: s.display_name,
                })
                .collect());
        }
        let (query, _, _) = self.page_query(caller, req).await?;
        Ok(self.store.instances().list_summaries(&query).await?)
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
        let changes = req
            .conditions
            .iter()
            .any(|c| matches!(c, Condition::ChangedSince(_) | Condition::ChangedBefore(_)));
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
            conditions: req.conditions,
            sort: req.sort,
            marker: req.marker,
            limit: (!filtered_here).then_some(req.limit),
        };
        Ok((query, req.regex, req.limit))
    }
}
