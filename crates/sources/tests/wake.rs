//! The wake sources for real: the kernel's proc connector (as root, on this host), inotify on
//! a temp-dir root, and logind's signals over a private `dbus-daemon`.
//!
//! Every wait is bounded; a source that cannot run here (not root, a container, no audit
//! support, no `dbus-daemon`) is skipped with a notice, which under `CI=true` is a failure
//! (`linmgmt_test_support::skip`).

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use linmgmt_sources::Root;
use linmgmt_sources::wake::{Interest, ProcEventKind, Wake, WakeOptions, Wakers};
use linmgmt_test_support::dbus::{MockLogind, PrivateBus};
use linmgmt_test_support::skip;

/// Room for every process event of a busy host during a test.
const QUEUE: usize = 16 * 1024;

fn channel() -> (SyncSender<Wake>, Receiver<Wake>) {
    sync_channel(QUEUE)
}

/// The first wake within `within` that `pred` accepts, skipping others.
fn expect(rx: &Receiver<Wake>, within: Duration, what: &str, pred: impl Fn(&Wake) -> bool) -> Wake {
    let deadline = Instant::now() + within;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(w) if pred(&w) => return w,
            Ok(w) => {
                if seen.len() < 20 {
                    seen.push(w);
                }
            }
            Err(e) => panic!("no {what} within {within:?} ({e:?}); saw {seen:?}"),
        }
    }
}

/// Every wake that arrives within `within`.
fn collect(rx: &Receiver<Wake>, within: Duration) -> Vec<Wake> {
    let deadline = Instant::now() + within;
    let mut out = Vec::new();
    while let Ok(w) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        out.push(w);
    }
    out
}

/// Drops the wakers, which must not block, and checks that every thread let go of its sender
/// soon after (they notice the stop within about a second).
fn stop(wakers: Wakers, rx: &Receiver<Wake>) {
    let started = Instant::now();
    drop(wakers);
    let took = started.elapsed();
    assert!(took < Duration::from_millis(500), "drop took {took:?}");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(_) => continue,
            Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => panic!("a wake thread still runs 5 s after drop"),
        }
    }
    eprintln!(
        "drop took {took:?}; threads ended {:?} after it",
        started.elapsed()
    );
}

// ---------------------------------------------------------------------------------------
// proc connector

fn own_session() -> Option<u32> {
    let text = fs::read_to_string("/proc/self/sessionid").ok()?;
    text.trim().parse().ok().filter(|&s| s != u32::MAX)
}

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// Starts the proc connector with `interest`; `None` (after a [`skip`] notice, a failure
/// under CI) where it cannot run: not root, or a container whose namespaces the kernel does
/// not answer. As root on a host any other failure is a test failure.
fn proc_wakers(interest: Interest) -> Option<(Wakers, Arc<RwLock<Interest>>, Receiver<Wake>)> {
    let (tx, rx) = channel();
    let interest = Arc::new(RwLock::new(interest));
    let options = WakeOptions {
        proc_connector: true,
        ..WakeOptions::default()
    };
    let wakers = Wakers::start(&Root::host(), &options, interest.clone(), tx);
    if let Some(why) = wakers.unavailable().first() {
        let expected = !is_root()
            || why.contains("did not acknowledge")
            || why.contains("not supported")
            || why.contains("not permitted");
        assert!(expected, "as root: {why}");
        if is_root() {
            skip(&format!(
                "{why} (the kernel does not answer the proc connector in this container: \
                 run the tests on a host or VM)"
            ));
        } else {
            skip(&format!(
                "{why} (the proc connector needs root: run the tests as root, as .ci/run does)"
            ));
        }
        return None;
    }
    assert_eq!(wakers.active(), ["process events"]);
    Some((wakers, interest, rx))
}

#[test]
fn proc_connector_reports_a_child() {
    let Some((wakers, _, rx)) = proc_wakers(Interest {
        all_processes: true,
        ..Interest::default()
    }) else {
        return;
    };
    let mut child = Command::new("/bin/true").spawn().expect("spawn /bin/true");
    let pid = child.id();
    child.wait().expect("wait");
    let wake = expect(
        &rx,
        Duration::from_secs(3),
        "exec or exit of the child",
        |w| {
            matches!(w, Wake::Process(e) if e.pid == pid
            && matches!(e.kind, ProcEventKind::Exec | ProcEventKind::Exit))
        },
    );
    eprintln!("{wake:?}");
    stop(wakers, &rx);
}

