//! `cargo xtask bench`: runs the criterion benchmarks, then turns criterion's
//! output into `target/bench.json` (machine-readable) and
//! `docs/benchmarks.md` (the published table).
//!
//! Convention followed by the benches: a criterion *group* is a scenario
//! (`breaker_closed_call`), a *function id* is an implementation. `hardening`
//! is ours; anything else (`recloser`, `failsafe`, `bare`, ...) is a peer
//! crate or a baseline, and its ratio is its median over ours.

use std::cmp::Ordering;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::run_info::RunInfo;
use crate::util::{self, Metadata};

/// The package holding the criterion benches.
pub(crate) const BENCH_PACKAGE: &str = "hardening-benches";

/// The function id of our implementation in every group.
const OURS: &str = "hardening";

/// The generated report, relative to the workspace root.
const REPORT: &str = "docs/benchmarks.md";

/// Measurements that are not criterion benches because they run for a set wall time (a
/// resource cost over a minute, say): each is an example that prints one JSON object on its
/// last line. `cargo xtask bench` runs them after the criterion benches when no filter is given,
/// keeps their output in `target/measurements/<example>.json`, and reports them.
const MEASUREMENTS: &[(&str, &str, &[&str])] = &[
    // Keep-alive HTTP load on the admin endpoint's /health and /metrics, 10 s each, against
    // the status_page_server example running as a child process.
    ("hardening-benches", "admin_load", &["10"]),
    ("hardening-benches", "compression", &[]),
    ("hardening-perf", "monitor_cost", &["60"]),
];

fn print_help() {
    println!(
        "\
Usage: cargo xtask bench [--report-only] [-- <criterion args>...]

Runs `cargo bench -p {BENCH_PACKAGE} --bench '*'` (arguments after `--`,
such as a benchmark name filter, go to criterion), then reads every result under
target/criterion/ and writes target/bench.json and {REPORT}. A full run first
clears target/criterion/, so the report holds its results only; a filtered run
replaces the groups it ran and keeps the others' last results.

  --report-only   do not run the benchmarks; rewrite both files from the
                  criterion output already there"
    );
}

pub(crate) fn run(args: &[String]) -> Result<()> {
    let mut report_only = false;
    let mut passthrough = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => {
                print_help();
                return Ok(());
            }
            "--report-only" => report_only = true,
            "--" => passthrough.extend(args.by_ref().cloned()),
            other if other.starts_with('-') => {
                bail!("unknown option `{other}`; criterion options go after `--`")
            }
            // A bare word is a criterion filter, as with `cargo bench`.
            other => passthrough.push(other.to_owned()),
        }
    }
    if report_only && !passthrough.is_empty() {
        bail!("`--report-only` runs nothing, so it takes no criterion arguments");
    }

    let root = util::workspace_root()?;
    let meta = Metadata::read(&root)?;
    let criterion_dir = criterion_dir(&meta);
    if !report_only && passthrough.is_empty() {
        // A full run starts from nothing, so the report holds this run's results only: a
        // group that was renamed or removed would otherwise stay in it with old figures.
        // (A filtered run keeps the other groups' last results, as the help says.)
        match fs::remove_dir_all(&criterion_dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(e).with_context(|| format!("cannot clear {}", criterion_dir.display()));
            }
        }
    }
    if !report_only {
        let mut cmd = util::cargo(&root);
        // `--bench '*'`: bench targets only. Without it cargo also runs the
        // package's lib unit tests in bench mode, and libtest rejects
        // criterion's options (`--warm-up-time`, ...).
        cmd.args(["bench", "-p", BENCH_PACKAGE, "--bench", "*"]);
        if !passthrough.is_empty() {
            cmd.arg("--").args(&passthrough);
        }
        util::run(&mut cmd)?;
        if passthrough.is_empty() {
            run_measurements(&root, &meta)?;
        }
    }

    let results = collect(&criterion_dir)?;
    if results.is_empty() {
        bail!(
            "no criterion results under {}; run `cargo xtask bench` first",
            criterion_dir.display()
        );
    }
    let info = RunInfo::gather(&root);

    let json_path = meta.target_dir.join("bench.json");
    let measurements = read_measurements(&meta)?;
    let mut json = to_json(&info, &results);
    json["measurements"] = json!(measurements);
    let mut text = serde_json::to_string_pretty(&json)?;
    text.push('\n');
    fs::write(&json_path, text).with_context(|| format!("cannot write {}", json_path.display()))?;

    let md_path = root.join(REPORT);
    if let Some(dir) = md_path.parent() {
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut report = markdown(&info, &results);
    measurements_markdown(&mut report, &measurements);
    fs::write(&md_path, report).with_context(|| format!("cannot write {}", md_path.display()))?;

    println!(
        "{} results from {}\nwrote {}\nwrote {}",
        results.len(),
        criterion_dir.display(),
        json_path.display(),
        md_path.display()
    );
    Ok(())
}

