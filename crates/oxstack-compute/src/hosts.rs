//! Compute hosts: each process runs the manager of one host, registered as
//! a compute service that reports in while it lives. Work on a server runs
//! on the server's host: here when that is this process's host, otherwise
//! the host's agent is woken (PostgreSQL `NOTIFY`) and picks the work up
//! from the database, where every accepted task is recorded — the same
//! path that resumes work after a crash. The scheduler places servers on
//! the enabled hosts that are up.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use oxstack_store::services::{NewService, ServiceChange, ServiceRow};
use oxstack_virt::Driver;

use crate::host_hints::HostHints;
use crate::model::{ComputeService, Server, ServiceUpdate};
use crate::server_groups::GroupRule;
use crate::servers::flow::Work;
use crate::{Compute, ComputeError, ComputeResult, now_micros};

/// How long the scheduler trusts its last read of the services.
const SERVICES_TTL: Duration = Duration::from_secs(1);

/// Flows this process runs, by server: how many, and whether a wake-up
/// arrived meanwhile (to be looked at when the last one ends).
#[derive(Debug, Default)]
pub(crate) struct InFlight {
    servers: Mutex<HashMap<String, (usize, bool)>>,
}

impl InFlight {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (usize, bool)>> {
        // Every critical section is a single map operation.
        self.servers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn enter(&self, uuid: &str) {
        self.lock().entry(uuid.to_owned()).or_default().0 += 1;
    }

    /// `true` when a wake-up came while the server's flows ran.
    fn leave(&self, uuid: &str) -> bool {
        let mut servers = self.lock();
        let Some(entry) = servers.get_mut(uuid) else {
            return false;
        };
        entry.0 -= 1;
        if entry.0 > 0 {
            return false;
        }
        servers.remove(uuid).is_some_and(|(_, woken)| woken)
    }

    /// Enters the server's first flow; `false` (and the wake-up noted)
    /// when a flow of it runs already.
    fn claim(&self, uuid: &str) -> bool {
        let mut servers = self.lock();
        match servers.get_mut(uuid) {
            Some(entry) => {
                entry.1 = true;
                false
            }
            None => {
                servers.insert(uuid.to_owned(), (1, false));
                true
            }
        }
    }
}

/// A server held in flight by one flow of this process: released when the
/// flow ends — even by a panic, which would otherwise leave the server
/// held and every later wake-up for it merely noted.
struct Held {
    compute: Compute,
    uuid: String,
}

impl Drop for Held {
    fn drop(&mut self) {
        if self.compute.in_flight.leave(&self.uuid) {
            self.compute
                .pick_up(std::mem::take(&mut self.uuid), false, None);
        }
    }
}

/// The compute hosts one process runs: what each has of its own (its
/// hypervisor, its flows in flight, whether its work is held); the rest
/// of a [`Compute`] they share.
#[derive(Debug, Default)]
pub(crate) struct LocalHosts {
    hosts: RwLock<BTreeMap<String, LocalHost>>,
}

#[derive(Clone, Debug)]
struct LocalHost {
    driver: Arc<dyn Driver>,
    in_flight: Arc<InFlight>,
    held: Arc<AtomicBool>,
}

impl LocalHosts {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, LocalHost>> {
        self.hosts
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn contains(&self, host: &str) -> bool {
        self.read().contains_key(host)
    }
}

/// The scheduler's view of the services, refreshed every [`SERVICES_TTL`].
#[derive(Debug, Default)]
pub(crate) struct ServiceCache {
    read: Mutex<Option<(Instant, Arc<Vec<ServiceRow>>)>>,
    /// Round-robin position among the candidates.
    next: AtomicUsize,
}

/// Where the servers of one create request go, one after the other.
pub(crate) struct Placement {
    candidates: Vec<String>,
    cache: Arc<ServiceCache>,
}

impl Placement {
    /// The host of the next server; `None` when no host can take it.
    pub(crate) fn next_host(&self) -> Option<String> {
        if self.candidates.is_empty() {
            return None;
        }
        let turn = self.cache.next.fetch_add(1, Ordering::Relaxed);
        Some(self.candidates[turn % self.candidates.len()].clone())
    }

    /// The host of the next server of a server group whose servers run
    /// `members` of each host (counted in as it is placed); `None` when
    /// the group's policy allows no host.
    pub(crate) fn next_host_in_group(
        &self,
        rule: GroupRule,
        members: &mut BTreeMap<String, i64>,
    ) -> Option<String> {
        let turn = self.cache.next.fetch_add(1, Ordering::Relaxed);
        let host = rule.choose(&self.candidates, members, turn)?;
        *members.entry(host.clone()).or_default() += 1;
        Some(host)
    }
}

impl Compute {
    /// This host, listed among the process's hosts.
    pub(crate) fn registered(self) -> Self {
        let own = LocalHost {
            driver: self.driver.clone(),
            in_flight: self.in_flight.clone(),
            held: self.held.clone(),
        };
        self.local
            .hosts
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(self.host.clone(), own);
        self
    }

