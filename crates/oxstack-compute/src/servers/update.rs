//! Changes to existing servers: update, delete, metadata and tags, each
//! with Nova's lock and state rules.

use std::collections::BTreeMap;

use oxstack_store::StoreError;
use oxstack_store::instances::{InstanceUpdate, Step};

use super::flow::{Acceptance, Flow, Work};
use super::rules::{self, Rule, invalid_state};
use super::{Caller, check_lock};
use crate::model::canonical_ips;
use crate::model::change::{Change, Guard};
use crate::model::states::{TaskState, VmState};
use crate::model::{LockedBy, Server};
use crate::quotas::Resource;
use crate::{Compute, ComputeError, ComputeResult, now_micros};

/// Nova's `MAX_TAG_COUNT`.
pub const MAX_TAGS: i64 = 50;

/// The states in which metadata and tags may change.
const SETTLED: [VmState; 4] = [
    VmState::Active,
    VmState::Paused,
    VmState::Suspended,
    VmState::Stopped,
];

/// The fields `PUT /servers/{id}` may change; `None` leaves one alone.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServerUpdate {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub hostname: Option<String>,
    pub access_ip_v4: Option<Option<String>>,
    pub access_ip_v6: Option<Option<String>>,
    pub auto_disk_config: Option<bool>,
    /// 2.104: `Some(None)` unpins.
    pub pinned_availability_zone: Option<Option<String>>,
}

impl Compute {
    /// `PUT /servers/{id}`: no lock or state rule applies (as in Nova).
    pub async fn update_server(
        &self,
        caller: &Caller,
        id: &str,
        u: ServerUpdate,
    ) -> ComputeResult<Server> {
        let server = self.get_server(caller, id).await?;
        let pinned = match &u.pinned_availability_zone {
            None => None,
            Some(None) => Some(None),
            Some(Some(wanted)) => match &server.pinned_availability_zone {
                Some(current) if current == wanted => None,
                Some(_) => {
                    return Err(ComputeError::Conflict(
                        "Cannot change pinned availability zone directly. Unpin first by setting pinned_availability_zone to null."
                            .into(),
                    ));
                }
                None => {
                    let current = server
                        .availability_zone
                        .clone()
                        .unwrap_or_else(|| self.settings.availability_zone.clone());
                    if &current != wanted {
                        return Err(ComputeError::Conflict(format!(
                            "Server can only be pinned to its current availability zone '{current}', but '{wanted}' was requested."
                        )));
                    }
                    Some(Some(current))
                }
            },
        };
        let change = InstanceUpdate {
            display_name: u.name,
            display_description: u.description,
            hostname: u.hostname,
            access_ip_v4: u.access_ip_v4.map(canonical_ips),
            access_ip_v6: u.access_ip_v6.map(canonical_ips),
            auto_disk_config: u.auto_disk_config,
            pinned_availability_zone: pinned,
            ..InstanceUpdate::default()
        };
        match self
            .store
            .instances()
            .update(id, &change, now_micros())
            .await
        {
            Err(StoreError::NotFound) => return Err(super::not_found(id)),
            other => other?,
        }
        self.get_server(caller, id).await
    }

    /// `DELETE /servers/{id}`: any state, unless locked; the server goes
    /// `deleting` and its host finishes the job. With a reclaim interval,
    /// a launched server is soft-deleted instead.
    pub async fn delete_server(&self, caller: &Caller, id: &str) -> ComputeResult<()> {
        let server = self.actionable(caller, id, &rules::DELETE).await?;
        if !self.settings.reclaim_instance_interval.is_zero()
            && server.launched_at.is_some()
            && self.soft_delete(caller, &server).await?
        {
            return Ok(());
        }
        self.hard_delete(Some(caller), server, &rules::DELETE).await
    }

