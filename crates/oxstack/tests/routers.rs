//! `/network/v2.0/routers` and `/floatingips`, black-box: DevStack's
//! `router1`, gateways and interfaces, floating IPs that reach a port only
//! through a router, Nova's view of them on servers; every refusal with
//! Neutron's type and message, and two projects that cannot see each
//! other's routers or addresses.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use common::{Neutron, Server, assert_neutron, cirros, json_of};
use serde_json::{Value, json};

const ADMIN: &str = "admin:admin";
const ALICE: &str = "alice:proj-a";
const BOB: &str = "bob:proj-b";

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

async fn public_id(n: &Neutron<'_>) -> String {
    id(&n.get_ok("/networks?name=public").await["networks"][0])
}

/// A network of Alice's with one IPv4 subnet.
async fn network_with_subnet(n: &Neutron<'_>, name: &str, cidr: &str) -> (Value, Value) {
    let network = n
        .create("/networks", "network", json!({"name": name}))
        .await;
    let subnet = n
        .create(
            "/subnets",
            "subnet",
            json!({"network_id": network["id"], "ip_version": 4, "cidr": cidr,
                   "name": format!("{name}-subnet")}),
        )
        .await;
    (network, subnet)
}

#[tokio::test]
async fn devstack_router1_joins_public_and_private() {
    let server = Server::start_noauth().await;
    let admin = server.neutron(ADMIN);
    let routers = admin.get_ok("/routers").await;
    let router = &routers["routers"][0];
    assert_eq!(router["name"], "router1");
    assert_eq!(router["status"], "ACTIVE");
    let public = public_id(&admin).await;
    let gateway = &router["external_gateway_info"];
    assert_eq!(gateway["network_id"], public.as_str());
    assert_eq!(gateway["enable_snat"], true);
    let gateway_ip = gateway["external_fixed_ips"][0]["ip_address"]
        .as_str()
        .unwrap();
    assert!(gateway_ip.starts_with("172.24.4."), "{gateway_ip}");
    // Its interfaces hold the private subnets' gateway addresses.
    let ports = admin
        .get_ok(&format!(
            "/ports?device_id={}&device_owner=network:router_interface",
            id(router)
        ))
        .await;
    let addresses: Vec<&str> = ports["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["fixed_ips"][0]["ip_address"].as_str().unwrap())
        .collect();
    assert_eq!(addresses, ["10.0.0.1", "fd00:0:0:1::1"]);
    // The demo project's router: another project does not see it.
    let alice = server.neutron(ALICE);
    assert_eq!(alice.get_ok("/routers").await["routers"], json!([]));
    assert_neutron(
        &alice.get(&format!("/routers/{}", id(router))).await,
        404,
        "RouterNotFound",
        &format!("Router {} could not be found", id(router)),
    );
}

#[tokio::test]
async fn routers_take_gateways_and_interfaces_as_neutron_does() {
    let server = Server::start_noauth().await;
    let alice = server.neutron(ALICE);
    let public = public_id(&alice).await;
    let (network, subnet) = network_with_subnet(&alice, "blue", "10.1.0.0/24").await;
    let router = alice
        .create(
            "/routers",
            "router",
            json!({"name": "r", "external_gateway_info": {"network_id": public}}),
        )
        .await;
    assert_eq!(router["project_id"], "proj-a");
    assert_eq!(
        router["external_gateway_info"]["network_id"],
        public.as_str()
    );
    let rid = id(&router);
    let added = alice
        .put(
            &format!("/routers/{rid}/add_router_interface"),
            json!({"subnet_id": subnet["id"]}),
        )
        .await;
    assert_eq!(added.0, 200, "{}", added.1);
    assert_eq!(added.1["id"], rid.as_str());
    assert_eq!(added.1["subnet_id"], subnet["id"]);
    assert_eq!(added.1["network_id"], network["id"]);
    let port_id = added.1["port_id"].as_str().unwrap().to_owned();
    let port = alice.get_ok(&format!("/ports/{port_id}")).await["port"].clone();
    assert_eq!(port["device_owner"], "network:router_interface");
    assert_eq!(port["device_id"], rid.as_str());
    assert_eq!(port["fixed_ips"][0]["ip_address"], "10.1.0.1");

    // Refusals, in Neutron's words.
    let add = |body: Value| {
        let alice = &alice;
        let path = format!("/routers/{rid}/add_router_interface");
        async move { alice.put(&path, body).await }
    };
    assert_neutron(
        &add(json!({"subnet_id": subnet["id"]})).await,
        400,
        "BadRequest",
        &format!(
            "Bad router request: Router already has a port on subnet {}.",
            id(&subnet)
        ),
    );
    let (_, overlapping) = network_with_subnet(&alice, "green", "10.1.0.0/25").await;
    assert_neutron(
        &add(json!({"subnet_id": overlapping["id"]})).await,
        400,
        "BadRequest",
        &format!(
            "Bad router request: Cidr 10.1.0.0/25 of subnet {} overlaps with cidr 10.1.0.0/24 \
             of subnet {}.",
            id(&overlapping),
            id(&subnet)
        ),
    );
    assert_neutron(
        &add(json!({})).await,
        400,
        "BadRequest",
        "Bad router request: Either subnet_id or port_id must be specified.",
    );
    assert_neutron(
        &add(json!({"subnet_id": subnet["id"], "port_id": port_id})).await,
        400,
        "BadRequest",
        "Bad router request: Cannot specify both subnet-id and port-id.",
    );
    let gatewayless = alice
        .create(
            "/subnets",
            "subnet",
            json!({"network_id": overlapping["network_id"], "ip_version": 4,
                   "cidr": "10.9.0.0/24", "gateway_ip": null}),
        )
        .await;
    assert_neutron(
        &add(json!({"subnet_id": gatewayless["id"]})).await,
        400,
        "BadRequest",
        "Bad router request: Subnet for router interface must have a gateway IP.",
    );
    assert_neutron(
        &alice.delete(&format!("/routers/{rid}")).await,
        409,
        "RouterInUse",
        &format!("Router {rid} has ports still attached: {port_id}"),
    );
    assert_neutron(
        &alice.delete(&format!("/ports/{port_id}")).await,
        409,
        "ServicePortInUse",
        &format!(
            "Port {port_id} cannot be deleted directly via the port API: has device owner \
             network:router_interface."
        ),
    );
    assert_neutron(
        &alice
            .put(
                &format!("/routers/{rid}"),
                json!({"router": {"external_gateway_info": {"network_id": network["id"]}}}),
            )
            .await,
        400,
        "BadRequest",
        &format!(
            "Bad router request: Network {} is not an external network.",
            id(&network)
        ),
    );
    assert_neutron(
        &alice
            .put(
                &format!("/routers/{rid}"),
                json!({"router": {"external_gateway_info": {"network_id": public, "enable_snat": false}}}),
            )
            .await,
        403,
        "PolicyNotAuthorized",
        "rule:update_router:external_gateway_info:enable_snat is disallowed by policy",
    );
    // Another project sees nothing of it.
    let bob = server.neutron(BOB);
    assert_neutron(
        &bob.put(
            &format!("/routers/{rid}/add_router_interface"),
            json!({"subnet_id": subnet["id"]}),
        )
        .await,
        404,
        "RouterNotFound",
        &format!("Router {rid} could not be found"),
    );

    // An interface by a port made beforehand; removal by port and subnet.
    let (red, _) = network_with_subnet(&alice, "red", "10.2.0.0/24").await;
    let own = alice
        .create("/ports", "port", json!({"network_id": red["id"]}))
        .await;
    let by_port = add(json!({"port_id": own["id"]})).await;
    assert_eq!(by_port.0, 200, "{}", by_port.1);
    let plugged = alice.get_ok(&format!("/ports/{}", id(&own))).await;
    assert_eq!(plugged["port"]["device_owner"], "network:router_interface");
    let remove = |body: Value| {
        let alice = &alice;
        let path = format!("/routers/{rid}/remove_router_interface");
        async move { alice.put(&path, body).await }
    };
    assert_eq!(remove(json!({"port_id": own["id"]})).await.0, 200);
    assert_eq!(alice.get(&format!("/ports/{}", id(&own))).await.0, 404);
    assert_eq!(remove(json!({"subnet_id": subnet["id"]})).await.0, 200);
    assert_neutron(
        &remove(json!({"subnet_id": subnet["id"]})).await,
        404,
        "RouterInterfaceNotFoundForSubnet",
        &format!("Router {rid} has no interface on subnet {}", id(&subnet)),
    );
    assert_neutron(
        &remove(json!({"port_id": port_id})).await,
        404,
        "RouterInterfaceNotFound",
        &format!("Router {rid} does not have an interface with id {port_id}"),
    );
    // The gateway goes with `external_gateway_info: null`, the router
    // with a delete; the router quota holds.
    let cleared = alice
        .put(
            &format!("/routers/{rid}"),
            json!({"router": {"external_gateway_info": {}}}),
        )
        .await;
    assert_eq!(cleared.0, 200, "{}", cleared.1);
    assert_eq!(cleared.1["router"]["external_gateway_info"], Value::Null);
    assert_eq!(alice.delete(&format!("/routers/{rid}")).await.0, 204);
    let admin = server.neutron(ADMIN);
    let limited = admin
        .put("/quotas/proj-a", json!({"quota": {"router": 1}}))
        .await;
    assert_eq!(limited.0, 200, "{}", limited.1);
    alice
        .create("/routers", "router", json!({"name": "one"}))
        .await;
    assert_neutron(
        &alice
            .post("/routers", json!({"router": {"name": "two"}}))
            .await,
        409,
        "OverQuota",
        "Quota exceeded for resources: ['router'].",
    );
}

#[tokio::test]
async fn floating_ips_reach_ports_through_routers() {
    let server = Server::start_noauth().await;
    let alice = server.neutron(ALICE);
    let public = public_id(&alice).await;
    let (network, subnet) = network_with_subnet(&alice, "blue", "10.1.0.0/24").await;
    let port = alice
        .create("/ports", "port", json!({"network_id": network["id"]}))
        .await;
    let fip = alice
        .create(
            "/floatingips",
            "floatingip",
            json!({"floating_network_id": public}),
        )
        .await;
    assert_eq!(fip["status"], "DOWN");
    assert_eq!(fip["port_id"], Value::Null);
    assert_eq!(fip["project_id"], "proj-a");
    let address = fip["floating_ip_address"].as_str().unwrap().to_owned();
    assert!(address.starts_with("172.24.4."), "{address}");
    let fid = id(&fip);
    // No router joins the port's subnet to `public` yet.
    let associate = |port: &Value| {
        let alice = &alice;
        let path = format!("/floatingips/{fid}");
        let body = json!({"floatingip": {"port_id": port["id"]}});
        async move { alice.put(&path, body).await }
    };
    assert_neutron(
        &associate(&port).await,
        404,
        "ExternalGatewayForFloatingIPNotFound",
        &format!(
            "External network {public} is not reachable from subnet {}.  Therefore, cannot \
             associate Port {} with a Floating IP.",
            id(&subnet),
            id(&port)
        ),
    );
    let router = alice
        .create(
            "/routers",
            "router",
            json!({"name": "r", "external_gateway_info": {"network_id": public}}),
        )
        .await;
    let rid = id(&router);
    let added = alice
        .put(
            &format!("/routers/{rid}/add_router_interface"),
            json!({"subnet_id": subnet["id"]}),
        )
        .await;
    assert_eq!(added.0, 200, "{}", added.1);
    let associated = associate(&port).await;
    assert_eq!(associated.0, 200, "{}", associated.1);
    let f = &associated.1["floatingip"];
    assert_eq!(f["status"], "ACTIVE");
    assert_eq!(f["port_id"], port["id"]);
    assert_eq!(f["router_id"], rid.as_str());
    assert_eq!(f["fixed_ip_address"], port["fixed_ips"][0]["ip_address"]);
    // The associated address stays on its port.
    let fixed = port["fixed_ips"][0]["ip_address"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_neutron(
        &alice
            .put(
                &format!("/ports/{}", id(&port)),
                json!({"port": {"fixed_ips": [{"subnet_id": subnet["id"], "ip_address": "10.1.0.77"}]}}),
            )
            .await,
        400,
        "BadRequest",
        &format!(
            "Bad port request: Cannot update the fixed_ips of the port {}, because its original \
             fixed_ip has been associated to a floating ip.",
            id(&port)
        ),
    );
    let kept = alice
        .put(
            &format!("/ports/{}", id(&port)),
            json!({"port": {"fixed_ips": [{"subnet_id": subnet["id"], "ip_address": fixed}],
                            "name": "still-mine"}}),
        )
        .await;
    assert_eq!(kept.0, 200, "{}", kept.1);
    let filtered = alice
        .get_ok(&format!("/floatingips?floating_ip_address={address}"))
        .await;
    assert_eq!(filtered["floatingips"].as_array().unwrap().len(), 1);

    // Refusals.
    let second = alice
        .create(
            "/floatingips",
            "floatingip",
            json!({"floating_network_id": public}),
        )
        .await;
    assert_neutron(
        &alice
            .put(
                &format!("/floatingips/{}", id(&second)),
                json!({"floatingip": {"port_id": port["id"]}}),
            )
            .await,
        409,
        "FloatingIPPortAlreadyAssociated",
        &format!(
            "Cannot associate floating IP {} ({}) with port {} using fixed IP {}, as that fixed \
             IP already has a floating IP on external network {public}.",
            second["floating_ip_address"].as_str().unwrap(),
            id(&second),
            id(&port),
            port["fixed_ips"][0]["ip_address"].as_str().unwrap()
        ),
    );
    assert_neutron(
        &alice
            .post(
                "/floatingips",
                json!({"floatingip": {"floating_network_id": network["id"]}}),
            )
            .await,
        400,
        "BadRequest",
        &format!(
            "Bad floatingip request: Network {} is not a valid external network.",
            id(&network)
        ),
    );
    assert_neutron(
        &alice
            .post(
                "/floatingips",
                json!({"floatingip": {"floating_network_id": public,
                                      "floating_ip_address": "172.24.4.200"}}),
            )
            .await,
        403,
        "PolicyNotAuthorized",
        "rule:create_floatingip:floating_ip_address is disallowed by policy",
    );
    assert_neutron(
        &alice
            .put(
                &format!("/floatingips/{}", id(&second)),
                json!({"floatingip": {"fixed_ip_address": "10.1.0.9"}}),
            )
            .await,
        400,
        "BadRequest",
        "Bad floatingip request: fixed_ip_address cannot be specified without a port_id.",
    );
    assert_neutron(
        &alice
            .put(
                &format!("/routers/{rid}/remove_router_interface"),
                json!({"subnet_id": subnet["id"]}),
            )
            .await,
        409,
        "RouterInterfaceInUseByFloatingIP",
        &format!(
            "Router interface for subnet {} on router {rid} cannot be deleted, as it is \
             required by one or more floating IPs.",
            id(&subnet)
        ),
    );
    assert_neutron(
        &alice
            .put(
                &format!("/routers/{rid}"),
                json!({"router": {"external_gateway_info": null}}),
            )
            .await,
        409,
        "RouterExternalGatewayInUseByFloatingIp",
        &format!(
            "Gateway cannot be updated for router {rid}, since a gateway to external network \
             {public} is required by one or more floating IPs."
        ),
    );
    let bob = server.neutron(BOB);
    assert_neutron(
        &bob.get(&format!("/floatingips/{fid}")).await,
        404,
        "FloatingIPNotFound",
        &format!("Floating IP {fid} could not be found"),
    );
    assert_eq!(bob.get_ok("/floatingips").await["floatingips"], json!([]));
    // The floating IP's own port on `public` is nobody's to see or delete.
    let admin = server.neutron(ADMIN);
    let own_port = admin.get_ok(&format!("/ports?device_id={fid}")).await["ports"][0].clone();
    assert_eq!(own_port["device_owner"], "network:floatingip");
    assert_eq!(own_port["project_id"], "");
    assert_eq!(alice.get(&format!("/ports/{}", id(&own_port))).await.0, 404);

    // Let go with `port_id: null`; a deleted port lets go too.
    let freed = alice
        .put(
            &format!("/floatingips/{fid}"),
            json!({"floatingip": {"port_id": null}}),
        )
        .await;
    assert_eq!(freed.0, 200, "{}", freed.1);
    assert_eq!(freed.1["floatingip"]["status"], "DOWN");
    assert_eq!(associate(&port).await.0, 200);
    assert_eq!(alice.delete(&format!("/ports/{}", id(&port))).await.0, 204);
    let after = alice.get_ok(&format!("/floatingips/{fid}")).await;
    assert_eq!(after["floatingip"]["port_id"], Value::Null);
    // Deleting it gives its address and its port back.
    assert_eq!(alice.delete(&format!("/floatingips/{fid}")).await.0, 204);
    assert_eq!(
        admin.get_ok(&format!("/ports?device_id={fid}")).await["ports"],
        json!([])
    );
    let limited = admin
        .put("/quotas/proj-a", json!({"quota": {"floatingip": 1}}))
        .await;
    assert_eq!(limited.0, 200, "{}", limited.1);
    assert_neutron(
        &alice
            .post(
                "/floatingips",
                json!({"floatingip": {"floating_network_id": public}}),
            )
            .await,
        409,
        "OverQuota",
        "Quota exceeded for resources: ['floatingip'].",
    );
}

#[tokio::test]
async fn a_servers_floating_ip_shows_in_its_addresses() {
    let server = Server::start_noauth().await;
    let image = cirros(&server).await;
    let compute = server.compute(ALICE, "latest");
    let body = json!({"server": {"name": "web", "imageRef": image, "flavorRef": "1",
                                 "networks": "auto"}});
    let created = json_of(compute.post("/servers", &body).await).await;
    let sid = created["server"]["id"].as_str().unwrap().to_owned();
    common::settled(&compute, &sid, "ACTIVE").await;
    let alice = server.neutron(ALICE);
    let public = public_id(&alice).await;
    let port = alice.get_ok(&format!("/ports?device_id={sid}")).await["ports"][0].clone();
    // `private` is joined to `public` by router1: the association works.
    let fip = alice
        .create(
            "/floatingips",
            "floatingip",
            json!({"floating_network_id": public, "port_id": port["id"]}),
        )
        .await;
    assert_eq!(fip["status"], "ACTIVE");
    let shown = compute.get_ok(&format!("/servers/{sid}")).await;
    let addresses = shown["server"]["addresses"]["private"].as_array().unwrap();
    let floating: Vec<&Value> = addresses
        .iter()
        .filter(|a| a["OS-EXT-IPS:type"] == "floating")
        .collect();
    assert_eq!(floating.len(), 1, "{addresses:?}");
    assert_eq!(floating[0]["addr"], fip["floating_ip_address"]);
    assert_eq!(floating[0]["OS-EXT-IPS-MAC:mac_addr"], port["mac_address"]);
    // Nova's proxy sees the same record.
    let nova = server.compute(ALICE, "2.35");
    let listed = nova.get_ok("/os-floating-ips").await;
    assert_eq!(listed["floating_ips"][0]["instance_id"], sid.as_str());
    assert_eq!(listed["floating_ips"][0]["pool"], "public");
    // The server's delete lets it go; the address stays the project's.
    assert_eq!(
        compute.delete(&format!("/servers/{sid}")).await.status(),
        204
    );
    common::wait_gone(&compute, &sid).await;
    let kept = alice.get_ok(&format!("/floatingips/{}", id(&fip))).await;
    assert_eq!(kept["floatingip"]["port_id"], Value::Null);
    assert_eq!(kept["floatingip"]["status"], "DOWN");
}
