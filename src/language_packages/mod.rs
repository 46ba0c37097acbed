//! The language packages in an image (pip, npm, gem, Composer), read at build time with each
//! tool's own list command and kept in the lock as what a stack added beside its parent.

mod ecosystem;

pub use ecosystem::Ecosystem;

use std::collections::BTreeMap;

/// A shell script printing, for each tool the image has, an `@<ecosystem>` line and the tool's
/// own listing: `pip list -v --format=json` (packages pip installed, not Debian's),
/// `npm ls -g --json --depth=0` (global packages under npm's prefix), RubyGems' installed
/// specifications outside Debian's directories and its default gems, `composer global show
/// --format=json`.
pub const QUERY: &str = r##"if command -v python3 >/dev/null 2>&1 && python3 -m pip --version >/dev/null 2>&1; then echo '@pypi'; python3 -m pip list -v --format=json --disable-pip-version-check 2>/dev/null; echo; fi
if command -v npm >/dev/null 2>&1; then echo '@npm'; npm ls -g --json --depth=0 2>/dev/null; echo; fi
if command -v ruby >/dev/null 2>&1; then echo '@gem'; ruby -e 'Gem::Specification.each { |s| puts "#{s.name}\t#{s.version}" unless s.default_gem? || s.base_dir.start_with?("/usr/share", "/usr/lib") }' 2>/dev/null; fi
if command -v composer >/dev/null 2>&1; then echo '@composer'; COMPOSER_ALLOW_SUPERUSER=1 composer global show --format=json --no-interaction 2>/dev/null; echo; fi
true"##;

/// Reads [`QUERY`]'s output: `<ecosystem>:<name>` → version, for names and versions each
/// manager allows (anything else in the output is left out).
pub fn parse(output: &str) -> BTreeMap<String, String> {
    let mut sections: Vec<(Ecosystem, String)> = Vec::new();
    for line in output.lines() {
        if let Some(e) = line
            .strip_prefix('@')
            .and_then(|k| Ecosystem::from_key(k.trim()))
        {
            sections.push((e, String::new()));
        } else if let Some((_, text)) = sections.last_mut() {
            text.push_str(line);
            text.push('\n');
        }
    }
    let mut out = BTreeMap::new();
    for (ecosystem, text) in sections {
        let listed: Vec<(String, String)> = match ecosystem {
            Ecosystem::Pypi => json(&text)
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter(|p| p["installer"] == "pip")
                        .filter_map(|p| {
                            Some((
                                p["name"].as_str()?.to_string(),
                                p["version"].as_str()?.to_string(),
                            ))
                        })
                        .collect()
                })
                .unwrap_or_default(),
            Ecosystem::Npm => json(&text)["dependencies"]
                .as_object()
                .map(|d| {
                    d.iter()
                        .filter_map(|(name, p)| {
                            Some((name.clone(), p["version"].as_str()?.to_string()))
                        })
                        .collect()
                })
                .unwrap_or_default(),
            Ecosystem::Gem => text
                .lines()
                .filter_map(|l| l.split_once('\t'))
                .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
                .collect(),
            Ecosystem::Composer => json(&text)["installed"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|p| {
                            Some((
                                p["name"].as_str()?.to_string(),
                                p["version"].as_str()?.trim_start_matches('v').to_string(),
                            ))
                        })
                        .collect()
                })
                .unwrap_or_default(),
        };
        for (name, version) in listed {
            if ecosystem.is_valid(&name, &version) {
                out.insert(format!("{}:{name}", ecosystem.key()), version);
            }
        }
    }
    out
}

/// What `image` holds that `parent` does not hold at the same version.
pub fn added_since(
    image: &BTreeMap<String, String>,
    parent: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    image
        .iter()
        .filter(|(k, v)| parent.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Whether a lock key and version are well formed (`<ecosystem>:<name>` the manager allows).
pub fn is_valid_entry(key: &str, version: &str) -> bool {
    key.split_once(':')
        .and_then(|(e, name)| Some((Ecosystem::from_key(e)?, name)))
        .is_some_and(|(e, name)| e.is_valid(name, version))
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text.trim()).unwrap_or(serde_json::Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_tools_listing_is_read() {
        let output = concat!(
            "@pypi\n",
            r#"[{"name": "requests", "version": "2.31.0", "location": "/usr/local/lib/python3.11/dist-packages", "installer": "pip"}, {"name": "six", "version": "1.16.0", "location": "/usr/lib/python3/dist-packages", "installer": ""}]"#,
            "\n\n@npm\n{\n  \"name\": \"lib\",\n  \"dependencies\": {\n    \"@types/node\": {\n      \"version\": \"20.1.0\"\n    },\n    \"typescript\": {\"version\": \"5.3.3\"}\n  }\n}\n\n",
            "@gem\nrake\t13.1.0\nbad name\t1\n",
            "@composer\n{\"installed\": [{\"name\": \"monolog/monolog\", \"version\": \"v3.5.0\"}]}\n",
        );
        let got = parse(output);
        let want: BTreeMap<String, String> = [
            ("composer:monolog/monolog", "3.5.0"),
            ("gem:rake", "13.1.0"),
            ("npm:@types/node", "20.1.0"),
            ("npm:typescript", "5.3.3"),
            ("pypi:requests", "2.31.0"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(
            got, want,
            "Debian's python3-six is not pip's; a name gem would refuse is left out"
        );
        assert!(parse("").is_empty() && parse("@pypi\nnot json\n").is_empty());
        let parent: BTreeMap<String, String> = [
            ("gem:rake".to_string(), "13.1.0".to_string()),
            ("npm:typescript".to_string(), "5.0.0".to_string()),
        ]
        .into();
        assert_eq!(
            added_since(&got, &parent).keys().collect::<Vec<_>>(),
            [
                "composer:monolog/monolog",
                "npm:@types/node",
                "npm:typescript",
                "pypi:requests"
            ]
        );
        assert!(
            is_valid_entry("npm:@types/node", "20.1.0")
                && !is_valid_entry("cargo:serde", "1.0")
                && !is_valid_entry("pypi:x y", "1")
        );
    }
}
