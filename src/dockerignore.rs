//! `DockerIgnore`: a context directory's `.dockerignore`, matched as Docker matches it (not as
//! git does): patterns are anchored at the context root, processed in order, the last match
//! wins, and `!pattern` re-includes a path even inside an excluded directory.

use globset::{GlobBuilder, GlobMatcher};

/// The parsed patterns of one `.dockerignore`.
#[derive(Debug, Clone, Default)]
pub(crate) struct DockerIgnore {
    patterns: Vec<Pattern>,
}

#[derive(Debug, Clone)]
struct Pattern {
    /// Cleaned, without `!` (what Docker compares directory prefixes with).
    text: String,
    /// `!pattern`: re-includes what it matches.
    reinclude: bool,
    glob: GlobMatcher,
}

impl DockerIgnore {
    /// Parses the file's text. An error names the line and what is wrong with it.
    pub(crate) fn parse(text: &str) -> Result<DockerIgnore, String> {
        let mut patterns = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (reinclude, raw) = match line.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, line),
            };
            let text = clean(raw);
            let glob = GlobBuilder::new(&text)
                .literal_separator(true)
                .backslash_escape(true)
                .build()
                .map_err(|e| format!("line {}: bad pattern `{line}`: {}", index + 1, e.kind()))?
                .compile_matcher();
            patterns.push(Pattern {
                text,
                reinclude,
                glob,
            });
        }
        Ok(DockerIgnore { patterns })
    }

    /// Whether `rel` (a `/`-separated path inside the context) is left out of the context:
    /// Docker's `MatchesOrParentMatches`. An exclusion matches the path or one of its parent
    /// directories; a later `!` pattern that matches re-includes it.
    pub(crate) fn excludes(&self, rel: &str) -> bool {
        let parents: Vec<&str> = match rel.rfind('/') {
            Some(end) => {
                let parent = &rel[..end];
                parent
                    .match_indices('/')
                    .map(|(i, _)| &parent[..i])
                    .chain([parent])
                    .collect()
            }
            None => Vec::new(),
        };
        let mut excluded = false;
        for p in &self.patterns {
            // An exclusion cannot change an excluded path, nor a re-include an included one.
            if p.reinclude != excluded {
                continue;
            }
            if p.glob.is_match(rel) || parents.iter().any(|parent| p.glob.is_match(parent)) {
                excluded = !p.reinclude;
            }
        }
        excluded
    }

    /// Whether an excluded directory must still be walked because a `!` pattern may re-include
    /// something below it. Docker's rule: some `!` pattern starts with the directory's path.
    pub(crate) fn may_reinclude_below(&self, dir_rel: &str) -> bool {
        let prefix = format!("{dir_rel}/");
        self.patterns
            .iter()
            .any(|p| p.reinclude && format!("{}/", p.text).starts_with(&prefix))
    }
}

/// Go's `filepath.Clean` as Docker applies it to a pattern, then without a leading `/`.
fn clean(pattern: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in pattern.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    if parts.is_empty() {
        ".".to_string()
    } else {
        parts.join("/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept(patterns: &str, paths: &[&str]) -> Vec<String> {
        let ignore = DockerIgnore::parse(patterns).unwrap();
        paths
            .iter()
            .filter(|p| !ignore.excludes(p))
            .map(|p| p.to_string())
            .collect()
    }

    #[test]
    fn a_reinclude_under_an_excluded_directory_works_as_in_docker() {
        let ignore = DockerIgnore::parse("dir\n!dir/keep\n").unwrap();
        assert!(ignore.excludes("dir"));
        assert!(ignore.excludes("dir/drop.txt"));
        assert!(!ignore.excludes("dir/keep"));
        assert!(!ignore.excludes("dir/keep/deep/file"));
        assert!(ignore.may_reinclude_below("dir"));
        assert!(!ignore.may_reinclude_below("other"));
    }

    #[test]
    fn the_last_matching_pattern_wins() {
        let paths = ["a.md", "README.md", "docs/x.md", "src/main.rs"];
        assert_eq!(
            kept("*.md\n!README.md\n", &paths),
            ["README.md", "docs/x.md", "src/main.rs"]
        );
        assert_eq!(
            kept("!README.md\n*.md\n", &paths),
            ["docs/x.md", "src/main.rs"]
        );
        assert_eq!(
            kept("**/*.md\n!docs\n", &paths),
            ["docs/x.md", "src/main.rs"],
            "a re-include matches parents too"
        );
        assert_eq!(
            kept("**/*.md\n!docs/**\n", &paths),
            ["docs/x.md", "src/main.rs"]
        );
    }

    #[test]
    fn patterns_are_anchored_and_cleaned() {
        let paths = ["build", "build/out", "src/build/x", "tmp/a.log", "a.log"];
        assert_eq!(
            kept("/build/\n", &paths),
            ["src/build/x", "tmp/a.log", "a.log"]
        );
        assert_eq!(
            kept("./tmp/../*.log\n", &paths),
            ["build", "build/out", "src/build/x", "tmp/a.log"]
        );
        assert_eq!(
            kept("# comment\n\n*/*.log\n", &paths),
            ["build", "build/out", "src/build/x", "a.log"]
        );
    }

    #[test]
    fn a_bad_pattern_names_its_line() {
        let err = DockerIgnore::parse("ok\n[z-a\n").unwrap_err();
        assert!(err.starts_with("line 2: bad pattern `[z-a`"), "{err}");
    }
}
