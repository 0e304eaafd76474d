//! Address arithmetic: subnets, allocation pools, the n-th address of a
//! subnet's pools, and SLAAC addresses. Addresses are handled as `u128`
//! within their version so that IPv4 and IPv6 share one code path.

use std::net::IpAddr;

use ipnet::IpNet;

/// An inclusive range of addresses of one version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range {
    pub start: IpAddr,
    pub end: IpAddr,
}

impl Range {
    fn bounds(&self) -> (u128, u128) {
        (to_u128(self.start), to_u128(self.end))
    }

    fn len(&self) -> u128 {
        let (s, e) = self.bounds();
        e.saturating_sub(s) + 1
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let (s, e) = self.bounds();
        same_version(ip, self.start) && (s..=e).contains(&to_u128(ip))
    }

    pub fn overlaps(&self, other: &Range) -> bool {
        let ((a, b), (c, d)) = (self.bounds(), other.bounds());
        a <= d && c <= b
    }
}

pub fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

fn from_u128(like: IpAddr, n: u128) -> IpAddr {
    match like {
        IpAddr::V4(_) => IpAddr::V4(u32::try_from(n).unwrap_or(u32::MAX).into()),
        IpAddr::V6(_) => IpAddr::V6(n.into()),
    }
}

pub fn same_version(a: IpAddr, b: IpAddr) -> bool {
    a.is_ipv4() == b.is_ipv4()
}

/// The first host of a subnet (its default gateway).
pub fn first_host(net: &IpNet) -> IpAddr {
    from_u128(net.network(), to_u128(net.network()) + 1)
}

/// The last address a port may hold: IPv4 keeps its broadcast address.
fn last_host(net: &IpNet) -> IpAddr {
    match net {
        IpNet::V4(_) => from_u128(net.network(), to_u128(net.broadcast()) - 1),
        IpNet::V6(_) => net.broadcast(),
    }
}

/// Neutron's default pools: every host address but the gateway.
pub fn default_pools(net: &IpNet, gateway: Option<IpAddr>) -> Vec<Range> {
    let (first, last) = (to_u128(first_host(net)), to_u128(last_host(net)));
    if first > last {
        return Vec::new();
    }
    let like = net.network();
    let whole = |s: u128, e: u128| Range {
        start: from_u128(like, s),
        end: from_u128(like, e),
    };
    let Some(gw) = gateway.map(to_u128).filter(|g| (first..=last).contains(g)) else {
        return vec![whole(first, last)];
    };
    let mut pools = Vec::new();
    if gw > first {
        pools.push(whole(first, gw - 1));
    }
    if gw < last {
        pools.push(whole(gw + 1, last));
    }
    pools
}

/// How many addresses the pools hold.
pub fn pool_size(pools: &[Range]) -> u128 {
    pools.iter().map(Range::len).sum()
}

/// The `n`-th address of the pools, counting round them.
pub fn nth(pools: &[Range], n: u128) -> Option<IpAddr> {
    let size = pool_size(pools);
    let mut n = n.checked_rem(size)?;
    for pool in pools {
        if n < pool.len() {
            return Some(from_u128(pool.start, to_u128(pool.start) + n));
        }
        n -= pool.len();
    }
    None
}

/// The SLAAC (EUI-64) address of a MAC in a /64.
pub fn slaac(net: &IpNet, mac: [u8; 6]) -> IpAddr {
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
    let prefix = to_u128(net.network()) & (u128::MAX << 64);
    from_u128(net.network(), prefix | u128::from(interface))
}

/// Parses `aa:bb:cc:dd:ee:ff`.
pub fn parse_mac(text: &str) -> Option<[u8; 6]> {
    let mut mac = [0u8; 6];
    let mut parts = text.split(':');
    for byte in &mut mac {
        let part = parts.next()?;
        if part.len() != 2 {
            return None;
        }
        *byte = u8::from_str_radix(part, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

/// A random MAC under Neutron's default base `fa:16:3e`.
pub fn random_mac() -> String {
    let tail: [u8; 3] = rand::random();
    format!("fa:16:3e:{:02x}:{:02x}:{:02x}", tail[0], tail[1], tail[2])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(text: &str) -> IpNet {
        text.parse().unwrap()
    }

    #[test]
    fn default_pools_leave_out_network_gateway_and_broadcast() {
        let n = net("10.0.0.0/24");
        let pools = default_pools(&n, Some(first_host(&n)));
        assert_eq!(
            pools,
            vec![Range {
                start: "10.0.0.2".parse().unwrap(),
                end: "10.0.0.254".parse().unwrap()
            }]
        );
        assert_eq!(pool_size(&pools), 253);
        let split = default_pools(&n, Some("10.0.0.100".parse().unwrap()));
        assert_eq!(split.len(), 2);
        assert!(
            !split
                .iter()
                .any(|p| p.contains("10.0.0.100".parse().unwrap()))
        );
        assert_eq!(pool_size(&split), 253);
        let v6 = default_pools(&net("fd00::/64"), None);
        assert_eq!(v6[0].start, "fd00::1".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn nth_counts_round_the_pools() {
        let pools = default_pools(&net("192.168.1.0/29"), Some("192.168.1.1".parse().unwrap()));
        let all: Vec<String> = (0..6)
            .map(|n| nth(&pools, n).unwrap().to_string())
            .collect();
        assert_eq!(all[0], "192.168.1.2");
        assert_eq!(all[4], "192.168.1.6");
        assert_eq!(all[5], "192.168.1.2");
        assert_eq!(nth(&[], 0), None);
    }

    #[test]
    fn slaac_is_eui64_of_the_mac() {
        let ip = slaac(
            &net("fd00:0:0:1::/64"),
            parse_mac("fa:16:3e:12:34:56").unwrap(),
        );
        assert_eq!(ip.to_string(), "fd00::1:f816:3eff:fe12:3456");
        assert_eq!(parse_mac("fa:16:3e:12:34"), None);
        assert_eq!(parse_mac("fa:16:3e:12:34:5g"), None);
        assert!(random_mac().starts_with("fa:16:3e:"));
    }
}
