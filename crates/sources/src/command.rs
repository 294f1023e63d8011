//! Running external tools behind [`CommandRunner`], so scans stay testable.
//!
//! Only `smbstatus` is run today. [`SystemRunner`] spawns the real program with a timeout and
//! kills it when the timeout passes (a hung smbd lock must not hang a scan). [`FixtureRunner`]
//! answers from files in a fixture root instead.

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::{Sender, channel};
use std::thread;
use std::time::{Duration, Instant};

use crate::Root;

/// What to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandSpec {
    /// The program: a bare name is looked up in `PATH`.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// How long it may run before it is killed.
    pub timeout: Duration,
}

/// What a finished command produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandOutput {
    /// Exit code; `None` when killed by a signal.
    pub status: Option<i32>,
    /// Standard output.
    pub stdout: Vec<u8>,
    /// Standard error.
    pub stderr: Vec<u8>,
}

impl CommandOutput {
    /// Whether it exited with code 0.
    pub fn success(&self) -> bool {
        self.status == Some(0)
    }
}

/// Why a command produced no output.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    /// The program does not exist (ENOENT): the tool is not installed.
    #[error("{0}: not installed")]
    NotFound(PathBuf),
    /// It ran longer than its timeout and was killed.
    #[error("{program}: timed out after {timeout:?}")]
    TimedOut {
        /// The program.
        program: PathBuf,
        /// The timeout.
        timeout: Duration,
    },
    /// It could not be started or waited for.
    #[error("{program}: {source}")]
    Io {
        /// The program.
        program: PathBuf,
        /// The error.
        source: io::Error,
    },
}

/// Runs commands. Implementations must be usable from several threads.
pub trait CommandRunner: Send + Sync {
    /// Runs `spec` to completion or timeout.
    fn run(&self, spec: &CommandSpec) -> Result<CommandOutput, CommandError>;
}

/// Spawns real processes.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemRunner;

impl CommandRunner for SystemRunner {
    fn run(&self, spec: &CommandSpec) -> Result<CommandOutput, CommandError> {
        let program = spec.program.clone();
        let mut child = Command::new(&spec.program)
            .args(&spec.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| match source.kind() {
                io::ErrorKind::NotFound => CommandError::NotFound(program.clone()),
                _ => CommandError::Io {
                    program: program.clone(),
                    source,
                },
            })?;
        // Drain both pipes on threads so a chatty child cannot block on a full pipe while we
        // wait. The end of its output is the moment to look for its exit: waiting on that,
        // rather than polling from the start, adds no latency to a 20 ms command.
        let (closed_tx, closed) = channel();
        let drain = |r: Option<Box<dyn Read + Send>>, closed_tx: Option<Sender<()>>| {
            thread::spawn(move || {
                let mut buf = Vec::new();
                if let Some(mut r) = r {
                    let _ = r.read_to_end(&mut buf);
                }
                if let Some(tx) = closed_tx {
                    let _ = tx.send(());
                }
                buf
            })
        };
        let stdout = (child.stdout.take()).map(|s| Box::new(s) as Box<dyn Read + Send>);
        let stderr = (child.stderr.take()).map(|s| Box::new(s) as Box<dyn Read + Send>);
        let out = drain(stdout, Some(closed_tx));
        let err = drain(stderr, None);
        let deadline = Instant::now() + spec.timeout;
        let _ = closed.recv_timeout(spec.timeout);
        // A process closes its files before it becomes a zombie: poll briefly, then less
        // often (a child that closed its output and lives on).
        let mut pause = Duration::from_micros(50);
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(CommandError::TimedOut {
                        program,
                        timeout: spec.timeout,
                    });
                }
                Ok(None) => {
                    thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(2));
                }
                Err(source) => {
                    let _ = child.kill();
                    return Err(CommandError::Io { program, source });
                }
            }
        };
        Ok(CommandOutput {
            status: status.code(),
            stdout: out.join().unwrap_or_default(),
            stderr: err.join().unwrap_or_default(),
        })
    }
}

/// Answers from a fixture root instead of running anything.
///
/// For a program whose file name is `NAME`:
/// - `<root>/NAME.json` present → exit 0 with that file as stdout (`smbstatus.json`);
/// - else `<root>/NAME.err` present → exit 1 with that file as stderr (a failing tool);
/// - else → [`CommandError::NotFound`] (the tool is not installed).
#[derive(Debug, Clone)]
pub struct FixtureRunner {
    root: Root,
}

impl FixtureRunner {
    /// Answers from files in `root`.
    pub fn new(root: Root) -> FixtureRunner {
        FixtureRunner { root }
    }
}

impl CommandRunner for FixtureRunner {
    fn run(&self, spec: &CommandSpec) -> Result<CommandOutput, CommandError> {
        let name = Path::new(&spec.program)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if let Ok(stdout) = self.root.read(format!("{name}.json")) {
            return Ok(CommandOutput {
                status: Some(0),
                stdout,
                stderr: Vec::new(),
            });
        }
        if let Ok(stderr) = self.root.read(format!("{name}.err")) {
            return Ok(CommandOutput {
                status: Some(1),
                stdout: Vec::new(),
                stderr,
            });
        }
        Err(CommandError::NotFound(spec.program.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(program: &str, args: &[&str], ms: u64) -> CommandSpec {
        CommandSpec {
            program: program.into(),
            args: args.iter().map(|s| s.to_string()).collect(),
            timeout: Duration::from_millis(ms),
        }
    }

    #[test]
    fn missing_program_is_not_found() {
        let e = SystemRunner
            .run(&spec("/nonexistent/linmgmt-smbstatus", &[], 1000))
            .unwrap_err();
        assert!(matches!(e, CommandError::NotFound(_)), "{e}");
    }

    #[test]
    fn output_and_exit_code() {
        let out = SystemRunner
            .run(&spec("sh", &["-c", "echo hi; echo err >&2; exit 3"], 5000))
            .unwrap();
        assert_eq!(
            (out.status, out.stdout.as_slice(), out.stderr.as_slice()),
            (Some(3), &b"hi\n"[..], &b"err\n"[..])
        );
    }

    #[test]
    fn timeout_kills() {
        let t = Instant::now();
        let e = SystemRunner.run(&spec("sleep", &["10"], 100)).unwrap_err();
        assert!(matches!(e, CommandError::TimedOut { .. }), "{e}");
        assert!(t.elapsed() < Duration::from_secs(5));
    }

    /// The end of the output is when the exit is looked for; a child that closes its output
    /// early is still waited for, and still killed at the deadline.
    #[test]
    fn output_closed_before_the_exit() {
        let late_exit = spec("sh", &["-c", "echo hi; exec >&-; sleep 0.3; exit 4"], 5000);
        let out = SystemRunner.run(&late_exit).unwrap();
        assert_eq!((out.status, out.stdout.as_slice()), (Some(4), &b"hi\n"[..]));
        let hangs = spec("sh", &["-c", "exec >&- 2>&-; exec sleep 10"], 300);
        let e = SystemRunner.run(&hangs).unwrap_err();
        assert!(matches!(e, CommandError::TimedOut { .. }), "{e}");
    }
}
