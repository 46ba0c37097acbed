//! How fast an engine pulls a parent it did not build from the registry (`--pull-rate`).

use std::fmt;
use std::str::FromStr;

/// Bytes per second; never zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PullRate(u64);

/// What `plan --simulate` assumes without `--pull-rate`: a 1 Gbit/s link to the registry, a
/// little under its line rate.
pub const DEFAULT_PULL_RATE: PullRate = PullRate(100_000_000);

impl PullRate {
    pub fn bytes_per_second(self) -> u64 {
        self.0
    }

    /// Tenths of a second to move `bytes`, rounded up.
    pub fn tenths_for(self, bytes: u64) -> u64 {
        (bytes as u128 * 10).div_ceil(self.0 as u128) as u64
    }
}

impl FromStr for PullRate {
    type Err = String;

    /// `100MB/s`, `1GB/s`, `50MiB/s` (the `/s` may be left out).
    fn from_str(text: &str) -> Result<PullRate, String> {
        let size = text.trim().strip_suffix("/s").unwrap_or(text.trim());
        let bytes = crate::units::parse_size(size)
            .map_err(|_| format!("`{text}` is not a transfer rate (e.g. `100MB/s`, `1GB/s`)"))?;
        if bytes == 0 {
            return Err(format!(
                "`{text}` is no transfer at all; give a rate above zero"
            ));
        }
        Ok(PullRate(bytes))
    }
}

impl fmt::Display for PullRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/s", crate::units::show_size(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_read_like_sizes_per_second() {
        assert_eq!("100MB/s".parse(), Ok(DEFAULT_PULL_RATE));
        assert_eq!(
            "1GB".parse::<PullRate>().unwrap().bytes_per_second(),
            1_000_000_000
        );
        assert!("0MB/s".parse::<PullRate>().is_err());
        assert!("fast".parse::<PullRate>().is_err());
        assert_eq!(
            DEFAULT_PULL_RATE.tenths_for(136_489_497),
            14,
            "1.4 s for the bookworm base"
        );
        assert_eq!(DEFAULT_PULL_RATE.to_string(), "100.0 MB/s");
    }
}
