//! The storage every series is made of: runs of items ("blocks") that close when full and are
//! then shared read-only, so a query can take them out of the store by reference count and
//! decode them with no lock held.
//!
//! Three kinds of block hold the three kinds of data: [`Chunk`]s of raw samples, [`AggChunk`]s
//! of downsampled aggregates, and [`SketchBlock`]s of per-interval histogram sketches.

use std::collections::VecDeque;
use std::sync::Arc;

use serde::Serialize;

use crate::chunk::{Chunk, Sample};
use crate::sketch::Sketch;

/// A run of items in time order of arrival.
pub(crate) trait Block: Default + Clone {
    type Item;
    fn push(&mut self, item: Self::Item);
    fn len(&self) -> usize;
    /// The earliest and latest timestamps, `None` when empty.
    fn time_range(&self) -> Option<(i64, i64)>;
    fn memory_bytes(&self) -> usize;
    /// Called once when the block closes: give back spare capacity.
    fn seal(&mut self);
}

impl Block for Chunk {
    type Item = Sample;
    fn push(&mut self, item: Sample) {
        Chunk::push(self, item);
    }
    fn len(&self) -> usize {
        Chunk::len(self)
    }
    fn time_range(&self) -> Option<(i64, i64)> {
        Chunk::time_range(self)
    }
    fn memory_bytes(&self) -> usize {
        Chunk::memory_bytes(self)
    }
    fn seal(&mut self) {
        self.shrink_to_fit();
    }
}

/// What the samples of one downsampling interval had.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Aggregate {
    /// The interval's end, in milliseconds; it covers `(end − resolution, end]`, as a
    /// Prometheus range does.
    pub end: i64,
    /// Samples in the interval.
    pub count: u64,
    /// Their smallest value.
    pub min: f64,
    /// Their largest value.
    pub max: f64,
    /// Their sum.
    pub sum: f64,
    /// The value of the latest sample.
    pub last: f64,
    /// How much the series grew into and within the interval, as a counter: the sum of the
    /// rises from each sample's predecessor (the first from the previous interval's last
    /// sample), a fall counting as a reset to zero. What `increase` and `rate` read over long
    /// ranges.
    pub increase: f64,
}

/// Aggregates compressed as six Gorilla columns sharing their (regular) timestamps.
#[derive(Debug, Clone, Default)]
pub(crate) struct AggChunk {
    /// count, min, max, sum, last, increase.
    columns: [Chunk; 6],
}

impl AggChunk {
    pub(crate) fn iter(&self) -> impl Iterator<Item = Aggregate> + '_ {
        let [c, mn, mx, s, l, i] = &self.columns;
        c.iter()
            .zip(mn.iter())
            .zip(mx.iter())
            .zip(s.iter())
            .zip(l.iter())
            .zip(i.iter())
            .map(|(((((c, mn), mx), s), l), i)| Aggregate {
                end: c.timestamp,
                count: c.value as u64,
                min: mn.value,
                max: mx.value,
                sum: s.value,
                last: l.value,
                increase: i.value,
            })
    }
}

impl Block for AggChunk {
    type Item = Aggregate;
    fn push(&mut self, a: Aggregate) {
        let values = [a.count as f64, a.min, a.max, a.sum, a.last, a.increase];
        for (column, value) in self.columns.iter_mut().zip(values) {
            column.push(Sample {
                timestamp: a.end,
                value,
            });
        }
    }
    fn len(&self) -> usize {
        self.columns[0].len()
    }
    fn time_range(&self) -> Option<(i64, i64)> {
        self.columns[0].time_range()
    }
    fn memory_bytes(&self) -> usize {
        self.columns.iter().map(Chunk::memory_bytes).sum()
    }
    fn seal(&mut self) {
        self.columns.iter_mut().for_each(Chunk::shrink_to_fit);
    }
}

/// Histogram sketches, one per sampling interval (or per downsampling interval in a tier),
/// each kept encoded.
#[derive(Debug, Clone, Default)]
pub(crate) struct SketchBlock {
    items: Vec<(i64, Box<[u8]>)>,
    bytes: usize,
    range: Option<(i64, i64)>,
}

