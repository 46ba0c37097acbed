#!/usr/bin/env python3
"""The measuring half of scripts/bench-media: runs every comparison, checks both sides' outputs
and writes docs/BENCHMARKS-media.md. Usage: bench-media.py BIN RUNS."""
import json
import math
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import time

BIN = sys.argv[1]
RUNS = int(sys.argv[2]) if len(sys.argv) > 2 else 5
DIR = os.environ.get("BENCH_DIR", "/tmp/ferrostack-media-bench")
LADDER_SECONDS = int(os.environ.get("LADDER_SECONDS", "16"))
TALK_SECONDS = int(os.environ.get("TALK_SECONDS", "600"))
LONG_SECONDS = int(os.environ.get("LONG_SECONDS", "60"))
CLIP_SECONDS = int(os.environ.get("CLIP_SECONDS", "20"))
SETTLE_SECONDS = int(os.environ.get("SETTLE_SECONDS", "300"))
talk_label = f"{TALK_SECONDS // 60} min" if TALK_SECONDS >= 60 and TALK_SECONDS % 60 == 0 else f"{TALK_SECONDS} s"
DOC = os.environ.get("BENCH_DOC", "docs/BENCHMARKS-media.md")
os.makedirs(DIR, exist_ok=True)

# package's settings, as crates/media/src/{ladder,video_lane,package,audio_lane,storyboard}.rs
# set them: x264 preset veryfast, CRF 23 under maxrate/bufsize, GOP 2 segments + 1, closed GOP,
# forced IDR at each segment start, no scene cuts; 4 s segments; AAC 128 kb/s 48 kHz;
# storyboard one 160 px tile every 2 s, 10 columns, JPEG q 2.
SEGMENT = 4
RUNGS = [  # height, width, sar, maxrate, bufsize (for a 1920x1080 square-pixel source)
    (1080, 1920, "1/1", 5_000_000, 10_000_000),
    (720, 1280, "1/1", 3_000_000, 6_000_000),
    (480, 854, "1280/1281", 1_500_000, 3_000_000),
    (360, 640, "1/1", 800_000, 1_600_000),
]
FPS = 30
GOP = math.ceil(SEGMENT * FPS) * 2 + 1
X264 = ["-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-g", str(GOP), "-flags", "+cgop",
        "-forced-idr", "1", "-x264-params", "scenecut=0:open-gop=0",
        "-force_key_frames", f"expr:gte(t,n_forced*{SEGMENT})"]
AAC = ["-c:a", "aac", "-b:a", "128k", "-ar", "48000", "-ac", "2"]
DASH = ["-f", "dash", "-seg_duration", str(SEGMENT), "-use_template", "1", "-use_timeline", "1",
        "-dash_segment_type", "mp4", "-hls_playlist", "1", "-hls_master_name", "master.m3u8"]
EVERY, TILE_W, TILE_H, COLUMNS = 2, 160, 90, 10


def p(name):
    return os.path.join(DIR, name)


def log(msg):
    print(f"== {time.strftime('%H:%M:%S')} {msg}", file=sys.stderr, flush=True)


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw).stdout


def make(name, args):
    """Creates test media once with the ffmpeg CLI (lavfi sources)."""
    if not os.path.exists(p(name)):
        log(f"making {name}")
        subprocess.run(["ffmpeg", "-v", "error", "-y", *args, p("part-" + name)], check=True)
        os.rename(p("part-" + name), p(name))


def clean(paths):
    for c in paths:
        if os.path.isdir(c):
            shutil.rmtree(c)
        elif os.path.exists(c):
            os.remove(c)


