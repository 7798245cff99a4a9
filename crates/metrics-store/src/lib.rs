//! In-process, compressed time series for `metrics` counters and gauges.
//!
//! This crate is being built in steps. Its first two are the storage format every later part
//! rests on, [`Chunk`] (an append-only run of samples compressed with the Gorilla scheme:
//! delta-of-delta timestamps, XOR-encoded values; written by us and exact to the bit), and the
//! [`Store`] of series made of chunks, bounded in age, memory and series count, with the
//! latest value, raw ranges and a snapshot of every series. A [`StoreRecorder`] captures what
//! anything records through the `metrics` facade into the store, and hands it on to a
//! downstream recorder such as `metrics-exporter-prometheus`'s.
//!
//! ```
//! use hardening_metrics_store::{Chunk, Sample};
//!
//! let mut chunk = Chunk::new();
//! chunk.push(Sample { timestamp: 0, value: f64::NAN });
//! chunk.push(Sample { timestamp: 10_000, value: -0.0 });
//! let back: Vec<Sample> = chunk.iter().collect();
//! assert_eq!(back[1], Sample { timestamp: 10_000, value: -0.0 });
//! assert!(back[0].value.is_nan());
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]

mod bits;
mod chunk;
mod persist;
mod recorder;
mod store;

pub use chunk::{Chunk, ChunkIter, Sample};
pub use persist::{
    ChunkLog, Corruption, CorruptionKind, MAX_SEGMENT_BYTES, MIN_SEGMENT_BYTES, PersistError,
    PersistOptions, PersistOptionsBuilder, Recovered, SyncPolicy,
};
pub use recorder::StoreRecorder;
pub use store::{Dropped, Retention, SeriesKey, Store};
