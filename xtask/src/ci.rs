//! `cargo xtask ci`: every check CI runs, in order, stopping at the first
//! failure. `.ci/run` is a thin wrapper around this.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

use crate::util::{self, Metadata};

/// The steps, in the order they run: (name for `--skip`, what it does).
/// Cheap checks first, so that a formatting slip fails in seconds.
const STEPS: &[(&str, &str)] = &[
    ("fmt", "cargo fmt --all -- --check"),
    (
        "clippy",
        "cargo clippy --workspace --all-targets --all-features -- -D warnings",
    ),
    (
        "test",
        "cargo test --workspace --all-features (unit, integration and doc tests)",
    ),
    (
        "browser",
        "headless chromium loads the status page of the status_page_server example; every chart must draw data (installs Debian's chromium if missing)",
    ),
    (
        "features",
        "cargo clippy --lib -- -D warnings of each library under crates/ with no default features, then with each feature alone; the umbrella's tests in each of those builds",
    ),
    (
        "doc",
        "cargo doc --workspace --no-deps --all-features, rustdoc warnings denied",
    ),
    (
        "deny",
        "cargo deny check licenses bans sources (installs cargo-deny first if missing)",
    ),
    (
        "loom",
        "loom models: each crates/*/tests/loom.rs, in release, with --cfg loom, in target/loom",
    ),
    (
        "soak",
        "a 60-second soak of the demo under load with fault injection, after a 60-second warm-up (cargo xtask soak); fails on any bound",
    ),
];

pub(crate) fn print_steps() {
    for (name, what) in STEPS {
        println!("  {name:<10} {what}");
    }
}

fn print_help() {
    println!(
        "\
Usage: cargo xtask ci [--skip <step>]...

Runs each step in order and stops at the first failure. `--skip <step>`
(repeatable) leaves a step out.

Steps:"
    );
    print_steps();
}

enum Outcome {
    Ok(Duration),
    Failed(Duration),
    Skipped,
    NotRun,
}

pub(crate) fn run(args: &[String]) -> Result<()> {
    let mut skip: Vec<&str> = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let name = match arg.as_str() {
            "-h" | "--help" => {
                print_help();
                return Ok(());
            }
            "--skip" => match args.next() {
                Some(name) => name.as_str(),
                None => bail!("`--skip` needs a step name"),
            },
            other => match other.strip_prefix("--skip=") {
                Some(name) => name,
                None => bail!("unknown argument `{other}`; see `cargo xtask ci --help`"),
            },
        };
        if !STEPS.iter().any(|(step, _)| *step == name) {
            let names: Vec<_> = STEPS.iter().map(|(step, _)| *step).collect();
            bail!(
                "no step named `{name}`; the steps are: {}",
                names.join(", ")
            );
        }
        skip.push(name);
    }

    let root = util::workspace_root()?;
    let start = Instant::now();
    let mut outcomes: Vec<(&str, Outcome)> = Vec::new();
    let mut failed = None;
    for &(name, _) in STEPS {
        if skip.contains(&name) {
            if failed.is_none() {
                println!("==> {name}: skipped (--skip)");
            }
            outcomes.push((name, Outcome::Skipped));
            continue;
        }
        if failed.is_some() {
            outcomes.push((name, Outcome::NotRun));
            continue;
        }
        println!("==> {name}");
        let step_start = Instant::now();
        let result = run_step(name, &root);
        let took = step_start.elapsed();
        match result {
            Ok(()) => {
                println!("<== {name}: ok ({})", secs(took));
                outcomes.push((name, Outcome::Ok(took)));
            }
            Err(err) => {
                println!("<== {name}: FAILED ({}): {err:#}", secs(took));
                outcomes.push((name, Outcome::Failed(took)));
                failed = Some(name);
            }
        }
    }

    println!();
    println!("summary:");
    for (name, outcome) in &outcomes {
        let (status, took) = match outcome {
            Outcome::Ok(took) => ("ok", secs(*took)),
            Outcome::Failed(took) => ("FAILED", secs(*took)),
            Outcome::Skipped => ("skipped", String::new()),
            Outcome::NotRun => ("not run", String::new()),
        };
        println!("  {name:<10} {status:<8} {took:>8}");
    }
    println!("  {:<10} {:<8} {:>8}", "total", "", secs(start.elapsed()));

    match failed {
        Some(name) => bail!("ci step `{name}` failed"),
        None => Ok(()),
    }
}

fn secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

