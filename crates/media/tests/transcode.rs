//! `transcode` on real files, checked with ffprobe.
mod common;

use std::path::Path;

use common::{ffprobe, rotated_copy, stream, Media};
use ferrostack_media::{transcode, CancelFlag, MediaError, Monitor, Preset, TranscodeOptions};

fn run(input: &Path, output: &Path, options: TranscodeOptions) -> ferrostack_media::OutputReport {
    transcode(input, output, &options, &mut Monitor::new()).unwrap()
}

fn codec(probe: &serde_json::Value, kind: &str) -> Option<String> {
    stream(probe, kind).map(|s| s["codec_name"].as_str().unwrap().to_owned())
}

/// Top-level MP4 boxes in file order.
fn mp4_boxes(path: &Path) -> Vec<String> {
    let data = std::fs::read(path).unwrap();
    let mut boxes = Vec::new();
    let mut pos = 0usize;
    while pos + 8 <= data.len() {
        let size = u32::from_be_bytes(data[pos..pos + 4].try_into().unwrap()) as usize;
        boxes.push(String::from_utf8_lossy(&data[pos + 4..pos + 8]).into_owned());
        if size < 8 {
            break;
        }
        pos += size;
    }
    boxes
}

#[test]
fn mp4_to_webm_reencodes_to_vp9_opus() {
    let dir = tempfile::tempdir().unwrap();
    let input = Media::av().h264_aac().write(&dir.path().join("in.mp4"));
    let out = dir.path().join("out.webm");
    let report = run(&input, &out, TranscodeOptions::default());
    let p = ffprobe(&out);
    assert_eq!(codec(&p, "video").as_deref(), Some("vp9"));
    assert_eq!(codec(&p, "audio").as_deref(), Some("opus"));
    assert!(
        (common::duration(&p) - 2.0).abs() < 0.1,
        "duration {}",
        common::duration(&p)
    );
    assert!(report.streams.iter().all(|s| s.action == "encode"));
    assert_eq!(report.size, std::fs::metadata(&out).unwrap().len());
    assert_eq!(common::files_in(dir.path()), ["in.mp4", "out.webm"]);
}

#[test]
fn webm_to_mp4_preset_is_h264_aac_with_faststart() {
    let dir = tempfile::tempdir().unwrap();
    let input = Media::av().vp9_opus().write(&dir.path().join("in.webm"));
    let out = dir.path().join("out.mp4");
    run(
        &input,
        &out,
        TranscodeOptions {
            preset: Some(Preset::Mp4H264Aac),
            ..Default::default()
        },
    );
    let p = ffprobe(&out);
    assert_eq!(codec(&p, "video").as_deref(), Some("h264"));
    assert_eq!(codec(&p, "audio").as_deref(), Some("aac"));
    let boxes = mp4_boxes(&out);
    let moov = boxes.iter().position(|b| b == "moov").unwrap();
    let mdat = boxes.iter().position(|b| b == "mdat").unwrap();
    assert!(moov < mdat, "faststart puts moov before mdat: {boxes:?}");
}

