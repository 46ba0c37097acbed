//! `package`: one demux and one decode of the source feed an adaptive ladder of video rungs and
//! one audio rendition, written as CMAF fMP4 segments with an HLS master playlist, media
//! playlists and a DASH MPD over the same segments, into a directory that appears atomically.
//!
//! The decoded video goes through one filter graph (`split` into a `scale` per rung); every
//! encoder gets the same frames and a key frame is forced on the first frame at or past each
//! segment boundary, so segment boundaries are identical across rungs. FFmpeg's own `dash`
//! muxer cuts the segments and writes both manifests (`hls_playlist=1`).
use std::path::{Path, PathBuf};
use std::time::Instant;

use ffmpeg::{codec, encoder, format, frame, media, Dictionary, Packet, Rational, Rescale};
use ffmpeg_next as ffmpeg;
use serde::{Deserialize, Serialize};

use crate::av;
use crate::fan_out::FanOut;
use crate::ladder::{self, PlannedRung, Rung};
use crate::monitor::Monitor;
use crate::package_report::{
    AudioReport, PackageReport, RungReport, StoryboardReport, WaveformReport,
};
use crate::pipeline;
use crate::poster::{self, PosterPicker};
use crate::staged_dir::StagedDir;
use crate::stall_guard::StallGuard;
use crate::storyboard;
use crate::waveform::PeakMeter;
use crate::MediaError;

/// Options for `package`. Every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PackageOptions {
    /// Rungs: heights (`[720, 480]`) or `Rung` objects; default 1080, 720, 480, 360. Rungs
    /// above the source's height are dropped (never upscaled).
    #[serde(deserialize_with = "crate::ladder::deserialize_ladder")]
    pub ladder: Option<Vec<Rung>>,
    /// Segment length in seconds; default 4.
    #[serde(deserialize_with = "crate::serde_units::time")]
    pub segment: Option<f64>,
    /// Write the HLS playlists; default true unless only `dash` is set.
    pub hls: Option<bool>,
    /// Write the DASH MPD; default true unless only `hls` is set.
    pub dash: Option<bool>,
    /// `libx264` (default) or `libvpx-vp9`.
    pub video_codec: Option<String>,
    /// Encoder speed preset for x264 (`ultrafast` ... `veryslow`); default `veryfast`.
    pub speed: Option<String>,
    /// AAC bits per second; default 128k.
    #[serde(deserialize_with = "crate::serde_units::bitrate")]
    pub audio_bitrate: Option<u64>,
    /// Loudness-normalize the audio (EBU R128, one-pass `loudnorm`).
    pub normalize: bool,
    /// Integrated loudness target in LUFS for `normalize`; default -23.
    pub target: Option<f64>,
    /// Leave the audio out.
    pub no_audio: bool,
    /// Write `storyboard.jpg`, `storyboard.vtt` and `storyboard.json`.
    pub storyboard: bool,
    /// Seconds between storyboard tiles; default 2.
    #[serde(deserialize_with = "crate::serde_units::time")]
    pub storyboard_every: Option<f64>,
    /// Tiles per sprite row; default 10.
    pub storyboard_columns: Option<u32>,
    /// Width of one tile; default 160.
    pub storyboard_width: Option<u32>,
    /// Write `waveform.json` (BBC audiowaveform data format, version 2, 16 bits).
    pub waveform: bool,
    /// Audio samples per waveform pixel; default 256.
    pub samples_per_pixel: Option<u32>,
    /// Write `poster.jpg`: the frame with the highest scene score that is not near-black,
    /// near-white or flat, at the top rung's size.
    pub poster: bool,
}

impl PackageOptions {
    /// (hls, dash): both unless exactly one was asked for.
    fn manifests(&self) -> Result<(bool, bool), MediaError> {
        let r = match (self.hls, self.dash) {
            (None, None) => (true, true),
            (Some(h), None) => (h, !h),
            (None, Some(d)) => (!d, d),
            (Some(h), Some(d)) => (h, d),
        };
        if !r.0 && !r.1 {
            return Err(MediaError::option(
                "hls",
                "false",
                "at least one of HLS and DASH must be written",
            ));
        }
        Ok(r)
    }
}

/// Names inside the output directory.
const MPD: &str = "manifest.mpd";
const MASTER: &str = "master.m3u8";
const WAVEFORM: &str = "waveform.json";

