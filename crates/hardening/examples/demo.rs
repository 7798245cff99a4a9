//! The whole system, running: two simulated services under load, with faults injected on a
//! schedule, breakers tripping and recovering, the recovery ladder climbing, resources leased
//! by priority, and the admin endpoint up.
//!
//! ```text
//! cargo run --release -p hardening --features full --example demo
//! cargo xtask demo -- --duration 2m        # the same, through xtask
//! ```
//!
//! `audio-processing` and `model-inference` (the seeds' services) are called through
//! `Hardening::call` by a load generator, about 200 calls a second. Every 12 s (by default)
//! one of them meets a fault: an error burst, a latency spike, a hang (calls never answered;
//! the pipeline's 300 ms timeout cuts them) or a crash (refused until the ladder brings the
//! process back: `reconnect`, then `reinitialize`, then `restart`). Other tasks lease `cpu`
//! and `gpu` resources at priorities 0 to 9; there are too few, so requests queue and are
//! served by priority.
//!
//! Events scroll by as they happen; below them a status block is redrawn every second. The
//! run ends after `--duration` (60 s by default) or on Ctrl-C, with a summary.
//!
//! `--soak --report <dir>` is what `cargo xtask soak` runs: less output, and every second's
//! figures written to `<dir>/samples.jsonl`, the run's to `<dir>/run.json`.

#[path = "demo/events.rs"]
mod events;
#[path = "demo/load.rs"]
mod load;
#[path = "demo/output.rs"]
mod output;
#[path = "demo/sim.rs"]
mod sim;
#[path = "demo/summary.rs"]
mod summary;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use hardening::config::{Format, SystemHardeningConfig};
use hardening::recovery::Recoverable;
use hardening::resources::NewResource;
use hardening::{Hardening, HumanDuration, Resource};
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior};

use crate::events::EventBook;
use crate::load::Load;
use crate::output::{Mode, Printer};
use crate::sim::{FaultLog, SERVICES, SimService};

/// Counts heap bytes in use, so that the performance monitor reports them (and their drift)
/// beside resident memory: the soak charts both.
#[global_allocator]
static ALLOCATOR: hardening::perf::alloc::CountingAllocator =
    hardening::perf::alloc::CountingAllocator::system();

/// The demo's configuration, as a user would write it. `HARDENING_*` variables override it
/// (`HARDENING_ADMIN__TOKEN` sets the admin token; without one the demo makes one up).
const CONFIG: &str = r#"
# The seeds' switches: every part on.
enableHealthMonitoring: true
enablePerformanceMonitoring: true
enableErrorRecovery: true
enableResourceManagement: true
enableMetricsStore: true
healthCheckIntervalMs: 1000
performanceCheckIntervalMs: 1000
maxResourceMemory: 1GB
recoverableServices: [audio-processing, model-inference]
shutdownTimeoutMs: 5000
health:
  checkTimeoutMs: 500
# Small windows, so that a breaker trips within a fraction of a second of a fault.
breaker:
  slidingWindowType: countBased
  slidingWindowSize: 20
  minimumNumberOfCalls: 10
  failureRateThreshold: 50
  slowCallDurationThresholdMs: 100
  slowCallRateThreshold: 50
  permittedNumberOfCallsInHalfOpenState: 3
  waitDurationInOpenStateMs: 500
  openStateBackoffMultiplier: 2
  maxWaitDurationInOpenStateMs: 4000
  automaticTransitionFromOpenToHalfOpenEnabled: true
retry:
  maxAttempts: 2
  waitDurationMs: 20
  maxWaitDurationMs: 100
  deadlineMs: 2000
  # Every service's pipeline timeout: what cuts a hung call.
  attemptTimeoutMs: 300
recovery:
  maxRecoveries: 30
  intensityWindowMs: 60000
  backoffInitialMs: 250
  backoffMaxMs: 2000
  stablePeriodMs: 10000
  actionTimeoutMs: 5000
  # The escalation ladder: soft, then hard, then emergency.
  ladder:
    soft: [reconnect]
    hard: [reinitialize]
    emergency: [restart]
