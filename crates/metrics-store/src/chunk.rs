//! Gorilla chunks: delta-of-delta timestamps and XOR-encoded values (Pelkonen et al., "Gorilla:
//! A Fast, Scalable, In-Memory Time Series Database", VLDB 2015), written by us.
//!
//! # Layout
//!
//! The first sample is stored whole: 64 bits of timestamp, 64 bits of value. Every later sample
//! stores the change of its timestamp's delta and the XOR of its value with the previous one:
//!
//! ```text
//! timestamp: delta-of-delta d = (t - t_prev) - (t_prev - t_prev2), wrapping
//!   d == 0                    '0'
//!   -63 ..= 64                '10'   + 7 bits
//!   -255 ..= 256              '110'  + 9 bits
//!   -2047 ..= 2048            '1110' + 12 bits
//!   a 32-bit integer          '11110' + 32 bits (the first delta of a regular series lands here)
//!   anything else             '11111' + 64 bits
//! value: x = bits(v) ^ bits(v_prev)
//!   x == 0                    '0'
//!   fits the previous window  '10'   + the window's meaningful bits
//!   otherwise                 '11'   + 6 bits leading zeros + 6 bits (length - 1) + meaningful bits
//!   (the encoder also starts a new window when the XOR fits the old one but a new one is
//!   cheaper, header included; the decoder needs no change for that)
//! ```
//!
//! This differs from the paper in two places, both for exactness: a fifth timestamp class keeps
//! all 64 bits (the paper stops at 32), so any `i64` timestamp, in any order, round-trips;
//! and leading zeros get 6 bits (the paper caps them at 31 with 5), so no XOR is ever
//! re-encoded. Values are kept as raw bits, so NaN payloads, infinities and negative zero come
//! back exactly.
//!
//! Out-of-order samples are kept in the order they were appended: the codec never sorts or
//! drops, and a decoder returns exactly the sequence that was written.

use crate::bits::{BitReader, BitWriter};

/// One sample: a timestamp in milliseconds and a value. Serializes as
/// `{"timestamp": …, "value": …}` (a NaN or infinite value becomes JSON `null`).
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Sample {
    /// Milliseconds since the Unix epoch (or any fixed origin).
    pub timestamp: i64,
    /// The value.
    pub value: f64,
}

impl PartialEq for Sample {
    /// Bit-for-bit: NaNs with the same payload are equal, `0.0` and `-0.0` are not.
    fn eq(&self, other: &Self) -> bool {
        self.timestamp == other.timestamp && self.value.to_bits() == other.value.to_bits()
    }
}

impl Eq for Sample {}

/// An append-only compressed run of samples.
///
/// ```
/// use hardening_metrics_store::{Chunk, Sample};
///
/// let mut chunk = Chunk::new();
/// for i in 0..120 {
///     chunk.push(Sample { timestamp: 1_700_000_000_000 + i * 10_000, value: (i * 3) as f64 });
/// }
/// assert_eq!(chunk.len(), 120);
/// assert!(chunk.bits() < 120 * 16, "a steady counter takes under 2 bytes a sample");
/// let back: Vec<Sample> = chunk.iter().collect();
/// assert_eq!(back[119], Sample { timestamp: 1_700_000_000_000 + 119 * 10_000, value: 357.0 });
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Chunk {
    bits: BitWriter,
    len: u32,
    first_timestamp: i64,
    last_timestamp: i64,
    last_delta: i64,
    last_value: u64,
    /// Leading and trailing zeros of the XOR window in use; `None` before the first non-zero
    /// XOR.
    window: Option<(u32, u32)>,
    min_timestamp: i64,
    max_timestamp: i64,
}

impl Chunk {
    /// An empty chunk.
    pub fn new() -> Self {
        Self::default()
    }

    /// Samples in the chunk.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether the chunk holds no sample.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bits the encoded samples take.
    pub fn bits(&self) -> u64 {
        self.bits.len()
    }

    /// Memory the chunk holds, in bytes (its buffer's capacity plus its fixed fields).
    pub fn memory_bytes(&self) -> usize {
        self.bits.capacity_bytes() + std::mem::size_of::<Self>()
    }

    /// The earliest and latest timestamps in the chunk (they need not be the first and last
    /// appended), or `None` when empty.
    pub fn time_range(&self) -> Option<(i64, i64)> {
        (!self.is_empty()).then_some((self.min_timestamp, self.max_timestamp))
    }

    /// The first timestamp appended.
    pub fn first_timestamp(&self) -> Option<i64> {
        (!self.is_empty()).then_some(self.first_timestamp)
    }

