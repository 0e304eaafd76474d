//! Floating addresses as Nova proxies them (up to 2.35) and the
//! `addFloatingIp`/`removeFloatingIp` actions (up to 2.43): Neutron's
//! floating IPs, seen through Nova's shapes and messages. A pool is an
//! external network, named.

use oxstack_network::{Class, FloatingIpChange, FloatingIpSpec, NetworkError};

use super::Caller;
use crate::{Compute, ComputeError, ComputeResult};

/// A floating address of a project, maybe associated with a server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FloatingIp {
    pub id: String,
    pub address: String,
    pub pool: String,
    pub project_id: String,
    pub instance_uuid: Option<String>,
    pub fixed_address: Option<String>,
}

fn not_found_id(id: &str) -> ComputeError {
    ComputeError::NotFound(format!("Floating IP not found for ID {id}"))
}

fn not_found_address() -> ComputeError {
    ComputeError::NotFound("floating IP not found".into())
}

/// The caller as networking sees it (compute's policy has already let
/// it change the project's addresses).
fn net_caller(caller: &Caller) -> oxstack_network::Caller {
    oxstack_network::Caller {
        project_id: caller.project_id.clone(),
        is_admin: caller.is_admin,
        can_write: true,
    }
}

impl Compute {
    /// The names of the floating pools (the external networks).
    pub async fn floating_ip_pools(&self, caller: &Caller) -> ComputeResult<Vec<String>> {
        let networks = self.networking.networks(&net_caller(caller)).await?;
        Ok(networks
            .into_iter()
            .filter(|n| n.row.external)
            .map(|n| n.row.name)
            .collect())
    }

    /// Allocates an address of `pool` (an external network's name or id,
    /// as Nova takes it; the configured default pool, else the first
    /// external network, when none is named).
    pub async fn allocate_floating_ip(
        &self,
        caller: &Caller,
        pool: Option<&str>,
    ) -> ComputeResult<FloatingIp> {
        let who = net_caller(caller);
        let networks = self.networking.networks(&who).await?;
        let default = self
            .network
            .floating
            .as_ref()
            .map(|(name, _)| name.as_str());
        let external = networks.iter().filter(|n| n.row.external);
        let chosen = match pool.or(default) {
            Some(name) => external
                .clone()
                .find(|n| n.row.name == name || n.row.id == name),
            None => None,
        }
        .or_else(|| pool.is_none().then(|| external.clone().next()).flatten());
        let Some(network) = chosen else {
            return Err(ComputeError::NotFound("Floating IP pool not found.".into()));
        };
        let spec = FloatingIpSpec {
            floating_network_id: network.row.id.clone(),
            ..FloatingIpSpec::default()
        };
        let created = self
            .networking
            .create_floating_ip(&who, spec)
            .await
            .map_err(|e| match e {
                NetworkError::Refused {
                    kind: "IpAddressGenerationFailure",
                    ..
                } => ComputeError::NotFound(format!(
                    "No more floating IPs in pool {}.",
                    network.row.name
                )),
                NetworkError::Refused {
                    kind: "OverQuota", ..
                } => ComputeError::Forbidden("Maximum number of floating IPs exceeded".into()),
                other => other.into(),
            })?;
        Ok(self.nova_views(vec![created]).await?.remove(0))
    }

    /// Neutron's floating IPs in Nova's shape: their pool's name and the
    /// server their port belongs to.
    async fn nova_views(
        &self,
        found: Vec<oxstack_network::FloatingIp>,
    ) -> ComputeResult<Vec<FloatingIp>> {
        let admin = oxstack_network::Caller {
            project_id: String::new(),
            is_admin: true,
            can_write: false,
        };
        let networks = self.networking.networks(&admin).await?;
        let mut views = Vec::with_capacity(found.len());
        for f in found {
            let instance_uuid = match &f.row.port_id {
                Some(port) => Some(self.networking.port(&admin, port).await?.row.device_id)
                    .filter(|d| !d.is_empty()),
                None => None,
            };
            let pool = networks
                .iter()
                .find(|n| n.row.id == f.row.floating_network_id)
                .map(|n| n.row.name.clone())
                .unwrap_or_default();
            views.push(FloatingIp {
                id: f.row.id,
                address: f.row.floating_ip_address,
                pool,
                project_id: f.row.project_id,
                instance_uuid,
                fixed_address: f.row.fixed_ip_address,
            });
        }
        Ok(views)
    }