impl SketchBlock {
    /// The sketches with their timestamps; a sketch that does not decode (it cannot happen
    /// short of memory corruption) is skipped.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (i64, Sketch)> + '_ {
        self.items
            .iter()
            .filter_map(|(t, bytes)| Sketch::decode(bytes).map(|s| (*t, s)))
    }
}

impl Block for SketchBlock {
    type Item = (i64, Box<[u8]>);
    fn push(&mut self, (t, bytes): (i64, Box<[u8]>)) {
        self.bytes += bytes.len();
        self.range = Some(self.range.map_or((t, t), |(lo, hi)| (lo.min(t), hi.max(t))));
        self.items.push((t, bytes));
    }
    fn len(&self) -> usize {
        self.items.len()
    }
    fn time_range(&self) -> Option<(i64, i64)> {
        self.range
    }
    fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.bytes
            + self.items.capacity() * std::mem::size_of::<(i64, Box<[u8]>)>()
    }
    fn seal(&mut self) {
        self.items.shrink_to_fit();
    }
}

/// Closed blocks, shared read-only, and the open one being filled.
#[derive(Debug, Default)]
pub(crate) struct Blocks<B> {
    closed: VecDeque<Arc<B>>,
    /// What the closed blocks take; they never change once closed, so this is kept, not summed.
    closed_bytes: usize,
    /// Shared too: a query takes it by reference count, and an append while a query still
    /// holds it copies it first (copy on write), so the copy is the writer's, made only then,
    /// and never under a query's hold on the store.
    open: Arc<B>,
}

impl<B: Block> Blocks<B> {
    /// Appends an item; returns the block it closed, if it filled one.
    pub(crate) fn push(&mut self, item: B::Item, per_block: usize) -> Option<Arc<B>> {
        Arc::make_mut(&mut self.open).push(item);
        if self.open.len() < per_block.max(1) {
            return None;
        }
        let mut full = Arc::unwrap_or_clone(std::mem::take(&mut self.open));
        full.seal();
        self.closed_bytes += full.memory_bytes();
        let full = Arc::new(full);
        self.closed.push_back(Arc::clone(&full));
        Some(full)
    }

    /// Closes the open block early, if it holds anything; returns it.
    pub(crate) fn seal_open(&mut self) -> Option<Arc<B>> {
        if self.open.len() == 0 {
            return None;
        }
        let mut open = Arc::unwrap_or_clone(std::mem::take(&mut self.open));
        open.seal();
        self.closed_bytes += open.memory_bytes();
        let open = Arc::new(open);
        self.closed.push_back(Arc::clone(&open));
        Some(open)
    }

    pub(crate) fn memory(&self) -> usize {
        self.closed_bytes + self.open.memory_bytes()
    }

    /// Drops closed blocks wholly older than `max_age` before `newest`; returns how many.
    pub(crate) fn expire(&mut self, newest: i64, max_age: i64) -> u64 {
        let mut dropped = 0;
        while let Some((_, hi)) = self.closed.front().and_then(|b| b.time_range()) {
            if newest.saturating_sub(hi) <= max_age {
                break;
            }
            self.pop_oldest();
            dropped += 1;
        }
        dropped
    }

    /// The earliest timestamp of the oldest closed block.
    pub(crate) fn oldest_closed(&self) -> Option<i64> {
        self.closed
            .front()
            .and_then(|b| b.time_range())
            .map(|(lo, _)| lo)
    }

    /// Drops the oldest closed block; returns the bytes freed.
    pub(crate) fn pop_oldest(&mut self) -> Option<usize> {
        let block = self.closed.pop_front()?;
        let bytes = block.memory_bytes();
        self.closed_bytes -= bytes;
        Some(bytes)
    }

