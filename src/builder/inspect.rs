//! Reads what a built image holds: Debian package versions, runtime versions, size, layers.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::engine::{CancellationToken, Engine, EngineError, RunRequest};
use crate::lock::LockEntry;
use crate::stack::Stack;

/// The Debian packages a stack asks for itself, without version suffixes.
pub(crate) fn direct_packages(stack: &Stack) -> Vec<String> {
    let mut out: Vec<String> = stack.apt_packages().into_iter().map(|p| p.split('=').next().unwrap_or(p).to_string()).collect();
    out.dedup();
    out
}

/// Fills the build results of `entry` from `image`.
pub(crate) async fn record(engine: &Engine, image: &str, stack: &Stack, entry: &mut LockEntry, cancel: &CancellationToken) -> Result<(), EngineError> {
    let info = engine.inspect_image(image).await?;
    entry.size = Some(info.size);
    entry.layers = Some(info.layers as u32);
    let packages = direct_packages(stack);
    entry.packages = BTreeMap::new();
    if !packages.is_empty() {
        let mut cmd = vec!["dpkg-query".to_string(), "-W".to_string(), "-f=${Package}\\t${Version}\\n".to_string()];
        cmd.extend(packages);
        let mut req = RunRequest::new(image, cmd);
        req.timeout = Some(Duration::from_secs(60));
        req.memory_limit = Some(super::CHECK_MEMORY);
        let out = engine.run(&req, cancel).await?;
        for line in out.stdout.lines() {
            if let Some((p, v)) = line.split_once('\t') {
                if !v.is_empty() {
                    entry.packages.insert(p.to_string(), v.to_string());
                }
            }
        }
    }
    let mut script = String::new();
    for r in &stack.runtimes {
        script.push_str(&format!("printf '{}\\t%s\\n' \"$({} 2>&1 | head -n 1)\"\n", r.name.name(), r.name.version_command()));
    }
    if stack.ffmpeg.is_some() {
        script.push_str("printf 'ffmpeg\\t%s\\n' \"$(ffmpeg -version 2>&1 | head -n 1)\"\n");
    }
    entry.runtimes = BTreeMap::new();
    if !script.is_empty() {
        let mut req = RunRequest::shell(image, &script);
        req.timeout = Some(Duration::from_secs(60));
        req.memory_limit = Some(super::CHECK_MEMORY);
        let out = engine.run(&req, cancel).await?;
        for line in out.stdout.lines() {
            if let Some((k, v)) = line.split_once('\t') {
                entry.runtimes.insert(k.to_string(), v.trim().to_string());
            }
        }
    }
    Ok(())
}