    /// Appends a sample.
    pub fn push(&mut self, sample: Sample) {
        let bits = sample.value.to_bits();
        if self.len == 0 {
            self.bits.write(sample.timestamp as u64, 64);
            self.bits.write(bits, 64);
            self.first_timestamp = sample.timestamp;
            self.min_timestamp = sample.timestamp;
            self.max_timestamp = sample.timestamp;
        } else {
            let delta = sample.timestamp.wrapping_sub(self.last_timestamp);
            self.write_delta_of_delta(delta.wrapping_sub(self.last_delta));
            self.write_xor(bits ^ self.last_value);
            self.last_delta = delta;
            self.min_timestamp = self.min_timestamp.min(sample.timestamp);
            self.max_timestamp = self.max_timestamp.max(sample.timestamp);
        }
        self.last_timestamp = sample.timestamp;
        self.last_value = bits;
        self.len += 1;
    }

    fn write_delta_of_delta(&mut self, dod: i64) {
        let w = &mut self.bits;
        match dod {
            0 => w.write(0b0, 1),
            -63..=64 => {
                w.write(0b10, 2);
                w.write((dod + 63) as u64, 7);
            }
            -255..=256 => {
                w.write(0b110, 3);
                w.write((dod + 255) as u64, 9);
            }
            -2047..=2048 => {
                w.write(0b1110, 4);
                w.write((dod + 2047) as u64, 12);
            }
            _ => match i32::try_from(dod) {
                Ok(small) => {
                    w.write(0b11110, 5);
                    w.write(u64::from(small as u32), 32);
                }
                Err(_) => {
                    w.write(0b11111, 5);
                    w.write(dod as u64, 64);
                }
            },
        }
    }

    fn write_xor(&mut self, xor: u64) {
        if xor == 0 {
            self.bits.write(0b0, 1);
            return;
        }
        let leading = xor.leading_zeros();
        let trailing = xor.trailing_zeros();
        let meaningful = 64 - leading - trailing;
        match self.window {
            // Reuse the window when the XOR fits it and that is no dearer than describing a
            // new one (12 bits of header). The paper reuses whenever it fits; after a wide
            // XOR that keeps paying for the wide window long after the values settle.
            Some((l, t)) if leading >= l && trailing >= t && 64 - l - t <= meaningful + 12 => {
                self.bits.write(0b10, 2);
                self.bits.write(xor >> t, 64 - l - t);
            }
            _ => {
                self.bits.write(0b11, 2);
                self.bits.write(u64::from(leading), 6);
                self.bits.write(u64::from(meaningful - 1), 6);
                self.bits.write(xor >> trailing, meaningful);
                self.window = Some((leading, trailing));
            }
        }
    }

    /// The samples, in the order they were appended.
    pub fn iter(&self) -> ChunkIter<'_> {
        ChunkIter {
            reader: BitReader::new(self.bits.words(), self.bits.len()),
            remaining: self.len,
            first: true,
            timestamp: 0,
            delta: 0,
            value: 0,
            window: (0, 0),
        }
    }

    /// Gives back unused buffer capacity (call when the chunk is closed).
    pub fn shrink_to_fit(&mut self) {
        self.bits.shrink_to_fit();
    }

    /// Appends the encoded bit stream to `out` as `bits().div_ceil(8)` bytes: the first bit is
    /// the most significant bit of the first byte, and the bits after the last one are zero.
    pub(crate) fn write_encoded(&self, out: &mut Vec<u8>) {
        let mut left = self.bits.len().div_ceil(8) as usize;
        for word in self.bits.words() {
            let take = left.min(8);
            out.extend_from_slice(&word.to_be_bytes()[..take]);
            left -= take;
        }
    }

    /// Rebuilds a chunk of `len` samples from `bits` bits written by [`Chunk::write_encoded`].
    ///
    /// The samples are decoded and pushed again into a new chunk; as the encoder is
    /// deterministic, that chunk's bits must be exactly the stored ones. Anything else (a stream
    /// that ends early, bits to spare, non-zero padding, an encoding our encoder would not
    /// write) is refused, so a chunk that comes back is one that was written. The work is
    /// bounded by `bytes`, whatever `len` claims.
    pub(crate) fn decode(len: u32, bits: u64, bytes: &[u8]) -> Result<Chunk, DecodeError> {
        if bits.div_ceil(8) != bytes.len() as u64 {
            return Err(DecodeError::LengthMismatch);
        }
        // The first sample takes 128 bits and each later one at least 2.
        let plausible = match len {
            0 => bits == 0,
            n => bits >= 128 && u64::from(n - 1) <= (bits - 128) / 2,
        };
        if !plausible {
            return Err(DecodeError::LengthMismatch);
        }
        let words: Vec<u64> = bytes
            .chunks(8)
            .map(|part| {
                let mut word = [0u8; 8];
                word[..part.len()].copy_from_slice(part);
                u64::from_be_bytes(word)
            })
            .collect();
        let samples = ChunkIter {
            reader: BitReader::new(&words, bits),
            remaining: len,
            first: true,
            timestamp: 0,
            delta: 0,
            value: 0,
            window: (0, 0),
        };
        let mut rebuilt = Chunk::new();
        for sample in samples {
            rebuilt.push(sample);
        }
        if rebuilt.len != len {
            return Err(DecodeError::EndsEarly);
        }
        if rebuilt.bits.len() != bits || rebuilt.bits.words() != words.as_slice() {
            return Err(DecodeError::NotCanonical);
        }
        rebuilt.shrink_to_fit();
        Ok(rebuilt)
    }
}