    /// The blocks that may hold items in `from..=to`, by reference (the open one too). Cheap
    /// enough to take under a lock: no item is decoded or copied.
    pub(crate) fn view(&self, from: i64, to: i64) -> Vec<Arc<B>> {
        let overlaps = |b: &B| {
            b.time_range()
                .is_some_and(|(lo, hi)| hi >= from && lo <= to)
        };
        let mut out: Vec<Arc<B>> = self
            .closed
            .iter()
            .filter(|b| overlaps(b))
            .cloned()
            .collect();
        if overlaps(&self.open) {
            out.push(Arc::clone(&self.open));
        }
        out
    }

    /// What [`view`](Self::view) takes for `x..=to`, plus the block(s) holding the latest item
    /// before `x`: a window's first sample needs its predecessor, however far back it lies.
    /// The predecessor is the latest item with a timestamp below `x` (or in a block that
    /// overlaps `x..=to`, which is taken anyway), so only the blocks whose latest timestamp
    /// is the greatest one below `x` are added.
    pub(crate) fn view_with_predecessor(&self, x: i64, to: i64) -> Vec<Arc<B>> {
        let before = self
            .blocks()
            .filter_map(|b| b.time_range())
            .map(|(_, hi)| hi)
            .filter(|&hi| hi < x)
            .max();
        let wanted = |b: &B| {
            b.time_range()
                .is_some_and(|(lo, hi)| (hi >= x && lo <= to) || Some(hi) == before)
        };
        let mut out: Vec<Arc<B>> = self.closed.iter().filter(|b| wanted(b)).cloned().collect();
        if wanted(&self.open) {
            out.push(Arc::clone(&self.open));
        }
        out
    }

    /// Closed blocks, oldest first, then the open one.
    fn blocks(&self) -> impl Iterator<Item = &B> {
        self.closed
            .iter()
            .map(|b| &**b)
            .chain(std::iter::once(&*self.open))
    }

    /// The earliest timestamp held, closed or open.
    pub(crate) fn earliest(&self) -> Option<i64> {
        self.oldest_closed()
            .or_else(|| self.open.time_range().map(|(lo, _)| lo))
    }
}

impl Blocks<Chunk> {
    /// The values of the samples just before and just after a sample stamped `t` would sit in
    /// timestamp order, were it appended now: the latest sample stamped at most `t` (of equal
    /// timestamps, the last appended) and the earliest stamped after `t` (the first
    /// appended). Decodes only the blocks that can hold them.
    pub(crate) fn neighbours(&self, t: i64) -> (Option<f64>, Option<f64>) {
        let mut latest_before = None;
        let mut earliest_after = None;
        for (lo, hi) in self.blocks().filter_map(Chunk::time_range) {
            if hi <= t {
                latest_before = latest_before.max(Some(hi));
            }
            if lo > t {
                earliest_after = Some(earliest_after.map_or(lo, |e: i64| e.min(lo)));
            }
        }
        let mut before: Option<Sample> = None;
        let mut after: Option<Sample> = None;
        for block in self.blocks() {
            let Some((lo, hi)) = block.time_range() else {
                continue;
            };
            let straddles = lo <= t && t < hi;
            if !(straddles || Some(hi) == latest_before || Some(lo) == earliest_after) {
                continue;
            }
            for s in block.iter() {
                if s.timestamp <= t {
                    if before.is_none_or(|b| s.timestamp >= b.timestamp) {
                        before = Some(s);
                    }
                } else if after.is_none_or(|a| s.timestamp < a.timestamp) {
                    after = Some(s);
                }
            }
        }
        (before.map(|s| s.value), after.map(|s| s.value))
    }
}

/// The end of the interval of `resolution` that holds `t`: intervals are `(end − resolution,
/// end]`, ends at multiples of `resolution`. Computed in `i128`: near `i64::MAX` the end would
/// pass it, and is then `i64::MAX` (the last interval is cut short there).
fn interval_end(t: i64, resolution: i64) -> i64 {
    let (t, r) = (i128::from(t), i128::from(resolution.max(1)));
    i64::try_from((t - 1).div_euclid(r) * r + r).unwrap_or(i64::MAX)
}

