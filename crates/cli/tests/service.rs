//! `linmgmt` as a service is run: `serve` with its config file (errors at a line, flags and
//! environment variables over the file), and the man pages and completion scripts that
//! `linmgmt generate` writes for the package.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

mod common;

use common::{TempDir, add_user};

/// The binary, with the engine's instance fixture instead of the host and without the
/// environment variables that would change what is tested.
fn linmgmt() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_linmgmt"));
    c.arg("--instances")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../engine/test_data/instances.mof"))
        .env_remove("LINMGMT_CONFIG")
        .env_remove("LINMGMT_LOG");
    c
}

fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null()).output().expect("run linmgmt")
}

/// One case: `serve` with `file` as its config file (`CONFIG` in `args` and in `expected`
/// is its path; `--config CONFIG` is added unless `args` or `env` name a file) ends with
/// exit code 2 and `expected` as the first error line on stderr (after the log's).
struct Case {
    file: &'static str,
    args: &'static [&'static str],
    env: &'static [(&'static str, &'static str)],
    expected: &'static str,
}

fn check(dir: &Path, case: &Case) -> Result<(), String> {
    let path = dir.join("linmgmt.toml");
    std::fs::write(&path, case.file).unwrap();
    let config = path.to_string_lossy();
    let mut cmd = linmgmt();
    cmd.arg("serve");
    let named =
        case.args.contains(&"--config") || case.env.iter().any(|(k, _)| *k == "LINMGMT_CONFIG");
    if !named {
        cmd.args(["--config", &config]);
    }
    cmd.args(case.args.iter().map(|a| a.replace("CONFIG", &config)));
    for (k, v) in case.env {
        cmd.env(k, v.replace("CONFIG", &config));
    }
    let out = run(&mut cmd);
    let stderr = String::from_utf8_lossy(&out.stderr).replace(&*config, "CONFIG");
    let first = (stderr.lines().find(|l| l.starts_with("error:"))).unwrap_or_default();
    if out.status.code() == Some(2) && first == case.expected {
        Ok(())
    } else {
        Err(format!(
            "file:\n{}\nargs: {:?} env: {:?}\nexpected exit 2 and: {}\ngot exit {:?} and:\n{stderr}",
            case.file,
            case.args,
            case.env,
            case.expected,
            out.status.code()
        ))
    }
}

#[test]
fn config_file_errors_and_what_overrides_it() {
    let cases = [
        // Mistakes in the file name its line.
        Case {
            file: "users = \"/etc/linmgmt/users\"\n\n# listen below\nlisen = [\"127.0.0.1:5988\"]\n",
            args: &[],
            env: &[],
            expected: "error: CONFIG:4: unknown key \"lisen\" (did you mean \"listen\"?)",
        },
        Case {
            file: "users = \"u\"\nmax-age = \"abc\"\n",
            args: &[],
            env: &[],
            expected: "error: CONFIG:2: max-age: invalid value 'abc' for '--max-age <SECONDS>': invalid float literal",
        },
        Case {
            file: "users = \"u\"\nmax_requests = 0\n",
            args: &[],
            env: &[],
            expected: "error: CONFIG:2: max_requests: invalid value '0' for '--max-requests <N>': at least 1",
        },
        Case {
            file: "wsman = \"yes\"\n",
            args: &[],
            env: &[],
            expected: "error: CONFIG:1: wsman: expected true or false, not the string \"yes\"",
        },
        Case {
            file: "users = [\"a\"]\n",
            args: &[],
            env: &[],
            expected: "error: CONFIG:1: users: expected one FILE (the option is not repeatable), not an array",
        },
        Case {
            file: "users = \"a\"\nusers = \"b\"\n",
            args: &[],
            env: &[],
            expected: "error: CONFIG:2: duplicate key",
        },
        // A file named on the command line or in LINMGMT_CONFIG must exist.
        Case {
            file: "",
            args: &["--config", "/nonexistent/linmgmt.toml"],
            env: &[],
            expected: "error: config file /nonexistent/linmgmt.toml: No such file or directory (os error 2)",
        },
        Case {
            file: "",
            args: &[],
            env: &[("LINMGMT_CONFIG", "/nonexistent/env.toml")],
            expected: "error: config file /nonexistent/env.toml: No such file or directory (os error 2)",
        },
        // The file's values are used: the users file it names is read …
        Case {
            file: "users = \"/nonexistent/file-users\"\n",
            args: &[],
            env: &[],
            expected: "error: reading the users file /nonexistent/file-users: No such file or directory (os error 2)",
        },
        Case {
            file: "users = \"/nonexistent/file-users\"\n",
            args: &[],
            env: &[("LINMGMT_CONFIG", "CONFIG")],
            expected: "error: reading the users file /nonexistent/file-users: No such file or directory (os error 2)",
        },
        // … unless the command line names another.
        Case {
            file: "users = \"/nonexistent/file-users\"\n",
            args: &["--users", "/nonexistent/flag-users"],
            env: &[],
            expected: "error: reading the users file /nonexistent/flag-users: No such file or directory (os error 2)",
        },
        // A bad log level from the file is an error; the flag or LINMGMT_LOG replace it.
        Case {
            file: "log-level = \"loud\"\nusers = \"/nonexistent/users\"\n",
            args: &[],
            env: &[],
            expected: "error: --log-level loud: error, warn, info, debug or trace",
        },
        Case {
            file: "log-level = \"loud\"\nusers = \"/nonexistent/users\"\n",
            args: &["--log-level", "warn"],
            env: &[],
            expected: "error: reading the users file /nonexistent/users: No such file or directory (os error 2)",
        },
        Case {
            file: "log-level = \"loud\"\nusers = \"/nonexistent/users\"\n",
            args: &[],
            env: &[("LINMGMT_LOG", "warn")],
            expected: "error: reading the users file /nonexistent/users: No such file or directory (os error 2)",
        },
        // Relations between options are checked after the file is read.
        Case {
            file: "users = \"u\"\ntls-cert = \"/nonexistent/tls.crt\"\n",
            args: &[],
            env: &[],
            expected: "error: the following required arguments were not provided:",
        },
    ];
    let dir = TempDir::new("errors");
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|c| check(&dir.0, c).err())
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `linmgmt serve` with `args` and returns the server and its log lines up to the
/// last listener's.
fn start(args: &[&std::ffi::OsStr], listeners: usize) -> (Server, Vec<String>) {
    let mut child = linmgmt()
        .arg("serve")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let server = Server(child);
    let mut lines = Vec::new();
    let mut seen = 0;
    while seen < listeners {
        let mut line = String::new();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "serve ended before listening:\n{}",
            lines.join("")
        );
        if line.contains(" on http") {
            seen += 1;
        }
        lines.push(line);
    }
    // Keep draining the log so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in stderr.lines() {});
    (server, lines)
}

