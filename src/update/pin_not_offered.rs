//! `PinNotOffered`: a build failed because the mirror no longer offers a pinned version.

use std::collections::BTreeMap;

/// A build failed because the mirror no longer offers a version the lock pins.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the mirror no longer offers pinned `{package}` version `{version}`{}; run `ferrostack update` to move the pin", of_text(.dependency_of))]
pub struct PinNotOffered {
    pub package: String,
    pub version: String,
    /// When the pin is a dependency pin: the named package that pulls it in.
    pub dependency_of: Option<String>,
}

fn of_text(of: &Option<String>) -> String {
    of.as_ref()
        .map(|of| format!(" (a dependency of `{of}`)"))
        .unwrap_or_default()
}

impl PinNotOffered {
    /// Names the package that pulls the pin in, when the stack's inputs (`dep:<of>:<pkg>`)
    /// say it is a dependency pin.
    pub fn with_inputs(mut self, inputs: &BTreeMap<String, String>) -> PinNotOffered {
        self.dependency_of = inputs.keys().find_map(|k| {
            let (of, dep) = k.strip_prefix("dep:")?.split_once(':')?;
            (dep == self.package).then(|| of.to_string())
        });
        self
    }

    /// Finds apt's `E: Version 'X' for 'pkg' was not found` in a build log (the classic
    /// builder colours a step's stderr, so colour codes are dropped first).
    pub fn find(log: &str) -> Option<PinNotOffered> {
        strip_colours(log).lines().find_map(|line| {
            let rest = line.trim().strip_prefix("E: Version '")?;
            let (version, rest) = rest.split_once("' for '")?;
            let (package, _) = rest.split_once("' was not found")?;
            Some(PinNotOffered {
                package: package.to_string(),
                version: version.to_string(),
                dependency_of: None,
            })
        })
    }
}

/// `text` without ANSI SGR sequences (`ESC [ ... m`).
fn strip_colours(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apt_missing_version_is_recognised() {
        let log = "Reading package lists...\nE: Version '1.5+dfsg-2' for 'jq' was not found\n";
        let found = PinNotOffered::find(log).unwrap();
        assert_eq!(
            found,
            PinNotOffered {
                package: "jq".into(),
                version: "1.5+dfsg-2".into(),
                dependency_of: None
            }
        );
        assert_eq!(
            found.to_string(),
            "the mirror no longer offers pinned `jq` version `1.5+dfsg-2`; run `ferrostack update` to move the pin"
        );
        let inputs = BTreeMap::from([
            ("dep:jq:libonig5".to_string(), "6.9.8-1".to_string()),
            ("pin:jq".to_string(), "1.6-2.1".to_string()),
        ]);
        let dependency = PinNotOffered::find("E: Version '6.9.8-1' for 'libonig5' was not found")
            .unwrap()
            .with_inputs(&inputs);
        assert_eq!(
            dependency.to_string(),
            "the mirror no longer offers pinned `libonig5` version `6.9.8-1` (a dependency of `jq`); run `ferrostack update` to move the pin"
        );
        assert_eq!(found.clone().with_inputs(&inputs).dependency_of, None);
        assert_eq!(PinNotOffered::find("E: Unable to locate package jq"), None);
        // As the classic builder streams it: stderr in red.
        let coloured = "   \u{1b}[91mE\u{1b}[0m\u{1b}[91m: \u{1b}[0m\u{1b}[91mVersion '1.5+dfsg-2' for 'jq' was not found\u{1b}[0m\u{1b}[91m\n";
        assert_eq!(PinNotOffered::find(coloured), Some(found));
    }
}
