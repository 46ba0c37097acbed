//! `resize` on real files: sizes, fit modes, SAR, rotation and odd sizes, checked with ffprobe.
mod common;

use common::{ffmpeg, ffprobe, rotated_copy, stream, Media};
use ferrostack_media::{resize, Fit, Monitor, ResizeOptions};

fn size(p: &serde_json::Value) -> (u64, u64) {
    let v = stream(p, "video").unwrap();
    (v["width"].as_u64().unwrap(), v["height"].as_u64().unwrap())
}

#[test]
fn contain_keeps_aspect_and_copies_audio() {
    let dir = tempfile::tempdir().unwrap();
    let input = Media::av().h264_aac().write(&dir.path().join("in.mp4"));
    let out = dir.path().join("small.mp4");
    let opts = ResizeOptions {
        width: Some(161),
        height: Some(161),
        ..Default::default()
    };
    let report = resize(&input, &out, &opts, &mut Monitor::new()).unwrap();
    let p = ffprobe(&out);
    assert_eq!(size(&p), (160, 120));
    assert_eq!(stream(&p, "video").unwrap()["pix_fmt"], "yuv420p");
    assert_eq!(report.streams[1].action, "copy");
    assert_eq!(stream(&p, "audio").unwrap()["codec_name"], "aac");
    assert!((common::duration(&p) - 2.0).abs() < 0.1);
}

#[test]
fn webm_cover_pad_fill() {
    let dir = tempfile::tempdir().unwrap();
    let input = Media::av().vp9_opus().write(&dir.path().join("in.webm"));
    for (fit, expect) in [
        (Fit::Cover, (100, 100)),
        (Fit::Pad, (100, 100)),
        (Fit::Fill, (100, 50)),
        (Fit::Contain, (66, 50)),
    ] {
        let out = dir.path().join(format!("{fit:?}.webm"));
        let height = if fit == Fit::Fill || fit == Fit::Contain {
            50
        } else {
            100
        };
        let opts = ResizeOptions {
            width: Some(100),
            height: Some(height),
            fit,
            ..Default::default()
        };
        let report = resize(&input, &out, &opts, &mut Monitor::new()).unwrap();
        let p = ffprobe(&out);
        assert_eq!(size(&p), expect, "{fit:?}");
        assert_eq!(stream(&p, "video").unwrap()["codec_name"], "vp9");
        assert_eq!(
            report.streams[1].action, "copy",
            "opus goes into webm untouched"
        );
    }
}

#[test]
fn mp4_audio_is_encoded_when_the_container_cannot_hold_it() {
    let dir = tempfile::tempdir().unwrap();
    let input = Media::av().h264_aac().write(&dir.path().join("in.mp4"));
    let out = dir.path().join("out.webm");
    let report = resize(
        &input,
        &out,
        &ResizeOptions {
            width: Some(160),
            ..Default::default()
        },
        &mut Monitor::new(),
    )
    .unwrap();
    assert_eq!(report.streams[1].action, "encode");
    let p = ffprobe(&out);
    assert_eq!(stream(&p, "audio").unwrap()["codec_name"], "opus");
    assert_eq!(size(&p), (160, 120));
}

#[test]
fn anamorphic_input_comes_out_square() {
    let dir = tempfile::tempdir().unwrap();
    let input = Media::av()
        .no_audio()
        .video("testsrc2=size=320x240:rate=25:duration=1,setsar=2/1")
        .h264_aac()
        .write(&dir.path().join("sar.mp4"));
    let out = dir.path().join("out.mp4");
    resize(
        &input,
        &out,
        &ResizeOptions {
            width: Some(320),
            ..Default::default()
        },
        &mut Monitor::new(),
    )
    .unwrap();
    let p = ffprobe(&out);
    // 320x240 at SAR 2:1 displays as 640x240; 320 wide keeps that shape.
    assert_eq!(size(&p), (320, 120));
    assert_eq!(stream(&p, "video").unwrap()["sample_aspect_ratio"], "1:1");
    assert!(stream(&p, "audio").is_none());
}

