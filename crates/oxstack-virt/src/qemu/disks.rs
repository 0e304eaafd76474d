//! Where a VM's files are, and the disks made for it: a cached base per
//! image, a qcow2 overlay over it as the root disk (sized to the flavor),
//! ephemeral and swap disks, and consistent copies for snapshots. Disk
//! work is done by `qemu-img`, the authority on its formats.

use std::path::{Path, PathBuf};

use tokio::io::AsyncWriteExt;

use crate::DriverError;

/// The files of one VM, in its own folder.
#[derive(Clone, Debug)]
pub struct VmFiles {
    pub dir: PathBuf,
}

impl VmFiles {
    pub fn disk(&self) -> PathBuf {
        self.dir.join("disk")
    }
    pub fn ephemeral(&self) -> PathBuf {
        self.dir.join("disk.eph0")
    }
    pub fn swap(&self) -> PathBuf {
        self.dir.join("disk.swap")
    }
    pub fn rescue_disk(&self) -> PathBuf {
        self.dir.join("disk.rescue")
    }
    pub fn config_drive(&self) -> PathBuf {
        self.dir.join("disk.config")
    }
    pub fn console(&self) -> PathBuf {
        self.dir.join("console.log")
    }
    pub fn qmp(&self) -> PathBuf {
        self.dir.join("qmp.sock")
    }
    /// The guest's VNC display.
    pub fn vnc(&self) -> PathBuf {
        self.dir.join("vnc.sock")
    }
    pub fn pid(&self) -> PathBuf {
        self.dir.join("qemu.pid")
    }
    /// The guest's memory while it is suspended.
    pub fn memory_state(&self) -> PathBuf {
        self.dir.join("memory.state")
    }
    /// Where a VM waiting for a live migration receives it (present
    /// only until the guest arrived).
    pub fn incoming(&self) -> PathBuf {
        self.dir.join("incoming.json")
    }
    /// The host port forwarded to the guest's SSH port, kept across
    /// restarts of the VM.
    pub fn ssh_port(&self) -> PathBuf {
        self.dir.join("ssh_port")
    }
}

/// A disk image file and its format, as `qemu-img` names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiskFile {
    pub path: PathBuf,
    pub format: String,
}

pub fn failed(what: &str, e: impl std::fmt::Display) -> DriverError {
    DriverError {
        message: format!("{what}: {e}"),
    }
}

