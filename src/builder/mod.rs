//! `ferrostack build`: builds the plan through the engine in dependency order, independent
//! stacks in parallel; runs checks; tags; records each finished stack in `images.lock`.

mod engine_index;
mod facts_cache;
mod image_facts;
mod inspect;
mod order;
mod outcome;
mod progress;
mod push;

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

pub use engine_index::{check_plan, hashes_in_engine, hashes_of_plan};
pub(crate) use order::heaviest_first;
pub use outcome::{BuildReport, Promote, StackOutcome, StackReport};
pub use progress::Progress;

use crate::engine::{
    self, BuildEvent, BuildRequest, CancellationToken, Engine, EngineError, RunRequest, HASH_LABEL,
};
use crate::error::{Error, Result};
use crate::fleet::{Roster, Watchdog};
use crate::hash::Prepared;
use crate::lock::{LockEntry, LockGuard};
use crate::package_cache::{CacheConfig, PackageCache, Store, Subnet, PROXY_BUILD_ARG};
use crate::plan::{Action, Found};
use crate::registry::Shipping;
use crate::render::ROOTFS_FILE;
use crate::scheduler::{place, pull_bytes, Candidate};
use crate::session::Session;
use crate::stack::{Origin, Stack};

/// Memory limit for smoke checks and inspection commands.
pub const CHECK_MEMORY: u64 = 2 << 30;
/// Lines of a failed stack's log shown at the end.
pub const FAILURE_TAIL: usize = 50;
/// How often the engines of a multi-engine build are pinged (two missed pings give one up).
const WATCHDOG_EVERY: Duration = Duration::from_secs(3);

/// How to build.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// Stacks built at once.
    pub jobs: usize,
    /// Go on with other branches after a failure.
    pub keep_going: bool,
    /// Wait for another process holding the lock instead of failing.
    pub wait_for_lock: bool,
    /// When tags move.
    pub promote: Promote,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            jobs: std::thread::available_parallelism().map_or(2, |n| n.get()),
            keep_going: false,
            wait_for_lock: true,
            promote: Promote::Each,
        }
    }
}

/// Reports progress to the caller.
pub type Reporter = Arc<dyn Fn(Progress) + Send + Sync>;

/// What a finished stack hands back to the scheduler.
struct Finished {
    image: String,
    /// The parent this engine pulled (name, reference), when it did.
    pulled_parent: Option<(String, String)>,
    entry: LockEntry,
    cached: bool,
    seconds: f64,
}

/// A failed stack: why, and the end of its log.
struct Failure {
    reason: String,
    log_tail: Vec<String>,
}

/// Everything one stack's build needs, owned, so it can run on its own task.
struct Job {
    engine: Arc<Engine>,
    /// The network its `RUN` steps use on that engine.
    network: Option<String>,
    stack: Stack,
    prepared: Prepared,
    entry: LockEntry,
    parent_image: Option<String>,
    repository: String,
    /// The media helper binary, built once per run for every stack that bundles it.
    helper: Arc<HelperCell>,
    /// Release tarballs (npm), fetched and unpacked once per run for every stack that has them.
    releases: Arc<ReleaseCell>,
    /// Where releases are fetched from, and the CA bundle trusted on the way.
    npm_registry: String,
    ca_bundle: Option<PathBuf>,
    /// What each parent image holds, read once per run for all its children.
    parents: Arc<facts_cache::FactsCache>,
    media_crate: Option<PathBuf>,
    /// The package cache's URL, passed as the `http_proxy` build argument.
    package_proxy: Option<String>,
    /// Tag as soon as the checks pass (otherwise the scheduler promotes at the end).
    tag: bool,
    /// The registry the checked image is pushed to.
    shipping: Option<Arc<Shipping>>,
    /// The parent's manifest digest, when the parent is only in the registry (pulled first).
    parent_digest: Option<String>,
    state_dir: PathBuf,
    cancel: CancellationToken,
    report: Reporter,
}

