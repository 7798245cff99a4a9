//! Queries: series chosen by name and label matchers; their last value, their raw samples, or
//! a function over time evaluated at every step, optionally aggregated across series.
//!
//! # Windows
//!
//! A range query evaluates at `t = from, from + step, …` up to `to`, each time over the window
//! `(t − window, t]` (`window` defaults to `step`), as in Prometheus. Over counter and gauge samples:
//!
//! | function | value at `t` |
//! |---|---|
//! | `avg`, `min`, `max`, `sum`, `count`, `last` | of the samples in the window |
//! | `increase` | the sum of each in-window sample's rise from its predecessor; a fall is a counter reset, so the rise is the new value |
//! | `rate` | `increase` per second of window |
//! | `quantile(q)` | the sample value of rank `⌊q·(n−1)⌋` among the window's `n` values, exactly |
//!
//! Over histograms, the sketches of the window are merged: `quantile(q)` (within the
//! sketch's stated [`RELATIVE_ERROR`](crate::RELATIVE_ERROR)), `count`, `sum`, `avg`, `min`,
//! `max` of the recorded values, and `rate` / `increase` of their count. A window with no
//! data gives no point (as in Prometheus), never a made-up zero.
//!
//! Samples are taken in timestamp order (of equal timestamps, in the order appended). A
//! sample's predecessor is the sample before it in that order, however far back it lies, as
//! long as the store still holds it: a point's value never depends on the query's `from`.
//!
//! When `from`, `step` and `window` are all multiples of a tier's resolution, the coarsest
//! such tier answers instead of the raw samples, with the same result: its aggregates keep
//! count, min, max, sum, last and the counter increase, each folded in timestamp order with
//! the same predecessors (a late sample within the interval a tier is filling is placed where
//! its timestamp puts it). Histogram tiers keep each interval's merged sketch, so quantiles
//! over histograms are answered by tiers too, for ranges whose raw sketches have aged out;
//! only `quantile` over counters and gauges needs the raw samples. Two cases differ: a sample
//! that arrives older than the interval a tier is filling is in the raw series only, and at
//! the oldest edge of the raw samples (after retention dropped a chunk) the tier still knows
//! a predecessor the raw chunks no longer hold.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use regex_lite::Regex;
use serde::{Deserialize, Serialize};

use crate::block::{AggChunk, rise};
use crate::chunk::{Chunk, Sample};
use crate::error::QueryError;
use crate::sketch::Sketch;
use crate::store::{Level, SeriesKey, Store, View};

/// Most points a range query may return per series, as in Prometheus.
pub const MAX_POINTS: i64 = 11_000;

/// How a label is matched.
#[derive(Debug, Clone)]
pub enum Matcher {
    /// `label="value"`: the label has exactly this value (a missing label has the value "").
    Equal(String, String),
    /// `label!="value"`.
    NotEqual(String, String),
    /// `label=~"regex"`: the whole value matches.
    Regex(String, Regex),
    /// `label!~"regex"`.
    NotRegex(String, Regex),
}

impl Matcher {
    fn label(&self) -> &str {
        match self {
            Matcher::Equal(l, _)
            | Matcher::NotEqual(l, _)
            | Matcher::Regex(l, _)
            | Matcher::NotRegex(l, _) => l,
        }
    }

    fn matches(&self, key: &SeriesKey) -> bool {
        let value = key.label(self.label()).unwrap_or("");
        match self {
            Matcher::Equal(_, v) => value == v,
            Matcher::NotEqual(_, v) => value != v,
            Matcher::Regex(_, r) => r.is_match(value),
            Matcher::NotRegex(_, r) => !r.is_match(value),
        }
    }
}

fn anchored(label: &str, pattern: &str) -> Result<Regex, QueryError> {
    Regex::new(&format!("^(?:{pattern})$")).map_err(|e| {
        QueryError::new(
            "selector",
            format!("label {label}: {pattern:?} is not a regular expression ({e})"),
        )
    })
}

