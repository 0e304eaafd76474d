//! Networking in seeds and snapshots: networks with their subnets,
//! routers with their gateway and interfaces, security groups with their
//! rules — made through Neutron's API as the admin, owned by the project a
//! seed names — and servers' networks and groups given by name.

use std::collections::HashMap;

use http::{Method, StatusCode};
use serde_json::{Map, Value, json};

use super::internal::Api;
use super::seed::{Seeded, owner};

/// Neutron's API from the root.
const NEUTRON: &str = "/network/v2.0";

/// The name of every project's own group, which Neutron makes itself.
const DEFAULT_GROUP: &str = "default";

/// Fields of a network a snapshot keeps (beside its name and project).
const NETWORK_FIELDS: &[&str] = &[
    "description",
    "admin_state_up",
    "shared",
    "router:external",
    "mtu",
    "port_security_enabled",
];

/// Fields of a subnet a snapshot keeps.
const SUBNET_FIELDS: &[&str] = &[
    "name",
    "description",
    "cidr",
    "ip_version",
    "gateway_ip",
    "enable_dhcp",
    "allocation_pools",
    "dns_nameservers",
    "host_routes",
    "ipv6_address_mode",
    "ipv6_ra_mode",
];

/// Fields of a security group rule a snapshot keeps.
const RULE_FIELDS: &[&str] = &[
    "direction",
    "ethertype",
    "protocol",
    "port_range_min",
    "port_range_max",
    "remote_ip_prefix",
    "description",
];

/// `?key=value&…` with the values encoded.
fn query(pairs: &[(&str, &str)]) -> String {
    serde_urlencoded::to_string(pairs).unwrap_or_default()
}

/// Takes a string field out of a seed entry.
fn take_text(entry: &mut Map<String, Value>, key: &str) -> Option<String> {
    entry
        .remove(key)
        .and_then(|v| v.as_str().map(str::to_owned))
}

/// Takes a list field out of a seed entry.
fn take_list(entry: &mut Map<String, Value>, key: &str) -> Vec<Value> {
    match entry.remove(key) {
        Some(Value::Array(items)) => items,
        _ => Vec::new(),
    }
}

/// A seed entry's name and owner (the project's id), with the list
/// `children` taken out of it (a network's subnets, a group's rules).
async fn unpack(
    api: &Api,
    entry: &mut Map<String, Value>,
    kind: &str,
    children: &str,
) -> Result<(String, String, Vec<Value>), String> {
    let name = name_of(entry, kind)?.to_owned();
    let project = owner(api, take_text(entry, "project")).await?;
    Ok((name, project, take_list(entry, children)))
}

fn name_of<'a>(entry: &'a Map<String, Value>, kind: &str) -> Result<&'a str, String> {
    entry
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("A seeded {kind} needs a name: {}", json!(entry)))
}

/// Neutron's items of `kind` matching `filter`, as the admin sees them.
async fn listed(
    api: &Api,
    admin: &str,
    kind: &str,
    filter: &[(&str, &str)],
) -> Result<Vec<Value>, String> {
    let path = format!("{NEUTRON}/{kind}?{}", query(filter));
    let body = api.get(&path, admin, None).await?;
    let key = kind.replace('-', "_");
    Ok(body[key].as_array().cloned().unwrap_or_default())
}

/// The id of the one item of `kind` matching `filter`, if there is one.
async fn found(
    api: &Api,
    admin: &str,
    kind: &str,
    filter: &[(&str, &str)],
) -> Result<Option<String>, String> {
    let items = listed(api, admin, kind, filter).await?;
    Ok(items
        .first()
        .and_then(|i| i["id"].as_str())
        .map(str::to_owned))
}

/// Creates a Neutron resource: its id.
async fn create(api: &Api, admin: &str, kind: &str, body: Value) -> Result<String, String> {
    let singular = kind.trim_end_matches('s').replace('-', "_");
    let path = format!("{NEUTRON}/{kind}");
    let (status, created) = api
        .send(
            Method::POST,
            &path,
            admin,
            None,
            &json!({ singular.clone(): body }),
        )
        .await?;
    if status != StatusCode::CREATED {
        return Err(format!(
            "Seeding {singular} {body} failed ({status}): {created}"
        ));
    }
    Ok(created[singular]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned())
}

