//! What the binary's integration tests share: a temporary directory, the binary over the
//! engine's instance fixture, and a users file.

#![allow(dead_code)] // Each test file uses part of it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A directory under the system's temporary directory, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A fresh, empty directory named after the test file, `name` and this process.
    pub fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("linmgmt-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The binary, with the engine's instance fixture instead of the host, without the
/// environment variables that would change what is tested, and without a config file (an
/// installed /etc/linmgmt/linmgmt.toml must not leak into the tests).
pub fn linmgmt() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_linmgmt"));
    c.arg("--instances")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../engine/test_data/instances.mof"))
        .env("LINMGMT_CONFIG", "/dev/null")
        .env_remove("LINMGMT_LOG");
    c
}

/// Adds `name` with `password` and `role` to the users file at `users`.
pub fn add_user(users: &Path, name: &str, password: &str, role: &str) {
    let mut add = linmgmt()
        .args(["user", "add", name, "--role", role, "--users"])
        .arg(users)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    writeln!(add.stdin.take().unwrap(), "{password}").unwrap();
    assert!(add.wait().unwrap().success(), "linmgmt user add {name}");
}
