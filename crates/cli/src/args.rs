//! The command-line contract (see `shared/spec/design.md` §2): names, flags and help.

use clap::{Args, Parser, Subcommand};
use linmgmt_render::Format;
use linmgmt_server::Role;
use std::path::PathBuf;

const EXAMPLES: &str = "\
Examples:
  linmgmt
      Who is logged on: every logon and server session.
  linmgmt query \"SELECT * FROM Win32_LogonSession WHERE LogonType = 10\"
      Remote sessions with a terminal (ssh with a pty).
  linmgmt query \"SELECT ComputerName, UserName, IdleTime FROM Win32_ServerSession\" --format json
      Who is connected to this host, as JSON.
  linmgmt get 'Win32_LogonSession.LogonId=\"3\"'
      One session by its object path.
  linmgmt query \"SELECT * FROM meta_class WHERE __this ISA 'Win32_Session'\"
      Schema query: the session classes.
  linmgmt class Win32_ServerSession --mof
      A class definition as MOF.
  linmgmt classes --tree
      The class hierarchy of root/cimv2.
  linmgmt watch \"SELECT * FROM __InstanceOperationEvent WITHIN 5 WHERE TargetInstance ISA 'Win32_LogonSession'\"
      Logins and logouts as they happen (one JSON object per line in a pipe).

Errors print the WMI error constant and code, e.g.
  error: WBEM_E_INVALID_CLASS (0x80041010): no class Win32_Foo in root/cimv2
and exit with status 1 (2 for usage errors).";

const WATCH_HELP: &str = "\
Formats: table (default on a terminal), json (default in a pipe: one object per line, with
TargetInstance and PreviousInstance nested) and list. For a SIEM, ocsf (OCSF Authentication
events) and ecs (Elastic Common Schema): one line per logon, logoff, server session opened or
closed, for queries on Win32_LogonSession or Win32_ServerSession (modifications are left out).

WITHIN n is required and bounds the latency: the host is polled at least every n seconds.
Logins and logouts usually arrive much sooner: watch re-scans at once when the kernel reports
a process in a new audit session or the end of one in a known session (as root), when utmp,
wtmp or logind's session files change, and when logind signals a session. The line on stderr
that starts with `watching:` says which of these are active. Sessions already there when watch
starts produce no events.

Examples:
  linmgmt watch \"SELECT * FROM __InstanceCreationEvent WITHIN 5 WHERE TargetInstance ISA 'Win32_LogonSession' AND TargetInstance.LogonType = 10\"
      Every new ssh login with a terminal.
  linmgmt watch \"SELECT * FROM __InstanceModificationEvent WITHIN 2 WHERE TargetInstance ISA 'Win32_ServerSession'\"
      SMB sessions that open or close files (IdleTime ticks are not changes unless the WHERE
      clause names IdleTime).
  linmgmt watch \"SELECT * FROM __InstanceCreationEvent WITHIN 1 WHERE TargetInstance ISA 'Win32_LogonSession' GROUP WITHIN 60 BY TargetInstance.AuthenticationPackage HAVING NumberOfEvents > 10\"
      A burst of more than 10 logins per minute with one method, as one __AggregateEvent.";

/// WMI's session classes for Linux: who is logged on, from where, since when.
#[derive(Debug, Parser)]
#[command(name = "linmgmt", version, after_help = EXAMPLES)]
pub struct Cli {
    /// Read the system from DIR instead of / (a fixture root for tests).
    #[arg(long, global = true, value_name = "DIR")]
    pub root: Option<PathBuf>,

    /// Output format: table (default on a terminal), list (default in a pipe), json, csv, mof,
    /// xml; for `watch` also ocsf and ecs (session events for a SIEM).
    #[arg(long, short = 'f', global = true, value_name = "FORMAT", value_parser = parse_format)]
    pub format: Option<Format>,

