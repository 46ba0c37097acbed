//! Loudness measurement with FFmpeg's `ebur128` filter (EBU R128): a fast audio-only pass over a
//! file, or a live meter on a second thread that decodes the packets an encoder writes.
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread;

use ffmpeg::{codec, filter, media, Packet, Rational};
use ffmpeg_next as ffmpeg;
use serde::{Deserialize, Serialize};

use crate::av;
use crate::monitor::Monitor;
use crate::stall_guard::StallGuard;
use crate::MediaError;

/// EBU R128 / ITU-R BS.1770 measurements of one audio stream.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Loudness {
    /// Integrated loudness, LUFS.
    pub integrated: f64,
    /// Maximum true peak (4× oversampled), dBTP.
    pub true_peak: f64,
    /// Maximum sample peak, dBFS.
    pub sample_peak: f64,
    /// Loudness range, LU.
    pub lra: f64,
    /// RMS level over all channels, dBFS (only measured for `rms` mode, else null).
    pub rms: Option<f64>,
}

fn db(linear: f64) -> f64 {
    if linear > 0.0 {
        20.0 * linear.log10()
    } else {
        f64::NEG_INFINITY
    }
}

/// What to measure besides loudness and peaks.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MeterSettings {
    pub dual_mono: bool,
    pub with_rms: bool,
}

/// A decoder plus an `ebur128` graph; keeps the latest integrated values and the largest peaks.
struct Meter {
    decoder: codec::decoder::Audio,
    graph: filter::Graph,
    with_rms: bool,
    path: PathBuf,
    seen: bool,
    integrated: f64,
    lra: f64,
    true_peak: f64,
    sample_peak: f64,
    rms: Option<f64>,
    frame: ffmpeg::Frame,
    filtered: ffmpeg::Frame,
    /// The peaks, measured on a thread of its own (`ebur128` measures only loudness):
    /// over-sampling to 192 kHz for the true peak is most of the meter's work.
    peaks: Option<PeakWorker>,
}

impl Meter {
    fn new(
        par: codec::Parameters,
        tb: Rational,
        settings: MeterSettings,
        path: &Path,
    ) -> Result<Self, MediaError> {
        let (channels, layout) = av::channel_layout(&par);
        let mut ctx = codec::context::Context::from_parameters(par)
            .map_err(|e| MediaError::ffmpeg("read the codec parameters of", path, e))?;
        av::set_packet_time_base(&mut ctx, tb);
        let decoder = ctx
            .decoder()
            .audio()
            .map_err(|e| MediaError::InvalidInput {
                path: path.to_owned(),
                reason: format!("cannot open a decoder: {e}"),
            })?;
        let channels = channels.max(decoder.channels() as u32).max(1);
        let args = format!(
            "time_base={}/{}:sample_rate={}:sample_fmt={}:channel_layout={}",
            tb.numerator(),
            tb.denominator(),
            decoder.rate(),
            decoder.format().name(),
            av::layout_for(layout.as_deref(), channels)
        );
        let peaks = Some(PeakWorker::start(&args, path)?);
        let mut spec = format!(
            "ebur128=metadata=1:dualmono={}",
            u8::from(settings.dual_mono)
        );
        if settings.with_rms {
            spec.push_str(",astats=metadata=1:reset=0");
        }
        let graph = chain_graph(&args, &spec, path)?;
        Ok(Meter {
            decoder,
            graph,
            with_rms: settings.with_rms,
            path: path.to_owned(),
            seen: false,
            integrated: 0.0,
            lra: 0.0,
            true_peak: 0.0,
            sample_peak: 0.0,
            rms: None,
            frame: av::new_frame(),
            filtered: av::new_frame(),
            peaks,
        })
    }

