//! Hostile inputs made in code: playlists posing as MP4, lying headers, huge declared sizes.
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Positions of every box of type `fourcc` in an MP4 (the offset of its size field).
pub fn boxes(data: &[u8], fourcc: &[u8; 4]) -> Vec<usize> {
    data.windows(4)
        .enumerate()
        .filter(|(i, w)| *i >= 4 && w == fourcc)
        .map(|(i, _)| i - 4)
        .collect()
}

/// Sets the duration field of every version-0 `mvhd`, `tkhd` and `mdhd` box to `value`, so the
/// header claims a length the samples do not have.
pub fn claim_duration(data: &mut [u8], value: u32) {
    for (fourcc, offset) in [(b"mvhd", 24), (b"mdhd", 24), (b"tkhd", 28)] {
        for at in boxes(data, fourcc) {
            if data[at + 8] == 0 && at + offset + 4 <= data.len() {
                data[at + offset..at + offset + 4].copy_from_slice(&value.to_be_bytes());
            }
        }
    }
}

/// Zeroes the payload of every `mdat` box: the container is intact, no packet decodes.
pub fn zero_mdat(data: &mut [u8]) {
    for at in boxes(data, b"mdat") {
        let size = u32::from_be_bytes(data[at..at + 4].try_into().unwrap()) as usize;
        let end = (at + size).min(data.len());
        data[at + 8..end].fill(0);
    }
}

/// A YUV4MPEG2 stream whose header declares `width`x`height` and carries one tiny frame.
pub fn y4m(path: &Path, width: u32, height: u32) -> PathBuf {
    let mut data =
        format!("YUV4MPEG2 W{width} H{height} F25:1 Ip A1:1 C420jpeg\nFRAME\n").into_bytes();
    data.extend(std::iter::repeat_n(0x80u8, 4096));
    std::fs::write(path, data).unwrap();
    path.to_path_buf()
}

/// Runs the CLI with `args`; kills it after `limit` (the outcome then has no exit code).
pub fn cli_within(args: &[&std::ffi::OsStr], limit: Duration) -> (Output, Duration) {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferrostack-media"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (out, started.elapsed())
}