#[test]
fn rotated_input_is_turned_upright_like_ffmpeg_does() {
    let dir = tempfile::tempdir().unwrap();
    let plain = Media::av()
        .no_audio()
        .video(
            "color=red:size=320x240:rate=25:duration=1,drawbox=x=0:y=0:w=60:h=60:color=blue:t=fill",
        )
        .h264_aac()
        .write(&dir.path().join("plain.mp4"));
    let input = rotated_copy(&plain, &dir.path().join("rot.mp4"));

    let out = dir.path().join("out.mp4");
    let opts = ResizeOptions {
        width: Some(120),
        height: Some(160),
        ..Default::default()
    };
    resize(&input, &out, &opts, &mut Monitor::new()).unwrap();
    let p = ffprobe(&out);
    assert_eq!(size(&p), (120, 160));
    assert!(
        stream(&p, "video").unwrap().get("side_data_list").is_none(),
        "no rotation left on the output"
    );

    // Oracle: the ffmpeg CLI's own autorotation of the input, scaled the same way.
    let oracle = dir.path().join("oracle.mp4");
    ffmpeg(&[
        "-i",
        input.to_str().unwrap(),
        "-vf",
        "scale=120:160",
        "-c:v",
        "libx264",
        oracle.to_str().unwrap(),
    ]);
    for (x, y) in [(5, 5), (114, 5), (5, 154), (114, 154)] {
        assert_eq!(
            common::is_blue(common::pixel(&out, x, y)),
            common::is_blue(common::pixel(&oracle, x, y)),
            "corner {x},{y}"
        );
    }
    assert_eq!(
        (0..4)
            .filter(|i| common::is_blue(common::pixel(&out, [5, 114][i % 2], [5, 154][i / 2])))
            .count(),
        1
    );
}

#[test]
fn crop_then_aspect() {
    let dir = tempfile::tempdir().unwrap();
    let input = Media::av().h264_aac().write(&dir.path().join("in.mp4"));
    let out = dir.path().join("crop.mp4");
    let opts = ResizeOptions {
        crop: Some("200x150+10+20".parse().unwrap()),
        aspect: Some("1:1".parse().unwrap()),
        width: Some(99),
        ..Default::default()
    };
    resize(&input, &out, &opts, &mut Monitor::new()).unwrap();
    assert_eq!(size(&ffprobe(&out)), (98, 98));

    let err = resize(
        &input,
        &dir.path().join("bad.mp4"),
        &ResizeOptions {
            crop: Some("400x10+0+0".parse().unwrap()),
            ..Default::default()
        },
        &mut Monitor::new(),
    )
    .unwrap_err();
    assert!(err.is_usage(), "{err:?}");
    assert!(!dir.path().join("bad.mp4").exists());
}

#[test]
fn odd_sized_input_gives_even_output() {
    let dir = tempfile::tempdir().unwrap();
    let input = Media::av()
        .video("testsrc2=size=322x242:rate=25:duration=1,format=yuv444p,crop=321:241:0:0")
        .vp9_444()
        .args(&["-c:a", "libopus"])
        .write(&dir.path().join("odd.webm"));
    let out = dir.path().join("out.mp4");
    let report = resize(
        &input,
        &out,
        &ResizeOptions {
            width: Some(201),
            ..Default::default()
        },
        &mut Monitor::new(),
    )
    .unwrap();
    let p = ffprobe(&out);
    // 321x241 scaled to 201 wide is 201x150.9: both rounded down to even for 4:2:0.
    assert_eq!(size(&p), (200, 150));
    assert_eq!(stream(&p, "video").unwrap()["pix_fmt"], "yuv420p");
    assert_eq!(report.streams.len(), 2);
    assert!(stream(&p, "audio").is_some());
}
