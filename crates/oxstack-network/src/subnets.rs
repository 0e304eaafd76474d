//! Subnets: an address range of one network, with the pools its ports'
//! addresses come from. Made by the network's owner; seen by their owner,
//! the network's owner, and everyone when the network is shared.

use std::net::IpAddr;

use ipnet::IpNet;
use oxstack_store::StoreError;
use oxstack_store::networking::{SubnetRow, Table};
use serde::{Deserialize, Serialize};

use crate::ipam::{self, Range};
use crate::{Caller, NetworkError, NetworkResult, Networking, gone, now_micros};

/// One allocation pool, as stored and shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllocationPool {
    pub start: String,
    pub end: String,
}

/// One host route, as stored and shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostRoute {
    pub destination: String,
    pub nexthop: String,
}

/// A subnet with its decoded lists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subnet {
    pub row: SubnetRow,
    pub allocation_pools: Vec<AllocationPool>,
    pub dns_nameservers: Vec<String>,
    pub host_routes: Vec<HostRoute>,
    pub tags: Vec<String>,
}

impl Subnet {
    fn from_row(row: SubnetRow, tags: Vec<String>) -> Self {
        Self {
            allocation_pools: serde_json::from_str(&row.allocation_pools).unwrap_or_default(),
            dns_nameservers: serde_json::from_str(&row.dns_nameservers).unwrap_or_default(),
            host_routes: serde_json::from_str(&row.host_routes).unwrap_or_default(),
            tags,
            row,
        }
    }

    pub fn net(&self) -> Option<IpNet> {
        self.row.cidr.parse().ok()
    }

    /// The pools as ranges.
    pub(crate) fn ranges(&self) -> Vec<Range> {
        self.allocation_pools
            .iter()
            .filter_map(|p| {
                Some(Range {
                    start: p.start.parse().ok()?,
                    end: p.end.parse().ok()?,
                })
            })
            .collect()
    }

    /// Whether ports get their address here by SLAAC (from their MAC).
    pub fn is_slaac(&self) -> bool {
        matches!(
            self.row.ipv6_address_mode.as_deref(),
            Some("slaac" | "dhcpv6-stateless")
        )
    }
}

/// A subnet to make.
#[derive(Clone, Debug, Default)]
pub struct SubnetSpec {
    pub id: Option<String>,
    pub project_id: Option<String>,
    pub network_id: String,
    pub name: String,
    pub description: String,
    pub ip_version: i64,
    pub cidr: String,
    /// `None`: the first host; `Some(None)`: no gateway.
    pub gateway_ip: Option<Option<String>>,
    pub enable_dhcp: Option<bool>,
    pub allocation_pools: Option<Vec<AllocationPool>>,
    pub dns_nameservers: Vec<String>,
    pub host_routes: Vec<HostRoute>,
    pub ipv6_address_mode: Option<String>,
    pub ipv6_ra_mode: Option<String>,
}

/// Changes to a subnet; `None` leaves an attribute as it is.
#[derive(Clone, Debug, Default)]
pub struct SubnetChange {
    pub name: Option<String>,
    pub description: Option<String>,
    pub gateway_ip: Option<Option<String>>,
    pub enable_dhcp: Option<bool>,
    pub allocation_pools: Option<Vec<AllocationPool>>,
    pub dns_nameservers: Option<Vec<String>>,
    pub host_routes: Option<Vec<HostRoute>>,
}

const IPV6_MODES: [&str; 3] = ["slaac", "dhcpv6-stateful", "dhcpv6-stateless"];

