//! The result of `ferrostack build`: per stack what happened and why, durations, image-size
//! changes, and the failures' log tails; as JSON or as a Markdown report.

use serde::Serialize;

use crate::units::show_size;

/// How one stack ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum StackOutcome {
    /// Built (or found in the engine), checked, recorded; tagged unless promotion held it back.
    Built {
        image: String,
        seconds: f64,
        cached: bool,
    },
    /// Nothing to do.
    UpToDate,
    /// Not attempted: its parent failed, it is end-of-life, or the run stopped.
    Skipped { reason: String },
    /// The build or a check failed.
    Failed {
        reason: String,
        log_tail: Vec<String>,
    },
}

/// One stack in the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StackReport {
    pub name: String,
    #[serde(flatten)]
    pub outcome: StackOutcome,
    /// Why the plan built it.
    pub reasons: Vec<String>,
    /// Image size recorded in the lock before this run, and after it.
    pub size_before: Option<u64>,
    pub size_after: Option<u64>,
    /// The engine it was built on, in a build over several engines.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
}

/// When tags move.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Promote {
    /// Each stack is tagged as soon as it passes its checks.
    #[default]
    Each,
    /// Tags move (and the lock is written) only when every selected stack built and passed.
    AllOrNothing,
}

/// Every selected stack's outcome, in plan order.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BuildReport {
    pub stacks: Vec<StackReport>,
    pub interrupted: bool,
    pub promote: Promote,
    /// Whether the built stacks' tags moved and their lock entries were written.
    pub promoted: bool,
    /// What the package cache did, when it ran.
    pub package_cache: Option<crate::package_cache::CacheStats>,
    /// Human tags moved at the registry, each with the digest it named before and after.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tag_moves: Vec<crate::registry::TagMove>,
    /// Why moving the tags at the registry failed (the moved ones were put back).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub promotion_error: Option<String>,
    /// What the built stacks changed in the lock (packages, runtimes, size, digest).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changes: Option<crate::diff::LockDiff>,
}

impl BuildReport {
    /// Stacks that failed.
    pub fn failed(&self) -> usize {
        self.stacks
            .iter()
            .filter(|s| matches!(s.outcome, StackOutcome::Failed { .. }))
            .count()
    }

    /// A Markdown report for humans (a nightly job's summary).
    pub fn to_markdown(&self) -> String {
        let count =
            |f: fn(&StackOutcome) -> bool| self.stacks.iter().filter(|s| f(&s.outcome)).count();
        let built = count(|o| matches!(o, StackOutcome::Built { .. }));
        let up = count(|o| matches!(o, StackOutcome::UpToDate));
        let skipped = count(|o| matches!(o, StackOutcome::Skipped { .. }));
        let failed = self.failed();
        let mut out = String::from("# ferrostack build report\n\n");
        out.push_str(&format!(
            "{built} built, {up} up-to-date, {skipped} skipped, {failed} failed"
        ));
        if self.promote == Promote::AllOrNothing {
            out.push_str(if self.promoted {
                "; promoted all-or-nothing: tags moved"
            } else {
                "; promoted all-or-nothing: **no tag moved, lock unchanged**"
            });
        }
        if self.interrupted {
            out.push_str("; **interrupted**");
        }
        if let Some(e) = &self.promotion_error {
            out.push_str(&format!("\n\n**Promotion at the registry failed**: {e}"));
        }
        if !self.tag_moves.is_empty() {
            out.push_str("\n\n| stack | registry tag | from | to |\n|---|---|---|---|\n");
            for m in &self.tag_moves {
                out.push_str(&format!(
                    "| {} | {} | {} | {} |\n",
                    m.stack,
                    m.tag,
                    m.from.as_deref().unwrap_or("(new)"),
                    m.to
                ));
            }
        }
        if let Some(stats) = &self.package_cache {
            out.push_str(&format!("\n\nPackage cache: {stats}."));
        }
        out.push_str("\n\n| stack | result | why | time | size |\n|---|---|---|---|---|\n");
        for s in &self.stacks {
            let (result, time) = match &s.outcome {
                StackOutcome::Built {
                    seconds,
                    cached: true,
                    ..
                } => ("found in engine".to_string(), format!("{seconds:.1} s")),
                StackOutcome::Built { seconds, .. } => {
                    ("built".to_string(), format!("{seconds:.1} s"))
                }
                StackOutcome::UpToDate => ("up-to-date".to_string(), String::new()),
                StackOutcome::Skipped { reason } => (format!("skipped: {reason}"), String::new()),
                StackOutcome::Failed { reason, .. } => (
                    format!(
                        "**failed**: {}",
                        reason.replace('|', "\\|").replace('\n', " ")
                    ),
                    String::new(),
                ),
            };
            let size = match (s.size_before, s.size_after) {
                (Some(a), Some(b)) if a != b => {
                    let delta = b as i64 - a as i64;
                    format!(
                        "{} → {} ({}{})",
                        show_size(a),
                        show_size(b),
                        if delta >= 0 { "+" } else { "-" },
                        show_size(delta.unsigned_abs())
                    )
                }
                (_, Some(b)) => show_size(b),
                (Some(a), None) => show_size(a),
                (None, None) => String::new(),
            };
            let result = match &s.engine {
                Some(engine) => format!("{result} on {engine}"),
                None => result,
            };
            out.push_str(&format!(
                "| {} | {result} | {} | {time} | {size} |\n",
                s.name,
                s.reasons.join("; ").replace('|', "\\|")
            ));
        }
        if let Some(changes) = &self.changes {
            // One level down: the report's own title is the only `#`.
            out.push('\n');
            for line in changes.to_markdown().lines() {
                match line.strip_prefix('#') {
                    Some(rest) if line.starts_with("# ") || line.starts_with("## ") => {
                        out.push_str(&format!("##{rest}\n"))
                    }
                    _ => out.push_str(&format!("{line}\n")),
                }
            }
        }
        for s in &self.stacks {
            if let StackOutcome::Failed { reason, log_tail } = &s.outcome {
                out.push_str(&format!(
                    "\n## {} failed\n\n{reason}\n\n```text\n{}\n```\n",
                    s.name,
                    log_tail.join("\n")
                ));
            }
        }
        out
    }
}