fn measurements_dir(meta: &Metadata) -> PathBuf {
    meta.target_dir.join("measurements")
}

/// Runs every [`MEASUREMENTS`] example in release mode and keeps its last output line.
fn run_measurements(root: &Path, meta: &Metadata) -> Result<()> {
    let dir = measurements_dir(meta);
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for (package, example, args) in MEASUREMENTS {
        let mut cmd = util::cargo(root);
        cmd.args([
            "run",
            "--quiet",
            "--release",
            "-p",
            package,
            "--example",
            example,
            "--",
        ])
        .args(*args);
        println!("$ {}", util::display(&cmd));
        let output = cmd
            .output()
            .with_context(|| format!("cannot run the {example} example"))?;
        if !output.status.success() {
            bail!(
                "the {example} example failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let stdout = String::from_utf8_lossy(&output.stdout);
        let last = stdout.lines().last().unwrap_or_default();
        let value: Value = serde_json::from_str(last)
            .with_context(|| format!("the {example} example's last line is not JSON: {last}"))?;
        println!("{last}");
        let path = dir.join(format!("{example}.json"));
        fs::write(&path, format!("{value}\n"))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// The kept measurements, by example name, sorted.
fn read_measurements(meta: &Metadata) -> Result<Vec<(String, Value)>> {
    let dir = measurements_dir(meta);
    let mut found = Vec::new();
    let Ok(entries) = fs::read_dir(&dir) else {
        return Ok(found);
    };
    for entry in entries {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "json") {
            let name = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            found.push((name, read_json(&path)?));
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(found)
}

fn measurements_markdown(md: &mut String, measurements: &[(String, Value)]) {
    if measurements.is_empty() {
        return;
    }
    let _ = writeln!(
        md,
        "\n## Measurements\n\nRuns of a set wall time, not criterion benches: each row is an \
         example's own report (`cargo run --release -p <crate> --example <name>`).\n"
    );
    let _ = writeln!(md, "| example | figures |\n| --- | --- |");
    for (name, value) in measurements {
        let figures = value
            .as_object()
            .map(|o| {
                o.iter()
                    .map(|(k, v)| format!("{k}: {v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_else(|| value.to_string());
        let _ = writeln!(md, "| {name} | {figures} |");
    }
}

/// Where criterion writes: `$CRITERION_HOME` if set (relative to the bench
/// package, which is where cargo runs benches), else `<target>/criterion`.
fn criterion_dir(meta: &Metadata) -> PathBuf {
    match std::env::var_os("CRITERION_HOME") {
        Some(home) => {
            let home = PathBuf::from(home);
            let bench_dir = meta
                .packages
                .iter()
                .find(|p| p.name == BENCH_PACKAGE)
                .map(|p| p.dir.as_path());
            match bench_dir {
                Some(dir) if home.is_relative() => dir.join(home),
                _ => home,
            }
        }
        None => meta.target_dir.join("criterion"),
    }
}

/// One benchmark's latest result.
#[derive(Debug, Clone, PartialEq)]
struct BenchResult {
    group: String,
    function: String,
    /// The value of a parameterised benchmark (`BenchmarkId::new(f, p)`).
    parameter: Option<String>,
    median_ns: f64,
    lower_ns: f64,
    upper_ns: f64,
    confidence_level: f64,
    /// Per-iteration throughput declared by the bench, if any.
    throughput: Option<Throughput>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Throughput {
    per_iteration: u64,
    unit: &'static str,
}

impl BenchResult {
    fn throughput_per_s(&self) -> Option<f64> {
        let t = self.throughput?;
        (self.median_ns > 0.0).then(|| t.per_iteration as f64 * 1e9 / self.median_ns)
    }
}

/// Every `<...>/new/benchmark.json` + `estimates.json` pair under `dir`.
/// Criterion keeps results of benches that no longer exist; they are
/// reported too (delete `target/criterion` for a clean slate).
fn collect(dir: &Path) -> Result<Vec<BenchResult>> {
    let mut results = Vec::new();
    if dir.is_dir() {
        walk(dir, &mut results)?;
    }
    results.sort_by(|a, b| {
        a.group
            .cmp(&b.group)
            .then_with(|| cmp_parameter(a.parameter.as_deref(), b.parameter.as_deref()))
            .then_with(|| a.function.cmp(&b.function))
    });
    Ok(results)
}

fn walk(dir: &Path, results: &mut Vec<BenchResult>) -> Result<()> {
    let entries = fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    for entry in entries {
        let path = entry?.path();
        if !path.is_dir() {
            continue;
        }
        let benchmark = path.join("benchmark.json");
        let estimates = path.join("estimates.json");
        if path.file_name().is_some_and(|n| n == "new")
            && benchmark.is_file()
            && estimates.is_file()
        {
            let result = parse(&read_json(&benchmark)?, &read_json(&estimates)?)
                .with_context(|| format!("unexpected criterion output in {}", path.display()))?;
            results.push(result);
        } else {
            walk(&path, results)?;
        }
    }
    Ok(())
}

fn read_json(path: &Path) -> Result<Value> {
    let text =
        fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("cannot parse {}", path.display()))
}

fn parse(benchmark: &Value, estimates: &Value) -> Result<BenchResult> {
    let group = benchmark["group_id"]
        .as_str()
        .context("no group_id")?
        .to_owned();
    // `c.bench_function("x", ..)` outside a group: the group is the name.
    let function = benchmark["function_id"]
        .as_str()
        .unwrap_or(&group)
        .to_owned();
    let parameter = benchmark["value_str"].as_str().map(str::to_owned);
    let median = &estimates["median"];
    let number = |v: &Value, what: &str| v.as_f64().with_context(|| format!("no {what}"));
    let ci = &median["confidence_interval"];
    Ok(BenchResult {
        group,
        function,
        parameter,
        median_ns: number(&median["point_estimate"], "median.point_estimate")?,
        lower_ns: number(&ci["lower_bound"], "median lower_bound")?,
        upper_ns: number(&ci["upper_bound"], "median upper_bound")?,
        confidence_level: number(&ci["confidence_level"], "confidence_level")?,
        throughput: parse_throughput(&benchmark["throughput"]),
    })
}

/// Criterion serialises `Throughput` externally tagged:
/// `{"Elements": 100}`, `{"Bytes": 4096}`,
/// `{"ElementsAndBytes": {"elements": 100, "bytes": 4096}}`, ...
fn parse_throughput(value: &Value) -> Option<Throughput> {
    let (kind, amount) = value.as_object()?.iter().next()?;
    let (per_iteration, unit) = match kind.as_str() {
        "Elements" => (amount.as_u64()?, "elem"),
        "ElementsAndBytes" => (amount["elements"].as_u64()?, "elem"),
        "Bytes" | "BytesDecimal" => (amount.as_u64()?, "B"),
        "Bits" => (amount.as_u64()?, "bit"),
        _ => return None,
    };
    Some(Throughput {
        per_iteration,
        unit,
    })
}

/// Numeric parameters in numeric order (`2` before `10`), others as text.
fn cmp_parameter(a: Option<&str>, b: Option<&str>) -> Ordering {
    match (a, b) {
        (Some(a), Some(b)) => match (a.parse::<f64>(), b.parse::<f64>()) {
            (Ok(x), Ok(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
            _ => a.cmp(b),
        },
        _ => a.cmp(&b),
    }
}

fn to_json(info: &RunInfo, results: &[BenchResult]) -> Value {
    let results: Vec<Value> = results
        .iter()
        .map(|r| {
            let mut v = json!({
                "group": r.group,
                "function": r.function,
                "median_ns": r.median_ns,
                "lower_ns": r.lower_ns,
                "upper_ns": r.upper_ns,
                "confidence_level": r.confidence_level,
            });
            if let Some(p) = &r.parameter {
                v["parameter"] = json!(p);
            }
            if let (Some(t), Some(per_s)) = (r.throughput, r.throughput_per_s()) {
                v["throughput_per_s"] = json!(per_s);
                v["throughput_unit"] = json!(t.unit);
            }
            v
        })
        .collect();
    let mut json = info.to_json();
    json["results"] = json!(results);
    json
}

fn markdown(info: &RunInfo, results: &[BenchResult]) -> String {
    let mut md = String::new();
    // `write!` to a String cannot fail; the results are ignored below.
    let _ = writeln!(
        md,
        "<!-- Generated by `cargo xtask bench` (or `cargo xtask bench --report-only`). \
         Do not edit by hand: rerun it instead. -->\n"
    );
    let _ = writeln!(md, "# Benchmarks\n");
    let _ = writeln!(
        md,
        "Criterion medians from `cargo xtask bench`. In each table `{OURS}` is this \
         project's implementation and every other row is a peer crate or a baseline. \
         *Ratio* is a row's median divided by `{OURS}`'s: above 1.00 is slower than \
         ours, below 1.00 is faster. Numbers from one machine are comparable with \
         each other, not with another machine's.\n"
    );
    let _ = writeln!(md, "| | |\n| --- | --- |");
    let _ = writeln!(md, "| Machine | {}, {} cores |", info.cpu, info.cores);
    let _ = writeln!(md, "| Host | {} ({}) |", info.hostname, info.os);
    let _ = writeln!(md, "| Toolchain | {} |", info.rustc);
    let _ = writeln!(md, "| Revision | {} |", info.revision_label());
    let _ = writeln!(md, "| Date | {} |", info.date);

    let mut rest = results;
    while let Some(first) = rest.first() {
        let len = rest
            .iter()
            .take_while(|r| r.group == first.group && r.parameter == first.parameter)
            .count();
        let (section, tail) = rest.split_at(len);
        rest = tail;
        md.push('\n');
        table(&mut md, section);
    }
    md
}

/// One scenario's table: ours first, then the others fastest first.
fn table(md: &mut String, rows: &[BenchResult]) {
    let Some(first) = rows.first() else {
        return;
    };
    match &first.parameter {
        Some(p) => {
            let _ = writeln!(md, "## {} ({p})\n", first.group);
        }
        None => {
            let _ = writeln!(md, "## {}\n", first.group);
        }
    }
    let mut rows: Vec<&BenchResult> = rows.iter().collect();
    rows.sort_by(|a, b| {
        (b.function == OURS)
            .cmp(&(a.function == OURS))
            .then_with(|| a.median_ns.total_cmp(&b.median_ns))
            .then_with(|| a.function.cmp(&b.function))
    });
    let ours = rows
        .iter()
        .find(|r| r.function == OURS)
        .map(|r| r.median_ns);
    let with_throughput = rows.iter().any(|r| r.throughput.is_some());
    let ci = format!("{:.0}% CI", first.confidence_level * 100.0);

    let _ = write!(md, "| implementation | median | {ci} | ratio |");
    if with_throughput {
        let _ = write!(md, " throughput |");
    }
    let _ = write!(md, "\n| --- | ---: | ---: | ---: |");
    if with_throughput {
        let _ = write!(md, " ---: |");
    }
    md.push('\n');
    for r in rows {
        let name = if r.function == OURS {
            format!("**{}**", r.function)
        } else {
            r.function.clone()
        };
        let ratio = match ours {
            Some(ours) if ours > 0.0 => format!("{:.2}", r.median_ns / ours),
            _ => "–".to_owned(),
        };
        let _ = write!(
            md,
            "| {name} | {} | {} – {} | {ratio} |",
            format_time(r.median_ns),
            format_time(r.lower_ns),
            format_time(r.upper_ns)
        );
        if with_throughput {
            let cell = match (r.throughput, r.throughput_per_s()) {
                (Some(t), Some(per_s)) => format!("{}{}/s", format_si(per_s), t.unit),
                _ => "–".to_owned(),
            };
            let _ = write!(md, " {cell} |");
        }
        md.push('\n');
    }
}

/// Three significant digits in ns, µs, ms or s.
fn format_time(ns: f64) -> String {
    let (value, unit) = if ns < 1e3 {
        (ns, "ns")
    } else if ns < 1e6 {
        (ns / 1e3, "µs")
    } else if ns < 1e9 {
        (ns / 1e6, "ms")
    } else {
        (ns / 1e9, "s")
    };
    format!("{} {unit}", three_digits(value))
}

/// `12.3 M` style: three significant digits and an SI prefix (with its
/// trailing space, so that a unit can follow directly).
fn format_si(value: f64) -> String {
    let (scaled, prefix) = if value >= 1e9 {
        (value / 1e9, "G")
    } else if value >= 1e6 {
        (value / 1e6, "M")
    } else if value >= 1e3 {
        (value / 1e3, "k")
    } else {
        (value, "")
    };
    format!("{} {prefix}", three_digits(scaled))
}

fn three_digits(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0}")
    } else if value >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn estimates(median: f64) -> Value {
        json!({
            "median": {
                "confidence_interval": {
                    "confidence_level": 0.95,
                    "lower_bound": median * 0.9,
                    "upper_bound": median * 1.1,
                },
                "point_estimate": median,
                "standard_error": 0.1,
            }
        })
    }

    #[test]
    fn parses_criterion_output() {
        let benchmark = json!({
            "group_id": "breaker_closed_call",
            "function_id": "recloser",
            "value_str": null,
            "throughput": {"Elements": 1000},
            "full_id": "breaker_closed_call/recloser",
        });
        let r = parse(&benchmark, &estimates(2000.0)).unwrap();
        assert_eq!(r.group, "breaker_closed_call");
        assert_eq!(r.function, "recloser");
        assert_eq!(r.parameter, None);
        assert_eq!(r.median_ns, 2000.0);
        // 1000 elements in 2 µs: 500 M elements per second.
        assert_eq!(r.throughput_per_s(), Some(5e8));
    }

    #[test]
    fn parses_throughput_kinds() {
        let t = |v: Value| parse_throughput(&v).map(|t| (t.per_iteration, t.unit));
        assert_eq!(t(json!(null)), None);
        assert_eq!(t(json!({"Bytes": 7})), Some((7, "B")));
        assert_eq!(
            t(json!({"ElementsAndBytes": {"elements": 3, "bytes": 9}})),
            Some((3, "elem"))
        );
    }

    #[test]
    fn collects_from_a_criterion_tree() {
        let dir = std::env::temp_dir().join(format!("xtask-bench-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        for (group, function, median) in [("b", "hardening", 10.0), ("a", "bare", 5.0)] {
            let new = dir.join(group).join(function).join("new");
            fs::create_dir_all(&new).unwrap();
            let benchmark = json!({"group_id": group, "function_id": function});
            fs::write(new.join("benchmark.json"), benchmark.to_string()).unwrap();
            fs::write(new.join("estimates.json"), estimates(median).to_string()).unwrap();
            // `base` holds the previous run and must be ignored.
            let base = dir.join(group).join(function).join("base");
            fs::create_dir_all(&base).unwrap();
            fs::write(base.join("benchmark.json"), "not json").unwrap();
        }
        let results = collect(&dir).unwrap();
        fs::remove_dir_all(&dir).unwrap();
        let names: Vec<_> = results.iter().map(|r| r.group.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
    }

    #[test]
    fn markdown_tables_put_ours_first_with_ratios() {
        let result = |function: &str, median_ns: f64| BenchResult {
            group: "breaker_closed_call".into(),
            function: function.into(),
            parameter: None,
            median_ns,
            lower_ns: median_ns - 1.0,
            upper_ns: median_ns + 1.0,
            confidence_level: 0.95,
            throughput: None,
        };
        let info = RunInfo {
            git_revision: None,
            git_dirty: true,
            hostname: "h".into(),
            cpu: "c".into(),
            cores: 2,
            os: "o".into(),
            rustc: "r".into(),
            date: "d".into(),
        };
        let md = markdown(
            &info,
            &[
                result("bare", 2.0),
                result("hardening", 10.0),
                result("recloser", 25.0),
            ],
        );
        assert!(md.starts_with("<!-- Generated by `cargo xtask bench`"));
        let expected = "\
## breaker_closed_call

| implementation | median | 95% CI | ratio |
| --- | ---: | ---: | ---: |
| **hardening** | 10.0 ns | 9.00 ns – 11.0 ns | 1.00 |
| bare | 2.00 ns | 1.00 ns – 3.00 ns | 0.20 |
| recloser | 25.0 ns | 24.0 ns – 26.0 ns | 2.50 |
";
        assert!(md.ends_with(expected), "{md}");
    }

    #[test]
    fn formats_times_and_rates() {
        assert_eq!(format_time(1.234), "1.23 ns");
        assert_eq!(format_time(999.0), "999 ns");
        assert_eq!(format_time(12_345.0), "12.3 µs");
        assert_eq!(format_time(2.5e6), "2.50 ms");
        assert_eq!(format_time(3e9), "3.00 s");
        assert_eq!(format_si(5e8), "500 M");
        assert_eq!(format_si(12.0), "12.0 ");
    }

    #[test]
    fn numeric_parameters_sort_numerically() {
        let mut p = vec!["10", "2", "x"];
        p.sort_by(|a, b| cmp_parameter(Some(a), Some(b)));
        assert_eq!(p, ["2", "10", "x"]);
    }
}
