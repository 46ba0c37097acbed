//! `package`'s HLS playlists made VOD-clean. FFmpeg's `dash` muxer stamps every segment of a
//! media playlist with the wall-clock time it wrote it (`#EXT-X-PROGRAM-DATE-TIME`), which claims
//! the video was recorded at packaging time and makes two packagings of one upload differ: the
//! stamps are dropped, and each finished media playlist is typed `#EXT-X-PLAYLIST-TYPE:VOD`. Its master playlist declares each variant's `BANDWIDTH` from the encoder's
//! cap, but a VBV-capped segment may run above the cap (the buffer drains), and RFC 8216 wants
//! the peak segment bit rate of a finished VOD variant: it becomes the measured peak wherever
//! that is higher, and the master gains `FRAME-RATE` and `#EXT-X-INDEPENDENT-SEGMENTS` (every
//! segment starts on a key frame), as Apple's authoring rules ask.
use std::path::Path;

use crate::MediaError;

const STAMP: &str = "#EXT-X-PROGRAM-DATE-TIME:";
const INDEPENDENT: &str = "#EXT-X-INDEPENDENT-SEGMENTS";
const VARIANT: &str = "#EXT-X-STREAM-INF:";
const ENDLIST: &str = "#EXT-X-ENDLIST";
const PLAYLIST_TYPE: &str = "#EXT-X-PLAYLIST-TYPE:";

/// Finishes the HLS playlists in `dir` (the staged output): dates dropped from every playlist,
/// and the master `master` declaring what was written (`frame_rate`: every rung's).
pub(crate) fn finish(dir: &Path, master: &str, frame_rate: f64) -> Result<(), MediaError> {
    vod_playlists(dir)?;
    let path = dir.join(master);
    let text = std::fs::read_to_string(&path).map_err(|e| MediaError::io(&path, e))?;
    let audio_peak = match audio_playlist(&text) {
        Some(uri) => peak_bit_rate(dir, uri)?,
        None => 0,
    };
    let mut out = String::with_capacity(text.len() + 256);
    let mut lines = text.split_inclusive('\n').peekable();
    while let Some(line) = lines.next() {
        if let Some(attributes) = line.trim_end().strip_prefix(VARIANT) {
            let uri = lines.peek().map_or("", |l| l.trim());
            let peak = peak_bit_rate(dir, uri)? + audio_peak;
            out.push_str(VARIANT);
            out.push_str(&declared(attributes, peak, frame_rate));
            out.push('\n');
            continue;
        }
        out.push_str(line);
        if line.starts_with("#EXT-X-VERSION:") && !text.contains(INDEPENDENT) {
            out.push_str(INDEPENDENT);
            out.push('\n');
        }
    }
    if out != text {
        std::fs::write(&path, out).map_err(|e| MediaError::io(&path, e))?;
    }
    Ok(())
}

/// The `URI` of the master's audio rendition, if it has one.
fn audio_playlist(master: &str) -> Option<&str> {
    master
        .lines()
        .filter(|l| l.starts_with("#EXT-X-MEDIA:") && l.contains("TYPE=AUDIO"))
        .find_map(|l| {
            l.split_once("URI=\"")?
                .1
                .split_once('"')
                .map(|(uri, _)| uri)
        })
}

/// A variant's attribute list with `BANDWIDTH` raised to `peak` where that is higher and
/// `FRAME-RATE` added when missing.
fn declared(attributes: &str, peak: u64, frame_rate: f64) -> String {
    let mut out: Vec<String> = Vec::new();
    for attribute in split_attributes(attributes) {
        match attribute.split_once('=') {
            Some(("BANDWIDTH", v)) => {
                let cap = v.parse::<u64>().unwrap_or(0);
                out.push(format!("BANDWIDTH={}", cap.max(peak)));
            }
            _ => out.push(attribute.to_string()),
        }
    }
    if !out.iter().any(|a| a.starts_with("FRAME-RATE=")) && frame_rate > 0.0 {
        let at = out
            .iter()
            .position(|a| a.starts_with("CODECS="))
            .map_or(out.len(), |i| i + 1);
        out.insert(at, format!("FRAME-RATE={frame_rate:.3}"));
    }
    out.join(",")
}

/// An attribute list split at the commas outside quoted strings.
fn split_attributes(list: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted) = (0, false);
    for (i, c) in list.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(&list[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&list[start..]);
    parts.into_iter().filter(|p| !p.is_empty()).collect()
}

