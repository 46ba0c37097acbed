//! One build over two real engines: the machine's own and a second dockerd the test starts
//! beside it (`common::second_engine`), with Debian's `docker-registry` on loopback as the
//! shared state. Stacks spread over both, each is built once, a child on the other engine
//! pulls its parent by digest; killing the second engine mid-build moves its stack to the first
//! and the run still ends with a correct lock.
//!
//! The stacks sit on a busybox seed image pushed to the test registry, so either engine can
//! pull it, and their steps need no network (the second engine's bridge has no route out).

mod common;

use common::local_registry::LocalRegistry;
use common::second_engine::SecondEngine;
use common::{docker, remove_repository, stderr, stdout, TestImages};

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// A project over two engines with one slot each, and a registry.
struct TwoEngines {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    repo: String,
    registry: LocalRegistry,
    second: SecondEngine,
}

impl Drop for TwoEngines {
    fn drop(&mut self) {
        remove_repository(&format!("{}/{}", self.registry.address(), self.repo));
        remove_repository(&format!("{}/{}/seed", self.registry.address(), self.repo));
    }
}

impl TwoEngines {
    /// `root` on the seed, and `children` below it, each running `sleep <seconds>`.
    fn new(images: &TestImages, children: &[(&str, u32)]) -> TwoEngines {
        let tmp = tempfile::tempdir().unwrap();
        let registry = LocalRegistry::start();
        let second = SecondEngine::start();
        let t = TwoEngines {
            root: tmp.path().join("catalogue"),
            repo: images.repo.clone(),
            registry,
            second,
            _tmp: tmp,
        };
        let seed = format!("{}/{}/seed:1", t.registry.address(), t.repo);
        common::import_busybox_seed(None, &seed);
        assert!(
            docker(&["push", "-q", &seed]).status.success(),
            "push of the seed"
        );
        write(&t.root, "ferrostack.toml", &format!("[[engine]]\naddress = \"unix:///var/run/docker.sock\"\nslots = 1\n\n[[engine]]\naddress = \"{}\"\nslots = 1\n", t.second.address()));
        write(&t.root, "stacks/root.toml", &format!("name = \"root\"\nimage = \"{seed}\"\nsuite = \"bookworm\"\n[[step]]\nrun = \"echo root > /root.txt\"\n"));
        for (name, seconds) in children {
            write(
                &t.root,
                &format!("stacks/{name}.toml"),
                &format!("name = \"{name}\"\nfrom = \"root\"\n[[step]]\nrun = \"sleep {seconds} && echo {name} > /{name}.txt\"\n[[check]]\nrun = \"grep -q {name} /{name}.txt && grep -q root /root.txt\"\n"),
            );
        }
        t
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_ferrostack"));
        c.env("FERROSTACK_REPOSITORY", &self.repo)
            .env("FERROSTACK_REGISTRY", self.registry.address())
            .env("FERROSTACK_PACKAGE_CACHE", "0")
            .env("DOCKER_HOST", "unix:///var/run/docker.sock")
            .env_remove("FERROSTACK_ENGINES")
            .env_remove("FERROSTACK_CA_BUNDLE")
            .arg("-C")
            .arg(&self.root)
            .args(args);
        c
    }

