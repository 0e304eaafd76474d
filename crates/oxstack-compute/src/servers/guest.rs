//! What the hypervisor is told of a server: its size, image, key, user
//! data and interfaces, as the driver's [`GuestSpec`].

use oxstack_virt::{GuestFlavor, GuestImage, GuestKey, GuestNic, GuestSpec, StaticIp};

use crate::model::{FlavorSnapshot, Server};
use crate::{Compute, ComputeResult};

impl Compute {
    /// The guest of `server` with its volumes, as a driver starting it
    /// needs it (the block storage service is asked only when the server
    /// has volumes).
    pub(crate) async fn guest_of(&self, server: &Server) -> ComputeResult<GuestSpec> {
        let mut guest = guest_spec(server);
        if !server.volumes.is_empty() {
            guest.volumes = self.guest_volumes(&server.uuid).await?;
        }
        if self.driver.wants_subnets() {
            for nic in &mut guest.nics {
                nic.static_ips = self.static_ips(nic).await?;
            }
        }
        Ok(guest)
    }

    /// A NIC's addresses with their subnets.
    async fn static_ips(&self, nic: &GuestNic) -> ComputeResult<Vec<StaticIp>> {
        let subnets = self.store.networking().subnets_of(&nic.network_id).await?;
        Ok(nic
            .addresses
            .iter()
            .filter_map(|address| {
                let ip: std::net::IpAddr = address.parse().ok()?;
                let subnet = subnets.iter().find(|s| {
                    s.cidr
                        .parse::<ipnet::IpNet>()
                        .is_ok_and(|net| net.contains(&ip))
                })?;
                Some(StaticIp {
                    address: address.clone(),
                    cidr: subnet.cidr.clone(),
                    gateway_ip: subnet.gateway_ip.clone(),
                })
            })
            .collect())
    }
}

/// The guest of `server`, with its current flavor.
pub(crate) fn guest_spec(server: &Server) -> GuestSpec {
    GuestSpec {
        uuid: server.uuid.clone(),
        name: server.instance_name(),
        hostname: server.hostname.clone(),
        flavor: guest_flavor(&server.flavor),
        image: GuestImage {
            id: server.image.id.clone(),
            properties: server.image.properties.clone(),
        },
        key: match (&server.key_name, &server.key_data) {
            (Some(name), Some(data)) => Some(GuestKey {
                name: name.clone(),
                public_key: data.clone(),
            }),
            _ => None,
        },
        user_data: server.user_data.clone(),
        admin_password: None,
        nics: nics(server),
        metadata: server.metadata.clone(),
        config_drive: server.config_drive,
        availability_zone: server.availability_zone.clone(),
        // Filled in by `Compute::guest_of` (its attachments).
        volumes: Vec::new(),
    }
}

/// The guest's size from a flavor.
pub(crate) fn guest_flavor(f: &FlavorSnapshot) -> GuestFlavor {
    GuestFlavor {
        vcpus: f.vcpus,
        memory_mb: f.memory_mb,
        root_gb: f.root_gb,
        ephemeral_gb: f.ephemeral_gb,
        swap_mb: f.swap_mb,
        extra_specs: f.extra_specs.clone(),
    }
}

/// One interface per MAC, in the order of the server's network list.
fn nics(server: &Server) -> Vec<GuestNic> {
    let mut nics: Vec<(i64, GuestNic)> = Vec::new();
    for ip in &server.fixed_ips {
        match nics.iter_mut().find(|(_, nic)| nic.mac == ip.mac) {
            Some((_, nic)) => nic.addresses.push(ip.address.clone()),
            None => nics.push((
                ip.position,
                GuestNic {
                    network_id: ip.network_id.clone(),
                    mac: ip.mac.clone(),
                    addresses: vec![ip.address.clone()],
                    static_ips: Vec::new(),
                },
            )),
        }
    }
    nics.sort_by_key(|(position, _)| *position);
    nics.into_iter().map(|(_, nic)| nic).collect()
}