/// Packages `input` into the directory `output` (created, or replaced as a whole).
pub fn package(
    input: &Path,
    output: &Path,
    options: &PackageOptions,
    monitor: &mut Monitor,
) -> Result<PackageReport, MediaError> {
    let started = Instant::now();
    let (hls, dash) = options.manifests()?;
    let segment = options.segment.unwrap_or(4.0);
    if !(0.5..=60.0).contains(&segment) {
        return Err(MediaError::option(
            "segment",
            segment,
            "must be between 0.5 and 60 seconds",
        ));
    }
    let codec_name = options.video_codec.as_deref().unwrap_or("libx264");
    let (default_crf, max_crf) = match codec_name {
        "libx264" => (23, 51),
        "libvpx-vp9" => (32, 63),
        other => {
            return Err(MediaError::option(
                "video_codec",
                other,
                "package writes `libx264` or `libvpx-vp9`",
            ))
        }
    };
    let vcodec = encoder::find_by_name(codec_name)
        .ok_or_else(|| pipeline::unsupported(codec_name, media::Type::Video))?;
    let speed = options.speed.clone().unwrap_or_else(|| "veryfast".into());
    if let Some(t) = options.target.filter(|t| !(-70.0..=-5.0).contains(t)) {
        return Err(MediaError::option(
            "target",
            t,
            "must be between -70 and -5 LUFS",
        ));
    }
    let every = options.storyboard_every.unwrap_or(2.0);
    if options.storyboard && !(every > 0.0 && every.is_finite()) {
        return Err(MediaError::option(
            "storyboard_every",
            every,
            "must be greater than zero",
        ));
    }
    let columns = options.storyboard_columns.unwrap_or(10);
    let tile_width = options.storyboard_width.unwrap_or(160);
    if options.storyboard && (columns == 0 || !(16..=1920).contains(&tile_width)) {
        return Err(MediaError::option(
            "storyboard_columns",
            format!("{columns} columns of {tile_width} px"),
            "columns must be at least 1 and the tile width 16 to 1920 pixels",
        ));
    }
    let samples_per_pixel = options.samples_per_pixel.unwrap_or(256);
    if samples_per_pixel == 0 {
        return Err(MediaError::option(
            "samples_per_pixel",
            0,
            "must be greater than zero",
        ));
    }
    let rungs = options
        .ladder
        .clone()
        .unwrap_or_else(|| Rung::DEFAULT_HEIGHTS.map(Rung::new).to_vec());

    let limits = monitor.limits().clone();
    let mut ictx = av::open_input(input, &limits)?;
    let vindex = pipeline::best_stream(&ictx, media::Type::Video).ok_or_else(|| {
        MediaError::MissingStream {
            path: input.to_owned(),
            kind: "video",
        }
    })?;
    let aindex = if options.no_audio {
        None
    } else {
        pipeline::best_stream(&ictx, media::Type::Audio)
    };
    let staged = StagedDir::new(output, input)?;
    let mpd = staged.path().join(MPD);

    // Video: decoder, one graph split into every rung, one encoder per rung.
    let vstream = ictx.stream(vindex).expect("index from the same context");
    let vtb = vstream.time_base();
    let mut vdec = open_decoder(&vstream, input, &limits)?
        .video()
        .map_err(|e| decode_error(input, e))?;
    if vdec.format() == format::Pixel::None || vdec.width() == 0 || vdec.height() == 0 {
        return Err(MediaError::InvalidInput {
            path: input.to_owned(),
            reason: "no video frame could be decoded (picture size or format unknown)".into(),
        });
    }
    let sar = av::stream_sar(&vstream);
    let frame_rate = [vstream.avg_frame_rate(), vstream.rate()]
        .into_iter()
        .find(|r| r.numerator() > 0 && r.denominator() > 0)
        .unwrap_or(Rational(25, 1));
    let display_width = (f64::from(vdec.width()) * f64::from(sar.numerator())
        / f64::from(sar.denominator()))
    .round() as u32;
    // Rotate the pixels the way a player would; the ladder is planned on the upright picture.
    let (rotate, upright_w, upright_h) =
        match av::stream_rotation(&vstream).map(|r| r.round() as i64) {
            Some(90) => ("transpose=clock", vdec.height(), display_width),
            Some(270) => ("transpose=cclock", vdec.height(), display_width),
            Some(180) => ("hflip,vflip", display_width, vdec.height()),
            _ => ("", display_width, vdec.height()),
        };
    let planned = ladder::plan(&rungs, upright_w.max(2), upright_h, default_crf, max_crf)?;
    let src_args = format!(
        "video_size={}x{}:pix_fmt={}:time_base={}/{}:pixel_aspect={}/{}:frame_rate={}/{}",
        vdec.width(),
        vdec.height(),
        ffmpeg::ffi::AVPixelFormat::from(vdec.format()) as i32,
        vtb.numerator(),
        vtb.denominator(),
        sar.numerator(),
        sar.denominator(),
        frame_rate.numerator(),
        frame_rate.denominator()
    );
    // Every rung keeps the source's display aspect exactly (DASH requires one aspect ratio per
    // adaptation set): a width rounded to even is made up for by a sample aspect ratio.
    let sars: Vec<Rational> = planned
        .iter()
        .map(|r| {
            Rational::new(
                (u64::from(upright_w.max(2)) * u64::from(r.height)).min(i32::MAX as u64) as i32,
                (u64::from(upright_h.max(2)) * u64::from(r.width)).min(i32::MAX as u64) as i32,
            )
            .reduce()
        })
        .collect();
    let mut branches: Vec<String> = planned
        .iter()
        .zip(&sars)
        .map(|(r, sar)| {
            format!(
                "scale={}:{},setsar={}/{},format=pix_fmts=yuv420p",
                r.width,
                r.height,
                sar.numerator(),
                sar.denominator()
            )
        })
        .collect();
    if options.storyboard {
        let tile_height = ((f64::from(tile_width) * f64::from(upright_h)
            / f64::from(upright_w.max(1)))
        .round() as u32)
            .max(1);
        branches.push(storyboard::branch(every, tile_width, tile_height)?);
    }
    if options.poster {
        let top = &planned[0];
        branches.push(format!(
            "fps={},scale={}:{},setsar=1,format=pix_fmts=yuv420p",
            poster::RATE,
            top.width,
            top.height
        ));
    }
    let mut vgraph = FanOut::new("buffer", &src_args, rotate, &branches, input)?;
    let mut extras = Extras {
        board: options.storyboard.then(|| Board {
            sink: planned.len(),
            tiles: Vec::new(),
            max: limits.max_tiles as usize,
        }),
        poster: options.poster.then(|| {
            (
                planned.len() + usize::from(options.storyboard),
                PosterPicker::new(),
            )
        }),
    };

    let mut octx =
        format::output_as(&mpd, "dash").map_err(|e| MediaError::ffmpeg("create", output, e))?;
    let mut lanes = Vec::new();
    for (i, rung) in planned.iter().enumerate() {
        let sf = vgraph.sink_format(i);
        let lane = VideoLane::new(
            vcodec, rung, &sf, sars[i], frame_rate, segment, &speed, &mut octx, i, output,
        )?;
        lanes.push(lane);
    }

    // Audio: decoder, graph (optional loudnorm) to AAC.
    let mut audio = match aindex {
        Some(index) => {
            let stream = ictx.stream(index).expect("index from the same context");
            Some(AudioLane::new(
                &stream,
                options,
                &mut octx,
                lanes.len(),
                input,
                output,
                &limits,
                options.waveform.then_some(samples_per_pixel),
            )?)
        }
        None => None,
    };

    let mut opts = Dictionary::new();
    opts.set("seg_duration", &segment.to_string());
    opts.set("use_template", "1");
    opts.set("use_timeline", "1");
    opts.set("dash_segment_type", "mp4");
    opts.set("hls_playlist", if hls { "1" } else { "0" });
    opts.set("hls_master_name", MASTER);
    let sets = if audio.is_some() {
        "id=0,streams=v id=1,streams=a"
    } else {
        "id=0,streams=v"
    };
    opts.set("adaptation_sets", sets);
    octx.write_header_with(opts)
        .map_err(|e| MediaError::ffmpeg("write the header of", output, e))?;
    let ost_tbs: Vec<Rational> = octx.streams().map(|s| s.time_base()).collect();

    let mut discard = vec![true; ictx.nb_streams() as usize];
    discard[vindex] = false;
    if let Some(a) = aindex {
        discard[a] = false;
    }
    let total = (ictx.duration() > 0)
        .then(|| ictx.duration() as f64 / f64::from(ffmpeg::ffi::AV_TIME_BASE));
    let mut tracker = monitor.tracker("package", total);
    let mut guard = StallGuard::new();
    let mut decoded_video = 0u64;
    let mut last_time = 0.0;
    let mut mux = Mux {
        octx: &mut octx,
        ost_tbs: &ost_tbs,
        output,
    };
    let mut frame = av::new_frame();

    loop {
        monitor.check()?;
        let mut packet = Packet::empty();
        match packet.read(&mut ictx) {
            Ok(()) => guard.progressed(),
            Err(ffmpeg::Error::Eof) => break,
            Err(ffmpeg::Error::InvalidData) => {
                guard.failed(input, "read")?;
                continue;
            }
            Err(e) => return Err(MediaError::ffmpeg("read", input, e)),
        }
        let index = packet.stream();
        if discard.get(index).copied().unwrap_or(true) {
            continue;
        }
        if index == vindex {
            match vdec.send_packet(&packet) {
                Ok(()) => {}
                Err(ffmpeg::Error::InvalidData) => continue,
                Err(e) => return Err(MediaError::ffmpeg("decode", input, e)),
            }
            while receive(&mut vdec, &mut frame, input, &mut guard)? {
                decoded_video += 1;
                let ts = frame.timestamp();
                frame.set_pts(ts);
                if let Some(t) = ts {
                    last_time = t as f64 * f64::from(vtb);
                    if let Some(p) = tracker.frame(last_time) {
                        monitor.emit(&p);
                    }
                }
                vgraph.push(&frame, input)?;
                drain_video(&mut vgraph, &mut lanes, &mut extras, &mut mux, input)?;
            }
        } else if let Some(a) = audio.as_mut().filter(|_| Some(index) == aindex) {
            a.send(&packet, &mut mux, input)?;
        }
    }

    // Flush: decoders, graphs, encoders.
    let _ = vdec.send_eof();
    while receive(&mut vdec, &mut frame, input, &mut guard)? {
        decoded_video += 1;
        let ts = frame.timestamp();
        frame.set_pts(ts);
        vgraph.push(&frame, input)?;
        drain_video(&mut vgraph, &mut lanes, &mut extras, &mut mux, input)?;
    }
    vgraph.flush(input)?;
    drain_video(&mut vgraph, &mut lanes, &mut extras, &mut mux, input)?;
    for lane in &mut lanes {
        lane.finish(&mut mux)?;
    }
    if let Some(a) = audio.as_mut() {
        a.finish(&mut mux, input)?;
    }
    if decoded_video == 0 || lanes.iter().any(|l| l.frames == 0) {
        return Err(MediaError::InvalidInput {
            path: input.to_owned(),
            reason: "no video frame could be decoded".into(),
        });
    }
    octx.write_trailer()
        .map_err(|e| MediaError::ffmpeg("finish", output, e))?;
    drop(octx);
    monitor.check()?;

    if !dash {
        std::fs::remove_file(&mpd).map_err(|e| MediaError::io(&mpd, e))?;
    }
    // Seconds of video from its first frame (the storyboard branch starts its clock there too).
    let video_duration = lanes.first().map_or(0.0, VideoLane::duration);
    let t0 = lanes
        .first()
        .map_or(0.0, |l| l.first.unwrap_or(0) as f64 * f64::from(l.tb));
    let poster = match extras.poster {
        Some((sink, picker)) => {
            let tb = vgraph.sink_format(sink).time_base;
            Some(picker.write(staged.path(), t0, tb, output, input)?)
        }
        None => None,
    };
    let storyboard = match extras.board {
        Some(b) => {
            let sink = vgraph.sink_format(b.sink);
            let grid = storyboard::write(
                staged.path(),
                b.tiles,
                &sink,
                every,
                columns,
                video_duration,
                input,
                &limits,
            )?;
            let size = std::fs::metadata(staged.path().join(storyboard::IMAGE))
                .map_err(|e| MediaError::io(output.join(storyboard::IMAGE), e))?
                .len();
            Some(StoryboardReport {
                image: output.join(storyboard::IMAGE),
                vtt: output.join(storyboard::VTT),
                json: output.join(storyboard::JSON),
                tiles: grid.tiles.len(),
                columns: grid.columns,
                rows: grid.rows,
                tile_width: grid.tile_width,
                tile_height: grid.tile_height,
                interval: every,
                size,
            })
        }
        None => None,
    };
    let waveform = match audio.as_mut().and_then(|a| a.peaks.take()) {
        Some(meter) => {
            let peaks = meter.finish();
            let path = staged.path().join(WAVEFORM);
            let text = serde_json::to_string(&peaks).expect("waveform serializes");
            std::fs::write(&path, &text).map_err(|e| MediaError::io(output.join(WAVEFORM), e))?;
            Some(WaveformReport {
                path: output.join(WAVEFORM),
                channels: peaks.channels,
                sample_rate: peaks.sample_rate,
                samples_per_pixel: peaks.samples_per_pixel,
                length: peaks.length,
                size: text.len() as u64,
            })
        }
        None if options.waveform => {
            return Err(MediaError::MissingStream {
                path: input.to_owned(),
                kind: "audio",
            })
        }
        None => None,
    };
    let report = measure(
        staged.path(),
        output,
        &planned,
        &lanes,
        audio.as_ref(),
        hls,
        dash,
        segment,
    )?;
    let final_dir = staged.commit()?;
    monitor.emit(&tracker.finish(last_time));
    Ok(PackageReport {
        task: "package".into(),
        input: input.to_owned(),
        output: final_dir,
        storyboard,
        waveform,
        poster,
        elapsed: started.elapsed().as_secs_f64(),
        ..report
    })
}

