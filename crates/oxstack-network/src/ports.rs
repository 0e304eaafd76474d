//! Ports: a network attachment with a MAC, fixed addresses from the
//! network's subnets, and security groups. Addresses are picked and
//! claimed inside the port's transaction; a claim fails rather than
//! sharing an address, and the next candidate is tried.

use std::net::IpAddr;

use oxstack_store::StoreError;
use oxstack_store::networking::{
    FLOATING_IP, NetworkRow, PortIpRow, PortRow, PortTx, ROUTER_GATEWAY, ROUTER_INTERFACE,
};
use serde::{Deserialize, Serialize};

use crate::ipam;
use crate::subnets::Subnet;
use crate::{Caller, NetworkError, NetworkResult, Networking, gone, now_micros};

/// One fixed address of a port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FixedIp {
    pub subnet_id: String,
    pub ip_address: String,
}

/// A requested fixed address: a subnet, an address, or both.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FixedIpRequest {
    pub subnet_id: Option<String>,
    pub ip_address: Option<String>,
}

/// An allowed address pair, as stored and shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressPair {
    pub ip_address: String,
    pub mac_address: String,
}

/// A requested allowed address pair: an address (or CIDR) and an
/// optional MAC (the port's when absent).
pub type PairRequest = (String, Option<String>);

/// A port with its addresses and groups.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Port {
    pub row: PortRow,
    pub fixed_ips: Vec<FixedIp>,
    pub security_groups: Vec<String>,
    pub allowed_address_pairs: Vec<AddressPair>,
    pub tags: Vec<String>,
}

/// A port to make.
#[derive(Clone, Debug, Default)]
pub struct PortSpec {
    pub id: Option<String>,
    pub project_id: Option<String>,
    pub network_id: String,
    pub name: String,
    pub description: String,
    pub mac_address: Option<String>,
    pub admin_state_up: Option<bool>,
    pub device_id: String,
    pub device_owner: String,
    /// `None`: an address from each kind of subnet, as Neutron picks.
    pub fixed_ips: Option<Vec<FixedIpRequest>>,
    /// `None`: the project's default group when port security is on.
    pub security_groups: Option<Vec<String>>,
    pub port_security_enabled: Option<bool>,
    pub allowed_address_pairs: Vec<PairRequest>,
    pub binding_host_id: Option<String>,
    pub binding_vnic_type: Option<String>,
    pub binding_profile: Option<String>,
    pub dns_name: String,
}

/// Changes to a port; `None` leaves an attribute as it is.
#[derive(Clone, Debug, Default)]
pub struct PortChange {
    pub name: Option<String>,
    pub description: Option<String>,
    pub admin_state_up: Option<bool>,
    pub device_id: Option<String>,
    pub device_owner: Option<String>,
    pub mac_address: Option<String>,
    pub fixed_ips: Option<Vec<FixedIpRequest>>,
    pub security_groups: Option<Vec<String>>,
    pub port_security_enabled: Option<bool>,
    pub allowed_address_pairs: Option<Vec<PairRequest>>,
    pub binding_host_id: Option<String>,
    pub binding_vnic_type: Option<String>,
    pub binding_profile: Option<String>,
    pub dns_name: Option<String>,
}

/// The vNIC types Neutron's ML2 accepts.
pub const VNIC_TYPES: [&str; 7] = [
    "normal",
    "direct",
    "macvtap",
    "baremetal",
    "direct-physical",
    "virtio-forwarder",
    "smart-nic",
];

impl Networking {
    pub async fn create_port(&self, caller: &Caller, spec: PortSpec) -> NetworkResult<Port> {
        let plan = self.plan_port(caller, spec).await?;
        let mut tx = self.store.networking().begin_ports().await?;
        let port = make_port(&mut tx.ports(), plan).await?;
        tx.commit().await?;
        Ok(port)
    }

    /// Checks a port to make and settles all that needs no transaction
    /// (the project's default group is made here, in its own).
    pub(crate) async fn plan_port(
        &self,
        caller: &Caller,
        spec: PortSpec,
    ) -> NetworkResult<PlannedPort> {
        caller.may_write("create_port")?;
        let network = self
            .visible_network(caller, &spec.network_id)
            .await?
            .ok_or_else(|| NetworkError::network_not_found(&spec.network_id))?;
        self.plan_port_on(caller, &network, spec).await
    }

