//! Hypervisors (Nova's compute nodes): each compute host's one node, what
//! it offers and what the servers on it use.

use crate::model::ComputeService;
use crate::{Compute, ComputeResult};

/// One compute host's hypervisor.
#[derive(Clone, Debug)]
pub struct Hypervisor {
    pub service: ComputeService,
    pub usage: HostUsage,
}

/// What the live servers on one host consume.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HostUsage {
    pub instances: i64,
    /// Servers with a task in progress (Nova's `current_workload`).
    pub busy: i64,
    pub vcpus: i64,
    pub memory_mb: i64,
    pub disk_gb: i64,
}

impl Compute {
    /// Every hypervisor, in the order its host registered.
    pub async fn list_hypervisors(&self) -> ComputeResult<Vec<Hypervisor>> {
        let services = self.list_services().await?;
        let usage = self.store.instances().usage_by_host().await?;
        Ok(services
            .into_iter()
            .map(|service| {
                let used = usage.get(&service.host).copied().unwrap_or_default();
                Hypervisor {
                    usage: HostUsage {
                        instances: used.instances,
                        busy: used.busy,
                        vcpus: used.vcpus,
                        memory_mb: used.memory_mb,
                        disk_gb: used.disk_gb,
                    },
                    service,
                }
            })
            .collect())
    }

    /// The live servers on `host`, as `(uuid, name)`.
    pub async fn servers_on_host(&self, host: &str) -> ComputeResult<Vec<(String, String)>> {
        Ok(self.store.instances().on_host(host).await?)
    }
}
