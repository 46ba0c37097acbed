//! `thumbnail`, `thumbnails` and `sprite` on real files; colours read back with the ffmpeg CLI.
mod common;

use common::{ffprobe, rotated_copy, stream, Media};
use ferrostack_media::{
    sprite, thumbnail, thumbnails, MediaError, Monitor, SpriteOptions, ThumbnailOptions,
    ThumbnailsOptions,
};

/// 3 s that are red until 1.5 s, then blue.
fn red_then_blue() -> Media {
    Media::av()
        .no_audio()
        .video("color=red:size=320x240:rate=25:duration=3,drawbox=x=0:y=0:w=320:h=240:color=blue:t=fill:enable=gte(t\\,1.5)")
}

fn size(path: &std::path::Path) -> (u64, u64) {
    let p = ffprobe(path);
    let v = stream(&p, "video").unwrap();
    (v["width"].as_u64().unwrap(), v["height"].as_u64().unwrap())
}

#[test]
fn thumbnail_picks_the_frame_at_the_time() {
    let dir = tempfile::tempdir().unwrap();
    let input = red_then_blue().h264_aac().write(&dir.path().join("in.mp4"));
    let early = dir.path().join("early.jpg");
    let report = thumbnail(
        &input,
        &early,
        &ThumbnailOptions {
            at: Some(0.5),
            width: None,
        },
        &mut Monitor::new(),
    )
    .unwrap();
    assert!(
        (report.stills[0].time - 0.5).abs() < 0.05,
        "{:?}",
        report.stills
    );
    let late = dir.path().join("late.png");
    thumbnail(
        &input,
        &late,
        &ThumbnailOptions {
            at: Some(2.5),
            width: Some(160),
        },
        &mut Monitor::new(),
    )
    .unwrap();

    assert_eq!(
        stream(&ffprobe(&early), "video").unwrap()["codec_name"],
        "mjpeg"
    );
    assert_eq!(
        stream(&ffprobe(&late), "video").unwrap()["codec_name"],
        "png"
    );
    assert_eq!(size(&early), (320, 240));
    assert_eq!(size(&late), (160, 120));
    let red = common::pixel(&early, 100, 100);
    assert!(red[0] > 200 && red[2] < 60, "{red:?}");
    assert!(common::is_blue(common::pixel(&late, 50, 50)));
}

#[test]
fn thumbnail_of_vp9_rotated_and_anamorphic_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let webm = Media::av().vp9_opus().write(&dir.path().join("in.webm"));
    let out = dir.path().join("w.jpg");
    thumbnail(
        &webm,
        &out,
        &ThumbnailOptions {
            at: Some(1.0),
            width: Some(100),
        },
        &mut Monitor::new(),
    )
    .unwrap();
    assert_eq!(size(&out), (100, 75));

    let plain = Media::av()
        .no_audio()
        .video("testsrc2=size=320x240:rate=25:duration=1,setsar=2/1")
        .h264_aac()
        .write(&dir.path().join("p.mp4"));
    let rot = rotated_copy(&plain, &dir.path().join("rot.mp4"));
    let out = dir.path().join("p.png");
    thumbnail(
        &plain,
        &out,
        &ThumbnailOptions::default(),
        &mut Monitor::new(),
    )
    .unwrap();
    assert_eq!(size(&out), (640, 240), "SAR 2:1 shown at display size");
    let out = dir.path().join("r.png");
    thumbnail(
        &rot,
        &out,
        &ThumbnailOptions::default(),
        &mut Monitor::new(),
    )
    .unwrap();
    // Upright the pixels are 240x320 with SAR 1:2; at display size (width × SAR, as FFmpeg's
    // `scale=iw*sar:ih`) that is 120x320: the same 3:8 shape as 240x640.
    assert_eq!(size(&out), (120, 320), "rotated upright");
}

#[test]
fn thumbnails_every_second() {
    let dir = tempfile::tempdir().unwrap();
    let input = red_then_blue().h264_aac().write(&dir.path().join("in.mp4"));
    let out_dir = dir.path().join("thumbs");
    let opts = ThumbnailsOptions {
        every: Some(1.0),
        width: Some(80),
        format: None,
        scenes: None,
    };
    let report = thumbnails(&input, &out_dir, &opts, &mut Monitor::new()).unwrap();
    let times: Vec<f64> = report
        .stills
        .iter()
        .map(|s| (s.time * 100.0).round() / 100.0)
        .collect();
    assert_eq!(times, [0.0, 1.0, 2.0]);
    assert_eq!(
        common::files_in(&out_dir),
        ["thumb-0001.jpg", "thumb-0002.jpg", "thumb-0003.jpg"]
    );
    assert_eq!(size(&out_dir.join("thumb-0003.jpg")), (80, 60));
    assert!(common::is_blue(common::pixel(
        &out_dir.join("thumb-0003.jpg"),
        10,
        10
    )));
    assert!(!common::is_blue(common::pixel(
        &out_dir.join("thumb-0001.jpg"),
        10,
        10
    )));
}

