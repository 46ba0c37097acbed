//! The licences of the Debian packages in an image, read from their machine-readable copyright
//! files at build time and kept in the lock by source package, as SPDX license expressions.

mod debian_copyright;
mod license_expression;

pub use debian_copyright::DebianCopyright;
pub use license_expression::LicenseExpression;

use std::collections::BTreeMap;

/// A shell script that prints, for every package the image's dpkg lists (nothing without
/// dpkg) that has a readable copyright file, a `P <package>` line followed by the file's
/// `Format:` and `License:` lines (each prefixed `L `).
pub fn query_installed() -> String {
    query_over(
        "$(command -v dpkg-query >/dev/null 2>&1 && dpkg-query -W -f='${Package}\\n' | sort -u)",
    )
}

fn query_over(list: &str) -> String {
    format!("for p in {list}; do f=/usr/share/doc/$p/copyright; [ -r \"$f\" ] || continue; echo \"P $p\"; grep -iE '^(format|license):' \"$f\" | sed 's/^/L /'; done; true")
}

/// Reads [`query`]'s output: each package's licence expression, for machine-readable files
/// that name at least one licence.
pub fn parse(output: &str) -> BTreeMap<String, LicenseExpression> {
    let mut files: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in output.lines() {
        if let Some(p) = line.strip_prefix("P ") {
            current = Some(p.trim().to_string());
            files.entry(p.trim().to_string()).or_default();
        } else if let (Some(l), Some(p)) = (line.strip_prefix("L "), &current) {
            files.get_mut(p).expect("entered above").push(l);
        }
    }
    files
        .into_iter()
        .filter_map(|(package, lines)| {
            let copyright = DebianCopyright::parse_lines(lines);
            copyright.machine_readable.then_some(())?;
            Some((
                package,
                LicenseExpression::from_debian(&copyright.licenses)?,
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_output_gives_each_machine_readable_package_its_expression() {
        let output = "P jq\nL Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\nL License: MIT\nL License: CC-BY-3.0\nP old\nL License: GPL\nP empty\n";
        let got = parse(output);
        assert_eq!(got.keys().collect::<Vec<_>>(), ["jq"]);
        assert_eq!(got["jq"].text, "MIT AND CC-BY-3.0");
        assert!(query_installed().starts_with("for p in $(command -v dpkg-query"));
    }
}