fn run_step(name: &str, root: &Path) -> Result<()> {
    let cargo = || util::cargo(root);
    match name {
        "fmt" => util::run(cargo().args(["fmt", "--all", "--", "--check"])),
        "clippy" => util::run(cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--all-features",
            "--",
            "-D",
            "warnings",
        ])),
        // Without a target filter `cargo test` also runs the doc tests. Only
        // the all-features build is tested: a default-features test build
        // would compile the whole workspace a second time on a 2-core
        // machine, and the `features` step already proves every feature
        // combination that matters builds.
        "test" => util::run(cargo().args(["test", "--workspace", "--all-features"])),
        "features" => features(root),
        "doc" => util::run(
            cargo()
                .args(["doc", "--workspace", "--no-deps", "--all-features"])
                .env(
                    "RUSTDOCFLAGS",
                    "-D warnings -D rustdoc::broken_intra_doc_links",
                ),
        ),
        "browser" => crate::browser::check(root),
        "soak" => crate::soak::run_ci(root),
        "deny" => deny(root),
        "loom" => loom(root),
        other => bail!("step `{other}` has no implementation"),
    }
}

/// The umbrella crate, whose tests also run in each feature build.
const UMBRELLA: &str = "hardening";

/// Each library under `crates/` builds with no default features, and with
/// each feature alone. Features named `_...` are internal plumbing, and
/// `default` is covered by every other build.
///
/// This is `cargo check` through clippy, so that `-D warnings` applies to
/// our crates only: an import or variable left unused when a feature is off
/// fails here, as it would in the all-features `clippy` step. (`RUSTFLAGS`
/// would also deny warnings, but changes the dependencies' fingerprints and
/// so rebuilds them.)
fn features(root: &Path) -> Result<()> {
    let meta = Metadata::read(root)?;
    let mut checked = 0;
    for pkg in meta.library_crates(root) {
        let check = |features: &[&str]| {
            util::run(
                util::cargo(root)
                    .args(["clippy", "--lib", "-p", pkg.name.as_str()])
                    .arg("--no-default-features")
                    .args(features)
                    .args(["--", "-D", "warnings"]),
            )?;
            // The umbrella's features switch whole parts on and off, and its promise is that
            // each build works alone: its tests run in every one of them.
            if pkg.name == UMBRELLA {
                util::run(
                    util::cargo(root)
                        .args(["test", "-p", UMBRELLA, "--no-default-features"])
                        .args(features),
                )?;
            }
            Ok::<(), anyhow::Error>(())
        };
        check(&[])?;
        checked += 1;
        for feature in &pkg.features {
            if feature == "default" || feature.starts_with('_') {
                continue;
            }
            check(&["--features", feature])?;
            checked += 1;
        }
    }
    if checked == 0 {
        println!("no library crates under crates/: nothing to check");
    }
    Ok(())
}

/// Licenses, duplicate or wildcard dependencies, and sources, per
/// `deny.toml`. Advisories are not checked: the advisory database is a git
/// repository that the build machines cannot reach (they reach package
/// registries only).
fn deny(root: &Path) -> Result<()> {
    let installed = util::cargo(root)
        .args(["deny", "--version"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !installed {
        println!("cargo-deny is not installed; installing it (this takes a few minutes)");
        util::run(util::cargo(root).args(["install", "--locked", "cargo-deny"]))?;
    }
    util::run(util::cargo(root).args(["deny", "check", "licenses", "bans", "sources"]))
}

/// Loom model tests: every crate under `crates/` with a `tests/loom.rs`. They
/// need `--cfg loom` for the whole build, so they get their own target
/// directory rather than invalidating the main build cache, and `--release`
/// because loom explores many interleavings.
fn loom(root: &Path) -> Result<()> {
    let meta = Metadata::read(root)?;
    let crates_dir = root.join("crates");
    let mut ran = 0;
    for pkg in &meta.packages {
        if !pkg.dir.starts_with(&crates_dir) || !pkg.dir.join("tests/loom.rs").is_file() {
            continue;
        }
        util::run(
            util::cargo(root)
                .args([
                    "test",
                    "-p",
                    pkg.name.as_str(),
                    "--release",
                    "--test",
                    "loom",
                ])
                .env("RUSTFLAGS", "--cfg loom")
                .env("CARGO_TARGET_DIR", meta.target_dir.join("loom")),
        )?;
        ran += 1;
    }
    if ran == 0 {
        println!("no crates/*/tests/loom.rs: nothing to run");
    }
    Ok(())
}
