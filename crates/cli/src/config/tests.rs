//! The config file: each case is a file, a command line, and either the arguments the file
//! adds or the errors it gives (file and line).

use super::{expand_with, read, reference, serve_command};
use std::ffi::OsString;
use std::path::Path;

/// The settings `text` gives as command-line arguments (`;`-joined), or its errors.
fn settings(text: &str) -> String {
    let serve = serve_command();
    match read(&serve, Path::new("/etc/linmgmt/linmgmt.toml"), text) {
        Ok(settings) => settings
            .iter()
            .flat_map(|s| s.args.iter().map(|a| a.to_string_lossy().into_owned()))
            .collect::<Vec<_>>()
            .join(" "),
        Err(errors) => errors
            .iter()
            .map(|e| format!("error: {e}"))
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

#[track_caller]
fn check(text: &str, expected: &str) {
    assert_eq!(settings(text), expected, "config file:\n{text}");
}

#[test]
fn good_files_become_command_line_arguments() {
    check("", "");
    check("# only a comment\n", "");
    check(
        r#"
users = "/etc/linmgmt/users"
listen = ["http://127.0.0.1:5988", "https://[::]:5989"]
tls-cert = "/etc/linmgmt/tls.crt"
tls-key = "/etc/linmgmt/tls.key"
wsman = true
insecure = false
max-age = 1.5
max-connections = 100
log-level = "debug"
"#,
        "--users=/etc/linmgmt/users \
         --listen=http://127.0.0.1:5988 --listen=https://[::]:5989 \
         --tls-cert=/etc/linmgmt/tls.crt --tls-key=/etc/linmgmt/tls.key \
         --wsman --max-age=1.5 --max-connections=100 --log-level=debug",
    );
    // `_` for `-`, a single value for a list, numbers as on the command line (a string too).
    check(
        "max_connections_per_address = 0x10\nlisten = \"127.0.0.1:5988\"\nheader-timeout = \"20\"\nrequest_timeout = 2\n",
        "--max-connections-per-address=16 --listen=127.0.0.1:5988 --header-timeout=20 --request-timeout=2",
    );
    // A key's former name (a visible alias) still works; both names at once are one key
    // set twice.
    check("samba-refresh = 2\n", "--server-refresh=2");
    check(
        "samba-refresh = 2\nserver-refresh = 3\n",
        "error: /etc/linmgmt/linmgmt.toml:2: \"server-refresh\" is set twice (also as \"samba-refresh\" on line 1)",
    );
    // Global options of `linmgmt` are options of `serve` too.
    check(
        "sshd-log = [\"/var/log/auth.log\"]\nsmbstatus = \"/usr/local/bin/smbstatus\"\n",
        "--sshd-log=/var/log/auth.log --smbstatus=/usr/local/bin/smbstatus",
    );
}

#[test]
fn mistakes_are_errors_at_their_line() {
    let f = "error: /etc/linmgmt/linmgmt.toml";
    check(
        "users = \"/etc/linmgmt/users\"\n\nlisen = [\"127.0.0.1:5988\"]\n",
        &format!("{f}:3: unknown key \"lisen\" (did you mean \"listen\"?)"),
    );
    check(
        "max_conections = 3",
        &format!("{f}:1: unknown key \"max_conections\" (did you mean \"max-connections\"?)"),
    );
    check("colour = 1", &format!("{f}:1: unknown key \"colour\""));
    check(
        "# comment\nusers = \"u\"\nmax-age = \"abc\"\n",
        &format!(
            "{f}:3: max-age: invalid value 'abc' for '--max-age <SECONDS>': invalid float literal"
        ),
    );
    check(
        "max-connections = -1",
        &format!(
            "{f}:1: max-connections: invalid value '-1' for '--max-connections <N>': invalid digit found in string"
        ),
    );
    // Wrong TOML types.
    check(
        "users = [\"a\", \"b\"]",
        &format!("{f}:1: users: expected one FILE (the option is not repeatable), not an array"),
    );
    check(
        "wsman = \"yes\"",
        &format!("{f}:1: wsman: expected true or false, not the string \"yes\""),
    );
    check(
        "users = 5",
        &format!("{f}:1: users: expected a string (FILE), not the integer 5"),
    );
    check(
        "max-age = true",
        &format!("{f}:1: max-age: expected SECONDS, not true"),
    );
    check(
        "listen = [\"127.0.0.1:5988\",\n  [\"nested\"]]",
        &format!("{f}:2: listen: expected a string (ADDR:PORT), not an array"),
    );
    check(
        "[serve]\nusers = \"x\"",
        &format!("{f}:1: unknown key \"serve\" (the file has no sections: keys go at the top)"),
    );
    // Several mistakes: every one, in line order.
    check(
        "lisen = 1\nusers = \"u\"\nwsman = 1\n",
        &format!(
            "{f}:1: unknown key \"lisen\" (did you mean \"listen\"?)\n{f}:3: wsman: expected true or false, not the integer 1"
        ),
    );
    // The same key twice, once with `_`.
    check(
        "max-age = 1\nmax_age = 2\n",
        &format!("{f}:2: \"max_age\" is set twice (also as \"max-age\" on line 1)"),
    );
    check(
        "config = \"/x\"",
        &format!("{f}:1: \"config\" cannot be set in the config file (it names the file)"),
    );
    // Hidden options are not keys.
    check(
        "instances = [\"x\"]",
        &format!("{f}:1: unknown key \"instances\""),
    );
    // TOML syntax.
    check(
        "users = \"/etc/linmgmt/users\"\nlisten = [\n",
        &format!("{f}:2: unclosed array, expected `]`"),
    );
    check("a = 1\na = 2\n", &format!("{f}:2: duplicate key"));
}

/// The command line `linmgmt` sees after `expand` with `file` as its config file.
fn expanded(file: &str, args: &[&str]) -> String {
    // A file of its own in the temp directory, removed below (no directory left behind).
    let path = std::env::temp_dir().join(format!(
        "linmgmt-config-test-{}-{}.toml",
        std::process::id(),
        args.join("_").replace('/', "_")
    ));
    std::fs::write(&path, file).unwrap();
    let mut argv: Vec<OsString> = vec!["linmgmt".into()];
    argv.extend(
        args.iter()
            .map(|a| a.replace("CONFIG", &path.to_string_lossy()).into()),
    );
    let out = expand_with(argv, Path::new("/nonexistent/linmgmt.toml"));
    std::fs::remove_file(&path).ok();
    match out {
        Ok(argv) => argv
            .iter()
            .skip(1)
            .map(|a| {
                a.to_string_lossy()
                    .replace(&*path.to_string_lossy(), "CONFIG")
            })
            .collect::<Vec<_>>()
            .join(" "),
        Err(e) => format!("error: {e}").replace(&*path.to_string_lossy(), "CONFIG"),
    }
}

#[test]
fn flags_override_the_file() {
    let file = "users = \"/etc/linmgmt/users\"\nlisten = [\"a:1\", \"b:2\"]\nmax-age = 3\nwsman = true\nsshd-log = [\"/l\"]\n";
    // Nothing on the command line: all of the file.
    assert_eq!(
        expanded(file, &["serve", "--config", "CONFIG"]),
        "serve --config CONFIG --users=/etc/linmgmt/users --listen=a:1 --listen=b:2 --max-age=3 --wsman --sshd-log=/l"
    );
    // A single option, a flag, a repeatable option (the command line's list replaces the
    // file's) and a global option before the subcommand.
    assert_eq!(
        expanded(
            file,
            &[
                "--sshd-log",
                "/x",
                "serve",
                "--config=CONFIG",
                "--max-age",
                "0.5",
                "--listen",
                "c:3",
                "--wsman"
            ]
        ),
        "--sshd-log /x serve --config=CONFIG --max-age 0.5 --listen c:3 --wsman --users=/etc/linmgmt/users"
    );
    // Other commands do not read it.
    assert_eq!(
        expanded(file, &["query", "SELECT * FROM Win32_Process"]),
        "query SELECT * FROM Win32_Process"
    );
    // Before a `--`.
    assert_eq!(
        expanded("max-age = 3", &["serve", "--config", "CONFIG", "--"]),
        "serve --config CONFIG --max-age=3 --"
    );
    // A missing file given explicitly is an error; errors name the file.
    assert!(
        expanded(file, &["serve", "--config", "/nonexistent/x.toml"])
            .starts_with("error: config file /nonexistent/x.toml: No such file"),
    );
    assert_eq!(
        expanded("lisen = 1", &["serve", "--config", "CONFIG"]),
        "error: CONFIG:1: unknown key \"lisen\" (did you mean \"listen\"?)"
    );
    // The default file is optional.
    assert_eq!(
        expanded(file, &["serve", "--users", "u"]),
        "serve --users u"
    );
}

/// docs/config.md holds the reference of every key, generated from `serve`'s options:
/// `UPDATE_EXPECT=1 cargo test -p linmgmt config` rewrites it.
#[test]
fn docs_list_every_key() {
    const BEGIN: &str = "<!-- keys: generated from `linmgmt serve --help` by the config tests (UPDATE_EXPECT=1) -->\n";
    const END: &str = "<!-- end of keys -->\n";
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/config.md");
    let doc = std::fs::read_to_string(&path).expect("docs/config.md");
    let (Some(begin), Some(end)) = (doc.find(BEGIN), doc.find(END)) else {
        panic!("docs/config.md: no {BEGIN:?} … {END:?} markers");
    };
    let actual = format!("{}{BEGIN}\n{}{}", &doc[..begin], reference(), &doc[end..]);
    linmgmt_test_support::golden::assert_golden(&path, &actual);
}

/// dist/linmgmt.toml (installed as /etc/linmgmt/linmgmt.toml) works as it is, and so does
/// each commented-out example setting in it (`# key = value` lines) once uncommented.
#[test]
fn the_example_file_works() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dist/linmgmt.toml");
    let text = std::fs::read_to_string(&path).expect("dist/linmgmt.toml");
    assert_eq!(
        settings(&text),
        "--users=/etc/linmgmt/users --listen=http://127.0.0.1:5988"
    );
    let serve = serve_command();
    let mut examples = 0;
    for (n, line) in text.lines().enumerate() {
        let Some(setting) = line
            .strip_prefix("# ")
            .or_else(|| line.strip_prefix("#   "))
        else {
            continue;
        };
        let Some((key, _)) = setting.split_once(" = ") else {
            continue;
        };
        if !key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c == '-' || c == '_')
        {
            continue;
        }
        examples += 1;
        if let Err(errors) = read(&serve, &path, setting) {
            panic!("dist/linmgmt.toml:{}: {setting}: {errors:?}", n + 1);
        }
    }
    assert!(examples >= 10, "only {examples} examples found");
}