    /// The caller's project's addresses.
    pub async fn list_floating_ips(&self, caller: &Caller) -> ComputeResult<Vec<FloatingIp>> {
        let mine = oxstack_network::Caller {
            is_admin: false,
            ..net_caller(caller)
        };
        let found = self.networking.floating_ips(&mine).await?;
        self.nova_views(found).await
    }

    /// One of the caller's project's addresses.
    pub async fn get_floating_ip(&self, caller: &Caller, id: &str) -> ComputeResult<FloatingIp> {
        let found = self
            .networking
            .floating_ip(&net_caller(caller), id)
            .await
            .map_err(|_| not_found_id(id))?;
        Ok(self.nova_views(vec![found]).await?.remove(0))
    }

    /// Gives an address back to its pool.
    pub async fn release_floating_ip(&self, caller: &Caller, id: &str) -> ComputeResult<()> {
        self.networking
            .delete_floating_ip(&net_caller(caller), id)
            .await
            .map_err(|e| match e {
                NetworkError::Refused {
                    class: Class::NotFound,
                    ..
                } => not_found_id(id),
                other => other.into(),
            })
    }

    /// The server's project's floating IP with `address`.
    async fn floating_ip_at(
        &self,
        project_id: &str,
        address: &str,
    ) -> ComputeResult<oxstack_network::FloatingIp> {
        let owner = oxstack_network::Caller {
            project_id: project_id.to_owned(),
            is_admin: false,
            can_write: true,
        };
        self.networking
            .floating_ips(&owner)
            .await?
            .into_iter()
            .find(|f| f.row.floating_ip_address == address)
            .ok_or_else(not_found_address)
    }

    /// `addFloatingIp`: associates one of the project's addresses with the
    /// server's first fixed IPv4 address (or `fixed_address`); an address
    /// associated elsewhere moves here, as in Nova.
    pub async fn add_floating_ip(
        &self,
        caller: &Caller,
        id: &str,
        address: &str,
        fixed_address: Option<&str>,
    ) -> ComputeResult<()> {
        let server = self.get_server(caller, id).await?;
        let floating = self.floating_ip_at(&server.project_id, address).await?;
        let ports = self.networking.device_ports(&server.uuid).await?;
        let fixed = ports.iter().find_map(|p| {
            p.fixed_ips
                .iter()
                .filter(|ip| !ip.ip_address.contains(':'))
                .find(|ip| fixed_address.is_none_or(|f| f == ip.ip_address))
                .map(|ip| (p.row.id.clone(), ip.ip_address.clone()))
        });
        let Some((port_id, fixed)) = fixed else {
            return Err(ComputeError::Invalid(match fixed_address {
                Some(f) => format!("Specified fixed address not assigned to instance: {f}"),
                None => "No fixed IPs associated to instance".into(),
            }));
        };
        let change = FloatingIpChange {
            port_id: Some(Some(port_id)),
            fixed_ip_address: Some(fixed.clone()),
            description: None,
        };
        self.networking
            .update_floating_ip(&net_caller(caller), &floating.row.id, change)
            .await
            .map_err(|e| match e {
                NetworkError::Refused { message, .. } => ComputeError::Invalid(format!(
                    "Unable to associate floating IP {address} to fixed IP {fixed} for instance \
                     {id}. Error: {message}"
                )),
                other => other.into(),
            })?;
        Ok(())
    }

    /// `removeFloatingIp`.
    pub async fn remove_floating_ip(
        &self,
        caller: &Caller,
        id: &str,
        address: &str,
    ) -> ComputeResult<()> {
        let server = self.get_server(caller, id).await?;
        let floating = self.floating_ip_at(&server.project_id, address).await?;
        let ports = self.networking.device_ports(&server.uuid).await?;
        let on_server = floating
            .row
            .port_id
            .as_ref()
            .is_some_and(|p| ports.iter().any(|own| &own.row.id == p));
        if !on_server {
            return Err(ComputeError::Conflict(format!(
                "Floating IP {address} is not associated with instance {id}."
            )));
        }
        let change = FloatingIpChange {
            port_id: Some(None),
            ..FloatingIpChange::default()
        };
        self.networking
            .update_floating_ip(&net_caller(caller), &floating.row.id, change)
            .await?;
        Ok(())
    }
}