resources:
  agingStepMs: 500
  pools:
    cpu: {max: 2, requestTimeoutMs: 1000}
    gpu: {max: 1, requestTimeoutMs: 1000}
# The status page draws 15 minutes in 10 s steps.
metricsStore:
  sampleIntervalMs: 5000
  retentionMs: 900000
admin:
  address: 127.0.0.1:9090
"#;

/// How long a transient fault (error burst, latency spike) lasts.
const TRANSIENT: Duration = Duration::from_secs(5);
/// Calls that start within this after a fault cleared are not counted towards availability
/// outside faults: the breaker may still be open (its wait grows to 4 s), a recovery may be in
/// its backoff (up to 2 s), and the half-open probes decide.
const GRACE: Duration = Duration::from_secs(10);
/// A hang or crash the ladder has not cured after this is cleared by force (and the soak's
/// time-to-recover bound fails).
const FAULT_CAP: Duration = Duration::from_secs(90);
/// Calling tasks per service.
const CALLERS_PER_SERVICE: u32 = 4;
/// Resource-leasing tasks.
const RESOURCE_WORKERS: u32 = 6;

#[derive(Debug)]
struct Options {
    duration: Duration,
    admin: Option<String>,
    soak: bool,
    report: Option<PathBuf>,
    fault_rate: f64,
    rate: u32,
    seed: Option<u64>,
}

const HELP: &str = "\
The hardening demo: simulated services under load with injected faults.

Usage: demo [options]

  --duration <d>      how long to run: 90s, 2m, 1h (default 60s); Ctrl-C stops early
  --admin <address>   where the admin endpoint listens (default: the config's, 127.0.0.1:9090;
                      127.0.0.1:0 picks a free port)
  --fault-rate <n>    faults injected per minute (default 5; 0 for none)
  --rate <n>          calls per second, both services together (default 200)
  --seed <n>          seed of the load's randomness (default: from the clock)
  --soak              soak mode: little output (what `cargo xtask soak` runs)
  --report <dir>      write <dir>/samples.jsonl (each second) and <dir>/run.json
  -h, --help          this message";

fn parse_args() -> anyhow::Result<Option<Options>> {
    let mut options = Options {
        duration: Duration::from_secs(60),
        admin: None,
        soak: false,
        report: None,
        fault_rate: 5.0,
        rate: 200,
        seed: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .with_context(|| format!("{name} needs a value (--help lists the options)"))
        };
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--duration" => {
                let text = value("--duration")?;
                options.duration = text
                    .parse::<HumanDuration>()
                    .map_err(|e| anyhow::anyhow!("--duration: {e}"))?
                    .get();
            }
            "--admin" => options.admin = Some(value("--admin")?),
            "--fault-rate" => {
                let text = value("--fault-rate")?;
                options.fault_rate = text
                    .parse()
                    .ok()
                    .filter(|r: &f64| r.is_finite() && *r >= 0.0 && *r <= 60.0)
                    .with_context(|| {
                        format!("--fault-rate {text:?}: faults a minute, from 0 to 60")
                    })?;
            }
            "--rate" => {
                let text = value("--rate")?;
                options.rate = text
                    .parse()
                    .ok()
                    .filter(|r| (1..=100_000).contains(r))
                    .with_context(|| format!("--rate {text:?}: calls a second, 1 to 100000"))?;
            }
            "--seed" => {
                let text = value("--seed")?;
                options.seed = Some(text.parse().with_context(|| format!("--seed {text:?}"))?);
            }
            "--soak" => options.soak = true,
            "--report" => options.report = Some(PathBuf::from(value("--report")?)),
            other => bail!("unknown option {other:?} (--help lists the options)"),
        }
    }
    if options.duration < Duration::from_secs(1) {
        bail!("--duration must be at least 1s");
    }
    Ok(Some(options))
}

