//! How an audio stream is encoded: every setting of the encoder in one value, so the same
//! encoder can be opened again (the chunked encoder opens one per chunk, each identical).
use ffmpeg::{codec, format, Dictionary};
use ffmpeg_next as ffmpeg;

use crate::av;

/// Everything an audio encoder is opened with.
#[derive(Clone)]
pub(crate) struct AudioEncoderSettings {
    pub(crate) codec: ffmpeg::Codec,
    pub(crate) rate: u32,
    pub(crate) format: format::Sample,
    /// Channel layout, as FFmpeg names it (`stereo`).
    pub(crate) layout: String,
    pub(crate) channels: u32,
    pub(crate) bit_rate: Option<u64>,
    pub(crate) global_header: bool,
    /// Encoder private options.
    pub(crate) options: Vec<(String, String)>,
}

impl AudioEncoderSettings {
    /// Opens a new encoder with these settings (time base one tick a sample).
    pub(crate) fn open(&self) -> Result<codec::encoder::Audio, ffmpeg::Error> {
        let mut enc = codec::context::Context::new_with_codec(self.codec)
            .encoder()
            .audio()?;
        enc.set_rate(self.rate as i32);
        enc.set_format(self.format);
        av::set_encoder_layout(&mut enc, &self.layout)?;
        enc.set_time_base((1, self.rate as i32));
        if let Some(b) = self.bit_rate {
            enc.set_bit_rate(b as usize);
        }
        if self.global_header {
            enc.set_flags(codec::Flags::GLOBAL_HEADER);
        }
        let mut d = Dictionary::new();
        for (k, v) in &self.options {
            d.set(k, v);
        }
        enc.open_with(d)
    }

    /// The channels an opened encoder encodes (its channel layout's count).
    pub(crate) fn channels_of(encoder: &codec::encoder::Audio) -> u32 {
        // SAFETY: the context pointer is valid for the borrow; ch_layout exists since FFmpeg 5.1.
        unsafe { (*encoder.as_ptr()).ch_layout.nb_channels.max(0) as u32 }
    }
}
