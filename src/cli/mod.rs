//! Command-line arguments (clap) and the dispatch to each subcommand.

mod build;
mod cache;
mod graph;
mod render;
mod simulate;
mod stdout;
mod update;

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use ferrostack::{Error, Project, Result, Session};

/// Declarative worker stacks: TOML definitions → layered Dockerfiles → content hashes → builds.
#[derive(Debug, Parser)]
#[command(name = "ferrostack", version, about, propagate_version = true)]
pub struct Cli {
    /// Project root (holds `stacks/`, `templates/`, `images.lock`).
    #[arg(
        short = 'C',
        long = "root",
        global = true,
        default_value = ".",
        value_name = "DIR"
    )]
    root: PathBuf,
    /// Fail, with the reason, when `images.lock` would change.
    #[arg(long, global = true)]
    locked: bool,
    /// Image repository stacks are tagged into (`<repository>:<stack>`); overrides
    /// `ferrostack.toml` and FERROSTACK_REPOSITORY.
    #[arg(long, global = true, value_name = "REPO")]
    repository: Option<String>,
    /// Registry images are pushed to and looked up in (`host:port/path`); overrides
    /// `ferrostack.toml` and FERROSTACK_REGISTRY.
    #[arg(long, global = true, value_name = "HOST[:PORT][/PATH]")]
    registry: Option<String>,
    /// Speak plain HTTP to the registry although it is not on loopback (the engines need it in
    /// their `insecure-registries` too); overrides `registry_insecure` and
    /// FERROSTACK_REGISTRY_INSECURE.
    #[arg(long, global = true)]
    registry_insecure: bool,
    /// An engine to build on (`unix:///path`, `tcp://host:port`); repeat it to spread a build
    /// over several (they need a registry). Overrides `[[engine]]` and FERROSTACK_ENGINES.
    #[arg(long = "engine", global = true, value_name = "ADDR")]
    engines: Vec<String>,
    /// A PEM CA bundle the images trust (TLS-intercepting proxies); overrides
    /// `ferrostack.toml` and FERROSTACK_CA_BUNDLE.
    #[arg(long, global = true, value_name = "FILE")]
    ca_bundle: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List every stack (after matrix expansion) with its parent, tags and source file.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Write each stack's Dockerfile and build context to `DIR/<stack>/`.
    Render {
        /// Stacks to render (default: all).
        stacks: Vec<String>,
        /// Output directory.
        #[arg(long, default_value = "rendered", value_name = "DIR")]
        out: PathBuf,
        /// Compare with the files in DIR instead of writing; exit 1 when they differ.
        #[arg(long)]
        check: bool,
    },
    /// Show each stack's hash and whether it needs building, and why.
    Plan {
        /// Stacks to plan (default: all); their parents are included.
        stacks: Vec<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Plan from images.lock alone, without asking the Docker engine which images it has.
        #[arg(long)]
        offline: bool,
        /// Instead of the plan, simulate a full build of the stacks on ENGINES engines with
        /// SLOTS slots each (default: this machine's CPU count), with the build times in
        /// images.lock; print each engine's timeline and the makespan. Needs no engine.
        #[arg(long, value_name = "ENGINES[xSLOTS]")]
        simulate: Option<ferrostack::scheduler::Shape>,
        /// With `--simulate`: how fast an engine pulls a parent it did not build.
        #[arg(
            long,
            value_name = "RATE",
            requires = "simulate",
            default_value = "100MB/s"
        )]
        pull_rate: ferrostack::scheduler::PullRate,
    },
    /// Build what the plan says through the Docker engine, check, tag and record it.
    Build {
        /// Stacks to build (default: all); their parents are included.
        stacks: Vec<String>,
        /// Stacks built at once (default: the number of CPUs).
        #[arg(long, short = 'j', value_name = "N")]
        jobs: Option<usize>,
        /// After a failure, go on building the other branches.
        #[arg(long)]
        keep_going: bool,
        /// Progress display.
        #[arg(long, value_enum, default_value_t = build::ProgressMode::Auto)]
        progress: build::ProgressMode,
        /// Print the build report as JSON on stdout.
        #[arg(long)]
        json: bool,
        /// Write a report (built, skipped, failed, why, durations, size changes): Markdown, or
        /// JSON when FILE ends in `.json`.
        #[arg(long, value_name = "FILE")]
        report: Option<PathBuf>,
        /// When tags move: `each` as stacks pass, or `all-or-nothing` after every selected
        /// stack built and passed (otherwise no tag moves and the lock is unchanged).
        #[arg(long, value_enum, default_value_t = build::PromoteMode::Each)]
        promote: build::PromoteMode,
        /// Build without the package cache (the proxy that keeps Debian's packages for every
        /// build); same as `[build] package_cache = false` or FERROSTACK_PACKAGE_CACHE=0.
        #[arg(long)]
        no_package_cache: bool,
    },
    /// Run a command in a stack's image as a worker platform would (limits, payload, cleanup).
    Run {
        /// The stack whose image runs the command.
        stack: String,
        /// Memory limit, swap included (e.g. `512m`, `1GiB`; at least 6MiB).
        #[arg(long, value_name = "SIZE", value_parser = parse_memory)]
        memory: Option<u64>,
        /// Hard wall-clock limit (e.g. `30s`, `5m`; at most 30 days); the container is killed then.
        #[arg(long, value_name = "DURATION", value_parser = parse_timeout)]
        timeout: Option<std::time::Duration>,
        /// Processes and threads the command may have at once (stops fork bombs).
        #[arg(long, value_name = "N", default_value_t = ferrostack::engine::Sandbox::DEFAULT_PIDS, value_parser = clap::value_parser!(i64).range(1..=4_194_304))]
        pids: i64,
        /// Mount the image's filesystem read-only; `/tmp` is then an empty tmpfs.
        #[arg(long)]
        read_only: bool,
        /// The container's network: `bridge` (outbound access) or `none` (loopback only).
        #[arg(long, value_enum, default_value_t = RunNetwork::Bridge)]
        network: RunNetwork,
        /// Run as this user (`uid[:gid]` or a name in the image); default the image's.
        #[arg(long, value_name = "USER")]
        user: Option<String>,
        /// A payload file, mounted read-only at `/run/ferrostack/payload.<ext>` ($PAYLOAD_FILE).
        #[arg(long, value_name = "FILE")]
        payload: Option<PathBuf>,
        /// A directory mounted read-write at `/data` (the working directory).
        #[arg(long, value_name = "DIR")]
        mount: Option<PathBuf>,
        /// Environment variables for the command.
        #[arg(long = "env", short = 'e', value_name = "KEY=VALUE", value_parser = parse_env)]
        env: Vec<(String, String)>,
        /// The command and its arguments.
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// Show the stack tree.
    Graph {
        #[arg(long, value_enum, default_value_t = GraphFormat::Text)]
        format: GraphFormat,
    },
    /// Record the current hashes in `images.lock` without building (adopts existing images).
    Lock,
    /// Write each stack's SBOM (SPDX 2.3 JSON, or CycloneDX 1.5 JSON) from `images.lock`: its
    /// Debian packages, runtimes, and the bundled media helper's crates. Needs no engine.
    Sbom {
        /// Stacks (default: every stack the lock records).
        stacks: Vec<String>,
        /// Document format.
        #[arg(long, value_enum, default_value = "spdx")]
        format: SbomFormatArg,
        /// Directory written to (default `target/ferrostack/sbom`); `-` prints one stack's
        /// document on stdout.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// What changed between two locks: per stack, Debian packages added, removed and moved
    /// (with their source packages), runtimes, size, hash and digest. Reads only the two locks.
    Diff {
        /// The older lock: a file or a git revision of the project (default `HEAD`).
        old: Option<String>,
        /// The newer lock: a file or a git revision (default: the working tree's `images.lock`).
        new: Option<String>,
        /// Only these stacks.
        #[arg(long = "stack", value_name = "STACK")]
        stacks: Vec<String>,
        /// Print JSON instead of Markdown.
        #[arg(long)]
        json: bool,
        /// Exit 1 when something changed (as `git diff --exit-code`).
        #[arg(long)]
        exit_code: bool,
    },
    /// Ask Debian's mirror which versions of each stack's packages would be installed today
    /// and pin them in `images.lock`; moved pins make `plan` say `build`. With `--locked`,
    /// fail when a pin would move, without writing.
    Update {
        /// Stacks to update (default: all); their parents are included.
        stacks: Vec<String>,
        /// Print the report as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Look after the package cache's directory: `verify` rechecks every kept file, `prune`
    /// keeps it within its budget.
    Cache {
        #[command(subcommand)]
        command: cache::CacheCommand,
    },
}

/// `ferrostack run --network`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum RunNetwork {
    /// The engine's default bridge: the command can reach out (fetch work, post results).
    Bridge,
    /// Loopback only.
    None,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum SbomFormatArg {
    Spdx,
    Cyclonedx,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum GraphFormat {
    Text,
    Dot,
    Mermaid,
}

/// Runs the command line; returns the process exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            report(&e);
            e.exit_code()
        }
    }
}

