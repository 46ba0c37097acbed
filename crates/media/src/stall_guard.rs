//! Bounds the retries of a decode loop: damaged packets and frames are skipped like the ffmpeg
//! CLI does, but a run of failures with nothing decoded in between stops with `invalid_input`
//! instead of spinning on a file that will never yield anything.
use std::path::Path;

use ffmpeg::{format, Packet};
use ffmpeg_next as ffmpeg;

use crate::MediaError;

/// Counts failures in a row; a packet read or a frame decoded resets it.
#[derive(Debug, Clone)]
pub(crate) struct StallGuard {
    failures: u32,
    limit: u32,
}

impl StallGuard {
    /// Failures in a row that mean "this will not get better".
    pub(crate) const LIMIT: u32 = 1000;

    pub(crate) fn new() -> Self {
        StallGuard {
            failures: 0,
            limit: Self::LIMIT,
        }
    }

    /// Records a skipped failure (`what`: "read", "decode"); errs once too many came in a row.
    pub(crate) fn failed(&mut self, path: &Path, what: &str) -> Result<(), MediaError> {
        self.failures += 1;
        if self.failures > self.limit {
            return Err(MediaError::InvalidInput {
                path: path.to_owned(),
                reason: format!(
                    "{} {what} errors in a row with nothing decoded in between",
                    self.failures
                ),
            });
        }
        Ok(())
    }

    /// Something came out: the count starts again.
    pub(crate) fn progressed(&mut self) {
        self.failures = 0;
    }

    /// Reads the next packet of `ictx` into `packet`: true when one was read, false at the
    /// end. A damaged packet is skipped (and counted) and the next one read.
    pub(crate) fn read(
        &mut self,
        ictx: &mut format::context::Input,
        packet: &mut Packet,
        path: &Path,
    ) -> Result<bool, MediaError> {
        loop {
            match packet.read(ictx) {
                Ok(()) => {
                    self.progressed();
                    return Ok(true);
                }
                Err(ffmpeg::Error::Eof) => return Ok(false),
                Err(ffmpeg::Error::InvalidData) => self.failed(path, "read")?,
                Err(e) => return Err(MediaError::ffmpeg("read", path, e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_of_failures_stops_and_progress_resets_it() {
        let path = Path::new("x.mp4");
        let mut g = StallGuard {
            failures: 0,
            limit: 3,
        };
        for _ in 0..3 {
            g.failed(path, "read").unwrap();
        }
        g.progressed();
        for _ in 0..3 {
            g.failed(path, "read").unwrap();
        }
        let err = g.failed(path, "read").unwrap_err();
        assert_eq!(err.kind(), "invalid_input");
        assert_eq!(
            err.to_string(),
            "input `x.mp4` is not readable media: 4 read errors in a row with nothing decoded in between"
        );
    }
}
