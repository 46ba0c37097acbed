//! `ferrostack build`: runs the library's builder and draws its progress (bars, plain lines,
//! or JSON lines), then the summary and the failed stacks' log tails.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::ValueEnum;
use ferrostack::builder::{self, BuildOptions, Progress, Reporter, StackOutcome};
use ferrostack::engine::CancellationToken;
use ferrostack::{Error, Result, Session};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ProgressMode {
    /// Bars on a terminal, plain lines otherwise.
    Auto,
    /// One line per event (CI logs).
    Plain,
    /// One JSON object per event on stderr.
    Json,
}

fn reporter(mode: ProgressMode) -> Reporter {
    let mode = match mode {
        ProgressMode::Auto if std::io::IsTerminal::is_terminal(&std::io::stderr()) => {
            ProgressMode::Auto
        }
        ProgressMode::Auto => ProgressMode::Plain,
        m => m,
    };
    let start = Instant::now();
    match mode {
        ProgressMode::Json => Arc::new(|p: Progress| {
            eprintln!(
                "{}",
                serde_json::to_string(&p).expect("progress serialises")
            );
        }),
        ProgressMode::Plain => Arc::new(move |p: Progress| {
            let t = start.elapsed().as_secs();
            let line = match &p {
                Progress::Queued { stack } => format!("{stack}: queued"),
                Progress::Placed { stack, engine } => format!("{stack}: on {engine}"),
                Progress::WaitingForLock { path } => {
                    format!("waiting for another ferrostack run to release {path}")
                }
                Progress::Bootstrapping { stack, line } => format!("{stack}: debootstrap: {line}"),
                Progress::Step {
                    stack,
                    index,
                    total,
                    instruction,
                } => format!("{stack}: step {index}/{total}: {}", first_line(instruction)),
                Progress::Checking {
                    stack,
                    index,
                    total,
                    command,
                } => format!("{stack}: check {index}/{total}: {command}"),
                Progress::Done { stack, seconds, .. } => format!("{stack}: done in {seconds:.1} s"),
                Progress::Skipped { stack, reason } => format!("{stack}: skipped ({reason})"),
                Progress::Failed { stack, reason } => format!("{stack}: FAILED: {reason}"),
                Progress::Note { message } => message.clone(),
            };
            eprintln!("[{:>4}s] {line}", t);
        }),
        ProgressMode::Auto => {
            let multi = MultiProgress::new();
            let bars: Mutex<HashMap<String, (ProgressBar, Instant)>> = Mutex::new(HashMap::new());
            let style =
                ProgressStyle::with_template("{spinner} {prefix:<18} [{elapsed:>4}] {wide_msg}")
                    .expect("valid template");
            Arc::new(move |p: Progress| {
                let Some(stack) = p.stack().map(str::to_string) else {
                    let line = match &p {
                        Progress::WaitingForLock { path } => {
                            format!("waiting for another ferrostack run to release {path}")
                        }
                        Progress::Note { message } => message.clone(),
                        other => format!("{other:?}"),
                    };
                    let _ = multi.println(line);
                    return;
                };
                let mut bars = bars.lock().expect("progress lock");
                let (bar, _) = bars.entry(stack.clone()).or_insert_with(|| {
                    let b = multi.add(
                        ProgressBar::new_spinner()
                            .with_style(style.clone())
                            .with_prefix(stack.clone()),
                    );
                    b.enable_steady_tick(Duration::from_millis(200));
                    (b, Instant::now())
                });
                match p {
                    Progress::Queued { .. } => bar.set_message("queued"),
                    Progress::Placed { engine, .. } => bar.set_message(format!("on {engine}")),
                    Progress::WaitingForLock { .. } | Progress::Note { .. } => {}
                    Progress::Bootstrapping { line, .. } => {
                        bar.set_message(format!("debootstrap: {}", first_line(&line)))
                    }
                    Progress::Step {
                        index,
                        total,
                        instruction,
                        ..
                    } => bar.set_message(format!(
                        "building step {index}/{total}: {}",
                        first_line(&instruction)
                    )),
                    Progress::Checking {
                        index,
                        total,
                        command,
                        ..
                    } => bar.set_message(format!("checking {index}/{total}: {command}")),
                    Progress::Done { seconds, .. } => {
                        bar.finish_with_message(format!("done ({seconds:.1} s)"))
                    }
                    Progress::Skipped { reason, .. } => {
                        bar.finish_with_message(format!("skipped: {reason}"))
                    }
                    Progress::Failed { reason, .. } => {
                        bar.finish_with_message(format!("FAILED: {}", first_line(&reason)))
                    }
                }
            })
        }
    }
}