/// A token nobody can guess, made from the standard library's randomly seeded hasher.
fn make_token() -> String {
    use std::hash::{BuildHasher, Hasher};
    (0..2u64)
        .map(|i| {
            let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
            hasher.write_u64(i);
            hasher.write_u128(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos()),
            );
            format!("{:016x}", hasher.finish())
        })
        .collect()
}

fn fault_detail(kind: sim::FaultKind, needs_restart: bool) -> &'static str {
    match kind {
        sim::FaultKind::ErrorBurst => "calls fail for 5 s",
        sim::FaultKind::LatencySpike => "calls take 150-250 ms for 5 s",
        sim::FaultKind::Hang => "calls are never answered, until a reconnect",
        sim::FaultKind::Crash if needs_restart => {
            "the process is gone and its state corrupt: only a restart helps"
        }
        sim::FaultKind::Crash => "the process is gone",
    }
}

/// Injects the faults on schedule; dropping (aborting) it ends the timers it started.
async fn inject_faults(
    schedule: Vec<sim::Planned>,
    epoch: Instant,
    sims: [Arc<SimService>; 2],
    log: Arc<FaultLog>,
    printer: Arc<Printer>,
) {
    let mut timers = JoinSet::new();
    for planned in schedule {
        tokio::time::sleep_until(epoch + planned.at).await;
        while timers.try_join_next().is_some() {}
        let sim::Planned {
            service,
            kind,
            needs_restart,
            ..
        } = planned;
        let name = SERVICES[service];
        let sim = Arc::clone(&sims[service]);
        if !sim.inject(kind, needs_restart) {
            printer.event(&format!(
                "fault    {name}: {} skipped, its last fault is not over",
                kind.as_str()
            ));
            continue;
        }
        printer.event(&format!(
            "fault    {name}: {} injected ({})",
            kind.as_str(),
            fault_detail(kind, needs_restart)
        ));
        let index = log.active(service);
        let printer = Arc::clone(&printer);
        timers.spawn(async move {
            if kind.is_transient() {
                tokio::time::sleep(TRANSIENT).await;
                sim.end_transient("schedule");
                printer.event(&format!("fault    {name}: {} over", kind.as_str()));
            } else {
                tokio::time::sleep(FAULT_CAP).await;
                sim.force_clear(index, "forced");
            }
        });
    }
    // Keep the timers running until the run ends (this task is aborted then).
    while timers.join_next().await.is_some() {}
    std::future::pending::<()>().await;
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn percent(ok: u64, of: u64) -> String {
    if of == 0 {
        "-".to_string()
    } else {
        format!("{:.2}%", 100.0 * ok as f64 / of as f64)
    }
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1_000.0
}

/// One second of the run, as the soak keeps it.
#[derive(Debug, serde::Serialize)]
struct Sample {
    /// Seconds since the run started.
    t: f64,
    rss_bytes: Option<u64>,
    /// Heap bytes in use (the counting allocator's figure).
    heap_bytes: Option<u64>,
    /// What the metrics store's history takes, by its own count.
    store_bytes: Option<usize>,
    cpu_percent: Option<f64>,
    tokio_p99_ms: Option<f64>,
    /// Calls that ended this second, and of them those that succeeded.
    requests: u64,
    ok: u64,
    /// Calls that ended this second and started outside every fault window and grace period,
    /// and of them those that succeeded.
    counted: u64,
    counted_ok: u64,
    /// Latency of the calls that ended this second (all of them, refusals included).
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    breakers: Vec<String>,
    conditions: Vec<String>,
    faults: Vec<String>,
    leases_held: i64,
    leases_busy: Option<usize>,
    recoveries_completed: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let Some(options) = parse_args()? else {
        println!("{HELP}");
        return Ok(());
    };
    let seed = options.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    });
    // Every time of the run (events, faults, samples) counts from here.
    let log = Arc::new(FaultLog::new(GRACE));
    let epoch = log.start();

    let vars = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)));
    let mut config = SystemHardeningConfig::read(CONFIG, Format::Yaml, vars)
        .map_err(|e| anyhow::anyhow!("the demo's config: {e}"))?;
    let mut notes = Vec::new();
    match &options.admin {
        Some(address) => config.admin.address = address.clone(),
        None => {
            // The default port may be taken (another demo, another program): take a free one
            // rather than fail.
            if std::net::TcpListener::bind(config.admin.address.as_str()).is_err() {
                notes.push(format!(
                    "{} is taken: the admin endpoint listens on a free port instead (--admin chooses)",
                    config.admin.address
                ));
                config.admin.address = "127.0.0.1:0".to_string();
            }
        }
    }
    let token = config.admin.token.clone().unwrap_or_else(make_token);
    config.admin.token = Some(token.clone());

    let sims: [Arc<SimService>; 2] =
        std::array::from_fn(|i| Arc::new(SimService::new(i, Arc::clone(&log))));
    let mut builder = Hardening::builder(config);
    for (name, sim) in SERVICES.iter().zip(&sims) {
        builder = builder.service_arc(*name, Arc::clone(sim) as Arc<dyn Recoverable>);
    }
    for (kind, count) in [("cpu", 2), ("gpu", 1)] {
        for n in 0..count {
            let value: Resource = Arc::new(format!("{kind}-{n}"));
            builder = builder.resource(kind, NewResource::new(value).with("slot", n.to_string()));
        }
    }
    let hardening = builder
        .build()
        .map_err(|e| anyhow::anyhow!("the demo's config does not build: {e}"))?;

    let mode = if options.soak {
        Mode::Quiet
    } else if std::io::stdout().is_terminal() {
        Mode::Live
    } else {
        Mode::Lines
    };
    let book = Arc::new(Mutex::new(EventBook::default()));
    let printer = Arc::new(Printer::new(mode, epoch));
    let (stop_watcher, watcher) = events::spawn_watcher(
        hardening.subscribe(),
        Arc::clone(&book),
        Arc::clone(&printer),
    );

    hardening.initialize().await?;
    let admin = hardening.serve_admin().await?;
    let address = admin.local_addr();
    let times = sim::schedule(options.duration, options.fault_rate);
    banner(&printer, &options, &notes, address, &token, &times, seed);

    // The load, and the faults.
    let load = Arc::new(Load::default());
    let mut tasks = load::spawn_callers(
        &hardening,
        &sims,
        &log,
        &load,
        options.rate,
        CALLERS_PER_SERVICE,
        seed,
    );
    tasks.extend(load::spawn_resource_users(
        &hardening,
        &load,
        RESOURCE_WORKERS,
        seed,
    ));
    let injector = tokio::spawn(inject_faults(
        times,
        epoch,
        sims.clone(),
        Arc::clone(&log),
        Arc::clone(&printer),
    ));
    let mut samples = match &options.report {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            let path = dir.join("samples.jsonl");
            let file = std::fs::File::create(&path)
                .with_context(|| format!("cannot create {}", path.display()))?;
            Some(std::io::BufWriter::new(file))
        }
        None => None,
    };

    // The run: a sample every second until the time is up or Ctrl-C.
    let end = epoch + options.duration;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let mut ticks = tokio::time::interval_at(
        Instant::now() + Duration::from_secs(1),
        Duration::from_secs(1),
    );
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut sampler = Sampler {
        previous: load.calls(),
        announced: 0,
    };
    let stopped_by = loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = tokio::time::sleep_until(end) => break "time",
            _ = &mut ctrl_c => break "Ctrl-C",
        }
        let sample = sampler.take(&hardening, &load, &log, &book, epoch).await;
        sampler.announce_recovered(&log, &printer);
        printer.status(status_block(&sample, &load, &book, options.duration));
        if let Some(out) = &mut samples {
            serde_json::to_writer(&mut *out, &sample)?;
            out.write_all(b"\n")?;
            out.flush()?;
        }
    };
    let ran = epoch.elapsed();
    printer.finish();

    // Wind down: no more faults, the load stops, recoveries in flight end.
    injector.abort();
    for sim in &sims {
        sim.end_transient("stop");
    }
    load.stop();
    for task in tasks {
        let abort = task.abort_handle();
        if tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .is_err()
        {
            abort.abort();
        }
    }
    let settle = Instant::now() + Duration::from_secs(60);
    while events::lock(&book).open_total() > 0 && Instant::now() < settle {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // What is left in the stream reaches the watcher.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stats = hardening.resource_stats()?;
    let leases_held = load.leases_held.load(std::sync::atomic::Ordering::Relaxed);
    let faults = log.records();
    let operations = hardening.operations().snapshot();
    let calls = load.calls();
    // The event book is judged before shutdown, which cancels recoveries still waiting.
    let _ = stop_watcher.send(());
    let _ = watcher.await;
    let shutdown = hardening.shutdown().await;
    admin.shutdown().await;

    let book = events::lock(&book);
    let outcome = summary::Outcome {
        seed,
        planned: options.duration,
        ran,
        stopped_by,
        rate: options.rate,
        fault_rate: options.fault_rate,
        grace: GRACE,
        calls,
        faults,
        book: &book,
        operations,
        load: &load,
        busy: stats.busy,
        active_allocations: stats.active_allocations,
        waiters: stats.waiters,
        leases_held,
        shutdown,
    };
    for line in outcome.lines() {
        printer.line(&line);
    }
    if let Some(dir) = &options.report {
        let path = dir.join("run.json");
        let text = serde_json::to_string_pretty(&outcome.to_json())?;
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        printer.line(&format!(
            "wrote {} and samples.jsonl beside it",
            path.display()
        ));
    }
    Ok(())
}

