use super::*;
use serde_json::Value;

fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn fields(result: Result<SystemHardeningConfig, ConfigErrors>) -> Vec<String> {
    match result {
        Ok(_) => Vec::new(),
        Err(errors) => errors.iter().map(|e| e.field().to_string()).collect(),
    }
}

fn seeds_example() -> SystemHardeningConfig {
    SystemHardeningConfig {
        enable_health_monitoring: true,
        enable_performance_monitoring: true,
        enable_error_recovery: true,
        enable_resource_management: true,
        health_check_interval_ms: 30_000,
        performance_check_interval_ms: 5_000,
        max_resource_memory: Some(ByteSize::new(1_000_000_000)),
        recoverable_services: vec!["audio-processing".into(), "model-inference".into()],
        ..SystemHardeningConfig::default()
    }
}

/// The seeds' TypeScript example configuration, translated only in syntax, in each format.
#[test]
fn the_seeds_example_configuration_loads_in_every_format() {
    let yaml = r#"
enableHealthMonitoring: true
enablePerformanceMonitoring: true
enableErrorRecovery: true
enableResourceManagement: true
healthCheckIntervalMs: 30000     # 30 seconds
performanceCheckIntervalMs: 5000 # 5 seconds
maxResourceMemory: '1GB'
recoverableServices: ['audio-processing', 'model-inference']
"#;
    let json = r#"{
  "enableHealthMonitoring": true,
  "enablePerformanceMonitoring": true,
  "enableErrorRecovery": true,
  "enableResourceManagement": true,
  "healthCheckIntervalMs": 30000,
  "performanceCheckIntervalMs": 5000,
  "maxResourceMemory": "1GB",
  "recoverableServices": ["audio-processing", "model-inference"]
}"#;
    let toml = r#"
enableHealthMonitoring = true
enablePerformanceMonitoring = true
enableErrorRecovery = true
enableResourceManagement = true
healthCheckIntervalMs = 30000     # 30 seconds
performanceCheckIntervalMs = 5000 # 5 seconds
maxResourceMemory = '1GB'
recoverableServices = ['audio-processing', 'model-inference']
"#;
    for (text, format) in [
        (yaml, Format::Yaml),
        (json, Format::Json),
        (toml, Format::Toml),
    ] {
        let config = SystemHardeningConfig::from_text(text, format)
            .unwrap_or_else(|e| panic!("{format}: {e}"));
        assert_eq!(config, seeds_example(), "{format}");
    }
}

/// The seeds' YAML configuration sections, as they are.
#[test]
fn the_seeds_nested_yaml_loads_as_it_is() {
    let yaml = r#"
systemHardening:
  healthMonitoring:
    enabled: true
    checkInterval: 30000
  performanceMonitoring:
    enabled: true
    checkInterval: 5000
  errorRecovery:
    enabled: true
    maxAttempts: 3
  resourceManagement:
    enabled: true
    maxMemory: "4GB"
services:
  audioProcessor:
    maxMemory: "2GB"
    recoverable: true
  modelService:
    maxMemory: "4GB"
    recoverable: true
"#;
    let config =
        SystemHardeningConfig::from_text(yaml, Format::Yaml).unwrap_or_else(|e| panic!("{e}"));
    assert!(config.enable_health_monitoring && config.enable_performance_monitoring);
    assert!(config.enable_error_recovery && config.enable_resource_management);
    assert_eq!(config.health_check_interval_ms, 30_000);
    assert_eq!(config.performance_check_interval_ms, 5_000);
    assert_eq!(config.retry.max_attempts, 3);
    assert_eq!(
        config.resources.memory_budget,
        Some(ByteSize::new(4_000_000_000))
    );
    let service = &config.services["audioProcessor"];
    assert!(service.recoverable);
    assert_eq!(service.max_memory, Some(ByteSize::new(2_000_000_000)));
    assert_eq!(config.recoverable(), ["audioProcessor", "modelService"]);
}