    /// [`Self::plan_port`] on `network`, already read by a caller that
    /// may write and sees it.
    pub(crate) async fn plan_port_on(
        &self,
        caller: &Caller,
        network: &NetworkRow,
        spec: PortSpec,
    ) -> NetworkResult<PlannedPort> {
        let owns_network = caller.owns(&network.project_id);
        if !owns_network && !network.shared {
            return Err(NetworkError::policy("create_port"));
        }
        let project_id = caller.project_for(spec.project_id.as_deref(), "create_port")?;
        admin_only(
            caller,
            spec.binding_host_id.is_some(),
            "create_port:binding:host_id",
        )?;
        admin_only(
            caller,
            spec.binding_profile.is_some(),
            "create_port:binding:profile",
        )?;
        let asks_address = spec
            .fixed_ips
            .iter()
            .flatten()
            .any(|f| f.ip_address.is_some());
        if asks_address && !owns_network {
            return Err(NetworkError::policy("create_port:fixed_ips:ip_address"));
        }
        let vnic = check_vnic(spec.binding_vnic_type.as_deref())?;
        let port_security = spec
            .port_security_enabled
            .unwrap_or(network.port_security_enabled);
        let pairs = address_pairs(&spec.allowed_address_pairs, port_security)?;
        // The default group goes only to a port that gets an address;
        // it is made (its own transaction) before the port's begins.
        let implicit = spec.security_groups.is_none();
        let groups = match spec.security_groups {
            Some(groups) => {
                self.check_groups(&project_id, groups, port_security)
                    .await?
            }
            None if port_security && !spec.device_owner.starts_with("network:") => {
                vec![self.default_group_id(&project_id).await?]
            }
            None => Vec::new(),
        };
        let now = now_micros();
        let mut row = PortRow {
            id: spec.id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
            project_id,
            network_id: network.id.clone(),
            name: spec.name,
            description: spec.description,
            mac_address: String::new(),
            admin_state_up: spec.admin_state_up.unwrap_or(true),
            status: String::new(),
            device_id: spec.device_id,
            device_owner: spec.device_owner,
            port_security_enabled: port_security,
            allowed_address_pairs: serde_json::to_string(&pairs).unwrap_or_default(),
            binding_host_id: spec.binding_host_id.unwrap_or_default(),
            binding_vnic_type: vnic.to_owned(),
            binding_profile: spec.binding_profile.unwrap_or_else(|| "{}".to_owned()),
            dns_name: spec.dns_name,
            preserve_on_delete: false,
            device_tag: None,
            revision_number: 1,
            created_at: now,
            updated_at: now,
        };
        row.status = status_of(&row).to_owned();
        let subnets = self.subnets_of(&network.id).await?;
        let limit = self.limit(&row.project_id, "port").await?;
        Ok(PlannedPort {
            row,
            mac: spec.mac_address.map(|m| check_mac(&m)).transpose()?,
            requests: spec.fixed_ips.unwrap_or_else(|| automatic(&subnets)),
            subnets,
            groups,
            implicit,
            pairs,
            limit,
        })
    }

    /// A port the caller sees (its own, or one on its network).
    pub async fn port(&self, caller: &Caller, id: &str) -> NetworkResult<Port> {
        let row = self
            .store
            .networking()
            .port(id)
            .await?
            .ok_or_else(|| NetworkError::port_not_found(id))?;
        if !caller.owns(&row.project_id) {
            let network = self.store.networking().network(&row.network_id).await?;
            if !network.is_some_and(|n| caller.owns(&n.project_id)) {
                return Err(NetworkError::port_not_found(id));
            }
        }
        Ok(self.assemble_ports(vec![row]).await?.remove(0))
    }

    /// The ports the caller sees, narrowed by network and device when
    /// given, oldest first.
    pub async fn ports(
        &self,
        caller: &Caller,
        network_id: Option<&str>,
        device_id: Option<&str>,
    ) -> NetworkResult<Vec<Port>> {
        let rows = self
            .store
            .networking()
            .ports(&caller.scope(), network_id, device_id)
            .await?;
        self.assemble_ports(rows).await
    }

