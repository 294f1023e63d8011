//! `linmgmt serve` and `linmgmt user add`: the CIM-XML server (with its event streams) and
//! its users file.

use crate::args::{Cli, ServeArgs, UserCommand};
use anyhow::{Context, bail};
use linmgmt_cim::SystemContext;
use linmgmt_engine::Provider;
use linmgmt_schema::Repository;
use linmgmt_server::users::{UserEntry, hash_password, parse_users, upsert_user, valid_name};
use linmgmt_server::{
    Authenticator, Config, EngineParts, HostFactory, Listen, Protocol, Snapshots,
};
use std::io::{self, BufRead, IsTerminal, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// One listener from a `--listen` or `--wsman-listen` value (`flag` names it in errors).
fn parse_listen(flag: &str, spec: &str, tls: bool) -> anyhow::Result<(SocketAddr, bool)> {
    let (addr, tls) = match spec.split_once("://") {
        Some(("http", rest)) => (rest, false),
        Some(("https", rest)) => {
            if !tls {
                bail!("{flag} {spec}: HTTPS needs --tls-cert and --tls-key");
            }
            (rest, true)
        }
        Some((scheme, _)) => bail!("{flag} {spec}: unknown scheme {scheme} (http or https)"),
        None => (spec, tls),
    };
    let addr = addr
        .to_socket_addrs()
        .with_context(|| format!("{flag} {spec}: not ADDR:PORT"))?
        .next()
        .with_context(|| format!("{flag} {spec}: no address"))?;
    Ok((addr, tls))
}

fn init_logging(level: &str) -> anyhow::Result<()> {
    let level: tracing_subscriber::filter::LevelFilter = level
        .parse()
        .map_err(|_| anyhow::anyhow!("--log-level {level}: error, warn, info, debug or trace"))?;
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_ansi(false)
        .with_target(false)
        .with_writer(io::stderr)
        .init();
    Ok(())
}

/// The engine's ingredients for `serve`: the schema, the interop instances, and either the
/// host (a fresh provider per snapshot) or the `--instances` test data.
fn engine_parts(
    cli: &Cli,
    args: &ServeArgs,
    root: &Path,
    tz: &jiff::tz::TimeZone,
) -> anyhow::Result<EngineParts> {
    let repository = Arc::new(Repository::builtin().context("loading the built-in schema")?);
    let server = crate::host_name(root);
    let mut static_providers: Vec<Arc<dyn Provider>> = vec![Arc::new(
        linmgmt_server::interop_provider(&repository, &server),
    )];
    for provider in crate::test_instances(cli, &repository)? {
        static_providers.push(provider);
    }
    // One hub for every event stream of the server: one scan serves them all.
    let (host, hub, process_table): (Option<HostFactory>, _, _) = if cli.instances.is_empty() {
        let mut settings = crate::HostSettings::from_cli(cli, root);
        if !args.no_live_model {
            settings = settings.with_live_model(
                Duration::from_secs_f64(args.reconcile_interval),
                Duration::from_secs_f64(args.server_refresh),
            );
        }
        let hub = settings.hub(tz);
        let figures = settings.process_table_figures();
        let tz = tz.clone();
        (
            Some(Arc::new(move || settings.provider(&tz))),
            Some(hub),
            figures,
        )
    } else {
        (None, None, None)
    };
    Ok(EngineParts {
        repository,
        context: SystemContext { server },
        compile: linmgmt_wql::CompileOptions {
            time_zone: tz.clone(),
        },
        static_providers,
        host,
        hub,
        process_table,
    })
}

/// Runs the server until SIGTERM or SIGINT.
pub fn serve(cli: &Cli, args: &ServeArgs) -> anyhow::Result<ExitCode> {
    tune_allocator();
    init_logging(&args.log_level)?;
    if let Some(config) = &args.config {
        tracing::info!("settings from {} and the command line", config.display());
    }
    let text = std::fs::read_to_string(&args.users)
        .with_context(|| format!("reading the users file {}", args.users.display()))?;
    let users = parse_users(&text).with_context(|| format!("{}", args.users.display()))?;
    if users.is_empty() {
        bail!(
            "{} has no users; add one with `linmgmt user add NAME --users {}`",
            args.users.display(),
            args.users.display()
        );
    }
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(linmgmt_server::load_tls(cert, key)?),
        _ => None,
    };
    let default =
        |plain: &str, secure: &str| vec![if tls.is_some() { secure } else { plain }.to_owned()];
    let cimxml = if args.listen.is_empty() {
        default("127.0.0.1:5988", "[::]:5989")
    } else {
        args.listen.clone()
    };
    let wsman = if !args.wsman_listen.is_empty() {
        args.wsman_listen.clone()
    } else if args.wsman {
        default("127.0.0.1:5985", "[::]:5986")
    } else {
        Vec::new()
    };
    let mut listen = Vec::new();
    for (flag, specs, protocol) in [
        ("--listen", &cimxml, Protocol::CimXml),
        ("--wsman-listen", &wsman, Protocol::WsMan),
        ("--metrics-listen", &args.metrics_listen, Protocol::Metrics),
    ] {
        for spec in specs {
            let (addr, use_tls) = parse_listen(flag, spec, tls.is_some())?;
            listen.push(Listen {
                addr,
                tls: if use_tls { tls.clone() } else { None },
                protocol,
            });
        }
    }
    // Ranges (seconds, "at least 1") are checked by the options' value parsers, so that
    // the config file's mistakes have a line number too.
    let mib = |flag: &str, n: usize| {
        n.checked_mul(1024 * 1024)
            .filter(|_| n <= 1024 * 1024)
            .with_context(|| format!("{flag} {n}: MiB, at most 1048576"))
    };
    let mut config = Config {
        listen,
        insecure: args.insecure,
        ..Config::default()
    };
    config.http.max_connections = args.max_connections;
    config.http.max_connections_per_address = args.max_connections_per_address;
    config.http.max_body = args.max_body;
    config.http.header_timeout = Duration::from_secs(args.header_timeout.clamp(1, 3600));
    config.http.request_timeout = Duration::from_secs_f64(args.request_timeout);
    config.http.max_requests = args.max_requests;
    config.http.max_requests_per_user = args.max_requests_per_user;
    config.pull.max_open = args.max_enumerations;
    config.pull.max_open_per_user = args.max_enumerations_per_user;
    config.pull.max_bytes = mib("--enumeration-memory", args.enumeration_memory)?;
    config.pull.max_bytes_per_user = mib(
        "--enumeration-memory-per-user",
        args.enumeration_memory_per_user,
    )?;
    config.throttle.free_per_address = args.auth_failures_per_address;
    config.throttle.free_per_user = args.auth_failures_per_user;
    config.events.max_streams = args.max_event_streams;
    config.events.max_streams_per_user = args.max_event_streams_per_user;
    config.events.max_streams_per_address = args.max_event_streams_per_address;
    config.events.keep_alive = Duration::from_secs_f64(args.event_keep_alive);
    config.metrics.detailed = args.metrics_detailed;
    let root = cli.root.clone().unwrap_or_else(|| PathBuf::from("/"));
    let tz = crate::time_zone(&root);
    let parts = engine_parts(cli, args, &root, &tz)?;
    if root == Path::new("/") && cli.instances.is_empty() && !args.no_socket {
        config.local = Some(linmgmt_server::Local {
            path: args.socket.clone(),
            service: Arc::new(crate::local::Service::new(
                cli,
                parts.hub.clone(),
                tz.clone(),
            )),
        });
    }
    let event_log = crate::event_log::start(args, &root, &parts)?;
    let max_age = Duration::from_secs_f64(args.max_age);
    let auth = Arc::new(Authenticator::new(users, Duration::from_secs(300)));
    let served = linmgmt_server::serve_blocking(
        config,
        auth,
        move || Snapshots::new(parts, max_age),
        |addrs| {
            for (addr, tls, protocol) in addrs {
                let scheme = if *tls { "https" } else { "http" };
                match protocol {
                    Protocol::CimXml => tracing::info!("CIM-XML on {scheme}://{addr}"),
                    Protocol::WsMan => {
                        tracing::info!("WS-Management on {scheme}://{addr}/wsman")
                    }
                    Protocol::Metrics => tracing::info!("metrics on {scheme}://{addr}/metrics"),
                }
            }
        },
    );
    if let Some(log) = event_log {
        log.stop();
    }
    served?;
    Ok(ExitCode::SUCCESS)
}