/// Why stored bits are not a chunk (see [`Chunk::decode`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DecodeError {
    /// The byte count does not match the bit count, or the sample count cannot fit the bits.
    LengthMismatch,
    /// The bits run out before the samples do.
    EndsEarly,
    /// The samples decode, but encoding them again gives other bits.
    NotCanonical,
}

impl DecodeError {
    /// What went wrong, for a report.
    pub(crate) fn reason(self) -> &'static str {
        match self {
            DecodeError::LengthMismatch => "the sample, bit and byte counts do not agree",
            DecodeError::EndsEarly => "the bit stream ends before its samples do",
            DecodeError::NotCanonical => "the samples do not encode back to the stored bits",
        }
    }
}

/// Decodes a [`Chunk`]'s samples.
#[derive(Debug, Clone)]
pub struct ChunkIter<'a> {
    reader: BitReader<'a>,
    remaining: u32,
    first: bool,
    timestamp: i64,
    delta: i64,
    value: u64,
    window: (u32, u32),
}

impl ChunkIter<'_> {
    #[inline]
    fn read_delta_of_delta(&mut self) -> Option<i64> {
        let r = &mut self.reader;
        if !r.bit()? {
            return Some(0);
        }
        if !r.bit()? {
            return Some(r.read(7)? as i64 - 63);
        }
        if !r.bit()? {
            return Some(r.read(9)? as i64 - 255);
        }
        if !r.bit()? {
            return Some(r.read(12)? as i64 - 2047);
        }
        if !r.bit()? {
            return Some(i64::from(r.read(32)? as u32 as i32));
        }
        Some(r.read(64)? as i64)
    }

    #[inline]
    fn read_xor(&mut self) -> Option<u64> {
        let r = &mut self.reader;
        if !r.bit()? {
            return Some(0);
        }
        if !r.bit()? {
            let (l, t) = self.window;
            return Some(r.read(64 - l - t)? << t);
        }
        let leading = r.read(6)? as u32;
        let meaningful = r.read(6)? as u32 + 1;
        let trailing = 64u32.checked_sub(leading + meaningful)?;
        self.window = (leading, trailing);
        Some(r.read(meaningful)? << trailing)
    }
}

