//! The fake driver: guests are entries in a map, each operation can be
//! slowed down (to observe transient task states) or made to fail (to
//! exercise ERROR paths), like Nova's `fake` driver and its failing variants.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;

use crate::{Driver, DriverError, GuestSpec, HostResources, Operation, PowerState};

/// How the fake hypervisor behaves.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FakeSettings {
    /// How long every operation takes.
    pub delay: Duration,
    /// Operations that fail.
    pub fail: HashSet<Operation>,
}

/// An in-memory hypervisor.
#[derive(Debug)]
pub struct FakeDriver {
    node: String,
    settings: FakeSettings,
    guests: Mutex<HashMap<String, PowerState>>,
}

impl FakeDriver {
    pub fn new(node: impl Into<String>, settings: FakeSettings) -> Self {
        Self {
            node: node.into(),
            settings,
            guests: Mutex::new(HashMap::new()),
        }
    }

    async fn perform(&self, op: Operation) -> Result<(), DriverError> {
        if !self.settings.delay.is_zero() {
            tokio::time::sleep(self.settings.delay).await;
        }
        if self.settings.fail.contains(&op) {
            return Err(DriverError {
                message: format!("The fake driver was told to fail {}.", op.name()),
            });
        }
        Ok(())
    }

    fn guests(&self) -> std::sync::MutexGuard<'_, HashMap<String, PowerState>> {
        // A panic while holding the lock cannot leave the map inconsistent
        // (every critical section is a single insert/remove/get).
        self.guests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl Driver for FakeDriver {
    fn node_name(&self) -> &str {
        &self.node
    }

    /// Nova's fake driver's host: plenty for any test.
    fn resources(&self) -> HostResources {
        HostResources {
            vcpus: 1000,
            memory_mb: 800_000,
            local_gb: 600_000,
            hypervisor_type: "fake".into(),
            hypervisor_version: 1000,
        }
    }

    async fn spawn(&self, spec: &GuestSpec) -> Result<(), DriverError> {
        self.perform(Operation::Spawn).await?;
        self.guests().insert(spec.uuid.clone(), PowerState::Running);
        Ok(())
    }

    async fn destroy(&self, uuid: &str) -> Result<(), DriverError> {
        self.perform(Operation::Destroy).await?;
        self.guests().remove(uuid);
        Ok(())
    }

    async fn send_guest(&self, uuid: &str) -> Result<(), DriverError> {
        self.operate(uuid, Operation::Migrate).await
    }

    async fn receive_guest(&self, spec: &GuestSpec, power: PowerState) -> Result<(), DriverError> {
        self.guests().insert(spec.uuid.clone(), power);
        Ok(())
    }

    async fn operate(&self, uuid: &str, op: Operation) -> Result<(), DriverError> {
        self.perform(op).await?;
        match op.resulting_power() {
            Some(PowerState::NoState) => {
                self.guests().remove(uuid);
            }
            // A guest the fake hypervisor does not know (lost with a restart
            // of the process) is recreated, as a real host keeps its disks.
            Some(state) => {
                self.guests().insert(uuid.to_owned(), state);
            }
            None => {}
        }
        Ok(())
    }

    async fn console_output(
        &self,
        uuid: &str,
        lines: Option<usize>,
    ) -> Result<String, DriverError> {
        let log = format!(
            "FAKE CONSOLE OUTPUT\nguest {uuid}\npower state {:?}\nlogin: ",
            self.power_state(uuid).await
        );
        Ok(match lines {
            Some(n) => {
                let all: Vec<&str> = log.lines().collect();
                all[all.len().saturating_sub(n)..].join("\n")
            }
            None => log,
        })
    }

    async fn power_state(&self, uuid: &str) -> PowerState {
        self.guests()
            .get(uuid)
            .copied()
            .unwrap_or(PowerState::NoState)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> GuestSpec {
        GuestSpec {
            uuid: "u1".into(),
            name: "instance-00000001".into(),
            vcpus: 1,
            memory_mb: 512,
            root_gb: 1,
            image_id: "img".into(),
        }
    }

    #[tokio::test]
    async fn spawn_then_destroy() {
        let driver = FakeDriver::new("node1", FakeSettings::default());
        driver.spawn(&spec()).await.expect("spawn");
        assert_eq!(driver.power_state("u1").await, PowerState::Running);
        driver.destroy("u1").await.expect("destroy");
        assert_eq!(driver.power_state("u1").await, PowerState::NoState);
    }

    #[tokio::test]
    async fn a_sent_guest_leaves_and_a_received_one_arrives_as_it_was() {
        let source = FakeDriver::new("node1", FakeSettings::default());
        let dest = FakeDriver::new("node2", FakeSettings::default());
        source.spawn(&spec()).await.expect("spawn");
        source.send_guest("u1").await.expect("send");
        dest.receive_guest(&spec(), PowerState::Paused)
            .await
            .expect("receive");
        assert_eq!(source.power_state("u1").await, PowerState::NoState);
        assert_eq!(dest.power_state("u1").await, PowerState::Paused);
    }

    #[tokio::test]
    async fn configured_failures_fail() {
        let settings = FakeSettings {
            fail: HashSet::from([Operation::Spawn]),
            ..FakeSettings::default()
        };
        let driver = FakeDriver::new("node1", settings);
        let err = driver.spawn(&spec()).await.expect_err("must fail");
        assert!(err.message.contains("spawn"));
        assert_eq!(driver.power_state("u1").await, PowerState::NoState);
    }
}
