//! `RegistryClient`: the few registry calls the engine has no endpoint for (the manifest behind
//! a tag, a manifest by digest, a manifest put under another tag), over HTTPS, or plain HTTP
//! for a loopback registry, with the Docker client configuration's credentials (HTTP basic, or
//! the bearer-token exchange a registry's `WWW-Authenticate` asks for).

use std::path::Path;
use std::sync::Mutex;

use base64::Engine as _;
use bollard::auth::DockerCredentials;
use reqwest::header::{HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode};

use super::RegistryAddress;
use crate::error::{Error, Result};
use crate::https::HttpsSetupError;

/// Every manifest kind a stack's tag may name.
const MANIFEST_TYPES: &str = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json";

/// A manifest as the registry serves it: its media type and exact bytes (the digest is over
/// the bytes, so they are put back unchanged).
#[derive(Debug, Clone)]
pub struct Manifest {
    pub media_type: String,
    pub bytes: Vec<u8>,
}

/// One registry, reached over HTTP(S).
#[derive(Debug)]
pub struct RegistryClient {
    http: reqwest::Client,
    /// `https://host:port` or, for loopback and insecure registries, `http://host:port`.
    base: String,
    host: String,
    credentials: Option<DockerCredentials>,
    /// The `Authorization` value that worked last (basic, or a bearer token).
    authorization: Mutex<Option<String>>,
}

impl RegistryClient {
    /// A client for `address`, trusting the system's certificates and `ca_bundle` as well.
    pub fn new(
        address: &RegistryAddress,
        credentials: Option<DockerCredentials>,
        ca_bundle: Option<&Path>,
    ) -> Result<RegistryClient> {
        let host = address.host().to_string();
        let http = crate::https::client(
            ca_bundle,
            std::time::Duration::from_secs(15),
            std::time::Duration::from_secs(120),
        )
        .map_err(|e| match e {
            HttpsSetupError::ReadBundle { path, source } => {
                Error::io("read the CA bundle", &path, source)
            }
            other => Error::Registry {
                registry: host.clone(),
                message: other.to_string(),
                help: "check the CA bundle setting (`[build] ca_bundle`)".into(),
            },
        })?;
        let scheme = if is_loopback(&host) || address.is_insecure() {
            "http"
        } else {
            "https"
        };
        Ok(RegistryClient {
            http,
            base: format!("{scheme}://{host}"),
            host,
            credentials,
            authorization: Mutex::new(None),
        })
    }

    /// The digest of the manifest `reference` (a tag or digest) names in `name`, or `None`.
    pub async fn manifest_digest(&self, name: &str, reference: &str) -> Result<Option<String>> {
        let response = self
            .send(
                Method::HEAD,
                &format!("/v2/{name}/manifests/{reference}"),
                None,
            )
            .await?;
        match response.status() {
            StatusCode::NOT_FOUND => Ok(None),
            s if s.is_success() => Ok(response
                .headers()
                .get("docker-content-digest")
                .and_then(|d| d.to_str().ok())
                .map(str::to_string)),
            s => Err(self
                .refused(&format!("HEAD manifest `{name}:{reference}`"), s, response)
                .await),
        }
    }

