//! `SystemHardeningConfig`: the seeds' switches and intervals, plus a section per crate, read
//! from YAML, TOML or JSON with camelCase keys and overridable from the environment.
//!
//! Reading checks every setting's form (a number where a number goes, a known name, a size
//! that parses) and reports every mistake at once, each under its path; building the system
//! ([`Hardening::builder`](crate::Hardening::builder)) checks what depends on the build (a
//! switch whose feature is compiled out) and on the code (a recoverable service that was
//! never registered). `docs/configuration.md` is the reference: every key, its default and
//! its environment variable.
//!
//! ```
//! use hardening::config::{Format, SystemHardeningConfig};
//!
//! // The seeds' example configuration, as YAML.
//! let config = SystemHardeningConfig::from_text(
//!     r#"
//! enableHealthMonitoring: true
//! enablePerformanceMonitoring: true
//! enableErrorRecovery: true
//! enableResourceManagement: true
//! healthCheckIntervalMs: 30000     # 30 seconds
//! performanceCheckIntervalMs: 5000 # 5 seconds
//! maxResourceMemory: 1GB
//! recoverableServices: [audio-processing, model-inference]
//! "#,
//!     Format::Yaml,
//! )?;
//! assert_eq!(config.health_check_interval_ms, 30_000);
//! assert_eq!(config.max_resource_memory.map(|s| s.bytes()), Some(1_000_000_000));
//! # Ok::<(), hardening::ConfigErrors>(())
//! ```
//!
//! # Environment overrides
//!
//! A variable named `HARDENING_` followed by a key's path in upper snake case, with `__`
//! between sections, overrides that key: `HARDENING_HEALTH_CHECK_INTERVAL_MS=10000`,
//! `HARDENING_BREAKER__FAILURE_RATE_THRESHOLD=25`,
//! `HARDENING_RECOVERABLE_SERVICES=audio-processing,model-inference`. Under `services` and
//! `resources.pools`, a variable's name segment matches an entry whose name is the same
//! ignoring case, `-` and `_` (`AUDIO_PROCESSING` is `audio-processing`); a new entry takes the
//! lower-case, dash-separated name. A `HARDENING_` variable that names no setting is an error,
//! like an unknown key in a file.

mod env;
pub(crate) mod read;

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use crate::{ConfigError, ConfigErrors};
use read::{Context, Section};

#[doc(inline)]
pub use hardening_core::{ByteSize, ParseSizeError};

/// The prefix of the environment variables that override settings.
pub const ENV_PREFIX: &str = "HARDENING_";

/// The system's settings: the seeds' `SystemHardeningConfig` and a section per part.
///
/// Every field has a default ([`Default`]), so a file sets only what it changes. Field names
/// are the file's keys in snake case; times are in milliseconds, as in the seeds.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SystemHardeningConfig {
    /// Background health checks, probes and alerts. Default: on when the `health-monitoring`
    /// feature is compiled in.
    pub enable_health_monitoring: bool,
    /// CPU, memory, runtime latency and operation timings. Default: on when the
    /// `performance-monitoring` feature is compiled in.
    pub enable_performance_monitoring: bool,
    /// Circuit breakers, retry and supervised recovery. Default: on when the `error-recovery`
    /// feature is compiled in.
    pub enable_error_recovery: bool,
    /// Priority allocation of resources, leases and cleanup. Default: on when the
    /// `resource-management` feature is compiled in.
    pub enable_resource_management: bool,
    /// The in-process metrics store. Default: on when the `metrics-store` feature is compiled
    /// in.
    pub enable_metrics_store: bool,
    /// How often each health check runs. Default 30000 (the seeds' example).
    pub health_check_interval_ms: u64,
    /// How often the performance monitor samples. Default 5000 (the seeds' example).
    pub performance_check_interval_ms: u64,
    /// The most memory one resource may be declared with; a larger one is refused. Default:
    /// no limit.
    pub max_resource_memory: Option<ByteSize>,
    /// The services the recovery manager may recover; each must be registered with
    /// [`HardeningBuilder::service`](crate::HardeningBuilder::service). Default: none.
    pub recoverable_services: Vec<String>,
    /// How long [`Hardening::shutdown`](crate::Hardening::shutdown) may take in all. Default
    /// 10000.
    pub shutdown_timeout_ms: u64,
    /// Health checks.
    pub health: HealthSettings,
    /// The performance monitor.
    pub performance: PerformanceSettings,
    /// Every service's circuit breaker (a service may override it).
    pub breaker: BreakerSettings,
    /// The retry stage of every service's pipeline.
    pub retry: RetrySettings,
    /// Supervised recovery.
    pub recovery: RecoverySettings,
    /// Resource pools and the memory budget.
    pub resources: ResourceSettings,
    /// The metrics store.
    pub metrics_store: MetricsStoreSettings,
    /// Per-service settings, by service name.
    pub services: BTreeMap<String, ServiceSettings>,
    /// The admin endpoint (the `http` feature).
    pub admin: AdminSettings,
}

