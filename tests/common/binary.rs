//! The sandbox served by its own binary (`abdm-sandbox serve`), for what the in-process server
//! cannot show: fixtures loaded from a file, a request that never finishes, which must not
//! outlive its test, and state kept across a killed process. The process is killed when dropped.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

/// A running `abdm-sandbox serve --fixtures FILE` on a free port.
pub struct ServedBinary {
    child: Child,
    /// `http://127.0.0.1:PORT`, from the banner's `listening on` line.
    pub url: String,
    _fixtures: Option<TempFile>,
}

/// A file removed when dropped.
pub struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

impl ServedBinary {
    /// Writes `fixtures` to a temporary file and serves it with one worker.
    pub fn start(fixtures: &Value) -> ServedBinary {
        let path = std::env::temp_dir().join(format!("abha-fixtures-{}.json", uuid::Uuid::new_v4()));
        std::fs::write(&path, serde_json::to_vec(fixtures).expect("fixtures serialise"))
            .expect("fixtures file is written");
        let file = TempFile(path);
        let path = file.0.clone();
        ServedBinary::spawn(&[OsStr::new("--fixtures"), path.as_os_str()], Some(file))
    }

    /// Serves the built-in fixtures with one worker, keeping state in `state` (`--state`).
    pub fn with_state(state: &Path) -> ServedBinary {
        ServedBinary::spawn(&[OsStr::new("--state"), state.as_os_str()], None)
    }

    /// Kills the server at once (SIGKILL): nothing is flushed or closed.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// `serve` on a free port with one worker and these arguments, once it listens; `fixtures`
    /// is removed when it is dropped.
    pub fn spawn(extra: &[&OsStr], fixtures: Option<TempFile>) -> ServedBinary {
        let child = Command::new(env!("CARGO_BIN_EXE_abdm-sandbox"))
            .args(["serve", "--addr", "127.0.0.1:0", "--workers", "1"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the sandbox binary starts");
        // Owned from here on, so that a failure below still kills the process.
        let mut served = ServedBinary { child, url: String::new(), _fixtures: fixtures };
        let stdout = served.child.stdout.take().expect("stdout is piped");
        let mut lines = BufReader::new(stdout).lines();
        for line in lines.by_ref() {
            let line = line.expect("banner line");
            if let Some(rest) = line.split("listening on ").nth(1) {
                served.url = rest.trim().to_string();
                break;
            }
        }
        // Keep reading, so that the server never writes to a closed pipe.
        std::thread::spawn(move || lines.for_each(drop));
        assert!(served.url.starts_with("http://"), "the binary printed no 'listening on' line");
        served
    }
}

impl Drop for ServedBinary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
