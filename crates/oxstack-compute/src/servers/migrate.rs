//! Moving servers between compute hosts: `migrate` (cold: the resize flow
//! with the same flavor on another host, confirmed or reverted like a
//! resize), `os-migrateLive` (the guest keeps running while it moves) and
//! `evacuate` (the server is rebuilt elsewhere because its host is down).
//! The scheduler picks the destination unless the request names one.
//! Each move runs on the hosts that take part: the source host's part ends
//! by handing the server to the destination host (its `host` changes in
//! the same compare-and-swap), whose part finishes the move.

use oxstack_store::instances::{StateChange, StateGuard};
use oxstack_store::services::ServiceRow;
use oxstack_virt::PowerState;

use super::manager::{fault, guest_spec};
use super::states::{task, vm};
use super::{Caller, Server, check_lock, refused};
use crate::hosts::Flow;
use crate::{Compute, ComputeError, ComputeResult, now_micros};

/// Nova's `NoValidHost` for a move with no host to go to.
fn no_valid_host(kind: &str) -> String {
    format!("No valid host was found. No valid host found for {kind}")
}

/// Statuses of a live migration before the destination finishes it.
const LIVE_SOURCE: [&str; 4] = ["accepted", "queued", "preparing", "running"];

/// Dispatches a move's flow: `(compute, host, server, action)`.
type Starter = fn(&Compute, Option<&str>, &str, i64);

/// The task state of an evacuation (Nova's rebuild on another host).
const REBUILDING: &str = "rebuilding";

impl Compute {
    /// Nova's `check_instance_host(check_is_up=True)`: a resize or cold
    /// migration needs the server's own host to do its part.
    pub(crate) async fn check_host_is_up(&self, server: &Server) -> ComputeResult<()> {
        let Some(host) = server.host.as_deref() else {
            return Err(ComputeError::Conflict(format!(
                "Instance {} is not ready",
                server.uuid
            )));
        };
        match self.find_host(host).await? {
            Some(service) if !self.service_is_up(&service) => Err(ComputeError::Conflict(
                "Service is unavailable at this time.".into(),
            )),
            _ => Ok(()),
        }
    }

    /// Accepts a move: one compare-and-swap from a settled state of
    /// `from` to `change`, else Nova's 409 for the state the server is in
    /// now (racing requests: one wins).
    async fn accept_move(
        &self,
        caller: &Caller,
        id: &str,
        action: &str,
        from: &[&str],
        change: &StateChange,
    ) -> ComputeResult<()> {
        let guard = StateGuard::settled_in(from);
        if self
            .store
            .instances()
            .transition(id, &guard, change, now_micros())
            .await?
        {
            return Ok(());
        }
        let now = self.get_server(caller, id).await?;
        Err(refused(action, &now, from))
    }

    /// A destination named by a request: a known compute host, else
    /// Nova's 400.
    pub(crate) async fn named_host(&self, name: &str) -> ComputeResult<ServiceRow> {
        self.find_host(name).await?.ok_or_else(|| {
            ComputeError::Invalid(format!("Compute host {name} could not be found."))
        })
    }

