//! Configuration: defaults, then a TOML file (`--config`), then `OXSTACK_*`
//! environment variables, then command-line flags, each stronger than the
//! one before. `oxstack serve` with none of them works. Every key is
//! documented in `docs/config.md`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::{Args, ValueEnum};
use oxstack_api::AuthMode;
use oxstack_api::control::ControlConfig;
use oxstack_compute::ComputeSettings;
use oxstack_compute::quotas::{QuotaDefaults, Resource};
use oxstack_compute::servers::network::{Cidr, NetworkConfig};
use oxstack_identity::BootstrapConfig;
use oxstack_virt::Operation;
use oxstack_virt::fake::FakeSettings;
use oxstack_virt::qemu::QemuSettings;
use oxstack_virt::qemu::host::Accel;
use serde::Deserialize;

/// `--auth` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum AuthArg {
    Keystone,
    Noauth,
}

/// Flags shared by every command that needs the cloud's configuration.
#[derive(Args, Debug, Default)]
pub struct ConfigArgs {
    /// TOML configuration file.
    #[arg(long, env = "OXSTACK_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8774].
    #[arg(long, env = "OXSTACK_LISTEN")]
    pub listen: Option<String>,
    /// Directory for the SQLite database and image data [default: ./oxstack-data].
    #[arg(long, env = "OXSTACK_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// `sqlite://PATH` or `postgres://USER@HOST/DB` [default: SQLite in the data directory].
    #[arg(long, env = "OXSTACK_DATABASE_URL")]
    pub database_url: Option<String>,
    /// How callers authenticate [default: keystone].
    #[arg(long, env = "OXSTACK_AUTH")]
    pub auth: Option<AuthArg>,
    /// Virt driver: `fake` (simulated) or `qemu` (real VMs) [default: fake].
    #[arg(long, env = "OXSTACK_DRIVER")]
    pub driver: Option<String>,
    /// Log filter, e.g. `info` or `oxstack_api=debug` [default: info].
    #[arg(long, env = "OXSTACK_LOG_LEVEL")]
    pub log_level: Option<String>,
    /// Base URL published in the catalog and links [default: the address clients reach].
    #[arg(long, env = "OXSTACK_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// This compute host's name [default: the machine's hostname].
    #[arg(long, env = "OXSTACK_HOST")]
    pub host: Option<String>,
    /// How many compute hosts this process runs with the fake driver: the
    /// host, then `<host>-2`, `<host>-3`, ... [default: 1].
    #[arg(long, env = "OXSTACK_FAKE_HOSTS")]
    pub fake_hosts: Option<usize>,
    /// A seed (YAML or JSON: projects, users, flavors, images, key pairs,
    /// servers) made at start where missing; see docs/control-plane.md.
    #[arg(long, env = "OXSTACK_SEED")]
    pub seed: Option<PathBuf>,
}

/// The `[bootstrap]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct BootstrapFile {
    admin_user: Option<String>,
    admin_password: Option<String>,
    admin_project: Option<String>,
    demo_user: Option<String>,
    demo_password: Option<String>,
    demo_project: Option<String>,
}

/// The `[network]` table: the built-in network servers attach to.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NetworkFile {
    name: Option<String>,
    /// IPv4 subnet, e.g. `10.0.0.0/24`; "" for none.
    ipv4_cidr: Option<String>,
    /// IPv6 subnet (SLAAC, /64 or shorter), e.g. `fd00:0:0:1::/64`; "" for none.
    ipv6_cidr: Option<String>,
    /// The floating pool `public`'s subnet, e.g. `172.24.4.0/24`; "" for none.
    floating_cidr: Option<String>,
}

/// The `[fake_driver]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FakeDriverFile {
    /// How long each driver operation takes, in milliseconds.
    delay_ms: Option<u64>,
    /// Operations that fail (`spawn`, `destroy`).
    #[serde(default)]
    fail: Vec<String>,
    /// How many compute hosts the process runs.
    hosts: Option<usize>,
}

/// The `[qemu]` table: the driver that runs real VMs.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct QemuFile {
    /// The emulator [default: qemu-system-x86_64].
    binary: Option<PathBuf>,
    /// [default: qemu-img].
    qemu_img: Option<PathBuf>,
    /// `auto` (KVM when it works, else TCG), `kvm` or `tcg` [default: auto].
    accel: Option<String>,
    /// Seconds a soft reboot waits for the guest to power off [default: 120].
    soft_reboot_timeout: Option<u64>,
    /// The address other hosts send live-migrating guests to (Nova's
    /// `live_migration_inbound_addr`) [default: 127.0.0.1].
    live_migration_inbound_addr: Option<String>,
    /// A Linux bridge the guests' NICs join as taps [default: none,
    /// user-mode networking].
    bridge: Option<String>,
}

