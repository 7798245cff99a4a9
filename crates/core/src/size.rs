//! Byte sizes written as people write them: `"512MiB"`, `"1GB"`, `"1.5 GiB"`, `"4096"`.

use std::fmt;
use std::str::FromStr;

/// A number of bytes, as people write it: `"512MiB"`, `"1GB"`, `"1.5 GiB"`, or a plain
/// number of bytes.
///
/// Decimal units (`kB`, `MB`, `GB`, `TB`) are powers of 1000 and binary units (`KiB`, `MiB`,
/// `GiB`, `TiB`) powers of 1024, as the seeds' `"1GB"` and Kubernetes' `"512Mi"` mean them
/// (`Ki`, `Mi`, `Gi`, `Ti` are accepted too). Units are case-insensitive, except that a lone
/// `b` is refused: bits are not bytes.
///
/// ```
/// use hardening_core::ByteSize;
///
/// assert_eq!("1GB".parse::<ByteSize>()?.bytes(), 1_000_000_000);
/// assert_eq!("512Mi".parse::<ByteSize>()?.bytes(), 512 << 20);
/// assert_eq!(ByteSize::new(4 << 30).to_string(), "4GiB");
/// assert!("1 Gigaflop".parse::<ByteSize>().is_err());
/// # Ok::<(), hardening_core::ParseSizeError>(())
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

/// The forms a size may take, for error messages.
pub const SIZE_FORMS: &str =
    "a size such as \"512MiB\", \"1GB\" or 1048576 (units: B, kB, MB, GB, TB, KiB, MiB, GiB, TiB)";

impl fmt::Display for ByteSize {
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

/// As text that reads back exactly (`"512MiB"`, `"1536B"`).
#[cfg(feature = "serde")]
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
impl serde::Serialize for ByteSize {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// From text (`"512MiB"`) or a number of bytes.
#[cfg(feature = "serde")]
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
impl<'de> serde::Deserialize<'de> for ByteSize {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(SIZE_FORMS)
            }
            fn visit_u64<E: serde::de::Error>(self, bytes: u64) -> Result<ByteSize, E> {
                Ok(ByteSize(bytes))
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<ByteSize, E> {
                text.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_forms_people_write_and_refuses_the_rest() {
        let ok = |text: &str| text.parse::<ByteSize>().map(ByteSize::bytes);
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
            assert!(bad.parse::<ByteSize>().is_err(), "{bad:?} parsed");
        }
        let message = "1 Gigaflop".parse::<ByteSize>().unwrap_err().to_string();
        assert!(message.contains("\"512MiB\""), "{message}");
    }

    #[cfg(feature = "serde")]
    #[test]
    fn serde_takes_text_or_bytes_and_writes_text() {
        let size: ByteSize = serde_json::from_str("\"2GiB\"").unwrap_or_default();
        assert_eq!(size.bytes(), 2 << 30);
        assert_eq!(
            serde_json::from_str::<ByteSize>("4096").ok(),
            Some(ByteSize::new(4096))
        );
        assert!(serde_json::from_str::<ByteSize>("\"lots\"").is_err());
        assert_eq!(
            serde_json::to_string(&size).ok().as_deref(),
            Some("\"2GiB\"")
        );
    }

    #[test]
    fn display_reads_back_as_the_same_size() {
        for bytes in [0, 1, 1000, 1024, 1536, 4 << 30, 4_000_000_000, 123_456_789] {
            let size = ByteSize::new(bytes);
            assert_eq!(size.to_string().parse::<ByteSize>(), Ok(size), "{size}");
        }
    }
}
