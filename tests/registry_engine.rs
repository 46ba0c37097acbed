//! A registry in the loop, for real: Debian's `docker-registry` on loopback, the real engine.
//! A family is built and pushed by immutable tag with its digests in the lock; then, with
//! nothing of it left in the engine (an ephemeral runner), `plan` finds every stack in the
//! registry and `build` pulls and builds nothing; a changed leaf pulls only its parent, by
//! digest, and only the leaf's digest moves.
//!
//! The root stack sits on a seed image imported from a static busybox, so no bootstrap (and no
//! apt) is needed.

mod common;

use common::local_registry::LocalRegistry;
use common::{docker, remove_repository, stderr, stdout, TestImages};

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// Imports a root filesystem holding only a static busybox (and `sh` pointing at it).
fn import_seed(reference: &str) {
    let out = Command::new("sh").arg("-c").arg("file -L /bin/busybox 2>/dev/null || ldd /bin/busybox").output().unwrap();
    let text = stdout(&out);
    assert!(text.contains("static") || text.contains("not a dynamic"), "/bin/busybox must be static (scripts/setup installs busybox-static): {text}");
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("bin")).unwrap();
    std::fs::copy("/bin/busybox", dir.path().join("bin/busybox")).unwrap();
    std::os::unix::fs::symlink("busybox", dir.path().join("bin/sh")).unwrap();
    let status = Command::new("sh").arg("-c").arg(format!("tar -C '{}' -c . | docker import - '{reference}' >/dev/null", dir.path().display())).status().unwrap();
    assert!(status.success(), "docker import of the seed");
}

struct Catalogue {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    docker_config: PathBuf,
    repo: String,
    registry: String,
}

impl Catalogue {
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
        (entry["hash"].as_str().unwrap().to_string(), entry.get("digest").and_then(|d| d.as_str()).unwrap_or_else(|| panic!("no digest for {stack}: {lock}")).to_string())
    }
}

/// The JSON report's stacks with their status.
fn statuses(out: &Output) -> Vec<(String, String)> {
    let report: serde_json::Value = serde_json::from_str(&stdout(out)).unwrap_or_else(|e| panic!("{e}: {}\n{}", stdout(out), stderr(out)));
    report["stacks"].as_array().unwrap().iter().map(|s| (s["name"].as_str().unwrap().to_string(), s["status"].as_str().unwrap().to_string())).collect()
}

/// References of `repo` the engine holds (any tag or digest).
fn local_images(repo: &str) -> Vec<String> {
    stdout(&docker(&["images", "--digests", "--filter", &format!("reference={repo}"), "--format", "{{.Tag}} {{.Digest}}"])).lines().map(str::to_string).collect()
}

