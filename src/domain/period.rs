//! A span of time written as people write it in a configuration file: `"24h"`, `"7d"`,
//! `"90d"`, `"15m"`, `"30s"` (humantime's syntax). Every duration of the configuration is one.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use super::ParseError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Period(Duration);

impl Period {
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let duration = humantime::parse_duration(text.trim()).map_err(|e| {
            ParseError::new(format!(
                "{text:?} is not a duration like \"24h\", \"7d\" or \"15m\" ({e})"
            ))
        })?;
        if duration.is_zero() {
            return Err(ParseError::new(format!(
                "{text:?} must be longer than zero"
            )));
        }
        Ok(Self(duration))
    }

    pub const fn from_secs(secs: u64) -> Self {
        Self(Duration::from_secs(secs))
    }

    pub fn duration(self) -> Duration {
        self.0
    }

    pub fn as_millis(self) -> u64 {
        self.0.as_millis() as u64
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

impl<'de> Deserialize<'de> for Period {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_written() {
        assert_eq!(
            Period::parse("24h").unwrap().duration(),
            Duration::from_secs(86_400)
        );
        assert_eq!(
            Period::parse("7d").unwrap().duration(),
            Duration::from_secs(7 * 86_400)
        );
        assert_eq!(
            Period::parse("15m").unwrap().duration(),
            Duration::from_secs(900)
        );
        assert_eq!(
            Period::parse(" 30s ").unwrap().duration(),
            Duration::from_secs(30)
        );
        assert!(Period::parse("soon").is_err());
        assert!(Period::parse("0s").is_err());
        assert!(Period::parse("").is_err());
    }
}
