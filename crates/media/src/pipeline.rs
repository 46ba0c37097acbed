//! The one demux → decode → filter → encode → mux loop shared by transcode, resize and normalize.
//!
//! Callers decide per input stream whether to copy it or re-encode it through a filter chain
//! (a `StreamPlan`); this module owns the FFmpeg plumbing, timestamps, progress and cancellation.
use std::path::Path;

use ffmpeg::{codec, encoder, filter, format, media, Dictionary, Packet, Rational};
use ffmpeg_next as ffmpeg;
use serde::Serialize;

use crate::audio_encoder::AudioEncoderSettings;
use crate::av;
use crate::chunked_encoder::{ChunkPlan, ChunkedEncoder};
use crate::container::Container;
use crate::frame_clock::FrameClock;
use crate::limits::Limits;
use crate::loudness::{LiveMeter, Loudness, MeterSettings};
use crate::monitor::{Monitor, Tracker};
use crate::probe::{probe_with, MediaInfo};
use crate::stall_guard::StallGuard;
use crate::MediaError;

/// What to do with one input stream.
#[derive(Debug, Clone)]
pub(crate) enum StreamPlan {
    /// Packets go to the output untouched.
    Copy,
    /// Decode, filter, encode.
    Encode(EncodeSpec),
}

/// How to re-encode one stream.
#[derive(Debug, Clone, Default)]
pub(crate) struct EncodeSpec {
    /// FFmpeg encoder name (`libx264`, `aac`).
    pub encoder: String,
    /// Filter chain applied before the encoder; empty for none.
    pub filter: String,
    pub bit_rate: Option<u64>,
    /// Encoder private options (`crf`, `preset`, ...).
    pub options: Vec<(String, String)>,
    /// Audio: largest channel count the output may have (MP3 is stereo at most).
    pub max_channels: Option<u32>,
}

/// One stream of the output, as reported to the caller.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct StreamOutcome {
    /// Index of the stream in the input.
    pub input_index: usize,
    /// Index of the stream in the output.
    pub output_index: usize,
    /// `video` or `audio`.
    pub kind: String,
    /// `copy` or `encode`.
    pub action: String,
    /// Codec of the output stream.
    pub codec: String,
    /// An AAC stream encoded in chunks on every core (see `chunked_encoder.rs`): how many.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunks: Option<usize>,
}

/// Everything the loop needs.
pub(crate) struct Job<'a> {
    pub task: &'static str,
    pub input_path: &'a Path,
    pub container: &'a Container,
    pub streams: Vec<(usize, StreamPlan)>,
    pub start: Option<f64>,
    pub duration: Option<f64>,
    /// Copy rotation side data to the output (false when the filter already rotated the pixels).
    pub keep_rotation: bool,
    /// Meter the loudness of the encoded audio stream as it is written.
    pub meter: Option<MeterSettings>,
    /// Bounds on the decoded pictures.
    pub limits: &'a Limits,
}

/// What a finished job reports.
pub(crate) struct JobResult {
    pub streams: Vec<StreamOutcome>,
    /// Loudness of the written audio, when `Job::meter` asked for it.
    pub loudness: Option<Loudness>,
}

enum Lane {
    Copy { ist_tb: Rational, ost: usize },
    Encode(Box<Transcoder>),
}

/// The encoder of a lane: FFmpeg's own, or an AAC stream spread over the cores.
enum Encoding {
    Direct(codec::encoder::Encoder),
    Chunked(Box<ChunkedEncoder>),
}

struct Transcoder {
    video: bool,
    decoder: codec::decoder::Opened,
    graph: filter::Graph,
    encoder: Encoding,
    /// Moves the filtered frames onto the encoder's time base.
    clock: FrameClock,
    ost: usize,
    codec_name: String,
    /// Frames that came out of the decoder; none at the end means the stream is undecodable.
    decoded: u64,
}

