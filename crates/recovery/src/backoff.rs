//! The delay between attempts.

use std::time::Duration;

use crate::config::ConfigError;
use crate::rng::between;

/// The longest delay any backoff accepts: `u64::MAX` nanoseconds, about 584 years. Delays are
/// computed in whole nanoseconds, so every accepted setting is computed without overflow.
pub const MAX_DELAY: Duration = Duration::from_nanos(u64::MAX);

/// Random spread added to a [`Backoff::constant`] or [`Backoff::exponential`] delay, so that
/// callers that failed together do not retry together.
///
/// The names and formulas are those of the AWS Architecture Blog's "Exponential Backoff and
/// Jitter", with `d` the delay before jitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Jitter {
    /// No spread: exactly `d`.
    #[default]
    None,
    /// Uniform in `0..=d`. The most spread, and the least total load on the dependency.
    Full,
    /// Uniform in `d/2..=d`: never much shorter than the plain delay.
    Equal,
}

/// The delay before each retry.
///
/// Build one with [`constant`](Backoff::constant), [`exponential`](Backoff::exponential) or
/// [`decorrelated_jitter`](Backoff::decorrelated_jitter) and give it to
/// [`RetryBuilder::backoff`](crate::RetryBuilder::backoff), which checks it.
/// [`delays`](Backoff::delays) shows the sequence a seed produces.
///
/// ```
/// use std::time::Duration;
/// use hardening_recovery::{Backoff, Jitter};
///
/// let ms = Duration::from_millis;
/// let plain = Backoff::exponential(ms(100), 2.0, ms(1000));
/// let delays: Vec<_> = plain.delays(0).take(6).collect();
/// assert_eq!(delays, [ms(100), ms(200), ms(400), ms(800), ms(1000), ms(1000)]);
///
/// // Full jitter: each delay anywhere from zero to the plain one.
/// let jittered = plain.with_jitter(Jitter::Full);
/// for (delay, cap) in jittered.delays(42).zip(delays) {
///     assert!(delay <= cap);
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    kind: Kind,
    jitter: Jitter,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Constant(Duration),
    Exponential {
        initial: Duration,
        multiplier: f64,
        max: Duration,
    },
    Decorrelated {
        base: Duration,
        max: Duration,
    },
}

impl Backoff {
    /// No delay between attempts.
    pub const fn none() -> Self {
        Backoff::constant(Duration::ZERO)
    }

    /// The same delay before every retry (Resilience4j's `waitDuration`, Polly's
    /// `DelayBackoffType.Constant`).
    pub const fn constant(delay: Duration) -> Self {
        Backoff {
            kind: Kind::Constant(delay),
            jitter: Jitter::None,
        }
    }

    /// `initial × multiplier^(n−1)` before the n-th retry, never above `max` (Resilience4j's
    /// `IntervalFunction.ofExponentialBackoff`, Polly's `DelayBackoffType.Exponential` with
    /// `MaxDelay`). The builder accepts `initial` above zero and at most `max`, and a finite
    /// `multiplier` of at least 1.
    pub const fn exponential(initial: Duration, multiplier: f64, max: Duration) -> Self {
        Backoff {
            kind: Kind::Exponential {
                initial,
                multiplier,
                max,
            },
            jitter: Jitter::None,
        }
    }

    /// AWS's "decorrelated jitter": each delay uniform in `base..=3 × previous`, never above
    /// `max`; the first previous delay is `base`. It spreads like full jitter but grows from
    /// the last delay rather than the attempt count. The builder accepts `base` above zero and
    /// at most `max`. (Polly's `UseJitter` on exponential backoff is a variant of it.)
    pub const fn decorrelated_jitter(base: Duration, max: Duration) -> Self {
        Backoff {
            kind: Kind::Decorrelated { base, max },
            jitter: Jitter::None,
        }
    }

    /// The same backoff with `jitter` spread over each delay. A decorrelated backoff is random
    /// already and ignores it.
    pub const fn with_jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// The jitter applied to each delay.
    pub const fn jitter(&self) -> Jitter {
        self.jitter
    }