#[test]
fn matching_streams_are_copied_and_tags_rotation_kept() {
    let dir = tempfile::tempdir().unwrap();
    let plain = Media::av()
        .h264_aac()
        .args(&["-metadata:s:a", "language=deu", "-metadata", "title=Keep"])
        .write(&dir.path().join("p.mp4"));
    let input = rotated_copy(&plain, &dir.path().join("in.mp4"));
    let before = std::fs::read(&input).unwrap();

    let out = dir.path().join("out.mp4");
    let report = run(&input, &out, TranscodeOptions::default());
    assert!(
        report.streams.iter().all(|s| s.action == "copy"),
        "{:?}",
        report.streams
    );
    let p = ffprobe(&out);
    assert_eq!(codec(&p, "video").as_deref(), Some("h264"));
    assert_eq!(stream(&p, "audio").unwrap()["tags"]["language"], "deu");
    assert_eq!(p["format"]["tags"]["title"], "Keep");
    assert_eq!(
        stream(&p, "video").unwrap()["side_data_list"][0]["rotation"].as_f64(),
        Some(90.0)
    );
    assert_eq!(std::fs::read(&input).unwrap(), before, "input untouched");

    // Into Matroska: copied again, language and title kept.
    let mkv = dir.path().join("out.mkv");
    let report = run(&input, &mkv, TranscodeOptions::default());
    assert!(
        report.streams.iter().all(|s| s.action == "copy"),
        "{:?}",
        report.streams
    );
    let p = ffprobe(&mkv);
    assert_eq!(stream(&p, "audio").unwrap()["tags"]["language"], "deu");
    assert_eq!(p["format"]["tags"]["title"], "Keep");

    // Re-encoding (forced by --crf) keeps rotation and language too.
    let out2 = dir.path().join("crf.mp4");
    let report = run(
        &input,
        &out2,
        TranscodeOptions {
            crf: Some(30),
            ..Default::default()
        },
    );
    assert_eq!(report.streams[0].action, "encode");
    assert_eq!(report.streams[1].action, "copy");
    let p = ffprobe(&out2);
    assert_eq!(
        stream(&p, "video").unwrap()["side_data_list"][0]["rotation"].as_f64(),
        Some(90.0)
    );
    assert_eq!(stream(&p, "audio").unwrap()["tags"]["language"], "deu");
}

#[test]
fn surround_and_mono_audio_presets() {
    let dir = tempfile::tempdir().unwrap();
    let surround = Media::av()
        .no_video()
        .audio(&common::tone(6, "5.1", 48000, 2.0, 0.1))
        .write(&dir.path().join("s.wav"));
    let mono = Media::av()
        .no_video()
        .audio(&common::tone(1, "mono", 44100, 2.0, 0.3))
        .write(&dir.path().join("m.wav"));

    for (preset, ext, codec_name) in [
        (Preset::Mp3, "mp3", "mp3"),
        (Preset::Aac, "m4a", "aac"),
        (Preset::Opus, "opus", "opus"),
        (Preset::Wav, "wav", "pcm_s16le"),
    ] {
        for (input, channels) in [(&surround, 6), (&mono, 1)] {
            let out = dir
                .path()
                .join(format!("{}-{channels}.{ext}", preset.name()));
            run(
                input,
                &out,
                TranscodeOptions {
                    preset: Some(preset),
                    ..Default::default()
                },
            );
            let p = ffprobe(&out);
            let a = stream(&p, "audio").unwrap();
            assert_eq!(a["codec_name"], codec_name, "{out:?}");
            // MP3 holds at most two channels; the others keep the layout.
            let expect = if preset == Preset::Mp3 {
                channels.min(2)
            } else {
                channels
            };
            assert_eq!(a["channels"].as_u64(), Some(expect), "{out:?}");
            assert!(stream(&p, "video").is_none());
            assert!(
                (common::duration(&p) - 2.0).abs() < 0.1,
                "{out:?} {}",
                common::duration(&p)
            );
        }
    }
}

#[test]
fn odd_dimensions_sar_and_video_only() {
    let dir = tempfile::tempdir().unwrap();
    let input = Media::av()
        .no_audio()
        .video(
            "testsrc2=size=322x242:rate=25:duration=1,format=yuv444p,crop=321:241:0:0,setsar=4/3",
        )
        .vp9_444()
        .write(&dir.path().join("odd.webm"));
    assert_eq!(
        stream(&ffprobe(&input), "video").unwrap()["width"].as_u64(),
        Some(321)
    );
    let out = dir.path().join("out.mp4");
    run(&input, &out, TranscodeOptions::default());
    let p = ffprobe(&out);
    let v = stream(&p, "video").unwrap();
    assert_eq!(
        (v["width"].as_u64(), v["height"].as_u64()),
        (Some(320), Some(240))
    );
    assert_eq!(v["pix_fmt"], "yuv420p");
    assert_eq!(v["sample_aspect_ratio"], "4:3");
    assert!(stream(&p, "audio").is_none());
}

