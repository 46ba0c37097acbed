//! Registry credentials from the standard Docker client configuration
//! (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`): `auths` entries and
//! credential helpers (`credHelpers`, `credsStore`), as `docker login` leaves them.

use std::path::PathBuf;

use base64::Engine as _;
use bollard::auth::DockerCredentials;

use crate::error::{Error, Result};

/// Where the Docker client keeps its configuration.
pub fn docker_config_path() -> Option<PathBuf> {
    match std::env::var_os("DOCKER_CONFIG").filter(|v| !v.is_empty()) {
        Some(dir) => Some(PathBuf::from(dir).join("config.json")),
        None => {
            std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".docker/config.json"))
        }
    }
}

/// The credentials for `host` (`registry.example:5000`), or `None` when the configuration has
/// none (anonymous access). A configuration that cannot be read, or a helper that fails, is
/// an error naming the file or the helper.
pub fn credentials_for(host: &str) -> Result<Option<DockerCredentials>> {
    let Some(path) = docker_config_path().filter(|p| p.is_file()) else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|e| Error::io("read the Docker client configuration", &path, e))?;
    let bad = |message: String| Error::Registry {
        registry: host.to_string(),
        message,
        help: format!(
            "fix `{}` (as `docker login {host}` writes it)",
            path.display()
        ),
    };
    let config: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| bad(format!("`{}` is not JSON: {e}", path.display())))?;
    let helper = config["credHelpers"][host]
        .as_str()
        .or_else(|| config["credsStore"].as_str());
    if let Some(entry) = config["auths"]
        .get(host)
        .or_else(|| config["auths"].get(format!("https://{host}")))
    {
        if let Some(auth) = entry["auth"].as_str().filter(|a| !a.is_empty()) {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(auth)
                .map_err(|e| bad(format!("its `auths.{host}.auth` is not base64: {e}")))?;
            let decoded = String::from_utf8(decoded)
                .map_err(|_| bad(format!("its `auths.{host}.auth` is not text")))?;
            let (user, password) = decoded
                .split_once(':')
                .ok_or_else(|| bad(format!("its `auths.{host}.auth` is not `user:password`")))?;
            return Ok(Some(credentials(host, user, password)));
        }
        if let Some(token) = entry["identitytoken"].as_str() {
            return Ok(Some(DockerCredentials {
                identitytoken: Some(token.to_string()),
                serveraddress: Some(host.to_string()),
                ..Default::default()
            }));
        }
    }
    match helper {
        Some(helper) => from_helper(helper, host),
        None => Ok(None),
    }
}

fn credentials(host: &str, user: &str, password: &str) -> DockerCredentials {
    DockerCredentials {
        username: Some(user.to_string()),
        password: Some(password.to_string()),
        serveraddress: Some(host.to_string()),
        ..Default::default()
    }
}

/// Asks `docker-credential-<helper> get` for `host`'s credentials.
fn from_helper(helper: &str, host: &str) -> Result<Option<DockerCredentials>> {
    use std::io::Write;
    let program = format!("docker-credential-{helper}");
    let fail = |message: String| {
        Error::Registry {
        registry: host.to_string(),
        message,
        help: format!("check `{program} get` (named by `credHelpers`/`credsStore` in the Docker client configuration)"),
    }
    };
    let mut child = std::process::Command::new(&program)
        .arg("get")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| fail(format!("cannot run `{program}`: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(host.as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|e| fail(format!("`{program}` failed: {e}")))?;
    if !out.status.success() {
        let said = String::from_utf8_lossy(&out.stdout).trim().to_string();
        // Helpers answer "credentials not found in native keychain" when they have none.
        if said.to_lowercase().contains("not found") {
            return Ok(None);
        }
        return Err(fail(format!(
            "`{program} get` exited with {}: {said}",
            out.status
        )));
    }
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| fail(format!("`{program} get` did not answer JSON: {e}")))?;
    let (user, secret) = (
        answer["Username"].as_str().unwrap_or(""),
        answer["Secret"].as_str().unwrap_or(""),
    );
    Ok(Some(if user == "<token>" {
        DockerCredentials {
            identitytoken: Some(secret.to_string()),
            serveraddress: Some(host.to_string()),
            ..Default::default()
        }
    } else {
        credentials(host, user, secret)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `DOCKER_CONFIG` is process-wide: the cases run in one test, one after another.
    #[test]
    fn auths_helpers_and_nothing() {
        let dir = tempfile::tempdir().unwrap();
        std::env::set_var("DOCKER_CONFIG", dir.path());
        assert!(
            credentials_for("r.example").unwrap().is_none(),
            "no configuration: anonymous"
        );
        let auth = base64::engine::general_purpose::STANDARD.encode("ci:s3cret");
        std::fs::write(
            dir.path().join("config.json"),
            format!(r#"{{"auths": {{"r.example:5000": {{"auth": "{auth}"}}}}}}"#),
        )
        .unwrap();
        let c = credentials_for("r.example:5000").unwrap().unwrap();
        assert_eq!(
            (
                c.username.as_deref(),
                c.password.as_deref(),
                c.serveraddress.as_deref()
            ),
            (Some("ci"), Some("s3cret"), Some("r.example:5000"))
        );
        assert!(credentials_for("other.example").unwrap().is_none());
        // A helper on PATH, as `docker login` with a credential store leaves it.
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let helper = bin.join("docker-credential-fake");
        std::fs::write(&helper, "#!/bin/sh\nread host\n[ \"$host\" = h.example ] && echo '{\"Username\":\"u\",\"Secret\":\"p\"}' && exit 0\necho 'credentials not found in native keychain'; exit 1\n").unwrap();
        std::fs::set_permissions(&helper, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        std::fs::write(dir.path().join("config.json"), r#"{"credsStore": "fake"}"#).unwrap();
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        std::env::set_var("PATH", path);
        let c = credentials_for("h.example").unwrap().unwrap();
        assert_eq!(
            (c.username.as_deref(), c.password.as_deref()),
            (Some("u"), Some("p"))
        );
        assert!(credentials_for("none.example").unwrap().is_none());
        std::fs::write(dir.path().join("config.json"), "{not json").unwrap();
        let err = credentials_for("r.example").unwrap_err();
        assert!(err.to_string().contains("registry `r.example`"), "{err}");
        std::env::remove_var("DOCKER_CONFIG");
    }
}
