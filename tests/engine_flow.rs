//! The engine layer against the real Docker engine, end to end: debootstrap a minbase bookworm
//! root file system, import it, build on it, and run commands under limits — checking that no
//! container is left behind anywhere.
//!
//! One test function runs the stages in order because they share the bootstrapped base image
//! (debootstrap takes a minute or more) and because the images must be removed at the end.
//! It fails (it does not skip) when no engine answers: start one with `bash scripts/setup`.
//! Two bootstraps run side by side (about two minutes), the rest takes under a minute.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use ferrostack::engine::{
    bootstrap_rootfs, source_date_epoch, BindMount, BuildEvent, BuildRequest, CancellationToken,
    ContextFile, Engine, EngineError, ImportRequest, RootfsSpec, RunRequest, TarStream, HASH_LABEL,
};

/// Images made by this test, removed (newest first) when it ends, also on failure.
struct TestImages {
    references: Vec<String>,
}

impl Drop for TestImages {
    fn drop(&mut self) {
        let references = std::mem::take(&mut self.references);
        // A fresh runtime on a fresh thread: this also runs while the test's own runtime unwinds.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Runtime::new().expect("runtime");
            runtime.block_on(async {
                let Ok(engine) = Engine::connect().await else {
                    return;
                };
                for reference in references.iter().rev() {
                    let _ = engine.remove_image(reference, true).await;
                }
            });
        })
        .join();
    }
}

