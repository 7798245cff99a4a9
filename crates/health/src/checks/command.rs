use std::ffi::OsString;
use std::process::Stdio;

use async_trait::async_trait;

use crate::{BoxError, HealthCheck, Observation};

/// Runs a program and judges its exit status: 0 passes, anything else fails with the last
/// line it wrote to stderr. Like a Kubernetes `exec` probe. The child is killed when the run
/// times out.
///
/// ```
/// use hardening_health::checks::CommandCheck;
///
/// let check = CommandCheck::new("pg_isready").args(["-h", "127.0.0.1"]);
/// # let _ = check;
/// ```
#[derive(Debug, Clone)]
pub struct CommandCheck {
    program: OsString,
    args: Vec<OsString>,
}

impl CommandCheck {
    /// Runs `program` (found on `PATH` if it holds no `/`).
    pub fn new(program: impl Into<OsString>) -> Self {
        CommandCheck {
            program: program.into(),
            args: Vec::new(),
        }
    }

    /// Adds arguments.
    #[must_use]
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }
}

#[async_trait]
impl HealthCheck for CommandCheck {
    async fn check(&self) -> Result<Observation, BoxError> {
        let output = tokio::process::Command::new(&self.program)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .output()
            .await
            .map_err(|e| format!("running {:?}: {e}", self.program))?;
        let code = output.status.code();
        if output.status.success() {
            return Ok(Observation::pass().with_value(0, "exit code"));
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        let message = match code {
            Some(code) => format!("{:?} exited with {code}", self.program),
            None => format!("{:?} was ended by a signal", self.program),
        };
        let message = if last.is_empty() {
            message
        } else {
            format!("{message}: {}", last.trim())
        };
        let observation = Observation::fail(message);
        Ok(match code {
            Some(code) => observation.with_value(code, "exit code"),
            None => observation,
        })
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use crate::Status;

    #[tokio::test]
    async fn exit_status_decides() {
        let ok = CommandCheck::new("sh")
            .args(["-c", "exit 0"])
            .check()
            .await
            .unwrap();
        assert_eq!(ok.status, Status::Pass);
        let failed = CommandCheck::new("sh")
            .args(["-c", "echo 'replica lag too high' >&2; exit 3"])
            .check()
            .await
            .unwrap();
        assert_eq!(failed.status, Status::Fail);
        assert_eq!(failed.value, Some(3.into()));
        assert!(failed.message.unwrap().ends_with("replica lag too high"));
        assert!(CommandCheck::new("/no/such/program").check().await.is_err());
    }
}
