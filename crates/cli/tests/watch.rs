//! `linmgmt watch` as a user runs it, on a fixture root that changes under it: the
//! `watching:` line on stderr once the baseline is taken, one event per line as logins
//! come and go, `--count`, the formats, and the errors.

use linmgmt_test_support::{FixtureRoot, pty_logins};
use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const LOGONS: &str = "SELECT * FROM __InstanceOperationEvent WITHIN 600 \
                      WHERE TargetInstance ISA 'Win32_LogonSession'";

/// A running `watch` whose stdout lines arrive on a channel (so a test cannot hang).
struct Watch {
    child: Child,
    lines: mpsc::Receiver<String>,
    description: String,
}

impl Watch {
    fn start(root: &FixtureRoot, args: &[&str]) -> Watch {
        let mut child = Command::new(env!("CARGO_BIN_EXE_linmgmt"))
            .arg("--root")
            .arg(root.root().dir())
            .arg("watch")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run linmgmt watch");
        // The baseline is taken when `watching:` is printed; changes before it are not news.
        let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
        let mut description = String::new();
        stderr.read_line(&mut description).expect("stderr line");
        assert!(description.starts_with("watching: "), "{description}");
        let stdout: ChildStdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Watch {
            child,
            lines,
            description,
        }
    }

    fn line(&self) -> String {
        self.lines
            .recv_timeout(Duration::from_secs(20))
            .expect("an event line within 20 s (the poll is 600 s)")
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn logins_and_logouts_stream_as_json_lines() {
    let live = pty_logins(0).build();
    let mut watch = Watch::start(&live, &[LOGONS, "--format", "json", "--count", "2"]);
    assert!(watch.description.contains("Win32_LogonSession"));
    assert!(watch.description.contains("/run/utmp"));
    assert!(watch.description.contains("polls every 600 s"));
    live.change_to(&pty_logins(1).build());
    let created: serde_json::Value = serde_json::from_str(&watch.line()).expect("json");
    assert_eq!(created["__CLASS"], "__InstanceCreationEvent");
    assert_eq!(created["__PATH"], serde_json::Value::Null);
    assert!(
        created["TIME_CREATED"]
            .as_u64()
            .is_some_and(|t| t > 116_444_736_000_000_000)
    );
    assert_eq!(created["TargetInstance"]["__CLASS"], "Win32_LogonSession");
    assert_eq!(created["TargetInstance"]["LogonId"], "2");
    assert_eq!(created["TargetInstance"]["LogonType"], 10);
    assert!(created.get("PreviousInstance").is_none());
    live.change_to(&pty_logins(0).build());
    let deleted: serde_json::Value = serde_json::from_str(&watch.line()).expect("json");
    assert_eq!(deleted["__CLASS"], "__InstanceDeletionEvent");
    assert_eq!(deleted["TargetInstance"]["LogonId"], "2");
    // --count 2: done.
    let status = watch.child.wait().expect("exit");
    assert!(status.success());
}

#[test]
fn table_and_list_formats() {
    let live = pty_logins(0).build();
    let table = Watch::start(&live, &[LOGONS, "--format", "table"]);
    let list = Watch::start(&live, &[LOGONS, "--format", "list"]);
    live.change_to(&pty_logins(1).build());
    let header = table.line();
    assert!(
        header.starts_with("TIME") && header.contains("DETAILS"),
        "{header}"
    );
    let row = table.line();
    assert!(
        row.contains(" created ") && row.contains("LogonId=\"2\""),
        "{row}"
    );
    assert!(row.contains("alice on pts/0"), "{row}");
    let mut block = Vec::new();
    loop {
        let l = list.line();
        if l.is_empty() {
            break;
        }
        block.push(l);
    }
    assert_eq!(block[0], "__CLASS=__InstanceCreationEvent");
    assert!(
        block.contains(&"TargetInstance.__CLASS=Win32_LogonSession".to_owned()),
        "{block:?}"
    );
    assert!(
        block.contains(&"TargetInstance.LogonId=2".to_owned()),
        "{block:?}"
    );
}

#[test]
fn errors_are_wmi_errors_or_usage_errors() {
    let live = pty_logins(0).build();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_linmgmt"))
            .arg("--root")
            .arg(live.root().dir())
            .args(args)
            .output()
            .expect("run")
    };
    let o = run(&[
        "watch",
        "SELECT * FROM __InstanceCreationEvent WHERE TargetInstance ISA 'Win32_LogonSession'",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.starts_with(
            "error: WBEMESS_E_REGISTRATION_TOO_PRECISE (0x80042002): WITHIN n is required"
        ),
        "{err}"
    );
    let o = run(&[
        "watch",
        "SELECT * FROM __InstanceCreationEvent WITHIN 5 WHERE TargetInstance ISA 'Win32_Nope'",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(
        lines[0],
        "error: WBEM_E_INVALID_CLASS (0x80041010): no class Win32_Nope in root/cimv2"
    );
    assert!(lines[2].trim_start().starts_with("^^^^^^^^^^^"), "{err}");
    let o = run(&["watch", LOGONS, "--format", "csv"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("table, list or json"));
}
