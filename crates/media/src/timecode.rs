//! Time values on the command line and in task files: `90`, `1.5`, `01:30`, `00:01:30.250`, `1500ms`.

use crate::MediaError;

/// Parses a time in seconds from the forms users type; `option` names the flag in errors.
pub fn parse_time(option: &str, s: &str) -> Result<f64, MediaError> {
    let bad = |why: &str| MediaError::option(option, s, why);
    let t = s.trim();
    let value = if let Some(ms) = t.strip_suffix("ms") {
        ms.trim()
            .parse::<f64>()
            .map_err(|_| bad("expected a number of milliseconds"))?
            / 1000.0
    } else if let Some(sec) = t.strip_suffix('s') {
        sec.trim()
            .parse::<f64>()
            .map_err(|_| bad("expected a number of seconds"))?
    } else if t.contains(':') {
        let parts: Vec<&str> = t.split(':').collect();
        if parts.len() > 3 {
            return Err(bad("expected [HH:]MM:SS[.mmm]"));
        }
        let mut total = 0.0;
        for p in &parts {
            let v: f64 = p.parse().map_err(|_| bad("expected [HH:]MM:SS[.mmm]"))?;
            total = total * 60.0 + v;
        }
        total
    } else {
        t.parse::<f64>()
            .map_err(|_| bad("expected seconds, [HH:]MM:SS[.mmm] or a value ending in s/ms"))?
    };
    if !value.is_finite() || value < 0.0 {
        return Err(bad("must be a non-negative time"));
    }
    Ok(value)
}

/// Parses a bit rate such as `128k`, `2.5M` or `800000` into bits per second.
pub fn parse_bitrate(option: &str, s: &str) -> Result<u64, MediaError> {
    let t = s.trim();
    let (num, mult) = match t.chars().last() {
        Some('k' | 'K') => (&t[..t.len() - 1], 1e3),
        Some('m' | 'M') => (&t[..t.len() - 1], 1e6),
        _ => (t, 1.0),
    };
    let v: f64 = num.parse().map_err(|_| {
        MediaError::option(option, s, "expected bits per second such as `128k` or `2M`")
    })?;
    if v.is_nan() || v <= 0.0 || !(v * mult).is_finite() {
        return Err(MediaError::option(option, s, "must be positive"));
    }
    Ok((v * mult).round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_forms() {
        assert_eq!(parse_time("t", "90").unwrap(), 90.0);
        assert_eq!(parse_time("t", "1.5s").unwrap(), 1.5);
        assert_eq!(parse_time("t", "1500ms").unwrap(), 1.5);
        assert_eq!(parse_time("t", "01:30").unwrap(), 90.0);
        assert_eq!(parse_time("t", "1:00:01.5").unwrap(), 3601.5);
        assert!(parse_time("t", "-1").is_err());
        assert!(parse_time("t", "abc").is_err());
        assert!(parse_time("t", "1:2:3:4").is_err());
    }

    #[test]
    fn bitrate_forms() {
        assert_eq!(parse_bitrate("b", "128k").unwrap(), 128_000);
        assert_eq!(parse_bitrate("b", "2.5M").unwrap(), 2_500_000);
        assert_eq!(parse_bitrate("b", "64000").unwrap(), 64_000);
        assert!(parse_bitrate("b", "0").is_err());
        assert!(parse_bitrate("b", "fast").is_err());
    }
}
