//! The bad-input corpus: every case is a typed error, never a panic, and nothing is left at OUT.
mod common;

use std::path::Path;

use common::Media;
use ferrostack_media::{probe, transcode, MediaError, Monitor, TranscodeOptions};

fn transcode_err(input: &Path, out: &Path) -> MediaError {
    let err = transcode(
        input,
        out,
        &TranscodeOptions::default(),
        &mut Monitor::new(),
    )
    .unwrap_err();
    assert!(!out.exists(), "no file at {}", out.display());
    err
}

/// The error text with the temp directory replaced, for snapshots.
fn redacted(err: &MediaError, dir: &Path) -> String {
    err.to_string().replace(&dir.display().to_string(), "[DIR]")
}

#[test]
fn zero_byte_input() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("empty.mp4");
    std::fs::write(&input, b"").unwrap();
    let err = transcode_err(&input, &dir.path().join("out.mp4"));
    assert!(matches!(err, MediaError::InvalidInput { .. }), "{err:?}");
    assert!(!err.retryable());
    insta::assert_snapshot!(redacted(&err, dir.path()), @"input `[DIR]/empty.mp4` is not readable media: the file is empty");
    assert!(matches!(
        probe(&input),
        Err(MediaError::InvalidInput { .. })
    ));
    assert_eq!(common::files_in(dir.path()), ["empty.mp4"]);
}

#[test]
fn truncated_input() {
    let dir = tempfile::tempdir().unwrap();
    let full = Media::av().h264_aac().write(&dir.path().join("full.mp4"));
    let data = std::fs::read(&full).unwrap();
    let input = dir.path().join("cut.mp4");
    std::fs::write(&input, &data[..data.len() / 2]).unwrap();
    let err = transcode_err(&input, &dir.path().join("out.mp4"));
    assert!(matches!(err, MediaError::InvalidInput { .. }), "{err:?}");
    assert!(!err.retryable());
    assert_eq!(common::files_in(dir.path()), ["cut.mp4", "full.mp4"]);
}

#[test]
fn text_file_named_mp4() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("notes.mp4");
    std::fs::write(&input, "this is not a video\n".repeat(50)).unwrap();
    let err = transcode_err(&input, &dir.path().join("out.mp4"));
    assert!(matches!(err, MediaError::InvalidInput { .. }), "{err:?}");
    insta::assert_snapshot!(redacted(&err, dir.path()), @"input `[DIR]/notes.mp4` is not readable media: Invalid data found when processing input");
}

#[test]
fn missing_input() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("nope.mp4");
    let err = transcode_err(&input, &dir.path().join("out.mp4"));
    assert!(matches!(err, MediaError::InputNotFound { .. }), "{err:?}");
    assert!(!err.retryable());
    insta::assert_snapshot!(redacted(&err, dir.path()), @"input `[DIR]/nope.mp4` does not exist");
}

#[test]
fn unwritable_output_directory() {
    let dir = tempfile::tempdir().unwrap();
    let input = Media::av().h264_aac().write(&dir.path().join("in.mp4"));
    // A directory that does not exist, and one under a regular file: both unwritable, even as root.
    let missing = dir.path().join("no/such/dir/out.webm");
    let err = transcode_err(&input, &missing);
    match &err {
        MediaError::Io { path, .. } => assert_eq!(path, &dir.path().join("no/such/dir")),
        other => panic!("unexpected {other:?}"),
    }
    insta::assert_snapshot!(redacted(&err, dir.path()), @"I/O error on `[DIR]/no/such/dir`: No such file or directory (os error 2)");

    let under_file = dir.path().join("in.mp4/out.webm");
    let err = transcode_err(&input, &under_file);
    assert!(matches!(err, MediaError::Io { .. }), "{err:?}");
    assert_eq!(common::files_in(dir.path()), ["in.mp4"]);
}

#[test]
fn unknown_output_extension_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let input = Media::av().h264_aac().write(&dir.path().join("in.mp4"));
    let err = transcode_err(&input, &dir.path().join("out.xyz"));
    assert!(err.is_usage());
    insta::assert_snapshot!(redacted(&err, dir.path()), @"cannot tell the output format of `[DIR]/out.xyz` from its extension");
}

