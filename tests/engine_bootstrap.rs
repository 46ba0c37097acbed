//! debootstrap failures and cancellation, against the real Debian mirror; the successful
//! bootstrap is exercised by `engine_flow`.

use std::time::{Duration, Instant};

use ferrostack::engine::{
    bootstrap_rootfs, BootstrapEvent, CancellationToken, EngineError, RootfsSpec,
};

#[tokio::test]
async fn an_unknown_suite_fails_with_debootstraps_own_words() {
    let work = tempfile::tempdir().unwrap();
    let spec = RootfsSpec::minbase("ferrostack-no-such-suite");
    let mut lines = Vec::new();
    let error = bootstrap_rootfs(
        &spec,
        Some(work.path()),
        &CancellationToken::new(),
        |event| {
            if let BootstrapEvent::Log(line) = event {
                lines.push(line)
            }
        },
    )
    .await
    .unwrap_err();
    match &error {
        EngineError::Bootstrap {
            suite, log_tail, ..
        } => {
            assert_eq!(suite, "ferrostack-no-such-suite");
            assert!(log_tail.contains("E: "), "{log_tail}");
        }
        other => panic!("expected a bootstrap error, got {other:?}"),
    }
    assert!(!lines.is_empty());
    assert!(!error.retryable());
    let left: Vec<_> = std::fs::read_dir(work.path()).unwrap().collect();
    assert!(left.is_empty(), "the temporary root is removed: {left:?}");
}

#[tokio::test]
async fn cancelling_stops_debootstrap_and_removes_its_directory() {
    let work = tempfile::tempdir().unwrap();
    let cancel = CancellationToken::new();
    let canceller = {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(3)).await;
            cancel.cancel();
        })
    };
    let started = Instant::now();
    let error = bootstrap_rootfs(
        &RootfsSpec::minbase("bookworm"),
        Some(work.path()),
        &cancel,
        |_| {},
    )
    .await
    .unwrap_err();
    canceller.await.unwrap();
    assert!(matches!(error, EngineError::Cancelled { .. }), "{error:?}");
    assert!(started.elapsed() < Duration::from_secs(20));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let survivors = processes_mentioning(&work.path().display().to_string());
    assert!(
        survivors.is_empty(),
        "debootstrap's children survived: {survivors:?}"
    );
    let left: Vec<_> = std::fs::read_dir(work.path()).unwrap().collect();
    assert!(left.is_empty(), "the temporary root is removed: {left:?}");
}

/// Command lines of running processes that contain `needle`.
fn processes_mentioning(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(needle) {
            found.push(cmdline);
        }
    }
    found
}