/// The `[vnc]` table: the noVNC console proxy under `/vnc/`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct VncFile {
    /// noVNC's pages [default: /usr/share/novnc, when it exists].
    novnc_dir: Option<PathBuf>,
    /// The page console URLs open (Nova's `novncproxy_base_url`)
    /// [default: this cloud's `/vnc/vnc_lite.html` with the qemu driver].
    novncproxy_base_url: Option<String>,
}

/// The `[control]` table: the `/_oxstack/` control plane.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ControlFile {
    /// Serve the control plane beyond health (default true).
    enabled: Option<bool>,
    /// Accept fault rules (default false).
    faults: Option<bool>,
    /// Requests the trace keeps (default 1000; 0: none).
    trace_size: Option<usize>,
}

/// What the TOML file may contain.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    auth: Option<AuthArg>,
    driver: Option<String>,
    log_level: Option<String>,
    public_url: Option<String>,
    region: Option<String>,
    max_body_bytes: Option<usize>,
    image_max_bytes: Option<u64>,
    token_ttl_seconds: Option<u64>,
    /// This compute host's name.
    host: Option<String>,
    enable_instance_password: Option<bool>,
    /// Seconds deleted servers stay restorable (0: delete at once).
    reclaim_instance_interval: Option<u64>,
    /// Seconds after which an unconfirmed resize is confirmed (0: never).
    resize_confirm_window: Option<u64>,
    /// Seconds between a compute host's reports.
    report_interval: Option<u64>,
    /// Seconds of silence after which a compute host is down.
    service_down_time: Option<u64>,
    /// This host's IP address (the hypervisor's `host_ip`).
    my_ip: Option<String>,
    #[serde(default)]
    bootstrap: BootstrapFile,
    #[serde(default)]
    network: NetworkFile,
    #[serde(default)]
    fake_driver: FakeDriverFile,
    #[serde(default)]
    qemu: QemuFile,
    #[serde(default)]
    vnc: VncFile,
    #[serde(default)]
    control: ControlFile,
    /// Default quota limits, by the quota API's resource names.
    #[serde(default)]
    quota: BTreeMap<String, i64>,
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub auth: AuthMode,
    pub driver: String,
    pub log_level: String,
    pub public_url: Option<String>,
    pub region: String,
    pub max_body_bytes: usize,
    /// Largest image upload accepted (413 beyond).
    pub image_max_bytes: u64,
    pub token_ttl: Duration,
    pub bootstrap: BootstrapConfig,
    /// Settings of the compute service (quota defaults included).
    pub compute: ComputeSettings,
    /// This compute host's name [default: the machine's hostname].
    pub host: String,
    /// No host name was configured (`host` is the machine's).
    pub host_is_default: bool,
    pub fake_driver: FakeSettings,
    /// The hosts this process runs: `host`, then `<host>-2`, ...
    pub fake_hosts: usize,
    /// The qemu driver's settings (its folder is under the data directory).
    pub qemu: QemuSettings,
    /// noVNC's pages, served under `/vnc/`.
    pub novnc_dir: Option<PathBuf>,
    pub control: ControlConfig,
    /// The seed made at start (`serve --seed`).
    pub seed: Option<PathBuf>,
}

/// Nova's `osapi_max_request_body_size` default (112 KiB).
const DEFAULT_MAX_BODY: usize = 114_688;

/// 10 GiB: far above a cloud image, well below filling a disk by accident.
const DEFAULT_IMAGE_MAX: u64 = 10 * 1024 * 1024 * 1024;

