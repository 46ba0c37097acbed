//! Loudness measurement: one fast audio-only pass through FFmpeg's `ebur128` filter (EBU R128).
use std::path::Path;

use ffmpeg_next as ffmpeg;
use ffmpeg::{codec, filter, media, Packet};
use serde::{Deserialize, Serialize};

use crate::av;
use crate::monitor::Monitor;
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

/// Measures the best audio stream of `path`; video and other streams are discarded at the demuxer.
pub(crate) fn measure(path: &Path, dual_mono: bool, with_rms: bool, monitor: &mut Monitor) -> Result<Loudness, MediaError> {
    let mut ictx = av::open_input(path)?;
    let index = crate::pipeline::best_stream(&ictx, media::Type::Audio)
        .ok_or_else(|| MediaError::MissingStream { path: path.to_owned(), kind: "audio" })?;
    av::discard_other_streams(&mut ictx, index);
    let stream = ictx.stream(index).expect("index from the same context");
    let tb = stream.time_base();
    let mut ctx = codec::context::Context::from_parameters(stream.parameters())
        .map_err(|e| MediaError::ffmpeg("read the codec parameters of", path, e))?;
    av::set_packet_time_base(&mut ctx, tb);
    let (channels, layout) = av::channel_layout(&stream.parameters());
    let mut decoder = ctx
        .decoder()
        .audio()
        .map_err(|e| MediaError::InvalidInput { path: path.to_owned(), reason: format!("cannot open a decoder: {e}") })?;
    let channels = channels.max(decoder.channels() as u32).max(1);
    let total = (ictx.duration() > 0).then(|| ictx.duration() as f64 / f64::from(ffmpeg::ffi::AV_TIME_BASE));

    let args = format!(
        "time_base={}/{}:sample_rate={}:sample_fmt={}:channel_layout={}",
        tb.numerator(),
        tb.denominator(),
        decoder.rate(),
        decoder.format().name(),
        av::layout_for(layout.as_deref(), channels)
    );
    let map = |e| MediaError::ffmpeg("build the loudness meter for", path, e);
    let mut graph = filter::Graph::new();
    graph.add(&filter::find("abuffer").ok_or(ffmpeg::Error::FilterNotFound).map_err(map)?, "in", &args).map_err(map)?;
    graph.add(&filter::find("abuffersink").ok_or(ffmpeg::Error::FilterNotFound).map_err(map)?, "out", "").map_err(map)?;
    let mut spec = format!("ebur128=peak=true+sample:metadata=1:dualmono={}", u8::from(dual_mono));
    if with_rms {
        spec.push_str(",astats=metadata=1:reset=0");
    }
    graph.output("in", 0).and_then(|p| p.input("out", 0)).and_then(|p| p.parse(&spec)).map_err(map)?;
    graph.validate().map_err(map)?;

    let mut meter = Meter::default();
    let mut tracker = monitor.tracker("measure", total);
    let mut frame = av::new_frame();
    let mut filtered = av::new_frame();
    let mut eof = false;
    while !eof {
        monitor.check()?;
        let mut packet = Packet::empty();
        match packet.read(&mut ictx) {
            Ok(()) if packet.stream() == index => match decoder.send_packet(&packet) {
                Ok(()) | Err(ffmpeg::Error::InvalidData) => {}
                Err(e) => return Err(MediaError::ffmpeg("decode", path, e)),
            },
            Ok(()) | Err(ffmpeg::Error::InvalidData) => continue,
            Err(ffmpeg::Error::Eof) => {
                let _ = decoder.send_eof();
                eof = true;
            }
            Err(e) => return Err(MediaError::ffmpeg("read", path, e)),
        }
        loop {
            match decoder.receive_frame(&mut frame) {
                Ok(()) => {}
                Err(ffmpeg::Error::InvalidData) => continue,
                Err(_) => break,
            }
            let ts = frame.timestamp();
            frame.set_pts(ts);
            if let Some(p) = ts.and_then(|t| tracker.frame(t as f64 * f64::from(tb))) {
                monitor.emit(&p);
            }
            graph.get("in").expect("source").source().add(&frame).map_err(|e| MediaError::ffmpeg("measure", path, e))?;
            meter.drain(&mut graph, &mut filtered);
        }
    }
    graph.get("in").expect("source").source().flush().map_err(|e| MediaError::ffmpeg("measure", path, e))?;
    meter.drain(&mut graph, &mut filtered);
    if !meter.seen {
        return Err(MediaError::InvalidInput { path: path.to_owned(), reason: "no audio could be decoded".into() });
    }
    Ok(meter.result(with_rms))
}

/// Keeps the latest integrated values and the largest peaks from frame metadata.
#[derive(Default)]
struct Meter {
    seen: bool,
    integrated: f64,
    lra: f64,
    true_peak: f64,
    sample_peak: f64,
    rms: Option<f64>,
}

impl Meter {
    fn drain(&mut self, graph: &mut filter::Graph, filtered: &mut ffmpeg::Frame) {
        while graph.get("out").expect("sink").sink().frame(filtered).is_ok() {
            let md = filtered.metadata();
            let get = |k: &str| md.get(k).and_then(|v| v.trim().parse::<f64>().ok());
            if let Some(i) = get("lavfi.r128.I") {
                self.seen = true;
                self.integrated = i;
            }
            if let Some(l) = get("lavfi.r128.LRA") {
                self.lra = l;
            }
            if let Some(p) = get("lavfi.r128.true_peak") {
                self.true_peak = self.true_peak.max(p);
            }
            if let Some(p) = get("lavfi.r128.sample_peak") {
                self.sample_peak = self.sample_peak.max(p);
            }
            if let Some(r) = get("lavfi.astats.Overall.RMS_level") {
                self.rms = Some(r);
            }
        }
    }

    fn result(&self, with_rms: bool) -> Loudness {
        Loudness {
            integrated: self.integrated,
            true_peak: db(self.true_peak),
            sample_peak: db(self.sample_peak),
            lra: self.lra,
            rms: if with_rms { self.rms } else { None },
        }
    }
}