    /// Decodes one packet (None flushes) and meters what comes out; returns decoded frame times.
    fn feed(
        &mut self,
        packet: Option<&Packet>,
        mut on_time: impl FnMut(i64),
    ) -> Result<(), MediaError> {
        match packet {
            Some(p) => match self.decoder.send_packet(p) {
                Ok(()) | Err(ffmpeg::Error::InvalidData) => {}
                Err(e) => return Err(MediaError::ffmpeg("decode", &self.path, e)),
            },
            None => {
                let _ = self.decoder.send_eof();
            }
        }
        let mut guard = StallGuard::new();
        loop {
            match self.decoder.receive_frame(&mut self.frame) {
                Ok(()) => guard.progressed(),
                Err(ffmpeg::Error::InvalidData) => {
                    guard.failed(&self.path, "decode")?;
                    continue;
                }
                Err(_) => break,
            }
            let ts = self.frame.timestamp();
            self.frame.set_pts(ts);
            if let Some(t) = ts {
                on_time(t);
            }
            if let Some(w) = &self.peaks {
                w.send(&self.frame)?;
            }
            self.graph
                .get("in")
                .expect("source")
                .source()
                .add(&self.frame)
                .map_err(|e| MediaError::ffmpeg("measure", &self.path, e))?;
            self.drain();
        }
        if packet.is_none() {
            self.graph
                .get("in")
                .expect("source")
                .source()
                .flush()
                .map_err(|e| MediaError::ffmpeg("measure", &self.path, e))?;
            self.drain();
        }
        Ok(())
    }

    fn drain(&mut self) {
        while self
            .graph
            .get("out")
            .expect("sink")
            .sink()
            .frame(&mut self.filtered)
            .is_ok()
        {
            let md = self.filtered.metadata();
            let get = |k: &str| md.get(k).and_then(|v| v.trim().parse::<f64>().ok());
            if let Some(i) = get("lavfi.r128.I") {
                self.seen = true;
                self.integrated = i;
            }
            if let Some(l) = get("lavfi.r128.LRA") {
                self.lra = l;
            }
            if let Some(r) = get("lavfi.astats.Overall.RMS_level") {
                self.rms = Some(r);
            }
        }
    }

    fn result(&mut self) -> Result<Loudness, MediaError> {
        if let Some(w) = self.peaks.take() {
            (self.sample_peak, self.true_peak) = w.finish()?;
        }
        if !self.seen {
            return Err(MediaError::InvalidInput {
                path: self.path.clone(),
                reason: "no audio could be decoded".into(),
            });
        }
        Ok(Loudness {
            integrated: self.integrated,
            true_peak: db(self.true_peak),
            sample_peak: db(self.sample_peak),
            lra: self.lra,
            rms: if self.with_rms { self.rms } else { None },
        })
    }
}

/// Measures the best audio stream of `path`; video and other streams are discarded at the demuxer.
pub(crate) fn measure(
    path: &Path,
    settings: MeterSettings,
    monitor: &mut Monitor,
) -> Result<Loudness, MediaError> {
    let mut ictx = av::open_input(path, monitor.limits())?;
    let index = crate::pipeline::best_stream(&ictx, media::Type::Audio).ok_or_else(|| {
        MediaError::MissingStream {
            path: path.to_owned(),
            kind: "audio",
        }
    })?;
    av::discard_other_streams(&mut ictx, index);
    let stream = ictx.stream(index).expect("index from the same context");
    let tb = stream.time_base();
    let mut meter = Meter::new(stream.parameters(), tb, settings, path)?;
    let total = (ictx.duration() > 0)
        .then(|| ictx.duration() as f64 / f64::from(ffmpeg::ffi::AV_TIME_BASE));
    let mut tracker = monitor.tracker("measure", total);
    let mut guard = StallGuard::new();
    loop {
        monitor.check()?;
        let mut packet = Packet::empty();
        if !guard.read(&mut ictx, &mut packet, path)? {
            break;
        }
        if packet.stream() != index {
            continue;
        }
        meter.feed(Some(&packet), |t| {
            if let Some(p) = tracker.frame(t as f64 * f64::from(tb)) {
                monitor.emit(&p);
            }
        })?;
    }
    meter.feed(None, |_| {})?;
    meter.result()
}