/// Runs `command` (a tool the driver relies on: `qemu-img`,
/// `genisoimage`, QEMU itself); its standard output, or its standard
/// error as the failure of `what`.
pub async fn run(mut command: tokio::process::Command, what: &str) -> Result<String, DriverError> {
    let program = command
        .as_std()
        .get_program()
        .to_string_lossy()
        .into_owned();
    let out = command
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|e| failed(what, format!("{program} does not run ({e})")))?;
    if !out.status.success() {
        return Err(DriverError {
            message: format!(
                "{what} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs `qemu-img` with `args`; its standard output.
pub async fn qemu_img(binary: &Path, args: &[&str]) -> Result<String, DriverError> {
    let mut command = tokio::process::Command::new(binary);
    command.args(args);
    let what = format!("qemu-img {}", args.first().copied().unwrap_or_default());
    run(command, &what).await
}

/// What a Glance disk format is to QEMU: a disk it opens as it is
/// (`Some(format)`), or one to convert to qcow2 first (`None`).
pub fn qemu_format(disk_format: &str) -> Option<&'static str> {
    match disk_format {
        "qcow2" => Some("qcow2"),
        "raw" | "ami" | "iso" | "aki" | "ari" => Some("raw"),
        _ => None,
    }
}

/// Writes `source` to `target` through a file of its own, renamed into
/// place once complete, so a cut copy is never taken for a whole one.
pub async fn write_whole(mut source: tokio::fs::File, target: &Path) -> Result<(), DriverError> {
    let partial = target.with_extension(format!("{}.partial", uuid_like()));
    let mut out = tokio::fs::File::create(&partial)
        .await
        .map_err(|e| failed("caching an image", e))?;
    let copied = async {
        tokio::io::copy(&mut source, &mut out).await?;
        out.flush().await?;
        out.sync_all().await
    }
    .await;
    if let Err(e) = copied {
        let _ = tokio::fs::remove_file(&partial).await;
        return Err(failed("caching an image", e));
    }
    tokio::fs::rename(&partial, target)
        .await
        .map_err(|e| failed("caching an image", e))
}

/// A name no other writer in this process picks at the same time.
fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Makes `disk` a qcow2 overlay over `base`, of `size_gb` GiB (the
/// base's own size when 0 or smaller than the base).
pub async fn overlay(
    qemu_img_bin: &Path,
    base: &DiskFile,
    disk: &Path,
    size_gb: i64,
) -> Result<(), DriverError> {
    let base_path = base.path.to_string_lossy();
    let disk_path = disk.to_string_lossy();
    let mut args = vec![
        "create",
        "-q",
        "-f",
        "qcow2",
        "-F",
        base.format.as_str(),
        "-b",
        &base_path,
        &disk_path,
    ];
    let size = format!("{size_gb}G");
    let base_bytes = virtual_size(qemu_img_bin, base).await?;
    if size_gb > 0 && (size_gb as u64) << 30 >= base_bytes {
        args.push(&size);
    }
    qemu_img(qemu_img_bin, &args).await.map(drop)
}

/// A new empty qcow2 disk of `size` (`10G`, `512M`).
pub async fn blank(qemu_img_bin: &Path, disk: &Path, size: &str) -> Result<(), DriverError> {
    let path = disk.to_string_lossy();
    qemu_img(qemu_img_bin, &["create", "-q", "-f", "qcow2", &path, size])
        .await
        .map(drop)
}

/// A disk's size as the guest sees it, in bytes.
pub async fn virtual_size(qemu_img_bin: &Path, disk: &DiskFile) -> Result<u64, DriverError> {
    let path = disk.path.to_string_lossy();
    let info = qemu_img(
        qemu_img_bin,
        &["info", "-U", "--output=json", "-f", &disk.format, &path],
    )
    .await?;
    let info: serde_json::Value =
        serde_json::from_str(&info).map_err(|e| failed("reading qemu-img info", e))?;
    info["virtual-size"]
        .as_u64()
        .ok_or_else(|| failed("reading qemu-img info", "no virtual-size"))
}

/// Grows `disk` to `size_gb` GiB; a disk that is already as large stays
/// as it is (qcow2 disks are never shrunk under a guest's file system).
pub async fn grow(qemu_img_bin: &Path, disk: &DiskFile, size_gb: i64) -> Result<(), DriverError> {
    if size_gb <= 0 || (size_gb as u64) << 30 <= virtual_size(qemu_img_bin, disk).await? {
        return Ok(());
    }
    let path = disk.path.to_string_lossy();
    let size = format!("{size_gb}G");
    qemu_img(
        qemu_img_bin,
        &["resize", "-q", "-f", &disk.format, &path, &size],
    )
    .await
    .map(drop)
}

/// A standalone qcow2 copy of `disk` (its base folded in) at `target`;
/// `-U` because the VM may hold the disk open (it is paused, its writes
/// flushed, while this runs).
pub async fn copy_out(
    qemu_img_bin: &Path,
    disk: &DiskFile,
    target: &Path,
) -> Result<(), DriverError> {
    let from = disk.path.to_string_lossy();
    let to = target.to_string_lossy();
    qemu_img(
        qemu_img_bin,
        &[
            "convert",
            "-U",
            "-q",
            "-f",
            &disk.format,
            "-O",
            "qcow2",
            &from,
            &to,
        ],
    )
    .await
    .map(drop)
}