def measure(cmd):
    """Wall s, CPU s (user + sys) and peak RSS (MiB) of one run, from wait4's rusage (which
    includes the children a shell waited for)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = proc.stderr.read().decode(errors="replace")
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{err}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024.0


class Side:
    def __init__(self, key, label, cmd, outputs, shown=None):
        self.key, self.label, self.cmd, self.outputs = key, label, cmd, outputs
        self.shown = shown or " ".join(cmd)
        self.wall, self.cpu, self.rss = [], [], []
        self.checks = []

    def med(self):
        return statistics.median(self.wall)

    def rng(self):
        return min(self.wall), max(self.wall)


def bench(title, sides, runs=RUNS):
    """Runs every side `runs` times, alternating; the order rotates every run."""
    log(f"{title}: {runs} runs x {len(sides)} sides")
    for i in range(runs):
        order = sides[i % len(sides):] + sides[:i % len(sides)]
        for s in order:
            clean(s.outputs)
            w, c, m = measure(s.cmd)
            s.wall.append(w)
            s.cpu.append(c)
            s.rss.append(m)
            log(f"  {s.key} run {i + 1}: {w:.2f} s wall, {c:.2f} s CPU, {m:.0f} MiB")
    return sides


# ---------------------------------------------------------------------------------------------
# Independent checks (ffprobe, the CLI's ebur128, the x264 SEI).

def x264_settings(path):
    """The x264 settings string x264 writes into its SEI (in the first frame), as a dict."""
    data = open(path, "rb").read()
    i = data.find(b"x264 - core")
    if i < 0:
        return None
    text = data[i:data.index(b"\0", i)].decode(errors="replace")
    opts = text.split(" - options: ", 1)[1] if " - options: " in text else ""
    return dict(kv.split("=", 1) for kv in opts.split() if "=" in kv)


# How x264 splits its work over threads: package gives every rung its own thread and each
# encoder its share of the cores (`ladder::encoder_threads`) as sliced threads (each picture cut
# into that many slices), where the CLI leaves x264 its own choice (1.5 frame threads per core,
# for each encoder). Slices do change the bitstream a little; they are printed, not hidden.
THREADING = ("threads", "lookahead_threads", "sliced_threads", "slices")


def settings_diff(a, b):
    if a is None or b is None:
        return "missing SEI"
    keys = sorted(set(a) | set(b))
    d = [f"`{k}` {a.get(k, '-')} vs {b.get(k, '-')}" for k in keys
         if k not in THREADING and a.get(k) != b.get(k)]
    t = [f"`{k}` {a.get(k, '-')} vs {b.get(k, '-')}" for k in THREADING if a.get(k) != b.get(k)]
    if d:
        return "differ: " + ", ".join(d) + ("; threading: " + ", ".join(t) if t else "")
    # Slices change the bitstream a little, so "identical" would overstate it.
    return "the same apart from threading: " + ", ".join(t) if t else "identical"


def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return 0.0


def probe_packets(path, stream="v:0"):
    """(codec, width, height, sar, frames, duration s, key frame times) from ffprobe, demux only."""
    out = json.loads(sh(["ffprobe", "-v", "error", "-select_streams", stream, "-show_entries",
                         "stream=codec_name,width,height,sample_aspect_ratio,sample_rate,channels:"
                         "packet=pts_time,duration_time,flags", "-of", "json", path]))
    st = out["streams"][0]
    pk = [q for q in out.get("packets", []) if q.get("pts_time") not in (None, "N/A")]
    start = min(float(q["pts_time"]) for q in pk)
    end = max(float(q["pts_time"]) + num(q.get("duration_time")) for q in pk)
    keys = sorted(round(float(q["pts_time"]) - start, 3) for q in pk if "K" in q["flags"])
    return {"codec": st.get("codec_name"), "width": st.get("width"), "height": st.get("height"),
            "sar": st.get("sample_aspect_ratio"), "rate": st.get("sample_rate"),
            "channels": st.get("channels"), "frames": len(pk), "duration": round(end - start, 3),
            "keys": keys}


def dash_track(d, stream, tmpname):
    """Concatenates a dash output's init and media segments of one stream into one file."""
    init = os.path.join(d, f"init-stream{stream}.m4s")
    chunks = sorted(f for f in os.listdir(d) if f.startswith(f"chunk-stream{stream}-"))
    path = p(tmpname)
    with open(path, "wb") as o:
        for f in [init] + [os.path.join(d, c) for c in chunks]:
            o.write(open(f, "rb").read())
    return path, len(chunks)


def ladder_check(side, tracks, sprite):
    """Checks one ladder output: per rung (dir, stream) and the audio (dir, stream)."""
    facts = {"rungs": [], "settings": [], "audio": None, "sprite": None}
    for n, (d, stream) in enumerate(tracks["video"]):
        path, segs = dash_track(d, stream, f"check-{side.key}-{n}.mp4")
        f = probe_packets(path)
        f["segments"] = segs
        facts["rungs"].append(f)
        facts["settings"].append(x264_settings(path))
        os.remove(path)
    d, stream = tracks["audio"]
    path, segs = dash_track(d, stream, f"check-{side.key}-a.mp4")
    facts["audio"] = probe_packets(path, "a:0")
    facts["audio"]["segments"] = segs
    os.remove(path)
    facts["sprite"] = probe_packets(sprite)
    for m in tracks["manifests"]:
        if not os.path.exists(m):
            raise SystemExit(f"{side.key}: missing {m}")
    return facts


def describe_ladder(f):
    rungs = "; ".join(f"{r['width']}x{r['height']} SAR {r['sar']}, {r['codec']}, {r['frames']} frames, "
                      f"{r['duration']:.3f} s, {r['segments']} segments" for r in f["rungs"])
    a = f["audio"]
    return (f"{rungs}; audio {a['codec']} {a['rate']} Hz {a['channels']} ch {a['duration']:.3f} s; "
            f"sprite {f['sprite']['width']}x{f['sprite']['height']}")


def ebur128(path):
    """Integrated loudness (LUFS) and true peak (dBTP) by the CLI's ebur128 filter."""
    err = subprocess.run(["ffmpeg", "-nostats", "-hide_banner", "-i", path, "-map", "0:a:0",
                          "-filter:a", "ebur128=peak=true", "-f", "null", "-"],
                         capture_output=True, text=True, check=True).stderr
    summary = err[err.rindex("Summary:"):]
    i = float(re.search(r"I:\s+(-?[\d.]+) LUFS", summary).group(1))
    tp = float(re.search(r"True peak:\s+Peak:\s+(-?[\d.]+|-inf) dBFS", summary).group(1))
    return i, tp


