//! `normalize`: measure loudness in one audio-only pass, then apply a linear gain (or, when that
//! would break the true-peak limit, FFmpeg's dynamic `loudnorm`), copying the video untouched.
//!
//! The written audio is measured too (its packets are decoded again on a second thread as they
//! are written); when lossy encoding pushed a peak over its limit, or the dynamic path missed
//! the target, the gain is corrected and the file rewritten.
use std::path::{Path, PathBuf};
use std::time::Instant;

use ffmpeg::{encoder, media};
use ffmpeg_next as ffmpeg;
use serde::{Deserialize, Serialize};

use crate::av;
use crate::loudness::{measure, Loudness, MeterSettings};
use crate::monitor::Monitor;
use crate::pipeline::{self, EncodeSpec, Job, StreamOutcome, StreamPlan};
use crate::preset::{self, Preset};
use crate::staged_output::ensure_not_input;
use crate::transcode::audio_spec;
use crate::MediaError;

/// What "normalized" means.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum NormalizeMode {
    /// EBU R128 integrated loudness (LUFS), true peak limited.
    #[default]
    Ebu,
    /// Sample peak (dBFS): the loudest sample lands at the target.
    Peak,
    /// RMS level (dBFS), gain limited so the true peak stays under the limit.
    Rms,
}

/// Options for `normalize`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NormalizeOptions {
    pub mode: NormalizeMode,
    /// LUFS for `ebu` (default -23), dBFS for `peak` (default -1) and `rms` (default -20).
    pub target: Option<f64>,
    /// True-peak ceiling in dBTP for `ebu` and `rms` (default -2).
    pub true_peak: Option<f64>,
    /// Loudness range target in LU for the dynamic fallback (default 7).
    pub lra: Option<f64>,
    /// Treat mono as dual mono (two speakers), as EBU R128 suggests for mono programmes.
    pub dual_mono: bool,
    pub preset: Option<Preset>,
    /// Audio encoder; default: the input's codec when the output container takes it.
    pub audio_codec: Option<String>,
    #[serde(deserialize_with = "crate::serde_units::bitrate")]
    pub audio_bitrate: Option<u64>,
}

/// The result of `normalize`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NormalizeReport {
    pub task: String,
    pub input: PathBuf,
    pub output: PathBuf,
    pub mode: NormalizeMode,
    /// `linear` (one gain for the whole file) or `dynamic` (loudnorm, when linear would clip).
    pub method: String,
    /// Gain applied in dB (linear method).
    pub gain_db: Option<f64>,
    pub target: f64,
    pub true_peak_limit: f64,
    pub lra_target: f64,
    /// Measured on the input.
    pub input_loudness: Loudness,
    /// Measured on the written output: the encoded audio packets, decoded again as they are
    /// written (on a second thread, so it costs no extra pass over the file).
    pub output_loudness: Loudness,
    /// How many times the output was written (more than 1 when a peak had to be corrected).
    pub passes: u32,
    /// Notes such as "rms gain limited by true peak".
    pub notes: Vec<String>,
    pub streams: Vec<StreamOutcome>,
    pub elapsed: f64,
}

/// How loud a file must at least be to have a meaningful loudness (the R128 absolute gate).
const SILENCE_LUFS: f64 = -69.0;
/// Head-room kept below a peak limit when predicting the peak after a lossy encoder.
const SAFETY_DB: f64 = 0.3;
/// Passes (encode + measure) before giving up on a correction; most files need one.
const MAX_PASSES: u32 = 5;
/// How close to the EBU target the output must measure to need no correction pass (LU).
const LOUDNESS_TOLERANCE: f64 = 0.3;

