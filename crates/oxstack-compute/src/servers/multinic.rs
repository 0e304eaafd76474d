//! `addFixedIp` / `removeFixedIp` (Nova's multinic, up to 2.43): a server
//! gets another port on a network, or loses the port holding an address.

use super::{Caller, check_lock};
use crate::{Compute, ComputeError, ComputeResult, now_micros};

impl Compute {
    /// Adds a port on `network_id`.
    pub async fn add_fixed_ip(
        &self,
        caller: &Caller,
        id: &str,
        network_id: &str,
    ) -> ComputeResult<()> {
        let server = self.get_server(caller, id).await?;
        check_lock(&server, caller)?;
        let zone = server
            .availability_zone
            .clone()
            .unwrap_or_else(|| self.settings.availability_zone.clone());
        self.networking
            .attach_server_port(
                &server.project_id,
                Some(oxstack_network::ServerNic {
                    network_id: Some(network_id.to_owned()),
                    ..Default::default()
                }),
                &server.uuid,
                server.host.as_deref(),
                &zone,
            )
            .await
            .map_err(|e| match ComputeError::from(e) {
                ComputeError::NotFound(m) => ComputeError::Invalid(m),
                other => other,
            })?;
        self.store
            .instances()
            .update(id, &Default::default(), now_micros())
            .await?;
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
            .remove_port_of(&server.uuid, address, now_micros())
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
