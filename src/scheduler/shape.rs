//! The fleet a simulation runs on, as `--simulate ENGINES[xSLOTS]` spells it.

use std::fmt;
use std::str::FromStr;

/// Why `--simulate` could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
pub enum ShapeError {
    #[error("`{text}` is not ENGINES[xSLOTS] (e.g. `4` or `4x2`)")]
    #[diagnostic(help("ENGINES and SLOTS are whole numbers from 1"))]
    NotAShape { text: String },
    #[error("`{text}` asks for zero {what}; a build needs at least one")]
    Zero { text: String, what: &'static str },
}

/// N engines with S build slots each; `slots` is `None` when the caller picks the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    pub engines: usize,
    pub slots: Option<usize>,
}

impl FromStr for Shape {
    type Err = ShapeError;

    fn from_str(text: &str) -> Result<Shape, ShapeError> {
        let bad = || ShapeError::NotAShape {
            text: text.to_string(),
        };
        let number = |s: &str| -> Result<usize, ShapeError> {
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            s.parse().map_err(|_| bad())
        };
        let (engines, slots) = match text.trim().split_once(['x', 'X', '×']) {
            Some((e, s)) => (number(e)?, Some(number(s)?)),
            None => (number(text.trim())?, None),
        };
        if engines == 0 {
            return Err(ShapeError::Zero {
                text: text.to_string(),
                what: "engines",
            });
        }
        if slots == Some(0) {
            return Err(ShapeError::Zero {
                text: text.to_string(),
                what: "slots",
            });
        }
        Ok(Shape { engines, slots })
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.slots {
            Some(s) => write!(f, "{}x{s}", self.engines),
            None => write!(f, "{}", self.engines),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engines_with_optional_slots() {
        assert_eq!(
            "4".parse(),
            Ok(Shape {
                engines: 4,
                slots: None
            })
        );
        assert_eq!(
            "4x2".parse(),
            Ok(Shape {
                engines: 4,
                slots: Some(2)
            })
        );
        assert_eq!(
            "8X1".parse(),
            Ok(Shape {
                engines: 8,
                slots: Some(1)
            })
        );
        let errors: Vec<String> = ["0", "2x0", "x", "4x", "-1", "two"]
            .iter()
            .map(|t| t.parse::<Shape>().unwrap_err().to_string())
            .collect();
        insta::assert_snapshot!(errors.join("\n"), @r"
        `0` asks for zero engines; a build needs at least one
        `2x0` asks for zero slots; a build needs at least one
        `x` is not ENGINES[xSLOTS] (e.g. `4` or `4x2`)
        `4x` is not ENGINES[xSLOTS] (e.g. `4` or `4x2`)
        `-1` is not ENGINES[xSLOTS] (e.g. `4` or `4x2`)
        `two` is not ENGINES[xSLOTS] (e.g. `4` or `4x2`)
        ");
    }
}