    /// One page of [`Self::ports`]: at most `limit` after the port with
    /// id `after` (none when it is not among them).
    pub async fn ports_page(
        &self,
        caller: &Caller,
        filters: (Option<&str>, Option<&str>),
        after: Option<&str>,
        limit: usize,
    ) -> NetworkResult<Vec<Port>> {
        let (network_id, device_id) = filters;
        let rows = self
            .store
            .networking()
            .ports_page(
                &caller.scope(),
                network_id,
                device_id,
                after,
                i64::try_from(limit).unwrap_or(i64::MAX),
            )
            .await?;
        self.assemble_ports(rows).await
    }

    pub(crate) async fn assemble_ports(&self, rows: Vec<PortRow>) -> NetworkResult<Vec<Port>> {
        let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        let repo = self.store.networking();
        let mut ips: std::collections::HashMap<String, Vec<FixedIp>> = Default::default();
        for ip in repo.port_ips(&ids).await? {
            ips.entry(ip.port_id).or_default().push(FixedIp {
                subnet_id: ip.subnet_id,
                ip_address: ip.ip_address,
            });
        }
        let mut groups: std::collections::HashMap<String, Vec<String>> = Default::default();
        for (port, group) in repo.port_groups(&ids).await? {
            groups.entry(port).or_default().push(group);
        }
        let mut tags = self.tags_of(&ids).await?;
        Ok(rows
            .into_iter()
            .map(|row| Port {
                fixed_ips: ips.remove(&row.id).unwrap_or_default(),
                security_groups: groups.remove(&row.id).unwrap_or_default(),
                allowed_address_pairs: serde_json::from_str(&row.allowed_address_pairs)
                    .unwrap_or_default(),
                tags: tags.remove(&row.id).unwrap_or_default(),
                row,
            })
            .collect())
    }

