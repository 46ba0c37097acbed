//! `AllowList`: the hosts the package cache serves plain HTTP for, and those it opens
//! `CONNECT` tunnels to; everything else is refused, so the cache is not an open proxy.

use std::collections::BTreeSet;

/// Debian's own hosts, served whatever the catalogue says (apt's security updates).
pub const DEBIAN_HOSTS: [&str; 2] = ["deb.debian.org", "security.debian.org"];

/// HTTPS registries the bundled catalogue's steps reach through `http_proxy` (gem and
/// Composer fall back to it for HTTPS; pip and npm read only `https_proxy` and go direct).
pub const REGISTRY_HOSTS: [&str; 9] = [
    "rubygems.org",
    "index.rubygems.org",
    "repo.packagist.org",
    "getcomposer.org",
    "api.github.com",
    "codeload.github.com",
    "pypi.org",
    "files.pythonhosted.org",
    "registry.npmjs.org",
];

/// The port plain HTTP goes to unless an entry names another.
const HTTP_PORT: u16 = 80;
/// The only port `CONNECT` goes to.
pub const HTTPS_PORT: u16 = 443;

/// Allowed `host:port` pairs for plain HTTP and allowed hosts for `CONNECT` (port 443 only).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    http: BTreeSet<(String, u16)>,
    connect: BTreeSet<String>,
}

impl AllowList {
    /// Nothing allowed.
    pub fn empty() -> AllowList {
        AllowList::default()
    }

    /// Debian's hosts (HTTP and HTTPS) and the registries of [`REGISTRY_HOSTS`] (HTTPS only).
    pub fn with_defaults() -> AllowList {
        let mut list = AllowList::empty();
        for host in DEBIAN_HOSTS {
            list.allow(host).expect("a plain host name");
        }
        list.connect
            .extend(REGISTRY_HOSTS.iter().map(|h| h.to_string()));
        list
    }

    /// Allows an entry: `host` (HTTP on port 80 and `CONNECT` to 443), `host:port` (that port
    /// only: `CONNECT` when it is 443, plain HTTP otherwise), or a URL such as a mirror's
    /// `http://deb.debian.org/debian` (its host and port).
    pub fn allow(&mut self, entry: &str) -> Result<(), String> {
        let entry = entry.trim();
        let without_scheme = entry.split_once("://").map_or(entry, |(_, rest)| rest);
        let authority = without_scheme.split(['/', '?', '#']).next().unwrap_or("");
        let (host, port) = split_authority(authority)
            .ok_or_else(|| format!("`{entry}` is not a host, `host:port` or URL"))?;
        match port {
            None => {
                self.http.insert((host.clone(), HTTP_PORT));
                self.connect.insert(host);
            }
            Some(HTTPS_PORT) => {
                self.connect.insert(host);
            }
            Some(port) => {
                self.http.insert((host, port));
            }
        }
        Ok(())
    }

    /// Whether plain HTTP to `authority` (`host` or `host:port`) is served.
    pub fn allows_http(&self, authority: &str) -> bool {
        match split_authority(authority) {
            Some((host, port)) => self.http.contains(&(host, port.unwrap_or(HTTP_PORT))),
            None => false,
        }
    }

    /// Whether a `CONNECT` tunnel to `authority` (`host:443`) may be opened; its resolved
    /// addresses are checked separately.
    pub fn allows_connect(&self, authority: &str) -> bool {
        match split_authority(authority) {
            Some((host, Some(HTTPS_PORT))) => self.connect.contains(&host),
            _ => false,
        }
    }
}

/// `Deb.Debian.org.:80` → (`deb.debian.org`, Some(80)); `[::1]:8080` → (`[::1]`, Some(8080)).
/// `None` for an empty host, a bad port, or characters no host name has.
pub(super) fn split_authority(authority: &str) -> Option<(String, Option<u16>)> {
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let (host, port) = if authority.starts_with('[') {
        let end = authority.find(']')?;
        let port = authority[end + 1..].strip_prefix(':');
        if port.is_none() && end + 1 != authority.len() {
            return None;
        }
        (&authority[..=end], port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let port = match port {
        Some(p) => Some(p.parse::<u16>().ok()?),
        None => None,
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '[' | ']' | ':'));
    ok.then_some((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_and_ports() {
        let mut list = AllowList::with_defaults();
        list.allow("http://Mirror.Example/debian/").unwrap();
        list.allow("localhost:3142").unwrap();
        list.allow("files.example:443").unwrap();
        assert!(list.allows_http("deb.debian.org"));
        assert!(list.allows_http("deb.debian.org:80"));
        assert!(list.allows_http("DEB.debian.org."));
        assert!(!list.allows_http("deb.debian.org:8080"));
        assert!(list.allows_http("mirror.example"));
        assert!(list.allows_http("localhost:3142"));
        assert!(!list.allows_http("localhost"));
        assert!(!list.allows_http("files.example"));
        assert!(
            !list.allows_http("rubygems.org"),
            "registries are HTTPS only"
        );
        assert!(!list.allows_http("example.org"));
        assert!(list.allows_connect("rubygems.org:443"));
        assert!(list.allows_connect("mirror.example:443"));
        assert!(list.allows_connect("files.example:443"));
        assert!(!list.allows_connect("rubygems.org:22"));
        assert!(!list.allows_connect("rubygems.org"));
        assert!(!list.allows_connect("localhost:3142"));
        assert!(!list.allows_connect("127.0.0.1:443"));
        assert!(list.allow("").is_err());
        assert!(list.allow("host:port").is_err());
        assert!(list.allow("bad host").is_err());
    }

    #[test]
    fn authorities() {
        assert_eq!(
            split_authority("[::1]:8080"),
            Some(("[::1]".into(), Some(8080)))
        );
        assert_eq!(split_authority("[::1]"), Some(("[::1]".into(), None)));
        assert_eq!(
            split_authority("user@host:80"),
            Some(("host".into(), Some(80)))
        );
        assert_eq!(split_authority("host:99999"), None);
        assert_eq!(split_authority(":80"), None);
    }
}