/// Makes the seed's networks, routers and security groups.
pub(super) async fn apply(
    api: &Api,
    admin: &str,
    seed: &super::seed::Seed,
    seeded: &mut Seeded,
) -> Result<(), String> {
    for network in &seed.networks {
        make_network(api, admin, network.clone(), seeded).await?;
    }
    for router in &seed.routers {
        seeded
            .routers
            .count(make_router(api, admin, router.clone()).await?);
    }
    for group in &seed.security_groups {
        make_group(api, admin, group.clone(), seeded).await?;
    }
    Ok(())
}

async fn make_network(
    api: &Api,
    admin: &str,
    mut network: Map<String, Value>,
    seeded: &mut Seeded,
) -> Result<(), String> {
    let (name, project, subnets) = unpack(api, &mut network, "network", "subnets").await?;
    let filter = [("name", name.as_str()), ("project_id", project.as_str())];
    let id = match found(api, admin, "networks", &filter).await? {
        Some(id) => {
            seeded.networks.count(false);
            id
        }
        None => {
            network.insert("project_id".into(), json!(project));
            seeded.networks.count(true);
            create(api, admin, "networks", Value::Object(network)).await?
        }
    };
    for subnet in subnets {
        let Value::Object(mut subnet) = subnet else {
            return Err(format!("A seeded subnet of {name} is an object: {subnet}"));
        };
        let subnet_name = name_of(&subnet, "subnet")?.to_owned();
        let filter = [("name", subnet_name.as_str()), ("network_id", id.as_str())];
        let exists = found(api, admin, "subnets", &filter).await?.is_some();
        if !exists {
            subnet.insert("network_id".into(), json!(id));
            subnet.insert("project_id".into(), json!(project));
            create(api, admin, "subnets", Value::Object(subnet)).await?;
        }
        seeded.subnets.count(!exists);
    }
    Ok(())
}

/// The id of the item of `kind` called `wanted` (or with that id) that
/// `project` may use: its own first, else a shared or external one.
async fn usable(
    api: &Api,
    admin: &str,
    kind: &str,
    wanted: &str,
    project: &str,
) -> Result<String, String> {
    let mut items = listed(api, admin, kind, &[("id", wanted)]).await?;
    if items.is_empty() {
        items = listed(api, admin, kind, &[("name", wanted)]).await?;
    }
    let own = items.iter().find(|i| i["project_id"] == project);
    let open = items
        .iter()
        .find(|i| i["shared"] == true || i["router:external"] == true);
    own.or(open)
        .or(items.first())
        .and_then(|i| i["id"].as_str())
        .map(str::to_owned)
        .ok_or_else(|| format!("No {} {wanted}.", kind.trim_end_matches('s')))
}

async fn make_router(
    api: &Api,
    admin: &str,
    mut router: Map<String, Value>,
) -> Result<bool, String> {
    let (name, project, interfaces) = unpack(api, &mut router, "router", "interfaces").await?;
    let external = take_text(&mut router, "external_network");
    let filter = [("name", name.as_str()), ("project_id", project.as_str())];
    if found(api, admin, "routers", &filter).await?.is_some() {
        return Ok(false);
    }
    if let Some(external) = external {
        let network = usable(api, admin, "networks", &external, &project).await?;
        router.insert(
            "external_gateway_info".into(),
            json!({ "network_id": network }),
        );
    }
    router.insert("project_id".into(), json!(project));
    let id = create(api, admin, "routers", Value::Object(router)).await?;
    for interface in interfaces {
        let subnet = interface
            .as_str()
            .ok_or_else(|| format!("A router's interface is a subnet's name: {interface}"))?;
        let subnet = usable(api, admin, "subnets", subnet, &project).await?;
        let path = format!("{NEUTRON}/routers/{id}/add_router_interface");
        let body = json!({ "subnet_id": subnet });
        let (status, answer) = api.send(Method::PUT, &path, admin, None, &body).await?;
        if !status.is_success() {
            return Err(format!(
                "Adding subnet {interface} to router {name} failed ({status}): {answer}"
            ));
        }
    }
    Ok(true)
}

/// The id of a project's own group (made now if it has none yet).
async fn default_group(api: &Api, project: &str) -> Result<String, String> {
    let networking = api.state().networking();
    let id = networking.default_group_id(project).await;
    id.map_err(|e| e.to_string())
}

