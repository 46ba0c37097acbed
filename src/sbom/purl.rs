//! Package URLs (purl) of what an image holds: `pkg:deb/debian/NAME@VERSION?arch=ARCH&distro=debian-N`
//! and `pkg:cargo/NAME@VERSION`, with versions percent-encoded as the purl spec asks.

/// Percent-encodes everything but unreserved characters (`:` of an epoch, `+`, `~`).
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// A Debian package's purl.
pub fn deb(name: &str, version: &str, arch: &str, debian_version: &str) -> String {
    format!(
        "pkg:deb/debian/{}@{}?arch={}&distro=debian-{}",
        encode(name),
        encode(version),
        encode(arch),
        encode(debian_version)
    )
}

/// A crate's purl.
pub fn cargo(name: &str, version: &str) -> String {
    format!("pkg:cargo/{}@{}", encode(name), encode(version))
}

#[cfg(test)]
mod tests {
    #[test]
    fn versions_are_percent_encoded() {
        assert_eq!(
            super::deb("libssl3", "3.0.17-1~deb12u2", "amd64", "12"),
            "pkg:deb/debian/libssl3@3.0.17-1%7Edeb12u2?arch=amd64&distro=debian-12"
        );
        assert_eq!(
            super::deb("vim", "2:9.0.1378-2", "amd64", "12"),
            "pkg:deb/debian/vim@2%3A9.0.1378-2?arch=amd64&distro=debian-12"
        );
        assert_eq!(
            super::deb("libstdc++6", "12.2.0-14+deb12u1", "amd64", "12"),
            "pkg:deb/debian/libstdc%2B%2B6@12.2.0-14%2Bdeb12u1?arch=amd64&distro=debian-12"
        );
        assert_eq!(super::cargo("serde", "1.0.228"), "pkg:cargo/serde@1.0.228");
    }
}
