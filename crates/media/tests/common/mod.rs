//! Test media made with the real `ffmpeg` CLI from lavfi sources, and `ffprobe` as the oracle.
//! A missing `ffmpeg`/`ffprobe` makes tests fail, never skip.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

/// Runs `ffmpeg -v error -y ARGS`, failing the test with FFmpeg's stderr when it fails.
pub fn ffmpeg(args: &[&str]) {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-v", "error", "-y"])
        .args(args)
        .output()
        .expect("the ffmpeg CLI must be installed to make test media");
    assert!(
        out.status.success(),
        "ffmpeg {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `ffprobe -show_format -show_streams` as JSON.
pub fn ffprobe(path: &Path) -> Value {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_format",
            "-show_streams",
            "-of",
            "json",
        ])
        .arg(path)
        .output()
        .expect("the ffprobe CLI must be installed as the test oracle");
    assert!(
        out.status.success(),
        "ffprobe {} failed: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("ffprobe prints JSON")
}

/// The first stream of `kind` in ffprobe's output.
pub fn stream<'a>(probe: &'a Value, kind: &str) -> Option<&'a Value> {
    probe["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["codec_type"] == kind)
}

pub fn duration(probe: &Value) -> f64 {
    probe["format"]["duration"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// An `aevalsrc` tone of `channels` channels (one frequency each) at `amplitude`.
pub fn tone(channels: usize, layout: &str, rate: u32, seconds: f64, amplitude: f64) -> String {
    let exprs: Vec<String> = (0..channels)
        .map(|c| format!("{amplitude}*sin(2*PI*{}*t)", 300 + 110 * c))
        .collect();
    format!(
        "aevalsrc=exprs={}:s={rate}:d={seconds}:c={layout}",
        exprs.join("|")
    )
}

/// Builder for lavfi-generated test files.
pub struct Media {
    pub video: Option<String>,
    pub audio: Option<String>,
    pub codec_args: Vec<String>,
}

impl Media {
    /// 2 s, 320x240 at 25 fps with a stereo tone.
    pub fn av() -> Self {
        Media {
            video: Some("testsrc2=size=320x240:rate=25:duration=2".into()),
            audio: Some(tone(2, "stereo", 48000, 2.0, 0.25)),
            codec_args: vec![],
        }
    }

    pub fn video(mut self, lavfi: &str) -> Self {
        self.video = Some(lavfi.into());
        self
    }

    pub fn audio(mut self, lavfi: &str) -> Self {
        self.audio = Some(lavfi.into());
        self
    }

    pub fn no_audio(mut self) -> Self {
        self.audio = None;
        self
    }

    pub fn no_video(mut self) -> Self {
        self.video = None;
        self
    }

    pub fn args(mut self, args: &[&str]) -> Self {
        self.codec_args.extend(args.iter().map(|s| s.to_string()));
        self
    }

    /// H.264/AAC in MP4.
    pub fn h264_aac(self) -> Self {
        self.args(&[
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
        ])
    }

    /// VP9 4:4:4 in WebM (fast settings), for odd sizes and chroma the encoders refuse.
    pub fn vp9_444(self) -> Self {
        self.args(&[
            "-c:v",
            "libvpx-vp9",
            "-deadline",
            "realtime",
            "-cpu-used",
            "8",
            "-pix_fmt",
            "yuv444p",
        ])
    }

    /// VP9/Opus in WebM.
    pub fn vp9_opus(self) -> Self {
        self.args(&[
            "-c:v",
            "libvpx-vp9",
            "-deadline",
            "realtime",
            "-cpu-used",
            "8",
            "-b:v",
            "300k",
            "-c:a",
            "libopus",
        ])
    }

    pub fn write(&self, path: &Path) -> PathBuf {
        let mut args: Vec<String> = Vec::new();
        for src in [&self.video, &self.audio].into_iter().flatten() {
            args.extend(["-f".into(), "lavfi".into(), "-i".into(), src.clone()]);
        }
        args.extend(self.codec_args.iter().cloned());
        args.push(path.display().to_string());
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        ffmpeg(&refs);
        path.to_path_buf()
    }
}

/// Files in `dir`, to check nothing (no temp file) was left behind.
/// A stream copy of `plain` at `out` whose video carries a 90° rotation (display matrix).
pub fn rotated_copy(plain: &Path, out: &Path) -> PathBuf {
    ffmpeg(&[
        "-i",
        plain.to_str().unwrap(),
        "-c",
        "copy",
        "-metadata:s:v:0",
        "rotate=90",
        out.to_str().unwrap(),
    ]);
    out.to_path_buf()
}

pub fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// The first picture `filter` (applied after `format=rgb24`) lets through, as raw RGB, the way
/// the ffmpeg CLI decodes it (autorotated).
pub fn rgb_frame(path: &Path, filter: &str) -> Vec<u8> {
    let vf = if filter.is_empty() {
        "format=rgb24".to_owned()
    } else {
        format!("format=rgb24,{filter}")
    };
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin", "-i"])
        .arg(path)
        .args([
            "-vf",
            &vf,
            "-frames:v",
            "1",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-",
        ])
        .output()
        .expect("the ffmpeg CLI must be installed");
    assert!(
        out.status.success(),
        "reading a picture of {} failed: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The RGB colour at (x, y) of the first frame, as the ffmpeg CLI decodes it (autorotated).
pub fn pixel(path: &Path, x: u32, y: u32) -> [u8; 3] {
    let p = rgb_frame(path, &format!("crop=1:1:{x}:{y}"));
    assert_eq!(p.len(), 3, "one pixel expected");
    [p[0], p[1], p[2]]
}

/// Roughly blue (the marker box in the rotation fixtures), allowing for codec loss.
pub fn is_blue(p: [u8; 3]) -> bool {
    p[2] > 150 && p[0] < 100 && p[1] < 100
}

/// Loudness as the ffmpeg CLI's `ebur128` filter reports it (the independent oracle).
#[derive(Debug, Clone, Copy)]
pub struct Oracle {
    pub integrated: f64,
    pub lra: f64,
    pub sample_peak: f64,
    pub true_peak: f64,
}

pub fn ebur128(path: &Path, dual_mono: bool) -> Oracle {
    let filter = format!(
        "ebur128=peak=true+sample:framelog=verbose:dualmono={}",
        dual_mono
    );
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostats", "-nostdin", "-v", "info", "-i"])
        .arg(path)
        .args(["-map", "0:a:0", "-af", &filter, "-f", "null", "-"])
        .output()
        .expect("the ffmpeg CLI must be installed as the loudness oracle");
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "ebur128 oracle failed: {text}");
    let summary = &text[text.rfind("Summary:").expect("ebur128 summary")..];
    let value = |label: &str, nth: usize| -> f64 {
        summary
            .lines()
            .filter(|l| l.trim_start().starts_with(label))
            .nth(nth)
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no `{label}` in {summary}"))
    };
    Oracle {
        integrated: value("I:", 0),
        lra: value("LRA:", 0),
        sample_peak: value("Peak:", 0),
        true_peak: value("Peak:", 1),
    }
}
pub mod hostile;
pub mod mutate;

/// Runs `command` with its output piped, waits for its first progress line on stderr (so the
/// task is running), sends it `signal` (`-INT`, `-TERM`) and returns that line and the output.
pub fn signal_after_first_line(mut command: Command, signal: &str) -> (String, Output) {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stderr, &mut line).unwrap();
    Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    (line, child.wait_with_output().unwrap())
}