/// Prints an error as a miette report on stderr.
pub(crate) fn report(e: &Error) {
    let handler = miette::GraphicalReportHandler::new().with_theme(
        if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            miette::GraphicalTheme::unicode()
        } else {
            miette::GraphicalTheme::unicode_nocolor()
        },
    );
    let mut out = String::new();
    if handler.render_report(&mut out, e).is_err() {
        out = format!("error: {e}\n");
    }
    eprint!("{out}");
}

/// `ferrostack sbom`.
fn sbom(
    session: &Session,
    stacks: &[String],
    format: SbomFormatArg,
    out: Option<&std::path::Path>,
) -> Result<i32> {
    use ferrostack::sbom::SbomFormat;
    let format = match format {
        SbomFormatArg::Spdx => SbomFormat::Spdx,
        SbomFormatArg::Cyclonedx => SbomFormat::CycloneDx,
    };
    let lock = session.lock.clone().ok_or_else(|| Error::Settings {
        message: "there is no images.lock: nothing was built".into(),
        help: Some("run `ferrostack build` first".into()),
    })?;
    let names: Vec<String> = if stacks.is_empty() {
        lock.stacks.keys().cloned().collect()
    } else {
        stacks.to_vec()
    };
    if out == Some(std::path::Path::new("-")) {
        let [one] = &names[..] else {
            return Err(Error::Settings {
                message: format!(
                    "`--out -` prints one document, and {} stacks are selected",
                    names.len()
                ),
                help: Some("name one stack, or write to a directory".into()),
            });
        };
        stdout::emit(&ferrostack::sbom::document(session, &lock, one, format)?)?;
        return Ok(0);
    }
    let dir = out
        .map(|o| session.project.root.join(o))
        .unwrap_or_else(|| session.project.state_dir().join("sbom"));
    for path in ferrostack::sbom::write(session, &lock, &names, format, &dir)? {
        stdout::emit(&format!("{}\n", path.display()))?;
    }
    Ok(0)
}