    /// Runs one more compute host, `host` with hypervisor `driver`, in
    /// this process: a simulated host of an embedded cloud (or an extra one
    /// of a node). Register it and start its tasks as for any host.
    pub fn add_local_host(&self, host: String, driver: Arc<dyn Driver>) -> Compute {
        Compute {
            host,
            driver,
            in_flight: Arc::default(),
            held: Arc::default(),
            ..self.clone()
        }
        .registered()
    }

    /// The hosts this process runs, with their hypervisors.
    pub(crate) fn local_hosts(&self) -> Vec<(String, Arc<dyn Driver>)> {
        let mut hosts: Vec<(String, Arc<dyn Driver>)> = self
            .local
            .read()
            .iter()
            .map(|(host, h)| (host.clone(), h.driver.clone()))
            .collect();
        if hosts.is_empty() {
            hosts.push((self.host.clone(), self.driver.clone()));
        }
        hosts
    }

    /// The compute service of `host` when this process runs it.
    pub(crate) fn local_host(&self, host: &str) -> Option<Compute> {
        if host == self.host {
            return Some(self.clone());
        }
        let there = self.local.read().get(host).cloned()?;
        Some(Compute {
            host: host.to_owned(),
            driver: there.driver,
            in_flight: there.in_flight,
            held: there.held,
            ..self.clone()
        })
    }

    /// Whether a service counts as up: not forced down and reporting
    /// within `service_down_time`. An embedded (SQLite) cloud is one
    /// process, so no host but those it runs can be up.
    pub(crate) fn service_is_up(&self, service: &ServiceRow) -> bool {
        if self.store.backend() == oxstack_store::Backend::Sqlite
            && !self.local.contains(&service.host)
        {
            return false;
        }
        let window = i64::try_from(self.settings.service_down_time.as_micros()).unwrap_or(i64::MAX);
        !service.forced_down && now_micros().saturating_sub(service.last_seen_up) <= window
    }

    /// Registers this host as a compute service, with what it offers.
    pub async fn register_host(&self) -> ComputeResult<ComputeService> {
        let resources = self.driver.resources();
        let new = NewService {
            uuid: &uuid::Uuid::new_v4().to_string(),
            node_uuid: &uuid::Uuid::new_v4().to_string(),
            host: &self.host,
            node: self.driver.node_name(),
            zone: &self.settings.availability_zone,
            vcpus: resources.vcpus,
            memory_mb: resources.memory_mb,
            local_gb: resources.local_gb,
            hypervisor_type: &resources.hypervisor_type,
            hypervisor_version: resources.hypervisor_version,
            host_ip: &self.settings.my_ip,
        };
        let row = self.store.services().register(&new, now_micros()).await?;
        self.forget_services();
        Ok(self.service(row))
    }

    /// Reports in every `report_interval`, registering again if an
    /// operator deleted the service; runs until aborted.
    pub async fn run_host_reports(self) {
        let mut tick = tokio::time::interval(self.settings.report_interval);
        tick.tick().await;
        loop {
            tick.tick().await;
            let reported = match self.store.services().report(&self.host, now_micros()).await {
                Ok(Some(_)) => Ok(()),
                Ok(None) => self.register_host().await.map(|_| ()),
                Err(e) => Err(e.into()),
            };
            if let Err(e) = reported {
                tracing::warn!(error = %e, "reporting this compute host failed");
            }
        }
    }

