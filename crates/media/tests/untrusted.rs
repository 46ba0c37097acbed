//! Issue 11, part 2: `ferrostack-media` on untrusted files. Each finding has a test here that
//! failed before its fix: playlists posing as media, limits, lying headers, output onto input,
//! files that decode to nothing, a closed stdout.
mod common;

use std::ffi::OsStr;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::hostile::{self, cli_within};
use common::Media;
use ferrostack_media::{
    probe, resize, sprite, thumbnail, transcode, MediaError, Monitor, ResizeOptions, SpriteOptions,
    ThumbnailOptions, TranscodeOptions,
};
use serde_json::Value;

fn tiny(path: &Path) -> std::path::PathBuf {
    Media::av()
        .video("testsrc2=size=64x48:rate=25:duration=1")
        .audio(&common::tone(1, "mono", 16000, 1.0, 0.3))
        .h264_aac()
        .write(path)
}

fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

fn json_error(out: &std::process::Output) -> Value {
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "JSON on stdout ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    v["error"].clone()
}

/// A playlist that pulls in another local file, saved as `.mp4`.
fn playlist_fixtures(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    common::ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=64x48:rate=25:duration=1",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        dir.join("secret.ts").to_str().unwrap(),
    ]);
    let hls = dir.join("play.mp4");
    std::fs::write(
        &hls,
        "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:1.0,\nsecret.ts\n#EXT-X-ENDLIST\n",
    )
    .unwrap();
    let concat = dir.join("cat.mp4");
    std::fs::write(&concat, "ffconcat version 1.0\nfile secret.ts\n").unwrap();
    (hls, concat)
}

#[test]
fn playlists_posing_as_mp4_are_refused_with_their_format() {
    let dir = tempfile::tempdir().unwrap();
    let (hls, concat) = playlist_fixtures(dir.path());
    for (input, format) in [(&hls, "hls"), (&concat, "concat")] {
        let err = probe(input).unwrap_err();
        assert_eq!(err.kind(), "invalid_input", "{err:?}");
        assert!(
            err.to_string().contains(&format!("`{format}`")),
            "names the detected format: {err}"
        );
        let out = dir.path().join("out.mp4");
        let err = transcode(
            input,
            &out,
            &TranscodeOptions::default(),
            &mut Monitor::new(),
        )
        .unwrap_err();
        assert_eq!(err.kind(), "invalid_input", "{err:?}");
        assert!(!out.exists());
        let (res, _) = cli_within(
            &[
                os("transcode"),
                input.as_os_str(),
                out.as_os_str(),
                os("--json"),
            ],
            Duration::from_secs(30),
        );
        assert_eq!(res.status.code(), Some(1));
        assert_eq!(json_error(&res)["kind"], "invalid_input");
        assert!(!out.exists());
    }
    let text = probe(&hls)
        .unwrap_err()
        .to_string()
        .replace(&dir.path().display().to_string(), "[DIR]");
    insta::assert_snapshot!(text, @"input `[DIR]/play.mp4` is not readable media: the detected format `hls` reads other files or URLs; pass `--allow-format hls` if that is intended");
    assert_eq!(
        common::files_in(dir.path()),
        ["cat.mp4", "play.mp4", "secret.ts"]
    );
}

