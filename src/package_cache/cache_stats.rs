//! `CacheStats`: what the package cache did in one run, for the build's report.

use serde::Serialize;

/// Counts of one package cache's requests since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CacheStats {
    /// Immutable files served from disk.
    pub hits: u64,
    /// Immutable files fetched from upstream and kept.
    pub fetched: u64,
    /// Requests passed through uncached (release files, partial or non-GET requests, errors).
    pub passed: u64,
    /// HTTPS connections tunnelled with CONNECT (clients that send HTTPS through `http_proxy`).
    pub tunnels: u64,
    /// Requests refused (`403`): a host not allow-listed, a tunnel to this machine.
    pub refused: u64,
    /// Packages and indexes served or failed without being kept: no index named them, their
    /// bytes did not match, they broke off or passed the size limit.
    pub not_kept: u64,
    /// Bytes served from disk.
    pub bytes_hit: u64,
    /// Bytes fetched from upstream into the cache.
    pub bytes_fetched: u64,
}

impl std::fmt::Display for CacheStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} files from the cache ({}), {} fetched ({}), {} passed through, {} not kept, {} refused",
            self.hits,
            crate::units::show_size(self.bytes_hit),
            self.fetched,
            crate::units::show_size(self.bytes_fetched),
            self.passed,
            self.not_kept,
            self.refused
        )
    }
}
