//! A private `dbus-daemon` and a mock `org.freedesktop.login1` on it, for testing the logind
//! D-Bus reader against a real bus.
//!
//! [`PrivateBus::start`] returns `None` (after printing a notice, see [`crate::skip`]) when
//! `dbus-daemon` is not installed, so tests skip cleanly; under `CI=true` that is a failure
//! instead (`.ci/run` installs it). The daemon listens on a socket in
//! a temp dir and is killed (by its pid) when the [`PrivateBus`] is dropped.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use zbus::OwnedObjectPath;

/// A `dbus-daemon` of our own, on a unix socket in a temp dir.
pub struct PrivateBus {
    child: Child,
    address: String,
    _dir: tempfile::TempDir,
}

impl PrivateBus {
    /// Starts one; `None` with a printed notice when `dbus-daemon` is not installed (a panic
    /// under `CI=true`, see [`crate::skip`]).
    pub fn start() -> Option<PrivateBus> {
        let dir = tempfile::Builder::new()
            .prefix("linmgmt-dbus")
            .tempdir()
            .expect("tempdir");
        let socket: PathBuf = dir.path().join("bus");
        let config = dir.path().join("bus.conf");
        std::fs::write(
            &config,
            format!(
                r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>custom</type>
  <listen>unix:path={}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
"#,
                socket.display()
            ),
        )
        .expect("write bus config");
        let spawned = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", config.display()))
            .args(["--nofork", "--print-address=1"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn();
        let mut child = match spawned {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                crate::skip(
                    "dbus-daemon is not installed (apt-get install dbus-daemon; .ci/run does)",
                );
                return None;
            }
            Err(e) => panic!("starting dbus-daemon: {e}"),
        };
        // It prints its address once it listens.
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read the bus address");
        assert!(
            line.starts_with("unix:"),
            "dbus-daemon printed {line:?} instead of an address"
        );
        Some(PrivateBus {
            child,
            address: format!("unix:path={}", socket.display()),
            _dir: dir,
        })
    }

    /// The bus address (`unix:path=…`).
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The daemon's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for PrivateBus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One session the mock logind serves, with the properties the reader asks for.
#[derive(Debug, Clone, Default)]
pub struct MockSession {
    /// `Id`.
    pub id: String,
    /// `User` (the uid) and `Name`.
    pub uid: u32,
    /// `Name`.
    pub name: String,
    /// `Timestamp`, µs since the epoch.
    pub timestamp_us: u64,
    /// `TTY`.
    pub tty: String,
    /// `Remote`.
    pub remote: bool,
    /// `RemoteHost`.
    pub remote_host: String,
    /// `RemoteUser`.
    pub remote_user: String,
    /// `Service`.
    pub service: String,
    /// `Leader`.
    pub leader: u32,
    /// `Audit`.
    pub audit: u32,
    /// `Type`.
    pub session_type: String,
    /// `Class`.
    pub class: String,
    /// `State`.
    pub state: String,
    /// `Seat` id (empty for none).
    pub seat: String,
    /// `IdleHint`.
    pub idle_hint: bool,
    /// `IdleSinceHint`, µs.
    pub idle_since_us: u64,
}

impl MockSession {
    /// logind's object path for the session: `_3X` escapes of each byte that is not
    /// alphanumeric, as `bus_label_escape` writes them.
    pub fn path(&self) -> String {
        let mut label = String::new();
        for (i, b) in self.id.bytes().enumerate() {
            if b.is_ascii_alphabetic() || (i > 0 && b.is_ascii_digit()) {
                label.push(b as char);
            } else {
                label.push_str(&format!("_{b:02x}"));
            }
        }
        format!("/org/freedesktop/login1/session/{label}")
    }
}

struct Manager {
    sessions: Vec<MockSession>,
}

#[zbus::interface(name = "org.freedesktop.login1.Manager")]
impl Manager {
    fn list_sessions(&self) -> Vec<(String, u32, String, String, OwnedObjectPath)> {
        self.sessions
            .iter()
            .map(|s| {
                (
                    s.id.clone(),
                    s.uid,
                    s.name.clone(),
                    s.seat.clone(),
                    OwnedObjectPath::try_from(s.path()).expect("path"),
                )
            })
            .collect()
    }
}

struct Session(MockSession);

#[zbus::interface(name = "org.freedesktop.login1.Session")]
impl Session {
    #[zbus(property, name = "Id")]
    fn id(&self) -> String {
        self.0.id.clone()
    }
    #[zbus(property, name = "User")]
    fn user(&self) -> (u32, OwnedObjectPath) {
        let path = format!("/org/freedesktop/login1/user/_{}", self.0.uid);
        (self.0.uid, OwnedObjectPath::try_from(path).expect("path"))
    }
    #[zbus(property, name = "Name")]
    fn name(&self) -> String {
        self.0.name.clone()
    }
    #[zbus(property, name = "Timestamp")]
    fn timestamp(&self) -> u64 {
        self.0.timestamp_us
    }
    #[zbus(property, name = "TimestampMonotonic")]
    fn timestamp_monotonic(&self) -> u64 {
        12_345_678
    }
    #[zbus(property, name = "VTNr")]
    fn vtnr(&self) -> u32 {
        0
    }
    #[zbus(property, name = "Seat")]
    fn seat(&self) -> (String, OwnedObjectPath) {
        let path = if self.0.seat.is_empty() {
            "/".to_string()
        } else {
            format!("/org/freedesktop/login1/seat/{}", self.0.seat)
        };
        (
            self.0.seat.clone(),
            OwnedObjectPath::try_from(path).expect("path"),
        )
    }
    #[zbus(property, name = "TTY")]
    fn tty(&self) -> String {
        self.0.tty.clone()
    }
    #[zbus(property, name = "Display")]
    fn display(&self) -> String {
        String::new()
    }
    #[zbus(property, name = "Remote")]
    fn remote(&self) -> bool {
        self.0.remote
    }
    #[zbus(property, name = "RemoteHost")]
    fn remote_host(&self) -> String {
        self.0.remote_host.clone()
    }
    #[zbus(property, name = "RemoteUser")]
    fn remote_user(&self) -> String {
        self.0.remote_user.clone()
    }
    #[zbus(property, name = "Service")]
    fn service(&self) -> String {
        self.0.service.clone()
    }
    #[zbus(property, name = "Desktop")]
    fn desktop(&self) -> String {
        String::new()
    }
    #[zbus(property, name = "Scope")]
    fn scope(&self) -> String {
        format!("session-{}.scope", self.0.id)
    }
    #[zbus(property, name = "Leader")]
    fn leader(&self) -> u32 {
        self.0.leader
    }
    #[zbus(property, name = "Audit")]
    fn audit(&self) -> u32 {
        self.0.audit
    }
    #[zbus(property, name = "Type")]
    fn session_type(&self) -> String {
        self.0.session_type.clone()
    }
    #[zbus(property, name = "Class")]
    fn class(&self) -> String {
        self.0.class.clone()
    }
    #[zbus(property, name = "Active")]
    fn active(&self) -> bool {
        self.0.state == "active"
    }
    #[zbus(property, name = "State")]
    fn state(&self) -> String {
        self.0.state.clone()
    }
    #[zbus(property, name = "IdleHint")]
    fn idle_hint(&self) -> bool {
        self.0.idle_hint
    }
    #[zbus(property, name = "IdleSinceHint")]
    fn idle_since_hint(&self) -> u64 {
        self.0.idle_since_us
    }
    #[zbus(property, name = "LockedHint")]
    fn locked_hint(&self) -> bool {
        false
    }
}

/// Serves `org.freedesktop.login1` with `sessions` on the bus at `address`, on a thread of
/// its own, and returns once the name is owned. The service lives until the bus goes away.
pub fn serve_mock_logind(address: &str, sessions: Vec<MockSession>) {
    // The service thread keeps its own connection; dropping the handle leaves it serving.
    drop(MockLogind::serve(address, sessions));
}

/// A mock logind that can also announce sessions, as the real one does with the `SessionNew`
/// and `SessionRemoved` signals of `org.freedesktop.login1.Manager`.
pub struct MockLogind {
    conn: zbus::Connection,
}

impl MockLogind {
    /// Serves `org.freedesktop.login1` with `sessions` on the bus at `address`, like
    /// [`serve_mock_logind`], and returns a handle that emits signals from the name's owner.
    pub fn serve(address: &str, sessions: Vec<MockSession>) -> MockLogind {
        let (tx, rx) = mpsc::channel();
        let address = address.to_string();
        std::thread::spawn(move || {
            zbus::block_on(async move {
                let mut builder = zbus::connection::Builder::address(address.as_str())
                    .name("org.freedesktop.login1")
                    .serve_at(
                        "/org/freedesktop/login1",
                        Manager {
                            sessions: sessions.clone(),
                        },
                    );
                for s in &sessions {
                    builder = builder.serve_at(s.path(), Session(s.clone()));
                }
                match builder.build().await {
                    Ok(conn) => {
                        tx.send(Ok(conn.clone())).expect("ready");
                        // Serve until the daemon is killed; the test process ends the thread.
                        std::future::pending::<()>().await;
                        drop(conn);
                    }
                    Err(e) => tx.send(Err(e.to_string())).expect("failed"),
                }
            });
        });
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(conn)) => MockLogind { conn },
            Ok(Err(e)) => panic!("mock logind: {e}"),
            Err(_) => panic!("mock logind did not start in 10 s"),
        }
    }

    /// Emits `SessionNew(id, path)`, as logind does when a session starts.
    pub fn session_new(&self, id: &str) {
        self.emit("SessionNew", id);
    }

    /// Emits `SessionRemoved(id, path)`, as logind does when a session ends.
    pub fn session_removed(&self, id: &str) {
        self.emit("SessionRemoved", id);
    }

    fn emit(&self, member: &str, id: &str) {
        let path = MockSession {
            id: id.to_string(),
            ..MockSession::default()
        }
        .path();
        let path = OwnedObjectPath::try_from(path).expect("path");
        zbus::block_on(self.conn.emit_signal(
            None::<&str>,
            "/org/freedesktop/login1",
            "org.freedesktop.login1.Manager",
            member,
            &(id, path),
        ))
        .unwrap_or_else(|e| panic!("emitting {member}: {e}"));
    }
}