/// Which series a query reads: a metric name and label matchers, written as in PromQL:
/// `http_requests_total{route="/",code!="200",method=~"GET|HEAD"}`.
///
/// ```
/// use hardening_metrics_store::{SeriesKey, Selector};
///
/// let s: Selector = r#"http_requests_total{code=~"5..",route!="/health"}"#.parse()?;
/// assert!(s.matches(&SeriesKey::new("http_requests_total", [("code", "503"), ("route", "/")])));
/// assert!(!s.matches(&SeriesKey::new("http_requests_total", [("code", "200"), ("route", "/")])));
/// # Ok::<(), hardening_metrics_store::QueryError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Selector {
    name: String,
    matchers: Vec<Matcher>,
    text: String,
}

impl Selector {
    /// Every series named `name`.
    pub fn name(name: impl Into<String>) -> Self {
        let name = name.into();
        Selector {
            text: name.clone(),
            name,
            matchers: Vec::new(),
        }
    }

    fn with(mut self, matcher: Matcher, op: &str, value: &str) -> Self {
        let sep = if self.matchers.is_empty() { "{" } else { "," };
        if let Some(stripped) = self.text.strip_suffix('}') {
            self.text = stripped.to_string();
        }
        self.text = format!("{}{sep}{}{op}{value:?}}}", self.text, matcher.label());
        self.matchers.push(matcher);
        self
    }

    /// Adds `label="value"`.
    #[must_use]
    pub fn equal(self, label: &str, value: &str) -> Self {
        self.with(Matcher::Equal(label.into(), value.into()), "=", value)
    }

    /// Adds `label!="value"`.
    #[must_use]
    pub fn not_equal(self, label: &str, value: &str) -> Self {
        self.with(Matcher::NotEqual(label.into(), value.into()), "!=", value)
    }

    /// Adds `label=~"pattern"` (anchored at both ends), or says why `pattern` is not a regex.
    pub fn regex(self, label: &str, pattern: &str) -> Result<Self, QueryError> {
        let r = anchored(label, pattern)?;
        Ok(self.with(Matcher::Regex(label.into(), r), "=~", pattern))
    }

    /// Adds `label!~"pattern"`.
    pub fn not_regex(self, label: &str, pattern: &str) -> Result<Self, QueryError> {
        let r = anchored(label, pattern)?;
        Ok(self.with(Matcher::NotRegex(label.into(), r), "!~", pattern))
    }

    /// Whether a series is selected.
    pub fn matches(&self, key: &SeriesKey) -> bool {
        key.name() == self.name && self.matchers.iter().all(|m| m.matches(key))
    }

    /// The matchers, in the order given.
    pub fn matchers(&self) -> &[Matcher] {
        &self.matchers
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

const SELECTOR_FORM: &str =
    r#"expected name{label="value",…} with =, !=, =~ or !~ and double-quoted values"#;

impl FromStr for Selector {
    type Err = QueryError;

    fn from_str(text: &str) -> Result<Self, QueryError> {
        let bad =
            |what: &str| QueryError::new("selector", format!("{text:?}: {what}; {SELECTOR_FORM}"));
        let text = text.trim();
        let (name, rest) = match text.find('{') {
            Some(i) => (&text[..i], Some(&text[i + 1..])),
            None => (text, None),
        };
        let name = name.trim();
        let is_name = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':' || c == '.')
                && !s.starts_with(|c: char| c.is_ascii_digit())
        };
        if !is_name(name) {
            return Err(bad(
                "the metric name is missing or has characters other than letters, digits, _ : .",
            ));
        }
        let mut selector = Selector::name(name);
        let Some(mut rest) = rest else {
            return Ok(selector);
        };
        loop {
            rest = rest.trim_start();
            if let Some(after) = rest.strip_prefix('}') {
                if !after.trim().is_empty() {
                    return Err(bad("text after the closing brace"));
                }
                return Ok(selector);
            }
            let op_at = rest
                .find(['=', '!'])
                .ok_or_else(|| bad("a matcher has no operator"))?;
            let label = rest[..op_at].trim();
            if !is_name(label) || label.contains([':', '.']) {
                return Err(bad("a label name is missing or malformed"));
            }
            let after = &rest[op_at..];
            let (op, after) = ["=~", "!~", "!=", "="]
                .iter()
                .find_map(|op| after.strip_prefix(op).map(|a| (*op, a)))
                .ok_or_else(|| bad("unknown operator"))?;
            let after = after.trim_start();
            let Some(body) = after.strip_prefix('"') else {
                return Err(bad("a value is not double-quoted"));
            };
            // The value runs to the next unescaped quote.
            let mut value = String::new();
            let mut chars = body.char_indices();
            let end = loop {
                match chars.next() {
                    Some((_, '\\')) => match chars.next() {
                        Some((_, c)) => value.push(c),
                        None => return Err(bad("a value is not closed")),
                    },
                    Some((i, '"')) => break i,
                    Some((_, c)) => value.push(c),
                    None => return Err(bad("a value is not closed")),
                }
            };
            selector = match op {
                "=" => selector.equal(label, &value),
                "!=" => selector.not_equal(label, &value),
                "=~" => selector.regex(label, &value)?,
                _ => selector.not_regex(label, &value)?,
            };
            rest = body[end + 1..].trim_start();
            if let Some(after) = rest.strip_prefix(',') {
                rest = after;
            } else if !rest.starts_with('}') {
                return Err(bad("matchers must be separated by commas"));
            }
        }
    }
}