    /// Picks up work that other nodes accepted for this host; runs until
    /// aborted. Returns at once on SQLite, where no other node exists.
    pub async fn run_wake_listener(self) {
        loop {
            let mut wakes = match self.store.listen_wakes().await {
                Ok(Some(wakes)) => wakes,
                Ok(None) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "listening for work failed; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            // Anything accepted before the listener was up is found here.
            self.sweep().await;
            loop {
                match wakes.next().await {
                    Ok(Some(wake)) if wake.host == self.host => {
                        self.pick_up(wake.uuid, false, wake.secret);
                    }
                    Ok(Some(_)) => {}
                    Ok(None) => self.sweep().await,
                    Err(e) => {
                        tracing::warn!(error = %e, "lost the work channel; reconnecting");
                        break;
                    }
                }
            }
        }
    }

    /// Holds the work accepted from now on where it is: servers stay in
    /// the task state their acceptance set (with everything recorded, as
    /// after a crash) until [`Compute::release_flows`].
    pub fn hold_flows(&self) {
        self.held.store(true, Ordering::Release);
    }

    /// Lets work run again, and resumes what was held.
    pub async fn release_flows(&self) {
        self.held.store(false, Ordering::Release);
        self.sweep().await;
    }

    /// Resumes this host's unsettled servers that no flow here runs.
    async fn sweep(&self) {
        match self.unsettled().await {
            Ok(servers) => {
                for uuid in servers {
                    self.pick_up(uuid, false, None);
                }
            }
            Err(e) => tracing::warn!(error = %e, "looking for unfinished work failed"),
        }
    }

    /// Continues the recorded work of server `uuid` on this host, unless
    /// a flow of it runs here already (it is looked at again when that
    /// flow ends). `restarted`: this host starts again after a stop, so
    /// the work of servers not yet placed is taken too, and tasks no flow
    /// owns are leftovers.
    pub(crate) fn pick_up(&self, uuid: String, restarted: bool, secret: Option<String>) {
        if !self.in_flight.claim(&uuid) {
            return;
        }
        let held = Held {
            compute: self.clone(),
            uuid: uuid.clone(),
        };
        let compute = self.clone();
        tokio::spawn(async move {
            let picked = match compute.load(&uuid).await {
                Ok(Some(server)) => {
                    let on_this_host = server.host.as_deref() == Some(compute.host.as_str());
                    let settled = if on_this_host && !server.deleted && !server.volumes.is_empty() {
                        compute.settle_volumes(&uuid).await
                    } else {
                        Ok(())
                    };
                    match settled {
                        // The flows it starts hold the server in flight.
                        Ok(()) if compute.owns_work_of(&server, restarted) => {
                            compute.resume(server, restarted, secret).await
                        }
                        // The destination of a live migration prepares
                        // while the server is still its source's.
                        Ok(()) => match compute.prepares_live_migration_of(&server).await {
                            Ok(true) => compute.resume(server, restarted, secret).await,
                            other => other.map(drop),
                        },
                        other => other,
                    }
                }
                other => other.map(|_| ()),
            };
            drop(held);
            if let Err(e) = picked {
                tracing::warn!(server = %uuid, error = %e, "picking up work failed");
                if e.is_unavailable() {
                    compute.retry_when_reachable(uuid);
                }
            }
        });
    }

    /// Picks up the work of server `uuid` again once the database answers:
    /// a flow cut short because it was out of reach (stopped, restarting)
    /// would otherwise wait for this host's next restart. Its work is this
    /// host's (even before placement), so it is taken as after a restart.
    pub(crate) fn retry_when_reachable(&self, uuid: String) {
        let compute = self.clone();
        tokio::spawn(async move {
            compute.store.until_reachable().await;
            tracing::info!(server = %uuid, "the database answers again: resuming the server's work");
            compute.pick_up(uuid, true, None);
        });
    }

    /// Whether this host runs the work of `server`: its own servers', and
    /// after a restart also those not yet placed.
    fn owns_work_of(&self, server: &Server, restarted: bool) -> bool {
        !server.deleted
            && server.task_state.is_some()
            && match &server.host {
                Some(host) => *host == self.host,
                None => restarted,
            }
    }

    /// Runs `work` for server `uuid` on `host` (the server's host; `None`:
    /// this one): here, or by waking that host, whose agent resumes it from
    /// the database. An embedded (SQLite) cloud is one process, so whatever
    /// host a server names — one the data directory had under an earlier
    /// name, say — its work runs here.
    pub(crate) fn dispatch(&self, host: Option<&str>, uuid: &str, work: Work) {
        if self.held.load(Ordering::Acquire) {
            tracing::debug!(server = %uuid, flow = ?work.flow, "work held");
            return;
        }
        let shared = self.store.backend() == oxstack_store::Backend::Postgres;
        if let Some(other) = host.filter(|h| *h != self.host)
            && let Some(there) = self.local_host(other)
        {
            there.dispatch(Some(other), uuid, work);
            return;
        }
        match host {
            Some(other) if other != self.host && shared => {
                let store = self.store.clone();
                let (host, uuid) = (other.to_owned(), uuid.to_owned());
                tokio::spawn(async move {
                    let secret = work.secret.as_deref();
                    if let Err(e) = store.wake(&host, &uuid, secret).await {
                        tracing::error!(server = %uuid, %host, error = %e, "waking a compute host failed");
                    }
                });
            }
            _ => {
                self.inject_hypervisor_fault(uuid);
                self.in_flight.enter(uuid);
                let held = Held {
                    compute: self.clone(),
                    uuid: uuid.to_owned(),
                };
                let compute = self.clone();
                let uuid = uuid.to_owned();
                tokio::spawn(Box::pin(async move {
                    compute.run(&uuid, work).await;
                    drop(held);
                }));
            }
        }
    }

    pub(crate) fn forget_services(&self) {
        *self
            .services
            .read
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }

    /// Every compute service, as last read (at most a second ago).
    pub(crate) async fn known_services(&self) -> ComputeResult<Arc<Vec<ServiceRow>>> {
        {
            let read = self
                .services
                .read
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some((at, rows)) = read.as_ref()
                && at.elapsed() < SERVICES_TTL
            {
                return Ok(rows.clone());
            }
        }
        let rows = Arc::new(self.store.services().list().await?);
        *self
            .services
            .read
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some((Instant::now(), rows.clone()));
        Ok(rows)
    }

    /// The compute service of `host` (by host or node name), up or not.
    pub(crate) async fn find_host(&self, name: &str) -> ComputeResult<Option<ServiceRow>> {
        let services = self.known_services().await?;
        Ok(services
            .iter()
            .find(|s| s.host == name || s.node == name)
            .cloned())
    }

    /// A new host for `server`, round robin over the enabled hosts that
    /// are up (other than `exclude`) that its server group's policy and
    /// its host hints allow; `None` when there is none.
    pub(crate) async fn pick_host(
        &self,
        server: &Server,
        exclude: Option<&str>,
    ) -> ComputeResult<Option<ServiceRow>> {
        let services = self.known_services().await?;
        let hints = self.host_hints(&server.scheduler_hints).await?;
        let candidates: Vec<&ServiceRow> = services
            .iter()
            .filter(|s| !s.disabled && self.service_is_up(s) && Some(s.host.as_str()) != exclude)
            .filter(|s| hints.allows(&s.host))
            .collect();
        if candidates.is_empty() {
            return Ok(None);
        }
        let turn = self.services.next.fetch_add(1, Ordering::Relaxed);
        let Some((rule, members)) = self.group_constraint(server).await? else {
            return Ok(Some(candidates[turn % candidates.len()].clone()));
        };
        let hosts: Vec<String> = candidates.iter().map(|s| s.host.clone()).collect();
        let chosen = rule.choose(&hosts, &members, turn);
        Ok(candidates
            .into_iter()
            .find(|s| Some(&s.host) == chosen.as_ref())
            .cloned())
    }

    /// Places the servers of one request: on `pinned`, or round robin over
    /// the hosts that can take them (in `zone`, as `hints` allow). The
    /// services are read here, so that placing each server (inside the
    /// create transaction) reads nothing.
    pub(crate) async fn placement(
        &self,
        pinned: Option<String>,
        zone: Option<&str>,
        hints: &HostHints,
    ) -> ComputeResult<Placement> {
        let candidates = match pinned {
            Some(host) => vec![host],
            None => self
                .known_services()
                .await?
                .iter()
                .filter(|s| !s.disabled && self.service_is_up(s))
                .filter(|s| zone.is_none_or(|z| s.zone == z) && hints.allows(&s.host))
                .map(|s| s.host.clone())
                .collect(),
        };
        Ok(Placement {
            candidates,
            cache: self.services.clone(),
        })
    }

    /// Every compute service (`os-services`).
    pub async fn list_services(&self) -> ComputeResult<Vec<ComputeService>> {
        let rows = self.store.services().list().await?;
        Ok(rows.into_iter().map(|row| self.service(row)).collect())
    }

    /// The domain's view of a service row, with whether it is up now.
    fn service(&self, row: ServiceRow) -> ComputeService {
        let up = self.service_is_up(&row);
        ComputeService::of(row, up)
    }

    /// Enables/disables or forces down a compute service.
    pub async fn change_service(
        &self,
        uuid: &str,
        update: &ServiceUpdate,
    ) -> ComputeResult<ComputeService> {
        let change = ServiceChange {
            disabled: update.disabled.clone(),
            forced_down: update.forced_down,
        };
        let changed = self
            .store
            .services()
            .change(uuid, &change, now_micros())
            .await?;
        self.forget_services();
        changed
            .map(|row| self.service(row))
            .ok_or_else(|| ComputeError::NotFound(format!("Service {uuid} could not be found.")))
    }

    /// Deletes a compute service that hosts no servers.
    pub async fn delete_service(&self, uuid: &str) -> ComputeResult<()> {
        let deleted = self.store.services().delete_if_empty(uuid).await;
        self.forget_services();
        match deleted {
            Ok(true) => Ok(()),
            Ok(false) => Err(ComputeError::Conflict(
                "Unable to delete compute service that is hosting instances. \
                 Migrate or delete the instances first."
                    .into(),
            )),
            Err(oxstack_store::StoreError::NotFound) => Err(ComputeError::NotFound(format!(
                "Service {uuid} could not be found."
            ))),
            Err(e) => Err(e.into()),
        }
    }
}
