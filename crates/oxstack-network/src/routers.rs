//! Routers: a gateway on an external network (a port of no project, as
//! Neutron makes it) and interfaces on subnets (ports of the router's
//! project holding each subnet's gateway address). A floating IP reaches a
//! fixed address only through a router joining the two networks.

use oxstack_store::StoreError;
use oxstack_store::networking::{
    NetworkTx, PortRow, ROUTER_GATEWAY, ROUTER_INTERFACE, RouterRow, Table,
};

use crate::ports::{FixedIp, FixedIpRequest, Port, PortSpec, make_port};
use crate::{Caller, NetworkError, NetworkResult, Networking, gone, now_micros};

/// A router with its gateway.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Router {
    pub row: RouterRow,
    pub gateway: Option<Gateway>,
    pub tags: Vec<String>,
}

/// A router's way out: its port on an external network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gateway {
    pub network_id: String,
    pub enable_snat: bool,
    pub external_fixed_ips: Vec<FixedIp>,
}

/// A gateway asked for (`external_gateway_info`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GatewaySpec {
    pub network_id: String,
    pub enable_snat: Option<bool>,
    pub external_fixed_ips: Option<Vec<FixedIpRequest>>,
}

/// A router to make.
#[derive(Clone, Debug, Default)]
pub struct RouterSpec {
    pub id: Option<String>,
    pub project_id: Option<String>,
    pub name: String,
    pub description: String,
    pub admin_state_up: Option<bool>,
    pub gateway: Option<GatewaySpec>,
}

/// Changes to a router; `None` leaves an attribute as it is, and
/// `gateway: Some(None)` removes the gateway.
#[derive(Clone, Debug, Default)]
pub struct RouterChange {
    pub name: Option<String>,
    pub description: Option<String>,
    pub admin_state_up: Option<bool>,
    pub gateway: Option<Option<GatewaySpec>>,
}

/// Which interface to add or remove: by subnet or by port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InterfaceRef {
    Subnet(String),
    Port(String),
    /// Removal by a port, checked to hold an address on the subnet.
    PortOnSubnet {
        port_id: String,
        subnet_id: String,
    },
}

/// What `add_router_interface` and `remove_router_interface` answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouterInterface {
    pub router_id: String,
    pub project_id: String,
    pub port_id: String,
    pub network_id: String,
    pub subnet_id: String,
    pub subnet_ids: Vec<String>,
}

/// The cloud itself, acting as Neutron's elevated context does when it
/// makes the ports of routers and floating IPs.
pub(crate) fn system() -> Caller {
    Caller {
        project_id: String::new(),
        is_admin: true,
        can_write: true,
    }
}

/// Neutron's `BadRequest` for a resource.
pub(crate) fn bad_request(resource: &str, message: impl std::fmt::Display) -> NetworkError {
    NetworkError::invalid("BadRequest", format!("Bad {resource} request: {message}."))
}

pub(crate) fn router_not_found(id: &str) -> NetworkError {
    NetworkError::not_found("RouterNotFound", format!("Router {id} could not be found"))
}

impl Networking {
    /// A router the caller sees (its project's), else `RouterNotFound`.
    pub async fn router(&self, caller: &Caller, id: &str) -> NetworkResult<Router> {
        let row = self
            .store
            .networking()
            .router(id)
            .await?
            .filter(|r| caller.owns(&r.project_id))
            .ok_or_else(|| router_not_found(id))?;
        Ok(self.assemble_routers(vec![row]).await?.remove(0))
    }

    /// The routers the caller sees, oldest first.
    pub async fn routers(&self, caller: &Caller) -> NetworkResult<Vec<Router>> {
        let rows = self.store.networking().routers(&caller.scope()).await?;
        self.assemble_routers(rows).await
    }

