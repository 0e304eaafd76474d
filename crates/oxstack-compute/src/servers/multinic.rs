//! `addFixedIp` / `removeFixedIp` (Nova's multinic, up to 2.43): a server
//! gets another port on the built-in network, or loses the port holding an
//! address.

use super::create::Networks;
use super::{Caller, check_lock};
use crate::{Compute, ComputeError, ComputeResult, now_micros};

impl Compute {
    /// Adds a port on `network_id` (the built-in network).
    pub async fn add_fixed_ip(
        &self,
        caller: &Caller,
        id: &str,
        network_id: &str,
    ) -> ComputeResult<()> {
        let server = self.get_server(caller, id).await?;
        check_lock(&server, caller)?;
        if network_id != self.network.id {
            return Err(ComputeError::Invalid(format!(
                "Network {network_id} could not be found."
            )));
        }
        let repo = self.store.instances();
        let mut tx = repo.begin_create(&server.project_id).await?;
        let position = server
            .fixed_ips
            .iter()
            .map(|ip| ip.position + 1)
            .max()
            .unwrap_or(0);
        let mut ips = self.allocate_ports(&mut tx, &Networks::Auto).await?;
        for ip in &mut ips {
            ip.position = position;
        }
        tx.insert_fixed_ips(&server.uuid, &ips).await?;
        tx.commit().await?;
        repo.update(id, &Default::default(), now_micros()).await?;
        Ok(())
    }

    /// Removes the port holding `address`.
    pub async fn remove_fixed_ip(
        &self,
        caller: &Caller,
        id: &str,
        address: &str,
    ) -> ComputeResult<()> {
        let server = self.get_server(caller, id).await?;
        check_lock(&server, caller)?;
        if !self
            .store
            .instances()
            .remove_port_of(&server.uuid, address)
            .await?
        {
            return Err(ComputeError::Invalid(format!(
                "Instance {} doesn't have fixed IP '{address}'.",
                server.uuid
            )));
        }
        Ok(())
    }
}
