//! Decoded video frames by time, for stills: open, seek near a time, decode forward.
use std::path::{Path, PathBuf};

use ffmpeg::{codec, format, media, Packet, Rational};
use ffmpeg_next as ffmpeg;

use crate::av;
use crate::frame_filter::FrameSource;
use crate::geometry::Source;
use crate::limits::Limits;
use crate::stall_guard::StallGuard;
use crate::MediaError;

/// The best video stream of a file, decoded frame by frame.
pub(crate) struct VideoFrames {
    ictx: format::context::Input,
    index: usize,
    decoder: codec::decoder::Video,
    time_base: Rational,
    path: PathBuf,
    draining: bool,
    /// Picture facts for geometry planning.
    pub source: Source,
    pub sar: Rational,
    /// Seconds, when known.
    pub duration: Option<f64>,
    /// Time of the last decoded frame.
    pub position: f64,
    /// Seconds before which no frame is wanted: pictures no other picture refers to are not
    /// decoded before it (the decoder's `skip_frame` at `nonref`), which spares a third or more
    /// of the decoding between two stills. Frames at or after it decode as usual.
    pub wanted_from: Option<f64>,
    /// Whether the decoder is skipping unreferenced pictures now.
    skipping: bool,
}

impl VideoFrames {
    /// Sets the decoder to skip unreferenced pictures for a packet timed before `wanted_from`
    /// (a packet without a time is decoded).
    fn skip_unwanted(&mut self, packet: &Packet) {
        let skip = match (self.wanted_from, packet.pts()) {
            (Some(from), Some(pts)) => (pts as f64 * f64::from(self.time_base)) + 1e-3 < from,
            _ => false,
        };
        if skip != self.skipping {
            self.decoder.skip_frame(if skip {
                ffmpeg::Discard::NonReference
            } else {
                ffmpeg::Discard::Default
            });
            self.skipping = skip;
        }
    }

    pub(crate) fn open(path: &Path, limits: &Limits) -> Result<Self, MediaError> {
        let ictx = av::open_input(path, limits)?;
        let index = crate::pipeline::best_stream(&ictx, media::Type::Video).ok_or_else(|| {
            MediaError::MissingStream {
                path: path.to_owned(),
                kind: "video",
            }
        })?;
        let stream = ictx.stream(index).expect("index from the same context");
        let time_base = stream.time_base();
        let sar = av::stream_sar(&stream);
        let rotation = av::stream_rotation(&stream).unwrap_or(0.0);
        let mut ctx = codec::context::Context::from_parameters(stream.parameters())
            .map_err(|e| MediaError::ffmpeg("read the codec parameters of", path, e))?;
        av::set_packet_time_base(&mut ctx, time_base);
        av::set_decoder_max_pixels(&mut ctx, limits);
        ctx.set_threading(codec::threading::Config {
            kind: codec::threading::Type::Frame,
            ..Default::default()
        });
        let decoder = ctx
            .decoder()
            .video()
            .map_err(|e| MediaError::InvalidInput {
                path: path.to_owned(),
                reason: format!("cannot open a decoder: {e}"),
            })?;
        let duration = if ictx.duration() > 0 {
            Some(ictx.duration() as f64 / f64::from(ffmpeg::ffi::AV_TIME_BASE))
        } else {
            (stream.duration() > 0).then(|| stream.duration() as f64 * f64::from(time_base))
        };
        if decoder.format() == ffmpeg::format::Pixel::None
            || decoder.width() == 0
            || decoder.height() == 0
        {
            return Err(MediaError::InvalidInput {
                path: path.to_owned(),
                reason: "no video frame could be decoded (picture size or format unknown)".into(),
            });
        }
        let source = Source {
            width: decoder.width(),
            height: decoder.height(),
            sar: f64::from(sar),
            rotation,
        };
        Ok(VideoFrames {
            ictx,
            index,
            decoder,
            time_base,
            path: path.to_owned(),
            draining: false,
            source,
            sar,
            duration,
            position: 0.0,
            wanted_from: None,
            skipping: false,
        })
    }

    /// What the decoded frames look like, for building a filter.
    pub(crate) fn frame_source(&self) -> FrameSource {
        FrameSource {
            width: self.decoder.width(),
            height: self.decoder.height(),
            format: self.decoder.format(),
            time_base: self.time_base,
            sar: self.sar,
        }
    }

    /// Seeks to the key frame at or before `t` seconds.
    pub(crate) fn seek(&mut self, t: f64) -> Result<(), MediaError> {
        let ts = (t * f64::from(ffmpeg::ffi::AV_TIME_BASE)) as i64;
        self.ictx
            .seek(ts, ..ts)
            .map_err(|e| MediaError::ffmpeg("seek in", &self.path, e))?;
        self.decoder.flush();
        self.draining = false;
        Ok(())
    }

    /// Decodes the next frame into `frame`; returns its time in seconds, or None at the end.
    /// Damaged packets are skipped, but only so many in a row (`StallGuard`).
    pub(crate) fn next(&mut self, frame: &mut ffmpeg::Frame) -> Result<Option<f64>, MediaError> {
        let mut guard = StallGuard::new();
        loop {
            match self.decoder.receive_frame(frame) {
                Ok(()) => {
                    let t = frame
                        .timestamp()
                        .map_or(self.position, |ts| ts as f64 * f64::from(self.time_base));
                    self.position = t;
                    frame.set_pts(frame.timestamp());
                    return Ok(Some(t));
                }
                Err(ffmpeg::Error::Eof) => return Ok(None),
                Err(ffmpeg::Error::Other { errno: 11 }) => {}
                Err(ffmpeg::Error::InvalidData) => {
                    guard.failed(&self.path, "decode")?;
                    continue;
                }
                Err(e) => return Err(MediaError::ffmpeg("decode", &self.path, e)),
            }
            if self.draining {
                return Ok(None);
            }
            let mut packet = Packet::empty();
            match packet.read(&mut self.ictx) {
                Ok(()) if packet.stream() == self.index => {
                    self.skip_unwanted(&packet);
                    match self.decoder.send_packet(&packet) {
                        Ok(()) => guard.progressed(),
                        Err(ffmpeg::Error::InvalidData) => guard.failed(&self.path, "decode")?,
                        Err(e) => return Err(MediaError::ffmpeg("decode", &self.path, e)),
                    }
                }
                Ok(()) => guard.progressed(),
                Err(ffmpeg::Error::InvalidData) => guard.failed(&self.path, "read")?,
                Err(ffmpeg::Error::Eof) => {
                    let _ = self.decoder.send_eof();
                    self.draining = true;
                }
                Err(e) => return Err(MediaError::ffmpeg("read", &self.path, e)),
            }
        }
    }
}
