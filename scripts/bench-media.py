#!/usr/bin/env python3
"""Side-by-side timings (median wall time, peak RSS) for scripts/bench-media.sh."""
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

BIN = sys.argv[1]
RUNS = int(os.environ.get("RUNS", "3"))
DIR = os.environ.get("BENCH_DIR", "/tmp/ferrostack-media-bench")
os.makedirs(DIR, exist_ok=True)


def p(name):
    return os.path.join(DIR, name)


def make(name, args):
    """Creates test media once with the ffmpeg CLI (lavfi sources)."""
    if not os.path.exists(p(name)):
        subprocess.run(["ffmpeg", "-v", "error", "-y", *args, p(name)], check=True)


def measure(cmd):
    """Wall seconds and peak RSS (MiB) of one run, from wait4's rusage."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"command failed: {' '.join(cmd)}\n{err}")
    return wall, usage.ru_maxrss / 1024.0


def clean(paths):
    for c in paths:
        if os.path.isdir(c):
            shutil.rmtree(c, ignore_errors=True)
        elif os.path.exists(c):
            os.remove(c)


def bench_pair(ours, ref, runs, cleanup):
    """Alternates ours and the reference run by run, so machine load hits both alike."""
    results = {"ours": ([], []), "ref": ([], [])}
    for _ in range(runs):
        for key, cmd in (("ours", ours), ("ref", ref)):
            clean(cleanup)
            w, m = measure(cmd)
            results[key][0].append(w)
            results[key][1].append(m)
    return [(statistics.median(results[k][0]), max(results[k][1])) for k in ("ours", "ref")]


def two_pass_loudnorm(inp, out, extra):
    """The hand-written two-pass loudnorm with the CLI, as one shell command (so it is timed whole)."""
    script = f"""
