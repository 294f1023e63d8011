//! Associations on a fixture root, through the engine: an ssh login with its processes and
//! account, and Samba's real sample with its tree connects and share. Each check runs one
//! query and compares the `__RELPATH`s of the results (sorted), or the error.

use linmgmt_engine::{Engine, QueryOutput};
use linmgmt_test_support::{Fixture, FixtureRoot};

mod common;
use common::{engine, relpaths};

const HOST: &str = r#"
//- process
pid=1 ppid=0 comm=init cmd=/sbin/init
pid=900 ppid=1 comm=sshd cmd="sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups"
pid=10086 ppid=900 comm=sshd cmd="sshd: alice [priv]" start=2026-08-01T10:00:00Z ses=2 auid=1001 fds=socket:[18206]
pid=10097 ppid=10086 comm=sshd cmd="sshd: alice@pts/0" uid=1001 ses=2 auid=1001 fds=socket:[18206],/dev/ptmx
pid=10098 ppid=10097 comm=bash cmd=-bash uid=1001 ses=2 auid=1001 tty=pts/0
pid=20000 ppid=900 comm=sshd cmd="sshd: bob [priv]" ses=3 auid=1002 fds=socket:[777]
pid=20001 ppid=20000 comm=sshd cmd="sshd: bob@notty" uid=1002 ses=3 auid=1002 fds=socket:[777]
pid=11000 ppid=1 comm=smbd argv=/usr/sbin/smbd|--foreground
pid=11020 ppid=11000 comm=smbd argv=/usr/sbin/smbd|--foreground fds=socket:[5001]
pid=11021 ppid=11000 comm=smbd argv=/usr/sbin/smbd|--foreground fds=socket:[5002]
pid=11091 ppid=11000 comm=smbd argv=/usr/sbin/smbd|--foreground fds=socket:[5003]
//- tcp
inode=18206 local=10.0.0.1:22 remote=10.0.0.5:40574
inode=777 local=10.0.0.1:22 remote=10.0.0.6:50000
inode=5001 local=[::1]:4455 remote=[::1]:57516
inode=5002 local=127.0.0.1:4455 remote=127.0.0.1:36026
inode=5003 local=127.0.0.1:4455 remote=127.0.0.1:59456
//- /etc/passwd
root:x:0:0:root:/root:/bin/bash
alice:x:1001:1001:Alice Liddell,,,:/home/alice:/bin/bash
bob:x:1002:1002:Bob:/home/bob:/bin/bash
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
"#;

fn root() -> FixtureRoot {
    let sample = include_str!("../test_data/05_samba.fixture");
    let smbstatus = &sample[sample.find("//- /smbstatus.json").expect("sample")..];
    Fixture::parse(&format!("{HOST}{smbstatus}")).build()
}

fn check(engine: &Engine, query: &str, expect: &[&str]) {
    let got = relpaths(engine, query);
    assert_eq!(got, expect, "{query}");
}