impl Default for SystemHardeningConfig {
    fn default() -> Self {
        SystemHardeningConfig {
            enable_health_monitoring: cfg!(feature = "health-monitoring"),
            enable_performance_monitoring: cfg!(feature = "performance-monitoring"),
            enable_error_recovery: cfg!(feature = "error-recovery"),
            enable_resource_management: cfg!(feature = "resource-management"),
            enable_metrics_store: cfg!(feature = "metrics-store"),
            health_check_interval_ms: 30_000,
            performance_check_interval_ms: 5_000,
            max_resource_memory: None,
            recoverable_services: Vec::new(),
            shutdown_timeout_ms: 10_000,
            health: HealthSettings::default(),
            performance: PerformanceSettings::default(),
            breaker: BreakerSettings::default(),
            retry: RetrySettings::default(),
            recovery: RecoverySettings::default(),
            resources: ResourceSettings::default(),
            metrics_store: MetricsStoreSettings::default(),
            services: BTreeMap::new(),
            admin: AdminSettings::default(),
        }
    }
}

/// The admin endpoint's settings: where it listens and the token its actions need.
#[derive(Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AdminSettings {
    /// The address to listen on. Default `127.0.0.1:9090`: loopback, so that only this host
    /// reaches it unless you choose otherwise.
    pub address: String,
    /// The bearer token that operator actions (and health details) need; at least 16
    /// characters. Without one every action is refused. Set it from the environment
    /// (`HARDENING_ADMIN__TOKEN`) rather than a file. Never serialized.
    #[serde(skip_serializing)]
    pub token: Option<String>,
    /// The largest request body accepted. Default 65536.
    pub max_body_bytes: u32,
}

impl fmt::Debug for AdminSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminSettings")
            .field("address", &self.address)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("max_body_bytes", &self.max_body_bytes)
            .finish()
    }
}

impl Default for AdminSettings {
    fn default() -> Self {
        AdminSettings {
            address: "127.0.0.1:9090".to_string(),
            token: None,
            max_body_bytes: 65_536,
        }
    }
}

/// The shortest admin token accepted: guessing 16 random characters is out of reach.
pub const MIN_TOKEN_LENGTH: usize = 16;

/// Health check settings: the defaults every check runs with.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthSettings {
    /// A check still running after this is a failure. Default 5000.
    pub check_timeout_ms: u64,
    /// Failures in a row before a passing check counts as failing (Kubernetes'
    /// `failureThreshold`). Default 3.
    pub failure_threshold: u32,
    /// Passes in a row before a failing check counts as passing again. Default 1.
    pub success_threshold: u32,
    /// Checks that may run at once. Default 16.
    pub max_concurrent: u32,
    /// System memory use (percent) above which the memory check warns. Default 90.
    pub memory_warn_percent: f64,
    /// System memory use (percent) above which the memory check fails. Default 98.
    pub memory_fail_percent: f64,
    /// Who sees the checks' details in health bodies. Default `whenAuthorized`.
    pub details: Details,
}

impl Default for HealthSettings {
    fn default() -> Self {
        HealthSettings {
            check_timeout_ms: 5_000,
            failure_threshold: 3,
            success_threshold: 1,
            max_concurrent: 16,
            memory_warn_percent: 90.0,
            memory_fail_percent: 98.0,
            details: Details::WhenAuthorized,
        }
    }
}

/// Who sees the checks' details in a health body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Details {
    /// Nobody: only the status.
    Never,
    /// Callers with the admin token.
    WhenAuthorized,
    /// Everybody.
    Always,
}

/// Performance monitor settings.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PerformanceSettings {
    /// How often the runtime latency probe wakes. Default 20.
    pub latency_probe_period_ms: u64,
    /// Runtime latency above this is counted as over the threshold. Default 50.
    pub latency_threshold_ms: u64,
    /// How long a limit below must stay exceeded before it raises an alert. Default 60000.
    pub hold_ms: u64,
    /// Process CPU (percent of one core) above which an alert is raised. Default: none.
    pub cpu_percent_limit: Option<f64>,
    /// Resident memory above which an alert is raised. Default: none.
    pub rss_limit: Option<ByteSize>,
    /// Runtime latency p99 above which an alert is raised. Default: none.
    pub latency_p99_limit_ms: Option<u64>,
    /// The window over which memory drift (a leak) is judged. Default 3600000.
    pub memory_drift_window_ms: u64,
    /// Resident memory growth (percent an hour) judged a leak. Default 10.
    pub memory_drift_percent_per_hour: f64,
}

impl Default for PerformanceSettings {
    fn default() -> Self {
        PerformanceSettings {
            latency_probe_period_ms: 20,
            latency_threshold_ms: 50,
            hold_ms: 60_000,
            cpu_percent_limit: None,
            rss_limit: None,
            latency_p99_limit_ms: None,
            memory_drift_window_ms: 3_600_000,
            memory_drift_percent_per_hour: 10.0,
        }
    }
}

