//! `probe` against ffprobe on real files.
mod common;

use common::{ffprobe, rotated_copy, stream, Media};
use ferrostack_media::probe;

fn approx(a: f64, b: f64, tol: f64) {
    assert!((a - b).abs() <= tol, "{a} vs {b}");
}

#[test]
fn probe_h264_aac_mp4_matches_ffprobe() {
    let dir = tempfile::tempdir().unwrap();
    let path = Media::av()
        .h264_aac()
        .args(&[
            "-metadata",
            "title=Probe me",
            "-metadata:s:a",
            "language=fra",
            "-b:a",
            "96k",
        ])
        .write(&dir.path().join("in.mp4"));
    let info = probe(&path).unwrap();
    let oracle = ffprobe(&path);

    assert_eq!(info.schema, 1);
    assert_eq!(
        info.container,
        oracle["format"]["format_name"].as_str().unwrap()
    );
    approx(info.duration.unwrap(), common::duration(&oracle), 0.001);
    assert_eq!(info.size, std::fs::metadata(&path).unwrap().len());
    assert_eq!(
        info.bit_rate.unwrap().to_string(),
        oracle["format"]["bit_rate"].as_str().unwrap()
    );
    assert_eq!(info.tags["title"], "Probe me");

    let v = info.video().unwrap();
    let ov = stream(&oracle, "video").unwrap();
    assert_eq!(v.codec, "h264");
    assert_eq!(v.profile.as_deref(), ov["profile"].as_str());
    assert_eq!(v.width, Some(320));
    assert_eq!(v.height, Some(240));
    assert_eq!(v.pixel_format.as_deref(), Some("yuv420p"));
    assert_eq!(
        v.display_aspect_ratio.as_deref(),
        ov["display_aspect_ratio"].as_str()
    );
    approx(v.frame_rate.unwrap(), 25.0, 1e-9);
    assert_eq!(v.rotation, Some(0.0));

    let a = info.audio().unwrap();
    let oa = stream(&oracle, "audio").unwrap();
    assert_eq!(a.codec, "aac");
    assert_eq!(a.profile.as_deref(), oa["profile"].as_str());
    assert_eq!(
        a.sample_rate.unwrap().to_string(),
        oa["sample_rate"].as_str().unwrap()
    );
    assert_eq!(a.channels, Some(2));
    assert_eq!(a.channel_layout.as_deref(), Some("stereo"));
    assert_eq!(a.language.as_deref(), Some("fra"));
    assert_eq!(
        a.bit_rate.unwrap().to_string(),
        oa["bit_rate"].as_str().unwrap()
    );
}

#[test]
fn probe_vp9_opus_webm_with_5_1_audio() {
    let dir = tempfile::tempdir().unwrap();
    let path = Media::av()
        .audio(&common::tone(6, "5.1", 48000, 2.0, 0.1))
        .vp9_opus()
        .write(&dir.path().join("in.webm"));
    let info = probe(&path).unwrap();
    assert_eq!(info.container, "matroska,webm");
    assert_eq!(info.video().unwrap().codec, "vp9");
    let a = info.audio().unwrap();
    assert_eq!(a.codec, "opus");
    assert_eq!(a.channels, Some(6));
    let oracle = ffprobe(&path);
    assert_eq!(
        a.channel_layout.as_deref(),
        stream(&oracle, "audio").unwrap()["channel_layout"].as_str()
    );
}

#[test]
fn probe_reports_sar_dar_and_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let plain = Media::av()
        .no_audio()
        .video("testsrc2=size=320x240:rate=25:duration=1")
        .h264_aac()
        .args(&["-vf", "setsar=2/1"])
        .write(&dir.path().join("sar.mp4"));
    let rotated = rotated_copy(&plain, &dir.path().join("rot.mp4"));

    let info = probe(&rotated).unwrap();
    let v = info.video().unwrap();
    assert_eq!(v.sample_aspect_ratio.as_deref(), Some("2:1"));
    assert_eq!(v.display_aspect_ratio.as_deref(), Some("8:3"));
    // ffprobe reports the display matrix angle (counter-clockwise); we report the clockwise
    // rotation a player applies, the angle FFmpeg's own autorotate uses.
    let oracle = ffprobe(&rotated);
    let ccw = stream(&oracle, "video").unwrap()["side_data_list"][0]["rotation"]
        .as_f64()
        .unwrap();
    assert_eq!(v.rotation, Some((360.0 - ccw) % 360.0));
    assert!(info.audio().is_none());
}

#[test]
fn probe_audio_only_mono_wav() {
    let dir = tempfile::tempdir().unwrap();
    let path = Media::av()
        .no_video()
        .audio(&common::tone(1, "mono", 44100, 1.5, 0.3))
        .write(&dir.path().join("in.wav"));
    let info = probe(&path).unwrap();
    assert!(info.video().is_none());
    let a = info.audio().unwrap();
    assert_eq!(
        (a.codec.as_str(), a.sample_rate, a.channels),
        ("pcm_s16le", Some(44100), Some(1))
    );
    approx(info.duration.unwrap(), 1.5, 0.001);
}
