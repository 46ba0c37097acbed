//! Thin safe wrappers over the few FFmpeg C calls ffmpeg-next does not expose; all `unsafe` lives here.
use std::ffi::{CStr, CString};
use std::path::Path;
use std::sync::Once;

use ffmpeg::ffi;
use ffmpeg::{filter, format, Rational};
use ffmpeg_next as ffmpeg;

use crate::limits::Limits;
use crate::MediaError;

/// Initializes FFmpeg once and silences its logger: the library reports through values, not stderr.
pub(crate) fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        // init() only fails on ancient FFmpeg builds that need registration; ignore like ffmpeg-next does.
        let _ = ffmpeg::init();
        ffmpeg::log::set_level(ffmpeg::log::Level::Quiet);
    });
}

/// Opens an input under `limits`, turning FFmpeg's errors into a typed error that names the path.
///
/// Only the `file` protocol is allowed, for the input and for anything a demuxer opens from it;
/// demuxers that read other files (playlists, concat scripts, image sequences) are refused unless
/// allowed by name; stream count and declared picture sizes are checked before any decoding.
pub(crate) fn open_input(
    path: &Path,
    limits: &Limits,
) -> Result<format::context::Input, MediaError> {
    init();
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => MediaError::InputNotFound {
            path: path.to_owned(),
        },
        _ => MediaError::io(path, e),
    })?;
    if meta.is_dir() {
        return Err(MediaError::InvalidInput {
            path: path.to_owned(),
            reason: "it is a directory".into(),
        });
    }
    if meta.len() == 0 {
        return Err(MediaError::InvalidInput {
            path: path.to_owned(),
            reason: "the file is empty".into(),
        });
    }
    let invalid = |reason: String| MediaError::InvalidInput {
        path: path.to_owned(),
        reason,
    };
    // `file:` so a name such as `concat:a|b` or `http://x` is a file name, never a protocol.
    let url = {
        use std::os::unix::ffi::OsStrExt;
        let mut bytes = b"file:".to_vec();
        bytes.extend_from_slice(path.as_os_str().as_bytes());
        CString::new(bytes).map_err(|_| invalid("the path contains a NUL byte".into()))?
    };
    let mut opts = ffmpeg::Dictionary::new();
    opts.set("protocol_whitelist", "file");
    opts.set("format_whitelist", &demuxer_whitelist(limits));
    // An allowed image2 reads exactly the named file, never a numbered sequence or a glob.
    opts.set("pattern_type", "none");
    // SAFETY: avformat_open_input either fills `ps` or frees it and leaves it NULL; the options
    // dictionary is ours again afterwards and is freed by `Dictionary::own`.
    let ps = unsafe {
        let mut ps = std::ptr::null_mut();
        let mut raw = opts.disown();
        let r = ffi::avformat_open_input(&mut ps, url.as_ptr(), std::ptr::null(), &mut raw);
        drop(ffmpeg::Dictionary::own(raw));
        if r < 0 {
            return Err(open_error(path, &url, limits, ffmpeg::Error::from(r)));
        }
        ps
    };
    // SAFETY: `ps` is an opened context; `wrap` takes ownership and closes it on drop.
    let ictx = unsafe { format::context::Input::wrap(ps) };
    let name = ictx.format().name().to_owned();
    if !limits.allows_format(&name) {
        return Err(refused(path, &name));
    }
    check_streams(path, &ictx, limits)?;
    // SAFETY: one options dictionary per stream, as avformat_find_stream_info expects; the
    // decoders it opens get the pixel limit, and the dictionaries are freed after the call.
    let r = unsafe {
        let n = (*ps).nb_streams as usize;
        let key = c"max_pixels";
        let value = CString::new(limits.decoder_max_pixels().to_string()).expect("digits");
        let mut dicts: Vec<*mut ffi::AVDictionary> = vec![std::ptr::null_mut(); n];
        for d in dicts.iter_mut() {
            ffi::av_dict_set(d, key.as_ptr(), value.as_ptr(), 0);
        }
        let r = ffi::avformat_find_stream_info(ps, dicts.as_mut_ptr());
        for d in dicts.iter_mut() {
            ffi::av_dict_free(d);
        }
        r
    };
    if r < 0 {
        return Err(invalid(ffmpeg::Error::from(r).to_string()));
    }
    // Some demuxers add streams while reading packets.
    check_streams(path, &ictx, limits)?;
    if ictx.nb_streams() == 0 {
        return Err(invalid("no audio or video streams".into()));
    }
    Ok(ictx)
}

