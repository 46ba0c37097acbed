//! Human units in stack files and flags: sizes (`600MB`, `512m`, `2GiB`) and durations
//! (`30s`, `5m`, `1h`, or plain seconds).

use std::time::Duration;

/// Parses a size: a number with an optional unit (`B`, `K/KB`, `M/MB`, `G/GB` are powers of
/// 1000; `KiB`, `MiB`, `GiB` and the one-letter lowercase forms `k`, `m`, `g` are powers of 1024,
/// as in `docker run --memory`).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("`{text}` is not a size (e.g. `600MB`, `512m`, `2GiB`)"))?;
    let mult: f64 = match unit.trim() {
        "" | "B" | "b" => 1.0,
        "KB" | "kB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "K" | "k" | "KiB" => 1024.0,
        "M" | "m" | "MiB" => 1024.0 * 1024.0,
        "G" | "g" | "GiB" => 1024.0 * 1024.0 * 1024.0,
        other => {
            return Err(format!(
            "unknown size unit `{other}` in `{text}`; use B, KB, MB, GB, KiB, MiB, GiB, k, m or g"
        ))
        }
    };
    Ok((n * mult).round() as u64)
}

/// Parses a duration: `90`, `90s`, `5m`, `1h`, `1.5m`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("`{text}` is not a duration (e.g. `30s`, `5m`)"))?;
    let secs = match unit {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        other => {
            return Err(format!(
                "unknown duration unit `{other}` in `{text}`; use ms, s, m or h"
            ))
        }
    };
    // `from_secs_f64` panics past `u64::MAX` seconds; such a duration is a mistake, not a wait.
    Duration::try_from_secs_f64(secs).map_err(|_| format!("`{text}` is too long a duration"))
}

/// `894100735` → `894.1 MB`.
pub fn show_size(bytes: u64) -> String {
    match bytes {
        b if b >= 1_000_000_000 => format!("{:.2} GB", b as f64 / 1e9),
        b if b >= 1_000_000 => format!("{:.1} MB", b as f64 / 1e6),
        b if b >= 1_000 => format!("{:.1} KB", b as f64 / 1e3),
        b => format!("{b} B"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("600MB").unwrap(), 600_000_000);
        assert_eq!(parse_size("512m").unwrap(), 512 << 20);
        assert_eq!(parse_size("2GiB").unwrap(), 2 << 30);
        assert_eq!(parse_size("1024").unwrap(), 1024);
        assert!(parse_size("lots").is_err());
        assert!(parse_size("5TB")
            .unwrap_err()
            .contains("unknown size unit `TB`"));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert!(parse_duration("soon").is_err());
        assert_eq!(
            parse_duration("99999999999999999999h").unwrap_err(),
            "`99999999999999999999h` is too long a duration"
        );
        assert!(
            parse_duration(&"9".repeat(400)).is_err(),
            "an infinite number of seconds"
        );
    }
}
