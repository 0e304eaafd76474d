//! The stored forms of networking resources.

use crate::db::{Columns, DecodeError, Record};

/// One network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkRow {
    pub id: String,
    pub project_id: String,
    pub name: String,
    pub description: String,
    pub admin_state_up: bool,
    pub shared: bool,
    /// `router:external`: floating addresses and router gateways come
    /// from it.
    pub external: bool,
    pub is_default: bool,
    pub mtu: i64,
    pub port_security_enabled: bool,
    pub dns_domain: String,
    pub revision_number: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Record for NetworkRow {
    fn decode(row: &impl Columns) -> Result<Self, DecodeError> {
        Ok(Self {
            id: row.column("id")?,
            project_id: row.column("project_id")?,
            name: row.column("name")?,
            description: row.column("description")?,
            admin_state_up: row.column("admin_state_up")?,
            shared: row.column("shared")?,
            external: row.column("external")?,
            is_default: row.column("is_default")?,
            mtu: row.column("mtu")?,
            port_security_enabled: row.column("port_security_enabled")?,
            dns_domain: row.column("dns_domain")?,
            revision_number: row.column("revision_number")?,
            created_at: row.column("created_at")?,
            updated_at: row.column("updated_at")?,
        })
    }
}

/// One subnet; list-valued attributes are JSON text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubnetRow {
    pub id: String,
    pub project_id: String,
    pub network_id: String,
    pub name: String,
    pub description: String,
    pub ip_version: i64,
    pub cidr: String,
    pub gateway_ip: Option<String>,
    pub enable_dhcp: bool,
    pub allocation_pools: String,
    pub dns_nameservers: String,
    pub host_routes: String,
    pub ipv6_address_mode: Option<String>,
    pub ipv6_ra_mode: Option<String>,
    pub revision_number: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Record for SubnetRow {
    fn decode(row: &impl Columns) -> Result<Self, DecodeError> {
        Ok(Self {
            id: row.column("id")?,
            project_id: row.column("project_id")?,
            network_id: row.column("network_id")?,
            name: row.column("name")?,
            description: row.column("description")?,
            ip_version: row.column("ip_version")?,
            cidr: row.column("cidr")?,
            gateway_ip: row.column("gateway_ip")?,
            enable_dhcp: row.column("enable_dhcp")?,
            allocation_pools: row.column("allocation_pools")?,
            dns_nameservers: row.column("dns_nameservers")?,
            host_routes: row.column("host_routes")?,
            ipv6_address_mode: row.column("ipv6_address_mode")?,
            ipv6_ra_mode: row.column("ipv6_ra_mode")?,
            revision_number: row.column("revision_number")?,
            created_at: row.column("created_at")?,
            updated_at: row.column("updated_at")?,
        })
    }
}

/// One port; its addresses are [`PortIpRow`]s and its groups rows of
/// `port_security_groups`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortRow {
    pub id: String,
    pub project_id: String,
    pub network_id: String,
    pub name: String,
    pub description: String,
    pub mac_address: String,
    pub admin_state_up: bool,
    pub status: String,
    pub device_id: String,
    pub device_owner: String,
    pub port_security_enabled: bool,
    pub allowed_address_pairs: String,
    pub binding_host_id: String,
    pub binding_vnic_type: String,
    pub binding_profile: String,
    pub dns_name: String,
    /// Unbound rather than deleted with the server it was given to.
    pub preserve_on_delete: bool,
    /// Nova's device tag of the server's NIC this port is.
    pub device_tag: Option<String>,
    pub revision_number: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Record for PortRow {
    fn decode(row: &impl Columns) -> Result<Self, DecodeError> {
        Ok(Self {
            id: row.column("id")?,
            project_id: row.column("project_id")?,
            network_id: row.column("network_id")?,
            name: row.column("name")?,
            description: row.column("description")?,
            mac_address: row.column("mac_address")?,
            admin_state_up: row.column("admin_state_up")?,
            status: row.column("status")?,
            device_id: row.column("device_id")?,
            device_owner: row.column("device_owner")?,
            port_security_enabled: row.column("port_security_enabled")?,
            allowed_address_pairs: row.column("allowed_address_pairs")?,
            binding_host_id: row.column("binding_host_id")?,
            binding_vnic_type: row.column("binding_vnic_type")?,
            binding_profile: row.column("binding_profile")?,
            dns_name: row.column("dns_name")?,
            preserve_on_delete: row.column("preserve_on_delete")?,
            device_tag: row.column("device_tag")?,
            revision_number: row.column("revision_number")?,
            created_at: row.column("created_at")?,
            updated_at: row.column("updated_at")?,
        })
    }
}