#[test]
fn an_empty_document_is_the_defaults() {
    for (text, format) in [("", Format::Yaml), ("{}", Format::Json), ("", Format::Toml)] {
        let config = SystemHardeningConfig::from_text(text, format)
            .unwrap_or_else(|e| panic!("{format}: {e}"));
        assert_eq!(config, SystemHardeningConfig::default(), "{format}");
    }
}

#[test]
fn every_mistake_is_reported_at_once_under_its_path() {
    let yaml = r#"
enableHealthMonitoring: yes please
healthCheckIntervalMs: fast
performanceCheckIntervalMs: 0
maxResourceMemory: 1 Gigaflop
recoverableServices: audio
shutdownTimeoutMs: -5
healtCheckIntervalMs: 1000
health:
  failureThreshold: 0
  memoryWarnPercent: 99
  memoryFailPercent: 95
  details: sometimes
performance:
  cpuPercentLimit: -1
  rssLimit: 0
breaker:
  failureRateThreshold: 150
  slidingWindowType: rolling
  slidingWindowSize: 0
  waitDurationInOpenStateMs: 60000
  maxWaitDurationInOpenStateMs: 1000
retry:
  maxAttempts: 0
  jitter: lots
  waitDurationMs: 500
  maxWaitDurationMs: 100
recovery:
  backoffInitialMs: 5000
  backoffMaxMs: 1000
  ladder:
    soft: [reconnect]
    hard: [reconnect]
resources:
  pools:
    cpu:
      min: 5
      max: 2
    gpu: 7
metricsStore:
  maxMemory: lots
services:
  audio-processing:
    timeoutMs: 0
    breaker:
      minimumNumberOfCalls: none
    colour: blue
"#;
    let found = fields(SystemHardeningConfig::from_text(yaml, Format::Yaml));
    let expected = [
        "enableHealthMonitoring",
        "healthCheckIntervalMs",
        "performanceCheckIntervalMs",
        "maxResourceMemory",
        "shutdownTimeoutMs",
        "health.failureThreshold",
        "health.details",
        "health.memoryWarnPercent",
        "performance.cpuPercentLimit",
        "performance.rssLimit",
        "breaker.failureRateThreshold",
        "breaker.slidingWindowType",
        "breaker.slidingWindowSize",
        "breaker.maxWaitDurationInOpenStateMs",
        "retry.maxAttempts",
        "retry.jitter",
        "retry.maxWaitDurationMs",
        "recovery.ladder",
        "recovery.backoffMaxMs",
        "resources.pools.gpu",
        "resources.pools.cpu.min",
        "metricsStore.maxMemory",
        "services.audio-processing.timeoutMs",
        "services.audio-processing.breaker.minimumNumberOfCalls",
        "services.audio-processing.colour",
        "healtCheckIntervalMs",
    ];
    for field in expected {
        assert!(
            found.iter().any(|f| f == field),
            "no error for {field}: {found:#?}"
        );
    }
    assert_eq!(found.len(), expected.len(), "{found:#?}");
    // `recoverableServices: audio` is one name, as a comma list from the environment is.
}

#[test]
fn an_error_says_what_was_given_and_what_is_accepted() {
    let errors = SystemHardeningConfig::from_text("maxResourceMemory: 1 Gigaflop", Format::Yaml)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        errors.starts_with("maxResourceMemory: \"1 Gigaflop\" is not accepted"),
        "{errors}"
    );
    assert!(errors.contains("\"512MiB\""), "{errors}");

    let unknown = SystemHardeningConfig::from_text("breaker: {failureRate: 5}", Format::Yaml)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        unknown.contains("breaker.failureRate: an unknown setting"),
        "{unknown}"
    );
    assert!(unknown.contains("failureRateThreshold"), "{unknown}");
}

#[test]
fn a_setting_given_flat_and_nested_is_an_error_not_a_choice() {
    let yaml =
        "healthCheckIntervalMs: 1000\nsystemHardening: {healthMonitoring: {checkInterval: 2000}}";
    assert_eq!(
        fields(SystemHardeningConfig::from_text(yaml, Format::Yaml)),
        ["healthCheckIntervalMs"]
    );
}