    pub async fn update_port(
        &self,
        caller: &Caller,
        id: &str,
        change: PortChange,
    ) -> NetworkResult<Port> {
        let current = self.port(caller, id).await?;
        caller.may_write("update_port")?;
        let network = self
            .store
            .networking()
            .network(&current.row.network_id)
            .await?
            .ok_or_else(|| NetworkError::network_not_found(&current.row.network_id))?;
        let owns_network = caller.owns(&network.project_id);
        if !caller.owns(&current.row.project_id) && !owns_network {
            return Err(NetworkError::policy("update_port"));
        }
        admin_only(
            caller,
            change.binding_host_id.is_some(),
            "update_port:binding:host_id",
        )?;
        admin_only(
            caller,
            change.binding_profile.is_some(),
            "update_port:binding:profile",
        )?;
        if let Some(requests) = &change.fixed_ips {
            self.keep_floating_address(id, requests).await?;
        }
        admin_only(
            caller,
            change.mac_address.is_some(),
            "update_port:mac_address",
        )?;
        let asks_address = change
            .fixed_ips
            .iter()
            .flatten()
            .any(|f| f.ip_address.is_some());
        if asks_address && !owns_network {
            return Err(NetworkError::policy("update_port:fixed_ips:ip_address"));
        }
        let port_security = change
            .port_security_enabled
            .unwrap_or(current.row.port_security_enabled);
        let groups = match change.security_groups {
            Some(g) => Some(
                self.check_groups(&current.row.project_id, g, port_security)
                    .await?,
            ),
            None if !port_security && !current.security_groups.is_empty() => {
                return Err(NetworkError::conflict(
                    "PortSecurityPortHasSecurityGroup",
                    "Port has security group associated. Cannot disable port security or IP \
                     address until security group is removed.",
                ));
            }
            None => None,
        };
        let pairs = match &change.allowed_address_pairs {
            Some(p) => Some(address_pairs(p, port_security)?),
            None if !port_security && !current.allowed_address_pairs.is_empty() => {
                return Err(pairs_need_security());
            }
            None => None,
        };
        let mut changes: Vec<(&str, oxstack_store::SqlValue)> = Vec::new();
        let mut row = current.row.clone();
        if let Some(v) = change.device_id {
            row.device_id.clone_from(&v);
            changes.push(("device_id", v.into()));
        }
        if let Some(v) = change.device_owner {
            row.device_owner.clone_from(&v);
            changes.push(("device_owner", v.into()));
        }
        if let Some(v) = change.binding_host_id {
            row.binding_host_id.clone_from(&v);
            changes.push(("binding_host_id", v.into()));
        }
        let status = status_of(&row);
        if status != current.row.status {
            changes.push(("status", status.into()));
        }
        if let Some(v) = change.binding_vnic_type {
            changes.push(("binding_vnic_type", check_vnic(Some(&v))?.into()));
        }
        if let Some(p) = &pairs {
            changes.push((
                "allowed_address_pairs",
                serde_json::to_string(p).unwrap_or_default().into(),
            ));
        }
        for (value, column) in [
            (change.admin_state_up, "admin_state_up"),
            (change.port_security_enabled, "port_security_enabled"),
        ] {
            if let Some(v) = value {
                changes.push((column, v.into()));
            }
        }
        for (value, column) in [
            (change.name, "name"),
            (change.description, "description"),
            (change.binding_profile, "binding_profile"),
            (change.dns_name, "dns_name"),
        ] {
            if let Some(v) = value {
                changes.push((column, v.into()));
            }
        }
        let mut own = self.store.networking().begin_ports().await?;
        let mut tx = own.ports();
        if let Some(mac) = change.mac_address {
            let mac = check_mac(&mac)?;
            if mac != current.row.mac_address && tx.mac_in_use(&network.id, &mac).await? {
                return Err(mac_in_use(&network.id, &mac));
            }
            row.mac_address.clone_from(&mac);
            changes.push(("mac_address", mac.into()));
        }
        tx.update_port(id, &changes, now_micros())
            .await
            .map_err(|e| gone(e, || NetworkError::port_not_found(id)))?;
        let has_address = match &change.fixed_ips {
            Some(requests) => {
                let subnets = self.subnets_of(&network.id).await?;
                tx.release_ips(id).await?;
                !allocate(&mut tx, &row, &subnets, requests)
                    .await?
                    .is_empty()
            }
            None => !current.fixed_ips.is_empty(),
        };
        if let Some(groups) = &groups {
            if !groups.is_empty() && !has_address {
                return Err(security_needs_address());
            }
            tx.set_groups(id, groups).await?;
        }
        own.commit().await?;
        self.port(caller, id).await
    }

    /// Neutron keeps the address a floating IP is associated with on its
    /// port: new `fixed_ips` must hold it.
    async fn keep_floating_address(
        &self,
        id: &str,
        requests: &[FixedIpRequest],
    ) -> NetworkResult<()> {
        let floating = self.store.networking().floating_ips_of(&[id]).await?;
        let kept = floating.iter().all(|f| {
            requests
                .iter()
                .any(|r| r.ip_address.is_some() && r.ip_address == f.fixed_ip_address)
        });
        if kept {
            return Ok(());
        }
        Err(crate::routers::bad_request(
            "port",
            format!(
                "Cannot update the fixed_ips of the port {id}, because its original fixed_ip \
                 has been associated to a floating ip"
            ),
        ))
    }

    pub async fn delete_port(&self, caller: &Caller, id: &str) -> NetworkResult<()> {
        let current = self.port(caller, id).await?;
        caller.may_write("delete_port")?;
        let network = self
            .store
            .networking()
            .network(&current.row.network_id)
            .await?;
        let owns_network = network.is_some_and(|n| caller.owns(&n.project_id));
        if !caller.owns(&current.row.project_id) && !owns_network {
            return Err(NetworkError::policy("delete_port"));
        }
        let owner = current.row.device_owner.as_str();
        if [ROUTER_INTERFACE, ROUTER_GATEWAY, FLOATING_IP].contains(&owner) {
            return Err(NetworkError::conflict(
                "ServicePortInUse",
                format!(
                    "Port {id} cannot be deleted directly via the port API: has device owner \
                     {owner}."
                ),
            ));
        }
        self.store
            .networking()
            .delete_port(id, &current.row.project_id)
            .await
            .map_err(|e| gone(e, || NetworkError::port_not_found(id)))
    }