# ---------------------------------------------------------------------------------------------
# Rendering.

def fmt(v):
    return f"{v:.1f}" if v >= 10 else f"{v:.2f}"


def verdict(a, b):
    """'on par' when the wall-time ranges overlap, else faster/slower."""
    (amin, amax), (bmin, bmax) = a.rng(), b.rng()
    if amax < bmin:
        return "faster (the ranges do not overlap)"
    if amin > bmax:
        return "slower (the ranges do not overlap)"
    return "on par (the ranges overlap)"


def compare(a, b, target=None):
    ratio = a.med() / b.med()
    lo, hi = a.rng()[0] / b.rng()[1], a.rng()[1] / b.rng()[0]
    s = (f"{a.label} {fmt(a.med())} s (range {fmt(a.rng()[0])}–{fmt(a.rng()[1])}), "
         f"{b.label} {fmt(b.med())} s ({fmt(b.rng()[0])}–{fmt(b.rng()[1])}): "
         f"**{ratio:.2f}x** at the medians ({lo:.2f}x–{hi:.2f}x over the ranges); {verdict(a, b)}; "
         f"median CPU time {fmt(statistics.median(a.cpu))} s vs {fmt(statistics.median(b.cpu))} s")
    if target is not None:
        s += f". Target ≤ {target:.1f}x: **{'met' if ratio <= target else 'NOT met'}**"
    return s, ratio


def table(sides):
    rows = ["| side | runs, wall (s) | min–max (s) | median (s) | median CPU (s) | peak RSS (max of runs) |",
            "|---|---|---|---|---|---|"]
    for s in sides:
        rows.append(f"| {s.label} | {' '.join(fmt(w) for w in s.wall)} | {fmt(min(s.wall))}–{fmt(max(s.wall))} "
                    f"| {fmt(s.med())} | {fmt(statistics.median(s.cpu))} | {max(s.rss):.0f} MiB |")
    return "\n".join(rows)


def commands(sides):
    return "\n".join(f"- {s.label}: `{s.shown}`" for s in sides)


# ---------------------------------------------------------------------------------------------

