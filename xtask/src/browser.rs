//! The browser check: headless Chromium loads the admin endpoint's status page from a
//! running system, and the page's charts must have drawn data.
//!
//! 1. Chromium is Debian's `chromium` package; when `/usr/bin/chromium` is missing it is
//!    installed with `apt-get` (CI runs as root, and the package registries it reaches include
//!    Debian's).
//! 2. The server is `benches/examples/status_page_server.rs`: a system with the metrics store,
//!    health, performance monitoring, resources and two services under a little load, its
//!    admin endpoint on a free loopback port. It is built in the debug profile with the
//!    workspace's features, as CI's `test` step already built it, so nothing compiles twice.
//! 3. Once the store answers every chart's query with samples, Chromium loads the page with
//!    `--dump-dom` and `--virtual-time-budget`: virtual time stands still while fetches are
//!    pending, so the DOM is dumped after the page's refreshes have drawn.
//! 4. The page marks each chart `<svg data-points="N">` and `<body
//!    data-charts-with-data="N">` after every refresh; every chart in [`CHARTS`] must have
//!    points, and the page must show no error.
//!
//! The server is killed when the check ends, whether it passed or not.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::util::{self, Metadata};

/// Debian's `chromium` package puts its launcher here.
const CHROMIUM: &str = "/usr/bin/chromium";

/// The server program, an example of the benches package.
const SERVER_PACKAGE: &str = "hardening-benches";
const SERVER_EXAMPLE: &str = "status_page_server";

/// The status page's charts (`CHARTS` in `crates/hardening/src/admin/status.html`), each
/// with the query it draws, as (chart id, selector, function, aggregation). The server feeds
/// every one: breaker calls with injected failures, timed operations, a breaker that opens,
/// RSS and the runtime latency probe.
const CHARTS: &[(&str, &str, &str, Option<&str>)] = &[
    (
        "requests",
        "hardening_breaker_calls_total",
        "rate",
        Some("sum"),
    ),
    (
        "errors",
        r#"hardening_breaker_calls_total{outcome="failure"}"#,
        "rate",
        Some("sum"),
    ),
    (
        "latency",
        r#"hardening_operation_duration_seconds{quantile="0.99"}"#,
        "max",
        Some("max"),
    ),
    (
        "breakers",
        r#"hardening_breaker_state{state=~"open|forced_open"}"#,
        "max",
        Some("max"),
    ),
    (
        "rss",
        "hardening_process_resident_memory_bytes",
        "last",
        None,
    ),
    (
        "tokio",
        r#"hardening_runtime_latency_seconds{quantile="0.99"}"#,
        "max",
        None,
    ),
];

/// Samples (one a second) each chart's query must hold before the page is loaded.
const SAMPLES: usize = 3;

/// How long the server may take to print its address, and the store to fill.
const SERVER_START: Duration = Duration::from_secs(30);
const SAMPLES_WAIT: Duration = Duration::from_secs(60);

/// Chromium's wall-time bound; the page's own virtual time is 10 s (two refreshes).
const CHROMIUM_WALL: Duration = Duration::from_secs(60);

/// What the check's server is asked to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// The real thing: every chart must draw.
    Full,
    /// The metrics store off, so `/api/query` answers every chart with an error: the check
    /// must fail (see the ignored test below).
    #[cfg_attr(not(test), allow(dead_code, reason = "the negative end-to-end test's"))]
    NoStore,
}

/// Builds and starts the status page server, waits for the store to hold samples, loads the
/// page in headless Chromium and fails unless every chart drew data.
pub(crate) fn check(root: &Path) -> Result<()> {
    run(root, Mode::Full)
}

fn run(root: &Path, mode: Mode) -> Result<()> {
    let chromium = ensure_chromium()?;
    let program = build_server(root)?;
    let server = Server::start(&program, mode)?;
    println!("status page server at {}", server.url);
    if mode == Mode::Full {
        wait_for_samples(server.address)?;
    }
    let dom = dump_dom(&chromium, &server.url)?;
    let charts = verify(&dom)?;
    println!("the status page drew every chart: {charts}");
    Ok(())
}

