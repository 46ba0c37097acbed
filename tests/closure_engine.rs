//! The full closure pinned, against the real Docker engine: a bootstrapped base, a stack that
//! adds a test mirror (a tiny Debian repository this test makes and serves) and a stack
//! installing `fs-app` (which depends on `fs-lib`) from it and `jq` from Debian. One test walks
//! the story in order, because bootstrapping the base takes minutes: `update` pins the whole
//! closure; a rebuild from the lock installs exactly the recorded set even after the mirror
//! moved `fs-lib`; `update` names the dependency move, `plan` says why, the build installs it;
//! a pin the mirror dropped fails the build with the way out.

mod common;

use common::engine_project::{ferrostack, write, Project, BOOKWORM_BASE};

use common::test_mirror::{Package, TestMirror};
use common::{docker, stderr, stdout, TestImages};

fn project(mirror: &TestMirror) -> Project {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("catalogue");
    // The same base as tests/build_engine.rs: same hash, so a base left in the engine is reused.
    write(&root, "stacks/base.toml", BOOKWORM_BASE);
    write(
        &root,
        "stacks/fsmirror.toml",
        &format!("name = \"fsmirror\"\nfrom = \"base\"\n[[step]]\nrun = \"echo '{}' > /etc/apt/sources.list.d/fs.list\"\n", mirror.source_line()),
    );
    write(&root, "stacks/fsapp.toml", "name = \"fsapp\"\nfrom = \"fsmirror\"\n[[step]]\napt = [\"fs-app\", \"jq\"]\n[[check]]\nrun = \"test -f /usr/share/fs-lib/version\"\n");
    let images = TestImages::new("closure", &["base", "fsmirror", "fsapp", "fsroot"]);
    // A root on an image reference (the mirror stack's image): `update` asks it in its own
    // image, which already holds fs-app and fs-lib.
    write(
        &root,
        "stacks/fsroot.toml",
        &format!(
            "name = \"fsroot\"\nimage = \"{}:fsmirror\"\npackages = [\"fs-app\"]\n",
            images.repo
        ),
    );
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

/// Without the package cache: it serves only the mirrors it allows, and the test mirror is none.
fn build(p: &Project) {
    build_only(p, &[]);
}

fn build_only(p: &Project, stacks: &[&str]) {
    let out = ferrostack(
        p,
        &[
            &["build", "--progress", "plain", "--no-package-cache"],
            stacks,
        ]
        .concat(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// The image the lock records for `fsapp`, found by its hash label.
fn fsapp_image(p: &Project) -> String {
    image_of(p, "fsapp")
}

fn image_of(p: &Project, stack: &str) -> String {
    let hash = lock(p)["stacks"][stack]["hash"]
        .as_str()
        .unwrap()
        .to_string();
    let out = docker(&[
        "images",
        "-q",
        "--filter",
        &format!("label=io.ferrostack.hash={hash}"),
    ]);
    let ids: Vec<String> = stdout(&out)
        .lines()
        .map(str::to_string)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(ids.len(), 1, "one image with hash {hash}: {ids:?}");
    ids[0].clone()
}

/// `dpkg-query -W` inside `image`: every package and version.
fn installed(image: &str) -> String {
    let out = docker(&["run", "--rm", image, "dpkg-query", "-W"]);
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
}

fn fs_lib(image: &str) -> String {
    installed(image)
        .lines()
        .find_map(|l| l.strip_prefix("fs-lib\t"))
        .expect("fs-lib installed")
        .to_string()
}

const APP: Package = Package {
    name: "fs-app",
    version: "1.0",
    depends: "fs-lib (>= 1.0)",
};
const LIB_1_0: Package = Package {
    name: "fs-lib",
    version: "1.0",
    depends: "",
};
const LIB_1_1: Package = Package {
    name: "fs-lib",
    version: "1.1",
    depends: "",
};
const LIB_1_2: Package = Package {
    name: "fs-lib",
    version: "1.2",
    depends: "",
};

#[test]
fn update_pins_the_whole_closure_and_a_rebuild_installs_exactly_it() {
    let mirror = TestMirror::start();
    mirror.publish(&[APP, LIB_1_0]);
    let p = project(&mirror);

    // 1. Build unpinned (fsroot's image reference after it exists), then pin: the named
    //    packages and every dependency apt adds, each under the package that pulls it in; for
    //    the root too, though its own image already holds them.
    build_only(&p, &["fsapp"]);
    build(&p);
    let out = ferrostack(&p, &["update"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("fsapp: fs-lib 1.0 (now pinned) (dependency of fs-app)\n"),
        "{}",
        stdout(&out)
    );
    let pinned = lock(&p);
    let deps = &pinned["stacks"]["fsapp"]["dependency_pins"];
    assert_eq!(deps["fs-app"]["fs-lib"].as_str(), Some("1.0"), "{deps}");
    assert!(
        deps["jq"].get("libjq1").is_some() && deps["jq"].get("libonig5").is_some(),
        "jq's dependencies pinned under it: {deps}"
    );
    assert_eq!(
        pinned["stacks"]["fsapp"]["pins"]["fs-app"].as_str(),
        Some("1.0")
    );
    assert_eq!(
        pinned["stacks"]["fsroot"]["dependency_pins"]["fs-app"]["fs-lib"].as_str(),
        Some("1.0"),
        "{}",
        pinned["stacks"]["fsroot"]
    );

    // 2. Build from the pins: every Debian package of the image is one the lock pins.
    build(&p);
    let first = fsapp_image(&p);
    let before = installed(&first);
    let closure = lock(&p)["stacks"]["fsapp"]["closure"]
        .as_table()
        .unwrap()
        .clone();
    let all_pins: Vec<String> = {
        let stack = &lock(&p)["stacks"]["fsapp"];
        let mut v: Vec<String> = stack["pins"]
            .as_table()
            .unwrap()
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap()))
            .collect();
        for deps in stack["dependency_pins"].as_table().unwrap().values() {
            v.extend(
                deps.as_table()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| format!("{k}={}", v.as_str().unwrap())),
            );
        }
        v.sort();
        v
    };
    let recorded: Vec<String> = {
        let mut v: Vec<String> = closure
            .iter()
            .map(|(k, r)| {
                format!(
                    "{}={}",
                    k.split(':').next().unwrap(),
                    r.as_str().unwrap().split(' ').next().unwrap()
                )
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        recorded, all_pins,
        "the built closure is the pinned closure"
    );

    // 3. The mirror moves fs-lib. Without `update`, a rebuild from the lock (the image
    //    removed) installs exactly the recorded set, the old fs-lib included.
    mirror.publish(&[APP, LIB_1_0, LIB_1_1]);
    let out = docker(&["rmi", "-f", &first]);
    assert!(out.status.success(), "{}", stderr(&out));
    build(&p);
    let second = fsapp_image(&p);
    assert_ne!(second, first, "rebuilt, not found");
    assert_eq!(
        installed(&second),
        before,
        "dpkg-query -W identical after a rebuild from the lock"
    );
    assert_eq!(fs_lib(&second), "1.0");

    // 4. `update` names the dependency move; `--json` lists it with the stacks it affects.
    let out = ferrostack(&p, &["--locked", "update"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("fsapp: fs-lib 1.0 → 1.1 (dependency of fs-app)"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("fsroot: fs-lib 1.0 → 1.1 (dependency of fs-app)"),
        "{}",
        stderr(&out)
    );
    let out = ferrostack(&p, &["update", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        report["moves"],
        serde_json::json!([{"package": "fs-lib", "from": "1.0", "to": "1.1", "dependency_of": ["fs-app"], "stacks": ["fsapp", "fsroot"], "rebuilds": ["fsapp", "fsroot"]}]),
        "{report}"
    );

    // 5. The plan says why `fsapp` rebuilds; the build installs the new fs-lib.
    let out = ferrostack(&p, &["plan", "--offline"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("- fs-lib 1.0 → 1.1 (dependency of fs-app)\n"),
        "{}",
        stdout(&out)
    );
    let night_before = p.root.join("images.lock.before");
    std::fs::copy(p.root.join("images.lock"), &night_before).unwrap();
    build(&p);
    assert_eq!(fs_lib(&fsapp_image(&p)), "1.1");
    assert_eq!(fs_lib(&image_of(&p, "fsroot")), "1.1");
    // `diff` between the two locks reports the one-package night: in `fsapp`, only fs-lib moved.
    let night_after = p.root.join("images.lock");
    let (before_arg, after_arg) = (
        night_before.to_str().unwrap(),
        night_after.to_str().unwrap(),
    );
    let out = ferrostack(&p, &["diff", before_arg, after_arg, "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let diff: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let fsapp = diff["stacks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "fsapp")
        .unwrap_or_else(|| panic!("fsapp changed: {diff}"));
    let own: Vec<(&str, &str, &str, &str)> = fsapp["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["inherited"] != true)
        .map(|c| {
            (
                c["package"].as_str().unwrap(),
                c["change"].as_str().unwrap(),
                c["from"].as_str().unwrap_or(""),
                c["to"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(own.len(), 1, "{fsapp}");
    assert!(
        own[0].0.starts_with("fs-lib")
            && own[0].1 == "moved"
            && own[0].2 == "1.0"
            && own[0].3 == "1.1",
        "{fsapp}"
    );
    let out = ferrostack(&p, &["diff", before_arg, after_arg]);
    assert!(
        stdout(&out).contains("fs-lib") && stdout(&out).contains("1.0 → 1.1"),
        "{}",
        stdout(&out)
    );

    // 6. The mirror drops the pinned fs-lib: a rebuild fails naming it, and the way out.
    mirror.publish(&[APP, LIB_1_2]);
    let out = docker(&["rmi", "-f", &fsapp_image(&p)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = ferrostack(&p, &["build", "--progress", "plain", "--no-package-cache"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let expected = "the mirror no longer offers pinned `fs-lib` version `1.1` (a dependency of `fs-app`); run `ferrostack update` to move the pin";
    assert!(stderr(&out).contains(expected), "{}", stderr(&out));
}