#[test]
fn the_server_takes_its_settings_from_the_file() {
    let dir = TempDir::new("serve");
    let users = dir.0.join("users");
    add_user(&users, "lmadmin", "pw", "admin");
    let config = dir.0.join("linmgmt.toml");
    std::fs::write(
        &config,
        format!(
            "# a test\nusers = {:?}\nlisten = [\"http://127.0.0.1:0\"]\nwsman_listen = \"127.0.0.1:0\"\nlog-level = \"loud\"\n",
            users.display()
        ),
    )
    .unwrap();
    // The file's listeners, its users file, and the command line's log level over the file's.
    let (_server, log) = start(
        &[
            "--config".as_ref(),
            config.as_os_str(),
            "--log-level".as_ref(),
            "info".as_ref(),
        ],
        2,
    );
    let log = log.join("");
    assert!(
        log.contains(&format!(
            "settings from {} and the command line",
            config.display()
        )),
        "{log}"
    );
    assert!(log.contains("CIM-XML on http://127.0.0.1:"), "{log}");
    assert!(log.contains("WS-Management on http://127.0.0.1:"), "{log}");
    // A repeatable option on the command line replaces the file's list: no WS-Man listener
    // from the file then, only the command line's two CIM-XML listeners.
    std::fs::write(
        &config,
        format!(
            "users = {:?}\nlisten = [\"http://127.0.0.1:0\"]\nwsman = true\nwsman-listen = [\"127.0.0.1:0\"]\n",
            users.display()
        ),
    )
    .unwrap();
    let (_server, log) = start(
        &[
            "--config".as_ref(),
            config.as_os_str(),
            "--wsman-listen".as_ref(),
            "http://127.0.0.1:0".as_ref(),
            "--wsman-listen".as_ref(),
            "http://127.0.0.1:0".as_ref(),
        ],
        3,
    );
    let log = log.join("");
    assert_eq!(
        log.matches("WS-Management on http://127.0.0.1:").count(),
        2,
        "{log}"
    );
    assert_eq!(
        log.matches("CIM-XML on http://127.0.0.1:").count(),
        1,
        "{log}"
    );
}

#[test]
fn man_pages_and_completions_are_generated() {
    let dir = TempDir::new("man");
    let generate = || {
        let mut c = Command::new(env!("CARGO_BIN_EXE_linmgmt"));
        c.arg("generate");
        c
    };
    let out = run(generate().arg("man").arg(&dir.0));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut pages: Vec<String> = std::fs::read_dir(&dir.0)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    pages.sort();
    assert_eq!(
        pages,
        [
            "linmgmt-class.1",
            "linmgmt-classes.1",
            "linmgmt-get.1",
            "linmgmt-query.1",
            "linmgmt-serve.1",
            "linmgmt-user-add.1",
            "linmgmt-user.1",
            "linmgmt-watch.1",
            "linmgmt.1"
        ]
    );
    for page in &pages {
        let text = std::fs::read_to_string(dir.0.join(page)).unwrap();
        let name = page.trim_end_matches(".1");
        assert!(
            text.contains(&format!(".TH {name} 1 ")),
            "{page} has no title line:\n{text}"
        );
        assert!(text.contains(".SH NAME"), "{page}");
    }
    let serve = std::fs::read_to_string(dir.0.join("linmgmt-serve.1")).unwrap();
    for option in ["\\-\\-config", "\\-\\-listen", "\\-\\-users", ".SH FILES"] {
        assert!(serve.contains(option), "linmgmt-serve.1 lacks {option}");
    }
    for (shell, marker) in [
        ("bash", "_linmgmt()"),
        ("zsh", "#compdef linmgmt"),
        ("fish", "complete -c linmgmt"),
    ] {
        let out = run(generate().args(["completions", shell]));
        assert!(out.status.success(), "{shell}");
        let script = String::from_utf8(out.stdout).unwrap();
        assert!(script.contains(marker), "{shell}: no {marker}");
        for word in ["serve", "config", "listen", "query"] {
            assert!(script.contains(word), "{shell} completion lacks {word}");
        }
        // (clap_complete's scripts do offer hidden options, such as the test-only
        // `--instances`; the packaging tool is no option of this command line at all.)
        assert!(
            !script.contains("generate"),
            "{shell} completion offers `generate`"
        );
    }
}