/// Meters an encoded stream on its own thread while the pipeline writes it: the packets are
/// exactly those written to the file, decoded again, so this is the output's loudness without a
/// second read of the file.
pub(crate) struct LiveMeter {
    tx: Option<mpsc::SyncSender<Packet>>,
    handle: Option<thread::JoinHandle<Result<Loudness, MediaError>>>,
}

impl LiveMeter {
    pub(crate) fn start(
        par: codec::Parameters,
        tb: Rational,
        settings: MeterSettings,
        path: &Path,
    ) -> Self {
        let (tx, rx) = mpsc::sync_channel::<Packet>(256);
        let path = path.to_owned();
        let handle = thread::spawn(move || {
            let mut meter = Meter::new(par, tb, settings, &path)?;
            for packet in rx {
                meter.feed(Some(&packet), |_| {})?;
            }
            meter.feed(None, |_| {})?;
            meter.result()
        });
        LiveMeter {
            tx: Some(tx),
            handle: Some(handle),
        }
    }

    /// Hands a written packet to the meter (a copy; the original goes to the muxer).
    pub(crate) fn send(&self, packet: &Packet) {
        if let Some(tx) = &self.tx {
            // A meter that failed has dropped its receiver; finish() reports its error.
            let _ = tx.send(packet.clone());
        }
    }

    /// Ends the stream and waits for the measurement.
    pub(crate) fn finish(mut self) -> Result<Loudness, MediaError> {
        drop(self.tx.take());
        let handle = self.handle.take().expect("finish is called once");
        handle.join().unwrap_or_else(|_| {
            Err(MediaError::ffmpeg(
                "measure",
                PathBuf::new(),
                ffmpeg::Error::Bug,
            ))
        })
    }
}

impl Drop for LiveMeter {
    fn drop(&mut self) {
        // On an error path: close the channel and let the thread end on its own.
        drop(self.tx.take());
    }
}

/// Measures the peaks of decoded audio on a thread of its own, as `ebur128` does, but exactly
/// (its metadata rounds them to three decimals of linear amplitude: 0.9 dB at -40 dBFS): the
/// samples as doubles give the sample peak; over-sampled to 192 kHz by FFmpeg's resampler with
/// its defaults (as `ebur128`'s own), the true peak. Like `ebur128`, the resampler is not
/// flushed at the end.
struct PeakWorker {
    tx: Option<mpsc::SyncSender<ffmpeg::Frame>>,
    handle: Option<thread::JoinHandle<Result<(f64, f64), MediaError>>>,
    path: PathBuf,
}

/// A meter's graph: from `abuffer` (`source`) through `chain`.
fn chain_graph(source: &str, chain: &str, path: &Path) -> Result<filter::Graph, MediaError> {
    av::chain_graph(true, source, chain)
        .map_err(|e| MediaError::ffmpeg("build the loudness meter for", path, e))
}

/// The largest magnitude of a packed `dbl` frame.
fn largest(frame: &ffmpeg::frame::Audio) -> f64 {
    let values = frame.samples() * usize::from(frame.channels());
    frame.data(0)[..values * 8]
        .chunks_exact(8)
        .map(|v| f64::from_ne_bytes(v.try_into().expect("8 bytes")).abs())
        .fold(0.0, f64::max)
}