#[test]
fn sprite_grid() {
    let dir = tempfile::tempdir().unwrap();
    let input = red_then_blue().h264_aac().write(&dir.path().join("in.mp4"));
    let out = dir.path().join("sprite.jpg");
    let opts = SpriteOptions {
        every: Some(0.5),
        columns: Some(4),
        width: Some(80),
    };
    let report = sprite(&input, &out, &opts, &mut Monitor::new()).unwrap();
    assert_eq!((report.tiles, report.columns, report.rows), (6, 4, 2));
    assert_eq!((report.tile_width, report.tile_height), (80, 60));
    assert_eq!(size(&out), (320, 120));
    // Tiles 0-2 (0.0, 0.5, 1.0 s) are red, tiles 3-5 (1.5, 2.0, 2.5 s) blue.
    assert!(!common::is_blue(common::pixel(&out, 40 + 80 * 2, 30)));
    assert!(common::is_blue(common::pixel(&out, 40 + 80 * 3, 30)));
    assert!(common::is_blue(common::pixel(&out, 40 + 80, 90)));
}

#[test]
fn still_errors() {
    let dir = tempfile::tempdir().unwrap();
    let input = red_then_blue().h264_aac().write(&dir.path().join("in.mp4"));
    let audio = Media::av().no_video().write(&dir.path().join("a.wav"));
    let m = &mut Monitor::new();
    let gif = dir.path().join("x.gif");
    assert!(matches!(
        thumbnail(&input, &gif, &ThumbnailOptions::default(), m),
        Err(MediaError::UnsupportedFormat { .. })
    ));
    let late = dir.path().join("late.jpg");
    let err = thumbnail(
        &input,
        &late,
        &ThumbnailOptions {
            at: Some(10.0),
            width: None,
        },
        m,
    )
    .unwrap_err();
    assert!(err.is_usage(), "{err:?}");
    let err = thumbnail(&audio, &late, &ThumbnailOptions::default(), m).unwrap_err();
    assert!(
        matches!(err, MediaError::MissingStream { kind: "video", .. }),
        "{err:?}"
    );
    let err = sprite(
        &input,
        &late,
        &SpriteOptions {
            every: Some(1.0),
            columns: Some(0),
            width: None,
        },
        m,
    )
    .unwrap_err();
    assert!(err.is_usage());
    assert_eq!(common::files_in(dir.path()), ["a.wav", "in.mp4"]);
}

/// Three shots (red, blue, moving test pattern) of one second each, as H.264.
fn three_shots(path: &std::path::Path) -> std::path::PathBuf {
    common::ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=red:s=160x120:d=1:r=25[a];color=c=blue:s=160x120:d=1:r=25[b];\
         testsrc2=s=160x120:d=1:r=25[c];[a][b][c]concat=n=3[out0]",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        path.to_str().unwrap(),
    ]);
    path.to_path_buf()
}