/// Runs the job over an opened input; returns what happened to each stream.
pub(crate) fn run(
    job: &Job,
    output: &Path,
    ictx: &mut format::context::Input,
    monitor: &mut Monitor,
) -> Result<JobResult, MediaError> {
    let input = job.input_path;
    let mut octx = format::output_as(&output, job.container.muxer)
        .map_err(|e| MediaError::ffmpeg("create", output, e))?;
    let global_header = octx.format().flags().contains(format::Flags::GLOBAL_HEADER);

    let start = job.start.filter(|s| *s > 0.0);
    if let Some(s) = start {
        let ts = (s * f64::from(ffmpeg::ffi::AV_TIME_BASE)) as i64;
        ictx.seek(ts, ..ts)
            .map_err(|e| MediaError::ffmpeg("seek in", input, e))?;
    }

    let mut lanes: Vec<Option<Lane>> = (0..ictx.nb_streams()).map(|_| None).collect();
    let mut outcomes = Vec::new();
    for (ost_index, (ist_index, plan)) in job.streams.iter().enumerate() {
        let ist = ictx
            .stream(*ist_index)
            .ok_or_else(|| MediaError::InvalidInput {
                path: input.to_owned(),
                reason: format!("stream {ist_index} vanished"),
            })?;
        let kind = match ist.parameters().medium() {
            media::Type::Video => "video",
            media::Type::Audio => "audio",
            _ => "data",
        };
        let (lane, codec_name, action) = match plan {
            StreamPlan::Copy => {
                let mut ost = octx
                    .add_stream(encoder::find(codec::Id::None))
                    .map_err(|e| MediaError::ffmpeg("add a stream to", output, e))?;
                ost.set_parameters(ist.parameters());
                av::clear_codec_tag(&mut ost);
                ost.set_metadata(ist.metadata().to_owned());
                if job.keep_rotation {
                    av::copy_display_matrix(&ist, &mut ost);
                }
                let name = ist.parameters().id().name().to_owned();
                (
                    Lane::Copy {
                        ist_tb: ist.time_base(),
                        ost: ost_index,
                    },
                    name,
                    "copy",
                )
            }
            StreamPlan::Encode(spec) => {
                let t =
                    Transcoder::new(job, output, &ist, spec, &mut octx, ost_index, global_header)?;
                let name = t.codec_name.clone();
                (Lane::Encode(Box::new(t)), name, "encode")
            }
        };
        lanes[*ist_index] = Some(lane);
        outcomes.push(StreamOutcome {
            input_index: *ist_index,
            output_index: ost_index,
            kind: kind.to_owned(),
            action: action.to_owned(),
            codec: codec_name,
            chunks: None,
        });
    }

    octx.set_metadata(ictx.metadata().to_owned());
    let mut opts = Dictionary::new();
    if job.container.faststart {
        opts.set("movflags", "+faststart");
    }
    octx.write_header_with(opts)
        .map_err(|e| MediaError::ffmpeg("write the header of", output, e))?;
    let ost_tbs: Vec<Rational> = octx.streams().map(|s| s.time_base()).collect();
    // The live meter decodes the audio packets exactly as they are written.
    let metered = job.meter.and_then(|settings| {
        let ost = outcomes
            .iter()
            .find(|o| o.kind == "audio" && o.action == "encode")?
            .output_index;
        let stream = octx.stream(ost)?;
        Some((
            ost,
            LiveMeter::start(
                stream.parameters().clone(),
                stream.time_base(),
                settings,
                output,
            ),
        ))
    });
    let tap = metered.as_ref().map(|(ost, meter)| (*ost, meter));

    let total = job.duration.or_else(|| {
        let d = ictx.duration();
        (d > 0).then(|| d as f64 / f64::from(ffmpeg::ffi::AV_TIME_BASE) - start.unwrap_or(0.0))
    });
    let mut tracker = monitor.tracker(job.task, total);
    // Progress follows the first encoded stream (video when there is one).
    let progress_lane = job
        .streams
        .iter()
        .find(|(_, p)| matches!(p, StreamPlan::Encode(_)))
        .map(|(i, _)| *i);
    let end = job.duration.map(|d| start.unwrap_or(0.0) + d);
    let mut out_time = 0.0;
    let mut guard = StallGuard::new();

    loop {
        monitor.check()?;
        let mut packet = Packet::empty();
        if !guard.read(ictx, &mut packet, input)? {
            break;
        }
        let index = packet.stream();
        let Some(Some(lane)) = lanes.get_mut(index) else {
            continue;
        };
        match lane {
            Lane::Copy { ist_tb, ost } => {
                if let (Some(end), Some(pts)) = (end, packet.pts()) {
                    if pts as f64 * f64::from(*ist_tb) > end {
                        continue;
                    }
                }
                packet.rescale_ts(*ist_tb, ost_tbs[*ost]);
                packet.set_position(-1);
                packet.set_stream(*ost);
                packet
                    .write_interleaved(&mut octx)
                    .map_err(|e| MediaError::ffmpeg("write", output, e))?;
            }
            Lane::Encode(t) => {
                if let (Some(end), Some(pts), Some(ist)) = (end, packet.pts(), ictx.stream(index)) {
                    // Past the end plus a margin for B-frame reordering: nothing more is needed.
                    if pts as f64 * f64::from(ist.time_base()) > end + 2.0 {
                        continue;
                    }
                }
                match t.decoder.send_packet(&packet) {
                    Ok(()) => {}
                    // A damaged packet: skip it like the ffmpeg CLI does.
                    Err(ffmpeg::Error::InvalidData) => continue,
                    Err(e) => return Err(MediaError::ffmpeg("decode", input, e)),
                }
                let track = progress_lane == Some(index);
                t.pump(&mut octx, &ost_tbs, output, input, tap, |time| {
                    if track {
                        out_time = time;
                        if let Some(p) = tracker.frame(time) {
                            monitor.emit(&p);
                        }
                    }
                })?;
            }
        }
    }

    for (index, lane) in lanes.iter_mut().enumerate() {
        if let Some(Lane::Encode(t)) = lane {
            let track = progress_lane == Some(index);
            t.finish(&mut octx, &ost_tbs, output, input, tap, |time| {
                if track {
                    out_time = time;
                    tracker_frame(&mut tracker, monitor, time);
                }
            })?;
        }
    }
    for lane in lanes.iter().flatten() {
        if let Lane::Encode(t) = lane {
            if let Encoding::Chunked(e) = &t.encoder {
                if let Some(o) = outcomes.iter_mut().find(|o| o.output_index == t.ost) {
                    o.chunks = (!e.cuts.is_empty()).then(|| e.cuts.len() + 1);
                }
            }
        }
    }
    // A stream that decoded to nothing would leave an empty track: the input is the problem.
    for (index, lane) in lanes.iter().enumerate() {
        if let Some(Lane::Encode(t)) = lane {
            if t.decoded == 0 {
                return Err(MediaError::InvalidInput {
                    path: input.to_owned(),
                    reason: format!(
                        "no {} frame of stream {index} could be decoded",
                        if t.video { "video" } else { "audio" }
                    ),
                });
            }
        }
    }
    octx.write_trailer()
        .map_err(|e| MediaError::ffmpeg("finish", output, e))?;
    let done = tracker.finish(out_time);
    monitor.emit(&done);
    let loudness = metered.map(|(_, meter)| meter.finish()).transpose()?;
    Ok(JobResult {
        streams: outcomes,
        loudness,
    })
}