/// `/usr/bin/chromium`, installed from Debian's packages when it is missing.
fn ensure_chromium() -> Result<PathBuf> {
    let chromium = PathBuf::from(CHROMIUM);
    if chromium.is_file() {
        return Ok(chromium);
    }
    println!("{CHROMIUM} is missing; installing Debian's chromium package");
    // The machines reach Debian's package archive (one of the registries they reach), and
    // CI runs as root: apt-get works as it is, after an update of its lists.
    util::run(
        Command::new("apt-get")
            .arg("update")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(Stdio::null()),
    )
    .context("apt-get update (the browser check needs root to install chromium)")?;
    util::run(
        Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends", "chromium"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(Stdio::null()),
    )
    .context("apt-get install chromium")?;
    if !chromium.is_file() {
        bail!("the chromium package is installed but {CHROMIUM} is not there");
    }
    Ok(chromium)
}

/// Builds the server in the profile and with the features of CI's `test` step (`cargo test
/// --workspace --all-features` builds every example), so that it is already fresh there.
fn build_server(root: &Path) -> Result<PathBuf> {
    util::run(util::cargo(root).args([
        "build",
        "--workspace",
        "--all-features",
        "--example",
        SERVER_EXAMPLE,
    ]))
    .with_context(|| format!("cannot build the {SERVER_EXAMPLE} example of {SERVER_PACKAGE}"))?;
    let meta = Metadata::read(root)?;
    let program = meta
        .target_dir
        .join("debug")
        .join("examples")
        .join(SERVER_EXAMPLE);
    if !program.is_file() {
        bail!(
            "cargo built {SERVER_EXAMPLE} but {} is not there",
            program.display()
        );
    }
    Ok(program)
}

/// The running server; dropping it kills it.
struct Server {
    child: Child,
    address: SocketAddr,
    url: String,
}

impl Server {
    fn start(program: &Path, mode: Mode) -> Result<Self> {
        let mut command = Command::new(program);
        // Bounded even if this process dies without killing it.
        command.args(["--address", "127.0.0.1:0", "--duration", "300"]);
        if mode == Mode::NoStore {
            command.arg("--no-store");
        }
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("cannot start {}", program.display()))?;
        let Some(stdout) = child.stdout.take() else {
            let _ = child.kill();
            let _ = child.wait();
            bail!("the server's stdout is not a pipe");
        };
        // Its first line is the page's URL; read it on a thread so that a server that never
        // prints cannot hang the check.
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let read = BufReader::new(stdout).read_line(&mut line).map(|_| line);
            let _ = sender.send(read);
        });
        let mut server = Server {
            child,
            address: SocketAddr::from(([127, 0, 0, 1], 0)),
            url: String::new(),
        };
        let line = match receiver.recv_timeout(SERVER_START) {
            Ok(Ok(line)) => line,
            Ok(Err(e)) => bail!("cannot read the server's address: {e}"),
            Err(_) => bail!(
                "the server printed no address within {} s",
                SERVER_START.as_secs()
            ),
        };
        let url = line.trim().to_owned();
        let host = url
            .strip_prefix("http://")
            .and_then(|rest| rest.strip_suffix('/'))
            .with_context(|| format!("the server's first line is not its URL: {url:?}"))?;
        server.address = host
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .with_context(|| format!("the server's URL has no address: {url:?}"))?;
        server.url = url;
        Ok(server)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until every chart's query holds [`SAMPLES`] samples of the last minute.
