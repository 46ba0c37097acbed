//! Issue 11, part 3: a property test over mutated stack definitions. The bundled `stacks/*.toml`
//! are mutated deterministically (key deletions, type swaps, random bytes, deep nesting, huge
//! strings, truncation, dropped or repeated table headers) and `plan --offline` runs on each,
//! in-process through the same library calls the CLI makes. Every case must end in a plan or an
//! error with exit code 1 or 2 whose rendered diagnostic names the mutated file, within 1 s, and
//! never panic. A handful of cases also go through the real binary.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use ferrostack::{Project, Session};

const SEED: u64 = 0x0011_2026_0003_0001;
const CASES: usize = 1000;
/// CPU time one case may take (the process's, so rayon workers count too).
const PER_CASE: Duration = Duration::from_secs(1);
/// Wall-clock time one case may take: generous, since CI machines are shared.
const PER_CASE_WALL: Duration = Duration::from_secs(10);

/// CPU time used by this process so far.
fn cpu_time() -> Duration {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut t) };
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// splitmix64, so every case is the same on every run and platform.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

/// The bundled project (stacks, templates, lock, contexts) copied to a temporary root.
fn project() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("project");
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::create_dir_all(&root).unwrap();
    for entry in std::fs::read_dir(repo).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if [".git", "target", "docs", "src", "tests"]
            .iter()
            .any(|n| name == *n)
        {
            continue;
        }
        if entry.file_type().unwrap().is_dir() {
            common::copy_dir(&entry.path(), &root.join(&name));
        } else {
            std::fs::copy(entry.path(), root.join(&name)).unwrap();
        }
    }
    (tmp, root)
}