/// The output stream whose packets go to a live meter.
type Tap<'a> = Option<(usize, &'a LiveMeter)>;

fn tracker_frame(tracker: &mut Tracker, monitor: &mut Monitor, time: f64) {
    if let Some(p) = tracker.frame(time) {
        monitor.emit(&p);
    }
}

impl Transcoder {
    #[allow(clippy::too_many_arguments)]
    fn new(
        job: &Job,
        output: &Path,
        ist: &format::stream::Stream,
        spec: &EncodeSpec,
        octx: &mut format::context::Output,
        ost_index: usize,
        global_header: bool,
    ) -> Result<Self, MediaError> {
        let input = job.input_path;
        let codec = encoder::find_by_name(&spec.encoder)
            .ok_or_else(|| unsupported(&spec.encoder, ist.parameters().medium()))?;
        let ist_tb = ist.time_base();
        let mut dctx = codec::context::Context::from_parameters(ist.parameters())
            .map_err(|e| MediaError::ffmpeg("read the codec parameters of", input, e))?;
        av::set_packet_time_base(&mut dctx, ist_tb);
        av::set_decoder_max_pixels(&mut dctx, job.limits);
        dctx.set_threading(codec::threading::Config {
            kind: codec::threading::Type::Frame,
            ..Default::default()
        });
        let video = ist.parameters().medium() == media::Type::Video;
        let trim = trim_filter(video, job.start, job.duration);
        let user = if spec.filter.is_empty() {
            String::new()
        } else {
            format!("{},", spec.filter)
        };

        let mut graph;
        let map_graph = |e| MediaError::ffmpeg("build the filter graph for", input, e);
        let (decoder, encoder, clock);
        if video {
            let dec = dctx.decoder().video().map_err(|e| decode_error(input, e))?;
            if dec.format() == format::Pixel::None || dec.width() == 0 || dec.height() == 0 {
                return Err(MediaError::InvalidInput {
                    path: input.to_owned(),
                    reason: "no video frame could be decoded (picture size or format unknown)"
                        .into(),
                });
            }
            let sar = av::stream_sar(ist);
            let src_args = format!(
                "video_size={}x{}:pix_fmt={}:time_base={}/{}:pixel_aspect={}/{}",
                dec.width(),
                dec.height(),
                ffmpeg::ffi::AVPixelFormat::from(dec.format()) as i32,
                ist_tb.numerator(),
                ist_tb.denominator(),
                sar.numerator(),
                sar.denominator()
            );
            let vcodec = codec
                .video()
                .map_err(|e| MediaError::ffmpeg("configure", output, e))?;
            let pix = choose_pixel(
                dec.format(),
                vcodec.formats().map(|f| f.collect()).unwrap_or_default(),
            );
            let desc = pix.descriptor();
            let pix_name = desc.map(|d| d.name()).unwrap_or("yuv420p");
            // Subsampled chroma (4:2:0, 4:2:2) needs even dimensions; drop the odd last row/column.
            let even = match desc {
                Some(d) if d.log2_chroma_w() > 0 || d.log2_chroma_h() > 0 => {
                    "crop=trunc(iw/2)*2:trunc(ih/2)*2:0:0,"
                }
                _ => "",
            };
            let spec_str = format!("{trim}{user}{even}format=pix_fmts={pix_name}");
            graph = av::chain_graph(false, &src_args, &spec_str).map_err(map_graph)?;
            let sf = av::sink_format(&mut graph.get("out").expect("sink was added"));
            let mut enc = codec::context::Context::new_with_codec(codec)
                .encoder()
                .video()
                .map_err(|e| MediaError::ffmpeg("configure", output, e))?;
            enc.set_width(sf.width);
            enc.set_height(sf.height);
            enc.set_format(pix);
            let out_sar = if sf.sample_aspect_ratio.numerator() > 0 {
                sf.sample_aspect_ratio
            } else {
                Rational(1, 1)
            };
            enc.set_aspect_ratio(out_sar);
            // The graph's rate when a filter set one (`fps`), else the stream's.
            let fr = av::known(sf.frame_rate)
                .or_else(|| av::known(ist.avg_frame_rate()))
                .or_else(|| dec.frame_rate().and_then(av::known));
            // One tick per picture: x264 writes the time base into the stream's timing info.
            let grid = av::known(sf.frame_rate)
                .or_else(|| FrameClock::grid(ist.rate(), ist.avg_frame_rate()))
                .or(fr);
            clock = FrameClock::for_video(sf.time_base, grid);
            let enc_tb = clock.time_base();
            enc.set_time_base(enc_tb);
            enc.set_frame_rate(fr);
            if let Some(b) = spec.bit_rate {
                enc.set_bit_rate(b as usize);
            }
            // Closed GOPs, as the ffmpeg CLI gets from x264: every key frame is a clean seek point.
            let mut flags = codec::Flags::CLOSED_GOP;
            if global_header {
                flags |= codec::Flags::GLOBAL_HEADER;
            }
            enc.set_flags(flags);
            enc.set_threading(codec::threading::Config {
                kind: codec::threading::Type::Frame,
                ..Default::default()
            });
            let opened = enc
                .open_with(options(spec))
                .map_err(|e| MediaError::ffmpeg("open the video encoder for", output, e))?;
            let mut ost = octx
                .add_stream(codec)
                .map_err(|e| MediaError::ffmpeg("add a stream to", output, e))?;
            ost.set_parameters(&opened);
            av::set_stream_sar(&mut ost, out_sar);
            ost.set_time_base(enc_tb);
            if let Some(fr) = fr {
                ost.set_avg_frame_rate(fr);
            }
            ost.set_metadata(ist.metadata().to_owned());
            if job.keep_rotation {
                av::copy_display_matrix(ist, &mut ost);
            }
            decoder = dec.0;
            encoder = Encoding::Direct(opened.0 .0);
        } else {
            let dec = dctx.decoder().audio().map_err(|e| decode_error(input, e))?;
            if dec.format() == format::Sample::None || dec.rate() == 0 {
                return Err(MediaError::InvalidInput {
                    path: input.to_owned(),
                    reason: "no audio frame could be decoded (sample format or rate unknown)"
                        .into(),
                });
            }
            let (channels, layout) = av::channel_layout(&ist.parameters());
            let channels = channels.max(dec.channels() as u32).max(1);
            let in_layout = av::layout_for(layout.as_deref(), channels);
            let src_args = format!(
                "time_base={}/{}:sample_rate={}:sample_fmt={}:channel_layout={}",
                ist_tb.numerator(),
                ist_tb.denominator(),
                dec.rate(),
                dec.format().name(),
                in_layout
            );
            let acodec = codec
                .audio()
                .map_err(|e| MediaError::ffmpeg("configure", output, e))?;
            let sample_fmt = choose_sample_format(
                dec.format(),
                acodec.formats().map(|f| f.collect()).unwrap_or_default(),
            );
            let rate = choose_rate(
                dec.rate(),
                acodec.rates().map(|r| r.collect()).unwrap_or_default(),
            );
            let out_layout = choose_layout(
                &in_layout,
                channels,
                spec.max_channels,
                av::encoder_layouts(&codec),
            );
            let spec_str = format!(
                "{trim}{user}aformat=sample_fmts={}:sample_rates={rate}:channel_layouts={out_layout}",
                sample_fmt.name()
            );
            graph = av::chain_graph(true, &src_args, &spec_str).map_err(map_graph)?;
            let sf = av::sink_format(&mut graph.get("out").expect("sink was added"));
            let mut settings = AudioEncoderSettings {
                codec,
                rate,
                format: sample_fmt,
                channels: 0,
                layout: out_layout.clone(),
                bit_rate: spec.bit_rate,
                global_header,
                options: spec.options.clone(),
            };
            let opened = settings
                .open()
                .map_err(|e| MediaError::ffmpeg("open the audio encoder for", output, e))?;
            settings.channels = AudioEncoderSettings::channels_of(&opened);
            if !codec
                .capabilities()
                .contains(codec::capabilities::Capabilities::VARIABLE_FRAME_SIZE)
                && opened.frame_size() > 0
            {
                graph
                    .get("out")
                    .expect("sink was added")
                    .sink()
                    .set_frame_size(opened.frame_size());
            }
            let enc_tb = Rational(1, rate as i32);
            clock = FrameClock::new(sf.time_base, enc_tb);
            let mut ost = octx
                .add_stream(codec)
                .map_err(|e| MediaError::ffmpeg("add a stream to", output, e))?;
            ost.set_parameters(&opened);
            ost.set_time_base(enc_tb);
            ost.set_metadata(ist.metadata().to_owned());
            decoder = dec.0;
            // An AAC stream that is the job's only work: every core encodes a chunk of it.
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            encoder = if job.streams.len() == 1 && cores > 1 && ChunkedEncoder::suits(&settings) {
                Encoding::Chunked(Box::new(ChunkedEncoder::new(
                    settings,
                    opened.frame_size(),
                    cores,
                    ChunkPlan::DEFAULT,
                    output.to_owned(),
                )))
            } else {
                Encoding::Direct(opened.0 .0)
            };
        }
        Ok(Transcoder {
            video,
            decoder,
            graph,
            encoder,
            clock,
            ost: ost_index,
            codec_name: codec.name().to_owned(),
            decoded: 0,
        })
    }

