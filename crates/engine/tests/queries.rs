//! Data-driven query tests: each `test_data/queries/NAME.wql` runs against the instances in
//! `test_data/instances.mof` and must print exactly `NAME.out` (list format, or the error).
//! A missing or different `.out` fails; `UPDATE_EXPECT=1` writes them
//! (`linmgmt_test_support::golden`).

use linmgmt_cim::{SystemContext, WbemStatus};
use linmgmt_engine::{Engine, MemoryProvider, QueryOutput, Wanted};
use linmgmt_render::{Format, RenderOptions, render, render_classes};
use linmgmt_schema::Repository;
use linmgmt_test_support::golden::{Goldens, cases};
use linmgmt_wql::CompileOptions;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn engine() -> Engine {
    let repo = Arc::new(Repository::builtin().expect("schema loads"));
    let text = include_str!("../test_data/instances.mof");
    let instances = repo
        .instantiate("root/cimv2", "instances.mof", text)
        .expect("instances load");
    let mut engine = Engine::new(
        repo,
        SystemContext {
            server: "HOST".into(),
        },
        CompileOptions::default(),
    );
    engine.register(Arc::new(MemoryProvider::new(instances)));
    engine
}

/// Runs one query file; the first line may be `-- namespace: NS` or `-- format: F`.
fn run(engine: &Engine, text: &str) -> String {
    let mut namespace = "root/cimv2";
    let mut format = Format::List;
    let mut query = String::new();
    for line in text.lines() {
        if let Some(ns) = line.strip_prefix("-- namespace: ") {
            namespace = ns.trim();
        } else if let Some(f) = line.strip_prefix("-- format: ") {
            format = f.trim().parse().expect("a format");
        } else {
            query.push_str(line);
            query.push('\n');
        }
    }
    let query = query.trim();
    let opts = RenderOptions {
        color: false,
        width: None,
        context: engine.context().clone(),
    };
    let mut out = Vec::new();
    match engine.query(namespace, query) {
        Ok(answer) => {
            match answer.value {
                QueryOutput::Instances(set) => render(format, &set, &opts, &mut out),
                QueryOutput::Classes(classes) => render_classes(format, &classes, &opts, &mut out),
            }
            .expect("render");
        }
        Err(e) => {
            out.extend(format!("{e}\n").as_bytes());
            if let Some(span) = e.span {
                out.extend(linmgmt_wql::caret(query, span).as_bytes());
            }
        }
    }
    String::from_utf8(out).expect("utf-8")
}

#[test]
fn query_goldens() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("test_data/queries");
    let engine = engine();
    let mut goldens = Goldens::new();
    for path in cases(&dir, "wql") {
        let text = std::fs::read_to_string(&path).expect("read");
        goldens.check(&path.with_extension("out"), &run(&engine, &text));
    }
    goldens.finish(20);
}