/// `ferrostack diff`: needs no definitions, no engine, only the two locks.
fn diff(
    root: &std::path::Path,
    old: Option<&str>,
    new: Option<&str>,
    stacks: &[String],
    json: bool,
    exit_code: bool,
) -> Result<i32> {
    use ferrostack::diff::{LockDiff, LockSource};
    let root = root
        .canonicalize()
        .map_err(|e| Error::io("open project root", root, e))?;
    let lock_path = root.join(ferrostack::project::LOCK_FILE);
    let old = LockSource::parse(old.unwrap_or("HEAD"), &root);
    let new = match new {
        Some(n) => LockSource::parse(n, &root),
        None => LockSource::File(lock_path.clone()),
    };
    let only: Option<std::collections::BTreeSet<String>> =
        (!stacks.is_empty()).then(|| stacks.iter().cloned().collect());
    let (new_label, old_label) = (
        if new == LockSource::File(lock_path.clone()) {
            "working tree".to_string()
        } else {
            new.label()
        },
        old.label(),
    );
    let changes = LockDiff::between(
        &old.read(&lock_path)?,
        &new.read(&lock_path)?,
        &old_label,
        &new_label,
        only.as_ref(),
    );
    let text = if json {
        format!(
            "{}\n",
            serde_json::to_string_pretty(&changes).expect("a diff serialises")
        )
    } else {
        changes.to_markdown()
    };
    stdout::emit(&text)?;
    Ok(if exit_code && !changes.is_empty() {
        1
    } else {
        0
    })
}

