//! `DebianCopyright`: what a package's `/usr/share/doc/<package>/copyright` says about its
//! licences, when the file is machine-readable (Debian copyright-format 1.0).

/// The licence lines of one copyright file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DebianCopyright {
    /// Its `Format:` line names copyright-format 1.0.
    pub machine_readable: bool,
    /// The first line of each `License:` field (the short names), in order.
    pub licenses: Vec<String>,
}

impl DebianCopyright {
    /// Reads the `Format:` and `License:` lines of a copyright file (the rest is not needed).
    pub fn parse_lines<'a>(lines: impl IntoIterator<Item = &'a str>) -> DebianCopyright {
        let mut out = DebianCopyright::default();
        for line in lines {
            if let Some(format) = field(line, "format") {
                out.machine_readable |= format.contains("copyright-format/1.0");
            } else if let Some(license) = field(line, "license") {
                if !license.is_empty() {
                    out.licenses.push(license.to_string());
                }
            }
        }
        out
    }
}

/// The value of `Name: value` when the line is that field (case-insensitive name).
fn field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let (key, value) = line.split_once(':')?;
    key.trim().eq_ignore_ascii_case(name).then(|| value.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machine_readable_files_give_their_license_names() {
        let text = "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\nLicense: MIT\nlicense:  GPL-2+\nLicense:\n";
        let c = DebianCopyright::parse_lines(text.lines());
        assert!(c.machine_readable);
        assert_eq!(c.licenses, ["MIT", "GPL-2+"]);
        let free_form = DebianCopyright::parse_lines(
            "This package was debianized by someone.\nLicense: see below".lines(),
        );
        assert!(!free_form.machine_readable);
    }
}
