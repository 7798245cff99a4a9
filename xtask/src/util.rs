//! Helpers shared by the commands: locating the workspace, running cargo,
//! reading `cargo metadata`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// The workspace root: the parent of this crate's directory, fixed at compile
/// time so that `cargo xtask` works from any subdirectory. Not canonicalised,
/// so that it compares equal to the paths `cargo metadata` reports.
pub(crate) fn workspace_root() -> Result<PathBuf> {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .context("xtask's manifest directory has no parent")
}

/// The cargo that started us (cargo sets `CARGO` for `cargo run`), else
/// whichever `cargo` is on `PATH`.
fn cargo_program() -> OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// A `cargo` command run from the workspace root, with colours forced on
/// unless we are on CI (where logs are plain text) or the user chose already.
pub(crate) fn cargo(root: &Path) -> Command {
    let mut cmd = Command::new(cargo_program());
    cmd.current_dir(root);
    if std::env::var_os("CI").is_none() && std::env::var_os("CARGO_TERM_COLOR").is_none() {
        cmd.env("CARGO_TERM_COLOR", "always");
    }
    cmd
}

/// Prints the command as a shell line, runs it with inherited stdio, and
/// fails unless it exits successfully.
pub(crate) fn run(cmd: &mut Command) -> Result<()> {
    let line = display(cmd);
    println!("$ {line}");
    let status = cmd
        .status()
        .with_context(|| format!("cannot start `{line}`"))?;
    if !status.success() {
        bail!("`{line}` failed ({status})");
    }
    Ok(())
}

/// Runs a command quietly and returns its trimmed stdout, or `None` if it
/// cannot start or fails. For optional information (git, rustc version).
pub(crate) fn output(program: &str, args: &[&str], dir: &Path) -> Option<String> {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    Some(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// `cargo` for the cargo binary, environment variables set on the command
/// (except the colour switch), then the arguments, quoted where needed.
pub(crate) fn display(cmd: &Command) -> String {
    let quote = |s: &str| {
        if s.is_empty() || s.contains(|c: char| c.is_whitespace() || c == '"') {
            format!("{s:?}")
        } else {
            s.to_owned()
        }
    };
    let mut parts = Vec::new();
    for (key, value) in cmd.get_envs() {
        if key == "CARGO_TERM_COLOR" {
            continue;
        }
        if let Some(value) = value {
            parts.push(format!(
                "{}={}",
                key.to_string_lossy(),
                quote(&value.to_string_lossy())
            ));
        }
    }
    let program = cmd.get_program();
    if program == cargo_program() {
        parts.push("cargo".to_owned());
    } else {
        parts.push(quote(&program.to_string_lossy()));
    }
    parts.extend(cmd.get_args().map(|arg| quote(&arg.to_string_lossy())));
    parts.join(" ")
}

/// What we need from `cargo metadata --no-deps`.
#[derive(Debug)]
pub(crate) struct Metadata {
    pub(crate) packages: Vec<Package>,
    pub(crate) target_dir: PathBuf,
}

/// One workspace member.
#[derive(Debug)]
pub(crate) struct Package {
    pub(crate) name: String,
    /// The directory holding the package's `Cargo.toml`.
    pub(crate) dir: PathBuf,
    /// Whether it has a library target (of any crate type).
    pub(crate) has_lib: bool,
    /// Declared feature names, sorted, including `default` if declared.
    pub(crate) features: Vec<String>,
}

impl Metadata {
    /// Reads the workspace's metadata (no dependency resolution, so it is quick
    /// and needs no network).
    pub(crate) fn read(root: &Path) -> Result<Self> {
        let mut cmd = cargo(root);
        cmd.args(["metadata", "--no-deps", "--format-version", "1"])
            .stdin(Stdio::null())
            .stderr(Stdio::inherit());
        let out = cmd.output().context("cannot run `cargo metadata`")?;
        if !out.status.success() {
            bail!("`cargo metadata` failed ({})", out.status);
        }
        let json: Value =
            serde_json::from_slice(&out.stdout).context("cannot parse `cargo metadata` output")?;
        Self::from_json(&json)
    }

    fn from_json(json: &Value) -> Result<Self> {
        let target_dir = json["target_directory"]
            .as_str()
            .context("`cargo metadata` gave no target_directory")?
            .into();
        let mut packages = Vec::new();
        for pkg in json["packages"].as_array().into_iter().flatten() {
            let name = pkg["name"]
                .as_str()
                .context("package without a name in `cargo metadata`")?
                .to_owned();
            let manifest = Path::new(
                pkg["manifest_path"]
                    .as_str()
                    .with_context(|| format!("package {name} has no manifest_path"))?,
            );
            let dir = manifest
                .parent()
                .with_context(|| format!("package {name}: odd manifest path"))?
                .to_path_buf();
            let has_lib = pkg["targets"].as_array().into_iter().flatten().any(|t| {
                t["kind"].as_array().into_iter().flatten().any(|k| {
                    matches!(
                        k.as_str(),
                        Some("lib" | "rlib" | "dylib" | "cdylib" | "staticlib" | "proc-macro")
                    )
                })
            });
            let mut features: Vec<String> = pkg["features"]
                .as_object()
                .into_iter()
                .flat_map(|f| f.keys().cloned())
                .collect();
            features.sort();
            packages.push(Package {
                name,
                dir,
                has_lib,
                features,
            });
        }
        packages.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Self {
            packages,
            target_dir,
        })
    }

    /// Library packages whose manifest lives under `<root>/crates/`: the
    /// crates we publish.
    pub(crate) fn library_crates<'a>(&'a self, root: &Path) -> impl Iterator<Item = &'a Package> {
        let crates_dir = root.join("crates");
        self.packages
            .iter()
            .filter(move |p| p.has_lib && p.dir.starts_with(&crates_dir))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_picks_libraries_under_crates() {
        let json = serde_json::json!({
            "target_directory": "/w/target",
            "packages": [
                {
                    "name": "hardening-breaker",
                    "manifest_path": "/w/crates/breaker/Cargo.toml",
                    "targets": [{"kind": ["lib"]}, {"kind": ["test"]}],
                    "features": {"default": ["std"], "std": [], "_internal": []}
                },
                {
                    "name": "xtask",
                    "manifest_path": "/w/xtask/Cargo.toml",
                    "targets": [{"kind": ["bin"]}],
                    "features": {}
                },
                {
                    "name": "hardening-benches",
                    "manifest_path": "/w/benches/Cargo.toml",
                    "targets": [{"kind": ["lib"]}, {"kind": ["bench"]}],
                    "features": {}
                }
            ]
        });
        let meta = Metadata::from_json(&json).unwrap();
        assert_eq!(meta.target_dir, Path::new("/w/target"));
        let libs: Vec<_> = meta.library_crates(Path::new("/w")).collect();
        assert_eq!(libs.len(), 1);
        assert_eq!(libs[0].name, "hardening-breaker");
        assert_eq!(libs[0].features, ["_internal", "default", "std"]);
    }
}