fn check_streams(
    path: &Path,
    ictx: &format::context::Input,
    limits: &Limits,
) -> Result<(), MediaError> {
    limits.check_streams(path, ictx.nb_streams())?;
    for s in ictx.streams() {
        let par = s.parameters();
        if par.medium() == ffmpeg::media::Type::Video {
            // SAFETY: plain field reads through the parameters pointer.
            let (w, h) = unsafe { ((*par.as_ptr()).width, (*par.as_ptr()).height) };
            limits.check_picture(path, w.max(0) as u32, h.max(0) as u32)?;
        }
    }
    Ok(())
}

fn refused(path: &Path, format: &str) -> MediaError {
    let first = format.split(',').next().unwrap_or(format);
    MediaError::InvalidInput {
        path: path.to_owned(),
        reason: format!(
            "the detected format `{first}` reads other files or URLs; pass `--allow-format {first}` if that is intended"
        ),
    }
}

/// Every demuxer `limits` allows, as FFmpeg's `format_whitelist`.
fn demuxer_whitelist(limits: &Limits) -> String {
    let mut names = Vec::new();
    // SAFETY: av_demuxer_iterate walks FFmpeg's static demuxer table with an opaque cursor.
    unsafe {
        let mut opaque = std::ptr::null_mut();
        loop {
            let f = ffi::av_demuxer_iterate(&mut opaque);
            if f.is_null() {
                break;
            }
            let name = CStr::from_ptr((*f).name).to_string_lossy();
            if limits.allows_format(&name) {
                names.push(name.into_owned());
            }
        }
    }
    names.join(",")
}

/// Why an open failed: a refused demuxer (named by probing the file the way
/// avformat_open_input does), a permission problem, or unreadable media.
fn open_error(path: &Path, url: &CStr, limits: &Limits, e: ffmpeg::Error) -> MediaError {
    if let ffmpeg::Error::Other { errno: 13 } = e {
        return MediaError::io(path, std::io::Error::from_raw_os_error(13));
    }
    if let Some(name) = detect_format(url) {
        if !limits.allows_format(&name) {
            return refused(path, &name);
        }
    }
    MediaError::InvalidInput {
        path: path.to_owned(),
        reason: e.to_string(),
    }
}

/// The demuxer FFmpeg's probe picks for `url`, without opening it (no header is read).
fn detect_format(url: &CStr) -> Option<String> {
    // SAFETY: avio_open2 with a file-only whitelist; av_probe_input_buffer2 reads from it and
    // returns a static demuxer description; the I/O context is closed before returning.
    unsafe {
        let mut pb = std::ptr::null_mut();
        let mut opts = ffmpeg::Dictionary::new();
        opts.set("protocol_whitelist", "file");
        let mut raw = opts.disown();
        let r = ffi::avio_open2(
            &mut pb,
            url.as_ptr(),
            ffi::AVIO_FLAG_READ,
            std::ptr::null(),
            &mut raw,
        );
        drop(ffmpeg::Dictionary::own(raw));
        if r < 0 {
            return None;
        }
        let mut fmt = std::ptr::null();
        let r = ffi::av_probe_input_buffer2(pb, &mut fmt, url.as_ptr(), std::ptr::null_mut(), 0, 0);
        ffi::avio_closep(&mut pb);
        (r >= 0 && !fmt.is_null())
            .then(|| CStr::from_ptr((*fmt).name).to_string_lossy().into_owned())
    }
}

/// Caps the picture size a decoder will allocate (FFmpeg's `max_pixels`).
pub(crate) fn set_decoder_max_pixels(ctx: &mut ffmpeg::codec::Context, limits: &Limits) {
    // SAFETY: plain field write on a context we own, before it is opened.
    unsafe { (*ctx.as_mut_ptr()).max_pixels = limits.decoder_max_pixels() }
}

