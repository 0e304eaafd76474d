//! The `[network]` settings: the tenant network a new cloud starts with
//! and its external network (networking makes both, with their subnets,
//! from these); the external network's name is Nova's default floating
//! pool.

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