    fn ferrostack(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    fn lock(&self) -> toml::Value {
        toml::from_str(&std::fs::read_to_string(self.root.join("images.lock")).unwrap()).unwrap()
    }

    /// Every stack's lock digest is what the registry serves under its immutable tag.
    fn assert_lock_matches_registry(&self, stacks: &[&str]) {
        let lock = self.lock();
        for stack in stacks {
            let entry = &lock["stacks"][*stack];
            let hash = entry["hash"].as_str().unwrap();
            let tag = format!("{stack}-{}", &hash["sha256:".len().."sha256:".len() + 16]);
            let digest = entry
                .get("digest")
                .and_then(|d| d.as_str())
                .unwrap_or_else(|| panic!("no digest for {stack}: {lock}"));
            assert_eq!(
                self.registry.manifest_digest(&self.repo, &tag).as_deref(),
                Some(digest),
                "{stack}: the lock's digest is the registry's"
            );
        }
    }
}

/// The `--json` report on stdout.
fn ferrostack_json_report(out: &Output) -> serde_json::Value {
    serde_json::from_str(&stdout(out))
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", stdout(out), stderr(out)))
}

/// The JSON progress events on stderr.
fn events(err: &str) -> Vec<serde_json::Value> {
    err.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// `(stack, engine number)` of every `placed` event.
fn placements(events: &[serde_json::Value]) -> Vec<(String, String)> {
    events
        .iter()
        .filter(|e| e["event"] == "placed")
        .map(|e| {
            (
                e["stack"].as_str().unwrap().to_string(),
                e["engine"]
                    .as_str()
                    .unwrap()
                    .split(' ')
                    .take(2)
                    .collect::<Vec<_>>()
                    .join(" "),
            )
        })
        .collect()
}

#[test]
fn a_build_spreads_over_two_engines_and_each_stack_is_built_once() {
    let _serial = common::one_at_a_time();
    let images = TestImages::new("fleet", &["root", "a", "b", "c"]);
    // `a` is the longest, so engine 2 usually frees first and takes both `b` and `c`: the
    // parent pulled there once serves both.
    let t = TwoEngines::new(&images, &[("a", 10), ("b", 3), ("c", 3)]);
    let out = t.ferrostack(&["build", "--json", "--progress", "json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        stderr(&out),
        t.second.log()
    );
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let mut built: Vec<(String, String)> = report["stacks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_string(),
                s["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    built.sort();
    assert_eq!(
        built,
        [
            ("a".into(), "built".into()),
            ("b".into(), "built".into()),
            ("c".into(), "built".into()),
            ("root".into(), "built".into())
        ]
    );

    // Each stack placed exactly once, and both engines used.
    let placed = placements(&events(&stderr(&out)));
    let mut names: Vec<&str> = placed.iter().map(|(s, _)| s.as_str()).collect();
    names.sort();
    assert_eq!(names, ["a", "b", "c", "root"], "{placed:?}");
    for engine in ["engine 1", "engine 2"] {
        assert!(
            placed.iter().any(|(_, e)| e == engine),
            "{engine} built nothing: {placed:?}"
        );
    }
    // The report names the engine of each stack, as placed.
    for s in report["stacks"].as_array().unwrap() {
        let engine = s["engine"]
            .as_str()
            .unwrap_or_else(|| panic!("no engine in {s}"));
        assert!(
            placed.contains(&(
                s["name"].as_str().unwrap().to_string(),
                engine.split(' ').take(2).collect::<Vec<_>>().join(" ")
            )),
            "{s} vs {placed:?}"
        );
    }

    // A child on the other engine than its parent pulled the parent by the digest it was pushed with.
    t.assert_lock_matches_registry(&["root", "a", "b", "c"]);
    let root_engine = placed.iter().find(|(s, _)| s == "root").unwrap().1.clone();
    let root_digest = t.lock()["stacks"]["root"]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let away: Vec<&String> = placed
        .iter()
        .filter(|(s, e)| s != "root" && *e != root_engine)
        .map(|(s, _)| s)
        .collect();
    assert!(
        !away.is_empty(),
        "some child ran away from its parent's engine: {placed:?}"
    );
    // The other engine pulls the parent once: the first child there pulls it, a later sibling
    // on the same engine finds it there; no child on the parent's own engine pulls.
    let pull = format!("pulling parent `root` ({root_digest})");
    let pulled_by: Vec<&str> = ["a", "b", "c"]
        .into_iter()
        .filter(|stack| {
            std::fs::read_to_string(t.root.join(format!("target/ferrostack/logs/{stack}.log")))
                .unwrap()
                .contains(&pull)
        })
        .collect();
    assert_eq!(
        pulled_by.len(),
        1,
        "pulled by {pulled_by:?}, placed {placed:?}"
    );
    assert!(
        away.iter().any(|s| s.as_str() == pulled_by[0]),
        "{pulled_by:?} is not away from root: {placed:?}"
    );
    // The second engine holds the images it built, under their immutable tags.
    let held = stdout(
        &t.second
            .docker(&["images", "--format", "{{.Repository}}:{{.Tag}}"]),
    );
    assert!(held.contains(&format!("/{}:", t.repo)), "{held}");

    // Up to date everywhere now: nothing is placed, nothing is built.
    let out = t.ferrostack(&["build", "--json", "--progress", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        placements(&events(&stderr(&out))).is_empty(),
        "{}",
        stderr(&out)
    );

    // Several engines without a registry: a settings error before anything runs.
    let out = t
        .command(&["build"])
        .env("FERROSTACK_REGISTRY", "")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("needs a registry"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_killed_engine_s_stack_is_built_again_on_the_other_and_the_lock_is_correct() {
    let _serial = common::one_at_a_time();
    let images = TestImages::new("fleetkill", &["root", "left", "right"]);
    let mut t = TwoEngines::new(&images, &[("left", 10), ("right", 10)]);
    // root goes to engine 1 (the first of two equal engines), one child follows it there (its
    // home), the other goes to engine 2 and pulls root; engine 2 is killed while that one's
    // RUN sleeps.
    let mut child = t
        .command(&["build", "--json", "--progress", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let err = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in std::io::BufReader::new(err).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut seen = Vec::new();
    let mut on_second: Option<String> = None;
    let started = Instant::now();
    let mut killed = false;
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(120)) {
        seen.push(line.clone());
        let Ok(e) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if e["event"] == "placed" && e["engine"].as_str().unwrap().starts_with("engine 2 ") {
            on_second = Some(e["stack"].as_str().unwrap().to_string());
        }
        let running_there = on_second.as_deref().is_some_and(|s| {
            e["stack"] == s
                && e["event"] == "step"
                && e["instruction"].as_str().unwrap_or("").contains("sleep")
        });
        if running_there && !killed {
            std::thread::sleep(Duration::from_secs(2));
            t.second.kill();
            killed = true;
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "the build did not end: {seen:#?}"
        );
    }
    let out = child.wait_with_output().unwrap();
    reader.join().unwrap();
    let err = seen.join("\n");
    assert!(killed, "nothing ran on engine 2: {err}");
    let moved = on_second.unwrap();
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("engine 2") && err.contains("stopped answering"),
        "{err}"
    );
    let placed = placements(&events(&err));
    assert_eq!(
        placed
            .iter()
            .filter(|(s, _)| *s == moved)
            .map(|(_, e)| e.as_str())
            .collect::<Vec<_>>(),
        ["engine 2", "engine 1"],
        "{placed:?}"
    );
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    for s in report["stacks"].as_array().unwrap() {
        assert_eq!(s["status"], "built", "{s}");
        assert!(
            s["engine"].as_str().unwrap().starts_with("engine 1 "),
            "everything ended on engine 1: {s}"
        );
    }
    t.assert_lock_matches_registry(&["root", "left", "right"]);
    // The first engine holds the moved stack, and it is what the lock's hash says.
    let hash = t.lock()["stacks"][moved.as_str()]["hash"]
        .as_str()
        .unwrap()
        .to_string();
    let label = stdout(&docker(&[
        "image",
        "inspect",
        "--format",
        "{{index .Config.Labels \"io.ferrostack.hash\"}}",
        &format!("{}:{moved}", t.repo),
    ]));
    assert_eq!(label.trim(), hash);
}

/// A registry on a bridge address (not loopback), which the second engine lists in its
/// `insecure-registries`: ferrostack's own calls (moving the human tags) speak HTTPS to it
/// unless it is listed as insecure, and then plain HTTP.
#[test]
fn a_registry_listed_as_insecure_is_spoken_to_over_plain_http() {
    let _serial = common::one_at_a_time();
    use common::local_registry::free_port;
    let images = TestImages::new("insecure", &["root"]);
    let mut listen = None;
    let second = SecondEngine::start_with(|ip| {
        let port = free_port(ip);
        listen = Some((ip.to_string(), port));
        vec!["--insecure-registry".to_string(), format!("{ip}:{port}")]
    });
    let (ip, port) = listen.unwrap();
    let registry = LocalRegistry::start_on(&ip, port);
    let seed = format!("{}-seed:1", images.repo);
    common::import_busybox_seed(Some(&second.address()), &seed);
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("catalogue");
    write(&root, "stacks/root.toml", &format!("name = \"root\"\nimage = \"{seed}\"\nsuite = \"bookworm\"\n[[step]]\nrun = \"echo root > /root.txt\"\n"));
    let ferrostack = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_ferrostack"))
            .env("FERROSTACK_REPOSITORY", &images.repo)
            .env("FERROSTACK_PACKAGE_CACHE", "0")
            .env_remove("FERROSTACK_ENGINES")
            .env_remove("FERROSTACK_REGISTRY_INSECURE")
            .arg("-C")
            .arg(&root)
            .args([
                "--engine",
                &second.address(),
                "--registry",
                &format!("{}/t", registry.address()),
            ])
            .args(extra)
            .args(["build", "--json", "--progress", "plain"])
            .output()
            .unwrap()
    };
    // Not listed: the engine pushes (it lists the registry), but the tag move over HTTPS fails,
    // named with the registry.
    let out = ferrostack(&[]);
    assert_ne!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&registry.address()),
        "{}",
        stderr(&out)
    );
    let out = ferrostack_json_report(&out);
    let why = out["promotion_error"].as_str().unwrap();
    assert!(
        why.contains("https://") && why.contains("registry_insecure = true"),
        "{out}"
    );
    assert_eq!(
        registry.manifest_digest(&format!("t/{}", images.repo), "root"),
        None,
        "no human tag moved"
    );
    // Listed: plain HTTP, the human tag is where the lock's digest is.
    let out = ferrostack(&["--registry-insecure"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lock: toml::Value =
        toml::from_str(&std::fs::read_to_string(root.join("images.lock")).unwrap()).unwrap();
    let digest = lock["stacks"]["root"]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        registry.manifest_digest(&format!("t/{}", images.repo), "root"),
        Some(digest)
    );
}
