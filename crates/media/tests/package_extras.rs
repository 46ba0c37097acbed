//! `package --storyboard --waveform`, checked against independent oracles: the WebVTT file by
//! `webvtt-py` (PyPI), the sprite by ffprobe, the peaks by min/max over `ffmpeg -f s16le` PCM.
mod common;

use std::path::Path;
use std::process::Command;

use common::{ffprobe, stream, Media};
use ferrostack_media::{package, Monitor, PackageOptions, Storyboard, Waveform};
use serde_json::Value;

/// Cues as webvtt-py parses them: (start seconds, end seconds, text).
fn parse_webvtt(path: &Path) -> Vec<(f64, f64, String)> {
    let script = r#"
import json, sys, webvtt
def secs(t):
    h, m, s = t.split(':')
    return int(h) * 3600 + int(m) * 60 + float(s)
print(json.dumps([[secs(c.start), secs(c.end), c.text] for c in webvtt.read(sys.argv[1])]))
"#;
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(path)
        .output()
        .expect("python3 must be installed");
    assert!(
        out.status.success(),
        "webvtt-py (installed by scripts/setup) failed to parse {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Vec<(f64, f64, String)> = serde_json::from_slice(&out.stdout).unwrap();
    v
}

/// Per-pixel (min, max) of every channel from the source PCM decoded by the ffmpeg CLI.
fn oracle_peaks(input: &Path, channels: usize, samples_per_pixel: usize) -> Vec<i16> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin", "-i"])
        .arg(input)
        .args(["-map", "0:a:0", "-f", "s16le", "-acodec", "pcm_s16le", "-"])
        .output()
        .expect("the ffmpeg CLI must be installed as the PCM oracle");
    assert!(out.status.success());
    let samples: Vec<i16> = out
        .stdout
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    let mut data = Vec::new();
    for pixel in samples.chunks(samples_per_pixel * channels) {
        for c in 0..channels {
            let ch = pixel.iter().skip(c).step_by(channels);
            data.push(*ch.clone().min().unwrap());
            data.push(*ch.max().unwrap());
        }
    }
    data
}

#[test]
fn storyboard_and_waveform_match_their_oracles() {
    let dir = tempfile::tempdir().unwrap();
    // A rising-then-falling tone per channel so the peaks vary from pixel to pixel.
    let audio =
        "aevalsrc=exprs=0.8*sin(2*PI*300*t)*t/5|0.4*sin(2*PI*410*t)*(1-t/5):s=44100:d=5:c=stereo";
    let input = Media::av()
        .video("testsrc2=size=320x180:rate=25:duration=5")
        .audio(audio)
        .h264_aac()
        .write(&dir.path().join("in.mp4"));
    let out = dir.path().join("pkg");
    let options = PackageOptions {
        speed: Some("ultrafast".into()),
        segment: Some(2.0),
        storyboard: true,
        storyboard_every: Some(1.0),
        storyboard_columns: Some(3),
        storyboard_width: Some(64),
        waveform: true,
        samples_per_pixel: Some(512),
        ..Default::default()
    };
    let report = package(&input, &out, &options, &mut Monitor::new()).unwrap();

    // Storyboard: 5 tiles of 64x36 in a 3-column grid; the JPEG is that size.
    let sb = report.storyboard.as_ref().unwrap();
    assert_eq!((sb.tiles, sb.columns, sb.rows), (5, 3, 2));
    assert_eq!((sb.tile_width, sb.tile_height), (64, 36));
    let p = ffprobe(&sb.image);
    let v = stream(&p, "video").unwrap();
    assert_eq!(v["codec_name"], "mjpeg");
    let (sw, sh) = (v["width"].as_u64().unwrap(), v["height"].as_u64().unwrap());
    assert_eq!((sw, sh), (192, 72));

    let cues = parse_webvtt(&sb.vtt);
    assert_eq!(cues.len(), 5, "{cues:?}");
    let mut last_end = 0.0;
    for (k, (start, end, text)) in cues.iter().enumerate() {
        assert!((start - k as f64).abs() < 0.05, "cue {k} starts at {start}");
        assert!(end > start && (start - last_end).abs() < 1e-6, "{cues:?}");
        last_end = *end;
        let (file, xywh) = text.split_once("#xywh=").expect("a media fragment");
        assert_eq!(file, "storyboard.jpg");
        let n: Vec<u64> = xywh.split(',').map(|x| x.parse().unwrap()).collect();
        assert_eq!(n.len(), 4);
        assert!(
            n[0] + n[2] <= sw && n[1] + n[3] <= sh,
            "{text} outside {sw}x{sh}"
        );
    }
    assert!((last_end - 5.0).abs() < 0.05, "last cue ends at {last_end}");
    let grid: Storyboard =
        serde_json::from_str(&std::fs::read_to_string(&sb.json).unwrap()).unwrap();
    assert_eq!(grid.tiles.len(), 5);
    assert_eq!(grid.url, "storyboard.jpg");
    assert_eq!((grid.tiles[4].x, grid.tiles[4].y), (64, 36));

    // Waveform: the BBC format's fields, and peaks within 1 % of full scale of the oracle's.
    let text = std::fs::read_to_string(&report.waveform.as_ref().unwrap().path).unwrap();
    let raw: Value = serde_json::from_str(&text).unwrap();
    for key in [
        "version",
        "channels",
        "sample_rate",
        "samples_per_pixel",
        "bits",
        "length",
        "data",
    ] {
        assert!(raw.get(key).is_some(), "waveform JSON lacks `{key}`");
    }
    let w: Waveform = serde_json::from_value(raw).unwrap();
    assert_eq!((w.version, w.channels, w.bits), (2, 2, 16));
    assert_eq!((w.sample_rate, w.samples_per_pixel), (44100, 512));
    let oracle = oracle_peaks(&input, 2, 512);
    assert_eq!(w.length, oracle.len() / 4);
    assert_eq!(w.data.len(), oracle.len());
    let worst = w
        .data
        .iter()
        .zip(&oracle)
        .map(|(a, b)| (i32::from(*a) - i32::from(*b)).abs())
        .max()
        .unwrap();
    assert!(
        f64::from(worst) <= 0.01 * 32768.0,
        "largest peak difference {worst} of 32768"
    );
    // The peaks do follow the envelope: loud at the end on the left, at the start on the right.
    let left_max = |px: usize| w.data[px * 4 + 1];
    let right_max = |px: usize| w.data[px * 4 + 3];
    assert!(left_max(w.length - 2) > 20000 && left_max(1) < 2000);
    assert!(right_max(1) > 10000 && right_max(w.length - 2) < 1000);
}