    /// Drains decoded frames through the filter and encoder; `on_frame` gets each output time.
    fn pump(
        &mut self,
        octx: &mut format::context::Output,
        ost_tbs: &[Rational],
        output: &Path,
        input: &Path,
        tap: Tap,
        mut on_frame: impl FnMut(f64),
    ) -> Result<(), MediaError> {
        let mut frame = av::new_frame();
        let mut guard = StallGuard::new();
        loop {
            match self.decoder.receive_frame(&mut frame) {
                Ok(()) => {
                    guard.progressed();
                    self.decoded += 1;
                }
                Err(ffmpeg::Error::Eof) => return Ok(()),
                Err(ffmpeg::Error::Other { errno }) if errno == EAGAIN => return Ok(()),
                Err(ffmpeg::Error::InvalidData) => {
                    guard.failed(input, "decode")?;
                    continue;
                }
                Err(e) => return Err(MediaError::ffmpeg("decode", input, e)),
            }
            let ts = frame.timestamp();
            frame.set_pts(ts);
            self.graph
                .get("in")
                .expect("source was added")
                .source()
                .add(&frame)
                .map_err(|e| MediaError::ffmpeg("filter", input, e))?;
            self.drain_filter(octx, ost_tbs, output, tap, &mut on_frame)?;
        }
    }

