//! Bit-level writing and reading, most significant bit first.

/// Appends bits to a growing buffer of 64-bit words.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct BitWriter {
    words: Vec<u64>,
    /// Bits used in the last word (0 when a new word must be started).
    used: u32,
}

impl BitWriter {
    /// Appends the low `count` bits of `value` (count ≤ 64).
    pub(crate) fn write(&mut self, value: u64, count: u32) {
        debug_assert!(count <= 64);
        if count == 0 {
            return;
        }
        let value = if count == 64 {
            value
        } else {
            value & ((1u64 << count) - 1)
        };
        if self.used == 0 {
            self.words.push(0);
        }
        let free = 64 - self.used;
        let last = self.words.len() - 1;
        if count <= free {
            self.words[last] |= value << (free - count);
            self.used = (self.used + count) % 64;
        } else {
            let spill = count - free;
            self.words[last] |= value >> spill;
            self.words.push(value << (64 - spill));
            self.used = spill;
        }
    }

    /// Bits written.
    pub(crate) fn len(&self) -> u64 {
        if self.used == 0 {
            self.words.len() as u64 * 64
        } else {
            (self.words.len() as u64 - 1) * 64 + u64::from(self.used)
        }
    }

    /// The words, the last one padded with zeros.
    pub(crate) fn words(&self) -> &[u64] {
        &self.words
    }

    /// Memory the buffer holds, in bytes.
    pub(crate) fn capacity_bytes(&self) -> usize {
        self.words.capacity() * 8
    }

    pub(crate) fn shrink_to_fit(&mut self) {
        self.words.shrink_to_fit();
    }
}

/// Reads bits back from a [`BitWriter`]'s words. Reading past the end yields `None`.
#[derive(Debug, Clone)]
pub(crate) struct BitReader<'a> {
    words: &'a [u64],
    position: u64,
    end: u64,
}

impl<'a> BitReader<'a> {
    pub(crate) fn new(words: &'a [u64], end: u64) -> Self {
        BitReader {
            words,
            position: 0,
            end,
        }
    }

    /// Reads `count` bits (≤ 64) as the low bits of the result.
    #[inline]
    pub(crate) fn read(&mut self, count: u32) -> Option<u64> {
        if count == 0 {
            return Some(0);
        }
        if self.position + u64::from(count) > self.end {
            return None;
        }
        let word = (self.position / 64) as usize;
        let offset = (self.position % 64) as u32;
        let available = 64 - offset;
        let value = if count <= available {
            let shifted = self.words[word] << offset;
            if count == 64 {
                shifted
            } else {
                shifted >> (64 - count)
            }
        } else {
            let high = (self.words[word] << offset) >> (64 - count);
            let rest = count - available;
            high | (self.words[word + 1] >> (64 - rest))
        };
        self.position += u64::from(count);
        Some(value)
    }

    #[inline]
    pub(crate) fn bit(&mut self) -> Option<bool> {
        self.read(1).map(|b| b == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_reads_across_word_boundaries() {
        let mut w = BitWriter::default();
        let fields: Vec<(u64, u32)> = (1..=64u32)
            .map(|n| (0xDEAD_BEEF_CAFE_F00D_u64.rotate_left(n), n))
            .collect();
        for &(v, n) in &fields {
            w.write(v, n);
        }
        let mut r = BitReader::new(w.words(), w.len());
        for &(v, n) in &fields {
            let mask = if n == 64 { u64::MAX } else { (1 << n) - 1 };
            assert_eq!(r.read(n), Some(v & mask), "{n} bits");
        }
        assert_eq!(r.read(1), None, "nothing past the end");
    }
}
