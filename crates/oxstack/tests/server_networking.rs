//! Servers and networking share one model, black-box: a server's
//! addresses are its ports, seen through both APIs; Nova's ways of asking
//! for networks (`auto`, a network, an address, a port made beforehand),
//! security groups by name or id, the multinic and security group actions,
//! and what deleting a server does to its ports.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use common::{Compute, Neutron, Server, assert_fault, cirros, json_of, settled};
use serde_json::{Value, json};

const ALICE: &str = "alice:proj-a";
const BOB: &str = "bob:proj-b";

async fn boot(c: &Compute<'_>, image: &str, extra: Value) -> String {
    let mut body = json!({"name": "vm", "imageRef": image, "flavorRef": "1"});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let response = c.post("/servers", &json!({ "server": body })).await;
    let status = response.status();
    let created = json_of(response).await;
    assert_eq!(status, 202, "{created}");
    created["server"]["id"].as_str().unwrap().to_owned()
}

async fn ports_of(n: &Neutron<'_>, server: &str) -> Vec<Value> {
    n.get_ok(&format!("/ports?device_id={server}")).await["ports"]
        .as_array()
        .unwrap()
        .clone()
}

async fn own_network(n: &Neutron<'_>, name: &str, cidr: &str) -> String {
    let net = n
        .create("/networks", "network", json!({"name": name}))
        .await;
    n.create(
        "/subnets",
        "subnet",
        json!({"network_id": net["id"], "ip_version": 4, "cidr": cidr}),
    )
    .await;
    net["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_servers_addresses_are_its_ports() {
    let server = Server::start_noauth().await;
    let image = cirros(&server).await;
    let c = server.compute(ALICE, "2.90");
    let n = server.neutron(ALICE);
    let id = boot(&c, &image, json!({"networks": "auto"})).await;
    let shown = settled(&c, &id, "ACTIVE").await;
    let ports = ports_of(&n, &id).await;
    assert_eq!(ports.len(), 1, "{ports:?}");
    let port = &ports[0];
    assert_eq!(port["device_owner"], "compute:nova");
    assert_eq!(port["status"], "ACTIVE");
    assert_eq!(port["project_id"], "proj-a");
    let private = &shown["addresses"]["private"];
    let fixed: Vec<&str> = port["fixed_ips"]
        .as_array()
        .unwrap()
        .iter()
        .map(|ip| ip["ip_address"].as_str().unwrap())
        .collect();
    let shown_addresses: Vec<&str> = private
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["addr"].as_str().unwrap())
        .collect();
    assert_eq!(shown_addresses, fixed);
    assert_eq!(private[0]["OS-EXT-IPS-MAC:mac_addr"], port["mac_address"]);
    // The project's default group, on the port and the server.
    let group = n
        .get_ok(&format!(
            "/security-groups/{}",
            port["security_groups"][0].as_str().unwrap()
        ))
        .await;
    assert_eq!(group["security_group"]["name"], "default");
    assert_eq!(shown["security_groups"], json!([{"name": "default"}]));
    // An admin sees where it is bound.
    let admin = server.neutron("admin:admin");
    let bound = admin
        .get_ok(&format!("/ports/{}", port["id"].as_str().unwrap()))
        .await;
    assert!(
        !bound["port"]["binding:host_id"]
            .as_str()
            .unwrap()
            .is_empty()
    );

    // Deleting the server deletes its port and frees its address.
    assert_eq!(c.delete(&format!("/servers/{id}")).await.status(), 204);
    for _ in 0..100 {
        if ports_of(&n, &id).await.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(ports_of(&n, &id).await.is_empty());
    let usage = n.get_ok("/quotas/proj-a/details").await;
    assert_eq!(usage["quota"]["port"]["used"], 0);
}

#[tokio::test]
async fn nova_picks_networks_addresses_and_ports_as_asked() {
    let server = Server::start_noauth().await;
    let image = cirros(&server).await;
    let c = server.compute(ALICE, "2.90");
    let n = server.neutron(ALICE);
    let own = own_network(&n, "mine", "192.168.7.0/24").await;

    // Two networks now: `auto` is ambiguous.
    let ambiguous = c
        .post("/servers", &json!({"server": {"name": "x", "imageRef": image, "flavorRef": "1", "networks": "auto"}}))
        .await;
    assert_fault(
        ambiguous,
        409,
        "Multiple possible networks found, use a Network ID to be more specific.",
    )
    .await;
    // A network by id, with an address on it.
    let id = boot(
        &c,
        &image,
        json!({"networks": [{"uuid": own, "fixed_ip": "192.168.7.50"}]}),
    )
    .await;
    let shown = settled(&c, &id, "ACTIVE").await;
    assert_eq!(
        shown["addresses"]["mine"][0]["addr"], "192.168.7.50",
        "{}",
        shown["addresses"]
    );
    assert_fault(
        c.post("/servers", &json!({"server": {"name": "x", "imageRef": image, "flavorRef": "1",
                                              "networks": [{"uuid": own, "fixed_ip": "192.168.7.50"}]}}))
            .await,
        400,
        &format!("Fixed IP address 192.168.7.50 is already in use on instance {id}."),
    )
    .await;
    assert_fault(
        c.post("/servers", &json!({"server": {"name": "x", "imageRef": image, "flavorRef": "1",
                                              "networks": [{"uuid": own, "fixed_ip": "10.9.9.9"}]}}))
            .await,
        400,
        "Fixed IP address 10.9.9.9 is invalid.",
    )
    .await;
    // Another project's network does not exist for this one.
    let bobs = own_network(&server.neutron(BOB), "bobs", "192.168.8.0/24").await;
    assert_fault(
        c.post(
            "/servers",
            &json!({"server": {"name": "x", "imageRef": image, "flavorRef": "1",
                                              "networks": [{"uuid": bobs}]}}),
        )
        .await,
        400,
        &format!("Network {bobs} could not be found."),
    )
    .await;

    // A port made beforehand: bound, then kept (unbound) when the server goes.
    let port = n
        .create("/ports", "port", json!({"network_id": own, "name": "mine"}))
        .await;
    let pid = port["id"].as_str().unwrap().to_owned();
    let with_port = boot(&c, &image, json!({"networks": [{"port": pid}]})).await;
    settled(&c, &with_port, "ACTIVE").await;
    let bound = n.get_ok(&format!("/ports/{pid}")).await["port"].clone();
    assert_eq!(bound["device_id"], with_port.as_str());
    assert_eq!(bound["device_owner"], "compute:nova");
    assert_fault(
        c.post(
            "/servers",
            &json!({"server": {"name": "x", "imageRef": image, "flavorRef": "1",
                                              "networks": [{"port": pid}]}}),
        )
        .await,
        409,
        &format!("Port {pid} is still in use."),
    )
    .await;
    assert_fault(
        c.post("/servers", &json!({"server": {"name": "x", "imageRef": image, "flavorRef": "1",
                                              "networks": [{"port": "6d2e1c55-0000-4000-8000-000000000000"}]}}))
            .await,
        400,
        "Port id 6d2e1c55-0000-4000-8000-000000000000 could not be found.",
    )
    .await;
    assert_eq!(
        c.delete(&format!("/servers/{with_port}")).await.status(),
        204
    );
    let mut kept = Value::Null;
    for _ in 0..100 {
        kept = n.get_ok(&format!("/ports/{pid}")).await["port"].clone();
        if kept["device_id"] == "" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(kept["device_id"], "");
    assert_eq!(kept["status"], "DOWN");
    assert_eq!(kept["fixed_ips"], port["fixed_ips"]);
}

#[tokio::test]
async fn security_groups_by_name_or_id_and_the_actions_on_them() {
    let server = Server::start_noauth().await;
    let image = cirros(&server).await;
    let c = server.compute(ALICE, "2.90");
    let n = server.neutron(ALICE);
    let web = n
        .create("/security-groups", "security_group", json!({"name": "web"}))
        .await;
    let web_id = web["id"].as_str().unwrap().to_owned();
    // The `openstack` CLI sends a group's id where Nova takes a name.
    let id = boot(
        &c,
        &image,
        json!({"networks": "auto", "security_groups": [{"name": web_id}]}),
    )
    .await;
    let shown = settled(&c, &id, "ACTIVE").await;
    assert_eq!(shown["security_groups"], json!([{"name": "web"}]));
    let port = &ports_of(&n, &id).await[0];
    assert_eq!(port["security_groups"], json!([web_id]));
    assert_fault(
        c.post("/servers", &json!({"server": {"name": "x", "imageRef": image, "flavorRef": "1",
                                              "networks": "auto", "security_groups": [{"name": "nope"}]}}))
            .await,
        400,
        "Security group nope not found.",
    )
    .await;

    // add/remove by name; the server's list follows its ports.
    let path = format!("/servers/{id}/action");
    let action = |body: Value| {
        let (c, path) = (&c, &path);
        async move { c.post(path, &body).await }
    };
    assert_eq!(
        action(json!({"addSecurityGroup": {"name": "default"}}))
            .await
            .status(),
        202
    );
    let listed = c.get_ok(&format!("/servers/{id}/os-security-groups")).await;
    let names: Vec<&str> = listed["security_groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["default", "web"]);
    assert_fault(
        action(json!({"addSecurityGroup": {"name": "web"}})).await,
        400,
        &format!("Security group web is already associated with the instance {id}"),
    )
    .await;
    assert_eq!(
        action(json!({"removeSecurityGroup": {"name": web_id}}))
            .await
            .status(),
        202
    );
    assert_fault(
        action(json!({"removeSecurityGroup": {"name": "web"}})).await,
        400,
        &format!("Security group web is not associated with the instance {id}"),
    )
    .await;
    let port = &ports_of(&n, &id).await[0];
    assert_eq!(port["security_groups"].as_array().unwrap().len(), 1);
    // A group in use by the server's port cannot go.
    let default = port["security_groups"][0].as_str().unwrap();
    assert_eq!(
        server
            .neutron("admin:admin")
            .delete(&format!("/security-groups/{default}"))
            .await
            .0,
        409
    );
    // Two groups of one name: Nova asks for an id.
    n.create(
        "/security-groups",
        "security_group",
        json!({"name": "twin"}),
    )
    .await;
    n.create(
        "/security-groups",
        "security_group",
        json!({"name": "twin"}),
    )
    .await;
    assert_fault(
        action(json!({"addSecurityGroup": {"name": "twin"}})).await,
        409,
        "Multiple security_group matches found for name 'twin', use an ID to be more specific.",
    )
    .await;
}

#[tokio::test]
async fn multinic_adds_and_removes_ports() {
    let server = Server::start_noauth().await;
    let image = cirros(&server).await;
    let c = server.compute(ALICE, "2.1");
    let n = server.neutron(ALICE);
    let id = boot(&c, &image, json!({})).await;
    settled(&c, &id, "ACTIVE").await;
    let own = own_network(&n, "second", "192.168.9.0/24").await;
    let path = format!("/servers/{id}/action");
    let action = |body: Value| {
        let (c, path) = (&c, &path);
        async move { c.post(path, &body).await }
    };
    assert_eq!(
        action(json!({"addFixedIp": {"networkId": own}}))
            .await
            .status(),
        202
    );
    let shown = c.get_ok(&format!("/servers/{id}")).await["server"].clone();
    let second = shown["addresses"]["second"][0]["addr"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(second.starts_with("192.168.9."), "{second}");
    assert_eq!(ports_of(&n, &id).await.len(), 2);
    assert_eq!(
        action(json!({"removeFixedIp": {"address": second}}))
            .await
            .status(),
        202
    );
    let shown = c.get_ok(&format!("/servers/{id}")).await["server"].clone();
    assert!(
        shown["addresses"].get("second").is_none(),
        "{}",
        shown["addresses"]
    );
    assert_eq!(ports_of(&n, &id).await.len(), 1);
}

#[tokio::test]
async fn novas_security_group_proxy_shows_and_changes_networkings_groups() {
    let server = Server::start_noauth().await;
    let c = server.compute(ALICE, "2.35");
    let n = server.neutron(ALICE);
    let made = c
        .post(
            "/os-security-groups",
            &json!({"security_group": {"name": "web", "description": "w"}}),
        )
        .await;
    assert_eq!(made.status(), 200);
    let group = json_of(made).await["security_group"].clone();
    let gid = group["id"].as_str().unwrap().to_owned();
    assert_eq!(group["tenant_id"], "proj-a");
    // Nova shows ingress rules only: the new group's egress rules are not.
    assert_eq!(group["rules"], json!([]));
    // The same record in networking.
    assert_eq!(
        n.get_ok(&format!("/security-groups/{gid}")).await["security_group"]["name"],
        "web"
    );

    let rule = |body: Value| {
        let c = &c;
        async move {
            c.post(
                "/os-security-group-rules",
                &json!({ "security_group_rule": body }),
            )
            .await
        }
    };
    let made = rule(
        json!({"parent_group_id": gid, "ip_protocol": "tcp", "from_port": 22, "to_port": 22,
                           "cidr": "10.2.3.124/24"}),
    )
    .await;
    assert_eq!(made.status(), 200);
    let r = json_of(made).await["security_group_rule"].clone();
    assert_eq!(
        (
            r["ip_protocol"].clone(),
            r["from_port"].clone(),
            r["to_port"].clone(),
            r["ip_range"].clone(),
            r["group"].clone()
        ),
        (
            json!("tcp"),
            json!(22),
            json!(22),
            json!({"cidr": "10.2.3.124/24"}),
            json!({})
        )
    );
    let neutron_rule = n
        .get_ok(&format!(
            "/security-group-rules/{}",
            r["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(neutron_rule["security_group_rule"]["direction"], "ingress");
    assert_eq!(
        neutron_rule["security_group_rule"]["normalized_cidr"],
        "10.2.3.0/24"
    );
    // A rule from another group: all TCP ports, the group named.
    let by_group =
        rule(json!({"parent_group_id": gid, "ip_protocol": "tcp", "group_id": gid})).await;
    assert_eq!(by_group.status(), 200);
    let g = json_of(by_group).await["security_group_rule"].clone();
    assert_eq!(
        (g["from_port"].clone(), g["to_port"].clone()),
        (json!(1), json!(65535))
    );
    assert_eq!(g["group"], json!({"name": "web", "tenant_id": "proj-a"}));

    // Nova's refusals.
    assert_fault(
        rule(
            json!({"parent_group_id": gid, "ip_protocol": "tcp", "from_port": 22, "to_port": 22,
                    "cidr": "10.2.3.124/24"}),
        )
        .await,
        400,
        &format!("This rule already exists in group {gid}"),
    )
    .await;
    assert_fault(
        rule(json!({"parent_group_id": gid})).await,
        400,
        "Not enough parameters to build a valid rule.",
    )
    .await;
    assert_fault(
        rule(json!({"parent_group_id": gid, "ip_protocol": "gre", "from_port": 1, "to_port": 2}))
            .await,
        400,
        "Invalid IP protocol gre.",
    )
    .await;
    assert_fault(
        rule(json!({"parent_group_id": gid, "ip_protocol": "tcp", "from_port": 90, "to_port": 80}))
            .await,
        400,
        "Invalid port range 90:80. Former value cannot be greater than the later",
    )
    .await;
    assert_fault(
        rule(json!({"parent_group_id": gid, "ip_protocol": "tcp", "from_port": 1, "to_port": 2, "cidr": "nope"})).await,
        400,
        "nope is not a valid IP network.",
    )
    .await;
    assert_fault(
        c.get("/os-security-groups/not-a-uuid").await,
        400,
        "Security group id should be uuid",
    )
    .await;
    let missing = "9f0e9a7c-0000-4000-8000-000000000000";
    assert_fault(
        c.get(&format!("/os-security-groups/{missing}")).await,
        404,
        &format!("Security group {missing} does not exist"),
    )
    .await;
    assert_fault(
        server
            .compute(ALICE, "2.36")
            .get("/os-security-groups")
            .await,
        404,
        "The resource could not be found.",
    )
    .await;

    // Update, list (sorted by tenant and name), delete.
    let updated = c
        .put(
            &format!("/os-security-groups/{gid}"),
            &json!({"security_group": {"name": "www", "description": "x"}}),
        )
        .await;
    assert_eq!(updated.status(), 200);
    let listed = c.get_ok("/os-security-groups").await;
    let names: Vec<&str> = listed["security_groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["default", "www"]);
    assert_eq!(
        c.delete(&format!(
            "/os-security-group-rules/{}",
            r["id"].as_str().unwrap()
        ))
        .await
        .status(),
        202
    );
    assert_eq!(
        c.delete(&format!("/os-security-groups/{gid}"))
            .await
            .status(),
        202
    );
    assert_eq!(n.get(&format!("/security-groups/{gid}")).await.0, 404);
    // Another project does not see it; tenant networks are the project's.
    let tenant = server
        .compute(BOB, "2.35")
        .get_ok("/os-tenant-networks")
        .await;
    assert_eq!(
        tenant["networks"][1],
        json!({"id": tenant["networks"][1]["id"], "cidr": "None", "label": "private"})
    );
}

#[tokio::test]
async fn a_nic_tagged_at_create_keeps_its_tag() {
    let server = Server::start_noauth().await;
    let image = cirros(&server).await;
    let n = server.neutron(ALICE);
    let private = n.get_ok("/networks?name=private").await["networks"][0]["id"].clone();
    let c = server.compute(ALICE, "2.42");
    let id = boot(
        &c,
        &image,
        json!({"networks": [{"uuid": private, "tag": "frontend"}]}),
    )
    .await;
    settled(&c, &id, "ACTIVE").await;
    let listed = server
        .compute(ALICE, "2.70")
        .get_ok(&format!("/servers/{id}/os-interface"))
        .await;
    assert_eq!(listed["interfaceAttachments"][0]["tag"], "frontend");
    // 2.37 to 2.41 took tags away again.
    let refused = server
        .compute(ALICE, "2.40")
        .post(
            "/servers",
            &json!({"server": {"name": "vm", "imageRef": image, "flavorRef": "1",
                               "networks": [{"uuid": private, "tag": "x"}]}}),
        )
        .await;
    assert_eq!(refused.status(), 400);
    let message = json_of(refused).await["badRequest"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    // Nova's schema: `networks` is "auto", "none" or a list of entries
    // without `tag` at this version, so the value matches none of them.
    assert!(
        message.starts_with("Invalid input for field/attribute networks.")
            && message.ends_with("is not valid under any of the given schemas"),
        "{message}"
    );
}

#[tokio::test]
async fn interfaces_are_listed_attached_and_detached() {
    let server = Server::start_noauth().await;
    let image = cirros(&server).await;
    let c = server.compute(ALICE, "2.70");
    let n = server.neutron(ALICE);
    let id = boot(&c, &image, json!({"networks": "auto"})).await;
    settled(&c, &id, "ACTIVE").await;
    let path = format!("/servers/{id}/os-interface");
    let listed = c.get_ok(&path).await["interfaceAttachments"].clone();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let first = &listed[0];
    let port = &ports_of(&n, &id).await[0];
    assert_eq!(first["port_id"], port["id"]);
    assert_eq!(first["mac_addr"], port["mac_address"]);
    assert_eq!(first["port_state"], "ACTIVE");
    assert_eq!(first["tag"], Value::Null);
    assert_eq!(first["fixed_ips"].as_array().unwrap().len(), 2);

    // A new port on the project's own network, with an address.
    let own = own_network(&n, "extra", "192.168.20.0/24").await;
    let attach = |body: Value| {
        let (c, path) = (&c, &path);
        async move { c.post(path, &body).await }
    };
    let made = attach(json!({"interfaceAttachment": {"net_id": own, "tag": "db",
                                                    "fixed_ips": [{"ip_address": "192.168.20.9"}]}}))
    .await;
    assert_eq!(made.status(), 200);
    let made = json_of(made).await["interfaceAttachment"].clone();
    assert_eq!(made["net_id"], own.as_str());
    assert_eq!(made["tag"], "db");
    assert_eq!(made["fixed_ips"][0]["ip_address"], "192.168.20.9");
    let shown = c.get_ok(&format!("/servers/{id}")).await["server"].clone();
    assert_eq!(shown["addresses"]["extra"][0]["addr"], "192.168.20.9");
    // A port made beforehand.
    let spare = n.create("/ports", "port", json!({"network_id": own})).await;
    let spare_id = spare["id"].as_str().unwrap().to_owned();
    let bound = attach(json!({"interfaceAttachment": {"port_id": spare_id, "tag": "spare"}})).await;
    assert_eq!(bound.status(), 200);
    let tags: Vec<Value> = c.get_ok(&path).await["interfaceAttachments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["tag"].clone())
        .collect();
    assert_eq!(tags, [Value::Null, json!("db"), json!("spare")]);
    // Before 2.70 an attachment shows no tag.
    let old = server.compute(ALICE, "2.69").get_ok(&path).await;
    assert!(old["interfaceAttachments"][1].get("tag").is_none(), "{old}");
    assert_eq!(
        c.get_ok(&path).await["interfaceAttachments"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(
        c.get_ok(&format!("{path}/{spare_id}")).await["interfaceAttachment"]["port_id"],
        spare_id.as_str()
    );

    // Refusals.
    assert_fault(
        attach(json!({"interfaceAttachment": {"net_id": own, "port_id": spare_id}})).await,
        400,
        "Must not input both network_id and port_id",
    )
    .await;
    assert_fault(
        attach(json!({"interfaceAttachment": {"fixed_ips": [{"ip_address": "192.168.20.10"}]}}))
            .await,
        400,
        "Must input network_id when request IP address",
    )
    .await;
    assert_fault(
        attach(json!({"interfaceAttachment": {"port_id": spare_id}})).await,
        409,
        &format!("Port {spare_id} is still in use."),
    )
    .await;
    let missing = "6d2e1c55-0000-4000-8000-000000000000";
    assert_fault(
        c.get(&format!("{path}/{missing}")).await,
        404,
        &format!("Instance {id} does not have a port with id {missing}"),
    )
    .await;
    assert_eq!(
        c.post(&format!("/servers/{id}/action"), &json!({"pause": null}))
            .await
            .status(),
        202
    );
    settled(&c, &id, "PAUSED").await;
    assert_eq!(
        c.post(&format!("/servers/{id}/action"), &json!({"lock": null}))
            .await
            .status(),
        202
    );
    assert_fault(
        c.delete(&format!("{path}/{spare_id}")).await,
        409,
        &format!("Instance {id} is locked"),
    )
    .await;
    assert_eq!(
        c.post(&format!("/servers/{id}/action"), &json!({"unlock": null}))
            .await
            .status(),
        202
    );

    // Detach: the given port is kept, unbound; a made one is deleted.
    assert_eq!(c.delete(&format!("{path}/{spare_id}")).await.status(), 202);
    let kept = n.get_ok(&format!("/ports/{spare_id}")).await["port"].clone();
    assert_eq!(kept["device_id"], "");
    let made_id = made["port_id"].as_str().unwrap();
    assert_eq!(c.delete(&format!("{path}/{made_id}")).await.status(), 202);
    assert_eq!(n.get(&format!("/ports/{made_id}")).await.0, 404);
    assert_eq!(
        c.get_ok(&path).await["interfaceAttachments"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // Both were recorded as instance actions.
    let actions = c
        .get_ok(&format!("/servers/{id}/os-instance-actions"))
        .await;
    let names: Vec<&str> = actions["instanceActions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        names.iter().filter(|n| **n == "attach_interface").count(),
        2
    );
    assert_eq!(
        names.iter().filter(|n| **n == "detach_interface").count(),
        2
    );
}

/// With every other part too (metadata, tags, a second security group,
/// volumes), the server listed in detail is the server shown: a page reads
/// the parts of its servers otherwise than a show reads one server's.
async fn every_part_listed_as_shown(server: &Server, c: &Compute<'_>, id: &str) {
    let n = server.neutron(ALICE);
    n.create("/security-groups", "security_group", json!({"name": "web"}))
        .await;
    let added = c
        .post(
            &format!("/servers/{id}/action"),
            &json!({"addSecurityGroup": {"name": "web"}}),
        )
        .await;
    assert_eq!(added.status(), 202);
    let metadata = json!({"metadata": {"zone": "b", "app": "db"}});
    let set = c.put(&format!("/servers/{id}/metadata"), &metadata).await;
    assert_eq!(set.status(), 200);
    let tags = json!({"tags": ["zeta", "alpha"]});
    assert_eq!(
        c.put(&format!("/servers/{id}/tags"), &tags).await.status(),
        200
    );
    let cinder = server.cinder(ALICE, "3.71");
    let mut volumes = Vec::new();
    for delete_on_termination in [false, true] {
        let volume = cinder.volume(json!({"size": 1})).await;
        let vid = volume["id"].as_str().unwrap().to_owned();
        let body = json!({"volumeAttachment": {"volumeId": vid,
                          "delete_on_termination": delete_on_termination}});
        let path = format!("/servers/{id}/os-volume_attachments");
        assert_eq!(c.post(&path, &body).await.status(), 200);
        cinder.wait_volume(&vid, "in-use").await;
        volumes.push(json!({"id": vid, "delete_on_termination": delete_on_termination}));
    }

    let shown = c.get_ok(&format!("/servers/{id}")).await["server"].clone();
    assert_eq!(shown["metadata"], metadata["metadata"]);
    assert_eq!(shown["tags"], json!(["alpha", "zeta"]));
    assert_eq!(
        shown["security_groups"],
        json!([{"name": "default"}, {"name": "web"}])
    );
    assert_eq!(
        shown["os-extended-volumes:volumes_attached"],
        json!(volumes)
    );
    let listed = c.get_ok("/servers/detail").await["servers"][0].clone();
    // Nova shows `server_groups` (2.71) on a show, never in a listing.
    let mut shown = shown;
    assert_eq!(
        shown.as_object_mut().unwrap().remove("server_groups"),
        Some(json!([]))
    );
    assert_eq!(listed, shown);
}

#[tokio::test]
async fn addresses_list_each_network_fixed_then_floating_in_port_order() {
    let server = Server::start_noauth().await;
    let image = cirros(&server).await;
    let c = server.compute(ALICE, "2.90");
    let n = server.neutron(ALICE);
    let blue = own_network(&n, "blue", "10.9.0.0/24").await;
    let red = own_network(&n, "red", "10.8.0.0/24").await;
    let public = n.get_ok("/networks?name=public").await["networks"][0]["id"].clone();
    let router = n
        .create(
            "/routers",
            "router",
            json!({"name": "r", "external_gateway_info": {"network_id": public}}),
        )
        .await;
    for network in [&blue, &red] {
        let subnet = &n.get_ok(&format!("/subnets?network_id={network}")).await["subnets"][0];
        let path = format!(
            "/routers/{}/add_router_interface",
            router["id"].as_str().unwrap()
        );
        let added = n.put(&path, json!({"subnet_id": subnet["id"]})).await;
        assert_eq!(added.0, 200, "{}", added.1);
    }
    let id = boot(
        &c,
        &image,
        json!({"networks": [{"uuid": blue}, {"uuid": red}]}),
    )
    .await;
    settled(&c, &id, "ACTIVE").await;
    let ports = ports_of(&n, &id).await;
    let port_on = |network: &str| {
        ports
            .iter()
            .find(|p| p["network_id"] == network)
            .unwrap()
            .clone()
    };
    let (blue_port, red_port) = (port_on(&blue), port_on(&red));
    // Floating addresses associated the other way round from the ports'
    // order still follow their own network's fixed address.
    let mut floating = Vec::new();
    for port in [&red_port, &blue_port] {
        let fip = n
            .create(
                "/floatingips",
                "floatingip",
                json!({"floating_network_id": public, "port_id": port["id"]}),
            )
            .await;
        floating.push(fip["floating_ip_address"].as_str().unwrap().to_owned());
    }
    let (red_floating, blue_floating) = (&floating[0], &floating[1]);
    let fixed = |port: &Value| port["fixed_ips"][0]["ip_address"].clone();
    let extended = |port: &Value, addr: &Value, kind: &str| {
        json!({"version": 4, "addr": addr, "OS-EXT-IPS:type": kind,
               "OS-EXT-IPS-MAC:mac_addr": port["mac_address"]})
    };
    let expected = json!({
        "blue": [extended(&blue_port, &fixed(&blue_port), "fixed"),
                 extended(&blue_port, &json!(blue_floating), "floating")],
        "red": [extended(&red_port, &fixed(&red_port), "fixed"),
                extended(&red_port, &json!(red_floating), "floating")],
    });
    let shown = c.get_ok(&format!("/servers/{id}")).await;
    let addresses = &shown["server"]["addresses"];
    assert_eq!(addresses, &expected);
    let networks: Vec<&String> = addresses.as_object().unwrap().keys().collect();
    assert_eq!(networks, ["blue", "red"], "in the order of the ports");
    let detail = c.get_ok("/servers/detail").await;
    assert_eq!(detail["servers"][0]["addresses"], expected);
    every_part_listed_as_shown(&server, &c, &id).await;

    // `/ips` shows the same addresses without their type and MAC.
    let plain = |port: &Value, floating: &str| json!([{"version": 4, "addr": fixed(port)}, {"version": 4, "addr": floating}]);
    let ips = c.get_ok(&format!("/servers/{id}/ips")).await;
    assert_eq!(
        ips,
        json!({"addresses": {"blue": plain(&blue_port, blue_floating),
                             "red": plain(&red_port, red_floating)}})
    );
    let red_ips = c.get_ok(&format!("/servers/{id}/ips/red")).await;
    assert_eq!(red_ips, json!({"red": plain(&red_port, red_floating)}));
}
