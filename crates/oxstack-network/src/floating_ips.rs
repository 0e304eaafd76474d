//! Floating IPs: an address of an external network, held by a port of no
//! project there (Neutron's `network:floatingip` port), given to a project
//! and maybe associated with one IPv4 address of one of its ports — only
//! through a router joining that port's subnet to the external network.

use oxstack_store::StoreError;
use oxstack_store::networking::{FLOATING_IP, FloatingIpRow, Table};

use crate::ports::{FixedIpRequest, PortSpec, make_port};
use crate::routers::{bad_request, system};
use crate::{Caller, NetworkError, NetworkResult, Networking, gone, now_micros};

/// A floating IP with its tags.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FloatingIp {
    pub row: FloatingIpRow,
    pub tags: Vec<String>,
}

impl FloatingIp {
    /// `ACTIVE` while associated, `DOWN` while free (as Neutron's L3 agent
    /// reports them).
    pub fn status(&self) -> &'static str {
        if self.row.port_id.is_some() {
            "ACTIVE"
        } else {
            "DOWN"
        }
    }
}

/// A floating IP to make.
#[derive(Clone, Debug, Default)]
pub struct FloatingIpSpec {
    pub id: Option<String>,
    pub project_id: Option<String>,
    pub floating_network_id: String,
    pub floating_ip_address: Option<String>,
    pub subnet_id: Option<String>,
    pub port_id: Option<String>,
    pub fixed_ip_address: Option<String>,
    pub description: String,
}

/// Changes to a floating IP: `port_id: Some(None)` lets it go.
#[derive(Clone, Debug, Default)]
pub struct FloatingIpChange {
    pub port_id: Option<Option<String>>,
    pub fixed_ip_address: Option<String>,
    pub description: Option<String>,
}

/// Where an association points: the port, its address, the router.
struct Association {
    port_id: String,
    fixed_ip_address: String,
    router_id: String,
}

fn not_found(id: &str) -> NetworkError {
    NetworkError::not_found(
        "FloatingIPNotFound",
        format!("Floating IP {id} could not be found"),
    )
}

impl Networking {
    /// A floating IP of the caller's project, else `FloatingIPNotFound`.
    pub async fn floating_ip(&self, caller: &Caller, id: &str) -> NetworkResult<FloatingIp> {
        let row = self
            .store
            .networking()
            .floating_ip(id)
            .await?
            .filter(|f| caller.owns(&f.project_id))
            .ok_or_else(|| not_found(id))?;
        Ok(self.assemble_floating_ips(vec![row]).await?.remove(0))
    }

    /// The floating IPs the caller sees, oldest first.
    pub async fn floating_ips(&self, caller: &Caller) -> NetworkResult<Vec<FloatingIp>> {
        let rows = self
            .store
            .networking()
            .floating_ips(&caller.scope())
            .await?;
        self.assemble_floating_ips(rows).await
    }

    /// The floating IPs associated with any of `ports` (a server's).
    pub async fn floating_ips_of(&self, ports: &[&str]) -> NetworkResult<Vec<FloatingIp>> {
        let rows = self.store.networking().floating_ips_of(ports).await?;
        self.assemble_floating_ips(rows).await
    }

    async fn assemble_floating_ips(
        &self,
        rows: Vec<FloatingIpRow>,
    ) -> NetworkResult<Vec<FloatingIp>> {
        let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        let mut tags = self.tags_of(&ids).await?;
        Ok(rows
            .into_iter()
            .map(|row| FloatingIp {
                tags: tags.remove(&row.id).unwrap_or_default(),
                row,
            })
            .collect())
    }