set -e
m=$(ffmpeg -hide_banner -nostats -i '{inp}' -map 0:a:0 -af loudnorm=I=-23:TP=-2:LRA=7:print_format=json -f null - 2>&1 | sed -n '/^{{/,/^}}/p')
v() {{ echo "$m" | python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }}
ffmpeg -v error -y -i '{inp}' -af "loudnorm=I=-23:TP=-2:LRA=7:measured_I=$(v input_i):measured_TP=$(v input_tp):measured_LRA=$(v input_lra):measured_thresh=$(v input_thresh):offset=$(v target_offset):linear=true" {extra} '{out}'
"""
    return ["bash", "-c", script]


def main():
    print(f"making test media in {DIR} ...", file=sys.stderr)
    make("clip720.mp4", ["-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30:duration=20",
                         "-f", "lavfi", "-i", "sine=frequency=300:sample_rate=48000:duration=20,volume=-18dB,aformat=channel_layouts=stereo",
                         "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k", "-shortest"])
    # 10 minutes of speech-like audio: pink noise under a slow tremolo, 44.1 kHz stereo MP3.
    make("talk10min.mp3", ["-f", "lavfi", "-i", "anoisesrc=color=pink:sample_rate=44100:duration=600:amplitude=0.2,tremolo=f=0.5:d=0.7,aformat=channel_layouts=stereo",
                           "-c:a", "libmp3lame", "-b:a", "128k"])
    make("video10min.mp4", ["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25:duration=600",
                            "-f", "lavfi", "-i", "sine=frequency=300:sample_rate=48000:duration=600,aformat=channel_layouts=stereo",
                            "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest"])

    rows = []

    def row(task, ours_cmd, ref_name, ref_cmd, runs=RUNS, cleanup=()):
        o, r = bench_pair(ours_cmd, ref_cmd, runs, cleanup)
        rows.append((task, o, ref_name, r, " ".join(ours_cmd), " ".join(ref_cmd) if ref_cmd[0] != "bash" else "two-pass loudnorm script (see bench-media.py)"))
        print(f"{task}: ours {o[0]:.3f}s / {o[1]:.0f} MiB, {ref_name} {r[0]:.3f}s / {r[1]:.0f} MiB, ratio {o[0] / r[0]:.2f}", file=sys.stderr)

    clip, talk, vid = p("clip720.mp4"), p("talk10min.mp3"), p("video10min.mp4")
    out = p("out.mp4")
    x264 = ["-c:v", "libx264", "-preset", "medium", "-crf", "23", "-pix_fmt", "yuv420p"]

    row("probe (20 s 720p mp4)", [BIN, "probe", clip, "--json"],
        "ffprobe", ["ffprobe", "-v", "error", "-show_format", "-show_streams", "-of", "json", clip], runs=max(RUNS, 20))
    row("transcode H.264 CRF 23 (20 s 720p)", [BIN, "transcode", clip, out, "--crf", "23"],
        "ffmpeg CLI", ["ffmpeg", "-v", "error", "-y", "-i", clip, *x264, "-c:a", "copy", "-movflags", "+faststart", out], cleanup=[out])
    row("resize to 640x360 (20 s 720p)", [BIN, "resize", clip, out, "--width", "640", "--height", "360"],
        "ffmpeg CLI", ["ffmpeg", "-v", "error", "-y", "-i", clip, "-vf", "scale=640:360,setsar=1", *x264, "-c:a", "copy", "-movflags", "+faststart", out], cleanup=[out])
    if os.environ.get("BENCH_VP9") == "1":
        webm = p("out.webm")
        row("transcode VP9/Opus (20 s 720p)", [BIN, "transcode", clip, webm],
            "ffmpeg CLI", ["ffmpeg", "-v", "error", "-y", "-i", clip, "-c:v", "libvpx-vp9", "-crf", "32", "-b:v", "0", "-deadline", "good",
                           "-cpu-used", "4", "-row-mt", "1", "-pix_fmt", "yuv420p", "-c:a", "libopus", webm], cleanup=[webm])

    norm_clip = p("norm.mp4")
    row("normalize EBU (20 s 720p, video copied)", [BIN, "normalize", clip, norm_clip, "--audio-bitrate", "128k"],
        "ffmpeg-normalize", ["ffmpeg-normalize", clip, "-o", norm_clip, "-f", "-c:a", "aac", "-b:a", "128k", "-ar", "48000"], cleanup=[norm_clip])
    row("normalize EBU (20 s 720p, video copied)", [BIN, "normalize", clip, norm_clip, "--audio-bitrate", "128k"],
        "two-pass loudnorm (CLI)", two_pass_loudnorm(clip, norm_clip, "-c:v copy -c:a aac -b:a 128k -ar 48000"), cleanup=[norm_clip])
    norm_talk = p("talk-norm.m4a")
    row("normalize EBU (10 min audio)", [BIN, "normalize", talk, norm_talk, "--audio-bitrate", "128k"],
        "ffmpeg-normalize", ["ffmpeg-normalize", talk, "-o", norm_talk, "-f", "-c:a", "aac", "-b:a", "128k", "-ar", "44100"], cleanup=[norm_talk])
    row("normalize EBU (10 min audio)", [BIN, "normalize", talk, norm_talk, "--audio-bitrate", "128k"],
        "two-pass loudnorm (CLI)", two_pass_loudnorm(talk, norm_talk, "-c:a aac -b:a 128k -ar 44100"), cleanup=[norm_talk])
    out10 = p("out10.mp4")
    row("transcode H.264 CRF 23 (10 min 360p), peak memory", [BIN, "transcode", vid, out10, "--crf", "23"],
        "ffmpeg CLI", ["ffmpeg", "-v", "error", "-y", "-i", vid, *x264, "-c:a", "copy", "-movflags", "+faststart", out10], runs=1, cleanup=[out10])

    print("| task | ferrostack-media (median s) | peak RSS | reference | reference (median s) | peak RSS | time ratio |")
    print("|---|---:|---:|---|---:|---:|---:|")
    for task, o, ref, r, _, _ in rows:
        print(f"| {task} | {o[0]:.3f} | {o[1]:.0f} MiB | {ref} | {r[0]:.3f} | {r[1]:.0f} MiB | {o[0] / r[0]:.2f} |")
    print()
    print("Commands:")
    print()
    for task, _, ref, _, oc, rc in rows:
        print(f"- {task}\n  - ours: `{oc}`\n  - {ref}: `{rc}`")


main()
