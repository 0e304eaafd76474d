//! Server groups (Nova's `os-server-groups`): a project's named policy for
//! where its servers run, which the scheduler applies to the servers
//! created into the group (the `group` scheduler hint) and to their moves.
//! Affinity keeps a group's servers on one host, anti-affinity on
//! different hosts (at most `max_server_per_host` each); the soft kinds
//! prefer that and never fail a request.

use std::collections::BTreeMap;

use oxstack_store::StoreError;
use oxstack_store::server_groups::ServerGroupRow;
use serde_json::{Map, Value};

use crate::quotas::{Limits, Resource};
use crate::servers::Caller;
use crate::{Compute, ComputeError, ComputeResult, now_micros};

/// A group's policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, strum::Display, strum::EnumString)]
#[strum(serialize_all = "kebab-case")]
pub enum GroupPolicy {
    Affinity,
    AntiAffinity,
    SoftAffinity,
    SoftAntiAffinity,
}

/// A server group with its live members.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerGroup {
    pub uuid: String,
    pub name: String,
    pub project_id: String,
    pub user_id: String,
    pub policy: GroupPolicy,
    /// The anti-affinity rule `max_server_per_host`, when one was given.
    pub max_server_per_host: Option<i64>,
    /// Its servers that are not deleted, oldest first.
    pub members: Vec<String>,
}

impl ServerGroup {
    fn of(row: ServerGroupRow, members: Vec<String>) -> Self {
        Self {
            uuid: row.uuid,
            name: row.name,
            project_id: row.project_id,
            user_id: row.user_id,
            // The column only ever holds what `GroupPolicy` writes.
            policy: row.policy.parse().unwrap_or(GroupPolicy::Affinity),
            max_server_per_host: row.max_server_per_host,
            members,
        }
    }

    /// What the group asks of the scheduler.
    pub(crate) fn rule(&self) -> GroupRule {
        GroupRule {
            policy: self.policy,
            max_per_host: self.max_server_per_host.unwrap_or(1),
        }
    }
}

/// A group to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewServerGroup {
    pub name: String,
    pub policy: GroupPolicy,
    pub max_server_per_host: Option<i64>,
}

/// Nova's `InstanceGroupNotFound`.
pub(crate) fn group_not_found(uuid: &str) -> String {
    format!("Instance group {uuid} could not be found.")
}

/// Nova's `ServerGroupLimitExceeded`.
fn over_quota() -> ComputeError {
    ComputeError::Forbidden("Quota exceeded, too many server groups.".into())
}

/// How a group's policy constrains placement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct GroupRule {
    pub policy: GroupPolicy,
    /// Anti-affinity: how many of the group's servers a host may run.
    pub max_per_host: i64,
}

impl GroupRule {
    /// Whether a request fails when the policy cannot be met.
    pub fn is_hard(self) -> bool {
        matches!(
            self.policy,
            GroupPolicy::Affinity | GroupPolicy::AntiAffinity
        )
    }

    /// The host for one more server of the group among `candidates` (tried
    /// from position `turn`, round robin), given how many of the group's
    /// servers each host runs; `None` when a hard policy allows none.
    pub fn choose(
        self,
        candidates: &[String],
        members: &BTreeMap<String, i64>,
        turn: usize,
    ) -> Option<String> {
        if candidates.is_empty() {
            return None;
        }
        let start = turn % candidates.len();
        let rotated = candidates[start..].iter().chain(&candidates[..start]);
        let on = |host: &String| members.get(host).copied().unwrap_or(0);
        let placed = members.values().any(|n| *n > 0);
        match self.policy {
            GroupPolicy::Affinity if placed => rotated.into_iter().find(|h| on(h) > 0),
            GroupPolicy::Affinity => rotated.into_iter().next(),
            GroupPolicy::AntiAffinity => rotated.into_iter().find(|h| on(h) < self.max_per_host),
            // The soft kinds weigh hosts by the group's servers on them;
            // the first of the best wins (`max_by_key` keeps the last).
            GroupPolicy::SoftAffinity => rotated.rev().max_by_key(|h| on(h)),
            GroupPolicy::SoftAntiAffinity => rotated.min_by_key(|h| on(h)),
        }
        .cloned()
    }
}