#[test]
fn video_only_input_to_audio_format() {
    let dir = tempfile::tempdir().unwrap();
    let input = Media::av()
        .no_audio()
        .h264_aac()
        .write(&dir.path().join("v.mp4"));
    let err = transcode_err(&input, &dir.path().join("out.mp3"));
    assert!(
        matches!(err, MediaError::MissingStream { kind: "audio", .. }),
        "{err:?}"
    );
}

/// Every task, on every bad input: a typed error, and nothing at OUT.
#[test]
fn every_task_rejects_every_bad_input() {
    use ferrostack_media::{
        normalize, resize, sprite, thumbnail, thumbnails, NormalizeOptions, ResizeOptions,
        SpriteOptions, ThumbnailOptions, ThumbnailsOptions,
    };

    let dir = tempfile::tempdir().unwrap();
    let full = Media::av().h264_aac().write(&dir.path().join("full.mp4"));
    let data = std::fs::read(&full).unwrap();
    let empty = dir.path().join("empty.mp4");
    std::fs::write(&empty, b"").unwrap();
    let cut = dir.path().join("cut.mp4");
    std::fs::write(&cut, &data[..data.len() / 2]).unwrap();
    let text = dir.path().join("text.mp4");
    std::fs::write(&text, "hello\n".repeat(100)).unwrap();
    let missing = dir.path().join("missing.mp4");

    let m = &mut Monitor::new();
    for input in [&empty, &cut, &text, &missing] {
        let out = |ext: &str| dir.path().join(format!("out.{ext}"));
        let errors = [
            probe(input).map(|_| ()),
            resize(
                input,
                &out("mp4"),
                &ResizeOptions {
                    width: Some(100),
                    ..Default::default()
                },
                m,
            )
            .map(|_| ()),
            normalize(input, &out("m4a"), &NormalizeOptions::default(), m).map(|_| ()),
            thumbnail(input, &out("jpg"), &ThumbnailOptions::default(), m).map(|_| ()),
            thumbnails(
                input,
                &out("d"),
                &ThumbnailsOptions {
                    every: Some(1.0),
                    ..Default::default()
                },
                m,
            )
            .map(|_| ()),
            sprite(
                input,
                &out("png"),
                &SpriteOptions {
                    every: Some(1.0),
                    columns: Some(2),
                    width: None,
                },
                m,
            )
            .map(|_| ()),
        ];
        for (i, r) in errors.into_iter().enumerate() {
            let err = r.expect_err("bad input must fail");
            let expected = if input == &missing {
                "input_not_found"
            } else {
                "invalid_input"
            };
            assert_eq!(
                err.kind(),
                expected,
                "task {i} on {}: {err:?}",
                input.display()
            );
            assert!(!err.retryable());
        }
    }
    assert_eq!(
        common::files_in(dir.path()),
        ["cut.mp4", "empty.mp4", "full.mp4", "text.mp4"]
    );

    // Unwritable output directory, for every task that writes.
    let nowhere = dir.path().join("full.mp4/sub");
    let errors = [
        resize(
            &full,
            &nowhere.join("o.mp4"),
            &ResizeOptions {
                width: Some(100),
                ..Default::default()
            },
            m,
        )
        .map(|_| ()),
        normalize(
            &full,
            &nowhere.join("o.m4a"),
            &NormalizeOptions::default(),
            m,
        )
        .map(|_| ()),
        thumbnail(
            &full,
            &nowhere.join("o.jpg"),
            &ThumbnailOptions::default(),
            m,
        )
        .map(|_| ()),
        thumbnails(
            &full,
            &nowhere,
            &ThumbnailsOptions {
                every: Some(1.0),
                ..Default::default()
            },
            m,
        )
        .map(|_| ()),
        sprite(
            &full,
            &nowhere.join("o.png"),
            &SpriteOptions {
                every: Some(1.0),
                columns: Some(2),
                width: None,
            },
            m,
        )
        .map(|_| ()),
    ];
    for (i, r) in errors.into_iter().enumerate() {
        let err = r.expect_err("unwritable output must fail");
        assert_eq!(err.kind(), "io", "task {i}: {err:?}");
        assert!(
            err.to_string().contains("full.mp4"),
            "names the path: {err}"
        );
    }
    assert_eq!(
        common::files_in(dir.path()),
        ["cut.mp4", "empty.mp4", "full.mp4", "text.mp4"]
    );
}
