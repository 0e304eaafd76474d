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

    /// The state with the API's numeric `code` (`NoState` for others).
    pub fn from_code(code: i64) -> Self {
        [
            Self::Running,
            Self::Paused,
            Self::Shutdown,
            Self::Crashed,
            Self::Suspended,
        ]
        .into_iter()
        .find(|s| s.code() == code)
        .unwrap_or(Self::NoState)
    }
}

/// Every operation a driver performs, as named in fault-injection settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operation {
    Spawn,
    Destroy,
    PowerOff,
    PowerOn,
    Reboot,
    Pause,
    Unpause,
    Suspend,
    Resume,
    Rescue,
    Unrescue,
    SetAdminPassword,
    TriggerCrashDump,
    /// Sending a guest to another host (live or cold migration).
    Migrate,
}

impl Operation {
    pub const ALL: [Operation; 14] = [
        Self::Spawn,
        Self::Destroy,
        Self::PowerOff,
        Self::PowerOn,
        Self::Reboot,
        Self::Pause,
        Self::Unpause,
        Self::Suspend,
        Self::Resume,
        Self::Rescue,
        Self::Unrescue,
        Self::SetAdminPassword,
        Self::TriggerCrashDump,
        Self::Migrate,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Spawn => "spawn",
            Self::Destroy => "destroy",
            Self::PowerOff => "power_off",
            Self::PowerOn => "power_on",
            Self::Reboot => "reboot",
            Self::Pause => "pause",
            Self::Unpause => "unpause",
            Self::Suspend => "suspend",
            Self::Resume => "resume",
            Self::Rescue => "rescue",
            Self::Unrescue => "unrescue",
            Self::SetAdminPassword => "set_admin_password",
            Self::TriggerCrashDump => "trigger_crash_dump",
            Self::Migrate => "migrate",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|op| op.name() == name)
    }

    /// The power state a guest is in after the operation succeeded; `None`
    /// for operations that leave it alone.
    pub fn resulting_power(self) -> Option<PowerState> {
        match self {
            Self::Spawn | Self::PowerOn | Self::Reboot | Self::Unpause | Self::Resume => {
                Some(PowerState::Running)
            }
            Self::Rescue | Self::Unrescue => Some(PowerState::Running),
            Self::PowerOff => Some(PowerState::Shutdown),
            Self::Pause => Some(PowerState::Paused),
            Self::Suspend => Some(PowerState::Suspended),
            Self::Destroy | Self::Migrate => Some(PowerState::NoState),
            Self::SetAdminPassword | Self::TriggerCrashDump => None,
        }
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

/// What a host offers, as its hypervisor reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostResources {
    pub vcpus: i64,
    pub memory_mb: i64,
    pub local_gb: i64,
    /// `fake`, `QEMU`, ...
    pub hypervisor_type: String,
    /// Nova's integer form of the version (`1.2.3` is 1002003).
    pub hypervisor_version: i64,
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

    /// What this host offers.
    fn resources(&self) -> HostResources;

    /// Creates and starts a guest; idempotent, so an interrupted build can
    /// simply be run again.
    async fn spawn(&self, spec: &GuestSpec) -> Result<(), DriverError>;

    /// Stops and removes a guest; a missing guest is not an error.
    async fn destroy(&self, uuid: &str) -> Result<(), DriverError>;

    /// The source side of a move to another host: the guest is copied
    /// there (running, for a live migration; powered off, for a cold one)
    /// and leaves this host.
    async fn send_guest(&self, uuid: &str) -> Result<(), DriverError>;

    /// The destination side of a move: the guest sent by another host
    /// starts here in `power` state.
    async fn receive_guest(&self, spec: &GuestSpec, power: PowerState) -> Result<(), DriverError>;

    /// Performs a lifecycle operation on an existing guest (power off/on,
    /// reboot, pause, suspend, rescue, password, crash dump, ...).
    async fn operate(&self, uuid: &str, op: Operation) -> Result<(), DriverError>;

    /// The guest's console log, the last `lines` lines if given.
    async fn console_output(&self, uuid: &str, lines: Option<usize>)
    -> Result<String, DriverError>;

    /// The guest's power state (`NoState` for an unknown guest).
    async fn power_state(&self, uuid: &str) -> PowerState;
}
