//! `package`: one demux and one decode of the source feed an adaptive ladder of video rungs and
//! one audio rendition, written as CMAF fMP4 segments with an HLS master playlist, media
//! playlists and a DASH MPD over the same segments, into a directory that appears atomically.
//!
//! Each decoded picture is handed (by reference) to every rung's own thread, which scales and
//! encodes it (`rung_worker`), and to one graph for the storyboard and poster; every encoder
//! gets the same frames and a key frame is forced on the first frame at or past each segment
//! boundary, so segment boundaries are identical across rungs. The calling thread writes every
//! packet: FFmpeg's own `dash` muxer cuts the segments and writes both manifests
//! (`hls_playlist=1`).
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver};
use std::time::Instant;

use ffmpeg::{encoder, format, frame, media, Dictionary, Packet, Rational};
use ffmpeg_next as ffmpeg;
use serde::{Deserialize, Serialize};

use crate::audio_lane::AudioLane;
use crate::av;
use crate::decoding::{decode_error, open_decoder, receive};
use crate::fan_out::FanOut;
use crate::frame_clock::FrameClock;
use crate::ladder::{self, PlannedRung, Rung};
use crate::monitor::Monitor;
use crate::mux::Mux;
use crate::package_report::{
    AudioReport, PackageReport, RungReport, StoryboardReport, WaveformReport,
};
use crate::pipeline;
use crate::poster::{self, PosterPicker};
use crate::rung_worker::{Encoded, RungGraph, RungWorker, Tap};
use crate::staged_dir::StagedDir;
use crate::stall_guard::StallGuard;
use crate::storyboard;
use crate::video_lane::VideoLane;
use crate::vod_playlist;
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

