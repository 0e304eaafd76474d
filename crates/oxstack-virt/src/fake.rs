//! The fake driver: guests are entries in a map, each operation can be
//! slowed down (to observe transient task states) or made to fail (to
//! exercise ERROR paths), like Nova's `fake` driver and its failing
//! variants. It keeps what each operation was given (the guest's spec, a
//! password, a rescue image), so tests can check what reached the
//! hypervisor.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

use crate::gates::{Gates, Release};
use crate::{
    Capabilities, CpuDiagnostics, Diagnostics, DiskDiagnostics, DiskSnapshot, Driver, DriverError,
    GuestSpec, GuestVolume, HostResources, MemoryDiagnostics, NicDiagnostics, Operation,
    PowerState, RebootKind, RescueSpec, SnapshotData, qcow2,
};

/// How the fake hypervisor behaves.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FakeSettings {
    /// How long every operation takes (unless `delays` says otherwise).
    pub delay: Duration,
    /// How long some operations take, instead of `delay`.
    pub delays: HashMap<Operation, Duration>,
    /// Operations that fail.
    pub fail: HashSet<Operation>,
    /// Operations that wait until let go ([`FakeDriver::gates`]).
    pub hold: HashSet<Operation>,
}

impl FakeSettings {
    /// How long `op` takes.
    pub fn delay_of(&self, op: Operation) -> Duration {
        self.delays.get(&op).copied().unwrap_or(self.delay)
    }
}

/// What the fake hypervisor knows of one guest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeGuest {
    pub power: PowerState,
    /// The spec it was last started, resized or received with.
    pub spec: GuestSpec,
    /// The password last set (at spawn or by `set_admin_password`).
    pub admin_password: Option<String>,
    /// The rescue it runs, while rescued.
    pub rescue: Option<RescueSpec>,
    /// Reboots so far, soft and hard.
    pub reboots: (u32, u32),
}

impl FakeGuest {
    fn new(spec: &GuestSpec, power: PowerState) -> Self {
        Self {
            power,
            spec: spec.clone(),
            admin_password: spec.admin_password.clone(),
            rescue: None,
            reboots: (0, 0),
        }
    }
}

/// An in-memory hypervisor.
#[derive(Debug)]
pub struct FakeDriver {
    node: String,
    /// Changeable while it runs (the control plane's `/_oxstack/driver`).
    settings: RwLock<FakeSettings>,
    /// The settings it started with (what a reset restores).
    initial: FakeSettings,
    guests: Mutex<HashMap<String, FakeGuest>>,
    /// The operations held until let go.
    gates: Gates,
    /// Guests whose next operation fails, with the message it fails with.
    doomed: Mutex<HashMap<String, String>>,
}

impl FakeDriver {
    pub fn new(node: impl Into<String>, settings: FakeSettings) -> Self {
        Self {
            node: node.into(),
            initial: settings.clone(),
            settings: RwLock::new(settings),
            guests: Mutex::new(HashMap::new()),
            gates: Gates::default(),
            doomed: Mutex::new(HashMap::new()),
        }
    }

    /// The operations held now, and the way to let them go.
    pub fn gates(&self) -> &Gates {
        &self.gates
    }

    /// Forgets guest `uuid` (removed from the cloud by a reset): held
    /// operations of it fail, and it is no longer known.
    pub fn forget(&self, uuid: &str) {
        self.gates.release_guest(
            uuid,
            &Release::Fail("The server was removed by a reset.".into()),
        );
        self.guests().remove(uuid);
        self.doomed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(uuid);
    }

    /// Behaves again as it started.
    pub fn restore_settings(&self) {
        self.set_settings(self.initial.clone());
    }

    /// Makes the next operation on guest `uuid` fail with `message` (a
    /// fault injected into one server).
    pub fn doom(&self, uuid: &str, message: &str) {
        self.doomed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(uuid.to_owned(), message.to_owned());
    }

