//! What the compute service asks of networking for its servers: the
//! ports a new server gets (checked before the server's create
//! transaction, made inside it), with Nova's rules for picking the network
//! (`auto`: the one network the project may use), binding a port a user
//! made, and security groups by name or id. Refusals carry Nova-side kinds
//! (`NetworkAmbiguous`, `PortInUse`, `FixedIpAlreadyInUse`, ...) that the
//! compute service words as Nova does.

use oxstack_store::networking::{NetworkRow, PortTx};

use crate::ports::{PlannedPort, make_port};
use crate::security_groups::DEFAULT_GROUP;
use crate::{
    Caller, Class, FixedIpRequest, NetworkError, NetworkResult, Networking, PortSpec, now_micros,
};

/// One NIC a server asks for: a network (`None`: the project's one), an
/// address on it, or a port made beforehand.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerNic {
    pub network_id: Option<String>,
    pub fixed_ip: Option<String>,
    pub port_id: Option<String>,
    /// Nova's device tag for the NIC.
    pub tag: Option<String>,
}

/// The checked ports of a server, made for each server of a request.
#[derive(Clone, Debug)]
pub struct ServerPorts {
    nics: Vec<Nic>,
    /// The ports' device owner, `compute:<zone>`.
    owner: String,
}

#[derive(Clone, Debug)]
enum Nic {
    New(Box<PlannedPort>),
    /// A port made beforehand, and the tag the NIC gets.
    Existing(String, Option<String>),
}

impl ServerPorts {
    /// No NIC at all (`networks: none`).
    pub fn none() -> Self {
        Self {
            nics: Vec::new(),
            owner: String::new(),
        }
    }
}

impl Networking {
    /// Checks the NICs of a new server of `project_id` (`None`: Nova's
    /// `auto`) and its security groups (names or ids; none: the project's
    /// default), before the create's transaction begins.
    pub async fn plan_server_ports(
        &self,
        project_id: &str,
        nics: Option<&[ServerNic]>,
        groups: &[String],
        zone: &str,
    ) -> NetworkResult<ServerPorts> {
        let project = Caller {
            project_id: project_id.to_owned(),
            is_admin: false,
            can_write: true,
        };
        let auto;
        // `auto`'s network, read once: the NIC below needs no lookup.
        let mut auto_network = None;
        let nics = match nics {
            Some(n) => n,
            None => match self.auto_network(&project).await? {
                Some(network) => {
                    auto = [ServerNic {
                        network_id: Some(network.id.clone()),
                        ..Default::default()
                    }];
                    auto_network = Some(network);
                    &auto[..]
                }
                None => return Ok(ServerPorts::none()),
            },
        };
        let group_ids = self.resolve_groups(project_id, groups).await?;
        // Nova makes ports with rights the project lacks on shared
        // networks (an address of its choice), for the project.
        let elevated = Caller {
            is_admin: true,
            ..project.clone()
        };
        let mut planned = Vec::with_capacity(nics.len());
        for nic in nics {
            if let Some(port_id) = &nic.port_id {
                let port = self.port(&project, port_id).await.map_err(|_| {
                    nova(
                        "PortNotFound",
                        format!("Port id {port_id} could not be found."),
                    )
                })?;
                if !port.row.device_id.is_empty() {
                    return Err(NetworkError::conflict(
                        "PortInUse",
                        format!("Port {port_id} is still in use."),
                    ));
                }
                planned.push(Nic::Existing(port_id.clone(), nic.tag.clone()));
                continue;
            }
            let network_id = nic.network_id.clone().unwrap_or_default();
            let network = match auto_network.take() {
                Some(network) => network,
                None => self
                    .visible_network(&project, &network_id)
                    .await?
                    .filter(|n| !n.external || n.project_id == project_id)
                    .ok_or_else(|| {
                        nova(
                            "NetworkNotFound",
                            format!("Network {network_id} could not be found."),
                        )
                    })?,
            };
            if let Some(ip) = &nic.fixed_ip {
                let subnets = self.subnets_of(&network.id).await?;
                let inside = ip.parse::<std::net::IpAddr>().is_ok_and(|ip| {
                    subnets
                        .iter()
                        .any(|s| s.net().is_some_and(|n| n.contains(&ip)))
                });
                if !inside {
                    return Err(nova(
                        "InvalidFixedIpAndMaxCountRequest",
                        format!("Fixed IP address {ip} is invalid."),
                    ));
                }
                self.check_free(&network.id, ip).await?;
            }
            if !group_ids.is_empty() && !network.port_security_enabled {
                return Err(nova(
                    "SecurityGroupCannotBeApplied",
                    "Network requires port_security_enabled and subnet associated in order to \
                     apply security groups.",
                ));
            }
            let spec = PortSpec {
                project_id: Some(project_id.to_owned()),
                network_id: network.id.clone(),
                device_owner: format!("compute:{zone}"),
                fixed_ips: nic.fixed_ip.as_ref().map(|ip| {
                    vec![FixedIpRequest {
                        subnet_id: None,
                        ip_address: Some(ip.clone()),
                    }]
                }),
                security_groups: (!group_ids.is_empty()).then(|| group_ids.clone()),
                ..Default::default()
            };
            let mut plan = self.plan_port_on(&elevated, &network, spec).await?;
            plan.tag(nic.tag.clone());
            planned.push(Nic::New(Box::new(plan)));
        }
        Ok(ServerPorts {
            nics: planned,
            owner: format!("compute:{zone}"),
        })
    }