#[test]
fn proc_connector_forks_of_a_listener_and_exits_of_members() {
    let me = std::process::id();
    let Some((wakers, interest, rx)) = proc_wakers(Interest {
        parents: [me].into_iter().collect(),
        ..Interest::default()
    }) else {
        return;
    };
    let mut child = Command::new("/bin/sleep")
        .arg("0.5")
        .spawn()
        .expect("spawn sleep");
    let pid = child.id();
    let fork = expect(
        &rx,
        Duration::from_secs(3),
        "the fork",
        |w| matches!(w, Wake::Process(e) if e.pid == pid && e.kind == ProcEventKind::Fork),
    );
    let Wake::Process(fork) = fork else {
        unreachable!()
    };
    assert_eq!(fork.parent, Some(me));
    assert_eq!(fork.session, own_session());
    // Now its exit matters, and forks of this process no longer do.
    *interest.write().unwrap() = Interest {
        pids: [pid].into_iter().collect(),
        ..Interest::default()
    };
    child.wait().expect("wait");
    let exit = expect(
        &rx,
        Duration::from_secs(3),
        "the exit",
        |w| matches!(w, Wake::Process(e) if e.pid == pid && e.kind == ProcEventKind::Exit),
    );
    assert_eq!(
        exit,
        Wake::Process(linmgmt_sources::wake::ProcEvent {
            kind: ProcEventKind::Exit,
            pid,
            parent: Some(me),
            session: None,
        })
    );
    stop(wakers, &rx);
}

#[test]
fn proc_connector_ignores_a_known_session() {
    // With an unset session (a test run outside any login) the child has none either, which is
    // not news as well; `new_audit_session_is_news` covers a set one.
    let Some((wakers, _, rx)) = proc_wakers(Interest {
        session_ids: own_session().into_iter().collect(),
        ..Interest::default()
    }) else {
        return;
    };
    let mut child = Command::new("/bin/true").spawn().expect("spawn /bin/true");
    let pid = child.id();
    child.wait().expect("wait");
    let wakes = collect(&rx, Duration::from_millis(1500));
    let about_child: Vec<_> = wakes
        .iter()
        .filter(|w| matches!(w, Wake::Process(e) if e.pid == pid))
        .collect();
    assert!(about_child.is_empty(), "{about_child:?}");
    stop(wakers, &rx);
}

/// A shell that starts a new audit session (writing its loginuid, as pam_loginuid does),
/// prints its id, waits for a line on stdin and then runs `then`. `None` (after a [`skip`]
/// notice, a failure under CI) when the kernel has no audit support or refuses (not root).
fn new_audit_session(then: &str) -> Option<(std::process::Child, u32)> {
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg(format!(
            "echo 0 > /proc/self/loginuid && cat /proc/self/sessionid && echo && read x && {then}"
        ))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn sh");
    let mut line = String::new();
    let read = BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line);
    match line.trim().parse::<u32>() {
        Ok(s) if read.is_ok() && s != u32::MAX => Some((child, s)),
        _ => {
            let _ = child.kill();
            let _ = child.wait();
            skip(
                "cannot start an audit session here: writing /proc/self/loginuid failed or \
                 /proc/self/sessionid is unset (a kernel without CONFIG_AUDIT, or not root)",
            );
            None
        }
    }
}

#[test]
fn new_audit_session_is_news_and_then_known() {
    if !is_root() {
        skip("a new audit session needs root: run the tests as root, as .ci/run does");
        return;
    }
    let Some((wakers, interest, rx)) = proc_wakers(Interest {
        session_ids: own_session().into_iter().collect(),
        ..Interest::default()
    }) else {
        return;
    };
    // Unknown: the exec in the new session wakes.
    let Some((mut child, session)) = new_audit_session("exec /bin/sleep 0.5") else {
        return;
    };
    let pid = child.id();
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"go\n")
        .unwrap();
    let exec = expect(
        &rx,
        Duration::from_secs(3),
        "the exec in the new session",
        |w| matches!(w, Wake::Process(e) if e.pid == pid && e.kind == ProcEventKind::Exec),
    );
    assert!(
        matches!(&exec, Wake::Process(e) if e.session == Some(session)),
        "{exec:?} in session {session}"
    );
    child.wait().expect("wait");

    // Known: once the session is in the interest, its execs are not news.
    let Some((mut child, session)) = new_audit_session("exec /bin/sleep 0.5") else {
        return;
    };
    let pid = child.id();
    interest.write().unwrap().session_ids.insert(session);
    // The cat that printed the id ran before the session was known; let its events pass.
    collect(&rx, Duration::from_millis(500));
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"go\n")
        .unwrap();
    child.wait().expect("wait");
    let wakes = collect(&rx, Duration::from_millis(1500));
    let about_child: Vec<_> = wakes
        .iter()
        .filter(|w| matches!(w, Wake::Process(e) if e.pid == pid))
        .collect();
    assert!(about_child.is_empty(), "{about_child:?}");
    stop(wakers, &rx);
}

