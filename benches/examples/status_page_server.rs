//! A small system with the admin endpoint up, under a little synthetic load, for the browser
//! check (`xtask/src/browser.rs`) and the admin load bench (`admin_load`).
//!
//! ```text
//! cargo run -p hardening-benches --example status_page_server -- [--address 127.0.0.1:0]
//!     [--duration <seconds>] [--rate <calls per second per service>] [--no-store]
//! ```
//!
//! Two services, `audio-processing` and `model-inference`, are called through their
//! pipelines (retry, breaker, timeout) and timed as operations; `model-inference` fails 5% of
//! its calls and `audio-processing` fails every call for 3 s of every 20 s, so its breaker
//! opens and recovers. A pool of two `gpu` resources is leased by priority. Health checks,
//! performance monitoring and the metrics store sample every second, so every chart of the
//! status page has data within a few seconds.
//!
//! The first line on stdout is the status page's URL (`http://127.0.0.1:PORT/`); nothing else
//! is printed there. The server stops by itself after `--duration` seconds (default 900), so a
//! forgotten one does not run forever. `--no-store` turns the metrics store off: `/api/query`
//! then answers every chart with a 404, which is how the browser check is shown to fail.

use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use hardening::config::{Format, SystemHardeningConfig};
use hardening::recovery::{Recoverable, ServiceError, ServiceStatus, async_trait};
use hardening::resources::{NewResource, Requirements};
use hardening::{Hardening, Resource};

/// A simulated dependency: always up as far as its own status goes; its calls fail as the
/// load loop decides.
struct Simulated;

#[async_trait]
impl Recoverable for Simulated {
    async fn initialize(&self) -> Result<(), ServiceError> {
        Ok(())
    }
    async fn shutdown(&self) -> Result<(), ServiceError> {
        Ok(())
    }
    async fn status(&self) -> ServiceStatus {
        ServiceStatus::Healthy
    }
    async fn recover(&self, _action: &str) -> Result<(), ServiceError> {
        Ok(())
    }
}

struct Options {
    address: String,
    duration: Duration,
    rate: u32,
    store: bool,
}

fn options() -> Result<Options> {
    let mut options = Options {
        address: "127.0.0.1:0".into(),
        duration: Duration::from_secs(900),
        rate: 100,
        store: true,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().with_context(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--address" => options.address = value("--address")?,
            "--duration" => {
                let seconds: u64 = value("--duration")?
                    .parse()
                    .context("--duration is a number of seconds")?;
                options.duration = Duration::from_secs(seconds);
            }
            "--rate" => {
                options.rate = value("--rate")?
                    .parse()
                    .context("--rate is a number of calls per second")?;
                if options.rate == 0 {
                    bail!("--rate must be above 0");
                }
            }
            "--no-store" => options.store = false,
            other => bail!(
                "unknown argument {other:?}; expected --address, --duration, --rate or --no-store"
            ),
        }
    }
    Ok(options)
}

fn config(options: &Options) -> Result<SystemHardeningConfig> {
    let text = format!(
        r#"
enableHealthMonitoring: true
enablePerformanceMonitoring: true
enableErrorRecovery: true
enableResourceManagement: true
enableMetricsStore: {store}
healthCheckIntervalMs: 1000
performanceCheckIntervalMs: 1000
recoverableServices: [audio-processing, model-inference]
breaker:
  slidingWindowSize: 20
  minimumNumberOfCalls: 10
  waitDurationInOpenStateMs: 2000
retry: {{maxAttempts: 2, waitDurationMs: 20}}
metricsStore: {{sampleIntervalMs: 1000}}
resources:
  pools:
    gpu: {{max: 2, requestTimeoutMs: 500}}
admin:
  address: "{address}"
"#,
        store = options.store,
        address = options.address,
    );
    Ok(SystemHardeningConfig::from_text(&text, Format::Yaml)?)
}

/// Calls `service` `rate` times a second, each call timed as the operation `service`.
/// `fails(call)` says whether call number `call` fails.
async fn call_forever(
    hardening: Hardening,
    service: &'static str,
    rate: u32,
    fails: impl Fn(u64) -> bool,
) {
    let operation = hardening.operations().operation(service);
    let mut ticks = tokio::time::interval(Duration::from_secs(1) / rate);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for call in 0u64.. {
        ticks.tick().await;
        let fail = fails(call);
        let work = Duration::from_micros(fastrand::u64(200..3_000));
        // Refusals (an open breaker) and injected failures are what the load is for.
        let _ = operation
            .time(hardening.call(service, async move || {
                tokio::time::sleep(work).await;
                if fail {
                    Err(ServiceError::new("injected failure"))
                } else {
                    Ok(())
                }
            }))
            .await;
    }
}

/// Leases a `gpu` twenty times a second at a random priority and holds it 20 to 80 ms.
async fn lease_forever(hardening: Hardening) {
    let mut ticks = tokio::time::interval(Duration::from_millis(50));
    for job in 0u64.. {
        ticks.tick().await;
        if job % 20 == 0 {
            // The pools' gauges (`hardening_resources`, `hardening_resource_waiters`, ...) are
            // published when their stats are read, as the status page does; read them once a
            // second so that /metrics has them whether or not a page is open.
            let _ = hardening.resource_stats();
        }
        let hardening = hardening.clone();
        tokio::spawn(async move {
            let owner = format!("job-{job}");
            let priority = fastrand::i32(0..4);
            if let Ok(lease) = hardening
                .request_resource("gpu", &owner, priority, Requirements::new())
                .await
            {
                tokio::time::sleep(Duration::from_millis(fastrand::u64(20..80))).await;
                drop(lease);
            }
        });
    }
}

fn main() -> Result<()> {
    let options = options()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(serve(options))
}

async fn serve(options: Options) -> Result<()> {
    let gpu = |n: u32| NewResource::new(Arc::new(n) as Resource).with("index", n.to_string());
    let hardening = Hardening::builder(config(&options)?)
        .service("audio-processing", Simulated)
        .service("model-inference", Simulated)
        .resource("gpu", gpu(0))
        .resource("gpu", gpu(1))
        .build()?;
    hardening.initialize().await?;
    let server = hardening.serve_admin().await?;
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "http://{}/", server.local_addr())?;
        stdout.flush()?;
    }

    let rate = options.rate;
    let mut load = tokio::task::JoinSet::new();
    // 3 s of every 20 s, every call fails: the breaker opens, probes, and closes again.
    load.spawn(call_forever(
        hardening.clone(),
        "audio-processing",
        rate,
        move |call| call % (20 * u64::from(rate)) >= 17 * u64::from(rate),
    ));
    load.spawn(call_forever(
        hardening.clone(),
        "model-inference",
        rate,
        |_| fastrand::u32(0..100) < 5,
    ));
    load.spawn(lease_forever(hardening.clone()));

    tokio::time::sleep(options.duration).await;
    load.abort_all();
    server.shutdown().await;
    hardening.shutdown().await;
    Ok(())
}
