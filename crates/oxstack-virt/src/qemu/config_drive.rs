//! The config drive (Nova's `openstack/latest/` layout on an ISO 9660 disk
//! labelled `config-2`): what cloud-init in the guest reads for its
//! hostname, keys, user data and network. The qemu driver offers no
//! metadata service, so every guest gets one.

use std::path::Path;

use base64::Engine;
use serde_json::{Value, json};

use super::disks::{failed, run};
use crate::{DriverError, GuestSpec};

/// Nova's `meta_data.json` for `guest`.
pub fn meta_data(guest: &GuestSpec) -> Value {
    let mut meta = json!({
        "uuid": guest.uuid,
        "name": guest.name,
        "hostname": guest.hostname,
        "launch_index": 0,
        "availability_zone": guest.availability_zone,
        "meta": guest.metadata,
        "devices": [],
    });
    if let Some(key) = &guest.key {
        meta["public_keys"] = json!({ key.name.clone(): key.public_key });
        meta["keys"] = json!([{
            "name": key.name,
            "type": if key.public_key.starts_with("-----BEGIN") { "x509" } else { "ssh" },
            "data": key.public_key,
        }]);
    }
    if let Some(password) = &guest.admin_password {
        meta["admin_pass"] = json!(password);
    }
    meta
}

/// Nova's `network_data.json`: one link per NIC, each configured by
/// DHCP (user-mode networking hands out the guest's address) or, when
/// the NIC comes with its subnets (on a bridge), with its addresses set
/// statically as Nova writes them.
pub fn network_data(guest: &GuestSpec) -> Value {
    let mut links = Vec::new();
    let mut networks = Vec::new();
    for (i, nic) in guest.nics.iter().enumerate() {
        let link = format!("tap{i}");
        links.push(json!({
            "id": link,
            "type": "ethernet",
            "ethernet_mac_address": nic.mac,
            "mtu": 1500,
            "vif_id": nic.network_id,
        }));
        if nic.static_ips.is_empty() {
            networks.push(json!({
                "id": format!("network{}", networks.len()),
                "type": "ipv4_dhcp",
                "link": link,
                "network_id": nic.network_id,
            }));
        }
        for ip in &nic.static_ips {
            let Ok(net) = ip.cidr.parse::<ipnet::IpNet>() else {
                continue;
            };
            let (kind, any) = match net {
                ipnet::IpNet::V4(_) => ("ipv4", "0.0.0.0"),
                ipnet::IpNet::V6(_) => ("ipv6", "::"),
            };
            let routes: Vec<Value> = ip
                .gateway_ip
                .iter()
                .map(|gateway| json!({"network": any, "netmask": any, "gateway": gateway}))
                .collect();
            networks.push(json!({
                "id": format!("network{}", networks.len()),
                "type": kind,
                "link": link,
                "ip_address": ip.address,
                "netmask": net.netmask().to_string(),
                "routes": routes,
                "network_id": nic.network_id,
            }));
        }
    }
    json!({"links": links, "networks": networks, "services": []})
}

/// Writes the config drive of `guest` to `target` (through `genisoimage`,
/// as Nova does).
pub async fn write(guest: &GuestSpec, target: &Path) -> Result<(), DriverError> {
    let staging = tempfile::Builder::new()
        .prefix("config-drive")
        .tempdir_in(target.parent().unwrap_or(Path::new(".")))
        .map_err(|e| failed("making the config drive", e))?;
    let latest = staging.path().join("openstack").join("latest");
    tokio::fs::create_dir_all(&latest)
        .await
        .map_err(|e| failed("making the config drive", e))?;
    let mut files = vec![
        ("meta_data.json", meta_data(guest).to_string().into_bytes()),
        (
            "network_data.json",
            network_data(guest).to_string().into_bytes(),
        ),
        ("vendor_data.json", b"{}".to_vec()),
        ("vendor_data2.json", b"{}".to_vec()),
    ];
    if let Some(data) = &guest.user_data {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(data.trim())
            .map_err(|e| failed("decoding the user data", e))?;
        files.push(("user_data", decoded));
    }
    for (name, content) in files {
        tokio::fs::write(latest.join(name), content)
            .await
            .map_err(|e| failed("making the config drive", e))?;
    }
    let mut genisoimage = tokio::process::Command::new("genisoimage");
    genisoimage
        .args(["-o"])
        .arg(target)
        .args([
            "-ldots",
            "-allow-lowercase",
            "-allow-multidot",
            "-l",
            "-publisher",
            "oxstack",
            "-quiet",
            "-J",
            "-r",
            "-V",
            "config-2",
        ])
        .arg(staging.path());
    run(genisoimage, "making the config drive").await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{GuestKey, GuestNic, StaticIp};

    #[test]
    fn meta_data_carries_what_cloud_init_reads() {
        let guest = GuestSpec {
            uuid: "u-1".into(),
            name: "instance-00000001".into(),
            hostname: "web-1".into(),
            key: Some(GuestKey {
                name: "k".into(),
                public_key: "ssh-ed25519 AAAA test".into(),
            }),
            nics: vec![GuestNic {
                network_id: "n-1".into(),
                mac: "fa:16:3e:00:00:01".into(),
                addresses: vec!["10.0.0.5".into()],
                ..GuestNic::default()
            }],
            ..GuestSpec::default()
        };
        let meta = meta_data(&guest);
        assert_eq!(meta["uuid"], "u-1");
        assert_eq!(meta["hostname"], "web-1");
        assert_eq!(meta["public_keys"]["k"], "ssh-ed25519 AAAA test");
        assert_eq!(meta["keys"][0]["type"], "ssh");
        let net = network_data(&guest);
        assert_eq!(net["links"][0]["ethernet_mac_address"], "fa:16:3e:00:00:01");
        assert_eq!(net["networks"][0]["link"], "tap0");
        assert_eq!(net["networks"][0]["type"], "ipv4_dhcp");
    }

    #[test]
    fn addresses_with_subnets_are_set_statically() {
        let guest = GuestSpec {
            nics: vec![GuestNic {
                network_id: "n-1".into(),
                mac: "fa:16:3e:00:00:01".into(),
                addresses: vec!["192.0.2.5".into(), "2001:db8::5".into()],
                static_ips: vec![
                    StaticIp {
                        address: "192.0.2.5".into(),
                        cidr: "192.0.2.0/24".into(),
                        gateway_ip: Some("192.0.2.1".into()),
                    },
                    StaticIp {
                        address: "2001:db8::5".into(),
                        cidr: "2001:db8::/64".into(),
                        gateway_ip: None,
                    },
                ],
            }],
            ..GuestSpec::default()
        };
        let net = network_data(&guest);
        let networks = net["networks"].as_array().unwrap();
        assert_eq!(networks.len(), 2);
        assert_eq!(
            networks[0],
            json!({
                "id": "network0", "type": "ipv4", "link": "tap0",
                "ip_address": "192.0.2.5", "netmask": "255.255.255.0",
                "routes": [{"network": "0.0.0.0", "netmask": "0.0.0.0", "gateway": "192.0.2.1"}],
                "network_id": "n-1",
            })
        );
        assert_eq!(networks[1]["type"], "ipv6");
        assert_eq!(networks[1]["netmask"], "ffff:ffff:ffff:ffff::");
        assert_eq!(networks[1]["routes"], json!([]));
    }
}
