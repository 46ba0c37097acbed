//! The HTTPS client ferrostack reaches registries with: the system's certificates plus the
//! project's CA bundle (`[build] ca_bundle`), with a connect and a whole-request timeout.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// Why the client could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum HttpsSetupError {
    /// The CA bundle could not be read.
    #[error("cannot read the CA bundle `{}`: {source}", path.display())]
    ReadBundle {
        path: PathBuf,
        source: std::io::Error,
    },

    /// The CA bundle holds no PEM certificates.
    #[error("`{}` is not a PEM bundle: {message}", path.display())]
    NotPem { path: PathBuf, message: String },

    /// The TLS backend refused the configuration.
    #[error("cannot set up HTTPS: {0}")]
    Build(String),
}

/// A client trusting the system's certificates and, when given, `ca_bundle` as well; it gives
/// up connecting after `connect` and on a whole request after `total`.
pub fn client(
    ca_bundle: Option<&Path>,
    connect: Duration,
    total: Duration,
) -> Result<reqwest::Client, HttpsSetupError> {
    // Several crates link rustls; the first install wins and later ones are no-ops.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = reqwest::Client::builder()
        .connect_timeout(connect)
        .timeout(total);
    if let Some(path) = ca_bundle {
        let pem = std::fs::read(path).map_err(|source| HttpsSetupError::ReadBundle {
            path: path.to_path_buf(),
            source,
        })?;
        let certificates =
            reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| HttpsSetupError::NotPem {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
        builder = builder.tls_certs_merge(certificates);
    }
    builder
        .build()
        .map_err(|e| HttpsSetupError::Build(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECONDS: Duration = Duration::from_secs(1);

    #[test]
    fn a_missing_bundle_names_its_path() {
        let err = client(Some(Path::new("/nonexistent/ca.pem")), SECONDS, SECONDS).unwrap_err();
        assert!(matches!(err, HttpsSetupError::ReadBundle { .. }), "{err:?}");
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
    }

    #[test]
    fn a_bundle_without_certificates_is_not_pem() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(
            &path,
            "-----BEGIN CERTIFICATE-----\nnot base64 !\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let err = client(Some(&path), SECONDS, SECONDS).unwrap_err();
        assert!(matches!(err, HttpsSetupError::NotPem { .. }), "{err:?}");
    }

    #[test]
    fn without_a_bundle_the_system_certificates_do() {
        client(None, SECONDS, SECONDS).unwrap();
    }
}
