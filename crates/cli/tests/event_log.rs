//! The security event log on a fixture root that changes: `linmgmt watch --format
//! ocsf|ecs`, and `linmgmt serve --event-log` across restarts (what happened while it was
//! stopped is written once, nothing is repeated) and a rotation (SIGHUP reopens the file).

use linmgmt_test_support::{FixtureRoot, pty_logins, pty_logins_in as logins};
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const LOGONS: &str = "SELECT * FROM __InstanceOperationEvent WITHIN 600 \
                      WHERE TargetInstance ISA 'Win32_LogonSession'";

fn linmgmt(root: &FixtureRoot) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_linmgmt"));
    c.arg("--root").arg(root.root().dir());
    c
}

/// Lines from a child's pipe, on a channel (so that a test cannot hang on them).
fn lines_of(pipe: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn next_line(rx: &mpsc::Receiver<String>, what: &str) -> String {
    rx.recv_timeout(Duration::from_secs(20))
        .unwrap_or_else(|_| panic!("{what} within 20 s (the poll is 600 s)"))
}

fn json(line: &str) -> Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"))
}

#[test]
fn watch_writes_ocsf_and_ecs_lines() {
    let live = pty_logins(0).build();
    let start = |format: &str| {
        let mut child = linmgmt(&live)
            .args(["watch", LOGONS, "--format", format, "--count", "2"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("watch");
        let mut err = BufReader::new(child.stderr.take().expect("stderr"));
        let mut first = String::new();
        err.read_line(&mut first).expect("stderr");
        assert!(first.starts_with("watching: "), "{first}");
        let out = lines_of(child.stdout.take().expect("stdout"));
        (child, out)
    };
    let (mut ocsf, ocsf_lines) = start("ocsf");
    let (mut ecs, ecs_lines) = start("ecs");
    live.change_to(&pty_logins(1).build());
    let logon = json(&next_line(&ocsf_lines, "an OCSF logon"));
    assert_eq!(logon["class_uid"], 3002);
    assert_eq!(logon["category_uid"], 3);
    assert_eq!(logon["activity_id"], 1);
    assert_eq!(logon["type_uid"], 300201);
    assert_eq!(logon["logon_type_id"], 10);
    assert_eq!(logon["user"]["name"], "alice");
    assert_eq!(logon["user"]["uid"], "1001");
    assert_eq!(logon["session"]["uid"], "2");
    assert_eq!(logon["session"]["terminal"], "pts/0");
    assert_eq!(logon["src_endpoint"]["ip"], "10.0.0.5");
    assert_eq!(logon["service"]["name"], "sshd");
    assert_eq!(logon["is_remote"], true);
    assert_eq!(logon["metadata"]["version"], "1.8.0");
    assert_eq!(logon["metadata"]["product"]["name"], "linmgmt");
    assert!(
        logon["metadata"].get("sequence").is_none(),
        "watch numbers nothing"
    );
    let start_ecs = json(&next_line(&ecs_lines, "an ECS logon"));
    assert_eq!(
        start_ecs["event"]["category"],
        serde_json::json!(["authentication", "session"])
    );
    assert_eq!(start_ecs["event"]["type"], serde_json::json!(["start"]));
    assert_eq!(start_ecs["user"]["name"], "alice");
    assert_eq!(start_ecs["source"]["ip"], "10.0.0.5");
    assert_eq!(start_ecs["ecs"]["version"], "9.4.0");
    assert!(
        start_ecs["@timestamp"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    live.change_to(&pty_logins(0).build());
    let logoff = json(&next_line(&ocsf_lines, "an OCSF logoff"));
    assert_eq!(logoff["activity_id"], 2);
    assert_eq!(logoff["type_uid"], 300202);
    assert_eq!(logoff["session"]["uid"], "2");
    let end = json(&next_line(&ecs_lines, "an ECS logoff"));
    assert_eq!(end["event"]["type"], serde_json::json!(["end"]));
    assert_eq!(end["event"]["action"], "logged-out");
    assert!(ocsf.wait().expect("exit").success());
    assert!(ecs.wait().expect("exit").success());
}

#[test]
fn the_log_formats_are_for_session_events_only() {
    let live = pty_logins(0).build();
    let cases = [
        (
            "watch",
            "SELECT * FROM __InstanceCreationEvent WITHIN 5 WHERE TargetInstance ISA 'Win32_Process'",
            "ocsf",
            "watch Win32_LogonSession or Win32_ServerSession",
        ),
        (
            "watch",
            "SELECT * FROM __InstanceCreationEvent WITHIN 1 WHERE TargetInstance ISA 'Win32_LogonSession' GROUP WITHIN 60",
            "ecs",
            "GROUP WITHIN",
        ),
        (
            "watch",
            "SELECT * FROM __InstanceModificationEvent WITHIN 1 WHERE TargetInstance ISA 'Win32_LogonSession'",
            "ocsf",
            "a modification is neither",
        ),
        (
            "query",
            "SELECT * FROM Win32_LogonSession",
            "ocsf",
            "security event log format",
        ),
    ];
    for (command, wql, format, why) in cases {
        let o = (linmgmt(&live).args([command, wql, "--format", format]))
            .output()
            .expect("run");
        assert_eq!(o.status.code(), Some(2), "{wql}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(why), "{wql}: {err}");
    }
}

// --- serve --event-log ----------------------------------------------------------------

struct Serve {
    child: Child,
    log: mpsc::Receiver<String>,
}

impl Serve {
    /// Starts `serve --event-log`, and returns once the writer has compared its state with
    /// the host (its `event log: … sessions open` line).
    fn start(root: &FixtureRoot, dir: &Path, extra: &[&str]) -> Serve {
        let users = dir.join("users");
        if !users.exists() {
            let mut add = linmgmt(root)
                .args(["user", "add", "admin", "--role", "admin", "--users"])
                .arg(&users)
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("user add");
            writeln!(add.stdin.take().expect("stdin"), "Event-log-test-1").expect("password");
            assert!(add.wait().expect("user add").success());
        }
        let mut child = linmgmt(root)
            .args(["serve", "--listen", "127.0.0.1:0", "--users"])
            .arg(&users)
            .arg("--event-log")
            .arg(dir.join("events.json"))
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("serve");
        let log = lines_of(child.stderr.take().expect("stderr"));
        let serve = Serve { child, log };
        serve.wait_log("sessions open");
        serve
    }

    fn wait_log(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.log.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(_) => panic!("no log line with {needle:?} within 30 s"),
            }
        }
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// SIGTERM, as systemd stops it; the server must exit by itself.
    fn stop(mut self) {
        self.signal("TERM");
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("wait") {
                assert!(status.success(), "serve exited with {status}");
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("serve did not exit within 15 s of SIGTERM");
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `(sequence, activity, session uid, origin)` of each line of the log.
fn lines(path: &Path) -> Vec<(u64, u64, String, String)> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .map(|l| {
            let v = json(l);
            (
                v["metadata"]["sequence"].as_u64().expect("sequence"),
                v["activity_id"].as_u64().expect("activity"),
                v["session"]["uid"]
                    .as_str()
                    .expect("session uid")
                    .to_owned(),
                v["unmapped"]["origin"].as_str().expect("origin").to_owned(),
            )
        })
        .collect()
}

fn wait_lines(path: &Path, n: usize) -> Vec<(u64, u64, String, String)> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = lines(path);
        if got.len() >= n || Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn tmp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("linmgmt-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    dir
}

fn entry(seq: u64, activity: u64, uid: &str, origin: &str) -> (u64, u64, String, String) {
    (seq, activity, uid.to_owned(), origin.to_owned())
}

#[test]
fn serve_event_log_survives_restarts_and_rotation() {
    let dir = tmp_dir("event-log");
    let log = dir.join("events.json");
    let live = logins(&[]).build();
    // Start, log in, stop.
    let serve = Serve::start(&live, &dir, &[]);
    live.change_to(&logins(&[2]).build());
    assert_eq!(wait_lines(&log, 1), [entry(0, 1, "2", "live")]);
    serve.stop();
    // While it is stopped, session 2 logs out and session 3 logs in.
    live.change_to(&logins(&[3]).build());
    // Started again: exactly one logoff and one logon are added, nothing is repeated.
    let serve = Serve::start(&live, &dir, &[]);
    let want = vec![
        entry(0, 1, "2", "live"),
        entry(1, 2, "2", "missed"),
        entry(2, 1, "3", "open"),
    ];
    assert_eq!(lines(&log), want);
    serve.stop();
    // Nothing changed while stopped: nothing is added.
    let serve = Serve::start(&live, &dir, &[]);
    assert_eq!(lines(&log), want);
    assert!(dir.join(".events.json.state").exists());
    // Rotation: the file is renamed, SIGHUP opens a new one, and the next line goes there.
    let rotated = dir.join("events.json.1");
    std::fs::rename(&log, &rotated).expect("rename");
    serve.signal("HUP");
    serve.wait_log("reopened");
    live.change_to(&logins(&[]).build());
    assert_eq!(wait_lines(&log, 1), [entry(3, 2, "3", "live")]);
    assert_eq!(lines(&rotated), want, "the old file is left alone");
    // A second server on the same state is refused.
    let second = linmgmt(&live)
        .args(["serve", "--listen", "127.0.0.1:0", "--users"])
        .arg(dir.join("users"))
        .arg("--event-log")
        .arg(&log)
        .output()
        .expect("serve");
    assert!(!second.status.success());
    assert!(
        String::from_utf8_lossy(&second.stderr).contains("is locked"),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    serve.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn serve_event_log_in_ecs_to_stdout() {
    let dir = tmp_dir("event-log-ecs");
    let live = logins(&[2]).build();
    let users = dir.join("users");
    let mut add = linmgmt(&live)
        .args(["user", "add", "admin", "--role", "admin", "--users"])
        .arg(&users)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("user add");
    writeln!(add.stdin.take().expect("stdin"), "Event-log-test-2").expect("password");
    assert!(add.wait().expect("user add").success());
    let mut child = linmgmt(&live)
        .args(["serve", "--listen", "127.0.0.1:0", "--users"])
        .arg(&users)
        .args([
            "--event-log",
            "-",
            "--event-log-format",
            "ecs",
            "--event-log-state",
        ])
        .arg(dir.join("state"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve");
    let out = lines_of(child.stdout.take().expect("stdout"));
    // The session open at the first start is reported, as open.
    let first = json(&next_line(&out, "an ECS line"));
    assert_eq!(first["event"]["type"], serde_json::json!(["start"]));
    assert_eq!(first["event"]["sequence"], 0);
    assert_eq!(first["linmgmt"]["logon_id"], "2");
    assert_eq!(first["linmgmt"]["origin"], "open");
    assert!(first["event"]["reason"].is_string());
    live.change_to(&logins(&[]).build());
    let end = json(&next_line(&out, "an ECS logoff"));
    assert_eq!(end["event"]["type"], serde_json::json!(["end"]));
    assert_eq!(end["event"]["sequence"], 1);
    assert!(end["event"]["duration"].as_i64().is_some_and(|d| d > 0));
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
