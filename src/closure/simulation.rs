//! `Simulation`: what `apt-get install --simulate` says it would install or upgrade over an
//! image (its `Inst` lines), which `update` pins as the stack's closure.

use std::collections::BTreeMap;

/// The packages one simulated `apt-get install` would install or upgrade, and apt's errors.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Simulation {
    /// Package name → the version apt would install.
    pub installs: BTreeMap<String, String>,
    /// apt's `E:` lines, when it could not resolve the install.
    pub errors: Vec<String>,
}

impl Simulation {
    /// Reads one line of `apt-get install --simulate` output: `Inst NAME [OLD] (VERSION …)`
    /// adds the package, `E: …` an error; anything else is left alone.
    pub fn read_line(&mut self, line: &str) {
        if let Some(error) = line.strip_prefix("E: ") {
            self.errors.push(error.trim().to_string());
            return;
        }
        let Some(rest) = line.strip_prefix("Inst ") else {
            return;
        };
        let Some((name, rest)) = rest.split_once(' ') else {
            return;
        };
        // Upgrades name the installed version first: `Inst libssl3 [3.0.11-1] (3.0.17-1 …)`.
        let rest = match rest.strip_prefix('[') {
            Some(r) => r.split_once("] ").map_or("", |(_, r)| r),
            None => rest,
        };
        let Some(version) = rest
            .strip_prefix('(')
            .and_then(|r| r.split([' ', ')']).next())
        else {
            return;
        };
        // A foreign-architecture package reads `name:arch`; pins name the package.
        let name = name.split(':').next().unwrap_or(name);
        if crate::debian::is_package_name(name) && crate::debian::is_version(version) {
            self.installs.insert(name.to_string(), version.to_string());
        }
    }

    /// Whether apt resolved the install.
    pub fn resolved(&self) -> bool {
        self.errors.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inst_lines_give_packages_and_versions_and_errors_are_kept() {
        let mut sim = Simulation::default();
        for line in [
            "NOTE: This is only a simulation!",
            "Inst libonig5 (6.9.8-1 Debian:12.12/stable [amd64])",
            "Inst libssl3 [3.0.11-1~deb12u2] (3.0.17-1~deb12u3 Debian-Security:12/stable-security [amd64])",
            "Inst libc6:i386 (2.36-9+deb12u10 Debian:12.12/stable [i386])",
            "Conf libonig5 (6.9.8-1 Debian:12.12/stable [amd64])",
            "Inst bad (not a version; rm [amd64])",
        ] {
            sim.read_line(line);
        }
        let installs: Vec<String> = sim
            .installs
            .iter()
            .map(|(p, v)| format!("{p}={v}"))
            .collect();
        assert_eq!(
            installs,
            [
                "libc6=2.36-9+deb12u10",
                "libonig5=6.9.8-1",
                "libssl3=3.0.17-1~deb12u3"
            ]
        );
        assert!(sim.resolved());
        sim.read_line("E: Unable to locate package nope");
        assert_eq!(sim.errors, ["Unable to locate package nope"]);
        assert!(!sim.resolved());
    }
}
