//! The `[network]` settings: the tenant network a new cloud starts with
//! (networking makes it, with its subnets, from these) and the external
//! pool that compute's floating addresses come from.

use std::net::{Ipv4Addr, Ipv6Addr};

/// A subnet: network address and prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr<A> {
    pub network: A,
    pub prefix: u8,
}

impl<A: std::str::FromStr> Cidr<A> {
    /// Parses `addr/prefix`.
    pub fn parse(text: &str, max_prefix: u8) -> Option<Self> {
        let (addr, prefix) = text.split_once('/')?;
        let prefix: u8 = prefix.parse().ok()?;
        (prefix <= max_prefix).then_some(())?;
        Some(Self {
            network: addr.parse().ok()?,
            prefix,
        })
    }
}

impl Cidr<Ipv4Addr> {
    fn mask(&self) -> u32 {
        u32::MAX
            .checked_shl(32 - u32::from(self.prefix))
            .unwrap_or(0)
    }

    /// Host addresses a server may get: all but the network address, the
    /// gateway (first host) and the broadcast address.
    fn assignable(&self) -> impl Iterator<Item = Ipv4Addr> {
        let base = u32::from(self.network) & self.mask();
        let size = 1u64 << (32 - u32::from(self.prefix));
        (2..size.saturating_sub(1)).map(move |offset| Ipv4Addr::from(base + offset as u32))
    }
}

/// The network every project may attach servers to, and the external
/// pool floating addresses come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkConfig {
    /// The network's label in `addresses` and its name.
    pub name: String,
    pub id: String,
    pub ipv4: Option<Cidr<Ipv4Addr>>,
    pub ipv6: Option<Cidr<Ipv6Addr>>,
    /// The floating pool's name and subnet (DevStack's `public`).
    pub floating: Option<(String, Cidr<Ipv4Addr>)>,
}

impl NetworkConfig {
    /// A network named `name` with the given subnets; its id is derived
    /// from the name so every node of a cloud agrees on it.
    pub fn new(name: &str, ipv4: Option<Cidr<Ipv4Addr>>, ipv6: Option<Cidr<Ipv6Addr>>) -> Self {
        Self {
            name: name.to_owned(),
            id: oxstack_network::derived_id("network", name),
            ipv4,
            ipv6,
            floating: Cidr::parse("172.24.4.0/24", 32).map(|c| ("public".to_owned(), c)),
        }
    }

    /// The free floating addresses of the pool, lowest first.
    pub fn free_floating(&self, taken: &std::collections::HashSet<String>) -> Option<Ipv4Addr> {
        let (_, cidr) = self.floating.as_ref()?;
        cidr.assignable().find(|a| !taken.contains(&a.to_string()))
    }
}

impl Default for NetworkConfig {
    /// DevStack's `private` network.
    fn default() -> Self {
        Self::new(
            "private",
            Cidr::parse("10.0.0.0/24", 32),
            Cidr::parse("fd00:0:0:1::/64", 64),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_floating_pool_hands_out_its_lowest_free_host() {
        let net = NetworkConfig::default();
        let mut taken = std::collections::HashSet::new();
        assert_eq!(
            net.free_floating(&taken),
            Some(Ipv4Addr::new(172, 24, 4, 2))
        );
        taken.insert("172.24.4.2".to_owned());
        assert_eq!(
            net.free_floating(&taken),
            Some(Ipv4Addr::new(172, 24, 4, 3))
        );
        let tiny = Cidr::<Ipv4Addr>::parse("192.168.0.0/31", 32).expect("cidr");
        assert_eq!(tiny.assignable().count(), 0);
    }
}
