//! `Subnet`: an address range (`172.17.0.0/16`), the clients the package cache answers.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// An IPv4 or IPv6 network: an address and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subnet {
    address: IpAddr,
    prefix: u8,
}

impl Subnet {
    /// The network of `address` with `prefix` leading bits; `None` when the prefix is longer
    /// than the address.
    pub fn new(address: IpAddr, prefix: u8) -> Option<Subnet> {
        let bits = if address.is_ipv4() { 32 } else { 128 };
        (prefix <= bits).then_some(Subnet { address, prefix })
    }

    /// Whether `ip` is in this network (an IPv4-mapped IPv6 address counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.address, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for Subnet {
    type Err = String;

    /// `172.17.0.0/16`, or a bare address (a network of one).
    fn from_str(text: &str) -> Result<Subnet, String> {
        let bad = || format!("`{text}` is not a subnet (e.g. `172.17.0.0/16`)");
        let (address, prefix) = text.split_once('/').unwrap_or((text, ""));
        let address: IpAddr = address.parse().map_err(|_| bad())?;
        let prefix = match prefix {
            "" if address.is_ipv4() => 32,
            "" => 128,
            p => p.parse().map_err(|_| bad())?,
        };
        Subnet::new(address, prefix).ok_or_else(bad)
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.address, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn membership() {
        let bridge: Subnet = "172.17.0.0/16".parse().unwrap();
        assert!(bridge.contains("172.17.0.5".parse().unwrap()));
        assert!(bridge.contains("::ffff:172.17.3.4".parse().unwrap()));
        assert!(!bridge.contains("172.18.0.5".parse().unwrap()));
        assert!(!bridge.contains("127.0.0.1".parse().unwrap()));
        let all: Subnet = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
        let one: Subnet = "127.0.0.1".parse().unwrap();
        assert!(one.contains("127.0.0.1".parse().unwrap()) && !one.contains("127.0.0.2".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<Subnet>().is_err());
        assert!("fd00::/8".parse::<Subnet>().unwrap().contains("fd12::1".parse().unwrap()));
    }
}
