//! `EngineSpec`: one engine a build may use, as the settings name it (`[[engine]]` in
//! `ferrostack.toml`, `FERROSTACK_ENGINES`, `--engine`).

use serde::Deserialize;

/// The networks a build's `RUN` steps may use on an engine.
pub const BUILD_NETWORKS: [&str; 2] = ["bridge", "host"];

/// An engine address and how much of it a build may use.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineSpec {
    /// `unix:///path`, `/path`, `tcp://host:port` or `http://host:port`.
    pub address: String,
    /// Stacks built on it at once (default: its CPU count, from the engine's `/info`).
    #[serde(default)]
    pub slots: Option<usize>,
    /// The network `RUN` steps use: `bridge` (the engine's default) or `host` (for an engine
    /// whose bridge has no route out).
    #[serde(default)]
    pub network: Option<String>,
}

impl EngineSpec {
    /// An engine named only by its address.
    pub fn at(address: &str) -> EngineSpec {
        EngineSpec {
            address: address.to_string(),
            slots: None,
            network: None,
        }
    }

    /// Every address of a comma-separated list (`FERROSTACK_ENGINES`), blanks left out.
    pub fn list(text: &str) -> Vec<EngineSpec> {
        text.split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(EngineSpec::at)
            .collect()
    }

    /// Why this spec can't be used, if it can't.
    pub fn check(&self) -> Result<(), String> {
        let a = &self.address;
        let scheme_ok = ["unix://", "tcp://", "http://"]
            .iter()
            .any(|s| a.strip_prefix(s).is_some_and(|rest| !rest.is_empty()))
            || a.starts_with('/');
        if !scheme_ok {
            return Err(format!("engine address `{a}` is not `unix:///path`, `/path`, `tcp://host:port` or `http://host:port`"));
        }
        if self.slots == Some(0) {
            return Err(format!("engine `{a}`: `slots` must be at least 1"));
        }
        if let Some(n) = &self.network {
            if !BUILD_NETWORKS.contains(&n.as_str()) {
                return Err(format!(
                    "engine `{a}`: `network = \"{n}\"` is not one of {}",
                    BUILD_NETWORKS.join(", ")
                ));
            }
        }
        Ok(())
    }

    /// Why a list of engines can't be used together, if it can't: each must be valid, and no
    /// address may appear twice (one engine would be scheduled as two).
    pub fn check_all(specs: &[EngineSpec]) -> Result<(), String> {
        let mut seen = std::collections::BTreeSet::new();
        for spec in specs {
            spec.check()?;
            if !seen.insert(spec.address.trim_start_matches("unix://")) {
                return Err(format!("engine `{}` is listed twice", spec.address));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_of_addresses_reads_as_specs_and_is_checked() {
        let specs = EngineSpec::list(" unix:///var/run/docker.sock, ,tcp://10.0.0.2:2375");
        assert_eq!(
            specs,
            [
                EngineSpec::at("unix:///var/run/docker.sock"),
                EngineSpec::at("tcp://10.0.0.2:2375")
            ]
        );
        assert_eq!(EngineSpec::check_all(&specs), Ok(()));
        let twice = [
            EngineSpec::at("unix:///var/run/docker.sock"),
            EngineSpec::at("/var/run/docker.sock"),
        ];
        assert_eq!(
            EngineSpec::check_all(&twice),
            Err("engine `/var/run/docker.sock` is listed twice".into())
        );
        assert!(EngineSpec::at("docker.example:2375")
            .check()
            .unwrap_err()
            .contains("is not `unix:///path`"));
        assert!(EngineSpec::at("tcp://").check().is_err());
        let zero = EngineSpec {
            slots: Some(0),
            ..EngineSpec::at("/x.sock")
        };
        assert_eq!(
            zero.check(),
            Err("engine `/x.sock`: `slots` must be at least 1".into())
        );
        let net = EngineSpec {
            network: Some("none".into()),
            ..EngineSpec::at("/x.sock")
        };
        assert_eq!(
            net.check(),
            Err("engine `/x.sock`: `network = \"none\"` is not one of bridge, host".into())
        );
    }
}