impl Config {
    /// Resolves flags and environment (already merged by clap) over the file.
    pub fn load(args: &ConfigArgs) -> anyhow::Result<Self> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let listen_text = args
            .listen
            .clone()
            .or(file.listen)
            .unwrap_or_else(|| "127.0.0.1:8774".into());
        let listen: SocketAddr = listen_text
            .parse()
            .with_context(|| format!("invalid listen address {listen_text:?}"))?;
        let data_dir = args
            .data_dir
            .clone()
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("oxstack-data"));
        // Absolute, so that the paths handed to QEMU (which changes to `/`
        // when it daemonizes) name the same files later on.
        let data_dir = std::path::absolute(&data_dir)
            .with_context(|| format!("resolving data directory {}", data_dir.display()))?;
        let database_url = args
            .database_url
            .clone()
            .or(file.database_url)
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("oxstack.db").display()));
        let auth = match args.auth.or(file.auth).unwrap_or(AuthArg::Keystone) {
            AuthArg::Keystone => AuthMode::Keystone,
            AuthArg::Noauth => AuthMode::NoAuth,
        };
        let driver = args
            .driver
            .clone()
            .or(file.driver)
            .unwrap_or_else(|| "fake".into());
        if driver != "fake" && driver != "qemu" {
            bail!("unknown driver {driver:?}: choose `fake` or `qemu`");
        }
        let ttl = file.token_ttl_seconds.unwrap_or(3600);
        if ttl == 0 {
            bail!("token_ttl_seconds must be positive");
        }
        let mut quota_defaults = QuotaDefaults::default();
        for (name, limit) in file.quota {
            let resource = Resource::parse(&name)
                .with_context(|| format!("unknown quota resource {name:?}"))?;
            if limit < -1 {
                bail!("quota {name} must be -1 (unlimited) or more, not {limit}");
            }
            quota_defaults.0.insert(resource, limit);
        }
        let network = network(&file.network)?;
        let mut fail = std::collections::HashSet::new();
        for name in &file.fake_driver.fail {
            fail.insert(
                Operation::parse(name)
                    .with_context(|| format!("unknown fake driver operation {name:?}"))?,
            );
        }
        let fake_driver = FakeSettings {
            delay: Duration::from_millis(file.fake_driver.delay_ms.unwrap_or(0)),
            fail,
            ..FakeSettings::default()
        };
        let fake_hosts = args.fake_hosts.or(file.fake_driver.hosts).unwrap_or(1);
        if fake_hosts == 0 {
            bail!("a process runs at least one compute host (fake_driver.hosts / --fake-hosts)");
        }
        if driver == "qemu" && fake_hosts > 1 {
            bail!("the qemu driver runs one compute host per process (--fake-hosts is for `fake`)");
        }
        let qemu = qemu_settings(file.qemu, &data_dir)?;
        let compute = ComputeSettings {
            quota_defaults,
            enable_instance_password: file.enable_instance_password.unwrap_or(true),
            network,
            reclaim_instance_interval: Duration::from_secs(
                file.reclaim_instance_interval.unwrap_or(0),
            ),
            resize_confirm_window: Duration::from_secs(file.resize_confirm_window.unwrap_or(0)),
            report_interval: Duration::from_secs(file.report_interval.unwrap_or(10).max(1)),
            service_down_time: Duration::from_secs(file.service_down_time.unwrap_or(60)),
            novncproxy_base_url: file.vnc.novncproxy_base_url.clone(),
            my_ip: file.my_ip.clone().unwrap_or_else(|| {
                let ip = listen.ip();
                if ip.is_unspecified() {
                    "127.0.0.1".into()
                } else {
                    ip.to_string()
                }
            }),
            ..ComputeSettings::default()
        };
        let named_host = args.host.clone().or(file.host).filter(|h| !h.is_empty());
        let host_is_default = named_host.is_none();
        let host = named_host.unwrap_or_else(default_host);
        let defaults = BootstrapConfig::default();
        let control = ControlConfig::default();
        let b = file.bootstrap;
        Ok(Self {
            listen,
            data_dir,
            database_url,
            auth,
            driver,
            log_level: args
                .log_level
                .clone()
                .or(file.log_level)
                .unwrap_or_else(|| "info".into()),
            public_url: args
                .public_url
                .clone()
                .or(file.public_url)
                .filter(|u| !u.is_empty()),
            region: file.region.unwrap_or_else(|| "RegionOne".into()),
            max_body_bytes: file.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY),
            image_max_bytes: file.image_max_bytes.unwrap_or(DEFAULT_IMAGE_MAX),
            token_ttl: Duration::from_secs(ttl),
            bootstrap: BootstrapConfig {
                admin_user: b.admin_user.unwrap_or(defaults.admin_user),
                admin_password: b.admin_password.unwrap_or(defaults.admin_password),
                admin_project: b.admin_project.unwrap_or(defaults.admin_project),
                demo_user: b.demo_user.unwrap_or(defaults.demo_user),
                demo_password: b.demo_password.unwrap_or(defaults.demo_password),
                demo_project: b.demo_project.unwrap_or(defaults.demo_project),
            },
            compute,
            host,
            host_is_default,
            fake_driver,
            fake_hosts,
            qemu,
            novnc_dir: file
                .vnc
                .novnc_dir
                .or_else(|| Some(PathBuf::from("/usr/share/novnc")).filter(|d| d.is_dir())),
            control: ControlConfig {
                enabled: file.control.enabled.unwrap_or(control.enabled),
                faults: file.control.faults.unwrap_or(control.faults),
                trace_size: file.control.trace_size.unwrap_or(control.trace_size),
            },
            seed: args.seed.clone(),
        })
    }

    /// The names of the compute hosts this process runs.
    pub fn host_names(&self, first: &str) -> Vec<String> {
        let more = (2..=self.fake_hosts).map(|n| format!("{first}-{n}"));
        std::iter::once(first.to_owned()).chain(more).collect()
    }

    /// The URL clients should use to reach this cloud.
    pub fn client_url(&self) -> String {
        if let Some(url) = &self.public_url {
            return url.trim_end_matches('/').to_owned();
        }
        let ip = match self.listen.ip() {
            ip if ip.is_unspecified() && ip.is_ipv4() => "127.0.0.1".to_owned(),
            ip if ip.is_unspecified() => "[::1]".to_owned(),
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
            ip => ip.to_string(),
        };
        format!("http://{ip}:{}", self.listen.port())
    }
}

