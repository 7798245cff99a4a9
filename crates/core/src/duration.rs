//! Durations written as people write them on a command line: `"90s"`, `"2m"`, `"1m30s"`.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// A duration as people write it: `"90s"`, `"2m"`, `"1h"`, `"1m30s"`, `"500ms"`, `"1.5h"`,
/// or a bare number of seconds (`"90"`).
///
/// A duration is one or more parts, each a number (decimals allowed) and a unit: `ms`, `s`,
/// `m` (or `min`) and `h`. It must be above zero: a run, a timeout or an interval of no time
/// is a mistake, not a request.
///
/// ```
/// use std::time::Duration;
/// use hardening_core::HumanDuration;
///
/// assert_eq!("1m30s".parse::<HumanDuration>()?.get(), Duration::from_secs(90));
/// assert_eq!("250ms".parse::<HumanDuration>()?.get(), Duration::from_millis(250));
/// assert_eq!(HumanDuration::try_from(Duration::from_secs(3690))?.to_string(), "1h1m30s");
/// assert!("ten minutes".parse::<HumanDuration>().is_err());
/// # Ok::<(), hardening_core::ParseDurationError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HumanDuration(Duration);

impl HumanDuration {
    /// The duration.
    pub const fn get(self) -> Duration {
        self.0
    }
}

/// The forms a duration may take, for error messages.
pub const DURATION_FORMS: &str = "a duration above zero such as 90s, 2m, 1h, 1m30s or 500ms (units: ms, s, m, h; a bare number is seconds)";

/// Text that is not a duration, or a zero duration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseDurationError {
    text: String,
}

impl fmt::Display for ParseDurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} is not {DURATION_FORMS}", self.text)
    }
}

impl std::error::Error for ParseDurationError {}

impl TryFrom<Duration> for HumanDuration {
    type Error = ParseDurationError;

    /// Any duration above zero.
    fn try_from(duration: Duration) -> Result<Self, Self::Error> {
        if duration.is_zero() {
            return Err(ParseDurationError {
                text: format!("{duration:?}"),
            });
        }
        Ok(HumanDuration(duration))
    }
}

impl FromStr for HumanDuration {
    type Err = ParseDurationError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = || ParseDurationError {
            text: text.to_string(),
        };
        let trimmed = text.trim();
        if let Ok(secs) = trimmed.parse::<u64>() {
            return HumanDuration::try_from(Duration::from_secs(secs)).map_err(|_| err());
        }
        let mut total = Duration::ZERO;
        let mut rest = trimmed;
        if rest.is_empty() {
            return Err(err());
        }
        while !rest.is_empty() {
            let digits = rest
                .find(|c: char| !c.is_ascii_digit() && c != '.')
                .ok_or_else(err)?;
            let number: f64 = rest[..digits].parse().map_err(|_| err())?;
            rest = &rest[digits..];
            let unit_len = rest
                .find(|c: char| c.is_ascii_digit())
                .unwrap_or(rest.len());
            let unit = match &rest[..unit_len] {
                "ms" => 0.001,
                "s" => 1.0,
                "m" | "min" => 60.0,
                "h" => 3600.0,
                _ => return Err(err()),
            };
            rest = &rest[unit_len..];
            let part = Duration::try_from_secs_f64(number * unit).map_err(|_| err())?;
            total = total.checked_add(part).ok_or_else(err)?;
        }
        HumanDuration::try_from(total).map_err(|_| err())
    }
}

impl fmt::Display for HumanDuration {
    /// Hours, minutes, seconds and milliseconds, each only when not zero (`"1h1m30s"`,
    /// `"500ms"`), which reads back to the same duration to the millisecond.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0.as_secs();
        let millis = self.0.subsec_millis();
        let parts = [
            (secs / 3600, "h"),
            (secs / 60 % 60, "m"),
            (secs % 60, "s"),
            (u64::from(millis), "ms"),
        ];
        let mut wrote = false;
        for (value, unit) in parts {
            if value != 0 {
                write!(f, "{value}{unit}")?;
                wrote = true;
            }
        }
        if !wrote {
            // Below a millisecond: the exact form, which does not read back.
            write!(f, "{:?}", self.0)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Duration, ParseDurationError> {
        text.parse::<HumanDuration>().map(HumanDuration::get)
    }

    #[test]
    fn every_form_reads_as_meant() {
        assert_eq!(parse("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse(" 90s "), Ok(Duration::from_secs(90)));
        assert_eq!(parse("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse("2min"), Ok(Duration::from_secs(120)));
        assert_eq!(parse("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("1h0m5s250ms"), Ok(Duration::from_millis(3_605_250)));
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
    }

    #[test]
    fn mistakes_are_refused_with_the_accepted_forms() {
        for bad in [
            "",
            "0",
            "0s",
            "s",
            "ten minutes",
            "10d",
            "1m30",
            "-5s",
            "1e400s",
            "..s",
        ] {
            let err = parse(bad).expect_err(bad);
            assert_eq!(err.to_string(), format!("{bad:?} is not {DURATION_FORMS}"));
        }
        assert!(HumanDuration::try_from(Duration::ZERO).is_err());
    }

    #[test]
    fn display_reads_back() {
        for text in ["1h1m30s", "500ms", "2m", "45s", "1h250ms"] {
            let d: HumanDuration = text.parse().unwrap();
            assert_eq!(d.to_string(), text);
            assert_eq!(d.to_string().parse::<HumanDuration>(), Ok(d));
        }
    }
}
