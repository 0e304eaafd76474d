//! Neutron's JSON for each resource: every attribute Neutron shows with
//! ML2/OVS, admin-only ones (`provider:*`, `binding:host_id` and friends)
//! for admins alone, timestamps as `YYYY-MM-DDTHH:MM:SSZ`.

use oxstack_network::{FloatingIp, Network, Port, Router, Rule, SecurityGroup, Subnet};
use serde_json::{Map, Value, json};

use crate::image::isotime;

/// The attributes of a network view (its filters and sort keys).
pub const NETWORK_FIELDS: &[&str] = &[
    "admin_state_up",
    "availability_zone_hints",
    "availability_zones",
    "created_at",
    "description",
    "dns_domain",
    "id",
    "ipv4_address_scope",
    "ipv6_address_scope",
    "is_default",
    "l2_adjacency",
    "mtu",
    "name",
    "port_security_enabled",
    "project_id",
    "provider:network_type",
    "provider:physical_network",
    "provider:segmentation_id",
    "qos_policy_id",
    "revision_number",
    "router:external",
    "shared",
    "status",
    "subnets",
    "tags",
    "tenant_id",
    "updated_at",
];

/// Common attributes of every resource with standard attributes.
fn standard(
    v: &mut Map<String, Value>,
    id: &str,
    project_id: &str,
    revision: i64,
    created: i64,
    updated: i64,
) {
    v.insert("id".into(), json!(id));
    v.insert("project_id".into(), json!(project_id));
    v.insert("tenant_id".into(), json!(project_id));
    v.insert("revision_number".into(), json!(revision));
    v.insert("created_at".into(), json!(isotime(created)));
    v.insert("updated_at".into(), json!(isotime(updated)));
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

pub fn network(n: &Network, admin: bool) -> Value {
    let r = &n.row;
    let mut v = object(json!({
        "name": r.name,
        "description": r.description,
        "admin_state_up": r.admin_state_up,
        "status": if r.admin_state_up { "ACTIVE" } else { "DOWN" },
        "shared": r.shared,
        "router:external": r.external,
        "is_default": r.is_default,
        "mtu": r.mtu,
        "port_security_enabled": r.port_security_enabled,
        "dns_domain": r.dns_domain,
        "subnets": n.subnets,
        "availability_zone_hints": [],
        "availability_zones": ["nova"],
        "ipv4_address_scope": null,
        "ipv6_address_scope": null,
        "l2_adjacency": true,
        "qos_policy_id": null,
        "tags": n.tags,
    }));
    standard(
        &mut v,
        &r.id,
        &r.project_id,
        r.revision_number,
        r.created_at,
        r.updated_at,
    );
    if admin {
        // External networks are flat on the `public` physical network,
        // tenant networks VXLAN segments (an id derived from the network's).
        let (kind, physical, segment) = if r.external {
            ("flat", json!("public"), Value::Null)
        } else {
            let bytes = uuid::Uuid::parse_str(&r.id).map_or([0; 16], |u| *u.as_bytes());
            let vni = u32::from_be_bytes([0, bytes[0], bytes[1], bytes[2]]) % 16_000_000 + 1;
            ("vxlan", Value::Null, json!(vni))
        };
        v.insert("provider:network_type".into(), json!(kind));
        v.insert("provider:physical_network".into(), physical);
        v.insert("provider:segmentation_id".into(), segment);
    }
    Value::Object(v)
}

pub const SUBNET_FIELDS: &[&str] = &[
    "allocation_pools",
    "cidr",
    "created_at",
    "description",
    "dns_nameservers",
    "dns_publish_fixed_ip",
    "enable_dhcp",
    "gateway_ip",
    "host_routes",
    "id",
    "ip_version",
    "ipv6_address_mode",
    "ipv6_ra_mode",
    "name",
    "network_id",
    "project_id",
    "revision_number",
    "router:external",
    "segment_id",
    "service_types",
    "subnetpool_id",
    "tags",
    "tenant_id",
    "updated_at",
];

/// A subnet; `external` is whether its network is external.
pub fn subnet(s: &Subnet, external: bool) -> Value {
    let r = &s.row;
    let mut v = object(json!({
        "name": r.name,
        "description": r.description,
        "network_id": r.network_id,
        "ip_version": r.ip_version,
        "cidr": r.cidr,
        "gateway_ip": r.gateway_ip,
        "enable_dhcp": r.enable_dhcp,
        "allocation_pools": s.allocation_pools,
        "dns_nameservers": s.dns_nameservers,
        "host_routes": s.host_routes,
        "ipv6_address_mode": r.ipv6_address_mode,
        "ipv6_ra_mode": r.ipv6_ra_mode,
        "subnetpool_id": null,
        "segment_id": null,
        "service_types": [],
        "dns_publish_fixed_ip": false,
        "router:external": external,
        "tags": s.tags,
    }));
    standard(
        &mut v,
        &r.id,
        &r.project_id,
        r.revision_number,
        r.created_at,
        r.updated_at,
    );
    Value::Object(v)
}

pub const PORT_FIELDS: &[&str] = &[
    "admin_state_up",
    "allowed_address_pairs",
    "binding:host_id",
    "binding:profile",
    "binding:vif_details",
    "binding:vif_type",
    "binding:vnic_type",
    "created_at",
    "description",
    "device_id",
    "device_owner",
    "dns_assignment",
    "dns_domain",
    "dns_name",
    "extra_dhcp_opts",
    "fixed_ips",
    "id",
    "ip_allocation",
    "mac_address",
    "name",
    "network_id",
    "port_security_enabled",
    "project_id",
    "propagate_uplink_status",
    "qos_network_policy_id",
    "qos_policy_id",
    "resource_request",
    "revision_number",
    "security_groups",
    "status",
    "tags",
    "tenant_id",
    "updated_at",
];

pub fn port(p: &Port, admin: bool) -> Value {
    let r = &p.row;
    let fixed_ips: Vec<Value> = p
        .fixed_ips
        .iter()
        .map(|ip| json!({"subnet_id": ip.subnet_id, "ip_address": ip.ip_address}))
        .collect();
    let dns_assignment: Vec<Value> = p
        .fixed_ips
        .iter()
        .map(|ip| {
            let host = if r.dns_name.is_empty() {
                format!("host-{}", ip.ip_address.replace(['.', ':'], "-"))
            } else {
                r.dns_name.clone()
            };
            json!({"hostname": host, "ip_address": ip.ip_address, "fqdn": format!("{host}.openstacklocal.")})
        })
        .collect();
    let mut v = object(json!({
        "name": r.name,
        "description": r.description,
        "network_id": r.network_id,
        "admin_state_up": r.admin_state_up,
        "mac_address": r.mac_address,
        "fixed_ips": fixed_ips,
        "device_id": r.device_id,
        "device_owner": r.device_owner,
        "status": r.status,
        "security_groups": p.security_groups,
        "port_security_enabled": r.port_security_enabled,
        "allowed_address_pairs": p.allowed_address_pairs.iter().map(|a| json!({"ip_address": a.ip_address, "mac_address": if a.mac_address.is_empty() { &r.mac_address } else { &a.mac_address }})).collect::<Vec<_>>(),
        "extra_dhcp_opts": [],
        "binding:vnic_type": r.binding_vnic_type,
        "dns_name": r.dns_name,
        "dns_domain": "",
        "dns_assignment": dns_assignment,
        "ip_allocation": "immediate",
        "propagate_uplink_status": false,
        "qos_policy_id": null,
        "qos_network_policy_id": null,
        "resource_request": null,
        "tags": p.tags,
    }));
    standard(
        &mut v,
        &r.id,
        &r.project_id,
        r.revision_number,
        r.created_at,
        r.updated_at,
    );
    if admin {
        let bound = !r.binding_host_id.is_empty();
        v.insert("binding:host_id".into(), json!(r.binding_host_id));
        v.insert(
            "binding:profile".into(),
            serde_json::from_str(&r.binding_profile).unwrap_or_else(|_| json!({})),
        );
        v.insert(
            "binding:vif_type".into(),
            json!(if bound { "ovs" } else { "unbound" }),
        );
        v.insert(
            "binding:vif_details".into(),
            if bound {
                json!({"port_filter": true, "connectivity": "l2", "bridge_name": "br-int", "datapath_type": "system", "ovs_hybrid_plug": false})
            } else {
                json!({})
            },
        );
    }
    Value::Object(v)
}

pub const SECURITY_GROUP_FIELDS: &[&str] = &[
    "created_at",
    "description",
    "id",
    "name",
    "project_id",
    "revision_number",
    "security_group_rules",
    "shared",
    "stateful",
    "tags",
    "tenant_id",
    "updated_at",
];

pub fn security_group(g: &SecurityGroup) -> Value {
    let r = &g.row;
    let mut v = object(json!({
        "name": r.name,
        "description": r.description,
        "stateful": r.stateful,
        "shared": false,
        "security_group_rules": g.rules.iter().map(rule).collect::<Vec<_>>(),
        "tags": g.tags,
    }));
    standard(
        &mut v,
        &r.id,
        &r.project_id,
        r.revision_number,
        r.created_at,
        r.updated_at,
    );
    Value::Object(v)
}

pub const RULE_FIELDS: &[&str] = &[
    "belongs_to_default_sg",
    "created_at",
    "description",
    "direction",
    "ethertype",
    "id",
    "normalized_cidr",
    "port_range_max",
    "port_range_min",
    "project_id",
    "protocol",
    "remote_address_group_id",
    "remote_group_id",
    "remote_ip_prefix",
    "revision_number",
    "security_group_id",
    "tenant_id",
    "updated_at",
];

pub fn rule(rule: &Rule) -> Value {
    let r = &rule.row;
    let mut v = object(json!({
        "security_group_id": r.security_group_id,
        "direction": r.direction,
        "ethertype": r.ethertype,
        "protocol": r.protocol,
        "port_range_min": r.port_range_min,
        "port_range_max": r.port_range_max,
        "remote_ip_prefix": r.remote_ip_prefix,
        "normalized_cidr": r.remote_ip_prefix.as_deref().and_then(|p| p.parse::<ipnet::IpNet>().ok()).map(|n| n.trunc().to_string()),
        "remote_group_id": r.remote_group_id,
        "remote_address_group_id": null,
        "description": r.description,
        "belongs_to_default_sg": rule.belongs_to_default_sg,
    }));
    standard(
        &mut v,
        &r.id,
        &r.project_id,
        r.revision_number,
        r.created_at,
        r.updated_at,
    );
    Value::Object(v)
}

/// The attributes of a router view.
pub const ROUTER_FIELDS: &[&str] = &[
    "admin_state_up",
    "availability_zone_hints",
    "availability_zones",
    "created_at",
    "description",
    "external_gateway_info",
    "id",
    "name",
    "project_id",
    "revision_number",
    "status",
    "tags",
    "tenant_id",
    "updated_at",
];

pub fn router(r: &Router, admin: bool) -> Value {
    let row = &r.row;
    let gateway = r.gateway.as_ref().map(|g| {
        let ips: Vec<Value> = g
            .external_fixed_ips
            .iter()
            .map(|ip| json!({"subnet_id": ip.subnet_id, "ip_address": ip.ip_address}))
            .collect();
        json!({"network_id": g.network_id, "enable_snat": g.enable_snat,
               "external_fixed_ips": ips})
    });
    let mut v = object(json!({
        "name": row.name,
        "description": row.description,
        "admin_state_up": row.admin_state_up,
        "status": row.status,
        "external_gateway_info": gateway,
        "availability_zone_hints": [],
        "availability_zones": ["nova"],
        "tags": r.tags,
    }));
    if admin {
        v.insert("distributed".into(), json!(false));
        v.insert("ha".into(), json!(false));
    }
    standard(
        &mut v,
        &row.id,
        &row.project_id,
        row.revision_number,
        row.created_at,
        row.updated_at,
    );
    Value::Object(v)
}

/// The attributes of a floating IP view.
pub const FLOATING_IP_FIELDS: &[&str] = &[
    "created_at",
    "description",
    "fixed_ip_address",
    "floating_ip_address",
    "floating_network_id",
    "id",
    "port_id",
    "project_id",
    "revision_number",
    "router_id",
    "status",
    "tags",
    "tenant_id",
    "updated_at",
];

pub fn floating_ip(f: &FloatingIp) -> Value {
    let row = &f.row;
    let mut v = object(json!({
        "floating_ip_address": row.floating_ip_address,
        "floating_network_id": row.floating_network_id,
        "port_id": row.port_id,
        "fixed_ip_address": row.fixed_ip_address,
        "router_id": row.router_id,
        "status": f.status(),
        "description": row.description,
        "tags": f.tags,
    }));
    standard(
        &mut v,
        &row.id,
        &row.project_id,
        row.revision_number,
        row.created_at,
        row.updated_at,
    );
    Value::Object(v)
}