/// glibc's malloc settings for a long-running server, as `(variable, value)`: two arenas
/// instead of eight per core, and fixed mmap and trim thresholds. With the defaults, memory
/// freed after a burst of large requests (a process with a megabyte of command line,
/// many enumeration contexts) stays in per-thread arenas and the server keeps its peak size
/// (measured: 17 MB idle, 37 MB for good after 66 queries over a 1.44 MB command line; with
/// these, 20 MB).
const MALLOC_TUNING: [(&str, &str); 3] = [
    ("MALLOC_ARENA_MAX", "2"),
    ("MALLOC_MMAP_THRESHOLD_", "131072"),
    ("MALLOC_TRIM_THRESHOLD_", "262144"),
];

/// glibc reads its tuning from the environment once, at start-up, so `serve` re-executes
/// itself (same pid, same arguments) with [`MALLOC_TUNING`] when none of it is set.
/// Settings the caller chose (e.g. in the systemd unit) are left alone; if the re-exec
/// fails the server runs untuned.
fn tune_allocator() {
    use std::os::unix::process::CommandExt;
    if MALLOC_TUNING
        .iter()
        .any(|(name, _)| std::env::var_os(name).is_some())
    {
        return;
    }
    let mut args = std::env::args_os();
    let Some(argv0) = args.next() else {
        return;
    };
    let error = std::process::Command::new("/proc/self/exe")
        .arg0(argv0)
        .args(args)
        .envs(MALLOC_TUNING)
        .exec();
    eprintln!("linmgmt serve: running without malloc tuning (re-exec failed: {error})");
}