    fn drain_filter(
        &mut self,
        octx: &mut format::context::Output,
        ost_tbs: &[Rational],
        output: &Path,
        tap: Tap,
        on_frame: &mut impl FnMut(f64),
    ) -> Result<(), MediaError> {
        let mut filtered = av::new_frame();
        loop {
            match self
                .graph
                .get("out")
                .expect("sink was added")
                .sink()
                .frame(&mut filtered)
            {
                Ok(()) => {}
                Err(ffmpeg::Error::Eof) => return Ok(()),
                Err(ffmpeg::Error::Other { errno }) if errno == EAGAIN => return Ok(()),
                Err(e) => return Err(MediaError::ffmpeg("filter", output, e)),
            }
            if !self.clock.place(&mut filtered) {
                continue;
            }
            if let Some(pts) = filtered.pts() {
                on_frame(pts as f64 * f64::from(self.clock.time_base()));
            }
            if self.video {
                av::clear_picture_type(&mut filtered);
            }
            match &mut self.encoder {
                Encoding::Direct(e) => e
                    .send_frame(&filtered)
                    .map_err(|e| MediaError::ffmpeg("encode", output, e))?,
                Encoding::Chunked(e) => e.send_frame(&filtered)?,
            }
            self.drain_encoder(octx, ost_tbs, output, tap)?;
        }
    }

