//! `Engine::bridge_host`: where a build's containers reach the machine the engine runs on, and
//! the subnet they come from.
//!
//! A freshly initialised docker.io 20.10 lists its default bridge with a subnet but no
//! `Gateway` (the field appears only after the engine restarts), although `docker0` has the
//! address all along; so the IPAM gateway is only the first of three places to look.

use std::net::{IpAddr, Ipv4Addr};

use bollard::models::Network;

use super::client::Engine;
use super::error::{EngineError, Result};
use crate::interfaces::Interfaces;
use crate::subnet::Subnet;

/// The bridge interface Docker creates for its default network.
const DEFAULT_BRIDGE_INTERFACE: &str = "docker0";
/// The network option naming the bridge interface.
const BRIDGE_NAME_OPTION: &str = "com.docker.network.bridge.name";

/// The host as the engine's `RUN` containers see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BridgeHost {
    /// The host's address on the bridge (containers' default route).
    pub address: Ipv4Addr,
    /// The bridge network's subnet: containers' addresses come from it.
    pub subnet: Subnet,
    /// Which of the three lookups found it.
    pub found_by: BridgeSource,
}

/// Where [`BridgeHost::address`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BridgeSource {
    /// The `Gateway` of the network's IPAM configuration.
    IpamGateway,
    /// The IPv4 address of the bridge interface the network names.
    Interface,
    /// The first host address of the IPAM subnet, checked to be an address of this machine.
    FirstHostAddress,
}

impl Engine {
    /// Whether the engine runs on this machine (a unix socket), so that a server this process
    /// starts is reachable from the engine's containers.
    pub fn is_local(&self) -> bool {
        let address = self.address();
        address.starts_with("unix://") || address.starts_with('/')
    }

    /// The host's address on the engine's default `bridge` network and the network's subnet.
    /// `Ok(Err(reason))` when none of the lookups answers.
    pub async fn bridge_host(&self) -> Result<std::result::Result<BridgeHost, String>> {
        let network = self
            .docker
            .inspect_network(
                "bridge",
                None::<bollard::query_parameters::InspectNetworkOptions>,
            )
            .await
            .map_err(|e| EngineError::api("inspect_network", e))?;
        Ok(find_bridge_host(&network, &Interfaces::read()))
    }
}