#[test]
fn logon_session_to_account_and_processes_and_back() {
    let root = root();
    let e = engine(&root, None);
    check(
        &e,
        r#"ASSOCIATORS OF {Win32_LogonSession.LogonId="2"} WHERE AssocClass=Win32_LoggedOnUser"#,
        &[r#"Win32_UserAccount.Domain="fixture-host",Name="alice""#],
    );
    check(
        &e,
        r#"ASSOCIATORS OF {Win32_LogonSession.LogonId="2"} WHERE ResultClass=Win32_Process"#,
        &[
            r#"Win32_Process.Handle="10086""#,
            r#"Win32_Process.Handle="10097""#,
            r#"Win32_Process.Handle="10098""#,
        ],
    );
    // Reverse: from the account to its sessions, from a process to its session.
    check(
        &e,
        r#"ASSOCIATORS OF {Win32_UserAccount.Domain="fixture-host",Name="alice"}"#,
        &[r#"Win32_LogonSession.LogonId="2""#],
    );
    check(
        &e,
        r#"ASSOCIATORS OF {Win32_Process.Handle="10098"} WHERE Role=Dependent"#,
        &[r#"Win32_LogonSession.LogonId="2""#],
    );
    // The System session holds every process outside an audit session.
    check(
        &e,
        r#"ASSOCIATORS OF {Win32_LogonSession.LogonId="0"} WHERE ResultClass=Win32_Process KeysOnly"#,
        &[
            r#"Win32_Process.Handle="1""#,
            r#"Win32_Process.Handle="11000""#,
            r#"Win32_Process.Handle="11020""#,
            r#"Win32_Process.Handle="11021""#,
            r#"Win32_Process.Handle="11091""#,
            r#"Win32_Process.Handle="900""#,
        ],
    );
    check(
        &e,
        r#"REFERENCES OF {Win32_LogonSession.LogonId="3"} WHERE ResultClass=Win32_LoggedOnUser"#,
        &[
            r#"Win32_LoggedOnUser.Antecedent="\\\\fixture-host\\root\\cimv2:Win32_UserAccount.Domain=\"fixture-host\",Name=\"bob\"",Dependent="\\\\fixture-host\\root\\cimv2:Win32_LogonSession.LogonId=\"3\"""#,
        ],
    );
    check(
        &e,
        r#"ASSOCIATORS OF {Win32_LogonSession.LogonId="2"} WHERE ClassDefsOnly"#,
        &["Win32_UserAccount", "Win32_Process"],
    );
}

#[test]
fn smb_session_to_tree_connect_to_share() {
    let root = root();
    let e = engine(&root, None);
    let alice_conn =
        r#"Win32_ServerConnection.ComputerName="127.0.0.1",ShareName="share",UserName="alice""#;
    check(
        &e,
        r#"ASSOCIATORS OF {Win32_ServerSession.ComputerName="127.0.0.1",UserName="alice"}"#,
        &[alice_conn],
    );
    check(
        &e,
        &format!("ASSOCIATORS OF {{{alice_conn}}}"),
        &[
            r#"Win32_ServerSession.ComputerName="127.0.0.1",UserName="alice""#,
            r#"Win32_Share.Name="share""#,
        ],
    );
    check(
        &e,
        r#"ASSOCIATORS OF {Win32_Share.Name="share"} WHERE ResultClass=Win32_ServerConnection"#,
        &[
            r#"Win32_ServerConnection.ComputerName="127.0.0.1",ShareName="share",UserName="alice""#,
            r#"Win32_ServerConnection.ComputerName="127.0.0.1",ShareName="share",UserName="nobody""#,
            r#"Win32_ServerConnection.ComputerName="::1",ShareName="share",UserName="alice""#,
        ],
    );
    // The open file is counted on alice's encrypted connection.
    let set = match e.query("root/cimv2", "SELECT NumberOfFiles FROM Win32_ServerConnection WHERE UserName = 'alice' AND ComputerName = '127.0.0.1'").expect("query").value {
        QueryOutput::Instances(set) => set,
        QueryOutput::Classes(_) => panic!("instances expected"),
    };
    assert_eq!(
        set.instances[0].get("NumberOfFiles"),
        Some(&linmgmt_cim::Value::Uint32(1))
    );
}

#[test]
fn bad_association_queries() {
    let root = root();
    let e = engine(&root, None);
    check(
        &e,
        r#"ASSOCIATORS OF {Win32_LogonSession.LogonId=2 } WHERE AssocClass=Win32_LoggedOnUser"#,
        &[
            "WBEM_E_INVALID_OBJECT_PATH (0x8004103A): whitespace is not allowed inside an object path",
        ],
    );
    check(
        &e,
        r#"ASSOCIATORS OF {Win32_LogonSession.LogonId="2"} WHERE AssocClass=Win32_LoggedOnUser AND Role=Dependent"#,
        &[
            "WBEM_E_INVALID_SYNTAX (0x80041021): ASSOCIATORS OF subclauses are separated by spaces, not AND",
        ],
    );
    check(
        &e,
        r#"ASSOCIATORS OF {Win32_LogonSession.LogonId="77"}"#,
        &[r#"WBEM_E_NOT_FOUND (0x80041002): no instance Win32_LogonSession.LogonId="77""#],
    );
}

#[test]
fn a_user_sees_only_their_own() {
    let root = root();
    let e = engine(&root, Some("bob"));
    check(
        &e,
        "SELECT * FROM Win32_LogonSession",
        &[r#"Win32_LogonSession.LogonId="3""#],
    );
    check(
        &e,
        "SELECT * FROM Win32_ServerSession",
        &[r#"Win32_ServerSession.ComputerName="10.0.0.6",UserName="bob""#],
    );
    check(
        &e,
        "SELECT * FROM Win32_UserAccount",
        &[r#"Win32_UserAccount.Domain="fixture-host",Name="bob""#],
    );
    check(
        &e,
        "SELECT * FROM Win32_Process",
        &[
            r#"Win32_Process.Handle="20000""#,
            r#"Win32_Process.Handle="20001""#,
        ],
    );
    check(&e, "SELECT * FROM Win32_ServerConnection", &[]);
    check(
        &e,
        r#"ASSOCIATORS OF {Win32_LogonSession.LogonId="2"}"#,
        &[r#"WBEM_E_NOT_FOUND (0x80041002): no instance Win32_LogonSession.LogonId="2""#],
    );
    // Asked for by key, as GetInstance and `WHERE key = '…'` ask: their own only.
    let found = |path: &str| e.get("root/cimv2", path).is_ok();
    assert!(found(r#"Win32_LogonSession.LogonId="3""#));
    assert!(
        !found(r#"Win32_LogonSession.LogonId="2""#),
        "alice's session"
    );
    assert!(found(r#"Win32_Process.Handle="20000""#));
    assert!(
        !found(r#"Win32_Process.Handle="1""#),
        "init is nobody's session"
    );
    check(
        &e,
        "SELECT * FROM Win32_Process WHERE Handle = '1' OR Handle = '20001'",
        &[r#"Win32_Process.Handle="20001""#],
    );
    check(&e, "SELECT * FROM Win32_Process WHERE Handle = '1'", &[]);
}

/// The NFS clients and exports of `09_shares_and_exports.fixture`.
fn nfs_root() -> FixtureRoot {
    let text = include_str!("../test_data/09_shares_and_exports.fixture");
    let body: String = text
        .lines()
        .skip_while(|l| l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    Fixture::parse(&body).build()
}

#[test]
fn nfs_session_to_connection_to_export() {
    let root = nfs_root();
    let e = engine(&root, None);
    let projects = r#"Win32_ServerConnection.ComputerName="192.168.1.30",ShareName="/export/projects",UserName="""#;
    let export =
        r#"Win32_ServerConnection.ComputerName="192.168.1.30",ShareName="/export",UserName="""#;
    check(
        &e,
        r#"ASSOCIATORS OF {Win32_ServerSession.ComputerName="192.168.1.30",UserName=""}"#,
        &[export, projects],
    );
    check(
        &e,
        &format!("ASSOCIATORS OF {{{projects}}}"),
        &[
            r#"Win32_ServerSession.ComputerName="192.168.1.30",UserName="""#,
            r#"Win32_Share.Name="/export/projects""#,
        ],
    );
    check(
        &e,
        r#"ASSOCIATORS OF {Win32_Share.Name="/export/projects"} WHERE AssocClass=Win32_ConnectionShare"#,
        &[projects],
    );
    check(
        &e,
        r#"ASSOCIATORS OF {Win32_Share.Name="/srv/nfs data"} WHERE ResultClass=Win32_ServerConnection"#,
        &[
            r#"Win32_ServerConnection.ComputerName="10.0.0.6",ShareName="/srv/nfs data",UserName="""#,
        ],
    );
    // State outside every export links to no share.
    check(
        &e,
        r#"ASSOCIATORS OF {Win32_ServerSession.ComputerName="2001:db8::40",UserName=""}"#,
        &[],
    );
    // Samba's configured shares and the exports, with nobody connected over SMB.
    check(
        &e,
        "SELECT Name FROM Win32_Share",
        &[
            r#"Win32_Share.Name="/export""#,
            r#"Win32_Share.Name="/export/projects""#,
            r#"Win32_Share.Name="/srv/nfs data""#,
            r#"Win32_Share.Name="Data""#,
            r#"Win32_Share.Name="homes""#,
            r#"Win32_Share.Name="public""#,
        ],
    );
    // Two clients from one address: their open states under the export add up.
    let set = match e
        .query(
            "root/cimv2",
            "SELECT NumberOfFiles FROM Win32_ServerConnection WHERE ShareName = '/export/projects'",
        )
        .expect("query")
        .value
    {
        QueryOutput::Instances(set) => set,
        QueryOutput::Classes(_) => panic!("instances expected"),
    };
    assert_eq!(
        set.instances[0].get("NumberOfFiles"),
        Some(&linmgmt_cim::Value::Uint32(3))
    );
}

#[test]
fn a_user_sees_no_nfs_connections() {
    let root = nfs_root();
    let e = engine(&root, Some("alice"));
    check(&e, "SELECT * FROM Win32_ServerConnection", &[]);
    check(&e, "SELECT * FROM Win32_SessionConnection", &[]);
    check(&e, "SELECT * FROM Win32_ConnectionShare", &[]);
    check(&e, "SELECT * FROM Win32_Share", &[]);
}

/// `ASSOCIATORS OF` and `REFERENCES OF` every session, account and process of `root`.
fn associations_of_everything(root: &FixtureRoot) -> Vec<String> {
    let classes = [
        "Win32_LogonSession",
        "Win32_UserAccount",
        "Win32_Process",
        "Win32_ServerSession",
    ];
    let mut queries = Vec::new();
    for class in classes {
        for path in relpaths(&engine(root, None), &format!("SELECT * FROM {class}")) {
            for kind in ["ASSOCIATORS", "REFERENCES"] {
                queries.push(format!("{kind} OF {{{path}}}"));
            }
        }
    }
    queries
}

/// Names only (`KeysOnly`) read less of the far ends, and name exactly the objects the
/// whole answer has, for every object of the fixture, each on a fresh provider (so that
/// no whole answer is cached for it).
#[test]
fn names_only_name_what_the_whole_answer_has() {
    let root = root();
    let mut compared = 0;
    for query in associations_of_everything(&root) {
        let whole = relpaths(&engine(&root, None), &query);
        let names = relpaths(&engine(&root, None), &format!("{query} WHERE KeysOnly"));
        assert_eq!(names, whole, "{query}");
        compared += whole.len();
    }
    assert!(compared > 20, "objects compared: {compared}");
}

/// A property list (CIM-XML's `PropertyList` on Associators and References) builds only
/// those properties, and each has the value `GetInstance` gives the same object: for every
/// object of the fixture, each list on a fresh provider. The reference is built apart, so a
/// list that reaches too far (or not far enough) fails.
#[test]
fn a_property_list_gives_what_get_instance_gives() {
    use linmgmt_engine::Wanted;
    let root = root();
    let reference = engine(&root, None);
    // Lists that cross the classes: the origin of a logon session (Caption, Name and
    // AuthenticationPackage need its connection), a process's, a server session's.
    let lists: [&[&str]; 5] = [
        &["Caption"],
        &["StartTime", "LogonType"],
        &["Name", "UserName", "Handle"],
        &["AuthenticationPackage", "ActiveTime", "ComputerName"],
        &["Description", "ExecutablePath", "Antecedent", "SID"],
    ];
    let mut compared = 0;
    for query in associations_of_everything(&root) {
        let names = relpaths(&reference, &query);
        for list in lists {
            let shown = Wanted::Only(list.iter().map(|&n| n.into()).collect());
            let e = engine(&root, None);
            let answer = e.query_showing("root/cimv2", &query, &shown).expect(&query);
            let QueryOutput::Instances(set) = answer.value else {
                panic!("{query}: instances")
            };
            assert_eq!(set.instances.len(), names.len(), "{query} {list:?}");
            for part in &set.instances {
                let path = part.path().expect("a path").to_string();
                let whole = reference.get("root/cimv2", &path).expect(&path).value;
                for name in list.iter().filter(|n| whole.class().property(n).is_some()) {
                    let what = format!("{query} {list:?}: {name} of {path}");
                    assert_eq!(part.get(name), whole.get(name), "{what}");
                    compared += 1;
                }
            }
        }
    }
    assert!(compared > 100, "properties compared: {compared}");
}