/// Circuit breaker settings, named as Resilience4j names them.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BreakerSettings {
    /// Failure rate (percent) at which the breaker opens. Default 50.
    pub failure_rate_threshold: f64,
    /// Slow-call rate (percent) at which the breaker opens. Default 100.
    pub slow_call_rate_threshold: f64,
    /// A call slower than this is slow. Default: none (calls are not timed).
    pub slow_call_duration_threshold_ms: Option<u64>,
    /// How the window counts. Default `countBased`.
    pub sliding_window_type: SlidingWindowType,
    /// Calls (count-based), seconds (time-based) or failures in a row (consecutive). Default
    /// 100.
    pub sliding_window_size: u32,
    /// Calls the window must hold before it judges. Default 100.
    pub minimum_number_of_calls: u32,
    /// Probes let through in the half-open state. Default 10.
    pub permitted_number_of_calls_in_half_open_state: u32,
    /// The longest the breaker stays half-open before opening again. Default: none.
    pub max_wait_duration_in_half_open_state_ms: Option<u64>,
    /// How long the breaker stays open (the first time). Default 60000.
    pub wait_duration_in_open_state_ms: u64,
    /// Each consecutive opening waits this many times longer. Default 1 (constant).
    pub open_state_backoff_multiplier: f64,
    /// The cap on the open wait when it grows. Default: the first wait times 10 when the
    /// multiplier is above 1.
    pub max_wait_duration_in_open_state_ms: Option<u64>,
    /// Open moves to half-open when the wait is over, with no call needed. Default false.
    pub automatic_transition_from_open_to_half_open_enabled: bool,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        BreakerSettings {
            failure_rate_threshold: 50.0,
            slow_call_rate_threshold: 100.0,
            slow_call_duration_threshold_ms: None,
            sliding_window_type: SlidingWindowType::CountBased,
            sliding_window_size: 100,
            minimum_number_of_calls: 100,
            permitted_number_of_calls_in_half_open_state: 10,
            max_wait_duration_in_half_open_state_ms: None,
            wait_duration_in_open_state_ms: 60_000,
            open_state_backoff_multiplier: 1.0,
            max_wait_duration_in_open_state_ms: None,
            automatic_transition_from_open_to_half_open_enabled: false,
        }
    }
}

/// How a breaker's window counts calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum SlidingWindowType {
    /// The last `slidingWindowSize` calls.
    CountBased,
    /// The calls of the last `slidingWindowSize` seconds.
    TimeBased,
    /// `slidingWindowSize` failures in a row open the breaker.
    ConsecutiveFailures,
}

/// Retry settings, named as Resilience4j names them.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RetrySettings {
    /// Attempts in all, the first included; 1 turns retry off. Default 3.
    pub max_attempts: u32,
    /// The wait before the first retry. Default 100.
    pub wait_duration_ms: u64,
    /// Each retry waits this many times longer. Default 2.
    pub backoff_multiplier: f64,
    /// The cap on the wait. Default 10000.
    pub max_wait_duration_ms: u64,
    /// How the wait is randomised. Default `full`.
    pub jitter: JitterKind,
    /// The longest a call may take, every attempt and wait included. Default: none.
    pub deadline_ms: Option<u64>,
    /// The longest one attempt may take: every service's pipeline timeout, unless the
    /// service sets its own `timeoutMs`. Default: none.
    pub attempt_timeout_ms: Option<u64>,
    /// Whether retries draw on a retry budget. Default true.
    pub budget_enabled: bool,
    /// Retries a success earns (0.2: retries add at most 20% to the load). Default 0.2.
    pub budget_ratio: f64,
    /// Retries a second always allowed. Default 10.
    pub budget_min_per_second: u32,
}

impl Default for RetrySettings {
    fn default() -> Self {
        RetrySettings {
            max_attempts: 3,
            wait_duration_ms: 100,
            backoff_multiplier: 2.0,
            max_wait_duration_ms: 10_000,
            jitter: JitterKind::Full,
            deadline_ms: None,
            attempt_timeout_ms: None,
            budget_enabled: true,
            budget_ratio: 0.2,
            budget_min_per_second: 10,
        }
    }
}

/// How a retry's wait is randomised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum JitterKind {
    /// The computed wait, exactly.
    None,
    /// Uniform between zero and the wait (AWS's "full jitter").
    Full,
    /// Half the wait plus a uniform share of the other half.
    Equal,
    /// Uniform between the base wait and three times the previous one.
    Decorrelated,
}

/// Supervised recovery settings.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecoverySettings {
    /// At most this many recoveries of one service within `intensityWindowMs`; past it the
    /// service is given up (OTP's restart intensity). Default 3.
    pub max_recoveries: u32,
    /// The window of `maxRecoveries`. Default 60000.
    pub intensity_window_ms: u64,
    /// The wait before the first retry of a failed recovery. Default 1000.
    pub backoff_initial_ms: u64,
    /// The cap on that wait. Default 60000.
    pub backoff_max_ms: u64,
    /// How long a service must stay healthy before its backoff starts over. Default 60000.
    pub stable_period_ms: u64,
    /// Recoveries that may run at once, across services. Default 4.
    pub max_concurrent: u32,
    /// The longest one recovery action may take. Default 30000.
    pub action_timeout_ms: u64,
    /// Recoveries kept in the history. Default 1000.
    pub history_capacity: u32,
    /// The escalation ladder: action names per level. `reinitialize` and `restart` are the
    /// lifecycle actions; any other name is passed to the service's `recover`.
    pub ladder: LadderSettings,
}

impl Default for RecoverySettings {
    fn default() -> Self {
        RecoverySettings {
            max_recoveries: 3,
            intensity_window_ms: 60_000,
            backoff_initial_ms: 1_000,
            backoff_max_ms: 60_000,
            stable_period_ms: 60_000,
            max_concurrent: 4,
            action_timeout_ms: 30_000,
            history_capacity: 1_000,
            ladder: LadderSettings::default(),
        }
    }
}

/// Recovery actions per escalation level, tried in order (then reordered by what worked).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LadderSettings {
    /// First tried. Default: none.
    pub soft: Vec<String>,
    /// Tried when every soft action failed. Default: none.
    pub medium: Vec<String>,
    /// Default: `reinitialize`.
    pub hard: Vec<String>,
    /// The last level; when it fails too an operator is alerted. Default: `restart`.
    pub emergency: Vec<String>,
}

