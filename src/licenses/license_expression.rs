//! `LicenseExpression`: the licences a Debian copyright file names, as one SPDX license
//! expression (Debian short names mapped to SPDX identifiers; a name SPDX has no identifier for
//! becomes a `LicenseRef-Debian-…` the SBOM declares).

/// Debian short names (lowercase, as in the copyright-format 1.0 spec and common use) and the
/// SPDX identifiers they mean; a trailing `+` ("or any later version") is handled apart.
const KNOWN: &[(&str, &str)] = &[
    ("afl-1.1", "AFL-1.1"),
    ("afl-1.2", "AFL-1.2"),
    ("afl-2.0", "AFL-2.0"),
    ("afl-2.1", "AFL-2.1"),
    ("afl-3.0", "AFL-3.0"),
    ("apache-1.0", "Apache-1.0"),
    ("apache-1.1", "Apache-1.1"),
    ("apache-2.0", "Apache-2.0"),
    ("apache-2", "Apache-2.0"),
    ("artistic", "Artistic-1.0-Perl"),
    ("artistic-1.0", "Artistic-1.0"),
    ("artistic-2.0", "Artistic-2.0"),
    ("bsd-2-clause", "BSD-2-Clause"),
    ("bsd-3-clause", "BSD-3-Clause"),
    ("bsd-4-clause", "BSD-4-Clause"),
    ("bsl-1.0", "BSL-1.0"),
    ("boost-1.0", "BSL-1.0"),
    ("cc0-1.0", "CC0-1.0"),
    ("cc0", "CC0-1.0"),
    ("cc-by-3.0", "CC-BY-3.0"),
    ("cc-by-4.0", "CC-BY-4.0"),
    ("cc-by-sa-3.0", "CC-BY-SA-3.0"),
    ("cc-by-sa-4.0", "CC-BY-SA-4.0"),
    ("cddl-1.0", "CDDL-1.0"),
    ("curl", "curl"),
    ("epl-1.0", "EPL-1.0"),
    ("epl-2.0", "EPL-2.0"),
    ("expat", "MIT"),
    ("mit", "MIT"),
    ("ftl", "FTL"),
    ("fsfap", "FSFAP"),
    ("fsful", "FSFUL"),
    ("fsfullr", "FSFULLR"),
    ("ijg", "IJG"),
    ("isc", "ISC"),
    ("libpng", "Libpng"),
    ("libpng-2.0", "libpng-2.0"),
    ("lppl-1.3c", "LPPL-1.3c"),
    ("mpl-1.1", "MPL-1.1"),
    ("mpl-2.0", "MPL-2.0"),
    ("ofl-1.1", "OFL-1.1"),
    ("openssl", "OpenSSL"),
    ("psf-2", "PSF-2.0"),
    ("python-2.0", "Python-2.0"),
    ("sleepycat", "Sleepycat"),
    ("unicode-dfs-2016", "Unicode-DFS-2016"),
    ("unlicense", "Unlicense"),
    ("w3c", "W3C"),
    ("wtfpl", "WTFPL"),
    ("x11", "X11"),
    ("zlib", "Zlib"),
    ("zpl-2.1", "ZPL-2.1"),
    ("0bsd", "0BSD"),
];

/// GNU licences: the Debian name's stem, the SPDX stem, and the versions SPDX knows for it.
const GNU: &[(&str, &str, &[&str])] = &[
    ("gpl", "GPL", &["1.0", "2.0", "3.0"]),
    ("lgpl", "LGPL", &["2.0", "2.1", "3.0"]),
    ("agpl", "AGPL", &["1.0", "3.0"]),
    ("gfdl", "GFDL", &["1.1", "1.2", "1.3"]),
];

/// The longest expression kept (Debian's longest copyright files name a few hundred licences).
pub const MAX_LEN: usize = 20_000;

/// An SPDX license expression and the `LicenseRef-` identifiers it uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LicenseExpression {
    pub text: String,
    /// Each `LicenseRef-Debian-…` used, with the Debian name it stands for.
    pub references: Vec<(String, String)>,
}

impl LicenseExpression {
    /// One expression for the `License:` values of a copyright file: each value's own `or`/`and`
    /// kept, the values (licences of different parts of the package) joined with `AND`, each
    /// distinct term once, in order of appearance. `None` when no value names a licence.
    pub fn from_debian(values: &[String]) -> Option<LicenseExpression> {
        let mut terms: Vec<String> = Vec::new();
        let mut references: Vec<(String, String)> = Vec::new();
        for value in values {
            let Some(term) = convert_value(value, &mut references) else {
                continue;
            };
            for atom in top_level_and(&term) {
                if !terms.contains(&atom) {
                    terms.push(atom);
                }
            }
        }
        if terms.is_empty() {
            return None;
        }
        let text = if terms.len() == 1 {
            terms.remove(0)
        } else {
            terms
                .iter()
                .map(|t| {
                    if t.contains(" OR ") {
                        format!("({t})")
                    } else {
                        t.clone()
                    }
                })
                .collect::<Vec<_>>()
                .join(" AND ")
        };
        references.sort();
        references.dedup();
        Some(LicenseExpression { text, references })
    }