/// Human name of a codec profile (`High`, `LC`), if FFmpeg knows one.
pub(crate) fn profile_name(id: ffmpeg::codec::Id, profile: i32) -> Option<String> {
    // SAFETY: avcodec_profile_name returns a static string or NULL.
    unsafe {
        let p = ffi::avcodec_profile_name(id.into(), profile);
        (!p.is_null()).then(|| CStr::from_ptr(p).to_string_lossy().into_owned())
    }
}

/// Channel layout facts read from codec parameters: count and FFmpeg's description (`5.1(side)`).
pub(crate) fn channel_layout(par: &ffmpeg::codec::Parameters) -> (u32, Option<String>) {
    // SAFETY: the parameters pointer is valid for the borrow; ch_layout exists since FFmpeg 5.1.
    unsafe {
        let layout = &(*par.as_ptr()).ch_layout;
        let channels = layout.nb_channels.max(0) as u32;
        if layout.order == ffi::AVChannelOrder::AV_CHANNEL_ORDER_UNSPEC {
            return (channels, None);
        }
        (channels, describe_layout(layout))
    }
}

/// A layout string that abuffer/aformat accept for `channels` channels: the input's own layout
/// when it is known, else FFmpeg's default layout for that count.
pub(crate) fn layout_for(described: Option<&str>, channels: u32) -> String {
    if let Some(d) = described {
        return d.to_owned();
    }
    // SAFETY: av_channel_layout_default fills a stack AVChannelLayout; describe reads it.
    unsafe {
        let mut layout: ffi::AVChannelLayout = std::mem::zeroed();
        ffi::av_channel_layout_default(&mut layout, channels as i32);
        let s = describe_layout(&layout).unwrap_or_else(|| format!("{channels}c"));
        ffi::av_channel_layout_uninit(&mut layout);
        s
    }
}

unsafe fn describe_layout(layout: *const ffi::AVChannelLayout) -> Option<String> {
    let mut buf = [0 as std::os::raw::c_char; 128];
    let n = ffi::av_channel_layout_describe(layout, buf.as_mut_ptr(), buf.len());
    (n > 0).then(|| CStr::from_ptr(buf.as_ptr()).to_string_lossy().into_owned())
}

/// Sets an encoder's channel layout from a layout string (`stereo`, `5.1`).
pub(crate) fn set_encoder_layout(
    enc: &mut ffmpeg::codec::encoder::audio::Audio,
    layout: &str,
) -> Result<(), ffmpeg::Error> {
    let c = CString::new(layout).map_err(|_| ffmpeg::Error::InvalidData)?;
    // SAFETY: the context pointer is valid and owned by `enc`; the old layout is released first.
    unsafe {
        let ctx = enc.as_mut_ptr();
        ffi::av_channel_layout_uninit(&mut (*ctx).ch_layout);
        let r = ffi::av_channel_layout_from_string(&mut (*ctx).ch_layout, c.as_ptr());
        if r < 0 {
            return Err(ffmpeg::Error::from(r));
        }
    }
    Ok(())
}

/// Channel layouts an audio encoder supports, as strings, or None when it takes any.
pub(crate) fn encoder_layouts(codec: &ffmpeg::Codec) -> Option<Vec<(u32, String)>> {
    // SAFETY: ch_layouts is NULL or an array terminated by a zeroed layout (nb_channels == 0).
    unsafe {
        #[allow(deprecated)]
        let mut p = (*codec.as_ptr()).ch_layouts;
        if p.is_null() {
            return None;
        }
        let mut out = Vec::new();
        while (*p).nb_channels != 0 {
            if let Some(d) = describe_layout(p) {
                out.push(((*p).nb_channels as u32, d));
            }
            p = p.add(1);
        }
        Some(out)
    }
}

