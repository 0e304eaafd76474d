//! Hypervisors (Nova's compute nodes): each compute host's one node, what
//! it offers and what the servers on it use.

use oxstack_store::instances::HostUsage;
use oxstack_store::services::ServiceRow;

use crate::{Compute, ComputeResult};

/// One compute host's hypervisor.
#[derive(Clone, Debug)]
pub struct Hypervisor {
    pub service: ServiceRow,
    pub usage: HostUsage,
    pub up: bool,
}

impl Compute {
    /// Every hypervisor, in the order its host registered.
    pub async fn list_hypervisors(&self) -> ComputeResult<Vec<Hypervisor>> {
        let services = self.list_services().await?;
        let usage = self.store.instances().usage_by_host().await?;
        Ok(services
            .into_iter()
            .map(|service| Hypervisor {
                usage: usage.get(&service.host).copied().unwrap_or_default(),
                up: self.service_is_up(&service),
                service,
            })
            .collect())
    }

    /// The live servers on `host`, as `(uuid, name)`.
    pub async fn servers_on_host(&self, host: &str) -> ComputeResult<Vec<(String, String)>> {
        Ok(self.store.instances().on_host(host).await?)
    }
}