/// Runs a `user` subcommand.
pub fn user(command: &UserCommand) -> anyhow::Result<ExitCode> {
    match command {
        UserCommand::Add { name, users, role } => {
            if !valid_name(name) {
                bail!("{name:?} is not a valid user name (letters, digits, `_`, `-`, `.`)");
            }
            let stdin = io::stdin();
            if stdin.is_terminal() {
                eprint!("password for {name} (echoed; or pipe it in): ");
                io::stderr().flush()?;
            }
            let mut password = String::new();
            stdin.lock().read_line(&mut password)?;
            let password = password.trim_end_matches(['\n', '\r']);
            if password.is_empty() {
                bail!("empty password: give one line on standard input");
            }
            let old = match std::fs::read_to_string(users) {
                Ok(t) => t,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    "# linmgmt users: NAME:ROLE:ARGON2ID-HASH (written by `linmgmt user add`)\n"
                        .to_owned()
                }
                Err(e) => return Err(e).with_context(|| format!("reading {}", users.display())),
            };
            parse_users(&old).with_context(|| format!("{}", users.display()))?;
            let entry = UserEntry {
                name: name.clone(),
                role: *role,
                hash: hash_password(password),
            };
            write_private(users, &upsert_user(&old, &entry))?;
            eprintln!("{name} ({role}) written to {}", users.display());
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Writes `text` to `path` with mode 0600, replacing it atomically.
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty());
    let tmp = match dir {
        Some(d) => d.join(format!(".{}.tmp", std::process::id())),
        None => PathBuf::from(format!(".{}.tmp", std::process::id())),
    };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("creating {}", tmp.display()))?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