    pub async fn create_floating_ip(
        &self,
        caller: &Caller,
        spec: FloatingIpSpec,
    ) -> NetworkResult<FloatingIp> {
        caller.may_write("create_floatingip")?;
        let project_id = caller.project_for(spec.project_id.as_deref(), "create_floatingip")?;
        if spec.floating_ip_address.is_some() && !caller.is_admin {
            return Err(NetworkError::policy(
                "create_floatingip:floating_ip_address",
            ));
        }
        let network = self
            .visible_network(caller, &spec.floating_network_id)
            .await?
            .ok_or_else(|| NetworkError::network_not_found(&spec.floating_network_id))?;
        if !network.external {
            return Err(bad_request(
                "floatingip",
                format!("Network {} is not a valid external network", network.id),
            ));
        }
        let subnets = self.subnets_of(&network.id).await?;
        if !subnets.iter().any(|s| s.row.ip_version == 4) {
            return Err(bad_request(
                "floatingip",
                format!("Network {} does not contain any IPv4 subnet", network.id),
            ));
        }
        let id = spec
            .id
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let association = match &spec.port_id {
            Some(port) => Some(
                self.association(
                    caller,
                    &project_id,
                    &network.id,
                    port,
                    spec.fixed_ip_address.as_deref(),
                )
                .await?,
            ),
            None if spec.fixed_ip_address.is_some() => return Err(fixed_without_port()),
            None => None,
        };
        let asked = spec.subnet_id.is_some() || spec.floating_ip_address.is_some();
        let port = PortSpec {
            network_id: network.id.clone(),
            device_id: id.clone(),
            device_owner: FLOATING_IP.into(),
            fixed_ips: asked.then(|| {
                vec![FixedIpRequest {
                    subnet_id: spec.subnet_id.clone(),
                    ip_address: spec.floating_ip_address.clone(),
                }]
            }),
            security_groups: Some(Vec::new()),
            ..PortSpec::default()
        };
        let plan = self.plan_port(&system(), port).await?;
        let limit = self.limit(&project_id, "floatingip").await?;
        let mut tx = self.store.networking().begin_ports().await?;
        let port = make_port(&mut tx.ports(), plan).await?;
        let Some(address) = port
            .fixed_ips
            .iter()
            .find(|ip| !ip.ip_address.contains(':'))
        else {
            return Err(bad_request(
                "floatingip",
                format!(
                    "Unable to find any IP address on external network {}",
                    network.id
                ),
            ));
        };
        let now = now_micros();
        let row = FloatingIpRow {
            id,
            project_id,
            floating_network_id: network.id.clone(),
            floating_port_id: port.row.id.clone(),
            floating_ip_address: address.ip_address.clone(),
            port_id: association.as_ref().map(|a| a.port_id.clone()),
            fixed_ip_address: association.as_ref().map(|a| a.fixed_ip_address.clone()),
            router_id: association.as_ref().map(|a| a.router_id.clone()),
            description: spec.description,
            revision_number: 1,
            created_at: now,
            updated_at: now,
        };
        match tx.routers().insert_floating_ip(&row, limit).await {
            Err(StoreError::LimitExceeded) => return Err(NetworkError::over_quota("floatingip")),
            Err(StoreError::Conflict) => {
                return Err(already_associated(&row, association.as_ref()));
            }
            other => other?,
        }
        tx.commit().await?;
        self.floating_ip(caller, &row.id).await
    }

    pub async fn update_floating_ip(
        &self,
        caller: &Caller,
        id: &str,
        change: FloatingIpChange,
    ) -> NetworkResult<FloatingIp> {
        let current = self.floating_ip(caller, id).await?;
        caller.may_write("update_floatingip")?;
        let mut set: Vec<(&str, oxstack_store::SqlValue)> = Vec::new();
        if let Some(description) = change.description {
            set.push(("description", description.into()));
        }
        let mut association = None;
        match change.port_id {
            Some(Some(port)) => {
                let a = self
                    .association(
                        caller,
                        &current.row.project_id,
                        &current.row.floating_network_id,
                        &port,
                        change.fixed_ip_address.as_deref(),
                    )
                    .await?;
                set.push(("port_id", Some(a.port_id.clone()).into()));
                set.push(("fixed_ip_address", Some(a.fixed_ip_address.clone()).into()));
                set.push(("router_id", Some(a.router_id.clone()).into()));
                association = Some(a);
            }
            Some(None) => {
                if change.fixed_ip_address.is_some() {
                    return Err(fixed_without_port());
                }
                for column in ["port_id", "fixed_ip_address", "router_id"] {
                    set.push((column, None::<String>.into()));
                }
            }
            None if change.fixed_ip_address.is_some() => return Err(fixed_without_port()),
            None => {}
        }
        if !set.is_empty() {
            let mut tx = self.store.networking().begin_ports().await?;
            match tx
                .routers()
                .update(Table::FloatingIps, id, &set, now_micros())
                .await
            {
                Err(StoreError::Conflict) => {
                    return Err(already_associated(&current.row, association.as_ref()));
                }
                other => other.map_err(|e| gone(e, || not_found(id)))?,
            }
            tx.commit().await?;
        }
        self.floating_ip(caller, id).await
    }