    /// `migrate` (cold): to `host`, or where the scheduler finds room.
    pub async fn migrate_server(
        &self,
        caller: &Caller,
        id: &str,
        host: Option<&str>,
    ) -> ComputeResult<()> {
        let server = self.get_server(caller, id).await?;
        check_lock(&server, caller)?;
        let from = [vm::ACTIVE, vm::STOPPED];
        if !from.contains(&server.vm_state.as_str()) || server.task_state.is_some() {
            return Err(refused("migrate", &server, &from));
        }
        self.check_host_is_up(&server).await?;
        let dest = match host {
            Some(name) => {
                let named = self.named_host(name).await?;
                if Some(&named.host) == server.host.as_ref() {
                    return Err(ComputeError::Invalid(
                        "Cannot migrate to the host where the server exists.".into(),
                    ));
                }
                Some(named).filter(|d| !d.disabled && self.service_is_up(d))
            }
            None => self.pick_host(server.host.as_deref()).await?,
        };
        let Some(dest) = dest else {
            return Err(ComputeError::Invalid(no_valid_host("cold migrate")));
        };
        let old = serde_json::to_string(&oxstack_store::instances::FlavorColumns::of(&server))
            .map_err(|e| ComputeError::Invalid(e.to_string()))?;
        let change = StateChange {
            task_state: Some(Some("resize_prep".into())),
            old_flavor: Some(Some(old)),
            ..StateChange::default()
        };
        self.accept_move(caller, id, "migrate", &from, &change)
            .await?;
        let action_id = self.record_action(&server, caller, "migrate").await?;
        let flavor = self.store.flavors().get(&server.flavor_id).await?;
        let seq = flavor.map(|f| f.seq);
        self.record_migration(
            &server,
            caller,
            "migration",
            "pre-migrating",
            (seq, seq),
            Some((&dest.host, &dest.node)),
        )
        .await?;
        self.start_resize(&server, action_id);
        Ok(())
    }

    /// `os-migrateLive`: accepted, then run by the server's host; a move
    /// that cannot happen (no host, the same host, a host that is down)
    /// fails in the background with the server left where it was, as
    /// Nova's conductor does from 2.34.
    pub async fn live_migrate_server(
        &self,
        caller: &Caller,
        id: &str,
        host: Option<&str>,
    ) -> ComputeResult<()> {
        let server = self.get_server(caller, id).await?;
        check_lock(&server, caller)?;
        let named = match host {
            Some(name) => Some(self.named_host(name).await?),
            None => None,
        };
        let from = [vm::ACTIVE, vm::PAUSED];
        let migrating = StateChange {
            task_state: Some(Some(task::MIGRATING.into())),
            ..StateChange::default()
        };
        self.accept_move(caller, id, "os-migrateLive", &from, &migrating)
            .await?;
        let dest = match named {
            Some(named) => Some(named),
            None => self.pick_host(server.host.as_deref()).await?,
        };
        let action_id = self
            .record_action(&server, caller, "live-migration")
            .await?;
        let to = dest.as_ref().map(|d| (d.host.as_str(), d.node.as_str()));
        self.record_migration(
            &server,
            caller,
            "live-migration",
            "accepted",
            (None, None),
            to,
        )
        .await?;
        self.start_live_migration(server.host.as_deref(), &server.uuid, action_id);
        Ok(())
    }

    fn start_live_migration(&self, host: Option<&str>, uuid: &str, action_id: i64) {
        let id = uuid.to_owned();
        self.dispatch(host, uuid, move |compute| -> Flow {
            Box::pin(async move {
                if let Err(e) = compute.run_live_migration(&id, action_id).await {
                    tracing::error!(server = %id, error = %e, "live migration failed");
                }
            })
        });
    }

    /// Why a live migration to `dest` cannot start, in Nova's words.
    fn live_migration_refusal(&self, server: &Server, dest: Option<&ServiceRow>) -> Option<String> {
        let Some(dest) = dest else {
            return Some(no_valid_host("live migration"));
        };
        if server.host.as_deref() == Some(dest.host.as_str()) {
            return Some(format!(
                "Unable to migrate instance ({}) to current host ({}).",
                server.uuid, dest.host
            ));
        }
        if !self.service_is_up(dest) {
            return Some(format!(
                "Compute service of {} is unavailable at this time.",
                dest.host
            ));
        }
        None
    }