fn banner(
    printer: &Printer,
    options: &Options,
    notes: &[String],
    address: std::net::SocketAddr,
    token: &str,
    times: &[sim::Planned],
    seed: u64,
) {
    printer.line(&format!(
        "hardening demo: {} and {} under load (~{} calls/s), {} faults in {}; Ctrl-C stops early",
        SERVICES[0],
        SERVICES[1],
        options.rate,
        times.len(),
        events::seconds(options.duration)
    ));
    for note in notes {
        printer.line(&format!("note: {note}"));
    }
    printer.line(&format!(
        "status page   http://{address}/   (and /status, /metrics, /health)"
    ));
    printer.line(&format!("admin token   {token}"));
    printer.line(&format!(
        "  try: curl -X POST -H 'Authorization: Bearer {token}' http://{address}/api/breakers/{}/force-open",
        SERVICES[1]
    ));
    let schedule: Vec<String> = times
        .iter()
        .take(6)
        .map(|p| {
            format!(
                "{:.0}s {} {}",
                p.at.as_secs_f64(),
                p.kind.as_str(),
                SERVICES[p.service]
            )
        })
        .collect();
    if !schedule.is_empty() {
        printer.line(&format!(
            "faults        {}{}",
            schedule.join(", "),
            if times.len() > 6 { ", ..." } else { "" }
        ));
    }
    printer.line(&format!("seed          {seed} (--seed repeats the load)"));
    printer.line("");
}