    /// The `LicenseRef-Debian-…` identifiers an expression text (as the lock keeps it) uses.
    pub fn references_in(text: &str) -> Vec<String> {
        let mut refs: Vec<String> = text
            .split(|c: char| c.is_whitespace() || c == '(' || c == ')')
            .filter(|t| t.starts_with("LicenseRef-"))
            .map(str::to_string)
            .collect();
        refs.sort();
        refs.dedup();
        refs
    }

    /// Whether `text` is made only of what this type writes (identifiers, `AND`, `OR`,
    /// parentheses): a lock edited by hand can hold nothing else here.
    pub fn is_well_formed(text: &str) -> bool {
        !text.is_empty()
            && text.len() <= MAX_LEN
            && text.chars().all(|c| {
                c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+' | '(' | ')' | ' ')
            })
    }
}

/// The operands of a term's top-level `AND`s (outside parentheses), each without its outer
/// parentheses.
fn top_level_and(term: &str) -> Vec<String> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    let bytes = term.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'(' => depth += 1,
            b')' => depth -= 1,
            b' ' if depth == 0 && term[i..].starts_with(" AND ") => {
                out.push(term[start..i].to_string());
                i += 5;
                start = i;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out.push(term[start..].to_string());
    out.into_iter()
        .map(|a| {
            if a.starts_with('(') && a.ends_with(')') && !a[1..a.len() - 1].contains('(') {
                a[1..a.len() - 1].to_string()
            } else {
                a
            }
        })
        .collect()
}

/// One `License:` value as an SPDX term. Debian groups with commas (`GPL-1+ or Artistic, and
/// Expat` is `(GPL-1+ or Artistic) and Expat`): the groups are converted one by one.
fn convert_value(value: &str, references: &mut Vec<(String, String)>) -> Option<String> {
    let mut groups: Vec<(Option<&str>, &str)> = Vec::new();
    let mut rest = value;
    let mut operator = None;
    loop {
        let lower = rest.to_ascii_lowercase();
        let next = [(", and ", "AND"), (", or ", "OR")]
            .iter()
            .filter_map(|(sep, op)| lower.find(sep).map(|i| (i, sep.len(), *op)))
            .min();
        match next {
            Some((i, len, op)) => {
                groups.push((operator, &rest[..i]));
                operator = Some(op);
                rest = &rest[i + len..];
            }
            None => {
                groups.push((operator, rest));
                break;
            }
        }
    }
    if groups.len() == 1 {
        return convert_group(value, references);
    }
    let operators: std::collections::BTreeSet<&str> =
        groups.iter().filter_map(|(op, _)| *op).collect();
    if operators.len() > 1 {
        return Some(reference(value, references));
    }
    let op = operators
        .into_iter()
        .next()
        .expect("two groups have an operator");
    let mut out = Vec::new();
    for (_, group) in groups {
        let term = convert_group(group, references)?;
        let other = if op == "AND" { " OR " } else { " AND " };
        out.push(if term.contains(other) {
            format!("({term})")
        } else {
            term
        });
    }
    Some(out.join(&format!(" {op} ")))
}

/// One group of a `License:` value (`GPL-2+ or Artistic`, `BSD-3-clause and Expat`) as an SPDX
/// term; `with …` exceptions become part of a `LicenseRef` (SPDX exception names differ).
fn convert_group(value: &str, references: &mut Vec<(String, String)>) -> Option<String> {
    let words: Vec<&str> = value.split_whitespace().collect();
    if words.is_empty() {
        return None;
    }
    // Split on the operators, keeping `with` runs inside a term.
    let mut parts: Vec<(Option<&str>, String)> = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    let mut operator: Option<&str> = None;
    for w in words {
        let lower = w.trim_end_matches(',').to_ascii_lowercase();
        if (lower == "or" || lower == "and") && !current.is_empty() {
            parts.push((operator, current.join(" ")));
            current.clear();
            operator = Some(if lower == "or" { "OR" } else { "AND" });
        } else {
            current.push(w.trim_end_matches(','));
        }
    }
    if !current.is_empty() {
        parts.push((operator, current.join(" ")));
    }
    let mut out = String::new();
    let mut ops = std::collections::BTreeSet::new();
    for (op, name) in &parts {
        if let Some(op) = op {
            ops.insert(*op);
            out.push_str(&format!(" {op} "));
        }
        out.push_str(&spdx_id(name, references));
    }
    // Mixed `and`/`or` in one value: SPDX would read it by precedence; keep Debian's meaning
    // unknown rather than guess, as one reference.
    if ops.len() > 1 {
        references.retain(|(_, debian)| !parts.iter().any(|(_, n)| n == debian));
        return Some(reference(value, references));
    }
    Some(out)
}

