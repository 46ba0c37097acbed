//! `ferrostack build` against the real Docker engine: a bootstrapped base, two children, a
//! grandchild, under a test-only repository, removed at the end. One test walks the whole story
//! in order, because bootstrapping a base takes minutes and every step builds on the previous.

mod common;

use common::engine_project::{ferrostack, write, Project, BOOKWORM_BASE};

use common::{docker, stderr, stdout, TestImages};

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ferrostack"))
}

fn project() -> Project {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("catalogue");
    write(&root, "stacks/base.toml", BOOKWORM_BASE);
    write(&root, "stacks/alpha.toml", "name = \"alpha\"\nfrom = \"base\"\ntags = [\"alpha-1\"]\n[[step]]\nrun = \"echo alpha > /alpha.txt\"\n[[check]]\nrun = \"grep -q alpha /alpha.txt\"\n");
    write(&root, "stacks/beta.toml", "name = \"beta\"\nfrom = \"base\"\n[[step]]\napt = [\"jq\"]\n[[check]]\nrun = \"echo '{}' | jq .\"\n");
    write(
        &root,
        "stacks/gamma.toml",
        "name = \"gamma\"\nfrom = \"alpha\"\n[[step]]\nrun = \"echo gamma > /gamma.txt\"\n",
    );
    let images = TestImages::new("", &["base", "alpha", "beta", "gamma"]);
    Project {
        _tmp: tmp,
        root,
        repo: images.repo.clone(),
        _images: images,
    }
}

/// Stacks built from their Dockerfile in this run (not found already in the engine).
fn built_stacks(out: &Output) -> Vec<String> {
    stacks_with(out, false)
}