    async fn assemble_routers(&self, rows: Vec<RouterRow>) -> NetworkResult<Vec<Router>> {
        let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        let ports = self.store.networking().router_ports(&ids).await?;
        let gateways: Vec<PortRow> = ports
            .into_iter()
            .filter(|p| p.device_owner == ROUTER_GATEWAY)
            .collect();
        let gateways = self.assemble_ports(gateways).await?;
        let mut tags = self.tags_of(&ids).await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let gateway = row.gateway_port_id.as_ref().and_then(|id| {
                    gateways.iter().find(|p| &p.row.id == id).map(|p| Gateway {
                        network_id: p.row.network_id.clone(),
                        enable_snat: row.enable_snat,
                        external_fixed_ips: p.fixed_ips.clone(),
                    })
                });
                Router {
                    tags: tags.remove(&row.id).unwrap_or_default(),
                    gateway,
                    row,
                }
            })
            .collect())
    }

    pub async fn create_router(&self, caller: &Caller, spec: RouterSpec) -> NetworkResult<Router> {
        caller.may_write("create_router")?;
        let project_id = caller.project_for(spec.project_id.as_deref(), "create_router")?;
        let now = now_micros();
        let mut row = RouterRow {
            id: spec.id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
            project_id,
            name: spec.name,
            description: spec.description,
            admin_state_up: spec.admin_state_up.unwrap_or(true),
            status: "ACTIVE".into(),
            gateway_port_id: None,
            enable_snat: true,
            revision_number: 1,
            created_at: now,
            updated_at: now,
        };
        let limit = self.limit(&row.project_id, "router").await?;
        let mut tx = self.store.networking().begin_ports().await?;
        if let Some(gateway) = spec.gateway {
            self.check_gateway(caller, &gateway, "create_router")?;
            row.enable_snat = gateway.enable_snat.unwrap_or(true);
            let port = self.make_gateway(&mut tx, &row.id, gateway).await?;
            row.gateway_port_id = Some(port.row.id);
        }
        match tx.routers().insert_router(&row, limit).await {
            Err(StoreError::LimitExceeded) => return Err(NetworkError::over_quota("router")),
            Err(StoreError::Conflict) => {
                return Err(NetworkError::conflict(
                    "RouterExists",
                    format!("Router {} already exists.", row.id),
                ));
            }
            other => other?,
        }
        tx.commit().await?;
        self.router(caller, &row.id).await
    }

    /// Only admins choose a gateway's addresses or turn SNAT off.
    fn check_gateway(
        &self,
        caller: &Caller,
        gateway: &GatewaySpec,
        rule: &str,
    ) -> NetworkResult<()> {
        if caller.is_admin {
            return Ok(());
        }
        if gateway.enable_snat.is_some() {
            return Err(NetworkError::policy(&format!(
                "{rule}:external_gateway_info:enable_snat"
            )));
        }
        if gateway.external_fixed_ips.is_some() {
            return Err(NetworkError::policy(&format!(
                "{rule}:external_gateway_info:external_fixed_ips"
            )));
        }
        Ok(())
    }

    /// Makes a router's port on an external network in `tx`.
    async fn make_gateway(
        &self,
        tx: &mut NetworkTx,
        router_id: &str,
        gateway: GatewaySpec,
    ) -> NetworkResult<Port> {
        let network = self
            .store
            .networking()
            .network(&gateway.network_id)
            .await?
            .ok_or_else(|| NetworkError::network_not_found(&gateway.network_id))?;
        if !network.external {
            return Err(bad_request(
                "router",
                format!("Network {} is not an external network", network.id),
            ));
        }
        let spec = PortSpec {
            network_id: network.id,
            device_id: router_id.to_owned(),
            device_owner: ROUTER_GATEWAY.into(),
            fixed_ips: gateway.external_fixed_ips,
            security_groups: Some(Vec::new()),
            ..PortSpec::default()
        };
        let plan = self.plan_port(&system(), spec).await?;
        make_port(&mut tx.ports(), plan).await
    }

    pub async fn update_router(
        &self,
        caller: &Caller,
        id: &str,
        change: RouterChange,
    ) -> NetworkResult<Router> {
        let current = self.router(caller, id).await?;
        caller.may_write("update_router")?;
        let mut set: Vec<(&str, oxstack_store::SqlValue)> = Vec::new();
        if let Some(name) = change.name {
            set.push(("name", name.into()));
        }
        if let Some(description) = change.description {
            set.push(("description", description.into()));
        }
        if let Some(up) = change.admin_state_up {
            set.push(("admin_state_up", up.into()));
        }
        let mut tx = self.store.networking().begin_ports().await?;
        if let Some(gateway) = change.gateway {
            if let Some(g) = &gateway {
                self.check_gateway(caller, g, "update_router")?;
            }
            let old = current.gateway.as_ref().map(|g| g.network_id.as_str());
            let new = gateway.as_ref().map(|g| g.network_id.as_str());
            let moves = old != new
                || gateway
                    .as_ref()
                    .is_some_and(|g| g.external_fixed_ips.is_some());
            if moves {
                if let (Some(old), Some(port)) = (old, &current.row.gateway_port_id) {
                    if self.store.networking().floating_ips_via(id, None).await? > 0 {
                        return Err(NetworkError::conflict(
                            "RouterExternalGatewayInUseByFloatingIp",
                            format!(
                                "Gateway cannot be updated for router {id}, since a gateway to \
                                 external network {old} is required by one or more floating IPs."
                            ),
                        ));
                    }
                    let now = now_micros();
                    tx.routers()
                        .update(
                            Table::Routers,
                            id,
                            &[("gateway_port_id", None::<String>.into())],
                            now,
                        )
                        .await?;
                    tx.routers().delete_port(port, "").await?;
                }
                let port = match gateway.clone() {
                    Some(g) => Some(self.make_gateway(&mut tx, id, g).await?.row.id),
                    None => None,
                };
                set.push(("gateway_port_id", port.into()));
            }
            if let Some(snat) = gateway.and_then(|g| g.enable_snat) {
                set.push(("enable_snat", snat.into()));
            }
        }
        if !set.is_empty() {
            tx.routers()
                .update(Table::Routers, id, &set, now_micros())
                .await
                .map_err(|e| gone(e, || router_not_found(id)))?;
        }
        tx.commit().await?;
        self.router(caller, id).await
    }

    pub async fn delete_router(&self, caller: &Caller, id: &str) -> NetworkResult<()> {
        let current = self.router(caller, id).await?;
        caller.may_write("delete_router")?;
        let attached = self.interface_rows(id).await?;
        if !attached.is_empty() {
            return Err(router_in_use(id, &attached));
        }
        let mut tx = self.store.networking().begin_ports().await?;
        match tx.routers().delete_router(&current.row).await {
            Err(StoreError::Conflict) => {
                return Err(router_in_use(id, &self.interface_rows(id).await?));
            }
            other => other.map_err(|e| gone(e, || router_not_found(id)))?,
        }
        tx.commit().await?;
        Ok(())
    }

    /// `add_router_interface`: a port of the router's on a subnet (the
    /// subnet's gateway address), or a port the caller made.
    pub async fn add_router_interface(
        &self,
        caller: &Caller,
        router_id: &str,
        what: InterfaceRef,
    ) -> NetworkResult<RouterInterface> {
        let router = self.router(caller, router_id).await?;
        caller.may_write("add_router_interface")?;
        let attached = self.interfaces_of(router_id).await?;
        let mut tx = self.store.networking().begin_ports().await?;
        let port = match what {
            InterfaceRef::Subnet(subnet_id) => {
                let subnet = self.subnet(caller, &subnet_id).await?;
                let Some(gateway) = subnet.row.gateway_ip.clone() else {
                    return Err(bad_request(
                        "router",
                        "Subnet for router interface must have a gateway IP",
                    ));
                };
                if !caller.owns(&subnet.row.project_id) {
                    return Err(bad_request(
                        "router",
                        format!(
                            "Cannot add interface to router because subnet {subnet_id} is not \
                             owned by project making the request"
                        ),
                    ));
                }
                self.check_new_subnets(&attached, std::slice::from_ref(&subnet_id))
                    .await?;
                let spec = PortSpec {
                    project_id: Some(router.row.project_id.clone()),
                    network_id: subnet.row.network_id.clone(),
                    device_id: router_id.to_owned(),
                    device_owner: ROUTER_INTERFACE.into(),
                    fixed_ips: Some(vec![FixedIpRequest {
                        subnet_id: Some(subnet_id),
                        ip_address: Some(gateway),
                    }]),
                    security_groups: Some(Vec::new()),
                    ..PortSpec::default()
                };
                let plan = self.plan_port(&system(), spec).await?;
                make_port(&mut tx.ports(), plan).await?
            }
            InterfaceRef::Port(port_id) | InterfaceRef::PortOnSubnet { port_id, .. } => {
                let port = self.port(caller, &port_id).await?;
                if !port.row.device_id.is_empty() || !port.row.device_owner.is_empty() {
                    return Err(NetworkError::conflict(
                        "PortInUse",
                        format!(
                            "Unable to complete operation on port {port_id} for network {}. \
                             Port already has an attached device {}.",
                            port.row.network_id, port.row.device_id
                        ),
                    ));
                }
                if port.fixed_ips.is_empty() {
                    return Err(bad_request(
                        "router",
                        "Router port must have at least one fixed IP",
                    ));
                }
                let subnets: Vec<String> = port
                    .fixed_ips
                    .iter()
                    .map(|ip| ip.subnet_id.clone())
                    .collect();
                self.check_new_subnets(&attached, &subnets).await?;
                tx.ports()
                    .update_port(
                        &port_id,
                        &[
                            ("device_id", router_id.into()),
                            ("device_owner", ROUTER_INTERFACE.into()),
                            ("status", "ACTIVE".into()),
                        ],
                        now_micros(),
                    )
                    .await?;
                port
            }
        };
        tx.commit().await?;
        Ok(interface_info(&router.row, &port))
    }

    /// A subnet joins a router once, and never one overlapping another
    /// of its subnets.
    async fn check_new_subnets(&self, attached: &[Port], new: &[String]) -> NetworkResult<()> {
        let mut known = Vec::new();
        for port in attached {
            for ip in &port.fixed_ips {
                if let Some(s) = self.store.networking().subnet(&ip.subnet_id).await? {
                    known.push(s);
                }
            }
        }
        for id in new {
            if known.iter().any(|s| &s.id == id) {
                return Err(bad_request(
                    "router",
                    format!("Router already has a port on subnet {id}"),
                ));
            }
            let Some(subnet) = self.store.networking().subnet(id).await? else {
                return Err(NetworkError::subnet_not_found(id));
            };
            let net: Option<ipnet::IpNet> = subnet.cidr.parse().ok();
            for other in &known {
                let theirs: Option<ipnet::IpNet> = other.cidr.parse().ok();
                if let (Some(a), Some(b)) = (net, theirs)
                    && (a.contains(&b.network()) || b.contains(&a.network()))
                {
                    return Err(bad_request(
                        "router",
                        format!(
                            "Cidr {} of subnet {} overlaps with cidr {} of subnet {}",
                            subnet.cidr, subnet.id, other.cidr, other.id
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The rows of the router's interfaces (ports on subnets), oldest
    /// first.
    async fn interface_rows(&self, router_id: &str) -> NetworkResult<Vec<PortRow>> {
        let ports = self.store.networking().router_ports(&[router_id]).await?;
        Ok(ports
            .into_iter()
            .filter(|p| p.device_owner == ROUTER_INTERFACE)
            .collect())
    }

    /// The router's interfaces with their addresses, oldest first.
    async fn interfaces_of(&self, router_id: &str) -> NetworkResult<Vec<Port>> {
        let rows = self.interface_rows(router_id).await?;
        self.assemble_ports(rows).await
    }

    /// `remove_router_interface`: the port goes (it was the router's), and
    /// none of the router's floating IPs may need it.
    pub async fn remove_router_interface(
        &self,
        caller: &Caller,
        router_id: &str,
        what: InterfaceRef,
    ) -> NetworkResult<RouterInterface> {
        let router = self.router(caller, router_id).await?;
        caller.may_write("remove_router_interface")?;
        let attached = self.interfaces_of(router_id).await?;
        let port =
            match &what {
                InterfaceRef::Subnet(subnet_id) => {
                    self.subnet(caller, subnet_id).await?;
                    attached
                        .iter()
                        .find(|p| p.fixed_ips.iter().any(|ip| &ip.subnet_id == subnet_id))
                        .ok_or_else(|| {
                            NetworkError::not_found(
                                "RouterInterfaceNotFoundForSubnet",
                                format!(
                                    "Router {router_id} has no interface on subnet {subnet_id}"
                                ),
                            )
                        })?
                }
                InterfaceRef::Port(port_id) | InterfaceRef::PortOnSubnet { port_id, .. } => {
                    let port = attached.iter().find(|p| &p.row.id == port_id).ok_or_else(|| {
                    NetworkError::not_found(
                        "RouterInterfaceNotFound",
                        format!("Router {router_id} does not have an interface with id {port_id}"),
                    )
                })?;
                    if let InterfaceRef::PortOnSubnet { subnet_id, .. } = &what
                        && !port.fixed_ips.iter().any(|ip| &ip.subnet_id == subnet_id)
                    {
                        return Err(NetworkError::invalid(
                            "SubnetMismatchForPort",
                            format!(
                                "Subnet on port {port_id} does not match the requested subnet \
                             {subnet_id}."
                            ),
                        ));
                    }
                    port
                }
            };
        for ip in &port.fixed_ips {
            if self
                .store
                .networking()
                .floating_ips_via(router_id, Some(&ip.subnet_id))
                .await?
                > 0
            {
                return Err(NetworkError::conflict(
                    "RouterInterfaceInUseByFloatingIP",
                    format!(
                        "Router interface for subnet {} on router {router_id} cannot be deleted, \
                         as it is required by one or more floating IPs.",
                        ip.subnet_id
                    ),
                ));
            }
        }
        let mut tx = self.store.networking().begin_ports().await?;
        tx.routers()
            .delete_port(&port.row.id, &port.row.project_id)
            .await
            .map_err(|e| gone(e, || NetworkError::port_not_found(&port.row.id)))?;
        tx.commit().await?;
        Ok(interface_info(&router.row, port))
    }
}

fn router_in_use(id: &str, ports: &[PortRow]) -> NetworkError {
    let ids: Vec<&str> = ports.iter().map(|p| p.id.as_str()).collect();
    NetworkError::conflict(
        "RouterInUse",
        format!("Router {id} has ports still attached: {}", ids.join(", ")),
    )
}

fn interface_info(router: &RouterRow, port: &Port) -> RouterInterface {
    let subnet_ids: Vec<String> = port
        .fixed_ips
        .iter()
        .map(|ip| ip.subnet_id.clone())
        .collect();
    RouterInterface {
        router_id: router.id.clone(),
        project_id: router.project_id.clone(),
        port_id: port.row.id.clone(),
        network_id: port.row.network_id.clone(),
        subnet_id: subnet_ids.first().cloned().unwrap_or_default(),
        subnet_ids,
    }
}