async fn make_group(
    api: &Api,
    admin: &str,
    mut group: Map<String, Value>,
    seeded: &mut Seeded,
) -> Result<(), String> {
    let (name, project, rules) = unpack(api, &mut group, "security group", "rules").await?;
    let (id, created) = if name == DEFAULT_GROUP {
        (default_group(api, &project).await?, false)
    } else {
        let filter = [("name", name.as_str()), ("project_id", project.as_str())];
        match found(api, admin, "security-groups", &filter).await? {
            Some(id) => (id, false),
            None => {
                group.insert("project_id".into(), json!(project));
                let body = Value::Object(group);
                (create(api, admin, "security-groups", body).await?, true)
            }
        }
    };
    seeded.security_groups.count(created);
    for rule in rules {
        let Value::Object(mut rule) = rule else {
            return Err(format!(
                "A seeded rule of group {name} is an object: {rule}"
            ));
        };
        if let Some(remote) = take_text(&mut rule, "remote_group") {
            let filter = [("name", remote.as_str()), ("project_id", project.as_str())];
            let remote = match found(api, admin, "security-groups", &filter).await? {
                Some(id) => id,
                None if remote == DEFAULT_GROUP => default_group(api, &project).await?,
                None => return Err(format!("No security group {remote}.")),
            };
            rule.insert("remote_group_id".into(), json!(remote));
        }
        rule.insert("security_group_id".into(), json!(id));
        rule.insert("project_id".into(), json!(project));
        let path = format!("{NEUTRON}/security-group-rules");
        let body = json!({ "security_group_rule": rule });
        let (status, answer) = api.send(Method::POST, &path, admin, None, &body).await?;
        match status {
            StatusCode::CREATED => seeded.security_group_rules.count(true),
            // The same rule is there already.
            StatusCode::CONFLICT => seeded.security_group_rules.count(false),
            _ => {
                return Err(format!(
                    "Seeding a rule of group {name} failed ({status}): {answer}"
                ));
            }
        }
    }
    Ok(())
}

/// A seeded server's `networks` and `security_groups` as Nova takes them:
/// network names (or ids) become `{"uuid": …}`, group names `{"name": …}`.
pub(super) async fn server_fields(
    api: &Api,
    admin: &str,
    server: &mut Map<String, Value>,
    project: &str,
) -> Result<(), String> {
    if let Some(Value::Array(networks)) = server.get_mut("networks") {
        let project = api.project_id(project).await?;
        for network in networks.iter_mut() {
            if let Some(name) = network.as_str() {
                *network = json!({"uuid": usable(api, admin, "networks", name, &project).await?});
            }
        }
    }
    if let Some(Value::Array(groups)) = server.get_mut("security_groups") {
        for group in groups.iter_mut() {
            if let Some(name) = group.as_str() {
                *group = json!({ "name": name });
            }
        }
    }
    Ok(())
}

/// What a snapshot holds of networking.
#[derive(Default)]
pub(super) struct Taken {
    pub networks: Vec<Map<String, Value>>,
    pub routers: Vec<Map<String, Value>>,
    pub security_groups: Vec<Map<String, Value>>,
    /// Each server's networks by name, in its ports' order.
    pub server_networks: HashMap<String, Vec<String>>,
}

/// Keeps `fields` of `item` that are set (not null, empty text or an
/// empty list).
fn kept(item: &Value, fields: &[&str]) -> Map<String, Value> {
    fields
        .iter()
        .filter_map(|key| {
            let value = item.get(*key)?;
            let empty = value.is_null()
                || value.as_str().is_some_and(str::is_empty)
                || value.as_array().is_some_and(Vec::is_empty);
            (!empty).then(|| ((*key).to_owned(), value.clone()))
        })
        .collect()
}

/// Ids to names of a listing.
fn names(items: &[Value]) -> HashMap<&str, &str> {
    items
        .iter()
        .filter_map(|i| Some((i["id"].as_str()?, i["name"].as_str()?)))
        .collect()
}

