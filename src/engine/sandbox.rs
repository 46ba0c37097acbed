//! `Sandbox`: how a container running untrusted work is confined (privileges, capabilities,
//! process count, root filesystem, network), turned into the engine's `HostConfig` fields.

use std::collections::HashMap;

use bollard::models::HostConfig;

/// The network a sandboxed container gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SandboxNetwork {
    /// No interface but loopback.
    None,
    /// The engine's default bridge (outbound access, as the docker CLI gives).
    Bridge,
}

/// Confinement for a command that is not trusted: `no-new-privileges`, every capability
/// dropped but `capabilities`, a pids limit, optionally a read-only root with a tmpfs `/tmp`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sandbox {
    /// Processes and threads the container may hold at once.
    pub pids_limit: i64,
    /// Capabilities kept (e.g. `CHOWN`); all others are dropped.
    pub capabilities: Vec<String>,
    /// Mount the image's filesystem read-only; `/tmp` is then a tmpfs.
    pub read_only_root: bool,
    /// The container's network.
    pub network: SandboxNetwork,
}

impl Sandbox {
    /// The pids limit of `ferrostack run` unless `--pids` says otherwise.
    pub const DEFAULT_PIDS: i64 = 512;

    /// Writes the confinement into `host` (other fields are left as they are).
    pub(crate) fn apply(&self, host: &mut HostConfig) {
        host.security_opt = Some(vec!["no-new-privileges".to_string()]);
        host.cap_drop = Some(vec!["ALL".to_string()]);
        host.cap_add = (!self.capabilities.is_empty()).then(|| self.capabilities.clone());
        host.pids_limit = Some(self.pids_limit);
        host.readonly_rootfs = Some(self.read_only_root);
        if self.read_only_root {
            // Programs expect a writable /tmp; its pages count against the memory limit.
            host.tmpfs = Some(HashMap::from([(
                "/tmp".to_string(),
                "rw,nosuid,nodev,mode=1777".to_string(),
            )]));
        }
        host.network_mode = Some(
            match self.network {
                SandboxNetwork::None => "none",
                SandboxNetwork::Bridge => "bridge",
            }
            .to_string(),
        );
    }
}

/// The defaults of `ferrostack run`: no capabilities, 512 processes, writable root, bridge.
impl Default for Sandbox {
    fn default() -> Self {
        Sandbox {
            pids_limit: Sandbox::DEFAULT_PIDS,
            capabilities: Vec::new(),
            read_only_root: false,
            network: SandboxNetwork::Bridge,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confines_and_drops_every_capability() {
        let mut host = HostConfig::default();
        Sandbox {
            read_only_root: true,
            network: SandboxNetwork::None,
            ..Sandbox::default()
        }
        .apply(&mut host);
        assert_eq!(
            host.security_opt,
            Some(vec!["no-new-privileges".to_string()])
        );
        assert_eq!(host.cap_drop, Some(vec!["ALL".to_string()]));
        assert_eq!(host.cap_add, None);
        assert_eq!(host.pids_limit, Some(512));
        assert_eq!(host.readonly_rootfs, Some(true));
        assert!(host.tmpfs.unwrap().contains_key("/tmp"));
        assert_eq!(host.network_mode.as_deref(), Some("none"));
    }

    #[test]
    fn a_writable_root_has_no_tmpfs() {
        let mut host = HostConfig::default();
        Sandbox::default().apply(&mut host);
        assert_eq!(host.readonly_rootfs, Some(false));
        assert_eq!(host.tmpfs, None);
        assert_eq!(host.network_mode.as_deref(), Some("bridge"));
    }
}