fn stack_files(root: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root.join("stacks"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files
}

/// Values of every TOML type, to swap in for a key's value.
const VALUES: [&str; 12] = [
    "42",
    "-9223372036854775808",
    "3.5e308",
    "nan",
    "true",
    "\"text\"",
    "''",
    "[1, \"two\", 3.0]",
    "[]",
    "{ a = 1, b = { c = [] } }",
    "1979-05-27T07:32:00Z",
    "\"{{ nope.missing }}\"",
];

/// One mutation of `text` (bytes, since some mutations make it invalid UTF-8) and its name.
fn mutate(text: &str, rng: &mut Rng) -> (Vec<u8>, &'static str) {
    let lines: Vec<&str> = text.lines().collect();
    let key_lines: Vec<usize> = (0..lines.len())
        .filter(|i| lines[*i].contains('=') && !lines[*i].trim_start().starts_with('['))
        .collect();
    let pick_key = |rng: &mut Rng| key_lines[rng.below(key_lines.len())];
    let join = |lines: &[String]| (lines.join("\n") + "\n").into_bytes();
    let owned = || lines.iter().map(|l| l.to_string()).collect::<Vec<String>>();
    match rng.below(10) {
        0 => {
            let mut l = owned();
            l.remove(pick_key(rng));
            (join(&l), "key deletion")
        }
        1 => {
            let mut l = owned();
            let i = pick_key(rng);
            let key = l[i].split('=').next().unwrap().to_string();
            l[i] = format!("{key}= {}", VALUES[rng.below(VALUES.len())]);
            (join(&l), "type swap")
        }
        2 => {
            let mut bytes = text.as_bytes().to_vec();
            for _ in 0..1 + rng.below(8) {
                let at = rng.below(bytes.len());
                bytes[at] = rng.next_u64() as u8;
            }
            (bytes, "random bytes")
        }
        3 => {
            let mut l = owned();
            let i = pick_key(rng);
            let key = l[i].split('=').next().unwrap().to_string();
            let depth = [64, 200, 1000, 10_000, 100_000][rng.below(5)];
            let value = if rng.below(2) == 0 {
                format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
            } else {
                format!("{}1{}", "{ a = ".repeat(depth), " }".repeat(depth))
            };
            l[i] = format!("{key}= {value}");
            (join(&l), "deep nesting")
        }
        4 => {
            let mut l = owned();
            let depth = [64, 1000, 50_000][rng.below(3)];
            let dotted = vec!["k"; depth].join(".");
            if rng.below(2) == 0 {
                l.push(format!("[{dotted}]"));
            } else {
                l.insert(0, format!("{dotted} = 1"));
            }
            (join(&l), "deep keys")
        }
        5 => {
            let mut l = owned();
            let i = pick_key(rng);
            let key = l[i].split('=').next().unwrap().to_string();
            let len = [10_000, 60_000, 1_000_000, 4_000_000][rng.below(4)];
            l[i] = match rng.below(3) {
                0 => format!("{key}= \"{}\"", "x".repeat(len)),
                1 => format!("{}{key}= 1", "k".repeat(len)),
                _ => format!("{key}= [{}]", vec!["\"a\""; len / 10].join(",")),
            };
            (join(&l), "huge string")
        }
        6 => {
            let cut = rng.below(text.len());
            let cut = (0..=cut)
                .rev()
                .find(|c| text.is_char_boundary(*c))
                .unwrap_or(0);
            (text.as_bytes()[..cut].to_vec(), "truncation")
        }
        7 => {
            let mut l = owned();
            let headers: Vec<usize> = (0..l.len())
                .filter(|i| l[*i].trim_start().starts_with('['))
                .collect();
            if headers.is_empty() {
                return (Vec::new(), "emptied");
            }
            let i = headers[rng.below(headers.len())];
            if rng.below(2) == 0 {
                l.remove(i);
                (join(&l), "header deletion")
            } else {
                let h = l[i].clone();
                l.push(h);
                (join(&l), "header repeat")
            }
        }
        8 => {
            // Two mutations of different kinds on top of each other.
            let (once, _) = mutate(text, rng);
            match String::from_utf8(once) {
                Ok(t) if !t.trim().is_empty() && t.contains('=') => (mutate(&t, rng).0, "double"),
                Ok(t) => (t.into_bytes(), "double"),
                Err(e) => (e.into_bytes(), "double"),
            }
        }
        _ => {
            let mut l = owned();
            let i = pick_key(rng);
            let key = l[i].split('=').next().unwrap().trim().to_string();
            l.push(format!("{key} = {}", VALUES[rng.below(VALUES.len())]));
            (join(&l), "duplicate key")
        }
    }
}

/// What `ferrostack plan --offline` does before printing: open, check settings, load, select
/// every stack, render, hash and plan.
fn plan_offline(root: &Path) -> Result<String, ferrostack::Error> {
    let project = Project::open(root)?;
    project.check_settings()?;
    let session = Session::open(project)?;
    session.catalogue.select(&[])?;
    let (plan, _) = session.plan(&[])?;
    Ok(plan.to_text())
}

fn render(e: &ferrostack::Error) -> String {
    let handler =
        miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor());
    let mut out = String::new();
    if handler.render_report(&mut out, e).is_err() {
        out = format!("error: {e}\n");
    }
    out
}

