//! How the simulated hypervisors of this process behave, changed while
//! they run (the control plane's `/_oxstack/driver`): how long each
//! operation takes, which operations fail and which wait until a test lets
//! them go, so that a test can hold servers in their transient states or
//! send them to ERROR; and faults injected into one request's servers.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use oxstack_virt::Operation;
use oxstack_virt::fake::FakeSettings;
use oxstack_virt::gates::Release;

use crate::{Compute, ComputeError, ComputeResult};

/// A simulated hypervisor's behaviour, by the operations' names.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Simulation {
    /// How long every operation takes, in milliseconds.
    pub delay_ms: u64,
    /// How long some operations take instead, in milliseconds.
    pub delays_ms: BTreeMap<String, u64>,
    /// The operations that fail (`spawn`, `reboot`, ...), sorted.
    pub fail: Vec<String>,
    /// The operations that wait until advanced, sorted.
    pub hold: Vec<String>,
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn sorted_names<'a>(ops: impl Iterator<Item = &'a Operation>) -> Vec<String> {
    let mut names: Vec<String> = ops.map(|op| op.name().to_owned()).collect();
    names.sort();
    names
}

fn operation(name: &str) -> ComputeResult<Operation> {
    Operation::parse(name).ok_or_else(|| {
        let known: Vec<&str> = Operation::ALL.iter().map(|op| op.name()).collect();
        ComputeError::Invalid(format!(
            "Unknown operation {name}; the operations are {}.",
            known.join(", ")
        ))
    })
}

impl Simulation {
    fn of(settings: &FakeSettings) -> Self {
        Self {
            delay_ms: millis(settings.delay),
            delays_ms: settings
                .delays
                .iter()
                .map(|(op, d)| (op.name().to_owned(), millis(*d)))
                .collect(),
            fail: sorted_names(settings.fail.iter()),
            hold: sorted_names(settings.hold.iter()),
        }
    }

    fn settings(&self) -> ComputeResult<FakeSettings> {
        Ok(FakeSettings {
            delay: Duration::from_millis(self.delay_ms),
            delays: self
                .delays_ms
                .iter()
                .map(|(name, ms)| Ok((operation(name)?, Duration::from_millis(*ms))))
                .collect::<ComputeResult<_>>()?,
            fail: self
                .fail
                .iter()
                .map(|name| operation(name))
                .collect::<ComputeResult<_>>()?,
            hold: self
                .hold
                .iter()
                .map(|name| operation(name))
                .collect::<ComputeResult<_>>()?,
        })
    }
}

/// A hypervisor operation waiting to be advanced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeldOperation {
    pub server: String,
    pub host: String,
    pub operation: &'static str,
    pub since: SystemTime,
}

/// Why a hypervisor cannot be tuned.
fn not_simulated() -> ComputeError {
    ComputeError::Conflict("The hypervisors of this process are not simulated.".into())
}

tokio::task_local! {
    /// A fault injected into the request being served: the hypervisor
    /// operation of every server it sets to work fails with this message.
    static HYPERVISOR_FAULT: String;
}

/// Serves `request` so that the hypervisor fails the first operation of
/// every server it sets to work, with `message` (a fault rule's
/// `server_error`): a created server goes to ERROR with that fault, an
/// action fails as a hypervisor failure does.
pub async fn with_hypervisor_fault<F: Future>(message: String, request: F) -> F::Output {
    HYPERVISOR_FAULT.scope(message, request).await
}

impl Compute {
    /// The simulated hypervisors of the hosts this process runs, by host.
    fn simulated_hosts(&self) -> ComputeResult<Vec<(String, Arc<dyn oxstack_virt::Driver>)>> {
        let hosts = self.local_hosts();
        if hosts.iter().any(|(_, d)| d.simulated().is_none()) {
            return Err(not_simulated());
        }
        Ok(hosts)
    }

    /// How this process's simulated hypervisors behave.
    pub fn simulation(&self) -> ComputeResult<Simulation> {
        self.driver
            .simulated()
            .map(|fake| Simulation::of(&fake.settings()))
            .ok_or_else(not_simulated)
    }

