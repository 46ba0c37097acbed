//! `package` on real files: the ladder, segments and manifests checked with ffprobe as the oracle.
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{ffprobe, stream, Media};
use ferrostack_media::{
    package, CancelFlag, MediaError, Monitor, PackageOptions, PackageReport, Rung,
};
use serde_json::Value;

fn fast() -> PackageOptions {
    PackageOptions {
        speed: Some("ultrafast".into()),
        segment: Some(2.0),
        ..Default::default()
    }
}

/// The init segment and the media segments of one representation, concatenated: one fMP4 file
/// ffprobe reads like any MP4.
fn joined(init: &Path, segments: &[PathBuf], out: &Path) -> PathBuf {
    let mut bytes = std::fs::read(init).unwrap();
    for s in segments {
        bytes.extend(std::fs::read(s).unwrap());
    }
    std::fs::write(out, bytes).unwrap();
    out.to_path_buf()
}

/// Presentation times (seconds) of the key frames of the first video stream, per ffprobe.
fn key_frames(path: &Path) -> Vec<f64> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "packet=pts_time,flags",
            "-of",
            "json",
        ])
        .arg(path)
        .output()
        .expect("ffprobe must be installed as the test oracle");
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut keys: Vec<f64> = v["packets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["flags"].as_str().unwrap().starts_with('K'))
        .map(|p| p["pts_time"].as_str().unwrap().parse().unwrap())
        .collect();
    keys.sort_by(f64::total_cmp);
    keys
}

fn video_duration(probe: &Value) -> f64 {
    let v = stream(probe, "video").unwrap();
    v["duration"]
        .as_str()
        .map(|d| d.parse().unwrap())
        .unwrap_or_else(|| common::duration(probe))
}

/// Checks every rung with ffprobe: codec, size, even dimensions, duration within one frame of
/// the source, key frames exactly at the segment starts, identical on every rung.
fn check_rungs(report: &PackageReport, source: &Path, frame: f64, work: &Path) {
    check_rungs_of(report, source, frame, work, "h264");
}

fn check_rungs_of(report: &PackageReport, source: &Path, frame: f64, work: &Path, codec: &str) {
    let src = ffprobe(source);
    let src_duration = video_duration(&src);
    let mut boundaries: Option<Vec<f64>> = None;
    for (i, rung) in report.rungs.iter().enumerate() {
        assert_eq!(rung.segments.len(), report.segment_starts.len(), "{rung:?}");
        let file = joined(
            &rung.init,
            &rung.segments,
            &work.join(format!("rung{i}.mp4")),
        );
        let p = ffprobe(&file);
        let v = stream(&p, "video").unwrap();
        assert_eq!(v["codec_name"], codec);
        assert_eq!(v["width"].as_u64(), Some(u64::from(rung.width)));
        assert_eq!(v["height"].as_u64(), Some(u64::from(rung.height)));
        assert_eq!(rung.width % 2, 0);
        assert_eq!(rung.height % 2, 0);
        let d = video_duration(&p);
        assert!(
            (d - src_duration).abs() <= frame + 1e-3,
            "{}: duration {d} vs source {src_duration}",
            rung.name
        );
        let keys = key_frames(&file);
        for (k, s) in keys.iter().zip(&report.segment_starts) {
            assert!((k - s).abs() < 1e-3, "{}: key frames {keys:?}", rung.name);
        }
        assert_eq!(keys.len(), report.segment_starts.len(), "{keys:?}");
        // Each segment starts with a key frame: probe the segment alone behind its init.
        for (j, seg) in rung.segments.iter().enumerate() {
            let one = joined(
                &rung.init,
                std::slice::from_ref(seg),
                &work.join(format!("seg{i}-{j}.mp4")),
            );
            let first = key_frames(&one);
            assert!(
                !first.is_empty(),
                "segment {} has no key frame",
                seg.display()
            );
        }
        match &boundaries {
            None => boundaries = Some(keys),
            Some(b) => assert_eq!(b, &keys, "boundaries differ on {}", rung.name),
        }
        assert!(rung.peak_segment_bit_rate >= rung.bit_rate / 2, "{rung:?}");
    }
}

