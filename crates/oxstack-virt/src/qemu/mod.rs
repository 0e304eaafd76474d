//! The qemu driver: one `qemu-system-x86_64` process per server, started
//! by its compute host, controlled over QMP and outliving the oxstack
//! process (a restart finds its VMs again by their QMP sockets). Each VM
//! has a folder of its own under `<data>/qemu/instances/<uuid>`; images
//! are cached once under `<data>/qemu/base`.

pub mod config_drive;
pub mod disks;
pub mod host;
pub mod launch;
pub mod migration;
pub mod qmp;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::{Value, json};
use tokio::sync::{Mutex, broadcast, mpsc};

use crate::{
    Capabilities, Diagnostics, DiskDiagnostics, DiskSnapshot, Driver, DriverError, GuestImage,
    GuestSpec, GuestVolume, HostResources, MemoryDiagnostics, PowerState, RebootKind, RescueSpec,
    SnapshotData,
};
use disks::{DiskFile, VmFiles, failed};
use host::Accel;
use launch::{DirectKernel, Launch, StartFrom};
use qmp::{Qmp, QmpEvent};

/// Where images' data come from (the image service).
#[async_trait]
pub trait ImageSource: Send + Sync + std::fmt::Debug {
    /// An open handle on the image's data and its Glance disk format.
    async fn open(&self, image_id: &str) -> Result<(tokio::fs::File, String), DriverError>;

    /// The image's properties (`kernel_id`, `os_command_line`, ...).
    async fn properties(
        &self,
        image_id: &str,
    ) -> Result<std::collections::BTreeMap<String, String>, DriverError>;
}

/// How the driver is set up.
#[derive(Clone, Debug)]
pub struct QemuSettings {
    /// `qemu-system-x86_64`.
    pub binary: PathBuf,
    pub qemu_img: PathBuf,
    /// `None`: KVM when it works, else TCG.
    pub accel: Option<Accel>,
    /// The driver's folder (`<data>/qemu`); each host has its own folder
    /// in it, so hosts that share a data directory never share a VM's
    /// files (a live migration between them copies its disks).
    pub dir: PathBuf,
    /// How long a soft reboot waits for the guest to power off before
    /// resetting it (Nova's `wait_soft_reboot_seconds`).
    pub soft_reboot_timeout: Duration,
    /// The address other hosts send live-migrating guests to.
    pub live_migration_inbound_addr: String,
    /// A Linux bridge the guests' NICs join as taps (their addresses set
    /// from the config drive); `None`: user-mode networking.
    pub bridge: Option<String>,
}

/// How long QEMU may take to end after `quit` or a kill.
const EXIT_WAIT: Duration = Duration::from_secs(10);
/// How often a wait for the guest's status looks again.
const POLL: Duration = Duration::from_millis(100);
/// The command line of a directly booted kernel that says nothing else.
const DEFAULT_COMMAND_LINE: &str = "root=/dev/vda console=tty0 console=ttyS0";

type Sessions = Arc<Mutex<HashMap<String, Arc<Qmp>>>>;

/// A compute host's hypervisor that runs real VMs (a clone shares its
/// sessions).
#[derive(Clone, Debug)]
pub struct QemuDriver {
    node: String,
    settings: QemuSettings,
    accel: Accel,
    version: i64,
    vcpus: i64,
    images: Arc<dyn ImageSource>,
    /// Open QMP sessions of running VMs, by server uuid.
    sessions: Sessions,
    /// The uuid of every VM whose power state may have changed.
    changes: broadcast::Sender<String>,
}

impl QemuDriver {
    /// Opens the driver's folder, finds QEMU's version and the
    /// accelerator (probing KVM unless one is configured).
    pub async fn open(
        node: String,
        settings: QemuSettings,
        images: Arc<dyn ImageSource>,
    ) -> Result<Self, DriverError> {
        let mut settings = settings;
        settings.dir = settings.dir.join(&node);
        for sub in ["instances", "base", "snapshots"] {
            tokio::fs::create_dir_all(settings.dir.join(sub))
                .await
                .map_err(|e| failed("making the qemu driver's folder", e))?;
        }
        // A Unix socket's path holds at most 107 bytes.
        let longest = settings
            .dir
            .join("instances")
            .join("00000000-0000-0000-0000-000000000000")
            .join("qmp.sock");
        if longest.as_os_str().len() > 107 {
            return Err(DriverError {
                message: format!(
                    "the data directory's path is too long for the VMs' control sockets \
                     ({} bytes); choose a data directory with a path under {} bytes",
                    longest.as_os_str().len(),
                    107 + settings.dir.as_os_str().len() - longest.as_os_str().len()
                ),
            });
        }
        let version = host::qemu_version(&settings.binary).await;
        if version == 0 {
            return Err(DriverError {
                message: format!(
                    "{} does not run: the qemu driver needs QEMU (Debian: qemu-system-x86)",
                    settings.binary.display()
                ),
            });
        }
        let accel = match settings.accel {
            Some(accel) => accel,
            None => host::probe_accel(&settings.binary).await,
        };
        tracing::info!(accel = accel.name(), version, "qemu driver ready");
        let vcpus = std::thread::available_parallelism().map_or(1, |n| n.get() as i64);
        let driver = Self {
            node,
            settings,
            accel,
            version,
            vcpus,
            images,
            sessions: Arc::default(),
            changes: broadcast::channel(256).0,
        };
        driver.remove_abandoned_incoming().await;
        Ok(driver)
    }

