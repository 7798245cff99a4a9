//! Wall-clock times written as RFC 3339 in UTC: `2026-11-25T09:02:49Z`.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// A wall-clock time, displayed as RFC 3339 in UTC, to the second or to the millisecond.
///
/// Times before the Unix epoch are shown as the epoch (a clock set before 1970 is wrong, and
/// a report is better with a visible wrong date than with none).
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use hardening_core::Rfc3339;
///
/// let leap_day = UNIX_EPOCH + Duration::from_millis(951_782_400_123);
/// assert_eq!(Rfc3339::seconds(leap_day).to_string(), "2000-02-29T00:00:00Z");
/// assert_eq!(Rfc3339::millis(leap_day).to_string(), "2000-02-29T00:00:00.123Z");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rfc3339 {
    time: SystemTime,
    millis: bool,
}

impl Rfc3339 {
    /// `time` to the second: `2026-11-25T09:02:49Z`.
    pub fn seconds(time: SystemTime) -> Self {
        Rfc3339 {
            time,
            millis: false,
        }
    }

    /// `time` to the millisecond: `2026-11-25T09:02:49.123Z`.
    pub fn millis(time: SystemTime) -> Self {
        Rfc3339 { time, millis: true }
    }
}

impl fmt::Display for Rfc3339 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let since = self.time.duration_since(UNIX_EPOCH).unwrap_or_default();
        let secs = since.as_secs();
        let days = i64::try_from(secs / 86_400).unwrap_or(0);
        let rem = secs % 86_400;
        let (year, month, day) = civil_from_days(days);
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
            rem / 3600,
            rem % 3600 / 60,
            rem % 60
        )?;
        if self.millis {
            write!(f, ".{:03}", since.subsec_millis())?;
        }
        f.write_str("Z")
    }
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn at(secs: u64) -> String {
        Rfc3339::seconds(UNIX_EPOCH + Duration::from_secs(secs)).to_string()
    }

    #[test]
    fn known_instants() {
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(4_107_542_399), "2100-02-28T23:59:59Z");
        assert_eq!(at(1_709_251_199), "2024-02-29T23:59:59Z");
        assert_eq!(
            Rfc3339::millis(UNIX_EPOCH).to_string(),
            "1970-01-01T00:00:00.000Z"
        );
    }

    #[test]
    fn before_the_epoch_is_the_epoch() {
        let before = UNIX_EPOCH - Duration::from_secs(10);
        assert_eq!(Rfc3339::seconds(before).to_string(), "1970-01-01T00:00:00Z");
    }
}