#[test]
fn ladder_from_1080p_has_aligned_segments_hls_and_dash() {
    let dir = tempfile::tempdir().unwrap();
    let input = Media::av()
        .video("testsrc2=size=1920x1080:rate=25:duration=6")
        .audio(&common::tone(2, "stereo", 44100, 6.0, 0.25))
        .h264_aac()
        .write(&dir.path().join("in.mp4"));
    let out = dir.path().join("pkg");
    let report = package(&input, &out, &fast(), &mut Monitor::new()).unwrap();

    let sizes: Vec<(u32, u32)> = report.rungs.iter().map(|r| (r.width, r.height)).collect();
    assert_eq!(sizes, [(1920, 1080), (1280, 720), (854, 480), (640, 360)]);
    assert_eq!(report.segment_starts, [0.0, 2.0, 4.0]);
    let work = tempfile::tempdir().unwrap();
    check_rungs(&report, &input, 0.04, work.path());

    // Audio: AAC 48 kHz stereo, as long as the source.
    let a = report.audio.as_ref().unwrap();
    let file = joined(&a.init, &a.segments, &work.path().join("audio.mp4"));
    let p = ffprobe(&file);
    let s = stream(&p, "audio").unwrap();
    assert_eq!(s["codec_name"], "aac");
    assert_eq!(s["sample_rate"], "48000");
    assert_eq!(s["channels"].as_u64(), Some(2));
    assert!((common::duration(&p) - 6.0).abs() < 0.1);

    // The manifests, read by FFmpeg's own HLS and DASH demuxers.
    let master = std::fs::read_to_string(report.hls.as_ref().unwrap()).unwrap();
    assert_eq!(master.matches("#EXT-X-STREAM-INF").count(), 4, "{master}");
    assert!(master.contains("RESOLUTION=1920x1080"), "{master}");
    assert!(master.contains("TYPE=AUDIO"), "{master}");
    for rung in &report.rungs {
        let media = std::fs::read_to_string(rung.playlist.as_ref().unwrap()).unwrap();
        assert!(media.contains("#EXT-X-MAP:URI=\"init-stream"), "{media}");
        assert_eq!(media.matches("#EXTINF").count(), 3, "{media}");
        assert!(media.contains("#EXT-X-ENDLIST"));
    }
    let p = ffprobe(report.hls.as_ref().unwrap());
    assert!((common::duration(&p) - 6.0).abs() < 0.1, "{p}");
    let mpd = std::fs::read_to_string(report.dash.as_ref().unwrap()).unwrap();
    assert!(mpd.contains("type=\"static\""), "{mpd}");
    assert_eq!(mpd.matches("<Representation").count(), 5, "{mpd}");
    let p = ffprobe(report.dash.as_ref().unwrap());
    assert_eq!(p["streams"].as_array().unwrap().len(), 5, "{p}");

    // The output directory is the only thing added; nothing temporary is left.
    assert_eq!(common::files_in(dir.path()), ["in.mp4", "pkg"]);
    assert_eq!(
        report.size,
        std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap().len())
            .sum::<u64>()
    );
}

/// Average PSNR (dB, over Y, U and V) of `encoded` against `source` scaled to the same size by
/// the CLI, frames paired by time; `shift` delays the source by that many seconds.
fn psnr_against_source(encoded: &Path, source: &Path, width: u32, height: u32, shift: f64) -> f64 {
    let out = Command::new("ffmpeg")
        .args(["-v", "info", "-nostdin", "-i"])
        .arg(encoded)
        .args(["-itsoffset", &shift.to_string(), "-i"])
        .arg(source)
        .args([
            "-lavfi",
            &format!(
                "[1:v]scale={width}:{height},format=yuv420p[r];[0:v]format=yuv420p[m];[m][r]psnr"
            ),
            "-f",
            "null",
            "-",
        ])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    let average = log
        .split("average:")
        .nth(1)
        .and_then(|t| t.split_whitespace().next())
        .unwrap_or_else(|| panic!("no PSNR in {log}"));
    average.parse().unwrap()
}

