//! Container limits read from sample cgroup trees of both versions.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly"
)]

use std::fs;
use std::path::{Path, PathBuf};

use hardening_perf::cgroup::{self, CgroupLimits};

/// A fresh directory for one test's cgroup tree.
fn tree(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hardening-perf-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

#[test]
fn reads_a_v2_container() {
    let root = tree("v2");
    write(&root, "kubepods/pod1/memory.max", "536870912\n");
    write(&root, "kubepods/pod1/memory.current", "123456789\n");
    write(&root, "kubepods/pod1/cpu.max", "150000 100000\n");
    let limits = cgroup::read(&root, "0::/kubepods/pod1\n").unwrap();
    assert_eq!(
        limits,
        CgroupLimits {
            version: 2,
            memory_limit_bytes: Some(536_870_912),
            memory_usage_bytes: Some(123_456_789),
            cpu_limit_cores: Some(1.5),
        }
    );
    fs::remove_dir_all(root).unwrap();
}

#[test]
fn reads_an_unlimited_v2_cgroup() {
    let root = tree("v2max");
    write(&root, "user.slice/memory.max", "max\n");
    write(&root, "user.slice/cpu.max", "max 100000\n");
    let limits = cgroup::read(&root, "0::/user.slice\n").unwrap();
    assert_eq!(limits.memory_limit_bytes, None);
    assert_eq!(limits.cpu_limit_cores, None);
    fs::remove_dir_all(root).unwrap();
}

#[test]
fn reads_a_v1_container() {
    let root = tree("v1");
    write(
        &root,
        "memory/docker/abc/memory.limit_in_bytes",
        "268435456\n",
    );
    write(&root, "memory/docker/abc/memory.usage_in_bytes", "1000\n");
    write(&root, "cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "50000\n");
    write(
        &root,
        "cpu,cpuacct/docker/abc/cpu.cfs_period_us",
        "100000\n",
    );
    let membership =
        "12:cpu,cpuacct:/docker/abc\n7:memory:/docker/abc\n1:name=systemd:/docker/abc\n";
    let limits = cgroup::read(&root, membership).unwrap();
    assert_eq!(
        limits,
        CgroupLimits {
            version: 1,
            memory_limit_bytes: Some(268_435_456),
            memory_usage_bytes: Some(1000),
            cpu_limit_cores: Some(0.5),
        }
    );
    fs::remove_dir_all(root).unwrap();
}

#[test]
fn reads_an_unlimited_v1_cgroup_seen_from_inside() {
    // Inside the container the path is "/" and the files sit at each controller's top.
    let root = tree("v1inside");
    write(
        &root,
        "memory/memory.limit_in_bytes",
        "9223372036854771712\n",
    );
    write(&root, "cpu,cpuacct/cpu.cfs_quota_us", "-1\n");
    write(&root, "cpu,cpuacct/cpu.cfs_period_us", "100000\n");
    let limits = cgroup::read(&root, "4:memory:/\n3:cpu,cpuacct:/\n").unwrap();
    assert_eq!(limits.version, 1);
    assert_eq!(
        limits.memory_limit_bytes, None,
        "page-aligned i64::MAX means no limit"
    );
    assert_eq!(limits.cpu_limit_cores, None);
    fs::remove_dir_all(root).unwrap();
}

#[test]
fn no_cgroup_is_none() {
    let root = tree("none");
    assert_eq!(cgroup::read(&root, ""), None);
    fs::remove_dir_all(root).unwrap();
}