    /// Checks that every group exists and belongs to the port's project.
    async fn check_groups(
        &self,
        project_id: &str,
        groups: Vec<String>,
        port_security: bool,
    ) -> NetworkResult<Vec<String>> {
        if !groups.is_empty() && !port_security {
            return Err(security_needs_address());
        }
        let mut checked: Vec<String> = Vec::new();
        for id in groups {
            let group = self.store.networking().group(&id).await?;
            if group.is_none_or(|g| g.project_id != project_id) {
                return Err(NetworkError::group_not_found(&id));
            }
            if !checked.contains(&id) {
                checked.push(id);
            }
        }
        Ok(checked)
    }
}

/// A checked port, ready to be made in a transaction.
#[derive(Clone, Debug)]
pub(crate) struct PlannedPort {
    row: PortRow,
    /// The MAC asked for (else one is picked).
    mac: Option<String>,
    requests: Vec<FixedIpRequest>,
    subnets: Vec<Subnet>,
    groups: Vec<String>,
    /// The groups were not asked for (the default one).
    implicit: bool,
    pairs: Vec<AddressPair>,
    limit: i64,
}

impl PlannedPort {
    /// A port for addresses a server already holds (kept the old way).
    pub(crate) fn adopted(
        row: PortRow,
        requests: Vec<FixedIpRequest>,
        subnets: Vec<Subnet>,
        group: String,
    ) -> Self {
        Self {
            mac: Some(row.mac_address.clone()),
            row,
            requests,
            subnets,
            groups: vec![group],
            implicit: true,
            pairs: Vec::new(),
            limit: -1,
        }
    }

    /// The device tag of the server's NIC this port will be.
    pub(crate) fn tag(&mut self, tag: Option<String>) {
        self.row.device_tag = tag;
    }

    /// The port of one server: a fresh id, plugged into `device_id`.
    pub(crate) fn prepare_for(&mut self, device_id: &str, host: &str, at: i64) {
        self.row.id = uuid::Uuid::new_v4().to_string();
        device_id.clone_into(&mut self.row.device_id);
        host.clone_into(&mut self.row.binding_host_id);
        self.row.created_at = at;
        self.row.updated_at = at;
        self.row.status = status_of(&self.row).to_owned();
    }
}

/// Makes a planned port in `tx`: its MAC, its row (counted), its
/// addresses and its groups.
pub(crate) async fn make_port(tx: &mut PortTx<'_>, plan: PlannedPort) -> NetworkResult<Port> {
    let PlannedPort {
        mut row,
        mac,
        requests,
        subnets,
        mut groups,
        implicit,
        pairs,
        limit,
    } = plan;
    // The insert itself finds a taken MAC (or id): a random MAC is
    // drawn again, a requested one is refused.
    let mut stored = false;
    for _ in 0..16 {
        row.mac_address = mac.clone().unwrap_or_else(ipam::random_mac);
        stored = match tx.insert_port(&row, limit).await {
            Err(StoreError::LimitExceeded) => return Err(NetworkError::over_quota("port")),
            other => other?,
        };
        if stored || mac.is_some() {
            break;
        }
    }
    if !stored {
        return Err(match &mac {
            Some(m) if tx.mac_in_use(&row.network_id, m).await? => mac_in_use(&row.network_id, m),
            Some(_) => {
                NetworkError::conflict("PortExists", format!("Port {} already exists.", row.id))
            }
            None => NetworkError::conflict(
                "MacAddressGenerationFailure",
                format!(
                    "Unable to generate unique mac on network {}.",
                    row.network_id
                ),
            ),
        });
    }
    let ips = allocate(tx, &row, &subnets, &requests).await?;
    if ips.is_empty() {
        if !implicit && !groups.is_empty() {
            return Err(security_needs_address());
        }
        groups.clear();
    }
    tx.add_groups(&row.id, &groups).await?;
    Ok(Port {
        row,
        fixed_ips: ips,
        security_groups: groups,
        allowed_address_pairs: pairs,
        tags: Vec::new(),
    })
}

