//! Task-file fields that take a number or a human string (`"1:30"`, `"128k"`).
use serde::{Deserialize, Deserializer};

#[derive(Deserialize)]
#[serde(untagged)]
enum NumOrText {
    Num(f64),
    Text(String),
}

/// Seconds, from `90`, `"90"`, `"1:30"` or `"1500ms"`.
pub(crate) fn time<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    match Option::<NumOrText>::deserialize(d)? {
        None => Ok(None),
        Some(NumOrText::Num(n)) if n >= 0.0 && n.is_finite() => Ok(Some(n)),
        Some(NumOrText::Num(n)) => Err(serde::de::Error::custom(format!(
            "time must be non-negative, got {n}"
        ))),
        Some(NumOrText::Text(t)) => crate::timecode::parse_time("time", &t)
            .map(Some)
            .map_err(serde::de::Error::custom),
    }
}

/// Bits per second, from `128000` or `"128k"`.
pub(crate) fn bitrate<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    match Option::<NumOrText>::deserialize(d)? {
        None => Ok(None),
        Some(NumOrText::Num(n)) if n > 0.0 && n.is_finite() => Ok(Some(n as u64)),
        Some(NumOrText::Num(n)) => Err(serde::de::Error::custom(format!(
            "bit rate must be positive, got {n}"
        ))),
        Some(NumOrText::Text(t)) => crate::timecode::parse_bitrate("bitrate", &t)
            .map(Some)
            .map_err(serde::de::Error::custom),
    }
}
