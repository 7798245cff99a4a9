//! Manager and pool settings, validated when built.

use std::time::Duration;

use crate::ByteSize;

/// The manager's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagerConfig {
    pub(crate) memory_budget: Option<ByteSize>,
    pub(crate) aging_step: Duration,
}

impl Default for ManagerConfig {
    fn default() -> Self {
        ManagerConfig {
            memory_budget: None,
            aging_step: Duration::from_secs(1),
        }
    }
}

impl ManagerConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.aging_step.is_zero() {
            return Err(ConfigError::new(
                "aging_step",
                "0ns",
                "a duration above zero (it is how long a waiter waits to gain one priority level)",
            ));
        }
        if self.memory_budget == Some(ByteSize::new(0)) {
            return Err(ConfigError::new(
                "memory_budget",
                "0B",
                "a size above zero, e.g. \"512MiB\" or \"1GB\" (leave it unset for no budget)",
            ));
        }
        Ok(())
    }
}

/// One pool's settings. Build with [`PoolConfig::builder`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolConfig {
    pub(crate) min: usize,
    pub(crate) max: usize,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) lease_ttl: Option<Duration>,
    pub(crate) request_timeout: Option<Duration>,
    pub(crate) max_resource_memory: Option<ByteSize>,
    pub(crate) new_resource_memory: ByteSize,
    pub(crate) track_last_use: bool,
}

impl PoolConfig {
    /// Whether returns are stamped with the time (see
    /// [`ResourceInfo::last_used`](crate::ResourceInfo::last_used)).
    pub fn tracks_last_use(&self) -> bool {
        self.track_last_use || self.idle_timeout.is_some()
    }

    /// A builder with the defaults: no minimum, at most 16 resources, no idle timeout, no
    /// lease time to live, requests wait 30 s.
    pub fn builder() -> PoolConfigBuilder {
        PoolConfigBuilder {
            config: PoolConfig {
                min: 0,
                max: 16,
                idle_timeout: None,
                lease_ttl: None,
                request_timeout: Some(Duration::from_secs(30)),
                max_resource_memory: None,
                new_resource_memory: ByteSize::new(0),
                track_last_use: false,
            },
        }
    }
}

/// Builds a [`PoolConfig`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct PoolConfigBuilder {
    config: PoolConfig,
}

impl PoolConfigBuilder {
    /// Idle shrinking stops at this many resources. Default 0.
    pub fn min(mut self, min: usize) -> Self {
        self.config.min = min;
        self
    }

    /// The pool never holds more (at least 1). Default 16.
    pub fn max(mut self, max: usize) -> Self {
        self.config.max = max;
        self
    }

    /// Ready resources unused this long are removed, down to `min`.
    pub fn idle_timeout(mut self, idle: Duration) -> Self {
        self.config.idle_timeout = Some(idle);
        self
    }

    /// A lease held longer is reclaimed (its owner is presumed dead) and reported.
    pub fn lease_ttl(mut self, ttl: Duration) -> Self {
        self.config.lease_ttl = Some(ttl);
        self
    }

    /// How long a request waits by default; `None` waits for ever. Default 30 s.
    pub fn request_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.config.request_timeout = timeout;
        self
    }

    /// No single resource may take more.
    pub fn max_resource_memory(mut self, limit: ByteSize) -> Self {
        self.config.max_resource_memory = Some(limit);
        self
    }

    /// What a resource the factory is about to make will take, checked against the budget
    /// before it is made. Default 0.
    pub fn new_resource_memory(mut self, memory: ByteSize) -> Self {
        self.config.new_resource_memory = memory;
        self
    }

    /// Stamp every return with the time, for
    /// [`ResourceInfo::last_used`](crate::ResourceInfo::last_used), even without an idle
    /// timeout (which turns it on by itself). Costs a clock read per return. Default: off.
    pub fn track_last_use(mut self, track: bool) -> Self {
        self.config.track_last_use = track;
        self
    }

    /// Checks every setting.
    pub fn build(self) -> Result<PoolConfig, ConfigError> {
        let c = &self.config;
        if c.max == 0 {
            return Err(ConfigError::new("max", 0, "at least 1 resource"));
        }
        if c.min > c.max {
            return Err(ConfigError::new(
                "min",
                c.min,
                format!("at most max ({})", c.max),
            ));
        }
        for (field, value) in [
            ("idle_timeout", c.idle_timeout),
            ("lease_ttl", c.lease_ttl),
            ("request_timeout", c.request_timeout),
        ] {
            if value == Some(Duration::ZERO) {
                return Err(ConfigError::new(field, "0ns", "a duration above zero"));
            }
        }
        if let Some(limit) = c.max_resource_memory
            && c.new_resource_memory > limit
        {
            return Err(ConfigError::new(
                "new_resource_memory",
                c.new_resource_memory,
                format!("at most max_resource_memory ({limit})"),
            ));
        }
        Ok(self.config)
    }
}

/// A setting that cannot work, named with the value given and what is accepted.
#[doc(inline)]
pub use hardening_core::ConfigError;
