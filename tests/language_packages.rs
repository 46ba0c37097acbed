//! The language-package listing a build runs inside each image, run here against this machine's
//! real pip and npm: what it reads equals what each tool says of one package by another command.

use std::process::Command;

fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} runs: {e}"));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_listing_reads_pip_and_npm_as_they_are() {
    let out = Command::new("sh")
        .arg("-c")
        .arg(ferrostack::language_packages::QUERY)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed = ferrostack::language_packages::parse(&String::from_utf8_lossy(&out.stdout));
    // spdx-tools: installed by pip (scripts/setup), so pip's own `show` names its version.
    let shown = run("python3", &["-m", "pip", "show", "spdx-tools"]);
    let version = shown
        .lines()
        .find_map(|l| l.strip_prefix("Version: "))
        .expect("pip show names a version");
    assert_eq!(
        listed.get("pypi:spdx-tools").map(String::as_str),
        Some(version.trim()),
        "{listed:?}"
    );
    // npm is a global package of its own prefix.
    let npm = run("npm", &["--version"]);
    assert_eq!(
        listed.get("npm:npm").map(String::as_str),
        Some(npm.trim()),
        "{listed:?}"
    );
    assert!(listed.keys().all(|k| k.starts_with("pypi:")
        || k.starts_with("npm:")
        || k.starts_with("gem:")
        || k.starts_with("composer:")));
}
