//! Issue 11, part 3: a mutation corpus. Valid tiny media (H.264/AAC MP4, VP9/Opus WebM, MP3,
//! WAV, PNG) is mutated deterministically and every task runs on the mutants through the real
//! CLI, under a wall-clock and an address-space budget (`prlimit --as`). The outcome must be
//! success or a typed error: never a panic, a signal, a run past the budget, or a file left at
//! the output path (or a temporary beside it) on failure.
//!
//! `MEDIA_MUTANTS` (default 300) sets the corpus size; `MEDIA_MUTANT_TASKS=all` runs all six
//! tasks on every mutant (the default runs `probe` and one other task per mutant, rotating);
//! `MEDIA_MUTANT_JOBS` (default 2) runs that many at once. `scripts/mutate-media N` wraps this.
mod common;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::mutate::{self, Family, Mutation, Rng};

const SEED: u64 = 0x0011_2026_0002_0003;
/// Wall-clock budget of one CLI run (a debug build on a shared 2-core machine).
const WALL: Duration = Duration::from_secs(20);
/// Address-space budget of one CLI run.
const ADDRESS_SPACE: u64 = 1 << 30;
const TASKS: [&str; 7] = [
    "probe",
    "transcode",
    "resize",
    "normalize",
    "thumbnail",
    "sprite",
    "package",
];

/// A valid file the mutants start from.
struct Seed {
    family: Family,
    file: &'static str,
    data: Vec<u8>,
}

/// Tiny, bit-exact seed media (single-threaded encoders, no encoder version tags), so the same
/// mutant index gives the same bytes on every run.
fn seeds(dir: &Path) -> Vec<Seed> {
    let v = "testsrc2=size=64x48:rate=12:duration=0.5";
    let a = "sine=frequency=440:sample_rate=16000:duration=0.5";
    let exact = [
        "-threads",
        "1",
        "-fflags",
        "+bitexact",
        "-flags:v",
        "+bitexact",
        "-flags:a",
        "+bitexact",
        "-map_metadata",
        "-1",
    ];
    let make = |file: &'static str, inputs: &[&str], codec: &[&str]| {
        let path = dir.join(file);
        let mut args: Vec<&str> = Vec::new();
        for i in inputs {
            args.extend(["-f", "lavfi", "-i", i]);
        }
        args.extend(exact);
        args.extend(codec);
        let p = path.to_str().unwrap().to_owned();
        args.push(&p);
        common::ffmpeg(&args);
        std::fs::read(&path).unwrap()
    };
    vec![
        Seed {
            family: Family::Mp4,
            file: "seed.mp4",
            data: make(
                "seed.mp4",
                &[v, a],
                &[
                    "-c:v",
                    "libx264",
                    "-preset",
                    "ultrafast",
                    "-pix_fmt",
                    "yuv420p",
                    "-c:a",
                    "aac",
                    "-b:a",
                    "32k",
                ],
            ),
        },
        Seed {
            family: Family::WebM,
            file: "seed.webm",
            data: make(
                "seed.webm",
                &[v, a],
                &[
                    "-c:v",
                    "libvpx-vp9",
                    "-deadline",
                    "realtime",
                    "-cpu-used",
                    "8",
                    "-b:v",
                    "100k",
                    "-c:a",
                    "libopus",
                    "-ar",
                    "48000",
                ],
            ),
        },
        Seed {
            family: Family::Mp3,
            file: "seed.mp3",
            data: make("seed.mp3", &[a], &["-c:a", "libmp3lame", "-b:a", "32k"]),
        },
        Seed {
            family: Family::Wav,
            file: "seed.wav",
            data: make("seed.wav", &[a], &["-c:a", "pcm_s16le"]),
        },
        Seed {
            family: Family::Png,
            file: "seed.png",
            data: make("seed.png", &[v], &["-frames:v", "1", "-c:v", "png"]),
        },
    ]
}

/// How one run ended.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    Ok,
    /// A typed error, by its JSON `kind`.
    Error(String),
    Panic,
    Signal(i32),
    Timeout,
    /// Exit code and stdout that are neither a result nor a typed error.
    Untyped(String),
}

impl Outcome {
    fn is_failure(&self) -> bool {
        !matches!(self, Outcome::Ok | Outcome::Error(_))
    }

    fn label(&self) -> String {
        match self {
            Outcome::Ok => "ok".into(),
            Outcome::Error(k) => format!("error {k}"),
            Outcome::Panic => "PANIC".into(),
            Outcome::Signal(s) => format!("SIGNAL {s}"),
            Outcome::Timeout => "TIMEOUT".into(),
            Outcome::Untyped(s) => format!("UNTYPED {s}"),
        }
    }
}

