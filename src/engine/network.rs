//! `Engine::bridge_gateway`: where a build's containers reach the machine the engine runs on.

use std::net::IpAddr;

use super::client::Engine;
use super::error::{EngineError, Result};

impl Engine {
    /// Whether the engine runs on this machine (a unix socket), so that a server this process
    /// starts is reachable from the engine's containers.
    pub fn is_local(&self) -> bool {
        let address = self.address();
        address.starts_with("unix://") || address.starts_with('/')
    }

    /// The gateway address of the engine's default `bridge` network: the host as the classic
    /// builder's `RUN` containers see it. `None` when the network has no IPv4 gateway.
    pub async fn bridge_gateway(&self) -> Result<Option<IpAddr>> {
        let network = self.docker.inspect_network("bridge", None::<bollard::query_parameters::InspectNetworkOptions>).await
            .map_err(|e| EngineError::api("inspect_network", e))?;
        let gateway = network
            .ipam
            .and_then(|ipam| ipam.config)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|c| c.gateway)
            .filter_map(|g| g.parse::<IpAddr>().ok())
            .find(|ip| ip.is_ipv4());
        Ok(gateway)
    }
}
