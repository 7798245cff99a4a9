use std::path::{Path, PathBuf};

use async_trait::async_trait;
use sysinfo::{DiskRefreshKind, Disks};

use super::Threshold;
use crate::{BoxError, HealthCheck, Observation};

/// Free space on the disk that holds a path, in percent of the disk, against a threshold
/// (use [`Threshold::below`]). Reads the mount table and that disk's sizes off the async
/// workers, on tokio's blocking pool, since a network mount can be slow to answer.
///
/// ```
/// use hardening_health::checks::{DiskSpace, Threshold};
///
/// let check = DiskSpace::new("/var/lib/app", Threshold::below(15.0, 5.0)?);
/// # let _ = check;
/// # Ok::<(), hardening_health::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct DiskSpace {
    path: PathBuf,
    threshold: Threshold,
}

impl DiskSpace {
    /// Judges the free space of the disk holding `path`, in percent.
    pub fn new(path: impl Into<PathBuf>, threshold: Threshold) -> Self {
        DiskSpace {
            path: path.into(),
            threshold,
        }
    }
}

/// `(mount point, available bytes, total bytes)` of the disk with the longest mount point
/// that holds `path`.
fn space_for(path: &Path) -> Result<(PathBuf, u64, u64), BoxError> {
    let path = path
        .canonicalize()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let disks = Disks::new_with_refreshed_list_specifics(DiskRefreshKind::nothing().with_storage());
    disks
        .list()
        .iter()
        .filter(|d| path.starts_with(d.mount_point()))
        .max_by_key(|d| d.mount_point().as_os_str().len())
        .map(|d| {
            (
                d.mount_point().to_path_buf(),
                d.available_space(),
                d.total_space(),
            )
        })
        .ok_or_else(|| format!("no mounted disk holds {}", path.display()).into())
}

#[async_trait]
impl HealthCheck for DiskSpace {
    async fn check(&self) -> Result<Observation, BoxError> {
        let path = self.path.clone();
        let (mount, available, total) = tokio::task::spawn_blocking(move || space_for(&path))
            .await
            .map_err(|e| format!("disk read did not finish: {e}"))??;
        if total == 0 {
            return Err(format!("the disk at {} reports no size", mount.display()).into());
        }
        let percent = available as f64 * 100.0 / total as f64;
        let mut observation = Observation::new(self.threshold.judge(percent))
            .with_value((percent * 10.0).round() / 10.0, "percent free");
        observation.message = Some(
            match self.threshold.describe("free space", percent, "percent") {
                Some(why) => format!(
                    "{why} on {} ({available} of {total} bytes free)",
                    mount.display()
                ),
                None => format!("{available} of {total} bytes free on {}", mount.display()),
            },
        );
        Ok(observation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status;

    #[tokio::test]
    async fn judges_the_disk_of_a_real_path_and_fails_on_a_missing_one() {
        let dir = std::env::temp_dir();
        let any = DiskSpace::new(&dir, Threshold::below(-1.0, -2.0).unwrap());
        let seen = any.check().await;
        // Some sandboxes list no disks at all; then the check must say so, not panic.
        match seen {
            Ok(seen) => {
                assert_eq!(seen.status, Status::Pass);
                let percent = seen.value.and_then(|v| v.as_f64()).unwrap();
                assert!((0.0..=100.0).contains(&percent));
            }
            Err(e) => assert!(e.to_string().contains("no mounted disk"), "{e}"),
        }
        let missing = DiskSpace::new("/no/such/path/here", Threshold::below(10.0, 5.0).unwrap());
        let err = missing.check().await.unwrap_err();
        assert!(err.to_string().contains("/no/such/path/here"), "{err}");
    }
}