#[test]
fn proc_connector_only_on_the_host_root() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (tx, rx) = channel();
    let options = WakeOptions {
        proc_connector: true,
        ..WakeOptions::default()
    };
    let wakers = Wakers::start(&Root::new(dir.path()), &options, Arc::default(), tx);
    assert!(wakers.active().is_empty());
    assert_eq!(wakers.unavailable().len(), 1);
    assert!(
        wakers.unavailable()[0].starts_with("process events: only for the real host"),
        "{:?}",
        wakers.unavailable()
    );
    stop(wakers, &rx);
}

// ---------------------------------------------------------------------------------------
// inotify

fn file_wake(path: &str) -> impl Fn(&Wake) -> bool + '_ {
    move |w| *w == Wake::File(PathBuf::from(path))
}

fn append(path: &Path, bytes: &[u8]) {
    let mut f = fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .expect("open");
    f.write_all(bytes).expect("write");
}

#[test]
fn files_changed_replaced_and_appearing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = dir.path();
    fs::create_dir_all(base.join("run/systemd/sessions")).unwrap();
    fs::write(base.join("run/utmp"), b"first").unwrap();
    let (tx, rx) = channel();
    let options = WakeOptions {
        paths: vec![
            "run/utmp".into(),
            "var/log/wtmp".into(),
            "run/systemd/sessions".into(),
        ],
        ..WakeOptions::default()
    };
    let wakers = Wakers::start(&Root::new(base), &options, Arc::default(), tx);
    assert_eq!(wakers.active(), ["/run/utmp", "/run/systemd/sessions"]);
    assert!(
        wakers.unavailable().is_empty(),
        "{:?}",
        wakers.unavailable()
    );
    let within = Duration::from_secs(3);

    // A write.
    append(&base.join("run/utmp"), b"more");
    expect(&rx, within, "run/utmp written", file_wake("run/utmp"));

    // Replaced by a rename, as utmp writers and logind do; then the new file is written.
    fs::write(base.join("run/utmp.new"), b"replaced").unwrap();
    fs::rename(base.join("run/utmp.new"), base.join("run/utmp")).unwrap();
    expect(&rx, within, "run/utmp replaced", file_wake("run/utmp"));
    // Long enough for the re-arming tick; then only the new watch can see the next write.
    collect(&rx, Duration::from_millis(1300));
    append(&base.join("run/utmp"), b"again");
    expect(
        &rx,
        within,
        "the new run/utmp written",
        file_wake("run/utmp"),
    );

    // Replaced while the old file is still open somewhere: the kernel says nothing about the
    // old inode until it is closed, so the lookup by name must notice.
    let held = fs::File::open(base.join("run/utmp")).unwrap();
    fs::write(base.join("run/utmp.new"), b"replaced twice").unwrap();
    fs::rename(base.join("run/utmp.new"), base.join("run/utmp")).unwrap();
    expect(
        &rx,
        within,
        "run/utmp replaced (old one held)",
        file_wake("run/utmp"),
    );
    collect(&rx, Duration::from_millis(1300));
    append(&base.join("run/utmp"), b"and again");
    expect(
        &rx,
        within,
        "the third run/utmp written",
        file_wake("run/utmp"),
    );
    drop(held);

    // A path that did not exist at the start.
    fs::create_dir_all(base.join("var/log")).unwrap();
    fs::write(base.join("var/log/wtmp"), b"").unwrap();
    expect(
        &rx,
        Duration::from_millis(2500),
        "var/log/wtmp appearing",
        file_wake("var/log/wtmp"),
    );
    collect(&rx, Duration::from_millis(200));
    append(&base.join("var/log/wtmp"), b"record");
    expect(
        &rx,
        within,
        "var/log/wtmp written",
        file_wake("var/log/wtmp"),
    );

    // A file created in a watched directory.
    fs::write(base.join("run/systemd/sessions/7"), b"STATE=active\n").unwrap();
    expect(
        &rx,
        within,
        "a session file created",
        file_wake("run/systemd/sessions"),
    );

    // One wake per path per batch: many writes in a row are usually one wake. How many
    // batches there are depends on scheduling (a loaded machine may run the thread between
    // every two events), so only the count is shown.
    collect(&rx, Duration::from_millis(200));
    for _ in 0..50 {
        append(&base.join("run/utmp"), b"x");
    }
    let burst = collect(&rx, Duration::from_millis(500));
    assert!(!burst.is_empty());
    assert!(
        burst.iter().all(|w| *w == Wake::File("run/utmp".into())),
        "{burst:?}"
    );
    eprintln!("{} wakes for 50 writes", burst.len());

    // A deleted file is a change, and so is its return.
    fs::remove_file(base.join("var/log/wtmp")).unwrap();
    expect(
        &rx,
        within,
        "var/log/wtmp deleted",
        file_wake("var/log/wtmp"),
    );
    fs::write(base.join("var/log/wtmp"), b"back").unwrap();
    expect(&rx, within, "var/log/wtmp back", file_wake("var/log/wtmp"));

    stop(wakers, &rx);
}

