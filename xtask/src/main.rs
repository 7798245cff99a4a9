//! Project automation for the hardening workspace, in the `cargo xtask` style:
//! plain Rust instead of shell scripts, run as `cargo xtask <command>` (the
//! alias lives in `.cargo/config.toml`).
//!
//! Every command runs from the workspace root, whatever the current directory,
//! and invokes the same `cargo` that started it.

mod bench;
mod browser;
mod ci;
mod run_info;
mod soak;
mod util;

use std::process::ExitCode;

use anyhow::{Result, bail};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let args = std::env::args_os()
        .skip(1)
        .map(|arg| {
            arg.into_string()
                .map_err(|arg| anyhow::anyhow!("argument is not UTF-8: {arg:?}"))
        })
        .collect::<Result<Vec<String>>>()?;
    let Some((command, rest)) = args.split_first() else {
        print_help();
        return Ok(());
    };
    match command.as_str() {
        "ci" => ci::run(rest),
        "bench" => bench::run(rest),
        "soak" => soak::run(rest),
        "demo" => soak::run_demo(rest),
        // Later commands get an arm here, a module of their own beside `ci`,
        // `bench` and `soak`, and a line in `print_help`.
        "help" | "-h" | "--help" => {
            print_help();
            Ok(())
        }
        other => bail!("unknown command `{other}`; `cargo xtask help` lists the commands"),
    }
}

fn print_help() {
    println!(
        "\
Usage: cargo xtask <command> [options]

Commands:
  ci [--skip <step>]...        run every check CI runs, in order, stopping at
                               the first failure; `--skip` (repeatable) leaves
                               a step out for local iteration
  bench [--report-only] [-- <criterion args>...]
                               run the benchmarks (`cargo bench -p {bench_pkg}`),
                               then write target/bench.json and
                               docs/benchmarks.md; `--report-only` rewrites
                               them from existing criterion output without
                               running anything
  soak [--duration <d>] [--warm-up <d>] [--fault-rate <n>] [--rate <n>] [--seed <n>]
                               run the demo under load with faults injected
                               (default 60s after a 60s warm-up, 5 faults a
                               minute), judge it
                               against its bounds (RSS drift, availability,
                               time to recover, leaked leases, lost events)
                               and write target/soak/report.md, soak.json and
                               SVG charts; fails when a bound fails
  demo [<demo args>...]        cargo run --release the demo (`demo --help`
                               lists its options, e.g. --duration 2m)
  help                         print this message

Steps of `ci`:",
        bench_pkg = bench::BENCH_PACKAGE,
    );
    ci::print_steps();
}
