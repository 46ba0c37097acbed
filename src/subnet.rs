//! `Subnet`: an address range (`172.17.0.0/16`): the engine's bridge network, and the clients
//! the package cache answers.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// An IPv4 or IPv6 network: an address and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subnet {
    address: IpAddr,
    prefix: u8,
}

impl Subnet {
    /// The network of `address` with `prefix` leading bits (the host bits cleared, so
    /// `172.17.0.1/16` is `172.17.0.0/16`); `None` when the prefix is longer than the address.
    pub fn new(address: IpAddr, prefix: u8) -> Option<Subnet> {
        let address = match address {
            IpAddr::V4(a) if prefix <= 32 => IpAddr::V4(Ipv4Addr::from(
                u32::from(a) & u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0),
            )),
            IpAddr::V6(a) if prefix <= 128 => IpAddr::V6(Ipv6Addr::from(
                u128::from(a) & u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0),
            )),
            _ => return None,
        };
        Some(Subnet { address, prefix })
    }

    /// The network address.
    pub fn address(&self) -> IpAddr {
        self.address
    }

    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// The first host address of an IPv4 network (where Docker puts a bridge's gateway);
    /// `None` for IPv6 and for /31 and /32.
    pub fn first_host(&self) -> Option<Ipv4Addr> {
        match self.address {
            IpAddr::V4(net) if self.prefix < 31 => Some(Ipv4Addr::from(u32::from(net) + 1)),
            _ => None,
        }
    }

    /// Whether `ip` is in this network (an IPv4-mapped IPv6 address counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.address, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
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
        assert!(
            one.contains("127.0.0.1".parse().unwrap())
                && !one.contains("127.0.0.2".parse().unwrap())
        );
        assert!("10.0.0.0/33".parse::<Subnet>().is_err());
        assert!("fd00::/8"
            .parse::<Subnet>()
            .unwrap()
            .contains("fd12::1".parse().unwrap()));
    }

    #[test]
    fn host_bits_are_cleared_and_the_first_host_follows_the_network() {
        let from_interface: Subnet = "172.17.0.1/16".parse().unwrap();
        assert_eq!(from_interface.to_string(), "172.17.0.0/16");
        assert_eq!(
            from_interface.first_host(),
            Some(Ipv4Addr::new(172, 17, 0, 1))
        );
        assert_eq!("10.1.2.3/32".parse::<Subnet>().unwrap().first_host(), None);
        assert_eq!(
            "fd00::1/64".parse::<Subnet>().unwrap().to_string(),
            "fd00::/64"
        );
        assert_eq!("fd00::/64".parse::<Subnet>().unwrap().first_host(), None);
    }
}
