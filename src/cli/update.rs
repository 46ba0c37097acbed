//! `ferrostack update`: runs the library's mirror query and prints each moved pin as
//! `stack: pkg old → new`, or the report as JSON.

use ferrostack::engine::CancellationToken;
use std::collections::{BTreeMap, BTreeSet};

use ferrostack::update::{check, update, PinChange, UpdateReport};
use ferrostack::{Error, Result, Session};

/// With `locked`, only checks: any moved pin is `LockWouldChange` and nothing is written.
pub(crate) fn run(session: &Session, stacks: &[String], json: bool, locked: bool) -> Result<i32> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::io("start the async runtime", ".", e))?;
    let cancel = CancellationToken::new();
    let report = runtime.block_on(async {
        let c = cancel.clone();
        tokio::spawn(async move {
            let _ = tokio::signal::ctrl_c().await;
            c.cancel();
        });
        if locked {
            check(session, stacks, &cancel)
                .await
                .map(|(report, _)| report)
        } else {
            update(session, stacks, &cancel).await
        }
    })?;
    for note in &report.notes {
        eprintln!("note: {}: {}", note.stack, note.message);
    }
    if locked && report.would_change {
        let mut reasons: Vec<String> = report.changes.iter().map(|c| format!("  {c}")).collect();
        reasons.extend(
            report
                .notes
                .iter()
                .filter(|n| n.message.starts_with("pin "))
                .map(|n| format!("  {}: {}", n.stack, n.message)),
        );
        return Err(Error::LockWouldChange { reasons });
    }
    if json {
        super::stdout::emit(
            &(serde_json::to_string_pretty(&report).expect("an update report serialises") + "\n"),
        )?;
    } else {
        super::stdout::emit(&to_text(&report))?;
    }
    if report.written {
        eprintln!("wrote {}", session.project.lock_path().display());
    }
    Ok(0)
}

/// One line per change; a stack's dependencies pinned for the first time at the version it
/// was built with read as one line when there are more than three.
fn to_text(report: &UpdateReport) -> String {
    if report.changes.is_empty() {
        return "no changes\n".to_string();
    }
    let first_pin = |c: &&PinChange| c.dependency_of.is_some() && !c.moved();
    let mut first_pins: BTreeMap<&str, usize> = BTreeMap::new();
    for c in report.changes.iter().filter(first_pin) {
        *first_pins.entry(&c.stack).or_default() += 1;
    }
    let mut out = String::new();
    let mut summarised: BTreeSet<&str> = BTreeSet::new();
    for c in &report.changes {
        let many = first_pins.get(c.stack.as_str()).is_some_and(|n| *n > 3);
        if many && first_pin(&c) {
            if summarised.insert(&c.stack) {
                out.push_str(&format!(
                    "{}: {} dependencies now pinned\n",
                    c.stack,
                    first_pins[c.stack.as_str()]
                ));
            }
        } else {
            out.push_str(&format!("{c}\n"));
        }
    }
    out
}