/// Normalizes the audio of `input` into `output`, copying the video.
pub fn normalize(
    input: &Path,
    output: &Path,
    options: &NormalizeOptions,
    monitor: &mut Monitor,
) -> Result<NormalizeReport, MediaError> {
    let started = Instant::now();
    let container = preset::resolve(output, options.preset)?;
    ensure_not_input(input, output)?;
    let (target, tp_limit, lra) = targets(options)?;
    let limits = monitor.limits().clone();
    let mut ictx = av::open_input(input, &limits)?;
    let aindex = pipeline::best_stream(&ictx, media::Type::Audio).ok_or_else(|| {
        MediaError::MissingStream {
            path: input.to_owned(),
            kind: "audio",
        }
    })?;

    let settings = MeterSettings {
        dual_mono: options.dual_mono,
        with_rms: options.mode == NormalizeMode::Rms,
    };
    let measured = measure(input, settings, monitor)?;
    if measured.integrated <= SILENCE_LUFS || !measured.sample_peak.is_finite() {
        return Err(MediaError::Silent {
            path: input.to_owned(),
        });
    }

    let mut notes = Vec::new();
    let lossless = options
        .audio_codec
        .as_deref()
        .or(container.audio)
        .is_some_and(|c| c.starts_with("pcm_") || c == "flac");
    let head = if lossless { 0.0 } else { SAFETY_DB };
    // The first plan: linear gain when it keeps the peaks, else dynamic loudnorm.
    let mut method = match options.mode {
        NormalizeMode::Ebu => {
            let gain = target - measured.integrated;
            if measured.true_peak + gain <= tp_limit - head {
                Method::Linear(gain)
            } else {
                notes.push(format!(
                    "a linear gain of {gain:+.2} dB would put the true peak at {:.2} dBTP, over the {tp_limit} dBTP limit: used dynamic loudnorm",
                    measured.true_peak + gain
                ));
                Method::Dynamic {
                    tp: tp_limit - head,
                    i: target,
                    history: None,
                }
            }
        }
        NormalizeMode::Peak => Method::Linear(target - head - measured.sample_peak),
        NormalizeMode::Rms => {
            let rms = measured.rms.ok_or_else(|| MediaError::Silent {
                path: input.to_owned(),
            })?;
            let mut gain = target - rms;
            if measured.true_peak + gain > tp_limit - head {
                gain = tp_limit - head - measured.true_peak;
                notes.push(format!(
                    "rms gain limited to {gain:+.2} dB by the {tp_limit} dBTP true-peak limit"
                ));
            }
            Method::Linear(gain)
        }
    };

    let (streams_plan, input_rate) = plan_streams(&ictx, aindex, &container, options, input)?;
    let mut passes = 0;
    loop {
        passes += 1;
        monitor.check()?;
        let filter = method.filter(lra, measured, options.dual_mono, input_rate);
        let streams = streams_plan
            .iter()
            .map(|(i, p)| {
                let p = match p {
                    StreamPlan::Encode(spec) if *i == aindex => StreamPlan::Encode(EncodeSpec {
                        filter: filter.clone(),
                        ..spec.clone()
                    }),
                    other => other.clone(),
                };
                (*i, p)
            })
            .collect();
        let job = Job {
            task: "normalize",
            input_path: input,
            container: &container,
            streams,
            start: None,
            duration: None,
            keep_rotation: true,
            meter: Some(settings),
            limits: &limits,
        };
        ictx = av::open_input(input, &limits)?;
        let (path, result, _) = pipeline::produce(job, output, &mut ictx, monitor)?;
        let outcomes = result.streams;
        let out = result
            .loudness
            .ok_or_else(|| MediaError::ffmpeg("measure", &path, ffmpeg::Error::Bug))?;
        // Did the encoder push a peak over its limit, or (EBU) did the level miss the target?
        let (peak, limit) = match options.mode {
            NormalizeMode::Peak => (out.sample_peak, target),
            _ => (out.true_peak, tp_limit),
        };
        let excess = peak - limit;
        let miss = if options.mode == NormalizeMode::Ebu {
            target - out.integrated
        } else {
            0.0
        };
        let good = excess <= 0.0 && miss.abs() <= LOUDNESS_TOLERANCE;
        if good || passes >= MAX_PASSES {
            if excess > 0.0 {
                notes.push(format!(
                    "peak still {excess:.2} dB over the limit after {passes} passes"
                ));
            }
            if miss.abs() > LOUDNESS_TOLERANCE {
                notes.push(format!(
                    "integrated loudness still {miss:+.2} LU from the target after {passes} passes"
                ));
            }
            return Ok(NormalizeReport {
                task: "normalize".into(),
                input: input.to_owned(),
                output: path,
                mode: options.mode,
                method: method.name().into(),
                gain_db: method.gain(),
                target,
                true_peak_limit: tp_limit,
                lra_target: lra,
                input_loudness: measured,
                output_loudness: out,
                passes,
                notes,
                streams: outcomes,
                elapsed: started.elapsed().as_secs_f64(),
            });
        }
        notes.push(format!(
            "pass {passes}: {:.2} LUFS, peak {peak:.2} (limit {limit}) after encoding; correcting",
            out.integrated
        ));
        method = match method {
            Method::Linear(g) => {
                let mut g2 = g + miss;
                if excess > 0.0 {
                    g2 = g2.min(g - excess - 0.1);
                }
                if options.mode == NormalizeMode::Ebu
                    && miss > LOUDNESS_TOLERANCE
                    && out.true_peak + miss > tp_limit
                {
                    // Only a limiter can get louder without clipping.
                    Method::Dynamic {
                        tp: tp_limit - head,
                        i: target,
                        history: None,
                    }
                } else {
                    Method::Linear(g2)
                }
            }
            Method::Dynamic { tp, i, history } => {
                // Secant step on (loudnorm target -> measured output); limiting makes the slope < 1.
                let slope = history
                    .map(|(pi, po): (f64, f64)| (out.integrated - po) / (i - pi))
                    .filter(|s| s.is_finite() && *s > 0.2 && *s < 2.0)
                    .unwrap_or(1.0);
                let next_i = (i + miss / slope).clamp(-70.0, -5.0);
                let next_tp = if excess > 0.0 { tp - excess - 0.1 } else { tp };
                Method::Dynamic {
                    tp: next_tp,
                    i: next_i,
                    history: Some((i, out.integrated)),
                }
            }
        };
    }
}