    fn drain_encoder(
        &mut self,
        octx: &mut format::context::Output,
        ost_tbs: &[Rational],
        output: &Path,
        tap: Tap,
    ) -> Result<(), MediaError> {
        let mut packet = Packet::empty();
        loop {
            match &mut self.encoder {
                Encoding::Direct(e) => match e.receive_packet(&mut packet) {
                    Ok(()) => {}
                    Err(ffmpeg::Error::Eof) => return Ok(()),
                    Err(ffmpeg::Error::Other { errno }) if errno == EAGAIN => return Ok(()),
                    Err(e) => return Err(MediaError::ffmpeg("encode", output, e)),
                },
                Encoding::Chunked(e) => match e.receive_packet() {
                    Some(p) => packet = p,
                    None => return Ok(()),
                },
            }
            packet.set_stream(self.ost);
            packet.rescale_ts(self.clock.time_base(), ost_tbs[self.ost]);
            if let Some((_, meter)) = tap.filter(|(ost, _)| *ost == self.ost) {
                meter.send(&packet);
            }
            packet
                .write_interleaved(octx)
                .map_err(|e| MediaError::ffmpeg("write", output, e))?;
        }
    }

    /// Flushes decoder, filter and encoder at the end of the input.
    fn finish(
        &mut self,
        octx: &mut format::context::Output,
        ost_tbs: &[Rational],
        output: &Path,
        input: &Path,
        tap: Tap,
        mut on_frame: impl FnMut(f64),
    ) -> Result<(), MediaError> {
        // EOF may already have been signalled; only real failures matter here.
        let _ = self.decoder.send_eof();
        self.pump(octx, ost_tbs, output, input, tap, &mut on_frame)?;
        self.graph
            .get("in")
            .expect("source was added")
            .source()
            .flush()
            .map_err(|e| MediaError::ffmpeg("filter", input, e))?;
        self.drain_filter(octx, ost_tbs, output, tap, &mut on_frame)?;
        match &mut self.encoder {
            Encoding::Direct(e) => e
                .send_eof()
                .map_err(|e| MediaError::ffmpeg("encode", output, e))?,
            Encoding::Chunked(e) => e.send_eof()?,
        }
        self.drain_encoder(octx, ost_tbs, output, tap)
    }
}

