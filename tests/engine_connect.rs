//! Connecting to the real Docker engine: version negotiation, and the error when nothing
//! answers. These fail (they do not skip) when no engine runs: start one with `bash scripts/setup`.

use ferrostack::engine::{Engine, EngineError};
use miette::Diagnostic;

#[tokio::test]
async fn connects_and_negotiates_an_api_version() {
    let engine = Engine::connect()
        .await
        .expect("a Docker engine must answer for the engine tests (run `bash scripts/setup`)");
    let (major, minor) = engine
        .api_version()
        .split_once('.')
        .expect("API versions look like 1.41");
    assert_eq!(major, "1");
    let minor: u32 = minor.parse().unwrap();
    assert!(minor >= 41, "negotiated {}", engine.api_version());
    assert!(!engine.server_version().is_empty());
    assert!(engine.docker().ping().await.is_ok());
}

#[tokio::test]
async fn a_missing_socket_gives_a_clear_error() {
    let address = "unix:///nonexistent/ferrostack/docker.sock";
    let error = Engine::connect_to(address).await.unwrap_err();
    assert!(
        matches!(error, EngineError::Unreachable { .. }),
        "{error:?}"
    );
    let text = error.to_string();
    assert!(text.contains(address), "{text}");
    assert!(text.contains("does not exist"), "{text}");
    let help = error
        .help()
        .expect("says how to start an engine")
        .to_string();
    assert!(
        help.contains("bash scripts/setup") && help.contains("dockerd"),
        "{help}"
    );
    assert!(!error.retryable());
}

#[tokio::test]
async fn a_closed_port_gives_a_clear_error() {
    // Port 1 on loopback: nothing listens there, so the connection is refused at once.
    let address = "tcp://127.0.0.1:1";
    let error = Engine::connect_to(address).await.unwrap_err();
    assert!(
        matches!(error, EngineError::Unreachable { .. }),
        "{error:?}"
    );
    let text = error.to_string();
    assert!(text.contains(address), "{text}");
    assert!(text.to_lowercase().contains("refused"), "{text}");
}

#[tokio::test]
async fn an_unknown_scheme_is_refused() {
    let error = Engine::connect_to("ftp://example").await.unwrap_err();
    assert!(
        matches!(error, EngineError::UnsupportedAddress { .. }),
        "{error:?}"
    );
}