#[test]
fn files_none_exist_yet() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (tx, rx) = channel();
    let options = WakeOptions {
        paths: vec!["proc/fs/nfsd/clients".into()],
        ..WakeOptions::default()
    };
    let wakers = Wakers::start(&Root::new(dir.path()), &options, Arc::default(), tx);
    assert!(wakers.active().is_empty(), "{:?}", wakers.active());
    assert!(
        wakers.unavailable().is_empty(),
        "{:?}",
        wakers.unavailable()
    );
    fs::create_dir_all(dir.path().join("proc/fs/nfsd/clients")).unwrap();
    expect(
        &rx,
        Duration::from_millis(2500),
        "the directory appearing",
        file_wake("proc/fs/nfsd/clients"),
    );
    fs::create_dir(dir.path().join("proc/fs/nfsd/clients/5")).unwrap();
    expect(
        &rx,
        Duration::from_secs(3),
        "a client directory",
        file_wake("proc/fs/nfsd/clients"),
    );
    stop(wakers, &rx);
}

// ---------------------------------------------------------------------------------------
// logind over D-Bus

#[test]
fn logind_signals() {
    let Some(bus) = PrivateBus::start() else {
        return;
    };
    let logind = MockLogind::serve(bus.address(), Vec::new());
    let (tx, rx) = channel();
    let options = WakeOptions {
        logind_bus: Some(bus.address().to_string()),
        ..WakeOptions::default()
    };
    let wakers = Wakers::start(&Root::host(), &options, Arc::default(), tx);
    assert_eq!(wakers.active(), ["logind signals"]);
    assert!(
        wakers.unavailable().is_empty(),
        "{:?}",
        wakers.unavailable()
    );
    let within = Duration::from_secs(3);

    logind.session_new("7");
    assert_eq!(
        expect(&rx, within, "SessionNew", |_| true),
        Wake::Logind {
            new: true,
            id: "7".into()
        }
    );
    logind.session_removed("7");
    assert_eq!(
        expect(&rx, within, "SessionRemoved", |_| true),
        Wake::Logind {
            new: false,
            id: "7".into()
        }
    );

    // The same signal from someone who is not logind is not listened to.
    let impostor =
        zbus::block_on(zbus::connection::Builder::address(bus.address()).build()).expect("connect");
    let path = zbus::OwnedObjectPath::try_from("/org/freedesktop/login1/session/_399").unwrap();
    zbus::block_on(impostor.emit_signal(
        None::<&str>,
        "/org/freedesktop/login1",
        "org.freedesktop.login1.Manager",
        "SessionNew",
        &("99", path),
    ))
    .expect("emit");
    logind.session_new("c8");
    assert_eq!(
        expect(&rx, within, "SessionNew c8", |_| true),
        Wake::Logind {
            new: true,
            id: "c8".into()
        },
        "the impostor's signal came first"
    );
    let rest = collect(&rx, Duration::from_millis(300));
    assert!(rest.is_empty(), "{rest:?}");
    stop(wakers, &rx);
}

#[test]
fn logind_without_a_bus() {
    let (tx, rx) = channel();
    let options = WakeOptions {
        logind_bus: Some("unix:path=/nonexistent/linmgmt/bus".into()),
        ..WakeOptions::default()
    };
    let wakers = Wakers::start(&Root::host(), &options, Arc::default(), tx);
    assert!(wakers.active().is_empty());
    assert_eq!(
        wakers.unavailable(),
        ["logind signals: no D-Bus daemon at unix:path=/nonexistent/linmgmt/bus"]
    );
    stop(wakers, &rx);
}

#[test]
fn logind_bus_that_goes_away() {
    let Some(bus) = PrivateBus::start() else {
        return;
    };
    let (tx, rx) = channel();
    let options = WakeOptions {
        logind_bus: Some(bus.address().to_string()),
        ..WakeOptions::default()
    };
    let wakers = Wakers::start(&Root::host(), &options, Arc::default(), tx);
    assert_eq!(wakers.active(), ["logind signals"]);
    drop(bus);
    // Signals are lost from now on: the watcher hears it once, and the thread ends.
    assert_eq!(
        expect(&rx, Duration::from_secs(3), "an overrun", |_| true),
        Wake::Overrun
    );
    stop(wakers, &rx);
}