impl Serialize for Selector {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Selector {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A function over time, evaluated over each step's window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Function {
    /// The mean.
    Avg,
    /// The smallest value.
    Min,
    /// The largest value.
    Max,
    /// The sum.
    Sum,
    /// How many samples (or, for histograms, recorded values).
    Count,
    /// The latest sample (counters and gauges only).
    Last,
    /// Counter increase per second.
    Rate,
    /// Counter increase.
    Increase,
    /// A quantile, `0 ≤ q ≤ 1`.
    Quantile(f64),
}

impl fmt::Display for Function {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Function::Avg => f.write_str("avg"),
            Function::Min => f.write_str("min"),
            Function::Max => f.write_str("max"),
            Function::Sum => f.write_str("sum"),
            Function::Count => f.write_str("count"),
            Function::Last => f.write_str("last"),
            Function::Rate => f.write_str("rate"),
            Function::Increase => f.write_str("increase"),
            Function::Quantile(q) => write!(f, "quantile({q})"),
        }
    }
}

impl FromStr for Function {
    type Err = QueryError;

    /// `avg`, `min`, `max`, `sum`, `count`, `last`, `rate`, `increase` or `quantile(q)`.
    fn from_str(s: &str) -> Result<Self, QueryError> {
        let s = s.trim();
        Ok(match s {
            "avg" => Function::Avg,
            "min" => Function::Min,
            "max" => Function::Max,
            "sum" => Function::Sum,
            "count" => Function::Count,
            "last" => Function::Last,
            "rate" => Function::Rate,
            "increase" => Function::Increase,
            _ => {
                let q = s
                    .strip_prefix("quantile(")
                    .and_then(|r| r.strip_suffix(')'))
                    .and_then(|q| q.trim().parse::<f64>().ok())
                    .ok_or_else(|| {
                        QueryError::new(
                            "function",
                            format!("{s:?} is not a function; expected avg, min, max, sum, count, last, rate, increase or quantile(q) with q in [0, 1]"),
                        )
                    })?;
                Function::Quantile(q)
            }
        })
    }
}

impl Serialize for Function {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Function {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// An aggregation across series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Aggregation {
    /// The sum of the series' values at each step.
    Sum,
    /// Their mean.
    Avg,
    /// The largest.
    Max,
    /// The smallest.
    Min,
    /// How many series had a value.
    Count,
}

/// A range query: a function over time at every step, optionally aggregated across series.
///
/// It deserializes from JSON such as
/// `{"selector": "http_requests_total{code=~\"5..\"}", "from": 0, "to": 3600000,
/// "step": 60000, "function": "rate", "aggregate": "sum", "by": ["route"]}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RangeQuery {
    /// Which series.
    pub selector: Selector,
    /// The first evaluation time, in milliseconds.
    pub from: i64,
    /// The last evaluation time may be at most this.
    pub to: i64,
    /// Milliseconds between evaluations.
    pub step: i64,
    /// The function over each window.
    pub function: Function,
    /// The window's length in milliseconds; `step` when absent.
    #[serde(default)]
    pub window: Option<i64>,
    /// An aggregation across series, grouped by the `by` labels.
    #[serde(default)]
    pub aggregate: Option<Aggregation>,
    /// The labels that group series for `aggregate`; none puts all series in one group.
    #[serde(default)]
    pub by: Vec<String>,
}