#[derive(Debug, Clone, Copy)]
enum Method {
    /// Gain in dB.
    Linear(f64),
    /// loudnorm with this true-peak ceiling and integrated target; `history` is the previous
    /// (target, measured output) pair for the secant correction.
    Dynamic {
        tp: f64,
        i: f64,
        history: Option<(f64, f64)>,
    },
}

impl Method {
    fn name(self) -> &'static str {
        match self {
            Method::Linear(_) => "linear",
            Method::Dynamic { .. } => "dynamic",
        }
    }

    fn gain(self) -> Option<f64> {
        match self {
            Method::Linear(g) => Some((g * 100.0).round() / 100.0),
            Method::Dynamic { .. } => None,
        }
    }

    fn filter(self, lra: f64, m: Loudness, dual_mono: bool, rate: u32) -> String {
        match self {
            // Double precision so the gain itself cannot clip before the encoder sees it.
            Method::Linear(g) => format!("volume={g:.4}dB:precision=double"),
            // loudnorm works at 192 kHz; bring it back to the input rate.
            Method::Dynamic { tp, i, .. } => format!(
                "loudnorm=I={i:.2}:TP={tp:.2}:LRA={lra}:measured_I={:.2}:measured_TP={:.2}:measured_LRA={:.2}:linear=false:dual_mono={dual_mono},aresample={rate}",
                m.integrated, m.true_peak, m.lra
            ),
        }
    }
}

fn targets(o: &NormalizeOptions) -> Result<(f64, f64, f64), MediaError> {
    let target = o.target.unwrap_or(match o.mode {
        NormalizeMode::Ebu => -23.0,
        NormalizeMode::Peak => -1.0,
        NormalizeMode::Rms => -20.0,
    });
    let tp = o.true_peak.unwrap_or(-2.0);
    let lra = o.lra.unwrap_or(7.0);
    match o.mode {
        NormalizeMode::Ebu if !(-70.0..=-5.0).contains(&target) => {
            return Err(MediaError::option(
                "target",
                target,
                "EBU targets are between -70 and -5 LUFS",
            ))
        }
        NormalizeMode::Peak | NormalizeMode::Rms if !(-99.0..=0.0).contains(&target) => {
            return Err(MediaError::option(
                "target",
                target,
                "peak and rms targets are between -99 and 0 dBFS",
            ))
        }
        _ => {}
    }
    if !(-9.0..=0.0).contains(&tp) {
        return Err(MediaError::option(
            "true-peak",
            tp,
            "must be between -9 and 0 dBTP",
        ));
    }
    if !(1.0..=50.0).contains(&lra) {
        return Err(MediaError::option(
            "lra",
            lra,
            "must be between 1 and 50 LU",
        ));
    }
    Ok((target, tp, lra))
}

/// Video copied; audio re-encoded with the input's codec when possible.
fn plan_streams(
    ictx: &ffmpeg::format::context::Input,
    aindex: usize,
    container: &crate::container::Container,
    options: &NormalizeOptions,
    input: &Path,
) -> Result<(Vec<(usize, StreamPlan)>, u32), MediaError> {
    let mut plans = Vec::new();
    if container.has_video() {
        if let Some(v) = pipeline::best_stream(ictx, media::Type::Video) {
            let id = ictx.stream(v).expect("same context").parameters().id();
            if !av::muxer_accepts(container.muxer, id) {
                return Err(MediaError::option(
                    "output",
                    input.display(),
                    format!("the {} container cannot hold the {} video untouched; pick another extension", container.muxer, id.name()),
                ));
            }
            plans.push((v, StreamPlan::Copy));
        }
    }
    let astream = ictx.stream(aindex).expect("same context");
    let par = astream.parameters();
    // SAFETY-free read of plain fields through ffmpeg-next's raw pointer.
    let (rate, in_bitrate) = unsafe {
        (
            (*par.as_ptr()).sample_rate.max(0) as u32,
            (*par.as_ptr()).bit_rate,
        )
    };
    // Audio+video containers keep the input's audio codec when they can hold it; audio-only
    // ones (.wav, .mp3, .m4a, .opus) mean their own codec.
    let name = match &options.audio_codec {
        Some(c) => c.clone(),
        None => match encoder::find(par.id()) {
            Some(c)
                if container.has_video()
                    && av::muxer_accepts(container.muxer, par.id())
                    && options.preset.is_none() =>
            {
                c.name().to_owned()
            }
            _ => container.audio.unwrap_or("aac").to_owned(),
        },
    };
    let bitrate = options.audio_bitrate.or((in_bitrate > 0
        && !name.starts_with("pcm_")
        && name != "flac")
        .then(|| (in_bitrate as u64).max(64_000)));
    plans.push((aindex, StreamPlan::Encode(audio_spec(&name, bitrate)?)));
    Ok((plans, rate))
}