impl Networking {
    pub async fn create_subnet(&self, caller: &Caller, spec: SubnetSpec) -> NetworkResult<Subnet> {
        caller.may_write("create_subnet")?;
        let network = self
            .visible_network(caller, &spec.network_id)
            .await?
            .ok_or_else(|| NetworkError::network_not_found(&spec.network_id))?;
        if !caller.owns(&network.project_id) {
            return Err(NetworkError::policy("create_subnet"));
        }
        let project_id = caller.project_for(spec.project_id.as_deref(), "create_subnet")?;
        let net = parse_cidr(&spec.cidr)?;
        let version = if net.network().is_ipv4() { 4 } else { 6 };
        if spec.ip_version != version {
            return Err(NetworkError::invalid(
                "InvalidInput",
                format!(
                    "Invalid input for operation: ip_version {} does not match the CIDR {}.",
                    spec.ip_version, spec.cidr
                ),
            ));
        }
        for (mode, attribute) in [
            (&spec.ipv6_address_mode, "ipv6_address_mode"),
            (&spec.ipv6_ra_mode, "ipv6_ra_mode"),
        ] {
            if let Some(m) = mode {
                if version != 6 {
                    return Err(NetworkError::invalid(
                        "InvalidInput",
                        format!(
                            "Invalid input for operation: {attribute} is not valid when \
                             ip_version is 4."
                        ),
                    ));
                }
                if !IPV6_MODES.contains(&m.as_str()) {
                    return Err(NetworkError::invalid_input(
                        attribute,
                        format!("{m} is not in {IPV6_MODES:?}"),
                    ));
                }
            }
        }
        let gateway = match &spec.gateway_ip {
            None => Some(ipam::first_host(&net)),
            Some(None) => None,
            Some(Some(text)) => Some(parse_ip("gateway_ip", text)?),
        };
        let pools = match &spec.allocation_pools {
            Some(pools) => check_pools(&net, pools)?,
            None => ipam::default_pools(&net, gateway),
        };
        check_gateway(&net, gateway, &pools)?;
        let now = now_micros();
        let row = SubnetRow {
            id: spec.id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
            project_id,
            network_id: spec.network_id,
            name: spec.name,
            description: spec.description,
            ip_version: version,
            cidr: net.trunc().to_string(),
            gateway_ip: gateway.map(|g| g.to_string()),
            enable_dhcp: spec.enable_dhcp.unwrap_or(true),
            allocation_pools: pools_text(&pools),
            dns_nameservers: json_text(&spec.dns_nameservers),
            host_routes: json_text(&spec.host_routes),
            ipv6_address_mode: spec.ipv6_address_mode,
            ipv6_ra_mode: spec.ipv6_ra_mode,
            revision_number: 1,
            created_at: now,
            updated_at: now,
        };
        let limit = self.limit(&row.project_id, "subnet").await?;
        match self.store.networking().insert_subnet(&row, limit).await {
            Err(StoreError::LimitExceeded) => return Err(NetworkError::over_quota("subnet")),
            Err(StoreError::Conflict) => {
                return Err(NetworkError::invalid(
                    "InvalidInput",
                    format!(
                        "Invalid input for operation: Requested subnet with cidr: {} for \
                         network: {} overlaps with another subnet.",
                        row.cidr, row.network_id
                    ),
                ));
            }
            Err(e) => return Err(gone(e, || NetworkError::network_not_found(&row.network_id))),
            Ok(()) => {}
        }
        Ok(Subnet::from_row(row, Vec::new()))
    }

    /// A subnet the caller sees, else `SubnetNotFound`.
    pub async fn subnet(&self, caller: &Caller, id: &str) -> NetworkResult<Subnet> {
        let row = self
            .store
            .networking()
            .subnet(id)
            .await?
            .ok_or_else(|| NetworkError::subnet_not_found(id))?;
        if !caller.owns(&row.project_id) {
            let network = self.visible_network(caller, &row.network_id).await?;
            if !network.is_some_and(|n| n.shared || caller.owns(&n.project_id)) {
                return Err(NetworkError::subnet_not_found(id));
            }
        }
        let mut tags = self.tags_of(&[id]).await?;
        Ok(Subnet::from_row(row, tags.remove(id).unwrap_or_default()))
    }

    /// Every subnet the caller sees, oldest first.
    pub async fn subnets(&self, caller: &Caller) -> NetworkResult<Vec<Subnet>> {
        let rows = self.store.networking().subnets(&caller.scope()).await?;
        self.assemble_subnets(rows).await
    }

    /// The subnets of a network (for allocating a port's addresses).
    pub(crate) async fn subnets_of(&self, network_id: &str) -> NetworkResult<Vec<Subnet>> {
        let rows = self.store.networking().subnets_of(network_id).await?;
        Ok(rows
            .into_iter()
            .map(|r| Subnet::from_row(r, Vec::new()))
            .collect())
    }