impl RangeQuery {
    /// A query of `function` over `selector` from `from` to `to` every `step` milliseconds.
    pub fn new(selector: Selector, from: i64, to: i64, step: i64, function: Function) -> Self {
        RangeQuery {
            selector,
            from,
            to,
            step,
            function,
            window: None,
            aggregate: None,
            by: Vec::new(),
        }
    }

    /// Sets the window (milliseconds).
    #[must_use]
    pub fn window(mut self, window: i64) -> Self {
        self.window = Some(window);
        self
    }

    /// Aggregates across series, grouped by the `by` labels.
    #[must_use]
    pub fn aggregate<'a>(
        mut self,
        how: Aggregation,
        by: impl IntoIterator<Item = &'a str>,
    ) -> Self {
        self.aggregate = Some(how);
        self.by = by.into_iter().map(str::to_string).collect();
        self
    }

    /// Checks the query; the window it uses.
    pub(crate) fn validate(&self) -> Result<i64, QueryError> {
        self.checked().map(|(window, _)| window)
    }

    /// Checks the query; the window it uses and the times it is evaluated at.
    fn checked(&self) -> Result<(i64, Vec<i64>), QueryError> {
        if self.step <= 0 {
            return Err(QueryError::new(
                "step",
                format!(
                    "{} is not accepted; expected milliseconds above zero",
                    self.step
                ),
            ));
        }
        if self.to < self.from {
            return Err(QueryError::new(
                "to",
                format!(
                    "{} is before from ({}); expected to ≥ from",
                    self.to, self.from
                ),
            ));
        }
        // In u64: `to - from` may not fit an i64 (from i64::MIN to i64::MAX).
        let points = (self.to.abs_diff(self.from) / self.step.unsigned_abs()).saturating_add(1);
        if points > MAX_POINTS as u64 {
            return Err(QueryError::new(
                "step",
                format!(
                    "{} ms gives {points} points; expected at most {MAX_POINTS} (a larger step)",
                    self.step
                ),
            ));
        }
        let window = self.window.unwrap_or(self.step);
        if window <= 0 {
            return Err(QueryError::new(
                "window",
                format!("{window} is not accepted; expected milliseconds above zero"),
            ));
        }
        if let Function::Quantile(q) = self.function
            && !(0.0..=1.0).contains(&q)
        {
            return Err(QueryError::new(
                "function",
                format!("quantile({q}): expected q in [0, 1]"),
            ));
        }
        // `from + i·step ≤ to` for every `i < points`, so each fits; `i·step` alone may not
        // (from i64::MIN in steps of i64::MAX), so the sum is taken in i128.
        let times = (0..i128::from(points as u32))
            .filter_map(|i| i64::try_from(i128::from(self.from) + i * i128::from(self.step)).ok())
            .collect();
        Ok((window, times))
    }

    fn level(&self, window: i64) -> Level {
        Level::Range {
            step: self.step,
            window,
            from: self.from,
            quantile: matches!(self.function, Function::Quantile(_)),
        }
    }
}

/// A point of a result: a timestamp in milliseconds and a value.
pub type Point = Sample;

/// One series of a result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeriesPoints {
    /// The series (for an aggregation, the metric name with only the `by` labels).
    pub series: SeriesKey,
    /// Its points, in time order.
    pub points: Vec<Point>,
}

/// A query's selection taken out of the store: blocks by reference, evaluated with no lock.
#[derive(Debug)]
pub(crate) struct Selection(Vec<(SeriesKey, View)>);