#[test]
fn trim_and_drop_audio() {
    let dir = tempfile::tempdir().unwrap();
    let input = Media::av()
        .video("testsrc2=size=320x240:rate=25:duration=4")
        .audio(&common::tone(2, "stereo", 48000, 4.0, 0.2))
        .h264_aac()
        .write(&dir.path().join("in.mp4"));
    let out = dir.path().join("cut.mp4");
    let report = run(
        &input,
        &out,
        TranscodeOptions {
            start: Some(1.0),
            duration: Some(1.5),
            ..Default::default()
        },
    );
    let p = ffprobe(&out);
    let d = common::duration(&p);
    assert!((d - 1.5).abs() < 0.1, "duration {d}");
    assert!(report.streams.iter().all(|s| s.action == "encode"));

    let out = dir.path().join("silent.mp4");
    run(
        &input,
        &out,
        TranscodeOptions {
            no_audio: true,
            ..Default::default()
        },
    );
    assert!(stream(&ffprobe(&out), "audio").is_none());

    let out = dir.path().join("audio.m4a");
    run(
        &input,
        &out,
        TranscodeOptions {
            no_video: true,
            ..Default::default()
        },
    );
    let p = ffprobe(&out);
    assert!(stream(&p, "video").is_none());
    assert_eq!(codec(&p, "audio").as_deref(), Some("aac"));
}

