//! The QEMU command line of a VM. QEMU daemonizes once the VM is set up,
//! so VMs outlive the oxstack process that started them and are found
//! again by their QMP sockets.

use std::path::PathBuf;

use super::disks::{DiskFile, VmFiles};
use super::host::Accel;
use crate::{GuestSpec, GuestVolume};

/// A kernel booted directly (images with `kernel_id`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectKernel {
    pub kernel: PathBuf,
    pub ramdisk: Option<PathBuf>,
    pub command_line: String,
}

/// How a starting VM begins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartFrom {
    /// It boots.
    Boot,
    /// It restores the memory a suspend saved.
    SavedMemory,
    /// It waits for the running guest a live migration sends
    /// (`-incoming defer`: the receiving end is opened over QMP).
    Migration,
}

/// Everything one start of a VM needs.
#[derive(Clone, Debug)]
pub struct Launch<'a> {
    pub guest: &'a GuestSpec,
    pub files: &'a VmFiles,
    pub accel: Accel,
    /// The root disk (`None`: the guest boots from its first volume).
    pub root: Option<DiskFile>,
    pub ephemeral: bool,
    pub swap: bool,
    pub kernel: Option<DirectKernel>,
    /// A rescue disk, which the guest boots from with its own disk
    /// attached second.
    pub rescue: Option<DiskFile>,
    pub ssh_port: u16,
    /// The tap device of each NIC, on a bridge; none: user-mode
    /// networking.
    pub taps: &'a [String],
    pub from: StartFrom,
}

/// The device id of a volume's drive, for hot-unplugging it.
pub fn volume_device(volume_id: &str) -> String {
    format!("volume-{volume_id}")
}

/// The block node of a volume's data: QEMU takes node names of at most
/// 31 characters, so the id's first 30 hex digits follow a letter.
pub fn volume_node(volume_id: &str) -> String {
    let digits: String = volume_id.chars().filter(|c| *c != '-').take(30).collect();
    format!("v{digits}")
}

/// The serial a guest sees on a volume's disk: Nova's, its id cut to 20.
pub fn volume_serial(volume_id: &str) -> String {
    volume_id.chars().take(20).collect()
}

fn path(p: &std::path::Path) -> String {
    // QEMU's option syntax doubles commas inside values.
    p.to_string_lossy().replace(',', ",,")
}

/// A drive: its block node `node` over `disk`, seen by the guest as the
/// virtio disk `device`.
fn drive(
    args: &mut Vec<String>,
    node: &str,
    device: &str,
    disk: &DiskFile,
    read_only: bool,
    serial: Option<&str>,
) {
    args.push("-blockdev".into());
    args.push(format!(
        "driver={},node-name={node},read-only={},file.driver=file,file.filename={},file.aio=threads,cache.direct=off",
        disk.format,
        if read_only { "on" } else { "off" },
        path(&disk.path)
    ));
    args.push("-device".into());
    let mut spec = format!("virtio-blk-pci,drive={node},id={device}");
    if let Some(serial) = serial {
        spec.push_str(&format!(",serial={serial}"));
    }
    args.push(spec);
}

/// The arguments of `qemu-system-x86_64` for `launch`.
pub fn arguments(launch: &Launch<'_>) -> Vec<String> {
    let guest = launch.guest;
    let files = launch.files;
    let mut args: Vec<String> = vec![
        "-name".into(),
        format!("guest={},process={}", guest.name, guest.name),
        "-uuid".into(),
        guest.uuid.clone(),
        "-machine".into(),
        format!("pc,accel={}", launch.accel.name()),
        "-cpu".into(),
        match launch.accel {
            Accel::Kvm => "host".into(),
            Accel::Tcg => "max".into(),
        },
        "-smp".into(),
        guest.flavor.vcpus.max(1).to_string(),
        "-m".into(),
        format!("{}M", guest.flavor.memory_mb.max(16)),
        "-nodefaults".into(),
        "-no-user-config".into(),
        "-display".into(),
        "none".into(),
        // A graphics card and its display for the VNC console.
        "-vga".into(),
        "std".into(),
        "-vnc".into(),
        format!("unix:{}", path(&files.vnc())),
        // A guest that powers off stays, stopped, so a soft reboot can
        // reset it and a stop is seen as the SHUTDOWN event.
        "-no-shutdown".into(),
        "-chardev".into(),
        format!(
            "socket,id=qmp,path={},server=on,wait=off",
            path(&files.qmp())
        ),
        "-mon".into(),
        "chardev=qmp,mode=control".into(),
        "-chardev".into(),
        format!("file,id=serial0,path={},append=on", path(&files.console())),
        "-serial".into(),
        "chardev:serial0".into(),
        "-pidfile".into(),
        files.pid().to_string_lossy().into_owned(),
        "-daemonize".into(),
    ];
    let mut boot_volume: Option<&GuestVolume> = None;
    if let Some(rescue) = &launch.rescue {
        drive(&mut args, "rescue", "disk-rescue", rescue, false, None);
    }
    match &launch.root {
        Some(root) => drive(&mut args, "root", "disk-root", root, false, None),
        None => {
            boot_volume = guest.volumes.first();
            if let Some(v) = boot_volume {
                volume_drive(&mut args, v);
            }
        }
    }
    if launch.ephemeral {
        let disk = DiskFile {
            path: files.ephemeral(),
            format: "qcow2".into(),
        };
        drive(
            &mut args,
            "ephemeral0",
            "disk-ephemeral0",
            &disk,
            false,
            None,
        );
    }
    if launch.swap {
        let disk = DiskFile {
            path: files.swap(),
            format: "qcow2".into(),
        };
        drive(&mut args, "swap", "disk-swap", &disk, false, None);
    }
    for volume in &guest.volumes {
        if boot_volume.is_some_and(|b| b.volume_id == volume.volume_id) {
            continue;
        }
        volume_drive(&mut args, volume);
    }
    let config = DiskFile {
        path: files.config_drive(),
        format: "raw".into(),
    };
    drive(
        &mut args,
        "config",
        "disk-config",
        &config,
        true,
        Some("config-2"),
    );
    for (i, nic) in guest.nics.iter().enumerate() {
        args.push("-netdev".into());
        let netdev = match launch.taps.get(i) {
            // QEMU makes the tap; the driver puts it on the bridge.
            Some(tap) => format!("tap,id=net{i},ifname={tap},script=no,downscript=no"),
            None if i == 0 => format!(
                "user,id=net{i},hostfwd=tcp:127.0.0.1:{}-:22",
                launch.ssh_port
            ),
            None => format!("user,id=net{i}"),
        };
        args.push(netdev);
        args.push("-device".into());
        args.push(format!("virtio-net-pci,netdev=net{i},mac={}", nic.mac));
    }
    if let Some(kernel) = &launch.kernel {
        args.push("-kernel".into());
        args.push(kernel.kernel.to_string_lossy().into_owned());
        if let Some(ramdisk) = &kernel.ramdisk {
            args.push("-initrd".into());
            args.push(ramdisk.to_string_lossy().into_owned());
        }
        args.push("-append".into());
        args.push(kernel.command_line.clone());
    }
    match launch.from {
        StartFrom::Boot => {}
        StartFrom::SavedMemory => {
            args.push("-incoming".into());
            args.push(format!("exec:cat {}", shell_quote(&files.memory_state())));
        }
        StartFrom::Migration => {
            args.push("-incoming".into());
            args.push("defer".into());
        }
    }
    args
}