/// Tells the decoder the packet time base so frame timestamps come out in it.
pub(crate) fn set_packet_time_base(ctx: &mut ffmpeg::codec::Context, tb: Rational) {
    // SAFETY: plain field write on a context we own.
    unsafe { (*ctx.as_mut_ptr()).pkt_timebase = tb.into() }
}

/// Clears the codec tag so a copied stream can go into a different container.
pub(crate) fn clear_codec_tag(stream: &mut format::stream::StreamMut) {
    // SAFETY: codecpar is valid for the stream's lifetime.
    unsafe { (*(*stream.as_mut_ptr()).codecpar).codec_tag = 0 }
}

/// What a configured buffersink will output.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SinkFormat {
    pub width: u32,
    pub height: u32,
    pub sample_aspect_ratio: Rational,
    pub time_base: Rational,
    pub frame_rate: Rational,
}

pub(crate) fn sink_format(ctx: &mut filter::Context) -> SinkFormat {
    // SAFETY: the graph is configured (validate() succeeded), so the sink's input link is set.
    unsafe {
        let p = ctx.as_mut_ptr();
        SinkFormat {
            width: ffi::av_buffersink_get_w(p).max(0) as u32,
            height: ffi::av_buffersink_get_h(p).max(0) as u32,
            sample_aspect_ratio: ffi::av_buffersink_get_sample_aspect_ratio(p).into(),
            time_base: ffi::av_buffersink_get_time_base(p).into(),
            frame_rate: ffi::av_buffersink_get_frame_rate(p).into(),
        }
    }
}

/// The display rotation a player applies, clockwise degrees in [0, 360), from a display matrix.
pub(crate) fn stream_rotation(stream: &format::stream::Stream) -> Option<f64> {
    for sd in stream.side_data() {
        if sd.kind() == ffmpeg::codec::packet::side_data::Type::DisplayMatrix
            && sd.data().len() >= 36
        {
            // SAFETY: a display matrix is nine int32 values; we checked the length.
            let r = unsafe { ffi::av_display_rotation_get(sd.data().as_ptr() as *const i32) };
            if r.is_nan() {
                return None;
            }
            let theta = (-r).round();
            return Some(theta - 360.0 * (theta / 360.0).floor());
        }
    }
    None
}

/// Copies the display matrix (rotation) of `from` onto the output stream `to`.
pub(crate) fn copy_display_matrix(
    from: &format::stream::Stream,
    to: &mut format::stream::StreamMut,
) {
    for sd in from.side_data() {
        if sd.kind() != ffmpeg::codec::packet::side_data::Type::DisplayMatrix {
            continue;
        }
        let data = sd.data();
        // SAFETY: the new side data buffer has `data.len()` bytes; we copy exactly that many.
        unsafe {
            #[cfg(not(ffmpeg_7_0))]
            #[allow(deprecated)]
            let dst = ffi::av_stream_new_side_data(
                to.as_mut_ptr(),
                ffi::AVPacketSideDataType::AV_PKT_DATA_DISPLAYMATRIX,
                data.len(),
            );
            #[cfg(ffmpeg_7_0)]
            let dst = {
                let par = (*to.as_mut_ptr()).codecpar;
                let sd = ffi::av_packet_side_data_new(
                    &mut (*par).coded_side_data,
                    &mut (*par).nb_coded_side_data,
                    ffi::AVPacketSideDataType::AV_PKT_DATA_DISPLAYMATRIX,
                    data.len(),
                    0,
                );
                if sd.is_null() {
                    std::ptr::null_mut()
                } else {
                    (*sd).data
                }
            };
            if !dst.is_null() {
                std::ptr::copy_nonoverlapping(data.as_ptr(), dst, data.len());
            }
        }
    }
}

/// Names of all encoders for a media type, sorted, for "available encoders" help.
pub(crate) fn encoder_names(kind: ffmpeg::media::Type) -> Vec<String> {
    init();
    let mut names = Vec::new();
    // SAFETY: av_codec_iterate walks FFmpeg's static codec table with an opaque cursor.
    unsafe {
        let mut opaque = std::ptr::null_mut();
        loop {
            let c = ffi::av_codec_iterate(&mut opaque);
            if c.is_null() {
                break;
            }
            if ffi::av_codec_is_encoder(c) != 0 && ffmpeg::media::Type::from((*c).type_) == kind {
                names.push(CStr::from_ptr((*c).name).to_string_lossy().into_owned());
            }
        }
    }
    names.sort();
    names
}