/// The muxer and what writing a packet needs.
struct Mux<'a> {
    octx: &'a mut format::context::Output,
    ost_tbs: &'a [Rational],
    output: &'a Path,
}

impl Mux<'_> {
    fn write(
        &mut self,
        packet: &mut Packet,
        ost: usize,
        enc_tb: Rational,
    ) -> Result<(), MediaError> {
        packet.set_stream(ost);
        packet.rescale_ts(enc_tb, self.ost_tbs[ost]);
        packet
            .write_interleaved(self.octx)
            .map_err(|e| MediaError::ffmpeg("write", self.output, e))
    }
}

/// One rung's encoder and what it has written.
struct VideoLane {
    encoder: codec::encoder::Encoder,
    codec: String,
    tb: Rational,
    ost: usize,
    segment: f64,
    /// Time of the last forced key frame.
    last_key: Option<f64>,
    /// Times of the forced key frames (segment starts).
    keys: Vec<f64>,
    frames: u64,
    first: Option<i64>,
    end: i64,
}

impl VideoLane {
    #[allow(clippy::too_many_arguments)]
    fn new(
        codec: ffmpeg::Codec,
        rung: &PlannedRung,
        sf: &av::SinkFormat,
        sar: Rational,
        frame_rate: Rational,
        segment: f64,
        speed: &str,
        octx: &mut format::context::Output,
        ost: usize,
        output: &Path,
    ) -> Result<Self, MediaError> {
        let configure = |e| MediaError::ffmpeg("configure", output, e);
        let mut enc = codec::context::Context::new_with_codec(codec)
            .encoder()
            .video()
            .map_err(configure)?;
        enc.set_width(sf.width);
        enc.set_height(sf.height);
        enc.set_format(format::Pixel::YUV420P);
        enc.set_aspect_ratio(sar);
        enc.set_time_base(sf.time_base);
        enc.set_frame_rate(Some(frame_rate));
        // The encoder never places a key frame of its own inside a segment: only forced ones.
        let per_segment = (segment * f64::from(frame_rate)).ceil().max(1.0) as u32;
        enc.set_gop(per_segment.saturating_mul(2).saturating_add(1));
        enc.set_flags(codec::Flags::GLOBAL_HEADER | codec::Flags::CLOSED_GOP);
        let mut d = Dictionary::new();
        d.set("maxrate", &rung.maxrate.to_string());
        d.set("bufsize", &rung.bufsize.to_string());
        d.set("crf", &rung.crf.to_string());
        if codec.name() == "libx264" {
            d.set("preset", speed);
            d.set("forced-idr", "1");
            d.set("x264-params", "scenecut=0:open-gop=0");
        } else {
            // VP9: constrained quality, CRF under a bit-rate cap.
            enc.set_bit_rate(rung.maxrate as usize);
            d.set("deadline", "good");
            d.set("cpu-used", "5");
            d.set("row-mt", "1");
        }
        let opened = enc
            .open_with(d)
            .map_err(|e| MediaError::ffmpeg("open the video encoder for", output, e))?;
        let mut stream = octx
            .add_stream(codec)
            .map_err(|e| MediaError::ffmpeg("add a stream to", output, e))?;
        stream.set_parameters(&opened);
        stream.set_time_base(sf.time_base);
        stream.set_avg_frame_rate(frame_rate);
        av::set_stream_sar(&mut stream, sar);
        // The manifests advertise the rung's cap (the encoder has no target bit rate of its own).
        av::set_stream_bit_rate(&mut stream, rung.maxrate);
        Ok(VideoLane {
            encoder: opened.0 .0,
            codec: codec.name().to_owned(),
            tb: sf.time_base,
            ost,
            segment,
            last_key: None,
            keys: Vec::new(),
            frames: 0,
            first: None,
            end: 0,
        })
    }