#[test]
fn every_rung_shows_the_source_picture_at_its_time() {
    // 480p and 360p are scaled from 720p's picture (on 720p's thread), the others from the
    // source: every rung must still be the source's picture at that time, scaled.
    let dir = tempfile::tempdir().unwrap();
    let input = Media::av()
        .video("testsrc2=size=1920x1080:rate=25:duration=3")
        .no_audio()
        .h264_aac()
        .write(&dir.path().join("in.mp4"));
    let out = dir.path().join("pkg");
    let report = package(&input, &out, &fast(), &mut Monitor::new()).unwrap();
    assert_eq!(report.rungs.len(), 4);
    let work = tempfile::tempdir().unwrap();
    // An encoder given more than one thread cuts pictures into slices rather than holding more
    // pictures in flight (x264's settings string, in the first picture's SEI).
    let top = std::fs::read(&report.rungs[0].segments[0]).unwrap();
    let settings = String::from_utf8_lossy(&top);
    let sliced = settings.contains(" sliced_threads=1 ");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert_eq!(
        sliced,
        cores > 1,
        "1080p on {cores} cores: {}",
        &settings[settings.find("x264 - core").unwrap()..][..300]
    );
    for (i, r) in report.rungs.iter().enumerate() {
        let file = joined(&r.init, &r.segments, &work.path().join(format!("{i}.mp4")));
        let same = psnr_against_source(&file, &input, r.width, r.height, 0.0);
        let late = psnr_against_source(&file, &input, r.width, r.height, 0.08);
        assert!(same >= 32.0, "{}: {same:.1} dB against the source", r.name);
        assert!(
            same >= late + 3.0,
            "{}: {same:.1} dB in step, {late:.1} dB two frames off: the rung's pictures are not the source's at their times",
            r.name
        );
    }
}

#[test]
fn small_source_is_never_upscaled_and_custom_ladders_apply() {
    let dir = tempfile::tempdir().unwrap();
    let input = Media::av()
        .video("testsrc2=size=320x240:rate=25:duration=3")
        .audio(&common::tone(1, "mono", 44100, 3.0, 0.25))
        .h264_aac()
        .write(&dir.path().join("in.mp4"));
    let out = dir.path().join("pkg");
    let report = package(&input, &out, &fast(), &mut Monitor::new()).unwrap();
    let sizes: Vec<(u32, u32)> = report.rungs.iter().map(|r| (r.width, r.height)).collect();
    assert_eq!(sizes, [(320, 240)], "smaller than every rung: its own size");
    assert_eq!(report.audio.as_ref().unwrap().channels, 1);
    let work = tempfile::tempdir().unwrap();
    check_rungs(&report, &input, 0.04, work.path());

    // A custom ladder: 720 is above the source and dropped; 180 and 120 are kept. HLS only.
    let options = PackageOptions {
        ladder: Some(Rung::parse_list("720,180,120").unwrap()),
        hls: Some(true),
        no_audio: true,
        ..fast()
    };
    let report = package(&input, &out, &options, &mut Monitor::new()).unwrap();
    let sizes: Vec<(u32, u32)> = report.rungs.iter().map(|r| (r.width, r.height)).collect();
    assert_eq!(sizes, [(240, 180), (160, 120)]);
    assert!(report.dash.is_none() && report.audio.is_none());
    assert!(!out.join("manifest.mpd").exists());
    assert!(out.join("master.m3u8").exists());
    check_rungs(&report, &input, 0.04, work.path());
    assert_eq!(common::files_in(dir.path()), ["in.mp4", "pkg"]);
}

