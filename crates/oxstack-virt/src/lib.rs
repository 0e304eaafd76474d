//! Hypervisor drivers. The compute manager drives every server through the
//! one [`Driver`] trait, so each flow is written once whatever runs the
//! guests: the [`fake::FakeDriver`] simulates a hypervisor in memory for
//! tests and CI; the [`qemu::QemuDriver`] runs real VMs. Each operation receives what
//! a real hypervisor needs to carry it out (the guest's flavor, image,
//! key, user data, addresses, a password, a rescue image); drivers know
//! nothing of projects, quotas or policy.

pub mod fake;
pub mod gates;
pub mod qcow2;
pub mod qemu;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

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

/// Every operation of the trait that can be slowed down or made to fail,
/// by the name fault-injection settings use.
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
    Snapshot,
    Resize,
    /// Sending a guest to another host (live or cold migration).
    Migrate,
    AttachVolume,
    DetachVolume,
}

impl Operation {
    pub const ALL: [Operation; 18] = [
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
        Self::Snapshot,
        Self::Resize,
        Self::Migrate,
        Self::AttachVolume,
        Self::DetachVolume,
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
            Self::Snapshot => "snapshot",
            Self::Resize => "resize",
            Self::Migrate => "migrate",
            Self::AttachVolume => "attach_volume",
            Self::DetachVolume => "detach_volume",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|op| op.name() == name)
    }
}

/// The size of a guest.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GuestFlavor {
    pub vcpus: i64,
    pub memory_mb: i64,
    pub root_gb: i64,
    pub ephemeral_gb: i64,
    pub swap_mb: i64,
    pub extra_specs: BTreeMap<String, String>,
}

/// The image a guest boots from (empty id: booted from a volume).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GuestImage {
    pub id: String,
    /// What the image says of the guest (`hw_*`, `os_*`, `kernel_id`, ...).
    pub properties: BTreeMap<String, String>,
}

/// A public key to put into the guest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuestKey {
    pub name: String,
    pub public_key: String,
}

/// One network interface of a guest.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GuestNic {
    pub network_id: String,
    pub mac: String,
    /// Its fixed addresses, IPv4 first.
    pub addresses: Vec<String>,
    /// Its addresses with their subnets, for a guest that configures
    /// them itself (given only to a driver that
    /// [`Driver::wants_subnets`]).
    pub static_ips: Vec<StaticIp>,
}

/// A fixed address of a guest and the subnet it is in.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StaticIp {
    pub address: String,
    /// `10.0.0.0/26`.
    pub cidr: String,
    pub gateway_ip: Option<String>,
}

/// A volume a guest holds: its data file and where the guest sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GuestVolume {
    pub volume_id: String,
    /// The volume's data (a raw or qcow2 file).
    pub path: PathBuf,
    /// `raw` or `qcow2`.
    pub format: String,
    /// The guest's device (`/dev/vdb`).
    pub device: Option<String>,
    pub read_only: bool,
    /// 0: the guest boots from it.
    pub boot_index: Option<i64>,
}

/// Everything a driver needs to create, start or move a guest.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GuestSpec {
    pub uuid: String,
    /// The hypervisor's name for the guest (`instance-0000002a`).
    pub name: String,
    pub hostname: String,
    pub flavor: GuestFlavor,
    pub image: GuestImage,
    pub key: Option<GuestKey>,
    /// Base64, as the user gave it.
    pub user_data: Option<String>,
    /// The password to set at first boot (only when a request gave or
    /// generated one; never stored).
    pub admin_password: Option<String>,
    pub nics: Vec<GuestNic>,
    pub metadata: BTreeMap<String, String>,
    pub config_drive: bool,
    pub availability_zone: Option<String>,
    /// Its volumes, the boot volume first (a volume-backed guest has no
    /// image).
    pub volumes: Vec<GuestVolume>,
}

/// A soft (ACPI) or hard (reset) reboot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RebootKind {
    Soft,
    Hard,
}

/// How to rescue a guest: the image to boot instead, with the guest's own
/// disk attached, and the password of the rescue system.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RescueSpec {
    pub image: GuestImage,
    pub password: Option<String>,
}

/// A copy of a guest's disk, for an image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiskSnapshot {
    /// `qcow2`, `raw`, ...
    pub disk_format: String,
    pub data: SnapshotData,
}

