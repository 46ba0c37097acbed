//! `ImageFacts`: what one container run reads from a built image (installed Debian packages,
//! their licences, language packages, the versions of named packages and runtimes), instead of
//! one container per question.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::closure::{Installed, QUERY};
use crate::engine::{CancellationToken, Engine, EngineError, RunRequest};
use crate::licenses::LicenseExpression;

/// Marks the start of a section of the script's output.
const MARK: &str = "@@ferrostack ";

/// What to ask an image beyond its packages, licences and language packages.
#[derive(Debug, Default)]
pub(crate) struct Questions {
    /// Debian packages whose installed version to read (`dpkg-query -W`).
    pub packages: Vec<String>,
    /// A script printing `name<TAB>version` lines for runtimes.
    pub runtimes: String,
}

/// The answers of one image.
#[derive(Debug, Default)]
pub(crate) struct ImageFacts {
    pub installed: Installed,
    /// Licence expression of every installed package with a machine-readable copyright file.
    pub licenses: BTreeMap<String, LicenseExpression>,
    /// `<ecosystem>:<name>` → version, as [`crate::language_packages::parse`] reads them.
    pub languages: BTreeMap<String, String>,
    /// Installed version of each asked package that is installed.
    pub packages: BTreeMap<String, String>,
    /// Runtime → its version line.
    pub runtimes: BTreeMap<String, String>,
}

impl ImageFacts {
    /// Asks `image` everything in one container.
    pub(crate) async fn read(
        engine: &Engine,
        image: &str,
        questions: &Questions,
        cancel: &CancellationToken,
    ) -> Result<ImageFacts, EngineError> {
        let mut req = RunRequest::shell(image, &script(questions));
        req.timeout = Some(Duration::from_secs(240));
        req.memory_limit = Some(super::CHECK_MEMORY);
        let out = engine.run(&req, cancel).await?;
        let fail = |why: String| EngineError::Unreachable {
            address: engine.address().to_string(),
            reason: format!(
                "listing the packages of `{image}` {why}: {}",
                out.stderr.trim()
            ),
        };
        if !out.success() {
            return Err(fail(format!("exited with {}", out.exit_code)));
        }
        ImageFacts::parse(&out.stdout).map_err(fail)
    }

    /// Reads [`script`]'s output. `Err` when the package listing failed.
    fn parse(output: &str) -> Result<ImageFacts, String> {
        let mut sections: BTreeMap<&str, String> = BTreeMap::new();
        let mut current: Option<&str> = None;
        for line in output.lines() {
            if let Some(name) = line.strip_prefix(MARK) {
                current = Some(name.trim());
                sections.entry(name.trim()).or_default();
                continue;
            }
            if let Some(name) = current {
                let text = sections.get_mut(name).expect("entered above");
                text.push_str(line);
                text.push('\n');
            }
        }
        if let Some(status) = sections.keys().find_map(|k| k.strip_prefix("failed ")) {
            return Err(format!("exited with {status}"));
        }
        let section = |name: &str| sections.get(name).map_or("", String::as_str);
        let mut packages = BTreeMap::new();
        let mut runtimes = BTreeMap::new();
        // A package dpkg does not know prints an empty version; a runtime's line is kept as it is.
        for line in section("packages").lines() {
            if let Some((k, v)) = line.split_once('\t').filter(|(_, v)| !v.is_empty()) {
                packages.insert(k.to_string(), v.to_string());
            }
        }
        for line in section("runtimes").lines() {
            if let Some((k, v)) = line.split_once('\t') {
                runtimes.insert(k.to_string(), v.trim().to_string());
            }
        }
        Ok(ImageFacts {
            installed: Installed::parse(section("installed")),
            licenses: crate::licenses::parse(section("licenses")),
            languages: crate::language_packages::parse(section("languages")),
            packages,
            runtimes,
        })
    }
}

/// One shell script answering everything, each answer under its `@@ferrostack <name>` line; each
/// part runs in its own subshell, so one that exits early does not end the others.
fn script(questions: &Questions) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "echo '{MARK}installed'\n( {QUERY} ) || echo \"{MARK}failed $?\"\n"
    ));
    s.push_str(&format!(
        "echo '{MARK}licenses'\n( {} )\n",
        crate::licenses::query_installed()
    ));
    s.push_str(&format!(
        "echo '{MARK}languages'\n( {} )\n",
        crate::language_packages::QUERY
    ));
    if !questions.packages.is_empty() {
        // Package names are Debian names (the definition checked them): safe as shell words.
        s.push_str(&format!("echo '{MARK}packages'\n( dpkg-query -W -f='${{Package}}\\t${{Version}}\\n' {} 2>/dev/null )\n", questions.packages.join(" ")));
    }
    if !questions.runtimes.is_empty() {
        s.push_str(&format!(
            "echo '{MARK}runtimes'\n(\n{}\n)\n",
            questions.runtimes
        ));
    }
    s.push_str("true\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_are_read_apart_and_a_failed_listing_is_an_error() {
        let out = "@@ferrostack installed\nii \tjq\tamd64\t1.6-2.1\tjq\t1.6-2.1\n@@ferrostack licenses\nP jq\nL Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\nL License: MIT\n@@ferrostack languages\n@gem\nfs-gem\t1.2.3\n@@ferrostack packages\njq\t1.6-2.1\nnope\t\n@@ferrostack runtimes\npython\tPython 3.11.2\n";
        let facts = ImageFacts::parse(out).unwrap();
        assert_eq!(
            facts.installed.packages.keys().collect::<Vec<_>>(),
            ["jq:amd64"]
        );
        assert_eq!(facts.licenses["jq"].text, "MIT");
        assert_eq!(
            facts.languages.get("gem:fs-gem").map(String::as_str),
            Some("1.2.3")
        );
        assert_eq!(
            facts
                .packages
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>(),
            ["jq=1.6-2.1"]
        );
        assert_eq!(facts.runtimes["python"], "Python 3.11.2");
        let failed = ImageFacts::parse(
            "@@ferrostack installed\n@@ferrostack failed 2\n@@ferrostack licenses\n",
        )
        .unwrap_err();
        assert!(failed.contains("exited with 2"), "{failed}");
    }

    #[test]
    fn the_script_asks_only_what_is_asked() {
        let bare = script(&Questions::default());
        assert!(
            bare.contains("@@ferrostack installed")
                && bare.contains("@@ferrostack licenses")
                && bare.contains("@@ferrostack languages")
        );
        assert!(!bare.contains("@@ferrostack packages") && !bare.contains("@@ferrostack runtimes"));
        let full = script(&Questions {
            packages: vec!["jq".into(), "curl".into()],
            runtimes: "printf 'python\\t%s\\n' \"$(python3 --version)\"".into(),
        });
        assert!(
            full.contains("dpkg-query -W -f='${Package}\\t${Version}\\n' jq curl"),
            "{full}"
        );
        assert!(full.contains("@@ferrostack runtimes"));
    }
}
