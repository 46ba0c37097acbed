//! Encodes one AAC stream on every core. FFmpeg's AAC encoder runs on one thread, and for an
//! audio-only job it is nearly all the work; so the stream is cut into chunks, each encoded by
//! an encoder of its own on a worker thread, and the packets are put back together in order.
//!
//! AAC-LC frames share nothing but the MDCT overlap with the frame before: a decoder adds the
//! second half of one frame's window to the first half of the next. So each chunk's encoder also
//! encodes some frames before its chunk (a pre-roll: its psychoacoustic model and rate control
//! are warm at the cut) and the chunk before it some frames after (a post-roll: its look-ahead
//! sees real audio). Both encoders then hold packets for the frames around the cut, and the
//! splice is made after a frame both gave the same window sequence and shape: the next frame of
//! the second encoder follows on from it exactly as it follows its own, so the overlap-add (and
//! its aliasing cancellation) is as it is inside one encoder.
use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use ffmpeg::Packet;
use ffmpeg_next as ffmpeg;

use crate::audio_encoder::AudioEncoderSettings;
use crate::av;
use crate::MediaError;

/// Where the stream is cut, in frames of the encoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ChunkPlan {
    /// Frames in a chunk.
    pub(crate) chunk: i64,
    /// Frames encoded before a chunk, for warm-up (also how far before the nominal cut a splice
    /// may be made, halved).
    pub(crate) pre_roll: i64,
    /// Frames encoded after a chunk, for the look-ahead.
    pub(crate) post_roll: i64,
}

impl ChunkPlan {
    /// 1024 frames (21.8 s at 48 kHz) with 268 extra: 26 % more encoding, spread over the
    /// cores. The pre-roll is long because FFmpeg's encoder adapts slowly: its psychoacoustic
    /// model's perceptual-entropy bounds settle over about 160 frames. On a steady tone a fresh
    /// encoder codes at 28-36 dB SNR where a settled one reaches 58-64 dB at the same bit rate;
    /// with a 64-frame pre-roll the first hundred frames of every chunk still coded at 36-52 dB
    /// (measured; `tests/transcode.rs` checks it).
    pub(crate) const DEFAULT: ChunkPlan = ChunkPlan {
        chunk: 1024,
        pre_roll: 256,
        post_roll: 12,
    };

    /// The splice may be made this many frames before the nominal cut (the encoder after it has
    /// then been warming up for at least `pre_roll - earliest` frames).
    fn earliest(&self) -> i64 {
        self.pre_roll / 2
    }

    /// ... and this many after it: the encoder before it flushes (pads with silence) `post_roll`
    /// frames after its chunk, and its window choice looks one frame ahead.
    fn latest(&self) -> i64 {
        (self.post_roll - 4).max(0)
    }
}

/// One packet of a chunk and the window its first channel element uses.
struct Coded {
    packet: Packet,
    window: Option<(u8, u8)>,
}

/// A chunk's packets by frame number (`pts / frame_size`; -1 is the priming frame).
type Packets = BTreeMap<i64, Coded>;

/// An AAC encoder spread over worker threads (see the module's doc).
pub(crate) struct ChunkedEncoder {
    settings: Arc<AudioEncoderSettings>,
    plan: ChunkPlan,
    frame_size: i64,
    workers: usize,
    output: PathBuf,
    /// Frames from number `first` on, still needed by a chunk not yet started.
    frames: VecDeque<ffmpeg::Frame>,
    first: i64,
    /// Frames received.
    count: i64,
    /// Frames handed to chunks so far (the last chunk started was given frames up to this one).
    handed: i64,
    /// The time of every frame received, in the encoder's time base.
    times: Vec<i64>,
    next_chunk: i64,
    running: VecDeque<JoinHandle<Result<Packets, ffmpeg::Error>>>,
    /// The packets of the last chunk put together, from its cut on.
    held: Option<Packets>,
    ready: VecDeque<Packet>,
    stop: Arc<AtomicBool>,
    /// Frame numbers where chunks were spliced.
    pub(crate) cuts: Vec<i64>,
    /// Splices where no frame near the cut had the same window on both sides (none expected;
    /// the cut is then made at the nominal frame).
    pub(crate) blind_cuts: usize,
}

