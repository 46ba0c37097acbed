//! `ferrostack cache verify|prune`: upkeep of the package cache's directory (the library's
//! `Store` does the work; this prints what it did, as text or JSON).

use std::time::Duration;

use clap::Subcommand;
use ferrostack::package_cache::Store;
use ferrostack::units::show_size;
use ferrostack::{Result, Session};

/// What to do with the package cache.
#[derive(Debug, Subcommand)]
pub(crate) enum CacheCommand {
    /// Recheck every kept file against its recorded sha256 and drop the bad ones.
    Verify {
        /// Print the report as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Remove least recently used files until the directory fits its budget.
    Prune {
        /// The budget (default `[build] package_cache_max_size`, 10 GB).
        #[arg(long, value_name = "SIZE", value_parser = super::parse_size)]
        max_size: Option<u64>,
        /// Also remove every file unused for this many days.
        #[arg(long, value_name = "DAYS")]
        older_than: Option<u64>,
        /// Print the report as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
}

pub(crate) fn run(session: &Session, command: &CacheCommand) -> Result<i32> {
    let state_dir = session.project.state_dir();
    // A build running now keeps files; wait for it.
    let _guard = ferrostack::lock::LockGuard::acquire(&state_dir.join("lock"), true)?;
    let store = Store::open(&state_dir.join("package-cache"))?;
    match command {
        CacheCommand::Verify { json } => {
            let report = store.verify()?;
            if *json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report).expect("a report serialises")
                );
            } else {
                for key in &report.dropped {
                    println!("dropped {key}");
                }
                println!(
                    "{} files good, {} dropped",
                    report.good,
                    report.dropped.len()
                );
            }
        }
        CacheCommand::Prune {
            max_size,
            older_than,
            json,
        } => {
            let max_size = max_size.unwrap_or(session.project.settings.package_cache_max_size);
            let report = store.prune(
                max_size,
                older_than.map(|d| Duration::from_secs(d * 86_400)),
            )?;
            if *json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report).expect("a report serialises")
                );
            } else {
                println!(
                    "removed {} files ({}); {} files ({}) left, budget {}",
                    report.removed,
                    show_size(report.freed),
                    report.kept,
                    show_size(report.kept_bytes),
                    show_size(max_size)
                );
            }
        }
    }
    Ok(0)
}