fn stacks_with(out: &Output, include_found: bool) -> Vec<String> {
    let report: serde_json::Value = serde_json::from_str(&stdout(out))
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", stdout(out), stderr(out)));
    report["stacks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["status"] == "built" && (include_found || s["cached"] == false))
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect()
}

/// Containers made from the test's base image or anything built on it (other work on the same
/// engine does not count).
fn containers(p: &Project) -> usize {
    let out = docker(&[
        "ps",
        "-a",
        "-q",
        "--filter",
        &format!("ancestor={}:base", p.repo),
    ]);
    assert!(
        out.status.success(),
        "`docker ps` failed, so no container count can be trusted: {}",
        stderr(&out)
    );
    stdout(&out).lines().count()
}

fn lock_text(p: &Project) -> String {
    std::fs::read_to_string(p.root.join("images.lock")).unwrap()
}

#[test]
fn build_story_against_the_real_engine() {
    let p = project();
    let before_containers = 0;

    // 1. A full build: every image exists with its labels and tags.
    let out = ferrostack(&p, &["build", "--json", "--progress", "plain"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // The base's hash does not depend on the test repository: an earlier run may have left it.
    let mut built = stacks_with(&out, true);
    built.sort();
    assert_eq!(built, ["alpha", "base", "beta", "gamma"]);
    let inspect = docker(&[
        "inspect",
        "--format",
        "{{json .Config.Labels}}",
        &format!("{}:alpha-1", p.repo),
    ]);
    assert!(
        inspect.status.success(),
        "tag alpha-1 exists: {}",
        stderr(&inspect)
    );
    let labels: serde_json::Value = serde_json::from_str(&stdout(&inspect)).unwrap();
    assert_eq!(labels["io.ferrostack.stack"], "alpha");
    assert_eq!(labels["org.opencontainers.image.title"], "alpha");
    assert!(labels["io.ferrostack.hash"]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));
    let lock: toml::Value = toml::from_str(&lock_text(&p)).unwrap();
    assert_eq!(
        lock["stacks"]["alpha"]["hash"],
        labels["io.ferrostack.hash"]
            .clone()
            .as_str()
            .map(|s| toml::Value::String(s.into()))
            .unwrap()
    );
    assert!(
        lock["stacks"]["beta"]["packages"]["jq"]
            .as_str()
            .unwrap()
            .starts_with("1.6"),
        "resolved package versions recorded"
    );
    assert!(lock["stacks"]["beta"]["size"].as_integer().unwrap() > 50_000_000);
    // Build times for `plan --simulate` (the base may have been found in the engine: not it).
    for stack in ["alpha", "beta", "gamma"] {
        assert!(
            lock["stacks"][stack]["build_seconds"]
                .as_float()
                .is_some_and(|s| s > 0.0),
            "{stack}'s build time recorded: {}",
            lock["stacks"][stack]
        );
    }
    for stack in ["base", "alpha", "beta", "gamma"] {
        assert!(
            docker(&["image", "inspect", &format!("{}:{stack}", p.repo)])
                .status
                .success(),
            "{stack} tagged"
        );
    }
    // The closure: the base records every installed package, beta what it added (jq and its
    // libraries), alpha (no apt) nothing; each as `dpkg-query` in the images tells it.
    let installed = |stack: &str| -> std::collections::BTreeMap<String, String> {
        let out = docker(&[
            "run",
            "--rm",
            &format!("{}:{stack}", p.repo),
            "dpkg-query",
            "-W",
            "-f=${db:Status-Abbrev} ${Package}:${Architecture} ${Version}\n",
        ]);
        stdout(&out)
            .lines()
            .filter(|l| l.starts_with("ii"))
            .filter_map(|l| {
                l[3..]
                    .trim()
                    .split_once(' ')
                    .map(|(k, v)| (k.to_string(), v.to_string()))
            })
            .collect()
    };
    let closure = |stack: &str| -> std::collections::BTreeMap<String, String> {
        lock["stacks"][stack]
            .get("closure")
            .and_then(|c| c.as_table())
            .map(|t| {
                t.iter()
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            v.as_str().unwrap().split(' ').next().unwrap().to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let (base_pkgs, beta_pkgs) = (installed("base"), installed("beta"));
    assert!(base_pkgs.len() > 50, "{base_pkgs:?}");
    assert_eq!(
        closure("base"),
        base_pkgs,
        "the root's closure is everything it holds"
    );
    let added: std::collections::BTreeMap<String, String> = beta_pkgs
        .iter()
        .filter(|(k, v)| base_pkgs.get(*k) != Some(v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    assert!(
        added.contains_key("jq:amd64")
            && added.contains_key("libjq1:amd64")
            && added.contains_key("libonig5:amd64"),
        "{added:?}"
    );
    assert_eq!(
        closure("beta"),
        added,
        "beta's closure is what it added to base"
    );
    assert!(
        closure("alpha").is_empty(),
        "alpha installs nothing: {}",
        lock["stacks"]["alpha"]
    );
    assert!(
        lock["stacks"]["beta"]["closure"]["libjq1:amd64"]
            .as_str()
            .unwrap()
            .contains(" src=jq"),
        "the source package is named: {}",
        lock["stacks"]["beta"]
    );
    // The SBOM written after the build lists exactly the Debian packages `dpkg-query` finds.
    let sbom: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(p.root.join("target/ferrostack/sbom/beta.spdx.json")).unwrap(),
    )
    .unwrap();
    let listed: std::collections::BTreeMap<String, String> = sbom["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|pkg| {
            let purl = pkg["externalRefs"][0]["referenceLocator"].as_str()?;
            let arch = purl
                .strip_prefix("pkg:deb/")?
                .split("arch=")
                .nth(1)?
                .split('&')
                .next()?;
            Some((
                format!("{}:{arch}", pkg["name"].as_str()?),
                pkg["versionInfo"].as_str()?.to_string(),
            ))
        })
        .collect();
    assert_eq!(
        listed, beta_pkgs,
        "the SBOM's Debian packages are the image's"
    );
    // Licences: jq's, from its machine-readable copyright file in the image, by source package
    // in the lock and declared in the SBOM; the base's and beta's documents (with every
    // `LicenseRef-` they use declared) pass the independent SPDX validator.
    let copyright = docker(&[
        "run",
        "--rm",
        &format!("{}:beta", p.repo),
        "grep",
        "-i",
        "^license:",
        "/usr/share/doc/jq/copyright",
    ]);
    let named: Vec<String> = stdout(&copyright)
        .lines()
        .map(|l| l.split_once(':').unwrap().1.trim().to_string())
        .collect();
    let jq_license = lock["stacks"]["beta"]["licenses"]["jq"]
        .as_str()
        .unwrap_or_else(|| panic!("jq's licence recorded: {}", lock["stacks"]["beta"]))
        .to_string();
    assert!(
        named.iter().any(|n| n == "MIT") && jq_license.split(" AND ").any(|t| t == "MIT"),
        "{named:?} → {jq_license}"
    );
    assert!(
        !named.iter().any(|n| n == "GPL-2.0+") || jq_license.contains("GPL-2.0-or-later"),
        "{named:?} → {jq_license}"
    );
    let jq = sbom["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|pkg| pkg["name"] == "jq")
        .unwrap();
    assert_eq!(jq["licenseDeclared"].as_str(), Some(jq_license.as_str()));
    assert!(
        lock["stacks"]["base"]["licenses"]
            .as_table()
            .is_some_and(|t| t.len() > 30),
        "the base's licences: {}",
        lock["stacks"]["base"]
    );
    let validated =
        Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/validate-sbom"))
            .arg(p.root.join("target/ferrostack/sbom/base.spdx.json"))
            .arg(p.root.join("target/ferrostack/sbom/beta.spdx.json"))
            .output()
            .unwrap();
    assert!(
        validated.status.success(),
        "{}{}",
        stdout(&validated),
        stderr(&validated)
    );

    // 1b. apt's downloads went through the package cache, and the image carries no trace of it.
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert!(
        report["package_cache"]["fetched"].as_u64().unwrap() >= 3,
        "jq, libjq1 and libonig5 fetched: {}",
        report["package_cache"]
    );
    let beta = format!("{}:beta", p.repo);
    let env = stdout(&docker(&[
        "image",
        "inspect",
        "-f",
        "{{json .Config.Env}}",
        &beta,
    ]));
    assert!(!env.to_lowercase().contains("proxy"), "{env}");
    let history = stdout(&docker(&[
        "history",
        "--no-trunc",
        "--format",
        "{{.CreatedBy}}",
        &beta,
    ]));
    assert!(!history.contains("http_proxy"), "{history}");
    // Another apt layer asks for the same packages: served from the cache, not the mirror.
    let beta_toml = "name = \"beta\"\nfrom = \"base\"\n[[step]]\napt = [\"jq\"]\n[[check]]\nrun = \"echo '{}' | jq .\"\n";
    write(
        &p.root,
        "stacks/beta.toml",
        &beta_toml.replace("[\"jq\"]", "[\"jq\", \"libjq1\"]"),
    );
    let out = ferrostack(&p, &["build", "--json", "--progress", "plain"]);
    assert_eq!(built_stacks(&out), ["beta"], "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert!(
        report["package_cache"]["hits"].as_u64().unwrap() >= 3,
        "the three packages came from the cache: {}",
        report["package_cache"]
    );
    // The report says what the rebuilt stack changed in the lock: a new hash, the same packages.
    let changes = &report["changes"]["stacks"];
    assert_eq!(
        changes.as_array().map(Vec::len),
        Some(1),
        "{}",
        report["changes"]
    );
    assert_eq!(changes[0]["name"], "beta");
    assert!(
        changes[0]["hash"].is_array() && changes[0].get("packages").is_none(),
        "{}",
        changes[0]
    );
    // Without it: the same build, apt straight to the mirror, and no cache in the report.
    write(
        &p.root,
        "stacks/beta.toml",
        &beta_toml.replace("[\"jq\"]", "[\"libjq1\", \"jq\"]"),
    );
    let out = ferrostack(
        &p,
        &[
            "build",
            "--json",
            "--progress",
            "plain",
            "--no-package-cache",
        ],
    );
    assert_eq!(built_stacks(&out), ["beta"], "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert!(
        report["package_cache"].is_null(),
        "{}",
        report["package_cache"]
    );
    write(&p.root, "stacks/beta.toml", beta_toml);

    // 2. A second build builds nothing, and is fast.
    let t = Instant::now();
    let out = ferrostack(&p, &["build", "--json", "--progress", "plain"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(built_stacks(&out).is_empty(), "{}", stdout(&out));
    assert!(t.elapsed() < Duration::from_secs(30));

    // 2b. An image built on top of a stack without its own LABEL step inherits the stack's hash
    // label; the stack's image is still the oldest one with that hash (regression: a newer
    // child was once taken for the base, and the base's tags moved onto it).
    let image_id = |reference: &str| {
        stdout(&docker(&["image", "inspect", "-f", "{{.Id}}", reference]))
            .trim()
            .to_string()
    };
    let base_id = image_id(&format!("{}:base", p.repo));
    let child_dir = p.root.join("child");
    write(
        &child_dir,
        "Dockerfile",
        &format!("FROM {}:base\nRUN echo child > /child.txt\n", p.repo),
    );
    let child = Command::new("docker")
        .env("DOCKER_BUILDKIT", "0")
        .args(["build", "-q", "-t", &format!("{}:labelled-child", p.repo)])
        .arg(&child_dir)
        .output()
        .unwrap();
    assert!(child.status.success(), "{}", stderr(&child));
    let inherited = stdout(&docker(&[
        "image",
        "inspect",
        "-f",
        "{{index .Config.Labels \"io.ferrostack.hash\"}}",
        &format!("{}:labelled-child", p.repo),
    ]));
    assert!(
        inherited.trim().starts_with("sha256:"),
        "the child carries the base's hash label: {inherited}"
    );
    let out = ferrostack(&p, &["build", "--json", "--progress", "plain"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        image_id(&format!("{}:base", p.repo)),
        base_id,
        "the base's tag stayed on the base"
    );

    // 2c. A transient engine error during a build (the engine answers the build request with
    // a 503) is retried by the engine's retry policy, and the build succeeds.
    let faulty = common::faulty_engine::FaultyEngine::start();
    write(
        &p.root,
        "stacks/gamma.toml",
        "name = \"gamma\"\nfrom = \"alpha\"\n[[step]]\nrun = \"echo gamma-retried > /gamma.txt\"\n",
    );
    let out = Command::new(bin())
        .env("FERROSTACK_REPOSITORY", &p.repo)
        .env("DOCKER_HOST", faulty.docker_host())
        .arg("-C")
        .arg(&p.root)
        .args(["build", "--json", "--progress", "plain"])
        .output()
        .unwrap();
    let gamma_log = || {
        std::fs::read_to_string(p.root.join("target/ferrostack/logs/gamma.log")).unwrap_or_default()
    };
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\ngamma's log:\n{}",
        stderr(&out),
        gamma_log()
    );
    assert_eq!(faulty.faults(), 1, "the fault was injected");
    assert_eq!(built_stacks(&out), ["gamma"], "{}", stderr(&out));
    let gamma_log = gamma_log();
    assert!(
        gamma_log.contains("transient engine error, retrying")
            && gamma_log.contains("injected fault"),
        "{gamma_log}"
    );

    // 3. Editing the grandchild rebuilds only it; editing a child rebuilds it and its child.
    write(
        &p.root,
        "stacks/gamma.toml",
        "name = \"gamma\"\nfrom = \"alpha\"\n[[step]]\nrun = \"echo gamma2 > /gamma.txt\"\n",
    );
    let out = ferrostack(&p, &["build", "--json", "--progress", "plain"]);
    assert_eq!(built_stacks(&out), ["gamma"], "{}", stderr(&out));
    write(&p.root, "stacks/alpha.toml", "name = \"alpha\"\nfrom = \"base\"\ntags = [\"alpha-1\"]\n[[step]]\nrun = \"echo alpha2 > /alpha.txt\"\n[[check]]\nrun = \"grep -q alpha /alpha.txt\"\n");
    let out = ferrostack(&p, &["build", "--json", "--progress", "plain"]);
    let mut built = built_stacks(&out);
    built.sort();
    assert_eq!(built, ["alpha", "gamma"], "{}", stderr(&out));

    // 4. A failing check leaves no tag and no lock change.
    let lock_before = lock_text(&p);
    write(&p.root, "stacks/beta.toml", "name = \"beta\"\nfrom = \"base\"\ntags = [\"beta-new\"]\n[[step]]\napt = [\"jq\"]\n[[check]]\nrun = \"exit 3\"\n");
    let out = ferrostack(&p, &["build", "--progress", "plain"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("check `exit 3` exited with 3"),
        "{}",
        stderr(&out)
    );
    assert!(
        !docker(&["image", "inspect", &format!("{}:beta-new", p.repo)])
            .status
            .success(),
        "no tag after a failed check"
    );
    assert_eq!(lock_text(&p), lock_before, "lock unchanged");

    // 5. A failing RUN leaves no container behind. With one job slot and the failing stack
    // started first (beta: the heaviest branch by the sizes in the lock), `--keep-going` still
    // builds its sibling alpha and alpha's child; without the flag they are skipped.
    write(&p.root, "stacks/beta.toml", "name = \"beta\"\nfrom = \"base\"\n[[step]]\napt = [\"jq\"]\n[[step]]\nrun = \"echo broken && exit 7\"\n");
    write(&p.root, "stacks/alpha.toml", "name = \"alpha\"\nfrom = \"base\"\ntags = [\"alpha-1\"]\n[[step]]\nrun = \"echo alpha5 > /alpha.txt\"\n");
    let outcome = |out: &Output, stack: &str| -> (String, String) {
        let report: serde_json::Value =
            serde_json::from_str(&stdout(out)).unwrap_or_else(|e| panic!("{e}: {}", stderr(out)));
        let s = report["stacks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == stack)
            .unwrap_or_else(|| panic!("{stack} in {report}"))
            .clone();
        (
            s["status"].as_str().unwrap_or("").to_string(),
            s["reason"].as_str().unwrap_or("").to_string(),
        )
    };
    let out = ferrostack(
        &p,
        &["build", "--jobs", "1", "--progress", "plain", "--json"],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("beta failed"), "{err}");
    assert!(
        err.contains("echo broken"),
        "the failed step's log tail is shown: {err}"
    );
    assert_eq!(
        outcome(&out, "alpha"),
        (
            "skipped".into(),
            "stopped after a failure (use --keep-going to build other branches)".into()
        ),
        "{err}"
    );
    assert_eq!(outcome(&out, "gamma").0, "skipped", "{err}");
    let out = ferrostack(
        &p,
        &[
            "build",
            "--jobs",
            "1",
            "--keep-going",
            "--progress",
            "plain",
            "--json",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("beta failed"), "{err}");
    assert_eq!(
        outcome(&out, "alpha").0,
        "built",
        "the sibling built after the failure: {err}"
    );
    assert_eq!(outcome(&out, "gamma").0, "built", "{err}");
    assert!(p.root.join("target/ferrostack/logs/beta.log").is_file());
    assert_eq!(
        containers(&p),
        before_containers,
        "no container left behind"
    );
    // A failed parent skips its descendants.
    write(
        &p.root,
        "stacks/beta.toml",
        "name = \"beta\"\nfrom = \"base\"\n[[step]]\napt = [\"jq\"]\n",
    );
    write(&p.root, "stacks/alpha.toml", "name = \"alpha\"\nfrom = \"base\"\ntags = [\"alpha-1\"]\n[[step]]\nrun = \"echo broken && exit 7\"\n");
    let out = ferrostack(
        &p,
        &["build", "--keep-going", "--progress", "plain", "--json"],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("alpha failed"), "{err}");
    assert!(
        err.contains("gamma: skipped (parent `alpha` did not build)"),
        "{err}"
    );
    assert_eq!(
        containers(&p),
        before_containers,
        "no container left behind"
    );

    // 6a. SIGTERM and SIGINT half-way: scheduling stops, the running build is cancelled and its
    // container removed, the lock stays parseable and keeps the stack that completed before the
    // signal, and the exit is non-zero.
    let planned_hash = |stack: &str| -> String {
        let out = ferrostack(&p, &["plan", "--json"]);
        let plan: serde_json::Value =
            serde_json::from_str(&stdout(&out)).unwrap_or_else(|e| panic!("{e}: {}", stderr(&out)));
        plan["stacks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == stack)
            .unwrap()["hash"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let locked_hash = |stack: &str| -> String {
        let lock: toml::Value =
            toml::from_str(&lock_text(&p)).expect("lock parseable after a signal");
        lock["stacks"][stack]["hash"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    for (signal, round) in [("TERM", 1), ("INT", 2)] {
        write(&p.root, "stacks/alpha.toml", &format!("name = \"alpha\"\nfrom = \"base\"\ntags = [\"alpha-1\"]\n[[step]]\nrun = \"sleep 30 && echo alpha-{signal} > /alpha.txt\"\n"));
        write(&p.root, "stacks/beta.toml", &format!("name = \"beta\"\nfrom = \"base\"\n[[step]]\napt = [\"jq\"]\n[[step]]\nrun = \"echo {round} > /beta.txt\"\n"));
        let (alpha_new, beta_new) = (planned_hash("alpha"), planned_hash("beta"));
        let mut child = Command::new(bin())
            .env("FERROSTACK_REPOSITORY", &p.repo)
            .arg("-C")
            .arg(&p.root)
            .args(["build", "--jobs", "2", "--progress", "plain"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The signal comes once beta is done and while alpha sleeps (its RUN takes 30 s).
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let err = child.stderr.take().unwrap();
        let reader = std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(err).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut seen = Vec::new();
        while let Ok(line) = rx.recv_timeout(Duration::from_secs(120)) {
            let done = line.contains("beta: done");
            seen.push(line);
            if done {
                break;
            }
        }
        assert!(
            seen.iter().any(|l| l.contains("beta: done")),
            "beta completed before SIG{signal}: {seen:#?}"
        );
        assert!(Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status()
            .unwrap()
            .success());
        let status = child.wait().unwrap();
        reader.join().unwrap();
        seen.extend(rx.try_iter());
        let err = seen.join("\n");
        assert_eq!(status.code(), Some(1), "SIG{signal}: {err}");
        assert!(err.contains("interrupted"), "SIG{signal}: {err}");
        assert_eq!(
            locked_hash("beta"),
            beta_new,
            "SIG{signal}: the stack completed before the signal keeps its lock entry"
        );
        assert_ne!(
            locked_hash("alpha"),
            alpha_new,
            "SIG{signal}: the cancelled stack is not recorded"
        );
        std::thread::sleep(Duration::from_secs(2));
        assert_eq!(
            containers(&p),
            before_containers,
            "the cancelled build left no container (SIG{signal})"
        );
    }

    // 6b. A build killed half-way leaves images.lock parseable; a rerun completes.
    write(&p.root, "stacks/alpha.toml", "name = \"alpha\"\nfrom = \"base\"\ntags = [\"alpha-1\"]\n[[step]]\nrun = \"sleep 20 && echo alpha3 > /alpha.txt\"\n");
    let mut child = Command::new(bin())
        .env("FERROSTACK_REPOSITORY", &p.repo)
        .arg("-C")
        .arg(&p.root)
        .args(["build", "--progress", "json"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(8));
    child.kill().unwrap();
    child.wait().unwrap();
    let _: toml::Value = toml::from_str(&lock_text(&p)).expect("lock parseable after a kill");
    let out = ferrostack(&p, &["build", "--progress", "plain"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = ferrostack(&p, &["plan", "--locked"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "rerun completed: {}",
        stderr(&out)
    );

    // 7. Two builds at once don't corrupt the lock: the second waits for the first.
    write(&p.root, "stacks/gamma.toml", "name = \"gamma\"\nfrom = \"alpha\"\n[[step]]\nrun = \"sleep 3 && echo gamma3 > /gamma.txt\"\n");
    let spawn = || {
        Command::new(bin())
            .env("FERROSTACK_REPOSITORY", &p.repo)
            .arg("-C")
            .arg(&p.root)
            .args(["build", "--progress", "plain"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert_eq!(a.status.code(), Some(0), "{}", stderr(&a));
    assert_eq!(b.status.code(), Some(0), "{}", stderr(&b));
    let waited = stderr(&a).contains("waiting for another ferrostack run")
        || stderr(&b).contains("waiting for another ferrostack run");
    assert!(waited, "one run waited for the other");
    let _: toml::Value = toml::from_str(&lock_text(&p)).unwrap();
    assert_eq!(ferrostack(&p, &["plan", "--locked"]).status.code(), Some(0));
    assert_eq!(
        containers(&p),
        before_containers,
        "no container left behind"
    );

    // 8. Promotion all-or-nothing: one failing stack moves no tag and leaves the lock alone;
    // the report says what happened.
    let alpha_before = stdout(&docker(&[
        "image",
        "inspect",
        "-f",
        "{{.Id}}",
        &format!("{}:alpha-1", p.repo),
    ]));
    let lock_before = lock_text(&p);
    write(&p.root, "stacks/alpha.toml", "name = \"alpha\"\nfrom = \"base\"\ntags = [\"alpha-1\"]\n[[step]]\nrun = \"echo alpha4 > /alpha.txt\"\n");
    write(
        &p.root,
        "stacks/beta.toml",
        "name = \"beta\"\nfrom = \"base\"\n[[step]]\napt = [\"jq\"]\n[[check]]\nrun = \"false\"\n",
    );
    let report = p.root.join("nightly.md");
    let out = ferrostack(
        &p,
        &[
            "build",
            "--promote",
            "all-or-nothing",
            "--progress",
            "plain",
            "--report",
            report.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("no tag moved"), "{}", stderr(&out));
    let alpha_after = stdout(&docker(&[
        "image",
        "inspect",
        "-f",
        "{{.Id}}",
        &format!("{}:alpha-1", p.repo),
    ]));
    assert_eq!(
        alpha_before, alpha_after,
        "alpha built fine, but its tag did not move"
    );
    assert_eq!(lock_text(&p), lock_before, "lock unchanged");
    let md = std::fs::read_to_string(&report).unwrap();
    assert!(md.contains("| alpha | built | definition changed"), "{md}");
    assert!(
        md.contains("| beta | **failed**: check `false` exited with 1"),
        "{md}"
    );
    assert!(md.contains("no tag moved, lock unchanged"), "{md}");
    write(
        &p.root,
        "stacks/beta.toml",
        "name = \"beta\"\nfrom = \"base\"\n[[step]]\napt = [\"jq\"]\n",
    );
    let json_report = p.root.join("nightly.json");
    let out = ferrostack(
        &p,
        &[
            "build",
            "--promote",
            "all-or-nothing",
            "--progress",
            "plain",
            "--report",
            json_report.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let alpha_promoted = stdout(&docker(&[
        "image",
        "inspect",
        "-f",
        "{{.Id}}",
        &format!("{}:alpha-1", p.repo),
    ]));
    assert_ne!(
        alpha_before, alpha_promoted,
        "everything passed: the tag moved"
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json_report).unwrap()).unwrap();
    assert_eq!(v["promoted"], true);
    assert_eq!(ferrostack(&p, &["plan", "--locked"]).status.code(), Some(0));

    // 9. A budget: an image over `max_size` fails its checks, with the measured size.
    write(&p.root, "stacks/beta.toml", "name = \"beta\"\nfrom = \"base\"\ntags = [\"beta-budget\"]\nmax_size = \"10MB\"\n[[step]]\napt = [\"jq\"]\n");
    let out = ferrostack(&p, &["build", "--progress", "plain"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("over its max_size of 10.0 MB"),
        "{}",
        stderr(&out)
    );
    assert!(
        !docker(&["image", "inspect", &format!("{}:beta-budget", p.repo)])
            .status
            .success(),
        "no tag over budget"
    );
    write(
        &p.root,
        "stacks/beta.toml",
        "name = \"beta\"\nfrom = \"base\"\n[[step]]\napt = [\"jq\"]\n",
    );

    // 10. `ferrostack run`: success, failure, timeout and out-of-memory exit distinctly, the
    // payload is mounted read-only, and no container is left.
    let payload = p.root.join("payload.json");
    std::fs::write(&payload, "{\"n\": 42}").unwrap();
    let run = |args: &[&str]| {
        let mut all = vec!["run"];
        all.extend_from_slice(args);
        ferrostack(&p, &all)
    };
    let ok = run(&[
        "beta",
        "--payload",
        payload.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        "jq .n \"$PAYLOAD_FILE\" && ! touch \"$PAYLOAD_FILE\" 2>/dev/null",
    ]);
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    assert_eq!(stdout(&ok).trim(), "42");
    let failed = run(&["beta", "--", "sh", "-c", "exit 3"]);
    assert_eq!(failed.status.code(), Some(3));
    let timed_out = run(&["beta", "--timeout", "2s", "--", "sleep", "30"]);
    assert_eq!(timed_out.status.code(), Some(124), "{}", stderr(&timed_out));
    assert!(stderr(&timed_out).contains("killed at its timeout"));
    let oom = run(&[
        "beta",
        "--memory",
        "32m",
        "--",
        "sh",
        "-c",
        "head -c 300m /dev/zero | tail",
    ]);
    assert_eq!(oom.status.code(), Some(137), "{}", stderr(&oom));
    assert!(stderr(&oom).contains("ran out of memory"));
    assert_eq!(
        containers(&p),
        before_containers,
        "no container left behind by `run`"
    );
    // The images are removed when `p` drops.
}

#[test]
fn no_engine_is_a_clear_error() {
    let p = project();
    let out = Command::new(bin())
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .arg("-C")
        .arg(&p.root)
        .args(["build", "--progress", "plain"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("no Docker engine answers at `unix:///nonexistent/docker.sock`"),
        "{err}"
    );
    assert!(err.contains("scripts/setup"), "{err}");
}