#[test]
fn get_by_path() {
    let engine = engine();
    let check = |path: &str, expect: Result<&str, &str>| {
        let got = engine
            .get("root/cimv2", path)
            .map(|a| a.value.path().map(|p| p.to_string()).unwrap_or_default())
            .map_err(|e| e.to_string());
        assert_eq!(
            got.as_deref(),
            expect.map_err(str::to_owned).as_deref(),
            "{path}"
        );
    };
    check(
        r#"Win32_LogonSession.LogonId="3""#,
        Ok(r#"Win32_LogonSession.LogonId="3""#),
    );
    check(
        r#"win32_logonsession="C7""#,
        Ok(r#"Win32_LogonSession.LogonId="c7""#),
    );
    check(
        r#"\\HOST\root\cimv2:Win32_ServerSession.UserName="alice",ComputerName="10.0.0.5""#,
        Ok(r#"Win32_ServerSession.ComputerName="10.0.0.5",UserName="alice""#),
    );
    check(
        r#"Win32_Account.Domain="host",Name="staff""#,
        Ok(r#"Win32_Group.Domain="host",Name="staff""#),
    );
    check(
        r#"Win32_LogonSession.LogonId="99""#,
        Err(r#"WBEM_E_NOT_FOUND (0x80041002): no instance Win32_LogonSession.LogonId="99""#),
    );
    // A number for a string key is its text, as in WMI: LogonId=0 is LogonId="0".
    check(
        "Win32_LogonSession.LogonId=0",
        Ok(r#"Win32_LogonSession.LogonId="0""#),
    );
    check(
        "Win32_LogonSession=4",
        Ok(r#"Win32_LogonSession.LogonId="4""#),
    );
    check("Win32_Process=1", Ok(r#"Win32_Process.Handle="1""#));
    check(
        "win32_process.handle=100",
        Ok(r#"Win32_Process.Handle="100""#),
    );
    check(
        "CIM_Process.Handle=101",
        Ok(r#"Win32_Process.Handle="101""#),
    );
    check(
        r#"\\HOST\root\cimv2:Win32_Process.Handle=200"#,
        Ok(r#"Win32_Process.Handle="200""#),
    );
    check(
        "Win32_LogonSession.LogonId=99",
        Err(r#"WBEM_E_NOT_FOUND (0x80041002): no instance Win32_LogonSession.LogonId="99""#),
    );
    check(
        r#"Win32_ServerSession="x""#,
        Err(
            r#"WBEM_E_INVALID_OBJECT_PATH (0x8004103A): Win32_ServerSession has 2 keys; name them, e.g. Win32_ServerSession.ComputerName="...",UserName="...""#,
        ),
    );
    check(
        r#"Win32_LogonSession.Name="x""#,
        Err(
            "WBEM_E_INVALID_OBJECT_PATH (0x8004103A): Name is not a key of Win32_LogonSession; its keys are LogonId",
        ),
    );
    check(
        "Win32_LogonSession",
        Err(
            r#"WBEM_E_INVALID_OBJECT_PATH (0x8004103A): Win32_LogonSession names a class; give its keys, e.g. Win32_LogonSession.LogonId="...""#,
        ),
    );
    check(
        r#"Win32_Nope.K="1""#,
        Err("WBEM_E_INVALID_CLASS (0x80041010): no class Win32_Nope in root/cimv2"),
    );
    check(
        r#"Win32_LogonSession.LogonId="3" "#,
        Err("WBEM_E_INVALID_OBJECT_PATH (0x8004103A): whitespace is not allowed in object paths"),
    );
}

/// The request deadline: an engine whose deadline has passed answers `WBEM_E_TIMED_OUT`
/// instead of finishing; one with time left, or none (the CLI), answers as usual.
fn check_deadline(query: &str) {
    let engine = engine();
    let late = engine.with_deadline(Instant::now() - Duration::from_millis(1));
    let err = late.query("root/cimv2", query).expect_err("times out");
    assert_eq!(err.status, WbemStatus::TimedOut, "{query}: {err}");
    assert!(err.message.contains("deadline"), "{}", err.message);
    let in_time = engine.with_deadline(Instant::now() + Duration::from_secs(60));
    assert!(in_time.query("root/cimv2", query).is_ok(), "{query}");
    // Without a deadline (the CLI) nothing changes.
    assert!(engine.query("root/cimv2", query).is_ok(), "{query}");
}

#[test]
fn a_passed_deadline_stops_data_queries() {
    check_deadline("SELECT * FROM Win32_LogonSession");
    check_deadline("SELECT * FROM CIM_ManagedSystemElement WHERE Name LIKE '%a%'");
}

#[test]
fn a_passed_deadline_stops_association_walks() {
    check_deadline("ASSOCIATORS OF {Win32_LogonSession.LogonId=\"3\"}");
    check_deadline("REFERENCES OF {Win32_LogonSession.LogonId=\"3\"}");
}

/// A provider whose instances take a while: the deadline passes while it works.
struct Slow(MemoryProvider, Duration);

impl linmgmt_engine::Provider for Slow {
    fn serves(&self, namespace: &str, class: &linmgmt_cim::Name) -> bool {
        self.0.serves(namespace, class)
    }

    fn instances(
        &self,
        class: &Arc<linmgmt_cim::ClassDef>,
        ask: linmgmt_engine::Ask<'_>,
        out: &mut Vec<linmgmt_cim::Instance>,
        warnings: &mut Vec<linmgmt_engine::Warning>,
    ) {
        std::thread::sleep(self.1);
        self.0.instances(class, ask, out, warnings);
    }
}

#[test]
fn a_deadline_that_passes_during_a_query_stops_its_evaluation() {
    // Checked before the provider runs (in time), then while the instances are filtered
    // (late): only the check in the evaluation loop can stop this query.
    let repo = Arc::new(Repository::builtin().expect("schema loads"));
    let instances = repo
        .instantiate(
            "root/cimv2",
            "instances.mof",
            include_str!("../test_data/instances.mof"),
        )
        .expect("instances load");
    let mut engine = Engine::new(
        repo,
        SystemContext {
            server: "HOST".into(),
        },
        CompileOptions::default(),
    );
    let pause = Duration::from_millis(300);
    engine.register(Arc::new(Slow(MemoryProvider::new(instances), pause)));
    let query = "SELECT * FROM Win32_LogonSession";
    let late = engine.with_deadline(Instant::now() + pause / 3);
    let err = late.query("root/cimv2", query).expect_err("times out");
    assert_eq!(err.status, WbemStatus::TimedOut, "{err}");
    let in_time = engine.with_deadline(Instant::now() + pause * 20);
    assert!(in_time.query("root/cimv2", query).is_ok());
}

/// A provider that records what each request wanted of it, by class: asked for every
/// instance, and asked by keys.
struct Recording(
    MemoryProvider,
    std::sync::Mutex<Vec<(String, Wanted)>>,
    std::sync::Mutex<Vec<(String, Wanted)>>,
);

impl linmgmt_engine::Provider for Recording {
    fn serves(&self, namespace: &str, class: &linmgmt_cim::Name) -> bool {
        self.0.serves(namespace, class)
    }

    fn instances(
        &self,
        class: &Arc<linmgmt_cim::ClassDef>,
        ask: linmgmt_engine::Ask<'_>,
        out: &mut Vec<linmgmt_cim::Instance>,
        warnings: &mut Vec<linmgmt_engine::Warning>,
    ) {
        let asked = (class.name.to_string(), ask.wanted.clone());
        let log = if ask.keys.is_empty() {
            &self.1
        } else {
            &self.2
        };
        log.lock().unwrap().push(asked);
        self.0.instances(class, ask, out, warnings);
    }
}

#[test]
fn providers_are_told_which_properties_a_request_reads() {
    let repo = Arc::new(Repository::builtin().expect("schema loads"));
    let text = include_str!("../test_data/instances.mof");
    let instances = repo
        .instantiate("root/cimv2", "instances.mof", text)
        .expect("instances load");
    let recording = Arc::new(Recording(
        MemoryProvider::new(instances),
        Default::default(),
        Default::default(),
    ));
    let mut engine = Engine::new(
        repo,
        SystemContext {
            server: "HOST".into(),
        },
        CompileOptions::default(),
    );
    engine.register(recording.clone());
    let only = |list: &[&str]| Wanted::Only(list.iter().map(|&n| n.into()).collect());
    // The request (with what its caller shows), then what each class it asked for was
    // asked with.
    let asks = |request: &str, shown: Wanted, expected: &[(&str, Wanted)]| {
        let answer = if let Some(path) = request.strip_prefix("get ") {
            engine.get("root/cimv2", path).map(drop)
        } else {
            engine
                .query_showing("root/cimv2", request, &shown)
                .map(drop)
        };
        answer.expect(request);
        let seen = std::mem::take(&mut *recording.1.lock().unwrap());
        for (class, wanted) in expected {
            let asked: Vec<&Wanted> = (seen.iter())
                .filter(|(c, _)| c.eq_ignore_ascii_case(class))
                .map(|(_, w)| w)
                .collect();
            assert!(!asked.is_empty(), "{request}: {class} was asked for");
            assert!(
                asked.iter().all(|w| *w == wanted),
                "{request}: {class}: {asked:?}"
            );
        }
    };
    let check = |request: &str, expected: &[(&str, Wanted)]| asks(request, Wanted::All, expected);
    let session = "Win32_LogonSession";
    check(
        "SELECT * FROM Win32_LogonSession",
        &[(session, Wanted::All)],
    );
    check(
        "SELECT LogonId, LogonType FROM Win32_LogonSession",
        &[(session, only(&["LogonId", "LogonType"]))],
    );
    // The WHERE clause's properties are read too, though not shown.
    check(
        "SELECT LogonId FROM Win32_LogonSession WHERE Caption LIKE '%10.0%' OR NOT LogonType = 2",
        &[(session, only(&["LogonId", "Caption", "LogonType"]))],
    );
    // System properties need only the keys, which are always filled.
    check(
        "SELECT __PATH FROM Win32_LogonSession",
        &[(session, only(&[]))],
    );
    // Associations: the links' references, and the far ends whole, or only their keys when
    // only their names are shown. (The source is asked for by its keys: below.)
    let links = only(&["Antecedent", "Dependent"]);
    check(
        r#"ASSOCIATORS OF {Win32_LogonSession.LogonId="3"}"#,
        &[
            ("Win32_LoggedOnUser", links.clone()),
            ("Win32_SessionProcess", links.clone()),
            ("Win32_Process", Wanted::All),
        ],
    );
    check(
        r#"ASSOCIATORS OF {Win32_LogonSession.LogonId="3"} WHERE KeysOnly"#,
        &[
            ("Win32_SessionProcess", links.clone()),
            ("Win32_Process", only(&[])),
        ],
    );
    check(
        r#"REFERENCES OF {Win32_LogonSession.LogonId="3"}"#,
        &[("Win32_SessionProcess", Wanted::All)],
    );
    check(
        r#"REFERENCES OF {Win32_LogonSession.LogonId="3"} WHERE ClassDefsOnly"#,
        &[("Win32_SessionProcess", links.clone())],
    );
    // A caller that shows only some properties of what an association finds (CIM-XML's
    // PropertyList): the far ends are asked for those; links, for their references and
    // those. A SELECT's own list decides for it.
    asks(
        r#"ASSOCIATORS OF {Win32_LogonSession.LogonId="3"}"#,
        only(&["Name"]),
        &[
            ("Win32_SessionProcess", links.clone()),
            ("Win32_Process", only(&["Name"])),
        ],
    );
    asks(
        r#"REFERENCES OF {Win32_LogonSession.LogonId="3"}"#,
        only(&["Dependent", "Caption"]),
        &[(
            "Win32_SessionProcess",
            only(&["Antecedent", "Dependent", "Caption"]),
        )],
    );
    asks(
        r#"ASSOCIATORS OF {Win32_LogonSession.LogonId="3"} WHERE KeysOnly"#,
        only(&["Name"]),
        &[("Win32_Process", only(&[]))],
    );
    asks(
        "SELECT LogonId FROM Win32_LogonSession",
        only(&["Caption"]),
        &[(session, only(&["LogonId"]))],
    );
    // A request that names its instance by key asks for it by key, with what it reads; the
    // filter still decides.
    let by_keys = |request: &str| {
        recording.2.lock().unwrap().clear();
        let answer = match request.strip_prefix("get ") {
            Some(path) => engine.get("root/cimv2", path).map(|_| 1),
            None => match engine.query("root/cimv2", request).map(|a| a.value) {
                Ok(QueryOutput::Instances(set)) => Ok(set.instances.len()),
                other => panic!("{request}: {other:?}"),
            },
        };
        let asked = recording.2.lock().unwrap().clone();
        (answer.expect(request), asked)
    };
    let session = |wanted: Wanted| vec![("Win32_LogonSession".to_owned(), wanted)];
    assert_eq!(
        by_keys(r#"get Win32_LogonSession.LogonId="3""#),
        (1, session(Wanted::All))
    );
    assert_eq!(
        by_keys("SELECT * FROM Win32_LogonSession WHERE LogonId = '3'"),
        (1, session(Wanted::All))
    );
    assert_eq!(
        by_keys("SELECT LogonId FROM Win32_LogonSession WHERE LogonType = 10 AND LogonId = '3'"),
        (1, session(only(&["LogonId", "LogonType"])))
    );
    assert_eq!(
        by_keys("SELECT * FROM Win32_LogonSession WHERE LogonId = '3' AND LogonType = 2"),
        (0, session(Wanted::All))
    );
    for whole in [
        "SELECT * FROM Win32_LogonSession WHERE LogonId = '3' OR LogonType = 4",
        "SELECT * FROM Win32_LogonSession WHERE NOT LogonId = '3'",
        "SELECT * FROM Win32_LogonSession WHERE LogonId <> '3'",
        "SELECT * FROM Win32_LogonSession WHERE LogonId LIKE '3'",
    ] {
        let (n, asked) = by_keys(whole);
        assert!(n >= 1 && asked.is_empty(), "{whole}: {n} {asked:?}");
    }

    // What a projection leaves out is not shown, whatever the provider filled.
    let answer = engine
        .query(
            "root/cimv2",
            "SELECT LogonId FROM Win32_LogonSession WHERE LogonType = 10",
        )
        .unwrap();
    let QueryOutput::Instances(set) = answer.value else {
        panic!("instances")
    };
    assert_eq!(set.instances.len(), 1);
    assert!(set.instances[0].get("AuthenticationPackage").is_none());
}
