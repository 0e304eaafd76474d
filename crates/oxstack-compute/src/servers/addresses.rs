//! Fixed addresses on the built-in network, allocated inside the create
//! transaction: a requested address is checked against the holders seen
//! by that transaction, others come from a counter walking round the
//! subnet.

use std::net::{IpAddr, Ipv4Addr};

use oxstack_store::instances::{CreateTx, FixedIp as FixedIpRow};

use super::create::Networks;
use super::network::{Cidr, format_mac, mac_for};
use crate::{Compute, ComputeError, ComputeResult};

impl Compute {
    /// Allocates the ports of one instance inside the create transaction.
    pub(crate) async fn allocate_ports(
        &self,
        tx: &mut CreateTx,
        networks: &Networks,
    ) -> ComputeResult<Vec<FixedIpRow>> {
        let requested: Vec<Option<IpAddr>> = match networks {
            Networks::None => return Ok(Vec::new()),
            Networks::Auto => vec![None],
            Networks::List(nics) => nics.iter().map(|n| n.fixed_ip).collect(),
        };
        let mut ips = Vec::new();
        for (position, fixed) in requested.into_iter().enumerate() {
            let mut addresses = Vec::new();
            if let Some(addr) = fixed {
                if let Some(holder) = tx.holder_of(&self.network.id, &addr.to_string()).await? {
                    return Err(ComputeError::Invalid(format!(
                        "Fixed IP address {addr} is already in use on instance {holder}."
                    )));
                }
                addresses.push(addr);
            }
            let mac = mac_for(tx.next_values("macs", 1).await?);
            if !matches!(fixed, Some(IpAddr::V4(_)))
                && let Some(v4) = self.network.ipv4
            {
                addresses.push(IpAddr::V4(self.free_v4(tx, v4).await?));
            }
            if !matches!(fixed, Some(IpAddr::V6(_)))
                && let Some(v6) = self.network.slaac(mac)
            {
                addresses.push(IpAddr::V6(v6));
            }
            addresses.sort_by_key(IpAddr::is_ipv6);
            for addr in addresses {
                ips.push(FixedIpRow {
                    network_id: self.network.id.clone(),
                    address: addr.to_string(),
                    version: if addr.is_ipv4() { 4 } else { 6 },
                    mac: format_mac(mac),
                    position: position as i64,
                });
            }
        }
        Ok(ips)
    }

    /// The next free IPv4 address: a counter per network walks round the
    /// subnet, so an allocation costs a lookup or two however many servers
    /// hold addresses (reading every address in use made boots slower as
    /// the cloud grew), and a released address is not handed out again at
    /// once.
    async fn free_v4(&self, tx: &mut CreateTx, cidr: Cidr<Ipv4Addr>) -> ComputeResult<Ipv4Addr> {
        let counter = format!("ipv4:{}", self.network.id);
        for _ in 0..cidr.host_count() {
            let n = tx.next_values(&counter, 1).await?;
            let Some(candidate) = cidr.host(u64::try_from(n - 1).unwrap_or(0)) else {
                break;
            };
            if tx
                .holder_of(&self.network.id, &candidate.to_string())
                .await?
                .is_none()
            {
                return Ok(candidate);
            }
        }
        Err(ComputeError::Conflict(format!(
            "No more IP addresses available on network {}.",
            self.network.id
        )))
    }
}