#[test]
fn unparsable_text_is_one_error_naming_the_format() {
    let errors = SystemHardeningConfig::from_text("a = [", Format::Toml)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(errors.contains("does not parse as TOML"), "{errors}");
    assert_eq!(
        fields(SystemHardeningConfig::from_text("- 1\n- 2", Format::Yaml)),
        ["(document)"]
    );
}

#[test]
fn environment_variables_override_the_file() {
    let config = SystemHardeningConfig::read(
        "healthCheckIntervalMs: 30000\nbreaker: {failureRateThreshold: 50}",
        Format::Yaml,
        vars(&[
            ("HARDENING_HEALTH_CHECK_INTERVAL_MS", "10000"),
            ("HARDENING_BREAKER__FAILURE_RATE_THRESHOLD", "25"),
            ("HARDENING_ENABLE_ERROR_RECOVERY", "false"),
            (
                "HARDENING_RECOVERABLE_SERVICES",
                "audio-processing, model-inference",
            ),
            ("HARDENING_SERVICES__AUDIO_PROCESSING__MAX_MEMORY", "2GB"),
            ("PATH", "/usr/bin"),
        ]),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.health_check_interval_ms, 10_000);
    assert_eq!(config.breaker.failure_rate_threshold, 25.0);
    assert!(!config.enable_error_recovery);
    assert_eq!(
        config.recoverable_services,
        ["audio-processing", "model-inference"]
    );
    assert_eq!(
        config.services["audio-processing"].max_memory,
        Some(ByteSize::new(2_000_000_000))
    );
}

#[test]
fn a_bad_or_unknown_variable_is_an_error_naming_it() {
    let errors = SystemHardeningConfig::read(
        "",
        Format::Yaml,
        vars(&[
            ("HARDENING_HEALTH_CHECK_INTERVAL_MS", "soon"),
            ("HARDENING_HEALTH_CHECK_INTERVAL", "1000"),
        ]),
    )
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    assert!(
        errors
            .contains("healthCheckIntervalMs: \"soon\" (from HARDENING_HEALTH_CHECK_INTERVAL_MS)"),
        "{errors}"
    );
    assert!(
        errors.contains(
            "healthCheckInterval: an unknown setting (from HARDENING_HEALTH_CHECK_INTERVAL)"
        ),
        "{errors}"
    );
}

