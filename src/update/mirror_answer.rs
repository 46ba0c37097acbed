//! `Answer`: what one image's apt said (candidate versions, simulated installs), how it is
//! asked in one throwaway container, and the dependency pins read from it.

use std::collections::{BTreeMap, BTreeSet};

use crate::builder::CHECK_MEMORY;
use crate::closure::Simulation;
use crate::engine::{CancellationToken, Engine, RunRequest};
use crate::error::{Error, Result};

use super::QUERY_TIMEOUT;

/// What one image is asked: candidates of packages, and simulated installs by id (`n:PKG`
/// for a package alone, `g:STACK:I` for a stack's first `I + 1` installs together), each with
/// whether it reads the status without the image's own installs (`r:PKG` solos; for the root
/// the image is built from).
#[derive(Debug, Default)]
pub(super) struct Ask {
    pub(super) packages: BTreeSet<String>,
    pub(super) simulations: BTreeMap<String, (Vec<String>, bool)>,
    /// The image is a root stack's own: make the status without what its apt runs installed.
    pub(super) root: bool,
}

/// Writes [`ROOT_STATUS`]: the image's dpkg status without every package apt's history says
/// was installed or upgraded in it (what a root's own installs added over its bootstrap or
/// image), so a simulation there sees the root as it was before them.
const ROOT_STATUS_SCRIPT: &str = "{ echo -; grep -E '^(Install|Upgrade): ' /var/log/apt/history.log 2>/dev/null | grep -oE '[a-z0-9][a-z0-9+.-]*:[a-z0-9-]+ [(]' | cut -d: -f1; } | sort -u > /tmp/ferrostack-installed && awk 'FNR==NR{skip[$1]=1;next} /^Package: /{keep=!($2 in skip)} keep' /tmp/ferrostack-installed /var/lib/dpkg/status > /tmp/ferrostack-status";

/// The dpkg status a root's simulations read.
const ROOT_STATUS: &str = "/tmp/ferrostack-status";

/// What one image answered.
#[derive(Debug, Default)]
pub(super) struct Answer {
    pub(super) candidates: BTreeMap<String, String>,
    pub(super) simulations: BTreeMap<String, Simulation>,
}

/// Runs `apt-get update`, `apt-cache policy` and the simulated installs in one throwaway
/// container of `image` and returns each package's candidate version (packages without one
/// are absent) and each simulation's `Inst` lines.
pub(super) async fn candidates(
    engine: &Engine,
    image: &str,
    ask: &Ask,
    cancel: &CancellationToken,
) -> Result<Answer> {
    let quoted: Vec<String> = ask.packages.iter().map(|p| shell_quote(p)).collect();
    // The same flags as the Dockerfile's installs; `Inst` and `E:` lines only, under `=ID`.
    let mut script = format!(
        "sim() {{ printf '=%s\\n' \"$1\"; st=$2; shift 2; apt-get install -s --no-install-recommends -o Dir::State::status=\"$st\" \"$@\" 2>&1 | grep -E '^(Inst |E: )'; true; }}; apt-get update -qq >/dev/null && for p in {}; do printf '%s\\t%s\\n' \"$p\" \"$(apt-cache policy \"$p\" | sed -n 's/^ *Candidate: *//p')\"; done",
        quoted.join(" ")
    );
    if ask.root {
        script.push_str(&format!(" && {ROOT_STATUS_SCRIPT}"));
    }
    for (id, (packages, root)) in &ask.simulations {
        let quoted: Vec<String> = packages.iter().map(|p| shell_quote(p)).collect();
        let status = if *root {
            ROOT_STATUS
        } else {
            "/var/lib/dpkg/status"
        };
        script.push_str(&format!(
            " && sim {} {status} {}",
            shell_quote(id),
            quoted.join(" ")
        ));
    }
    let mut req = RunRequest::shell(image, &script);
    req.user = Some("0".into());
    req.timeout = Some(QUERY_TIMEOUT);
    req.memory_limit = Some(CHECK_MEMORY);
    let out = engine.run(&req, cancel).await?;
    if !out.success() {
        let why = if out.timed_out {
            format!("timed out after {} s", QUERY_TIMEOUT.as_secs())
        } else {
            format!("exited with {}", out.exit_code)
        };
        return Err(Error::Settings {
            message: format!("asking Debian's mirror from `{image}` failed: `apt-get update` {why}\n{}", out.stderr.trim_end()),
            help: Some("check the network and the mirror in the stack's apt sources, then run `ferrostack update` again".into()),
        });
    }
    Ok(parse_answer(&out.stdout))
}

/// Splits the script's output: `pkg\tversion` lines before the first `=ID`, then each
/// simulation's lines under its `=ID`.
fn parse_answer(stdout: &str) -> Answer {
    let mut answer = Answer::default();
    let end = stdout.find("\n=").map_or(stdout.len(), |i| i + 1);
    let end = if stdout.starts_with('=') { 0 } else { end };
    answer.candidates = parse_candidates(&stdout[..end]);
    let mut current: Option<&mut Simulation> = None;
    for line in stdout[end..].lines() {
        if let Some(id) = line.strip_prefix('=') {
            current = Some(answer.simulations.entry(id.to_string()).or_default());
        } else if let Some(sim) = current.as_mut() {
            sim.read_line(line);
        }
    }
    answer
}

