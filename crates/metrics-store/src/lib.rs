//! In-process, compressed time series of `metrics` counters, gauges and histograms, with
//! queries.
//!
//! - [`StoreRecorder`] is a `metrics::Recorder`: whatever records through the facade is
//!   sampled on an interval into the [`Store`], and also handed to a downstream recorder (such
//!   as `metrics-exporter-prometheus`'s) so `/metrics` keeps working.
//! - Counters and gauges are kept in [`Chunk`]s: the Gorilla scheme (delta-of-delta
//!   timestamps, XOR-encoded values), written by us and exact to the bit. Histograms are kept
//!   as a mergeable [`Sketch`] per interval, with quantiles within [`RELATIVE_ERROR`].
//! - Downsampled [`Tier`]s (by default 1 minute and 1 hour) keep count, min, max, sum, last and
//!   the counter increase of every interval, so long ranges stay cheap.
//! - [`Retention`] bounds the age, the memory and the number of series; idle series go.
//! - Optional persistence ([`StoreRecorder::with_persistence`], [`ChunkLog`]): closed chunks
//!   are appended to checksummed segment files and read back on start; a torn or corrupted
//!   part is skipped and reported, the rest kept.
//! - Queries ([`RangeQuery`], [`Selector`]) select series by name and label matchers and
//!   compute the last value, raw ranges, a function over time at every step (avg, min, max,
//!   sum, count, last, rate, increase, quantile), and sum/avg/max/min/count across series by
//!   labels. Results serialize with serde.
//!
//! ```
//! use std::time::Duration;
//! use hardening_metrics_store::{Aggregation, Function, RangeQuery, Retention, StoreRecorder};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let recorder = StoreRecorder::new(Retention::default())?;
//! for tick in 1..=12 {
//!     metrics::with_local_recorder(&recorder, || {
//!         for route in ["/a", "/b"] {
//!             metrics::counter!("http_requests_total", "route" => route).increment(10);
//!             metrics::histogram!("http_request_seconds", "route" => route).record(0.1 * tick as f64);
//!         }
//!     });
//!     recorder.sample(tick * 10_000); // what `spawn_sampler` does every 10 s
//! }
//!
//! // Requests per second over the last minute, all routes together.
//! let rate = RangeQuery::new("http_requests_total".parse()?, 120_000, 120_000, 60_000, Function::Rate)
//!     .aggregate(Aggregation::Sum, []);
//! assert_eq!(recorder.query(&rate)?[0].points[0].value, 2.0);
//!
//! // p99 latency over the same minute, per route.
//! let p99 = RangeQuery::new(r#"http_request_seconds{route="/a"}"#.parse()?, 120_000, 120_000, 60_000,
//!     Function::Quantile(0.99));
//! let value = recorder.query(&p99)?[0].points[0].value;
//! assert!((value - 1.1).abs() <= 1.1 * hardening_metrics_store::RELATIVE_ERROR);
//! println!("{}", serde_json::to_string(&recorder.query(&p99)?)?);
//! # Ok(())
//! # }
//! ```
//!
//! # Features
//!
//! - `tokio` (default): [`StoreRecorder::spawn_sampler`], a sampling task on the tokio runtime.

#![cfg_attr(docsrs, feature(doc_cfg))]

mod bits;
mod block;
mod chunk;
mod error;
mod persist;
mod query;
mod recorder;
mod sketch;
mod store;

pub use block::Aggregate;
pub use chunk::{Chunk, ChunkIter, Sample};
pub use error::{ConfigError, QueryError};
pub use persist::{
    ChunkLog, Corruption, CorruptionKind, MAX_SEGMENT_BYTES, MIN_SEGMENT_BYTES, PersistError,
    PersistOptions, PersistOptionsBuilder, Recovered, SyncPolicy,
};
pub use query::{
    Aggregation, Function, MAX_POINTS, Matcher, Point, RangeQuery, Selector, SeriesPoints,
};
pub use recorder::StoreRecorder;
pub use sketch::{RELATIVE_ERROR, Sketch};
pub use store::{Dropped, MAX_TIERS, Retention, SeriesKey, Stats, Store, Tier};

/// The guide, `docs/metrics-store.md`: its code blocks run as doctests, so they stay correct.
#[cfg(all(doctest, feature = "tokio"))]
#[doc = include_str!("../../../docs/metrics-store.md")]
pub struct GuideDoctests;