/// The SPDX identifier of one Debian licence name.
fn spdx_id(name: &str, references: &mut Vec<(String, String)>) -> String {
    let lower = name.to_ascii_lowercase();
    if let Some((_, id)) = KNOWN.iter().find(|(k, _)| *k == lower) {
        return id.to_string();
    }
    let (stem, later) = match lower.strip_suffix('+') {
        Some(s) => (s, true),
        None => (lower.as_str(), false),
    };
    for (debian, spdx, versions) in GNU {
        let Some(version) = stem.strip_prefix(debian).and_then(|v| v.strip_prefix('-')) else {
            continue;
        };
        let version = if version.contains('.') {
            version.to_string()
        } else {
            format!("{version}.0")
        };
        if versions.contains(&version.as_str()) {
            return format!(
                "{spdx}-{version}-{}",
                if later { "or-later" } else { "only" }
            );
        }
    }
    reference(name, references)
}

/// A `LicenseRef-Debian-<name>` for a name SPDX has no identifier for, remembered in
/// `references`.
fn reference(name: &str, references: &mut Vec<(String, String)>) -> String {
    let mut id = String::from("LicenseRef-Debian-");
    for c in name.chars() {
        match c {
            c if c.is_ascii_alphanumeric() || c == '.' => id.push(c),
            '+' => id.push_str("-or-later"),
            _ if !id.ends_with('-') => id.push('-'),
            _ => {}
        }
    }
    let id = id.trim_end_matches('-').to_string();
    references.push((id.clone(), name.to_string()));
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    fn convert(values: &[&str]) -> Option<LicenseExpression> {
        LicenseExpression::from_debian(&values.iter().map(|v| v.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn debian_names_become_spdx_identifiers() {
        assert_eq!(convert(&["GPL-2+"]).unwrap().text, "GPL-2.0-or-later");
        assert_eq!(convert(&["GPL-2"]).unwrap().text, "GPL-2.0-only");
        assert_eq!(convert(&["LGPL-2.1+"]).unwrap().text, "LGPL-2.1-or-later");
        assert_eq!(convert(&["Expat"]).unwrap().text, "MIT");
        assert_eq!(convert(&["BSD-3-clause"]).unwrap().text, "BSD-3-Clause");
        assert_eq!(
            convert(&["GPL-2+", "LGPL-2.1+", "GPL-2+", "Expat"])
                .unwrap()
                .text,
            "GPL-2.0-or-later AND LGPL-2.1-or-later AND MIT"
        );
        assert_eq!(
            convert(&["GPL-1+ or Artistic", "public-domain"])
                .unwrap()
                .text,
            "(GPL-1.0-or-later OR Artistic-1.0-Perl) AND LicenseRef-Debian-public-domain"
        );
        assert_eq!(
            convert(&["GPL-2+ and LGPL-2.1+", "LGPL-2.1+", "GPL-2+"])
                .unwrap()
                .text,
            "GPL-2.0-or-later AND LGPL-2.1-or-later",
            "each licence once"
        );
        assert_eq!(convert(&[]), None);
    }

    #[test]
    fn names_spdx_lacks_become_declared_references() {
        let e = convert(&["GPL-2+ with OpenSSL exception", "permissive"]).unwrap();
        assert_eq!(e.text, "LicenseRef-Debian-GPL-2-or-later-with-OpenSSL-exception AND LicenseRef-Debian-permissive");
        assert_eq!(
            e.references,
            [
                (
                    "LicenseRef-Debian-GPL-2-or-later-with-OpenSSL-exception".to_string(),
                    "GPL-2+ with OpenSSL exception".to_string()
                ),
                (
                    "LicenseRef-Debian-permissive".to_string(),
                    "permissive".to_string()
                )
            ]
        );
        assert_eq!(
            LicenseExpression::references_in(&e.text),
            [
                "LicenseRef-Debian-GPL-2-or-later-with-OpenSSL-exception",
                "LicenseRef-Debian-permissive"
            ]
        );
        // Debian's comma grouping is kept; mixed operators without it are not guessed at.
        assert_eq!(
            convert(&["GPL-1+ or Artistic, and Expat"]).unwrap().text,
            "(GPL-1.0-or-later OR Artistic-1.0-Perl) AND MIT"
        );
        assert_eq!(
            convert(&["GPL-2 or BSD-3-clause and MIT"]).unwrap().text,
            "LicenseRef-Debian-GPL-2-or-BSD-3-clause-and-MIT"
        );
    }

    #[test]
    fn only_written_expressions_are_well_formed() {
        assert!(LicenseExpression::is_well_formed(
            "(GPL-1.0-or-later OR Artistic-1.0-Perl) AND LicenseRef-Debian-public-domain"
        ));
        assert!(!LicenseExpression::is_well_formed("MIT\", \"x\": \"y"));
        assert!(!LicenseExpression::is_well_formed(""));
    }
}
