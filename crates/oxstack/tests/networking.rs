//! `/network/v2.0`, black-box: version discovery and extensions, DevStack's
//! starting networks, networks, subnets, ports with their addresses,
//! security groups and rules, Neutron's listing semantics, tags and
//! quotas; every refusal with Neutron's type and message; two projects
//! that cannot see each other's resources; racing port creations that
//! never share an address.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::collections::HashSet;

use common::{Neutron, Server, assert_neutron};
use serde_json::{Value, json};

const ADMIN: &str = "admin:admin";
const ALICE: &str = "alice:proj-a";
const BOB: &str = "bob:proj-b";

fn names(list: &Value, key: &str) -> Vec<String> {
    list[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap().to_owned())
        .collect()
}

async fn network(n: &Neutron<'_>, name: &str) -> Value {
    n.create("/networks", "network", json!({"name": name}))
        .await
}

async fn subnet(n: &Neutron<'_>, network: &Value, cidr: &str) -> Value {
    n.create(
        "/subnets",
        "subnet",
        json!({"network_id": network["id"], "ip_version": 4, "cidr": cidr}),
    )
    .await
}

#[tokio::test]
async fn discovery_extensions_and_devstack_layout() {
    let server = Server::start_noauth().await;
    let response = reqwest::get(server.url("/network/")).await.unwrap();
    assert_eq!(response.status(), 200);
    let versions: Value = response.json().await.unwrap();
    assert_eq!(versions["versions"][0]["id"], "v2.0");
    assert_eq!(versions["versions"][0]["status"], "CURRENT");
    let alice = server.neutron(ALICE);
    let resources = alice.get_ok("/").await;
    let collections: Vec<&str> = resources["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["collection"].as_str().unwrap())
        .collect();
    assert_eq!(collections, ["subnets", "networks", "ports"]);
    let extensions = alice.get_ok("/extensions").await;
    let aliases: HashSet<&str> = extensions["extensions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["alias"].as_str().unwrap())
        .collect();
    for alias in [
        "security-group",
        "external-net",
        "port-security",
        "standard-attr-tag",
        "quotas",
        "binding",
    ] {
        assert!(aliases.contains(alias), "{alias}");
    }
    assert!(aliases.contains("router"));
    // Only what is served.
    assert!(!aliases.contains("dvr"));
    assert_eq!(
        alice.get_ok("/extensions/quotas").await["extension"]["alias"],
        "quotas"
    );
    assert_eq!(alice.get("/extensions/nope").await.0, 404);
    // The `.json` suffix Neutron accepts.
    assert_eq!(alice.get("/networks.json").await.0, 200);

    // DevStack's networks: external `public`, shared `private`.
    let networks = alice.get_ok("/networks").await;
    assert_eq!(names(&networks, "networks"), ["public", "private"]);
    let public = &networks["networks"][0];
    assert_eq!(public["router:external"], true);
    assert_eq!(public["shared"], false);
    // Provider attributes are an admin's.
    assert!(public.get("provider:network_type").is_none());
    let private = &networks["networks"][1];
    assert_eq!(private["shared"], true);
    assert_eq!(private["status"], "ACTIVE");
    assert_eq!(private["mtu"], 1450);
    // The id the built-in network always had.
    assert_eq!(
        private["id"],
        uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, b"oxstack-network:private").to_string()
    );
    // A project sees the shared network's subnets, not the external one's.
    let subnets = alice.get_ok("/subnets").await;
    assert_eq!(
        names(&subnets, "subnets"),
        ["private-subnet", "ipv6-private-subnet"]
    );
    let v4 = &subnets["subnets"][0];
    assert_eq!(v4["cidr"], "10.0.0.0/24");
    assert_eq!(v4["gateway_ip"], "10.0.0.1");
    assert_eq!(
        v4["allocation_pools"],
        json!([{"start": "10.0.0.2", "end": "10.0.0.254"}])
    );
    assert_eq!(subnets["subnets"][1]["ipv6_address_mode"], "slaac");
    let admin = server.neutron(ADMIN);
    let all = admin.get_ok("/subnets").await;
    assert!(names(&all, "subnets").contains(&"public-subnet".to_owned()));
    let public = admin
        .get_ok(&format!("/networks/{}", public["id"].as_str().unwrap()))
        .await;
    assert_eq!(public["network"]["provider:network_type"], "flat");
    assert_eq!(
        admin.get_ok("/subnets?name=public-subnet").await["subnets"][0]["router:external"],
        true
    );

    // No token: 401.
    let anonymous = reqwest::get(server.url("/network/v2.0/networks"))
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
}

#[tokio::test]
async fn networks_are_made_changed_and_refused_as_neutron_does() {
    let server = Server::start_noauth().await;
    let alice = server.neutron(ALICE);
    let bob = server.neutron(BOB);
    let made = alice
        .create(
            "/networks",
            "network",
            json!({"name": "net1", "description": "d", "mtu": 1400}),
        )
        .await;
    for key in [
        "id",
        "name",
        "description",
        "admin_state_up",
        "status",
        "shared",
        "router:external",
        "mtu",
        "port_security_enabled",
        "subnets",
        "tags",
        "project_id",
        "tenant_id",
        "revision_number",
        "created_at",
        "updated_at",
        "availability_zones",
    ] {
        assert!(made.get(key).is_some(), "{key}: {made}");
    }
    assert_eq!(made["project_id"], "proj-a");
    assert_eq!(made["mtu"], 1400);
    assert_eq!(made["revision_number"], 1);
    let id = made["id"].as_str().unwrap();
    let path = format!("/networks/{id}");

    let (status, updated) = alice
        .put(
            &path,
            json!({"network": {"name": "renamed", "admin_state_up": false}}),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["network"]["name"], "renamed");
    assert_eq!(updated["network"]["status"], "DOWN");
    assert_eq!(updated["network"]["revision_number"], 2);

    // Refusals.
    assert_neutron(
        &alice
            .post("/networks", json!({"network": {"shared": true}}))
            .await,
        403,
        "PolicyNotAuthorized",
        "rule:create_network:shared is disallowed by policy",
    );
    assert_neutron(
        &alice
            .put(&path, json!({"network": {"router:external": true}}))
            .await,
        403,
        "PolicyNotAuthorized",
        "rule:update_network:router:external is disallowed by policy",
    );
    assert_neutron(
        &alice
            .post("/networks", json!({"network": {"nmae": "x"}}))
            .await,
        400,
        "HTTPBadRequest",
        "Unrecognized attribute(s) 'nmae'",
    );
    assert_neutron(
        &alice
            .post("/networks", json!({"network": {"admin_state_up": "maybe"}}))
            .await,
        400,
        "InvalidInput",
        "Invalid input for operation: 'maybe' cannot be converted to boolean.",
    );
    assert_neutron(
        &alice
            .post("/networks", json!({"network": {"name": 5}}))
            .await,
        400,
        "HTTPBadRequest",
        "Invalid input for name. Reason: '5' is not a valid string.",
    );
    assert_neutron(
        &alice
            .post("/networks", json!({"network": {"name": "x".repeat(256)}}))
            .await,
        400,
        "HTTPBadRequest",
        &format!(
            "Invalid input for name. Reason: '{}' exceeds maximum length of 255.",
            "x".repeat(256)
        ),
    );
    assert_neutron(
        &alice.post("/networks", json!({"net": {}})).await,
        400,
        "HTTPBadRequest",
        "Unable to find 'network' in request body",
    );
    assert_neutron(
        &alice
            .post("/networks", json!({"network": {"project_id": "proj-b"}}))
            .await,
        403,
        "PolicyNotAuthorized",
        "rule:create_network is disallowed by policy",
    );
    let malformed = server
        .http
        .post(server.url("/network/v2.0/networks"))
        .header("X-Auth-Token", ALICE)
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);
    assert_eq!(
        malformed.json::<Value>().await.unwrap()["NeutronError"]["message"],
        "Malformed request body"
    );
    assert_neutron(
        &alice.put(&path, json!({"network": {"mtu": 10}})).await,
        400,
        "HTTPBadRequest",
        "Invalid input for mtu. Reason: '10' is too small - must be at least '68'.",
    );

    // Another project: not found, whatever it tries.
    let missing = format!("Network {id} could not be found.");
    assert_neutron(&bob.get(&path).await, 404, "NetworkNotFound", &missing);
    assert_neutron(
        &bob.put(&path, json!({"network": {"name": "mine"}})).await,
        404,
        "NetworkNotFound",
        &missing,
    );
    assert_neutron(&bob.delete(&path).await, 404, "NetworkNotFound", &missing);
    assert!(!names(&bob.get_ok("/networks").await, "networks").contains(&"renamed".to_owned()));
    // An admin sees it, and may share it; then bob sees it.
    let admin = server.neutron(ADMIN);
    let (status, _) = admin.put(&path, json!({"network": {"shared": true}})).await;
    assert_eq!(status, 200);
    assert_eq!(bob.get_ok(&path).await["network"]["shared"], true);
    // Bob may not change what he does not own.
    assert_neutron(
        &bob.put(&path, json!({"network": {"name": "mine"}})).await,
        403,
        "PolicyNotAuthorized",
        "rule:update_network is disallowed by policy",
    );

    // A port on it keeps it.
    let port = alice
        .create("/ports", "port", json!({"network_id": id}))
        .await;
    assert_neutron(
        &alice.delete(&path).await,
        409,
        "NetworkInUse",
        &format!(
            "Unable to complete operation on network {id}. There are one or more ports still in use on the network."
        ),
    );
    assert_eq!(
        alice
            .delete(&format!("/ports/{}", port["id"].as_str().unwrap()))
            .await
            .0,
        204
    );
    assert_eq!(alice.delete(&path).await.0, 204);
    assert_neutron(&alice.get(&path).await, 404, "NetworkNotFound", &missing);
}

