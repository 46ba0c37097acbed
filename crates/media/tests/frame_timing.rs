//! The encoded bit stream tells the source's frame rate: x264 writes its time base into the
//! stream's timing info, which anything reading the bit stream itself (a raw H.264 or MPEG-TS
//! remux, ffprobe's packet durations) goes by. ffprobe over an `ffmpeg -c copy -f h264`
//! extraction is the oracle.
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{ffmpeg, Media};
use ferrostack_media::{package, resize, Monitor, PackageOptions, ResizeOptions, Rung};

/// The H.264 elementary stream of `path`, extracted as is.
fn elementary(path: &Path) -> PathBuf {
    let raw = path.with_extension("h264");
    ffmpeg(&[
        "-v",
        "error",
        "-y",
        "-i",
        &path.display().to_string(),
        "-map",
        "0:v:0",
        "-c",
        "copy",
        "-f",
        "h264",
        &raw.display().to_string(),
    ]);
    raw
}

/// One ffprobe entry of the first video stream (or its packets with `packet=`).
fn probe(path: &Path, entries: &str) -> Vec<String> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries"])
        .arg(entries)
        .args(["-of", "csv=p=0"])
        .arg(path)
        .output()
        .expect("ffprobe must be installed as the test oracle");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// `input` resized to 160 pixels wide, beside it.
fn resized(input: &Path) -> PathBuf {
    let out = input.with_file_name("small.mp4");
    let options = ResizeOptions {
        width: Some(160),
        ..Default::default()
    };
    resize(input, &out, &options, &mut Monitor::new()).unwrap();
    out
}

#[test]
fn every_package_rung_tells_the_source_frame_rate() {
    let dir = tempfile::tempdir().unwrap();
    let input = Media::av()
        .video("testsrc2=size=320x240:rate=25:duration=3")
        .h264_aac()
        .write(&dir.path().join("in.mp4"));
    let options = PackageOptions {
        ladder: Some(Rung::parse_list("240,120").unwrap()),
        speed: Some("ultrafast".into()),
        segment: Some(1.0),
        ..Default::default()
    };
    let out = dir.path().join("out");
    let report = package(&input, &out, &options, &mut Monitor::new()).unwrap();
    for (i, rung) in report.rungs.iter().enumerate() {
        let mut bytes = std::fs::read(&rung.init).unwrap();
        for s in &rung.segments {
            bytes.extend(std::fs::read(s).unwrap());
        }
        let joined = dir.path().join(format!("rung{i}.mp4"));
        std::fs::write(&joined, bytes).unwrap();
        let raw = elementary(&joined);
        assert_eq!(
            probe(&raw, "stream=r_frame_rate"),
            ["25/1"],
            "{}",
            rung.name
        );
        // Every packet of the segments lasts one frame.
        let durations = probe(&joined, "packet=duration_time");
        assert_eq!(durations.len(), 75, "{}", rung.name);
        assert!(
            durations.iter().all(|d| d == "0.040000"),
            "{}: {durations:?}",
            rung.name
        );
    }
}

#[test]
fn a_resized_stream_tells_the_source_frame_rate() {
    let dir = tempfile::tempdir().unwrap();
    let input = Media::av()
        .video("testsrc2=size=320x240:rate=30000/1001:duration=2")
        .h264_aac()
        .write(&dir.path().join("in.mp4"));
    let out = resized(&input);
    assert_eq!(
        probe(&elementary(&out), "stream=r_frame_rate"),
        ["30000/1001"]
    );
    assert_eq!(probe(&out, "stream=avg_frame_rate"), ["30000/1001"]);
}

#[test]
fn a_variable_rate_source_keeps_every_picture() {
    // Pictures at 0, 1.3, 2, 3.3, 4 ... thirtieths of a second: variable spacing, as phones
    // write it. Each stays (no two share a tick), in order, at its time within a tick.
    let dir = tempfile::tempdir().unwrap();
    let input = Media::av()
        .video("testsrc2=size=320x240:rate=30:duration=2,setpts='(N+0.3*mod(N\\,2))/30/TB'")
        .h264_aac()
        .args(&["-fps_mode", "passthrough", "-video_track_timescale", "3000"])
        .write(&dir.path().join("vfr.mp4"));
    assert_eq!(probe(&input, "packet=pts_time").len(), 60);
    let out = resized(&input);
    let mut source: Vec<f64> = probe(&input, "packet=pts_time")
        .iter()
        .map(|t| t.parse().unwrap())
        .collect();
    let mut resized: Vec<f64> = probe(&out, "packet=pts_time")
        .iter()
        .map(|t| t.parse().unwrap())
        .collect();
    source.sort_by(f64::total_cmp);
    resized.sort_by(f64::total_cmp);
    assert_eq!(resized.len(), source.len(), "{resized:?}");
    let tick = 1.0 / 30.0;
    for (a, b) in source.iter().zip(&resized) {
        assert!((a - b).abs() <= tick / 2.0 + 1e-6, "{a} became {b}");
    }
}