impl Default for LadderSettings {
    fn default() -> Self {
        LadderSettings {
            soft: Vec::new(),
            medium: Vec::new(),
            hard: vec!["reinitialize".to_string()],
            emergency: vec!["restart".to_string()],
        }
    }
}

/// Resource management settings.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceSettings {
    /// The memory all resources together may be declared with. Default: no budget.
    pub memory_budget: Option<ByteSize>,
    /// How long a waiter waits to gain one priority level (so nothing starves). Default 1000.
    pub aging_step_ms: Option<u64>,
    /// Under memory pressure (the performance monitor's `rssLimit` exceeded), requests of a
    /// lower priority are shed at once. Default 1: requests at the default priority 0 are
    /// shed.
    pub emergency_min_priority: i32,
    /// Pools by resource kind.
    pub pools: BTreeMap<String, PoolSettings>,
}

impl Default for ResourceSettings {
    fn default() -> Self {
        ResourceSettings {
            memory_budget: None,
            aging_step_ms: None,
            emergency_min_priority: 1,
            pools: BTreeMap::new(),
        }
    }
}

/// One resource pool's settings.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PoolSettings {
    /// Resources kept even when idle. Default 0.
    pub min: u32,
    /// The most resources the pool holds. Default 16.
    pub max: u32,
    /// An idle resource above `min` is removed after this. Default: never.
    pub idle_timeout_ms: Option<u64>,
    /// A lease held longer is taken back (its owner is presumed gone). Default: never.
    pub lease_ttl_ms: Option<u64>,
    /// A request waits at most this long. Default: no limit.
    pub request_timeout_ms: Option<u64>,
    /// The most memory one resource of this pool may be declared with. Default: the
    /// top-level `maxResourceMemory`.
    pub max_resource_memory: Option<ByteSize>,
}

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings {
            min: 0,
            max: 16,
            idle_timeout_ms: None,
            lease_ttl_ms: None,
            request_timeout_ms: None,
            max_resource_memory: None,
        }
    }
}

/// Metrics store settings.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricsStoreSettings {
    /// How often every counter and gauge is sampled into history. Default 10000.
    pub sample_interval_ms: u64,
    /// Raw samples are kept this long. Default 86400000 (a day).
    pub retention_ms: u64,
    /// The memory history may take. Default 64MiB.
    pub max_memory: ByteSize,
    /// The most series kept. Default 10000.
    pub max_series: u32,
}

impl Default for MetricsStoreSettings {
    fn default() -> Self {
        MetricsStoreSettings {
            sample_interval_ms: 10_000,
            retention_ms: 86_400_000,
            max_memory: ByteSize::new(64 << 20),
            max_series: 10_000,
        }
    }
}

/// One service's settings.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceSettings {
    /// Whether the recovery manager may recover it (the same as listing it in
    /// `recoverableServices`). Default false.
    pub recoverable: bool,
    /// Memory the service may take: reported in its health and checked by its memory
    /// check. Default: none.
    pub max_memory: Option<ByteSize>,
    /// Each attempt through the service's pipeline is cut after this (a timeout is a failure
    /// for its breaker, and is retried). Default: `retry.attemptTimeoutMs`.
    pub timeout_ms: Option<u64>,
    /// Calls the service's pipeline runs at once (a bulkhead). Default: no limit.
    pub max_concurrent_calls: Option<u32>,
    /// The service's breaker: the top-level `breaker` section with these keys changed.
    pub breaker: BreakerSettings,
}

impl ServiceSettings {
    fn with_breaker(breaker: BreakerSettings) -> Self {
        ServiceSettings {
            recoverable: false,
            max_memory: None,
            timeout_ms: None,
            max_concurrent_calls: None,
            breaker,
        }
    }
}

/// The language of a config text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// YAML (`.yaml`, `.yml`).
    Yaml,
    /// TOML (`.toml`).
    Toml,
    /// JSON (`.json`).
    Json,
}

impl Format {
    /// The format a file name's extension says, if it says one.
    pub fn from_path(path: &Path) -> Option<Format> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "yaml" | "yml" => Some(Format::Yaml),
            "toml" => Some(Format::Toml),
            "json" => Some(Format::Json),
            _ => None,
        }
    }

    fn parse(self, text: &str) -> Result<Value, String> {
        match self {
            Format::Yaml => serde_yaml_ng::from_str(text).map_err(|e| e.to_string()),
            Format::Toml => toml::from_str(text).map_err(|e| e.to_string()),
            Format::Json => serde_json::from_str(text).map_err(|e| e.to_string()),
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Yaml => "YAML",
            Format::Toml => "TOML",
            Format::Json => "JSON",
        })
    }
}

impl SystemHardeningConfig {
    /// Reads a config text, without environment overrides.
    pub fn from_text(text: &str, format: Format) -> Result<Self, ConfigErrors> {
        Self::read(text, format, std::iter::empty())
    }

