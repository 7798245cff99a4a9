//! Named breakers sharing named configs.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, RwLock};

use crate::clock::{Clock, SystemClock};
use crate::config::BreakerConfig;
use crate::event::Listener;
use crate::{Breaker, State};

/// Breakers by name, created on first use from a shared config.
///
/// ```
/// use hardening_breaker::{BreakerConfig, Registry, State};
///
/// let registry = Registry::new(BreakerConfig::default());
/// registry.add_config(
///     "flaky",
///     BreakerConfig::builder().failure_rate_threshold(20.0).build()?,
/// );
/// let payments = registry.get_or_create("payments");
/// let search = registry.get_or_create_with_config("search", "flaky")?;
/// assert_eq!(search.config().failure_rate_threshold(), 20.0);
/// // Same name, same breaker.
/// assert_eq!(registry.get_or_create("payments").name(), payments.name());
/// assert_eq!(
///     registry.states(),
///     [("payments".to_string(), State::Closed), ("search".to_string(), State::Closed)]
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Registry {
    default_config: BreakerConfig,
    configs: RwLock<HashMap<String, BreakerConfig>>,
    breakers: RwLock<HashMap<Arc<str>, Breaker>>,
    clock: Arc<dyn Clock>,
    listeners: Vec<Arc<dyn Listener>>,
}

/// A config name the registry does not know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownConfig {
    name: String,
    known: Vec<String>,
}

impl UnknownConfig {
    /// The name that was asked for.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Display for UnknownConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "no breaker config is named '{}'", self.name)?;
        if self.known.is_empty() {
            f.write_str("; none has been added (use Registry::add_config)")
        } else {
            write!(f, "; known configs: {}", self.known.join(", "))
        }
    }
}

impl std::error::Error for UnknownConfig {}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Registry {
    /// A registry whose breakers use `default_config` unless told otherwise.
    pub fn new(default_config: BreakerConfig) -> Self {
        Registry {
            default_config,
            configs: RwLock::new(HashMap::new()),
            breakers: RwLock::new(HashMap::new()),
            clock: Arc::new(SystemClock),
            listeners: Vec::new(),
        }
    }

    /// The clock every breaker created from now on reads.
    #[must_use]
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// A listener attached to every breaker created from now on.
    #[must_use]
    pub fn with_listener(mut self, listener: impl Listener) -> Self {
        self.listeners.push(Arc::new(listener));
        self
    }

    /// Adds (or replaces) a named config. Breakers already created keep theirs.
    pub fn add_config(&self, name: impl Into<String>, config: BreakerConfig) {
        write(&self.configs).insert(name.into(), config);
    }

    /// The breaker called `name`, created with the default config if it does not exist.
    pub fn get_or_create(&self, name: &str) -> Breaker {
        self.get_or_insert(name, || self.default_config.clone())
    }

    /// The breaker called `name`, created with the config called `config` if it does not exist.
    /// An existing breaker is returned as it is, whatever its config.
    pub fn get_or_create_with_config(
        &self,
        name: &str,
        config: &str,
    ) -> Result<Breaker, UnknownConfig> {
        if let Some(existing) = self.get(name) {
            return Ok(existing);
        }
        let config = read(&self.configs).get(config).cloned().ok_or_else(|| {
            let mut known: Vec<String> = read(&self.configs).keys().cloned().collect();
            known.sort();
            UnknownConfig {
                name: config.to_string(),
                known,
            }
        })?;
        Ok(self.get_or_insert(name, || config))
    }

    /// The breaker called `name`, created with `config` if it does not exist.
    pub fn get_or_create_with(&self, name: &str, config: BreakerConfig) -> Breaker {
        self.get_or_insert(name, || config)
    }

    fn get_or_insert(&self, name: &str, config: impl FnOnce() -> BreakerConfig) -> Breaker {
        if let Some(existing) = self.get(name) {
            return existing;
        }
        let mut breakers = write(&self.breakers);
        breakers
            .entry(Arc::from(name))
            .or_insert_with(|| {
                let mut builder = Breaker::builder(name)
                    .config(config())
                    .clock(Arc::clone(&self.clock));
                for listener in &self.listeners {
                    builder = builder.on_event_shared(Arc::clone(listener));
                }
                builder.build()
            })
            .clone()
    }

    /// The breaker called `name`, if it exists.
    pub fn get(&self, name: &str) -> Option<Breaker> {
        read(&self.breakers).get(name).cloned()
    }

    /// Removes the breaker called `name` from the registry. Handles already given out keep
    /// working.
    pub fn remove(&self, name: &str) -> Option<Breaker> {
        write(&self.breakers).remove(name)
    }

    /// Every breaker, sorted by name.
    pub fn all(&self) -> Vec<Breaker> {
        let mut all: Vec<Breaker> = read(&self.breakers).values().cloned().collect();
        all.sort_by(|a, b| a.name().cmp(b.name()));
        all
    }

    /// Every breaker's name and state, sorted by name.
    pub fn states(&self) -> Vec<(String, State)> {
        self.all()
            .into_iter()
            .map(|breaker| (breaker.name().to_string(), breaker.state()))
            .collect()
    }

    /// Publishes every breaker's batched counts to the `metrics` facade (call before a scrape).
    pub fn flush_metrics(&self) {
        for breaker in read(&self.breakers).values() {
            breaker.flush_metrics();
        }
    }
}

impl Default for Registry {
    fn default() -> Self {
        Registry::new(BreakerConfig::default())
    }
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("breakers", &self.states())
            .field("configs", &read(&self.configs).keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}