#[tokio::test]
async fn subnets_check_cidrs_pools_and_gateways() {
    let server = Server::start_noauth().await;
    let alice = server.neutron(ALICE);
    let net = network(&alice, "n").await;
    let made = subnet(&alice, &net, "192.168.10.0/24").await;
    assert_eq!(made["gateway_ip"], "192.168.10.1");
    assert_eq!(made["enable_dhcp"], true);
    assert_eq!(made["ip_version"], 4);
    assert_eq!(
        made["allocation_pools"],
        json!([{"start": "192.168.10.2", "end": "192.168.10.254"}])
    );
    let shown = alice
        .get_ok(&format!("/networks/{}", net["id"].as_str().unwrap()))
        .await;
    assert_eq!(shown["network"]["subnets"], json!([made["id"]]));

    let post = |body: Value| alice.post("/subnets", json!({"subnet": body}));
    let nid = net["id"].clone();
    assert_neutron(
        &post(json!({"network_id": nid, "ip_version": 4, "cidr": "192.168.10.128/25"})).await,
        400,
        "InvalidInput",
        &format!(
            "Invalid input for operation: Requested subnet with cidr: 192.168.10.128/25 for network: {} overlaps with another subnet.",
            nid.as_str().unwrap()
        ),
    );
    assert_neutron(
        &post(json!({"network_id": nid, "ip_version": 4, "cidr": "10.9.0.5/24"})).await,
        400,
        "HTTPBadRequest",
        "Invalid input for cidr. Reason: '10.9.0.5/24' isn't a recognized IP subnet cidr, '10.9.0.0/24' is recommended.",
    );
    assert_neutron(
        &post(json!({"network_id": nid, "ip_version": 4})).await,
        400,
        "HTTPBadRequest",
        "Failed to parse request. Required attribute 'cidr' not specified",
    );
    assert_neutron(
        &post(
            json!({"network_id": nid, "ip_version": 4, "cidr": "10.9.0.0/24",
                     "gateway_ip": "10.9.0.5",
                     "allocation_pools": [{"start": "10.9.0.2", "end": "10.9.0.100"}]}),
        )
        .await,
        409,
        "GatewayConflictWithAllocationPools",
        "Gateway ip 10.9.0.5 conflicts with allocation pool 10.9.0.2-10.9.0.100.",
    );
    assert_neutron(
        &post(
            json!({"network_id": nid, "ip_version": 4, "cidr": "10.9.0.0/24",
                     "allocation_pools": [{"start": "10.9.0.2", "end": "10.9.1.9"}]}),
        )
        .await,
        400,
        "OutOfBoundsAllocationPool",
        "The allocation pool {'start': '10.9.0.2', 'end': '10.9.1.9'} spans beyond the subnet cidr 10.9.0.0/24.",
    );
    assert_neutron(
        &post(json!({"network_id": nid, "ip_version": 7, "cidr": "10.9.0.0/24"})).await,
        400,
        "HTTPBadRequest",
        "Invalid input for ip_version. Reason: 7 is not in [4, 6].",
    );
    // No gateway; explicit pools.
    let quiet = alice
        .create(
            "/subnets",
            "subnet",
            json!({"network_id": nid, "ip_version": 4, "cidr": "10.9.0.0/24", "gateway_ip": null,
                   "allocation_pools": [{"start": "10.9.0.10", "end": "10.9.0.20"}],
                   "dns_nameservers": ["8.8.8.8"]}),
        )
        .await;
    assert_eq!(quiet["gateway_ip"], Value::Null);
    assert_eq!(quiet["dns_nameservers"], json!(["8.8.8.8"]));
    // IPv6 SLAAC.
    let v6 = alice
        .create(
            "/subnets",
            "subnet",
            json!({"network_id": nid, "ip_version": 6, "cidr": "fd12::/64",
                   "ipv6_address_mode": "slaac", "ipv6_ra_mode": "slaac"}),
        )
        .await;
    assert_eq!(v6["gateway_ip"], "fd12::1");
    // Another project's network: not found; a shared one not owned: 403.
    let bob = server.neutron(BOB);
    assert_neutron(
        &bob.post(
            "/subnets",
            json!({"subnet": {"network_id": nid, "ip_version": 4, "cidr": "10.50.0.0/24"}}),
        )
        .await,
        404,
        "NetworkNotFound",
        &format!("Network {} could not be found.", nid.as_str().unwrap()),
    );
    let private = bob.get_ok("/networks?name=private").await["networks"][0]["id"].clone();
    assert_neutron(
        &bob.post(
            "/subnets",
            json!({"subnet": {"network_id": private, "ip_version": 4, "cidr": "10.50.0.0/24"}}),
        )
        .await,
        403,
        "PolicyNotAuthorized",
        "rule:create_subnet is disallowed by policy",
    );

    // Update, then a port holding an address keeps the subnet.
    let spath = format!("/subnets/{}", made["id"].as_str().unwrap());
    let (status, renamed) = alice
        .put(
            &spath,
            json!({"subnet": {"name": "s1", "dns_nameservers": ["1.1.1.1"]}}),
        )
        .await;
    assert_eq!(status, 200, "{renamed}");
    assert_eq!(renamed["subnet"]["dns_nameservers"], json!(["1.1.1.1"]));
    assert_neutron(
        &alice
            .put(&spath, json!({"subnet": {"cidr": "10.1.0.0/24"}}))
            .await,
        400,
        "HTTPBadRequest",
        "Cannot update read-only attribute cidr",
    );
    let port = alice
        .create(
            "/ports",
            "port",
            json!({"network_id": nid, "fixed_ips": [{"subnet_id": made["id"]}]}),
        )
        .await;
    assert_neutron(
        &alice.delete(&spath).await,
        409,
        "SubnetInUse",
        &format!(
            "Unable to complete operation on subnet {}: One or more ports have an IP allocation from this subnet.",
            made["id"].as_str().unwrap()
        ),
    );
    alice
        .delete(&format!("/ports/{}", port["id"].as_str().unwrap()))
        .await;
    assert_eq!(alice.delete(&spath).await.0, 204);
    assert_neutron(
        &alice.get(&spath).await,
        404,
        "SubnetNotFound",
        &format!(
            "Subnet {} could not be found.",
            made["id"].as_str().unwrap()
        ),
    );
}

