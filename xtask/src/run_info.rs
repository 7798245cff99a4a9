//! Where and when a run took its numbers.

use std::fs;
use std::path::Path;
use std::time::SystemTime;

use hardening_core::Rfc3339;

use serde_json::{Value, json};

use crate::util;

/// Where and when a run took its numbers: what `cargo xtask bench` and `cargo xtask soak`
/// put beside them.
#[derive(Debug)]
pub(crate) struct RunInfo {
    pub(crate) git_revision: Option<String>,
    pub(crate) git_dirty: bool,
    pub(crate) hostname: String,
    pub(crate) cpu: String,
    pub(crate) cores: usize,
    pub(crate) os: String,
    pub(crate) rustc: String,
    pub(crate) date: String,
}

impl RunInfo {
    pub(crate) fn gather(root: &Path) -> Self {
        let git_revision = util::output("git", &["rev-parse", "HEAD"], root);
        let git_dirty = util::output("git", &["status", "--porcelain"], root)
            .is_some_and(|status| !status.is_empty());
        let read = |path: &str| fs::read_to_string(path).ok();
        let hostname = read("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_else(|| "unknown".to_owned());
        let cpu = read("/proc/cpuinfo")
            .and_then(|info| cpu_model(&info))
            .unwrap_or_else(|| "unknown".to_owned());
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut os = format!("{} {}", std::env::consts::OS, std::env::consts::ARCH);
        if let Some(name) = read("/etc/os-release").and_then(|r| os_pretty_name(&r)) {
            os = format!("{os}, {name}");
        }
        if let Some(kernel) = read("/proc/sys/kernel/osrelease") {
            os = format!("{os}, kernel {}", kernel.trim());
        }
        let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
        let rustc = util::output(&rustc, &["--version"], root).unwrap_or_else(|| "unknown".into());
        Self {
            git_revision,
            git_dirty,
            hostname,
            cpu,
            cores,
            os,
            rustc,
            date: Rfc3339::seconds(SystemTime::now()).to_string(),
        }
    }

    /// The run's identity as the JSON reports carry it: `git_revision`, `git_dirty`, `host`
    /// (hostname, cpu, cores, os), `rustc` and `date`; each report adds its own fields.
    pub(crate) fn to_json(&self) -> Value {
        json!({
            "git_revision": self.git_revision,
            "git_dirty": self.git_dirty,
            "host": {
                "hostname": self.hostname,
                "cpu": self.cpu,
                "cores": self.cores,
                "os": self.os,
            },
            "rustc": self.rustc,
            "date": self.date,
        })
    }

    pub(crate) fn revision_label(&self) -> String {
        let mut label = match &self.git_revision {
            Some(rev) => format!("`{}`", &rev[..rev.len().min(12)]),
            None => "none (no commit yet)".to_owned(),
        };
        if self.git_dirty {
            label.push_str(", with uncommitted changes");
        }
        label
    }
}

fn cpu_model(cpuinfo: &str) -> Option<String> {
    // x86 says "model name"; some ARM kernels only give "Hardware" or "Processor".
    ["model name", "Hardware", "Processor"]
        .iter()
        .find_map(|key| {
            cpuinfo.lines().find_map(|line| {
                let (k, v) = line.split_once(':')?;
                (k.trim() == *key && !v.trim().is_empty()).then(|| v.trim().to_owned())
            })
        })
}

fn os_pretty_name(os_release: &str) -> Option<String> {
    os_release.lines().find_map(|line| {
        let value = line.strip_prefix("PRETTY_NAME=")?;
        Some(value.trim_matches('"').to_owned())
    })
}
