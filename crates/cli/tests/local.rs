//! The local socket on this host, for real: `linmgmt serve` (as root, on `/`) with its live
//! model, and `linmgmt query`/`get` answered through the socket, compared with `--direct`;
//! a plain user sent back to a direct scan; junk on the socket; the reconciliation of the
//! live process table under process churn; SIGTERM removing the socket.
//!
//! `watch` through the socket and in its own process see the same events; errors are relayed
//! alike. Root only (the live model and the socket serve root); skipped otherwise, which fails
//! under `CI=true`. The sessions compared are the host's own (the live harness compares
//! real ssh and Samba sessions the same way).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{TempDir, add_user};

/// The binary on the host (no `--instances`), with no config file.
fn host_linmgmt() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_linmgmt"));
    c.env("LINMGMT_CONFIG", "/dev/null")
        .env_remove("LINMGMT_LOG")
        .env_remove("TZ")
        .env_remove("LINMGMT_SMBSTATUS")
        .env_remove("LINMGMT_SSHD_LOG");
    c
}

struct Serve {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

impl Serve {
    fn start(dir: &Path, socket: &Path) -> Serve {
        let users = dir.join("users");
        add_user(&users, "lmadmin", "pw", "admin");
        let mut child = host_linmgmt()
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--reconcile-interval",
                "1",
                "--metrics-listen",
                "127.0.0.1:0",
            ])
            .arg("--users")
            .arg(&users)
            .arg("--socket")
            .arg(socket)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let lines = BufReader::new(child.stderr.take().unwrap());
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in lines.lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let serve = Serve { child, log };
        assert!(
            serve.wait_for(|l| l.contains("metrics on http"), 1),
            "serve did not start: {:?}",
            serve.lines()
        );
        serve
    }

    fn lines(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    fn count(&self, what: impl Fn(&str) -> bool) -> usize {
        self.lines().iter().filter(|l| what(l)).count()
    }

    /// Waits (at most 20 s) until `n` log lines match.
    fn wait_for(&self, what: impl Fn(&str) -> bool, n: usize) -> bool {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if self.count(&what) >= n {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run(socket: &Path, args: &[&str], uid: Option<u32>) -> Output {
    let mut c = host_linmgmt();
    c.env("LINMGMT_SOCKET", socket).args(args);
    if let Some(uid) = uid {
        c.uid(uid).gid(uid).current_dir("/");
    }
    c.output().unwrap()
}

fn text(o: &Output) -> (String, String, Option<i32>) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
        o.status.code(),
    )
}

/// Sends raw bytes to the socket and reads the answer.
fn raw(socket: &Path, bytes: &[u8]) -> String {
    let mut s = UnixStream::connect(socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let _ = s.write_all(bytes);
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    answer
}

fn is_root() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        == Some("0")
}

#[test]
fn socket_answers_equal_direct_scans() {
    if !is_root() {
        linmgmt_test_support::skip("the local socket serves root on the real host");
        return;
    }
    let dir = TempDir::new("local");
    let socket: PathBuf = dir.0.join("linmgmt.sock");
    let mut serve = Serve::start(&dir.0, &socket);
    assert!(
        serve.wait_for(|l| l.contains("local queries on"), 1),
        "{:?}",
        serve.lines()
    );
    let answered = |s: &Serve| s.count(|l| l.contains("local: uid 0 answered"));

    // Answers that do not move between two runs, through the socket and scanned here.
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let group_path = format!("Win32_Group.Domain=\"{}\",Name=\"root\"", host.trim());
    let cases: Vec<Vec<&str>> = vec![
        vec![
            "query",
            "SELECT Name, SID, Domain FROM Win32_Group",
            "--format",
            "json",
        ],
        vec![
            "query",
            "SELECT Name, SID FROM Win32_UserAccount WHERE SID LIKE 'S-1-22-1-0'",
            "--format",
            "csv",
        ],
        vec![
            "query",
            "SELECT LogonId, LogonType, StartTime FROM Win32_LogonSession WHERE LogonId = '0'",
            "--format",
            "xml",
        ],
        vec!["get", &group_path],
        vec!["query", "SELECT * FROM Win32_Nope"],
        vec!["query", "SELECT Name FROM Win32_Group WHERE"],
        vec!["query", "SELECT Name FROM Win32_Group", "--associators"],
        vec![
            "--namespace",
            "root/nope",
            "query",
            "SELECT * FROM Win32_Group",
        ],
    ];
    for (i, args) in cases.iter().enumerate() {
        let via_socket = text(&run(&socket, args, None));
        let mut direct_args = args.clone();
        direct_args.push("--direct");
        let direct = text(&run(&socket, &direct_args, None));
        assert_eq!(via_socket, direct, "{args:?}");
        assert!(
            serve.wait_for(|l| l.contains("local: uid 0 answered"), i + 1),
            "{args:?} was answered by the server: {:?}",
            serve.lines()
        );
    }
    let exit_codes: Vec<_> = cases
        .iter()
        .map(|a| run(&socket, a, None).status.code())
        .collect();
    assert_eq!(
        exit_codes,
        [
            Some(0),
            Some(0),
            Some(0),
            Some(0),
            Some(1),
            Some(1),
            Some(2),
            Some(1)
        ]
    );

    // `watch` through the socket and in this process see the same events.
    // The pattern does not match the watchers' own command lines, which hold it.
    let marker = format!("linmgmt-local-{}", std::process::id());
    let wql = format!(
        "SELECT * FROM __InstanceCreationEvent WITHIN 1 WHERE TargetInstance ISA \
         'Win32_Process' AND TargetInstance.CommandLine LIKE '%linmgmt[-]local-{}%'",
        std::process::id()
    );
    let watcher = |direct: bool| {
        let mut c = host_linmgmt();
        c.env("LINMGMT_SOCKET", &socket)
            .args(["watch", &wql, "--count", "2", "--format", "json"]);
        if direct {
            c.arg("--direct");
        }
        let mut child = c
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut err = BufReader::new(child.stderr.take().unwrap());
        let mut first = String::new();
        err.read_line(&mut first).unwrap();
        assert!(first.starts_with("watching: "), "{first}");
        child
    };
    let followers = serve.count(|l| l.contains("local: uid 0 follows events"));
    let (via_socket, direct) = (watcher(false), watcher(true));
    assert!(serve.wait_for(|l| l.contains("local: uid 0 follows events"), followers + 1));
    for _ in 0..2 {
        let ok = Command::new("sh")
            .args(["-c", "sleep 0.3", &marker])
            .status()
            .unwrap();
        assert!(ok.success());
    }
    let handles = |child: Child| {
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0));
        let mut handles: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                v["TargetInstance"]["Handle"].as_str().unwrap().to_owned()
            })
            .collect();
        handles.sort();
        handles
    };
    let (a, b) = (handles(via_socket), handles(direct));
    assert_eq!(a.len(), 2, "{a:?}");
    assert_eq!(a, b);
    let bad = [
        "watch",
        "SELECT * FROM __InstanceCreationEvent WITHIN 1 WHERE TargetInstance ISA 'Win32_Nope'",
    ];
    let via_socket = text(&run(&socket, &bad, None));
    let mut direct_args = bad.to_vec();
    direct_args.push("--direct");
    assert_eq!(via_socket, text(&run(&socket, &direct_args, None)));
    assert_eq!(via_socket.2, Some(1));

    // A plain user is sent back to a direct scan: the same answer as their own scan.
    let nobody = 65534;
    let before = serve.count(|l| l.contains(&format!("local: uid {nobody} is not served")));
    let args = [
        "query",
        "SELECT Name, SID FROM Win32_Group",
        "--format",
        "csv",
    ];
    let theirs = text(&run(&socket, &args, Some(nobody)));
    let mut direct_args = args.to_vec();
    direct_args.push("--direct");
    assert_eq!(theirs, text(&run(&socket, &direct_args, Some(nobody))));
    assert_eq!(theirs.2, Some(0), "{theirs:?}");
    assert!(serve.wait_for(
        |l| l.contains(&format!("local: uid {nobody} is not served")),
        before + 1
    ));

    // Junk is answered "scan yourself", and the server goes on.
    let answered_before = answered(&serve);
    for junk in [
        &b""[..],
        b"{",
        b"\xff\xfe\x00garbage",
        br#"{"linmgmt_local": 1, "command": {"shell": {"cmd": "id"}}}"#,
        &vec![b'x'; 100 * 1024],
    ] {
        let answer = raw(&socket, junk);
        assert!(answer.contains("\"direct\":true"), "{answer}");
    }
    let ok = text(&run(&socket, &cases[0], None));
    assert_eq!(ok.2, Some(0));
    assert!(answered(&serve) > answered_before);

    // A burst of short processes: every reconciliation finds nothing to correct.
    let reconciled = |l: &str| l.contains("reconciled the process table");
    let rounds = serve.count(reconciled);
    let mut burst = Command::new("sh")
        .args([
            "-c",
            "i=0; while [ $i -lt 3000 ]; do /bin/true; i=$((i+1)); done",
        ])
        .spawn()
        .unwrap();
    assert!(burst.wait().unwrap().success());
    assert!(
        serve.wait_for(reconciled, rounds + 3),
        "{:?}",
        serve.lines()
    );
    let corrections: Vec<String> = (serve.lines().into_iter())
        .filter(|l| {
            l.contains("table correction:") || (reconciled(l) && !l.contains(" 0 corrections"))
        })
        .collect();
    assert!(corrections.is_empty(), "{corrections:#?}");

    // The metrics count the reconciliations and their corrections.
    let metrics_line = (serve.lines().into_iter())
        .find(|l| l.contains("metrics on http://"))
        .unwrap();
    let address = metrics_line
        .split("metrics on http://")
        .nth(1)
        .and_then(|rest| rest.strip_suffix("/metrics"))
        .unwrap()
        .to_owned();
    let mut http = std::net::TcpStream::connect(&address).unwrap();
    http.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut page = String::new();
    http.read_to_string(&mut page).unwrap();
    let figure = |name: &str| -> Option<u64> {
        page.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
    };
    let rounds = figure("linmgmt_process_table_reconciliations_total");
    assert!(rounds.is_some_and(|n| n >= 3), "{page}");
    assert_eq!(
        figure("linmgmt_process_table_corrections_total"),
        Some(0),
        "{page}"
    );

    // SIGTERM: exit 0, and the socket is gone; clients scan directly again.
    let signalled = Command::new("kill")
        .args(["-TERM", &serve.child.id().to_string()])
        .status()
        .unwrap();
    assert!(signalled.success());
    let status = serve.child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{:?}", serve.lines());
    assert!(!socket.exists(), "the socket is removed at exit");
    assert_eq!(text(&run(&socket, &cases[0], None)).2, Some(0));
}