/// Where a snapshot's bytes are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SnapshotData {
    InMemory(bytes::Bytes),
    /// A file the caller uploads, then removes.
    File(PathBuf),
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

/// What a driver can do (Nova's driver `capabilities`): an operation it
/// lacks is refused by the API before anything changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capabilities {
    pub rescue: bool,
    pub suspend: bool,
    pub set_admin_password: bool,
    pub trigger_crash_dump: bool,
    pub snapshot: bool,
    pub resize: bool,
    pub live_migration: bool,
    pub console_output: bool,
    /// Diagnostics of a running guest.
    pub diagnostics: bool,
    /// Host maintenance mode and host power actions (`os-hosts`).
    pub host_management: bool,
}

impl Capabilities {
    /// Every operation.
    pub const ALL: Self = Self {
        rescue: true,
        suspend: true,
        set_admin_password: true,
        trigger_crash_dump: true,
        snapshot: true,
        resize: true,
        live_migration: true,
        console_output: true,
        diagnostics: true,
        host_management: true,
    };
}

/// A failed driver operation; the message is shown in the server's fault.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct DriverError {
    pub message: String,
}

/// The hypervisor operations of one compute host. Every operation on an
/// existing guest takes its spec or id; operations that create a guest
/// (spawn, receive) are idempotent, so an interrupted flow can run them
/// again after a restart.
#[async_trait]
pub trait Driver: Send + Sync + std::fmt::Debug {
    /// The hypervisor's node name (`OS-EXT-SRV-ATTR:hypervisor_hostname`).
    fn node_name(&self) -> &str;

    /// What this host offers.
    fn resources(&self) -> HostResources;

    /// What this driver can do.
    fn capabilities(&self) -> Capabilities;

    /// Creates and starts a guest.
    async fn spawn(&self, guest: &GuestSpec) -> Result<(), DriverError>;

    /// Stops and removes a guest and its disks; a missing guest is not an
    /// error.
    async fn destroy(&self, uuid: &str) -> Result<(), DriverError>;

    /// Shuts a guest down: cleanly within `timeout`, then forcibly.
    async fn power_off(&self, uuid: &str, timeout: Duration) -> Result<(), DriverError>;

    /// Starts a stopped guest.
    async fn power_on(&self, guest: &GuestSpec) -> Result<(), DriverError>;

    async fn reboot(&self, guest: &GuestSpec, kind: RebootKind) -> Result<(), DriverError>;

    async fn pause(&self, uuid: &str) -> Result<(), DriverError>;

    async fn unpause(&self, uuid: &str) -> Result<(), DriverError>;

    /// Saves the guest's memory and stops it.
    async fn suspend(&self, uuid: &str) -> Result<(), DriverError>;

    /// Restores a suspended guest.
    async fn resume(&self, guest: &GuestSpec) -> Result<(), DriverError>;

    /// Boots the rescue image with the guest's disk attached.
    async fn rescue(&self, guest: &GuestSpec, rescue: &RescueSpec) -> Result<(), DriverError>;

    /// Boots the guest from its own disk again.
    async fn unrescue(&self, guest: &GuestSpec) -> Result<(), DriverError>;

    async fn set_admin_password(&self, uuid: &str, password: &str) -> Result<(), DriverError>;

    /// Injects an NMI so the guest's kernel dumps its memory.
    async fn trigger_crash_dump(&self, uuid: &str) -> Result<(), DriverError>;

    /// A consistent copy of the guest's root disk.
    async fn snapshot(&self, uuid: &str) -> Result<DiskSnapshot, DriverError>;

    /// Gives the guest (staying on this host) the flavor of `guest`, in
    /// the power state it had; also used to revert a resize.
    async fn resize(&self, guest: &GuestSpec) -> Result<(), DriverError>;

    /// The source side of a cold move to host `destination`: the
    /// powered-off guest is copied there and leaves this host.
    async fn send_guest(&self, uuid: &str, destination: &str) -> Result<(), DriverError>;

    /// The destination's first step of a live migration: readies this
    /// host to receive `guest` while it runs, and answers where the
    /// source is to send it (`None`: the driver needs no address). Asking
    /// again for the same guest answers the same place.
    async fn prepare_incoming(&self, guest: &GuestSpec) -> Result<Option<String>, DriverError>;

