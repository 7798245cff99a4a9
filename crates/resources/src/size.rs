//! Byte sizes written as people write them: `"512MiB"`, `"1GB"`, `"1.5 GiB"`, `"4096"`.

use std::fmt;
use std::str::FromStr;

/// A number of bytes, parsed from text with a unit.
///
/// Decimal units (`kB`, `MB`, `GB`, `TB`) are powers of 1000; binary units (`KiB`, `MiB`,
/// `GiB`, `TiB`) powers of 1024; `B` or no unit is bytes. Units are case-insensitive except
/// that `b` alone is refused (bits are not bytes).
///
/// ```
/// use hardening_resources::ByteSize;
///
/// assert_eq!("512MiB".parse::<ByteSize>()?.bytes(), 512 * 1024 * 1024);
/// assert_eq!("1GB".parse::<ByteSize>()?.bytes(), 1_000_000_000);
/// assert_eq!("1.5 KiB".parse::<ByteSize>()?.bytes(), 1536);
/// let err = "1 Gigaflop".parse::<ByteSize>().unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "\"1 Gigaflop\" is not a size; use e.g. \"512MiB\" or \"1GB\" (units: B, kB, MB, GB, TB, KiB, MiB, GiB, TiB)"
/// );
/// # Ok::<(), hardening_resources::ParseSizeError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ByteSize(u64);

impl ByteSize {
    /// `bytes` bytes.
    pub const fn new(bytes: u64) -> Self {
        ByteSize(bytes)
    }

    /// The number of bytes.
    pub const fn bytes(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ByteSize {
    /// The largest unit that divides the size exactly, decimal units first (so `"100MB"`
    /// prints as `100MB`), else binary units with one decimal.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const EXACT: [(&str, u64); 8] = [
            ("TiB", 1 << 40),
            ("TB", 1_000_000_000_000),
            ("GiB", 1 << 30),
            ("GB", 1_000_000_000),
            ("MiB", 1 << 20),
            ("MB", 1_000_000),
            ("KiB", 1 << 10),
            ("kB", 1_000),
        ];
        if self.0 == 0 {
            return f.write_str("0B");
        }
        if let Some((unit, size)) = EXACT.iter().find(|(_, size)| self.0.is_multiple_of(*size)) {
            return write!(f, "{}{unit}", self.0 / size);
        }
        for (unit, size) in [
            ("TiB", 1u64 << 40),
            ("GiB", 1 << 30),
            ("MiB", 1 << 20),
            ("KiB", 1 << 10),
        ] {
            if self.0 >= size {
                return write!(f, "{:.1}{unit}", self.0 as f64 / size as f64);
            }
        }
        write!(f, "{}B", self.0)
    }
}

/// Text that is not a size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseSizeError {
    text: String,
}

impl fmt::Display for ParseSizeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} is not a size; use e.g. \"512MiB\" or \"1GB\" (units: B, kB, MB, GB, TB, KiB, MiB, GiB, TiB)",
            self.text
        )
    }
}

impl std::error::Error for ParseSizeError {}

impl FromStr for ByteSize {
    type Err = ParseSizeError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = || ParseSizeError {
            text: text.to_string(),
        };
        let trimmed = text.trim();
        let split = trimmed
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(trimmed.len());
        let (number, unit) = trimmed.split_at(split);
        if number.is_empty() {
            return Err(err());
        }
        let multiplier: u64 = match unit.trim() {
            "" | "B" => 1,
            u => match u.to_ascii_lowercase().as_str() {
                "kb" => 1_000,
                "mb" => 1_000_000,
                "gb" => 1_000_000_000,
                "tb" => 1_000_000_000_000,
                "kib" => 1 << 10,
                "mib" => 1 << 20,
                "gib" => 1 << 30,
                "tib" => 1 << 40,
                _ => return Err(err()),
            },
        };
        if let Ok(whole) = number.parse::<u64>() {
            return whole.checked_mul(multiplier).map(ByteSize).ok_or_else(err);
        }
        let value: f64 = number.parse().map_err(|_| err())?;
        let bytes = value * multiplier as f64;
        if !(bytes.is_finite() && bytes >= 0.0 && bytes < u64::MAX as f64) || bytes.fract() != 0.0 {
            return Err(err());
        }
        Ok(ByteSize(bytes as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses() {
        let p = |s: &str| s.parse::<ByteSize>().map(ByteSize::bytes);
        assert_eq!(p("0"), Ok(0));
        assert_eq!(p("4096"), Ok(4096));
        assert_eq!(p("10 kB"), Ok(10_000));
        assert_eq!(p("2gib"), Ok(2 << 30));
        assert_eq!(p("  1TB "), Ok(1_000_000_000_000));
        for bad in [
            "",
            "MB",
            "1b",
            "1 Gigaflop",
            "-1MB",
            "1.2.3GB",
            "0.1B",
            "99999999999TiB",
        ] {
            assert!(p(bad).is_err(), "{bad:?} should be refused");
        }
        assert_eq!(ByteSize::new(512 << 20).to_string(), "512MiB");
        assert_eq!(ByteSize::new(1536).to_string(), "1.5KiB");
        assert_eq!(ByteSize::new(100_000_000).to_string(), "100MB");
        assert_eq!(ByteSize::new(1_000_001).to_string(), "976.6KiB");
    }
}
