//! HTTP load on the admin endpoint: keep-alive HTTP/1.1 connections on loopback, each sending
//! `GET /health` (then `GET /metrics`) as fast as the answers come, for a set wall time.
//!
//! ```text
//! cargo run --release -p hardening-benches --example admin_load -- [seconds per path, 10]
//!     [--connections 16] [--threads 1] [--address 127.0.0.1:9090]
//! ```
//!
//! The system under load is the `status_page_server` example, started as a child process so
//! that it has a runtime (and threads) of its own: two services called 200 times a second
//! with injected failures and a breaker that opens every 20 s, resource leases, health checks,
//! performance monitoring and the metrics store sampling every second. It is built in this
//! example's profile when it is not beside this program already. `--address` loads an
//! endpoint that is already running (the demo's, say) instead.
//!
//! The generator writes a request, reads the whole answer (headers, then `Content-Length`
//! bytes), and repeats: one request in flight per connection, so throughput is connections
//! over latency. Both programs share the machine's cores, as they would on a host that
//! scrapes itself. Prints one JSON object on its last line (requests per second and latency
//! percentiles per path); `cargo xtask bench` runs it and reports it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The throughput the issue asks of `/health` on the project's 2-core machine.
const HEALTH_TARGET_RPS: f64 = 20_000.0;

struct Options {
    seconds: u64,
    connections: usize,
    threads: usize,
    address: Option<SocketAddr>,
}

fn options() -> Result<Options> {
    let mut options = Options {
        seconds: 10,
        connections: 16,
        threads: 1,
        address: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().with_context(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--connections" => options.connections = value("--connections")?.parse()?,
            "--threads" => options.threads = value("--threads")?.parse()?,
            "--address" => options.address = Some(value("--address")?.parse()?),
            seconds if !seconds.starts_with('-') => {
                options.seconds = seconds
                    .parse()
                    .context("the first argument is the seconds per path")?;
            }
            other => bail!("unknown option {other:?}"),
        }
    }
    if options.seconds == 0 || options.connections == 0 || options.threads == 0 {
        bail!("seconds, --connections and --threads must be above 0");
    }
    Ok(options)
}

/// The `status_page_server` child; dropping it kills it.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The `status_page_server` program beside this one, built first if it is not there.
fn server_program() -> Result<PathBuf> {
    let me = std::env::current_exe()?;
    let dir = me.parent().context("this program has no directory")?;
    let program = dir.join(format!(
        "status_page_server{}",
        std::env::consts::EXE_SUFFIX
    ));
    if !program.is_file() {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut build = Command::new(cargo);
        build.current_dir(env!("CARGO_MANIFEST_DIR")).args([
            "build",
            "--quiet",
            "-p",
            "hardening-benches",
            "--example",
            "status_page_server",
        ]);
        if !cfg!(debug_assertions) {
            build.arg("--release");
        }
        let status = build.status().context("cannot run cargo")?;
        if !status.success() || !program.is_file() {
            bail!("cannot build {} ({status})", program.display());
        }
    }
    Ok(program)
}

fn start_server(lifetime: Duration) -> Result<(Server, SocketAddr)> {
    let program = server_program()?;
    let mut child = Command::new(&program)
        .args(["--duration", &lifetime.as_secs().to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("cannot start {}", program.display()))?;
    let stdout = child.stdout.take();
    let server = Server(child);
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(stdout.context("no stdout")?),
        &mut line,
    )?;
    let address = line
        .trim()
        .strip_prefix("http://")
        .and_then(|a| a.strip_suffix('/'))
        .and_then(|a| a.parse().ok())
        .with_context(|| format!("the server's first line is not its URL: {line:?}"))?;
    Ok((server, address))
}

/// One connection's tally.
#[derive(Default)]
struct Tally {
    /// Each answer's latency, in nanoseconds.
    latencies: Vec<u64>,
    /// Answers by status class: 2xx, 5xx, other.
    ok: u64,
    unavailable: u64,
    other: u64,
    bytes: u64,
}