fn first_line(s: &str) -> &str {
    let l = s.lines().next().unwrap_or("");
    if l.len() > 100 {
        &l[..l.char_indices().nth(100).map_or(l.len(), |(i, _)| i)]
    } else {
        l
    }
}

/// When tags move (`--promote`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum PromoteMode {
    /// Tag each stack as soon as it passes its checks.
    Each,
    /// Move tags (and write the lock) only if every selected stack built and passed.
    AllOrNothing,
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn run(
    session: &Session,
    names: &[String],
    jobs: Option<usize>,
    keep_going: bool,
    mode: ProgressMode,
    json: bool,
    promote: PromoteMode,
    report_file: Option<&std::path::Path>,
) -> Result<i32> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::io("start the async runtime", ".", e))?;
    let cancel = CancellationToken::new();
    let mut options = BuildOptions {
        keep_going,
        ..BuildOptions::default()
    };
    if promote == PromoteMode::AllOrNothing {
        options.promote = builder::Promote::AllOrNothing;
        // Nothing moves unless everything passes, so there is no point stopping early.
        options.keep_going = true;
    }
    if let Some(j) = jobs {
        options.jobs = j;
    }
    let report = runtime.block_on(async {
        let c = cancel.clone();
        tokio::spawn(async move {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("SIGTERM handler");
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {},
                _ = term.recv() => {},
            }
            c.cancel();
        });
        builder::build(session, names, &options, cancel.clone(), reporter(mode)).await
    })?;
    if json {
        super::stdout::emit(
            &(serde_json::to_string_pretty(&report).expect("report serialises") + "\n"),
        )?;
    }
    if let Some(path) = report_file {
        let text = if path.extension().is_some_and(|e| e == "json") {
            serde_json::to_string_pretty(&report).expect("report serialises") + "\n"
        } else {
            report.to_markdown()
        };
        std::fs::write(path, text).map_err(|e| Error::io("write the report", path, e))?;
        eprintln!("report written to {}", path.display());
    }
    if let Some(e) = &report.promotion_error {
        eprintln!("promotion at the registry failed: {e}");
    } else if report.promote == builder::Promote::AllOrNothing && !report.promoted {
        eprintln!("promotion all-or-nothing: not every stack passed, so no tag moved and images.lock is unchanged");
    }
    for m in &report.tag_moves {
        eprintln!(
            "registry tag {}: {} → {} ({})",
            m.tag,
            m.from.as_deref().unwrap_or("(new)"),
            m.to,
            m.stack
        );
    }
    let mut built = 0;
    let mut cached = 0;
    let mut up = 0;
    let mut skipped = 0;
    for s in &report.stacks {
        let name = &s.name;
        match &s.outcome {
            StackOutcome::Built { cached: true, .. } => cached += 1,
            StackOutcome::Built { .. } => built += 1,
            StackOutcome::UpToDate => up += 1,
            StackOutcome::Skipped { .. } => skipped += 1,
            StackOutcome::Failed { reason, log_tail } => {
                eprintln!("\n── {name} failed: {reason}");
                for l in log_tail {
                    eprintln!("   {l}");
                }
                eprintln!(
                    "   (full log: {})",
                    session
                        .project
                        .state_dir()
                        .join("logs")
                        .join(format!("{name}.log"))
                        .display()
                );
            }
        }
    }
    let failed = report.failed();
    eprintln!("{built} built, {cached} found in engine, {up} up-to-date, {skipped} skipped, {failed} failed");
    if report.interrupted {
        return Err(Error::Interrupted);
    }
    if failed > 0 {
        return Err(Error::BuildFailed {
            failed,
            total: report.stacks.len(),
        });
    }
    if report.promotion_error.is_some() {
        return Ok(1);
    }
    Ok(0)
}

