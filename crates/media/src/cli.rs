//! Command line of `ferrostack-media`: raw clap arguments, turned once into the library's typed options.
use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use ferrostack_media::{self as media, MediaError, Monitor, Preset, Progress};
use serde::Serialize;

/// Media tasks for workers: probe, transcode, resize, normalize, thumbnails, package.
#[derive(Debug, Parser)]
#[command(name = "ferrostack-media", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Print the task's result (or error) as JSON on stdout.
    #[arg(long, global = true)]
    pub json: bool,
    /// Report progress on stderr: `json` prints one JSON object per line.
    #[arg(long, global = true, value_enum)]
    pub progress: Option<ProgressMode>,
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// Bounds on untrusted inputs; the defaults are `Limits::default()`.
#[derive(Debug, Args)]
pub struct LimitArgs {
    /// Read a demuxer that opens other files (hls, concat, dash, image2, ...); repeatable.
    #[arg(long, global = true, value_name = "FORMAT")]
    pub allow_format: Vec<String>,
    /// Widest picture accepted [default: 16384].
    #[arg(long, global = true, value_name = "PIXELS")]
    pub max_width: Option<u32>,
    /// Tallest picture accepted [default: 16384].
    #[arg(long, global = true, value_name = "PIXELS")]
    pub max_height: Option<u32>,
    /// Most pixels per picture, also a sprite's canvas [default: 268435456].
    #[arg(long, global = true, value_name = "N")]
    pub max_pixels: Option<u64>,
    /// Most streams in an input [default: 32].
    #[arg(long, global = true, value_name = "N")]
    pub max_streams: Option<u32>,
    /// Most images `thumbnails` writes [default: 1000].
    #[arg(long, global = true, value_name = "N")]
    pub max_images: Option<u32>,
    /// Most tiles in a `sprite` [default: 10000].
    #[arg(long, global = true, value_name = "N")]
    pub max_tiles: Option<u32>,
}