    /// The namespace to query.
    #[arg(
        long,
        short = 'n',
        global = true,
        value_name = "NS",
        default_value = "root/cimv2"
    )]
    pub namespace: String,

    /// The smbstatus program to ask about Samba sessions (e.g. a wrapper passing `-s CONF`).
    #[arg(
        long,
        global = true,
        value_name = "PATH",
        env = "LINMGMT_SMBSTATUS",
        default_value = "smbstatus"
    )]
    pub smbstatus: PathBuf,

    /// An sshd log to read authentication methods from (`sshd/publickey`); repeatable.
    /// Default: /var/log/auth.log and /var/log/secure.
    #[arg(
        long = "sshd-log",
        global = true,
        value_name = "FILE",
        env = "LINMGMT_SSHD_LOG"
    )]
    pub sshd_logs: Vec<PathBuf>,

    /// Serve the instances in this MOF file from memory (`instance of` blocks). For tests
    /// of the query engine only; real data comes from the Linux providers.
    #[arg(long, global = true, hide = true, value_name = "FILE")]
    pub instances: Vec<PathBuf>,

    /// Scan the host now instead of asking the running server (whose live model answers
    /// `linmgmt`, `query` and `get` as root when its local socket is there).
    #[arg(long, global = true)]
    pub direct: bool,

    /// The command; without one, an overview of the current sessions.
    #[command(subcommand)]
    pub command: Option<Command>,
}

fn parse_format(s: &str) -> Result<Format, String> {
    s.parse()
}

fn parse_event_log_format(s: &str) -> Result<linmgmt_seclog::Format, String> {
    s.parse()
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a WQL query (data or schema query).
    Query {
        /// The query, e.g. "SELECT * FROM Win32_LogonSession".
        wql: String,
        /// With `--format json`: add `__ASSOCIATORS` to each instance, the objects linked to
        /// it through associations, by class (`count` and `__RELPATH`s) — a session's user
        /// and processes without writing a join.
        #[arg(long)]
        associators: bool,
    },
    /// Get one instance by object path, e.g. 'Win32_LogonSession.LogonId="3"'.
    Get {
        /// The object path.
        path: String,
    },
    /// List the classes of the namespace.
    Classes {
        /// Show the inheritance tree.
        #[arg(long)]
        tree: bool,
    },
    /// Show one class: its qualifiers and properties.
    Class {
        /// The class name.
        name: String,
        /// Print the class declaration as MOF.
        #[arg(long)]
        mof: bool,
    },
    /// Stream the events of an event query: sessions (or processes, connections, …) created,
    /// deleted or modified, as they happen. Runs until interrupted (or `--count` events).
    #[command(after_help = WATCH_HELP)]
    Watch {
        /// The event query, e.g. "SELECT * FROM __InstanceCreationEvent WITHIN 5 WHERE
        /// TargetInstance ISA 'Win32_LogonSession'".
        wql: String,
        /// Stop after this many events.
        #[arg(long, value_name = "N")]
        count: Option<u64>,
    },
    /// Run the CIM-XML server (DSP0200 over HTTP/HTTPS) for pywbem, pywbemcli, wbemcli.
    Serve(Box<ServeArgs>),
    /// Manage the users of the CIM-XML server.
    User {
        /// What to do.
        #[command(subcommand)]
        command: UserCommand,
    },
}