/// Finds the host's bridge address in this order: the IPAM `Gateway`; the IPv4 address of the
/// bridge interface the network names (`docker0` by default); the first host address of the
/// IPAM subnet when it is an address of this machine.
pub fn find_bridge_host(
    network: &Network,
    interfaces: &Interfaces,
) -> std::result::Result<BridgeHost, String> {
    let configs = network
        .ipam
        .as_ref()
        .and_then(|ipam| ipam.config.clone())
        .unwrap_or_default();
    // The IPv4 subnets the network declares, with their gateways when given.
    let subnets: Vec<(Subnet, Option<Ipv4Addr>)> = configs
        .iter()
        .filter_map(|c| {
            let subnet = c
                .subnet
                .as_deref()?
                .parse::<Subnet>()
                .ok()
                .filter(|s| s.address().is_ipv4())?;
            let gateway = c
                .gateway
                .as_deref()
                .and_then(|g| g.parse::<Ipv4Addr>().ok());
            Some((subnet, gateway))
        })
        .collect();
    let interface = network
        .options
        .as_ref()
        .and_then(|o| o.get(BRIDGE_NAME_OPTION))
        .cloned()
        .unwrap_or_else(|| DEFAULT_BRIDGE_INTERFACE.to_string());

    if let Some(&(subnet, Some(address))) = subnets.iter().find(|(_, gateway)| gateway.is_some()) {
        return Ok(BridgeHost {
            address,
            subnet,
            found_by: BridgeSource::IpamGateway,
        });
    }
    // The interface's address, inside a declared subnet when there is one (else the
    // interface's own network).
    let declared = |ip: Ipv4Addr| {
        subnets
            .iter()
            .map(|(s, _)| *s)
            .find(|s| s.contains(IpAddr::V4(ip)))
    };
    for (address, prefix) in interfaces.ipv4_of(&interface) {
        let subnet = match declared(address) {
            Some(subnet) => subnet,
            None if subnets.is_empty() => Subnet::new(IpAddr::V4(address), prefix)
                .expect("an interface's IPv4 prefix is at most 32"),
            None => continue,
        };
        return Ok(BridgeHost {
            address,
            subnet,
            found_by: BridgeSource::Interface,
        });
    }
    for (subnet, _) in &subnets {
        if let Some(first) = subnet
            .first_host()
            .filter(|ip| interfaces.is_local(IpAddr::V4(*ip)))
        {
            return Ok(BridgeHost {
                address: first,
                subnet: *subnet,
                found_by: BridgeSource::FirstHostAddress,
            });
        }
    }
    Err(if subnets.is_empty() {
        format!("the engine's `bridge` network has no IPv4 subnet, and interface `{interface}` has no IPv4 address")
    } else {
        format!("the engine's `bridge` network has no IPv4 gateway, interface `{interface}` has no address in its subnet, and its first host address is not an address of this machine")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interfaces::InterfaceAddress;

    fn network(json: &str) -> Network {
        serde_json::from_str(json).unwrap()
    }

    fn machine(addresses: &[(&str, &str, u8)]) -> Interfaces {
        Interfaces {
            addresses: addresses
                .iter()
                .map(|(i, a, p)| InterfaceAddress {
                    interface: i.to_string(),
                    address: a.parse().unwrap(),
                    prefix: *p,
                })
                .collect(),
        }
    }

    const OPTIONS: &str = r#""Options": {"com.docker.network.bridge.default_bridge": "true", "com.docker.network.bridge.name": "docker0"}"#;

    #[test]
    fn a_restarted_engine_names_its_gateway() {
        let n = network(&format!(
            r#"{{"Name": "bridge", "IPAM": {{"Driver": "default", "Config": [{{"Subnet": "172.17.0.0/16", "Gateway": "172.17.0.1"}}]}}, {OPTIONS}}}"#
        ));
        let host = find_bridge_host(&n, &machine(&[])).unwrap();
        assert_eq!(host.address, Ipv4Addr::new(172, 17, 0, 1));
        assert_eq!(
            (host.subnet.to_string(), host.found_by),
            ("172.17.0.0/16".to_string(), BridgeSource::IpamGateway)
        );
    }

    /// What a freshly initialised docker.io 20.10 answers (seen on a new Debian 12 machine).
    #[test]
    fn a_fresh_engine_without_gateway_is_found_on_its_bridge_interface() {
        let n = network(&format!(
            r#"{{"Name": "bridge", "IPAM": {{"Driver": "default", "Options": null, "Config": [{{"Subnet": "172.17.0.0/16"}}]}}, {OPTIONS}}}"#
        ));
        let interfaces = machine(&[
            ("lo", "127.0.0.1", 8),
            ("eth0", "10.0.2.15", 24),
            ("docker0", "172.17.0.1", 16),
        ]);
        let host = find_bridge_host(&n, &interfaces).unwrap();
        assert_eq!(
            (host.address, host.found_by),
            (Ipv4Addr::new(172, 17, 0, 1), BridgeSource::Interface)
        );
        assert_eq!(host.subnet.to_string(), "172.17.0.0/16");
    }

    #[test]
    fn the_interface_the_network_names_is_the_one_read() {
        let n = network(
            r#"{"Name": "bridge", "IPAM": {"Config": [{"Subnet": "10.99.0.0/24"}]}, "Options": {"com.docker.network.bridge.name": "br-test"}}"#,
        );
        let interfaces = machine(&[("docker0", "172.17.0.1", 16), ("br-test", "10.99.0.1", 24)]);
        let host = find_bridge_host(&n, &interfaces).unwrap();
        assert_eq!(
            (host.address, host.found_by),
            (Ipv4Addr::new(10, 99, 0, 1), BridgeSource::Interface)
        );
    }

    #[test]
    fn the_first_host_address_counts_only_when_it_is_this_machines() {
        // The interface is not named docker0 and the network does not say which it is.
        let n = network(r#"{"Name": "bridge", "IPAM": {"Config": [{"Subnet": "172.20.0.0/16"}]}}"#);
        let host = find_bridge_host(&n, &machine(&[("br0", "172.20.0.1", 16)])).unwrap();
        assert_eq!(
            (host.address, host.found_by),
            (Ipv4Addr::new(172, 20, 0, 1), BridgeSource::FirstHostAddress)
        );
        let none = find_bridge_host(&n, &machine(&[("eth0", "10.0.2.15", 24)])).unwrap_err();
        insta::assert_snapshot!(none, @"the engine's `bridge` network has no IPv4 gateway, interface `docker0` has no address in its subnet, and its first host address is not an address of this machine");
    }

    #[test]
    fn an_ipv6_only_bridge_has_no_ipv4_host() {
        let n = network(&format!(
            r#"{{"Name": "bridge", "IPAM": {{"Config": [{{"Subnet": "fd00:1::/64", "Gateway": "fd00:1::1"}}]}}, {OPTIONS}}}"#
        ));
        let err = find_bridge_host(&n, &machine(&[("docker0", "fd00:1::1", 64)])).unwrap_err();
        insta::assert_snapshot!(err, @"the engine's `bridge` network has no IPv4 subnet, and interface `docker0` has no IPv4 address");
        // No subnet at all, but the interface has an address: use it with its own prefix.
        let host = find_bridge_host(&n, &machine(&[("docker0", "172.17.0.1", 16)])).unwrap();
        assert_eq!(host.subnet.to_string(), "172.17.0.0/16");
    }
}