#[test]
fn mutated_definitions_plan_or_fail_naming_the_file() {
    let (_tmp, root) = project();
    plan_offline(&root).expect("the bundled catalogue plans");
    let files = stack_files(&root);
    let originals: Vec<String> = files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect();
    let mut failures = Vec::new();
    let (mut planned, mut refused) = (0, 0);
    let mut slowest = Duration::ZERO;
    for case in 0..CASES {
        let mut rng = Rng(SEED ^ (case as u64).wrapping_mul(0xA076_1D64_78BD_642F));
        let f = rng.below(files.len());
        let (bytes, kind) = mutate(&originals[f], &mut rng);
        std::fs::write(&files[f], &bytes).unwrap();
        let rel = format!("stacks/{}", files[f].file_name().unwrap().to_string_lossy());
        let started = Instant::now();
        let cpu_before = cpu_time();
        let result = std::panic::catch_unwind(|| plan_offline(&root));
        let wall = started.elapsed();
        let took = cpu_time().saturating_sub(cpu_before);
        slowest = slowest.max(took);
        let problem = match &result {
            Err(_) => Some("panicked".to_string()),
            Ok(Ok(_)) => {
                planned += 1;
                None
            }
            Ok(Err(e)) => {
                refused += 1;
                // Rendering is what the CLI does next; it must not panic either.
                let text = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| render(e)))
                    .unwrap_or_else(|_| "PANIC while rendering".into());
                if text.starts_with("PANIC") {
                    Some(text)
                } else if !matches!(e.exit_code(), 1 | 2) {
                    Some(format!("exit code {}: {text}", e.exit_code()))
                } else if !text.contains(&rel) {
                    Some(format!("diagnostic does not name `{rel}`: {text}"))
                } else {
                    None
                }
            }
        };
        let problem = problem
            .or_else(|| (took > PER_CASE).then(|| format!("took {took:?} of CPU")))
            .or_else(|| (wall > PER_CASE_WALL).then(|| format!("took {wall:?}")));
        if let Some(p) = problem {
            eprintln!(
                "case {case} ({kind} in {rel}) took {took:?}: {}",
                p.chars().take(200).collect::<String>()
            );
            failures.push(format!(
                "case {case} ({kind} in {rel}): {}",
                p.chars().take(600).collect::<String>()
            ));
        }
        std::fs::write(&files[f], &originals[f]).unwrap();
    }
    println!("cases: {CASES}, planned: {planned}, refused: {refused}, most CPU for one case: {slowest:?}");
    assert!(
        failures.is_empty(),
        "{} of {CASES} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Case 48 of the first run: a diagnostic on a line wider than 65535 columns made miette's
/// renderer panic ("Formatting argument out of range"); snippets now cut long lines.
#[test]
fn a_diagnostic_on_a_very_long_line_renders() {
    let (_tmp, root) = project();
    let file = root.join("stacks/node.toml");
    let original = std::fs::read_to_string(&file).unwrap();
    let text = original.replacen(
        "description = ",
        &format!("description ={} 1 #", "\t".repeat(20_000)),
        1,
    );
    std::fs::write(&file, text).unwrap();
    let err = plan_offline(&root).unwrap_err();
    let text = render(&err);
    assert_eq!(err.exit_code(), 2);
    assert!(text.contains("stacks/node.toml:3:"), "{text}");
    assert!(
        text.len() < 4000,
        "the snippet is cut: {} bytes",
        text.len()
    );
}

#[test]
fn mutated_definitions_through_the_binary() {
    let (_tmp, root) = project();
    let files = stack_files(&root);
    for case in 0..6 {
        let mut rng = Rng(SEED.rotate_left(17) ^ case);
        let f = rng.below(files.len());
        let original = std::fs::read_to_string(&files[f]).unwrap();
        // Kinds that always break the file: random bytes are not guaranteed to.
        let text = match case % 3 {
            0 => format!("{original}\nname = 1\n"),
            1 => original.replacen('=', "= [[[[", 1),
            _ => format!("{}\n", &original[..original.len() / 3]),
        };
        let _ = &mut rng;
        std::fs::write(&files[f], text).unwrap();
        let started = Instant::now();
        let out = Command::cargo_bin("ferrostack")
            .unwrap()
            .env_remove("FERROSTACK_REPOSITORY")
            .env_remove("FERROSTACK_CA_BUNDLE")
            .arg("-C")
            .arg(&root)
            .args(["plan", "--offline"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let rel = format!("stacks/{}", files[f].file_name().unwrap().to_string_lossy());
        assert!(
            matches!(out.status.code(), Some(1 | 2)),
            "case {case}: {:?} {stderr}",
            out.status
        );
        assert!(stderr.contains(&rel), "case {case} names {rel}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "case {case} took {:?}",
            started.elapsed()
        );
        std::fs::write(&files[f], original).unwrap();
    }
}