/// Asks the engine which planned images it has ("image not in engine" otherwise). With no
/// engine answering, says so and leaves the plan as the lock alone makes it.
pub(crate) fn check_engine(
    plan: &mut ferrostack::plan::Plan,
    repository: &str,
    registry: Option<&ferrostack::registry::Shipping>,
    engines: &[ferrostack::fleet::EngineSpec],
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(_) => return,
    };
    let result: std::result::Result<(), ferrostack::engine::EngineError> =
        runtime.block_on(async {
            let engine = ferrostack::fleet::Roster::first_engine(engines).await?;
            let index = builder::hashes_of_plan(&engine, repository, plan).await?;
            // The registry is asked only for what the engine lacks (one lookup each, at once).
            let in_registry = match registry {
                Some(shipping) => {
                    let missing: Vec<(String, String)> = plan
                        .stacks
                        .iter()
                        .filter(|s| {
                            s.action == ferrostack::plan::Action::UpToDate
                                && !index.contains_key(&s.hash)
                        })
                        .map(|s| (s.name.clone(), s.hash.clone()))
                        .collect();
                    shipping.find(&engine, &missing).await?
                }
                None => Default::default(),
            };
            builder::check_plan(&index, &in_registry, plan);
            Ok(())
        });
    if let Err(e) = result {
        eprintln!("warning: {e}; planned from images.lock alone (`--offline` skips this check)");
    }
}

/// `ferrostack run`: streams the command's output, reports limits, returns its exit code. A
/// SIGINT, SIGTERM or SIGHUP removes the container first and exits with 128 + the signal.
pub(crate) fn run_worker(
    session: &Session,
    run: &ferrostack::worker_run::WorkerRun,
) -> Result<i32> {
    use ferrostack::engine::OutputStream;
    use ferrostack::worker_run::{exit_code, run_worker};
    use std::io::Write;
    use std::sync::atomic::{AtomicI32, Ordering};
    use tokio::signal::unix::{signal, SignalKind};

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::io("start the async runtime", ".", e))?;
    let cancel = CancellationToken::new();
    let received = Arc::new(AtomicI32::new(0));
    let mut written: Result<()> = Ok(());
    let outcome = runtime.block_on(async {
        for (kind, number) in [
            (SignalKind::interrupt(), 2),
            (SignalKind::terminate(), 15),
            (SignalKind::hangup(), 1),
        ] {
            let mut stream =
                signal(kind).map_err(|e| Error::io("handle signals", "<signals>", e))?;
            let (c, received) = (cancel.clone(), received.clone());
            tokio::spawn(async move {
                if stream.recv().await.is_some() {
                    let _ =
                        received.compare_exchange(0, number, Ordering::SeqCst, Ordering::SeqCst);
                    c.cancel();
                }
            });
        }
        let mut sink = |stream: OutputStream, bytes: &[u8]| {
            let result = match stream {
                OutputStream::Stdout => super::stdout::emit_bytes(bytes),
                // stderr is unbuffered; a closed one is not worth stopping the work for.
                OutputStream::Stderr => {
                    let _ = std::io::stderr().write_all(bytes);
                    Ok(())
                }
            };
            if written.is_ok() {
                written = result;
            }
        };
        run_worker(session, run, &cancel, &mut sink).await
    });
    let number = received.load(Ordering::SeqCst);
    match outcome {
        Err(Error::Engine(ferrostack::engine::EngineError::Cancelled { .. })) if number != 0 => {
            let name = match number {
                2 => "SIGINT",
                15 => "SIGTERM",
                _ => "SIGHUP",
            };
            eprintln!(
                "ferrostack: {name}: the container of `{}` was stopped and removed",
                run.stack
            );
            Ok(128 + number)
        }
        Err(e) => Err(e),
        Ok(outcome) => {
            written?;
            if outcome.timed_out {
                eprintln!(
                    "ferrostack: `{}` was killed at its timeout of {:?}",
                    run.stack,
                    run.timeout.unwrap_or_default()
                );
            } else if outcome.oom_killed {
                eprintln!(
                    "ferrostack: `{}` ran out of memory (limit {})",
                    run.stack,
                    run.memory
                        .map_or("none".into(), ferrostack::units::show_size)
                );
            }
            Ok(exit_code(&outcome))
        }
    }
}