fn volume_drive(args: &mut Vec<String>, volume: &GuestVolume) {
    let disk = DiskFile {
        path: volume.path.clone(),
        format: volume.format.clone(),
    };
    drive(
        args,
        &volume_node(&volume.volume_id),
        &volume_device(&volume.volume_id),
        &disk,
        volume.read_only,
        Some(&volume_serial(&volume.volume_id)),
    );
}

/// `p` quoted for the shell QEMU runs `exec:` migrations through.
pub fn shell_quote(p: &std::path::Path) -> String {
    format!("'{}'", p.to_string_lossy().replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{GuestFlavor, GuestNic};

    #[test]
    fn a_guest_gets_its_flavor_disks_nics_and_sockets() {
        let guest = GuestSpec {
            uuid: "u-1".into(),
            name: "instance-00000001".into(),
            flavor: GuestFlavor {
                vcpus: 2,
                memory_mb: 256,
                ..GuestFlavor::default()
            },
            nics: vec![GuestNic {
                network_id: "n".into(),
                mac: "fa:16:3e:00:00:01".into(),
                addresses: vec![],
                ..GuestNic::default()
            }],
            volumes: vec![GuestVolume {
                volume_id: "v-123456789012345678901234".into(),
                path: "/data/volumes/v".into(),
                format: "raw".into(),
                ..GuestVolume::default()
            }],
            ..GuestSpec::default()
        };
        let files = VmFiles {
            dir: "/data/qemu/instances/u-1".into(),
        };
        let launch = Launch {
            guest: &guest,
            files: &files,
            accel: Accel::Tcg,
            root: Some(DiskFile {
                path: files.disk(),
                format: "qcow2".into(),
            }),
            ephemeral: false,
            swap: false,
            kernel: None,
            rescue: None,
            ssh_port: 2222,
            taps: &[],
            from: StartFrom::Boot,
        };
        let args = arguments(&launch).join(" ");
        assert!(args.contains("-smp 2 -m 256M"), "{args}");
        assert!(args.contains("accel=tcg"), "{args}");
        assert!(
            args.contains("file.filename=/data/qemu/instances/u-1/disk"),
            "{args}"
        );
        assert!(args.contains("hostfwd=tcp:127.0.0.1:2222-:22"), "{args}");
        assert!(args.contains("mac=fa:16:3e:00:00:01"), "{args}");
        assert!(
            args.contains("id=volume-v-123456789012345678901234,serial=v-123456789012345678"),
            "{args}"
        );
        assert!(args.contains("serial=config-2"), "{args}");
        // The root disk comes before the volume: the guest sees it as vda.
        assert!(args.find("node-name=root").unwrap() < args.find("node-name=vv12345").unwrap());
        assert!(volume_node("0123456789abcdef-0123-4567-89ab-cdef01234567").len() <= 31);

        // On a bridge, each NIC is a tap of its own and nothing is
        // forwarded.
        let taps = ["oxu1000000a0b1c".to_owned()];
        let bridged = arguments(&Launch {
            taps: &taps,
            ..launch
        })
        .join(" ");
        assert!(
            bridged.contains("-netdev tap,id=net0,ifname=oxu1000000a0b1c,script=no,downscript=no"),
            "{bridged}"
        );
        assert!(!bridged.contains("hostfwd"), "{bridged}");
    }
}
