//! `slim` and `layers = "merged"` on the real engine: a slim stack's installs leave out
//! documentation, man pages and translations but keep every copyright file (so its licences
//! are still recorded); a merged stack installs its components in one apt transaction; a child
//! that says `slim = false` installs in full again.

mod common;

use common::engine_project::{ferrostack, write, Project, BOOKWORM_BASE};
use common::{docker, stderr, stdout};

/// Runs `script` with `sh -c` in `image` and returns its stdout.
fn sh(image: &str, script: &str) -> String {
    let out = docker(&["run", "--rm", "--entrypoint", "sh", image, "-c", script]);
    assert!(out.status.success(), "{script}: {}", stderr(&out));
    stdout(&out)
}

#[test]
fn slim_and_merged_stacks_build_and_keep_their_copyright_files() {
    let p = Project::new("layering", &["base", "lean", "full"]);
    let root = &p.root;
    write(root, "stacks/base.toml", BOOKWORM_BASE);
    // Two components (system packages and a runtime) in one transaction, slim.
    write(
        root,
        "stacks/lean.toml",
        "name = \"lean\"\nfrom = \"base\"\nslim = true\nlayers = \"merged\"\npackages = [\"jq\"]\n\n[[runtime]]\nname = \"python\"\n\n[[check]]\nrun = \"echo '{}' | jq . && python3 -c 'import json'\"\n",
    );
    // Under a slim parent, a stack that says no.
    write(root, "stacks/full.toml", "name = \"full\"\nfrom = \"lean\"\nslim = false\n\n[[step]]\napt = [\"bc\"]\n\n[[check]]\nrun = \"echo 1+1 | bc\"\n");
    let out = ferrostack(&p, &["build", "--progress", "plain"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lean = format!("{}:lean", p.repo);
    let full = format!("{}:full", p.repo);

    // One apt transaction in lean: apt's own history has one install since the base.
    let history = sh(&lean, "grep -c '^Start-Date' /var/log/apt/history.log");
    assert_eq!(history.trim(), "1", "one apt transaction for jq and python");
    assert!(
        sh(&lean, "grep '^Commandline' /var/log/apt/history.log").contains("jq python3"),
        "jq and python3 in the same install"
    );

    // Slim: jq's and python's documentation and man pages are not there; their copyright files
    // are. (dpkg keeps a package's symbolic links there, such as python3.11's changelog.gz.)
    let docs = sh(
        &lean,
        "find /usr/share/doc/jq /usr/share/doc/python3.11 -type f | sort",
    );
    assert_eq!(
        docs.lines().collect::<Vec<_>>(),
        [
            "/usr/share/doc/jq/copyright",
            "/usr/share/doc/python3.11/copyright"
        ],
        "{docs}"
    );
    assert_eq!(
        sh(
            &lean,
            "find /usr/share/man -type f -name 'jq.1*' -o -type f -name 'python3.11.1*' | wc -l"
        )
        .trim(),
        "0"
    );
    // Every package lean added keeps its copyright file (Debian policy 12.5 gives every package
    // one at /usr/share/doc/PACKAGE/copyright).
    let installed = |image: &str| -> std::collections::BTreeSet<String> {
        sh(image, "dpkg-query -W -f '${Package}\\n'")
            .lines()
            .map(str::to_string)
            .collect()
    };
    let added: Vec<String> = installed(&lean)
        .difference(&installed(&format!("{}:base", p.repo)))
        .cloned()
        .collect();
    assert!(
        added.len() > 10,
        "jq, python and their dependencies: {added:?}"
    );
    let missing = sh(
        &lean,
        &format!(
            "for p in {}; do [ -e /usr/share/doc/$p/copyright ] || echo $p; done",
            added.join(" ")
        ),
    );
    assert!(
        missing.trim().is_empty(),
        "packages without their copyright file: {missing}"
    );
    // The licences are still read from them.
    let lock: toml::Value =
        toml::from_str(&std::fs::read_to_string(root.join("images.lock")).unwrap()).unwrap();
    let jq = lock["stacks"]["lean"]["licenses"]["jq"]
        .as_str()
        .unwrap_or_else(|| panic!("jq's licence recorded: {}", lock["stacks"]["lean"]));
    assert!(jq.split(" AND ").any(|t| t == "MIT"), "{jq}");

    // The child lifted the exclusions: bc comes with its man page, and the setting is gone.
    assert_eq!(
        sh(&full, "ls /usr/share/man/man1/bc.1.gz").trim(),
        "/usr/share/man/man1/bc.1.gz"
    );
    assert_eq!(sh(&full, "ls /etc/dpkg/dpkg.cfg.d/ferrostack-slim /etc/apt/apt.conf.d/90ferrostack-slim 2>/dev/null | wc -l").trim(), "0");
    assert_eq!(
        sh(
            &lean,
            "ls /etc/dpkg/dpkg.cfg.d/ferrostack-slim /etc/apt/apt.conf.d/90ferrostack-slim | wc -l"
        )
        .trim(),
        "2"
    );
    // dpkg read the setting (an option it did not know would have failed every install above)
    // and skips the fsync of each unpacked file.
    assert_eq!(
        sh(
            &lean,
            "grep -cx force-unsafe-io /etc/dpkg/dpkg.cfg.d/ferrostack-slim"
        )
        .trim(),
        "1"
    );
}