impl Iterator for ChunkIter<'_> {
    type Item = Sample;

    #[inline]
    fn next(&mut self) -> Option<Sample> {
        if self.remaining == 0 {
            return None;
        }
        if self.first {
            self.first = false;
            self.timestamp = self.reader.read(64)? as i64;
            self.value = self.reader.read(64)?;
        } else {
            let dod = self.read_delta_of_delta()?;
            self.delta = self.delta.wrapping_add(dod);
            self.timestamp = self.timestamp.wrapping_add(self.delta);
            self.value ^= self.read_xor()?;
        }
        self.remaining -= 1;
        Some(Sample {
            timestamp: self.timestamp,
            value: f64::from_bits(self.value),
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining as usize, Some(self.remaining as usize))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(samples: &[Sample]) -> Vec<Sample> {
        let mut chunk = Chunk::new();
        for s in samples {
            chunk.push(*s);
        }
        chunk.iter().collect()
    }

    #[test]
    fn special_values_and_wild_timestamps_come_back_bit_for_bit() {
        let weird = [
            f64::NAN,
            f64::from_bits(0x7FF8_0000_DEAD_BEEF),
            f64::from_bits(0xFFF0_0000_0000_0001),
            f64::INFINITY,
            f64::NEG_INFINITY,
            -0.0,
            0.0,
            f64::MIN_POSITIVE,
            f64::MAX,
            f64::MIN,
            1.5,
        ];
        let times = [0, i64::MAX, i64::MIN, -1, 5, 4, 4, 1_000_000, -77, 3];
        let samples: Vec<Sample> = weird
            .iter()
            .zip(times.iter().cycle())
            .map(|(v, t)| Sample {
                timestamp: *t,
                value: *v,
            })
            .collect();
        assert_eq!(round_trip(&samples), samples);
    }

    fn encoded(chunk: &Chunk) -> Vec<u8> {
        let mut out = Vec::new();
        chunk.write_encoded(&mut out);
        out
    }

    #[test]
    fn encoded_bytes_decode_to_an_equal_chunk_that_keeps_growing_alike() {
        let mut chunk = Chunk::new();
        let empty = Chunk::decode(0, 0, &[]).unwrap();
        assert_eq!(empty, chunk);
        for i in 0..77 {
            chunk.push(Sample {
                timestamp: i * 1_000 + (i % 3),
                value: if i == 5 {
                    f64::NAN
                } else {
                    (i % 7) as f64 * -0.5
                },
            });
            let bytes = encoded(&chunk);
            assert_eq!(bytes.len() as u64, chunk.bits().div_ceil(8));
            let mut back = Chunk::decode(chunk.len, chunk.bits(), &bytes).unwrap();
            assert_eq!(back, chunk);
            // The rebuilt chunk carries the encoder's state, so it can be appended to as well.
            let mut original = chunk.clone();
            let next = Sample {
                timestamp: -9,
                value: 2.5,
            };
            back.push(next);
            original.push(next);
            assert_eq!(back, original);
        }
    }

    #[test]
    fn decode_refuses_bits_that_were_not_written_by_the_encoder() {
        let mut chunk = Chunk::new();
        for i in 0..10 {
            chunk.push(Sample {
                timestamp: i * 10,
                value: i as f64,
            });
        }
        let bytes = encoded(&chunk);
        let len = chunk.len;
        let bits = chunk.bits();
        assert_eq!(
            Chunk::decode(len, bits, &bytes[1..]),
            Err(DecodeError::LengthMismatch)
        );
        assert_eq!(
            Chunk::decode(len, bits + 64, &bytes),
            Err(DecodeError::LengthMismatch)
        );
        assert_eq!(
            Chunk::decode(u32::MAX, bits, &bytes),
            Err(DecodeError::LengthMismatch)
        );
        assert_eq!(
            Chunk::decode(len + 1, bits, &bytes),
            Err(DecodeError::EndsEarly)
        );
        assert_eq!(
            Chunk::decode(len - 1, bits, &bytes),
            Err(DecodeError::NotCanonical)
        );
        // A set padding bit after the last encoded bit.
        let mut padded = bytes.clone();
        assert_ne!(bits % 8, 0, "the test needs padding bits");
        *padded.last_mut().unwrap() |= 1;
        assert_eq!(
            Chunk::decode(len, bits, &padded),
            Err(DecodeError::NotCanonical)
        );
        // A value written in a fresh XOR window ('11') where the previous window fits ('10' is
        // what our encoder writes) decodes to the right samples, but is refused all the same.
        let xor = 1.0f64.to_bits() ^ 3.0f64.to_bits();
        let (lead, trail) = (xor.leading_zeros(), xor.trailing_zeros());
        let mut longhand = Chunk::new();
        longhand.push(Sample {
            timestamp: 0,
            value: 1.0,
        });
        for _ in 0..2 {
            longhand.bits.write(0, 1); // the same timestamp
            longhand.bits.write(0b11, 2);
            longhand.bits.write(u64::from(lead), 6);
            longhand.bits.write(u64::from(64 - lead - trail - 1), 6);
            longhand.bits.write(xor >> trail, 64 - lead - trail);
        }
        assert_eq!(
            Chunk::decode(3, longhand.bits(), &encoded(&longhand)),
            Err(DecodeError::NotCanonical)
        );
    }

    #[test]
    fn a_steady_counter_compresses_to_about_two_bits_a_sample() {
        let mut chunk = Chunk::new();
        for i in 0..120 {
            chunk.push(Sample {
                timestamp: i * 10_000,
                value: 42.0,
            });
        }
        // 128 bits of header; the first delta (10 s) in the 32-bit class; then one bit for the
        // timestamp and one for the value.
        assert_eq!(chunk.bits(), 128 + 37 + 1 + 118 * 2);
        assert_eq!(chunk.time_range(), Some((0, 1_190_000)));
    }
}
