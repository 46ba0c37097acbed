//! `Ecosystem`: a language package manager whose packages a stack's steps install (pip, npm,
//! gem, Composer): its key prefix in the lock, its purl type, and the names it allows.

/// One language package manager.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Ecosystem {
    Pypi,
    Npm,
    Gem,
    Composer,
}

impl Ecosystem {
    pub const ALL: [Ecosystem; 4] = [
        Ecosystem::Pypi,
        Ecosystem::Npm,
        Ecosystem::Gem,
        Ecosystem::Composer,
    ];

    /// The prefix of its packages' keys in the lock (`pypi:requests`) and its purl type.
    pub fn key(self) -> &'static str {
        match self {
            Ecosystem::Pypi => "pypi",
            Ecosystem::Npm => "npm",
            Ecosystem::Gem => "gem",
            Ecosystem::Composer => "composer",
        }
    }

    /// The ecosystem a lock key's prefix names.
    pub fn from_key(key: &str) -> Option<Ecosystem> {
        Ecosystem::ALL.into_iter().find(|e| e.key() == key)
    }

    /// The package's purl (`pkg:pypi/requests@2.31.0`, `pkg:npm/%40scope/name@1.0.0`,
    /// `pkg:composer/vendor/name@1.0`): PyPI names normalised as the purl spec asks, an npm
    /// scope's `@` percent-encoded.
    pub fn purl(self, name: &str, version: &str) -> String {
        let name = match self {
            Ecosystem::Pypi => name.to_ascii_lowercase().replace('_', "-"),
            Ecosystem::Npm => name.replace('@', "%40"),
            Ecosystem::Gem | Ecosystem::Composer => name.to_string(),
        };
        format!("pkg:{}/{name}@{}", self.key(), version.replace('+', "%2B"))
    }

    /// Whether `name` and `version` are what the manager itself allows (and nothing a lock
    /// edited by hand could smuggle into a document): letters, digits, `.`, `_`, `-`, `+`, `!`,
    /// and for npm a scope `@scope/`, for Composer one `vendor/`.
    pub fn is_valid(self, name: &str, version: &str) -> bool {
        let plain = |s: &str| {
            !s.is_empty()
                && s.len() <= 214
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        };
        let name_ok = match self {
            Ecosystem::Npm => match name.strip_prefix('@') {
                Some(scoped) => scoped
                    .split_once('/')
                    .is_some_and(|(scope, n)| plain(scope) && plain(n)),
                None => plain(name),
            },
            Ecosystem::Composer => name
                .split_once('/')
                .is_some_and(|(vendor, n)| plain(vendor) && plain(n)),
            Ecosystem::Pypi | Ecosystem::Gem => plain(name),
        };
        name_ok
            && !version.is_empty()
            && version.len() <= 128
            && version
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+' | '!'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purls_and_names() {
        assert_eq!(
            Ecosystem::Pypi.purl("Typing_Extensions", "4.9.0"),
            "pkg:pypi/typing-extensions@4.9.0"
        );
        assert_eq!(
            Ecosystem::Npm.purl("@types/node", "20.1.0"),
            "pkg:npm/%40types/node@20.1.0"
        );
        assert_eq!(
            Ecosystem::Composer.purl("monolog/monolog", "3.5.0"),
            "pkg:composer/monolog/monolog@3.5.0"
        );
        assert!(
            Ecosystem::Npm.is_valid("@types/node", "20.1.0")
                && Ecosystem::Pypi.is_valid("zope.interface", "6.0+local")
        );
        assert!(
            !Ecosystem::Pypi.is_valid("x\"; rm", "1")
                && !Ecosystem::Composer.is_valid("nodash", "1")
                && !Ecosystem::Gem.is_valid("rake", "13 0")
        );
    }
}
