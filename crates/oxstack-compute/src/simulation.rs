//! How the simulated hypervisors of this process behave, changed while
//! they run (the control plane's `/_oxstack/driver`): how long each
//! operation takes and which operations fail, so that a test can hold
//! servers in their transient states or send them to ERROR.

use std::time::Duration;

use oxstack_virt::Operation;
use oxstack_virt::fake::FakeSettings;

use crate::{Compute, ComputeError, ComputeResult};

/// A simulated hypervisor's behaviour, by the operations' names.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Simulation {
    /// How long every operation takes, in milliseconds.
    pub delay_ms: u64,
    /// The operations that fail (`spawn`, `reboot`, ...), sorted.
    pub fail: Vec<String>,
}

impl Simulation {
    fn of(settings: &FakeSettings) -> Self {
        let mut fail: Vec<String> = settings
            .fail
            .iter()
            .map(|op| op.name().to_owned())
            .collect();
        fail.sort();
        Self {
            delay_ms: u64::try_from(settings.delay.as_millis()).unwrap_or(u64::MAX),
            fail,
        }
    }

    fn settings(&self) -> ComputeResult<FakeSettings> {
        let fail = self
            .fail
            .iter()
            .map(|name| {
                Operation::parse(name).ok_or_else(|| {
                    let known: Vec<&str> = Operation::ALL.iter().map(|op| op.name()).collect();
                    ComputeError::Invalid(format!(
                        "Unknown operation {name}; the operations are {}.",
                        known.join(", ")
                    ))
                })
            })
            .collect::<ComputeResult<_>>()?;
        Ok(FakeSettings {
            delay: Duration::from_millis(self.delay_ms),
            fail,
        })
    }
}

/// Why a hypervisor cannot be tuned.
fn not_simulated() -> ComputeError {
    ComputeError::Conflict("The hypervisors of this process are not simulated.".into())
}

impl Compute {
    /// How this process's simulated hypervisors behave.
    pub fn simulation(&self) -> ComputeResult<Simulation> {
        self.driver
            .simulation()
            .map(|s| Simulation::of(&s))
            .ok_or_else(not_simulated)
    }

    /// Makes every simulated hypervisor of this process behave so from
    /// now on (operations under way keep the delay they started with).
    pub fn set_simulation(&self, simulation: &Simulation) -> ComputeResult<Simulation> {
        let settings = simulation.settings()?;
        for driver in self.local_drivers() {
            if !driver.set_simulation(settings.clone()) {
                return Err(not_simulated());
            }
        }
        tracing::warn!(?simulation, "simulated hypervisors retuned");
        self.simulation()
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
            fail: vec!["reboot".into(), "spawn".into()],
        };
        assert_eq!(compute.set_simulation(&wanted).expect("set"), wanted);
        let unknown = Simulation {
            delay_ms: 0,
            fail: vec!["explode".into()],
        };
        let refused = compute.set_simulation(&unknown).unwrap_err();
        assert!(
            refused.to_string().starts_with("Unknown operation explode"),
            "{refused}"
        );
        assert_eq!(compute.simulation().expect("simulated"), wanted);
    }
}