    /// Encodes one filtered frame, forcing a key frame on the first frame at least one segment
    /// after the previous one (the rule the `dash` muxer cuts segments by).
    fn encode(&mut self, frame: &mut ffmpeg::Frame, mux: &mut Mux) -> Result<(), MediaError> {
        self.frames += 1;
        let t = frame.pts().map(|p| p as f64 * f64::from(self.tb));
        let key = match (t, self.last_key) {
            (Some(_), None) => true,
            (Some(t), Some(last)) => t - last >= self.segment - 1e-9,
            (None, _) => false,
        };
        if key {
            let t = t.expect("key only with a time");
            self.last_key = Some(t);
            self.keys.push(t);
        }
        av::force_key_picture(frame, key);
        self.encoder
            .send_frame(frame)
            .map_err(|e| MediaError::ffmpeg("encode", mux.output, e))?;
        self.drain(mux)
    }

    fn drain(&mut self, mux: &mut Mux) -> Result<(), MediaError> {
        let mut packet = Packet::empty();
        loop {
            match self.encoder.receive_packet(&mut packet) {
                Ok(()) => {}
                Err(ffmpeg::Error::Eof) => return Ok(()),
                Err(ffmpeg::Error::Other { errno }) if errno == EAGAIN => return Ok(()),
                Err(e) => return Err(MediaError::ffmpeg("encode", mux.output, e)),
            }
            if let Some(pts) = packet.pts() {
                self.first = Some(self.first.map_or(pts, |f| f.min(pts)));
                self.end = self.end.max(pts + packet.duration().max(0));
            }
            mux.write(&mut packet, self.ost, self.tb)?;
        }
    }

