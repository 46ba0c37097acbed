//! `normalize` checked against the ffmpeg CLI's own `ebur128` measurement of the written file.
mod common;

use std::path::Path;

use common::{ebur128, ffprobe, stream, Media};
use ferrostack_media::{
    normalize, MediaError, Monitor, NormalizeMode, NormalizeOptions, NormalizeReport,
};

fn run(input: &Path, output: &Path, options: NormalizeOptions) -> NormalizeReport {
    normalize(input, output, &options, &mut Monitor::new()).unwrap()
}

/// Output within ±0.5 LU of -23 LUFS and at or under -2 dBTP, per the oracle; the report agrees.
fn assert_ebu(report: &NormalizeReport, out: &Path, dual_mono: bool) {
    let o = ebur128(out, dual_mono);
    assert!(
        (o.integrated - -23.0).abs() <= 0.5,
        "integrated {o:?} {report:#?}"
    );
    assert!(o.true_peak <= -2.0, "true peak {o:?} {report:#?}");
    assert!(
        (report.output_loudness.integrated - o.integrated).abs() <= 0.2,
        "report {:?} vs oracle {o:?}",
        report.output_loudness
    );
    assert!(
        (report.output_loudness.true_peak - o.true_peak).abs() <= 0.3,
        "report {:?} vs oracle {o:?}",
        report.output_loudness
    );
}

#[test]
fn very_quiet_h264_aac_is_raised_linearly_and_video_copied() {
    let dir = tempfile::tempdir().unwrap();
    let input = Media::av()
        .video("testsrc2=size=320x240:rate=25:duration=6")
        .audio(&common::tone(2, "stereo", 44100, 6.0, 0.008))
        .h264_aac()
        .write(&dir.path().join("quiet.mp4"));
    let before = ebur128(&input, false);
    assert!(
        (before.integrated - -45.0).abs() < 2.5,
        "fixture is about -45 LUFS: {before:?}"
    );
    let out = dir.path().join("out.mp4");
    let report = run(&input, &out, NormalizeOptions::default());
    assert_eq!(report.method, "linear");
    assert!((report.input_loudness.integrated - before.integrated).abs() <= 0.2);
    assert_ebu(&report, &out, false);
    assert_eq!(report.streams[0].action, "copy");
    let p = ffprobe(&out);
    assert_eq!(stream(&p, "video").unwrap()["codec_name"], "h264");
    assert_eq!(
        stream(&p, "audio").unwrap()["sample_rate"],
        "44100",
        "input sample rate kept"
    );
}

#[test]
fn clipping_vp9_opus_is_lowered() {
    let dir = tempfile::tempdir().unwrap();
    let input = Media::av()
        .video("testsrc2=size=320x240:rate=25:duration=5")
        .audio("aevalsrc=exprs=clip(3*sin(2*PI*220*t)\\,-1\\,1):s=48000:d=5:c=mono")
        .vp9_opus()
        .write(&dir.path().join("loud.webm"));
    assert!(ebur128(&input, false).true_peak > -0.5, "fixture clips");
    let out = dir.path().join("out.webm");
    let report = run(&input, &out, NormalizeOptions::default());
    assert_ebu(&report, &out, false);
    assert_eq!(
        stream(&ffprobe(&out), "audio").unwrap()["codec_name"],
        "opus"
    );
    assert_eq!(report.streams[0].action, "copy");
}

#[test]
fn surround_wav_and_audio_only_mp3() {
    let dir = tempfile::tempdir().unwrap();
    let wav = Media::av()
        .no_video()
        .audio(&common::tone(6, "5.1", 48000, 5.0, 0.05))
        .write(&dir.path().join("s.wav"));
    let out = dir.path().join("out.wav");
    let report = run(&wav, &out, NormalizeOptions::default());
    assert_ebu(&report, &out, false);
    assert_eq!(stream(&ffprobe(&out), "audio").unwrap()["channels"], 6);

    let mp3 = Media::av()
        .no_video()
        .audio(&common::tone(2, "stereo", 44100, 5.0, 0.5))
        .args(&["-c:a", "libmp3lame"])
        .write(&dir.path().join("a.mp3"));
    let out = dir.path().join("out.mp3");
    let report = run(&mp3, &out, NormalizeOptions::default());
    assert_ebu(&report, &out, false);
}