/// How much a counter rose from `previous` to `value`: a fall is a reset to zero, so the rise
/// is then the new value. No previous sample, no rise.
pub(crate) fn rise(previous: Option<f64>, value: f64) -> f64 {
    match previous {
        Some(p) if value >= p => value - p,
        Some(_) => value,
        None => 0.0,
    }
}

/// Folds raw samples into fixed intervals of `resolution` milliseconds, in timestamp order.
#[derive(Debug, Clone)]
pub(crate) struct Rollup {
    resolution: i64,
    current: Option<Aggregate>,
    /// The value of the latest sample folded in, by timestamp (of equal timestamps, the last
    /// appended): the predecessor of the next sample in order, for its counter rise.
    previous: Option<f64>,
}

impl Rollup {
    pub(crate) fn new(resolution: i64) -> Self {
        Rollup {
            resolution: resolution.max(1),
            current: None,
            previous: None,
        }
    }

    /// Folds in a sample stamped no earlier than any folded so far; returns the interval it
    /// completed, if it started a new one.
    pub(crate) fn push(&mut self, s: Sample) -> Option<Aggregate> {
        let end = interval_end(s.timestamp, self.resolution);
        let rise = rise(self.previous, s.value);
        match &mut self.current {
            Some(a) if a.end == end => {
                a.count += 1;
                a.min = a.min.min(s.value);
                a.max = a.max.max(s.value);
                a.sum += s.value;
                a.last = s.value;
                a.increase += rise;
                self.previous = Some(s.value);
                None
            }
            // Not reached: the store hands older samples to `push_late`.
            Some(a) if end < a.end => None,
            current => {
                self.previous = Some(s.value);
                current.replace(Aggregate {
                    end,
                    count: 1,
                    min: s.value,
                    max: s.value,
                    sum: s.value,
                    last: s.value,
                    increase: rise,
                })
            }
        }
    }

    /// Folds in a late sample: one stamped before the latest folded so far, whose neighbours
    /// in timestamp order had the values `before` (none if it is the earliest) and `after`.
    /// Within the interval being filled it is placed in timestamp order: count, min, max and
    /// sum take it; `last` stays (a later sample exists); the increase gains the rises into
    /// and out of it in place of the rise from `before` to `after`. A sample older than the
    /// interval being filled is left out of the tier (the raw series keeps it).
    pub(crate) fn push_late(&mut self, s: Sample, before: Option<f64>, after: f64) {
        let end = interval_end(s.timestamp, self.resolution);
        if let Some(a) = &mut self.current
            && a.end == end
        {
            a.count += 1;
            a.min = a.min.min(s.value);
            a.max = a.max.max(s.value);
            a.sum += s.value;
            a.increase += rise(before, s.value) + rise(Some(s.value), after) - rise(before, after);
        }
    }

    /// The interval being built, not yet in any block.
    pub(crate) fn current(&self) -> Option<Aggregate> {
        self.current
    }
}

/// Merges per-interval sketches into fixed intervals of `resolution` milliseconds.
#[derive(Debug, Clone)]
pub(crate) struct SketchRollup {
    resolution: i64,
    current: Option<(i64, Sketch)>,
}

impl SketchRollup {
    pub(crate) fn new(resolution: i64) -> Self {
        SketchRollup {
            resolution: resolution.max(1),
            current: None,
        }
    }

    /// Merges a sketch in; returns the interval it completed, encoded.
    pub(crate) fn push(&mut self, t: i64, sketch: &Sketch) -> Option<(i64, Box<[u8]>)> {
        let end = interval_end(t, self.resolution);
        match &mut self.current {
            Some((e, merged)) if *e == end => {
                merged.merge(sketch);
                None
            }
            Some((e, _)) if end < *e => None,
            current => current
                .replace((end, sketch.clone()))
                .map(|(e, done)| (e, done.encode().into_boxed_slice())),
        }
    }

    /// The interval being merged, not yet in any block.
    pub(crate) fn current(&self) -> Option<(i64, &Sketch)> {
        self.current.as_ref().map(|(t, s)| (*t, s))
    }
}