/// One fixed address of a port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortIpRow {
    pub port_id: String,
    pub subnet_id: String,
    pub ip_address: String,
}

impl Record for PortIpRow {
    fn decode(row: &impl Columns) -> Result<Self, DecodeError> {
        Ok(Self {
            port_id: row.column("port_id")?,
            subnet_id: row.column("subnet_id")?,
            ip_address: row.column("ip_address")?,
        })
    }
}

/// One security group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecurityGroupRow {
    pub id: String,
    pub project_id: String,
    pub name: String,
    pub description: String,
    pub stateful: bool,
    pub revision_number: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Record for SecurityGroupRow {
    fn decode(row: &impl Columns) -> Result<Self, DecodeError> {
        Ok(Self {
            id: row.column("id")?,
            project_id: row.column("project_id")?,
            name: row.column("name")?,
            description: row.column("description")?,
            stateful: row.column("stateful")?,
            revision_number: row.column("revision_number")?,
            created_at: row.column("created_at")?,
            updated_at: row.column("updated_at")?,
        })
    }
}

/// One rule of a security group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecurityGroupRuleRow {
    pub id: String,
    pub security_group_id: String,
    pub project_id: String,
    /// `ingress` or `egress`.
    pub direction: String,
    /// `IPv4` or `IPv6`.
    pub ethertype: String,
    pub protocol: Option<String>,
    pub port_range_min: Option<i64>,
    pub port_range_max: Option<i64>,
    pub remote_ip_prefix: Option<String>,
    pub remote_group_id: Option<String>,
    pub description: String,
    pub revision_number: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Record for SecurityGroupRuleRow {
    fn decode(row: &impl Columns) -> Result<Self, DecodeError> {
        Ok(Self {
            id: row.column("id")?,
            security_group_id: row.column("security_group_id")?,
            project_id: row.column("project_id")?,
            direction: row.column("direction")?,
            ethertype: row.column("ethertype")?,
            protocol: row.column("protocol")?,
            port_range_min: row.column("port_range_min")?,
            port_range_max: row.column("port_range_max")?,
            remote_ip_prefix: row.column("remote_ip_prefix")?,
            remote_group_id: row.column("remote_group_id")?,
            description: row.column("description")?,
            revision_number: row.column("revision_number")?,
            created_at: row.column("created_at")?,
            updated_at: row.column("updated_at")?,
        })
    }
}

/// One router; its gateway and interfaces are ports whose device is it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouterRow {
    pub id: String,
    pub project_id: String,
    pub name: String,
    pub description: String,
    pub admin_state_up: bool,
    pub status: String,
    /// Its port on the external network (`None`: no gateway).
    pub gateway_port_id: Option<String>,
    pub enable_snat: bool,
    pub revision_number: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Record for RouterRow {
    fn decode(row: &impl Columns) -> Result<Self, DecodeError> {
        Ok(Self {
            id: row.column("id")?,
            project_id: row.column("project_id")?,
            name: row.column("name")?,
            description: row.column("description")?,
            admin_state_up: row.column("admin_state_up")?,
            status: row.column("status")?,
            gateway_port_id: row.column("gateway_port_id")?,
            enable_snat: row.column("enable_snat")?,
            revision_number: row.column("revision_number")?,
            created_at: row.column("created_at")?,
            updated_at: row.column("updated_at")?,
        })
    }
}

/// One floating IP: an address of an external network (held by its own
/// port there), maybe associated with a fixed address of a port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FloatingIpRow {
    pub id: String,
    pub project_id: String,
    pub floating_network_id: String,
    pub floating_port_id: String,
    pub floating_ip_address: String,
    pub port_id: Option<String>,
    pub fixed_ip_address: Option<String>,
    pub router_id: Option<String>,
    pub description: String,
    pub revision_number: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Record for FloatingIpRow {
    fn decode(row: &impl Columns) -> Result<Self, DecodeError> {
        Ok(Self {
            id: row.column("id")?,
            project_id: row.column("project_id")?,
            floating_network_id: row.column("floating_network_id")?,
            floating_port_id: row.column("floating_port_id")?,
            floating_ip_address: row.column("floating_ip_address")?,
            port_id: row.column("port_id")?,
            fixed_ip_address: row.column("fixed_ip_address")?,
            router_id: row.column("router_id")?,
            description: row.column("description")?,
            revision_number: row.column("revision_number")?,
            created_at: row.column("created_at")?,
            updated_at: row.column("updated_at")?,
        })
    }
}