/// Parses `pkg\tversion` lines; an empty or `(none)` version means no candidate.
fn parse_candidates(stdout: &str) -> BTreeMap<String, String> {
    stdout
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(p, v)| (p.trim(), v.trim()))
        .filter(|(_, v)| !v.is_empty() && *v != "(none)")
        .map(|(p, v)| (p.to_string(), v.to_string()))
        .collect()
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The dependency pins of a stack whose installs (`installs`, in Dockerfile order) the
/// image answered: install `i` adds what the simulation of installs `0..=i` has and that of
/// `0..i` has not; each dependency goes under the first package of its install whose own
/// simulation pulls it in (the install's first package when none does alone). Packages the
/// stack names are pinned by name, not here. `Err` carries apt's first error.
pub(super) fn closure_pins(
    installs: &[Vec<&str>],
    stack: &str,
    solo: &str,
    answer: &Answer,
) -> std::result::Result<BTreeMap<String, BTreeMap<String, String>>, String> {
    let simulation = |id: &str| -> std::result::Result<&Simulation, String> {
        let sim = answer
            .simulations
            .get(id)
            .ok_or_else(|| "no answer".to_string())?;
        match sim.errors.first() {
            Some(e) => Err(e.clone()),
            None => Ok(sim),
        }
    };
    let base = |p: &str| p.split('=').next().unwrap_or(p).to_string();
    let named: BTreeSet<String> = installs.iter().flatten().map(|p| base(p)).collect();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for (i, install) in installs.iter().enumerate() {
        let all = simulation(&format!("g:{stack}:{i}"))?;
        let mut solos = Vec::new();
        for p in install {
            solos.push((base(p), simulation(&format!("{solo}:{p}"))?));
        }
        for (dep, version) in &all.installs {
            if named.contains(dep) || !seen.insert(dep.clone()) {
                continue;
            }
            let of = solos
                .iter()
                .find(|(_, sim)| sim.installs.contains_key(dep))
                .map_or_else(|| base(install[0]), |(p, _)| p.clone());
            out.entry(of)
                .or_default()
                .insert(dep.clone(), version.clone());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_skip_packages_without_one() {
        let parsed = parse_candidates("jq\t1.6-2.1+deb12u1\nnope\t\nvirt\t(none)\n");
        assert_eq!(
            parsed,
            BTreeMap::from([("jq".to_string(), "1.6-2.1+deb12u1".to_string())])
        );
    }

    #[test]
    fn the_closure_is_pinned_per_install_under_the_package_that_pulls_it_in() {
        // Installs: `python3` (pulls libssl3, libpython3.11), then an apt step `curl jq`
        // (curl pulls libssl3 too, already there; jq pulls libjq1).
        let stdout = "python3\t3.11.2-1+b1\ncurl\t7.88.1-10+deb12u12\njq\t1.6-2.1\n\
            =g:app:0\nInst libssl3 [3.0.17-1~deb12u2] (3.0.17-1~deb12u3 Debian-Security:12/stable-security [amd64])\nInst libpython3.11 (3.11.2-6 Debian:12/stable [amd64])\nInst python3 (3.11.2-1+b1 Debian:12/stable [amd64])\n\
            =g:app:1\nInst libssl3 [3.0.17-1~deb12u2] (3.0.17-1~deb12u3 Debian-Security:12/stable-security [amd64])\nInst libpython3.11 (3.11.2-6 Debian:12/stable [amd64])\nInst python3 (3.11.2-1+b1 Debian:12/stable [amd64])\nInst curl (7.88.1-10+deb12u12 Debian:12/stable [amd64])\nInst libjq1 (1.6-2.1 Debian:12/stable [amd64])\nInst jq (1.6-2.1 Debian:12/stable [amd64])\n\
            =n:python3\nInst libssl3 [3.0.17-1~deb12u2] (3.0.17-1~deb12u3 Debian-Security:12/stable-security [amd64])\nInst libpython3.11 (3.11.2-6 Debian:12/stable [amd64])\nInst python3 (3.11.2-1+b1 Debian:12/stable [amd64])\n\
            =n:curl\nInst libssl3 [3.0.17-1~deb12u2] (3.0.17-1~deb12u3 Debian-Security:12/stable-security [amd64])\nInst curl (7.88.1-10+deb12u12 Debian:12/stable [amd64])\n\
            =n:jq\nInst libjq1 (1.6-2.1 Debian:12/stable [amd64])\nInst jq (1.6-2.1 Debian:12/stable [amd64])\n";
        let answer = parse_answer(stdout);
        assert_eq!(answer.candidates.len(), 3);
        let installs = vec![vec!["python3"], vec!["curl", "jq"]];
        let pins = closure_pins(&installs, "app", "n", &answer).unwrap();
        let text: Vec<String> = pins
            .iter()
            .flat_map(|(of, deps)| deps.iter().map(move |(d, v)| format!("{of}: {d}={v}")))
            .collect();
        assert_eq!(
            text,
            [
                "jq: libjq1=1.6-2.1",
                "python3: libpython3.11=3.11.2-6",
                "python3: libssl3=3.0.17-1~deb12u3"
            ]
        );

        let failed = parse_answer("=g:app:0\nE: Unable to locate package nope\n=n:nope\nE: Unable to locate package nope\n");
        assert_eq!(
            closure_pins(&[vec!["nope"]], "app", "n", &failed),
            Err("Unable to locate package nope".to_string())
        );
    }

    #[test]
    fn quoting_survives_quotes() {
        assert_eq!(shell_quote("a'b"), "'a'\\''b'");
    }
}