    fn finish(&mut self, mux: &mut Mux) -> Result<(), MediaError> {
        self.encoder
            .send_eof()
            .map_err(|e| MediaError::ffmpeg("encode", mux.output, e))?;
        self.drain(mux)
    }

    fn duration(&self) -> f64 {
        (self.end - self.first.unwrap_or(0)) as f64 * f64::from(self.tb)
    }
}

/// The storyboard branch's sink and the tiles taken so far.
struct Board {
    sink: usize,
    tiles: Vec<(f64, frame::Video)>,
    max: usize,
}

/// The branches beside the rungs: storyboard tiles and poster candidates.
struct Extras {
    board: Option<Board>,
    /// The poster branch's sink and the picker.
    poster: Option<(usize, PosterPicker)>,
}

fn drain_video(
    graph: &mut FanOut,
    lanes: &mut [VideoLane],
    extras: &mut Extras,
    mux: &mut Mux,
    input: &Path,
) -> Result<(), MediaError> {
    let mut filtered = av::new_frame();
    for (i, lane) in lanes.iter_mut().enumerate() {
        while graph.pull(i, &mut filtered, mux.output)? {
            lane.encode(&mut filtered, mux)?;
        }
    }
    if let Some((sink, picker)) = extras.poster.as_mut() {
        let tb = graph.sink_format(*sink).time_base;
        loop {
            let mut sample = frame::Video::empty();
            if !graph.pull(*sink, &mut sample, mux.output)? {
                break;
            }
            let t = sample.pts().unwrap_or(0) as f64 * f64::from(tb);
            picker.consider(sample, t);
        }
    }
    if let Some(b) = extras.board.as_mut() {
        let tb = graph.sink_format(b.sink).time_base;
        loop {
            let mut tile = frame::Video::empty();
            if !graph.pull(b.sink, &mut tile, mux.output)? {
                break;
            }
            if b.tiles.len() >= b.max {
                return Err(MediaError::LimitExceeded {
                    path: input.to_owned(),
                    what: format!("gives more than {} storyboard tiles", b.max),
                    limit: format!("{} tiles", b.max),
                    option: "max-tiles",
                });
            }
            let t = tile.pts().unwrap_or(0) as f64 * f64::from(tb);
            b.tiles.push((t, tile));
        }
    }
    Ok(())
}