impl ChunkedEncoder {
    /// Whether an encoder with these settings can be cut into chunks: FFmpeg's own AAC encoder
    /// (AAC-LC), one or two channels (one channel element whose window can be read).
    pub(crate) fn suits(settings: &AudioEncoderSettings) -> bool {
        settings.codec.name() == "aac" && (1..=2).contains(&settings.channels)
    }

    pub(crate) fn new(
        settings: AudioEncoderSettings,
        frame_size: u32,
        workers: usize,
        plan: ChunkPlan,
        output: PathBuf,
    ) -> Self {
        ChunkedEncoder {
            settings: Arc::new(settings),
            plan,
            frame_size: i64::from(frame_size.max(1)),
            workers: workers.max(1),
            output,
            frames: VecDeque::new(),
            first: 0,
            count: 0,
            handed: 0,
            times: Vec::new(),
            next_chunk: 0,
            running: VecDeque::new(),
            held: None,
            ready: VecDeque::new(),
            stop: Arc::new(AtomicBool::new(false)),
            cuts: Vec::new(),
            blind_cuts: 0,
        }
    }

    /// Takes a frame (of the encoder's frame size, but for the last; a new reference is kept).
    pub(crate) fn send_frame(&mut self, frame: &ffmpeg::Frame) -> Result<(), MediaError> {
        let n = self.count;
        let time = frame
            .pts()
            .or_else(|| self.times.last().map(|t| t + self.frame_size))
            .unwrap_or(0);
        self.times.push(time);
        self.frames
            .push_back(av::share_frame(frame).map_err(|e| self.error(e))?);
        self.count = n + 1;
        while self.count >= (self.next_chunk + 1) * self.plan.chunk + self.plan.post_roll {
            self.start_chunk(false)?;
        }
        // Put together what has finished, without waiting.
        while self.running.front().is_some_and(|h| h.is_finished()) {
            self.collect()?;
        }
        Ok(())
    }

    /// Ends the stream: encodes the last chunk and waits for every chunk.
    pub(crate) fn send_eof(&mut self) -> Result<(), MediaError> {
        // Unless the last chunk started already ended with the stream's last frame.
        if self.count > self.handed {
            self.start_chunk(true)?;
        }
        while !self.running.is_empty() {
            self.collect()?;
        }
        if let Some(held) = self.held.take() {
            self.release(held);
        }
        Ok(())
    }

    /// The next packet in order, on the encoder's time base.
    pub(crate) fn receive_packet(&mut self) -> Option<Packet> {
        self.ready.pop_front()
    }

    fn error(&self, e: ffmpeg::Error) -> MediaError {
        MediaError::ffmpeg("encode", &self.output, e)
    }

    /// Starts the next chunk on a worker thread: its frames, with the pre-roll before and the
    /// post-roll after (or every frame left, for the last).
    fn start_chunk(&mut self, last: bool) -> Result<(), MediaError> {
        let c = self.next_chunk;
        let from = (c * self.plan.chunk - self.plan.pre_roll).max(0);
        let to = if last {
            self.count
        } else {
            (c + 1) * self.plan.chunk + self.plan.post_roll
        };
        let frames = self
            .frames
            .iter()
            .skip((from - self.first) as usize)
            .take((to - from) as usize)
            .map(av::share_frame)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.error(e))?;
        self.next_chunk = c + 1;
        self.handed = to;
        // The frames the next chunk starts from (its pre-roll) are kept; the rest go.
        let keep_from = (self.next_chunk * self.plan.chunk - self.plan.pre_roll).max(0);
        while self.first < keep_from && self.frames.pop_front().is_some() {
            self.first += 1;
        }
        let settings = Arc::clone(&self.settings);
        let stop = Arc::clone(&self.stop);
        let frame_size = self.frame_size;
        let handle = thread::Builder::new()
            .name(format!("aac-chunk-{c}"))
            .spawn(move || encode_chunk(&settings, frames, from, frame_size, &stop))
            .expect("a thread can be started");
        self.running.push_back(handle);
        while self.running.len() > self.workers {
            self.collect()?;
        }
        Ok(())
    }

    /// Waits for the oldest running chunk and splices it on.
    fn collect(&mut self) -> Result<(), MediaError> {
        let Some(handle) = self.running.pop_front() else {
            return Ok(());
        };
        let chunk = handle
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            .map_err(|e| self.error(e))?;
        match self.held.take() {
            None => self.held = Some(chunk),
            Some(before) => {
                let number = self.cuts.len() as i64 + 1;
                let nominal = number * self.plan.chunk;
                let (cut, matched) = splice_point(&before, &chunk, nominal, self.plan);
                if !matched {
                    self.blind_cuts += 1;
                }
                self.cuts.push(cut);
                let mut before = before;
                before.split_off(&cut);
                self.release(before);
                let mut after = chunk;
                let after = after.split_off(&cut);
                self.held = Some(after);
            }
        }
        Ok(())
    }

    /// Queues packets for the caller, timed as the frames they carry were.
    fn release(&mut self, packets: Packets) {
        for (number, coded) in packets {
            let mut packet = coded.packet;
            let time = self.time_of(number);
            packet.set_pts(Some(time));
            packet.set_dts(Some(time));
            self.ready.push_back(packet);
        }
    }

    /// The time of frame `number` (the priming frame before the first, and the encoder's flush
    /// after the last, continue the frame grid).
    fn time_of(&self, number: i64) -> i64 {
        let len = self.times.len() as i64;
        match self.times.first() {
            None => number * self.frame_size,
            Some(first) if number < 0 => first + number * self.frame_size,
            Some(_) if number < len => self.times[number as usize],
            Some(_) => self.times[len as usize - 1] + (number - len + 1) * self.frame_size,
        }
    }
}