    /// Reads a config file, its format told by its extension (`.yaml`, `.yml`, `.toml`,
    /// `.json`), without environment overrides.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self, ConfigErrors> {
        let (text, format) = read_file(path.as_ref())?;
        Self::from_text(&text, format)
    }

    /// Reads a config file, then applies the `HARDENING_*` variables of this process's
    /// environment: what a service calls at start.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ConfigErrors> {
        let (text, format) = read_file(path.as_ref())?;
        Self::read(&text, format, std::env::vars_os().filter_map(utf8_var))
    }

    /// The defaults with the `HARDENING_*` variables of this process's environment applied,
    /// for a service configured by its environment alone.
    pub fn from_env() -> Result<Self, ConfigErrors> {
        Self::read("{}", Format::Json, std::env::vars_os().filter_map(utf8_var))
    }

    /// Reads a config text with overrides from `vars` (name, value pairs; names without the
    /// `HARDENING_` prefix are ignored). Tests pass their own variables here rather than
    /// changing the process's environment.
    pub fn read(
        text: &str,
        format: Format,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigErrors> {
        let mut tree = format.parse(text).map_err(|message| {
            ConfigError::new(
                "(document)",
                format!("text that does not parse as {format} ({message})"),
                format!("a {format} document"),
            )
        })?;
        let origins = env::apply(&mut tree, vars)?;
        let cx = Context::new(origins);
        let config = read_config(&mut Section::root(&cx, &tree));
        let errors = cx.into_errors();
        if errors.is_empty() {
            Ok(config)
        } else {
            Err(ConfigErrors::new(errors))
        }
    }

    /// The services the recovery manager may recover: `recoverableServices` and every
    /// service marked `recoverable`, each once.
    pub fn recoverable(&self) -> Vec<String> {
        let mut names = self.recoverable_services.clone();
        for (name, service) in &self.services {
            if service.recoverable && !names.contains(name) {
                names.push(name.clone());
            }
        }
        names
    }

    /// The settings of service `name`: its own, or the defaults (with the top-level breaker).
    pub fn service(&self, name: &str) -> ServiceSettings {
        self.services
            .get(name)
            .cloned()
            .unwrap_or_else(|| ServiceSettings::with_breaker(self.breaker.clone()))
    }
}

impl<'de> serde::Deserialize<'de> for SystemHardeningConfig {
    /// Reads the config from any serde format, with the same checks as
    /// [`SystemHardeningConfig::from_text`] (every mistake, each under its path, in one
    /// message), so it can be a section of an application's own config.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let tree = Value::deserialize(deserializer)?;
        let cx = Context::default();
        let config = read_config(&mut Section::root(&cx, &tree));
        let errors = cx.into_errors();
        if errors.is_empty() {
            Ok(config)
        } else {
            Err(serde::de::Error::custom(ConfigErrors::new(errors)))
        }
    }
}

fn utf8_var((name, value): (std::ffi::OsString, std::ffi::OsString)) -> Option<(String, String)> {
    Some((name.into_string().ok()?, value.into_string().ok()?))
}

fn read_file(path: &Path) -> Result<(String, Format), ConfigError> {
    let shown = path.display().to_string();
    let format = Format::from_path(path).ok_or_else(|| {
        ConfigError::new(
            "(file)",
            format!("{shown:?}"),
            "a file named *.yaml, *.yml, *.toml or *.json",
        )
    })?;
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigError::new(
            "(file)",
            format!("{shown:?} ({e})"),
            "a readable UTF-8 file",
        )
    })?;
    Ok((text, format))
}

/// The seeds' nested YAML form (`systemHardening: {healthMonitoring: {enabled, checkInterval},
/// ...}` and `services: {name: {maxMemory, recoverable}}`) sets the same settings as the flat
/// form; giving one setting both ways is an error rather than a silent choice.
struct Nested {
    health_enabled: Option<bool>,
    health_interval: Option<u64>,
    performance_enabled: Option<bool>,
    performance_interval: Option<u64>,
    recovery_enabled: Option<bool>,
    max_attempts: Option<u32>,
    resources_enabled: Option<bool>,
    memory_budget: Option<ByteSize>,
}

fn read_nested(root: &mut Section<'_>) -> Nested {
    let mut nested = root.section("systemHardening");
    let mut part = |key: &'static str, interval: bool| {
        let mut section = nested.section(key);
        let enabled = section
            .has("enabled")
            .then(|| section.bool("enabled", false));
        let every = if interval && section.has("checkInterval") {
            section.optional_millis("checkInterval")
        } else {
            None
        };
        (section, enabled, every)
    };
    let (_health, health_enabled, health_interval) = part("healthMonitoring", true);
    let (_performance, performance_enabled, performance_interval) =
        part("performanceMonitoring", true);
    let (mut recovery, recovery_enabled, _) = part("errorRecovery", false);
    let max_attempts = recovery
        .has("maxAttempts")
        .then(|| recovery.count("maxAttempts", 3, 1));
    let (mut resources, resources_enabled, _) = part("resourceManagement", false);
    let memory_budget = resources.size("maxMemory");
    Nested {
        health_enabled,
        health_interval,
        performance_enabled,
        performance_interval,
        recovery_enabled,
        max_attempts,
        resources_enabled,
        memory_budget,
    }
}

/// Takes the nested form's value when the flat key is absent; both is an error.
fn merge<T>(
    root: &Section<'_>,
    flat_given: bool,
    flat: T,
    nested: Option<T>,
    (flat_key, nested_key): (&str, &str),
) -> T {
    match nested {
        Some(value) if !flat_given => value,
        Some(_) => {
            root.push_error(ConfigError::new(
                flat_key.to_string(),
                format!("a value given both here and as {nested_key}"),
                "the setting given once",
            ));
            flat
        }
        None => flat,
    }
}