    async fn assemble_subnets(&self, rows: Vec<SubnetRow>) -> NetworkResult<Vec<Subnet>> {
        let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        let mut tags = self.tags_of(&ids).await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let t = tags.remove(&row.id).unwrap_or_default();
                Subnet::from_row(row, t)
            })
            .collect())
    }

    pub async fn update_subnet(
        &self,
        caller: &Caller,
        id: &str,
        change: SubnetChange,
    ) -> NetworkResult<Subnet> {
        let current = self.subnet(caller, id).await?;
        caller.may_write("update_subnet")?;
        if !caller.owns(&current.row.project_id) {
            return Err(NetworkError::policy("update_subnet"));
        }
        let net = parse_cidr(&current.row.cidr)?;
        let gateway = match &change.gateway_ip {
            None => current
                .row
                .gateway_ip
                .as_deref()
                .map(|g| parse_ip("gateway_ip", g))
                .transpose()?,
            Some(None) => None,
            Some(Some(text)) => Some(parse_ip("gateway_ip", text)?),
        };
        let pools = match &change.allocation_pools {
            Some(p) => check_pools(&net, p)?,
            None => current.ranges(),
        };
        check_gateway(&net, gateway, &pools)?;
        let mut changes: Vec<(&str, oxstack_store::SqlValue)> = Vec::new();
        if change.gateway_ip.is_some() {
            changes.push(("gateway_ip", gateway.map(|g| g.to_string()).into()));
        }
        if change.allocation_pools.is_some() {
            changes.push(("allocation_pools", pools_text(&pools).into()));
        }
        if let Some(v) = change.enable_dhcp {
            changes.push(("enable_dhcp", v.into()));
        }
        if let Some(v) = &change.dns_nameservers {
            changes.push(("dns_nameservers", json_text(v).into()));
        }
        if let Some(v) = &change.host_routes {
            changes.push(("host_routes", json_text(v).into()));
        }
        for (value, column) in [(change.name, "name"), (change.description, "description")] {
            if let Some(v) = value {
                changes.push((column, v.into()));
            }
        }
        self.store
            .networking()
            .update(Table::Subnets, id, &changes, now_micros())
            .await
            .map_err(|e| gone(e, || NetworkError::subnet_not_found(id)))?;
        self.subnet(caller, id).await
    }

    pub async fn delete_subnet(&self, caller: &Caller, id: &str) -> NetworkResult<()> {
        let current = self.subnet(caller, id).await?;
        caller.may_write("delete_subnet")?;
        if !caller.owns(&current.row.project_id) {
            return Err(NetworkError::policy("delete_subnet"));
        }
        match self
            .store
            .networking()
            .delete_subnet(id, &current.row.project_id)
            .await
        {
            Err(StoreError::Conflict) => Err(NetworkError::conflict(
                "SubnetInUse",
                format!(
                    "Unable to complete operation on subnet {id}: One or more ports have an IP \
                     allocation from this subnet."
                ),
            )),
            Err(e) => Err(gone(e, || NetworkError::subnet_not_found(id))),
            Ok(()) => Ok(()),
        }
    }
}

fn parse_cidr(text: &str) -> NetworkResult<IpNet> {
    let net: IpNet = text.parse().map_err(|_| {
        NetworkError::invalid_input("cidr", format!("'{text}' is not a valid IP subnet"))
    })?;
    if net.trunc() != net {
        return Err(NetworkError::invalid_input(
            "cidr",
            format!(
                "'{text}' isn't a recognized IP subnet cidr, '{}' is recommended",
                net.trunc()
            ),
        ));
    }
    Ok(net)
}

fn parse_ip(attribute: &str, text: &str) -> NetworkResult<IpAddr> {
    text.parse().map_err(|_| {
        NetworkError::invalid_input(attribute, format!("'{text}' is not a valid IP address"))
    })
}

/// Checks given pools: well-formed, inside the subnet, not overlapping.
fn check_pools(net: &IpNet, pools: &[AllocationPool]) -> NetworkResult<Vec<Range>> {
    let mut ranges: Vec<Range> = Vec::new();
    for pool in pools {
        let start = parse_ip("allocation_pools", &pool.start)?;
        let end = parse_ip("allocation_pools", &pool.end)?;
        let shown = format!("{{'start': '{}', 'end': '{}'}}", pool.start, pool.end);
        if !ipam::same_version(start, end) || ipam::to_u128(start) > ipam::to_u128(end) {
            return Err(NetworkError::invalid(
                "InvalidAllocationPool",
                format!("The allocation pool {shown} is not valid."),
            ));
        }
        if !net.contains(&start) || !net.contains(&end) {
            return Err(NetworkError::invalid(
                "OutOfBoundsAllocationPool",
                format!("The allocation pool {shown} spans beyond the subnet cidr {net}."),
            ));
        }
        let range = Range { start, end };
        if ranges.iter().any(|r| r.overlaps(&range)) {
            return Err(NetworkError::invalid(
                "OverlappingAllocationPools",
                format!("Found overlapping allocation pools: {shown} in subnet {net}."),
            ));
        }
        ranges.push(range);
    }
    Ok(ranges)
}

/// A gateway lies in the subnet and outside its pools.
fn check_gateway(net: &IpNet, gateway: Option<IpAddr>, pools: &[Range]) -> NetworkResult<()> {
    let Some(gw) = gateway else { return Ok(()) };
    if !net.contains(&gw) {
        return Err(NetworkError::invalid(
            "InvalidInput",
            format!("Invalid input for operation: Gateway is not valid on subnet {net}."),
        ));
    }
    if let Some(pool) = pools.iter().find(|p| p.contains(gw)) {
        return Err(NetworkError::conflict(
            "GatewayConflictWithAllocationPools",
            format!(
                "Gateway ip {gw} conflicts with allocation pool {}-{}.",
                pool.start, pool.end
            ),
        ));
    }
    Ok(())
}

fn pools_text(pools: &[Range]) -> String {
    let shown: Vec<AllocationPool> = pools
        .iter()
        .map(|p| AllocationPool {
            start: p.start.to_string(),
            end: p.end.to_string(),
        })
        .collect();
    json_text(&shown)
}

fn json_text<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "[]".to_owned())
}
