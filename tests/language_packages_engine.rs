//! Language packages on the real engine: a stack installs Debian's Ruby and then a gem of its
//! own (built in the image with `gem build`, installed with `gem install --local`: RubyGems.org
//! is not needed); the build records that gem, and only it, in the lock and the SBOM.

mod common;

use common::engine_project::{ferrostack, write, Project, BOOKWORM_BASE};
use common::{docker, stderr, stdout};

const GEM_STEP: &str = r#"mkdir -p /tmp/g/lib && cd /tmp/g && printf 'module FsGem; end\n' > lib/fs_gem.rb && printf 'Gem::Specification.new do |s|\n  s.name = "fs-gem"\n  s.version = "1.2.3"\n  s.summary = "ferrostack test gem"\n  s.authors = ["ferrostack"]\n  s.files = ["lib/fs_gem.rb"]\n  s.license = "MIT"\nend\n' > fs-gem.gemspec && gem build fs-gem.gemspec && gem install --local --no-document ./fs-gem-1.2.3.gem && cd / && rm -rf /tmp/g"#;

#[test]
fn a_gem_a_step_installed_is_in_the_lock_and_the_sbom() {
    let p = Project::new("gems", &["base", "gems"]);
    let root = &p.root;
    write(root, "stacks/base.toml", BOOKWORM_BASE);
    write(root, "stacks/gems.toml", &format!("name = \"gems\"\nfrom = \"base\"\n[[step]]\napt = [\"ruby\"]\n[[step]]\nrun = '''{GEM_STEP}'''\n[[check]]\nrun = \"ruby -e 'require \\\"fs_gem\\\"'\"\n"));
    let out = ferrostack(&p, &["build", "--progress", "plain"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lock: toml::Value =
        toml::from_str(&std::fs::read_to_string(root.join("images.lock")).unwrap()).unwrap();
    let recorded = lock["stacks"]["gems"]
        .get("language_packages")
        .and_then(|t| t.as_table())
        .cloned()
        .unwrap_or_default();
    // RubyGems itself, in the image, says which gems are there and where.
    let listed = docker(&[
        "run",
        "--rm",
        &format!("{}:gems", p.repo),
        "gem",
        "list",
        "--local",
        "fs-gem",
    ]);
    assert!(
        stdout(&listed).contains("fs-gem (1.2.3)"),
        "{}",
        stdout(&listed)
    );
    let keys: Vec<&String> = recorded.keys().collect();
    assert_eq!(
        keys,
        ["gem:fs-gem"],
        "only the gem the step installed, not Ruby's default or Debian's gems: {recorded:?}"
    );
    assert_eq!(recorded["gem:fs-gem"].as_str(), Some("1.2.3"));
    assert!(
        lock["stacks"]["base"].get("language_packages").is_none(),
        "the base has none: {}",
        lock["stacks"]["base"]
    );
    let sbom = std::fs::read_to_string(root.join("target/ferrostack/sbom/gems.spdx.json")).unwrap();
    assert!(
        sbom.contains("\"referenceLocator\": \"pkg:gem/fs-gem@1.2.3\""),
        "the SBOM lists the gem with its purl"
    );
}