    /// The manifest `digest` in `name`, byte for byte.
    pub async fn manifest(&self, name: &str, digest: &str) -> Result<Manifest> {
        let response = self
            .send(Method::GET, &format!("/v2/{name}/manifests/{digest}"), None)
            .await?;
        let status = response.status();
        if !status.is_success() {
            return Err(self
                .refused(&format!("GET manifest `{name}@{digest}`"), status, response)
                .await);
        }
        let media_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/vnd.docker.distribution.manifest.v2+json")
            .to_string();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| self.failed(&format!("reading manifest `{name}@{digest}`"), e))?
            .to_vec();
        Ok(Manifest { media_type, bytes })
    }

    /// Puts `manifest` under `tag` in `name` (no blob is uploaded: the registry has them all)
    /// and returns the digest the registry answers.
    pub async fn put_manifest(&self, name: &str, tag: &str, manifest: &Manifest) -> Result<String> {
        let response = self
            .send(
                Method::PUT,
                &format!("/v2/{name}/manifests/{tag}"),
                Some(manifest),
            )
            .await?;
        let status = response.status();
        if !status.is_success() {
            return Err(self
                .refused(&format!("PUT manifest `{name}:{tag}`"), status, response)
                .await);
        }
        Ok(response
            .headers()
            .get("docker-content-digest")
            .and_then(|d| d.to_str().ok())
            .unwrap_or_default()
            .to_string())
    }

    /// Uploads `bytes` as a blob of `name` unless the registry has it (a `HEAD` first), in one
    /// monolithic upload (`POST` then `PUT ?digest=`); returns its digest.
    pub async fn put_blob(&self, name: &str, bytes: &[u8]) -> Result<String> {
        use sha2::Digest as _;
        let digest = format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)));
        let head = self
            .send(Method::HEAD, &format!("/v2/{name}/blobs/{digest}"), None)
            .await?;
        if head.status().is_success() {
            return Ok(digest);
        }
        let response = self
            .send(Method::POST, &format!("/v2/{name}/blobs/uploads/"), None)
            .await?;
        let status = response.status();
        if status != StatusCode::ACCEPTED {
            return Err(self
                .refused(&format!("POST blob upload to `{name}`"), status, response)
                .await);
        }
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let upload = self.upload_path(&location).ok_or_else(|| Error::Registry {
            registry: self.host.clone(),
            message: format!("it answered the blob upload to `{name}` with the location `{location}`, which is not on this registry"),
            help: "ferrostack uploads only to the registry it was given".into(),
        })?;
        let separator = if upload.contains('?') { '&' } else { '?' };
        let body = Manifest {
            media_type: "application/octet-stream".into(),
            bytes: bytes.to_vec(),
        };
        let response = self
            .send(
                Method::PUT,
                &format!("{upload}{separator}digest={digest}"),
                Some(&body),
            )
            .await?;
        let status = response.status();
        if !status.is_success() {
            return Err(self
                .refused(
                    &format!("PUT blob `{digest}` to `{name}`"),
                    status,
                    response,
                )
                .await);
        }
        Ok(digest)
    }

    /// The path part of an upload `Location`: relative as given, or absolute on this registry.
    fn upload_path(&self, location: &str) -> Option<String> {
        if location.starts_with('/') {
            return Some(location.to_string());
        }
        let rest = location.strip_prefix(self.base.as_str())?;
        rest.starts_with('/').then(|| rest.to_string())
    }

    /// Sends a request; on `401` answers the challenge once (basic, or a bearer token from the
    /// realm it names) and sends it again.
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Manifest>,
    ) -> Result<reqwest::Response> {
        let url = format!("{}{path}", self.base);
        let request = |authorization: Option<&str>| {
            let mut r = self
                .http
                .request(method.clone(), &url)
                .header(ACCEPT, MANIFEST_TYPES);
            if let Some(a) = authorization {
                r = r.header(AUTHORIZATION, a);
            }
            if let Some(m) = body {
                r = r
                    .header(CONTENT_TYPE, m.media_type.as_str())
                    .body(m.bytes.clone());
            }
            r
        };
        let known = self.authorization.lock().expect("authorization").clone();
        let response = request(known.as_deref())
            .send()
            .await
            .map_err(|e| self.failed(&format!("{method} {url}"), e))?;
        if response.status() != StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        let challenge = response
            .headers()
            .get(WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let authorization = self.answer(&challenge).await?;
        let response = request(Some(&authorization))
            .send()
            .await
            .map_err(|e| self.failed(&format!("{method} {url}"), e))?;
        if response.status() != StatusCode::UNAUTHORIZED {
            *self.authorization.lock().expect("authorization") = Some(authorization);
        }
        Ok(response)
    }

    /// The `Authorization` value for a `WWW-Authenticate` challenge.
    async fn answer(&self, challenge: &str) -> Result<String> {
        let basic = self.credentials.as_ref().and_then(|c| {
            Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!(
                    "{}:{}",
                    c.username.as_deref()?,
                    c.password.as_deref()?
                ))
            ))
        });
        let lower = challenge.to_ascii_lowercase();
        if lower.starts_with("basic") {
            return basic.ok_or_else(|| self.unauthorized("it asks for a user and password, and the Docker client configuration has none for it"));
        }
        if !lower.starts_with("bearer") {
            return Err(
                self.unauthorized(&format!("it answered 401 with the challenge `{challenge}`"))
            );
        }
        let params = challenge_params(challenge);
        let realm = params
            .iter()
            .find(|(k, _)| k == "realm")
            .map(|(_, v)| v.clone())
            .ok_or_else(|| self.unauthorized("its bearer challenge names no realm"))?;
        let mut token_request = self.http.get(&realm).query(
            &params
                .iter()
                .filter(|(k, _)| k == "service" || k == "scope")
                .collect::<Vec<_>>(),
        );
        if let Some(b) = &basic {
            token_request = token_request.header(
                AUTHORIZATION,
                HeaderValue::from_str(b)
                    .map_err(|_| self.unauthorized("the credentials are not valid header text"))?,
            );
        } else if let Some(token) = self
            .credentials
            .as_ref()
            .and_then(|c| c.identitytoken.as_deref())
        {
            token_request = token_request.query(&[("refresh_token", token)]);
        }
        let response = token_request
            .send()
            .await
            .map_err(|e| self.failed(&format!("GET token from {realm}"), e))?;
        if !response.status().is_success() {
            return Err(self.unauthorized(&format!(
                "its token service `{realm}` answered {}",
                response.status()
            )));
        }
        let token: serde_json::Value = response
            .json()
            .await
            .map_err(|e| self.failed("reading the token", e))?;
        let token = token["token"]
            .as_str()
            .or(token["access_token"].as_str())
            .ok_or_else(|| self.unauthorized("its token service answered no token"))?;
        Ok(format!("Bearer {token}"))
    }

    fn unauthorized(&self, why: &str) -> Error {
        Error::Registry {
            registry: self.host.clone(),
            message: format!("unauthorized: {why}"),
            help: format!(
                "log in with `docker login {}` (ferrostack reads the Docker client configuration)",
                self.host
            ),
        }
    }

    fn failed(&self, what: &str, error: reqwest::Error) -> Error {
        let mut message = format!("{what}: {error}");
        let mut source = std::error::Error::source(&error);
        while let Some(inner) = source {
            message.push_str(&format!(": {inner}"));
            source = inner.source();
        }
        let help = if self.base.starts_with("https:")
            && (message.contains("InvalidContentType") || message.contains("wrong version number"))
        {
            "the registry seems to speak plain HTTP: list it as insecure (`registry_insecure = true`, FERROSTACK_REGISTRY_INSECURE=1 or `--registry-insecure`), as the engine's `insecure-registries` does"
        } else {
            "check that the registry is up and reachable from this machine"
        };
        Error::Registry {
            registry: self.host.clone(),
            message,
            help: help.into(),
        }
    }

    async fn refused(&self, what: &str, status: StatusCode, response: reqwest::Response) -> Error {
        let body = response.text().await.unwrap_or_default();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return self.unauthorized(&format!("{what} answered {status}: {}", body.trim()));
        }
        Error::Registry {
            registry: self.host.clone(),
            message: format!("{what} answered {status}: {}", body.trim()),
            help: "the registry refused; its answer is above".into(),
        }
    }
}