const EAGAIN: i32 = 11;

fn decode_error(input: &Path, e: ffmpeg::Error) -> MediaError {
    MediaError::InvalidInput {
        path: input.to_owned(),
        reason: format!("cannot open a decoder: {e}"),
    }
}

pub(crate) fn unsupported(codec: &str, kind: media::Type) -> MediaError {
    let kind_name = if kind == media::Type::Video {
        "video"
    } else {
        "audio"
    };
    MediaError::UnsupportedCodec {
        codec: codec.to_owned(),
        kind: kind_name,
        available: av::encoder_names(kind).join(", "),
    }
}

fn options(spec: &EncodeSpec) -> Dictionary<'static> {
    let mut d = Dictionary::new();
    for (k, v) in &spec.options {
        d.set(k, v);
    }
    d
}

/// `trim`/`atrim` for `--start`/`--duration`; timestamps restart at zero.
fn trim_filter(video: bool, start: Option<f64>, duration: Option<f64>) -> String {
    if start.is_none() && duration.is_none() {
        return String::new();
    }
    let (trim, setpts) = if video {
        ("trim", "setpts")
    } else {
        ("atrim", "asetpts")
    };
    let mut args = Vec::new();
    if let Some(s) = start {
        args.push(format!("start={s}"));
    }
    if let Some(d) = duration {
        args.push(format!("duration={d}"));
    }
    format!("{trim}={},{setpts}=PTS-STARTPTS,", args.join(":"))
}