/// One run: which mutant, which task, how it ended, and whether it left files behind.
#[derive(Debug, Clone)]
struct Run {
    mutant: usize,
    seed: &'static str,
    mutation: Mutation,
    task: &'static str,
    outcome: Outcome,
    leftovers: Vec<String>,
    stderr: String,
}

/// CLI arguments for `task` on `input`, writing into `out` (empty); the output it may leave.
fn task_args(
    task: &str,
    input: &Path,
    out: &Path,
    family: Family,
) -> (Vec<OsString>, Option<String>) {
    let video = matches!(family, Family::Mp4 | Family::WebM | Family::Png);
    let (mut args, output): (Vec<&str>, Option<&str>) = match task {
        "probe" => (vec!["probe"], None),
        "transcode" if video => (vec!["transcode"], Some("out.mp4")),
        "transcode" => (vec!["transcode"], Some("out.mp3")),
        "resize" => (vec!["resize", "--width", "32"], Some("out.mp4")),
        "normalize" => (vec!["normalize"], Some("out.wav")),
        "thumbnail" => (vec!["thumbnail", "--at", "0.2"], Some("out.jpg")),
        "sprite" => (
            vec![
                "sprite",
                "--every",
                "0.1",
                "--columns",
                "3",
                "--width",
                "32",
            ],
            Some("out.png"),
        ),
        // Every branch of the one decode: ladder, audio, storyboard, waveform, poster.
        "package" => (
            vec![
                "package",
                "--ladder",
                "32",
                "--segment",
                "1",
                "--speed",
                "ultrafast",
                "--storyboard",
                "--storyboard-every",
                "0.1",
                "--storyboard-width",
                "32",
                "--waveform",
                "--poster",
            ],
            Some("pkg"),
        ),
        other => panic!("unknown task {other}"),
    };
    args.push("--json");
    let mut v: Vec<OsString> = args.into_iter().map(OsString::from).collect();
    v.push(input.into());
    if let Some(o) = output {
        v.push(out.join(o).into());
    }
    (v, output.map(str::to_owned))
}

