//! `Interfaces`: this machine's network interfaces and their addresses, read with
//! `getifaddrs(3)`. Used to find where the engine's containers reach the host (the bridge
//! interface's address) and to tell whether an address belongs to this machine.

use std::ffi::CStr;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One address of one interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceAddress {
    /// The interface's name, e.g. `docker0`.
    pub interface: String,
    pub address: IpAddr,
    /// Length of the network prefix (from the netmask).
    pub prefix: u8,
}

/// Every address of every interface of this machine, as the kernel lists them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Interfaces {
    pub addresses: Vec<InterfaceAddress>,
}

impl Interfaces {
    /// Reads the machine's interfaces; an error of `getifaddrs` gives an empty list (nothing
    /// is then taken for an address of this machine, so callers fail closed).
    pub fn read() -> Interfaces {
        let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
        // SAFETY: getifaddrs fills `head` with a list we free below with freeifaddrs.
        if unsafe { libc::getifaddrs(&mut head) } != 0 {
            return Interfaces::default();
        }
        let mut addresses = Vec::new();
        let mut cursor = head;
        while !cursor.is_null() {
            // SAFETY: `cursor` walks the list getifaddrs returned, which stays valid until freed.
            let entry = unsafe { &*cursor };
            cursor = entry.ifa_next;
            // SAFETY: the address and netmask point at sockaddrs of the family they name.
            let (Some(address), Some(mask)) = (unsafe { ip_of(entry.ifa_addr) }, unsafe {
                ip_of(entry.ifa_netmask)
            }) else {
                continue;
            };
            // SAFETY: ifa_name is a NUL-terminated string owned by the list.
            let interface = unsafe { CStr::from_ptr(entry.ifa_name) }
                .to_string_lossy()
                .into_owned();
            addresses.push(InterfaceAddress {
                interface,
                address,
                prefix: prefix_of(mask),
            });
        }
        // SAFETY: `head` came from getifaddrs and is freed once.
        unsafe { libc::freeifaddrs(head) };
        Interfaces { addresses }
    }

    /// Whether `ip` is an address of one of this machine's interfaces.
    pub fn is_local(&self, ip: IpAddr) -> bool {
        self.addresses.iter().any(|a| a.address == ip)
    }

    /// The IPv4 addresses of the interface named `name`, with their prefix lengths.
    pub fn ipv4_of(&self, name: &str) -> Vec<(Ipv4Addr, u8)> {
        self.addresses
            .iter()
            .filter(|a| a.interface == name)
            .filter_map(|a| match a.address {
                IpAddr::V4(v4) => Some((v4, a.prefix)),
                IpAddr::V6(_) => None,
            })
            .collect()
    }
}

/// The IP address in a `sockaddr`, when it is IPv4 or IPv6.
///
/// # Safety
/// `addr` is null or points at a sockaddr whose `sa_family` tells its real type.
unsafe fn ip_of(addr: *const libc::sockaddr) -> Option<IpAddr> {
    if addr.is_null() {
        return None;
    }
    match i32::from((*addr).sa_family) {
        libc::AF_INET => {
            let v4 = &*(addr as *const libc::sockaddr_in);
            Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(v4.sin_addr.s_addr))))
        }
        libc::AF_INET6 => {
            let v6 = &*(addr as *const libc::sockaddr_in6);
            Some(IpAddr::V6(Ipv6Addr::from(v6.sin6_addr.s6_addr)))
        }
        _ => None,
    }
}

/// The prefix length of a netmask (its leading one bits).
fn prefix_of(mask: IpAddr) -> u8 {
    let ones = match mask {
        IpAddr::V4(m) => u32::from(m).leading_ones(),
        IpAddr::V6(m) => u128::from(m).leading_ones(),
    };
    ones as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_loopback_interface_is_listed_with_its_prefix() {
        let interfaces = Interfaces::read();
        assert!(
            interfaces.is_local(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            "{interfaces:?}"
        );
        let lo = interfaces.ipv4_of("lo");
        assert!(lo.contains(&(Ipv4Addr::LOCALHOST, 8)), "{lo:?}");
        assert!(!interfaces.is_local("192.0.2.1".parse().unwrap()));
    }

    #[test]
    fn prefixes_from_netmasks() {
        assert_eq!(prefix_of("255.255.0.0".parse().unwrap()), 16);
        assert_eq!(prefix_of("255.255.255.255".parse().unwrap()), 32);
        assert_eq!(prefix_of("ffff:ffff:ffff:ffff::".parse().unwrap()), 64);
    }
}