    /// Marks a server `deleting` (recording the caller's `delete` action
    /// with it) and has it destroyed by its host — or here, when its host
    /// is down or gone (Nova's local delete: the records go; the guest is
    /// the dead host's to clean up). The periodic reclaim has no caller
    /// and records no action.
    pub(crate) async fn hard_delete(
        &self,
        caller: Option<&Caller>,
        server: Server,
        rule: &Rule,
    ) -> ComputeResult<()> {
        let owner = match server.host.as_deref() {
            Some(host) if host != self.host => self
                .find_host(host)
                .await?
                .filter(|s| self.service_is_up(s))
                .map(|_| host),
            other => other,
        };
        let action_id = match caller {
            Some(caller) => Some(
                self.accept(caller, &server, rule, Acceptance::default())
                    .await?,
            ),
            None => {
                let guard = Guard {
                    vm_states: None,
                    task_states: Some(rule.task_states.to_vec()),
                };
                if !self
                    .transition(&server.uuid, &guard, &Change::task(TaskState::Deleting))
                    .await?
                {
                    return Ok(());
                }
                None
            }
        };
        self.dispatch(owner, &server.uuid, Work::new(Flow::Delete, action_id));
        Ok(())
    }

    fn check_metadata_state(
        &self,
        server: &Server,
        caller: &Caller,
        action: &str,
    ) -> ComputeResult<()> {
        check_lock(server, caller)?;
        if !SETTLED.contains(&server.vm_state) {
            return Err(invalid_state(
                action,
                server,
                "vm_state",
                server.vm_state.as_str(),
            ));
        }
        if server.launched_at.is_none() {
            return Err(invalid_state(action, server, "launched_at", "None"));
        }
        Ok(())
    }

    /// Merges (`replace` false) or replaces server metadata; returns the
    /// resulting set.
    pub async fn write_server_metadata(
        &self,
        caller: &Caller,
        id: &str,
        items: &BTreeMap<String, String>,
        replace: bool,
    ) -> ComputeResult<BTreeMap<String, String>> {
        let server = self.get_server(caller, id).await?;
        self.check_metadata_state(&server, caller, "update metadata")?;
        let limit = self
            .quota_limits(&server.project_id)
            .await?
            .get(&Resource::MetadataItems)
            .copied()
            .unwrap_or(-1);
        match self
            .store
            .instances()
            .write_metadata(id, items, replace, limit, now_micros())
            .await
        {
            Err(StoreError::LimitExceeded) => {
                return Err(ComputeError::Forbidden(format!(
                    "Maximum number of metadata items exceeds {limit}"
                )));
            }
            Err(StoreError::NotFound) => return Err(super::not_found(id)),
            other => other?,
        }
        Ok(self.get_server(caller, id).await?.metadata)
    }

    /// Deletes one metadata item.
    pub async fn delete_server_metadata(
        &self,
        caller: &Caller,
        id: &str,
        key: &str,
    ) -> ComputeResult<()> {
        let server = self.get_server(caller, id).await?;
        if !server.metadata.contains_key(key) {
            return Err(metadata_not_found());
        }
        self.check_metadata_state(&server, caller, "delete metadata")?;
        match self
            .store
            .instances()
            .delete_metadata(id, key, now_micros())
            .await
        {
            Err(StoreError::NotFound) => Err(metadata_not_found()),
            other => Ok(other?),
        }
    }

    fn check_tag_state(server: &Server, action: &str) -> ComputeResult<()> {
        if !SETTLED.contains(&server.vm_state) {
            return Err(invalid_state(
                action,
                server,
                "vm_state",
                server.vm_state.as_str(),
            ));
        }
        Ok(())
    }

    /// Replaces every tag; returns the resulting tags.
    pub async fn replace_server_tags(
        &self,
        caller: &Caller,
        id: &str,
        tags: &[String],
    ) -> ComputeResult<Vec<String>> {
        let server = self.get_server(caller, id).await?;
        Self::check_tag_state(&server, "update tags")?;
        self.write_tags(id, tags, true).await?;
        Ok(self.get_server(caller, id).await?.tags)
    }

