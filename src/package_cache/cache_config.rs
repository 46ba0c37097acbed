//! `CacheConfig`: where the package cache listens, whom it answers, what it serves, and the
//! limits that keep a misbehaving client from using up the build process.

use std::net::IpAddr;
use std::time::Duration;

use super::allow_list::AllowList;
use crate::subnet::Subnet;

/// The largest file the cache fetches or relays: 2 GiB.
pub const DEFAULT_MAX_FILE_SIZE: u64 = 2 << 30;

/// How to run one package cache.
#[derive(Debug, Clone)]
pub struct CacheConfig {
    /// The address to listen on (a free port is picked).
    pub listen: IpAddr,
    /// Clients are accepted only from these networks (the engine's bridge).
    pub clients: Vec<Subnet>,
    /// What is served and tunnelled.
    pub allow: AllowList,
    /// Larger files are cut off and never kept.
    pub max_file_size: u64,
    /// A client must send a request's headers within this time.
    pub header_timeout: Duration,
    /// A tunnel with no traffic either way for this long is closed.
    pub tunnel_idle_timeout: Duration,
    /// Connections open at once (tunnels included); past it the oldest idle one is closed, or
    /// the new one gets `503` when none is idle.
    pub max_connections: usize,
}

impl CacheConfig {
    /// Defaults: Debian's hosts and the catalogue's registries allowed, 2 GiB per file, 30 s
    /// for headers, 2 minutes idle for tunnels, 512 connections.
    pub fn new(listen: IpAddr, clients: Vec<Subnet>) -> CacheConfig {
        CacheConfig {
            listen,
            clients,
            allow: AllowList::with_defaults(),
            max_file_size: DEFAULT_MAX_FILE_SIZE,
            header_timeout: Duration::from_secs(30),
            tunnel_idle_timeout: Duration::from_secs(120),
            max_connections: 512,
        }
    }
}