#[test]
fn peaky_input_falls_back_to_dynamic_loudnorm() {
    let dir = tempfile::tempdir().unwrap();
    // A quiet tone with a loud 10 ms burst every 3 s: a linear gain to -23 LUFS would clip the
    // bursts, and limiting them lowers the loudness, so loudnorm's target needs correcting.
    let input = Media::av()
        .no_video()
        .audio("aevalsrc=exprs=0.03*sin(2*PI*440*t)+if(lt(mod(t\\,3)\\,0.01)\\,0.9*sin(2*PI*1000*t)\\,0):s=48000:d=15:c=mono")
        .write(&dir.path().join("peaky.wav"));
    let out = dir.path().join("out.m4a");
    let report = run(&input, &out, NormalizeOptions::default());
    assert_eq!(report.method, "dynamic", "{report:#?}");
    assert!(report.notes.iter().any(|n| n.contains("dynamic loudnorm")));
    assert_ebu(&report, &out, false);
    assert_eq!(
        stream(&ffprobe(&out), "audio").unwrap()["sample_rate"],
        "48000",
        "back at the input rate after loudnorm's 192 kHz"
    );
}

#[test]
fn peak_mode_never_exceeds_its_target_after_encoding() {
    let dir = tempfile::tempdir().unwrap();
    let input = Media::av()
        .no_video()
        .audio(&common::tone(2, "stereo", 44100, 4.0, 0.2))
        .args(&["-c:a", "aac"])
        .write(&dir.path().join("in.m4a"));
    for (ext, target) in [("m4a", -1.0), ("mp3", -0.5), ("wav", -3.0)] {
        let out = dir.path().join(format!("peak.{ext}"));
        let report = run(
            &input,
            &out,
            NormalizeOptions {
                mode: NormalizeMode::Peak,
                target: Some(target),
                ..Default::default()
            },
        );
        let o = ebur128(&out, false);
        assert!(
            o.sample_peak <= target,
            "{ext}: sample peak {} over {target}: {report:#?}",
            o.sample_peak
        );
        assert!(
            o.sample_peak >= target - 1.5,
            "{ext}: peak {} should be near {target}",
            o.sample_peak
        );
    }
}

#[test]
fn rms_mode_and_dual_mono() {
    let dir = tempfile::tempdir().unwrap();
    let mono = Media::av()
        .no_video()
        .audio(&common::tone(1, "mono", 48000, 4.0, 0.05))
        .write(&dir.path().join("m.wav"));
    let out = dir.path().join("rms.wav");
    let report = run(
        &mono,
        &out,
        NormalizeOptions {
            mode: NormalizeMode::Rms,
            target: Some(-20.0),
            ..Default::default()
        },
    );
    // A sine's RMS is its peak minus 3.01 dB.
    let o = ebur128(&out, false);
    assert!(
        (o.sample_peak - 3.01 - -20.0).abs() <= 0.5,
        "{o:?} {report:#?}"
    );
    assert!((report.output_loudness.rms.unwrap() - -20.0).abs() <= 0.5);

    let out = dir.path().join("dual.wav");
    let report = run(
        &mono,
        &out,
        NormalizeOptions {
            dual_mono: true,
            ..Default::default()
        },
    );
    assert_ebu(&report, &out, true);
    let plain = ebur128(&out, false);
    assert!(
        (plain.integrated - -26.0).abs() <= 0.5,
        "dual mono counts the mono channel twice (+3 LU): {plain:?}"
    );
}

#[test]
fn silent_and_video_only_inputs_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let silent = Media::av()
        .no_video()
        .audio("anullsrc=r=48000:cl=stereo:d=3")
        .write(&dir.path().join("silent.wav"));
    let out = dir.path().join("out.wav");
    let err = normalize(
        &silent,
        &out,
        &NormalizeOptions::default(),
        &mut Monitor::new(),
    )
    .unwrap_err();
    assert!(matches!(err, MediaError::Silent { .. }), "{err:?}");
    let video = Media::av()
        .no_audio()
        .h264_aac()
        .write(&dir.path().join("v.mp4"));
    let err = normalize(
        &video,
        &dir.path().join("o.mp4"),
        &NormalizeOptions::default(),
        &mut Monitor::new(),
    )
    .unwrap_err();
    assert!(
        matches!(err, MediaError::MissingStream { kind: "audio", .. }),
        "{err:?}"
    );
    let err = normalize(
        &silent,
        &out,
        &NormalizeOptions {
            target: Some(3.0),
            ..Default::default()
        },
        &mut Monitor::new(),
    )
    .unwrap_err();
    assert!(err.is_usage());
    assert_eq!(common::files_in(dir.path()), ["silent.wav", "v.mp4"]);
}