/// Networking as a seed: what users made, not the cloud's own networks,
/// router and default rules. `project` names a project id.
pub(super) async fn take(
    api: &Api,
    admin: &str,
    project: impl Fn(&str) -> String,
) -> Result<Taken, String> {
    let networks = listed(api, admin, "networks", &[]).await?;
    let subnets = listed(api, admin, "subnets", &[]).await?;
    let ports = listed(api, admin, "ports", &[]).await?;
    let (network_names, subnet_names) = (names(&networks), names(&subnets));
    let mut taken = Taken::default();
    for network in networks.iter().filter(|n| !is_own(api, n)) {
        let mut entry = kept(network, &["name"]);
        entry.insert(
            "project".into(),
            json!(project(text(network, "project_id"))),
        );
        entry.extend(kept(network, NETWORK_FIELDS));
        let own: Vec<Value> = subnets
            .iter()
            .filter(|s| s["network_id"] == network["id"])
            .map(|s| Value::Object(kept(s, SUBNET_FIELDS)))
            .collect();
        if !own.is_empty() {
            entry.insert("subnets".into(), Value::Array(own));
        }
        taken.networks.push(entry);
    }
    for router in listed(api, admin, "routers", &[]).await? {
        if is_own(api, &router) {
            continue;
        }
        let mut entry = kept(&router, &["name", "description", "admin_state_up"]);
        entry.insert(
            "project".into(),
            json!(project(text(&router, "project_id"))),
        );
        let gateway = router["external_gateway_info"]["network_id"].as_str();
        if let Some(network) = gateway.and_then(|g| network_names.get(g)) {
            entry.insert("external_network".into(), json!(network));
        }
        let interfaces: Vec<&str> = ports
            .iter()
            .filter(|p| {
                p["device_id"] == router["id"] && p["device_owner"] != "network:router_gateway"
            })
            .flat_map(|p| p["fixed_ips"].as_array().into_iter().flatten())
            .filter_map(|ip| subnet_names.get(ip["subnet_id"].as_str()?).copied())
            .collect();
        if !interfaces.is_empty() {
            entry.insert("interfaces".into(), json!(interfaces));
        }
        taken.routers.push(entry);
    }
    let groups = listed(api, admin, "security-groups", &[]).await?;
    let group_names = names(&groups);
    for group in &groups {
        let rules: Vec<Value> = group["security_group_rules"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| !made_by_neutron(group, r))
            .map(|r| {
                let mut rule = kept(r, RULE_FIELDS);
                let remote = r["remote_group_id"].as_str();
                if let Some(remote) = remote.and_then(|g| group_names.get(g)) {
                    rule.insert("remote_group".into(), json!(remote));
                }
                Value::Object(rule)
            })
            .collect();
        let is_default = group["name"] == DEFAULT_GROUP;
        if is_default && rules.is_empty() {
            continue;
        }
        let mut entry = kept(group, &["name"]);
        entry.insert("project".into(), json!(project(text(group, "project_id"))));
        if !is_default {
            entry.extend(kept(group, &["description", "stateful"]));
        }
        if !rules.is_empty() {
            entry.insert("rules".into(), Value::Array(rules));
        }
        taken.security_groups.push(entry);
    }
    for port in ports.iter().filter(|p| {
        p["device_owner"]
            .as_str()
            .is_some_and(|o| o.starts_with("compute:"))
    }) {
        let network = network_names
            .get(text(port, "network_id"))
            .copied()
            .unwrap_or_else(|| text(port, "network_id"));
        taken
            .server_networks
            .entry(text(port, "device_id").to_owned())
            .or_default()
            .push(network.to_owned());
    }
    Ok(taken)
}

fn text<'a>(item: &'a Value, key: &str) -> &'a str {
    item[key].as_str().unwrap_or_default()
}

/// Whether the cloud made this network or router itself at its start.
fn is_own(api: &Api, item: &Value) -> bool {
    api.state().networking().is_own(text(item, "id"))
}

/// Whether Neutron put this rule in the group when it made it: every
/// group's egress to anywhere, and the default group's ingress from
/// itself.
fn made_by_neutron(group: &Value, rule: &Value) -> bool {
    let open = rule["protocol"].is_null()
        && rule["port_range_min"].is_null()
        && rule["remote_ip_prefix"].is_null();
    let egress = rule["direction"] == "egress" && rule["remote_group_id"].is_null();
    let from_itself = group["name"] == DEFAULT_GROUP
        && rule["direction"] == "ingress"
        && rule["remote_group_id"] == group["id"];
    open && (egress || from_itself)
}