#[test]
fn failures_and_cancel_leave_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.mp4");
    std::fs::write(&bad, b"not media at all, not even close").unwrap();
    let out = dir.path().join("pkg");
    let err = package(&bad, &out, &fast(), &mut Monitor::new()).unwrap_err();
    assert_eq!(err.kind(), "invalid_input", "{err}");

    let audio_only = Media::av().no_video().write(&dir.path().join("a.wav"));
    let err = package(&audio_only, &out, &fast(), &mut Monitor::new()).unwrap_err();
    assert!(
        matches!(err, MediaError::MissingStream { kind: "video", .. }),
        "{err}"
    );

    let input = Media::av().h264_aac().write(&dir.path().join("in.mp4"));
    let flag = CancelFlag::new();
    let stopper = flag.clone();
    let mut monitor = Monitor::new()
        .cancel_with(flag)
        .on_progress(move |_| stopper.cancel());
    let err = package(&input, &out, &fast(), &mut monitor).unwrap_err();
    assert!(matches!(err, MediaError::Cancelled), "{err:?}");

    let err = package(
        &input,
        &out,
        &PackageOptions {
            segment: Some(0.1),
            ..fast()
        },
        &mut Monitor::new(),
    )
    .unwrap_err();
    assert_eq!(err.kind(), "invalid_option");
    for bad in [
        PackageOptions {
            speed: Some("warp".into()),
            ..fast()
        },
        PackageOptions {
            waveform: true,
            no_audio: true,
            ..fast()
        },
    ] {
        let err = package(&input, &out, &bad, &mut Monitor::new()).unwrap_err();
        assert_eq!(err.kind(), "invalid_option", "{err}");
    }
    // A silent-film source with --waveform: refused before anything is encoded.
    let mute = Media::av()
        .no_audio()
        .h264_aac()
        .write(&dir.path().join("mute.mp4"));
    let err = package(
        &mute,
        &out,
        &PackageOptions {
            waveform: true,
            ..fast()
        },
        &mut Monitor::new(),
    )
    .unwrap_err();
    assert!(
        matches!(err, MediaError::MissingStream { kind: "audio", .. }),
        "{err}"
    );
    // An extreme sample aspect ratio would ask for a picture wider than the limit.
    let wide = Media::av()
        .no_audio()
        .video("testsrc2=size=200x48:rate=25:duration=1,setsar=100/1")
        .h264_aac()
        .write(&dir.path().join("wide.mp4"));
    let err = package(&wide, &out, &fast(), &mut Monitor::new()).unwrap_err();
    assert_eq!(err.kind(), "limit_exceeded", "{err}");
    assert_eq!(
        common::files_in(dir.path()),
        ["a.wav", "bad.mp4", "in.mp4", "mute.mp4", "wide.mp4"]
    );
}

#[test]
fn cli_reports_json_and_progress_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let input = Media::av().h264_aac().write(&dir.path().join("in.mp4"));
    let out = dir.path().join("pkg");
    let bin = env!("CARGO_BIN_EXE_ferrostack-media");
    let res = Command::new(bin)
        .args(["package", input.to_str().unwrap(), out.to_str().unwrap()])
        .args([
            "--speed",
            "ultrafast",
            "--segment",
            "1",
            "--json",
            "--progress",
            "json",
        ])
        .output()
        .unwrap();
    assert_eq!(
        res.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    let v: Value = serde_json::from_slice(&res.stdout).unwrap();
    assert_eq!(v["task"], "package");
    assert_eq!(v["rungs"][0]["width"], 320);
    assert_eq!(v["segment_starts"].as_array().unwrap().len(), 2);
    assert!(v["rungs"][0]["peak_segment_bit_rate"].as_u64().unwrap() > 0);
    assert!(v["audio"]["duration"].as_f64().unwrap() > 1.9);
    let last: Value =
        serde_json::from_str(String::from_utf8_lossy(&res.stderr).lines().last().unwrap()).unwrap();
    assert_eq!(last["task"], "package");
    assert_eq!(last["percent"], 100.0);

    let res = Command::new(bin)
        .args(["package", input.to_str().unwrap(), out.to_str().unwrap()])
        .args(["--ladder", "big"])
        .output()
        .unwrap();
    assert_eq!(res.status.code(), Some(2));
    insta::assert_snapshot!(
        "package_bad_ladder_stderr",
        String::from_utf8_lossy(&res.stderr)
    );
}