fn open(cli: &Cli) -> Result<Session> {
    let mut project = Project::open(&cli.root)?;
    if let Some(r) = &cli.repository {
        project.settings.repository = r.clone();
    }
    if let Some(c) = &cli.ca_bundle {
        project.settings.ca_bundle = Some(c.clone());
    }
    if let Some(r) = &cli.registry {
        project.settings.registry = Some(r.clone());
    }
    if cli.registry_insecure {
        project.settings.registry_insecure = true;
    }
    if !cli.engines.is_empty() {
        project.settings.engines = cli
            .engines
            .iter()
            .map(|a| ferrostack::fleet::EngineSpec::at(a))
            .collect();
    }
    if let Command::Build {
        no_package_cache: true,
        ..
    } = cli.command
    {
        project.settings.package_cache = false;
    }
    project.check_settings()?;
    let session = Session::open(project)?;
    // `update --locked` checks its own pins instead (a stale hash is not its business).
    if cli.locked && !matches!(cli.command, Command::Update { .. }) {
        session.ensure_locked()?;
    }
    Ok(session)
}

fn run(cli: Cli) -> Result<i32> {
    let session = match &cli.command {
        Command::Diff {
            old,
            new,
            stacks,
            json,
            exit_code,
        } => {
            return diff(
                &cli.root,
                old.as_deref(),
                new.as_deref(),
                stacks,
                *json,
                *exit_code,
            )
        }
        _ => open(&cli)?,
    };
    if let Command::Plan { stacks, .. } | Command::Build { stacks, .. } = &cli.command {
        for s in session.catalogue.select(stacks)? {
            if s.status == ferrostack::stack::Status::Deprecated {
                eprintln!("warning: stack `{}` is deprecated ({})", s.name, s.source);
            }
        }
    }
    match &cli.command {
        Command::List { json } => list(&session, *json),
        Command::Render { stacks, out, check } => {
            render::run(&session, stacks, &cli.root.join(out), *check)
        }
        Command::Plan {
            stacks,
            json,
            simulate: Some(shape),
            pull_rate,
            ..
        } => simulate::run(&session, stacks, *shape, *pull_rate, *json),
        Command::Plan {
            stacks,
            json,
            offline,
            ..
        } => {
            let (mut plan, _) = session.plan(stacks)?;
            if !offline {
                let shipping = match session.project.settings.registry_address() {
                    Some(address) => Some(ferrostack::registry::Shipping::new(
                        address,
                        &session.project.settings.repository,
                        session.project.settings.ca_bundle.as_deref(),
                    )?),
                    None => None,
                };
                build::check_engine(
                    &mut plan,
                    &session.project.settings.repository,
                    shipping.as_ref(),
                    &session.project.settings.engines,
                );
            }
            if *json {
                stdout::emit(
                    &(serde_json::to_string_pretty(&plan).expect("a plan serialises") + "\n"),
                )?;
            } else {
                stdout::emit(&plan.to_text())?;
            }
            Ok(0)
        }
        Command::Build {
            stacks,
            jobs,
            keep_going,
            progress,
            json,
            report,
            promote,
            ..
        } => build::run(
            &session,
            stacks,
            *jobs,
            *keep_going,
            *progress,
            *json,
            *promote,
            report.as_deref(),
        ),
        Command::Run {
            stack,
            memory,
            timeout,
            pids,
            read_only,
            network,
            user,
            payload,
            mount,
            env,
            command,
        } => {
            let run = ferrostack::worker_run::WorkerRun {
                stack: stack.clone(),
                command: command.clone(),
                memory: *memory,
                timeout: *timeout,
                payload: payload.clone(),
                mount: mount.clone(),
                env: env.iter().cloned().collect(),
                user: user.clone(),
                sandbox: ferrostack::engine::Sandbox {
                    pids_limit: *pids,
                    capabilities: Vec::new(),
                    read_only_root: *read_only,
                    network: match network {
                        RunNetwork::Bridge => ferrostack::engine::SandboxNetwork::Bridge,
                        RunNetwork::None => ferrostack::engine::SandboxNetwork::None,
                    },
                },
            };
            build::run_worker(&session, &run)
        }
        Command::Graph { format } => {
            stdout::emit(&graph::draw(&session, *format))?;
            Ok(0)
        }
        Command::Diff { .. } => unreachable!("answered before the session opens"),
        Command::Sbom {
            stacks,
            format,
            out,
        } => sbom(&session, stacks, *format, out.as_deref()),
        Command::Lock => {
            let _guard = ferrostack::lock::LockGuard::acquire(
                &session.project.state_dir().join("lock"),
                true,
            )?;
            let prepared = session.prepare(&[])?;
            let names: Vec<String> = prepared.keys().cloned().collect();
            let entries: Vec<_> = prepared.values().map(|p| session.entry_for(p)).collect();
            let lock = session.updated_lock(entries, names);
            lock.write_atomic(&session.project.lock_path())?;
            eprintln!(
                "wrote {} ({} stacks)",
                session.project.lock_path().display(),
                lock.stacks.len()
            );
            Ok(0)
        }
        Command::Update { stacks, json } => update::run(&session, stacks, *json, cli.locked),
        Command::Cache { command } => cache::run(&session, command),
    }
}