fn read_config(root: &mut Section<'_>) -> SystemHardeningConfig {
    let defaults = SystemHardeningConfig::default();
    let nested = read_nested(root);

    let flat = root.has("enableHealthMonitoring");
    let value = root.bool("enableHealthMonitoring", defaults.enable_health_monitoring);
    let enable_health_monitoring = merge(
        root,
        flat,
        value,
        nested.health_enabled,
        (
            "enableHealthMonitoring",
            "systemHardening.healthMonitoring.enabled",
        ),
    );
    let flat = root.has("enablePerformanceMonitoring");
    let value = root.bool(
        "enablePerformanceMonitoring",
        defaults.enable_performance_monitoring,
    );
    let enable_performance_monitoring = merge(
        root,
        flat,
        value,
        nested.performance_enabled,
        (
            "enablePerformanceMonitoring",
            "systemHardening.performanceMonitoring.enabled",
        ),
    );
    let flat = root.has("enableErrorRecovery");
    let value = root.bool("enableErrorRecovery", defaults.enable_error_recovery);
    let enable_error_recovery = merge(
        root,
        flat,
        value,
        nested.recovery_enabled,
        (
            "enableErrorRecovery",
            "systemHardening.errorRecovery.enabled",
        ),
    );
    let flat = root.has("enableResourceManagement");
    let value = root.bool(
        "enableResourceManagement",
        defaults.enable_resource_management,
    );
    let enable_resource_management = merge(
        root,
        flat,
        value,
        nested.resources_enabled,
        (
            "enableResourceManagement",
            "systemHardening.resourceManagement.enabled",
        ),
    );
    let enable_metrics_store = root.bool("enableMetricsStore", defaults.enable_metrics_store);
    let flat = root.has("healthCheckIntervalMs");
    let value = root.millis("healthCheckIntervalMs", defaults.health_check_interval_ms);
    let health_check_interval_ms = merge(
        root,
        flat,
        value,
        nested.health_interval,
        (
            "healthCheckIntervalMs",
            "systemHardening.healthMonitoring.checkInterval",
        ),
    );
    let flat = root.has("performanceCheckIntervalMs");
    let value = root.millis(
        "performanceCheckIntervalMs",
        defaults.performance_check_interval_ms,
    );
    let performance_check_interval_ms = merge(
        root,
        flat,
        value,
        nested.performance_interval,
        (
            "performanceCheckIntervalMs",
            "systemHardening.performanceMonitoring.checkInterval",
        ),
    );
    let max_resource_memory = root.size("maxResourceMemory");
    let recoverable_services = root.names("recoverableServices");
    let shutdown_timeout_ms = root.millis("shutdownTimeoutMs", defaults.shutdown_timeout_ms);

    let health = read_health(&mut root.section("health"));
    let performance = read_performance(&mut root.section("performance"));
    let breaker = read_breaker(&mut root.section("breaker"), &BreakerSettings::default());
    let mut retry_section = root.section("retry");
    let retry_given = retry_section.has("maxAttempts");
    let mut retry = read_retry(&mut retry_section);
    retry.max_attempts = merge(
        root,
        retry_given,
        retry.max_attempts,
        nested.max_attempts,
        (
            "retry.maxAttempts",
            "systemHardening.errorRecovery.maxAttempts",
        ),
    );
    let recovery = read_recovery(&mut root.section("recovery"));
    let mut resources_section = root.section("resources");
    let budget_given = resources_section.has("memoryBudget");
    let mut resources = read_resources(&mut resources_section);
    resources.memory_budget = merge(
        root,
        budget_given,
        resources.memory_budget,
        nested.memory_budget.map(Some),
        (
            "resources.memoryBudget",
            "systemHardening.resourceManagement.maxMemory",
        ),
    );
    let metrics_store = read_metrics_store(&mut root.section("metricsStore"));
    let admin = read_admin(&mut root.section("admin"));
    let services = root
        .entries("services")
        .into_iter()
        .map(|(name, mut section)| {
            let service = read_service(&mut section, &breaker);
            (name, service)
        })
        .collect();

    SystemHardeningConfig {
        enable_health_monitoring,
        enable_performance_monitoring,
        enable_error_recovery,
        enable_resource_management,
        enable_metrics_store,
        health_check_interval_ms,
        performance_check_interval_ms,
        max_resource_memory,
        recoverable_services,
        shutdown_timeout_ms,
        health,
        performance,
        breaker,
        retry,
        recovery,
        resources,
        metrics_store,
        services,
        admin,
    }
}

fn read_admin(s: &mut Section<'_>) -> AdminSettings {
    let d = AdminSettings::default();
    let address = s.text("address").unwrap_or(d.address);
    if address.parse::<std::net::SocketAddr>().is_err() {
        s.push_error(ConfigError::new(
            read::join(s.path(), "address"),
            format!("{address:?}"),
            "an IP address and port, e.g. \"127.0.0.1:9090\" or \"[::1]:9090\"",
        ));
    }
    let token = s.text("token");
    if let Some(token) = &token
        && token.chars().count() < MIN_TOKEN_LENGTH
    {
        s.push_error(ConfigError::new(
            read::join(s.path(), "token"),
            format!("a token of {} characters", token.chars().count()),
            format!("at least {MIN_TOKEN_LENGTH} characters"),
        ));
    }
    AdminSettings {
        address,
        token,
        max_body_bytes: s.count("maxBodyBytes", d.max_body_bytes, 1),
    }
}

