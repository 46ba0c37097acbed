//! A registry in the loop, for real: Debian's `docker-registry` on loopback, the real engine.
//! A family is built and pushed by immutable tag with its digests in the lock; then, on a
//! second engine with nothing in it (an ephemeral runner; `common::second_engine`), `plan`
//! finds every stack in the registry and `build` pulls and builds nothing; a changed leaf pulls only its parent, by
//! digest, and only the leaf's digest moves.
//!
//! The root stack sits on a seed image imported from a static busybox, so no bootstrap (and no
//! apt) is needed.

mod common;

use common::local_registry::LocalRegistry;
use common::second_engine::SecondEngine;
use common::{remove_repository, stderr, stdout, TestImages};

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

struct Catalogue {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    docker_config: PathBuf,
    repo: String,
    registry: String,
    _remote: RemoteCleanup,
}

/// The test's repository in the registry, as the engine tags it (removed on drop).
struct RemoteCleanup(String);

impl Drop for RemoteCleanup {
    fn drop(&mut self) {
        remove_repository(&self.0);
    }
}

impl Catalogue {
    /// A project in a temporary directory whose root stack sits on a busybox seed image, with
    /// an empty Docker client configuration (anonymous).
    fn new(images: &TestImages, registry: &str) -> Catalogue {
        let tmp = tempfile::tempdir().unwrap();
        let catalogue = Catalogue {
            root: tmp.path().join("catalogue"),
            docker_config: tmp.path().join("docker-config"),
            repo: images.repo.clone(),
            registry: registry.to_string(),
            _remote: RemoteCleanup(format!("{registry}/{}", images.repo)),
            _tmp: tmp,
        };
        std::fs::create_dir_all(&catalogue.docker_config).unwrap();
        common::import_busybox_seed(None, &catalogue.seed());
        // Busybox has no dpkg: a one-package `dpkg-query` stands in, so the root has a package
        // closure and every stack an SBOM.
        let dpkg_query = r#"printf '#!/bin/sh\nprintf "ii \\tfs-tool\\tamd64\\t1.0-1\\tfs-tool\\t1.0-1\\n"\n' > /bin/dpkg-query && chmod +x /bin/dpkg-query"#;
        write(
            &catalogue.root,
            "stacks/root.toml",
            &format!(
                "name = \"root\"\nimage = \"{}\"\nsuite = \"bookworm\"\n[[step]]\nrun = \"echo root > /root.txt\"\n[[step]]\nrun = '''{dpkg_query}'''\n[[check]]\nrun = \"test -f /root.txt && dpkg-query -W | grep -q fs-tool\"\n",
                catalogue.seed()
            ),
        );
        catalogue
    }

    fn seed(&self) -> String {
        format!("{}:seed", self.repo)
    }

    fn remote_repo(&self) -> String {
        format!("{}/{}", self.registry, self.repo)
    }

    /// The immutable tag of `stack` as the lock's hash gives it.
    fn tag(&self, stack: &str) -> String {
        let hash = self.locked(stack).0;
        format!("{stack}-{}", &hash["sha256:".len().."sha256:".len() + 16])
    }

    /// Writes `config.json` with `user:password` for the registry.
    fn log_in(&self, user: &str, password: &str) {
        use base64::Engine as _;
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        std::fs::write(
            self.docker_config.join("config.json"),
            format!(
                r#"{{"auths": {{"{}": {{"auth": "{auth}"}}}}}}"#,
                self.registry
            ),
        )
        .unwrap();
    }

    fn ferrostack(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_ferrostack"))
            .env("FERROSTACK_REPOSITORY", &self.repo)
            .env("FERROSTACK_REGISTRY", &self.registry)
            .env("FERROSTACK_PACKAGE_CACHE", "0")
            .env("DOCKER_CONFIG", &self.docker_config)
            .env_remove("FERROSTACK_CA_BUNDLE")
            .arg("-C")
            .arg(&self.root)
            .args(args)
            .output()
            .unwrap()
    }

    fn lock(&self) -> toml::Value {
        toml::from_str(&std::fs::read_to_string(self.root.join("images.lock")).unwrap()).unwrap()
    }

    /// `(hash, digest)` the lock records for `stack`.
    fn locked(&self, stack: &str) -> (String, String) {
        let lock = self.lock();
        let entry = &lock["stacks"][stack];
        (
            entry["hash"].as_str().unwrap().to_string(),
            entry
                .get("digest")
                .and_then(|d| d.as_str())
                .unwrap_or_else(|| panic!("no digest for {stack}: {lock}"))
                .to_string(),
        )
    }
}