/// The port's status: up once something is plugged into it.
fn status_of(row: &PortRow) -> &'static str {
    if !row.device_owner.is_empty() && !row.device_id.is_empty() {
        "ACTIVE"
    } else {
        "DOWN"
    }
}

fn admin_only(caller: &Caller, set: bool, rule: &str) -> NetworkResult<()> {
    if set && !caller.is_admin {
        Err(NetworkError::policy(rule))
    } else {
        Ok(())
    }
}

fn check_vnic(vnic: Option<&str>) -> NetworkResult<&'static str> {
    let Some(v) = vnic else { return Ok("normal") };
    VNIC_TYPES
        .iter()
        .find(|t| **t == v)
        .copied()
        .ok_or_else(|| {
            NetworkError::invalid_input(
                "binding:vnic_type",
                format!("{v} is not in {VNIC_TYPES:?}"),
            )
        })
}

fn check_mac(text: &str) -> NetworkResult<String> {
    let mac = ipam::parse_mac(&text.to_ascii_lowercase()).ok_or_else(|| {
        NetworkError::invalid_input(
            "mac_address",
            format!("'{text}' is not a valid MAC address"),
        )
    })?;
    if mac == [0; 6] || mac[0] & 1 == 1 {
        return Err(NetworkError::invalid_input(
            "mac_address",
            format!("'{text}' is not a valid MAC address"),
        ));
    }
    Ok(text.to_ascii_lowercase())
}

fn mac_in_use(network_id: &str, mac: &str) -> NetworkError {
    NetworkError::conflict(
        "MacAddressInUse",
        format!(
            "Unable to complete operation for network {network_id}. The mac address {mac} is in \
             use."
        ),
    )
}

fn security_needs_address() -> NetworkError {
    NetworkError::invalid(
        "PortSecurityAndIPRequiredForSecurityGroups",
        "Port security must be enabled and port must have an IP address in order to use \
         security groups.",
    )
}

fn pairs_need_security() -> NetworkError {
    NetworkError::conflict(
        "AddressPairAndPortSecurityRequired",
        "Port Security must be enabled in order to have allowed address pairs on a port.",
    )
}

