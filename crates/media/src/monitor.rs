//! How a caller watches and stops a running task: a progress callback and a cancel flag.
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::limits::Limits;

/// One progress report: how far the output has got.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Progress {
    /// The task being run (`transcode`, `normalize`, ...).
    pub task: &'static str,
    /// 0 to 100, when the input duration is known.
    pub percent: Option<f64>,
    /// Seconds of output written so far.
    pub out_time: f64,
    /// Frames (video) or audio frames processed per second of wall time.
    pub fps: f64,
    /// Estimated seconds left, when the input duration is known.
    pub eta: Option<f64>,
}

/// A cloneable flag another thread (or a signal handler) sets to stop a task.
#[derive(Debug, Clone, Default)]
pub struct CancelFlag(Arc<AtomicBool>);

impl CancelFlag {
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the running task to stop; it returns `MediaError::Cancelled` soon after.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// A caller's progress callback.
type ProgressFn<'a> = Box<dyn FnMut(&Progress) + 'a>;

/// Progress callback, cancel flag and input limits handed to every task.
#[derive(Default)]
pub struct Monitor<'a> {
    progress: Option<ProgressFn<'a>>,
    cancel: CancelFlag,
    interval: Duration,
    limits: Limits,
}

impl<'a> Monitor<'a> {
    /// A monitor that reports nothing and is never cancelled.
    pub fn new() -> Self {
        Monitor {
            progress: None,
            cancel: CancelFlag::new(),
            interval: Duration::from_millis(500),
            limits: Limits::default(),
        }
    }

    /// Applies `limits` to the inputs (and outputs) of the tasks run with this monitor.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The limits tasks run under (`Limits::default()` unless set).
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Calls `f` at most every half second while a task runs, and once at the end.
    pub fn on_progress(mut self, f: impl FnMut(&Progress) + 'a) -> Self {
        self.progress = Some(Box::new(f));
        self
    }

    /// Stops the task when `flag` is cancelled.
    pub fn cancel_with(mut self, flag: CancelFlag) -> Self {
        self.cancel = flag;
        self
    }

    pub(crate) fn check(&self) -> Result<(), crate::MediaError> {
        if self.cancel.is_cancelled() {
            Err(crate::MediaError::Cancelled)
        } else {
            Ok(())
        }
    }

    pub(crate) fn tracker(&self, task: &'static str, total: Option<f64>) -> Tracker {
        let now = Instant::now();
        Tracker {
            task,
            total,
            start: now,
            last: None,
            frames: 0,
            interval: self.interval,
        }
    }

    pub(crate) fn emit(&mut self, p: &Progress) {
        if let Some(f) = self.progress.as_mut() {
            f(p);
        }
    }
}

/// Turns frame counts and timestamps into throttled `Progress` values.
pub(crate) struct Tracker {
    task: &'static str,
    total: Option<f64>,
    start: Instant,
    last: Option<Instant>,
    frames: u64,
    interval: Duration,
}

impl Tracker {
    /// Records one output frame at `out_time` seconds; returns a report when one is due.
    pub(crate) fn frame(&mut self, out_time: f64) -> Option<Progress> {
        self.frames += 1;
        let due = self.last.is_none_or(|t| t.elapsed() >= self.interval);
        due.then(|| {
            self.last = Some(Instant::now());
            self.report(out_time)
        })
    }

    pub(crate) fn finish(&self, out_time: f64) -> Progress {
        let mut p = self.report(out_time);
        if self.total.is_some() {
            p.percent = Some(100.0);
            p.eta = Some(0.0);
        }
        p
    }

    fn report(&self, out_time: f64) -> Progress {
        let elapsed = self.start.elapsed().as_secs_f64().max(1e-6);
        let percent = self
            .total
            .filter(|t| *t > 0.0)
            .map(|t| (out_time / t * 100.0).clamp(0.0, 100.0));
        let eta = percent
            .filter(|p| *p > 0.0)
            .map(|p| elapsed * (100.0 - p) / p);
        Progress {
            task: self.task,
            percent,
            out_time,
            fps: self.frames as f64 / elapsed,
            eta,
        }
    }
}