    /// Nova's `auto`: the one network the project may attach to (its own
    /// and shared ones, not external); none is no NIC, several are
    /// ambiguous.
    async fn auto_network(&self, project: &Caller) -> NetworkResult<Option<NetworkRow>> {
        let mut usable: Vec<NetworkRow> = self
            .store
            .networking()
            .networks(&project.scope())
            .await?
            .into_iter()
            .filter(|n| !n.external && (n.shared || n.project_id == project.project_id))
            .collect();
        match usable.len() {
            0 => Ok(None),
            1 => Ok(usable.pop()),
            _ => Err(NetworkError::conflict(
                "NetworkAmbiguous",
                "Multiple possible networks found, use a Network ID to be more specific.",
            )),
        }
    }

    /// Security groups named by name or id, as ids; none asked: none (the
    /// ports get the default group).
    pub async fn resolve_groups(
        &self,
        project_id: &str,
        wanted: &[String],
    ) -> NetworkResult<Vec<String>> {
        if wanted.is_empty() || wanted.iter().all(|w| w == DEFAULT_GROUP) {
            return if wanted.is_empty() {
                Ok(Vec::new())
            } else {
                Ok(vec![self.default_group_id(project_id).await?])
            };
        }
        self.default_group_id(project_id).await?;
        let groups = self
            .store
            .networking()
            .groups(&oxstack_store::networking::Scope::Project(
                project_id.to_owned(),
            ))
            .await?;
        let mut ids: Vec<String> = Vec::new();
        for w in wanted {
            let id = if let Some(g) = groups.iter().find(|g| &g.id == w) {
                g.id.clone()
            } else {
                let named: Vec<&String> = groups
                    .iter()
                    .filter(|g| &g.name == w)
                    .map(|g| &g.id)
                    .collect();
                match named.as_slice() {
                    [one] => (*one).clone(),
                    [] => {
                        return Err(NetworkError::not_found(
                            "SecurityGroupNotFound",
                            format!("Security group {w} not found."),
                        ));
                    }
                    _ => {
                        return Err(NetworkError::conflict(
                            "NoUniqueMatch",
                            format!(
                                "Multiple security_group matches found for name '{w}', use an ID to be more specific."
                            ),
                        ));
                    }
                }
            };
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        Ok(ids)
    }

    /// Refuses an address another port holds, naming the server holding
    /// it as Nova does.
    async fn check_free(&self, network_id: &str, ip: &str) -> NetworkResult<()> {
        let ports = self
            .store
            .networking()
            .ports(
                &oxstack_store::networking::Scope::All,
                Some(network_id),
                None,
            )
            .await?;
        let ids: Vec<&str> = ports.iter().map(|p| p.id.as_str()).collect();
        let held = self.store.networking().port_ips(&ids).await?;
        if let Some(holder) = held.iter().find(|h| h.ip_address == ip) {
            let device = ports
                .iter()
                .find(|p| p.id == holder.port_id)
                .map(|p| p.device_id.clone())
                .unwrap_or_default();
            return Err(nova(
                "FixedIpAlreadyInUse",
                format!("Fixed IP address {ip} is already in use on instance {device}."),
            ));
        }
        Ok(())
    }

    /// Makes (or binds) the ports of one server inside its create
    /// transaction, in the order asked.
    pub async fn make_server_ports(
        &self,
        tx: &mut PortTx<'_>,
        plan: &ServerPorts,
        device_id: &str,
        host: Option<&str>,
    ) -> NetworkResult<Vec<String>> {
        let now = now_micros();
        let mut made = Vec::with_capacity(plan.nics.len());
        for (index, nic) in plan.nics.iter().enumerate() {
            // A server's NICs keep their order by creation time.
            let at = now + index as i64;
            match nic {
                Nic::Existing(port_id, tag) => {
                    if !tx
                        .bind_port(
                            port_id,
                            (device_id, &plan.owner, tag.as_deref()),
                            host.unwrap_or_default(),
                            at,
                        )
                        .await?
                    {
                        return Err(NetworkError::conflict(
                            "PortInUse",
                            format!("Port {port_id} is still in use."),
                        ));
                    }
                    made.push(port_id.clone());
                }
                Nic::New(planned) => {
                    let mut port = (**planned).clone();
                    port.prepare_for(device_id, host.unwrap_or_default(), at);
                    let port = make_port(tx, port).await.map_err(|e| match e {
                        NetworkError::Refused {
                            kind: "OverQuota", ..
                        } => server_ports_over_quota(),
                        other => other,
                    })?;
                    made.push(port.row.id);
                }
            }
        }
        Ok(made)
    }
}

/// Nova's refusal of a server whose new ports go past the project's
/// limit (the create transaction counts them just before it commits).
pub fn server_ports_over_quota() -> NetworkError {
    NetworkError::refused(
        Class::Forbidden,
        "PortLimitExceeded",
        "Maximum number of ports exceeded",
    )
}

impl Networking {
    /// Gives a server another port (Nova's `addFixedIp` and interface
    /// attachment) in a transaction of its own: the NIC asked for, or
    /// (`None`) a port on the project's one network; returns the port's
    /// id, `None` when the project has no network to attach to.
    pub async fn attach_server_port(
        &self,
        project_id: &str,
        nic: Option<ServerNic>,
        device_id: &str,
        host: Option<&str>,
        zone: &str,
    ) -> NetworkResult<Option<String>> {
        let nics = nic.map(|n| vec![n]);
        let plan = self
            .plan_server_ports(project_id, nics.as_deref(), &[], zone)
            .await?;
        if plan.nics.is_empty() {
            return Ok(None);
        }
        let mut tx = self.store.networking().begin_ports().await?;
        let made = self
            .make_server_ports(&mut tx.ports(), &plan, device_id, host)
            .await?;
        tx.commit().await?;
        Ok(made.into_iter().next())
    }