impl PeakWorker {
    /// `source`: the `abuffer` arguments of the decoded audio.
    fn start(source: &str, path: &Path) -> Result<Self, MediaError> {
        let mut doubles = chain_graph(source, "aformat=sample_fmts=dbl", path)?;
        // The converted audio's own `abuffer` arguments: the same but for the sample format.
        let converted: Vec<&str> = source
            .split(':')
            .filter(|p| !p.starts_with("sample_fmt="))
            .chain(["sample_fmt=dbl"])
            .collect();
        let mut oversampled = chain_graph(
            &converted.join(":"),
            "aresample=192000,aformat=sample_fmts=dbl",
            path,
        )?;
        let (tx, rx) = mpsc::sync_channel::<ffmpeg::Frame>(16);
        let owned = path.to_owned();
        let handle = thread::Builder::new()
            .name("peaks".into())
            .spawn(move || {
                let fail = |e| MediaError::ffmpeg("measure", &owned, e);
                let (mut sample, mut truep) = (0.0f64, 0.0f64);
                let mut dbl = ffmpeg::frame::Audio::empty();
                let mut over = ffmpeg::frame::Audio::empty();
                for frame in rx {
                    doubles
                        .get("in")
                        .expect("source")
                        .source()
                        .add(&frame)
                        .map_err(fail)?;
                    while doubles
                        .get("out")
                        .expect("sink")
                        .sink()
                        .frame(&mut dbl)
                        .is_ok()
                    {
                        sample = sample.max(largest(&dbl));
                        oversampled
                            .get("in")
                            .expect("source")
                            .source()
                            .add(&dbl)
                            .map_err(fail)?;
                        while oversampled
                            .get("out")
                            .expect("sink")
                            .sink()
                            .frame(&mut over)
                            .is_ok()
                        {
                            truep = truep.max(largest(&over));
                        }
                    }
                }
                Ok((sample, truep))
            })
            .expect("a thread can be started");
        Ok(PeakWorker {
            tx: Some(tx),
            handle: Some(handle),
            path: path.to_owned(),
        })
    }

    /// Hands a decoded frame over (a new reference, no copy).
    fn send(&self, frame: &ffmpeg::Frame) -> Result<(), MediaError> {
        let shared =
            av::share_frame(frame).map_err(|e| MediaError::ffmpeg("measure", &self.path, e))?;
        if let Some(tx) = &self.tx {
            // A worker that failed has dropped its receiver; finish() reports its error.
            let _ = tx.send(shared);
        }
        Ok(())
    }

    /// The sample peak and the true peak (linear).
    fn finish(mut self) -> Result<(f64, f64), MediaError> {
        drop(self.tx.take());
        let handle = self.handle.take().expect("finish is called once");
        handle
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    }
}

impl Drop for PeakWorker {
    fn drop(&mut self) {
        // On an error path: close the channel; the thread ends with it.
        drop(self.tx.take());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn astats_peak(file: &Path, chain: &str) -> f64 {
        let out = std::process::Command::new("ffmpeg")
            .args(["-nostats", "-i"])
            .arg(file)
            .args([
                "-af",
                &format!("{chain}astats=measure_perchannel=none:measure_overall=Peak_level"),
            ])
            .args(["-f", "null", "-"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stderr);
        text.lines()
            .find_map(|l| l.split("Peak level dB:").nth(1))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no peak level in {text}"))
    }

    /// The peaks are exact: as the ffmpeg CLI's `astats` finds them on the same samples (as
    /// doubles, and over-sampled to 192 kHz as `ebur128` does), where `ebur128`'s own metadata
    /// would have rounded them.
    #[test]
    fn the_peaks_are_exact() {
        crate::av::init();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("overs.mp3");
        // A quiet MP3 (at -40 dBFS metadata's rounding is about 1 dB) whose decoded waveform
        // peaks between samples.
        let status = std::process::Command::new("ffmpeg")
            .args(["-v", "error", "-f", "lavfi", "-i"])
            .arg("anoisesrc=color=pink:amplitude=0.02:duration=6:seed=7,tremolo=f=0.5:d=0.7")
            .args([
                "-ac",
                "2",
                "-ar",
                "44100",
                "-c:a",
                "libmp3lame",
                "-b:a",
                "128k",
            ])
            .arg(&file)
            .status()
            .unwrap();
        assert!(status.success());
        let settings = MeterSettings {
            dual_mono: false,
            with_rms: false,
        };
        let m = measure(&file, settings, &mut Monitor::new()).unwrap();
        let sample = astats_peak(&file, "aformat=sample_fmts=dbl,");
        let truep = astats_peak(
            &file,
            "aformat=sample_fmts=dbl,aresample=192000,aformat=sample_fmts=dbl,",
        );
        assert!((m.sample_peak - sample).abs() < 0.001, "{m:?} vs {sample}");
        assert!((m.true_peak - truep).abs() < 0.001, "{m:?} vs {truep}");
        assert!(m.true_peak > m.sample_peak, "inter-sample peaks: {m:?}");
    }
}
