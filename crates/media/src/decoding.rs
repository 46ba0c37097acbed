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
    // One frame thread per core, not FFmpeg's automatic one more: the rungs' threads keep the
    // cores busy, and every extra frame thread only holds more pictures in flight.
    ctx.set_threading(codec::threading::Config {
        kind: codec::threading::Type::Frame,
        count: std::thread::available_parallelism().map_or(1, |n| n.get()),
        ..Default::default()
    });
    Ok(ctx.decoder())
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