    /// The source host's part of a live migration (preparing → running,
    /// the guest copied over, then handed to the destination), or the
    /// destination's (the guest resumes there; `completed`).
    async fn run_live_migration(&self, uuid: &str, action_id: i64) -> ComputeResult<()> {
        const CONDUCTOR: &str = "conductor_live_migrate_instance";
        let repo = self.store.instances();
        let actions = self.store.instance_actions();
        let Some(server) = repo.get(uuid).await? else {
            return Ok(());
        };
        if server.task_state.as_deref() != Some(task::MIGRATING) {
            return Ok(());
        }
        let Some(m) = self
            .current_migration(
                uuid,
                &[
                    "accepted",
                    "queued",
                    "preparing",
                    "running",
                    "post-migrating",
                ],
            )
            .await?
        else {
            return self.end_live_migration(uuid, action_id, None).await;
        };
        if m.status == "post-migrating" {
            return self.finish_live_migration(&server, action_id).await;
        }
        actions
            .start_event(action_id, CONDUCTOR, &self.host, now_micros())
            .await?;
        let dest = match &m.dest_compute {
            Some(name) => self.find_host(name).await?,
            None => None,
        };
        if let Some(reason) = self.live_migration_refusal(&server, dest.as_ref()) {
            self.advance_migration(uuid, &LIVE_SOURCE, "error").await?;
            return self
                .end_live_migration(uuid, action_id, Some((CONDUCTOR, &reason)))
                .await;
        }
        self.advance_migration(uuid, &["accepted", "queued"], "preparing")
            .await?;
        self.record_events(action_id, &["compute_pre_live_migration"])
            .await?;
        if !self
            .advance_migration(uuid, &["preparing"], "running")
            .await?
        {
            // Aborted while queued or preparing.
            return self.end_live_migration(uuid, action_id, None).await;
        }
        const COPY: &str = "compute_live_migration";
        actions
            .start_event(action_id, COPY, &self.host, now_micros())
            .await?;
        if let Err(e) = self.driver.send_guest(uuid).await {
            self.advance_migration(uuid, &["running"], "error").await?;
            actions
                .finish(action_id, COPY, Some(&e.message), now_micros())
                .await?;
            return self
                .end_live_migration(uuid, action_id, Some((CONDUCTOR, &e.message)))
                .await;
        }
        let power = PowerState::from_code(server.power_state);
        if !self
            .advance_migration(uuid, &["running"], "post-migrating")
            .await?
        {
            // Aborted while the guest was copied: it stays here.
            let _ = self.driver.receive_guest(&guest_spec(&server), power).await;
            actions.finish(action_id, COPY, None, now_micros()).await?;
            return self.end_live_migration(uuid, action_id, None).await;
        }
        let handed = StateChange {
            host: Some(m.dest_compute.clone()),
            node: Some(m.dest_node.clone()),
            ..StateChange::default()
        };
        let migrating = StateGuard::in_task(task::MIGRATING);
        if !repo
            .transition(uuid, &migrating, &handed, now_micros())
            .await?
        {
            return Ok(());
        }
        actions.finish(action_id, COPY, None, now_micros()).await?;
        actions
            .finish(action_id, CONDUCTOR, None, now_micros())
            .await?;
        self.start_live_migration(m.dest_compute.as_deref(), uuid, action_id);
        Ok(())
    }

    /// The destination's part: the guest runs here as it ran there.
    async fn finish_live_migration(&self, server: &Server, action_id: i64) -> ComputeResult<()> {
        const EVENT: &str = "compute_post_live_migration_at_destination";
        let actions = self.store.instance_actions();
        actions
            .start_event(action_id, EVENT, &self.host, now_micros())
            .await?;
        let power = PowerState::from_code(server.power_state);
        let received = self.driver.receive_guest(&guest_spec(server), power).await;
        let done = StateChange {
            task_state: Some(None),
            power_state: Some(self.driver.power_state(&server.uuid).await.code()),
            ..StateChange::default()
        };
        let migrating = StateGuard::in_task(task::MIGRATING);
        self.store
            .instances()
            .transition(&server.uuid, &migrating, &done, now_micros())
            .await?;
        let error = received.err().map(|e| e.message);
        let status = if error.is_some() {
            "error"
        } else {
            "completed"
        };
        self.advance_migration(&server.uuid, &["post-migrating"], status)
            .await?;
        actions
            .finish(action_id, EVENT, error.as_deref(), now_micros())
            .await?;
        Ok(())
    }