#[test]
fn poster_skips_black_and_white_frames_for_the_next_shot() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.mp4");
    common::ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=black:s=320x240:d=1:r=25[a];color=c=white:s=320x240:d=1:r=25[b];\
         testsrc2=s=320x240:d=2:r=25[c];[a][b][c]concat=n=3[out0]",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        input.to_str().unwrap(),
    ]);
    let out = dir.path().join("pkg");
    let options = PackageOptions {
        speed: Some("ultrafast".into()),
        poster: true,
        ..Default::default()
    };
    let report = package(&input, &out, &options, &mut Monitor::new()).unwrap();
    let poster = report.poster.as_ref().unwrap();
    assert!((poster.time - 2.0).abs() < 0.01, "{poster:?}");
    assert_eq!((poster.width, poster.height), (320, 240));
    // Read back by the ffmpeg CLI: the mean luma of the JPEG is neither black nor white.
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&poster.path)
        .args(["-vf", "scale=1:1,format=gray", "-f", "rawvideo", "-"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        (60..200).contains(&out.stdout[0]),
        "mean luma {}",
        out.stdout[0]
    );
}

#[test]
fn a_source_starting_late_gets_even_tiles_and_segments() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("late.ts");
    common::ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=160x120:rate=25:duration=3",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-output_ts_offset",
        "10",
        "-f",
        "mpegts",
        input.to_str().unwrap(),
    ]);
    let options = PackageOptions {
        speed: Some("ultrafast".into()),
        segment: Some(1.0),
        storyboard: true,
        storyboard_every: Some(1.0),
        ..Default::default()
    };
    let report = package(
        &input,
        &dir.path().join("pkg"),
        &options,
        &mut Monitor::new(),
    )
    .unwrap();
    assert_eq!(report.segment_starts, [0.0, 1.0, 2.0]);
    let cues = parse_webvtt(&report.storyboard.as_ref().unwrap().vtt);
    let starts: Vec<f64> = cues.iter().map(|c| c.0).collect();
    assert_eq!(starts, [0.0, 1.0, 2.0]);
    assert!((cues[2].1 - 3.0).abs() < 0.05, "{cues:?}");
}