#[test]
fn vp9_ladder_has_the_same_guarantees() {
    let dir = tempfile::tempdir().unwrap();
    let input = Media::av()
        .video("testsrc2=size=320x240:rate=25:duration=4")
        .no_audio()
        .h264_aac()
        .write(&dir.path().join("in.mp4"));
    let out = dir.path().join("pkg");
    let options = PackageOptions {
        video_codec: Some("libvpx-vp9".into()),
        ladder: Some(Rung::parse_list("240,120").unwrap()),
        ..fast()
    };
    let report = package(&input, &out, &options, &mut Monitor::new()).unwrap();
    assert!(report
        .rungs
        .iter()
        .all(|r| r.codec == "libvpx-vp9" && r.crf == 32));
    assert_eq!(report.segment_starts, [0.0, 2.0]);
    let work = tempfile::tempdir().unwrap();
    check_rungs_of(&report, &input, 0.04, work.path(), "vp9");
    let master = std::fs::read_to_string(report.hls.as_ref().unwrap()).unwrap();
    assert!(master.contains("CODECS=\"vp09."), "{master}");

    let err = package(
        &input,
        &out,
        &PackageOptions {
            video_codec: Some("mpeg4".into()),
            ..fast()
        },
        &mut Monitor::new(),
    )
    .unwrap_err();
    assert_eq!(err.kind(), "invalid_option");
}

#[test]
fn sigint_cancels_and_leaves_no_directory() {
    let dir = tempfile::tempdir().unwrap();
    let input = Media::av()
        .video("testsrc2=size=640x360:rate=25:duration=20")
        .audio(&common::tone(2, "stereo", 48000, 20.0, 0.2))
        .h264_aac()
        .write(&dir.path().join("in.mp4"));
    let out = dir.path().join("pkg");
    let mut command = Command::new(env!("CARGO_BIN_EXE_ferrostack-media"));
    command
        .args(["package", input.to_str().unwrap(), out.to_str().unwrap()])
        .args(["--storyboard", "--waveform", "--json", "--progress", "json"]);
    // The first progress line: segments are being written into the staged directory.
    let (line, res) = common::signal_after_first_line(command, "-INT");
    assert!(line.contains("\"package\""), "{line}");
    assert_eq!(res.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&res.stdout).unwrap();
    assert_eq!(v["error"]["kind"], "cancelled");
    assert_eq!(common::files_in(dir.path()), ["in.mp4"]);
}

#[test]
fn normalize_brings_the_audio_to_the_target() {
    let dir = tempfile::tempdir().unwrap();
    let input = Media::av()
        .video("testsrc2=size=160x120:rate=25:duration=8")
        .audio(&common::tone(2, "stereo", 48000, 8.0, 0.05))
        .h264_aac()
        .write(&dir.path().join("in.mp4"));
    let out = dir.path().join("pkg");
    let options = PackageOptions {
        normalize: true,
        target: Some(-16.0),
        ..fast()
    };
    let report = package(&input, &out, &options, &mut Monitor::new()).unwrap();
    let a = report.audio.as_ref().unwrap();
    assert_eq!(a.normalized_to, Some(-16.0));
    let work = tempfile::tempdir().unwrap();
    let file = joined(&a.init, &a.segments, &work.path().join("audio.mp4"));
    let before = common::ebur128(&input, false);
    let after = common::ebur128(&file, false);
    assert!(before.integrated < -25.0, "{before:?}");
    assert!((after.integrated - -16.0).abs() <= 1.0, "{after:?}");
    assert!(after.true_peak <= -1.0, "{after:?}");
}

#[test]
fn default_speed_with_b_frames_keeps_boundaries_aligned() {
    // The default x264 preset (veryfast) uses B-frames, so packets arrive reordered (dts < pts);
    // the forced IDRs must still start every segment of every rung. 30000/1001 fps as phones film.
    let dir = tempfile::tempdir().unwrap();
    let input = Media::av()
        .video("testsrc2=size=320x240:rate=30000/1001:duration=4")
        .h264_aac()
        .write(&dir.path().join("in.mp4"));
    let options = PackageOptions {
        ladder: Some(Rung::parse_list("240,120").unwrap()),
        segment: Some(1.0),
        ..Default::default()
    };
    let report = package(
        &input,
        &dir.path().join("pkg"),
        &options,
        &mut Monitor::new(),
    )
    .unwrap();
    assert_eq!(
        report.segment_starts.len(),
        4,
        "{:?}",
        report.segment_starts
    );
    let work = tempfile::tempdir().unwrap();
    check_rungs(&report, &input, 1.0 / 29.97, work.path());
}