    /// The source side of a live migration to `destination` (the address
    /// `prepare_incoming` answered there, else the destination's host
    /// name): the running guest is copied up to the switch-over, where
    /// both copies wait until [`Driver::finish_live_send`]. On an error
    /// the guest runs here as before.
    async fn live_send(&self, uuid: &str, destination: &str) -> Result<(), DriverError>;

    /// Ends a live send: `commit` lets the destination's copy go on and
    /// removes this host's; otherwise this host's copy runs on and the
    /// destination's is dropped.
    async fn finish_live_send(&self, uuid: &str, commit: bool) -> Result<(), DriverError>;

    /// The destination side of a move: the guest sent by another host
    /// starts here in `power` state, with the flavor of `guest`.
    async fn receive_guest(&self, guest: &GuestSpec, power: PowerState) -> Result<(), DriverError>;

    /// Gives a guest a volume (hot-plugged while it runs); attaching one
    /// it has is not an error.
    async fn attach_volume(&self, uuid: &str, volume: &GuestVolume) -> Result<(), DriverError>;

    /// Takes a volume from a guest; one it does not have is not an error.
    async fn detach_volume(&self, uuid: &str, volume_id: &str) -> Result<(), DriverError>;

    /// The guest's console log, the last `lines` lines if given.
    async fn console_output(&self, uuid: &str, lines: Option<usize>)
    -> Result<String, DriverError>;

    /// The Unix socket where a guest's console of `console_type`
    /// (`novnc`: its VNC display) is served, if this driver serves one.
    fn console_socket(&self, _uuid: &str, _console_type: &str) -> Option<PathBuf> {
        None
    }

    /// Whether guests are told their NICs' subnets (they configure their
    /// addresses themselves rather than by the hypervisor's DHCP).
    fn wants_subnets(&self) -> bool {
        false
    }

    /// The guest's power state (`NoState` for an unknown guest).
    async fn power_state(&self, uuid: &str) -> PowerState;

    /// Announces the uuid of each guest whose power state may have
    /// changed on its own (it powered off, crashed, its process died), so
    /// the compute host can sync the server's state; `None` for a driver
    /// whose guests change only when told.
    fn power_changes(&self) -> Option<tokio::sync::broadcast::Receiver<String>> {
        None
    }

    /// The simulated hypervisor this is, which tests can steer (delays,
    /// failures, held operations); `None` for a real one.
    fn simulated(&self) -> Option<&fake::FakeDriver> {
        None
    }

    /// What the hypervisor measures of a running guest (Nova's
    /// standard diagnostics, 2.48).
    async fn diagnostics(&self, uuid: &str) -> Result<Diagnostics, DriverError>;
}

/// A guest's diagnostics, in Nova's standard shape.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Diagnostics {
    /// `running`, `paused`, `shutdown`, ...
    pub state: String,
    /// The kind of driver, as Nova names them (`libvirt`, ...).
    pub driver: String,
    pub hypervisor: Option<String>,
    pub hypervisor_os: Option<String>,
    /// Seconds since the guest started.
    pub uptime: Option<i64>,
    pub config_drive: bool,
    pub cpu_details: Vec<CpuDiagnostics>,
    pub nic_details: Vec<NicDiagnostics>,
    pub disk_details: Vec<DiskDiagnostics>,
    pub memory_details: MemoryDiagnostics,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CpuDiagnostics {
    pub id: i64,
    /// Nanoseconds of CPU time.
    pub time: i64,
    /// Percent.
    pub utilisation: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NicDiagnostics {
    pub mac_address: String,
    pub rx_octets: i64,
    pub rx_errors: i64,
    pub rx_drop: i64,
    pub rx_packets: i64,
    pub rx_rate: i64,
    pub tx_octets: i64,
    pub tx_errors: i64,
    pub tx_drop: i64,
    pub tx_packets: i64,
    pub tx_rate: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DiskDiagnostics {
    pub read_bytes: i64,
    pub read_requests: i64,
    pub write_bytes: i64,
    pub write_requests: i64,
    pub errors_count: i64,
}

/// Memory in MiB.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemoryDiagnostics {
    pub maximum: i64,
    pub used: i64,
}