    fn files(&self, uuid: &str) -> VmFiles {
        VmFiles {
            dir: self.settings.dir.join("instances").join(uuid),
        }
    }

    /// The files of a VM of this host or, in a cloud whose hosts share
    /// the data directory, of another (its console log and display are
    /// read by whichever node serves the API).
    fn files_of_any_host(&self, uuid: &str) -> VmFiles {
        let own = self.files(uuid);
        if own.dir.exists() {
            return own;
        }
        let hosts = self
            .settings
            .dir
            .parent()
            .and_then(|d| std::fs::read_dir(d).ok());
        hosts
            .into_iter()
            .flatten()
            .flatten()
            .map(|host| VmFiles {
                dir: host.path().join("instances").join(uuid),
            })
            .find(|files| files.dir.exists())
            .unwrap_or(own)
    }

    /// The VM's QMP session: the open one, or a new one if its QEMU runs
    /// (after a restart of this process); `None` when no QEMU runs it.
    async fn session(&self, uuid: &str) -> Option<Arc<Qmp>> {
        let mut sessions = self.sessions.lock().await;
        if let Some(qmp) = sessions.get(uuid) {
            return Some(qmp.clone());
        }
        let socket = self.files(uuid).qmp();
        if !socket.exists() {
            return None;
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let qmp = Arc::new(Qmp::connect(&socket, tx).await.ok()?);
        sessions.insert(uuid.to_owned(), qmp.clone());
        tokio::spawn(watch(
            uuid.to_owned(),
            Arc::downgrade(&qmp),
            rx,
            self.sessions.clone(),
            self.changes.clone(),
        ));
        Some(qmp)
    }

    async fn execute(
        &self,
        uuid: &str,
        command: &str,
        args: Option<Value>,
    ) -> Result<Value, DriverError> {
        let qmp = self.session(uuid).await.ok_or_else(|| not_running(uuid))?;
        qmp.execute(command, args)
            .await
            .map_err(|e| failed(&format!("QEMU {command}"), e))
    }

    /// QEMU's run state of the VM (`running`, `paused`, `shutdown`, ...);
    /// `None` when no QEMU runs it.
    async fn status(&self, uuid: &str) -> Option<String> {
        let qmp = self.session(uuid).await?;
        let answer = qmp.execute("query-status", None).await.ok()?;
        answer["status"].as_str().map(str::to_owned)
    }

    /// Waits until the VM's status satisfies `done`, at most `timeout`;
    /// whether it did.
    async fn wait_status(
        &self,
        uuid: &str,
        timeout: Duration,
        done: impl Fn(Option<&str>) -> bool,
    ) -> bool {
        let until = Instant::now() + timeout;
        loop {
            if done(self.status(uuid).await.as_deref()) {
                return true;
            }
            if Instant::now() >= until {
                return false;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Ends the VM's QEMU process (`quit`, then a kill if it lingers).
    async fn stop_process(&self, uuid: &str) -> Result<(), DriverError> {
        if let Some(qmp) = self.session(uuid).await {
            let _ = qmp.execute("quit", None).await;
        }
        let files = self.files(uuid);
        let Some(pid) = qemu_of(&files.pid(), uuid).await else {
            self.forget(uuid).await;
            let _ = tokio::fs::remove_file(files.pid()).await;
            return Ok(());
        };
        if !wait_exit(pid, uuid, EXIT_WAIT).await {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            if !wait_exit(pid, uuid, EXIT_WAIT).await {
                return Err(DriverError {
                    message: format!("QEMU of {uuid} (pid {}) does not end", pid.as_raw_nonzero()),
                });
            }
        }
        let _ = tokio::fs::remove_file(files.pid()).await;
        let _ = tokio::fs::remove_file(files.qmp()).await;
        self.forget(uuid).await;
        Ok(())
    }

    async fn forget(&self, uuid: &str) {
        self.sessions.lock().await.remove(uuid);
    }

    /// The cached base of an image: its data as QEMU opens it.
    async fn base(&self, image_id: &str) -> Result<DiskFile, DriverError> {
        let dir = self.settings.dir.join("base");
        for format in ["qcow2", "raw"] {
            let path = dir.join(format!("{image_id}.{format}"));
            if tokio::fs::try_exists(&path).await.unwrap_or(false) {
                return Ok(DiskFile {
                    path,
                    format: format.into(),
                });
            }
        }
        let (file, disk_format) = self.images.open(image_id).await?;
        if let Some(format) = disks::qemu_format(&disk_format) {
            let path = dir.join(format!("{image_id}.{format}"));
            disks::write_whole(file, &path).await?;
            return Ok(DiskFile {
                path,
                format: format.into(),
            });
        }
        // Formats QEMU should not run from (vmdk, vdi, ...) become qcow2.
        let source = dir.join(format!("{image_id}.{disk_format}"));
        disks::write_whole(file, &source).await?;
        let converted = DiskFile {
            path: dir.join(format!("{image_id}.qcow2")),
            format: "qcow2".into(),
        };
        let partial = dir.join(format!("{image_id}.qcow2.partial"));
        let src = source.to_string_lossy();
        let dst = partial.to_string_lossy();
        let result = disks::qemu_img(
            &self.settings.qemu_img,
            &[
                "convert",
                "-q",
                "-f",
                &disk_format,
                "-O",
                "qcow2",
                &src,
                &dst,
            ],
        )
        .await;
        let _ = tokio::fs::remove_file(&source).await;
        result?;
        tokio::fs::rename(&partial, &converted.path)
            .await
            .map_err(|e| failed("caching an image", e))?;
        Ok(converted)
    }

    /// The kernel an image boots directly, if it names one.
    async fn direct_kernel(&self, image: &GuestImage) -> Result<Option<DirectKernel>, DriverError> {
        let Some(kernel_id) = image.properties.get("kernel_id").filter(|k| !k.is_empty()) else {
            return Ok(None);
        };
        let kernel = self.base(kernel_id).await?.path;
        let ramdisk = match image.properties.get("ramdisk_id").filter(|r| !r.is_empty()) {
            Some(id) => Some(self.base(id).await?.path),
            None => None,
        };
        let command_line = image
            .properties
            .get("os_command_line")
            .cloned()
            .unwrap_or_else(|| DEFAULT_COMMAND_LINE.to_owned());
        Ok(Some(DirectKernel {
            kernel,
            ramdisk,
            command_line,
        }))
    }

    /// Makes the disks `guest` lacks: the root overlay (not for a
    /// volume-backed guest), ephemeral and swap disks.
    async fn prepare_disks(
        &self,
        guest: &GuestSpec,
        files: &VmFiles,
    ) -> Result<Option<DiskFile>, DriverError> {
        tokio::fs::create_dir_all(&files.dir)
            .await
            .map_err(|e| failed("making the VM's folder", e))?;
        let exists = |p: PathBuf| async move { tokio::fs::try_exists(p).await.unwrap_or(false) };
        let img = &self.settings.qemu_img;
        if guest.flavor.ephemeral_gb > 0 && !exists(files.ephemeral()).await {
            disks::blank(
                img,
                &files.ephemeral(),
                &format!("{}G", guest.flavor.ephemeral_gb),
            )
            .await?;
        }
        if guest.flavor.swap_mb > 0 && !exists(files.swap()).await {
            disks::blank(img, &files.swap(), &format!("{}M", guest.flavor.swap_mb)).await?;
        }
        if guest.image.id.is_empty() {
            return Ok(None);
        }
        let root = DiskFile {
            path: files.disk(),
            format: "qcow2".into(),
        };
        if !exists(root.path.clone()).await {
            let base = self.base(&guest.image.id).await?;
            let partial = files.dir.join("disk.partial");
            disks::overlay(img, &base, &partial, guest.flavor.root_gb).await?;
            tokio::fs::rename(&partial, &root.path)
                .await
                .map_err(|e| failed("making the root disk", e))?;
        }
        Ok(Some(root))
    }

    /// The host port forwarded to the guest's SSH, the same for the VM's
    /// whole life.
    async fn ssh_port(&self, files: &VmFiles) -> Result<u16, DriverError> {
        if let Ok(text) = tokio::fs::read_to_string(files.ssh_port()).await
            && let Ok(port) = text.trim().parse()
        {
            return Ok(port);
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| failed("choosing the guest's SSH port", e))?
            .port();
        tokio::fs::write(files.ssh_port(), port.to_string())
            .await
            .map_err(|e| failed("recording the guest's SSH port", e))?;
        Ok(port)
    }

    /// Starts a QEMU process for `guest` (booting `rescue` instead of its
    /// own disk), beginning as `from` says.
    async fn start(
        &self,
        guest: &GuestSpec,
        rescue: Option<&GuestImage>,
        from: StartFrom,
    ) -> Result<(), DriverError> {
        let files = self.files(&guest.uuid);
        let root = self.prepare_disks(guest, &files).await?;
        let (rescue_disk, kernel) = match rescue {
            Some(image) => {
                let base = self.base(&image.id).await?;
                let disk = DiskFile {
                    path: files.rescue_disk(),
                    format: "qcow2".into(),
                };
                let _ = tokio::fs::remove_file(&disk.path).await;
                disks::overlay(&self.settings.qemu_img, &base, &disk.path, 0).await?;
                (Some(disk), self.direct_kernel(image).await?)
            }
            None => (None, self.direct_kernel(&guest.image).await?),
        };
        config_drive::write(guest, &files.config_drive()).await?;
        let taps = self.taps(guest);
        let (ssh_port, note) = match &self.settings.bridge {
            Some(bridge) => (
                0,
                format!(
                    "oxstack: the guest's NICs are on bridge {bridge} (taps {}) on host {}\n",
                    taps.join(", "),
                    self.node
                ),
            ),
            None => {
                let port = self.ssh_port(&files).await?;
                let note = format!(
                    "oxstack: the guest's SSH port 22 is forwarded from 127.0.0.1:{port} on host {}\n",
                    self.node
                );
                (port, note)
            }
        };
        append(&files.console(), &note).await?;
        let launch = Launch {
            guest,
            files: &files,
            accel: self.accel,
            root,
            ephemeral: guest.flavor.ephemeral_gb > 0,
            swap: guest.flavor.swap_mb > 0,
            kernel,
            rescue: rescue_disk,
            ssh_port,
            taps: &taps,
            from,
        };
        let _ = tokio::fs::remove_file(files.qmp()).await;
        let mut qemu = tokio::process::Command::new(&self.settings.binary);
        qemu.args(launch::arguments(&launch));
        disks::run(qemu, "starting QEMU").await?;
        if self.session(&guest.uuid).await.is_none() {
            return Err(DriverError {
                message: "QEMU started but its control socket does not answer".into(),
            });
        }
        if let Err(e) = self.join_bridge(&taps).await {
            let _ = self.stop_process(&guest.uuid).await;
            return Err(e);
        }
        if from == StartFrom::SavedMemory {
            // The saved memory streams in; the VM was paused when saved.
            let restored = self
                .wait_status(&guest.uuid, Duration::from_secs(120), |s| {
                    !matches!(s, Some("inmigrate"))
                })
                .await;
            if !restored {
                return Err(DriverError {
                    message: "restoring the guest's memory did not finish".into(),
                });
            }
            if self.status(&guest.uuid).await.as_deref() != Some("running") {
                self.execute(&guest.uuid, "cont", None).await?;
            }
            let _ = tokio::fs::remove_file(files.memory_state()).await;
        }
        let _ = self.changes.send(guest.uuid.clone());
        Ok(())
    }

    /// The tap of each NIC of `guest` on the bridge (none without one):
    /// `ox`, the guest's uuid's first 8 digits, the NIC's index and 4
    /// random digits, within Linux's 15 characters, so the taps of a
    /// guest's two QEMUs during a live migration differ.
    fn taps(&self, guest: &GuestSpec) -> Vec<String> {
        if self.settings.bridge.is_none() {
            return Vec::new();
        }
        let prefix: String = guest.uuid.chars().filter(|c| *c != '-').take(8).collect();
        (0..guest.nics.len())
            .map(|i| {
                let random = uuid::Uuid::new_v4().simple().to_string();
                format!("ox{prefix}{:x}{}", i % 16, &random[..4])
            })
            .collect()
    }

    /// Puts the taps QEMU made on the bridge and brings them up.
    async fn join_bridge(&self, taps: &[String]) -> Result<(), DriverError> {
        let Some(bridge) = &self.settings.bridge else {
            return Ok(());
        };
        for tap in taps {
            let mut ip = tokio::process::Command::new("ip");
            ip.args(["link", "set", "dev", tap, "master", bridge, "up"]);
            disks::run(ip, &format!("putting tap {tap} on bridge {bridge}")).await?;
        }
        Ok(())
    }

    /// Presses the power button and waits up to `timeout` for the guest
    /// to power off; whether it did.
    async fn acpi_shutdown(&self, uuid: &str, timeout: Duration) -> bool {
        if self.execute(uuid, "system_powerdown", None).await.is_err() {
            return false;
        }
        self.wait_status(uuid, timeout, |s| s != Some("running"))
            .await
    }
}

/// Follows a VM's QMP events: a change of its run state is announced; a
/// closed session (QEMU gone) is forgotten and announced.
async fn watch(
    uuid: String,
    qmp: std::sync::Weak<Qmp>,
    mut events: mpsc::UnboundedReceiver<QmpEvent>,
    sessions: Sessions,
    changes: broadcast::Sender<String>,
) {
    while let Some(event) = events.recv().await {
        match event {
            QmpEvent::Event { name, .. } => {
                if matches!(
                    name.as_str(),
                    "SHUTDOWN"
                        | "STOP"
                        | "RESUME"
                        | "RESET"
                        | "SUSPEND"
                        | "WAKEUP"
                        | "GUEST_PANICKED"
                ) {
                    let _ = changes.send(uuid.clone());
                }
            }
            QmpEvent::Closed => {
                let mut open = sessions.lock().await;
                if let (Some(current), Some(ours)) = (open.get(&uuid), qmp.upgrade())
                    && Arc::ptr_eq(current, &ours)
                {
                    open.remove(&uuid);
                }
                drop(open);
                let _ = changes.send(uuid);
                return;
            }
        }
    }
}

fn not_running(uuid: &str) -> DriverError {
    DriverError {
        message: format!("the VM of {uuid} is not running"),
    }
}

async fn append(path: &Path, text: &str) -> Result<(), DriverError> {
    use tokio::io::AsyncWriteExt;
    let mut file = tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .await
        .map_err(|e| failed("writing the console log", e))?;
    file.write_all(text.as_bytes())
        .await
        .map_err(|e| failed("writing the console log", e))
}

/// The process the pid file names, if it is the QEMU of guest `uuid`: a
/// pid file left by a QEMU that died (or a host that rebooted) may name
/// another process by now, which must never be killed.
async fn qemu_of(pid_file: &Path, uuid: &str) -> Option<rustix::process::Pid> {
    let text = tokio::fs::read_to_string(pid_file).await.ok()?;
    let pid = rustix::process::Pid::from_raw(text.trim().parse().ok()?)?;
    runs_guest(pid, uuid).await.then_some(pid)
}

/// Whether `pid` is a live QEMU of guest `uuid` (its command line names
/// the guest; a process that ended, a zombie included, has none).
async fn runs_guest(pid: rustix::process::Pid, uuid: &str) -> bool {
    let Ok(cmdline) = tokio::fs::read(format!("/proc/{}/cmdline", pid.as_raw_nonzero())).await
    else {
        return false;
    };
    cmdline
        .split(|b| *b == 0)
        .collect::<Vec<_>>()
        .windows(2)
        .any(|w| w[0] == b"-uuid" && w[1] == uuid.as_bytes())
}

/// Waits until the QEMU `pid` of guest `uuid` is gone; whether it went
/// within `timeout`.
async fn wait_exit(pid: rustix::process::Pid, uuid: &str, timeout: Duration) -> bool {
    let until = Instant::now() + timeout;
    while runs_guest(pid, uuid).await {
        if Instant::now() >= until {
            return false;
        }
        tokio::time::sleep(POLL).await;
    }
    true
}

#[async_trait]
impl Driver for QemuDriver {
    fn node_name(&self) -> &str {
        &self.node
    }

    fn resources(&self) -> HostResources {
        HostResources {
            vcpus: self.vcpus,
            memory_mb: host::memory_mb(),
            local_gb: host::disk_gb(&self.settings.dir),
            hypervisor_type: match self.accel {
                Accel::Kvm => "KVM".into(),
                Accel::Tcg => "QEMU".into(),
            },
            hypervisor_version: self.version,
        }
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            // No guest agent: the guest's password cannot be set.
            set_admin_password: false,
            host_management: false,
            ..Capabilities::ALL
        }
    }

    /// On a bridge the guest sets its addresses itself.
    fn wants_subnets(&self) -> bool {
        self.settings.bridge.is_some()
    }

    fn power_changes(&self) -> Option<broadcast::Receiver<String>> {
        Some(self.changes.subscribe())
    }

    fn console_socket(&self, uuid: &str, console_type: &str) -> Option<PathBuf> {
        let socket = self.files_of_any_host(uuid).vnc();
        (console_type == "novnc" && socket.exists()).then_some(socket)
    }

    async fn spawn(&self, guest: &GuestSpec) -> Result<(), DriverError> {
        match self.status(&guest.uuid).await.as_deref() {
            // A resumed build whose VM already runs.
            Some("running" | "paused") => Ok(()),
            Some(_) => {
                self.stop_process(&guest.uuid).await?;
                self.start(guest, None, StartFrom::Boot).await
            }
            None => self.start(guest, None, StartFrom::Boot).await,
        }
    }

    async fn destroy(&self, uuid: &str) -> Result<(), DriverError> {
        self.stop_process(uuid).await?;
        match tokio::fs::remove_dir_all(self.files(uuid).dir).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(failed("removing the VM's files", e))
            }
            _ => Ok(()),
        }
    }

    async fn power_off(&self, uuid: &str, timeout: Duration) -> Result<(), DriverError> {
        match self.status(uuid).await.as_deref() {
            None => return Ok(()),
            Some("running") if !timeout.is_zero() => {
                if !self.acpi_shutdown(uuid, timeout).await {
                    tracing::info!(uuid, "the guest did not power off in time; stopping it");
                }
            }
            Some(_) => {}
        }
        self.stop_process(uuid).await
    }

    async fn power_on(&self, guest: &GuestSpec) -> Result<(), DriverError> {
        match self.status(&guest.uuid).await.as_deref() {
            Some("running") => return Ok(()),
            Some(_) => self.stop_process(&guest.uuid).await?,
            None => {}
        }
        self.start(guest, None, StartFrom::Boot).await
    }

    async fn reboot(&self, guest: &GuestSpec, kind: RebootKind) -> Result<(), DriverError> {
        let uuid = &guest.uuid;
        if kind == RebootKind::Soft
            && self.status(uuid).await.as_deref() == Some("running")
            && self
                .acpi_shutdown(uuid, self.settings.soft_reboot_timeout)
                .await
            && self.status(uuid).await.as_deref() == Some("shutdown")
        {
            self.execute(uuid, "system_reset", None).await?;
            self.execute(uuid, "cont", None).await?;
            return Ok(());
        }
        // A hard reboot (or a soft one the guest ignored): a new QEMU,
        // which also picks up disks and volumes changed meanwhile.
        self.stop_process(uuid).await?;
        self.start(guest, None, StartFrom::Boot).await
    }

    async fn pause(&self, uuid: &str) -> Result<(), DriverError> {
        self.execute(uuid, "stop", None).await.map(drop)
    }

    async fn unpause(&self, uuid: &str) -> Result<(), DriverError> {
        self.execute(uuid, "cont", None).await.map(drop)
    }

    async fn suspend(&self, uuid: &str) -> Result<(), DriverError> {
        let files = self.files(uuid);
        let partial = files.dir.join("memory.state.partial");
        self.execute(uuid, "stop", None).await?;
        let uri = format!("exec:cat > {}", launch::shell_quote(&partial));
        self.execute(uuid, "migrate", Some(json!({ "uri": uri })))
            .await?;
        let until = Instant::now() + Duration::from_secs(300);
        loop {
            let state = self.execute(uuid, "query-migrate", None).await?;
            match state["status"].as_str() {
                Some("completed") => break,
                Some("failed" | "cancelled") => {
                    let _ = self.execute(uuid, "cont", None).await;
                    return Err(DriverError {
                        message: format!(
                            "saving the guest's memory failed: {}",
                            state["error-desc"].as_str().unwrap_or("unknown error")
                        ),
                    });
                }
                _ if Instant::now() >= until => {
                    return Err(DriverError {
                        message: "saving the guest's memory did not finish".into(),
                    });
                }
                _ => tokio::time::sleep(POLL).await,
            }
        }
        tokio::fs::rename(&partial, files.memory_state())
            .await
            .map_err(|e| failed("saving the guest's memory", e))?;
        self.stop_process(uuid).await
    }

    async fn resume(&self, guest: &GuestSpec) -> Result<(), DriverError> {
        if self.status(&guest.uuid).await.as_deref() == Some("running") {
            return Ok(());
        }
        let saved = tokio::fs::try_exists(self.files(&guest.uuid).memory_state())
            .await
            .unwrap_or(false);
        let from = if saved {
            StartFrom::SavedMemory
        } else {
            StartFrom::Boot
        };
        self.start(guest, None, from).await
    }

    async fn rescue(&self, guest: &GuestSpec, rescue: &RescueSpec) -> Result<(), DriverError> {
        self.stop_process(&guest.uuid).await?;
        let image = if rescue.image.id.is_empty() || rescue.image.id == guest.image.id {
            guest.image.clone()
        } else {
            GuestImage {
                id: rescue.image.id.clone(),
                properties: self.images.properties(&rescue.image.id).await?,
            }
        };
        self.start(guest, Some(&image), StartFrom::Boot).await
    }

    async fn unrescue(&self, guest: &GuestSpec) -> Result<(), DriverError> {
        self.stop_process(&guest.uuid).await?;
        let _ = tokio::fs::remove_file(self.files(&guest.uuid).rescue_disk()).await;
        self.start(guest, None, StartFrom::Boot).await
    }

    async fn set_admin_password(&self, _uuid: &str, _password: &str) -> Result<(), DriverError> {
        Err(DriverError {
            message:
                "setting the admin password needs a guest agent, which the qemu driver does not use"
                    .into(),
        })
    }

    async fn trigger_crash_dump(&self, uuid: &str) -> Result<(), DriverError> {
        self.execute(uuid, "inject-nmi", None).await.map(drop)
    }

    async fn snapshot(&self, uuid: &str) -> Result<DiskSnapshot, DriverError> {
        let files = self.files(uuid);
        let disk = DiskFile {
            path: files.disk(),
            format: "qcow2".into(),
        };
        if !tokio::fs::try_exists(&disk.path).await.unwrap_or(false) {
            return Err(DriverError {
                message: format!("the VM of {uuid} has no root disk"),
            });
        }
        // Stopping the VM flushes its writes: the copy is consistent.
        let was_running = self.status(uuid).await.as_deref() == Some("running");
        if was_running {
            self.execute(uuid, "stop", None).await?;
        }
        let target = self
            .settings
            .dir
            .join("snapshots")
            .join(format!("{uuid}-{}.qcow2", uuid::Uuid::new_v4()));
        let copied = disks::copy_out(&self.settings.qemu_img, &disk, &target).await;
        if was_running {
            self.execute(uuid, "cont", None).await?;
        }
        copied?;
        Ok(DiskSnapshot {
            disk_format: "qcow2".into(),
            data: SnapshotData::File(target),
        })
    }

    async fn resize(&self, guest: &GuestSpec) -> Result<(), DriverError> {
        let uuid = &guest.uuid;
        let was = self.status(uuid).await;
        if was.is_some() {
            self.power_off(uuid, Duration::from_secs(60)).await?;
        }
        let files = self.files(uuid);
        let root = DiskFile {
            path: files.disk(),
            format: "qcow2".into(),
        };
        if tokio::fs::try_exists(&root.path).await.unwrap_or(false) {
            disks::grow(&self.settings.qemu_img, &root, guest.flavor.root_gb).await?;
        }
        match was.as_deref() {
            Some("running") => self.start(guest, None, StartFrom::Boot).await,
            Some("paused") => {
                self.start(guest, None, StartFrom::Boot).await?;
                self.pause(uuid).await
            }
            _ => {
                // Disks the new flavor adds are made now; it starts later.
                self.prepare_disks(guest, &files).await.map(drop)
            }
        }
    }

    async fn send_guest(&self, uuid: &str, _destination: &str) -> Result<(), DriverError> {
        Err(DriverError {
            message: format!(
                "moving {uuid} to another host while it is off is not supported by the qemu driver"
            ),
        })
    }

    async fn prepare_incoming(&self, guest: &GuestSpec) -> Result<Option<String>, DriverError> {
        let incoming = self.prepare_incoming_vm(guest).await?;
        serde_json::to_string(&incoming)
            .map(Some)
            .map_err(|e| failed("recording a live migration", e))
    }

    async fn live_send(&self, uuid: &str, destination: &str) -> Result<(), DriverError> {
        self.live_send_vm(uuid, destination).await
    }

    async fn finish_live_send(&self, uuid: &str, commit: bool) -> Result<(), DriverError> {
        self.finish_live_send_vm(uuid, commit).await
    }

    /// The end of a live migration here (cold moves are refused when
    /// sent).
    async fn receive_guest(&self, guest: &GuestSpec, power: PowerState) -> Result<(), DriverError> {
        self.receive_vm(guest, power).await
    }

    async fn attach_volume(&self, uuid: &str, volume: &GuestVolume) -> Result<(), DriverError> {
        if !matches!(
            self.status(uuid).await.as_deref(),
            Some("running" | "paused")
        ) {
            // The next start gives the guest its volumes.
            return Ok(());
        }
        let node = launch::volume_node(&volume.volume_id);
        let added = self
            .execute(
                uuid,
                "blockdev-add",
                Some(json!({
                    "driver": volume.format,
                    "node-name": node,
                    "read-only": volume.read_only,
                    "file": {"driver": "file", "filename": volume.path},
                })),
            )
            .await;
        if let Err(e) = added
            && !e.message.contains("Duplicate")
        {
            return Err(e);
        }
        let device = self
            .execute(
                uuid,
                "device_add",
                Some(json!({
                    "driver": "virtio-blk-pci",
                    "drive": node,
                    "id": launch::volume_device(&volume.volume_id),
                    "serial": launch::volume_serial(&volume.volume_id),
                })),
            )
            .await;
        match device {
            Err(e) if !e.message.contains("Duplicate") => Err(e),
            _ => Ok(()),
        }
    }

    async fn detach_volume(&self, uuid: &str, volume_id: &str) -> Result<(), DriverError> {
        if self.session(uuid).await.is_none() {
            return Ok(());
        }
        let device = launch::volume_device(volume_id);
        let path = format!("/machine/peripheral/{device}");
        if self
            .execute(uuid, "device_del", Some(json!({ "id": device })))
            .await
            .is_ok()
        {
            // The guest gives the device back (PCI hot-unplug).
            let until = Instant::now() + Duration::from_secs(30);
            while self
                .execute(
                    uuid,
                    "qom-get",
                    Some(json!({"path": path, "property": "type"})),
                )
                .await
                .is_ok()
            {
                if Instant::now() >= until {
                    return Err(DriverError {
                        message: format!("the guest did not release volume {volume_id}"),
                    });
                }
                tokio::time::sleep(POLL).await;
            }
        }
        let _ = self
            .execute(
                uuid,
                "blockdev-del",
                Some(json!({ "node-name": launch::volume_node(volume_id) })),
            )
            .await;
        Ok(())
    }

    async fn console_output(
        &self,
        uuid: &str,
        lines: Option<usize>,
    ) -> Result<String, DriverError> {
        let files = self.files_of_any_host(uuid);
        let bytes = match tokio::fs::read(files.console()).await {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(failed("reading the console log", e)),
        };
        let text = String::from_utf8_lossy(&bytes);
        Ok(match lines {
            Some(n) => {
                let all: Vec<&str> = text.lines().collect();
                all[all.len().saturating_sub(n)..].join("\n")
            }
            None => text.into_owned(),
        })
    }

    async fn power_state(&self, uuid: &str) -> PowerState {
        match self.status(uuid).await.as_deref() {
            Some("running") => PowerState::Running,
            Some(
                "paused" | "suspended" | "prelaunch" | "inmigrate" | "postmigrate"
                | "finish-migrate",
            ) => PowerState::Paused,
            Some("shutdown") => PowerState::Shutdown,
            Some("internal-error" | "io-error" | "guest-panicked") => PowerState::Crashed,
            Some(_) => PowerState::NoState,
            None => {
                let files = self.files(uuid);
                if tokio::fs::try_exists(files.memory_state())
                    .await
                    .unwrap_or(false)
                {
                    PowerState::Suspended
                } else if tokio::fs::try_exists(&files.dir).await.unwrap_or(false) {
                    PowerState::Shutdown
                } else {
                    PowerState::NoState
                }
            }
        }
    }

    async fn diagnostics(&self, uuid: &str) -> Result<Diagnostics, DriverError> {
        let state = self.execute(uuid, "query-status", None).await?;
        let memory = self
            .execute(uuid, "query-memory-size-summary", None)
            .await
            .unwrap_or_default();
        let cpus = self
            .execute(uuid, "query-cpus-fast", None)
            .await
            .unwrap_or_default();
        let blocks = self
            .execute(uuid, "query-blockstats", None)
            .await
            .unwrap_or_default();
        let files = self.files(uuid);
        let uptime = tokio::fs::metadata(files.pid())
            .await
            .ok()
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.elapsed().ok())
            .map(|d| d.as_secs() as i64);
        let stat = |b: &Value, k: &str| b["stats"][k].as_i64().unwrap_or(0);
        Ok(Diagnostics {
            state: match state["status"].as_str() {
                Some("running") => "running",
                Some("paused") => "paused",
                _ => "shutdown",
            }
            .into(),
            // Nova's name for the family of QEMU drivers.
            driver: "libvirt".into(),
            hypervisor: Some(self.accel.name().into()),
            hypervisor_os: Some("linux".into()),
            uptime,
            config_drive: true,
            cpu_details: cpus
                .as_array()
                .map(|cpus| {
                    cpus.iter()
                        .map(|c| crate::CpuDiagnostics {
                            id: c["cpu-index"].as_i64().unwrap_or(0),
                            time: 0,
                            utilisation: 0,
                        })
                        .collect()
                })
                .unwrap_or_default(),
            nic_details: Vec::new(),
            disk_details: blocks
                .as_array()
                .map(|blocks| {
                    blocks
                        .iter()
                        .filter(|b| b["qdev"].as_str().is_some_and(|q| !q.is_empty()))
                        .map(|b| DiskDiagnostics {
                            read_bytes: stat(b, "rd_bytes"),
                            read_requests: stat(b, "rd_operations"),
                            write_bytes: stat(b, "wr_bytes"),
                            write_requests: stat(b, "wr_operations"),
                            errors_count: stat(b, "failed_rd_operations")
                                + stat(b, "failed_wr_operations"),
                        })
                        .collect()
                })
                .unwrap_or_default(),
            memory_details: MemoryDiagnostics {
                maximum: memory["base-memory"].as_i64().unwrap_or(0) >> 20,
                used: 0,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only a live process whose command line names the guest is taken
    /// for its QEMU: never another process that reuses a stale pid.
    #[tokio::test]
    async fn a_guests_qemu_is_known_by_its_command_line() {
        // A loop, not a lone `sleep`: a shell may exec the last command of
        // `-c` in its own place, and the command line would lose `-uuid`.
        // The shell says it runs before the test looks: a process's command
        // line reads empty for a moment after `spawn` returns, until the
        // kernel has finished loading the new program.
        let mut child = tokio::process::Command::new("sh")
            .args([
                "-c",
                "echo running; while :; do sleep 0.1; done",
                "-uuid",
                "guest-1",
            ])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut said = String::new();
        tokio::io::AsyncBufReadExt::read_line(
            &mut tokio::io::BufReader::new(child.stdout.take().unwrap()),
            &mut said,
        )
        .await
        .unwrap();
        assert_eq!(said, "running\n");
        let pid = rustix::process::Pid::from_raw(child.id().unwrap() as i32).unwrap();
        assert!(runs_guest(pid, "guest-1").await);
        assert!(!runs_guest(pid, "guest-2").await);
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("qemu.pid");
        std::fs::write(&pid_file, pid.as_raw_nonzero().to_string()).unwrap();
        assert_eq!(qemu_of(&pid_file, "guest-1").await, Some(pid));
        assert_eq!(qemu_of(&pid_file, "guest-2").await, None);
        child.kill().await.unwrap();
        assert!(wait_exit(pid, "guest-1", Duration::from_secs(5)).await);
        assert_eq!(qemu_of(&pid_file, "guest-1").await, None);
    }
}