/// x264's speed presets, fastest first.
const X264_PRESETS: [&str; 10] = [
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
    "placebo",
];

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
    if codec_name == "libx264" && !X264_PRESETS.contains(&speed.as_str()) {
        return Err(MediaError::option(
            "speed",
            &speed,
            format!("x264 presets are {}", X264_PRESETS.join(", ")),
        ));
    }
    if options.waveform && options.no_audio {
        return Err(MediaError::option(
            "waveform",
            "true",
            "the waveform is drawn from the audio, which `no_audio` leaves out",
        ));
    }
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
    let (mut ictx, vindex) = pipeline::open_with_video(input, &limits)?;
    let aindex = if options.no_audio {
        None
    } else {
        pipeline::best_stream(&ictx, media::Type::Audio)
    };
    if options.waveform && aindex.is_none() {
        return Err(MediaError::MissingStream {
            path: input.to_owned(),
            kind: "audio",
        });
    }
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
        .find_map(av::known)
        .unwrap_or(Rational(25, 1));
    // The encoders count one tick per picture on the rate every picture falls on.
    let grid = FrameClock::grid(vstream.rate(), vstream.avg_frame_rate());
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
    // A damaged or extreme aspect ratio must not ask for pictures over the limits.
    for r in &planned {
        limits.check_picture(input, r.width, r.height)?;
    }
    let src_args = buffer_args(
        &av::SinkFormat {
            width: vdec.width(),
            height: vdec.height(),
            sample_aspect_ratio: sar,
            time_base: vtb,
            frame_rate,
        },
        vdec.format(),
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
    let chains: Vec<String> = planned
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
    // What each rung's chain outputs (the rungs build their own copy on their own threads).
    let direct_formats: Vec<av::SinkFormat> = {
        let mut probe = FanOut::new("buffer", &src_args, rotate, &chains, input)?;
        (0..chains.len()).map(|i| probe.sink_format(i)).collect()
    };
    // A rung scaled from another rung's picture reads that rung's output (already upright).
    let sources = ladder::scale_sources(&planned, upright_h);
    let rung_inputs: Vec<(String, &str)> = sources
        .iter()
        .map(|s| match s {
            None => (src_args.clone(), rotate),
            Some(j) => (buffer_args(&direct_formats[*j], format::Pixel::YUV420P), ""),
        })
        .collect();
    let mut rung_formats = Vec::with_capacity(chains.len());
    for (i, (args, common)) in rung_inputs.iter().enumerate() {
        rung_formats.push(match sources[i] {
            None => direct_formats[i],
            Some(_) => FanOut::new("buffer", args, common, &chains[i..=i], input)?.sink_format(0),
        });
    }
    // The storyboard and the poster are taken on this thread, from one graph.
    let mut branches = Vec::new();
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
    let mut vgraph = if branches.is_empty() {
        None
    } else {
        Some(FanOut::new("buffer", &src_args, rotate, &branches, input)?)
    };
    let mut extras = Extras {
        board: options.storyboard.then(|| Board {
            sink: 0,
            tiles: Vec::new(),
            max: limits.max_tiles as usize,
        }),
        poster: options
            .poster
            .then(|| (usize::from(options.storyboard), PosterPicker::new())),
    };

    let mut octx =
        format::output_as(&mpd, "dash").map_err(|e| MediaError::ffmpeg("create", output, e))?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = ladder::encoder_threads(&planned, cores);
    let mut lanes = Vec::new();
    for (i, rung) in planned.iter().enumerate() {
        let lane = VideoLane::new(
            vcodec,
            rung,
            &rung_formats[i],
            sars[i],
            frame_rate,
            grid,
            segment,
            &speed,
            threads[i],
            &mut octx,
            i,
            output,
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
    let (packets_tx, packets) = mpsc::channel();
    // The rungs scaled from another rung start first: their inputs go to that rung's thread.
    let mut slots: Vec<Option<RungWorker>> = (0..lanes.len()).map(|_| None).collect();
    let mut taps: Vec<Vec<Tap>> = (0..lanes.len()).map(|_| Vec::new()).collect();
    let mut lanes: Vec<Option<VideoLane>> = lanes.into_iter().map(Some).collect();
    let tapped = (0..lanes.len()).filter(|&i| sources[i].is_some());
    let fed_here = (0..lanes.len()).filter(|&i| sources[i].is_none());
    for i in tapped.chain(fed_here) {
        let (args, common) = &rung_inputs[i];
        let graph = RungGraph {
            source: args.clone(),
            common: (*common).to_owned(),
            chain: chains[i].clone(),
            input: input.to_owned(),
            output: output.to_owned(),
        };
        let lane = lanes[i].take().expect("each rung starts once");
        let mut worker = RungWorker::spawn(
            lane,
            graph,
            packets_tx.clone(),
            std::mem::take(&mut taps[i]),
        );
        if let Some(j) = sources[i] {
            taps[j].push(worker.tap());
        }
        slots[i] = Some(worker);
    }
    drop(packets_tx);
    let mut workers: Vec<RungWorker> = slots.into_iter().flatten().collect();
    let mut frame = av::new_frame();

    loop {
        monitor.check()?;
        let mut packet = Packet::empty();
        if !guard.read(&mut ictx, &mut packet, input)? {
            break;
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
                feed_video(&frame, &mut workers, vgraph.as_mut(), &mut extras, input)?;
            }
        } else if let Some(a) = audio.as_mut().filter(|_| Some(index) == aindex) {
            a.send(&packet, &mut mux, input)?;
        }
        write_encoded(&packets, &mut mux)?;
    }

    // Flush: decoders, graphs, encoders.
    let _ = vdec.send_eof();
    while receive(&mut vdec, &mut frame, input, &mut guard)? {
        decoded_video += 1;
        let ts = frame.timestamp();
        frame.set_pts(ts);
        feed_video(&frame, &mut workers, vgraph.as_mut(), &mut extras, input)?;
        write_encoded(&packets, &mut mux)?;
    }
    if let Some(g) = vgraph.as_mut() {
        g.flush(input)?;
        drain_extras(g, &mut extras, input)?;
    }
    if let Some(a) = audio.as_mut() {
        a.finish(&mut mux, input)?;
    }
    // Every rung flushes at once; their packets are written as they come, until the last
    // rung's thread has ended.
    for w in workers.iter_mut().filter(|w| w.fed_here()) {
        w.end();
    }
    for e in packets.iter() {
        let mut packet = e.packet;
        mux.write(&mut packet, e.ost, e.tb)?;
    }
    let lanes = RungWorker::finish_all(workers)?;
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
    if hls {
        vod_playlist::finish(staged.path(), MASTER, f64::from(frame_rate))?;
    }
    // Seconds of video from its first frame (the storyboard branch starts its clock there too).
    let video_duration = lanes.first().map_or(0.0, VideoLane::duration);
    let t0 = lanes.first().map_or(0.0, |l| l.span.start(l.tb));
    let poster = match extras.poster {
        Some((sink, picker)) => {
            let graph = vgraph.as_mut().expect("the poster has a branch");
            let tb = graph.sink_format(sink).time_base;
            Some(picker.write(staged.path(), t0, tb, output, input)?)
        }
        None => None,
    };
    let storyboard = match extras.board {
        Some(b) => {
            let graph = vgraph.as_mut().expect("the storyboard has a branch");
            let sink = graph.sink_format(b.sink);
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

/// Hands a decoded picture to every rung's thread, then to the storyboard/poster graph.
fn feed_video(
    frame: &ffmpeg::Frame,
    workers: &mut [RungWorker],
    graph: Option<&mut FanOut>,
    extras: &mut Extras,
    input: &Path,
) -> Result<(), MediaError> {
    for i in 0..workers.len() {
        if workers[i].fed_here() {
            if let Err(e) = workers[i].send(frame, input) {
                return Err(RungWorker::failure(workers, e));
            }
        }
    }
    if let Some(g) = graph {
        g.push(frame, input)?;
        drain_extras(g, extras, input)?;
    }
    Ok(())
}

/// `buffer` source arguments for pictures of `f`'s size, aspect and timing in `pixel` (the
/// decoded source's, or a rung's output for the rungs scaled from it).
fn buffer_args(f: &av::SinkFormat, pixel: format::Pixel) -> String {
    format!(
        "video_size={}x{}:pix_fmt={}:time_base={}/{}:pixel_aspect={}/{}:frame_rate={}/{}",
        f.width,
        f.height,
        ffmpeg::ffi::AVPixelFormat::from(pixel) as i32,
        f.time_base.numerator(),
        f.time_base.denominator(),
        f.sample_aspect_ratio.numerator(),
        f.sample_aspect_ratio.denominator(),
        f.frame_rate.numerator(),
        f.frame_rate.denominator()
    )
}

/// Writes the packets the rungs' threads have encoded so far.
fn write_encoded(packets: &Receiver<Encoded>, mux: &mut Mux) -> Result<(), MediaError> {
    while let Ok(e) = packets.try_recv() {
        let mut packet = e.packet;
        mux.write(&mut packet, e.ost, e.tb)?;
    }
    Ok(())
}

/// Takes what the storyboard and poster branches have ready.
fn drain_extras(graph: &mut FanOut, extras: &mut Extras, input: &Path) -> Result<(), MediaError> {
    if let Some((sink, picker)) = extras.poster.as_mut() {
        let tb = graph.sink_format(*sink).time_base;
        loop {
            let mut sample = frame::Video::empty();
            if !graph.pull(*sink, &mut sample, input)? {
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
            if !graph.pull(b.sink, &mut tile, input)? {
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
        let start = lane.span.start(lane.tb);
        // Segment j runs from key frame j to key frame j+1 (the last to the end).
        let segment_bit_rates: Vec<u64> = sizes
            .iter()
            .enumerate()
            .map(|(j, bytes)| {
                let from = keys.get(j).copied().unwrap_or(start + j as f64 * segment);
                let to = keys.get(j + 1).copied().unwrap_or(start + duration);
                let secs = (to - from).max(1e-3);
                (*bytes as f64 * 8.0 / secs).round() as u64
            })
            .collect();
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
            peak_segment_bit_rate: segment_bit_rates.iter().copied().max().unwrap_or(0),
            segment_bit_rates,
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
    let t0 = first.map_or(0.0, |l| l.span.start(l.tb));
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
