//! `package`'s HLS playlists made VOD-clean: FFmpeg's `dash` muxer stamps every segment of a
//! media playlist with the wall-clock time it wrote it (`#EXT-X-PROGRAM-DATE-TIME`), which claims
//! the video was recorded at packaging time and makes two packagings of one upload differ. The
//! stamps are dropped, so the same input packages to the same bytes.
use std::path::Path;

use crate::MediaError;

const STAMP: &str = "#EXT-X-PROGRAM-DATE-TIME:";

/// Removes the program date-time lines from every `.m3u8` file in `dir` (the staged output).
pub(crate) fn strip_dates(dir: &Path) -> Result<(), MediaError> {
    let entries = std::fs::read_dir(dir).map_err(|e| MediaError::io(dir, e))?;
    for entry in entries {
        let path = entry.map_err(|e| MediaError::io(dir, e))?.path();
        if path.extension().and_then(|e| e.to_str()) != Some("m3u8") {
            continue;
        }
        let text = std::fs::read_to_string(&path).map_err(|e| MediaError::io(&path, e))?;
        if let Some(clean) = without_dates(&text) {
            std::fs::write(&path, clean).map_err(|e| MediaError::io(&path, e))?;
        }
    }
    Ok(())
}

/// The playlist without its date-time lines; `None` when it has none.
fn without_dates(text: &str) -> Option<String> {
    if !text.contains(STAMP) {
        return None;
    }
    Some(
        text.split_inclusive('\n')
            .filter(|line| !line.starts_with(STAMP))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_only_the_date_lines() {
        let text = "#EXTM3U\n#EXT-X-MAP:URI=\"init-stream0.m4s\"\n#EXTINF:4.000000,\n\
                    #EXT-X-PROGRAM-DATE-TIME:2026-12-03T21:37:56.000+0000\nchunk-stream0-00001.m4s\n\
                    #EXT-X-ENDLIST\n";
        assert_eq!(
            without_dates(text).unwrap(),
            "#EXTM3U\n#EXT-X-MAP:URI=\"init-stream0.m4s\"\n#EXTINF:4.000000,\n\
             chunk-stream0-00001.m4s\n#EXT-X-ENDLIST\n"
        );
        assert_eq!(without_dates("#EXTM3U\nmedia_0.m3u8\n"), None);
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
        strip_dates(dir.path()).unwrap();
        assert_eq!(std::fs::read_to_string(&media).unwrap(), "#EXTM3U\na.m4s\n");
        assert!(std::fs::read_to_string(&other).unwrap().contains(STAMP));
        let e = strip_dates(&dir.path().join("missing")).unwrap_err();
        assert!(e.to_string().contains("missing"), "{e}");
    }
}