    /// Makes every simulated hypervisor of this process behave so from
    /// now on (operations under way keep the delay they started with;
    /// those held stay held until advanced).
    pub fn set_simulation(&self, simulation: &Simulation) -> ComputeResult<Simulation> {
        let settings = simulation.settings()?;
        for (_, driver) in self.simulated_hosts()? {
            if let Some(fake) = driver.simulated() {
                fake.set_settings(settings.clone());
            }
        }
        tracing::warn!(?simulation, "simulated hypervisors retuned");
        self.simulation()
    }

    /// The hypervisor operations held now, oldest first.
    pub fn held_operations(&self) -> ComputeResult<Vec<HeldOperation>> {
        let mut held = Vec::new();
        for (host, driver) in self.simulated_hosts()? {
            let Some(fake) = driver.simulated() else {
                continue;
            };
            held.extend(fake.gates().held().into_iter().map(|h| HeldOperation {
                server: h.server,
                host: host.clone(),
                operation: h.operation.name(),
                since: h.since,
            }));
        }
        held.sort_by_key(|h| h.since);
        Ok(held)
    }

    /// Lets the oldest held hypervisor operation of server `uuid` go (it
    /// fails with `failure` if given), waiting up to `patience` for one to
    /// be held (its flow may not have reached the hypervisor yet); the
    /// operation's name.
    pub async fn advance(
        &self,
        uuid: &str,
        failure: Option<String>,
        patience: Duration,
    ) -> ComputeResult<&'static str> {
        let server = self
            .load(uuid)
            .await?
            .filter(|s| !s.deleted)
            .ok_or_else(|| {
                ComputeError::NotFound(format!("Instance {uuid} could not be found."))
            })?;
        let fake = self.simulated_host_of(server.host.as_deref())?;
        let how = failure.map_or(Release::Proceed, Release::Fail);
        let released = fake
            .simulated()
            .ok_or_else(not_simulated)?
            .gates()
            .advance(uuid, &how, patience)
            .await;
        let op = released.ok_or_else(|| {
            ComputeError::Conflict(format!(
                "Server {uuid} has no hypervisor operation held (none came within {} ms).",
                patience.as_millis()
            ))
        })?;
        tracing::warn!(server = %uuid, operation = op.name(), ?how, "held operation advanced");
        Ok(op.name())
    }

    /// The simulated hypervisor of `host` (this one if `None`), when this
    /// process runs it.
    fn simulated_host_of(
        &self,
        host: Option<&str>,
    ) -> ComputeResult<Arc<dyn oxstack_virt::Driver>> {
        let host = host.unwrap_or(&self.host);
        let there = self.local_host(host).ok_or_else(|| {
            ComputeError::Conflict(format!("The host {host} is not run by this process."))
        })?;
        if there.driver.simulated().is_none() {
            return Err(not_simulated());
        }
        Ok(there.driver)
    }

    /// Dooms the next hypervisor operation of server `uuid` on this host
    /// when the request being served carries an injected fault.
    pub(crate) fn inject_hypervisor_fault(&self, uuid: &str) {
        let Ok(message) = HYPERVISOR_FAULT.try_with(Clone::clone) else {
            return;
        };
        if let Some(fake) = self.driver.simulated() {
            tracing::warn!(server = %uuid, %message, "hypervisor fault injected");
            fake.doom(uuid, &message);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Cloud;

    #[tokio::test]
    async fn simulated_hypervisors_are_retuned_by_name() {
        let cloud = Cloud::new().await;
        let compute = cloud.host().await;
        assert_eq!(
            compute.simulation().expect("simulated"),
            Simulation::default()
        );
        let wanted = Simulation {
            delay_ms: 250,
            delays_ms: BTreeMap::from([("spawn".into(), 1000)]),
            fail: vec!["reboot".into(), "spawn".into()],
            hold: vec!["destroy".into()],
        };
        assert_eq!(compute.set_simulation(&wanted).expect("set"), wanted);
        let unknown = Simulation {
            fail: vec!["explode".into()],
            ..Simulation::default()
        };
        let refused = compute.set_simulation(&unknown).unwrap_err();
        assert!(
            refused.to_string().starts_with("Unknown operation explode"),
            "{refused}"
        );
        assert_eq!(compute.simulation().expect("simulated"), wanted);
    }
}