    /// The smallest and the largest delay this backoff can produce.
    ///
    /// ```
    /// use std::time::Duration;
    /// use hardening_recovery::{Backoff, Jitter};
    ///
    /// let s = Duration::from_secs;
    /// let b = Backoff::exponential(s(1), 2.0, s(60)).with_jitter(Jitter::Equal);
    /// assert_eq!(b.bounds(), (s(1) / 2, s(60)));
    /// ```
    pub fn bounds(&self) -> (Duration, Duration) {
        let (lo, hi) = match self.kind {
            Kind::Constant(d) => (d, d),
            Kind::Exponential { initial, max, .. } => (initial.min(max), max),
            Kind::Decorrelated { base, max } => return (base.min(max), max),
        };
        match self.jitter {
            Jitter::None => (lo, hi),
            Jitter::Full => (Duration::ZERO, hi),
            Jitter::Equal => (lo / 2, hi),
        }
    }

    /// The delays before the 1st, 2nd, … retry, drawn with `seed` for the jitter. Endless;
    /// take what you need.
    pub fn delays(&self, seed: u64) -> Delays {
        Delays {
            backoff: *self,
            retry: 0,
            previous: 0,
            rng: fastrand::Rng::with_seed(seed),
        }
    }

    pub(crate) fn start(&self, rng: fastrand::Rng) -> Delays {
        Delays {
            backoff: *self,
            retry: 0,
            previous: 0,
            rng,
        }
    }

    /// Checks the settings; `field` is the builder's name for the backoff.
    pub(crate) fn validate(&self, field: Fields) -> Result<(), ConfigError> {
        let too_long = |name, d: Duration| {
            if d > MAX_DELAY {
                Err(ConfigError::duration(
                    name,
                    d,
                    format!("at most {MAX_DELAY:?} (u64::MAX nanoseconds)"),
                ))
            } else {
                Ok(())
            }
        };
        match self.kind {
            Kind::Constant(d) => too_long(field.delay, d),
            Kind::Exponential {
                initial,
                multiplier,
                max,
            } => {
                too_long(field.max, max)?;
                if initial.is_zero() {
                    return Err(ConfigError::duration(
                        field.initial,
                        initial,
                        "a duration above zero (use Backoff::none() for no delay)",
                    ));
                }
                if initial > max {
                    return Err(ConfigError::duration(
                        field.initial,
                        initial,
                        format!("at most {} ({max:?})", field.max),
                    ));
                }
                if !(multiplier.is_finite() && multiplier >= 1.0) {
                    return Err(ConfigError::new(
                        field.multiplier,
                        multiplier,
                        "a finite number of at least 1.0",
                    ));
                }
                Ok(())
            }
            Kind::Decorrelated { base, max } => {
                too_long(field.max, max)?;
                if base.is_zero() {
                    return Err(ConfigError::duration(
                        field.base,
                        base,
                        "a duration above zero (every delay would be zero)",
                    ));
                }
                if base > max {
                    return Err(ConfigError::duration(
                        field.base,
                        base,
                        format!("at most {} ({max:?})", field.max),
                    ));
                }
                Ok(())
            }
        }
    }
}

impl Default for Backoff {
    /// Exponential from 100 ms, doubling, capped at 10 s, with full jitter: what the AWS SDKs
    /// and gRPC do, within a factor.
    fn default() -> Self {
        Backoff::exponential(Duration::from_millis(100), 2.0, Duration::from_secs(10))
            .with_jitter(Jitter::Full)
    }
}

impl From<Duration> for Backoff {
    fn from(delay: Duration) -> Self {
        Backoff::constant(delay)
    }
}

/// The field names a backoff's settings are reported under.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fields {
    pub(crate) delay: &'static str,
    pub(crate) initial: &'static str,
    pub(crate) multiplier: &'static str,
    pub(crate) max: &'static str,
    pub(crate) base: &'static str,
}

impl Fields {
    pub(crate) const RETRY: Fields = Fields {
        delay: "backoff.delay",
        initial: "backoff.initial",
        multiplier: "backoff.multiplier",
        max: "backoff.max",
        base: "backoff.base",
    };
    pub(crate) const RESTART: Fields = Fields {
        delay: "restart_backoff.delay",
        initial: "restart_backoff.initial",
        multiplier: "restart_backoff.multiplier",
        max: "restart_backoff.max",
        base: "restart_backoff.base",
    };
}