    /// How this hypervisor behaves.
    pub fn settings(&self) -> FakeSettings {
        // Writers replace the settings whole: a poisoned lock holds either.
        self.settings
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Makes this hypervisor behave so from now on: operations under way
    /// keep the delay they started with, and those held go on unless
    /// their kind is still held.
    pub fn set_settings(&self, settings: FakeSettings) {
        let still_held = settings.hold.clone();
        *self
            .settings
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = settings;
        self.gates.release_all_but(&still_held);
    }

    /// What the hypervisor knows of a guest.
    pub fn guest(&self, uuid: &str) -> Option<FakeGuest> {
        self.guests().get(uuid).cloned()
    }

    /// Operation `op` on guest `uuid`: it takes its time, waits if held,
    /// and fails if the guest is doomed or the operation set to fail.
    async fn perform(&self, op: Operation, uuid: &str) -> Result<(), DriverError> {
        let settings = self.settings();
        let delay = settings.delay_of(op);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        if settings.hold.contains(&op)
            && let Release::Fail(message) = self.gates.wait(uuid, op).await
        {
            return Err(DriverError { message });
        }
        let doomed = self
            .doomed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(uuid);
        if let Some(message) = doomed {
            return Err(DriverError { message });
        }
        if settings.fail.contains(&op) {
            return Err(DriverError {
                message: format!("The fake driver was told to fail {}.", op.name()),
            });
        }
        Ok(())
    }

    fn guests(&self) -> std::sync::MutexGuard<'_, HashMap<String, FakeGuest>> {
        // A panic while holding the lock cannot leave the map inconsistent
        // (every critical section is a single map operation or field write).
        self.guests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Changes a guest known by its spec; one the fake hypervisor does not
    /// know (lost with a restart of the process) is recreated, as a real
    /// host keeps its disks.
    fn update(&self, spec: &GuestSpec, change: impl FnOnce(&mut FakeGuest)) {
        let mut guests = self.guests();
        let guest = guests
            .entry(spec.uuid.clone())
            .or_insert_with(|| FakeGuest::new(spec, PowerState::Running));
        guest.spec = spec.clone();
        change(guest);
    }

    /// Changes a guest known by its id (recreated as [`Self::update`]).
    fn update_id(&self, uuid: &str, change: impl FnOnce(&mut FakeGuest)) {
        let spec = GuestSpec {
            uuid: uuid.to_owned(),
            ..GuestSpec::default()
        };
        let mut guests = self.guests();
        let guest = guests
            .entry(uuid.to_owned())
            .or_insert_with(|| FakeGuest::new(&spec, PowerState::Running));
        change(guest);
    }

    async fn set_power(
        &self,
        uuid: &str,
        op: Operation,
        power: PowerState,
    ) -> Result<(), DriverError> {
        self.perform(op, uuid).await?;
        self.update_id(uuid, |g| g.power = power);
        Ok(())
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

    fn capabilities(&self) -> Capabilities {
        Capabilities::ALL
    }

    fn simulated(&self) -> Option<&FakeDriver> {
        Some(self)
    }

    async fn spawn(&self, guest: &GuestSpec) -> Result<(), DriverError> {
        self.perform(Operation::Spawn, &guest.uuid).await?;
        self.guests().insert(
            guest.uuid.clone(),
            FakeGuest::new(guest, PowerState::Running),
        );
        Ok(())
    }

    async fn destroy(&self, uuid: &str) -> Result<(), DriverError> {
        self.perform(Operation::Destroy, uuid).await?;
        self.guests().remove(uuid);
        Ok(())
    }

    async fn power_off(&self, uuid: &str, _timeout: Duration) -> Result<(), DriverError> {
        self.set_power(uuid, Operation::PowerOff, PowerState::Shutdown)
            .await
    }

    async fn power_on(&self, guest: &GuestSpec) -> Result<(), DriverError> {
        self.perform(Operation::PowerOn, &guest.uuid).await?;
        self.update(guest, |g| g.power = PowerState::Running);
        Ok(())
    }

    async fn reboot(&self, guest: &GuestSpec, kind: RebootKind) -> Result<(), DriverError> {
        self.perform(Operation::Reboot, &guest.uuid).await?;
        self.update(guest, |g| {
            g.power = PowerState::Running;
            match kind {
                RebootKind::Soft => g.reboots.0 += 1,
                RebootKind::Hard => g.reboots.1 += 1,
            }
        });
        Ok(())
    }

    async fn pause(&self, uuid: &str) -> Result<(), DriverError> {
        self.set_power(uuid, Operation::Pause, PowerState::Paused)
            .await
    }

    async fn unpause(&self, uuid: &str) -> Result<(), DriverError> {
        self.set_power(uuid, Operation::Unpause, PowerState::Running)
            .await
    }

    async fn suspend(&self, uuid: &str) -> Result<(), DriverError> {
        self.set_power(uuid, Operation::Suspend, PowerState::Suspended)
            .await
    }

    async fn resume(&self, guest: &GuestSpec) -> Result<(), DriverError> {
        self.perform(Operation::Resume, &guest.uuid).await?;
        self.update(guest, |g| g.power = PowerState::Running);
        Ok(())
    }

    async fn rescue(&self, guest: &GuestSpec, rescue: &RescueSpec) -> Result<(), DriverError> {
        self.perform(Operation::Rescue, &guest.uuid).await?;
        self.update(guest, |g| {
            g.power = PowerState::Running;
            g.rescue = Some(rescue.clone());
        });
        Ok(())
    }

    async fn unrescue(&self, guest: &GuestSpec) -> Result<(), DriverError> {
        self.perform(Operation::Unrescue, &guest.uuid).await?;
        self.update(guest, |g| {
            g.power = PowerState::Running;
            g.rescue = None;
        });
        Ok(())
    }

    async fn set_admin_password(&self, uuid: &str, password: &str) -> Result<(), DriverError> {
        self.perform(Operation::SetAdminPassword, uuid).await?;
        self.update_id(uuid, |g| g.admin_password = Some(password.to_owned()));
        Ok(())
    }

    async fn trigger_crash_dump(&self, uuid: &str) -> Result<(), DriverError> {
        self.perform(Operation::TriggerCrashDump, uuid).await
    }

    /// An empty qcow2 of the guest's root size: the fake guest wrote
    /// nothing to its disk.
    async fn snapshot(&self, uuid: &str) -> Result<DiskSnapshot, DriverError> {
        self.perform(Operation::Snapshot, uuid).await?;
        let root_gb = self.guest(uuid).map_or(0, |g| g.spec.flavor.root_gb);
        let disk = qcow2::empty(u64::try_from(root_gb).unwrap_or(0) << 30);
        Ok(DiskSnapshot {
            disk_format: "qcow2".into(),
            data: SnapshotData::InMemory(Bytes::from(disk)),
        })
    }

    async fn resize(&self, guest: &GuestSpec) -> Result<(), DriverError> {
        self.perform(Operation::Resize, &guest.uuid).await?;
        self.update(guest, |_| {});
        Ok(())
    }

    async fn send_guest(&self, uuid: &str, _destination: &str) -> Result<(), DriverError> {
        self.perform(Operation::Migrate, uuid).await?;
        self.guests().remove(uuid);
        Ok(())
    }

    async fn prepare_incoming(&self, _guest: &GuestSpec) -> Result<Option<String>, DriverError> {
        Ok(None)
    }

    /// The simulated copy keeps the guest here until the move commits.
    async fn live_send(&self, uuid: &str, _destination: &str) -> Result<(), DriverError> {
        self.perform(Operation::Migrate, uuid).await
    }

    async fn finish_live_send(&self, uuid: &str, commit: bool) -> Result<(), DriverError> {
        if commit {
            self.guests().remove(uuid);
        }
        Ok(())
    }

    async fn receive_guest(&self, guest: &GuestSpec, power: PowerState) -> Result<(), DriverError> {
        self.guests()
            .insert(guest.uuid.clone(), FakeGuest::new(guest, power));
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
            .map_or(PowerState::NoState, |g| g.power)
    }

    /// Nova's fake driver's figures, whatever the guest does (its api
    /// samples); the guest's own flavor size and MAC addresses.
    async fn attach_volume(&self, uuid: &str, volume: &GuestVolume) -> Result<(), DriverError> {
        self.perform(Operation::AttachVolume, uuid).await?;
        self.update_id(uuid, |g| {
            g.spec.volumes.retain(|v| v.volume_id != volume.volume_id);
            g.spec.volumes.push(volume.clone());
        });
        Ok(())
    }

    async fn detach_volume(&self, uuid: &str, volume_id: &str) -> Result<(), DriverError> {
        self.perform(Operation::DetachVolume, uuid).await?;
        self.update_id(uuid, |g| {
            g.spec.volumes.retain(|v| v.volume_id != volume_id)
        });
        Ok(())
    }

    async fn diagnostics(&self, uuid: &str) -> Result<Diagnostics, DriverError> {
        let guest = self
            .guests()
            .get(uuid)
            .cloned()
            .ok_or_else(|| DriverError {
                message: format!("no guest {uuid}"),
            })?;
        let nic = |mac: &str| NicDiagnostics {
            mac_address: mac.to_owned(),
            rx_octets: 2_070_139,
            rx_errors: 100,
            rx_drop: 200,
            rx_packets: 26_701,
            rx_rate: 300,
            tx_octets: 140_208,
            tx_errors: 400,
            tx_drop: 500,
            tx_packets: 662,
            tx_rate: 600,
        };
        Ok(Diagnostics {
            state: "running".into(),
            driver: "libvirt".into(),
            hypervisor: Some("kvm".into()),
            hypervisor_os: Some("ubuntu".into()),
            uptime: Some(46_664),
            config_drive: guest.spec.config_drive,
            cpu_details: (0..guest.spec.flavor.vcpus)
                .map(|id| CpuDiagnostics {
                    id,
                    time: 17_300_000_000,
                    utilisation: 15,
                })
                .collect(),
            nic_details: guest.spec.nics.iter().map(|n| nic(&n.mac)).collect(),
            disk_details: vec![DiskDiagnostics {
                read_bytes: 262_144,
                read_requests: 112,
                write_bytes: 5_778_432,
                write_requests: 488,
                errors_count: 1,
            }],
            memory_details: MemoryDiagnostics {
                maximum: guest.spec.flavor.memory_mb,
                used: 0,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::GuestFlavor;

    fn spec() -> GuestSpec {
        GuestSpec {
            uuid: "u1".into(),
            name: "instance-00000001".into(),
            flavor: GuestFlavor {
                vcpus: 1,
                memory_mb: 512,
                root_gb: 1,
                ..GuestFlavor::default()
            },
            admin_password: Some("secret".into()),
            ..GuestSpec::default()
        }
    }

    #[tokio::test]
    async fn spawn_then_destroy() {
        let driver = FakeDriver::new("node1", FakeSettings::default());
        driver.spawn(&spec()).await.expect("spawn");
        assert_eq!(driver.power_state("u1").await, PowerState::Running);
        assert_eq!(
            driver.guest("u1").and_then(|g| g.admin_password).as_deref(),
            Some("secret")
        );
        driver.destroy("u1").await.expect("destroy");
        assert_eq!(driver.power_state("u1").await, PowerState::NoState);
    }

    #[tokio::test]
    async fn operations_keep_what_they_were_given() {
        let driver = FakeDriver::new("node1", FakeSettings::default());
        driver.spawn(&spec()).await.expect("spawn");
        driver
            .set_admin_password("u1", "new-password")
            .await
            .expect("password");
        let rescue = RescueSpec {
            password: Some("rescue-pw".into()),
            ..RescueSpec::default()
        };
        driver.rescue(&spec(), &rescue).await.expect("rescue");
        let guest = driver.guest("u1").expect("known");
        assert_eq!(guest.admin_password.as_deref(), Some("new-password"));
        assert_eq!(guest.rescue, Some(rescue));
        driver.unrescue(&spec()).await.expect("unrescue");
        assert_eq!(driver.guest("u1").expect("known").rescue, None);
        let snapshot = driver.snapshot("u1").await.expect("snapshot");
        let SnapshotData::InMemory(bytes) = snapshot.data else {
            panic!("in memory");
        };
        assert_eq!(qcow2::virtual_size(&bytes), Some(1 << 30));
    }

    #[tokio::test]
    async fn a_sent_guest_leaves_and_a_received_one_arrives_as_it_was() {
        let source = FakeDriver::new("node1", FakeSettings::default());
        let dest = FakeDriver::new("node2", FakeSettings::default());
        source.spawn(&spec()).await.expect("spawn");
        source.send_guest("u1", "node2").await.expect("send");
        dest.receive_guest(&spec(), PowerState::Paused)
            .await
            .expect("receive");
        assert_eq!(source.power_state("u1").await, PowerState::NoState);
        assert_eq!(dest.power_state("u1").await, PowerState::Paused);
    }

    #[tokio::test]
    async fn a_live_send_leaves_only_when_it_commits() {
        let driver = FakeDriver::new("node1", FakeSettings::default());
        driver.spawn(&spec()).await.expect("spawn");
        driver.live_send("u1", "node2").await.expect("send");
        driver
            .finish_live_send("u1", false)
            .await
            .expect("taken back");
        assert_eq!(driver.power_state("u1").await, PowerState::Running);
        driver.live_send("u1", "node2").await.expect("send");
        driver
            .finish_live_send("u1", true)
            .await
            .expect("committed");
        assert_eq!(driver.power_state("u1").await, PowerState::NoState);
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