/// A master playlist with every `BANDWIDTH` value replaced by `*`.
fn without_bandwidths(master: &[u8]) -> Vec<u8> {
    let text = String::from_utf8(master.to_vec()).unwrap();
    let mut parts = text.split("BANDWIDTH=");
    let mut out = parts.next().unwrap().to_string();
    for part in parts {
        let digits = part.chars().take_while(char::is_ascii_digit).count();
        assert!(digits > 0, "BANDWIDTH without a value: {text}");
        out.push_str("BANDWIDTH=*");
        out.push_str(&part[digits..]);
    }
    out.into_bytes()
}

#[test]
fn the_same_upload_gets_the_same_manifests_lasting_as_long_as_the_source() {
    // Two packagings of one upload write the same manifests and storyboard (the `dash` muxer
    // stamps HLS segments with the wall clock; `package` drops the stamps), and the package lasts
    // as long as the source, its last picture included. The segments themselves may differ by
    // a few bytes: x264 under a VBV cap with more than one thread picks row quantisers from the
    // other threads' progress (the CLI's x264 does the same; one thread is reproducible). So
    // may the master's BANDWIDTH where a segment ran above its cap (this source's do: it is the
    // measured peak there, checked by `the_playlists_declare_the_peak_that_was_written_and_vod`);
    // the rest of the master is the same.
    let dir = tempfile::tempdir().unwrap();
    let input = Media::av()
        .video("testsrc2=size=640x360:rate=25:duration=4")
        .audio(&common::tone(2, "stereo", 48000, 4.0, 0.25))
        .h264_aac()
        .write(&dir.path().join("in.mp4"));
    let options = PackageOptions {
        ladder: Some(Rung::parse_list("360,240").unwrap()),
        storyboard: true,
        storyboard_every: Some(1.0),
        ..fast()
    };
    let first = dir.path().join("first");
    let second = dir.path().join("second");
    let report = package(&input, &first, &options, &mut Monitor::new()).unwrap();
    package(&input, &second, &options, &mut Monitor::new()).unwrap();

    let names = common::files_in(&first);
    assert_eq!(names, common::files_in(&second));
    assert!(names.iter().any(|n| n == "media_0.m3u8"), "{names:?}");
    let manifests: Vec<&String> = names.iter().filter(|n| !n.ends_with(".m4s")).collect();
    assert_eq!(manifests.len(), 8, "{manifests:?}"); // MPD, master, 3 media, 3 storyboard
    for name in manifests {
        let mut a = std::fs::read(first.join(name)).unwrap();
        let mut b = std::fs::read(second.join(name)).unwrap();
        if name == "master.m3u8" {
            a = without_bandwidths(&a);
            b = without_bandwidths(&b);
        }
        assert!(
            a == b,
            "{name} differs between two packagings of one upload"
        );
        if name.ends_with(".m3u8") {
            let text = String::from_utf8(a).unwrap();
            assert!(!text.contains("PROGRAM-DATE-TIME"), "{name}: {text}");
            assert!(text.contains("#EXTM3U"), "{name}: {text}");
        }
    }

    // 100 pictures at 25 fps: 4 s, the last picture lasting its frame.
    assert!((report.duration - 4.0).abs() < 1e-6, "{}", report.duration);
    for rung in &report.rungs {
        assert!((rung.duration - 4.0).abs() < 1e-6, "{rung:?}");
    }
    let vtt = std::fs::read_to_string(&report.storyboard.as_ref().unwrap().vtt).unwrap();
    assert!(vtt.contains("00:00:03.000 --> 00:00:04.000"), "{vtt}");
}

/// The bit rate of each media segment of an HLS media playlist: the segment file's size over
/// its `#EXTINF` duration (RFC 8216's segment bit rate).
fn segment_bit_rates(dir: &Path, playlist: &str) -> Vec<f64> {
    let text = std::fs::read_to_string(dir.join(playlist)).unwrap();
    let mut seconds = None;
    let mut rates = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("#EXTINF:") {
            seconds = Some(rest.trim_end_matches(',').parse::<f64>().unwrap());
        } else if !line.starts_with('#') && !line.is_empty() {
            let bytes = std::fs::metadata(dir.join(line)).unwrap().len() as f64;
            rates.push(bytes * 8.0 / seconds.take().unwrap());
        }
    }
    rates
}