impl Store {
    pub(crate) fn select_range(&self, query: &RangeQuery) -> Result<Selection, QueryError> {
        let window = query.validate()?;
        // The first window is `(from − window, from]`; raw samples come with the predecessor
        // of its first sample, however far back it lies.
        let from = query.from.saturating_sub(window);
        Ok(Selection(self.select(
            &query.selector.name,
            |k| query.selector.matches(k),
            from,
            query.to,
            query.level(window),
        )))
    }

    pub(crate) fn select_raw(&self, selector: &Selector, from: i64, to: i64) -> Selection {
        Selection(self.select(
            &selector.name,
            |k| selector.matches(k),
            from,
            to,
            Level::Raw,
        ))
    }

    /// Runs a range query.
    ///
    /// ```
    /// use hardening_metrics_store::{Function, RangeQuery, Retention, Sample, SeriesKey, Store};
    ///
    /// let mut store = Store::new(Retention::default())?;
    /// for (route, per_tick) in [("/a", 1.0), ("/b", 3.0)] {
    ///     let key = SeriesKey::new("requests_total", [("route", route)]);
    ///     for i in 0..=60 {
    ///         store.insert(&key, Sample { timestamp: i * 10_000, value: per_tick * i as f64 });
    ///     }
    /// }
    /// let q = RangeQuery::new("requests_total".parse()?, 60_000, 600_000, 60_000, Function::Rate)
    ///     .aggregate(hardening_metrics_store::Aggregation::Sum, []);
    /// let result = store.query(&q)?;
    /// assert_eq!(result[0].points[0].value, 0.4); // (1 + 3) per 10 s
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn query(&self, query: &RangeQuery) -> Result<Vec<SeriesPoints>, QueryError> {
        self.select_range(query)?.evaluate(query)
    }

    /// The raw samples of every selected counter and gauge series in `from..=to`, each in
    /// time order.
    pub fn query_raw(&self, selector: &Selector, from: i64, to: i64) -> Vec<SeriesPoints> {
        self.select_raw(selector, from, to).raw(from, to)
    }

    /// The latest sample of every selected counter and gauge series.
    pub fn query_last(&self, selector: &Selector) -> Vec<(SeriesKey, Sample)> {
        self.last_values(&selector.name, |k| selector.matches(k))
    }
}

/// The samples of `chunks` stamped at most `to`, in timestamp order.
fn decode_sorted(chunks: &[Arc<Chunk>], from: i64, to: i64) -> Vec<Sample> {
    let mut samples: Vec<Sample> = chunks
        .iter()
        .flat_map(|c| c.iter())
        .filter(|s| s.timestamp >= from && s.timestamp <= to)
        .collect();
    // Stable: samples with equal timestamps keep the order they were appended in.
    samples.sort_by_key(|s| s.timestamp);
    samples
}

/// How many of `items` (in time order) lie at or before the start of the window `(t − window,
/// t]`: the index of the window's first item. A start below `i64::MIN` has none before it.
fn window_start<T>(items: &[T], stamp: impl Fn(&T) -> i64, t: i64, window: i64) -> usize {
    match t.checked_sub(window) {
        Some(start) => items.partition_point(|x| stamp(x) <= start),
        None => 0,
    }
}

fn over_samples(
    samples: &[Sample],
    lo: usize,
    hi: usize,
    function: Function,
    window: i64,
) -> Option<f64> {
    let values = samples[lo..hi].iter().map(|s| s.value);
    let n = hi - lo;
    if n == 0 {
        return None;
    }
    Some(match function {
        Function::Avg => values.sum::<f64>() / n as f64,
        Function::Min => values.fold(f64::INFINITY, f64::min),
        Function::Max => values.fold(f64::NEG_INFINITY, f64::max),
        Function::Sum => values.sum(),
        Function::Count => n as f64,
        Function::Last => samples[hi - 1].value,
        Function::Increase | Function::Rate => {
            let mut total = 0.0;
            for i in lo..hi {
                let previous = i.checked_sub(1).map(|p| samples[p].value);
                total += rise(previous, samples[i].value);
            }
            if function == Function::Rate {
                total / (window as f64 / 1000.0)
            } else {
                total
            }
        }
        Function::Quantile(q) => {
            let mut sorted: Vec<f64> = values.collect();
            sorted.sort_by(f64::total_cmp);
            sorted[(q * (n - 1) as f64).floor() as usize]
        }
    })
}