/// The delays of one [`Backoff`], from [`Backoff::delays`].
#[derive(Debug, Clone)]
pub struct Delays {
    backoff: Backoff,
    /// Retries drawn so far.
    retry: u32,
    /// The previous delay in nanoseconds, for decorrelated jitter.
    previous: u64,
    rng: fastrand::Rng,
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Delays {
    /// The delay before the next retry.
    pub fn next_delay(&mut self) -> Duration {
        self.retry = self.retry.saturating_add(1);
        let plain = match self.backoff.kind {
            Kind::Constant(d) => nanos(d),
            Kind::Exponential {
                initial,
                multiplier,
                max,
            } => {
                let (initial, max) = (nanos(initial), nanos(max));
                let exponent = i32::try_from(self.retry - 1).unwrap_or(i32::MAX);
                let scaled = initial as f64 * multiplier.powi(exponent);
                // `as` saturates, and the comparison catches infinity; NaN cannot arise from
                // a finite multiplier of at least 1 and a finite base. Above 2^53 ns (about
                // 104 days) an f64 rounds, so clamp to the exact bounds.
                if scaled.is_finite() && scaled < max as f64 {
                    (scaled as u64).clamp(initial, max)
                } else {
                    max
                }
            }
            Kind::Decorrelated { base, max } => {
                let (base, max) = (nanos(base), nanos(max));
                let previous = self.previous.max(base);
                let next = between(&mut self.rng, base, previous.saturating_mul(3)).min(max);
                self.previous = next;
                return Duration::from_nanos(next);
            }
        };
        let jittered = match self.backoff.jitter {
            Jitter::None => plain,
            Jitter::Full => between(&mut self.rng, 0, plain),
            Jitter::Equal => {
                let half = plain / 2;
                between(&mut self.rng, plain - half, plain)
            }
        };
        Duration::from_nanos(jittered)
    }
}

impl Iterator for Delays {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        Some(self.next_delay())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn constant_is_constant_and_jitter_spreads_it() {
        assert!(
            Backoff::constant(MS(50))
                .delays(1)
                .take(5)
                .all(|d| d == MS(50))
        );
        let full: Vec<_> = Backoff::constant(MS(50))
            .with_jitter(Jitter::Full)
            .delays(1)
            .take(50)
            .collect();
        assert!(full.iter().all(|d| *d <= MS(50)));
        assert!(full.windows(2).any(|w| w[0] != w[1]));
    }

    #[test]
    fn exponential_grows_and_caps_at_any_retry_count() {
        let mut delays = Backoff::exponential(MS(100), 3.0, MS(2000)).delays(0);
        assert_eq!(delays.next_delay(), MS(100));
        assert_eq!(delays.next_delay(), MS(300));
        assert_eq!(delays.next_delay(), MS(900));
        assert_eq!(delays.next_delay(), MS(2000));
        delays.retry = u32::MAX - 1;
        assert_eq!(delays.next_delay(), MS(2000));
        assert_eq!(delays.next_delay(), MS(2000));
    }

    #[test]
    fn equal_jitter_keeps_the_upper_half() {
        let b = Backoff::constant(MS(100)).with_jitter(Jitter::Equal);
        for d in b.delays(9).take(200) {
            assert!(d >= MS(50) && d <= MS(100), "{d:?}");
        }
    }

    #[test]
    fn decorrelated_stays_between_base_and_max_and_grows() {
        let b = Backoff::decorrelated_jitter(MS(10), MS(1000));
        let delays: Vec<_> = b.delays(5).take(200).collect();
        assert!(delays.iter().all(|d| *d >= MS(10) && *d <= MS(1000)));
        assert!(
            delays.iter().any(|d| *d > MS(100)),
            "it should grow: {delays:?}"
        );
    }

    #[test]
    fn exponential_never_rounds_below_its_initial_delay() {
        // Above 2^53 ns an f64 cannot hold every nanosecond; the delay must still be exact.
        let initial = Duration::new(90_179_484, 404_525_921);
        let max = Duration::new(90_179_484, 404_525_929);
        let mut delays = Backoff::exponential(initial, 1.0, max).delays(0);
        assert_eq!(delays.next_delay(), initial);
        assert!(delays.take(50).all(|d| d >= initial && d <= max));
    }

    #[test]
    fn extreme_settings_do_not_overflow() {
        let b = Backoff::exponential(Duration::from_nanos(1), f64::MAX, MAX_DELAY)
            .with_jitter(Jitter::Equal);
        assert!(b.delays(3).take(100).all(|d| d <= MAX_DELAY));
        let d = Backoff::decorrelated_jitter(MAX_DELAY, MAX_DELAY);
        assert!(d.delays(3).take(10).all(|x| x == MAX_DELAY));
    }
}
