//! Snapshots of every bundled stack's rendered Dockerfile, plus structural checks that hold
//! for every stack (classic-builder syntax, apt hygiene, labels, layer order).

use std::path::Path;

use ferrostack::{Project, Session};

fn bundled() -> Session {
    let mut project = Project::open(Path::new(env!("CARGO_MANIFEST_DIR"))).unwrap();
    // Environment overrides must not leak into the snapshots; the media crate stays.
    project.settings.repository = ferrostack::Settings::default().repository;
    project.settings.ca_bundle = None;
    Session::open(project).unwrap()
}

#[test]
fn every_bundled_stack_renders_as_snapshotted() {
    let session = bundled();
    let prepared = session.prepare(&[]).unwrap();
    assert!(
        prepared.len() >= 10,
        "bundled catalogue has base x2, python x2, node, ruby, php, go, java, ffmpeg"
    );
    for (name, p) in &prepared {
        insta::assert_snapshot!(format!("dockerfile_{name}"), p.dockerfile);
    }
}

#[test]
fn rendered_dockerfiles_follow_the_layering_rules() {
    let session = bundled();
    for (name, p) in session.prepare(&[]).unwrap() {
        let d = &p.dockerfile;
        // Classic builder only: no BuildKit syntax.
        assert!(
            !d.contains("# syntax="),
            "{name}: BuildKit syntax directive"
        );
        assert!(
            !d.contains("--mount="),
            "{name}: RUN --mount is BuildKit-only"
        );
        assert!(!d.contains("<<"), "{name}: heredocs are BuildKit-only");
        // Every apt install skips recommends and removes its lists in the same RUN.
        for run in d.split("\nRUN ").skip(1) {
            let layer: String = run
                .lines()
                .take_while(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join("\n");
            if layer.contains("apt-get install") {
                assert!(layer.contains("--no-install-recommends"), "{name}: {layer}");
                assert!(
                    layer.contains("rm -rf /var/lib/apt/lists/*"),
                    "{name}: {layer}"
                );
            }
        }
        for label in [
            "org.opencontainers.image.title",
            "org.opencontainers.image.version",
            "org.opencontainers.image.description",
            "io.ferrostack.stack",
            "io.ferrostack.hash",
        ] {
            assert!(d.contains(label), "{name}: label {label} missing");
        }
        // Order: system packages, runtimes, FFmpeg, Composer, then metadata.
        let pos = |needle: &str| d.find(needle);
        let order = [
            "# System packages",
            "# Runtime:",
            "# FFmpeg",
            "# PHP Composer",
            "ARG FERROSTACK_HASH",
        ];
        let found: Vec<usize> = order.iter().filter_map(|n| pos(n)).collect();
        assert!(
            found.windows(2).all(|w| w[0] < w[1]),
            "{name}: layers out of order"
        );
    }
}

#[test]
fn committed_rendered_directory_is_current() {
    // The same check as `ferrostack render --check`, through the binary in tests/cli.rs; here
    // directly, so a template edit without re-rendering fails with a precise diff.
    let session = bundled();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (name, p) in session.prepare(&[]).unwrap() {
        let committed =
            std::fs::read_to_string(root.join("rendered").join(&name).join("Dockerfile"))
                .unwrap_or_default();
        assert_eq!(
            committed, p.dockerfile,
            "rendered/{name}/Dockerfile is stale: run `ferrostack render`"
        );
    }
}

/// Issue 9: what reaches a shell in a `RUN` line is one word: package specs with shell
/// characters are single-quoted; Debian pins (validated when the lock is read) stay plain.
#[test]
fn package_specs_reach_the_shell_quoted() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    std::fs::create_dir_all(root.join("stacks")).unwrap();
    std::fs::write(
        root.join("stacks/worker.toml"),
        "name = \"worker\"\nimage = \"debian:bookworm-slim\"\npackages = [\"curl\", \"x$(id)\"]\n[[runtime]]\nname = \"python\"\n[[step]]\npip = [\"requests>=2\"]\n",
    )
    .unwrap();
    std::fs::write(
        root.join("images.lock"),
        "version = 1\n[stacks.worker]\nhash = \"sha256:00\"\n[stacks.worker.pins]\ncurl = \"7.88.1-10+deb12u8~1\"\n",
    )
    .unwrap();
    let session = Session::open(Project::open(root).unwrap()).unwrap();
    let dockerfile = &session.prepare(&[]).unwrap()["worker"].dockerfile;
    assert!(
        dockerfile.contains("      curl=7.88.1-10+deb12u8~1 \\\n"),
        "{dockerfile}"
    );
    assert!(dockerfile.contains("      'x$(id)' \\\n"), "{dockerfile}");
    assert!(dockerfile.contains(" 'requests>=2'"), "{dockerfile}");
}

/// Issue 12: the pinned closure reaches the Dockerfile: each install lists its named packages,
/// then its packages' pinned dependencies (sorted), all `pkg=version`; a dependency of a
/// package another install names goes on that install; the hash moves with a dependency pin.
#[test]
fn dependency_pins_are_installed_beside_the_package_that_pulls_them_in() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    std::fs::create_dir_all(root.join("stacks")).unwrap();
    std::fs::write(root.join("stacks/tool.toml"), "name = \"tool\"\nimage = \"debian:bookworm-slim\"\npackages = [\"curl\"]\n[[step]]\napt = [\"jq\"]\n").unwrap();
    let lock = |libonig: &str| {
        format!(
            "version = 1\n[stacks.tool]\nhash = \"sha256:00\"\n[stacks.tool.pins]\ncurl = \"7.88.1-10+deb12u12\"\njq = \"1.6-2.1\"\n\
             [stacks.tool.dependency_pins.curl]\nlibcurl4 = \"7.88.1-10+deb12u12\"\n[stacks.tool.dependency_pins.jq]\nlibonig5 = \"{libonig}\"\nlibjq1 = \"1.6-2.1\"\n"
        )
    };
    let prepared = |text: &str| {
        std::fs::write(root.join("images.lock"), text).unwrap();
        let session = Session::open(Project::open(root).unwrap()).unwrap();
        session.prepare(&[]).unwrap().remove("tool").unwrap()
    };
    let first = prepared(&lock("6.9.8-1"));
    let installs: Vec<&str> = first
        .dockerfile
        .lines()
        .filter(|l| l.starts_with("      ") && l.contains('=') && !l.contains('"'))
        .map(str::trim)
        .collect();
    assert_eq!(
        installs,
        [
            "curl=7.88.1-10+deb12u12 \\",
            "libcurl4=7.88.1-10+deb12u12 \\",
            "jq=1.6-2.1 \\",
            "libjq1=1.6-2.1 \\",
            "libonig5=6.9.8-1 \\"
        ],
        "{}",
        first.dockerfile
    );
    assert_eq!(first.inputs["dep:jq:libonig5"], "6.9.8-1");
    let moved = prepared(&lock("6.9.8-2"));
    assert_ne!(moved.hash, first.hash);
}