/// The audio decoder, its graph and the AAC encoder.
struct AudioLane {
    decoder: codec::decoder::Audio,
    graph: FanOut,
    encoder: codec::encoder::Encoder,
    sink_tb: Rational,
    tb: Rational,
    ost: usize,
    guard: StallGuard,
    rate: u32,
    channels: u32,
    bit_rate: u64,
    normalized_to: Option<f64>,
    first: Option<i64>,
    end: i64,
    /// Waveform peaks of the source audio (second sink of the graph), when asked for.
    peaks: Option<PeakMeter>,
}

impl AudioLane {
    #[allow(clippy::too_many_arguments)]
    fn new(
        stream: &format::stream::Stream,
        options: &PackageOptions,
        octx: &mut format::context::Output,
        ost: usize,
        input: &Path,
        output: &Path,
        limits: &crate::Limits,
        samples_per_pixel: Option<u32>,
    ) -> Result<Self, MediaError> {
        let tb = stream.time_base();
        let decoder = open_decoder(stream, input, limits)?
            .audio()
            .map_err(|e| decode_error(input, e))?;
        if decoder.format() == format::Sample::None || decoder.rate() == 0 {
            return Err(MediaError::InvalidInput {
                path: input.to_owned(),
                reason: "no audio frame could be decoded (sample format or rate unknown)".into(),
            });
        }
        let (channels, layout) = av::channel_layout(&stream.parameters());
        let channels = channels.max(decoder.channels() as u32).max(1);
        let in_layout = av::layout_for(layout.as_deref(), channels);
        let src_args = format!(
            "time_base={}/{}:sample_rate={}:sample_fmt={}:channel_layout={}",
            tb.numerator(),
            tb.denominator(),
            decoder.rate(),
            decoder.format().name(),
            in_layout
        );
        // Players expect stereo (or mono) AAC at 48 kHz.
        let (out_channels, out_layout) = if channels == 1 {
            (1, "mono")
        } else {
            (2, "stereo")
        };
        let rate = 48_000u32;
        let normalized_to = options.normalize.then(|| options.target.unwrap_or(-23.0));
        let norm = normalized_to
            .map(|t| format!("loudnorm=I={t}:TP=-2:LRA=11,"))
            .unwrap_or_default();
        let branch = format!(
            "{norm}aformat=sample_fmts=fltp:sample_rates={rate}:channel_layouts={out_layout}"
        );
        // The waveform reads the source samples (before loudnorm), as 16-bit interleaved.
        let mut branches = vec![branch];
        if samples_per_pixel.is_some() {
            branches.push("aformat=sample_fmts=s16".into());
        }
        let mut graph = FanOut::new("abuffer", &src_args, "", &branches, input)?;
        let peaks = samples_per_pixel.map(|spp| PeakMeter::new(channels, decoder.rate(), spp));
        let sink_tb = graph.sink_format(0).time_base;
        let codec = encoder::find_by_name("aac")
            .ok_or_else(|| pipeline::unsupported("aac", media::Type::Audio))?;
        let configure = |e| MediaError::ffmpeg("configure", output, e);
        let mut enc = codec::context::Context::new_with_codec(codec)
            .encoder()
            .audio()
            .map_err(configure)?;
        enc.set_rate(rate as i32);
        enc.set_format(format::Sample::F32(format::sample::Type::Planar));
        av::set_encoder_layout(&mut enc, out_layout).map_err(configure)?;
        enc.set_time_base(Rational(1, rate as i32));
        let bit_rate = options.audio_bitrate.unwrap_or(128_000);
        enc.set_bit_rate(bit_rate as usize);
        enc.set_flags(codec::Flags::GLOBAL_HEADER);
        let opened = enc
            .open()
            .map_err(|e| MediaError::ffmpeg("open the audio encoder for", output, e))?;
        if opened.frame_size() > 0 {
            graph.set_frame_size(0, opened.frame_size());
        }
        let mut ost_stream = octx
            .add_stream(codec)
            .map_err(|e| MediaError::ffmpeg("add a stream to", output, e))?;
        ost_stream.set_parameters(&opened);
        ost_stream.set_time_base(Rational(1, rate as i32));
        Ok(AudioLane {
            decoder,
            graph,
            encoder: opened.0 .0,
            sink_tb,
            tb: Rational(1, rate as i32),
            ost,
            guard: StallGuard::new(),
            rate,
            channels: out_channels,
            bit_rate,
            normalized_to,
            first: None,
            end: 0,
            peaks,
        })
    }