/// Takes a sample each second.
struct Sampler {
    previous: [load::Calls; 2],
    /// Faults whose "serving again" has been printed.
    announced: usize,
}

impl Sampler {
    async fn take(
        &mut self,
        hardening: &Hardening,
        load: &Load,
        log: &FaultLog,
        book: &Mutex<EventBook>,
        epoch: Instant,
    ) -> Sample {
        let now = load.calls();
        let second = now[0]
            .minus(self.previous[0])
            .plus(now[1].minus(self.previous[1]));
        self.previous = now;
        let latency = load.latency.take();
        let perf = hardening.performance_metrics().ok();
        let mut breakers = Vec::new();
        let mut conditions = Vec::new();
        for name in SERVICES {
            breakers.push(
                hardening
                    .breaker(name)
                    .map_or("?", |b| b.state().as_str())
                    .to_string(),
            );
            conditions.push(
                hardening
                    .service_health(name)
                    .await
                    .map_or_else(|_| "?".to_string(), |h| h.condition.to_string()),
            );
        }
        Sample {
            t: epoch.elapsed().as_secs_f64(),
            rss_bytes: perf.as_ref().map(|p| p.process.rss_bytes),
            heap_bytes: perf.as_ref().and_then(|p| p.heap.map(|h| h.bytes_in_use)),
            store_bytes: hardening
                .metrics_store()
                .map(|store| store.stats().memory_bytes),
            cpu_percent: perf.as_ref().map(|p| p.process.cpu_percent_of_core),
            tokio_p99_ms: perf.as_ref().map(|p| millis(p.latency.p99)),
            requests: second.calls,
            ok: second.ok,
            counted: second.counted,
            counted_ok: second.counted_ok,
            p50_ms: millis(latency.quantile(0.5)),
            p99_ms: millis(latency.quantile(0.99)),
            max_ms: millis(latency.max()),
            breakers,
            conditions,
            faults: log.describe_active(),
            leases_held: load.leases_held.load(std::sync::atomic::Ordering::Relaxed),
            leases_busy: hardening.resource_stats().ok().map(|s| s.busy),
            recoveries_completed: events::lock(book).completed,
        }
    }