/// `linmgmt serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The config file: TOML whose keys are these options' long names, e.g.
    /// `listen = ["http://127.0.0.1:5988"]`, `tls-cert = "/etc/linmgmt/tls.crt"`,
    /// `wsman = true` (see docs/config.md). Options given here (or in their environment
    /// variable) override the file's. Default: /etc/linmgmt/linmgmt.toml, when it exists.
    #[arg(long, value_name = "FILE", env = "LINMGMT_CONFIG")]
    pub config: Option<PathBuf>,

    /// Where to listen: ADDR:PORT, or http://ADDR:PORT / https://ADDR:PORT to choose per
    /// listener (repeatable). A bare ADDR:PORT is HTTPS when --tls-cert is given. Default:
    /// 127.0.0.1:5988 (HTTP), or [::]:5989 (HTTPS) with --tls-cert.
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Vec<String>,

    /// Also serve WS-Management (WinRM's protocol, `POST /wsman`) on its conventional port:
    /// 127.0.0.1:5985 (HTTP), or [::]:5986 (HTTPS) with --tls-cert.
    #[arg(long)]
    pub wsman: bool,

    /// Where to serve WS-Management, like --listen (repeatable; implies --wsman).
    #[arg(long, value_name = "ADDR:PORT")]
    pub wsman_listen: Vec<String>,

    /// Serve Prometheus metrics (`GET /metrics`, no authentication) here, like --listen
    /// (repeatable; e.g. 127.0.0.1:9779). Off by default.
    #[arg(long, value_name = "ADDR:PORT")]
    pub metrics_listen: Vec<String>,

    /// Label the server-session metrics with user and client address (one time series per
    /// user and address: for small hosts only).
    #[arg(long)]
    pub metrics_detailed: bool,

    /// The certificate chain (PEM, leaf first) for HTTPS.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// The certificate's private key (PEM) for HTTPS.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// The users file (`linmgmt user add` writes it).
    #[arg(long, value_name = "FILE")]
    pub users: PathBuf,

    /// Allow plain HTTP on addresses other than loopback (passwords then cross the
    /// network in clear text).
    #[arg(long)]
    pub insecure: bool,

    /// How old, at most, the host snapshot a request sees may be, in seconds (one scan
    /// of the host serves every client meanwhile).
    #[arg(long, value_name = "SECONDS", default_value_t = 1.0, value_parser = seconds(0.0, f64::MAX))]
    pub max_age: f64,

    /// Seconds between reconciliations of the live process table: a full read of /proc
    /// compared with the table, every difference logged as a correction (expected: none).
    #[arg(long, value_name = "SECONDS", default_value_t = 60.0, value_parser = seconds(1.0, 86400.0))]
    pub reconcile_interval: f64,

    /// Read every process at each refresh instead of keeping a live process table from
    /// the kernel's process events.
    #[arg(long)]
    pub no_live_model: bool,

    /// With the live model: how long the file servers' answers are reused at most, in
    /// seconds: Samba's (smbstatus) while the same smbd processes run (open files and idle
    /// times change without an event; a client that comes or goes is an smbd that does, seen
    /// at once), and the NFS server's clients while the same nfsd threads run (an NFS client's
    /// arrival has no event: it is seen within this time). 0 asks every time.
    #[arg(long, visible_alias = "samba-refresh", value_name = "SECONDS", default_value_t = 5.0, value_parser = seconds(0.0, 3600.0))]
    pub server_refresh: f64,

    /// The local socket where root's `linmgmt`, `query` and `get` on this host are answered
    /// from the live model (only when serving the host).
    #[arg(long, value_name = "PATH", default_value = crate::local::DEFAULT_SOCKET)]
    pub socket: PathBuf,

    /// No local socket.
    #[arg(long)]
    pub no_socket: bool,

    /// The most connections open at once.
    #[arg(long, value_name = "N", default_value_t = 512, value_parser = at_least_one)]
    pub max_connections: usize,

    /// The most connections one source address (an IPv6 /64) may have open at once, TLS
    /// handshakes included.
    #[arg(long, value_name = "N", default_value_t = 128, value_parser = at_least_one)]
    pub max_connections_per_address: usize,

    /// Seconds the server may work on one request (waiting for a turn, the host snapshot,
    /// the query); past it the request fails with WBEM_E_TIMED_OUT.
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0, value_parser = seconds(0.1, 3600.0))]
    pub request_timeout: f64,

    /// The most requests worked on at once (blocking threads), all users together.
    #[arg(long, value_name = "N", default_value_t = 16, value_parser = at_least_one)]
    pub max_requests: usize,

    /// The most requests of one user worked on at once; more wait their turn.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = at_least_one)]
    pub max_requests_per_user: usize,

    /// The most open enumeration contexts (pull operations), all users together.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub max_enumerations: usize,

    /// The most open enumeration contexts of one user.
    #[arg(long, value_name = "N", default_value_t = 64, value_parser = at_least_one)]
    pub max_enumerations_per_user: usize,

    /// The most memory open enumeration contexts may hold, in MiB, all users together.
    #[arg(long, value_name = "MIB", default_value_t = 128)]
    pub enumeration_memory: usize,

    /// The most memory one user's open enumeration contexts may hold, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 16)]
    pub enumeration_memory_per_user: usize,

    /// Failed logins from one address before it gets 429 for a doubling time (1 s, 2 s,
    /// … up to 5 min).
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub auth_failures_per_address: u32,

    /// Failed logins for one user name (from any address) before it gets 429 from
    /// addresses it has not logged in from.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub auth_failures_per_user: u32,

    /// The largest request body accepted, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 4 * 1024 * 1024)]
    pub max_body: usize,

    /// Seconds a client may take to send its request headers; also how long an idle
    /// keep-alive connection stays open.
    #[arg(long, value_name = "SECONDS", default_value_t = 15)]
    pub header_timeout: u64,

    /// The most event streams (`GET /events`) open at once; more get 503.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub max_event_streams: usize,

    /// The most event streams one user may have open.
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = at_least_one)]
    pub max_event_streams_per_user: usize,

    /// The most event streams one source address may have open.
    #[arg(long, value_name = "N", default_value_t = 16, value_parser = at_least_one)]
    pub max_event_streams_per_address: usize,

    /// Seconds an event stream may be silent before a keep-alive (an empty line, or an SSE
    /// comment) is sent: shorter than the idle timeout of any proxy in between.
    #[arg(long, value_name = "SECONDS", default_value_t = 15.0, value_parser = seconds(0.1, 3600.0))]
    pub event_keep_alive: f64,

    /// Write every logon, logoff and server session opened and closed to FILE (`-`:
    /// standard output) as one JSON line each, for a SIEM. Appended; reopened on SIGHUP
    /// (log rotation). A restart neither repeats nor loses an event: see --event-log-state.
    #[arg(long, value_name = "FILE")]
    pub event_log: Option<PathBuf>,

    /// The schema of the event log's lines: ocsf (OCSF 1.8.0 Authentication events) or ecs
    /// (Elastic Common Schema 9.4.0).
    #[arg(long, value_name = "FORMAT", default_value = "ocsf", value_parser = parse_event_log_format)]
    pub event_log_format: linmgmt_seclog::Format,

    /// Where the event log records what it has reported (the sessions it reported as
    /// logged on), so that a restart adds the logoffs and logons it missed and repeats
    /// nothing. Default: .NAME.state next to the log, or /var/lib/linmgmt/event-log.state
    /// for `--event-log -`.
    #[arg(long, value_name = "FILE", requires = "event_log")]
    pub event_log_state: Option<PathBuf>,

    /// Log level: error, warn, info (one line per request), debug, trace.
    #[arg(
        long,
        value_name = "LEVEL",
        default_value = "info",
        env = "LINMGMT_LOG"
    )]
    pub log_level: String,
}

/// `linmgmt user ...`.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user to a users file, or replace its password and role. The password is read
    /// from standard input (one line).
    Add {
        /// The user name; for role `user`, the Unix user whose sessions it may see.
        name: String,
        /// The users file (created, mode 0600, if missing).
        #[arg(long, value_name = "FILE")]
        users: PathBuf,
        /// admin (everything) or user (only the sessions of the Unix user of the same name).
        #[arg(long, default_value = "user", value_parser = parse_role)]
        role: Role,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse()
}

/// A count of at least 1 (a limit of 0 would refuse everything).
fn at_least_one(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("at least 1".to_owned()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

/// Seconds, from `min` to `max`.
fn seconds(min: f64, max: f64) -> impl Fn(&str) -> Result<f64, String> + Clone {
    move |s: &str| match s.parse::<f64>() {
        Ok(v) if v >= min && v <= max => Ok(v),
        Ok(_) if max == f64::MAX => Err(format!("seconds, {min} or more")),
        Ok(_) => Err(format!("seconds, from {min} to {max}")),
        Err(e) => Err(e.to_string()),
    }
}