/// The highest bit rate (rounded up) of any media segment of the media playlist `uri` in
/// `dir`: its file's size over its `#EXTINF` duration. A playlist that is not there counts 0.
fn peak_bit_rate(dir: &Path, uri: &str) -> Result<u64, MediaError> {
    if uri.is_empty() || uri.contains('/') {
        return Ok(0);
    }
    let path = dir.join(uri);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(MediaError::io(&path, e)),
    };
    let mut peak = 0u64;
    let mut duration: Option<f64> = None;
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("#EXTINF:") {
            duration = rest.split(',').next().and_then(|d| d.parse().ok());
        } else if !line.is_empty() && !line.starts_with('#') {
            if let Some(seconds) = duration.take().filter(|d| *d > 0.0) {
                let segment = dir.join(line);
                let bytes = std::fs::metadata(&segment)
                    .map_err(|e| MediaError::io(&segment, e))?
                    .len();
                peak = peak.max((bytes as f64 * 8.0 / seconds).ceil() as u64);
            }
        }
    }
    Ok(peak)
}

/// Makes every `.m3u8` file in `dir` (the staged output) a VOD playlist: without program
/// date-time lines, and a finished media playlist typed `#EXT-X-PLAYLIST-TYPE:VOD`.
fn vod_playlists(dir: &Path) -> Result<(), MediaError> {
    let entries = std::fs::read_dir(dir).map_err(|e| MediaError::io(dir, e))?;
    for entry in entries {
        let path = entry.map_err(|e| MediaError::io(dir, e))?.path();
        if path.extension().and_then(|e| e.to_str()) != Some("m3u8") {
            continue;
        }
        let text = std::fs::read_to_string(&path).map_err(|e| MediaError::io(&path, e))?;
        if let Some(clean) = as_vod(&text) {
            std::fs::write(&path, clean).map_err(|e| MediaError::io(&path, e))?;
        }
    }
    Ok(())
}