fn read_health(s: &mut Section<'_>) -> HealthSettings {
    let d = HealthSettings::default();
    let settings = HealthSettings {
        check_timeout_ms: s.millis("checkTimeoutMs", d.check_timeout_ms),
        failure_threshold: s.count("failureThreshold", d.failure_threshold, 1),
        success_threshold: s.count("successThreshold", d.success_threshold, 1),
        max_concurrent: s.count("maxConcurrent", d.max_concurrent, 1),
        memory_warn_percent: s.number("memoryWarnPercent", d.memory_warn_percent, 0.0, 100.0),
        memory_fail_percent: s.number("memoryFailPercent", d.memory_fail_percent, 0.0, 100.0),
        details: s.choice(
            "details",
            d.details,
            &[
                ("never", Details::Never),
                ("whenAuthorized", Details::WhenAuthorized),
                ("always", Details::Always),
            ],
        ),
    };
    if settings.memory_warn_percent > settings.memory_fail_percent {
        s.push_error(ConfigError::new(
            read::join(s.path(), "memoryWarnPercent"),
            settings.memory_warn_percent,
            format!(
                "at most memoryFailPercent ({}): a warning comes before a failure",
                settings.memory_fail_percent
            ),
        ));
    }
    settings
}

fn read_performance(s: &mut Section<'_>) -> PerformanceSettings {
    let d = PerformanceSettings::default();
    PerformanceSettings {
        latency_probe_period_ms: s.millis("latencyProbePeriodMs", d.latency_probe_period_ms),
        latency_threshold_ms: s.millis("latencyThresholdMs", d.latency_threshold_ms),
        hold_ms: s.millis("holdMs", d.hold_ms),
        cpu_percent_limit: s.optional_number("cpuPercentLimit", 0.0, 100_000.0),
        rss_limit: s.size("rssLimit"),
        latency_p99_limit_ms: s.optional_millis("latencyP99LimitMs"),
        memory_drift_window_ms: s.millis("memoryDriftWindowMs", d.memory_drift_window_ms),
        memory_drift_percent_per_hour: s.number(
            "memoryDriftPercentPerHour",
            d.memory_drift_percent_per_hour,
            0.0,
            1_000_000.0,
        ),
    }
}

fn read_breaker(s: &mut Section<'_>, d: &BreakerSettings) -> BreakerSettings {
    let mut settings = BreakerSettings {
        failure_rate_threshold: s.number(
            "failureRateThreshold",
            d.failure_rate_threshold,
            0.0,
            100.0,
        ),
        slow_call_rate_threshold: s.number(
            "slowCallRateThreshold",
            d.slow_call_rate_threshold,
            0.0,
            100.0,
        ),
        slow_call_duration_threshold_ms: s
            .optional_millis("slowCallDurationThresholdMs")
            .or(d.slow_call_duration_threshold_ms),
        sliding_window_type: s.choice(
            "slidingWindowType",
            d.sliding_window_type,
            &[
                ("countBased", SlidingWindowType::CountBased),
                ("timeBased", SlidingWindowType::TimeBased),
                (
                    "consecutiveFailures",
                    SlidingWindowType::ConsecutiveFailures,
                ),
            ],
        ),
        sliding_window_size: s.count("slidingWindowSize", d.sliding_window_size, 1),
        minimum_number_of_calls: s.count("minimumNumberOfCalls", d.minimum_number_of_calls, 1),
        permitted_number_of_calls_in_half_open_state: s.count(
            "permittedNumberOfCallsInHalfOpenState",
            d.permitted_number_of_calls_in_half_open_state,
            1,
        ),
        max_wait_duration_in_half_open_state_ms: s
            .optional_millis("maxWaitDurationInHalfOpenStateMs")
            .or(d.max_wait_duration_in_half_open_state_ms),
        wait_duration_in_open_state_ms: s.millis(
            "waitDurationInOpenStateMs",
            d.wait_duration_in_open_state_ms,
        ),
        open_state_backoff_multiplier: s.number(
            "openStateBackoffMultiplier",
            d.open_state_backoff_multiplier,
            1.0,
            1000.0,
        ),
        max_wait_duration_in_open_state_ms: s
            .optional_millis("maxWaitDurationInOpenStateMs")
            .or(d.max_wait_duration_in_open_state_ms),
        automatic_transition_from_open_to_half_open_enabled: s.bool(
            "automaticTransitionFromOpenToHalfOpenEnabled",
            d.automatic_transition_from_open_to_half_open_enabled,
        ),
    };
    if let Some(max) = settings.max_wait_duration_in_open_state_ms
        && max < settings.wait_duration_in_open_state_ms
    {
        s.push_error(ConfigError::new(
            read::join(s.path(), "maxWaitDurationInOpenStateMs"),
            max,
            format!(
                "at least waitDurationInOpenStateMs ({})",
                settings.wait_duration_in_open_state_ms
            ),
        ));
        // Reported once: the services that inherit this section must not report it again.
        settings.max_wait_duration_in_open_state_ms = None;
    }
    settings
}

fn read_retry(s: &mut Section<'_>) -> RetrySettings {
    let d = RetrySettings::default();
    let mut settings = RetrySettings {
        max_attempts: s.count("maxAttempts", d.max_attempts, 1),
        wait_duration_ms: s.millis("waitDurationMs", d.wait_duration_ms),
        backoff_multiplier: s.number("backoffMultiplier", d.backoff_multiplier, 1.0, 1000.0),
        max_wait_duration_ms: s.millis("maxWaitDurationMs", d.max_wait_duration_ms),
        jitter: s.choice(
            "jitter",
            d.jitter,
            &[
                ("none", JitterKind::None),
                ("full", JitterKind::Full),
                ("equal", JitterKind::Equal),
                ("decorrelated", JitterKind::Decorrelated),
            ],
        ),
        deadline_ms: s.optional_millis("deadlineMs"),
        attempt_timeout_ms: s.optional_millis("attemptTimeoutMs"),
        budget_enabled: s.bool("budgetEnabled", d.budget_enabled),
        budget_ratio: s.number("budgetRatio", d.budget_ratio, 0.0, 1000.0),
        budget_min_per_second: s.count("budgetMinPerSecond", d.budget_min_per_second, 0),
    };
    if settings.max_wait_duration_ms < settings.wait_duration_ms {
        s.push_error(ConfigError::new(
            read::join(s.path(), "maxWaitDurationMs"),
            settings.max_wait_duration_ms,
            format!("at least waitDurationMs ({})", settings.wait_duration_ms),
        ));
        settings.max_wait_duration_ms = settings.wait_duration_ms;
    }
    settings
}