    fn send(&mut self, packet: &Packet, mux: &mut Mux, input: &Path) -> Result<(), MediaError> {
        match self.decoder.send_packet(packet) {
            Ok(()) => {}
            Err(ffmpeg::Error::InvalidData) => return Ok(()),
            Err(e) => return Err(MediaError::ffmpeg("decode", input, e)),
        }
        self.pump(mux, input)
    }

    fn pump(&mut self, mux: &mut Mux, input: &Path) -> Result<(), MediaError> {
        let mut frame = av::new_frame();
        while receive(&mut self.decoder, &mut frame, input, &mut self.guard)? {
            let ts = frame.timestamp();
            frame.set_pts(ts);
            self.graph.push(&frame, input)?;
            self.drain_graph(mux)?;
        }
        Ok(())
    }

    fn drain_graph(&mut self, mux: &mut Mux) -> Result<(), MediaError> {
        let mut filtered = av::new_frame();
        while self.graph.pull(0, &mut filtered, mux.output)? {
            if let Some(pts) = filtered.pts() {
                filtered.set_pts(Some(pts.rescale(self.sink_tb, self.tb)));
            }
            self.encoder
                .send_frame(&filtered)
                .map_err(|e| MediaError::ffmpeg("encode", mux.output, e))?;
            self.drain_encoder(mux)?;
        }
        if let Some(peaks) = self.peaks.as_mut() {
            let mut pcm = frame::Audio::empty();
            while self.graph.pull(1, &mut pcm, mux.output)? {
                let n = pcm.samples() * peaks.channels();
                let bytes = pcm.data(0);
                let samples: Vec<i16> = bytes[..(n * 2).min(bytes.len())]
                    .chunks_exact(2)
                    .map(|b| i16::from_ne_bytes([b[0], b[1]]))
                    .collect();
                peaks.push(&samples);
            }
        }
        Ok(())
    }

    fn drain_encoder(&mut self, mux: &mut Mux) -> Result<(), MediaError> {
        let mut packet = Packet::empty();
        loop {
            match self.encoder.receive_packet(&mut packet) {
                Ok(()) => {}
                Err(ffmpeg::Error::Eof) => return Ok(()),
                Err(ffmpeg::Error::Other { errno }) if errno == EAGAIN => return Ok(()),
                Err(e) => return Err(MediaError::ffmpeg("encode", mux.output, e)),
            }
            if let Some(pts) = packet.pts() {
                self.first = Some(self.first.map_or(pts, |f| f.min(pts)));
                self.end = self.end.max(pts + packet.duration().max(0));
            }
            mux.write(&mut packet, self.ost, self.tb)?;
        }
    }

    fn finish(&mut self, mux: &mut Mux, input: &Path) -> Result<(), MediaError> {
        let _ = self.decoder.send_eof();
        self.pump(mux, input)?;
        self.graph.flush(input)?;
        self.drain_graph(mux)?;
        self.encoder
            .send_eof()
            .map_err(|e| MediaError::ffmpeg("encode", mux.output, e))?;
        self.drain_encoder(mux)
    }

    fn duration(&self) -> f64 {
        (self.end - self.first.unwrap_or(0)) as f64 * f64::from(self.tb)
    }
}

const EAGAIN: i32 = 11;

fn open_decoder(
    stream: &format::stream::Stream,
    input: &Path,
    limits: &crate::Limits,
) -> Result<codec::decoder::Decoder, MediaError> {
    let mut ctx = codec::context::Context::from_parameters(stream.parameters())
        .map_err(|e| MediaError::ffmpeg("read the codec parameters of", input, e))?;
    av::set_packet_time_base(&mut ctx, stream.time_base());
    av::set_decoder_max_pixels(&mut ctx, limits);
    ctx.set_threading(codec::threading::Config {
        kind: codec::threading::Type::Frame,
        ..Default::default()
    });
    Ok(ctx.decoder())
}

/// The next decoded frame; false when the decoder wants more input or is drained. Damaged
/// frames are skipped, up to the stall guard's limit.
fn receive<D: std::ops::DerefMut<Target = codec::decoder::Opened>>(
    decoder: &mut D,
    frame: &mut ffmpeg::Frame,
    input: &Path,
    guard: &mut StallGuard,
) -> Result<bool, MediaError> {
    loop {
        match decoder.receive_frame(frame) {
            Ok(()) => {
                guard.progressed();
                return Ok(true);
            }
            Err(ffmpeg::Error::Eof) => return Ok(false),
            Err(ffmpeg::Error::Other { errno }) if errno == EAGAIN => return Ok(false),
            Err(ffmpeg::Error::InvalidData) => guard.failed(input, "decode")?,
            Err(e) => return Err(MediaError::ffmpeg("decode", input, e)),
        }
    }
}