/// The JSON report's stacks with their status.
fn statuses(out: &Output) -> Vec<(String, String)> {
    let report: serde_json::Value = serde_json::from_str(&stdout(out))
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", stdout(out), stderr(out)));
    report["stacks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_string(),
                s["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn a_registry_is_the_shared_state_between_engines() {
    let _serial = common::one_at_a_time();
    let images = TestImages::new("reg", &["root", "leaf", "sibling"]);
    let registry = LocalRegistry::start();
    let catalogue = Catalogue::new(&images, &registry.address());
    let remote_repo = catalogue.remote_repo();
    let seed = catalogue.seed();
    let root = &catalogue.root;
    let leaf = |n: u32| {
        format!("name = \"leaf\"\nfrom = \"root\"\n[[step]]\nrun = \"echo leaf-{n} > /leaf.txt\"\n[[check]]\nrun = \"grep -q leaf-{n} /leaf.txt\"\n")
    };
    write(root, "stacks/leaf.toml", &leaf(1));
    write(
        root,
        "stacks/sibling.toml",
        "name = \"sibling\"\nfrom = \"root\"\n[[step]]\nrun = \"echo sibling > /sibling.txt\"\n",
    );

    // 1. Built, checked, pushed by immutable tag; the lock names exactly what the registry has.
    let out = catalogue.ferrostack(&["build", "--json", "--progress", "plain"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mut built = statuses(&out);
    built.sort();
    assert_eq!(
        built,
        [
            ("leaf".into(), "built".into()),
            ("root".into(), "built".into()),
            ("sibling".into(), "built".into())
        ]
    );
    let mut digests = std::collections::BTreeMap::new();
    for stack in ["root", "leaf", "sibling"] {
        let digest = catalogue.locked(stack).1;
        assert_eq!(
            registry
                .manifest_digest(&catalogue.repo, &catalogue.tag(stack))
                .as_deref(),
            Some(digest.as_str()),
            "{stack}: the lock's digest is the registry's"
        );
        digests.insert(stack, digest);
    }
    // Each stack's SBOM is next to its image (cosign's `sha256-<hex>.sbom` tag), recorded in
    // the lock, and is the document `ferrostack sbom` derives from the lock.
    for stack in ["root", "leaf", "sibling"] {
        let lock = catalogue.lock();
        let recorded = lock["stacks"][stack]
            .get("sbom")
            .and_then(|s| s.as_str())
            .unwrap_or_else(|| panic!("{stack}: no sbom in the lock: {lock}\n{}", stderr(&out)))
            .to_string();
        let tag = format!("{}.sbom", digests[stack].replacen(':', "-", 1));
        assert_eq!(
            registry.manifest_digest(&catalogue.repo, &tag).as_deref(),
            Some(recorded.as_str()),
            "{stack}: the lock's SBOM digest is the registry's"
        );
        let manifest: serde_json::Value =
            serde_json::from_slice(&registry.manifest(&catalogue.repo, &tag).unwrap()).unwrap();
        assert_eq!(
            manifest["layers"][0]["mediaType"], "text/spdx+json",
            "{manifest}"
        );
        let blob = registry
            .blob(
                &catalogue.repo,
                manifest["layers"][0]["digest"].as_str().unwrap(),
            )
            .expect("the SBOM blob");
        let out = catalogue.ferrostack(&["sbom", stack, "--out", "-"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_eq!(
            String::from_utf8(blob).unwrap(),
            stdout(&out),
            "{stack}: the stored SBOM is the lock's"
        );
    }

    // 2. A second engine with nothing in it (the ephemeral runner): every stack is found in
    // the registry, and nothing is pulled or built.
    let second = SecondEngine::start();
    let second_address = second.address();
    let on_second = |args: &[&str]| {
        let mut all = vec!["--engine", second_address.as_str()];
        all.extend_from_slice(args);
        catalogue.ferrostack(&all)
    };
    let second_images = |repo: &str| -> Vec<String> {
        stdout(&second.docker(&[
            "images",
            "--digests",
            "--filter",
            &format!("reference={repo}"),
            "--format",
            "{{.Tag}} {{.Digest}}",
        ]))
        .lines()
        .map(str::to_string)
        .collect()
    };
    assert!(
        !second.docker(&["image", "inspect", &seed]).status.success(),
        "the second engine has no seed"
    );
    assert!(second_images(&remote_repo).is_empty());
    let lock_before = std::fs::read_to_string(root.join("images.lock")).unwrap();
    let out = on_second(&["plan", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let plan: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    for s in plan["stacks"].as_array().unwrap() {
        assert_eq!(
            (s["action"].as_str(), s["found"].as_str()),
            (Some("up-to-date"), Some("registry")),
            "{s}"
        );
    }
    let out = on_second(&["plan"]);
    assert!(stdout(&out).contains("(registry)"), "{}", stdout(&out));
    let out = on_second(&["build", "--json", "--progress", "plain"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        statuses(&out)
            .iter()
            .all(|(_, status)| status == "up-to-date"),
        "{}",
        stdout(&out)
    );
    assert!(
        stderr(&out).contains("root: skipped (up-to-date (registry))"),
        "{}",
        stderr(&out)
    );
    assert!(
        second_images(&remote_repo).is_empty(),
        "nothing pulled: {:?}",
        second_images(&remote_repo)
    );
    assert_eq!(
        std::fs::read_to_string(root.join("images.lock")).unwrap(),
        lock_before,
        "lock unchanged"
    );

    // 3. The leaf changes: only its parent is pulled (by the digest the lock recorded), only
    // the leaf is built and pushed, and only its digest moves.
    write(root, "stacks/leaf.toml", &leaf(2));
    let out = on_second(&["build", "--json", "--progress", "plain"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let built: Vec<String> = statuses(&out)
        .into_iter()
        .filter(|(_, s)| s == "built")
        .map(|(n, _)| n)
        .collect();
    assert_eq!(built, ["leaf"], "{}", stderr(&out));
    let pulled = second_images(&remote_repo);
    assert!(
        pulled.iter().any(|l| l.ends_with(&digests["root"])),
        "the root was pulled by digest: {pulled:?}"
    );
    assert!(
        !pulled.iter().any(|l| l.ends_with(&digests["sibling"])),
        "the sibling was not pulled: {pulled:?}"
    );
    let log = std::fs::read_to_string(root.join("target/ferrostack/logs/leaf.log")).unwrap();
    assert!(
        log.contains(&format!("pulling parent `root` ({})", digests["root"])),
        "{log}"
    );
    for stack in ["root", "sibling"] {
        assert_eq!(
            catalogue.locked(stack).1,
            digests[stack],
            "{stack}'s digest did not move"
        );
    }
    let leaf_digest = catalogue.locked("leaf").1;
    assert_ne!(leaf_digest, digests["leaf"], "the leaf's digest moved");
    assert_eq!(
        registry.manifest_digest(&catalogue.repo, &catalogue.tag("leaf")),
        Some(leaf_digest.clone())
    );
    let leaf_sbom = catalogue.lock()["stacks"]["leaf"]
        .get("sbom")
        .and_then(|s| s.as_str())
        .map(str::to_string);
    assert_eq!(
        registry.manifest_digest(
            &catalogue.repo,
            &format!("{}.sbom", leaf_digest.replacen(':', "-", 1))
        ),
        leaf_sbom,
        "the new leaf's SBOM is stored and recorded"
    );
    let out = on_second(&["run", "leaf", "--", "sh", "-c", "cat /leaf.txt"]);
    assert_eq!(
        (out.status.code(), stdout(&out).trim()),
        (Some(0), "leaf-2"),
        "{}",
        stderr(&out)
    );

    // 4. A registry written with a scheme is a settings error, before anything runs.
    let out = catalogue.ferrostack(&[
        "--registry",
        "https://registry.example",
        "plan",
        "--offline",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("has a scheme"), "{}", stderr(&out));
}

/// A registry that wants a password (htpasswd): the credentials in the Docker client
/// configuration are used; wrong ones, or none, give an error naming the registry.
#[test]
fn credentials_come_from_the_docker_client_configuration() {
    let _serial = common::one_at_a_time();
    use common::local_registry::{PASSWORD, USER};
    let images = TestImages::new("regauth", &["root"]);
    let registry = LocalRegistry::start_with_password();
    let catalogue = Catalogue::new(&images, &registry.address());

    catalogue.log_in(USER, "wrong-password");
    let out = catalogue.ferrostack(&["build", "--progress", "plain"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("pushing `{}:root-", catalogue.remote_repo()))
            && err.contains("unauthorized"),
        "{err}"
    );

    catalogue.log_in(USER, PASSWORD);
    let out = catalogue.ferrostack(&["build", "--progress", "plain"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        registry.manifest_digest(&catalogue.repo, &catalogue.tag("root")),
        Some(catalogue.locked("root").1),
        "pushed with the credentials"
    );

    // Nothing in the engine, no credentials: the lookup is refused, and says where.
    remove_repository(&catalogue.repo);
    remove_repository(&catalogue.remote_repo());
    std::fs::remove_file(catalogue.docker_config.join("config.json")).unwrap();
    let out = catalogue.ferrostack(&["build", "--progress", "plain"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("looking up `{}:root-", catalogue.remote_repo())),
        "{err}"
    );
    // With them, the same build finds it in the registry.
    catalogue.log_in(USER, PASSWORD);
    let out = catalogue.ferrostack(&["build", "--progress", "plain"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("root: skipped (up-to-date (registry))"),
        "{}",
        stderr(&out)
    );
}

/// `--promote all-or-nothing` moves the human tags at the registry only when every stack
/// passed, by putting the already-pushed manifests under them; a tag move that fails part-way
/// puts the moved tags back.
#[test]
fn human_tags_move_at_the_registry_all_or_nothing() {
    let _serial = common::one_at_a_time();
    use common::faulty_registry::FaultyRegistry;
    let images = TestImages::new("regpro", &["root", "leaf", "sibling"]);
    let registry = LocalRegistry::start();
    let proxy = FaultyRegistry::start(registry.address());
    let catalogue = Catalogue::new(&images, &proxy.address());
    let root = &catalogue.root;
    let leaf = |n: u32| {
        format!("name = \"leaf\"\nfrom = \"root\"\ntags = [\"leaf-latest\"]\n[[step]]\nrun = \"echo leaf-{n} > /leaf.txt\"\n")
    };
    let sibling = |n: u32, check: &str| {
        format!("name = \"sibling\"\nfrom = \"root\"\ntags = [\"sibling-latest\"]\n[[step]]\nrun = \"echo sibling-{n} > /sibling.txt\"\n[[check]]\nrun = \"{check}\"\n")
    };
    write(root, "stacks/leaf.toml", &leaf(1));
    write(root, "stacks/sibling.toml", &sibling(1, "true"));
    let human = ["root", "leaf", "leaf-latest", "sibling", "sibling-latest"];
    let tags_now = || {
        human
            .iter()
            .map(|t| registry.manifest_digest(&catalogue.repo, t))
            .collect::<Vec<_>>()
    };
    let promote = |args: &[&str]| {
        let mut all = vec![
            "build",
            "--promote",
            "all-or-nothing",
            "--progress",
            "plain",
            "--json",
        ];
        all.extend_from_slice(args);
        catalogue.ferrostack(&all)
    };

    // 1. Everything passes: every human tag names its stack's pushed manifest.
    let out = promote(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        report["tag_moves"].as_array().map(Vec::len),
        Some(5),
        "{report}"
    );
    let first = tags_now();
    for (tag, digest) in human.iter().zip(&first) {
        let stack = tag.trim_end_matches("-latest");
        assert_eq!(
            digest.as_deref(),
            Some(catalogue.locked(stack).1.as_str()),
            "{tag}"
        );
    }

    // 2. One stack fails its check: no human tag moves (the passing leaf is pushed under its
    // immutable tag only), and the lock is unchanged.
    let lock_before = std::fs::read_to_string(root.join("images.lock")).unwrap();
    write(root, "stacks/leaf.toml", &leaf(2));
    write(root, "stacks/sibling.toml", &sibling(2, "false"));
    let out = promote(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(tags_now(), first, "no human tag moved");
    assert_eq!(
        std::fs::read_to_string(root.join("images.lock")).unwrap(),
        lock_before
    );

    // 3. A tag move fails part-way (the third of four: leaf, leaf-latest, sibling, …): the two
    // moved tags are put back, the run fails and says so, the lock is unchanged.
    write(root, "stacks/sibling.toml", &sibling(3, "true"));
    proxy.fail_nth_tag_put(3);
    let out = promote(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("moving tag `sibling` failed after 2 of 4 moves")
            && err.contains("put back: `leaf-latest`, `leaf`"),
        "{err}"
    );
    assert_eq!(tags_now(), first, "the moved tags were put back");
    assert_eq!(
        std::fs::read_to_string(root.join("images.lock")).unwrap(),
        lock_before
    );

    // 4. Without the fault: the four tags move, and the report names each with old and new digest.
    proxy.fail_nth_tag_put(0);
    let out = promote(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let moves = report["tag_moves"].as_array().unwrap();
    let moved: Vec<&str> = moves.iter().map(|m| m["tag"].as_str().unwrap()).collect();
    assert_eq!(moved, ["leaf", "leaf-latest", "sibling", "sibling-latest"]);
    for m in moves {
        let stack = m["stack"].as_str().unwrap();
        assert_eq!(
            m["from"].as_str(),
            first[human.iter().position(|t| *t == stack).unwrap()].as_deref(),
            "{m}"
        );
        assert_eq!(
            m["to"].as_str(),
            Some(catalogue.locked(stack).1.as_str()),
            "{m}"
        );
    }
    assert_eq!(
        registry.manifest_digest(&catalogue.repo, "leaf-latest"),
        Some(catalogue.locked("leaf").1)
    );
    assert_eq!(
        registry.manifest_digest(&catalogue.repo, "root"),
        first[0],
        "root did not move"
    );
}