    /// Adds one tag; `true` when it was new.
    pub async fn add_server_tag(
        &self,
        caller: &Caller,
        id: &str,
        tag: &str,
    ) -> ComputeResult<bool> {
        let server = self.get_server(caller, id).await?;
        Self::check_tag_state(&server, "update tag")?;
        if server.tags.len() as i64 >= MAX_TAGS {
            return Err(ComputeError::Invalid(format!(
                "The number of tags exceeded the per-server limit {MAX_TAGS}"
            )));
        }
        self.write_tags(id, &[tag.to_owned()], false).await
    }

    async fn write_tags(&self, id: &str, tags: &[String], replace: bool) -> ComputeResult<bool> {
        match self
            .store
            .instances()
            .write_tags(id, tags, replace, MAX_TAGS, now_micros())
            .await
        {
            Err(StoreError::LimitExceeded) => Err(ComputeError::Invalid(format!(
                "The number of tags exceeded the per-server limit {MAX_TAGS}"
            ))),
            Err(StoreError::NotFound) => Err(super::not_found(id)),
            other => Ok(other?),
        }
    }

    /// Deletes one tag (`Some`) or all of them.
    pub async fn delete_server_tags(
        &self,
        caller: &Caller,
        id: &str,
        tag: Option<&str>,
    ) -> ComputeResult<()> {
        let server = self.get_server(caller, id).await?;
        Self::check_tag_state(
            &server,
            if tag.is_some() {
                "delete tag"
            } else {
                "delete tags"
            },
        )?;
        match self
            .store
            .instances()
            .delete_tags(id, tag, now_micros())
            .await
        {
            Err(StoreError::NotFound) => Err(ComputeError::NotFound(format!(
                "Instance {id} has no tag '{}'",
                tag.unwrap_or_default()
            ))),
            other => Ok(other?),
        }
    }
}

fn metadata_not_found() -> ComputeError {
    ComputeError::NotFound("Metadata item was not found".into())
}

impl Compute {
    /// `lock`: any state; remembers whether the owner or an admin locked it.
    pub async fn lock_server(
        &self,
        caller: &Caller,
        id: &str,
        reason: Option<String>,
    ) -> ComputeResult<()> {
        let server = self.get_server(caller, id).await?;
        let update = InstanceUpdate {
            locked_by: Some(Some(LockedBy::of(&server, caller).as_str().into())),
            locked_reason: Some(reason),
            ..InstanceUpdate::default()
        };
        self.record_edit(caller, &server, "lock", update).await
    }

    /// `unlock`: a lock an admin placed only an admin may lift.
    pub async fn unlock_server(&self, caller: &Caller, id: &str) -> ComputeResult<()> {
        let server = self.get_server(caller, id).await?;
        if server.locked_by == Some(LockedBy::Admin) && !caller.is_admin {
            return Err(ComputeError::Forbidden(
                "Policy doesn't allow os_compute_api:os-lock-server:unlock:unlock_override to be performed."
                    .into(),
            ));
        }
        let update = InstanceUpdate {
            locked_by: Some(None),
            locked_reason: Some(None),
            ..InstanceUpdate::default()
        };
        self.record_edit(caller, &server, "unlock", update).await
    }

    /// An edit of a live server recorded as a finished action, in one
    /// transaction.
    async fn record_edit(
        &self,
        caller: &Caller,
        server: &Server,
        record: &str,
        update: InstanceUpdate,
    ) -> ComputeResult<()> {
        let step = Step {
            update: Some(update),
            ..Step::default()
        };
        if !self
            .record_done(caller, server, record, &[], &Guard::any(), step)
            .await?
        {
            return Err(super::not_found(&server.uuid));
        }
        Ok(())
    }

    /// `os-resetState` (admin): sets the vm_state (`active` or `error`)
    /// and clears any task, whatever the server is doing.
    pub async fn reset_server_state(
        &self,
        caller: &Caller,
        id: &str,
        to: VmState,
    ) -> ComputeResult<()> {
        let server = self.get_server(caller, id).await?;
        let change = Change {
            vm_state: Some(to),
            ..Change::clear_task()
        };
        let step = Step {
            change: (&change).into(),
            ..Step::default()
        };
        self.record_done(caller, &server, "resetState", &[], &Guard::any(), step)
            .await?;
        Ok(())
    }
}