fn address_pairs(pairs: &[PairRequest], port_security: bool) -> NetworkResult<Vec<AddressPair>> {
    if !pairs.is_empty() && !port_security {
        return Err(pairs_need_security());
    }
    pairs
        .iter()
        .map(|(ip, mac)| {
            let valid = ip.parse::<IpAddr>().is_ok() || ip.parse::<ipnet::IpNet>().is_ok();
            if !valid {
                return Err(NetworkError::invalid_input(
                    "allowed_address_pairs",
                    format!("'{ip}' is not a valid IP address"),
                ));
            }
            Ok(AddressPair {
                ip_address: ip.clone(),
                mac_address: mac
                    .as_deref()
                    .map(check_mac)
                    .transpose()?
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// What Neutron gives a port that asks for nothing: an address from the
/// first IPv4 subnet and the first stateful IPv6 one (later ones when
/// those are full), and one from every SLAAC subnet.
fn automatic(subnets: &[Subnet]) -> Vec<FixedIpRequest> {
    let mut requests = Vec::new();
    let mut v4 = false;
    let mut v6 = false;
    for s in subnets {
        let take = if s.is_slaac() {
            true
        } else if s.row.ip_version == 4 {
            !std::mem::replace(&mut v4, true)
        } else {
            !std::mem::replace(&mut v6, true)
        };
        if take {
            requests.push(FixedIpRequest {
                subnet_id: Some(s.row.id.clone()),
                ip_address: None,
            });
        }
    }
    requests
}

/// Claims the requested addresses for a port, in order.
async fn allocate(
    tx: &mut PortTx<'_>,
    port: &PortRow,
    subnets: &[Subnet],
    requests: &[FixedIpRequest],
) -> NetworkResult<Vec<FixedIp>> {
    let mut ips: Vec<FixedIp> = Vec::new();
    for (position, request) in requests.iter().enumerate() {
        let subnet = subnet_for(port, subnets, request)?;
        let address = match &request.ip_address {
            Some(text) => {
                let ip: IpAddr = text.parse().map_err(|_| {
                    NetworkError::invalid_input(
                        "fixed_ips",
                        format!("'{text}' is not a valid IP address"),
                    )
                })?;
                if !subnet.net().is_some_and(|n| n.contains(&ip)) {
                    return Err(NetworkError::invalid(
                        "InvalidIpForSubnet",
                        format!("IP address {ip} is not a valid IP for the specified subnet."),
                    ));
                }
                let row = ip_row(port, subnet, ip);
                if !tx.claim_ip(&port.network_id, &row, position as i64).await? {
                    return Err(NetworkError::conflict(
                        "IpAddressAlreadyAllocated",
                        format!(
                            "IP address {ip} already allocated in subnet {}",
                            subnet.row.id
                        ),
                    ));
                }
                ip
            }
            None => pick(tx, port, subnet, position as i64).await?,
        };
        ips.push(FixedIp {
            subnet_id: subnet.row.id.clone(),
            ip_address: address.to_string(),
        });
    }
    Ok(ips)
}

/// The subnet a request names, or the one its address lies in.
fn subnet_for<'a>(
    port: &PortRow,
    subnets: &'a [Subnet],
    request: &FixedIpRequest,
) -> NetworkResult<&'a Subnet> {
    if let Some(id) = &request.subnet_id {
        return subnets.iter().find(|s| &s.row.id == id).ok_or_else(|| {
            NetworkError::invalid(
                "InvalidInput",
                format!(
                    "Invalid input for operation: Failed to create port on network {}, because \
                     fixed_ips included invalid subnet {id}.",
                    port.network_id
                ),
            )
        });
    }
    let Some(text) = &request.ip_address else {
        return Err(NetworkError::invalid_input(
            "fixed_ips",
            "Exactly one of subnet_id or ip_address must be given",
        ));
    };
    let ip: Option<IpAddr> = text.parse().ok();
    subnets
        .iter()
        .find(|s| ip.is_some_and(|ip| s.net().is_some_and(|n| n.contains(&ip))))
        .ok_or_else(|| {
            NetworkError::invalid(
                "InvalidIpForNetwork",
                format!(
                    "IP address {text} is not a valid IP for any of the subnets on the specified \
                     network."
                ),
            )
        })
}

fn ip_row(port: &PortRow, subnet: &Subnet, ip: IpAddr) -> PortIpRow {
    PortIpRow {
        port_id: port.id.clone(),
        subnet_id: subnet.row.id.clone(),
        ip_address: ip.to_string(),
    }
}

/// Picks and claims a free address of a subnet: the SLAAC address of the
/// port's MAC, or the next free one of the pools. A counter per subnet
/// walks round the pools, so a pick costs a lookup or two however full
/// the subnet is, and a released address is not handed out again at once.
async fn pick(
    tx: &mut PortTx<'_>,
    port: &PortRow,
    subnet: &Subnet,
    position: i64,
) -> NetworkResult<IpAddr> {
    let exhausted = || {
        NetworkError::conflict(
            "IpAddressGenerationFailure",
            format!(
                "No more IP addresses available on network {}.",
                port.network_id
            ),
        )
    };
    if subnet.is_slaac() {
        let (Some(net), Some(mac)) = (subnet.net(), ipam::parse_mac(&port.mac_address)) else {
            return Err(exhausted());
        };
        let ip = ipam::slaac(&net, mac);
        if tx
            .claim_ip(&port.network_id, &ip_row(port, subnet, ip), position)
            .await?
        {
            return Ok(ip);
        }
        return Err(exhausted());
    }
    let pools = subnet.ranges();
    let size = ipam::pool_size(&pools);
    let counter = format!("ip:{}", subnet.row.id);
    // Give up after one walk round the pools (bounded for huge IPv6 ones).
    for _ in 0..size.min(1 << 16) {
        let n = tx.next_value(&counter).await?;
        let Some(ip) = ipam::nth(&pools, u128::try_from(n - 1).unwrap_or(0)) else {
            break;
        };
        if tx
            .claim_ip(&port.network_id, &ip_row(port, subnet, ip), position)
            .await?
        {
            return Ok(ip);
        }
    }
    Err(exhausted())
}