fn over_sketch(
    sketch: &Sketch,
    function: Function,
    window: i64,
) -> Result<Option<f64>, QueryError> {
    if sketch.count() == 0 {
        return Ok(None);
    }
    Ok(match function {
        Function::Quantile(q) => sketch.quantile(q),
        Function::Count | Function::Increase => Some(sketch.count() as f64),
        Function::Rate => Some(sketch.count() as f64 / (window as f64 / 1000.0)),
        Function::Sum => Some(sketch.sum()),
        Function::Avg => Some(sketch.sum() / sketch.count() as f64),
        Function::Min => sketch.min(),
        Function::Max => sketch.max(),
        Function::Last => {
            return Err(QueryError::new(
                "function",
                "last is not defined for histograms; expected quantile(q), count, sum, avg, min, max, rate or increase",
            ));
        }
    })
}

impl Selection {
    /// Evaluates `query` over the selection.
    pub(crate) fn evaluate(&self, query: &RangeQuery) -> Result<Vec<SeriesPoints>, QueryError> {
        let (window, times) = query.checked()?;
        let mut out = Vec::with_capacity(self.0.len());
        for (key, view) in &self.0 {
            let points = match view {
                View::Samples(chunks) => {
                    // Everything taken: the windows' samples and the predecessor of the first.
                    let samples = decode_sorted(chunks, i64::MIN, query.to);
                    times
                        .iter()
                        .filter_map(|&t| {
                            let lo = window_start(&samples, |s| s.timestamp, t, window);
                            let hi = samples.partition_point(|s| s.timestamp <= t);
                            over_samples(&samples, lo, hi, query.function, window).map(|value| {
                                Sample {
                                    timestamp: t,
                                    value,
                                }
                            })
                        })
                        .collect()
                }
                View::Aggregates { blocks, current } => {
                    over_aggregates(blocks, *current, &times, window, query.function)
                }
                View::Sketches(blocks) => {
                    let mut sketches: Vec<(i64, Sketch)> =
                        blocks.iter().flat_map(|b| b.iter()).collect();
                    sketches.sort_by_key(|(t, _)| *t);
                    let mut points = Vec::new();
                    for &t in &times {
                        let lo = window_start(&sketches, |(s, _)| *s, t, window);
                        let hi = sketches.partition_point(|(s, _)| *s <= t);
                        let mut merged = Sketch::new();
                        for (_, s) in &sketches[lo..hi] {
                            merged.merge(s);
                        }
                        if let Some(value) = over_sketch(&merged, query.function, window)? {
                            points.push(Sample {
                                timestamp: t,
                                value,
                            });
                        }
                    }
                    points
                }
            };
            if !points.is_empty() {
                out.push(SeriesPoints {
                    series: key.clone(),
                    points,
                });
            }
        }
        Ok(match query.aggregate {
            Some(how) => aggregate(out, how, &query.by),
            None => out,
        })
    }

    /// The raw samples of the selection in `from..=to`, each series in timestamp order.
    pub(crate) fn raw(&self, from: i64, to: i64) -> Vec<SeriesPoints> {
        self.0
            .iter()
            .filter_map(|(key, view)| match view {
                View::Samples(chunks) => Some(SeriesPoints {
                    series: key.clone(),
                    points: decode_sorted(chunks, from, to),
                }),
                _ => None,
            })
            .filter(|s| !s.points.is_empty())
            .collect()
    }
}