/// The playlist without its date-time lines and, when it is finished (`#EXT-X-ENDLIST`) and
/// untyped, typed VOD after its version line; `None` when nothing changes.
fn as_vod(text: &str) -> Option<String> {
    let typed = !text.contains(ENDLIST) || text.contains(PLAYLIST_TYPE);
    if typed && !text.contains(STAMP) {
        return None;
    }
    let mut out = String::with_capacity(text.len() + 32);
    let mut pending = !typed;
    let after = if text.contains("#EXT-X-VERSION:") {
        "#EXT-X-VERSION:"
    } else {
        "#EXTM3U"
    };
    for line in text.split_inclusive('\n') {
        if line.starts_with(STAMP) {
            continue;
        }
        out.push_str(line);
        if pending && line.starts_with(after) {
            out.push_str(PLAYLIST_TYPE);
            out.push_str("VOD\n");
            pending = false;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_the_date_lines_and_types_a_finished_playlist_vod() {
        let text = "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:4\n\
                    #EXT-X-MAP:URI=\"init-stream0.m4s\"\n#EXTINF:4.000000,\n\
                    #EXT-X-PROGRAM-DATE-TIME:2026-12-03T21:37:56.000+0000\nchunk-stream0-00001.m4s\n\
                    #EXT-X-ENDLIST\n";
        let vod = as_vod(text).unwrap();
        assert_eq!(
            vod,
            "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-TARGETDURATION:4\n\
             #EXT-X-MAP:URI=\"init-stream0.m4s\"\n#EXTINF:4.000000,\n\
             chunk-stream0-00001.m4s\n#EXT-X-ENDLIST\n"
        );
        assert_eq!(as_vod(&vod), None);
        // Without a version line the type follows the header; a master is left alone.
        assert_eq!(
            as_vod("#EXTM3U\na.m4s\n#EXT-X-ENDLIST\n").unwrap(),
            "#EXTM3U\n#EXT-X-PLAYLIST-TYPE:VOD\na.m4s\n#EXT-X-ENDLIST\n"
        );
        assert_eq!(as_vod("#EXTM3U\nmedia_0.m3u8\n"), None);
    }

    #[test]
    fn rewrites_the_playlists_of_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        let media = dir.path().join("media_0.m3u8");
        std::fs::write(
            &media,
            format!("#EXTM3U\n{STAMP}2026-01-01T00:00:00.000+0000\na.m4s\n"),
        )
        .unwrap();
        let other = dir.path().join("storyboard.vtt");
        std::fs::write(&other, format!("WEBVTT\n{STAMP}kept\n")).unwrap();
        vod_playlists(dir.path()).unwrap();
        assert_eq!(std::fs::read_to_string(&media).unwrap(), "#EXTM3U\na.m4s\n");
        assert!(std::fs::read_to_string(&other).unwrap().contains(STAMP));
        let e = vod_playlists(&dir.path().join("missing")).unwrap_err();
        assert!(e.to_string().contains("missing"), "{e}");
    }

    /// A master as FFmpeg's `dash` muxer writes it, over two variants and one audio rendition.
    const MASTER: &str = "#EXTM3U\n#EXT-X-VERSION:7\n\
        #EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"group_A1\",NAME=\"audio_2\",DEFAULT=YES,URI=\"media_2.m3u8\"\n\
        #EXT-X-STREAM-INF:BANDWIDTH=3132408,RESOLUTION=1280x720,CODECS=\"avc1.64001f,mp4a.40.2\",AUDIO=\"group_A1\"\n\
        media_0.m3u8\n\n\
        #EXT-X-STREAM-INF:BANDWIDTH=932168,RESOLUTION=640x360,CODECS=\"avc1.64001e,mp4a.40.2\",AUDIO=\"group_A1\"\n\
        media_1.m3u8\n\n";

    fn media(dir: &Path, name: &str, segments: &[(f64, usize)]) {
        let mut text = String::from("#EXTM3U\n#EXT-X-MAP:URI=\"init.m4s\"\n");
        for (i, (seconds, bytes)) in segments.iter().enumerate() {
            let file = format!("{name}-{i}.m4s");
            std::fs::write(dir.join(&file), vec![0u8; *bytes]).unwrap();
            text.push_str(&format!("#EXTINF:{seconds:.6},\n{file}\n"));
        }
        text.push_str("#EXT-X-ENDLIST\n");
        std::fs::write(dir.join(name), text).unwrap();
    }

    #[test]
    fn the_master_declares_the_measured_peak_where_it_is_above_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        // 720p: 1,760,000 bytes over 4 s is 3,520,000 bit/s, above its 3,000,000 cap.
        media(
            dir.path(),
            "media_0.m3u8",
            &[(4.0, 1_760_000), (1.0, 100_000)],
        );
        // 360p: under its cap.
        media(dir.path(), "media_1.m3u8", &[(4.0, 300_000), (1.0, 50_000)]);
        // Audio: 60,000 bytes over 3 s is 160,000 bit/s.
        media(dir.path(), "media_2.m3u8", &[(3.0, 60_000), (2.0, 10_000)]);
        std::fs::write(dir.path().join("master.m3u8"), MASTER).unwrap();
        finish(dir.path(), "master.m3u8", 30000.0 / 1001.0).unwrap();
        let master = std::fs::read_to_string(dir.path().join("master.m3u8")).unwrap();
        assert_eq!(
            master,
            "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n\
             #EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"group_A1\",NAME=\"audio_2\",DEFAULT=YES,URI=\"media_2.m3u8\"\n\
             #EXT-X-STREAM-INF:BANDWIDTH=3680000,RESOLUTION=1280x720,CODECS=\"avc1.64001f,mp4a.40.2\",FRAME-RATE=29.970,AUDIO=\"group_A1\"\n\
             media_0.m3u8\n\n\
             #EXT-X-STREAM-INF:BANDWIDTH=932168,RESOLUTION=640x360,CODECS=\"avc1.64001e,mp4a.40.2\",FRAME-RATE=29.970,AUDIO=\"group_A1\"\n\
             media_1.m3u8\n\n"
        );
        // Finishing twice changes nothing more.
        finish(dir.path(), "master.m3u8", 30000.0 / 1001.0).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("master.m3u8")).unwrap(),
            master
        );
    }

    #[test]
    fn a_missing_segment_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        media(dir.path(), "media_0.m3u8", &[(4.0, 1000)]);
        std::fs::remove_file(dir.path().join("media_0.m3u8-0.m4s")).unwrap();
        let e = peak_bit_rate(dir.path(), "media_0.m3u8").unwrap_err();
        assert!(e.to_string().contains("media_0.m3u8-0.m4s"), "{e}");
        assert_eq!(peak_bit_rate(dir.path(), "absent.m3u8").unwrap(), 0);
        assert_eq!(peak_bit_rate(dir.path(), "../media_0.m3u8").unwrap(), 0);
    }

    #[test]
    fn attributes_split_outside_quotes() {
        assert_eq!(
            split_attributes("BANDWIDTH=1,CODECS=\"a,b\",AUDIO=\"x\""),
            ["BANDWIDTH=1", "CODECS=\"a,b\"", "AUDIO=\"x\""]
        );
    }
}