/// Builds the named stacks (all when empty) and what they need, then records them.
pub async fn build(
    session: &Session,
    names: &[String],
    options: &BuildOptions,
    cancel: CancellationToken,
    report: Reporter,
) -> Result<BuildReport> {
    let state_dir = session.project.state_dir();
    let guard_path = state_dir.join("lock");
    let _guard = match LockGuard::acquire(&guard_path, false) {
        Ok(g) => g,
        Err(Error::LockBusy { .. }) if options.wait_for_lock => {
            report(Progress::WaitingForLock {
                path: guard_path.display().to_string(),
            });
            LockGuard::acquire(&guard_path, true)?
        }
        Err(e) => return Err(e),
    };
    // Holding the guard, no other run uses the work dir: remove what a killed run left there.
    match engine::remove_stale_trees(&state_dir.join("tmp")) {
        Ok(0) => {}
        Ok(n) => report(Progress::Note {
            message: format!("removed {n} temporary trees left by an interrupted run"),
        }),
        Err(e) => report(Progress::Note {
            message: format!("could not remove what an interrupted run left: {e}"),
        }),
    }
    // Re-read the lock now that we hold it: another run may have just written it.
    let session = Session::open(session.project.clone())?;
    let shipping = match session.project.settings.registry_address() {
        Some(address) => Some(Arc::new(Shipping::new(
            address,
            &session.project.settings.repository,
            session.project.settings.ca_bundle.as_deref(),
        )?)),
        None => None,
    };
    let specs = &session.project.settings.engines;
    if specs.len() > 1 && shipping.is_none() {
        return Err(Error::Settings {
            message: format!("a build over {} engines needs a registry: it is how a stack built on one engine reaches its children on another", specs.len()),
            help: Some("set `registry = \"host:port/path\"` in ferrostack.toml, FERROSTACK_REGISTRY or `--registry`, or list one engine".into()),
        });
    }
    let mut roster = {
        let report = Arc::clone(&report);
        Roster::connect(specs, options.jobs, &cancel, move |message| {
            report(Progress::Note { message })
        })
        .await?
    };
    let engine = Arc::clone(roster.primary());
    let (mut plan, prepared) = session.plan(names)?;
    // "up-to-date" also needs the image in the engine, or in the registry.
    let index = engine::retry(3, Duration::from_millis(500), || {
        hashes_of_plan(&engine, &session.project.settings.repository, &plan)
    })
    .await?;
    // Every up-to-date stack is looked up (all at once): one found only in the engine is
    // pushed below, so the registry ends up with the whole family.
    let in_registry = match &shipping {
        Some(shipping) => {
            let candidates: Vec<(String, String)> = plan
                .stacks
                .iter()
                .filter(|s| s.action == Action::UpToDate)
                .map(|s| (s.name.clone(), s.hash.clone()))
                .collect();
            shipping.find(&engine, &candidates).await?
        }
        None => HashMap::new(),
    };
    let mut images = check_plan(&index, &in_registry, &mut plan);
    for (name, id) in &images {
        roster.hold(0, name, id);
    }
    // What the other engines already hold: a stack goes where its parent is.
    for i in 1..roster.members.len() {
        match hashes_in_engine(&roster.members[i].engine).await {
            Ok(held) => {
                for s in &plan.stacks {
                    if let Some(id) = held.get(&s.hash) {
                        roster.hold(i, &s.name, id);
                    }
                }
            }
            Err(e) => report(Progress::Note {
                message: format!(
                    "{}: cannot list its images ({e}); taking it to hold none",
                    roster.members[i].label()
                ),
            }),
        }
    }
    // Manifest digests known so far (the registry's, then each stack pushed this run): a
    // stack built on an engine without its parent pulls the parent by this digest.
    let mut digests: HashMap<String, String> = in_registry.clone();
    let needs_cache = session.project.settings.package_cache
        && plan.stacks.iter().any(|s| s.action == Action::Build);
    let package_cache = if needs_cache {
        start_package_cache(&engine, &session, &state_dir, &report).await
    } else {
        None
    };
    let package_proxy = package_cache.as_ref().map(PackageCache::url);
    let mut lock = session.updated_lock(Vec::new(), Vec::new());
    let mut outcomes: BTreeMap<String, StackOutcome> = BTreeMap::new();
    let mut waiting: Vec<String> = Vec::new();
    let mut to_push: Vec<push::Pending> = Vec::new();
    for s in &plan.stacks {
        if s.action == Action::Eol {
            report(Progress::Skipped {
                stack: s.name.clone(),
                reason: "end of life (status = \"eol\")".into(),
            });
            outcomes.insert(
                s.name.clone(),
                StackOutcome::Skipped {
                    reason: "end of life".into(),
                },
            );
        } else if s.action == Action::UpToDate {
            outcomes.insert(s.name.clone(), StackOutcome::UpToDate);
            let place = if s.found == Some(Found::Registry) {
                "up-to-date (registry)"
            } else {
                "up-to-date"
            };
            report(Progress::Skipped {
                stack: s.name.clone(),
                reason: place.into(),
            });
            // Make sure of its tags (cheap, idempotent).
            if let Some(id) = images.get(&s.name) {
                let stack = session
                    .catalogue
                    .get(&s.name)
                    .expect("planned stacks exist");
                tag_all(&engine, id, &session.project.settings.repository, stack).await?;
            }
            // The registry's digest is what the lock names; a stack only the engine has is
            // pushed below, with the others like it.
            if shipping.is_some() {
                match (in_registry.get(&s.name), images.get(&s.name)) {
                    (Some(digest), _) => {
                        digests.insert(s.name.clone(), digest.clone());
                    }
                    (None, Some(id)) => {
                        let size = session
                            .lock
                            .as_ref()
                            .and_then(|l| l.stacks.get(&s.name))
                            .and_then(|e| e.size)
                            .unwrap_or(0);
                        to_push.push(push::Pending {
                            stack: s.name.clone(),
                            image: id.clone(),
                            hash: s.hash.clone(),
                            size,
                        });
                    }
                    (None, None) => unreachable!("check_plan forces a build of what neither has"),
                }
            }
        } else {
            report(Progress::Queued {
                stack: s.name.clone(),
            });
            waiting.push(s.name.clone());
        }
    }
    if let Some(shipping) = &shipping {
        let slots = roster.members[0].slots;
        for (stack, digest) in push::in_order(
            shipping,
            &engine,
            session.catalogue.graph(),
            to_push,
            slots,
            &report,
        )
        .await?
        {
            if let Some(entry) = lock.stacks.get_mut(&stack) {
                entry.digest = Some(digest.clone());
            }
            digests.insert(stack, digest);
        }
    }
    order::heaviest_first(&session.catalogue, session.lock.as_ref(), &mut waiting);
    let helper: Arc<HelperCell> = Arc::new(tokio::sync::OnceCell::new());
    let releases: Arc<ReleaseCell> = Arc::default();
    let parents: Arc<facts_cache::FactsCache> = Arc::default();
    // The media helper's cargo build starts now, beside the stacks below the one that bundles
    // it (the bases' debootstrap), instead of at the start of that stack's job: it was a minute
    // of the catalogue's critical path.
    let bundles_helper = waiting
        .iter()
        .filter_map(|n| session.catalogue.get(n))
        .any(|s| s.ffmpeg.as_ref().is_some_and(|f| f.helper));
    let _early_helper = match (&session.project.settings.media_crate, bundles_helper) {
        (Some(dir), true) => {
            let (helper, dir) = (Arc::clone(&helper), dir.clone());
            Some(AbortOnDrop(tokio::spawn(async move {
                let _ = build_helper_once(&helper, dir).await;
            })))
        }
        _ => None,
    };
    let mut running: JoinSet<(String, usize, std::result::Result<Finished, Failure>)> =
        JoinSet::new();
    let mut stop_reason: Option<String> = None;
    // The engine each stack was built on, and the stacks already retried after losing one.
    let mut built_on: HashMap<String, usize> = HashMap::new();
    let mut retried: std::collections::BTreeSet<String> = Default::default();
    let _watchdog = roster
        .is_fleet()
        .then(|| Watchdog::start(&roster.members, WATCHDOG_EVERY, 2));
    loop {
        if cancel.is_cancelled() && stop_reason.is_none() {
            stop_reason = Some("interrupted".into());
        }
        if !roster.any_alive() && stop_reason.is_none() {
            stop_reason = Some("no engine answers".into());
        }
        // Start what is ready, parents first, while an engine has a free slot.
        if stop_reason.is_none() {
            let mut i = 0;
            while i < waiting.len() && roster.has_free_slot() {
                let name = waiting[i].clone();
                let stack = session
                    .catalogue
                    .get(&name)
                    .expect("planned stacks exist")
                    .clone();
                let parent_state = stack.parent().map(|p| {
                    (
                        p.to_string(),
                        outcomes.get(p).cloned(),
                        images.get(p).cloned(),
                    )
                });
                match parent_state {
                    Some((_, None, _)) => {
                        i += 1;
                        continue;
                    }
                    Some((
                        p,
                        Some(StackOutcome::Failed { .. } | StackOutcome::Skipped { .. }),
                        _,
                    )) => {
                        waiting.remove(i);
                        let reason = format!("parent `{p}` did not build");
                        report(Progress::Skipped {
                            stack: name.clone(),
                            reason: reason.clone(),
                        });
                        outcomes.insert(name, StackOutcome::Skipped { reason });
                        continue;
                    }
                    _ => {}
                }
                waiting.remove(i);
                let member = choose_engine(&roster, &session, &stack, &built_on);
                if roster.is_fleet() {
                    report(Progress::Placed {
                        stack: name.clone(),
                        engine: roster.members[member].label(),
                    });
                }
                roster.started(member);
                let parent_image = stack
                    .parent()
                    .and_then(|p| roster.image_on(member, p).cloned());
                let job = Job {
                    engine: Arc::clone(&roster.members[member].engine),
                    network: roster.members[member].network.clone(),
                    prepared: prepared[&name].clone(),
                    entry: session.entry_for(&prepared[&name]),
                    parent_digest: stack
                        .parent()
                        .filter(|_| parent_image.is_none())
                        .and_then(|p| digests.get(p).cloned()),
                    parent_image,
                    shipping: shipping.clone(),
                    stack,
                    repository: session.project.settings.repository.clone(),
                    tag: options.promote == Promote::Each,
                    helper: Arc::clone(&helper),
                    releases: Arc::clone(&releases),
                    npm_registry: session.project.settings.npm_registry.clone(),
                    ca_bundle: session.project.settings.ca_bundle.clone(),
                    parents: Arc::clone(&parents),
                    media_crate: session.project.settings.media_crate.clone(),
                    // The package cache answers the primary engine's bridge only.
                    package_proxy: package_proxy.clone().filter(|_| member == 0),
                    state_dir: state_dir.clone(),
                    cancel: roster.members[member].cancel.clone(),
                    report: Arc::clone(&report),
                };
                running.spawn(async move {
                    let name = job.stack.name.clone();
                    let result = job.run().await;
                    (name, member, result)
                });
            }
        }
        let Some(joined) = running.join_next().await else {
            break;
        };
        let (name, member, result) = joined.map_err(|e| Error::Settings {
            message: format!("a build task failed: {e}"),
            help: None,
        })?;
        roster.finished(member);
        match result {
            Ok(done) => {
                report(Progress::Done {
                    stack: name.clone(),
                    seconds: done.seconds,
                    image: done.image.clone(),
                });
                if member == 0 {
                    images.insert(name.clone(), done.image.clone());
                }
                roster.hold(member, &name, &done.image);
                if let Some((parent, reference)) = &done.pulled_parent {
                    roster.hold(member, parent, reference);
                }
                built_on.insert(name.clone(), member);
                if let Some(digest) = &done.entry.digest {
                    digests.insert(name.clone(), digest.clone());
                }
                let mut entry = done.entry;
                entry.record_build_time(
                    done.seconds,
                    done.cached,
                    session.lock.as_ref().and_then(|l| l.stacks.get(&name)),
                );
                lock.stacks.insert(name.clone(), entry);
                // Written after every stack: an interrupted run keeps what completed. With
                // all-or-nothing promotion the lock waits for the whole run.
                if options.promote == Promote::Each {
                    lock.write_atomic(&session.project.lock_path())?;
                }
                outcomes.insert(
                    name,
                    StackOutcome::Built {
                        image: done.image,
                        seconds: done.seconds,
                        cached: done.cached,
                    },
                );
            }
            // An engine that stopped answering: give it up, and build the stack once more on
            // another (the run's own Ctrl-C is not that).
            Err(failure)
                if roster.is_fleet()
                    && !cancel.is_cancelled()
                    && (!roster.is_alive(member) || !roster.answers(member).await) =>
            {
                let label = roster.members[member].label();
                roster.give_up(member);
                if retried.insert(name.clone()) && roster.any_alive() {
                    report(Progress::Note {
                        message: format!(
                            "{label} stopped answering; `{name}` goes to another engine ({})",
                            failure.reason
                        ),
                    });
                    report(Progress::Queued {
                        stack: name.clone(),
                    });
                    waiting.insert(0, name);
                } else {
                    let reason = format!("{label} stopped answering: {}", failure.reason);
                    report(Progress::Failed {
                        stack: name.clone(),
                        reason: reason.clone(),
                    });
                    outcomes.insert(
                        name,
                        StackOutcome::Failed {
                            reason,
                            log_tail: failure.log_tail,
                        },
                    );
                    if !options.keep_going && stop_reason.is_none() {
                        stop_reason = Some(
                            "stopped after a failure (use --keep-going to build other branches)"
                                .into(),
                        );
                    }
                }
            }
            Err(failure) => {
                report(Progress::Failed {
                    stack: name.clone(),
                    reason: failure.reason.clone(),
                });
                outcomes.insert(
                    name,
                    StackOutcome::Failed {
                        reason: failure.reason,
                        log_tail: failure.log_tail,
                    },
                );
                if !options.keep_going && stop_reason.is_none() {
                    stop_reason = Some(
                        "stopped after a failure (use --keep-going to build other branches)".into(),
                    );
                }
            }
        }
    }
    for name in waiting {
        let reason = stop_reason.clone().unwrap_or_else(|| "not reached".into());
        report(Progress::Skipped {
            stack: name.clone(),
            reason: reason.clone(),
        });
        outcomes.insert(name, StackOutcome::Skipped { reason });
    }
    let interrupted = cancel.is_cancelled();
    let all_passed = !interrupted
        && outcomes.values().all(|o| match o {
            StackOutcome::Failed { .. } => false,
            StackOutcome::Skipped { reason } => reason == "end of life",
            _ => true,
        });
    // Each shipped stack's SBOM goes next to its image and into the lock; in `each` mode the
    // lock is written again when this or the pushes of up-to-date stacks changed it.
    if let Some(shipping) = shipping
        .as_ref()
        .filter(|_| options.promote == Promote::Each || all_passed)
    {
        let shipped: Vec<String> = plan
            .stacks
            .iter()
            .filter(|s| {
                matches!(
                    outcomes.get(&s.name),
                    Some(StackOutcome::Built { .. } | StackOutcome::UpToDate)
                )
            })
            .filter(|s| lock.stacks.get(&s.name).is_some_and(|e| e.digest.is_some()))
            .map(|s| s.name.clone())
            .collect();
        for (stack, result) in push::sboms(shipping, &session, &lock, &shipped).await {
            match result {
                Ok(digest) => {
                    if let Some(entry) = lock.stacks.get_mut(&stack) {
                        entry.sbom = Some(digest);
                    }
                }
                Err(e) => report(Progress::Note {
                    message: format!("{stack}: SBOM not stored in the registry: {e}"),
                }),
            }
        }
        if options.promote == Promote::Each && session.lock.as_ref() != Some(&lock) {
            lock.write_atomic(&session.project.lock_path())?;
        }
    }
    // The human tags at the registry: every stack that is built or up to date, once the
    // promotion mode allows it (each: at the end of the run; all-or-nothing: only when all
    // passed, and before any local tag moves or the lock is written).
    let mut tag_moves = Vec::new();
    let mut promotion_error = None;
    if let Some(shipping) = shipping
        .as_ref()
        .filter(|_| options.promote == Promote::Each || all_passed)
    {
        let family: Vec<(String, Vec<String>, String)> = plan
            .stacks
            .iter()
            .filter(|s| {
                matches!(
                    outcomes.get(&s.name),
                    Some(StackOutcome::Built { .. } | StackOutcome::UpToDate)
                )
            })
            .filter_map(|s| {
                let digest = lock.stacks.get(&s.name)?.digest.clone()?;
                let stack = session.catalogue.get(&s.name)?;
                Some((
                    s.name.clone(),
                    std::iter::once(stack.name.clone())
                        .chain(stack.tags.iter().cloned())
                        .collect(),
                    digest,
                ))
            })
            .collect();
        match shipping.promote(&family).await {
            Ok(r) => tag_moves = r.moved,
            Err(e) => {
                let text = match miette::Diagnostic::help(&e) {
                    Some(help) => format!("{e} (help: {help})"),
                    None => e.to_string(),
                };
                report(Progress::Note {
                    message: format!("promotion at the registry failed: {text}"),
                });
                promotion_error = Some(text);
            }
        }
    }
    let promoted = match options.promote {
        Promote::Each => promotion_error.is_none(),
        Promote::AllOrNothing if all_passed && promotion_error.is_none() => {
            for (name, o) in &outcomes {
                if let (StackOutcome::Built { image, .. }, Some(stack)) =
                    (o, session.catalogue.get(name))
                {
                    let on = &roster.members[built_on.get(name).copied().unwrap_or(0)].engine;
                    tag_all(on, image, &session.project.settings.repository, stack).await?;
                }
            }
            lock.write_atomic(&session.project.lock_path())?;
            true
        }
        Promote::AllOrNothing => false,
    };
    let previous = session.lock.as_ref();
    let stacks: Vec<StackReport> = plan
        .stacks
        .iter()
        .filter_map(|s| {
            let outcome = outcomes.remove(&s.name)?;
            Some(StackReport {
                name: s.name.clone(),
                reasons: s.reasons.iter().map(|r| r.to_string()).collect(),
                size_before: previous
                    .and_then(|l| l.stacks.get(&s.name))
                    .and_then(|e| e.size),
                size_after: lock.stacks.get(&s.name).and_then(|e| e.size),
                engine: built_on
                    .get(&s.name)
                    .filter(|_| roster.is_fleet())
                    .map(|&i| roster.members[i].label()),
                outcome,
            })
        })
        .collect();
    let package_cache = package_cache.map(|cache| {
        let stats = cache.stats();
        report(Progress::Note {
            message: format!("package cache: {stats}"),
        });
        // Stopping it ends its tunnels; then the directory is held to its budget.
        let dir = cache.dir().to_path_buf();
        drop(cache);
        prune_package_cache(
            &dir,
            session.project.settings.package_cache_max_size,
            &report,
        );
        stats
    });
    // What the built stacks changed against the lock the run started from (only when the lock
    // was written: a held-back promotion changes nothing).
    let built: std::collections::BTreeSet<String> = stacks
        .iter()
        .filter(|s: &&StackReport| matches!(s.outcome, StackOutcome::Built { .. }))
        .map(|s| s.name.clone())
        .collect();
    let written = options.promote == Promote::Each || promoted;
    let changes = match (previous, written && !built.is_empty()) {
        (Some(before), true) => Some(crate::diff::LockDiff::between(
            before,
            &lock,
            "the lock before this run",
            "this run",
            Some(&built),
        ))
        .filter(|d| !d.is_empty()),
        _ => None,
    };
    // Every built stack's SBOM, from the lock as written (a failure is only a note: the images
    // and the lock are what the run is for).
    if written && !built.is_empty() {
        let names: Vec<String> = built.iter().cloned().collect();
        match crate::sbom::write(
            &session,
            &lock,
            &names,
            crate::sbom::SbomFormat::Spdx,
            &state_dir.join("sbom"),
        ) {
            Ok(paths) => report(Progress::Note {
                message: format!(
                    "SBOMs written: {}",
                    paths
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }),
            Err(e) => report(Progress::Note {
                message: format!("SBOMs not written: {e}"),
            }),
        }
    }
    Ok(BuildReport {
        stacks,
        interrupted,
        promote: options.promote,
        promoted,
        package_cache,
        tag_moves,
        promotion_error,
        changes,
    })
}

/// Starts the package cache where the engine's build containers can reach it, or says why
/// not and builds without it (it only saves downloads; a build never needs it).
async fn start_package_cache(
    engine: &Engine,
    session: &Session,
    state_dir: &Path,
    report: &Reporter,
) -> Option<PackageCache> {
    let off = |why: String| {
        report(Progress::Note {
            message: format!("package cache off: {why}"),
        });
        None
    };
    if !engine.is_local() {
        return off(format!(
            "the engine at `{}` is not on this machine",
            engine.address()
        ));
    }
    let bridge = match engine.bridge_host().await {
        Ok(Ok(bridge)) => bridge,
        Ok(Err(why)) => return off(why),
        Err(e) => return off(e.to_string()),
    };
    let gateway = std::net::IpAddr::V4(bridge.address);
    let subnet = bridge.subnet;
    let dir = state_dir.join("package-cache");
    match PackageCache::start(&dir, package_cache_config(session, gateway, subnet)).await {
        Ok(cache) => {
            report(Progress::Note {
                message: format!(
                    "package cache: {} (files in {})",
                    cache.url(),
                    dir.display()
                ),
            });
            Some(cache)
        }
        Err(e) => off(format!(
            "{e}: {}",
            std::error::Error::source(&e)
                .map(|s| s.to_string())
                .unwrap_or_default()
        )),
    }
}

/// The package cache's configuration: listening on the bridge's gateway for the bridge's
/// clients; the catalogue's mirrors, Debian's hosts and `[build] package_cache_allow` served.
fn package_cache_config(
    session: &Session,
    gateway: std::net::IpAddr,
    subnet: Subnet,
) -> CacheConfig {
    let mut config = CacheConfig::new(gateway, vec![subnet]);
    let mirrors = session
        .catalogue
        .in_order()
        .into_iter()
        .filter_map(|s| match &s.origin {
            Origin::Bootstrap(b) => Some(b.mirror.clone()),
            _ => None,
        });
    for entry in mirrors.chain(session.project.settings.package_cache_allow.iter().cloned()) {
        // Settings were checked when the project was opened; a mirror URL always has a host.
        let _ = config.allow.allow(&entry);
    }
    config
}

/// Removes the least recently used files past the cache's budget; a failure is only a note.
fn prune_package_cache(dir: &Path, max_size: u64, report: &Reporter) {
    let pruned = Store::open(dir).and_then(|store| store.prune(max_size, None));
    match pruned {
        Ok(p) if p.removed > 0 => {
            let unrecorded = if p.unrecorded > 0 {
                format!(
                    ", {} of them unverifiable (no record: kept by an older ferrostack)",
                    p.unrecorded
                )
            } else {
                String::new()
            };
            report(Progress::Note {
                message: format!("package cache: removed {} files ({}) past its budget of {} or its checks{unrecorded}", p.removed, crate::units::show_size(p.freed), crate::units::show_size(max_size)),
            })
        }
        Ok(_) => {}
        Err(e) => report(Progress::Note {
            message: format!("package cache: pruning failed: {e}"),
        }),
    }
}

/// When apt in a build could not reach the package cache (a firewall between the engine's
/// containers and this machine), says so and how to build without it.
fn unreachable_proxy(url: &str, log: &str) -> Option<String> {
    let address = url.trim_start_matches("http://");
    log.lines().any(|l| l.contains(&format!("connect to {address}")) || l.contains(&format!("Could not connect to {address}"))).then(|| {
        format!("apt could not reach the package cache at {url} from the build container (is traffic from containers to this machine blocked?); build with `--no-package-cache`, or allow it")
    })
}

/// The media helper binary of a run, or why it could not be built: built at most once.
type HelperCell = tokio::sync::OnceCell<std::result::Result<PathBuf, String>>;

/// Builds the media helper the first time it is asked for; later calls (and a call while the
/// build runs) get the same result.
async fn build_helper_once(
    helper: &HelperCell,
    crate_dir: PathBuf,
) -> std::result::Result<PathBuf, String> {
    helper
        .get_or_init(|| async move {
            let mut lines = Vec::new();
            let r =
                crate::helper::build(&crate_dir, &mut |l: &str| lines.push(l.to_string())).await;
            r.map_err(|e| {
                format!(
                    "{e}\n{}",
                    lines
                        .iter()
                        .rev()
                        .take(20)
                        .rev()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join("\n")
                )
            })
        })
        .await
        .clone()
}

/// The release tarballs of a run, unpacked (name → tree, or why not): each at most once.
type ReleaseCell = tokio::sync::Mutex<BTreeMap<&'static str, std::result::Result<PathBuf, String>>>;

/// The unpacked tree of `release` (what goes under `/usr/local`): fetched into
/// `<state>/upstream` unless a verified copy is there, and unpacked afresh, the first time a
/// run asks; later calls (and calls while that runs) get the same result.
async fn release_once(
    cell: &ReleaseCell,
    release: &crate::upstream::Release,
    registry: &str,
    ca_bundle: Option<&Path>,
    state_dir: &Path,
) -> std::result::Result<PathBuf, String> {
    let mut done = cell.lock().await;
    if let Some(result) = done.get(release.name) {
        return result.clone();
    }
    let dir = state_dir.join("upstream");
    let result = match crate::upstream::fetch(release, registry, ca_bundle, &dir).await {
        Ok(tarball) => {
            let (release, dir) = (*release, dir.clone());
            match tokio::task::spawn_blocking(move || {
                crate::upstream::unpack(&release, &tarball, &dir)
            })
            .await
            {
                Ok(r) => r.map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            }
        }
        Err(e) => Err(e.to_string()),
    };
    done.insert(release.name, result.clone());
    result
}

/// The files of an unpacked release tree as context entries under `context_dir/`.
fn release_context(
    tree: &Path,
    context_dir: &str,
) -> std::result::Result<Vec<engine::ContextFile>, String> {
    use std::os::unix::fs::PermissionsExt as _;
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(tree).sort_by_file_name() {
        let entry = entry
            .map_err(|e| format!("cannot read `{}`: {e}", e.path().unwrap_or(tree).display()))?;
        let rel = entry
            .path()
            .strip_prefix(tree)
            .expect("walked under the tree");
        let path = Path::new(context_dir).join(rel);
        if entry.file_type().is_symlink() {
            out.push(engine::ContextFile::symlink(path, entry.path()));
        } else if entry.file_type().is_file() {
            let mode = entry
                .metadata()
                .map_err(|e| format!("cannot read `{}`: {e}", entry.path().display()))?
                .permissions()
                .mode()
                & 0o777;
            out.push(engine::ContextFile {
                path,
                source: entry.path().to_path_buf(),
                mode: Some(mode),
            });
        }
    }
    Ok(out)
}

/// A spawned task stopped when the run ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The engine a ready stack starts on ([`crate::scheduler::place`]): the one holding its
/// parent, else the one with the least to pull (by the sizes the lock recorded).
fn choose_engine(
    roster: &Roster,
    session: &Session,
    stack: &Stack,
    built_on: &HashMap<String, usize>,
) -> usize {
    let size = |name: &str| {
        session
            .lock
            .as_ref()
            .and_then(|l| l.stacks.get(name))
            .and_then(|e| e.size)
    };
    let mut ancestors: Vec<(&str, Option<u64>)> = Vec::new();
    let mut next = stack.parent();
    while let Some(name) = next {
        ancestors.push((name, size(name)));
        next = session.catalogue.get(name).and_then(|s| s.parent());
    }
    let home = stack.parent().and_then(|p| built_on.get(p)).copied();
    let candidates: Vec<Candidate> = (0..roster.members.len())
        .map(|i| Candidate {
            free_slots: roster.free_slots(i),
            pull: pull_bytes(&ancestors, |name| roster.holds(i, name)),
            home: home == Some(i),
        })
        .collect();
    place(&candidates).unwrap_or(0)
}

/// Tags `image` as `<repo>:<stack>` and `<repo>:<tag>` for each tag.
async fn tag_all(engine: &Engine, image: &str, repository: &str, stack: &Stack) -> Result<()> {
    for tag in std::iter::once(&stack.name).chain(&stack.tags) {
        let reference = format!("{repository}:{tag}");
        engine::retry(3, Duration::from_millis(500), || {
            engine.tag(image, &reference)
        })
        .await?;
    }
    Ok(())
}

/// The per-stack log, `target/ferrostack/logs/<stack>.log`, and its last lines.
struct StackLog {
    file: Option<std::fs::File>,
    tail: std::collections::VecDeque<String>,
}

impl StackLog {
    fn open(dir: &Path, stack: &str) -> StackLog {
        let _ = std::fs::create_dir_all(dir);
        StackLog {
            file: std::fs::File::create(dir.join(format!("{stack}.log"))).ok(),
            tail: Default::default(),
        }
    }

    fn line(&mut self, line: &str) {
        if let Some(f) = &mut self.file {
            let _ = writeln!(f, "{line}");
        }
        if self.tail.len() == FAILURE_TAIL {
            self.tail.pop_front();
        }
        self.tail.push_back(line.to_string());
    }

    fn fail(&mut self, reason: String) -> Failure {
        self.line(&format!("FAILED: {reason}"));
        Failure {
            reason,
            log_tail: self.tail.iter().cloned().collect(),
        }
    }
}

impl Job {
    async fn run(self) -> std::result::Result<Finished, Failure> {
        let started = Instant::now();
        let mut log = StackLog::open(&self.state_dir.join("logs"), &self.stack.name);
        log.line(&format!(
            "# ferrostack build of `{}` ({})",
            self.stack.name, self.prepared.hash
        ));
        let name = self.stack.name.clone();
        let found = engine::retry(3, Duration::from_millis(500), || {
            hashes_in_engine(&self.engine)
        })
        .await;
        let mut pulled_parent = None;
        let (image, cached) = match found.map(|index| index.get(&self.prepared.hash).cloned()) {
            Ok(Some(id)) => {
                log.line(&format!(
                    "an image with this hash is already in the engine: {id}"
                ));
                (id, true)
            }
            Ok(_) => match self.build_image(&mut log, &mut pulled_parent).await {
                Ok(id) => (id, false),
                Err(e) => return Err(log.fail(e)),
            },
            Err(e) => return Err(log.fail(e.to_string())),
        };
        // Checks: all must pass before any tag moves.
        let total = self.stack.checks.len();
        for (i, check) in self.stack.checks.iter().enumerate() {
            (self.report)(Progress::Checking {
                stack: name.clone(),
                index: i + 1,
                total,
                command: check.run.clone(),
            });
            log.line(&format!("check {}/{total}: {}", i + 1, check.run));
            let mut request = RunRequest::shell(image.clone(), &check.run);
            request.memory_limit = Some(CHECK_MEMORY);
            request.timeout = Some(Duration::from_secs(check.timeout));
            match self.engine.run(&request, &self.cancel).await {
                Ok(out) => {
                    for l in out.stdout.lines().chain(out.stderr.lines()) {
                        log.line(&format!("  | {l}"));
                    }
                    if !out.success() {
                        let why = if out.timed_out {
                            format!("timed out after {} s", check.timeout)
                        } else if out.oom_killed {
                            "ran out of memory".to_string()
                        } else {
                            format!("exited with {}", out.exit_code)
                        };
                        return Err(log.fail(format!("check `{}` {why}", check.run)));
                    }
                }
                Err(e) => return Err(log.fail(format!("check `{}` could not run: {e}", check.run))),
            }
        }
        if let Some(max) = self.stack.max_size {
            match self.engine.inspect_image(&image).await {
                Ok(info) if info.size > max => {
                    return Err(log.fail(format!(
                        "image is {}, over its max_size of {}",
                        crate::units::show_size(info.size),
                        crate::units::show_size(max)
                    )));
                }
                Ok(_) => {}
                Err(e) => return Err(log.fail(format!("cannot measure the image: {e}"))),
            }
        }
        let mut entry = self.entry.clone();
        let parent = match &self.stack.origin {
            Origin::Bootstrap(_) => Some(None),
            Origin::Image { reference } => Some(Some(reference.clone())),
            Origin::Parent { .. } => self
                .parent_image
                .clone()
                .or_else(|| pulled_parent.as_ref().map(|(_, r)| r.clone()))
                .map(Some),
        };
        let below = match &parent {
            Some(None) => inspect::Below::Nothing,
            Some(Some(p)) => inspect::Below::Image(p),
            None => inspect::Below::Unknown,
        };
        if let Err(e) = inspect::record(
            &self.engine,
            &image,
            below,
            &self.stack,
            &self.parents,
            &mut entry,
            &self.cancel,
        )
        .await
        {
            return Err(log.fail(format!("inspecting the built image failed: {e}")));
        }
        if self.tag {
            if let Err(e) = tag_all(&self.engine, &image, &self.repository, &self.stack).await {
                return Err(log.fail(format!("tagging failed: {e}")));
            }
        }
        // Immutable tags are pushed whatever the promotion mode: they name one content only.
        if let Some(shipping) = &self.shipping {
            match shipping
                .push(&self.engine, &image, &name, &self.prepared.hash)
                .await
            {
                Ok(digest) => {
                    log.line(&format!(
                        "pushed {} ({digest})",
                        shipping.image(&name, &self.prepared.hash)
                    ));
                    entry.digest = Some(digest);
                }
                Err(e) => return Err(log.fail(e.to_string())),
            }
        }
        log.line(&format!(
            "tagged {}:{} and {} more",
            self.repository,
            name,
            self.stack.tags.len()
        ));
        Ok(Finished {
            image,
            pulled_parent,
            entry,
            cached,
            seconds: started.elapsed().as_secs_f64(),
        })
    }

    /// Builds the image; sets `pulled_parent` (name, reference) when the parent was pulled.
    async fn build_image(
        &self,
        log: &mut StackLog,
        pulled_parent: &mut Option<(String, String)>,
    ) -> std::result::Result<String, String> {
        let name = self.stack.name.clone();
        let mut context: Vec<engine::ContextFile> = self
            .prepared
            .context
            .iter()
            .map(|f| match &f.source {
                crate::context::ContextSource::File(p) => engine::ContextFile {
                    path: PathBuf::from(&f.rel),
                    source: p.clone(),
                    mode: Some(f.mode),
                },
                // Hashed by its target, so sent as a symlink: the image matches its hash.
                crate::context::ContextSource::Symlink { path, .. } => {
                    engine::ContextFile::symlink(&f.rel, path)
                }
            })
            .collect();
        if self.stack.ffmpeg.as_ref().is_some_and(|f| f.helper) {
            let crate_dir = self
                .media_crate
                .clone()
                .ok_or_else(|| "the `ferrostack-media` sources are not found".to_string())?;
            let bin = build_helper_once(&self.helper, crate_dir).await?;
            log.line(&format!("bundling {}", bin.display()));
            context.push(engine::ContextFile {
                path: PathBuf::from(crate::helper::HELPER_FILE),
                source: bin,
                mode: Some(0o755),
            });
        }
        for release in self
            .stack
            .runtimes
            .iter()
            .filter_map(|r| r.release.as_ref())
        {
            log.line(&format!(
                "{} {} ({}) from {}",
                release.name,
                release.version,
                release.integrity,
                release.url(&self.npm_registry)
            ));
            let tree = release_once(
                &self.releases,
                release,
                &self.npm_registry,
                self.ca_bundle.as_deref(),
                &self.state_dir,
            )
            .await?;
            context.extend(release_context(&tree, &release.context_dir())?);
        }
        let mut build_args =
            BTreeMap::from([("FERROSTACK_HASH".to_string(), self.prepared.hash.clone())]);
        if let Some(url) = &self.package_proxy {
            build_args.insert(PROXY_BUILD_ARG.to_string(), url.clone());
        }
        let mut scratch: Option<tempfile::TempDir> = None;
        match &self.stack.origin {
            Origin::Bootstrap(b) => {
                let work = self.state_dir.join("tmp");
                std::fs::create_dir_all(&work)
                    .map_err(|e| format!("cannot create `{}`: {e}", work.display()))?;
                let spec = engine::RootfsSpec {
                    suite: b.suite.clone(),
                    variant: Some(b.variant.clone()),
                    mirror: b.mirror.clone(),
                    components: b.components.clone(),
                };
                let report = Arc::clone(&self.report);
                let mut lines: Vec<String> = Vec::new();
                let rootfs = engine::bootstrap_rootfs(&spec, Some(&work), &self.cancel, |ev| {
                    if let engine::BootstrapEvent::Log(line) = ev {
                        report(Progress::Bootstrapping {
                            stack: name.clone(),
                            line: line.clone(),
                        });
                        lines.push(line);
                    }
                })
                .await;
                for l in &lines {
                    log.line(l);
                }
                let rootfs = rootfs.map_err(|e| e.to_string())?;
                let dir = tempfile::Builder::new()
                    .prefix("rootfs-tar-")
                    .tempdir_in(&work)
                    .map_err(|e| {
                        format!("cannot create a directory in `{}`: {e}", work.display())
                    })?;
                let tar = dir.path().join(ROOTFS_FILE);
                let clamp = engine::source_date_epoch().map_err(|e| e.to_string())?;
                let tar_path = tar.clone();
                tokio::task::spawn_blocking(move || rootfs.write_tar(&tar_path, clamp))
                    .await
                    .map_err(|e| e.to_string())?
                    .map_err(|e| e.to_string())?;
                context.push(engine::ContextFile {
                    path: PathBuf::from(ROOTFS_FILE),
                    source: tar,
                    mode: Some(0o644),
                });
                scratch = Some(dir);
            }
            Origin::Image { reference } => {
                let present = self
                    .engine
                    .image_exists(reference)
                    .await
                    .map_err(|e| e.to_string())?;
                if !present {
                    log.line(&format!("pulling {reference}"));
                    self.engine
                        .pull(reference)
                        .await
                        .map_err(|e| e.to_string())?;
                }
            }
            Origin::Parent { name: parent } => {
                let id = match (&self.parent_image, &self.parent_digest, &self.shipping) {
                    (Some(id), _, _) => id.clone(),
                    // The parent is in the registry only: pull exactly the recorded manifest.
                    (None, Some(digest), Some(shipping)) => {
                        log.line(&format!(
                            "pulling parent `{parent}` ({digest}) into {}",
                            self.engine.address()
                        ));
                        let reference = shipping
                            .pull(&self.engine, digest)
                            .await
                            .map_err(|e| e.to_string())?;
                        *pulled_parent = Some((parent.clone(), reference.clone()));
                        reference
                    }
                    _ => return Err(format!("parent `{parent}` has no image")),
                };
                build_args.insert("FERROSTACK_PARENT".into(), id);
            }
        }
        let request = BuildRequest {
            dockerfile: self.prepared.dockerfile.clone(),
            context,
            build_args,
            labels: BTreeMap::from([(HASH_LABEL.to_string(), self.prepared.hash.clone())]),
            tags: Vec::new(),
            no_cache: false,
            network: self.network.clone(),
        };
        // Transient engine errors are retried by the engine's one retry policy; a failing
        // instruction is not. (A mutex, not a RefCell: the job's future must be `Send`.)
        let shared_log = std::sync::Mutex::new(&mut *log);
        let line = |l: &str| shared_log.lock().expect("log").line(l);
        let on_retry = |_, e: &EngineError| line(&format!("transient engine error, retrying: {e}"));
        let result = engine::retry_with(3, Duration::from_secs(2), on_retry, || {
            self.engine.build(&request, &self.cancel, |ev| match ev {
                BuildEvent::Step {
                    index,
                    total,
                    instruction,
                } => {
                    line(&format!("Step {index}/{total} : {instruction}"));
                    (self.report)(Progress::Step {
                        stack: name.clone(),
                        index,
                        total,
                        instruction,
                    });
                }
                BuildEvent::Log(l) | BuildEvent::Status(l) => line(&l),
            })
        })
        .await;
        drop(scratch);
        match result {
            Ok(built) => Ok(built.id),
            // A pin the mirror dropped is named, with the way out, instead of apt's exit code.
            Err(EngineError::BuildFailed { message, log_tail }) => {
                Err(match crate::update::PinNotOffered::find(&log_tail) {
                    Some(missing) => missing.with_inputs(&self.prepared.inputs).to_string(),
                    None => match self
                        .package_proxy
                        .as_deref()
                        .and_then(|url| unreachable_proxy(url, &log_tail))
                    {
                        Some(hint) => format!("build failed: {message}; {hint}"),
                        None => format!("build failed: {message}"),
                    },
                })
            }
            Err(e) => Err(e.to_string()),
        }
    }
}

impl From<EngineError> for Failure {
    fn from(e: EngineError) -> Self {
        Failure {
            reason: e.to_string(),
            log_tail: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::unreachable_proxy;

    #[test]
    fn an_unreachable_package_cache_is_named_with_the_way_out() {
        let log = "Err:1 http://deb.debian.org/debian bookworm InRelease\n  Could not connect to 172.17.0.1:40123 (172.17.0.1). - connect (113: No route to host)\n";
        let hint = unreachable_proxy("http://172.17.0.1:40123", log).expect("recognised");
        insta::assert_snapshot!(hint, @"apt could not reach the package cache at http://172.17.0.1:40123 from the build container (is traffic from containers to this machine blocked?); build with `--no-package-cache`, or allow it");
        assert_eq!(
            unreachable_proxy(
                "http://172.17.0.1:40123",
                "E: Unable to locate package nope"
            ),
            None
        );
    }
}