#[test]
fn a_file_is_read_by_its_extension() {
    let dir = std::env::temp_dir().join(format!("hardening-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let toml = dir.join("hardening.toml");
    std::fs::write(&toml, "healthCheckIntervalMs = 1234\n").unwrap_or_else(|e| panic!("{e}"));
    let config = SystemHardeningConfig::from_path(&toml).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.health_check_interval_ms, 1234);
    assert_eq!(
        fields(SystemHardeningConfig::from_path(dir.join("hardening.ini"))),
        ["(file)"]
    );
    assert_eq!(
        fields(SystemHardeningConfig::from_path(dir.join("missing.yaml"))),
        ["(file)"]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_config_is_a_section_of_an_applications_own_config() {
    #[derive(serde::Deserialize)]
    struct App {
        #[allow(dead_code, reason = "read to prove the neighbouring section parses")]
        name: String,
        hardening: SystemHardeningConfig,
    }
    let app: App =
        serde_json::from_str(r#"{"name": "api", "hardening": {"healthCheckIntervalMs": 1000}}"#)
            .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(app.hardening.health_check_interval_ms, 1000);
    let err = serde_json::from_str::<App>(
        r#"{"name": "api", "hardening": {"healthCheckIntervalMs": "x", "breaker": {"slidingWindowSize": 0}}}"#,
    )
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    assert!(
        err.contains("healthCheckIntervalMs") && err.contains("breaker.slidingWindowSize"),
        "{err}"
    );
}

#[test]
fn a_config_serializes_to_what_reads_back() {
    let mut config = seeds_example();
    config.services.insert(
        "audio-processing".into(),
        ServiceSettings {
            recoverable: true,
            max_memory: Some(ByteSize::new(2 << 30)),
            timeout_ms: Some(500),
            max_concurrent_calls: Some(8),
            breaker: BreakerSettings {
                failure_rate_threshold: 25.0,
                ..BreakerSettings::default()
            },
        },
    );
    config
        .resources
        .pools
        .insert("gpu".into(), PoolSettings::default());
    config.performance.cpu_percent_limit = Some(90.0);
    let json = serde_json::to_string(&config).unwrap_or_default();
    let back =
        SystemHardeningConfig::from_text(&json, Format::Json).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back, config);
}

/// Every key the reader accepts, with a service and a pool named `<name>` and `<kind>`.
fn schema() -> Vec<String> {
    let tree: Value = serde_json::json!({
        "services": {"<name>": {"breaker": {}}},
        "resources": {"pools": {"<kind>": {}}},
        "systemHardening": {
            "healthMonitoring": {}, "performanceMonitoring": {},
            "errorRecovery": {}, "resourceManagement": {}
        },
        "recovery": {"ladder": {}},
    });
    let cx = Context::default();
    read_config(&mut Section::root(&cx, &tree));
    cx.asked.borrow().iter().cloned().collect()
}

/// `HARDENING_` and the path in upper snake case, sections joined by `__`.
fn env_name(path: &str) -> String {
    let segments: Vec<String> = path
        .split('.')
        .map(|segment| {
            let mut out = String::new();
            for c in segment.chars() {
                if c.is_ascii_uppercase() {
                    out.push('_');
                }
                out.push(c.to_ascii_uppercase());
            }
            out
        })
        .collect();
    format!("{ENV_PREFIX}{}", segments.join("__"))
}

/// The reference in `docs/configuration.md` lists every key, each with its environment
/// variable, and nothing else: a key added to the reader without a line there fails here.
#[test]
fn the_configuration_reference_lists_every_key_and_its_variable() {
    let doc = include_str!("../../../../docs/configuration.md");
    let rows: Vec<(String, String)> = doc
        .lines()
        .filter(|line| line.starts_with("| `"))
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let key = cells.get(1)?.trim_matches('`').to_string();
            let var = cells.get(4)?.trim_matches('`').to_string();
            Some((key, var))
        })
        .collect();
    let documented: Vec<&str> = rows.iter().map(|(k, _)| k.as_str()).collect();
    let sections = [
        "health",
        "performance",
        "breaker",
        "retry",
        "recovery",
        "recovery.ladder",
        "resources",
        "resources.pools",
        "metricsStore",
        "services",
        "services.<name>.breaker",
        "systemHardening",
        "systemHardening.healthMonitoring",
        "systemHardening.performanceMonitoring",
        "systemHardening.errorRecovery",
        "systemHardening.resourceManagement",
        "admin",
    ];
    // A service's breaker takes the `breaker` section's keys, documented once.
    let per_service_breaker = "services.<name>.breaker.";
    assert!(
        documented.contains(&"services.<name>.breaker.*"),
        "the per-service breaker row"
    );
    for key in schema() {
        if sections.contains(&key.as_str()) {
            continue;
        }
        if let Some(inner) = key.strip_prefix(per_service_breaker) {
            assert!(
                documented.contains(&format!("breaker.{inner}").as_str()),
                "{key}"
            );
            continue;
        }
        assert!(
            documented.contains(&key.as_str()),
            "docs/configuration.md lacks `{key}`"
        );
    }
    let schema = schema();
    for (key, var) in &rows {
        if key == "services.<name>.breaker.*" {
            continue;
        }
        assert!(
            schema.contains(key),
            "docs/configuration.md lists `{key}`, which is not read"
        );
        assert_eq!(var, &env_name(key), "the variable of `{key}`");
    }
}
