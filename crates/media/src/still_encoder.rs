//! Frames to JPEG or PNG bytes through a filter chain (rotate/scale, or tile for sprites).
use std::path::Path;

use ffmpeg::{codec, encoder, Packet, Rational};
use ffmpeg_next as ffmpeg;

use crate::av;
use crate::frame_filter::{FrameFilter, FrameSource};
use crate::video_frames::VideoFrames;
use crate::MediaError;

/// Image file type of a still, from the output extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ImageKind {
    Jpeg,
    Png,
}

impl ImageKind {
    pub(crate) fn from_path(path: &Path) -> Result<Self, MediaError> {
        match path
            .extension()
            .map(|e| e.to_string_lossy().to_lowercase())
            .as_deref()
        {
            Some("jpg" | "jpeg") => Ok(ImageKind::Jpeg),
            Some("png") => Ok(ImageKind::Png),
            _ => Err(MediaError::UnsupportedFormat {
                path: path.to_owned(),
                known: "jpg, jpeg, png".into(),
            }),
        }
    }

    fn encoder(self) -> &'static str {
        match self {
            ImageKind::Jpeg => "mjpeg",
            ImageKind::Png => "png",
        }
    }

    /// The pixel format the image encoder takes (its first listed one).
    pub(crate) fn pixel(self) -> Result<ffmpeg::format::Pixel, MediaError> {
        let codec = encoder::find_by_name(self.encoder()).ok_or_else(|| {
            crate::pipeline::unsupported(self.encoder(), ffmpeg::media::Type::Video)
        })?;
        Ok(codec
            .video()
            .ok()
            .and_then(|v| v.formats().and_then(|mut f| f.next()))
            .unwrap_or(ffmpeg::format::Pixel::RGB24))
    }
}

/// A filter graph feeding an image encoder; each filtered frame becomes one image file's bytes.
pub(crate) struct StillEncoder {
    filter: FrameFilter,
    encoder: codec::encoder::Encoder,
    pub width: u32,
    pub height: u32,
    next_pts: i64,
}

impl StillEncoder {
    /// An encoder for the decoded frames of `frames`.
    pub(crate) fn new(
        frames: &VideoFrames,
        filter_chain: &str,
        kind: ImageKind,
        output: &Path,
    ) -> Result<Self, MediaError> {
        Self::from_source(&frames.frame_source(), filter_chain, kind, output)
    }

    /// An encoder for frames that look like `source` (e.g. sprite tiles already scaled).
    pub(crate) fn from_source(
        source: &FrameSource,
        filter_chain: &str,
        kind: ImageKind,
        output: &Path,
    ) -> Result<Self, MediaError> {
        let codec = encoder::find_by_name(kind.encoder()).ok_or_else(|| {
            crate::pipeline::unsupported(kind.encoder(), ffmpeg::media::Type::Video)
        })?;
        let pix = kind.pixel()?;
        let pix_name = pix.descriptor().map(|d| d.name()).unwrap_or("rgb24");
        let spec = format!("{filter_chain},format=pix_fmts={pix_name}");
        let mut filter = FrameFilter::new(source, &spec, output)?;
        let sf = filter.sink_format();
        let mut enc = codec::context::Context::new_with_codec(codec)
            .encoder()
            .video()
            .map_err(|e| MediaError::ffmpeg("configure", output, e))?;
        enc.set_width(sf.width);
        enc.set_height(sf.height);
        enc.set_format(pix);
        enc.set_time_base(Rational(1, 25));
        enc.set_aspect_ratio(Rational(1, 1));
        if kind == ImageKind::Jpeg {
            // Quality 2 on the 2..31 scale, as `ffmpeg -q:v 2`.
            enc.set_flags(codec::Flags::QSCALE);
            enc.set_global_quality(2 * ffmpeg::ffi::FF_QP2LAMBDA);
        }
        let opened = enc
            .open()
            .map_err(|e| MediaError::ffmpeg("open the image encoder for", output, e))?;
        Ok(StillEncoder {
            filter,
            encoder: opened.0 .0,
            width: sf.width,
            height: sf.height,
            next_pts: 0,
        })
    }

    /// Filters one decoded frame; returns the images that came out (none while a tile fills).
    pub(crate) fn push(
        &mut self,
        frame: &mut ffmpeg::Frame,
        output: &Path,
    ) -> Result<Vec<Vec<u8>>, MediaError> {
        // Stills are independent pictures: give them consecutive timestamps.
        frame.set_pts(Some(self.next_pts));
        self.next_pts += 1;
        self.filter.push(frame, output)?;
        self.drain(output)
    }

    /// Flushes the filter (a partly filled sprite tile comes out here).
    pub(crate) fn finish(&mut self, output: &Path) -> Result<Vec<Vec<u8>>, MediaError> {
        self.filter.flush(output)?;
        self.drain(output)
    }

    fn drain(&mut self, output: &Path) -> Result<Vec<Vec<u8>>, MediaError> {
        let mut images = Vec::new();
        let mut filtered = av::new_frame();
        while self.filter.pull(&mut filtered, output)? {
            av::clear_picture_type(&mut filtered);
            self.encoder
                .send_frame(&filtered)
                .map_err(|e| MediaError::ffmpeg("encode", output, e))?;
            let mut packet = Packet::empty();
            loop {
                match self.encoder.receive_packet(&mut packet) {
                    Ok(()) => images.push(packet.data().unwrap_or_default().to_vec()),
                    Err(ffmpeg::Error::Eof) | Err(ffmpeg::Error::Other { errno: 11 }) => break,
                    Err(e) => return Err(MediaError::ffmpeg("encode", output, e)),
                }
            }
        }
        Ok(images)
    }
}