    /// Leaves a live migration that did not happen: the server stays where
    /// it is with its task cleared; `failure` is `(event, reason)`.
    async fn end_live_migration(
        &self,
        uuid: &str,
        action_id: i64,
        failure: Option<(&str, &str)>,
    ) -> ComputeResult<()> {
        let back = StateChange {
            task_state: Some(None),
            ..StateChange::default()
        };
        let from = StateGuard::in_task(task::MIGRATING);
        self.store
            .instances()
            .transition(uuid, &from, &back, now_micros())
            .await?;
        if let Some((event, reason)) = failure {
            self.store
                .instance_actions()
                .finish(action_id, event, Some(reason), now_micros())
                .await?;
        }
        Ok(())
    }

    /// `evacuate`: rebuilds a server whose host is down on another host;
    /// `stop` (2.95) leaves it stopped there whatever it was.
    pub async fn evacuate_server(
        &self,
        caller: &Caller,
        id: &str,
        host: Option<&str>,
        stop: bool,
    ) -> ComputeResult<()> {
        let server = self.get_server(caller, id).await?;
        let from = [vm::ACTIVE, vm::STOPPED, vm::ERROR];
        if !from.contains(&server.vm_state.as_str()) || server.task_state.is_some() {
            return Err(refused("evacuate", &server, &from));
        }
        let source = server.host.clone().unwrap_or_default();
        let named = match host {
            Some(name) => {
                let Some(dest) = self.find_host(name).await? else {
                    return Err(ComputeError::NotFound(format!(
                        "Compute host {name} not found."
                    )));
                };
                if dest.host == source {
                    return Err(ComputeError::Invalid(
                        "The target host can't be the same one.".into(),
                    ));
                }
                Some(dest)
            }
            None => None,
        };
        if let Some(current) = self.find_host(&source).await?
            && self.service_is_up(&current)
        {
            return Err(ComputeError::Invalid(format!(
                "Compute service of {source} is still in use."
            )));
        }
        let dest = match named {
            Some(dest) => Some(dest),
            None => self.pick_host(Some(&source)).await?,
        };
        let Some(dest) = dest.filter(|d| self.service_is_up(d)) else {
            return Err(ComputeError::Invalid(no_valid_host("evacuate")));
        };
        // The state the rebuilt server ends in is recorded with the
        // acceptance (the task hides it until then), so that the host that
        // rebuilds it — or resumes the rebuild after a crash — knows it.
        let change = StateChange {
            vm_state: stop.then(|| vm::STOPPED.into()),
            task_state: Some(Some(REBUILDING.into())),
            host: Some(Some(dest.host.clone())),
            node: Some(Some(dest.node.clone())),
            ..StateChange::default()
        };
        self.accept_move(caller, id, "evacuate", &from, &change)
            .await?;
        let action_id = self.record_action(&server, caller, "evacuate").await?;
        self.record_migration(
            &server,
            caller,
            "evacuation",
            "accepted",
            (None, None),
            Some((&dest.host, &dest.node)),
        )
        .await?;
        self.start_evacuation(Some(&dest.host), &server.uuid, action_id);
        Ok(())
    }

    fn start_evacuation(&self, host: Option<&str>, uuid: &str, action_id: i64) {
        let id = uuid.to_owned();
        self.dispatch(host, uuid, move |compute| async move {
            if let Err(e) = compute.run_evacuation(&id, action_id).await {
                tracing::error!(server = %id, error = %e, "evacuation failed");
            }
        });
    }