fn timed<T>(label: &str, started: Instant, value: T) -> T {
    eprintln!(
        "[engine_flow] {label}: {:.1}s",
        started.elapsed().as_secs_f64()
    );
    value
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_import_build_and_run() {
    let engine = Engine::connect()
        .await
        .expect("a Docker engine must answer for the engine tests (run `bash scripts/setup`)");
    let prefix = format!("ferrostack-test-{}", std::process::id());
    let mut images = TestImages {
        references: Vec::new(),
    };
    let never = CancellationToken::new();

    // Bootstrap the base twice, side by side: the two archives must be the same bytes
    // (reproducible base images, no registry).
    let started = Instant::now();
    let mut log_lines = 0;
    let spec = RootfsSpec::minbase("bookworm");
    let (rootfs, twin) = tokio::join!(
        bootstrap_rootfs(&spec, None, &never, |_| log_lines += 1),
        bootstrap_rootfs(&spec, None, &never, |_| {}),
    );
    let rootfs = rootfs.expect("debootstrap of minbase bookworm");
    let twin = twin.expect("second debootstrap of minbase bookworm");
    timed("two debootstraps", started, ());
    assert!(log_lines > 10, "debootstrap reported progress");
    assert!(rootfs.path().join("etc/debian_version").is_file());
    assert!(!rootfs.path().join("var/cache/apt/pkgcache.bin").exists());

    let clamp = source_date_epoch().unwrap();
    let tars = tempfile::tempdir().unwrap();
    let (first_tar, second_tar) = (tars.path().join("1.tar"), tars.path().join("2.tar"));
    let started = Instant::now();
    rootfs.write_tar(&first_tar, clamp).unwrap();
    twin.write_tar(&second_tar, clamp).unwrap();
    drop(twin);
    timed("two rootfs tars", started, ());
    assert!(
        std::fs::read(&first_tar).unwrap() == std::fs::read(&second_tar).unwrap(),
        "two bootstraps of the same packages gave different archives"
    );
    let mut kinds = BTreeMap::new();
    let mut archive = tar::Archive::new(std::fs::File::open(&first_tar).unwrap());
    for entry in archive.entries().unwrap() {
        let entry = entry.unwrap();
        let header = entry.header();
        assert!(header.mtime().unwrap() <= clamp);
        *kinds
            .entry(format!("{:?}", header.entry_type()))
            .or_insert(0) += 1;
        if entry.path().unwrap().as_os_str() == "dev/null" {
            assert_eq!(header.entry_type(), tar::EntryType::Char);
            assert_eq!(header.device_major().unwrap(), Some(1));
        }
    }
    for kind in ["Regular", "Directory", "Symlink", "Char"] {
        assert!(kinds.contains_key(kind), "no {kind} entry in {kinds:?}");
    }
    std::fs::remove_file(&second_tar).unwrap();

    let base_ref = format!("{prefix}/base:bookworm");
    let started = Instant::now();
    let base_id = engine
        .import_image(
            rootfs.tar_stream(source_date_epoch().unwrap()),
            &ImportRequest {
                reference: base_ref.clone(),
                labels: BTreeMap::from([("io.ferrostack.test".to_string(), prefix.clone())]),
                changes: vec!["CMD [\"bash\"]".to_string()],
            },
        )
        .await
        .expect("import of the root file system");
    images.references.push(base_ref.clone());
    timed("import", started, ());
    drop(rootfs);
    let base = engine.inspect_image(&base_ref).await.unwrap();
    assert_eq!(base.id, base_id);
    assert_eq!(base.layers, 1);
    assert_eq!(base.labels.get("io.ferrostack.test"), Some(&prefix));

    // The same archive from a file gives the same layer: base images are reproducible.
    let again_ref = format!("{prefix}/base:again");
    engine
        .import_image(
            TarStream::from_file(&first_tar),
            &ImportRequest {
                reference: again_ref.clone(),
                ..Default::default()
            },
        )
        .await
        .expect("import from a tar file");
    images.references.push(again_ref.clone());
    let again = engine.inspect_image(&again_ref).await.unwrap();
    assert_eq!(again.layer_digests, base.layer_digests);
    drop(tars);

    let containers_before = engine.container_ids(Some(&base_id)).await.unwrap();
    assert!(containers_before.is_empty(), "{containers_before:?}");

    // The imported image runs.
    let outcome = engine
        .run(
            &RunRequest::new(&base_ref, ["cat", "/etc/debian_version"]),
            &never,
        )
        .await
        .unwrap();
    assert!(outcome.success(), "{outcome:?}");
    assert!(outcome.stdout.starts_with("12."), "{outcome:?}");

    // A build with a context file, a symlink, a RUN and labels; then the same build from the
    // cache.
    let context_dir = tempfile::tempdir().unwrap();
    let greeting = context_dir.path().join("greeting.txt");
    std::fs::write(&greeting, "hello from the context\n").unwrap();
    std::os::unix::fs::symlink("greeting.txt", context_dir.path().join("link.txt")).unwrap();
    let hash = format!("{prefix}-hash");
    let built_ref = format!("{prefix}/built:1");
    let request = BuildRequest {
        dockerfile: format!(
            "FROM {base_ref}\nARG WHO\nCOPY files/ /files/\n\
             RUN cat /files/greeting.txt > /copied && echo \"built by $WHO\" >> /copied\n"
        ),
        context: vec![
            ContextFile {
                path: PathBuf::from("files/greeting.txt"),
                source: greeting.clone(),
                mode: Some(0o600),
            },
            // Issue 9: a context symlink reaches the image as a symlink.
            ContextFile::symlink("files/link.txt", context_dir.path().join("link.txt")),
        ],
        build_args: BTreeMap::from([("WHO".to_string(), "the test".to_string())]),
        labels: BTreeMap::from([(HASH_LABEL.to_string(), hash.clone())]),
        tags: vec![built_ref.clone(), format!("{prefix}/built:alias")],
        no_cache: false,
        network: None,
    };
    let started = Instant::now();
    let mut events = Vec::new();
    let built = engine
        .build(&request, &never, |event| events.push(event))
        .await
        .expect("build");
    images.references.extend(request.tags.iter().cloned());
    timed("first build", started, ());
    assert!(built.id.starts_with("sha256:"), "{built:?}");
    // The classic builder adds the requested labels as a last `LABEL` step.
    assert_eq!(built.steps, 5, "{events:?}");
    assert!(events.contains(&BuildEvent::Step {
        index: 1,
        total: 5,
        instruction: format!("FROM {base_ref}"),
    }));

    let found = engine.find_images_by_hash(&hash).await.unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].id, built.id);
    assert!(found[0].tags.contains(&built_ref), "{found:?}");
    assert!(found[0].tags.contains(&format!("{prefix}/built:alias")));
    assert!(found[0].layers > 1);
    assert!(found[0].size > 0);
    assert_eq!(found[0].labels.get(HASH_LABEL), Some(&hash));

    let started = Instant::now();
    let mut cached_lines = 0;
    let again = engine
        .build(&request, &never, |event| {
            if event == BuildEvent::Log(" ---> Using cache".to_string()) {
                cached_lines += 1
            }
        })
        .await
        .expect("second build");
    timed("cached build", started, ());
    assert_eq!(again.id, built.id, "the layer cache gives the same image");
    assert!(cached_lines >= 2, "steps came from the cache");

    // The built image, with a host directory mounted read-only.
    let mut check = RunRequest::shell(
        &built_ref,
        "cat /copied; stat -c %a /files/greeting.txt; readlink /files/link.txt; cat /mnt/ctx/greeting.txt; touch /mnt/ctx/x",
    );
    check.mounts.push(BindMount {
        host: context_dir.path().to_path_buf(),
        container: "/mnt/ctx".to_string(),
        read_only: true,
    });
    check.env.insert("LANG".to_string(), "C".to_string());
    let outcome = engine.run(&check, &never).await.unwrap();
    assert_eq!(
        outcome.stdout,
        "hello from the context\nbuilt by the test\n600\ngreeting.txt\nhello from the context\n"
    );
    assert_ne!(outcome.exit_code, 0, "the mount is read-only");
    assert!(
        outcome.stderr.contains("Read-only file system"),
        "{outcome:?}"
    );

    // Tags, existence, removal.
    let extra_ref = format!("{prefix}/extra:1");
    engine.tag(&built.id, &extra_ref).await.unwrap();
    assert!(engine.image_exists(&extra_ref).await.unwrap());
    engine.remove_image(&extra_ref, false).await.unwrap();
    assert!(!engine.image_exists(&extra_ref).await.unwrap());
    assert!(
        engine.image_exists(&built_ref).await.unwrap(),
        "only the tag went"
    );
    assert!(matches!(
        engine.remove_image(&extra_ref, false).await,
        Err(EngineError::ImageNotFound { .. })
    ));

    // A failing RUN: BuildFailed with the daemon's message, not retryable, no container left.
    let failing = BuildRequest {
        dockerfile: format!("FROM {base_ref}\nRUN echo about to fail && exit 7\n"),
        tags: vec![format!("{prefix}/failing:1")],
        ..Default::default()
    };
    let error = engine.build(&failing, &never, |_| {}).await.unwrap_err();
    match &error {
        EngineError::BuildFailed { message, log_tail } => {
            assert!(message.contains("returned a non-zero code: 7"), "{message}");
            assert!(log_tail.contains("about to fail"), "{log_tail}");
        }
        other => panic!("expected BuildFailed, got {other:?}"),
    }
    assert!(!error.retryable());
    assert_eq!(
        engine.container_ids(Some(&base_id)).await.unwrap(),
        containers_before
    );

    // Runs under limits: timeout, memory, exit codes; none leaves a container.
    let started = Instant::now();
    let mut sleeper = RunRequest::new(&base_ref, ["sleep", "60"]);
    sleeper.timeout = Some(Duration::from_secs(2));
    let outcome = engine.run(&sleeper, &never).await.unwrap();
    assert!(outcome.timed_out, "{outcome:?}");
    assert!(!outcome.success());
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_eq!(
        engine.container_ids(Some(&base_id)).await.unwrap(),
        containers_before
    );

    // `tail` keeps the whole newline-free input in memory: 200 MiB against a 32 MiB limit.
    let mut hog = RunRequest::shell(&base_ref, "head -c 200m /dev/zero | tail");
    hog.memory_limit = Some(32 * 1024 * 1024);
    hog.timeout = Some(Duration::from_secs(60));
    let outcome = engine.run(&hog, &never).await.unwrap();
    assert!(outcome.oom_killed, "{outcome:?}");
    assert!(!outcome.timed_out);
    assert_eq!(
        engine.container_ids(Some(&base_id)).await.unwrap(),
        containers_before
    );

    let mut failing_run = RunRequest::shell(&base_ref, "echo out; echo err >&2; exit 3");
    failing_run.user = Some("nobody".to_string());
    failing_run.workdir = Some("/tmp".to_string());
    let outcome = engine.run(&failing_run, &never).await.unwrap();
    assert_eq!(outcome.exit_code, 3);
    assert_eq!(outcome.stdout, "out\n");
    assert_eq!(outcome.stderr, "err\n");
    assert!(!outcome.oom_killed && !outcome.timed_out);

    // A command that does not exist is an outcome (127), as in a shell, not an engine error.
    let outcome = engine
        .run(
            &RunRequest::new(&base_ref, ["ferrostack-no-such-command"]),
            &never,
        )
        .await
        .unwrap();
    assert_eq!(outcome.exit_code, 127, "{outcome:?}");
    assert!(
        outcome.stderr.contains("ferrostack-no-such-command"),
        "{outcome:?}"
    );

    let outcome = engine
        .run(
            &RunRequest::shell(
                &base_ref,
                "id -un; pwd; dpkg-query -W -f='${Package}\\t${Version}\\n' dash",
            ),
            &never,
        )
        .await
        .unwrap();
    assert!(outcome.stdout.starts_with("root\n/\ndash\t"), "{outcome:?}");
    assert_eq!(
        engine.container_ids(Some(&base_id)).await.unwrap(),
        containers_before
    );

    // Cancelling a run removes its container.
    let cancel = CancellationToken::new();
    let canceller = {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(2)).await;
            cancel.cancel();
        })
    };
    let error = engine
        .run(&RunRequest::new(&base_ref, ["sleep", "60"]), &cancel)
        .await
        .unwrap_err();
    canceller.await.unwrap();
    assert!(matches!(error, EngineError::Cancelled { .. }), "{error:?}");
    assert_eq!(
        engine.container_ids(Some(&base_id)).await.unwrap(),
        containers_before
    );

    // Dropping a run's future (e.g. a caller's timeout) removes its container too.
    let dropped = tokio::time::timeout(
        Duration::from_secs(2),
        engine.run(&RunRequest::new(&base_ref, ["sleep", "60"]), &never),
    )
    .await;
    assert!(dropped.is_err(), "the run outlived the timeout");
    wait_for_containers(&engine, &base_id, &containers_before).await;

    // Cancelling a build mid-RUN leaves no container behind.
    let cancel = CancellationToken::new();
    let sleepy = BuildRequest {
        dockerfile: format!("FROM {base_ref}\nRUN echo started && sleep 60\n"),
        no_cache: true,
        ..Default::default()
    };
    let watcher = cancel.clone();
    let started = Instant::now();
    let error = engine
        .build(&sleepy, &cancel, move |event| {
            if event == BuildEvent::Log("started".to_string()) {
                watcher.cancel();
            }
        })
        .await
        .unwrap_err();
    assert!(matches!(error, EngineError::Cancelled { .. }), "{error:?}");
    assert!(started.elapsed() < Duration::from_secs(30));
    wait_for_containers(&engine, &base_id, &containers_before).await;
    timed("build cancelled and cleaned up", started, ());

    // No registry here: a pull fails with a typed error.
    let error = engine
        .pull("ferrostack-test-no-such/image:1")
        .await
        .unwrap_err();
    assert!(matches!(error, EngineError::PullFailed { .. }), "{error:?}");
    assert!(error
        .to_string()
        .contains("ferrostack-test-no-such/image:1"));

    drop(images);
    assert!(!engine.image_exists(&base_ref).await.unwrap());
    assert!(engine.find_images_by_hash(&hash).await.unwrap().is_empty());
}

/// Waits (up to 20 s) until the containers made from `image` are `expected` again.
async fn wait_for_containers(engine: &Engine, image: &str, expected: &[String]) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let now = engine.container_ids(Some(image)).await.unwrap();
        if now == expected {
            return;
        }
        assert!(Instant::now() < deadline, "containers left behind: {now:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
