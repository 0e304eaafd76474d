//! `os-interface`: a server's ports as Nova shows them, and attaching or
//! detaching one (Nova's `attach_interface` and `detach_interface`, each
//! recorded as an instance action with its event).

use super::Caller;
use crate::model::Server;
use crate::model::change::Guard;
use crate::model::states::VmState;
use crate::{Compute, ComputeError, ComputeResult, now_micros};

/// One of a server's ports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interface {
    pub port_id: String,
    pub net_id: String,
    pub mac_addr: String,
    /// The port's status (`ACTIVE`, `DOWN`).
    pub port_state: String,
    /// (subnet, address) pairs.
    pub fixed_ips: Vec<(String, String)>,
    /// The NIC's device tag.
    pub tag: Option<String>,
}

/// What to attach: a port made beforehand, or a new port on a network
/// (with an address), or a port on the project's one network.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AttachRequest {
    pub port_id: Option<String>,
    pub net_id: Option<String>,
    pub fixed_ip: Option<String>,
    /// The NIC's device tag (2.49).
    pub tag: Option<String>,
}

/// Nova attaches and detaches on servers that are running, paused or
/// stopped, with no task in flight.
const ATTACHABLE: [VmState; 3] = [VmState::Active, VmState::Paused, VmState::Stopped];

fn interface(port: &oxstack_network::Port) -> Interface {
    Interface {
        port_id: port.row.id.clone(),
        net_id: port.row.network_id.clone(),
        mac_addr: port.row.mac_address.clone(),
        port_state: port.row.status.clone(),
        fixed_ips: port
            .fixed_ips
            .iter()
            .map(|ip| (ip.subnet_id.clone(), ip.ip_address.clone()))
            .collect(),
        tag: port.row.device_tag.clone(),
    }
}

impl Compute {
    /// The server's ports.
    pub async fn interfaces(&self, caller: &Caller, id: &str) -> ComputeResult<Vec<Interface>> {
        let server = self.get_server(caller, id).await?;
        let ports = self.networking.device_ports(&server.uuid).await?;
        Ok(ports.iter().map(interface).collect())
    }

    /// One port of the server.
    pub async fn interface(
        &self,
        caller: &Caller,
        id: &str,
        port_id: &str,
    ) -> ComputeResult<Interface> {
        self.interfaces(caller, id)
            .await?
            .into_iter()
            .find(|i| i.port_id == port_id)
            .ok_or_else(|| not_attached(id, port_id))
    }

    /// Checks the server may have its interfaces changed now.
    fn check_attachable(server: &Server, caller: &Caller, action: &str) -> ComputeResult<()> {
        super::check_resting(server, caller, action, &ATTACHABLE)
    }

    /// Attaches a port (made now, or given) to the server.
    pub async fn attach_interface(
        &self,
        caller: &Caller,
        id: &str,
        req: AttachRequest,
    ) -> ComputeResult<Interface> {
        let server = self.get_server(caller, id).await?;
        Self::check_attachable(&server, caller, "attach_interface")?;
        let zone = server
            .availability_zone
            .clone()
            .unwrap_or_else(|| self.settings.availability_zone.clone());
        let nic =
            (req.port_id.is_some() || req.net_id.is_some()).then(|| oxstack_network::ServerNic {
                network_id: req.net_id.clone(),
                fixed_ip: req.fixed_ip.clone(),
                port_id: req.port_id.clone(),
                tag: req.tag.clone(),
            });
        let port_id = self
            .networking
            .attach_server_port(
                &server.project_id,
                nic,
                &server.uuid,
                server.host.as_deref(),
                &zone,
            )
            .await
            .map_err(|e| match ComputeError::from(e) {
                ComputeError::NotFound(m) => ComputeError::Invalid(m),
                other => other,
            })?
            .ok_or_else(|| {
                ComputeError::Invalid(format!(
                    "Unable to automatically allocate a network for project {}",
                    server.project_id
                ))
            })?;
        self.record_done(
            caller,
            &server,
            "attach_interface",
            &["compute_attach_interface"],
            &Guard::any(),
            Default::default(),
        )
        .await?;
        self.interface(caller, id, &port_id).await
    }

    /// Detaches one of the server's ports (deleted if it was made for
    /// the server, else unbound and kept).
    pub async fn detach_interface(
        &self,
        caller: &Caller,
        id: &str,
        port_id: &str,
    ) -> ComputeResult<()> {
        let server = self.get_server(caller, id).await?;
        Self::check_attachable(&server, caller, "detach_interface")?;
        if !self
            .store
            .instances()
            .detach_port(&server.uuid, port_id, now_micros())
            .await?
        {
            return Err(not_attached(id, port_id));
        }
        self.record_done(
            caller,
            &server,
            "detach_interface",
            &["compute_detach_interface"],
            &Guard::any(),
            Default::default(),
        )
        .await?;
        Ok(())
    }
}

fn not_attached(id: &str, port_id: &str) -> ComputeError {
    ComputeError::NotFound(format!(
        "Instance {id} does not have a port with id {port_id}"
    ))
}
