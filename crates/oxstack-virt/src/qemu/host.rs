//! What the host offers the qemu driver: the accelerator (KVM when it
//! really runs a guest, else TCG), QEMU's version and the machine's CPUs,
//! memory and disk.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

/// How the VMs' CPUs run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accel {
    /// Hardware virtualization.
    Kvm,
    /// QEMU's software emulation: slower, works everywhere.
    Tcg,
}

impl Accel {
    pub fn name(self) -> &'static str {
        match self {
            Self::Kvm => "kvm",
            Self::Tcg => "tcg",
        }
    }
}

/// How long a trivial guest may take to start running under KVM. A
/// present but broken `/dev/kvm` (some nested setups) hangs instead of
/// failing, so the probe is bounded.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// KVM when `/dev/kvm` is there and a guest really runs on it: a tiny
/// firmware of our own (`probe.S`) must reach 64-bit mode and end QEMU
/// through its debug-exit port within the timeout; otherwise TCG.
pub async fn probe_accel(binary: &Path) -> Accel {
    if !Path::new("/dev/kvm").exists() {
        return Accel::Tcg;
    }
    match tokio::time::timeout(PROBE_TIMEOUT, runs_under_kvm(binary)).await {
        Ok(Ok(true)) => Accel::Kvm,
        Ok(Ok(false)) => {
            tracing::info!("a guest does not run under KVM here; VMs run under TCG");
            Accel::Tcg
        }
        Ok(Err(e)) => {
            tracing::info!(error = %e, "KVM probe failed; VMs run under TCG");
            Accel::Tcg
        }
        Err(_) => {
            tracing::warn!("a guest under KVM did not finish within 10 s; VMs run under TCG");
            Accel::Tcg
        }
    }
}

/// The probe's firmware: `probe.S` assembled, placed at the start of a
/// 64 KiB BIOS image whose reset vector jumps to it.
fn probe_firmware() -> Vec<u8> {
    const CODE: [u8; 173] = [
        0xfa, 0xb8, 0x00, 0xf0, 0x8e, 0xd8, 0x0f, 0x01, 0x16, 0xa8, 0x00, 0x0f, 0x20, 0xc0, 0x0c,
        0x01, 0x0f, 0x22, 0xc0, 0x66, 0xea, 0x1b, 0x00, 0x0f, 0x00, 0x08, 0x00, 0x66, 0xb8, 0x10,
        0x00, 0x8e, 0xd8, 0x8e, 0xc0, 0x8e, 0xd0, 0xbf, 0x00, 0x10, 0x00, 0x00, 0xb9, 0x00, 0x0c,
        0x00, 0x00, 0x31, 0xc0, 0xf3, 0xab, 0xc7, 0x05, 0x00, 0x10, 0x00, 0x00, 0x03, 0x20, 0x00,
        0x00, 0xc7, 0x05, 0x00, 0x20, 0x00, 0x00, 0x03, 0x30, 0x00, 0x00, 0xc7, 0x05, 0x00, 0x30,
        0x00, 0x00, 0x83, 0x00, 0x00, 0x00, 0x0f, 0x20, 0xe0, 0x83, 0xc8, 0x20, 0x0f, 0x22, 0xe0,
        0xb8, 0x00, 0x10, 0x00, 0x00, 0x0f, 0x22, 0xd8, 0xb9, 0x80, 0x00, 0x00, 0xc0, 0x0f, 0x32,
        0x0d, 0x00, 0x01, 0x00, 0x00, 0x0f, 0x30, 0x0f, 0x20, 0xc0, 0x0d, 0x00, 0x00, 0x00, 0x80,
        0x0f, 0x22, 0xc0, 0xea, 0x82, 0x00, 0x0f, 0x00, 0x18, 0x00, 0xb0, 0x2a, 0xe6, 0xf4, 0xf4,
        0x90, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0x00, 0x00, 0x00, 0x9a,
        0xcf, 0x00, 0xff, 0xff, 0x00, 0x00, 0x00, 0x92, 0xcf, 0x00, 0xff, 0xff, 0x00, 0x00, 0x00,
        0x9a, 0xaf, 0x00, 0x1f, 0x00, 0x88, 0x00, 0x0f,
    ];
    // ljmp 0xf000:0x0000, at 0xffff0.
    const RESET: [u8; 5] = [0xea, 0x00, 0x00, 0x00, 0xf0];
    let mut rom = vec![0u8; 0x10000];
    rom[..CODE.len()].copy_from_slice(&CODE);
    rom[0xfff0..0xfff5].copy_from_slice(&RESET);
    rom
}

