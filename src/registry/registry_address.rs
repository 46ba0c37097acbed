//! `RegistryAddress`: a registry and the path images go under (`host:port/path`), and the
//! immutable references ferrostack pushes there.

use std::fmt;

use super::TAG_HASH_DIGITS;

/// `host[:port][/path]`, as written in `registry = "…"` (no scheme: the engine decides).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryAddress {
    text: String,
    /// Listed as insecure: ferrostack's own calls use plain HTTP (the engine needs the same host
    /// in its `insecure-registries`).
    insecure: bool,
}

impl RegistryAddress {
    /// Checks the form; the error says what is wrong.
    pub fn parse(text: &str) -> Result<RegistryAddress, String> {
        let text = text.trim_end_matches('/');
        if text.contains("://") {
            return Err(format!("`{text}` has a scheme: write the registry as `host:port/path` (the engine chooses HTTPS, or plain HTTP for loopback and its insecure registries)"));
        }
        let (host, path) = text.split_once('/').unwrap_or((text, ""));
        let host_ok = !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
        let path_ok = path.chars().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-' | '/')
        });
        if !host_ok || !path_ok || path.contains("//") {
            return Err(format!("`{text}` is not a registry address (e.g. `registry.example:5000/stacks` or `127.0.0.1:5000`)"));
        }
        Ok(RegistryAddress {
            text: text.to_string(),
            insecure: false,
        })
    }

    /// The same address, spoken to over plain HTTP when `insecure` (loopback always is).
    pub fn insecure(self, insecure: bool) -> RegistryAddress {
        RegistryAddress { insecure, ..self }
    }

    /// Whether it is listed as insecure (plain HTTP).
    pub fn is_insecure(&self) -> bool {
        self.insecure
    }

    /// The host (with port), the key of `~/.docker/config.json`'s `auths`.
    pub fn host(&self) -> &str {
        self.text.split('/').next().unwrap_or(&self.text)
    }

    /// The repository's name inside the registry (`path/repository`), as its API names it.
    pub fn name(&self, repository: &str) -> String {
        match self.text.split_once('/') {
            Some((_, path)) => format!("{path}/{repository}"),
            None => repository.to_string(),
        }
    }

    /// The repository `<registry>/<repository>` the stacks' images go to.
    pub fn repository(&self, repository: &str) -> String {
        format!("{}/{repository}", self.text)
    }

    /// The immutable reference of a stack's image: `<registry>/<repository>:<stack>-<hash16>`.
    /// The same definitions give the same reference on every machine.
    pub fn image(&self, repository: &str, stack: &str, hash: &str) -> String {
        let hex = hash.strip_prefix("sha256:").unwrap_or(hash);
        format!(
            "{}:{stack}-{}",
            self.repository(repository),
            &hex[..TAG_HASH_DIGITS.min(hex.len())]
        )
    }

    /// The reference of exactly the manifest `digest`: `<registry>/<repository>@<digest>`.
    pub fn by_digest(&self, repository: &str, digest: &str) -> String {
        format!("{}@{digest}", self.repository(repository))
    }
}

impl fmt::Display for RegistryAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_derived_from_the_hash() {
        let r = RegistryAddress::parse("127.0.0.1:5000/team/").unwrap();
        assert_eq!(r.host(), "127.0.0.1:5000");
        assert_eq!(r.name("ferrostack"), "team/ferrostack");
        assert_eq!(
            RegistryAddress::parse("r.example")
                .unwrap()
                .name("ferrostack"),
            "ferrostack"
        );
        assert_eq!(
            r.image("ferrostack", "python-3.11", "sha256:0123456789abcdef0123"),
            "127.0.0.1:5000/team/ferrostack:python-3.11-0123456789abcdef"
        );
        assert_eq!(
            r.by_digest("ferrostack", "sha256:ff"),
            "127.0.0.1:5000/team/ferrostack@sha256:ff"
        );
        assert_eq!(
            RegistryAddress::parse("registry.example").unwrap().host(),
            "registry.example"
        );
    }

    #[test]
    fn bad_addresses_say_why() {
        insta::assert_snapshot!(RegistryAddress::parse("https://r.example").unwrap_err(), @"`https://r.example` has a scheme: write the registry as `host:port/path` (the engine chooses HTTPS, or plain HTTP for loopback and its insecure registries)");
        assert!(RegistryAddress::parse("r.example/Upper").is_err());
        assert!(RegistryAddress::parse("r example").is_err());
        assert!(RegistryAddress::parse("").is_err());
    }
}