impl Drop for ChunkedEncoder {
    fn drop(&mut self) {
        // Chunks still running stop at their next frame; nothing waits for them.
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Encodes frames `from..` with a new encoder; packets by frame number.
fn encode_chunk(
    settings: &AudioEncoderSettings,
    frames: Vec<ffmpeg::Frame>,
    from: i64,
    frame_size: i64,
    stop: &AtomicBool,
) -> Result<Packets, ffmpeg::Error> {
    let mut encoder = settings.open()?;
    let mut out = BTreeMap::new();
    for (i, mut frame) in frames.into_iter().enumerate() {
        if stop.load(Ordering::Relaxed) {
            return Err(ffmpeg::Error::Exit);
        }
        // Numbered on one grid for every chunk, so packet times name the same frames.
        frame.set_pts(Some((from + i as i64) * frame_size));
        encoder.send_frame(&frame)?;
        drain(&mut encoder, frame_size, &mut out)?;
    }
    encoder.send_eof()?;
    drain(&mut encoder, frame_size, &mut out)?;
    Ok(out)
}

fn drain(
    encoder: &mut ffmpeg::codec::encoder::Audio,
    frame_size: i64,
    out: &mut Packets,
) -> Result<(), ffmpeg::Error> {
    loop {
        let mut packet = Packet::empty();
        match encoder.receive_packet(&mut packet) {
            Ok(()) => {}
            Err(ffmpeg::Error::Eof) => return Ok(()),
            Err(ffmpeg::Error::Other { errno }) if errno == EAGAIN => return Ok(()),
            Err(e) => return Err(e),
        }
        let pts = packet.pts().ok_or(ffmpeg::Error::Bug)?;
        let window = packet.data().and_then(window_of);
        out.insert(pts.div_euclid(frame_size), Coded { packet, window });
    }
}

const EAGAIN: i32 = 11;

/// The frame number the second chunk's packets start at: nearest to `nominal`, within the plan's
/// bounds, where frame `cut - 1` has the same (known) window in both chunks; `false` when none
/// has (the nominal frame then).
fn splice_point(before: &Packets, after: &Packets, nominal: i64, plan: ChunkPlan) -> (i64, bool) {
    let agrees = |k: i64| {
        after.contains_key(&k)
            && match (before.get(&(k - 1)), after.get(&(k - 1))) {
                (Some(a), Some(b)) => a.window.is_some() && a.window == b.window,
                _ => false,
            }
    };
    let reach = plan.earliest().max(plan.latest());
    for d in 0..=reach {
        for k in [nominal - d, nominal + d] {
            let inside = k >= nominal - plan.earliest() && k <= nominal + plan.latest();
            if inside && agrees(k) {
                return (k, true);
            }
        }
    }
    (nominal, false)
}

/// The window sequence and shape of an AAC-LC raw data block's first channel element, when it
/// holds one window for all its channels: a single channel (SCE), or a pair with a common window
/// (CPE). ISO/IEC 14496-3, 4.4.2: `id_syn_ele` (3 bits), `element_instance_tag` (4); an SCE's
/// `global_gain` (8) or a CPE's `common_window` (1); then `ics_info`: `ics_reserved_bit`,
/// `window_sequence` (2), `window_shape` (1).
fn window_of(data: &[u8]) -> Option<(u8, u8)> {
    let mut bits = Bits { data, at: 0 };
    let id = bits.take(3)?;
    bits.take(4)?;
    match id {
        0 => {
            bits.take(8)?;
        }
        1 => {
            if bits.take(1)? != 1 {
                return None;
            }
        }
        _ => return None,
    }
    if bits.take(1)? != 0 {
        return None;
    }
    let sequence = bits.take(2)? as u8;
    let shape = bits.take(1)? as u8;
    Some((sequence, shape))
}

/// Reads big-endian bit fields.
struct Bits<'a> {
    data: &'a [u8],
    at: usize,
}

impl Bits<'_> {
    fn take(&mut self, n: usize) -> Option<u32> {
        let mut v = 0u32;
        for _ in 0..n {
            let byte = *self.data.get(self.at / 8)?;
            v = (v << 1) | u32::from((byte >> (7 - self.at % 8)) & 1);
            self.at += 1;
        }
        Some(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_of_a_single_channel_and_of_a_pair_sharing_one() {
        // SCE tag 0, global_gain 0x80, ics_info: reserved 0, EIGHT_SHORT (2), KBD (1).
        // 000 0000 10000000 0 10 1 -> bits: 0000000 10000000 0101
        let sce = [0b0000_0001, 0b0000_0000, 0b1010_0000];
        assert_eq!(window_of(&sce), Some((2, 1)));
        // CPE tag 0, common_window 1, ics_info: reserved 0, LONG_START (1), sine (0).
        // 001 0000 1 0 01 0 -> 00100001 00100000
        let cpe = [0b0010_0001, 0b0010_0000];
        assert_eq!(window_of(&cpe), Some((1, 0)));
        // A pair with a window each: not read.
        let split = [0b0010_0000, 0b0000_0000];
        assert_eq!(window_of(&split), None);
        // Not a channel element (FIL), and too short.
        assert_eq!(window_of(&[0b1100_0000]), None);
        assert_eq!(window_of(&[0b0000_0001]), None);
    }

    /// Stereo tones whose levels drift, and tone bursts that start abruptly (transients, so some
    /// frames get short windows). Tonal, not noise: AAC codes noisy bands as noise (PNS), whose
    /// waveform no longer compares with the source.
    fn signal(seconds: usize, steady: bool) -> [Vec<f32>; 2] {
        let n = 48_000 * seconds;
        let mut out = [Vec::with_capacity(n), Vec::with_capacity(n)];
        for i in 0..n {
            let t = i as f32 / 48_000.0;
            let tone = |f: f32| (t * f * std::f32::consts::TAU).sin();
            let drift = if steady {
                0.7
            } else {
                0.5 + 0.4 * (t * 1.3).sin()
            };
            // A 2.5 kHz burst for 60 ms every 0.29 s, from nothing to full at once.
            let burst = if !steady && i % 13_913 < 2_880 {
                0.3 * tone(2_500.0)
            } else {
                0.0
            };
            for (c, ch) in out.iter_mut().enumerate() {
                let c = c as f32;
                let v = drift * (0.2 * tone(220.0 + 55.0 * c) + 0.1 * tone(1_234.0 - 100.0 * c))
                    + 0.05 * tone(5_000.0 + 300.0 * c)
                    + burst;
                ch.push(v);
            }
        }
        out
    }

    fn frames(signal: &[Vec<f32>; 2]) -> Vec<ffmpeg::Frame> {
        signal[0]
            .chunks(1024)
            .zip(signal[1].chunks(1024))
            .enumerate()
            .map(|(i, (l, r))| {
                let mut f = ffmpeg::frame::Audio::new(
                    ffmpeg::format::Sample::F32(ffmpeg::format::sample::Type::Planar),
                    l.len(),
                    ffmpeg::ChannelLayout::STEREO,
                );
                f.set_rate(48_000);
                f.plane_mut::<f32>(0).copy_from_slice(l);
                f.plane_mut::<f32>(1).copy_from_slice(r);
                f.set_pts(Some(i as i64 * 1024));
                av::share_frame(&f).unwrap()
            })
            .collect()
    }

    fn settings() -> AudioEncoderSettings {
        av::init();
        AudioEncoderSettings {
            codec: ffmpeg::encoder::find_by_name("aac").expect("FFmpeg's AAC encoder"),
            rate: 48_000,
            format: ffmpeg::format::Sample::F32(ffmpeg::format::sample::Type::Planar),
            layout: "stereo".into(),
            channels: 2,
            bit_rate: Some(128_000),
            global_header: true,
            options: Vec::new(),
        }
    }

    /// Decodes packets with FFmpeg's AAC decoder; per channel, the encoder's delay dropped.
    fn decode(settings: &AudioEncoderSettings, packets: &[Packet]) -> [Vec<f32>; 2] {
        let encoder = settings.open().unwrap();
        let par = ffmpeg::codec::Parameters::from(&*encoder);
        let mut decoder = ffmpeg::codec::context::Context::from_parameters(par)
            .unwrap()
            .decoder()
            .audio()
            .unwrap();
        let mut out = [Vec::new(), Vec::new()];
        let mut frame = ffmpeg::frame::Audio::empty();
        let mut take = |d: &mut ffmpeg::codec::decoder::Audio, out: &mut [Vec<f32>; 2]| {
            while d.receive_frame(&mut frame).is_ok() {
                for (c, ch) in out.iter_mut().enumerate() {
                    ch.extend_from_slice(&frame.plane::<f32>(c)[..frame.samples()]);
                }
            }
        };
        for p in packets {
            decoder.send_packet(p).unwrap();
            take(&mut decoder, &mut out);
        }
        decoder.send_eof().unwrap();
        take(&mut decoder, &mut out);
        out.map(|ch| ch[1024..].to_vec())
    }

    /// Signal-to-noise ratio (dB) of each 1024-sample block of `decoded` against `original`.
    fn block_snr(original: &[Vec<f32>; 2], decoded: &[Vec<f32>; 2]) -> Vec<f64> {
        let blocks = original[0].len().min(decoded[0].len()) / 1024;
        (0..blocks)
            .map(|b| {
                let (mut sig, mut err) = (0.0f64, 0.0f64);
                for c in 0..2 {
                    for i in b * 1024..(b + 1) * 1024 {
                        let (o, d) = (f64::from(original[c][i]), f64::from(decoded[c][i]));
                        sig += o * o;
                        err += (o - d) * (o - d);
                    }
                }
                10.0 * (sig / err.max(1e-12)).log10()
            })
            .collect()
    }

    fn serial(settings: &AudioEncoderSettings, frames: &[ffmpeg::Frame]) -> Vec<Packet> {
        let mut e = settings.open().unwrap();
        let mut out = BTreeMap::new();
        for f in frames {
            e.send_frame(f).unwrap();
            drain(&mut e, 1024, &mut out).unwrap();
        }
        e.send_eof().unwrap();
        drain(&mut e, 1024, &mut out).unwrap();
        out.into_values().map(|c| c.packet).collect()
    }

    fn chunked(
        settings: &AudioEncoderSettings,
        frames: &[ffmpeg::Frame],
        plan: ChunkPlan,
    ) -> (Vec<Packet>, ChunkedEncoder) {
        let mut e = ChunkedEncoder::new(settings.clone(), 1024, 2, plan, "test".into());
        let mut out = Vec::new();
        for f in frames {
            e.send_frame(f).unwrap();
            out.extend(std::iter::from_fn(|| e.receive_packet()));
        }
        e.send_eof().unwrap();
        out.extend(std::iter::from_fn(|| e.receive_packet()));
        (out, e)
    }

    /// The block SNRs around every cut (the frame before, at, and after it).
    fn around_cuts(snr: &[f64], cuts: &[i64]) -> Vec<f64> {
        cuts.iter()
            .flat_map(|&k| (k - 1..=k + 1).map(|b| snr[b as usize]))
            .collect()
    }

    fn median(s: &[f64]) -> f64 {
        let mut v = s.to_vec();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    }

    fn min(s: &[f64]) -> f64 {
        s.iter().copied().fold(f64::INFINITY, f64::min)
    }

    /// Smaller chunks, so a short signal has several cuts; the default's pre- and post-roll.
    const SMALL: ChunkPlan = ChunkPlan {
        chunk: 320,
        ..ChunkPlan::DEFAULT
    };

    #[test]
    fn a_steady_tone_shows_no_seam_at_the_cuts() {
        let settings = settings();
        let original = signal(30, true);
        let frames = frames(&original);
        let one = block_snr(&original, &decode(&settings, &serial(&settings, &frames)));
        let (spliced, e) = chunked(&settings, &frames, SMALL);
        assert_eq!(e.cuts.len(), 4, "cuts: {:?}", e.cuts);
        assert_eq!(e.blind_cuts, 0);
        let spliced = block_snr(&original, &decode(&settings, &spliced));
        // A steady tone codes to about the same SNR in every block (one encoder: 34 dB, blocks
        // within about 4 dB of it); a seam would be a dip at the cut.
        let level = median(&one);
        let at_cuts = around_cuts(&spliced, &e.cuts);
        assert!(
            min(&at_cuts) > level - 4.0,
            "around the cuts {at_cuts:.1?} dB; one encoder's median {level:.1} dB"
        );
        assert!((median(&spliced) - level).abs() < 1.0);

        // The check sees a seam: chunks without pre- and post-roll (the encoder before a cut
        // flushes silence into the frame that overlaps the next chunk).
        let bare = ChunkPlan {
            chunk: 320,
            pre_roll: 0,
            post_roll: 0,
        };
        let (broken, e) = chunked(&settings, &frames, bare);
        let broken = block_snr(&original, &decode(&settings, &broken));
        let at_cuts = around_cuts(&broken, &e.cuts);
        assert!(min(&at_cuts) < level - 20.0, "{at_cuts:.1?} dB");
    }

    #[test]
    fn with_transients_every_cut_lands_where_both_encoders_chose_one_window() {
        let settings = settings();
        let original = signal(30, false);
        let frames = frames(&original);
        let one_packets = serial(&settings, &frames);
        let (packets, e) = chunked(&settings, &frames, SMALL);
        assert_eq!(e.cuts.len(), 4, "cuts: {:?}", e.cuts);
        assert_eq!(
            e.blind_cuts, 0,
            "every cut found a frame both windowed alike"
        );
        // One packet a frame, on the same times, and about the same bytes.
        assert_eq!(packets.len(), one_packets.len());
        for (a, b) in packets.iter().zip(&one_packets) {
            assert_eq!((a.pts(), a.duration()), (b.pts(), b.duration()));
        }
        let bytes = |p: &[Packet]| p.iter().map(|p| p.size()).sum::<usize>() as f64;
        let ratio = bytes(&packets) / bytes(&one_packets);
        assert!((0.97..1.03).contains(&ratio), "bytes ratio {ratio}");
        // The tone bursts make some blocks much worse than others (pre-echo) in any encoder;
        // no block around a cut is worse than the worst one encoder makes, and overall the
        // chunks code as well.
        let one = block_snr(&original, &decode(&settings, &one_packets));
        let spliced = block_snr(&original, &decode(&settings, &packets));
        let at_cuts = around_cuts(&spliced, &e.cuts);
        assert!(
            min(&at_cuts) > min(&one) - 1.0,
            "{at_cuts:.1?} vs {:.1}",
            min(&one)
        );
        assert!(median(&spliced) > median(&one) - 1.0);
    }

    #[test]
    fn the_same_frames_encode_to_the_same_bytes() {
        let settings = settings();
        let frames = frames(&signal(4, false));
        let plan = ChunkPlan {
            chunk: 48,
            ..ChunkPlan::DEFAULT
        };
        let (a, _) = chunked(&settings, &frames, plan);
        let (b, _) = chunked(&settings, &frames, plan);
        let data = |p: &[Packet]| {
            p.iter()
                .map(|p| p.data().unwrap_or(&[]).to_vec())
                .collect::<Vec<_>>()
        };
        assert_eq!(data(&a), data(&b));
    }

    #[test]
    fn a_stream_ending_where_a_chunk_did_loses_nothing() {
        let settings = settings();
        // 4 s = 187.5 frames: 188; a chunk of 94 with no post-roll ends exactly at the end.
        let frames = frames(&signal(4, true));
        let one = serial(&settings, &frames);
        let plan = ChunkPlan {
            chunk: 94,
            pre_roll: 16,
            post_roll: 0,
        };
        let (spliced, e) = chunked(&settings, &frames, plan);
        assert_eq!(e.cuts, [94]);
        assert_eq!(spliced.len(), one.len());
        assert_eq!(spliced.last().map(|p| p.pts()), one.last().map(|p| p.pts()));
    }
}