impl Compute {
    /// Creates a group in Nova's order: the quota, then the rules.
    pub async fn create_server_group(
        &self,
        caller: &Caller,
        new: NewServerGroup,
    ) -> ComputeResult<ServerGroup> {
        let limit_of = |limits: Limits| limits.get(&Resource::ServerGroups).copied().unwrap_or(-1);
        let limit = limit_of(self.quota_limits(&caller.project_id).await?);
        let own = limit_of(
            self.user_quota_limits(&caller.project_id, &caller.user_id)
                .await?,
        );
        let repo = self.store.server_groups();
        if limit >= 0 && repo.count(&caller.project_id).await? >= limit {
            return Err(over_quota());
        }
        if own >= 0
            && repo
                .count_of_user(&caller.project_id, &caller.user_id)
                .await?
                >= own
        {
            return Err(over_quota());
        }
        if new.max_server_per_host.is_some() && new.policy != GroupPolicy::AntiAffinity {
            return Err(ComputeError::Invalid(
                "Only anti-affinity policy supports rules.".into(),
            ));
        }
        let row = ServerGroupRow {
            uuid: uuid::Uuid::new_v4().to_string(),
            id: 0,
            name: new.name,
            project_id: caller.project_id.clone(),
            user_id: caller.user_id.clone(),
            policy: new.policy.to_string(),
            max_server_per_host: new.max_server_per_host,
            created_at: now_micros(),
        };
        let stored = repo.insert(&row, limit).await.map_err(|e| match e {
            StoreError::LimitExceeded => over_quota(),
            other => other.into(),
        })?;
        Ok(ServerGroup::of(stored, Vec::new()))
    }