fn wait_for_samples(address: SocketAddr) -> Result<()> {
    let deadline = Instant::now() + SAMPLES_WAIT;
    loop {
        let mut missing = Vec::new();
        for &(chart, selector, function, aggregate) in CHARTS {
            let mut path = format!(
                "/api/query?selector={}&function={function}&range=60000&step=1000",
                percent_encode(selector)
            );
            if let Some(aggregate) = aggregate {
                path.push_str("&aggregate=");
                path.push_str(aggregate);
            }
            let points = match http_get(address, &path) {
                Ok((200, body)) => points(&body),
                Ok((status, body)) => bail!(
                    "{path} answered {status}: {}",
                    String::from_utf8_lossy(&body)
                ),
                Err(e) => return Err(e.context(format!("GET {path}"))),
            };
            if points < SAMPLES {
                missing.push(format!("{chart} ({points} of {SAMPLES})"));
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "after {} s the metrics store still lacks samples for: {}",
                SAMPLES_WAIT.as_secs(),
                missing.join(", ")
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The number of points in a `/api/query` answer, over all its series.
fn points(body: &[u8]) -> usize {
    let Ok(json) = serde_json::from_slice::<Value>(body) else {
        return 0;
    };
    json["series"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| s["points"].as_array().map_or(0, Vec::len))
        .sum()
}

/// Every byte but the unreserved ones (RFC 3986) as `%XX`.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A plain HTTP/1.1 GET on loopback: (status, body).
fn http_get(address: SocketAddr, path: &str) -> Result<(u16, Vec<u8>)> {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer)?;
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("no end of headers in the answer")?;
    let head = String::from_utf8_lossy(&answer[..split]);
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("no status in {head:?}"))?;
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        bail!("a chunked answer; this client reads whole bodies only");
    }
    Ok((status, answer[split + 4..].to_vec()))
}

/// Loads `url` in headless Chromium and returns the DOM as it stands when the page's virtual
/// time runs out.
fn dump_dom(chromium: &Path, url: &str) -> Result<String> {
    let profile = std::env::temp_dir().join(format!("hardening-browser-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&profile);
    let mut command = Command::new(chromium);
    command
        .args([
            "--headless",
            // Root (CI) cannot use Chromium's sandbox.
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--virtual-time-budget=10000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    println!("$ {}", util::display(&command));
    let started = Instant::now();
    let mut child = command
        .spawn()
        .with_context(|| format!("cannot start {}", chromium.display()))?;
    // Read both pipes on threads so that neither fills up while we wait.
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut text);
            }
            String::from_utf8_lossy(&text).into_owned()
        })
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if started.elapsed() > CHROMIUM_WALL {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let dom = stdout.join().unwrap_or_default();
    let log = stderr.join().unwrap_or_default();
    let _ = std::fs::remove_dir_all(&profile);
    let tail = |log: &str| {
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    };
    match status {
        None => bail!(
            "chromium did not finish within {} s; its log ends:\n{}",
            CHROMIUM_WALL.as_secs(),
            tail(&log)
        ),
        Some(status) if !status.success() => {
            bail!("chromium failed ({status}); its log ends:\n{}", tail(&log))
        }
        Some(_) => {}
    }
    println!(
        "chromium dumped {} bytes of DOM in {:.1} s",
        dom.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(dom)
}

/// The value of attribute `name` in the start tag `tag` (Chromium writes every attribute
/// value in double quotes).
fn attribute<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let needle = format!(" {name}=\"");
    let start = tag.find(&needle)? + needle.len();
    let end = tag[start..].find('"')? + start;
    Some(&tag[start..end])
}

/// Every start tag `<name …>` in `dom`.
fn start_tags<'a>(dom: &'a str, name: &str) -> Vec<&'a str> {
    let open = format!("<{name}");
    let mut tags = Vec::new();
    let mut rest = dom;
    while let Some(at) = rest.find(&open) {
        let after = &rest[at + open.len()..];
        let Some(end) = after.find('>') else { break };
        if after.starts_with([' ', '>', '\n', '\t']) {
            tags.push(&rest[at..at + open.len() + end + 1]);
        }
        rest = &after[end..];
    }
    tags
}

/// The text of the element whose start tag has `id="…"`, up to the next tag.
fn text_of<'a>(dom: &'a str, id: &str) -> Option<&'a str> {
    let at = dom.find(&format!(" id=\"{id}\""))?;
    let start = dom[at..].find('>')? + at + 1;
    let end = dom[start..].find('<').map_or(dom.len(), |e| e + start);
    Some(dom[start..end].trim())
}