    pub async fn delete_floating_ip(&self, caller: &Caller, id: &str) -> NetworkResult<()> {
        let current = self.floating_ip(caller, id).await?;
        caller.may_write("delete_floatingip")?;
        let mut tx = self.store.networking().begin_ports().await?;
        tx.routers()
            .delete_floating_ip(&current.row)
            .await
            .map_err(|e| gone(e, || not_found(id)))?;
        tx.commit().await?;
        Ok(())
    }

    /// Checks an association as Neutron's L3 does: the port is the
    /// floating IP's project's, serviceable, with the one IPv4 address
    /// (or the one named), on a subnet a router joins to the network.
    async fn association(
        &self,
        caller: &Caller,
        project_id: &str,
        network_id: &str,
        port_id: &str,
        fixed: Option<&str>,
    ) -> NetworkResult<Association> {
        let port = self.port(caller, port_id).await?;
        if port.row.project_id != project_id && !caller.is_admin {
            return Err(bad_request(
                "floatingip",
                format!(
                    "Cannot process floating IP association with Port {port_id}, since that port \
                     is owned by a different project"
                ),
            ));
        }
        if port.row.device_owner.starts_with("network:") {
            return Err(bad_request(
                "floatingip",
                format!("Port {port_id} is unable to be assigned a floating IP"),
            ));
        }
        let chosen = match fixed {
            Some(address) => {
                if address.contains(':') {
                    return Err(bad_request(
                        "floatingip",
                        format!(
                            "Cannot process floating IP association with {address}, since that \
                             is not an IPv4 address"
                        ),
                    ));
                }
                port.fixed_ips
                    .iter()
                    .find(|ip| ip.ip_address == address)
                    .ok_or_else(|| {
                        bad_request(
                            "floatingip",
                            format!("Port {port_id} does not have fixed ip {address}"),
                        )
                    })?
            }
            None => {
                let v4: Vec<_> = port
                    .fixed_ips
                    .iter()
                    .filter(|ip| !ip.ip_address.contains(':'))
                    .collect();
                match v4.as_slice() {
                    [only] => *only,
                    [] => {
                        return Err(bad_request(
                            "floatingip",
                            format!(
                                "Cannot add floating IP to port {port_id} that has no fixed IPv4 \
                                 addresses"
                            ),
                        ));
                    }
                    _ => {
                        return Err(bad_request(
                            "floatingip",
                            format!(
                                "Port {port_id} has multiple fixed IPv4 addresses.  Must provide \
                                 a specific IPv4 address when assigning a floating IP"
                            ),
                        ));
                    }
                }
            }
        };
        let router_id = self
            .store
            .networking()
            .router_between(&chosen.subnet_id, network_id)
            .await?
            .ok_or_else(|| {
                NetworkError::not_found(
                    "ExternalGatewayForFloatingIPNotFound",
                    format!(
                        "External network {network_id} is not reachable from subnet {}.  \
                         Therefore, cannot associate Port {port_id} with a Floating IP.",
                        chosen.subnet_id
                    ),
                )
            })?;
        Ok(Association {
            port_id: port_id.to_owned(),
            fixed_ip_address: chosen.ip_address.clone(),
            router_id,
        })
    }
}

fn fixed_without_port() -> NetworkError {
    bad_request(
        "floatingip",
        "fixed_ip_address cannot be specified without a port_id",
    )
}

fn already_associated(f: &FloatingIpRow, a: Option<&Association>) -> NetworkError {
    let (port, fixed) = a.map_or(("", ""), |a| {
        (a.port_id.as_str(), a.fixed_ip_address.as_str())
    });
    NetworkError::conflict(
        "FloatingIPPortAlreadyAssociated",
        format!(
            "Cannot associate floating IP {} ({}) with port {port} using fixed IP {fixed}, as that \
             fixed IP already has a floating IP on external network {}.",
            f.floating_ip_address, f.id, f.floating_network_id
        ),
    )
}