    /// The caller's project's groups, or with `all_projects` (admins only;
    /// others get their own, as in Nova) every project's: `limit` of them
    /// after `offset`, oldest first.
    pub async fn list_server_groups(
        &self,
        caller: &Caller,
        all_projects: bool,
        offset: i64,
        limit: i64,
    ) -> ComputeResult<Vec<ServerGroup>> {
        let project = (!(all_projects && caller.is_admin)).then_some(caller.project_id.as_str());
        let repo = self.store.server_groups();
        let rows = repo.list(project, offset, limit).await?;
        let uuids: Vec<&str> = rows.iter().map(|r| r.uuid.as_str()).collect();
        let mut members = repo.members(&uuids).await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let of = members.remove(&row.uuid).unwrap_or_default();
                ServerGroup::of(row, of)
            })
            .collect())
    }

    /// A group the caller may see (its project's; any, for admins).
    pub async fn get_server_group(
        &self,
        caller: &Caller,
        uuid: &str,
    ) -> ComputeResult<ServerGroup> {
        let repo = self.store.server_groups();
        let row = repo
            .get(uuid)
            .await?
            .filter(|g| caller.is_admin || g.project_id == caller.project_id)
            .ok_or_else(|| ComputeError::NotFound(group_not_found(uuid)))?;
        let members = repo
            .members(&[uuid])
            .await?
            .remove(uuid)
            .unwrap_or_default();
        Ok(ServerGroup::of(row, members))
    }

    /// Deletes a group; its servers keep running, in no group.
    pub async fn delete_server_group(&self, caller: &Caller, uuid: &str) -> ComputeResult<()> {
        let group = self.get_server_group(caller, uuid).await?;
        match self.store.server_groups().delete(&group.uuid).await {
            Err(StoreError::NotFound) => Err(ComputeError::NotFound(group_not_found(uuid))),
            other => Ok(other?),
        }
    }

    /// The group a create request's scheduler hints name (`group`: a UUID,
    /// or a list whose first one counts); Nova's 400 when the caller may
    /// not see it.
    pub(crate) async fn requested_group(
        &self,
        caller: &Caller,
        hints: &Map<String, Value>,
    ) -> ComputeResult<Option<ServerGroup>> {
        let named = match hints.get("group") {
            Some(Value::String(uuid)) => uuid.as_str(),
            Some(Value::Array(uuids)) => uuids.first().and_then(Value::as_str).unwrap_or_default(),
            _ => "",
        };
        if named.is_empty() {
            return Ok(None);
        }
        self.get_server_group(caller, named)
            .await
            .map(Some)
            .map_err(|e| match e {
                ComputeError::NotFound(m) => ComputeError::Invalid(m),
                other => other,
            })
    }

    /// The rule of the group `server` is in, with how many of the group's
    /// other servers each host runs (for moving it).
    pub(crate) async fn group_constraint(
        &self,
        server: &crate::model::Server,
    ) -> ComputeResult<Option<(GroupRule, BTreeMap<String, i64>)>> {
        let Some(uuid) = &server.server_group else {
            return Ok(None);
        };
        let repo = self.store.server_groups();
        let Some(row) = repo.get(uuid).await? else {
            return Ok(None);
        };
        let hosts = repo.hosts(uuid, &server.uuid).await?;
        Ok(Some((
            ServerGroup::of(row, Vec::new()).rule(),
            hosts.into_iter().collect(),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(names: &[&str]) -> Vec<String> {
        names.iter().map(|h| (*h).to_owned()).collect()
    }

    fn on(counts: &[(&str, i64)]) -> BTreeMap<String, i64> {
        counts.iter().map(|(h, n)| ((*h).to_owned(), *n)).collect()
    }

    fn rule(policy: GroupPolicy, max_per_host: i64) -> GroupRule {
        GroupRule {
            policy,
            max_per_host,
        }
    }

    #[test]
    fn hard_policies_filter_and_fail() {
        let all = hosts(&["a", "b", "c"]);
        let affinity = rule(GroupPolicy::Affinity, 1);
        assert_eq!(affinity.choose(&all, &on(&[]), 1).as_deref(), Some("b"));
        assert_eq!(
            affinity.choose(&all, &on(&[("c", 2)]), 0).as_deref(),
            Some("c")
        );
        assert_eq!(affinity.choose(&hosts(&["a"]), &on(&[("c", 1)]), 0), None);

        let anti = rule(GroupPolicy::AntiAffinity, 1);
        assert_eq!(
            anti.choose(&all, &on(&[("a", 1), ("b", 1)]), 0).as_deref(),
            Some("c")
        );
        assert_eq!(
            anti.choose(&all, &on(&[("a", 1), ("b", 1), ("c", 1)]), 0),
            None
        );
        let two = rule(GroupPolicy::AntiAffinity, 2);
        assert_eq!(
            two.choose(&hosts(&["a"]), &on(&[("a", 1)]), 0).as_deref(),
            Some("a")
        );
        assert_eq!(two.choose(&hosts(&["a"]), &on(&[("a", 2)]), 0), None);
        assert_eq!(anti.choose(&[], &on(&[]), 0), None);
    }

    #[test]
    fn soft_policies_prefer_and_never_fail() {
        let all = hosts(&["a", "b", "c"]);
        let soft = rule(GroupPolicy::SoftAffinity, 1);
        assert_eq!(
            soft.choose(&all, &on(&[("b", 1), ("c", 3)]), 0).as_deref(),
            Some("c")
        );
        assert_eq!(
            soft.choose(&hosts(&["a"]), &on(&[("c", 3)]), 0).as_deref(),
            Some("a")
        );
        assert_eq!(
            soft.choose(&all, &on(&[]), 2).as_deref(),
            Some("c"),
            "ties: round robin"
        );
        let spread = rule(GroupPolicy::SoftAntiAffinity, 1);
        assert_eq!(
            spread
                .choose(&all, &on(&[("a", 1), ("c", 1)]), 0)
                .as_deref(),
            Some("b")
        );
        assert_eq!(
            spread
                .choose(&hosts(&["a"]), &on(&[("a", 5)]), 0)
                .as_deref(),
            Some("a")
        );
        assert_eq!(
            spread.choose(&all, &on(&[]), 1).as_deref(),
            Some("b"),
            "ties: round robin"
        );
    }
}