#[test]
fn thumbnails_scenes_takes_one_still_per_shot() {
    let dir = tempfile::tempdir().unwrap();
    let input = three_shots(&dir.path().join("shots.mp4"));
    let out_dir = dir.path().join("scenes");
    let opts = ThumbnailsOptions {
        scenes: Some(0.3),
        width: Some(80),
        ..Default::default()
    };
    let report = thumbnails(&input, &out_dir, &opts, &mut Monitor::new()).unwrap();
    let times: Vec<f64> = report.stills.iter().map(|s| s.time).collect();
    assert_eq!(times.len(), 3, "{times:?}");
    for (t, want) in times.iter().zip([0.0, 1.0, 2.0]) {
        assert!((t - want).abs() < 0.05, "{times:?}");
    }
    // The first two stills are the solid shots: red, then blue (read back by the ffmpeg CLI).
    let red = common::pixel(&report.stills[0].path, 40, 30);
    let blue = common::pixel(&report.stills[1].path, 40, 30);
    assert!(red[0] > 200 && red[2] < 60, "{red:?}");
    assert!(common::is_blue(blue), "{blue:?}");
    assert_eq!(report.stills[0].width, 80);
    assert_eq!(
        common::files_in(&out_dir),
        ["thumb-0001.jpg", "thumb-0002.jpg", "thumb-0003.jpg"]
    );

    // The CLI: `--scenes` alone uses 0.3; with `--every` it is a usage error.
    let bin = env!("CARGO_BIN_EXE_ferrostack-media");
    let cli_dir = dir.path().join("cli");
    let out = std::process::Command::new(bin)
        .args([
            "thumbnails",
            input.to_str().unwrap(),
            cli_dir.to_str().unwrap(),
            "--scenes",
            "--json",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["stills"].as_array().unwrap().len(), 3);
    let out = std::process::Command::new(bin)
        .args([
            "thumbnails",
            input.to_str().unwrap(),
            cli_dir.to_str().unwrap(),
            "--scenes",
            "0.3",
            "--every",
            "1",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// The decoded picture `frame` of `path` (or, when `frame` is None, the file's only picture) as
/// raw RGB, by the ffmpeg CLI.
fn rgb(path: &std::path::Path, frame: Option<u32>) -> Vec<u8> {
    match frame {
        Some(n) => common::rgb_frame(path, &format!("select=eq(n\\,{n})")),
        None => common::rgb_frame(path, ""),
    }
}

fn mean_difference(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| f64::from(x.abs_diff(*y)))
        .sum::<f64>()
        / a.len() as f64
}

/// Stills skip the pictures nothing refers to before the time they want (B-frames): the still
/// is still exactly the first frame at its time, B-frame or not, as the CLI decodes it.
#[test]
fn stills_between_skipped_b_frames_are_the_exact_frame() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("b-frames.mp4");
    // testsrc2 changes every frame; three B-frames between references, none used as one.
    common::ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=25:duration=4",
        "-c:v",
        "libx264",
        "-preset",
        "medium",
        "-x264-params",
        "bframes=3:b-pyramid=none:b-adapt=0:keyint=250",
        "-pix_fmt",
        "yuv420p",
        input.to_str().unwrap(),
    ]);
    // Frames 13, 25, 38, 74 (0.52, 1.0, 1.52, 2.96 s): with b-adapt off, references fall on
    // every fourth frame, so 13, 25 and 38 are B-frames the decoder skipped neighbours of.
    for (at, n) in [(0.52, 13), (1.0, 25), (1.52, 38), (2.96, 74)] {
        let out = dir.path().join(format!("at-{n}.png"));
        let report = thumbnail(
            &input,
            &out,
            &ThumbnailOptions {
                at: Some(at),
                width: None,
            },
            &mut Monitor::new(),
        )
        .unwrap();
        assert!(
            (report.stills[0].time - at).abs() < 1e-3,
            "{:?}",
            report.stills
        );
        let ours = rgb(&out, None);
        let exact = mean_difference(&ours, &rgb(&input, Some(n)));
        let neighbour = mean_difference(&ours, &rgb(&input, Some(n - 1)));
        assert!(
            exact < 0.5 && neighbour > 2.0,
            "still at {at} s: {exact:.2} from frame {n}, {neighbour:.2} from frame {}",
            n - 1
        );
    }
    // The sprite takes its tiles the same way: tile k is frame 25 k (every second).
    let sprite_out = dir.path().join("sprite.png");
    let report = sprite(
        &input,
        &sprite_out,
        &SpriteOptions {
            every: Some(1.0),
            columns: Some(4),
            width: Some(320),
        },
        &mut Monitor::new(),
    )
    .unwrap();
    assert_eq!(report.tiles, 4);
    let grid = rgb(&sprite_out, None);
    for k in 1..4u32 {
        let tile: Vec<u8> = (0..240usize)
            .flat_map(|y| {
                let row = (y * 1280 + k as usize * 320) * 3;
                grid[row..row + 320 * 3].to_vec()
            })
            .collect();
        let exact = mean_difference(&tile, &rgb(&input, Some(25 * k)));
        let neighbour = mean_difference(&tile, &rgb(&input, Some(25 * k - 1)));
        assert!(
            exact < 0.5 && neighbour > 2.0,
            "tile {k}: {exact:.2} from frame {}, {neighbour:.2} from the one before",
            25 * k
        );
    }
}