fn read_recovery(s: &mut Section<'_>) -> RecoverySettings {
    let d = RecoverySettings::default();
    let mut ladder_section = s.section("ladder");
    let mut level = |key: &'static str, default: &[String]| {
        if ladder_section.has(key) {
            ladder_section.names(key)
        } else {
            default.to_vec()
        }
    };
    let ladder = LadderSettings {
        soft: level("soft", &d.ladder.soft),
        medium: level("medium", &d.ladder.medium),
        hard: level("hard", &d.ladder.hard),
        emergency: level("emergency", &d.ladder.emergency),
    };
    let all: Vec<&String> = [
        &ladder.soft,
        &ladder.medium,
        &ladder.hard,
        &ladder.emergency,
    ]
    .into_iter()
    .flatten()
    .collect();
    if all.is_empty() {
        ladder_section.push_error(ConfigError::new(
            ladder_section.path().to_string(),
            "a ladder with no action",
            "at least one action on some level",
        ));
    }
    if let Some((_, twice)) = all
        .iter()
        .enumerate()
        .find(|(i, name)| all[..*i].contains(name))
    {
        ladder_section.push_error(ConfigError::new(
            ladder_section.path().to_string(),
            format!("{twice:?} on two levels"),
            "each action once (what is learned about an action is kept by its name)",
        ));
    }
    let settings = RecoverySettings {
        max_recoveries: s.count("maxRecoveries", d.max_recoveries, 1),
        intensity_window_ms: s.millis("intensityWindowMs", d.intensity_window_ms),
        backoff_initial_ms: s.millis("backoffInitialMs", d.backoff_initial_ms),
        backoff_max_ms: s.millis("backoffMaxMs", d.backoff_max_ms),
        stable_period_ms: s.millis("stablePeriodMs", d.stable_period_ms),
        max_concurrent: s.count("maxConcurrent", d.max_concurrent, 1),
        action_timeout_ms: s.millis("actionTimeoutMs", d.action_timeout_ms),
        history_capacity: s.count("historyCapacity", d.history_capacity, 1),
        ladder,
    };
    if settings.backoff_max_ms < settings.backoff_initial_ms {
        s.push_error(ConfigError::new(
            read::join(s.path(), "backoffMaxMs"),
            settings.backoff_max_ms,
            format!(
                "at least backoffInitialMs ({})",
                settings.backoff_initial_ms
            ),
        ));
    }
    settings
}

fn read_resources(s: &mut Section<'_>) -> ResourceSettings {
    let memory_budget = s.size("memoryBudget");
    let aging_step_ms = s.optional_millis("agingStepMs");
    let emergency_min_priority = s.integer("emergencyMinPriority", 1);
    let pools = s
        .entries("pools")
        .into_iter()
        .map(|(kind, mut p)| {
            let d = PoolSettings::default();
            let pool = PoolSettings {
                min: p.count("min", d.min, 0),
                max: p.count("max", d.max, 1),
                idle_timeout_ms: p.optional_millis("idleTimeoutMs"),
                lease_ttl_ms: p.optional_millis("leaseTtlMs"),
                request_timeout_ms: p.optional_millis("requestTimeoutMs"),
                max_resource_memory: p.size("maxResourceMemory"),
            };
            if pool.min > pool.max {
                p.push_error(ConfigError::new(
                    read::join(p.path(), "min"),
                    pool.min,
                    format!("at most max ({})", pool.max),
                ));
            }
            (kind, pool)
        })
        .collect();
    ResourceSettings {
        memory_budget,
        aging_step_ms,
        emergency_min_priority,
        pools,
    }
}

fn read_metrics_store(s: &mut Section<'_>) -> MetricsStoreSettings {
    let d = MetricsStoreSettings::default();
    MetricsStoreSettings {
        sample_interval_ms: s.millis("sampleIntervalMs", d.sample_interval_ms),
        retention_ms: s.millis("retentionMs", d.retention_ms),
        max_memory: s.size("maxMemory").unwrap_or(d.max_memory),
        max_series: s.count("maxSeries", d.max_series, 1),
    }
}

fn read_service(s: &mut Section<'_>, breaker: &BreakerSettings) -> ServiceSettings {
    let recoverable = s.bool("recoverable", false);
    let max_memory = s.size("maxMemory");
    let timeout_ms = s.optional_millis("timeoutMs");
    let max_concurrent_calls = if s.has("maxConcurrentCalls") {
        Some(s.count("maxConcurrentCalls", 1, 1))
    } else {
        None
    };
    let mut breaker_section = s.section("breaker");
    let breaker = read_breaker(&mut breaker_section, breaker);
    ServiceSettings {
        recoverable,
        max_memory,
        timeout_ms,
        max_concurrent_calls,
        breaker,
    }
}

#[cfg(test)]
mod tests;