/// Passes when every chart of [`CHARTS`] drew points and the page shows no error; returns a
/// summary such as `requests 2, errors 2, …`.
fn verify(dom: &str) -> Result<String> {
    let body = start_tags(dom, "body")
        .into_iter()
        .next()
        .context("the dumped DOM has no <body>")?;
    if let Some(error) = text_of(dom, "error").filter(|e| !e.is_empty()) {
        bail!("the status page shows an error: {error}");
    }
    let drawn: usize = attribute(body, "data-charts-with-data")
        .context(
            "<body> has no data-charts-with-data: the page never finished a refresh \
             (did its fetches fail, or did virtual time run out first?)",
        )?
        .parse()
        .context("data-charts-with-data is not a number")?;
    let charts: Vec<(String, usize)> = start_tags(dom, "svg")
        .into_iter()
        .filter_map(|tag| {
            let id = attribute(tag, "id")?.strip_prefix("chart-")?;
            let points = attribute(tag, "data-points")?.parse().ok()?;
            Some((id.to_owned(), points))
        })
        .collect();
    let mut empty = Vec::new();
    for &(chart, ..) in CHARTS {
        match charts.iter().find(|(id, _)| id == chart) {
            Some((_, 0)) => empty.push(format!("{chart} (no points)")),
            Some(_) => {}
            None => empty.push(format!("{chart} (no such chart on the page)")),
        }
    }
    let summary = charts
        .iter()
        .map(|(id, n)| format!("{id} {n}"))
        .collect::<Vec<_>>()
        .join(", ");
    if !empty.is_empty() {
        bail!(
            "charts without data: {}; data-charts-with-data={drawn}; every chart: {summary}",
            empty.join(", ")
        );
    }
    if drawn < CHARTS.len() {
        bail!(
            "data-charts-with-data={drawn}, expected at least {}; every chart: {summary}",
            CHARTS.len()
        );
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(body: &str, points: [usize; 6], error: &str) -> String {
        let mut dom = format!(
            "<html><head></head><body{body}><header><span id=\"error\">{error}</span></header><main><section class=\"charts\" id=\"charts\">"
        );
        for ((id, ..), n) in CHARTS.iter().zip(points) {
            dom.push_str(&format!(
                "<div class=\"card\"><h2>t</h2><svg class=\"chart\" id=\"chart-{id}\" viewBox=\"0 0 320 140\" preserveAspectRatio=\"none\" data-points=\"{n}\"><path d=\"M0 0\"></path></svg></div>"
            ));
        }
        dom.push_str("</section></main></body></html>");
        dom
    }

    #[test]
    fn a_page_whose_charts_all_drew_passes() {
        let dom = page(" data-charts-with-data=\"6\"", [3, 1, 2, 4, 5, 6], "");
        let summary = verify(&dom).unwrap();
        assert_eq!(
            summary,
            "requests 3, errors 1, latency 2, breakers 4, rss 5, tokio 6"
        );
    }

    #[test]
    fn an_empty_chart_fails() {
        let dom = page(" data-charts-with-data=\"5\"", [3, 0, 2, 4, 5, 6], "");
        let err = verify(&dom).unwrap_err().to_string();
        assert!(err.contains("errors (no points)"), "{err}");
    }

    #[test]
    fn a_page_that_never_refreshed_fails() {
        let dom = page("", [0; 6], "");
        let err = verify(&dom).unwrap_err().to_string();
        assert!(err.contains("never finished a refresh"), "{err}");
    }

    #[test]
    fn a_page_showing_an_error_fails() {
        let dom = page(
            " data-charts-with-data=\"6\"",
            [1; 6],
            "cannot reach the endpoint: TypeError",
        );
        let err = verify(&dom).unwrap_err().to_string();
        assert!(err.contains("cannot reach the endpoint"), "{err}");
    }

    #[test]
    fn a_missing_chart_fails() {
        let dom = page(" data-charts-with-data=\"6\"", [1; 6], "").replace("chart-rss", "chart-x");
        let err = verify(&dom).unwrap_err().to_string();
        assert!(err.contains("rss (no such chart on the page)"), "{err}");
    }

    #[test]
    fn selectors_are_percent_encoded() {
        assert_eq!(
            percent_encode(r#"a_b{state=~"open|x"}"#),
            "a_b%7Bstate%3D~%22open%7Cx%22%7D"
        );
    }

    #[test]
    fn query_answers_are_counted_over_every_series() {
        let body = br#"{"series": [{"points": [{}, {}]}, {"points": [{}]}]}"#;
        assert_eq!(points(body), 3);
        assert_eq!(points(b"{\"error\": \"x\"}"), 0);
    }

    /// The check fails against a server whose `/api/query` answers every chart with an error
    /// (its metrics store is off). Builds the server and runs Chromium:
    /// `cargo test -p xtask -- --ignored browser`.
    #[test]
    #[ignore = "builds the server and needs chromium"]
    fn browser_check_fails_when_the_queries_fail() {
        let root = util::workspace_root().unwrap();
        let err = run(&root, Mode::NoStore).unwrap_err();
        let text = format!("{err:#}");
        println!("the check failed as it should: {text}");
        assert!(text.contains("charts without data"), "{text}");
    }
}
