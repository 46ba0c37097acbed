//! The output side of `package`: the `dash` muxer, the time bases packets are rescaled to, and
//! draining an encoder into it (directly, or over a channel from a rung's own thread) while
//! keeping the span of time its packets cover.
use std::path::Path;

use ffmpeg::{codec, format, Packet, Rational};
use ffmpeg_next as ffmpeg;

use crate::MediaError;

/// The muxer and what writing a packet needs.
pub(crate) struct Mux<'a> {
    pub(crate) octx: &'a mut format::context::Output,
    pub(crate) ost_tbs: &'a [Rational],
    pub(crate) output: &'a Path,
}

/// Where an encoder's packets go: the muxer itself, or a channel to the thread that owns it.
pub(crate) trait PacketSink {
    /// Takes one packet of output stream `ost`, timed in `enc_tb`.
    fn put(&mut self, packet: &mut Packet, ost: usize, enc_tb: Rational) -> Result<(), MediaError>;
    /// The output named in errors.
    fn output(&self) -> &Path;
}

impl PacketSink for Mux<'_> {
    fn put(&mut self, packet: &mut Packet, ost: usize, enc_tb: Rational) -> Result<(), MediaError> {
        self.write(packet, ost, enc_tb)
    }

    fn output(&self) -> &Path {
        self.output
    }
}

impl Mux<'_> {
    pub(crate) fn write(
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

/// The span of time an output stream's packets cover, in its encoder's time base.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Span {
    pub(crate) first: Option<i64>,
    pub(crate) end: i64,
}

impl Span {
    /// Seconds from the first packet to the end of the last.
    pub(crate) fn duration(&self, tb: Rational) -> f64 {
        (self.end - self.first.unwrap_or(0)) as f64 * f64::from(tb)
    }

    /// Seconds at which the first packet starts.
    pub(crate) fn start(&self, tb: Rational) -> f64 {
        self.first.unwrap_or(0) as f64 * f64::from(tb)
    }
}

/// Hands every packet `encoder` has ready, as stream `ost`, to `mux`, widening `span`. A packet
/// the encoder left without a duration gets `default_duration` (in `tb`; 0 leaves it unset).
pub(crate) fn drain(
    encoder: &mut codec::encoder::Encoder,
    mux: &mut impl PacketSink,
    ost: usize,
    tb: Rational,
    span: &mut Span,
    default_duration: i64,
) -> Result<(), MediaError> {
    let mut packet = Packet::empty();
    loop {
        match encoder.receive_packet(&mut packet) {
            Ok(()) => {}
            Err(ffmpeg::Error::Eof) => return Ok(()),
            Err(ffmpeg::Error::Other { errno }) if errno == crate::decoding::EAGAIN => {
                return Ok(())
            }
            Err(e) => return Err(MediaError::ffmpeg("encode", mux.output(), e)),
        }
        if packet.duration() <= 0 && default_duration > 0 {
            packet.set_duration(default_duration);
        }
        if let Some(pts) = packet.pts() {
            span.first = Some(span.first.map_or(pts, |f| f.min(pts)));
            span.end = span.end.max(pts + packet.duration().max(0));
        }
        mux.put(&mut packet, ost, tb)?;
    }
}
