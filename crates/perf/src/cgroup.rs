//! Container limits from cgroup v1 and v2: the gap `sysinfo` leaves open.
//!
//! A process in a container sees the host's memory and cores through `/proc`; what it may
//! actually use is set by its cgroup. This module finds the process's cgroup and reads its
//! memory limit and usage and its CPU quota.

use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// The limits of the cgroup a process runs in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CgroupLimits {
    /// Which cgroup version the figures came from (1 or 2).
    pub version: u8,
    /// The memory limit in bytes; `None` when unlimited.
    pub memory_limit_bytes: Option<u64>,
    /// The cgroup's current memory use in bytes.
    pub memory_usage_bytes: Option<u64>,
    /// The CPU quota in cores (quota / period); `None` when unlimited.
    pub cpu_limit_cores: Option<f64>,
}

/// Reads the limits of the current process's cgroup, from `/proc/self/cgroup` and
/// `/sys/fs/cgroup`. `None` when the process is not in a cgroup this can read (not Linux, or no
/// cgroup filesystem mounted).
pub fn current() -> Option<CgroupLimits> {
    let membership = fs::read_to_string("/proc/self/cgroup").ok()?;
    read(Path::new("/sys/fs/cgroup"), &membership)
}

/// Reads limits from a cgroup filesystem mounted at `root`, for a process whose
/// `/proc/<pid>/cgroup` says `membership`. Exposed so tests (and tools inspecting another
/// process) can point it at any tree.
pub fn read(root: &Path, membership: &str) -> Option<CgroupLimits> {
    if let Some(path) = v2_path(membership) {
        let dir = join(root, path);
        if dir.join("memory.max").exists() || dir.join("cpu.max").exists() {
            return Some(read_v2(&dir));
        }
    }
    read_v1(root, membership)
}

/// The v2 path: the line `0::/some/path`.
fn v2_path(membership: &str) -> Option<&str> {
    membership
        .lines()
        .find_map(|line| line.strip_prefix("0::"))
        .map(str::trim)
}

/// The v1 path of a controller: the line `N:controller[,controller]:/path`.
fn v1_path<'a>(membership: &'a str, controller: &str) -> Option<&'a str> {
    membership.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let _id = parts.next()?;
        let controllers = parts.next()?;
        let path = parts.next()?;
        controllers
            .split(',')
            .any(|c| c == controller)
            .then_some(path.trim())
    })
}

fn join(root: &Path, cgroup_path: &str) -> PathBuf {
    root.join(cgroup_path.trim_start_matches('/'))
}

fn read_number(path: &Path) -> Option<u64> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

fn read_v2(dir: &Path) -> CgroupLimits {
    let memory_limit_bytes = fs::read_to_string(dir.join("memory.max"))
        .ok()
        .and_then(|s| parse_limit(&s));
    let cpu_limit_cores = fs::read_to_string(dir.join("cpu.max"))
        .ok()
        .and_then(|s| parse_cpu_max(&s));
    CgroupLimits {
        version: 2,
        memory_limit_bytes,
        memory_usage_bytes: read_number(&dir.join("memory.current")),
        cpu_limit_cores,
    }
}

fn read_v1(root: &Path, membership: &str) -> Option<CgroupLimits> {
    let memory = v1_path(membership, "memory").map(|p| {
        // Inside a container the cgroup path is often "/" while the files sit at the mount's
        // top, so fall back to it.
        let dir = join(&root.join("memory"), p);
        if dir.join("memory.limit_in_bytes").exists() {
            dir
        } else {
            root.join("memory")
        }
    });
    let cpu = v1_path(membership, "cpu").map(|p| {
        let dir = join(&root.join("cpu,cpuacct"), p);
        if dir.join("cpu.cfs_quota_us").exists() {
            dir
        } else if root.join("cpu").join("cpu.cfs_quota_us").exists() {
            root.join("cpu")
        } else {
            root.join("cpu,cpuacct")
        }
    });
    if memory.is_none() && cpu.is_none() {
        return None;
    }
    // v1 writes "no limit" as a huge number (a page-aligned i64::MAX); treat anything at or
    // above 2^60 as unlimited.
    let memory_limit_bytes = memory
        .as_ref()
        .and_then(|d| read_number(&d.join("memory.limit_in_bytes")))
        .filter(|&n| n < 1 << 60);
    let cpu_limit_cores = cpu.as_ref().and_then(|d| {
        let quota: i64 = fs::read_to_string(d.join("cpu.cfs_quota_us"))
            .ok()?
            .trim()
            .parse()
            .ok()?;
        let period = read_number(&d.join("cpu.cfs_period_us"))?;
        (quota > 0 && period > 0).then(|| quota as f64 / period as f64)
    });
    Some(CgroupLimits {
        version: 1,
        memory_limit_bytes,
        memory_usage_bytes: memory
            .as_ref()
            .and_then(|d| read_number(&d.join("memory.usage_in_bytes"))),
        cpu_limit_cores,
    })
}

/// `memory.max`: a number of bytes or `max`.
fn parse_limit(text: &str) -> Option<u64> {
    match text.trim() {
        "max" => None,
        n => n.parse().ok(),
    }
}

/// `cpu.max`: `<quota> <period>` in microseconds, quota `max` when unlimited.
fn parse_cpu_max(text: &str) -> Option<f64> {
    let mut parts = text.split_whitespace();
    let quota = parts.next()?;
    let period: u64 = parts.next()?.parse().ok()?;
    if quota == "max" || period == 0 {
        return None;
    }
    let quota: u64 = quota.parse().ok()?;
    Some(quota as f64 / period as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_v2_files() {
        assert_eq!(parse_limit("max\n"), None);
        assert_eq!(parse_limit("536870912\n"), Some(536_870_912));
        assert_eq!(parse_cpu_max("max 100000\n"), None);
        assert_eq!(parse_cpu_max("150000 100000\n"), Some(1.5));
        assert_eq!(parse_cpu_max("garbage"), None);
    }

    #[test]
    fn finds_paths_in_membership_files() {
        let v1 = "12:cpu,cpuacct:/docker/abc\n11:memory:/docker/abc\n1:name=systemd:/x\n";
        assert_eq!(v1_path(v1, "memory"), Some("/docker/abc"));
        assert_eq!(v1_path(v1, "cpu"), Some("/docker/abc"));
        assert_eq!(v1_path(v1, "pids"), None);
        assert_eq!(
            v2_path("0::/user.slice/app.service\n"),
            Some("/user.slice/app.service")
        );
        assert_eq!(v2_path(v1), None);
    }
}
