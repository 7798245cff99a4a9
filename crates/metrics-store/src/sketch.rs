//! A mergeable quantile sketch with a stated relative error: logarithmic buckets, as in
//! DDSketch (Masson, Rim and Lee, "DDSketch: A Fast and Fully-Mergeable Quantile Sketch with
//! Relative-Error Guarantees", VLDB 2019), written by us.
//!
//! A positive value `v` falls in bucket `i = ceil(log_γ v)` with `γ = (1 + α) / (1 − α)`, and
//! the bucket answers with `2γ^i / (γ + 1)`, which is within `α` of every value in it. So a
//! quantile is off by at most `α` times its true value, whatever the distribution, and two
//! sketches merge by adding their bucket counts: the error bound holds for the merge too.
//! Negative values mirror the positive ones; values closer to zero than
//! [`Sketch::MIN_INDEXABLE`] count as zero.

use std::fmt;

/// The relative error of every sketch of this crate: 1 %.
pub const RELATIVE_ERROR: f64 = 0.01;

/// Buckets kept per sign. Past this many, the lowest buckets are folded into the lowest kept
/// one, so the error bound then holds only for quantiles above the folded range. With a 1 %
/// error, 2,048 buckets span a ratio of 10^17 between the smallest and largest value, so
/// folding takes values as far apart as nanoseconds and years.
const MAX_BUCKETS: usize = 2048;

/// Counts of consecutive buckets, starting at bucket `offset`.
#[derive(Debug, Clone, Default, PartialEq)]
struct Buckets {
    offset: i32,
    counts: Vec<u64>,
}

impl Buckets {
    /// Adds `count` to bucket `index`. At most [`MAX_BUCKETS`] consecutive buckets are kept:
    /// past that, the lowest fold into the lowest bucket kept. Differences of indices are
    /// taken in `i64`, so no pair of `i32` indices overflows, and nothing is ever sized past
    /// `MAX_BUCKETS`.
    fn add(&mut self, index: i32, count: u64) {
        if self.counts.is_empty() {
            self.offset = index;
            self.counts.push(count);
            return;
        }
        let max = MAX_BUCKETS as i64;
        let offset = i64::from(self.offset);
        let len = self.counts.len() as i64;
        let wanted = i64::from(index);
        if wanted < offset {
            // Below the lowest bucket: grow downwards as far as the cap allows; a value lower
            // still folds into the lowest bucket that fits.
            let grow = (offset - wanted).min(max - len);
            if grow > 0 {
                self.counts
                    .splice(0..0, std::iter::repeat_n(0, grow as usize));
                self.offset = (offset - grow) as i32;
            }
            self.counts[0] = self.counts[0].saturating_add(count);
            return;
        }
        if wanted - offset >= max {
            // Too far above: keep the top `MAX_BUCKETS` buckets, the lowest fold together.
            let new_offset = wanted - (max - 1);
            let shift = new_offset - offset;
            let folded: u64 = if shift >= len {
                self.counts.drain(..).fold(0, u64::saturating_add)
            } else {
                self.counts
                    .drain(..shift as usize)
                    .fold(0, u64::saturating_add)
            };
            if self.counts.is_empty() {
                self.counts.push(folded);
            } else {
                self.counts[0] = self.counts[0].saturating_add(folded);
            }
            self.offset = new_offset as i32;
        }
        let at = (wanted - i64::from(self.offset)) as usize;
        if at >= self.counts.len() {
            self.counts.resize(at + 1, 0);
        }
        self.counts[at] = self.counts[at].saturating_add(count);
    }

    fn merge(&mut self, other: &Buckets) {
        for (i, &c) in other.counts.iter().enumerate() {
            if c > 0 {
                self.add(other.offset.saturating_add(i as i32), c);
            }
        }
    }

    #[cfg(test)]
    fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    fn memory_bytes(&self) -> usize {
        self.counts.capacity() * std::mem::size_of::<u64>()
    }
}

/// A quantile sketch: count, sum, min and max exactly, quantiles within [`RELATIVE_ERROR`].
///
/// ```
/// use hardening_metrics_store::Sketch;
///
/// let mut sketch = Sketch::new();
/// for ms in 1..=1000 {
///     sketch.add(f64::from(ms));
/// }
/// let p99 = sketch.quantile(0.99).unwrap();
/// assert!((p99 - 990.0).abs() <= 990.0 * 0.01);
/// assert_eq!(sketch.count(), 1000);
/// assert_eq!(sketch.max(), Some(1000.0));
/// ```
#[derive(Clone, Default, PartialEq)]
pub struct Sketch {
    positive: Buckets,
    negative: Buckets,
    zero: u64,
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
    /// NaN and infinite values: not placed in a bucket, but counted so nothing vanishes.
    ignored: u64,
}

