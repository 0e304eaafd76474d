//! The compute state back to the cloud's first start (the control plane's
//! reset), for every project or one.

use crate::{Compute, ComputeResult};

impl Compute {
    /// Removes every server of `project` (every project's if `None`) with
    /// all that is recorded of them, and the project's server groups,
    /// floating IPs, quota limits and usage. A reset of every project
    /// also removes key pairs, quota classes and aggregates, puts the
    /// default flavors back in place of all others, enables every compute
    /// service in the default zone, and restores the simulated hypervisors' configured
    /// behaviour. Returns how many servers were removed.
    pub async fn reset(&self, project: Option<&str>) -> ComputeResult<usize> {
        let zone = &self.settings.availability_zone;
        let removed = self.store.reset().compute(project, zone).await?;
        for (_, driver) in self.local_hosts() {
            let Some(fake) = driver.simulated() else {
                continue;
            };
            for uuid in &removed {
                fake.forget(uuid);
            }
            if project.is_none() {
                fake.restore_settings();
            }
        }
        if project.is_none() {
            self.seed_default_flavors().await?;
            self.forget_services();
        }
        tracing::warn!(project = ?project, servers = removed.len(), "compute reset");
        Ok(removed.len())
    }
}