    /// Prints the faults after which the service has served a call again.
    fn announce_recovered(&mut self, log: &FaultLog, printer: &Printer) {
        let records = log.records();
        while let Some(record) = records.get(self.announced) {
            let (Some(recovered), Some(by)) = (record.recovered_ms, &record.cleared_by) else {
                break;
            };
            printer.event(&format!(
                "fault    {}: {} done ({by}); serving again {:.1} s after it began",
                record.service,
                record.kind.as_str(),
                recovered.saturating_sub(record.injected_ms) as f64 / 1_000.0
            ));
            self.announced += 1;
        }
    }
}

/// The status block: six lines of at most 80 columns, so that redrawing it in place works
/// in a standard terminal.
fn status_block(
    sample: &Sample,
    load: &Load,
    book: &Mutex<EventBook>,
    planned: Duration,
) -> Vec<String> {
    let calls = load.calls();
    let total = calls[0].plus(calls[1]);
    let opt = |v: Option<f64>, unit: &str| v.map_or("-".to_string(), |v| format!("{v:.1}{unit}"));
    let mut block = vec![
        format!(
            "{:>5.0}/{}s  {} req/s  availability {} (outside faults {})",
            sample.t,
            planned.as_secs(),
            sample.requests,
            percent(total.ok, total.calls),
            percent(total.counted_ok, total.counted),
        ),
        format!(
            "  call p99 {:.1} ms  tokio p99 {}  CPU {}  RSS {}",
            sample.p99_ms,
            opt(sample.tokio_p99_ms, " ms"),
            opt(sample.cpu_percent, "%"),
            sample.rss_bytes.map_or("-".to_string(), mib),
        ),
    ];
    for (i, name) in SERVICES.iter().enumerate() {
        let fault = sample
            .faults
            .iter()
            .find_map(|f| f.strip_prefix(&format!("{name}: ")))
            .map_or(String::new(), |kind| format!("  << {kind}"));
        block.push(format!(
            "  {name:<17} {:<10} breaker {:<9} ok {}{fault}",
            sample.conditions[i],
            sample.breakers[i],
            percent(calls[i].ok, calls[i].calls),
        ));
    }
    let book = events::lock(book);
    let by: Vec<String> = book
        .recovered_by
        .iter()
        .map(|(action, n)| format!("{action} {n}"))
        .collect();
    block.push(format!(
        "  recoveries {} ({}), running {}, events {}",
        book.completed,
        if by.is_empty() {
            "-".to_string()
        } else {
            by.join(", ")
        },
        book.open_total(),
        book.total,
    ));
    let granted = load.granted();
    let granted: Vec<String> = (0..load::PRIORITIES)
        .rev()
        .map(|p| match granted[p] {
            n if n >= 10_000 => format!("{}k", n / 1_000),
            n => n.to_string(),
        })
        .collect();
    block.push(format!(
        "  leases granted p9..p0: {}, held {}",
        granted.join(" "),
        sample.leases_held,
    ));
    block
}