impl fmt::Debug for Sketch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sketch")
            .field("count", &self.count)
            .field("sum", &self.sum)
            .field("min", &self.min())
            .field("max", &self.max())
            .field(
                "buckets",
                &(self.positive.counts.len() + self.negative.counts.len()),
            )
            .field("ignored", &self.ignored)
            .finish()
    }
}

/// `ln γ` with `γ = (1 + α) / (1 − α)`, `α` = [`RELATIVE_ERROR`]: a literal, since `ln` is
/// not `const` and computing it on every recorded value cost a second logarithm (a unit test
/// checks it against the formula).
const GAMMA_LN: f64 = 0.020_000_666_706_669_435;

fn index_of(magnitude: f64) -> i32 {
    // `magnitude` is finite and at least MIN_INDEXABLE, so this stays far inside i32.
    (magnitude.ln() / GAMMA_LN).ceil() as i32
}

fn value_of(index: i32) -> f64 {
    let gamma = (1.0 + RELATIVE_ERROR) / (1.0 - RELATIVE_ERROR);
    2.0 * (f64::from(index) * GAMMA_LN).exp() / (gamma + 1.0)
}

impl Sketch {
    /// Values closer to zero than this count as zero.
    pub const MIN_INDEXABLE: f64 = 1e-9;

    /// An empty sketch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one value. NaN and infinities are counted in [`ignored`](Self::ignored) and
    /// nowhere else.
    pub fn add(&mut self, value: f64) {
        if !value.is_finite() {
            self.ignored += 1;
            return;
        }
        if self.count == 0 {
            self.min = value;
            self.max = value;
        } else {
            self.min = self.min.min(value);
            self.max = self.max.max(value);
        }
        self.count += 1;
        self.sum += value;
        if value >= Self::MIN_INDEXABLE {
            self.positive.add(index_of(value), 1);
        } else if value <= -Self::MIN_INDEXABLE {
            self.negative.add(index_of(-value), 1);
        } else {
            self.zero += 1;
        }
    }

    /// Adds every value of `other`, as if they had been added here.
    pub fn merge(&mut self, other: &Sketch) {
        if other.count > 0 {
            if self.count == 0 {
                self.min = other.min;
                self.max = other.max;
            } else {
                self.min = self.min.min(other.min);
                self.max = self.max.max(other.max);
            }
        }
        self.count = self.count.saturating_add(other.count);
        self.sum += other.sum;
        self.zero = self.zero.saturating_add(other.zero);
        self.ignored = self.ignored.saturating_add(other.ignored);
        self.positive.merge(&other.positive);
        self.negative.merge(&other.negative);
    }

    /// Values added (NaN and infinities excluded).
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The sum of the values added.
    pub fn sum(&self) -> f64 {
        self.sum
    }

    /// The smallest value added, exactly.
    pub fn min(&self) -> Option<f64> {
        (self.count > 0).then_some(self.min)
    }

    /// The largest value added, exactly.
    pub fn max(&self) -> Option<f64> {
        (self.count > 0).then_some(self.max)
    }

    /// NaN and infinite values seen, which are in no other figure.
    pub fn ignored(&self) -> u64 {
        self.ignored
    }

    /// Whether no value was added.
    pub fn is_empty(&self) -> bool {
        self.count == 0 && self.ignored == 0
    }