/// Whether `host` (with port) is a loopback address, served over plain HTTP as the engine does.
fn is_loopback(host: &str) -> bool {
    let name = host
        .rsplit_once(':')
        .filter(|(h, p)| !h.ends_with(':') && p.chars().all(|c| c.is_ascii_digit()))
        .map_or(host, |(h, _)| h);
    let name = name.trim_start_matches('[').trim_end_matches(']');
    name == "localhost"
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `Bearer realm="…",service="…",scope="…"` → its key/value pairs.
fn challenge_params(challenge: &str) -> Vec<(String, String)> {
    let rest = challenge.split_once(' ').map_or("", |(_, r)| r);
    let mut out = Vec::new();
    let mut chars = rest.chars().peekable();
    loop {
        let key: String = chars
            .by_ref()
            .skip_while(|c| *c == ',' || c.is_whitespace())
            .take_while(|c| *c != '=')
            .collect();
        if key.is_empty() {
            return out;
        }
        let value: String = if chars.peek() == Some(&'"') {
            chars.next();
            chars.by_ref().take_while(|c| *c != '"').collect()
        } else {
            chars.by_ref().take_while(|c| *c != ',').collect()
        };
        out.push((key.trim().to_string(), value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_and_loopback() {
        let params = challenge_params(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:team/stacks:pull,push""#,
        );
        assert_eq!(
            params,
            [
                (
                    "realm".to_string(),
                    "https://auth.example/token".to_string()
                ),
                ("service".to_string(), "registry.example".to_string()),
                (
                    "scope".to_string(),
                    "repository:team/stacks:pull,push".to_string()
                )
            ]
        );
        assert!(
            is_loopback("127.0.0.1:5000") && is_loopback("localhost") && is_loopback("[::1]:5000")
        );
        assert!(!is_loopback("registry.example:5000") && !is_loopback("10.0.0.1"));
    }
}
