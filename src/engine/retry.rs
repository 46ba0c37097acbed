//! `retry`: runs an engine operation again after transient failures only
//! ([`EngineError::retryable`]), with exponential backoff. A failing `RUN` is never retried.

use std::future::Future;
use std::time::Duration;

use super::error::{EngineError, Result};

/// Runs `op` up to `attempts` times (at least once). After a retryable error it waits
/// `backoff`, then twice that, and so on; any other error is returned at once.
pub async fn retry<T, F, Fut>(attempts: u32, backoff: Duration, op: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    retry_with(attempts, backoff, |_, _| {}, op).await
}

/// Like [`retry`], but tells `on_retry` about each failure that will be retried.
pub async fn retry_with<T, F, Fut>(
    attempts: u32,
    backoff: Duration,
    mut on_retry: impl FnMut(u32, &EngineError),
    mut op: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let mut delay = backoff;
    let mut attempt = 1;
    loop {
        match op().await {
            Ok(value) => return Ok(value),
            Err(error) if error.retryable() && attempt < attempts => {
                on_retry(attempt, &error);
                tokio::time::sleep(delay).await;
                delay = delay.saturating_mul(2);
                attempt += 1;
            }
            Err(error) => return Err(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn transient() -> EngineError {
        EngineError::BuildInterrupted {
            message: "No such container: abc".into(),
        }
    }

    #[tokio::test]
    async fn retries_transient_errors_until_success() {
        let calls = Cell::new(0);
        let result = retry(3, Duration::from_millis(1), || {
            calls.set(calls.get() + 1);
            let n = calls.get();
            async move {
                if n < 3 {
                    Err(transient())
                } else {
                    Ok(n)
                }
            }
        })
        .await;
        assert_eq!(result.unwrap(), 3);
    }

    #[tokio::test]
    async fn gives_up_after_the_last_attempt_and_never_retries_a_failed_build() {
        let calls = Cell::new(0);
        let result: Result<()> = retry(2, Duration::from_millis(1), || {
            calls.set(calls.get() + 1);
            async { Err(transient()) }
        })
        .await;
        assert!(result.is_err());
        assert_eq!(calls.get(), 2);

        calls.set(0);
        let result: Result<()> = retry(5, Duration::from_millis(1), || {
            calls.set(calls.get() + 1);
            async {
                Err(EngineError::BuildFailed {
                    message: "returned a non-zero code: 1".into(),
                    log_tail: String::new(),
                })
            }
        })
        .await;
        assert!(matches!(result, Err(EngineError::BuildFailed { .. })));
        assert_eq!(calls.get(), 1);
    }
}