def main():
    # Work that ended just before (a lock rebuild, a test run) keeps the 1-minute load above 1
    # for a while: wait up to SETTLE_SECONDS for it to fall below 1, and say if it did not.
    waited = time.time()
    while float(open("/proc/loadavg").read().split()[0]) >= 1.0 and time.time() - waited < SETTLE_SECONDS:
        time.sleep(5)
    waited = time.time() - waited
    t0 = time.time()
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load_before = open("/proc/loadavg").read().split()[:3]
    commit = sh(["git", "rev-parse", "--short", "HEAD"]).strip()
    dirty = sh(["git", "status", "--porcelain", "--untracked-files=no"])
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    mem = next(l.split()[1] for l in open("/proc/meminfo") if l.startswith("MemTotal"))
    versions = {
        "ffmpeg": sh(["ffmpeg", "-version"]).splitlines()[0].split()[2],
        "ffmpeg-normalize": sh(["ffmpeg-normalize", "--version"]).strip().split()[-1],
        "ferrostack-media": sh([BIN, "--version"]).strip(),
        "x264": "",
        "os": next((l.split("=", 1)[1].strip().strip('"') for l in open("/etc/os-release") if l.startswith("PRETTY_NAME")), "?"),
    }

    # Test media, made once with the ffmpeg CLI.
    ladder_src = f"ladder1080-{LADDER_SECONDS}s.mp4"
    make(ladder_src, ["-f", "lavfi", "-i", f"testsrc2=size=1920x1080:rate={FPS}:duration={LADDER_SECONDS}",
                      "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={LADDER_SECONDS},aformat=channel_layouts=stereo",
                      "-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p",
                      "-c:a", "aac", "-b:a", "192k", "-shortest"])
    clip_name = f"clip720-{CLIP_SECONDS}s.mp4"
    make(clip_name, ["-f", "lavfi", "-i", f"testsrc2=size=1280x720:rate=30:duration={CLIP_SECONDS}",
                         "-f", "lavfi", "-i", f"sine=frequency=300:sample_rate=48000:duration={CLIP_SECONDS},volume=-18dB,aformat=channel_layouts=stereo",
                         "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k", "-shortest"])
    talk = f"talk-{TALK_SECONDS}s.mp3"
    make(talk, ["-f", "lavfi", "-i", f"anoisesrc=color=pink:sample_rate=44100:duration={TALK_SECONDS}:amplitude=0.2,tremolo=f=0.5:d=0.7,aformat=channel_layouts=stereo",
                "-c:a", "libmp3lame", "-b:a", "128k"])
    long_src = f"video360-{LONG_SECONDS}s.mp4"
    make(long_src, ["-f", "lavfi", "-i", f"testsrc2=size=640x360:rate=25:duration={LONG_SECONDS}",
                    "-f", "lavfi", "-i", f"sine=frequency=300:sample_rate=48000:duration={LONG_SECONDS},aformat=channel_layouts=stereo",
                    "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest"])
    src, clip, talk, long_src = p(ladder_src), p(clip_name), p(talk), p(long_src)
    versions["x264"] = "core " + b" ".join(open(src, "rb").read().split(b"x264 - core ", 1)[1].split(b" ", 2)[:2]
                                           ).decode()

    sections, headline, targets = [], [], []

    # 1. Ladder ---------------------------------------------------------------------------------
    src_dur = float(sh(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", src]))
    tiles = math.ceil(src_dur / EVERY - 1e-9)
    cols = min(COLUMNS, tiles)
    rows = math.ceil(tiles / cols)
    sprite_vf = f"fps=1/{EVERY},scale={TILE_W}:{TILE_H},setsar=1,tile={cols}x{rows}"
    ours_dir, one_dir, sep_dir = p("pkg-ours"), p("pkg-cli"), p("pkg-sep")
    # The same scaling sources as package (`ladder::scale_sources`): a rung reads the smallest
    # rung at least 1.5x its height that was itself scaled down from the source, else the source.
    src_h = RUNGS[0][0]
    sources = {}
    for i, (h, *_rest) in enumerate(RUNGS):
        sources[i] = next((j for j in reversed(range(i)) if sources[j] is None and RUNGS[j][0] < src_h
                           and RUNGS[j][0] >= 1.5 * h), None)
    direct = [i for i in sources if sources[i] is None]
    split = f"[0:v]split={len(direct) + 1}" + "".join(f"[s{i}]" for i in direct) + "[ssb];"
    chains = []
    for i in direct:
        kids = [k for k in sources if sources[k] == i]
        h, w, sar, _, _ = RUNGS[i]
        tail = f",split={len(kids) + 1}[v{i}]" + "".join(f"[c{k}]" for k in kids) if kids else f"[v{i}]"
        chains.append(f"[s{i}]scale={w}:{h},setsar={sar}:max=10000,format=yuv420p{tail}")
    for k, j in sources.items():
        if j is not None:
            h, w, sar, _, _ = RUNGS[k]
            chains.append(f"[c{k}]scale={w}:{h},setsar={sar}:max=10000,format=yuv420p[v{k}]")
    split += ";".join(chains) + f";[ssb]{sprite_vf}[sb]"
    caps = []
    for i, (_, _, _, mr, bs) in enumerate(RUNGS):
        caps += [f"-maxrate:v:{i}", str(mr), f"-bufsize:v:{i}", str(bs)]
    one_cmd = ["ffmpeg", "-v", "error", "-y", "-i", src, "-filter_complex", split,
               *sum((["-map", f"[v{i}]"] for i in range(len(RUNGS))), []), "-map", "0:a:0",
               *X264, *caps, *AAC, *DASH, "-adaptation_sets", "id=0,streams=v id=1,streams=a",
               os.path.join(one_dir, "manifest.mpd"),
               "-map", "[sb]", "-frames:v", "1", "-q:v", "2", os.path.join(one_dir, "storyboard.jpg")]
    sep_script = []
    for i, (h, w, sar, mr, bs) in enumerate(RUNGS):
        audio = ["-map", "0:a:0", *AAC, "-adaptation_sets", "id=0,streams=v id=1,streams=a"] if i == 0 \
            else ["-adaptation_sets", "id=0,streams=v"]
        sep_script.append(shlex.join(["ffmpeg", "-v", "error", "-y", "-i", src, "-map", "0:v:0",
                                      "-vf", f"scale={w}:{h},setsar={sar}:max=10000,format=yuv420p", *X264,
                                      "-maxrate", str(mr), "-bufsize", str(bs), *audio, *DASH,
                                      os.path.join(sep_dir, f"{h}p", "manifest.mpd")]))
    sep_script.append(shlex.join(["ffmpeg", "-v", "error", "-y", "-i", src, "-vf", sprite_vf,
                                  "-frames:v", "1", "-q:v", "2", os.path.join(sep_dir, "storyboard.jpg")]))
    sep_cmd = ["bash", "-c", "set -e; mkdir -p " + " ".join(os.path.join(sep_dir, f"{h}p") for h, *_ in RUNGS)
               + "; " + "; ".join(sep_script)]
    ours = Side("package", "`ferrostack-media package --storyboard`",
                [BIN, "package", src, ours_dir, "--storyboard"], [ours_dir])
    one = Side("cli-one", "one `ffmpeg` process (`split`)",
               ["bash", "-c", f"mkdir -p {shlex.quote(one_dir)} && exec {shlex.join(one_cmd)}"], [one_dir],
               shown=shlex.join(one_cmd))
    sep = Side("cli-sep", "4 separate `ffmpeg` runs + sprite", sep_cmd, [sep_dir],
               shown="; ".join(sep_script))
    # The one thing a single decode saves: the separate runs' extra decodes. Decoding the source
    # alone (the CLI's default threads, no output) measures what one decode costs.
    dec = Side("decode", "decode only (`ffmpeg -f null`)",
               ["ffmpeg", "-v", "error", "-y", "-i", src, "-map", "0:v:0", "-f", "null", "-"], [])
    bench("ladder", [ours, one, sep, dec])
    log("checking the ladder outputs")
    f_ours = ladder_check(ours, {"video": [(ours_dir, i) for i in range(len(RUNGS))], "audio": (ours_dir, len(RUNGS)),
                                 "manifests": [os.path.join(ours_dir, m) for m in ("manifest.mpd", "master.m3u8", "storyboard.vtt")]},
                          os.path.join(ours_dir, "storyboard.jpg"))
    f_one = ladder_check(one, {"video": [(one_dir, i) for i in range(len(RUNGS))], "audio": (one_dir, len(RUNGS)),
                               "manifests": [os.path.join(one_dir, m) for m in ("manifest.mpd", "master.m3u8")]},
                         os.path.join(one_dir, "storyboard.jpg"))
    f_sep = ladder_check(sep, {"video": [(os.path.join(sep_dir, f"{h}p"), 0) for h, *_ in RUNGS],
                               "audio": (os.path.join(sep_dir, "1080p"), 1),
                               "manifests": [os.path.join(sep_dir, f"{h}p", "manifest.mpd") for h, *_ in RUNGS]},
                         os.path.join(sep_dir, "storyboard.jpg"))
    ladder_lines = []
    for side, f in ((ours, f_ours), (one, f_one), (sep, f_sep)):
        ladder_lines.append(f"- {side.label}: {describe_ladder(f)}")
    key_lines = []
    for side, f in ((ours, f_ours), (one, f_one), (sep, f_sep)):
        ks = {tuple(r["keys"]) for r in f["rungs"]}
        key_lines.append(f"- {side.label}: key frames at "
                         + (", ".join(f"{k:g}" for k in f['rungs'][0]['keys']) + " s on every rung" if len(ks) == 1
                            else "; ".join(", ".join(f"{k:g}" for k in r["keys"]) for r in f["rungs"]) + " (NOT the same on every rung)"))
    set_lines = []
    for n, (h, *_) in enumerate(RUNGS):
        set_lines.append(f"- {h}p: package vs one CLI process: {settings_diff(f_ours['settings'][n], f_one['settings'][n])}; "
                         f"package vs separate runs: {settings_diff(f_ours['settings'][n], f_sep['settings'][n])}")
    THREADS_NOTE = ", ".join(f"{(st or {}).get('threads', '?')} for {h}p"
                             for st, (h, *_) in zip(f_ours["settings"], RUNGS))
    example = f_ours["settings"][0]
    example_text = " ".join(f"{k}={v}" for k, v in example.items()) if example else "(none)"
    s1, r1 = compare(ours, one, 1.0)
    s2, r2 = compare(ours, sep, 0.6)
    peak = max(ours.rss)
    rss_line = (f"peak RSS of `package` {peak:.0f} MiB (one CLI process {max(one.rss):.0f} MiB, the largest "
                f"of the separate runs {max(sep.rss):.0f} MiB). Target ≤ 400 MiB for a 1080p source: "
                f"**{'met' if peak <= 400 else 'NOT met'}**")
    headline.append(f"- **Ladder vs one `ffmpeg` process** ({LADDER_SECONDS} s 1080p, 4 rungs + audio + storyboard): {s1}.")
    headline.append(f"- **Ladder vs 4 separate `ffmpeg` runs + sprite**: {s2}.")
    headline.append(f"- **Ladder memory**: {rss_line}.")
    dec_cpu, sep_cpu = statistics.median(dec.cpu), statistics.median(sep.cpu)
    ours_cpu, ours_busy = statistics.median(ours.cpu), statistics.median(c / w for c, w in zip(ours.cpu, ours.wall))
    sep_busy = statistics.median(c / w for c, w in zip(sep.cpu, sep.wall))
    bound = (sep_cpu - 4 * dec_cpu) / sep_cpu
    bound_line = (f"the separate runs decode the source 5 times where `package` decodes it once; one decode costs "
                  f"{fmt(dec_cpu)} s of CPU (median of {len(dec.cpu)} runs of decoding alone), so the same work "
                  f"decoded once costs {fmt(sep_cpu - 4 * dec_cpu)} s of the separate runs' {fmt(sep_cpu)} s: "
                  f"**{bound:.2f}x** of their CPU time, the ratio a one-decode tool reaches at the same core use "
                  f"and otherwise the same work. `package` spent {fmt(ours_cpu)} s "
                  f"({ours_cpu / sep_cpu:.2f}x) and kept {ours_busy:.2f} cores busy on the median "
                  f"(the separate runs {sep_busy:.2f})")
    headline.append(f"- **What one decode can save**: {bound_line}.")
    sections.append(f"""## 1. Ladder: `package` vs the ffmpeg CLI

Source: `{ladder_src}`, {src_dur:g} s of 1920x1080 {FPS} fps `testsrc2` (H.264 veryfast CRF 18,
yuv420p) + a 440 Hz sine (AAC 192 kb/s, 48 kHz stereo), made once by the script with `ffmpeg`.
{LADDER_SECONDS} s (not 30 s) keeps the whole script near 30 minutes on this shared 2-core
machine; `LADDER_SECONDS=30` measures a longer one.

All three sides make 4 H.264 rungs (1920x1080, 1280x720, 854x480 SAR 1280:1281, 640x360) with
package's settings (`video_lane.rs`: x264 preset `veryfast`, CRF 23 under the rung's
`maxrate`/`bufsize`, GOP {GOP}, closed GOP, forced IDR key frames every {SEGMENT} s, scene cuts
off), AAC 128 kb/s 48 kHz once, {SEGMENT} s CMAF segments through FFmpeg's `dash` muxer with the
HLS playlists (`-hls_playlist 1`), and a storyboard sprite ({cols}x{rows} tiles of {TILE_W}x{TILE_H},
one every {EVERY} s, JPEG q 2). `package` and the one CLI process scale the same way (`ladder.rs`,
`scale_sources`: 1080p and 720p from the source, 480p and 360p from 720p; the CLI's graph is
`split` with a second `split` after the 720p `scale`), so their pictures are the same; the
separate runs each scale from the source, as a worker running one `ffmpeg` per rung must.
Otherwise only the threading differs: `package` scales and encodes every
rung on a thread of its own and gives each x264 its share of the cores (`ladder.rs`,
`encoder_threads`: threads {THREADS_NOTE}; more than one as sliced threads, so 1080p's pictures
are cut into 2 slices), where the CLI runs every encoder from its one main thread and leaves x264
its own choice (1.5 frame threads per core for each encoder, its default and, with one main
thread, its fastest). `package` also writes `storyboard.vtt` and `storyboard.json`,
which the CLI cannot. The separate runs are what a worker does today: one `ffmpeg` per rung
(audio with the first), each decoding the source again, then the sprite one-liner (a fifth
decode); they write one manifest per rung instead of one for the ladder.

{table([ours, one, sep, dec])}

{s1}.

{s2}.

What one decode can save: {bound_line}. Encoding the 4 rungs is the same work on every side
(x264 was 75 % of `package`'s CPU samples under `perf`, decoding 13 %, scaling 8 %), so a target
below that ratio needs cheaper encoding, not fewer decodes.

Memory: {rss_line}. Peak RSS is `ru_maxrss` from `wait4` (it includes the mapped FFmpeg
libraries; for the separate runs, the largest single `ffmpeg`).

Outputs checked (the last run of each side, by `ffprobe` over each rung's init + media segments
concatenated, and the x264 settings string from the SEI of each rung's first frame):

{chr(10).join(ladder_lines)}

{chr(10).join(key_lines)}

x264 settings string, rung by rung:

{chr(10).join(set_lines)}

package's 1080p rung: `{example_text}`

Commands:

{commands([ours, one, sep, dec])}
""")

    # 2. Storyboard ------------------------------------------------------------------------------
    sb_ours, sb_cli = p("sprite-ours.jpg"), p("sprite-cli.jpg")
    a = Side("sprite", "`ferrostack-media sprite`",
             [BIN, "sprite", src, sb_ours, "--every", str(EVERY), "--columns", str(COLUMNS), "--width", str(TILE_W)], [sb_ours])
    sprite_task_vf = f"fps=1/{EVERY},scale={TILE_W}:{TILE_H},setsar=1,tile={COLUMNS}x{math.ceil(tiles / COLUMNS)}"
    b = Side("cli-sprite", "`ffmpeg` `fps,scale,tile`",
             ["ffmpeg", "-v", "error", "-y", "-i", src, "-vf", sprite_task_vf, "-frames:v", "1", "-q:v", "2", sb_cli], [sb_cli])
    bench("storyboard", [a, b])
    fa, fb = probe_packets(sb_ours), probe_packets(sb_cli)
    s3, _ = compare(a, b, 1.0)
    headline.append(f"- **Storyboard** (`sprite` task vs the CLI's `fps,scale,tile`): {s3}.")
    sections.append(f"""## 2. Storyboard: the `sprite` task vs the CLI one-liner

`package --storyboard` always comes with a ladder (section 1), so the storyboard alone is the
`sprite` task (same tiles: one every {EVERY} s, {TILE_W} px wide, {COLUMNS} columns, JPEG q 2),
on the same {src_dur:g} s 1080p source.

{table([a, b])}

{s3}.

Outputs checked: ours {fa['width']}x{fa['height']} {fa['codec']}, the CLI's {fb['width']}x{fb['height']} {fb['codec']}
({tiles} tiles of {TILE_W}x{TILE_H} expected; the `sprite` task keeps {COLUMNS} columns even when
there are fewer tiles, so the CLI's grid is {COLUMNS} wide too, while `package`'s storyboard and
section 1's CLI grid are {cols} wide).

Commands:

{commands([a, b])}
""")

    # 3. The earlier rows -----------------------------------------------------------------------
    x264m = ["-c:v", "libx264", "-preset", "medium", "-crf", "23", "-pix_fmt", "yuv420p"]
    out_o, out_c = p("out-ours.mp4"), p("out-cli.mp4")

    # probe
    a = Side("probe", "`ferrostack-media probe --json`", [BIN, "probe", clip, "--json"], [])
    b = Side("ffprobe", "`ffprobe`", ["ffprobe", "-v", "error", "-show_format", "-show_streams", "-of", "json", clip], [])
    bench("probe", [a, b], runs=max(RUNS, 20))
    dur_o = json.loads(sh([BIN, "probe", clip, "--json"]))["duration"]
    dur_c = float(json.loads(sh(b.cmd))["format"]["duration"])
    s, _ = compare(a, b)
    rows3 = [(f"probe ({CLIP_SECONDS} s 720p MP4)", a, b, s, f"duration {dur_o} s (ours) vs {dur_c} s (ffprobe)")]

    def av_row(title, ours_cmd, cli_cmd, expect, target=1.0, src_file=clip):
        a = Side("ours", "ferrostack-media", ours_cmd, [out_o])
        b = Side("cli", "`ffmpeg` CLI", cli_cmd, [out_c])
        bench(title, [a, b])
        fo, fc = probe_packets(out_o), probe_packets(out_c)
        d = settings_diff(x264_settings(out_o), x264_settings(out_c))
        chk = (f"ours {fo['width']}x{fo['height']} {fo['frames']} frames {fo['duration']:.2f} s, "
               f"CLI {fc['width']}x{fc['height']} {fc['frames']} frames {fc['duration']:.2f} s (expected {expect}); "
               f"x264 settings strings {d}")
        s, r = compare(a, b, target)
        rows3.append((title, a, b, s, chk))
        return s

    st = av_row(f"transcode H.264 CRF 23 ({CLIP_SECONDS} s 720p)", [BIN, "transcode", clip, out_o, "--crf", "23"],
                ["ffmpeg", "-v", "error", "-y", "-i", clip, *x264m, "-c:a", "copy", "-movflags", "+faststart", out_c], f"1280x720, {CLIP_SECONDS * 30} frames")
    headline.append(f"- **transcode** ({CLIP_SECONDS} s 720p, x264 medium CRF 23): {st}.")
    sr = av_row(f"resize to 640x360 ({CLIP_SECONDS} s 720p)", [BIN, "resize", clip, out_o, "--width", "640", "--height", "360"],
                ["ffmpeg", "-v", "error", "-y", "-i", clip, "-vf", "scale=640:360,setsar=1", *x264m, "-c:a", "copy", "-movflags", "+faststart", out_c],
                f"640x360, {CLIP_SECONDS * 30} frames")
    headline.append(f"- **resize** ({CLIP_SECONDS} s 720p to 640x360): {sr}.")
    sl = av_row(f"transcode H.264 CRF 23 ({LONG_SECONDS} s 360p)", [BIN, "transcode", long_src, out_o, "--crf", "23"],
                ["ffmpeg", "-v", "error", "-y", "-i", long_src, *x264m, "-c:a", "copy", "-movflags", "+faststart", out_c],
                f"640x360, {LONG_SECONDS * 25} frames", src_file=long_src)
    headline.append(f"- **transcode** ({LONG_SECONDS} s 360p): {sl}; peak RSS ours {max(rows3[-1][1].rss):.0f} MiB, "
                    f"CLI {max(rows3[-1][2].rss):.0f} MiB.")

    # normalize: EBU R128, -23 LUFS, -2 dBTP (both tools' defaults)
    def two_pass(inp, out, extra):
        script = f"""set -e
m=$(ffmpeg -hide_banner -nostats -i '{inp}' -map 0:a:0 -af loudnorm=I=-23:TP=-2:LRA=7:print_format=json -f null - 2>&1 | sed -n '/^{{/,/^}}/p')
v() {{ echo "$m" | python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }}
ffmpeg -v error -y -i '{inp}' -af "loudnorm=I=-23:TP=-2:LRA=7:measured_I=$(v input_i):measured_TP=$(v input_tp):measured_LRA=$(v input_lra):measured_thresh=$(v input_thresh):offset=$(v target_offset):linear=true" {extra} '{out}'
"""
        return ["bash", "-c", script]

    def norm_row(title, inp, ext, rate, extra, with_two_pass):
        oo, on, ot = p("norm-ours" + ext), p("norm-fn" + ext), p("norm-2p" + ext)
        a = Side("ours", "ferrostack-media", [BIN, "normalize", inp, oo, "--audio-bitrate", "128k"], [oo])
        b = Side("ffmpeg-normalize", "ffmpeg-normalize",
                 ["ffmpeg-normalize", inp, "-o", on, "-f", "-c:a", "aac", "-b:a", "128k", "-ar", rate], [on])
        sides = [a, b]
        if with_two_pass:
            sides.append(Side("two-pass", "two-pass `loudnorm` (CLI)", two_pass(inp, ot, extra), [ot],
                              shown=f"two_pass() in scripts/bench-media.py: loudnorm measures, then applies with linear=true and {extra}"))
        bench(title, sides)
        chk = []
        ok = True
        for s in sides:
            i, tp = ebur128(s.outputs[0])
            hit = abs(i + 23) <= 1.0 and tp <= -2.0 + 0.1
            ok &= hit
            a0 = probe_packets(s.outputs[0], "a:0")
            kbps = os.path.getsize(s.outputs[0]) * 8 / a0["duration"] / 1000 if ext != ".mp4" else None
            size = f", {a0['codec']} {a0['frames']} packets" + (f", file {kbps:.1f} kb/s" if kbps else "")
            chk.append(f"{s.label}: I {i:.1f} LUFS, true peak {tp:.1f} dBTP ({'hits' if hit else 'MISSES'} the target){size}")
        chk = "; ".join(chk)
        s1, r = compare(a, b)
        rows3.append((title + " vs ffmpeg-normalize", a, b, s1, chk))
        if with_two_pass:
            s2, _ = compare(a, sides[2])
            rows3.append((title + " vs two-pass loudnorm", a, sides[2], s2, "as above"))
        return s1, r, ok, a, b

    norm_row(f"normalize EBU ({CLIP_SECONDS} s 720p, video copied)", clip, ".mp4", "48000", "-c:v copy -c:a aac -b:a 128k -ar 48000", True)
    sn, rn, okn, a, b = norm_row(f"normalize EBU ({talk_label} audio)", talk, ".m4a", "44100",
                                  "-c:a aac -b:a 128k -ar 44100", False)
    cpu_ratio = statistics.median(b.cpu) / statistics.median(a.cpu)
    headline.append(f"- **normalize EBU** ({talk_label} audio) vs ffmpeg-normalize: {sn}; "
                    f"{1 / rn:.2f}x as fast at the wall-time medians, {cpu_ratio:.2f}x in CPU time. "
                    f"Target 2x as fast: **{'met' if 1 / rn >= 2 else 'NOT met'}** (wall); both outputs "
                    f"{'hit' if okn else 'do NOT all hit'} -23 LUFS ±1 and ≤ -2 dBTP; "
                    f"peak RSS ours {max(a.rss):.0f} MiB, ffmpeg-normalize {max(b.rss):.0f} MiB.")

    parts = []
    for title, a, b, s, chk in rows3:
        parts.append(f"### {title}\n\n{table([a, b])}\n\n{s}.\n\nOutputs checked: {chk}.\n\nCommands:\n\n{commands([a, b])}\n")
    sections.append("## 3. The earlier rows: probe, transcode, resize, normalize\n\n"
                    f"Media: `{clip_name}`, {CLIP_SECONDS} s 1280x720 30 fps `testsrc2`, H.264 (veryfast CRF 20) + a 300 Hz "
                    "sine at -18 dB (AAC stereo 48 kHz); "
                    f"`{os.path.basename(talk)}`, {TALK_SECONDS} s of pink noise under a 0.5 Hz tremolo (speech-like "
                    "level changes), stereo 44.1 kHz MP3 128 kb/s; "
                    f"`{os.path.basename(long_src)}`, {LONG_SECONDS} s 640x360 25 fps `testsrc2`, H.264 (ultrafast) + "
                    "AAC stereo (it replaces the earlier 10 min 360p row, which alone took about 6 minutes). "
                    "Normalize targets are both tools' defaults: EBU R128, -23 LUFS, -2 dBTP, LRA 7; an output "
                    "hits the target when ebur128 measures -23 ±1 LUFS and a true peak ≤ -1.9 dBTP.\n\n"
                    + "\n".join(parts))

    load_after = open("/proc/loadavg").read().split()[:3]
    minutes = (time.time() - t0) / 60
    changed = [line[3:] for line in dirty.splitlines() if line.strip()]
    commit_note = f"`{commit}`" + (f" (with uncommitted changes to {', '.join(changed)})" if changed else "")
    settle = f" The script waited {waited:.0f} s for the load to settle first." if waited >= 5 else ""
    idle_note = settle + (f" Nothing else ran during the script (load {load_before[0]} before it; every side keeps "
                 f"both cores busy, so the load during it is the benchmark's own)."
                 if float(load_before[0]) < 1.0 else
                 f" **The machine was not idle** (load {load_before[0]} when it started): other work shared "
                 f"these {os.cpu_count()} cores, so absolute times are noisy.")
    doc = f"""# Benchmark: `ferrostack-media` vs the ffmpeg CLI and ffmpeg-normalize

Command: `scripts/bench-media {RUNS}` (regenerates this file), started {started}, commit
{commit_note}; {os.cpu_count()} cores, {cpu}, {int(mem) // 1024 // 1024} GiB, {versions['os']}.
Versions: FFmpeg {versions['ffmpeg']}, x264 {versions['x264']}, ffmpeg-normalize
{versions['ffmpeg-normalize']}, {versions['ferrostack-media']} (release build).
Load average (1, 5, 15 min) before: {' '.join(load_before)}; after: {' '.join(load_after)}. The
script took {minutes:.0f} min.{idle_note} CPU time is given beside wall
time. Each comparison runs its sides {RUNS} times, alternating (the order rotates every run), so
load changes hit every side alike; a difference whose wall-time ranges overlap is reported as
**on par**. Targets are judged on the medians.

<!-- headline -->
{chr(10).join(headline)}
<!-- /headline -->

{chr(10).join(sections)}"""
    open(DOC, "w").write(doc)
    log(f"wrote {DOC} ({minutes:.0f} min)")


main()