/// An empty frame of any media type, to receive into.
pub(crate) fn new_frame() -> ffmpeg::Frame {
    // SAFETY: av_frame_alloc; the frame is owned and freed by the wrapper.
    unsafe { ffmpeg::Frame::empty() }
}

/// A new reference to `frame`'s buffers (no pixels are copied), to hand the same decoded picture
/// to several threads.
pub(crate) fn share_frame(frame: &ffmpeg::Frame) -> Result<ffmpeg::Frame, ffmpeg::Error> {
    let mut shared = new_frame();
    // SAFETY: both frames are valid and owned; av_frame_ref fills the empty `shared` with new
    // references to `frame`'s buffers and copies its properties.
    match unsafe { ffi::av_frame_ref(shared.as_mut_ptr(), frame.as_ptr()) } {
        0 => Ok(shared),
        e => Err(ffmpeg::Error::from(e)),
    }
}

/// Clears the picture type so the encoder picks its own key frames rather than copying the input's.
pub(crate) fn clear_picture_type(frame: &mut ffmpeg::Frame) {
    // SAFETY: plain field write on a frame we own.
    unsafe { (*frame.as_mut_ptr()).pict_type = ffi::AVPictureType::AV_PICTURE_TYPE_NONE }
}

/// Name of a pixel format given as the raw integer from codec parameters.
pub(crate) fn pixel_format_name(fmt: i32) -> Option<String> {
    if !(0..ffi::AVPixelFormat::AV_PIX_FMT_NB as i32).contains(&fmt) {
        return None;
    }
    // SAFETY: checked to be within the enum's range above; unknown formats give NULL.
    unsafe {
        let d = ffi::av_pix_fmt_desc_get(std::mem::transmute::<i32, ffi::AVPixelFormat>(fmt));
        (!d.is_null()).then(|| CStr::from_ptr((*d).name).to_string_lossy().into_owned())
    }
}

/// Name of a sample format given as the raw integer from codec parameters.
pub(crate) fn sample_format_name(fmt: i32) -> Option<String> {
    if !(0..ffi::AVSampleFormat::AV_SAMPLE_FMT_NB as i32).contains(&fmt) {
        return None;
    }
    // SAFETY: checked to be within the enum's range above.
    unsafe {
        let p = ffi::av_get_sample_fmt_name(std::mem::transmute::<i32, ffi::AVSampleFormat>(fmt));
        (!p.is_null()).then(|| CStr::from_ptr(p).to_string_lossy().into_owned())
    }
}

/// The sample aspect ratio FFmpeg itself would use for a stream (container value first, then
/// codec); 1:1 when unknown.
pub(crate) fn stream_sar(stream: &format::stream::Stream) -> Rational {
    // SAFETY: av_guess_sample_aspect_ratio only reads the stream and its codecpar (format may be NULL).
    let r: Rational = unsafe {
        ffi::av_guess_sample_aspect_ratio(
            std::ptr::null_mut(),
            stream.as_ptr() as *mut _,
            std::ptr::null_mut(),
        )
        .into()
    };
    known(r).unwrap_or(Rational(1, 1))
}

/// A rate or ratio that is set: both terms positive (FFmpeg writes 0/0 or 0/1 for unknown).
pub(crate) fn known(r: Rational) -> Option<Rational> {
    (r.numerator() > 0 && r.denominator() > 0).then_some(r)
}

/// Sets the container-level sample aspect ratio of an output stream.
pub(crate) fn set_stream_sar(stream: &mut format::stream::StreamMut, sar: Rational) {
    // SAFETY: plain field write on a stream owned by the output context.
    unsafe { (*stream.as_mut_ptr()).sample_aspect_ratio = sar.into() }
}