/// QEMU's exit status when the probe writes 0x2a to the debug-exit port.
const PROBE_EXIT: i32 = 0x2a * 2 + 1;

async fn runs_under_kvm(binary: &Path) -> std::io::Result<bool> {
    let dir = tempfile::tempdir()?;
    let firmware = dir.path().join("probe.bin");
    tokio::fs::write(&firmware, probe_firmware()).await?;
    let status = tokio::process::Command::new(binary)
        .args(["-accel", "kvm"])
        .args(probe_arguments(&firmware))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .status()
        .await?;
    Ok(status.code() == Some(PROBE_EXIT))
}

fn probe_arguments(firmware: &Path) -> Vec<String> {
    [
        "-machine",
        "pc",
        "-m",
        "16",
        "-nodefaults",
        "-no-user-config",
        "-display",
        "none",
        "-device",
        "isa-debug-exit,iobase=0xf4,iosize=0x04",
        "-bios",
    ]
    .into_iter()
    .map(str::to_owned)
    .chain(std::iter::once(firmware.to_string_lossy().into_owned()))
    .collect()
}

/// QEMU's version as Nova's integer (`7.2.22` is 7002022).
pub async fn qemu_version(binary: &Path) -> i64 {
    let Ok(out) = tokio::process::Command::new(binary)
        .arg("--version")
        .output()
        .await
    else {
        return 0;
    };
    parse_version(&String::from_utf8_lossy(&out.stdout))
}

fn parse_version(text: &str) -> i64 {
    let Some(version) = text
        .split_whitespace()
        .skip_while(|w| *w != "version")
        .nth(1)
    else {
        return 0;
    };
    version
        .split('.')
        .take(3)
        .map(|p| p.parse::<i64>().unwrap_or(0))
        .chain(std::iter::repeat(0))
        .take(3)
        .fold(0, |acc, p| acc * 1000 + p)
}

/// The machine's memory in MiB (`MemTotal`).
pub fn memory_mb() -> i64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<i64>().ok())
        })
        .map_or(0, |kb| kb / 1024)
}

/// The size of the file system holding `dir`, in GiB.
pub fn disk_gb(dir: &Path) -> i64 {
    rustix::fs::statvfs(dir).map_or(0, |s| {
        i64::try_from(s.f_blocks.saturating_mul(s.f_frsize) >> 30).unwrap_or(i64::MAX)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_read_as_nova_writes_them() {
        assert_eq!(
            parse_version("QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7)\nCopyright"),
            7_002_022
        );
        assert_eq!(parse_version("QEMU emulator version 10.0"), 10_000_000);
        assert_eq!(parse_version("nothing"), 0);
    }

    /// The probe's firmware really reaches 64-bit mode: under TCG (which
    /// works everywhere QEMU does) it ends QEMU with the agreed status.
    #[tokio::test]
    async fn the_probe_firmware_reaches_long_mode_under_tcg() {
        let binary = Path::new("qemu-system-x86_64");
        if qemu_version(binary).await == 0 {
            eprintln!("NOTE: qemu-system-x86_64 not installed; probe firmware not run");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let firmware = dir.path().join("probe.bin");
        std::fs::write(&firmware, probe_firmware()).unwrap();
        let status = tokio::process::Command::new(binary)
            .args(["-accel", "tcg"])
            .args(probe_arguments(&firmware))
            .status()
            .await
            .unwrap();
        assert_eq!(status.code(), Some(PROBE_EXIT));
    }

    #[test]
    fn the_host_has_memory_and_disk() {
        assert!(memory_mb() > 0);
        assert!(disk_gb(Path::new("/")) > 0);
    }
}
