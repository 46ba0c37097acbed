//! Builds that fail before any step runs, against the real engine: a Dockerfile the engine
//! cannot parse, and a context file that is missing on disk. Neither needs a base image.

use std::path::PathBuf;

use ferrostack::engine::{BuildRequest, CancellationToken, ContextFile, Engine, EngineError};

async fn engine() -> Engine {
    Engine::connect()
        .await
        .expect("a Docker engine must answer for the engine tests (run `bash scripts/setup`)")
}

#[tokio::test]
async fn a_dockerfile_the_engine_cannot_parse_is_a_final_build_failure() {
    let engine = engine().await;
    let request = BuildRequest {
        dockerfile: "FROM scratch\nFROBNICATE everything\n".to_string(),
        ..Default::default()
    };
    let error = engine
        .build(&request, &CancellationToken::new(), |_| {})
        .await
        .unwrap_err();
    match &error {
        EngineError::BuildFailed { message, .. } => {
            assert!(message.contains("unknown instruction"), "{message}");
            assert!(message.to_lowercase().contains("frobnicate"), "{message}");
        }
        other => panic!("expected BuildFailed, got {other:?}"),
    }
    assert!(!error.retryable());
}

#[tokio::test]
async fn a_missing_context_file_is_reported_with_its_path() {
    let engine = engine().await;
    let missing = PathBuf::from(format!(
        "/nonexistent/ferrostack-{}/helper.sh",
        std::process::id()
    ));
    let request = BuildRequest {
        dockerfile: "FROM scratch\nCOPY helper.sh /\n".to_string(),
        context: vec![ContextFile {
            path: PathBuf::from("helper.sh"),
            source: missing.clone(),
            mode: Some(0o755),
        }],
        ..Default::default()
    };
    let error = engine
        .build(&request, &CancellationToken::new(), |_| {})
        .await
        .unwrap_err();
    match &error {
        EngineError::Io { path, .. } => assert_eq!(path, &missing),
        other => panic!("expected an I/O error naming the file, got {other:?}"),
    }
    assert!(error.to_string().contains(&missing.display().to_string()));
    assert!(!error.retryable());
}

#[tokio::test]
async fn an_escaping_context_path_is_refused_before_anything_is_sent() {
    let engine = engine().await;
    let request = BuildRequest {
        dockerfile: "FROM scratch\n".to_string(),
        context: vec![ContextFile {
            path: PathBuf::from("../outside"),
            source: PathBuf::from("/dev/null"),
            mode: None,
        }],
        ..Default::default()
    };
    let error = engine
        .build(&request, &CancellationToken::new(), |_| {})
        .await
        .unwrap_err();
    assert!(
        matches!(error, EngineError::ContextPath { .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn an_already_cancelled_build_sends_nothing() {
    let engine = engine().await;
    let cancel = CancellationToken::new();
    cancel.cancel();
    let request = BuildRequest {
        dockerfile: "FROM scratch\n".to_string(),
        ..Default::default()
    };
    let error = engine.build(&request, &cancel, |_| {}).await.unwrap_err();
    assert!(matches!(error, EngineError::Cancelled { .. }), "{error:?}");
}