    /// The `q`-quantile (`0 ≤ q ≤ 1`): the value of rank `⌊q·(count − 1)⌋` in sorted order,
    /// within [`RELATIVE_ERROR`] of it, and never outside `[min, max]`. `None` when empty or
    /// when `q` is not in `[0, 1]`.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.count == 0 || !(0.0..=1.0).contains(&q) {
            return None;
        }
        let rank = (q * (self.count - 1) as f64).floor() as u64;
        // The extremes are known exactly.
        if rank == 0 {
            return Some(self.min);
        }
        if rank == self.count - 1 {
            return Some(self.max);
        }
        // Walk from the most negative value up: negative buckets from the largest index down.
        let mut seen = 0u64;
        let neg = &self.negative;
        for (i, &c) in neg.counts.iter().enumerate().rev() {
            seen += c;
            if seen > rank {
                return Some(self.clamp(-value_of(neg.offset + i as i32)));
            }
        }
        seen += self.zero;
        if seen > rank {
            return Some(self.clamp(0.0));
        }
        let pos = &self.positive;
        for (i, &c) in pos.counts.iter().enumerate() {
            seen += c;
            if seen > rank {
                return Some(self.clamp(value_of(pos.offset + i as i32)));
            }
        }
        Some(self.max)
    }

    fn clamp(&self, v: f64) -> f64 {
        v.clamp(self.min, self.max)
    }

    /// Memory the sketch holds, in bytes.
    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Self>() + self.positive.memory_bytes() + self.negative.memory_bytes()
    }

    /// The sketch as compact bytes: exact figures, then each sign's non-empty buckets as
    /// varint index gaps and counts. [`Sketch::decode`] reads them back to an equal sketch.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(48 + 4 * self.positive.counts.len());
        for v in [self.count, self.zero, self.ignored] {
            put_varint(&mut out, v);
        }
        for v in [self.sum, self.min, self.max] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for buckets in [&self.positive, &self.negative] {
            let used = buckets.counts.iter().filter(|&&c| c > 0).count();
            put_varint(&mut out, used as u64);
            let mut previous = None;
            for (i, &c) in buckets.counts.iter().enumerate() {
                if c == 0 {
                    continue;
                }
                let index = buckets.offset + i as i32;
                match previous {
                    None => put_varint(&mut out, zigzag(index)),
                    Some(p) => put_varint(&mut out, (index - p) as u64),
                }
                put_varint(&mut out, c);
                previous = Some(index);
            }
        }
        out
    }

    /// Reads bytes written by [`encode`](Self::encode); `None` if they are not such bytes.
    ///
    /// Whatever the input, the sketch read back is no larger than one [`add`](Self::add) can
    /// make: bucket indices must be those of finite values, rising, at most 2,048
    /// apart for each sign; every bucket count is at least one and they add up, with the
    /// zeros, to the count; min and max are finite and in order. Bytes that break any of
    /// these are not a sketch this crate wrote, so nothing is allocated from them.
    pub fn decode(bytes: &[u8]) -> Option<Sketch> {
        let mut r = Reader { bytes, at: 0 };
        let mut sketch = Sketch {
            count: r.varint()?,
            zero: r.varint()?,
            ignored: r.varint()?,
            sum: r.f64()?,
            min: r.f64()?,
            max: r.f64()?,
            ..Sketch::default()
        };
        if sketch.count > 0
            && !(sketch.min.is_finite() && sketch.max.is_finite() && sketch.min <= sketch.max)
        {
            return None;
        }
        let (lowest, highest) = index_bounds();
        let mut total = sketch.zero;
        for sign in 0..2 {
            let used = r.varint()?;
            // Every bucket takes at least two bytes, so a count past that is corrupt, and it
            // must not size an allocation.
            if used > (bytes.len() as u64) / 2 || used > MAX_BUCKETS as u64 {
                return None;
            }
            let mut first = 0i64;
            let mut index = 0i64;
            for n in 0..used {
                let step = r.varint()?;
                index = if n == 0 {
                    first = i64::from(unzigzag(step)?);
                    first
                } else if step == 0 {
                    return None; // indices rise strictly
                } else {
                    index.checked_add(i64::try_from(step).ok()?)?
                };
                if index < lowest || index > highest || index - first >= MAX_BUCKETS as i64 {
                    return None;
                }
                let count = r.varint()?;
                if count == 0 {
                    return None;
                }
                total = total.checked_add(count)?;
                let buckets = if sign == 0 {
                    &mut sketch.positive
                } else {
                    &mut sketch.negative
                };
                // In range: `lowest..=highest` lies inside `i32`.
                buckets.add(i32::try_from(index).ok()?, count);
            }
        }
        (r.at == bytes.len() && total == sketch.count).then_some(sketch)
    }
}

/// The bucket indices of the smallest and the largest magnitude a sketch places.
fn index_bounds() -> (i64, i64) {
    (
        i64::from(index_of(Sketch::MIN_INDEXABLE)),
        i64::from(index_of(f64::MAX)),
    )
}

fn zigzag(v: i32) -> u64 {
    u64::from(((v << 1) ^ (v >> 31)) as u32)
}

