//! `ferrostack update` against the real Docker engine and Debian's mirror: a bootstrapped
//! base and a child installing `jq`, under a test-only repository, removed at the end. One
//! test walks the story in order, because bootstrapping the base takes minutes.

mod common;

use common::engine_project::{ferrostack, write, Project, BOOKWORM_BASE};

use common::{stderr, stdout, TestImages};

/// bookworm never had this jq (it is buster's): the mirror cannot offer it.
const NOT_OFFERED: &str = "1.5+dfsg-2";

fn project() -> Project {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("catalogue");
    // The same base as tests/build_engine.rs: same hash, so a base left in the engine is reused.
    write(&root, "stacks/base.toml", BOOKWORM_BASE);
    write(&root, "stacks/tool.toml", "name = \"tool\"\nfrom = \"base\"\n[[step]]\napt = [\"jq\"]\n[[check]]\nrun = \"echo '{}' | jq .\"\n");
    let images = TestImages::new("upd", &["base", "tool"]);
    Project {
        _tmp: tmp,
        root,
        repo: images.repo.clone(),
        _images: images,
    }
}

fn lock(p: &Project) -> toml::Value {
    toml::from_str(&std::fs::read_to_string(p.root.join("images.lock")).unwrap()).unwrap()
}

fn lock_text(p: &Project) -> String {
    std::fs::read_to_string(p.root.join("images.lock")).unwrap()
}

/// Sets `tool`'s jq pin; with `as_built`, also its recorded `pin:jq` input, as if the last
/// build had installed that pin.
fn pin_jq(p: &Project, version: &str, as_built: bool) {
    let mut lock = lock(p);
    let tool = lock["stacks"]["tool"].as_table_mut().unwrap();
    let mut pins = toml::Table::new();
    pins.insert("jq".into(), toml::Value::String(version.into()));
    tool.insert("pins".into(), toml::Value::Table(pins));
    if as_built {
        tool["inputs"]
            .as_table_mut()
            .unwrap()
            .insert("pin:jq".into(), toml::Value::String(version.into()));
    }
    std::fs::write(p.root.join("images.lock"), toml::to_string(&lock).unwrap()).unwrap();
}

fn tool_str(lock: &toml::Value, table: &str) -> Option<String> {
    lock["stacks"]["tool"]
        .get(table)
        .and_then(|t| t.get("jq"))
        .and_then(|v| v.as_str())
        .map(str::to_string)
}

#[test]
fn update_moves_old_pins_and_a_vanished_pin_fails_clearly() {
    let p = project();

    // 1. Build unpinned: the lock records the jq the mirror gave.
    let out = ferrostack(&p, &["build", "--progress", "plain"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let candidate = tool_str(&lock(&p), "packages").expect("jq's version recorded");

    // 2. A pin the mirror does not offer: the build fails, naming the package, the version
    //    and the way out.
    pin_jq(&p, NOT_OFFERED, false);
    let out = ferrostack(&p, &["build", "--progress", "plain"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let expected = format!("the mirror no longer offers pinned `jq` version `{NOT_OFFERED}`; run `ferrostack update` to move the pin");
    assert!(stderr(&out).contains(&expected), "{}", stderr(&out));

    // 3. An old pin, as if the last build had installed it. (Pinning an older jq the mirror
    //    still offers is no way to make one: its dependency `libjq1 (= version)` floats to
    //    the newest and apt refuses the mix.)
    pin_jq(&p, NOT_OFFERED, true);
    let old = NOT_OFFERED;
    let change = format!("jq {old} → {candidate}");

    // 4. `update --locked` fails with the change and writes nothing.
    let before = lock_text(&p);
    let out = ferrostack(&p, &["--locked", "update"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("tool: {change}")),
        "{}",
        stderr(&out)
    );
    assert_eq!(lock_text(&p), before);

    // 5. `update` moves the pin to today's candidate and pins jq's dependencies too (at the
    //    versions the build installed); only pins change.
    let out = ferrostack(&p, &["update"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines: Vec<String> = stdout(&out).lines().map(str::to_string).collect();
    assert_eq!(lines[0], format!("tool: {change}"), "{lines:?}");
    assert!(
        lines[1..]
            .iter()
            .all(|l| l.ends_with("(now pinned) (dependency of jq)")),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("tool: libjq1 ")),
        "{lines:?}"
    );
    let after = lock(&p);
    assert_eq!(tool_str(&after, "pins"), Some(candidate.clone()));
    assert_eq!(
        after["stacks"]["tool"]["hash"],
        toml::from_str::<toml::Value>(&before).unwrap()["stacks"]["tool"]["hash"]
    );

    // 6. The plan says why `tool` rebuilds: the package and both versions.
    let out = ferrostack(&p, &["plan", "--offline"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let plan = stdout(&out);
    assert!(
        plan.lines().any(|l| l.starts_with("up-to-date base")),
        "{plan}"
    );
    assert!(
        plan.lines().any(|l| l.starts_with("build      tool")),
        "{plan}"
    );
    assert!(plan.contains(&format!("- {change}\n")), "{plan}");

    // 7. Building from the lock installs the pinned version; then nothing moves.
    let out = ferrostack(&p, &["build", "--progress", "plain"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(tool_str(&lock(&p), "packages"), Some(candidate));
    let out = ferrostack(&p, &["update"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "no changes\n");
    let out = ferrostack(&p, &["--locked", "update"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    // 8. A pin for a package the stack no longer installs is dropped (`--locked` says so).
    let mut with_stale = lock(&p);
    let mut pins = toml::Table::new();
    pins.insert(
        "curl".into(),
        toml::Value::String("7.88.1-10+deb12u1".into()),
    );
    with_stale["stacks"]["base"]
        .as_table_mut()
        .unwrap()
        .insert("pins".into(), toml::Value::Table(pins));
    std::fs::write(
        p.root.join("images.lock"),
        toml::to_string(&with_stale).unwrap(),
    )
    .unwrap();
    let out = ferrostack(&p, &["--locked", "update"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("base: pin `curl` dropped"),
        "{}",
        stderr(&out)
    );
    let out = ferrostack(&p, &["update"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        lock(&p)["stacks"]["base"].get("pins").is_none(),
        "{}",
        lock_text(&p)
    );
}
