//! `probe`: what is in a media file, read through libavformat without decoding.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ffmpeg::{media, Rational};
use ffmpeg_next as ffmpeg;
use serde::{Deserialize, Serialize};

use crate::av;
use crate::limits::Limits;
use crate::stream_info::StreamInfo;
use crate::MediaError;

/// The result of `probe`: container facts and one entry per stream. Stable JSON (schema 1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MediaInfo {
    pub schema: u32,
    pub path: PathBuf,
    /// FFmpeg demuxer name(s), e.g. `mov,mp4,m4a,3gp,3g2,mj2`.
    pub container: String,
    pub container_long_name: String,
    /// Seconds.
    pub duration: Option<f64>,
    /// Overall bits per second.
    pub bit_rate: Option<u64>,
    /// File size in bytes.
    pub size: u64,
    pub tags: BTreeMap<String, String>,
    pub streams: Vec<StreamInfo>,
}

impl MediaInfo {
    /// The first video stream, if any.
    pub fn video(&self) -> Option<&StreamInfo> {
        self.streams.iter().find(|s| s.kind == "video")
    }

    /// The first audio stream, if any.
    pub fn audio(&self) -> Option<&StreamInfo> {
        self.streams.iter().find(|s| s.kind == "audio")
    }
}

/// Reads container and stream facts from `path` under the default `Limits`.
pub fn probe(path: &Path) -> Result<MediaInfo, MediaError> {
    probe_with(path, &Limits::default())
}

/// Reads container and stream facts from `path` under `limits`.
pub fn probe_with(path: &Path, limits: &Limits) -> Result<MediaInfo, MediaError> {
    let ictx = av::open_input(path, limits)?;
    let size = std::fs::metadata(path)
        .map_err(|e| MediaError::io(path, e))?
        .len();
    let duration = (ictx.duration() > 0)
        .then(|| ictx.duration() as f64 / f64::from(ffmpeg::ffi::AV_TIME_BASE));
    let bit_rate = u64::try_from(ictx.bit_rate()).ok().filter(|b| *b > 0);
    let streams = ictx.streams().map(|s| stream_info(&s)).collect();
    Ok(MediaInfo {
        schema: 1,
        path: path.to_owned(),
        container: ictx.format().name().to_owned(),
        container_long_name: ictx.format().description().to_owned(),
        duration,
        bit_rate,
        size,
        tags: tags(ictx.metadata()),
        streams,
    })
}

fn tags(d: ffmpeg::DictionaryRef) -> BTreeMap<String, String> {
    d.iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn ratio(r: Rational) -> Option<String> {
    av::known(r).map(|r| {
        let r = r.reduce();
        format!("{}:{}", r.numerator(), r.denominator())
    })
}

/// Width × SAR : height, reduced. In 64 bits: a damaged file's SAR can be near `i32::MAX`.
fn display_ratio(w: u32, h: u32, sar: Rational) -> Option<String> {
    let num = i64::from(w) * i64::from(sar.numerator());
    let den = i64::from(h) * i64::from(sar.denominator());
    if num <= 0 || den <= 0 {
        return None;
    }
    let gcd = |mut a: i64, mut b: i64| {
        while b != 0 {
            (a, b) = (b, a % b);
        }
        a
    };
    let g = gcd(num, den);
    Some(format!("{}:{}", num / g, den / g))
}

fn stream_info(s: &ffmpeg::format::stream::Stream) -> StreamInfo {
    let par = s.parameters();
    let kind = match par.medium() {
        media::Type::Video => "video",
        media::Type::Audio => "audio",
        media::Type::Subtitle => "subtitle",
        media::Type::Data => "data",
        media::Type::Attachment => "attachment",
        _ => "unknown",
    };
    // SAFETY-free view of the raw parameters through ffmpeg-next's pointer accessor.
    let raw = unsafe { &*par.as_ptr() };
    let tags = tags(s.metadata());
    let tb = s.time_base();
    let duration = (s.duration() > 0).then(|| s.duration() as f64 * f64::from(tb));
    let mut info = StreamInfo {
        index: s.index(),
        kind: kind.to_owned(),
        codec: par.id().name().to_owned(),
        profile: av::profile_name(par.id(), raw.profile),
        bit_rate: u64::try_from(raw.bit_rate).ok().filter(|b| *b > 0),
        duration,
        width: None,
        height: None,
        sample_aspect_ratio: None,
        display_aspect_ratio: None,
        rotation: None,
        frame_rate: None,
        pixel_format: None,
        sample_rate: None,
        channels: None,
        channel_layout: None,
        sample_format: None,
        language: tags.get("language").cloned(),
        tags,
    };
    if par.medium() == media::Type::Video && raw.width > 0 {
        let (w, h) = (raw.width as u32, raw.height as u32);
        info.width = Some(w);
        info.height = Some(h);
        let sar = av::stream_sar(s);
        info.sample_aspect_ratio = ratio(sar);
        info.display_aspect_ratio = display_ratio(w, h, sar);
        info.rotation = Some(av::stream_rotation(s).unwrap_or(0.0));
        let fr = s.avg_frame_rate();
        let fr = if fr.numerator() > 0 { fr } else { s.rate() };
        info.frame_rate = av::known(fr).map(f64::from);
        info.pixel_format = av::pixel_format_name(raw.format);
    }
    if par.medium() == media::Type::Audio {
        let (channels, layout) = av::channel_layout(&par);
        info.sample_rate = (raw.sample_rate > 0).then_some(raw.sample_rate as u32);
        info.channels = (channels > 0).then_some(channels);
        info.channel_layout = layout;
        info.sample_format = av::sample_format_name(raw.format);
    }
    info
}