#[tokio::test]
async fn ports_get_addresses_macs_and_groups() {
    let server = Server::start_noauth().await;
    let alice = server.neutron(ALICE);
    let own = network(&alice, "own").await;
    let pid = own["id"].clone();
    subnet(&alice, &own, "10.0.0.0/24").await;
    alice
        .create(
            "/subnets",
            "subnet",
            json!({"network_id": pid, "ip_version": 6, "cidr": "fd00:0:0:1::/64",
                   "ipv6_address_mode": "slaac", "ipv6_ra_mode": "slaac"}),
        )
        .await;
    // On a shared network it does not own, a project picks no address.
    let private = alice.get_ok("/networks?name=private").await["networks"][0]["id"].clone();
    assert_neutron(
        &alice
            .post(
                "/ports",
                json!({"port": {"network_id": private, "fixed_ips": [{"ip_address": "10.0.0.9"}]}}),
            )
            .await,
        403,
        "PolicyNotAuthorized",
        "rule:create_port:fixed_ips:ip_address is disallowed by policy",
    );
    let port = alice
        .create("/ports", "port", json!({"network_id": pid, "name": "p1"}))
        .await;
    let mac = port["mac_address"].as_str().unwrap();
    assert!(mac.starts_with("fa:16:3e:"), "{mac}");
    let ips = port["fixed_ips"].as_array().unwrap();
    assert_eq!(ips.len(), 2, "{port}");
    assert_eq!(ips[0]["ip_address"], "10.0.0.2");
    // The SLAAC address is the MAC's EUI-64.
    let v6 = ips[1]["ip_address"].as_str().unwrap();
    assert!(v6.starts_with("fd00::1:f816:3eff:fe"), "{v6}");
    assert_eq!(port["status"], "DOWN");
    assert_eq!(port["binding:vnic_type"], "normal");
    assert!(port.get("binding:host_id").is_none());
    // The project's default group, made on first use.
    let groups = port["security_groups"].as_array().unwrap();
    assert_eq!(groups.len(), 1);
    let default = alice
        .get_ok(&format!("/security-groups/{}", groups[0].as_str().unwrap()))
        .await;
    assert_eq!(default["security_group"]["name"], "default");

    // A chosen address; taken twice: 409; outside the subnet: 400.
    let v4_subnet = ips[0]["subnet_id"].clone();
    let chosen = alice
        .create(
            "/ports",
            "port",
            json!({"network_id": pid, "fixed_ips": [{"ip_address": "10.0.0.50"}], "mac_address": "fa:16:3e:00:00:01"}),
        )
        .await;
    assert_eq!(
        chosen["fixed_ips"],
        json!([{"subnet_id": v4_subnet, "ip_address": "10.0.0.50"}])
    );
    assert_neutron(
        &alice
            .post(
                "/ports",
                json!({"port": {"network_id": pid, "fixed_ips": [{"ip_address": "10.0.0.50"}]}}),
            )
            .await,
        409,
        "IpAddressAlreadyAllocated",
        &format!(
            "IP address 10.0.0.50 already allocated in subnet {}",
            v4_subnet.as_str().unwrap()
        ),
    );
    assert_neutron(
        &alice.post("/ports", json!({"port": {"network_id": pid, "fixed_ips": [{"subnet_id": v4_subnet, "ip_address": "10.1.0.5"}]}})).await,
        400,
        "InvalidIpForSubnet",
        "IP address 10.1.0.5 is not a valid IP for the specified subnet.",
    );
    assert_neutron(
        &alice
            .post(
                "/ports",
                json!({"port": {"network_id": pid, "fixed_ips": [{"ip_address": "172.16.0.1"}]}}),
            )
            .await,
        400,
        "InvalidIpForNetwork",
        "IP address 172.16.0.1 is not a valid IP for any of the subnets on the specified network.",
    );
    assert_neutron(
        &alice
            .post(
                "/ports",
                json!({"port": {"network_id": pid, "mac_address": "fa:16:3e:00:00:01"}}),
            )
            .await,
        409,
        "MacAddressInUse",
        &format!(
            "Unable to complete operation for network {}. The mac address fa:16:3e:00:00:01 is in use.",
            pid.as_str().unwrap()
        ),
    );
    assert_neutron(
        &alice.post("/ports", json!({"port": {"name": "x"}})).await,
        400,
        "HTTPBadRequest",
        "Failed to parse request. Required attribute 'network_id' not specified",
    );
    let unknown_group = "9f0e9a7c-0000-4000-8000-000000000000";
    assert_neutron(
        &alice
            .post(
                "/ports",
                json!({"port": {"network_id": pid, "security_groups": [unknown_group]}}),
            )
            .await,
        404,
        "SecurityGroupNotFound",
        &format!("Security group {unknown_group} does not exist"),
    );
    assert_neutron(
        &alice
            .post(
                "/ports",
                json!({"port": {"network_id": pid, "binding:host_id": "h"}}),
            )
            .await,
        403,
        "PolicyNotAuthorized",
        "rule:create_port:binding:host_id is disallowed by policy",
    );
    // No port security: no groups, and asking for both is refused.
    let open = alice
        .create(
            "/ports",
            "port",
            json!({"network_id": pid, "port_security_enabled": false}),
        )
        .await;
    assert_eq!(open["security_groups"], json!([]));
    assert_neutron(
        &alice.post("/ports", json!({"port": {"network_id": pid, "port_security_enabled": false, "security_groups": [groups[0]]}})).await,
        400,
        "PortSecurityAndIPRequiredForSecurityGroups",
        "Port security must be enabled and port must have an IP address in order to use security groups.",
    );

    // Filters: by address, device, name; fields.
    let by_ip = alice
        .get_ok("/ports?fixed_ips=ip_address%3D10.0.0.50")
        .await;
    assert_eq!(by_ip["ports"].as_array().unwrap().len(), 1);
    assert_eq!(by_ip["ports"][0]["id"], chosen["id"]);
    let path = format!("/ports/{}", port["id"].as_str().unwrap());
    let (status, plugged) = alice
        .put(
            &path,
            json!({"port": {"device_id": "vm-1", "device_owner": "compute:nova"}}),
        )
        .await;
    assert_eq!(status, 200, "{plugged}");
    assert_eq!(plugged["port"]["status"], "ACTIVE");
    let by_device = alice
        .get_ok("/ports?device_id=vm-1&fields=id&fields=status")
        .await;
    assert_eq!(
        by_device["ports"],
        json!([{"id": port["id"], "status": "ACTIVE"}])
    );
    // New addresses: the old ones go back to the pool.
    let (status, moved) = alice
        .put(
            &path,
            json!({"port": {"fixed_ips": [{"ip_address": "10.0.0.77"}]}}),
        )
        .await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!(moved["port"]["fixed_ips"][0]["ip_address"], "10.0.0.77");
    let reuse = alice
        .create(
            "/ports",
            "port",
            json!({"network_id": pid, "fixed_ips": [{"ip_address": "10.0.0.2"}]}),
        )
        .await;
    assert_eq!(reuse["fixed_ips"][0]["ip_address"], "10.0.0.2");

    // Bob sees none of alice's ports.
    let bob = server.neutron(BOB);
    assert_eq!(bob.get_ok("/ports").await["ports"], json!([]));
    assert_neutron(
        &bob.get(&path).await,
        404,
        "PortNotFound",
        &format!("Port {} could not be found.", port["id"].as_str().unwrap()),
    );
    // Admins see the binding.
    let admin = server.neutron(ADMIN);
    let seen = admin.get_ok(&path).await;
    assert_eq!(seen["port"]["binding:vif_type"], "unbound");
    let (status, bound) = admin
        .put(&path, json!({"port": {"binding:host_id": "compute-1"}}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(bound["port"]["binding:vif_type"], "ovs");
    assert_eq!(alice.delete(&path).await.0, 204);
    assert_eq!(alice.get(&path).await.0, 404);
}

#[tokio::test]
async fn a_full_subnet_says_so_and_racing_ports_never_share_an_address() {
    let server = Server::start_noauth().await;
    let alice = server.neutron(ALICE);
    let net = network(&alice, "small").await;
    // A /27: 29 addresses once the gateway is out.
    subnet(&alice, &net, "10.20.0.0/27").await;
    let creations =
        (0..40).map(|_| alice.post("/ports", json!({"port": {"network_id": net["id"]}})));
    let results = futures_util::future::join_all(creations).await;
    let mut addresses = HashSet::new();
    let mut refused = 0;
    for (status, body) in &results {
        match status {
            201 => {
                let ip = body["port"]["fixed_ips"][0]["ip_address"].as_str().unwrap();
                assert!(addresses.insert(ip.to_owned()), "{ip} handed out twice");
            }
            409 => {
                assert_eq!(
                    body["NeutronError"]["type"], "IpAddressGenerationFailure",
                    "{body}"
                );
                assert_eq!(
                    body["NeutronError"]["message"],
                    format!(
                        "No more IP addresses available on network {}.",
                        net["id"].as_str().unwrap()
                    )
                );
                refused += 1;
            }
            other => panic!("{other}: {body}"),
        }
    }
    assert_eq!(addresses.len(), 29);
    assert_eq!(refused, 11);
    // A refused port left nothing behind.
    let ports = alice
        .get_ok(&format!(
            "/ports?network_id={}",
            net["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(ports["ports"].as_array().unwrap().len(), 29);
}

#[tokio::test]
async fn security_groups_and_rules_follow_neutron() {
    let server = Server::start_noauth().await;
    let alice = server.neutron(ALICE);
    // The first listing makes the default group, with Neutron's rules.
    let groups = alice.get_ok("/security-groups").await;
    assert_eq!(names(&groups, "security_groups"), ["default"]);
    let default = &groups["security_groups"][0];
    assert_eq!(default["description"], "Default security group");
    let rules = default["security_group_rules"].as_array().unwrap();
    let mut shape: Vec<(String, String, bool)> = rules
        .iter()
        .map(|r| {
            (
                r["direction"].as_str().unwrap().to_owned(),
                r["ethertype"].as_str().unwrap().to_owned(),
                r["remote_group_id"] == default["id"],
            )
        })
        .collect();
    shape.sort();
    assert_eq!(
        shape,
        [
            ("egress".into(), "IPv4".into(), false),
            ("egress".into(), "IPv6".into(), false),
            ("ingress".into(), "IPv4".into(), true),
            ("ingress".into(), "IPv6".into(), true),
        ]
    );
    assert!(rules.iter().all(|r| r["belongs_to_default_sg"] == true));

    let web = alice
        .create(
            "/security-groups",
            "security_group",
            json!({"name": "web", "description": "w"}),
        )
        .await;
    assert_eq!(web["security_group_rules"].as_array().unwrap().len(), 2);
    assert_eq!(web["stateful"], true);
    let gid = web["id"].clone();
    let rule = alice
        .create(
            "/security-group-rules",
            "security_group_rule",
            json!({"security_group_id": gid, "direction": "ingress", "protocol": "tcp",
                   "port_range_min": 22, "port_range_max": 22, "remote_ip_prefix": "0.0.0.0/0"}),
        )
        .await;
    assert_eq!(rule["ethertype"], "IPv4");
    assert_eq!(rule["normalized_cidr"], "0.0.0.0/0");
    let post = |body: Value| {
        alice.post(
            "/security-group-rules",
            json!({"security_group_rule": body}),
        )
    };
    let revision = alice
        .get_ok(&format!("/security-groups/{}", gid.as_str().unwrap()))
        .await["security_group"]["revision_number"]
        .clone();
    assert_neutron(
        &post(
            json!({"security_group_id": gid, "direction": "ingress", "protocol": "tcp",
                     "port_range_min": 22, "port_range_max": 22, "remote_ip_prefix": "0.0.0.0/0"}),
        )
        .await,
        409,
        "SecurityGroupRuleExists",
        &format!(
            "Security group rule already exists. Rule id is {}.",
            rule["id"].as_str().unwrap()
        ),
    );
    // A refused duplicate changes nothing, the group's revision included.
    assert_eq!(
        alice
            .get_ok(&format!("/security-groups/{}", gid.as_str().unwrap()))
            .await["security_group"]["revision_number"],
        revision
    );
    // Neutron's sameness: a protocol by number is the named one, and a
    // prefix of everything is no prefix.
    for twin in [
        json!({"security_group_id": gid, "direction": "ingress", "protocol": "6",
               "port_range_min": 22, "port_range_max": 22, "remote_ip_prefix": "0.0.0.0/0"}),
        json!({"security_group_id": gid, "direction": "ingress", "protocol": "tcp",
               "port_range_min": 22, "port_range_max": 22}),
    ] {
        assert_eq!(post(twin.clone()).await.0, 409, "{twin}");
    }
    assert_neutron(
        &post(
            json!({"security_group_id": gid, "direction": "ingress", "protocol": "tcp",
                     "port_range_min": 90, "port_range_max": 80}),
        )
        .await,
        400,
        "SecurityGroupInvalidPortRange",
        "For TCP/UDP protocols, port_range_min must be <= port_range_max",
    );
    assert_neutron(
        &post(json!({"security_group_id": gid, "direction": "ingress", "port_range_min": 80}))
            .await,
        400,
        "SecurityGroupProtocolRequiredWithPorts",
        "Must also specify protocol if port range is given.",
    );
    assert_neutron(
        &post(
            json!({"security_group_id": gid, "direction": "ingress", "ethertype": "IPv6",
                     "remote_ip_prefix": "10.0.0.0/8"}),
        )
        .await,
        400,
        "SecurityGroupRuleParameterConflict",
        "Conflicting value ethertype IPv6 for CIDR 10.0.0.0/8",
    );
    assert_neutron(
        &post(json!({"security_group_id": gid, "direction": "sideways"})).await,
        400,
        "HTTPBadRequest",
        "Invalid input for direction. Reason: sideways is not in ['ingress', 'egress'].",
    );
    assert_neutron(
        &post(
            json!({"security_group_id": gid, "direction": "ingress", "protocol": "icmp",
                     "port_range_min": 300}),
        )
        .await,
        400,
        "SecurityGroupInvalidIcmpValue",
        "Invalid value for ICMP type (port_range_min) 300. It must be 0 to 255.",
    );
    // ICMP type and code.
    let icmp = alice
        .create(
            "/security-group-rules",
            "security_group_rule",
            json!({"security_group_id": gid, "direction": "ingress", "protocol": "icmp",
                   "port_range_min": 8, "port_range_max": 0}),
        )
        .await;
    assert_eq!(icmp["port_range_min"], 8);
    let listed = alice
        .get_ok(&format!(
            "/security-group-rules?security_group_id={}",
            gid.as_str().unwrap()
        ))
        .await;
    assert_eq!(listed["security_group_rules"].as_array().unwrap().len(), 4);

    // The default group: not renamed, not removed by its project.
    let did = default["id"].as_str().unwrap();
    assert_neutron(
        &alice
            .put(
                &format!("/security-groups/{did}"),
                json!({"security_group": {"name": "x"}}),
            )
            .await,
        409,
        "SecurityGroupCannotUpdateDefault",
        "Updating default security group not allowed.",
    );
    assert_neutron(
        &alice.delete(&format!("/security-groups/{did}")).await,
        409,
        "SecurityGroupCannotRemoveDefault",
        "Insufficient rights for removing default security group.",
    );
    assert_neutron(
        &alice
            .post(
                "/security-groups",
                json!({"security_group": {"name": "Default"}}),
            )
            .await,
        409,
        "SecurityGroupDefaultAlreadyExists",
        "Default security group already exists.",
    );
    // In use by a port: kept.
    let private = alice.get_ok("/networks?name=private").await["networks"][0]["id"].clone();
    let port = alice
        .create(
            "/ports",
            "port",
            json!({"network_id": private, "security_groups": [gid]}),
        )
        .await;
    let gpath = format!("/security-groups/{}", gid.as_str().unwrap());
    assert_neutron(
        &alice.delete(&gpath).await,
        409,
        "SecurityGroupInUse",
        &format!("Security Group {} in use.", gid.as_str().unwrap()),
    );
    // Another project sees none of it.
    let bob = server.neutron(BOB);
    assert_neutron(
        &bob.get(&gpath).await,
        404,
        "SecurityGroupNotFound",
        &format!("Security group {} does not exist", gid.as_str().unwrap()),
    );
    assert_eq!(
        names(&bob.get_ok("/security-groups").await, "security_groups"),
        ["default"]
    );
    assert_eq!(
        bob.get(&format!(
            "/security-group-rules/{}",
            rule["id"].as_str().unwrap()
        ))
        .await
        .0,
        404
    );
    // Freed, the group goes with its rules.
    let (status, _) = alice
        .put(
            &format!("/ports/{}", port["id"].as_str().unwrap()),
            json!({"port": {"security_groups": []}}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        alice
            .delete(&format!(
                "/security-group-rules/{}",
                rule["id"].as_str().unwrap()
            ))
            .await
            .0,
        204
    );
    assert_eq!(alice.delete(&gpath).await.0, 204);
    assert_eq!(
        alice
            .get(&format!(
                "/security-group-rules/{}",
                icmp["id"].as_str().unwrap()
            ))
            .await
            .0,
        404
    );
}

#[tokio::test]
async fn listings_filter_sort_page_and_tag() {
    let server = Server::start_noauth().await;
    let alice = server.neutron(ALICE);
    for name in ["c", "a", "b"] {
        network(&alice, name).await;
    }
    let sorted = alice
        .get_ok("/networks?sort_key=name&sort_dir=desc&shared=false&router:external=0")
        .await;
    assert_eq!(names(&sorted, "networks"), ["c", "b", "a"]);
    let page = alice
        .get_ok("/networks?sort_key=name&limit=2&router:external=False")
        .await;
    assert_eq!(names(&page, "networks"), ["a", "b"]);
    let next = page["networks_links"][0]["href"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(next.contains("marker="), "{next}");
    let rest = server
        .http
        .get(&next)
        .header("X-Auth-Token", ALICE)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(names(&rest, "networks"), ["c", "private"]);
    let two = alice.get_ok("/networks?name=a&name=c&fields=name").await;
    assert_eq!(two["networks"], json!([{"name": "c"}, {"name": "a"}]));
    assert_neutron(
        &alice.get("/networks?colour=red").await,
        400,
        "HTTPBadRequest",
        "['colour'] is invalid attribute for filtering",
    );
    assert_neutron(
        &alice.get("/networks?sort_key=colour").await,
        400,
        "HTTPBadRequest",
        "['colour'] is invalid attribute for sort_keys",
    );

    // Tags.
    let a = alice.get_ok("/networks?name=a").await["networks"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, tags) = alice
        .put(
            &format!("/networks/{a}/tags"),
            json!({"tags": ["red", "blue"]}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(tags["tags"], json!(["blue", "red"]));
    assert_eq!(
        alice
            .call(
                reqwest::Method::PUT,
                &format!("/networks/{a}/tags/green"),
                None
            )
            .await
            .0,
        201
    );
    assert_eq!(alice.get(&format!("/networks/{a}/tags/green")).await.0, 204);
    assert_eq!(
        alice.delete(&format!("/networks/{a}/tags/red")).await.0,
        204
    );
    assert_eq!(alice.get(&format!("/networks/{a}/tags/red")).await.0, 404);
    assert_eq!(
        names(&alice.get_ok("/networks?tags=blue,green").await, "networks"),
        ["a"]
    );
    assert_eq!(
        names(
            &alice.get_ok("/networks?tags-any=green&name=b").await,
            "networks"
        ),
        Vec::<String>::new()
    );
    assert!(
        !names(&alice.get_ok("/networks?not-tags=blue").await, "networks")
            .contains(&"a".to_owned())
    );
    assert_eq!(
        alice.get_ok(&format!("/networks/{a}")).await["network"]["tags"],
        json!(["blue", "green"])
    );
    let bob = server.neutron(BOB);
    assert_eq!(
        bob.put(&format!("/networks/{a}/tags"), json!({"tags": []}))
            .await
            .0,
        404
    );
    assert_eq!(alice.delete(&format!("/networks/{a}/tags")).await.0, 204);
    assert_eq!(
        alice.get_ok(&format!("/networks/{a}/tags")).await["tags"],
        json!([])
    );
}

#[tokio::test]
async fn port_pages_read_by_the_store_match_the_whole_listing() {
    // `limit` alone (with `marker`, `fields`, one `network_id`) is paged
    // by the store; anything else by the listing. Both give the same
    // pages and links, as Neutron does.
    let server = Server::start_noauth().await;
    let alice = server.neutron(ALICE);
    let net = network(&alice, "paged").await;
    subnet(&alice, &net, "192.168.50.0/24").await;
    let net_id = net["id"].as_str().unwrap();
    for i in 0..5 {
        alice
            .create(
                "/ports",
                "port",
                json!({"name": format!("p{i}"), "network_id": net_id}),
            )
            .await;
    }
    let page_of = |body: &Value| -> Vec<String> {
        body["ports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let ids = page_of(
        &alice
            .get_ok(&format!("/ports?network_id={net_id}&fields=id"))
            .await,
    );
    assert_eq!(ids.len(), 5);
    let rels = |body: &Value| -> Vec<String> {
        body["ports_links"]
            .as_array()
            .map(|l| {
                l.iter()
                    .map(|l| l["rel"].as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    // First paged by the store; then, with a filter only the listing
    // applies (`admin_state_up`), by the listing.
    for extra in ["", "&admin_state_up=true"] {
        let first = alice
            .get_ok(&format!("/ports?network_id={net_id}&limit=2{extra}"))
            .await;
        assert_eq!(page_of(&first), ids[..2], "{extra}");
        assert_eq!(rels(&first), ["next"], "{extra}");
        let middle = alice
            .get_ok(&format!(
                "/ports?network_id={net_id}&limit=2&marker={}{extra}",
                ids[1]
            ))
            .await;
        assert_eq!(page_of(&middle), ids[2..4], "{extra}");
        assert_eq!(rels(&middle), ["next", "previous"], "{extra}");
        let last = alice
            .get_ok(&format!(
                "/ports?network_id={net_id}&limit=2&marker={}{extra}",
                ids[3]
            ))
            .await;
        assert_eq!(page_of(&last), ids[4..], "{extra}");
        assert_eq!(rels(&last), ["previous"], "{extra}");
        let unknown = alice
            .get_ok(&format!(
                "/ports?network_id={net_id}&limit=2&marker=nope{extra}"
            ))
            .await;
        assert_eq!(unknown["ports"], json!([]), "{extra}");
    }
    // Another project sees none of them, paged or not.
    let bob = server.neutron(BOB);
    let theirs = bob
        .get_ok(&format!("/ports?network_id={net_id}&limit=2"))
        .await;
    assert_eq!(theirs["ports"], json!([]));
}

#[tokio::test]
async fn quotas_limit_each_project() {
    let server = Server::start_noauth().await;
    let alice = server.neutron(ALICE);
    let admin = server.neutron(ADMIN);
    let defaults = alice.get_ok("/quotas/proj-a").await;
    assert_eq!(defaults["quota"]["network"], 100);
    assert_eq!(defaults["quota"]["port"], 500);
    assert_neutron(
        &alice
            .put("/quotas/proj-a", json!({"quota": {"network": 1}}))
            .await,
        403,
        "PolicyNotAuthorized",
        "rule:update_quota is disallowed by policy",
    );
    assert_eq!(alice.get("/quotas/proj-b").await.0, 403);
    let (status, set) = admin
        .put("/quotas/proj-a", json!({"quota": {"network": 1}}))
        .await;
    assert_eq!(status, 200, "{set}");
    assert_eq!(set["quota"]["network"], 1);
    network(&alice, "only").await;
    assert_neutron(
        &alice
            .post("/networks", json!({"network": {"name": "more"}}))
            .await,
        409,
        "OverQuota",
        "Quota exceeded for resources: ['network'].",
    );
    let details = alice.get_ok("/quotas/proj-a/details.json").await;
    assert_eq!(
        details["quota"]["network"],
        json!({"used": 1, "limit": 1, "reserved": 0})
    );
    let listed = admin.get_ok("/quotas").await;
    assert_eq!(listed["quotas"][0]["project_id"], "proj-a");
    assert_eq!(admin.delete("/quotas/proj-a").await.0, 204);
    network(&alice, "more").await;
    assert_eq!(
        admin.get_ok("/quotas/proj-a/default").await["quota"]["security_group"],
        10
    );
}