    /// The ports plugged into a device (a server's), oldest first.
    pub async fn device_ports(&self, device_id: &str) -> NetworkResult<Vec<crate::Port>> {
        let rows = self
            .store
            .networking()
            .ports(
                &oxstack_store::networking::Scope::All,
                None,
                Some(device_id),
            )
            .await?;
        self.assemble_ports(rows).await
    }
}

impl Networking {
    /// The security groups of a server's ports, by name.
    pub async fn server_groups(
        &self,
        device_id: &str,
    ) -> NetworkResult<Vec<crate::SecurityGroupRow>> {
        let repo = self.store.networking();
        let ports = repo
            .ports(
                &oxstack_store::networking::Scope::All,
                None,
                Some(device_id),
            )
            .await?;
        let ids: Vec<&str> = ports.iter().map(|p| p.id.as_str()).collect();
        let mut groups: Vec<crate::SecurityGroupRow> = Vec::new();
        for (_, group) in repo.port_groups(&ids).await? {
            if groups.iter().any(|g| g.id == group) {
                continue;
            }
            if let Some(row) = repo.group(&group).await? {
                groups.push(row);
            }
        }
        groups.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(groups)
    }

    /// Adds a group (name or id) to every port of a server (`add`), or
    /// takes it from them (Nova's `addSecurityGroup` and
    /// `removeSecurityGroup`).
    pub async fn change_server_group(
        &self,
        project_id: &str,
        device_id: &str,
        wanted: &str,
        add: bool,
    ) -> NetworkResult<()> {
        let group = self
            .resolve_groups(project_id, &[wanted.to_owned()])
            .await?
            .remove(0);
        let repo = self.store.networking();
        let ports = repo
            .ports(
                &oxstack_store::networking::Scope::All,
                None,
                Some(device_id),
            )
            .await?;
        let ids: Vec<&str> = ports.iter().map(|p| p.id.as_str()).collect();
        let pairs = repo.port_groups(&ids).await?;
        let member = pairs.iter().any(|(_, g)| *g == group);
        match (add, member) {
            (true, true) => {
                return Err(nova(
                    "SecurityGroupExistsForInstance",
                    format!(
                        "Security group {wanted} is already associated with the instance {device_id}"
                    ),
                ));
            }
            (false, false) => {
                return Err(nova(
                    "SecurityGroupNotExistsForInstance",
                    format!(
                        "Security group {wanted} is not associated with the instance {device_id}"
                    ),
                ));
            }
            _ => {}
        }
        if add && ports.iter().any(|p| !p.port_security_enabled) {
            return Err(nova(
                "SecurityGroupCannotBeApplied",
                "Network requires port_security_enabled and subnet associated in order to apply \
                 security groups.",
            ));
        }
        let mut tx = repo.begin_ports().await?;
        let mut writes = tx.ports();
        for port in &ports {
            let mut groups: Vec<String> = pairs
                .iter()
                .filter(|(p, _)| *p == port.id)
                .map(|(_, g)| g.clone())
                .filter(|g| *g != group)
                .collect();
            if add {
                groups.push(group.clone());
            }
            writes.set_groups(&port.id, &groups).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

/// A refusal of a server's networking, in Nova's words (400).
fn nova(kind: &'static str, message: impl Into<String>) -> NetworkError {
    NetworkError::refused(Class::Invalid, kind, message)
}

impl Networking {
    /// Turns the addresses servers held before networking existed into
    /// ports (one per server and MAC, with the project's default group),
    /// once, at start; returns how many ports were made.
    pub(crate) async fn adopt_legacy_addresses(&self) -> NetworkResult<usize> {
        let legacy = self.store.networking().legacy_fixed_ips().await?;
        if legacy.is_empty() {
            return Ok(0);
        }
        let mut nics: Vec<(LegacyNic, Vec<String>)> = Vec::new();
        for ip in legacy {
            let key = LegacyNic {
                instance: ip.instance_uuid.clone(),
                mac: ip.mac.clone(),
                network_id: ip.network_id.clone(),
                project_id: ip.project_id.clone(),
                host: ip.host.clone().unwrap_or_default(),
                zone: ip.zone.clone().unwrap_or_else(|| "nova".into()),
            };
            match nics.iter_mut().find(|(k, _)| *k == key) {
                Some((_, addresses)) => addresses.push(ip.address),
                None => nics.push((key, vec![ip.address])),
            }
        }
        let mut groups = std::collections::HashMap::new();
        for (nic, _) in &nics {
            if !groups.contains_key(&nic.project_id) {
                let id = self.default_group_id(&nic.project_id).await?;
                groups.insert(nic.project_id.clone(), id);
            }
        }
        let mut tx = self.store.networking().begin_ports().await?;
        let mut made = 0;
        for (index, (nic, addresses)) in nics.iter().enumerate() {
            let subnets = self.subnets_of(&nic.network_id).await?;
            let requests: Vec<FixedIpRequest> = addresses
                .iter()
                .map(|a| FixedIpRequest {
                    subnet_id: None,
                    ip_address: Some(a.clone()),
                })
                .collect();
            let at = now_micros() + index as i64;
            let row = crate::PortRow {
                id: uuid::Uuid::new_v4().to_string(),
                project_id: nic.project_id.clone(),
                network_id: nic.network_id.clone(),
                name: String::new(),
                description: String::new(),
                mac_address: nic.mac.clone(),
                admin_state_up: true,
                status: "ACTIVE".into(),
                device_id: nic.instance.clone(),
                device_owner: format!("compute:{}", nic.zone),
                port_security_enabled: true,
                allowed_address_pairs: "[]".into(),
                binding_host_id: nic.host.clone(),
                binding_vnic_type: "normal".into(),
                binding_profile: "{}".into(),
                dns_name: String::new(),
                preserve_on_delete: false,
                device_tag: None,
                revision_number: 1,
                created_at: at,
                updated_at: at,
            };
            let plan =
                PlannedPort::adopted(row, requests, subnets, groups[&nic.project_id].clone());
            make_port(&mut tx.ports(), plan).await?;
            made += 1;
        }
        tx.forget_legacy_fixed_ips().await?;
        tx.commit().await?;
        Ok(made)
    }
}

/// A floating address adopted from before networking existed, with the
/// server address it was associated with.
pub(crate) struct AdoptedFloating {
    id: String,
    instance: String,
    fixed: String,
}

impl Networking {
    /// Turns the floating addresses compute kept itself into floating IPs
    /// of the same projects and addresses (not yet associated).
    pub(crate) async fn adopt_legacy_floating_ips(&self) -> NetworkResult<Vec<AdoptedFloating>> {
        let legacy = self.store.floating_ips().list(None).await?;
        let mut adopted = Vec::new();
        if legacy.is_empty() {
            return Ok(adopted);
        }
        let system = crate::routers::system();
        let networks = self.networks(&system).await?;
        for old in legacy {
            let network = networks
                .iter()
                .find(|n| n.row.external && n.row.name == old.pool);
            if let Some(network) = network {
                let spec = crate::FloatingIpSpec {
                    id: Some(old.id.clone()),
                    project_id: Some(old.project_id.clone()),
                    floating_network_id: network.row.id.clone(),
                    floating_ip_address: Some(old.address.clone()),
                    ..Default::default()
                };
                match self.create_floating_ip(&system, spec).await {
                    Ok(_) => {
                        if let (Some(instance), Some(fixed)) =
                            (old.instance_uuid, old.fixed_address)
                        {
                            adopted.push(AdoptedFloating {
                                id: old.id.clone(),
                                instance,
                                fixed,
                            });
                        }
                    }
                    Err(e) => {
                        tracing::warn!(address = %old.address, error = %e, "a floating address could not be kept")
                    }
                }
            }
            self.store.floating_ips().delete(&old.id).await?;
        }
        Ok(adopted)
    }

    /// Associates adopted floating IPs with the ports now holding the
    /// server addresses they were associated with.
    pub(crate) async fn associate_adopted(
        &self,
        adopted: Vec<AdoptedFloating>,
    ) -> NetworkResult<()> {
        let system = crate::routers::system();
        for a in adopted {
            let ports = self.device_ports(&a.instance).await?;
            let Some(port) = ports
                .iter()
                .find(|p| p.fixed_ips.iter().any(|ip| ip.ip_address == a.fixed))
            else {
                continue;
            };
            let change = crate::FloatingIpChange {
                port_id: Some(Some(port.row.id.clone())),
                fixed_ip_address: Some(a.fixed.clone()),
                description: None,
            };
            if let Err(e) = self.update_floating_ip(&system, &a.id, change).await {
                tracing::warn!(floating_ip = %a.id, error = %e, "an adopted floating IP stays unassociated");
            }
        }
        Ok(())
    }
}

/// One NIC of a server as the old addresses describe it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct LegacyNic {
    instance: String,
    mac: String,
    network_id: String,
    project_id: String,
    host: String,
    zone: String,
}
