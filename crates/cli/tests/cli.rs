//! The `linmgmt` binary as users and scripts see it: output formats, exit codes and
//! error lines. Data comes from the engine's instance fixture through the hidden,
//! test-only `--instances` flag.

use std::path::PathBuf;
use std::process::{Command, Output};

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../engine/test_data/instances.mof")
}

fn linmgmt(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_linmgmt"))
        .arg("--instances")
        .arg(fixture())
        .args(args)
        .env_remove("NO_COLOR")
        .output()
        .expect("run linmgmt")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("utf-8 stdout")
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).expect("utf-8 stderr")
}

#[test]
fn wmi_errors_name_the_constant_and_point_at_the_fault() {
    let o = linmgmt(&["query", "SELECT * FROM Win32_Foo"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stdout.is_empty());
    let err = stderr(&o);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(
        lines[0],
        "error: WBEM_E_INVALID_CLASS (0x80041010): no class Win32_Foo in root/cimv2"
    );
    assert_eq!(lines[1], "SELECT * FROM Win32_Foo");
    assert_eq!(lines[2], "              ^^^^^^^^^");

    let o = linmgmt(&[
        "query",
        "SELECT * FROM Win32_LogonSession WHERE (LogonType = 2",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).starts_with("error: WBEM_E_INVALID_SYNTAX (0x80041021): "),
        "{}",
        stderr(&o)
    );

    let o = linmgmt(&["get", r#"Win32_LogonSession.LogonId="42""#]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).starts_with("error: WBEM_E_NOT_FOUND (0x80041002): "));

    let o = linmgmt(&[
        "query",
        "SELECT * FROM Win32_LogonSession",
        "--namespace",
        "root/nope",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).starts_with("error: WBEM_E_INVALID_NAMESPACE (0x8004100E): "));
}

#[test]
fn deep_nesting_and_huge_queries_are_refused_not_fatal() {
    let deep = format!(
        "SELECT * FROM Win32_LogonSession WHERE {}LogonType = 2{}",
        "(".repeat(10_000),
        ")".repeat(10_000)
    );
    let o = linmgmt(&["query", &deep]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let huge = format!(
        "SELECT * FROM Win32_LogonSession WHERE Caption = '{}'",
        "x".repeat(100_000)
    );
    let o = linmgmt(&["query", &huge]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
}

#[test]
fn json_is_an_array_of_objects_with_cim_names() {
    let o = linmgmt(&[
        "query",
        "SELECT * FROM Win32_LogonSession WHERE LogonId = '3'",
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("valid JSON");
    let obj = &v.as_array().expect("an array")[0];
    assert_eq!(obj["__CLASS"], "Win32_LogonSession");
    assert_eq!(obj["__RELPATH"], r#"Win32_LogonSession.LogonId="3""#);
    assert_eq!(obj["LogonType"], 10, "integers are numbers");
    assert_eq!(
        obj["StartTime"], "2026-11-22T09:15:00.123456+01:00",
        "datetimes are RFC 3339 with offset"
    );
    assert_eq!(obj["Description"], serde_json::Value::Null);

    let o = linmgmt(&[
        "query",
        "SELECT * FROM Win32_LogonSession WHERE LogonType = 12",
        "-f",
        "json",
    ]);
    assert_eq!((o.status.code(), stdout(&o).trim()), (Some(0), "[]"));
    let o = linmgmt(&[
        "query",
        "SELECT * FROM Win32_LogonSession WHERE LogonType = 12",
        "-f",
        "table",
    ]);
    assert_eq!((o.status.code(), stdout(&o).as_str()), (Some(0), ""));
}

#[test]
fn list_is_the_default_in_a_pipe_and_csv_has_a_header() {
    let o = linmgmt(&[
        "query",
        "SELECT UserName, SessionType FROM Win32_ServerSession",
    ]);
    assert_eq!(
        stdout(&o),
        "UserName=alice\nSessionType=2\n\nUserName=nobody\nSessionType=0\n"
    );
    let o = linmgmt(&[
        "query",
        "SELECT UserName, SessionType FROM Win32_ServerSession",
        "-f",
        "csv",
    ]);
    assert_eq!(stdout(&o), "UserName,SessionType\nalice,2\nnobody,0\n");
    assert!(!stdout(&o).contains('\x1b'), "no colour outside a terminal");
}

#[test]
fn schema_commands() {
    let o = linmgmt(&["class", "Win32_ServerSession", "--mof"]);
    assert_eq!(o.status.code(), Some(0));
    let entries = linmgmt_mof::parse_str(&stdout(&o)).expect("class MOF parses");
    assert_eq!(entries.len(), 1);

    let o = linmgmt(&["classes", "--tree"]);
    assert!(
        stdout(&o).contains("    │   └── Win32_LogonSession\n"),
        "{}",
        stdout(&o)
    );

    let o = linmgmt(&["class", "Win32_LogonSession"]);
    let text = stdout(&o);
    assert!(
        text.starts_with("class Win32_LogonSession : Win32_Session\n"),
        "{text}"
    );
    assert!(text.contains("properties (9):"));

    let o = linmgmt(&[
        "query",
        "SELECT * FROM meta_class WHERE __CLASS = 'Win32_ServerSession'",
        "-f",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("valid JSON");
    assert_eq!(v[0]["__PROPERTY_COUNT"], 13);
    assert_eq!(v[0]["__GENUS"], 1);

    let o = linmgmt(&["class", "Win32_Nope"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).starts_with(
        "error: WBEM_E_INVALID_CLASS (0x80041010): no class Win32_Nope in root/cimv2"
    ));
}

#[test]
fn usage_errors_and_help() {
    let o = linmgmt(&[
        "query",
        "SELECT * FROM Win32_LogonSession",
        "--format",
        "yaml",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("unknown format 'yaml'"));
    let o = linmgmt(&["--help"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("Examples:") && stdout(&o).contains("linmgmt query"));
}

#[test]
fn json_can_carry_associators_without_a_join() {
    let o = linmgmt(&[
        "query",
        "SELECT LogonId FROM Win32_LogonSession WHERE LogonId = '3'",
        "--format",
        "json",
        "--associators",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("valid JSON");
    let linked = &v[0]["__ASSOCIATORS"];
    assert_eq!(linked["Win32_UserAccount"]["count"], 1);
    assert_eq!(
        linked["Win32_UserAccount"]["__RELPATH"][0],
        r#"Win32_UserAccount.Domain="host",Name="alice""#
    );
    assert_eq!(linked["Win32_Process"]["count"], 2);

    let o = linmgmt(&["query", "SELECT * FROM Win32_LogonSession", "--associators"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--associators needs --format json"));
}

/// A number given for a string key is the key's text, as WMI converts it: `get`, and the
/// source path of ASSOCIATORS OF / REFERENCES OF, the way scripts write them.
#[test]
fn numeric_key_values_find_string_keys() {
    for path in [
        "Win32_LogonSession.LogonId=0",
        "Win32_LogonSession=0",
        r#"Win32_LogonSession.LogonId="0""#,
    ] {
        let o = linmgmt(&["get", path, "--format", "json"]);
        assert_eq!(o.status.code(), Some(0), "{path}: {}", stderr(&o));
        let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("valid JSON");
        let v = if v.is_array() { v[0].clone() } else { v };
        assert_eq!(v["LogonId"], "0", "{path}");
        assert_eq!(
            v["__RELPATH"], r#"Win32_LogonSession.LogonId="0""#,
            "{path}"
        );
    }
    let o = linmgmt(&["get", "Win32_Process=1", "--format", "csv"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("/sbin/init"), "{}", stdout(&o));

    let o = linmgmt(&["get", "Win32_LogonSession.LogonId=42"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o).lines().next(),
        Some(
            r#"error: WBEM_E_NOT_FOUND (0x80041002): no instance Win32_LogonSession.LogonId="42""#
        )
    );

    for (query, expect) in [
        (
            "Associators of {Win32_LogonSession.LogonId=0} Where AssocClass=Win32_LoggedOnUser Role=Dependent",
            "root",
        ),
        (
            "ASSOCIATORS OF {Win32_LogonSession.LogonId=0} WHERE ResultClass = Win32_Process",
            "/sbin/init",
        ),
        ("Associators of {Win32_process.Handle=1}", "kernel"),
        (
            "ASSOCIATORS OF {CIM_Process.Handle=1} where classdefsonly",
            "Win32_LogonSession",
        ),
        (
            "REFERENCES OF {Win32_Process=1} WHERE ClassDefsOnly",
            "Win32_SessionProcess",
        ),
    ] {
        let o = linmgmt(&["query", query, "--format", "list"]);
        assert_eq!(o.status.code(), Some(0), "{query}: {}", stderr(&o));
        assert!(stdout(&o).contains(expect), "{query}: {}", stdout(&o));
    }
}

/// A reference key names its object with or without host and namespace: the paths an
/// enumeration of an association returns (full or relative, however the provider wrote
/// them) get the instance back, whichever form the client sends.
#[test]
fn reference_keys_match_with_or_without_their_location() {
    let alice = r#"Win32_Account.Domain=\"host\",Name=\"alice\""#;
    let full_alice = r#"\\\\HOST\\root\\cimv2:Win32_Account.Domain=\"host\",Name=\"alice\""#;
    for (antecedent, session) in [
        (alice, r#"Win32_LogonSession.LogonId=\"3\""#),
        (
            full_alice,
            r#"\\\\HOST\\root\\cimv2:Win32_LogonSession.LogonId=\"4\""#,
        ),
        (
            full_alice,
            r#"\\\\other\\root\\cimv2:Win32_LogonSession.LogonId=\"3\""#,
        ),
    ] {
        let path = format!(r#"Win32_LoggedOnUser.Antecedent="{antecedent}",Dependent="{session}""#);
        let o = linmgmt(&["get", &path, "--format", "json"]);
        assert_eq!(o.status.code(), Some(0), "{path}: {}", stderr(&o));
    }
    let other = r#"Win32_LoggedOnUser.Antecedent="Win32_Account.Domain=\"host\",Name=\"root\"",Dependent="Win32_LogonSession.LogonId=\"3\"""#;
    let o = linmgmt(&["get", other]);
    assert_eq!(o.status.code(), Some(1), "{other} is not an instance");
}

/// The overview on a fixture root: one row per logon session, and what each runs — the
/// newest process that is not sshd, whose command line the scan did not need (it is not a
/// session root) and the overview reads for the row.
#[test]
fn the_overview_shows_what_each_session_runs() {
    let fixture = linmgmt_test_support::Fixture::parse(
        r#"
//- process
pid=1 ppid=0 comm=init cmd=/sbin/init
pid=900 ppid=1 comm=sshd cmd="sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups"
pid=10086 ppid=900 comm=sshd cmd="sshd: alice [priv]" start=2026-08-01T10:00:00Z ses=2 auid=1001
pid=10097 ppid=10086 comm=sshd cmd="sshd: alice@pts/0" start=2026-08-01T10:00:01Z uid=1001 ses=2 auid=1001
pid=10098 ppid=10097 comm=bash cmd=-bash start=2026-08-01T10:00:01Z uid=1001 ses=2 auid=1001 tty=pts/0
pid=10200 ppid=10098 comm=sleep argv=sleep|100 start=2026-08-01T11:00:00Z uid=1001 ses=2 auid=1001 tty=pts/0
//- /etc/passwd
root:x:0:0:root:/root:/bin/bash
alice:x:1001:1001::/home/alice:/bin/bash
"#,
    )
    .build();
    let o = Command::new(env!("CARGO_BIN_EXE_linmgmt"))
        .arg("--root")
        .arg(fixture.root().dir())
        .env("LINMGMT_CONFIG", "/dev/null")
        .env("NO_COLOR", "1")
        .output()
        .expect("run linmgmt");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    let row = out
        .lines()
        .find(|l| l.starts_with("alice"))
        .unwrap_or_else(|| panic!("a row for alice:\n{out}"));
    assert!(row.contains(" 2 ") && row.ends_with("sleep 100"), "{row}");
    assert!(out.starts_with("1 logon session"), "{out}");
}