#[test]
fn allow_format_opens_a_playlist_but_only_over_file() {
    let dir = tempfile::tempdir().unwrap();
    let (hls, _) = playlist_fixtures(dir.path());
    let (res, _) = cli_within(
        &[
            os("probe"),
            hls.as_os_str(),
            os("--json"),
            os("--allow-format"),
            os("hls"),
        ],
        Duration::from_secs(30),
    );
    assert_eq!(
        res.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    let v: Value = serde_json::from_slice(&res.stdout).unwrap();
    assert_eq!(v["container"], "hls");

    // Nested opens inherit the protocol whitelist: an http segment is never fetched.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let remote = dir.path().join("remote.mp4");
    std::fs::write(
        &remote,
        format!("#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:1.0,\nhttp://127.0.0.1:{port}/x.ts\n#EXT-X-ENDLIST\n"),
    )
    .unwrap();
    let (res, _) = cli_within(
        &[
            os("probe"),
            remote.as_os_str(),
            os("--json"),
            os("--allow-format"),
            os("hls"),
        ],
        Duration::from_secs(30),
    );
    assert_eq!(res.status.code(), Some(1));
    assert_eq!(json_error(&res)["kind"], "invalid_input");
    assert!(
        listener.accept().is_err(),
        "the http segment must not be requested"
    );
}

#[test]
fn too_many_streams_is_a_limit() {
    let dir = tempfile::tempdir().unwrap();
    let one = Media::av()
        .no_video()
        .audio(&common::tone(1, "mono", 8000, 0.2, 0.3))
        .args(&["-c:a", "pcm_s16le"])
        .write(&dir.path().join("one.wav"));
    let mut args: Vec<String> = vec!["-i".into(), one.display().to_string()];
    for _ in 0..40 {
        args.extend(["-map".into(), "0:a".into()]);
    }
    args.extend(["-c".into(), "copy".into()]);
    let many = dir.path().join("many.mkv");
    args.push(many.display().to_string());
    common::ffmpeg(&args.iter().map(String::as_str).collect::<Vec<_>>());

    let err = probe(&many).unwrap_err();
    assert_eq!(err.kind(), "limit_exceeded", "{err:?}");
    insta::assert_snapshot!(err.to_string().replace(&dir.path().display().to_string(), "[DIR]"), @"input `[DIR]/many.mkv` has 40 streams, over the limit of 32");
    let (res, _) = cli_within(&[os("probe"), many.as_os_str()], Duration::from_secs(30));
    assert_eq!(res.status.code(), Some(1));
    let stderr =
        String::from_utf8_lossy(&res.stderr).replace(&dir.path().display().to_string(), "[DIR]");
    insta::assert_snapshot!("too_many_streams_stderr", stderr);
    let (res, _) = cli_within(
        &[
            os("probe"),
            many.as_os_str(),
            os("--json"),
            os("--max-streams"),
            os("64"),
        ],
        Duration::from_secs(30),
    );
    assert_eq!(
        res.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
}

#[test]
fn huge_declared_picture_is_a_limit() {
    let dir = tempfile::tempdir().unwrap();
    let wide = hostile::y4m(&dir.path().join("wide.y4m"), 20000, 16);
    let big = hostile::y4m(&dir.path().join("big.y4m"), 4000, 3000);
    let err = probe(&wide).unwrap_err();
    assert_eq!(err.kind(), "limit_exceeded", "{err:?}");
    insta::assert_snapshot!(err.to_string().replace(&dir.path().display().to_string(), "[DIR]"), @"input `[DIR]/wide.y4m` has a 20000x16 picture, over the limit of 16384x16384");
    // 12 megapixels is within the defaults, over a lowered pixel limit.
    probe(&big).unwrap();
    let out = dir.path().join("t.jpg");
    let err = thumbnail(
        &wide,
        &out,
        &ThumbnailOptions::default(),
        &mut Monitor::new(),
    )
    .unwrap_err();
    assert_eq!(err.kind(), "limit_exceeded", "{err:?}");
    let (res, _) = cli_within(
        &[
            os("probe"),
            big.as_os_str(),
            os("--json"),
            os("--max-pixels"),
            os("1000000"),
        ],
        Duration::from_secs(30),
    );
    assert_eq!(res.status.code(), Some(1));
    assert_eq!(json_error(&res)["kind"], "limit_exceeded");
    assert!(!out.exists());
}

#[test]
fn sprite_of_a_file_claiming_a_long_duration_stops_at_the_last_frame() {
    let dir = tempfile::tempdir().unwrap();
    let real = tiny(&dir.path().join("real.mp4"));
    let mut data = std::fs::read(&real).unwrap();
    // The movie header says 2500 s (timescale 1000); the samples last 1 s.
    hostile::claim_duration(&mut data, 2_500_000);
    let liar = dir.path().join("liar.mp4");
    std::fs::write(&liar, data).unwrap();
    assert!(probe(&liar).unwrap().duration.unwrap() > 2000.0);
    let out = dir.path().join("sprite.png");
    let (res, took) = cli_within(
        &[
            os("sprite"),
            liar.as_os_str(),
            out.as_os_str(),
            os("--every"),
            os("0.25"),
            os("--columns"),
            os("4"),
            os("--json"),
        ],
        Duration::from_secs(20),
    );
    assert_eq!(
        res.status.code(),
        Some(0),
        "after {took:?}: {}",
        String::from_utf8_lossy(&res.stderr)
    );
    let v: Value = serde_json::from_slice(&res.stdout).unwrap();
    assert_eq!(
        (v["tiles"].as_u64(), v["rows"].as_u64()),
        (Some(4), Some(1))
    );
    let p = common::ffprobe(&out);
    assert_eq!(common::stream(&p, "video").unwrap()["height"], 120);
}

#[test]
fn thumbnails_every_nanosecond_is_capped() {
    let dir = tempfile::tempdir().unwrap();
    let input = tiny(&dir.path().join("in.mp4"));
    let thumbs = dir.path().join("thumbs");
    let (res, took) = cli_within(
        &[
            os("thumbnails"),
            input.as_os_str(),
            thumbs.as_os_str(),
            os("--every"),
            os("0.000000001"),
            os("--json"),
        ],
        Duration::from_secs(20),
    );
    assert_eq!(res.status.code(), Some(1), "after {took:?}");
    let err = json_error(&res);
    assert_eq!(err["kind"], "limit_exceeded");
    assert!(err["message"].as_str().unwrap().contains("1000"), "{err}");
    let written = std::fs::read_dir(&thumbs).map_or(0, |d| d.count());
    assert_eq!(
        written, 0,
        "nothing is written when the cap is known up front"
    );
}

#[test]
fn output_onto_the_input_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let input = tiny(&dir.path().join("in.mp4"));
    let before = std::fs::read(&input).unwrap();
    let link = dir.path().join("hard.mp4");
    std::fs::hard_link(&input, &link).unwrap();
    let sym = dir.path().join("sym.mp4");
    std::os::unix::fs::symlink(&input, &sym).unwrap();
    let dotted = dir.path().join(".").join("in.mp4");
    for out in [&input, &link, &sym, &dotted] {
        let err = transcode(
            &input,
            out,
            &TranscodeOptions::default(),
            &mut Monitor::new(),
        )
        .unwrap_err();
        assert!(err.is_usage(), "{out:?}: {err:?}");
        let err = resize(
            &input,
            out,
            &ResizeOptions {
                width: Some(32),
                ..Default::default()
            },
            &mut Monitor::new(),
        )
        .unwrap_err();
        assert!(err.is_usage(), "{out:?}: {err:?}");
    }
    let (res, _) = cli_within(
        &[
            os("transcode"),
            input.as_os_str(),
            input.as_os_str(),
            os("--json"),
        ],
        Duration::from_secs(30),
    );
    assert_eq!(res.status.code(), Some(2));
    assert_eq!(json_error(&res)["kind"], "invalid_option");
    assert_eq!(
        std::fs::read(&input).unwrap(),
        before,
        "the input is untouched"
    );
    assert_eq!(
        common::files_in(dir.path()),
        ["hard.mp4", "in.mp4", "sym.mp4"]
    );
    let text = transcode(
        &input,
        &input,
        &TranscodeOptions::default(),
        &mut Monitor::new(),
    )
    .unwrap_err()
    .to_string()
    .replace(&dir.path().display().to_string(), "[DIR]");
    insta::assert_snapshot!(text, @"invalid value `[DIR]/in.mp4` for `output`: it is the input file; write to another path (an existing output is replaced atomically)");
}

#[test]
fn a_file_that_decodes_to_nothing_is_invalid_input() {
    let dir = tempfile::tempdir().unwrap();
    let real = tiny(&dir.path().join("real.mp4"));
    let mut data = std::fs::read(&real).unwrap();
    hostile::zero_mdat(&mut data);
    let input = dir.path().join("zeros.mp4");
    std::fs::write(&input, data).unwrap();
    let m = &mut Monitor::new();
    let out = |ext: &str| dir.path().join(format!("out.{ext}"));
    let results = [
        resize(
            &input,
            &out("mp4"),
            &ResizeOptions {
                width: Some(32),
                ..Default::default()
            },
            m,
        )
        .map(|_| ()),
        transcode(&input, &out("webm"), &TranscodeOptions::default(), m).map(|_| ()),
        thumbnail(&input, &out("jpg"), &ThumbnailOptions::default(), m).map(|_| ()),
        sprite(
            &input,
            &out("png"),
            &SpriteOptions {
                every: Some(0.5),
                columns: Some(2),
                width: None,
            },
            m,
        )
        .map(|_| ()),
    ];
    for (i, r) in results.into_iter().enumerate() {
        let err: MediaError = r.expect_err("nothing decodes");
        assert_eq!(err.kind(), "invalid_input", "task {i}: {err:?}");
    }
    assert_eq!(common::files_in(dir.path()), ["real.mp4", "zeros.mp4"]);
}

#[test]
fn a_closed_stdout_ends_the_cli_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let input = tiny(&dir.path().join("in.mp4"));
    for args in [
        vec!["probe", input.to_str().unwrap(), "--json"],
        vec!["probe", input.to_str().unwrap()],
        vec![
            "transcode",
            input.to_str().unwrap(),
            "/nonexistent/x.mp4",
            "--json",
        ],
    ] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = Command::new(env!("CARGO_BIN_EXE_ferrostack-media"))
            .args(&args)
            .stdout(Stdio::from(writer))
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(
            matches!(out.status.code(), Some(0..=2)),
            "{args:?}: {:?} {stderr}",
            out.status
        );
    }
}
