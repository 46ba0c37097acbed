//! The output side of `package`: the `dash` muxer and the time bases packets are rescaled to.
use std::path::Path;

use ffmpeg::{format, Packet, Rational};
use ffmpeg_next as ffmpeg;

use crate::MediaError;

/// The muxer and what writing a packet needs.
pub(crate) struct Mux<'a> {
    pub(crate) octx: &'a mut format::context::Output,
    pub(crate) ost_tbs: &'a [Rational],
    pub(crate) output: &'a Path,
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