/// Whether the muxer can store `id` without re-encoding (FFmpeg's own compatibility table).
pub(crate) fn muxer_accepts(muxer: &str, id: ffmpeg::codec::Id) -> bool {
    let Ok(name) = CString::new(muxer) else {
        return false;
    };
    // SAFETY: av_guess_format returns a static muxer description or NULL.
    unsafe {
        let fmt = ffi::av_guess_format(name.as_ptr(), std::ptr::null(), std::ptr::null());
        !fmt.is_null() && ffi::avformat_query_codec(fmt, id.into(), ffi::FF_COMPLIANCE_NORMAL) == 1
    }
}

/// Tells the demuxer to drop every stream but `keep` (no decoding, less parsing).
pub(crate) fn discard_other_streams(ictx: &mut format::context::Input, keep: usize) {
    // SAFETY: the streams array has nb_streams valid entries for the context's lifetime.
    unsafe {
        let ctx = ictx.as_mut_ptr();
        for i in 0..(*ctx).nb_streams as usize {
            if i != keep {
                (**(*ctx).streams.add(i)).discard = ffi::AVDiscard::AVDISCARD_ALL;
            }
        }
    }
}

/// Adds filter `name` to `graph` under `label`: a missing filter is `FilterNotFound`.
pub(crate) fn add_filter(
    graph: &mut filter::Graph,
    name: &str,
    label: &str,
    args: &str,
) -> Result<(), ffmpeg::Error> {
    let f = filter::find(name).ok_or(ffmpeg::Error::FilterNotFound)?;
    graph.add(&f, label, args).map(|_| ())
}

/// A filter graph from a source (`buffer` or `abuffer`, given `args`) through `chain` to a sink
/// (`buffersink` or `abuffersink`), labelled `in` and `out`, configured.
pub(crate) fn chain_graph(
    audio: bool,
    args: &str,
    chain: &str,
) -> Result<filter::Graph, ffmpeg::Error> {
    let (source, sink) = if audio {
        ("abuffer", "abuffersink")
    } else {
        ("buffer", "buffersink")
    };
    let mut graph = filter::Graph::new();
    add_filter(&mut graph, source, "in", args)?;
    add_filter(&mut graph, sink, "out", "")?;
    graph
        .output("in", 0)
        .and_then(|p| p.input("out", 0))
        .and_then(|p| p.parse(chain))?;
    graph.validate()?;
    Ok(graph)
}

/// Marks a frame as a key frame the encoder must honour (an IDR for x264 with `forced-idr`), or
/// lets the encoder decide.
pub(crate) fn force_key_picture(frame: &mut ffmpeg::Frame, key: bool) {
    // SAFETY: plain field write on a frame we own.
    unsafe {
        (*frame.as_mut_ptr()).pict_type = if key {
            ffi::AVPictureType::AV_PICTURE_TYPE_I
        } else {
            ffi::AVPictureType::AV_PICTURE_TYPE_NONE
        }
    }
}

/// Declares an output stream's bit rate (what manifests advertise, e.g. HLS `BANDWIDTH`)
/// without touching the encoder's rate control.
pub(crate) fn set_stream_bit_rate(stream: &mut format::stream::StreamMut, bits: u64) {
    // SAFETY: codecpar is valid for the stream's lifetime; plain field write.
    unsafe { (*(*stream.as_mut_ptr()).codecpar).bit_rate = i64::try_from(bits).unwrap_or(i64::MAX) }
}

/// Feeds `frame` to the buffer source named `in` of `graph`.
pub(crate) fn push_frame(
    graph: &mut filter::Graph,
    frame: &ffmpeg::Frame,
    path: &Path,
) -> Result<(), MediaError> {
    graph
        .get("in")
        .expect("source was added")
        .source()
        .add(frame)
        .map_err(|e| MediaError::ffmpeg("filter", path, e))
}

/// Signals the end of the input to the buffer source named `in` of `graph`.
pub(crate) fn flush_graph(graph: &mut filter::Graph, path: &Path) -> Result<(), MediaError> {
    graph
        .get("in")
        .expect("source was added")
        .source()
        .flush()
        .map_err(|e| MediaError::ffmpeg("filter", path, e))
}
