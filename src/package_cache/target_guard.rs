//! `TargetGuard`: the addresses a `CONNECT` tunnel must never reach (loopback, link-local,
//! unspecified, and every address of this machine), checked on the resolved address, so a
//! name that resolves to one of them does not open the host's own services to a container.

use std::net::IpAddr;

use crate::interfaces::Interfaces;

/// The addresses of this machine, read once when the package cache starts.
#[derive(Debug, Clone, Default)]
pub(super) struct TargetGuard {
    local: Interfaces,
}

impl TargetGuard {
    /// Reads this machine's interface addresses (`getifaddrs`).
    pub(super) fn of_this_machine() -> TargetGuard {
        TargetGuard {
            local: Interfaces::read(),
        }
    }

    /// Whether a tunnel may go to `ip`.
    pub(super) fn permits(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        let reserved = match ip {
            IpAddr::V4(v4) => {
                v4.is_loopback()
                    || v4.is_link_local()
                    || v4.is_unspecified()
                    || v4.is_broadcast()
                    || v4.is_multicast()
                    || v4.octets()[0] == 0
            }
            IpAddr::V6(v6) => {
                v6.is_loopback()
                    || v6.is_unspecified()
                    || v6.is_multicast()
                    || (v6.segments()[0] & 0xffc0) == 0xfe80
            }
        };
        !reserved && !self.local.is_local(ip)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_and_local_addresses_are_refused() {
        let guard = TargetGuard::of_this_machine();
        for bad in [
            "127.0.0.1",
            "127.8.9.10",
            "0.0.0.0",
            "169.254.169.254",
            "::1",
            "::",
            "fe80::1",
            "::ffff:127.0.0.1",
            "255.255.255.255",
        ] {
            assert!(!guard.permits(bad.parse().unwrap()), "{bad}");
        }
        assert!(
            guard
                .local
                .addresses
                .iter()
                .any(|a| a.address.is_loopback()),
            "getifaddrs lists the loopback: {:?}",
            guard.local
        );
        for local in &guard.local.addresses {
            assert!(!guard.permits(local.address), "{local:?}");
        }
        // TEST-NET-3 (RFC 5737) is no interface of this machine.
        assert!(guard.permits("203.0.113.7".parse().unwrap()));
    }
}
