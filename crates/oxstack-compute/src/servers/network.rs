//! The built-in network: one project-shared network (DevStack's `private`)
//! with an IPv4 subnet whose addresses are handed out in turn round the
//! subnet (skipping those in use), and an IPv6 subnet
//! addressed by SLAAC (EUI-64 of the port's MAC), the way Neutron fills
//! DevStack's `private-subnet` and `ipv6-private-subnet`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

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

    pub fn contains(&self, addr: Ipv4Addr) -> bool {
        u32::from(addr) & self.mask() == u32::from(self.network) & self.mask()
    }

    /// How many addresses [`Self::host`] cycles through.
    pub fn host_count(&self) -> u64 {
        (1u64 << (32 - u32::from(self.prefix))).saturating_sub(3)
    }

    /// The `n`-th address a server may get, counting round the subnet:
    /// `.2` first (the first host is the gateway), never the broadcast.
    pub fn host(&self, n: u64) -> Option<Ipv4Addr> {
        let count = self.host_count();
        let base = u32::from(self.network) & self.mask();
        let offset = u32::try_from(2 + n.checked_rem(count)?).ok()?;
        Some(Ipv4Addr::from(base + offset))
    }

    /// Host addresses a server may get: all but the network address, the
    /// gateway (first host) and the broadcast address.
    fn assignable(&self) -> impl Iterator<Item = Ipv4Addr> {
        let base = u32::from(self.network) & self.mask();
        let size = 1u64 << (32 - u32::from(self.prefix));
        (2..size.saturating_sub(1)).map(move |offset| Ipv4Addr::from(base + offset as u32))
    }
}

impl Cidr<Ipv6Addr> {
    fn mask(&self) -> u128 {
        u128::MAX
            .checked_shl(128 - u32::from(self.prefix))
            .unwrap_or(0)
    }

    pub fn contains(&self, addr: Ipv6Addr) -> bool {
        u128::from(addr) & self.mask() == u128::from(self.network) & self.mask()
    }

    /// The SLAAC address of a MAC in this subnet (a /64 or shorter).
    fn slaac(&self, mac: [u8; 6]) -> Ipv6Addr {
        let interface = u64::from_be_bytes([
            mac[0] ^ 0x02,
            mac[1],
            mac[2],
            0xff,
            0xfe,
            mac[3],
            mac[4],
            mac[5],
        ]);
        let prefix = u128::from(self.network) & (u128::MAX << 64);
        Ipv6Addr::from(prefix | u128::from(interface))
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
            id: uuid::Uuid::new_v5(
                &uuid::Uuid::NAMESPACE_OID,
                format!("oxstack-network:{name}").as_bytes(),
            )
            .to_string(),
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

    /// The stateless (SLAAC) IPv6 address of a port with this MAC.
    pub fn slaac(&self, mac: [u8; 6]) -> Option<Ipv6Addr> {
        self.ipv6.filter(|c| c.prefix <= 64).map(|c| c.slaac(mac))
    }

    /// Whether `addr` lies in one of the subnets.
    pub fn contains(&self, addr: IpAddr) -> bool {
        match addr {
            IpAddr::V4(a) => self.ipv4.is_some_and(|c| c.contains(a)),
            IpAddr::V6(a) => self.ipv6.is_some_and(|c| c.contains(a)),
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

/// The MAC of the n-th port: Neutron's `fa:16:3e` prefix and 24 bits that
/// are a bijection of n (so never repeated before 2^24 ports, yet not
/// sequential-looking).
pub fn mac_for(n: i64) -> [u8; 6] {
    let scrambled = ((n as u64).wrapping_mul(0x9E_3779) ^ 0x5A_5A5A) & 0xFF_FFFF;
    let [_, _, _, _, _, a, b, c] = scrambled.to_be_bytes();
    [0xfa, 0x16, 0x3e, a, b, c]
}

pub fn format_mac(mac: [u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn hosts_count_round_the_subnet_from_the_second_address() {
        let net = NetworkConfig::default();
        let v4 = net.ipv4.expect("ipv4");
        assert_eq!(v4.host_count(), 253);
        assert_eq!(v4.host(0), Some("10.0.0.2".parse().expect("ip")));
        assert_eq!(v4.host(252), Some("10.0.0.254".parse().expect("ip")));
        assert_eq!(v4.host(253), Some("10.0.0.2".parse().expect("ip")));
        let v6 = net.slaac(mac_for(1)).expect("slaac");
        assert!(net.contains(IpAddr::V6(v6)));
    }

    #[test]
    fn a_subnet_without_hosts_has_no_address() {
        let tiny = Cidr::<Ipv4Addr>::parse("192.168.0.0/31", 32).expect("cidr");
        assert_eq!(tiny.host_count(), 0);
        assert_eq!(tiny.host(0), None);
    }

    #[test]
    fn macs_are_distinct_and_neutron_prefixed() {
        let macs: HashSet<[u8; 6]> = (0..10_000).map(mac_for).collect();
        assert_eq!(macs.len(), 10_000);
        assert!(format_mac(mac_for(7)).starts_with("fa:16:3e:"));
    }

    #[test]
    fn subnet_membership() {
        let net = NetworkConfig::default();
        assert!(net.contains("10.0.0.77".parse().expect("ip")));
        assert!(!net.contains("10.0.1.1".parse().expect("ip")));
        assert!(net.contains("fd00:0:0:1::5".parse().expect("ip")));
        assert!(!net.contains("fd00:0:0:2::5".parse().expect("ip")));
    }
}
