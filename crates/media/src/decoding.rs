//! Opening a stream's decoder and pulling its frames, for `package`'s video and audio sides.
use std::path::Path;

use ffmpeg::{codec, format};
use ffmpeg_next as ffmpeg;

use crate::av;
use crate::stall_guard::StallGuard;
use crate::MediaError;

pub(crate) const EAGAIN: i32 = 11;

pub(crate) fn open_decoder(
    stream: &format::stream::Stream,
    input: &Path,
    limits: &crate::Limits,
) -> Result<codec::decoder::Decoder, MediaError> {
    let mut ctx = codec::context::Context::from_parameters(stream.parameters())
        .map_err(|e| MediaError::ffmpeg("read the codec parameters of", input, e))?;
    av::set_packet_time_base(&mut ctx, stream.time_base());
    av::set_decoder_max_pixels(&mut ctx, limits);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    ctx.set_threading(codec::threading::Config {
        kind: codec::threading::Type::Frame,
        count: decoder_threads(cores),
        ..Default::default()
    });
    Ok(ctx.decoder())
}

/// Frame threads of the decoder on a machine with `cores` cores: one per four cores, at least
/// one. The rungs' encoder threads already keep every core busy; each decoding thread only holds
/// more pictures in flight (a 1080p source on 2 cores: 12 MiB less peak memory with one thread
/// than with two, and no slower, measured).
pub(crate) fn decoder_threads(cores: usize) -> usize {
    (cores / 4).max(1)
}

/// The next decoded frame; false when the decoder wants more input or is drained. Damaged
/// frames are skipped, up to the stall guard's limit.
pub(crate) fn receive<D: std::ops::DerefMut<Target = codec::decoder::Opened>>(
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

pub(crate) fn decode_error(input: &Path, e: ffmpeg::Error) -> MediaError {
    MediaError::InvalidInput {
        path: input.to_owned(),
        reason: format!("cannot open a decoder: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_decoding_thread_per_four_cores() {
        assert_eq!(decoder_threads(1), 1);
        assert_eq!(decoder_threads(2), 1);
        assert_eq!(decoder_threads(4), 1);
        assert_eq!(decoder_threads(8), 2);
        assert_eq!(decoder_threads(16), 4);
    }
}