fn list(session: &Session, json: bool) -> Result<i32> {
    let stacks = session.catalogue.in_order();
    if json {
        let rows: Vec<serde_json::Value> = stacks
            .iter()
            .map(|s| {
                serde_json::json!({
                    "name": s.name,
                    "parent": s.parent(),
                    "suite": s.suite,
                    "tags": s.tags,
                    "source": s.source,
                    "description": s.description,
                })
            })
            .collect();
        stdout::emit(&(serde_json::to_string_pretty(&rows).expect("rows serialise") + "\n"))?;
        return Ok(0);
    }
    let w = stacks
        .iter()
        .map(|s| s.name.len())
        .max()
        .unwrap_or(4)
        .max(5);
    let pw = stacks
        .iter()
        .filter_map(|s| s.parent())
        .map(str::len)
        .max()
        .unwrap_or(6)
        .max(6);
    let mut out = format!(
        "{:<w$}  {:<pw$}  {:<18}  TAGS\n",
        "STACK", "PARENT", "SOURCE"
    );
    for s in stacks {
        let parent = match &s.origin {
            ferrostack::stack::Origin::Parent { name } => name.clone(),
            ferrostack::stack::Origin::Image { .. } => "(image)".into(),
            ferrostack::stack::Origin::Bootstrap(_) => "(bootstrap)".into(),
        };
        out.push_str(&format!(
            "{:<w$}  {:<pw$}  {:<18}  {}\n",
            s.name,
            parent,
            s.source,
            s.tags.join(", ")
        ));
    }
    stdout::emit(&out)?;
    Ok(0)
}

fn parse_size(s: &str) -> std::result::Result<u64, String> {
    ferrostack::units::parse_size(s)
}

fn parse_memory(s: &str) -> std::result::Result<u64, String> {
    ferrostack::units::parse_size(s).and_then(ferrostack::worker_run::check_memory)
}

fn parse_timeout(s: &str) -> std::result::Result<std::time::Duration, String> {
    ferrostack::units::parse_duration(s).and_then(ferrostack::worker_run::check_timeout)
}

fn parse_env(s: &str) -> std::result::Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("`{s}` is not KEY=VALUE"))
}