/// Reads one whole HTTP/1.1 answer from `stream` into `buffer`: (status, body length).
async fn read_answer(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Result<(u16, usize)> {
    buffer.clear();
    let head_end = loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        let mut chunk = [0u8; 16 * 1024];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            bail!("the server closed the connection");
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = std::str::from_utf8(&buffer[..head_end]).context("headers are not UTF-8")?;
    let status: u16 = head
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .context("no status line")?;
    let length: usize = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .context("an answer without Content-Length")?;
    let total = head_end + length;
    if buffer.len() < total {
        let have = buffer.len();
        buffer.resize(total, 0);
        stream.read_exact(&mut buffer[have..]).await?;
    }
    Ok((status, length))
}

async fn connection(address: SocketAddr, path: &'static str, until: Instant) -> Result<Tally> {
    let mut stream = TcpStream::connect(address).await?;
    stream.set_nodelay(true)?;
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nUser-Agent: admin_load\r\n\r\n");
    let mut buffer = Vec::with_capacity(64 * 1024);
    let mut tally = Tally::default();
    while Instant::now() < until {
        let started = Instant::now();
        stream.write_all(request.as_bytes()).await?;
        let (status, length) = read_answer(&mut stream, &mut buffer).await?;
        tally.latencies.push(started.elapsed().as_nanos() as u64);
        tally.bytes += length as u64;
        match status {
            200..=299 => tally.ok += 1,
            500..=599 => tally.unavailable += 1,
            _ => tally.other += 1,
        }
    }
    Ok(tally)
}

/// The figures of one path's run.
struct Figures {
    rps: f64,
    p50_us: f64,
    p99_us: f64,
    max_us: f64,
    ok: u64,
    unavailable: u64,
    other: u64,
    mean_body_bytes: f64,
}

async fn load(
    address: SocketAddr,
    path: &'static str,
    duration: Duration,
    connections: usize,
) -> Result<Figures> {
    let started = Instant::now();
    let until = started + duration;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..connections {
        tasks.spawn(connection(address, path, until));
    }
    let mut all = Tally::default();
    while let Some(done) = tasks.join_next().await {
        let tally = done??;
        all.latencies.extend(tally.latencies);
        all.ok += tally.ok;
        all.unavailable += tally.unavailable;
        all.other += tally.other;
        all.bytes += tally.bytes;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let n = all.latencies.len();
    if n == 0 {
        bail!("no answer from {path}");
    }
    all.latencies.sort_unstable();
    let quantile = |q: f64| all.latencies[((n - 1) as f64 * q).round() as usize] as f64 / 1e3;
    Ok(Figures {
        rps: n as f64 / elapsed,
        p50_us: quantile(0.5),
        p99_us: quantile(0.99),
        max_us: quantile(1.0),
        ok: all.ok,
        unavailable: all.unavailable,
        other: all.other,
        mean_body_bytes: all.bytes as f64 / n as f64,
    })
}

/// Rounds to `digits` decimals, for a report people read.
fn round(value: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (value * scale).round() / scale
}

fn main() -> Result<()> {
    let options = options()?;
    let per_path = Duration::from_secs(options.seconds);
    // Warm-up, two paths, and slack; the server stops by itself after that anyway.
    let lifetime = per_path * 2 + Duration::from_secs(60);
    let (server, address) = match options.address {
        Some(address) => (None, address),
        None => {
            let (server, address) = start_server(lifetime)?;
            (Some(server), address)
        }
    };
    let runtime = if options.threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(options.threads)
            .enable_all()
            .build()?
    };
    let result = runtime.block_on(async {
        // Let the system start its checks, samples and load, and warm both paths.
        tokio::time::sleep(Duration::from_secs(2)).await;
        for path in ["/health", "/metrics"] {
            load(address, path, Duration::from_millis(500), options.connections).await?;
        }
        let mut figures = Vec::new();
        for path in ["/health", "/metrics"] {
            let f = load(address, path, per_path, options.connections).await?;
            eprintln!(
                "{path}: {:.0} requests/s, p50 {:.0} µs, p99 {:.0} µs, max {:.0} µs ({} 2xx, {} 5xx, {} other; {:.0} body bytes)",
                f.rps,
                f.p50_us,
                f.p99_us,
                f.max_us,
                f.ok,
                f.unavailable,
                f.other,
                f.mean_body_bytes
            );
            figures.push(f);
        }
        Ok::<_, anyhow::Error>(figures)
    });
    drop(server);
    let figures = result?;
    let (health, metrics) = (&figures[0], &figures[1]);
    let report = serde_json::json!({
        "health_rps": round(health.rps, 0),
        "health_p50_us": round(health.p50_us, 1),
        "health_p99_us": round(health.p99_us, 1),
        "health_5xx": health.unavailable,
        "health_target_rps": HEALTH_TARGET_RPS,
        "health_meets_target": health.rps >= HEALTH_TARGET_RPS,
        "metrics_rps": round(metrics.rps, 0),
        "metrics_p50_us": round(metrics.p50_us, 1),
        "metrics_p99_us": round(metrics.p99_us, 1),
        "metrics_body_bytes": round(metrics.mean_body_bytes, 0),
        "connections": options.connections,
        "client_threads": options.threads,
        "seconds_per_path": options.seconds,
    });
    println!("{report}");
    Ok(())
}
