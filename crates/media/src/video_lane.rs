//! One rung of `package`'s ladder: its encoder (capped CRF), the key frames it is forced to
//! place at segment boundaries, and what it has written.
use std::path::Path;

use ffmpeg::{codec, format, Dictionary, Rational, Rescale};
use ffmpeg_next as ffmpeg;

use crate::av;
use crate::frame_clock::FrameClock;
use crate::ladder::PlannedRung;
use crate::mux::{PacketSink, Span};
use crate::MediaError;

/// One rung's encoder and what it has written.
pub(crate) struct VideoLane {
    pub(crate) encoder: codec::encoder::Encoder,
    pub(crate) codec: String,
    pub(crate) tb: Rational,
    pub(crate) ost: usize,
    pub(crate) segment: f64,
    /// Time of the last forced key frame.
    pub(crate) last_key: Option<f64>,
    /// Times of the forced key frames (segment starts).
    pub(crate) keys: Vec<f64>,
    pub(crate) frames: u64,
    pub(crate) span: Span,
    /// One frame at the nominal rate, in `tb`. x264 leaves every packet without a duration; the
    /// last picture then lasted nothing, and the rung's duration (the report's, the storyboard's
    /// last cue) came out a frame short of the source.
    frame_ticks: i64,
    /// Moves the filtered pictures onto the encoder's time base, `tb`.
    clock: FrameClock,
}

impl VideoLane {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        codec: ffmpeg::Codec,
        rung: &PlannedRung,
        sf: &av::SinkFormat,
        sar: Rational,
        frame_rate: Rational,
        grid: Option<Rational>,
        segment: f64,
        speed: &str,
        threads: usize,
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
        // One tick per picture: x264 writes the time base into the stream's timing info.
        let clock = FrameClock::for_video(sf.time_base, grid.or(Some(frame_rate)));
        let tb = clock.time_base();
        enc.set_time_base(tb);
        enc.set_frame_rate(Some(frame_rate));
        // The encoder never places a key frame of its own inside a segment: only forced ones.
        let per_segment = (segment * f64::from(frame_rate)).ceil().max(1.0) as u32;
        enc.set_gop(per_segment.saturating_mul(2).saturating_add(1));
        enc.set_flags(codec::Flags::GLOBAL_HEADER | codec::Flags::CLOSED_GOP);
        let mut d = Dictionary::new();
        // The rung's share of the machine (`ladder::encoder_threads`): every rung encodes on its
        // own thread, so the encoder's own threads only need to cover its share.
        d.set("threads", &threads.to_string());
        // x264's threads: slices of each picture, not pictures in flight. Frame threads hold a
        // picture each plus the asynchronous lookahead's (about 30 MiB a thread at 1080p); two
        // slices cost the 1080p rung 0.4 % more bytes at the same PSNR (measured, 2 cores).
        let x264_params = if threads > 1 {
            "scenecut=0:open-gop=0:sliced-threads=1"
        } else {
            "scenecut=0:open-gop=0"
        };
        d.set("maxrate", &rung.maxrate.to_string());
        d.set("bufsize", &rung.bufsize.to_string());
        d.set("crf", &rung.crf.to_string());
        if codec.name() == "libx264" {
            d.set("preset", speed);
            d.set("forced-idr", "1");
            d.set("x264-params", x264_params);
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
        stream.set_time_base(tb);
        stream.set_avg_frame_rate(frame_rate);
        av::set_stream_sar(&mut stream, sar);
        // The manifests advertise the rung's cap (the encoder has no target bit rate of its own).
        av::set_stream_bit_rate(&mut stream, rung.maxrate);
        Ok(VideoLane {
            encoder: opened.0 .0,
            codec: codec.name().to_owned(),
            tb,
            clock,
            ost,
            segment,
            last_key: None,
            keys: Vec::new(),
            frames: 0,
            span: Span::default(),
            frame_ticks: 1i64
                .rescale(
                    Rational(frame_rate.denominator(), frame_rate.numerator()),
                    tb,
                )
                .max(1),
        })
    }

    /// Encodes one filtered frame, forcing a key frame on the first frame at least one segment
    /// after the previous one (the rule the `dash` muxer cuts segments by).
    pub(crate) fn encode(
        &mut self,
        frame: &mut ffmpeg::Frame,
        mux: &mut impl PacketSink,
    ) -> Result<(), MediaError> {
        if !self.clock.place(frame) {
            return Ok(());
        }
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
            .map_err(|e| MediaError::ffmpeg("encode", mux.output(), e))?;
        self.drain(mux)
    }

    fn drain(&mut self, mux: &mut impl PacketSink) -> Result<(), MediaError> {
        crate::mux::drain(
            &mut self.encoder,
            mux,
            self.ost,
            self.tb,
            &mut self.span,
            self.frame_ticks,
        )
    }

    pub(crate) fn finish(&mut self, mux: &mut impl PacketSink) -> Result<(), MediaError> {
        self.encoder
            .send_eof()
            .map_err(|e| MediaError::ffmpeg("encode", mux.output(), e))?;
        self.drain(mux)
    }

    pub(crate) fn duration(&self) -> f64 {
        self.span.duration(self.tb)
    }
}