/// Runs the CLI under the budgets and classifies the result.
fn run_cli(args: &[OsString], scratch: &Path) -> (Outcome, String) {
    let stdout_path = scratch.join("stdout");
    let stderr_path = scratch.join("stderr");
    let mut child = Command::new("prlimit")
        .arg(format!("--as={ADDRESS_SPACE}"))
        .arg("--")
        .arg(env!("CARGO_BIN_EXE_ferrostack-media"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout_path).unwrap())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .expect("prlimit (util-linux) must be installed");
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if started.elapsed() > WALL {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let stdout = std::fs::read_to_string(&stdout_path).unwrap_or_default();
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    let Some(status) = status else {
        return (Outcome::Timeout, stderr);
    };
    if stderr.contains("panicked") || status.code() == Some(101) {
        return (Outcome::Panic, stderr);
    }
    if let Some(sig) = status.signal() {
        return (Outcome::Signal(sig), stderr);
    }
    let json: Option<serde_json::Value> = serde_json::from_str(&stdout).ok();
    let outcome = match (status.code(), json) {
        (Some(0), Some(_)) => Outcome::Ok,
        (Some(1 | 2), Some(v)) if v["error"]["kind"].is_string() => {
            Outcome::Error(v["error"]["kind"].as_str().unwrap().to_owned())
        }
        (code, _) => Outcome::Untyped(format!("exit {code:?}: {}", stdout.trim())),
    };
    (outcome, stderr)
}

/// Files in `dir` that should not be there after the run.
fn leftovers(dir: &Path, ok: bool, output: Option<&str>) -> Vec<String> {
    let mut left: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| !(ok && Some(name.as_str()) == output))
        .collect();
    left.sort();
    left
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The mutation of mutant `i`: a pure function of (SEED, i) and the seed file.
fn mutant(seeds: &[Seed], i: usize) -> (usize, Mutation) {
    let s = i % seeds.len();
    let mut rng = Rng::new(SEED ^ (i as u64).wrapping_mul(0xA076_1D64_78BD_642F));
    (s, mutate::choose(&seeds[s].data, seeds[s].family, &mut rng))
}

/// Runs `tasks` on one mutant file in its own directories.
fn run_mutant(
    seed: &Seed,
    i: usize,
    mutation: &Mutation,
    tasks: &[&'static str],
    work: &Path,
) -> Vec<Run> {
    let base = work.join(format!("m{i}"));
    let input_dir = base.join("in");
    let out = base.join("out");
    std::fs::create_dir_all(&input_dir).unwrap();
    let input = input_dir.join(seed.file);
    std::fs::write(&input, mutation.apply(&seed.data)).unwrap();
    let mut runs = Vec::new();
    for task in tasks {
        std::fs::create_dir_all(&out).unwrap();
        let (args, output) = task_args(task, &input, &out, seed.family);
        let (outcome, stderr) = run_cli(&args, &base);
        let left = leftovers(&out, outcome == Outcome::Ok, output.as_deref());
        std::fs::remove_dir_all(&out).unwrap();
        runs.push(Run {
            mutant: i,
            seed: seed.file,
            mutation: mutation.clone(),
            task,
            outcome,
            leftovers: left,
            stderr,
        });
    }
    std::fs::remove_dir_all(&base).unwrap();
    runs
}

#[test]
fn every_task_survives_every_mutant() {
    let started = Instant::now();
    let n = env_usize("MEDIA_MUTANTS", 300);
    let jobs = env_usize("MEDIA_MUTANT_JOBS", 2).max(1);
    let all = std::env::var("MEDIA_MUTANT_TASKS").is_ok_and(|v| v == "all");
    let dir = tempfile::tempdir().unwrap();
    let seeds = seeds(dir.path());
    let next = AtomicUsize::new(0);
    let runs = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= n {
                    return;
                }
                let (s, mutation) = mutant(&seeds, i);
                // Every mutant is probed; the other tasks rotate unless all are asked for.
                let tasks: Vec<&'static str> = if all {
                    TASKS.to_vec()
                } else {
                    vec![TASKS[0], TASKS[1 + (i / seeds.len()) % (TASKS.len() - 1)]]
                };
                let r = run_mutant(&seeds[s], i, &mutation, &tasks, dir.path());
                runs.lock().unwrap().extend(r);
            });
        }
    });
    let runs = runs.into_inner().unwrap();
    let elapsed = started.elapsed();

    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for r in &runs {
        *counts.entry(r.outcome.label()).or_default() += 1;
    }
    let bad: Vec<&Run> = runs
        .iter()
        .filter(|r| r.outcome.is_failure() || !r.leftovers.is_empty())
        .collect();
    let count = |f: &dyn Fn(&Run) -> bool| runs.iter().filter(|r| f(r)).count();
    println!("mutants: {n}");
    println!("runs: {}", runs.len());
    for (label, c) in &counts {
        println!("  {label}: {c}");
    }
    println!("panics: {}", count(&|r| r.outcome == Outcome::Panic));
    println!(
        "signals: {}",
        count(&|r| matches!(r.outcome, Outcome::Signal(_)))
    );
    println!("timeouts: {}", count(&|r| r.outcome == Outcome::Timeout));
    println!(
        "untyped: {}",
        count(&|r| matches!(r.outcome, Outcome::Untyped(_)))
    );
    println!("leftovers: {}", count(&|r| !r.leftovers.is_empty()));
    println!("seconds: {:.1}", elapsed.as_secs_f64());
    for r in &bad {
        println!(
            "FAILED mutant {} ({}: {}) task {}: {} leftovers {:?}\n{}",
            r.mutant,
            r.seed,
            r.mutation,
            r.task,
            r.outcome.label(),
            r.leftovers,
            r.stderr.lines().take(12).collect::<Vec<_>>().join("\n")
        );
    }
    assert!(bad.is_empty(), "{} runs failed (see above)", bad.len());
}

/// Mutants the corpus once found a problem with, kept as fixtures made in code.
#[test]
fn regressions() {
    let dir = tempfile::tempdir().unwrap();
    let seeds = seeds(dir.path());
    // (seed index, mutation, task); seed 0 is the MP4.
    let fixtures: Vec<(usize, Mutation, &'static str)> = vec![
        // Mutants 85 and 375 of the first corpus: the stream copy wrote an MP4 that could not be
        // read back, and the error came after the rename, leaving it at the output path.
        (0, Mutation::Zero { at: 6165, len: 232 }, "transcode"),
        (0, Mutation::Duplicate { at: 5904, len: 36 }, "transcode"),
        // Mutants 1029 and 2479 of the 3000-mutant run: PNGs whose flipped bits give a sample
        // aspect ratio near i32::MAX; probe's display aspect ratio overflowed (a panic in debug
        // builds, a wrong ratio in release).
        (
            4,
            Mutation::BitFlips(vec![900, 763, 3052, 331, 1135, 3631, 3022]),
            "probe",
        ),
        (4, Mutation::BitFlips(vec![2728, 2884, 332]), "probe"),
    ];
    for (s, mutation, task) in fixtures {
        let runs = run_mutant(&seeds[s], 0, &mutation, &[task], dir.path());
        let r = &runs[0];
        assert!(
            !r.outcome.is_failure() && r.leftovers.is_empty(),
            "{} {mutation} {task}: {} {:?}\n{}",
            r.seed,
            r.outcome.label(),
            r.leftovers,
            r.stderr
        );
    }
}
