//! Sizes in config files, written as people write them.

use std::fmt;
use std::str::FromStr;

/// A number of bytes, as a config file writes it: `"512MiB"`, `"1GB"`, `"1.5 GiB"`, or a plain
/// number of bytes.
///
/// Decimal units (`kB`, `MB`, `GB`, `TB`) are powers of 1000 and binary units (`KiB`, `MiB`,
/// `GiB`, `TiB`) powers of 1024, as the seeds' `"1GB"` and Kubernetes' `"512Mi"` mean them
/// (`Ki`, `Mi`, `Gi`, `Ti` are accepted too). Units are case-insensitive, except that a lone
/// `b` is refused: bits are not bytes.
///
/// ```
/// use hardening::config::Size;
///
/// assert_eq!("1GB".parse::<Size>()?.bytes(), 1_000_000_000);
/// assert_eq!("512Mi".parse::<Size>()?.bytes(), 512 << 20);
/// assert_eq!(Size::new(4 << 30).to_string(), "4GiB");
/// assert!("1 Gigaflop".parse::<Size>().is_err());
/// # Ok::<(), hardening::config::ParseSizeError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Size(u64);

impl Size {
    /// `bytes` bytes.
    pub const fn new(bytes: u64) -> Self {
        Size(bytes)
    }

    /// The number of bytes.
    pub const fn bytes(self) -> u64 {
        self.0
    }
}

/// The units a size may carry, for error messages.
pub(crate) const SIZE_FORMS: &str =
    "a size such as \"512MiB\", \"1GB\" or 1048576 (units: B, kB, MB, GB, TB, KiB, MiB, GiB, TiB)";

impl fmt::Display for Size {
    /// The largest unit that divides the size exactly (binary before decimal at the same
    /// magnitude), else bytes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(&str, u64); 8] = [
            ("TiB", 1 << 40),
            ("TB", 1_000_000_000_000),
            ("GiB", 1 << 30),
            ("GB", 1_000_000_000),
            ("MiB", 1 << 20),
            ("MB", 1_000_000),
            ("KiB", 1 << 10),
            ("kB", 1_000),
        ];
        match UNITS
            .iter()
            .find(|(_, unit)| self.0 != 0 && self.0.is_multiple_of(*unit))
        {
            Some((name, unit)) => write!(f, "{}{name}", self.0 / unit),
            None => write!(f, "{}B", self.0),
        }
    }
}

/// Text that is not a size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseSizeError {
    text: String,
}

impl fmt::Display for ParseSizeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} is not {SIZE_FORMS}", self.text)
    }
}

impl std::error::Error for ParseSizeError {}

impl FromStr for Size {
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
            unit => match unit.to_ascii_lowercase().as_str() {
                "kb" => 1_000,
                "mb" => 1_000_000,
                "gb" => 1_000_000_000,
                "tb" => 1_000_000_000_000,
                "kib" | "ki" => 1 << 10,
                "mib" | "mi" => 1 << 20,
                "gib" | "gi" => 1 << 30,
                "tib" | "ti" => 1 << 40,
                _ => return Err(err()),
            },
        };
        if let Ok(whole) = number.parse::<u64>() {
            return whole.checked_mul(multiplier).map(Size).ok_or_else(err);
        }
        let value: f64 = number.parse().map_err(|_| err())?;
        let bytes = value * multiplier as f64;
        if !(bytes.is_finite() && bytes >= 0.0 && bytes < u64::MAX as f64) || bytes.fract() != 0.0 {
            return Err(err());
        }
        Ok(Size(bytes as u64))
    }
}

impl serde::Serialize for Size {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_forms_people_write_and_refuses_the_rest() {
        let ok = |text: &str| text.parse::<Size>().map(Size::bytes);
        assert_eq!(ok("4096"), Ok(4096));
        assert_eq!(ok("1GB"), Ok(1_000_000_000));
        assert_eq!(ok("4GB"), Ok(4_000_000_000));
        assert_eq!(ok("1.5 KiB"), Ok(1536));
        assert_eq!(ok("2gi"), Ok(2 << 30));
        for bad in [
            "",
            "GB",
            "1 Gigaflop",
            "1b",
            "-1MB",
            "0.3B",
            "99999999999TB",
            "1e3",
        ] {
            assert!(bad.parse::<Size>().is_err(), "{bad:?} parsed");
        }
        let message = "1 Gigaflop".parse::<Size>().unwrap_err().to_string();
        assert!(message.contains("\"512MiB\""), "{message}");
    }

    #[test]
    fn display_reads_back_as_the_same_size() {
        for bytes in [0, 1, 1000, 1024, 1536, 4 << 30, 4_000_000_000, 123_456_789] {
            let size = Size::new(bytes);
            assert_eq!(size.to_string().parse::<Size>(), Ok(size), "{size}");
        }
    }
}