fn decode_error(input: &Path, e: ffmpeg::Error) -> MediaError {
    MediaError::InvalidInput {
        path: input.to_owned(),
        reason: format!("cannot open a decoder: {e}"),
    }
}

/// Reads the written directory back: segment files per representation, sizes and bit rates.
#[allow(clippy::too_many_arguments)]
fn measure(
    dir: &Path,
    output: &Path,
    planned: &[PlannedRung],
    lanes: &[VideoLane],
    audio: Option<&AudioLane>,
    hls: bool,
    dash: bool,
    segment: f64,
) -> Result<PackageReport, MediaError> {
    let files = |id: usize| -> Result<(PathBuf, Vec<PathBuf>, Vec<u64>, u64), MediaError> {
        let init = format!("init-stream{id}.m4s");
        let prefix = format!("chunk-stream{id}-");
        let mut segs: Vec<(String, u64)> = Vec::new();
        let entries = std::fs::read_dir(dir).map_err(|e| MediaError::io(output, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| MediaError::io(output, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(&prefix) {
                let len = entry
                    .metadata()
                    .map_err(|e| MediaError::io(output, e))?
                    .len();
                segs.push((name, len));
            }
        }
        segs.sort();
        let init_size = std::fs::metadata(dir.join(&init))
            .map_err(|e| MediaError::io(output.join(&init), e))?
            .len();
        let sizes: Vec<u64> = segs.iter().map(|(_, s)| *s).collect();
        let total = init_size + sizes.iter().sum::<u64>();
        Ok((
            output.join(init),
            segs.into_iter().map(|(n, _)| output.join(n)).collect(),
            sizes,
            total,
        ))
    };
    let mut rungs = Vec::new();
    let keys = lanes.first().map(|l| l.keys.clone()).unwrap_or_default();
    for (i, (rung, lane)) in planned.iter().zip(lanes).enumerate() {
        let (init, segments, sizes, size) = files(i)?;
        let duration = lane.duration();
        let media_bytes: u64 = sizes.iter().sum();
        let start = lane.first.unwrap_or(0) as f64 * f64::from(lane.tb);
        // Segment j runs from key frame j to key frame j+1 (the last to the end).
        let peak = sizes
            .iter()
            .enumerate()
            .map(|(j, bytes)| {
                let from = keys.get(j).copied().unwrap_or(start + j as f64 * segment);
                let to = keys.get(j + 1).copied().unwrap_or(start + duration);
                let secs = (to - from).max(1e-3);
                (*bytes as f64 * 8.0 / secs).round() as u64
            })
            .max()
            .unwrap_or(0);
        rungs.push(RungReport {
            name: format!("{}p", rung.height),
            width: rung.width,
            height: rung.height,
            codec: lane.codec.clone(),
            crf: rung.crf,
            maxrate: rung.maxrate,
            bufsize: rung.bufsize,
            playlist: hls.then(|| output.join(format!("media_{i}.m3u8"))),
            init,
            segments,
            size,
            duration,
            bit_rate: (media_bytes as f64 * 8.0 / duration.max(1e-3)).round() as u64,
            peak_segment_bit_rate: peak,
        });
    }
    let audio = match audio {
        Some(a) => {
            let (init, segments, _, size) = files(a.ost)?;
            Some(AudioReport {
                codec: "aac".into(),
                sample_rate: a.rate,
                channels: a.channels,
                bit_rate: a.bit_rate,
                normalized_to: a.normalized_to,
                playlist: hls.then(|| output.join(format!("media_{}.m3u8", a.ost))),
                init,
                segments,
                size,
                duration: a.duration(),
            })
        }
        None => None,
    };
    let mut total = 0;
    for entry in std::fs::read_dir(dir).map_err(|e| MediaError::io(output, e))? {
        let entry = entry.map_err(|e| MediaError::io(output, e))?;
        total += entry
            .metadata()
            .map_err(|e| MediaError::io(output, e))?
            .len();
    }
    let first = lanes.first();
    let t0 =
        first.and_then(|l| l.first).unwrap_or(0) as f64 * first.map_or(1.0, |l| f64::from(l.tb));
    Ok(PackageReport {
        task: "package".into(),
        input: PathBuf::new(),
        output: output.to_owned(),
        duration: first.map_or(0.0, VideoLane::duration),
        segment_duration: segment,
        segment_starts: keys
            .iter()
            .map(|k| ((k - t0) * 1e6).round() / 1e6)
            .collect(),
        hls: hls.then(|| output.join(MASTER)),
        dash: dash.then(|| output.join(MPD)),
        rungs,
        audio,
        storyboard: None,
        waveform: None,
        poster: None,
        size: total,
        elapsed: 0.0,
    })
}