    /// The destination's part of an evacuation: the guest is built again
    /// from its image, stopped if it was stopped.
    async fn run_evacuation(&self, uuid: &str, action_id: i64) -> ComputeResult<()> {
        const EVENT: &str = "compute_rebuild_instance";
        let repo = self.store.instances();
        let actions = self.store.instance_actions();
        let Some(server) = repo.get(uuid).await? else {
            return Ok(());
        };
        if server.task_state.as_deref() != Some(REBUILDING) {
            return Ok(());
        }
        actions
            .start_event(action_id, EVENT, &self.host, now_micros())
            .await?;
        self.advance_migration(uuid, &["accepted"], "pre-migrating")
            .await?;
        let stopped = server.vm_state == vm::STOPPED;
        let mut result = self.driver.spawn(&guest_spec(&server)).await;
        if result.is_ok() && stopped {
            result = self
                .driver
                .operate(uuid, oxstack_virt::Operation::PowerOff)
                .await;
        }
        let rebuilding = StateGuard::in_task(REBUILDING);
        let error = result.err().map(|e| e.message);
        let end = match &error {
            None => StateChange {
                vm_state: Some(if stopped { vm::STOPPED } else { vm::ACTIVE }.into()),
                task_state: Some(None),
                power_state: Some(self.driver.power_state(uuid).await.code()),
                fault: Some(None),
                ..StateChange::default()
            },
            Some(message) => StateChange {
                vm_state: Some(vm::ERROR.into()),
                task_state: Some(None),
                fault: Some(Some(fault(500, message, message))),
                ..StateChange::default()
            },
        };
        repo.transition(uuid, &rebuilding, &end, now_micros())
            .await?;
        let status = if error.is_some() { "error" } else { "done" };
        self.advance_migration(uuid, &["accepted", "pre-migrating"], status)
            .await?;
        actions
            .finish(action_id, EVENT, error.as_deref(), now_micros())
            .await?;
        Ok(())
    }

    /// A failed step of a resize or cold migration: the server goes to
    /// ERROR with the fault, its migration to `error`.
    pub(crate) async fn fail_move(
        &self,
        uuid: &str,
        action_id: i64,
        event: &str,
        message: &str,
    ) -> ComputeResult<()> {
        tracing::warn!(server = %uuid, error = %message, "moving a server failed");
        let failed = StateChange {
            vm_state: Some(vm::ERROR.into()),
            task_state: Some(None),
            fault: Some(Some(fault(500, message, message))),
            ..StateChange::default()
        };
        self.store
            .instances()
            .transition(uuid, &StateGuard::default(), &failed, now_micros())
            .await?;
        self.advance_migration(
            uuid,
            &["pre-migrating", "migrating", "post-migrating", "reverting"],
            "error",
        )
        .await?;
        let actions = self.store.instance_actions();
        actions
            .start_event(action_id, event, &self.host, now_micros())
            .await?;
        actions
            .finish(action_id, event, Some(message), now_micros())
            .await?;
        Ok(())
    }

    /// The newest action named one of `names` of a server whose task
    /// state shows its work goes on.
    pub(crate) async fn unfinished_action(
        &self,
        uuid: &str,
        names: &[&str],
    ) -> ComputeResult<Option<i64>> {
        Ok(self.store.instance_actions().latest_of(uuid, names).await?)
    }

    /// Resumes a live migration or an evacuation that a restart
    /// interrupted or another host handed over; `false` for other tasks.
    pub(crate) async fn resume_move(&self, server: &Server) -> ComputeResult<bool> {
        let (names, start): (&[&str], Starter) = match server.task_state.as_deref() {
            Some(task::MIGRATING) => (&["live-migration"], Self::start_live_migration),
            Some(REBUILDING) => (&["evacuate"], Self::start_evacuation),
            _ => return Ok(false),
        };
        let Some(action_id) = self.unfinished_action(&server.uuid, names).await? else {
            return Ok(false);
        };
        if server.task_state.as_deref() == Some(REBUILDING)
            && self
                .current_migration(&server.uuid, &["accepted", "pre-migrating"])
                .await?
                .is_none_or(|m| m.migration_type != "evacuation")
        {
            // A rebuild in place, not an evacuation.
            return Ok(false);
        }
        start(self, None, &server.uuid, action_id);
        Ok(true)
    }
}