fn unzigzag(v: u64) -> Option<i32> {
    let v = u32::try_from(v).ok()?;
    Some(((v >> 1) as i32) ^ -((v & 1) as i32))
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn varint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self.bytes.get(self.at)?;
            self.at += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }

    fn f64(&mut self) -> Option<f64> {
        let bytes = self.bytes.get(self.at..self.at + 8)?;
        self.at += 8;
        Some(f64::from_le_bytes(bytes.try_into().ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gamma_literal_is_the_formulas() {
        let computed = ((1.0 + RELATIVE_ERROR) / (1.0 - RELATIVE_ERROR)).ln();
        assert!((GAMMA_LN - computed).abs() <= f64::EPSILON * computed);
    }

    #[test]
    fn each_bucket_answers_within_the_error_of_its_values() {
        for v in [1e-9, 0.001, 0.5, 1.0, 3.7, 1e6, 1e15] {
            let answer = value_of(index_of(v));
            assert!(
                (answer - v).abs() <= v * RELATIVE_ERROR * (1.0 + 1e-9),
                "{v} → {answer}"
            );
        }
    }

    #[test]
    fn negatives_zero_and_non_finite_values() {
        let mut s = Sketch::new();
        for v in [-5.0, -1.0, 0.0, 1e-12, 2.0, f64::NAN, f64::INFINITY] {
            s.add(v);
        }
        assert_eq!(s.count(), 5);
        assert_eq!(s.ignored(), 2);
        assert_eq!(s.quantile(0.0), Some(-5.0));
        assert_eq!(s.quantile(0.5), Some(0.0));
        assert_eq!(s.quantile(1.0), Some(2.0));
        assert_eq!(Sketch::decode(&s.encode()), Some(s));
    }

    #[test]
    fn a_range_too_wide_folds_its_lowest_values_and_stays_bounded() {
        let mut s = Sketch::new();
        for e in -9..300 {
            s.add(10f64.powi(e));
        }
        assert!(s.positive.counts.len() <= MAX_BUCKETS);
        assert_eq!(s.positive.total(), 309);
        let p99 = s.quantile(0.99).unwrap();
        let exact = 10f64.powi(-9 + (0.99f64 * 308.0).floor() as i32);
        assert!((p99 - exact).abs() <= exact * RELATIVE_ERROR * (1.0 + 1e-9));
    }

    /// Bytes as `encode` lays them out, with whatever figures and buckets are given.
    fn forged(count: u64, zero: u64, min: f64, max: f64, positive: &[(u64, u64)]) -> Vec<u8> {
        let mut out = Vec::new();
        for v in [count, zero, 0] {
            put_varint(&mut out, v);
        }
        for v in [0.0f64, min, max] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        put_varint(&mut out, positive.len() as u64);
        for &(step, c) in positive {
            put_varint(&mut out, step);
            put_varint(&mut out, c);
        }
        put_varint(&mut out, 0);
        out
    }

    #[test]
    fn buckets_far_apart_do_not_size_an_allocation() {
        // 41 bytes: two buckets 2^31 - 1 apart. Read as they were, they asked for a vector of
        // 2^31 counts (16 GiB).
        let bytes = forged(
            2,
            0,
            1.0,
            2.0,
            &[(zigzag(-(1 << 30)), 1), ((1 << 31) - 1, 1)],
        );
        assert_eq!(bytes.len(), 41);
        assert_eq!(Sketch::decode(&bytes), None);
        // Within the indices of finite values but wider than a sketch keeps.
        let (lowest, _) = index_bounds();
        let wide = forged(
            2,
            0,
            1.0,
            2.0,
            &[(zigzag(lowest as i32), 1), (MAX_BUCKETS as u64, 1)],
        );
        assert_eq!(Sketch::decode(&wide), None);
        // Adding far apart never sizes past the cap either.
        let mut b = Buckets::default();
        b.add(-(1 << 30), 1);
        b.add(i32::MAX, 1);
        b.add(i32::MIN, 1);
        assert!(b.counts.len() <= MAX_BUCKETS);
        assert_eq!(b.total(), 3);
    }

    #[test]
    fn figures_that_do_not_add_up_do_not_decode() {
        let ok = forged(3, 1, 1.0, 2.0, &[(zigzag(0), 1), (5, 1)]);
        assert!(Sketch::decode(&ok).is_some());
        // The buckets and zeros must add up to the count.
        assert_eq!(
            Sketch::decode(&forged(4, 1, 1.0, 2.0, &[(zigzag(0), 1), (5, 1)])),
            None
        );
        assert_eq!(
            Sketch::decode(&forged(u64::MAX, 1, 1.0, 2.0, &[(zigzag(0), u64::MAX)])),
            None
        );
        // An empty bucket, a repeated index, min above max, a NaN bound: never written.
        assert_eq!(
            Sketch::decode(&forged(2, 1, 1.0, 2.0, &[(zigzag(0), 1), (5, 0)])),
            None
        );
        assert_eq!(
            Sketch::decode(&forged(3, 1, 1.0, 2.0, &[(zigzag(0), 1), (0, 1)])),
            None
        );
        assert_eq!(
            Sketch::decode(&forged(3, 1, 2.0, 1.0, &[(zigzag(0), 1), (5, 1)])),
            None
        );
        assert_eq!(
            Sketch::decode(&forged(3, 1, f64::NAN, 1.0, &[(zigzag(0), 1), (5, 1)])),
            None
        );
    }

    #[test]
    fn garbage_does_not_decode() {
        assert_eq!(Sketch::decode(&[]), None);
        assert_eq!(Sketch::decode(&[0xff; 40]), None);
        let mut bytes = Sketch::new().encode();
        bytes.push(0);
        assert_eq!(Sketch::decode(&bytes), None);
    }
}