/// yuv420p whenever the encoder takes it (what players and browsers expect), else the input's
/// format if supported, else the encoder's first.
fn choose_pixel(input: format::Pixel, supported: Vec<format::Pixel>) -> format::Pixel {
    if supported.is_empty() {
        return if input == format::Pixel::None {
            format::Pixel::YUV420P
        } else {
            input
        };
    }
    if supported.contains(&format::Pixel::YUV420P) {
        return format::Pixel::YUV420P;
    }
    if supported.contains(&input) {
        return input;
    }
    supported[0]
}

fn choose_sample_format(input: format::Sample, supported: Vec<format::Sample>) -> format::Sample {
    if supported.is_empty() || supported.contains(&input) {
        return input;
    }
    supported[0]
}

/// The input rate when the encoder takes it, else the smallest supported rate above it, else the largest.
fn choose_rate(input: u32, supported: Vec<i32>) -> u32 {
    if supported.is_empty() || supported.contains(&(input as i32)) {
        return input;
    }
    let mut rates: Vec<u32> = supported
        .into_iter()
        .filter(|r| *r > 0)
        .map(|r| r as u32)
        .collect();
    rates.sort_unstable();
    rates
        .iter()
        .copied()
        .find(|r| *r >= input)
        .or(rates.last().copied())
        .unwrap_or(input)
}

fn choose_layout(
    input: &str,
    channels: u32,
    max: Option<u32>,
    supported: Option<Vec<(u32, String)>>,
) -> String {
    let want = max.map_or(channels, |m| channels.min(m));
    match supported {
        None if want == channels => input.to_owned(),
        None => av::layout_for(None, want),
        Some(list) => {
            if want == channels && list.iter().any(|(_, l)| l == input) {
                return input.to_owned();
            }
            list.iter()
                .find(|(n, _)| *n == want)
                .or_else(|| {
                    list.iter()
                        .filter(|(n, _)| *n <= want)
                        .max_by_key(|(n, _)| *n)
                })
                .or(list.first())
                .map(|(_, l)| l.clone())
                .unwrap_or_else(|| av::layout_for(None, want))
        }
    }
}

/// Runs `job` into a temporary file beside `target`, reads the written file back, and renames
/// it there only when that succeeds: a damaged input can make a file FFmpeg cannot read back,
/// and that must not replace anything.
pub(crate) fn produce(
    job: Job,
    target: &Path,
    ictx: &mut format::context::Input,
    monitor: &mut Monitor,
) -> Result<(std::path::PathBuf, JobResult, MediaInfo), MediaError> {
    let staged = crate::staged_output::StagedOutput::new(target)?;
    let result = run(&job, staged.path(), ictx, monitor)?;
    let written = probe_with(staged.path(), job.limits).map_err(|e| MediaError::InvalidInput {
        path: job.input_path.to_owned(),
        reason: format!(
            "the output written from it is not readable media ({})",
            match e {
                MediaError::InvalidInput { reason, .. } => reason,
                other => other.to_string(),
            }
        ),
    })?;
    let path = staged.commit()?;
    Ok((path, result, written))
}

/// The stream FFmpeg considers best of `kind`, skipping cover art.
/// Opens `input` and finds its best video stream (none is `MissingStream`).
pub(crate) fn open_with_video(
    input: &Path,
    limits: &Limits,
) -> Result<(format::context::Input, usize), MediaError> {
    let ictx = av::open_input(input, limits)?;
    let vindex =
        best_stream(&ictx, media::Type::Video).ok_or_else(|| MediaError::MissingStream {
            path: input.to_owned(),
            kind: "video",
        })?;
    Ok((ictx, vindex))
}

pub(crate) fn best_stream(ictx: &format::context::Input, kind: media::Type) -> Option<usize> {
    let best = ictx.streams().best(kind)?;
    if best
        .disposition()
        .contains(format::stream::Disposition::ATTACHED_PIC)
    {
        return ictx
            .streams()
            .find(|s| {
                s.parameters().medium() == kind
                    && !s
                        .disposition()
                        .contains(format::stream::Disposition::ATTACHED_PIC)
            })
            .map(|s| s.index());
    }
    Some(best.index())
}