impl LimitArgs {
    fn limits(&self) -> media::Limits {
        let d = media::Limits::default();
        media::Limits {
            max_width: self.max_width.unwrap_or(d.max_width),
            max_height: self.max_height.unwrap_or(d.max_height),
            max_pixels: self.max_pixels.unwrap_or(d.max_pixels),
            max_streams: self.max_streams.unwrap_or(d.max_streams),
            max_images: self.max_images.unwrap_or(d.max_images),
            max_tiles: self.max_tiles.unwrap_or(d.max_tiles),
            allow_formats: self.allow_format.clone(),
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ProgressMode {
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Container and stream facts.
    Probe { input: PathBuf },
    /// Re-encode or remux; streams that already match the target are copied.
    Transcode(TranscodeArgs),
    /// Scale, crop or re-aspect the video; the audio is copied.
    Resize(ResizeArgs),
    /// Loudness-normalize the audio (EBU R128 by default); the video is copied.
    Normalize(NormalizeArgs),
    /// Run a worker payload: one task object or a list (`-` reads stdin); results as JSON on stdout.
    Run { task_file: PathBuf },
    /// One still (JPEG or PNG, from the extension) at a time.
    Thumbnail {
        input: PathBuf,
        output: PathBuf,
        /// Time: seconds, [HH:]MM:SS[.mmm] or 1500ms.
        #[arg(long, default_value = "0")]
        at: String,
        #[arg(long)]
        width: Option<u32>,
    },
    /// A still every N seconds, or one per scene change, into DIR (thumb-0001.jpg, ...).
    Thumbnails {
        input: PathBuf,
        dir: PathBuf,
        #[arg(long, required_unless_present = "scenes", conflicts_with = "scenes")]
        every: Option<String>,
        /// One still per scene change: FFmpeg's scene score above THRESHOLD (0-1, default 0.3).
        #[arg(long, value_name = "THRESHOLD", num_args = 0..=1, default_missing_value = "0.3")]
        scenes: Option<f64>,
        #[arg(long)]
        width: Option<u32>,
        /// jpg or png.
        #[arg(long, default_value = "jpg")]
        format: String,
    },
    /// HLS + DASH package into OUTDIR: an ABR ladder and AAC audio as CMAF segments, one decode.
    Package(PackageArgs),
    /// One image with a grid of stills every N seconds.
    Sprite {
        input: PathBuf,
        output: PathBuf,
        #[arg(long)]
        every: String,
        #[arg(long)]
        columns: u32,
        /// Width of one tile.
        #[arg(long, default_value_t = 160)]
        width: u32,
    },
}

#[derive(Debug, Args)]
pub struct PackageArgs {
    pub input: PathBuf,
    /// Output directory; created, or replaced as a whole when the package is complete.
    pub outdir: PathBuf,
    /// Rungs: heights such as `720,480`, or a JSON list (`[{"height":720,"maxrate":"3M"}]`)
    /// [default: 1080,720,480,360; never above the source].
    #[arg(long)]
    pub ladder: Option<String>,
    /// Segment length: seconds, [HH:]MM:SS[.mmm] or 1500ms.
    #[arg(long, default_value = "4")]
    pub segment: String,
    /// Write the HLS playlists (only HLS unless --dash is given too; both by default).
    #[arg(long)]
    pub hls: bool,
    /// Write the DASH MPD (only DASH unless --hls is given too; both by default).
    #[arg(long)]
    pub dash: bool,
    /// libx264 or libvpx-vp9.
    #[arg(long)]
    pub video_codec: Option<String>,
    /// x264 speed preset [default: veryfast].
    #[arg(long)]
    pub speed: Option<String>,
    /// AAC bit rate such as 128k.
    #[arg(long)]
    pub audio_bitrate: Option<String>,
    /// Loudness-normalize the audio (EBU R128).
    #[arg(long)]
    pub normalize: bool,
    /// Integrated loudness target in LUFS for --normalize [default: -23].
    #[arg(long, allow_hyphen_values = true)]
    pub target: Option<f64>,
    /// Leave the audio out (video rungs only).
    #[arg(long)]
    pub no_audio: bool,
    /// Also write storyboard.jpg (sprite), storyboard.vtt (WebVTT cues with #xywh) and storyboard.json.
    #[arg(long)]
    pub storyboard: bool,
    /// Seconds between storyboard tiles [default: 2].
    #[arg(long)]
    pub storyboard_every: Option<String>,
    /// Storyboard tiles per row [default: 10].
    #[arg(long)]
    pub storyboard_columns: Option<u32>,
    /// Width of one storyboard tile [default: 160].
    #[arg(long)]
    pub storyboard_width: Option<u32>,
    /// Also write waveform.json (BBC audiowaveform peaks, version 2).
    #[arg(long)]
    pub waveform: bool,
    /// Audio samples per waveform pixel [default: 256].
    #[arg(long)]
    pub samples_per_pixel: Option<u32>,
    /// Also write poster.jpg: the frame with the highest scene score that is not near-black,
    /// near-white or flat.
    #[arg(long)]
    pub poster: bool,
}

impl PackageArgs {
    fn options(&self) -> Result<media::PackageOptions, MediaError> {
        let (hls, dash) = match (self.hls, self.dash) {
            (false, false) => (None, None),
            (h, d) => (Some(h), Some(d)),
        };
        Ok(media::PackageOptions {
            ladder: self
                .ladder
                .as_deref()
                .map(media::Rung::parse_list)
                .transpose()?,
            segment: Some(media::parse_time("--segment", &self.segment)?),
            hls,
            dash,
            video_codec: self.video_codec.clone(),
            speed: self.speed.clone(),
            audio_bitrate: self
                .audio_bitrate
                .as_deref()
                .map(|b| media::parse_bitrate("--audio-bitrate", b))
                .transpose()?,
            normalize: self.normalize,
            target: self.target,
            no_audio: self.no_audio,
            storyboard: self.storyboard,
            storyboard_every: self
                .storyboard_every
                .as_deref()
                .map(|t| media::parse_time("--storyboard-every", t))
                .transpose()?,
            storyboard_columns: self.storyboard_columns,
            storyboard_width: self.storyboard_width,
            waveform: self.waveform,
            samples_per_pixel: self.samples_per_pixel,
            poster: self.poster,
        })
    }
}

#[derive(Debug, Args)]
pub struct NormalizeArgs {
    pub input: PathBuf,
    pub output: PathBuf,
    #[arg(long, value_enum, default_value = "ebu")]
    pub mode: media::NormalizeMode,
    /// LUFS for ebu (default -23), dBFS for peak (-1) and rms (-20).
    #[arg(long, allow_hyphen_values = true)]
    pub target: Option<f64>,
    /// True-peak ceiling in dBTP (default -2).
    #[arg(long, allow_hyphen_values = true)]
    pub true_peak: Option<f64>,
    /// Loudness range target in LU for the dynamic fallback (default 7).
    #[arg(long)]
    pub lra: Option<f64>,
    #[arg(long)]
    pub dual_mono: bool,
    #[arg(long, value_enum)]
    pub preset: Option<Preset>,
    #[arg(long)]
    pub audio_codec: Option<String>,
    #[arg(long)]
    pub audio_bitrate: Option<String>,
}

impl NormalizeArgs {
    fn options(&self) -> Result<media::NormalizeOptions, MediaError> {
        Ok(media::NormalizeOptions {
            mode: self.mode,
            target: self.target,
            true_peak: self.true_peak,
            lra: self.lra,
            dual_mono: self.dual_mono,
            preset: self.preset,
            audio_codec: self.audio_codec.clone(),
            audio_bitrate: self
                .audio_bitrate
                .as_deref()
                .map(|b| media::parse_bitrate("--audio-bitrate", b))
                .transpose()?,
        })
    }
}

#[derive(Debug, Args)]
pub struct ResizeArgs {
    pub input: PathBuf,
    pub output: PathBuf,
    #[arg(long)]
    pub width: Option<u32>,
    #[arg(long)]
    pub height: Option<u32>,
    #[arg(long, value_enum, default_value = "contain")]
    pub fit: media::Fit,
    /// Crop WxH+X+Y in upright pixels, before scaling.
    #[arg(long)]
    pub crop: Option<String>,
    /// Center-crop to a display aspect ratio such as 16:9.
    #[arg(long)]
    pub aspect: Option<String>,
    #[arg(long, value_enum)]
    pub preset: Option<Preset>,
    #[arg(long)]
    pub video_codec: Option<String>,
    #[arg(long)]
    pub crf: Option<u32>,
}

impl ResizeArgs {
    fn options(&self) -> Result<media::ResizeOptions, MediaError> {
        Ok(media::ResizeOptions {
            width: self.width,
            height: self.height,
            fit: self.fit,
            crop: self.crop.as_deref().map(str::parse).transpose()?,
            aspect: self.aspect.as_deref().map(str::parse).transpose()?,
            preset: self.preset,
            video_codec: self.video_codec.clone(),
            crf: self.crf,
        })
    }
}

#[derive(Debug, Args)]
pub struct TranscodeArgs {
    pub input: PathBuf,
    pub output: PathBuf,
    #[arg(long, value_enum)]
    pub preset: Option<Preset>,
    /// FFmpeg video encoder name, e.g. libx264, libvpx-vp9.
    #[arg(long)]
    pub video_codec: Option<String>,
    /// FFmpeg audio encoder name, e.g. aac, libopus, libmp3lame.
    #[arg(long)]
    pub audio_codec: Option<String>,
    #[arg(long)]
    pub crf: Option<u32>,
    /// Video bit rate such as 2M or 800k.
    #[arg(long)]
    pub bitrate: Option<String>,
    /// Audio bit rate such as 128k.
    #[arg(long)]
    pub audio_bitrate: Option<String>,
    /// Start time: seconds, [HH:]MM:SS[.mmm], or 1500ms.
    #[arg(long)]
    pub start: Option<String>,
    /// Duration to keep, same forms as --start.
    #[arg(long)]
    pub duration: Option<String>,
    #[arg(long)]
    pub no_audio: bool,
    #[arg(long)]
    pub no_video: bool,
}

impl TranscodeArgs {
    fn options(&self) -> Result<media::TranscodeOptions, MediaError> {
        Ok(media::TranscodeOptions {
            preset: self.preset,
            video_codec: self.video_codec.clone(),
            audio_codec: self.audio_codec.clone(),
            crf: self.crf,
            bitrate: self
                .bitrate
                .as_deref()
                .map(|b| media::parse_bitrate("--bitrate", b))
                .transpose()?,
            audio_bitrate: self
                .audio_bitrate
                .as_deref()
                .map(|b| media::parse_bitrate("--audio-bitrate", b))
                .transpose()?,
            start: self
                .start
                .as_deref()
                .map(|t| media::parse_time("--start", t))
                .transpose()?,
            duration: self
                .duration
                .as_deref()
                .map(|t| media::parse_time("--duration", t))
                .transpose()?,
            no_audio: self.no_audio,
            no_video: self.no_video,
        })
    }
}

/// What a finished command prints.
struct Outcome {
    /// Pretty JSON in the documented field order.
    json: String,
    human: String,
}

fn done<T: Serialize>(value: &T, human: String) -> Result<Outcome, MediaError> {
    let json = serde_json::to_string_pretty(value).expect("results serialize");
    Ok(Outcome { json, human })
}

/// Runs the parsed command; returns the process exit code.
pub fn run(cli: Cli) -> i32 {
    let progress_json = matches!(cli.progress, Some(ProgressMode::Json));
    let cancel = media::CancelFlag::new();
    let on_signal = cancel.clone();
    // Best effort: without a handler a signal still stops us, just without cleaning up.
    let _ = ctrlc::set_handler(move || on_signal.cancel());
    let mut monitor = Monitor::new()
        .cancel_with(cancel)
        .with_limits(cli.limits.limits());
    if progress_json {
        monitor = monitor.on_progress(|p: &Progress| {
            let line = serde_json::to_string(p).expect("progress serializes");
            let _ = writeln!(std::io::stderr(), "{line}");
        });
    }
    if let Command::Run { task_file } = &cli.command {
        return run_tasks(task_file, &mut monitor);
    }
    let result = execute(&cli.command, &mut monitor);
    match result {
        Ok(Outcome { json, human }) => {
            out(if cli.json { &json } else { &human });
            0
        }
        Err(err) => {
            if cli.json {
                let body = serde_json::json!({ "error": media::ErrorInfo::from(&err) });
                out(&serde_json::to_string_pretty(&body).expect("json"));
            }
            let code = if err.is_usage() { 2 } else { 1 };
            let _ = writeln!(std::io::stderr(), "{:?}", miette::Report::new(err));
            code
        }
    }
}

/// `run`: always JSON on stdout (an object for one task, an array for a list); exit 1 if any failed.
fn run_tasks(path: &std::path::Path, monitor: &mut Monitor) -> i32 {
    let file = match media::TaskFile::load(path) {
        Ok(f) => f,
        Err(err) => {
            let body = serde_json::json!({ "error": media::ErrorInfo::from(&err) });
            out(&serde_json::to_string_pretty(&body).expect("json"));
            let _ = writeln!(std::io::stderr(), "{:?}", miette::Report::new(err));
            return 2;
        }
    };
    let outcomes = file.run(monitor);
    let failed = outcomes.iter().any(|o| !o.ok);
    let text = match file {
        media::TaskFile::One(_) => serde_json::to_string_pretty(&outcomes[0]),
        media::TaskFile::Many(_) => serde_json::to_string_pretty(&outcomes),
    };
    out(&text.expect("json"));
    i32::from(failed)
}

/// Prints a result line on stdout; a closed stdout (a reader that went away) is not our error,
/// so it is ignored instead of panicking like `println!`. The exit code still tells the outcome.
fn out(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{text}").and_then(|()| stdout.flush());
}

fn execute(command: &Command, monitor: &mut Monitor) -> Result<Outcome, MediaError> {
    match command {
        Command::Run { .. } => unreachable!("handled in run()"),
        Command::Probe { input } => {
            let info = media::probe_with(input, monitor.limits())?;
            let human = describe(&info);
            done(&info, human)
        }
        Command::Transcode(args) => {
            let report = media::transcode(&args.input, &args.output, &args.options()?, monitor)?;
            let human = summary(&report);
            done(&report, human)
        }
        Command::Normalize(args) => {
            let r = media::normalize(&args.input, &args.output, &args.options()?, monitor)?;
            let human = format!(
                "wrote {} ({} {}): {:.1} LUFS / {:.1} dBTP / LRA {:.1} -> {:.1} LUFS / {:.1} dBTP / LRA {:.1}{}",
                r.output.display(),
                serde_json::to_value(r.mode).expect("mode").as_str().unwrap_or(""),
                r.method,
                r.input_loudness.integrated,
                r.input_loudness.true_peak,
                r.input_loudness.lra,
                r.output_loudness.integrated,
                r.output_loudness.true_peak,
                r.output_loudness.lra,
                r.notes.iter().map(|n| format!("\n  note: {n}")).collect::<String>()
            );
            done(&r, human)
        }
        Command::Thumbnail {
            input,
            output,
            at,
            width,
        } => {
            let options = media::ThumbnailOptions {
                at: Some(media::parse_time("--at", at)?),
                width: *width,
            };
            let report = media::thumbnail(input, output, &options, monitor)?;
            let human = stills_summary(&report);
            done(&report, human)
        }
        Command::Thumbnails {
            input,
            dir,
            every,
            scenes,
            width,
            format,
        } => {
            let options = media::ThumbnailsOptions {
                every: every
                    .as_deref()
                    .map(|e| media::parse_time("--every", e))
                    .transpose()?,
                scenes: *scenes,
                width: *width,
                format: Some(format.clone()),
            };
            let report = media::thumbnails(input, dir, &options, monitor)?;
            let human = stills_summary(&report);
            done(&report, human)
        }
        Command::Sprite {
            input,
            output,
            every,
            columns,
            width,
        } => {
            let options = media::SpriteOptions {
                every: Some(media::parse_time("--every", every)?),
                columns: Some(*columns),
                width: Some(*width),
            };
            let r = media::sprite(input, output, &options, monitor)?;
            let human = format!(
                "wrote {} ({} tiles of {}x{} in {}x{})",
                r.output.display(),
                r.tiles,
                r.tile_width,
                r.tile_height,
                r.columns,
                r.rows
            );
            done(&r, human)
        }
        Command::Package(args) => {
            let r = media::package(&args.input, &args.outdir, &args.options()?, monitor)?;
            let human = package_summary(&r);
            done(&r, human)
        }
        Command::Resize(args) => {
            let report = media::resize(&args.input, &args.output, &args.options()?, monitor)?;
            let human = summary(&report);
            done(&report, human)
        }
    }
}

fn package_summary(r: &media::PackageReport) -> String {
    let mut out = format!(
        "wrote {} ({} bytes, {:.2} s, {} segments of {} s){}{}",
        r.output.display(),
        r.size,
        r.duration,
        r.segment_starts.len(),
        r.segment_duration,
        r.hls
            .as_ref()
            .map(|p| format!("\n  hls  {}", p.display()))
            .unwrap_or_default(),
        r.dash
            .as_ref()
            .map(|p| format!("\n  dash {}", p.display()))
            .unwrap_or_default(),
    );
    for rung in &r.rungs {
        out.push_str(&format!(
            "\n  {:>6} {}x{} {} {} kb/s (peak segment {} kb/s, cap {} kb/s)",
            rung.name,
            rung.width,
            rung.height,
            rung.codec,
            rung.bit_rate / 1000,
            rung.peak_segment_bit_rate / 1000,
            rung.maxrate / 1000
        ));
    }
    if let Some(s) = &r.storyboard {
        out.push_str(&format!(
            "\n  storyboard {} ({} tiles of {}x{} in {}x{}, every {} s) + {}",
            s.image.display(),
            s.tiles,
            s.tile_width,
            s.tile_height,
            s.columns,
            s.rows,
            s.interval,
            s.vtt.display()
        ));
    }
    if let Some(p) = &r.poster {
        out.push_str(&format!(
            "\n  poster {} ({}x{}, frame at {:.3} s, scene score {:.3})",
            p.path.display(),
            p.width,
            p.height,
            p.time,
            p.scene_score
        ));
    }
    if let Some(w) = &r.waveform {
        out.push_str(&format!(
            "\n  waveform {} ({} pixels of {} samples)",
            w.path.display(),
            w.length,
            w.samples_per_pixel
        ));
    }
    if let Some(a) = &r.audio {
        out.push_str(&format!(
            "\n  audio {} {} Hz {} ch {} kb/s{}",
            a.codec,
            a.sample_rate,
            a.channels,
            a.bit_rate / 1000,
            a.normalized_to
                .map(|t| format!(", normalized to {t} LUFS"))
                .unwrap_or_default()
        ));
    }
    out
}

fn stills_summary(r: &media::StillsReport) -> String {
    let lines: Vec<String> = r
        .stills
        .iter()
        .map(|s| {
            format!(
                "wrote {} ({}x{}, frame at {:.3} s)",
                s.path.display(),
                s.width,
                s.height,
                s.time
            )
        })
        .collect();
    lines.join("\n")
}

fn summary(r: &media::OutputReport) -> String {
    let streams: Vec<String> = r
        .streams
        .iter()
        .map(|s| format!("{} {} ({})", s.kind, s.codec, s.action))
        .collect();
    format!(
        "wrote {} ({}, {} bytes, {:.2} s): {}",
        r.output.display(),
        r.format,
        r.size,
        r.duration.unwrap_or(0.0),
        streams.join(", ")
    )
}

fn describe(info: &media::MediaInfo) -> String {
    let mut out = format!(
        "{}: {} , {:.3} s, {} bytes, {} b/s",
        info.path.display(),
        info.container,
        info.duration.unwrap_or(0.0),
        info.size,
        info.bit_rate.unwrap_or(0)
    );
    for s in &info.streams {
        let detail = match s.kind.as_str() {
            "video" => format!(
                "{}x{} SAR {} DAR {} {:.3} fps {} rotation {}",
                s.width.unwrap_or(0),
                s.height.unwrap_or(0),
                s.sample_aspect_ratio.as_deref().unwrap_or("?"),
                s.display_aspect_ratio.as_deref().unwrap_or("?"),
                s.frame_rate.unwrap_or(0.0),
                s.pixel_format.as_deref().unwrap_or("?"),
                s.rotation.unwrap_or(0.0)
            ),
            "audio" => format!(
                "{} Hz {} ch {}",
                s.sample_rate.unwrap_or(0),
                s.channels.unwrap_or(0),
                s.channel_layout.as_deref().unwrap_or("")
            ),
            _ => String::new(),
        };
        out.push_str(&format!(
            "\n  #{} {} {}{} {}{}",
            s.index,
            s.kind,
            s.codec,
            s.profile
                .as_deref()
                .map(|p| format!(" ({p})"))
                .unwrap_or_default(),
            detail,
            s.language
                .as_deref()
                .map(|l| format!(" [{l}]"))
                .unwrap_or_default()
        ));
    }
    out
}
