//! Hypervisor drivers. The compute manager drives every server through the
//! one [`Driver`] trait, so the build/delete flows (and later each action)
//! are written once whatever runs the guests: the [`fake::FakeDriver`]
//! simulates a hypervisor in memory for tests and CI; a qemu driver will run
//! real VMs. Drivers know nothing of projects, quotas or policy.

pub mod fake;

use async_trait::async_trait;

/// The power state of a guest as the hypervisor reports it (Nova's
/// `nova/compute/power_state.py` codes, shown as `OS-EXT-STS:power_state`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PowerState {
    NoState = 0,
    Running = 1,
    Paused = 3,
    Shutdown = 4,
    Crashed = 6,
    Suspended = 7,
}

impl PowerState {
    /// The numeric code of the API.
    pub fn code(self) -> i64 {
        self as i64
    }
}

/// Every operation a driver performs, as named in fault-injection settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operation {
    Spawn,
    Destroy,
    PowerOff,
    PowerOn,
}

impl Operation {
    pub const ALL: [Operation; 4] = [Self::Spawn, Self::Destroy, Self::PowerOff, Self::PowerOn];

    pub fn name(self) -> &'static str {
        match self {
            Self::Spawn => "spawn",
            Self::Destroy => "destroy",
            Self::PowerOff => "power_off",
            Self::PowerOn => "power_on",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|op| op.name() == name)
    }
}

/// What a driver needs to know to start a guest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuestSpec {
    pub uuid: String,
    /// The hypervisor's name for the guest (`instance-0000002a`).
    pub name: String,
    pub vcpus: i64,
    pub memory_mb: i64,
    pub root_gb: i64,
    pub image_id: String,
}

/// A failed driver operation; the message is shown in the server's fault.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct DriverError {
    pub message: String,
}

/// The hypervisor operations of one compute host.
#[async_trait]
pub trait Driver: Send + Sync + std::fmt::Debug {
    /// The hypervisor's node name (`OS-EXT-SRV-ATTR:hypervisor_hostname`).
    fn node_name(&self) -> &str;

    /// Creates and starts a guest; idempotent, so an interrupted build can
    /// simply be run again.
    async fn spawn(&self, spec: &GuestSpec) -> Result<(), DriverError>;

    /// Stops and removes a guest; a missing guest is not an error.
    async fn destroy(&self, uuid: &str) -> Result<(), DriverError>;

    /// Shuts a guest down (kept, not removed).
    async fn power_off(&self, uuid: &str) -> Result<(), DriverError>;

    /// Starts a shut-down guest.
    async fn power_on(&self, uuid: &str) -> Result<(), DriverError>;

    /// The guest's power state (`NoState` for an unknown guest).
    async fn power_state(&self, uuid: &str) -> PowerState;
}
