//! How long a stack's build took, as `images.lock` records it: tenths of a second, so the lock
//! reads `build_seconds = 205.7` and a simulation adds times without rounding drift.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A wall-clock build time in whole tenths of a second.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BuildTime(u64);

impl BuildTime {
    /// From tenths of a second.
    pub const fn from_tenths(tenths: u64) -> BuildTime {
        BuildTime(tenths)
    }

    /// From seconds, rounded to the nearest tenth; a negative or non-finite time is zero.
    pub fn from_secs_f64(seconds: f64) -> BuildTime {
        if seconds.is_finite() && seconds > 0.0 {
            BuildTime((seconds * 10.0).round() as u64)
        } else {
            BuildTime(0)
        }
    }

    pub const fn tenths(self) -> u64 {
        self.0
    }

    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 10.0
    }
}

impl std::ops::Add for BuildTime {
    type Output = BuildTime;
    fn add(self, other: BuildTime) -> BuildTime {
        BuildTime(self.0 + other.0)
    }
}

/// `2057` tenths → `205.7`.
impl fmt::Display for BuildTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = format!("{}.{}", self.0 / 10, self.0 % 10);
        f.pad(&text)
    }
}

impl Serialize for BuildTime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.as_secs_f64())
    }
}

impl<'de> Deserialize<'de> for BuildTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<BuildTime, D::Error> {
        let seconds = f64::deserialize(d)?;
        if !seconds.is_finite() || seconds < 0.0 {
            return Err(serde::de::Error::custom(format!(
                "`{seconds}` is not a build time in seconds"
            )));
        }
        Ok(BuildTime::from_secs_f64(seconds))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    struct Row {
        build_seconds: BuildTime,
    }

    #[test]
    fn written_as_seconds_with_one_decimal_and_read_back() {
        let row = Row {
            build_seconds: BuildTime::from_secs_f64(205.6789),
        };
        let text = toml::to_string(&row).unwrap();
        assert_eq!(text, "build_seconds = 205.7\n");
        assert_eq!(toml::from_str::<Row>(&text).unwrap(), row);
        assert_eq!(
            toml::from_str::<Row>("build_seconds = 12")
                .unwrap()
                .build_seconds,
            BuildTime::from_tenths(120)
        );
        assert!(toml::from_str::<Row>("build_seconds = -1.0").is_err());
        assert_eq!(format!("[{:>6}]", BuildTime::from_tenths(503)), "[  50.3]");
    }
}
