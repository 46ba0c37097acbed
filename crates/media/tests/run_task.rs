//! `ferrostack-media run TASK.json`: worker payloads through the real binary.
mod common;

use std::process::Command;

use common::{ffprobe, stream, Media};
use serde_json::{json, Value};

fn run(task_file: &std::path::Path) -> (Option<i32>, Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ferrostack-media"))
        .arg("run")
        .arg(task_file)
        .output()
        .unwrap();
    let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "JSON on stdout ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    (
        out.status.code(),
        v,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_list_of_tasks_runs_in_order_and_reports_each() {
    let dir = tempfile::tempdir().unwrap();
    let input = Media::av().h264_aac().write(&dir.path().join("in.mp4"));
    let d = |name: &str| dir.path().join(name).display().to_string();
    let tasks = json!([
        {"task": "transcode", "input": d("in.mp4"), "output": d("out.webm"), "options": {"audio_bitrate": "96k", "duration": "0:01"}},
        {"task": "resize", "input": d("in.mp4"), "output": d("small.mp4"), "options": {"width": 160, "fit": "contain"}},
        {"task": "normalize", "input": d("in.mp4"), "output": d("loud.m4a"), "options": {"mode": "ebu", "target": -16}},
        {"task": "thumbnail", "input": d("in.mp4"), "output": d("t.png"), "options": {"at": 1.0, "width": 80}},
        {"task": "probe", "input": d("missing.mp4")}
    ]);
    let file = dir.path().join("tasks.json");
    std::fs::write(&file, tasks.to_string()).unwrap();
    let (code, v, _) = run(&file);
    assert_eq!(code, Some(1), "one task failed");
    let results = v.as_array().unwrap();
    assert_eq!(results.len(), 5);
    assert!(results[..4].iter().all(|r| r["ok"] == true), "{v:#}");
    assert_eq!(results[4]["error"]["kind"], "input_not_found");
    assert_eq!(results[4]["error"]["retryable"], false);

    let webm = ffprobe(&dir.path().join("out.webm"));
    assert!((common::duration(&webm) - 1.0).abs() < 0.1);
    assert_eq!(
        stream(&ffprobe(&dir.path().join("small.mp4")), "video").unwrap()["width"],
        160
    );
    let o = common::ebur128(&dir.path().join("loud.m4a"), false);
    assert!((o.integrated - -16.0).abs() <= 0.5, "{o:?}");
    assert_eq!(results[2]["result"]["mode"], "ebu");
    assert_eq!(results[3]["result"]["stills"][0]["width"], 80);
    assert!(input.exists());
}

#[test]
fn one_task_gives_one_object_and_bad_files_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    Media::av().no_video().write(&dir.path().join("a.wav"));
    let file = dir.path().join("one.json");
    let input = dir.path().join("a.wav").display().to_string();
    std::fs::write(&file, json!({"task": "probe", "input": input}).to_string()).unwrap();
    let (code, v, _) = run(&file);
    assert_eq!(code, Some(0));
    assert_eq!(v["ok"], true);
    assert_eq!(v["result"]["streams"][0]["codec"], "pcm_s16le");

    std::fs::write(&file, json!({"task": "transcode", "input": input, "output": "x.mp3", "options": {"crf": 20, "speed": 3}}).to_string()).unwrap();
    let (code, v, stderr) = run(&file);
    assert_eq!(code, Some(2));
    assert_eq!(v["error"]["kind"], "invalid_task");
    insta::assert_snapshot!(
        v["error"]["message"].as_str().unwrap().replace(&dir.path().display().to_string(), "[DIR]"),
        @"task file `[DIR]/one.json` is not valid: unknown field `speed`, expected one of `preset`, `video_codec`, `audio_codec`, `crf`, `bitrate`, `audio_bitrate`, `start`, `duration`, `no_audio`, `no_video`"
    );
    assert!(stderr.contains("expected {\"task\""), "{stderr}");
}

#[test]
fn package_task_takes_the_library_options() {
    let dir = tempfile::tempdir().unwrap();
    Media::av().h264_aac().write(&dir.path().join("in.mp4"));
    let d = |name: &str| dir.path().join(name).display().to_string();
    let task = json!({
        "task": "package", "input": d("in.mp4"), "output": d("pkg"),
        "options": {"ladder": [180, {"height": 120, "maxrate": "200k", "crf": 30}],
                    "segment": "1", "speed": "ultrafast", "hls": true,
                    "storyboard": true, "waveform": true}
    });
    let file = dir.path().join("task.json");
    std::fs::write(&file, task.to_string()).unwrap();
    let (code, v, stderr) = run(&file);
    assert_eq!(code, Some(0), "{v:#} {stderr}");
    let r = &v["result"];
    assert_eq!(r["rungs"][0]["height"], 180);
    assert_eq!(r["rungs"][1]["maxrate"], 200_000);
    assert_eq!(r["rungs"][1]["crf"], 30);
    assert!(r["dash"].is_null() && !r["hls"].is_null());
    assert!(dir.path().join("pkg/storyboard.vtt").exists());
    assert!(dir.path().join("pkg/waveform.json").exists());

    let bad = json!({"task": "package", "input": d("in.mp4"), "output": d("pkg2"),
                     "options": {"ladders": [180]}});
    std::fs::write(&file, bad.to_string()).unwrap();
    let (code, v, _) = run(&file);
    assert_eq!(code, Some(2), "{v:#}");
    assert_eq!(v["error"]["kind"], "invalid_task");
}
