//! A real player plays what `package` wrote: headless Chromium (Debian's `chromium`, installed by
//! `scripts/setup`) loads `tests/browser/player.html` from a loopback HTTP server started here,
//! plays the HLS master with hls.js and the MPD with shaka-player (npm, installed into the test
//! target directory on first use), forces a switch between two rungs in each, and reads the
//! storyboard WebVTT with its own TextTrack. A missing browser or npm fails the test.
mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::Media;
use ferrostack_media::{package, Monitor, PackageOptions, Rung};
use serde_json::Value;

const PAGE: &str = include_str!("browser/player.html");
const PLAYERS: [&str; 2] = ["hls.js@1.7.4", "shaka-player@5.2.12"];

/// `node_modules` with the pinned players, installed with npm once per target directory.
fn players() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser-players");
    let stamp = dir.join(".installed");
    if std::fs::read_to_string(&stamp).ok().as_deref() != Some(&PLAYERS.join(" ")) {
        std::fs::create_dir_all(&dir).unwrap();
        let out = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--silent", "--prefix"])
            .arg(&dir)
            .args(PLAYERS)
            .output()
            .expect("npm must be installed (scripts/setup) to fetch hls.js and shaka-player");
        assert!(
            out.status.success(),
            "npm install {PLAYERS:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::write(&stamp, PLAYERS.join(" ")).unwrap();
    }
    dir.join("node_modules")
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "m3u8" => "application/vnd.apple.mpegurl",
        "mpd" => "application/dash+xml",
        "m4s" | "mp4" => "video/mp4",
        "js" => "application/javascript",
        "vtt" => "text/vtt",
        "jpg" => "image/jpeg",
        "json" => "application/json",
        _ => "application/octet-stream",
    }
}

/// Serves one request: the page, files under `/pkg/` and `/deps/`, and `POST /result`.
fn serve(mut stream: TcpStream, pkg: &Path, deps: &Path, results: &mpsc::Sender<String>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or("/"));
    let mut length = 0usize;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
    }
    let path = target.split('?').next().unwrap_or("/");
    let (status, kind, body): (&str, &str, Vec<u8>) = if method == "POST" && path == "/result" {
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        let _ = results.send(String::from_utf8_lossy(&body).into_owned());
        ("200 OK", "text/plain", b"ok".to_vec())
    } else if path == "/" || path == "/index.html" {
        ("200 OK", "text/html", PAGE.as_bytes().to_vec())
    } else {
        let file = if let Some(rest) = path.strip_prefix("/pkg/") {
            Some(pkg.join(rest))
        } else {
            path.strip_prefix("/deps/").map(|rest| deps.join(rest))
        };
        match file
            .filter(|_| !path.contains(".."))
            .map(|f| (std::fs::read(&f), f))
        {
            Some((Ok(bytes), f)) => ("200 OK", content_type(&f), bytes),
            _ => ("404 Not Found", "text/plain", b"not found".to_vec()),
        }
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nAccess-Control-Allow-Origin: *\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(&body));
}

/// The page's report after it played both manifests.
fn play_in_chromium(pkg: &Path) -> Value {
    let deps = players();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    let (pkg_dir, deps_dir) = (pkg.to_path_buf(), deps.clone());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (p, d, t) = (pkg_dir.clone(), deps_dir.clone(), tx.clone());
            std::thread::spawn(move || serve(stream, &p, &d, &t));
        }
    });
    let profile = tempfile::tempdir().unwrap();
    let mut browser = Command::new("chromium");
    browser
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--mute-audio",
            "--no-first-run",
            "--autoplay-policy=no-user-gesture-required",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("http://127.0.0.1:{port}/index.html"))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    std::os::unix::process::CommandExt::process_group(&mut browser, 0);
    let mut child = browser
        .spawn()
        .expect("Debian's `chromium` must be installed (scripts/setup installs it)");
    let result = rx.recv_timeout(Duration::from_secs(150));
    // Chromium's helpers share its process group: end that group, which we started.
    let _ = Command::new("kill")
        .args(["-TERM", "--", &format!("-{}", child.id())])
        .status();
    let _ = child.wait();
    let text = result.expect("the page reported nothing within 150 s");
    serde_json::from_str(&text).unwrap()
}

#[test]
fn chromium_plays_hls_and_dash_switching_rungs() {
    let dir = tempfile::tempdir().unwrap();
    let input = Media::av()
        .video("testsrc2=size=320x240:rate=25:duration=6")
        .audio(&common::tone(2, "stereo", 48000, 6.0, 0.25))
        .h264_aac()
        .write(&dir.path().join("in.mp4"));
    let out = dir.path().join("pkg");
    let options = PackageOptions {
        ladder: Some(Rung::parse_list("240,120").unwrap()),
        segment: Some(2.0),
        speed: Some("ultrafast".into()),
        storyboard: true,
        ..Default::default()
    };
    let report = package(&input, &out, &options, &mut Monitor::new()).unwrap();
    let sb = report.storyboard.as_ref().unwrap();
    let (sprite_w, sprite_h) = (
        f64::from(sb.tile_width * sb.columns),
        f64::from(sb.tile_height * sb.rows),
    );

    let r = play_in_chromium(&out);
    // Debian's Chromium decodes H.264, so the ladder under test is the default H.264 one.
    assert_eq!(r["h264"], true, "this Chromium cannot decode H.264: {r:#}");
    for player in ["hls", "dash"] {
        let p = &r[player];
        assert!(p.get("exception").is_none(), "{player}: {p:#}");
        assert_eq!(p["supported"], true, "{player}: {p:#}");
        assert_eq!(p["errors"].as_array().unwrap().len(), 0, "{player}: {p:#}");
        assert!(p["mediaError"].is_null(), "{player}: {p:#}");
        assert_eq!(p["levels"].as_array().unwrap().len(), 2, "{player}: {p:#}");
        let mut heights: Vec<u64> = p["heights"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h.as_u64().unwrap())
            .collect();
        heights.sort_unstable();
        heights.dedup();
        assert_eq!(heights, [120, 240], "{player} decoded both rungs: {p:#}");
        assert!(p["currentTime"].as_f64().unwrap() > 3.0, "{player}: {p:#}");
    }
    if let Some(switched) = r["hls"]["switched"].as_array() {
        assert!(switched.len() >= 2, "{r:#}");
    }

    // The browser's own WebVTT parser: one cue per tile, each #xywh inside the sprite.
    let cues = r["track"]["cues"].as_array().unwrap();
    assert_eq!(cues.len(), sb.tiles, "{r:#}");
    for cue in cues {
        let text = cue["text"].as_str().unwrap();
        let (file, xywh) = text.split_once("#xywh=").unwrap();
        assert_eq!(file, "storyboard.jpg");
        let n: Vec<f64> = xywh.split(',').map(|v| v.parse().unwrap()).collect();
        assert!(n[0] + n[2] <= sprite_w && n[1] + n[3] <= sprite_h, "{text}");
    }
}