fn qemu_settings(file: QemuFile, data_dir: &Path) -> anyhow::Result<QemuSettings> {
    let accel = match file.accel.as_deref().unwrap_or("auto") {
        "auto" => None,
        "kvm" => Some(Accel::Kvm),
        "tcg" => Some(Accel::Tcg),
        other => bail!("unknown qemu accel {other:?}: choose `auto`, `kvm` or `tcg`"),
    };
    Ok(QemuSettings {
        binary: file
            .binary
            .unwrap_or_else(|| PathBuf::from("qemu-system-x86_64")),
        qemu_img: file.qemu_img.unwrap_or_else(|| PathBuf::from("qemu-img")),
        accel,
        dir: data_dir.join("qemu"),
        soft_reboot_timeout: Duration::from_secs(file.soft_reboot_timeout.unwrap_or(120)),
        live_migration_inbound_addr: file
            .live_migration_inbound_addr
            .unwrap_or_else(|| "127.0.0.1".into()),
        bridge: file.bridge.filter(|b| !b.is_empty()),
    })
}

/// The machine's hostname, as Nova's `[DEFAULT]host` defaults to it.
fn default_host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "oxstack".into())
}

fn network(file: &NetworkFile) -> anyhow::Result<NetworkConfig> {
    let defaults = NetworkConfig::default();
    let name = file.name.clone().unwrap_or(defaults.name.clone());
    let ipv4 = match file.ipv4_cidr.as_deref() {
        None => defaults.ipv4,
        Some("") => None,
        Some(text) => {
            Some(Cidr::parse(text, 30).with_context(|| format!("invalid ipv4_cidr {text:?}"))?)
        }
    };
    let ipv6 = match file.ipv6_cidr.as_deref() {
        None => defaults.ipv6,
        Some("") => None,
        Some(text) => Some(
            Cidr::parse(text, 64)
                .with_context(|| format!("invalid ipv6_cidr {text:?} (a /64 or shorter)"))?,
        ),
    };
    let mut network = NetworkConfig::new(&name, ipv4, ipv6);
    match file.floating_cidr.as_deref() {
        None => {}
        Some("") => network.floating = None,
        Some(text) => {
            let cidr =
                Cidr::parse(text, 30).with_context(|| format!("invalid floating_cidr {text:?}"))?;
            network.floating = Some(("public".into(), cidr));
        }
    }
    Ok(network)
}

fn read_file(path: &Path) -> anyhow::Result<FileConfig> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_need_no_configuration() {
        let c = Config::load(&ConfigArgs::default()).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8774");
        // `./oxstack-data`, made absolute (QEMU works from `/`).
        let data_dir = std::env::current_dir().unwrap().join("oxstack-data");
        assert_eq!(c.data_dir, data_dir);
        assert_eq!(
            c.database_url,
            format!("sqlite://{}/oxstack.db", data_dir.display())
        );
        assert_eq!(c.qemu.dir, data_dir.join("qemu"));
        assert_eq!(c.auth, AuthMode::Keystone);
        assert_eq!(c.client_url(), "http://127.0.0.1:8774");
        assert_eq!(c.bootstrap.admin_password, "admin");
    }

    #[test]
    fn flags_beat_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ox.toml");
        std::fs::write(
            &path,
            "listen = \"0.0.0.0:9000\"\nauth = \"noauth\"\nregion = \"Two\"\n[bootstrap]\nadmin_password = \"pw\"\n[quota]\ninstances = 50\n",
        )
        .unwrap();
        let mut args = ConfigArgs {
            config: Some(path.clone()),
            ..Default::default()
        };
        let c = Config::load(&args).unwrap();
        assert_eq!(
            (c.listen.port(), c.auth, c.region.as_str()),
            (9000, AuthMode::NoAuth, "Two")
        );
        assert_eq!(c.client_url(), "http://127.0.0.1:9000");
        assert_eq!(c.bootstrap.admin_password, "pw");
        assert_eq!(c.compute.quota_defaults.0[&Resource::Instances], 50);
        assert_eq!(c.compute.quota_defaults.0[&Resource::Cores], 20);
        args.listen = Some("127.0.0.1:1".into());
        assert_eq!(Config::load(&args).unwrap().listen.port(), 1);
        std::fs::write(&path, "listne = \"x\"\n").unwrap();
        assert!(Config::load(&args).is_err(), "unknown keys are refused");
    }
}