/// The highest of [`segment_bit_rates`]: the playlist's peak segment bit rate.
fn peak_segment_bit_rate(dir: &Path, playlist: &str) -> f64 {
    segment_bit_rates(dir, playlist)
        .into_iter()
        .fold(0.0, f64::max)
}

#[test]
fn the_playlists_declare_the_peak_that_was_written_and_vod() {
    // Noise under a low cap: x264's VBV lets a segment run above `maxrate` while its buffer
    // drains, and for a finished VOD variant RFC 8216 wants BANDWIDTH to be the peak segment bit
    // rate of the video plus the audio, not the encoder's cap (a player sizing its connection by
    // the cap would stall on such a segment).
    let dir = tempfile::tempdir().unwrap();
    let input = Media::av()
        .video("testsrc2=size=320x240:rate=25:duration=4,noise=alls=40:allf=t")
        .audio(&common::tone(2, "stereo", 48000, 4.0, 0.25))
        .h264_aac()
        .write(&dir.path().join("in.mp4"));
    let capped = |height, maxrate| Rung {
        height,
        maxrate: Some(maxrate),
        bufsize: Some(4 * maxrate),
        crf: Some(18),
    };
    let options = PackageOptions {
        ladder: Some(vec![capped(240, 150_000), capped(120, 60_000)]),
        ..fast()
    };
    let out = dir.path().join("out");
    let report = package(&input, &out, &options, &mut Monitor::new()).unwrap();
    let master = std::fs::read_to_string(out.join("master.m3u8")).unwrap();
    assert!(
        master.contains("\n#EXT-X-INDEPENDENT-SEGMENTS\n"),
        "{master}"
    );
    let audio = report.audio.as_ref().unwrap().playlist.as_ref().unwrap();
    let audio_peak = peak_segment_bit_rate(&out, &audio.file_name().unwrap().to_string_lossy());
    for (i, rung) in report.rungs.iter().enumerate() {
        let playlist = format!("media_{i}.m3u8");
        let lines: Vec<&str> = master.lines().collect();
        let at = lines.iter().position(|l| *l == playlist).unwrap();
        let variant = lines[at - 1];
        let attribute = |name: &str| -> &str {
            variant
                .split(&format!("{name}="))
                .nth(1)
                .unwrap_or_else(|| panic!("no {name} in {variant}"))
                .split(',')
                .next()
                .unwrap()
        };
        let media = std::fs::read_to_string(out.join(&playlist)).unwrap();
        assert!(media.contains("\n#EXT-X-PLAYLIST-TYPE:VOD\n"), "{media}");
        // The report's per-segment rates are the playlist's, within rounding.
        let rates = segment_bit_rates(&out, &playlist);
        assert_eq!(rung.segment_bit_rates.len(), rates.len(), "{rung:?}");
        for (reported, measured) in rung.segment_bit_rates.iter().zip(&rates) {
            assert!(
                (*reported as f64 - measured).abs() <= measured * 0.01,
                "{playlist}: reported {reported}, measured {measured}"
            );
        }
        assert_eq!(
            rung.peak_segment_bit_rate,
            *rung.segment_bit_rates.iter().max().unwrap()
        );
        let video_peak = peak_segment_bit_rate(&out, &playlist);
        // The premise: this source does run above the cap.
        assert!(
            video_peak > rung.maxrate as f64 * 1.1,
            "{playlist}: peak {video_peak} under the cap {}",
            rung.maxrate
        );
        let bandwidth: f64 = attribute("BANDWIDTH").parse().unwrap();
        let measured = video_peak + audio_peak;
        assert!(
            bandwidth >= measured && bandwidth < measured + 2.0,
            "{variant}: measured {measured}"
        );
        assert!(bandwidth >= rung.peak_segment_bit_rate as f64, "{rung:?}");
        assert_eq!(attribute("FRAME-RATE"), "25.000", "{variant}");
    }
}