#[test]
fn bitrates_are_applied() {
    let dir = tempfile::tempdir().unwrap();
    let input = Media::av().h264_aac().write(&dir.path().join("in.mp4"));
    let out = dir.path().join("out.mp4");
    let report = run(
        &input,
        &out,
        TranscodeOptions {
            audio_bitrate: Some(64_000),
            bitrate: Some(200_000),
            ..Default::default()
        },
    );
    assert!(report.streams.iter().all(|s| s.action == "encode"));
    let p = ffprobe(&out);
    let ab: f64 = stream(&p, "audio").unwrap()["bit_rate"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((ab - 64_000.0).abs() < 12_000.0, "audio bit rate {ab}");
}

#[test]
fn unknown_encoder_lists_available_ones() {
    let dir = tempfile::tempdir().unwrap();
    let input = Media::av().h264_aac().write(&dir.path().join("in.mp4"));
    let out = dir.path().join("out.mp4");
    let err = transcode(
        &input,
        &out,
        &TranscodeOptions {
            video_codec: Some("nope264".into()),
            ..Default::default()
        },
        &mut Monitor::new(),
    )
    .unwrap_err();
    match &err {
        MediaError::UnsupportedCodec {
            codec, available, ..
        } => {
            assert_eq!(codec, "nope264");
            assert!(available.split(", ").any(|c| c == "libx264"), "{available}");
            assert!(
                !available.split(", ").any(|c| c == "aac"),
                "only video encoders: {available}"
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(!err.retryable());
    assert!(!out.exists());
}

#[test]
fn progress_is_reported_and_cancel_stops_without_output() {
    let dir = tempfile::tempdir().unwrap();
    let input = Media::av().h264_aac().write(&dir.path().join("in.mp4"));
    let out = dir.path().join("out.webm");
    let mut seen = Vec::new();
    {
        let mut monitor = Monitor::new().on_progress(|p| seen.push(p.clone()));
        transcode(&input, &out, &TranscodeOptions::default(), &mut monitor).unwrap();
    }
    let last = seen.last().unwrap();
    assert_eq!(last.percent, Some(100.0));
    assert_eq!(last.task, "transcode");
    assert!(seen.windows(2).all(|w| w[0].out_time <= w[1].out_time));

    let flag = CancelFlag::new();
    let out = dir.path().join("cancelled.webm");
    let stopper = flag.clone();
    let mut monitor = Monitor::new()
        .cancel_with(flag)
        .on_progress(move |_| stopper.cancel());
    let err = transcode(&input, &out, &TranscodeOptions::default(), &mut monitor).unwrap_err();
    assert!(matches!(err, MediaError::Cancelled), "{err:?}");
    assert!(err.retryable());
    assert!(!out.exists());
    assert_eq!(common::files_in(dir.path()), ["in.mp4", "out.webm"]);
}

/// Decoded samples of `path`'s audio: 48 kHz stereo floats, interleaved (the ffmpeg CLI).
fn pcm(path: &Path) -> Vec<f32> {
    let out = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-f", "f32le", "-ac", "2", "-ar", "48000", "-"])
        .output()
        .unwrap();
    assert!(out.status.success());
    out.stdout
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

/// Signal-to-noise ratio (dB) of each 1024-frame block of `coded` against `source`.
fn block_snr(source: &[f32], coded: &[f32]) -> Vec<f64> {
    source
        .chunks_exact(2048)
        .zip(coded.chunks_exact(2048))
        .map(|(s, c)| {
            let sig: f64 = s.iter().map(|v| f64::from(*v).powi(2)).sum();
            let err: f64 = s
                .iter()
                .zip(c)
                .map(|(a, b)| (f64::from(*a) - f64::from(*b)).powi(2))
                .sum();
            10.0 * (sig / err.max(1e-12)).log10()
        })
        .collect()
}

fn packets(path: &Path) -> usize {
    let out = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "a:0", "-count_packets"])
        .args(["-show_entries", "stream=nb_read_packets", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

#[test]
fn a_long_aac_stream_is_encoded_in_chunks_without_a_seam() {
    let dir = tempfile::tempdir().unwrap();
    // 70 s of steady tones: 3282 AAC frames, cut near frames 1024, 2048 and 3072. A steady tone
    // codes to about the same SNR in every block, so a seam would show as a dip.
    let input = Media::av()
        .no_video()
        .audio(&common::tone(2, "stereo", 48000, 70.0, 0.3))
        .args(&["-c:a", "flac"])
        .write(&dir.path().join("in.flac"));
    let out = dir.path().join("out.m4a");
    let report = run(
        &input,
        &out,
        TranscodeOptions {
            audio_bitrate: Some(128_000),
            ..Default::default()
        },
    );
    assert_eq!(report.streams[0].codec, "aac");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let expected = (cores > 1).then_some(4);
    assert_eq!(report.streams[0].chunks, expected, "{report:#?}");
    // The same encoder in one piece, by the ffmpeg CLI.
    let one = dir.path().join("one.m4a");
    common::ffmpeg(&[
        "-i",
        input.to_str().unwrap(),
        "-c:a",
        "aac",
        "-b:a",
        "128k",
        one.to_str().unwrap(),
    ]);
    assert_eq!(packets(&out), packets(&one));
    let source = pcm(&input);
    let (ours, theirs) = (pcm(&out), pcm(&one));
    // As long as one encoder's output, to the sample (the CLI's decoder keeps the last frame's
    // padding: both are 768 samples a channel longer than the source).
    assert_eq!(ours.len(), theirs.len());
    assert!(ours.len() >= source.len());
    let ours = block_snr(&source, &ours);
    let theirs = block_snr(&source, &theirs);
    let mut sorted = theirs.clone();
    sorted.sort_by(f64::total_cmp);
    let level = sorted[sorted.len() / 2];
    // Within a frame of each cut (near frames 1024, 2048, 3072), no seam: no block far below
    // what one encoder makes there.
    for k in [1024usize, 2048, 3072] {
        for b in k - 34..k + 10 {
            assert!(
                ours[b] > theirs[b].min(level) - 6.0,
                "block {b}: {:.1} dB, one encoder {:.1} dB",
                ours[b],
                theirs[b]
            );
        }
    }
    // And each chunk codes as well as one encoder does there: FFmpeg's AAC encoder settles
    // slowly, and a chunk's encoder must have settled (its pre-roll) before its first frame.
    let median = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    for k in [1024usize, 2048, 3072] {
        let (a, b) = (median(&ours[k..k + 160]), median(&theirs[k..k + 160]));
        assert!(
            a > b - 3.0,
            "after the cut near frame {k}: {a:.1} dB, one encoder {b:.1} dB"
        );
    }
}
