//! The audio of `package`: decoder, graph (optional loudnorm, a waveform branch) and the one AAC
//! encoder every rung shares.
use std::path::Path;

use ffmpeg::{codec, encoder, format, frame, media, Packet, Rational, Rescale};
use ffmpeg_next as ffmpeg;

use crate::av;
use crate::decoding::{decode_error, open_decoder, receive};
use crate::fan_out::FanOut;
use crate::mux::{Mux, Span};
use crate::package::PackageOptions;
use crate::pipeline;
use crate::stall_guard::StallGuard;
use crate::waveform::PeakMeter;
use crate::MediaError;

/// The audio decoder, its graph and the AAC encoder.
pub(crate) struct AudioLane {
    pub(crate) decoder: codec::decoder::Audio,
    pub(crate) graph: FanOut,
    pub(crate) encoder: codec::encoder::Encoder,
    pub(crate) sink_tb: Rational,
    pub(crate) tb: Rational,
    pub(crate) ost: usize,
    pub(crate) guard: StallGuard,
    pub(crate) rate: u32,
    pub(crate) channels: u32,
    pub(crate) bit_rate: u64,
    pub(crate) normalized_to: Option<f64>,
    pub(crate) span: Span,
    /// Waveform peaks of the source audio (second sink of the graph), when asked for.
    pub(crate) peaks: Option<PeakMeter>,
}

impl AudioLane {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
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
            span: Span::default(),
            peaks,
        })
    }

    pub(crate) fn send(
        &mut self,
        packet: &Packet,
        mux: &mut Mux,
        input: &Path,
    ) -> Result<(), MediaError> {
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
        crate::mux::drain(&mut self.encoder, mux, self.ost, self.tb, &mut self.span, 0)
    }

    pub(crate) fn finish(&mut self, mux: &mut Mux, input: &Path) -> Result<(), MediaError> {
        let _ = self.decoder.send_eof();
        self.pump(mux, input)?;
        self.graph.flush(input)?;
        self.drain_graph(mux)?;
        self.encoder
            .send_eof()
            .map_err(|e| MediaError::ffmpeg("encode", mux.output, e))?;
        self.drain_encoder(mux)
    }

    pub(crate) fn duration(&self) -> f64 {
        self.span.duration(self.tb)
    }
}