#[test]
fn a_registry_is_the_shared_state_between_engines() {
    let images = TestImages::new("reg", &["root", "leaf", "sibling"]);
    let registry = LocalRegistry::start();
    let tmp = tempfile::tempdir().unwrap();
    let catalogue = Catalogue {
        root: tmp.path().join("catalogue"),
        docker_config: tmp.path().join("docker-config"),
        repo: images.repo.clone(),
        registry: registry.address(),
        _tmp: tmp,
    };
    let remote_repo = format!("{}/{}", catalogue.registry, catalogue.repo);
    struct RemoteCleanup(String);
    impl Drop for RemoteCleanup {
        fn drop(&mut self) {
            remove_repository(&self.0);
        }
    }
    let _remote_cleanup = RemoteCleanup(remote_repo.clone());
    std::fs::create_dir_all(&catalogue.docker_config).unwrap();
    let seed = format!("{}:seed", catalogue.repo);
    import_seed(&seed);
    let root = &catalogue.root;
    write(root, "stacks/root.toml", &format!("name = \"root\"\nimage = \"{seed}\"\nsuite = \"bookworm\"\n[[step]]\nrun = \"echo root > /root.txt\"\n[[check]]\nrun = \"test -f /root.txt\"\n"));
    let leaf = |n: u32| format!("name = \"leaf\"\nfrom = \"root\"\n[[step]]\nrun = \"echo leaf-{n} > /leaf.txt\"\n[[check]]\nrun = \"grep -q leaf-{n} /leaf.txt\"\n");
    write(root, "stacks/leaf.toml", &leaf(1));
    write(root, "stacks/sibling.toml", "name = \"sibling\"\nfrom = \"root\"\n[[step]]\nrun = \"echo sibling > /sibling.txt\"\n");

    // 1. Built, checked, pushed by immutable tag; the lock names exactly what the registry has.
    let out = catalogue.ferrostack(&["build", "--json", "--progress", "plain"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mut built = statuses(&out);
    built.sort();
    assert_eq!(built, [("leaf".into(), "built".into()), ("root".into(), "built".into()), ("sibling".into(), "built".into())]);
    let mut digests = std::collections::BTreeMap::new();
    for stack in ["root", "leaf", "sibling"] {
        let (hash, digest) = catalogue.locked(stack);
        let tag = format!("{stack}-{}", &hash["sha256:".len().."sha256:".len() + 16]);
        assert_eq!(registry.manifest_digest(&catalogue.repo, &tag).as_deref(), Some(digest.as_str()), "{stack}: the lock's digest is the registry's");
        digests.insert(stack, digest);
    }

    // 2. An empty engine (the ephemeral runner): every stack is found in the registry, and
    // nothing is pulled or built.
    remove_repository(&catalogue.repo);
    remove_repository(&remote_repo);
    assert!(!docker(&["image", "inspect", &seed]).status.success(), "the seed is gone too");
    assert!(local_images(&remote_repo).is_empty());
    let lock_before = std::fs::read_to_string(root.join("images.lock")).unwrap();
    let out = catalogue.ferrostack(&["plan", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let plan: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    for s in plan["stacks"].as_array().unwrap() {
        assert_eq!((s["action"].as_str(), s["found"].as_str()), (Some("up-to-date"), Some("registry")), "{s}");
    }
    let out = catalogue.ferrostack(&["plan"]);
    assert!(stdout(&out).contains("(registry)"), "{}", stdout(&out));
    let out = catalogue.ferrostack(&["build", "--json", "--progress", "plain"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(statuses(&out).iter().all(|(_, status)| status == "up-to-date"), "{}", stdout(&out));
    assert!(stderr(&out).contains("root: skipped (up-to-date (registry))"), "{}", stderr(&out));
    assert!(local_images(&remote_repo).is_empty(), "nothing pulled: {:?}", local_images(&remote_repo));
    assert_eq!(std::fs::read_to_string(root.join("images.lock")).unwrap(), lock_before, "lock unchanged");

    // 3. The leaf changes: only its parent is pulled (by the digest the lock recorded), only
    // the leaf is built and pushed, and only its digest moves.
    write(root, "stacks/leaf.toml", &leaf(2));
    let out = catalogue.ferrostack(&["build", "--json", "--progress", "plain"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let built: Vec<String> = statuses(&out).into_iter().filter(|(_, s)| s == "built").map(|(n, _)| n).collect();
    assert_eq!(built, ["leaf"], "{}", stderr(&out));
    let pulled = local_images(&remote_repo);
    assert!(pulled.iter().any(|l| l.ends_with(&digests["root"])), "the root was pulled by digest: {pulled:?}");
    assert!(!pulled.iter().any(|l| l.ends_with(&digests["sibling"])), "the sibling was not pulled: {pulled:?}");
    let log = std::fs::read_to_string(root.join("target/ferrostack/logs/leaf.log")).unwrap();
    assert!(log.contains(&format!("pulling parent `root` ({})", digests["root"])), "{log}");
    for stack in ["root", "sibling"] {
        assert_eq!(catalogue.locked(stack).1, digests[stack], "{stack}'s digest did not move");
    }
    let (leaf_hash, leaf_digest) = catalogue.locked("leaf");
    assert_ne!(leaf_digest, digests["leaf"], "the leaf's digest moved");
    let tag = format!("leaf-{}", &leaf_hash["sha256:".len().."sha256:".len() + 16]);
    assert_eq!(registry.manifest_digest(&catalogue.repo, &tag), Some(leaf_digest));
    let out = catalogue.ferrostack(&["run", "leaf", "--", "sh", "-c", "cat /leaf.txt"]);
    assert_eq!((out.status.code(), stdout(&out).trim()), (Some(0), "leaf-2"), "{}", stderr(&out));

    // 4. A registry written with a scheme is a settings error, before anything runs.
    let out = catalogue.ferrostack(&["--registry", "https://registry.example", "plan", "--offline"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("has a scheme"), "{}", stderr(&out));
}
