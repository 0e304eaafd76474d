//! The compute domain of oxstack. It decides what may happen to flavors,
//! quotas and servers, and runs servers through a hypervisor driver; it
//! knows nothing of HTTP, JSON field names or microversions. Error messages are Nova's (`nova/exception.py`), since
//! users and clients read them.

pub mod aggregates;
mod error;
pub mod flavors;
pub mod host_admin;
mod host_hints;
mod hosts;
pub mod hypervisors;
pub mod keypairs;
pub mod model;
pub mod quotas;
mod reset;
pub mod server_groups;
pub mod servers;
pub mod simulation;
#[cfg(test)]
mod testing;
pub mod usage;

use std::sync::Arc;

use oxstack_image::Images;
use oxstack_store::Store;
use oxstack_virt::Driver;

pub use error::{ComputeError, ComputeResult};

/// Deployment choices of the compute service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ComputeSettings {
    pub quota_defaults: quotas::QuotaDefaults,
    /// Nova's `[api]enable_instance_password`: return `adminPass`.
    pub enable_instance_password: bool,
    /// The one availability zone (Nova's default `nova`).
    pub availability_zone: String,
    pub network: servers::network::NetworkConfig,
    /// Nova's `reclaim_instance_interval`: zero deletes at once; otherwise
    /// deleted servers are kept `SOFT_DELETED` (restorable) this long.
    pub reclaim_instance_interval: std::time::Duration,
    /// Nova's `resize_confirm_window`: zero never confirms by itself;
    /// otherwise a resize left unconfirmed this long is confirmed.
    pub resize_confirm_window: std::time::Duration,
    /// Nova's `report_interval`: how often a compute host reports in.
    pub report_interval: std::time::Duration,
    /// Nova's `service_down_time`: a host silent this long is down.
    pub service_down_time: std::time::Duration,
    /// Nova's `my_ip`: this host's address (`host_ip` of its hypervisor).
    pub my_ip: String,
    /// Nova's `[vnc]novncproxy_base_url`: the page a noVNC console URL
    /// opens, before `?path=...token=...`. `None`: Nova's default proxy
    /// (`http://127.0.0.1:6080/vnc_lite.html`, where the websocket is the
    /// page's root).
    pub novncproxy_base_url: Option<String>,
}

impl Default for ComputeSettings {
    fn default() -> Self {
        Self {
            quota_defaults: quotas::QuotaDefaults::default(),
            enable_instance_password: true,
            availability_zone: "nova".into(),
            network: servers::network::NetworkConfig::default(),
            reclaim_instance_interval: std::time::Duration::ZERO,
            resize_confirm_window: std::time::Duration::ZERO,
            report_interval: std::time::Duration::from_secs(10),
            service_down_time: std::time::Duration::from_secs(60),
            my_ip: "127.0.0.1".into(),
            novncproxy_base_url: None,
        }
    }
}

/// The compute service of one compute host (a process runs one, or
/// several simulated ones sharing everything but their hypervisor and
/// their running flows); cheap to share.
#[derive(Clone, Debug)]
pub struct Compute {
    store: Store,
    quota_defaults: quotas::QuotaDefaults,
    settings: Arc<ComputeSettings>,
    network: Arc<servers::network::NetworkConfig>,
    /// Servers' ports, addresses and security groups.
    networking: oxstack_network::Networking,
    driver: Arc<dyn Driver>,
    /// Where snapshots and backups go.
    images: Images,
    /// Servers' volumes (attachments, boot volumes).
    volumes: oxstack_volume::BlockStorage,
    /// This compute host's name (`OS-EXT-SRV-ATTR:host`).
    host: String,
    /// The servers whose flows run in this process.
    in_flight: Arc<hosts::InFlight>,
    /// The scheduler's view of the compute services.
    services: Arc<hosts::ServiceCache>,
    /// While set, accepted work stays where it was accepted (recorded in
    /// the database, as after a crash) until released.
    held: Arc<std::sync::atomic::AtomicBool>,
    /// The hosts this process runs, this one included.
    local: Arc<hosts::LocalHosts>,
}

impl Compute {
    pub fn new(
        store: Store,
        settings: ComputeSettings,
        driver: Arc<dyn Driver>,
        images: Images,
        volumes: oxstack_volume::BlockStorage,
        host: String,
    ) -> Self {
        Self {
            quota_defaults: settings.quota_defaults.clone(),
            network: Arc::new(settings.network.clone()),
            networking: oxstack_network::Networking::new(store.clone(), Default::default()),
            settings: Arc::new(settings),
            driver,
            images,
            volumes,
            host,
            in_flight: Arc::default(),
            services: Arc::default(),
            held: Arc::default(),
            local: Arc::default(),
            store,
        }
        .registered()
    }

    /// The deployment settings.
    pub fn settings(&self) -> &ComputeSettings {
        &self.settings
    }

    /// The compute host's name.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// What runs this host's guests, as `os-hypervisors` names it (`fake`,
    /// `QEMU` for TCG, `KVM`).
    pub fn hypervisor_type(&self) -> String {
        self.driver.resources().hypervisor_type
    }

    /// Which database the cloud keeps its state in, and whether it answers
    /// now (for health checks).
    pub async fn database_status(&self) -> DatabaseStatus {
        DatabaseStatus {
            backend: self.store.backend().name(),
            reachable: self.store.ping().await.is_ok(),
        }
    }
}

/// The database as a health check sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DatabaseStatus {
    /// `sqlite` or `postgresql`.
    pub backend: &'static str,
    pub reachable: bool,
}

/// Now, in microseconds since the epoch (the store's time unit).
pub(crate) fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}
