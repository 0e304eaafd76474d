//! Hosts as Nova's `os-hosts` (up to 2.42) shows them: what a host offers
//! and what each project's servers on it use, whether it takes new
//! servers, its maintenance mode and power. Maintenance and power are the
//! hypervisor's to do; a hypervisor that cannot answers Nova's 501.

use crate::hypervisors::HostUsage;
use crate::model::{ComputeService, ServiceUpdate};
use crate::{Compute, ComputeError, ComputeResult};

/// What one project's live servers on a host use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProjectUsage {
    pub project_id: String,
    pub vcpus: i64,
    pub memory_mb: i64,
    pub disk_gb: i64,
}

/// A host's resources: what it offers, what its servers use in all and
/// by project.
#[derive(Clone, Debug)]
pub struct HostResources {
    pub service: ComputeService,
    pub used: HostUsage,
    pub by_project: Vec<ProjectUsage>,
}

/// A host power action of `os-hosts`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, strum::AsRefStr)]
#[strum(serialize_all = "lowercase")]
pub enum HostPowerAction {
    Reboot,
    Shutdown,
    Startup,
}

impl Compute {
    /// The compute service of `host`: Nova's 404 when there is none.
    async fn host_service(&self, host: &str) -> ComputeResult<ComputeService> {
        self.list_services()
            .await?
            .into_iter()
            .find(|s| s.host == host)
            .ok_or_else(|| {
                ComputeError::NotFound(format!("Host '{host}' is not mapped to any cell"))
            })
    }

    /// `host`'s service, when it is up to be asked something (Nova's
    /// `_assert_host_exists`).
    async fn reachable_host(&self, host: &str) -> ComputeResult<ComputeService> {
        let service = self.host_service(host).await?;
        if !service.up {
            return Err(ComputeError::Invalid(format!(
                "Compute service of {host} is unavailable at this time."
            )));
        }
        Ok(service)
    }

    /// Whether `host`'s hypervisor does maintenance and power: asked of
    /// the hypervisors this process runs; another process's cannot be.
    fn manages_host(&self, host: &str) -> ComputeResult<()> {
        match self.local_host(host) {
            Some(there) if there.driver.capabilities().host_management => Ok(()),
            _ => Err(ComputeError::NotImplemented(
                "The requested functionality is not supported.".into(),
            )),
        }
    }

    /// What `host` offers and what its live servers use.
    pub async fn host_resources(&self, host: &str) -> ComputeResult<HostResources> {
        let service = self.host_service(host).await?;
        let by_project: Vec<ProjectUsage> = self
            .store
            .instances()
            .usage_on_host_by_project(host)
            .await?
            .into_iter()
            .map(|(project_id, vcpus, memory_mb, disk_gb)| ProjectUsage {
                project_id,
                vcpus,
                memory_mb,
                disk_gb,
            })
            .collect();
        let used = by_project
            .iter()
            .fold(HostUsage::default(), |sum, p| HostUsage {
                vcpus: sum.vcpus + p.vcpus,
                memory_mb: sum.memory_mb + p.memory_mb,
                disk_gb: sum.disk_gb + p.disk_gb,
                ..sum
            });
        Ok(HostResources {
            service,
            used,
            by_project,
        })
    }

    /// Lets `host` take new servers or not (its service's switch, as
    /// `os-services` sets it): `enabled` or `disabled`.
    pub async fn set_host_enabled(&self, host: &str, enabled: bool) -> ComputeResult<&'static str> {
        let service = self.reachable_host(host).await?;
        let update = ServiceUpdate {
            disabled: Some((!enabled, None)),
            forced_down: None,
        };
        self.change_service(&service.uuid, &update).await?;
        Ok(if enabled { "enabled" } else { "disabled" })
    }

    /// Starts or ends `host`'s maintenance window: `on_maintenance` or
    /// `off_maintenance`.
    pub async fn set_host_maintenance(&self, host: &str, on: bool) -> ComputeResult<&'static str> {
        self.reachable_host(host).await?;
        self.manages_host(host)?;
        Ok(if on {
            "on_maintenance"
        } else {
            "off_maintenance"
        })
    }

    /// Reboots, shuts down or starts `host` (a simulated host goes on
    /// running its servers): the action done.
    pub async fn host_power_action(
        &self,
        host: &str,
        action: HostPowerAction,
    ) -> ComputeResult<HostPowerAction> {
        self.reachable_host(host).await?;
        self.manages_host(host)?;
        Ok(action)
    }
}