fn over_aggregates(
    blocks: &[Arc<AggChunk>],
    current: Option<crate::block::Aggregate>,
    times: &[i64],
    window: i64,
    function: Function,
) -> Vec<Sample> {
    // Aggregates arrive in time order; the tier was chosen so that windows hold whole ones.
    let aggs: Vec<_> = blocks
        .iter()
        .flat_map(|b| b.iter())
        .chain(current)
        .collect();
    times
        .iter()
        .filter_map(|&t| {
            let lo = window_start(&aggs, |a| a.end, t, window);
            let hi = aggs.partition_point(|a| a.end <= t);
            let w = &aggs[lo..hi];
            let count: u64 = w.iter().map(|a| a.count).sum();
            if count == 0 {
                return None;
            }
            let sum: f64 = w.iter().map(|a| a.sum).sum();
            let increase: f64 = w.iter().map(|a| a.increase).sum();
            let value = match function {
                Function::Avg => sum / count as f64,
                Function::Min => w.iter().map(|a| a.min).fold(f64::INFINITY, f64::min),
                Function::Max => w.iter().map(|a| a.max).fold(f64::NEG_INFINITY, f64::max),
                Function::Sum => sum,
                Function::Count => count as f64,
                Function::Last => w[w.len() - 1].last,
                Function::Increase => increase,
                Function::Rate => increase / (window as f64 / 1000.0),
                // Not reached: quantiles over samples read raw samples (see `Store::select`).
                Function::Quantile(_) => return None,
            };
            Some(Sample {
                timestamp: t,
                value,
            })
        })
        .collect()
}

/// What an aggregation across series keeps of the values at one timestamp.
#[derive(Clone, Copy)]
struct Across {
    sum: f64,
    max: f64,
    min: f64,
    n: u64,
}

fn aggregate(series: Vec<SeriesPoints>, how: Aggregation, by: &[String]) -> Vec<SeriesPoints> {
    let mut groups: BTreeMap<SeriesKey, BTreeMap<i64, Across>> = BTreeMap::new();
    for s in series {
        let labels: Vec<(&str, &str)> = by
            .iter()
            .filter_map(|l| s.series.label(l).map(|v| (l.as_str(), v)))
            .collect();
        let group = SeriesKey::new(s.series.name(), labels);
        let at = groups.entry(group).or_default();
        for p in s.points {
            let e = at.entry(p.timestamp).or_insert(Across {
                sum: 0.0,
                max: f64::NEG_INFINITY,
                min: f64::INFINITY,
                n: 0,
            });
            e.sum += p.value;
            e.max = e.max.max(p.value);
            e.min = e.min.min(p.value);
            e.n += 1;
        }
    }
    groups
        .into_iter()
        .map(|(series, at)| SeriesPoints {
            series,
            points: at
                .into_iter()
                .map(|(timestamp, a)| Sample {
                    timestamp,
                    value: match how {
                        Aggregation::Sum => a.sum,
                        Aggregation::Avg => a.sum / a.n as f64,
                        Aggregation::Max => a.max,
                        Aggregation::Min => a.min,
                        Aggregation::Count => a.n as f64,
                    },
                })
                .collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Retention;

    #[test]
    fn a_selection_borrows_nothing_so_the_store_changes_while_it_is_evaluated() {
        let mut store = Store::new(Retention {
            chunk_samples: 10,
            ..Retention::default()
        })
        .unwrap();
        let key = SeriesKey::new("x", []);
        for i in 0..95 {
            store.insert(
                &key,
                Sample {
                    timestamp: i * 1000,
                    value: i as f64,
                },
            );
        }
        let query = RangeQuery::new(Selector::name("x"), 10_000, 90_000, 10_000, Function::Count);
        // What a query holds while it decodes: no reference into the store (the borrow checker
        // would refuse the inserts below otherwise), only shared blocks. The same for raw
        // ranges (`query_raw`), whose open chunk is a copy.
        let selection = store.select_range(&query).unwrap();
        let raw = store.select_raw(&Selector::name("x"), 0, 94_000);
        for i in 95..1_000 {
            store.insert(
                &key,
                Sample {
                    timestamp: i * 1000,
                    value: 0.0,
                },
            );
        }
        store.evict_idle(10_000_000);
        assert_eq!(store.series_count(), 0);
        let points = &selection.evaluate(&query).unwrap()[0].points;
        assert_eq!(points.len(), 9);
        assert!(points.iter().all(|p| p.value == 10.0), "{points:?}");
        let raw = &raw.raw(0, 94_000)[0].points;
        assert_eq!(raw.len(), 95);
        assert!(raw.iter().enumerate().all(|(i, p)| p.value == i as f64));
    }
}
