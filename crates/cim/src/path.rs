//! WMI object paths: `\\HOST\root\cimv2:Class.Key="v",Other=5`, `Class="v"`,
//! `Class=@` and class paths, parsed and printed in one canonical form.

use crate::{Name, Span};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

/// The longest object path accepted, in bytes; longer input is refused, not parsed.
pub const MAX_PATH_LEN: usize = 64 * 1024;

/// A parsed object path. Keys are kept sorted by name, so paths that differ only in
/// key order are equal and print the same.
#[derive(Clone, Debug)]
pub struct ObjectPath {
    /// The server, `.` for the local machine; `None` for a relative path.
    pub server: Option<String>,
    /// The namespace with `/` separators (`root/cimv2`); `None` for a relative path.
    pub namespace: Option<String>,
    /// The class.
    pub class: Name,
    /// The key bindings, sorted by name; empty for a class path or a singleton.
    pub keys: Vec<KeyBinding>,
    /// Whether this is a singleton path, `Class=@`.
    pub singleton: bool,
}

/// One key of an instance path.
#[derive(Clone, Debug)]
pub struct KeyBinding {
    /// The key property; `None` in the single-key short form `Class="v"`.
    pub name: Option<Name>,
    /// The key's value.
    pub value: KeyValue,
}

/// The value of a key in a path. References are carried as their path string, as WMI does.
#[derive(Clone, Debug)]
pub enum KeyValue {
    /// A quoted string (also references and datetimes).
    String(String),
    /// A decimal integer.
    Integer(i128),
    /// `TRUE` or `FALSE`.
    Boolean(bool),
}

impl PartialEq for KeyValue {
    /// Strings compare without regard to case, as WMI compares paths.
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (KeyValue::String(a), KeyValue::String(b)) => a
                .chars()
                .flat_map(char::to_lowercase)
                .eq(b.chars().flat_map(char::to_lowercase)),
            (KeyValue::Integer(a), KeyValue::Integer(b)) => a == b,
            (KeyValue::Boolean(a), KeyValue::Boolean(b)) => a == b,
            _ => false,
        }
    }
}

impl Eq for KeyValue {}

impl Hash for KeyValue {
    fn hash<H: Hasher>(&self, state: &mut H) {
        match self {
            KeyValue::String(s) => s.to_lowercase().hash(state),
            KeyValue::Integer(n) => n.hash(state),
            KeyValue::Boolean(b) => b.hash(state),
        }
    }
}

impl PartialEq for KeyBinding {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.value == other.value
    }
}

impl Eq for KeyBinding {}

impl Hash for KeyBinding {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state);
        self.value.hash(state);
    }
}

/// Why text is not an object path.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid object path: {message}")]
pub struct PathError {
    /// What is wrong.
    pub message: String,
    /// Where, in the text given.
    pub span: Span,
}

fn fail<T>(message: impl Into<String>, start: usize, end: usize) -> Result<T, PathError> {
    Err(PathError {
        message: message.into(),
        span: Span::new(start, end),
    })
}

impl ObjectPath {
    /// A class path (no keys).
    pub fn class(class: impl Into<Name>) -> Self {
        ObjectPath {
            server: None,
            namespace: None,
            class: class.into(),
            keys: Vec::new(),
            singleton: false,
        }
    }

    /// An instance path with the given keys (sorted here).
    pub fn instance(class: impl Into<Name>, keys: Vec<(Name, KeyValue)>) -> Self {
        let mut keys: Vec<KeyBinding> = keys
            .into_iter()
            .map(|(name, value)| KeyBinding {
                name: Some(name),
                value,
            })
            .collect();
        keys.sort_by(|a, b| a.name.cmp(&b.name));
        ObjectPath {
            server: None,
            namespace: None,
            class: class.into(),
            keys,
            singleton: false,
        }
    }

    /// The same path with a server and namespace.
    pub fn with_location(
        mut self,
        server: impl Into<String>,
        namespace: impl Into<String>,
    ) -> Self {
        self.server = Some(server.into());
        self.namespace = Some(crate::NamespaceName::new(&namespace.into()).into());
        self
    }

    /// The path without server and namespace (WMI's `__RELPATH`).
    pub fn relative(&self) -> ObjectPath {
        ObjectPath {
            server: None,
            namespace: None,
            ..self.clone()
        }
    }

    /// Whether this names a class rather than an instance.
    pub fn is_class_path(&self) -> bool {
        self.keys.is_empty() && !self.singleton
    }

    /// The value of a key, by name.
    pub fn key(&self, name: &str) -> Option<&KeyValue> {
        self.keys
            .iter()
            .find(|k| k.name.as_ref().is_some_and(|n| n.is(name)))
            .map(|k| &k.value)
    }

    /// Whether both paths name the same object, ignoring server and namespace where
    /// either path leaves them out (a relative path matches any location).
    pub fn same_object(&self, other: &ObjectPath) -> bool {
        let ns_ok = match (&self.namespace, &other.namespace) {
            (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
            _ => true,
        };
        ns_ok
            && self.class == other.class
            && self.singleton == other.singleton
            && self.keys == other.keys
    }
}

impl PartialEq for ObjectPath {
    fn eq(&self, other: &Self) -> bool {
        let lower = |s: &Option<String>| s.as_deref().map(str::to_ascii_lowercase);
        lower(&self.server) == lower(&other.server)
            && lower(&self.namespace) == lower(&other.namespace)
            && self.class == other.class
            && self.singleton == other.singleton
            && self.keys == other.keys
    }
}

impl Eq for ObjectPath {}

impl Hash for ObjectPath {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.server
            .as_deref()
            .map(str::to_ascii_lowercase)
            .hash(state);
        self.namespace
            .as_deref()
            .map(str::to_ascii_lowercase)
            .hash(state);
        self.class.hash(state);
        self.singleton.hash(state);
        self.keys.hash(state);
    }
}

/// Writes `s` as a double-quoted path string, escaping `\` and `"`.
pub(crate) fn write_quoted(f: &mut impl fmt::Write, s: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in s.chars() {
        if c == '"' || c == '\\' {
            f.write_char('\\')?;
        }
        f.write_char(c)?;
    }
    f.write_char('"')
}

impl fmt::Display for KeyValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyValue::String(s) => write_quoted(f, s),
            KeyValue::Integer(n) => write!(f, "{n}"),
            KeyValue::Boolean(true) => f.write_str("TRUE"),
            KeyValue::Boolean(false) => f.write_str("FALSE"),
        }
    }
}

impl fmt::Display for ObjectPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(ns) = &self.namespace {
            if let Some(server) = &self.server {
                write!(f, r"\\{server}\")?;
            }
            write!(f, "{}:", ns.replace('/', "\\"))?;
        }
        write!(f, "{}", self.class)?;
        if self.singleton {
            return f.write_str("=@");
        }
        for (i, key) in self.keys.iter().enumerate() {
            match &key.name {
                Some(name) => write!(f, "{}{name}={}", if i == 0 { "." } else { "," }, key.value)?,
                // The unnamed single-key short form, `Class="v"`.
                None => write!(f, "={}", key.value)?,
            }
        }
        Ok(())
    }
}

struct Cursor<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn ident(&mut self, what: &str) -> Result<&'a str, PathError> {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if c.is_alphanumeric() || c == '_' {
                self.bump();
            } else {
                break;
            }
        }
        let word = &self.text[start..self.pos];
        if word.is_empty() || word.starts_with(|c: char| c.is_ascii_digit()) {
            let end = self.pos + self.peek().map_or(0, char::len_utf8);
            return fail(format!("expected {what}"), start, end);
        }
        Ok(word)
    }

    fn quoted(&mut self, quote: char) -> Result<String, PathError> {
        let start = self.pos - 1;
        let mut out = String::new();
        loop {
            match self.bump() {
                None => return fail("unterminated string", start, self.pos),
                Some('\\') => match self.bump() {
                    Some(c @ ('\\' | '"' | '\'')) => out.push(c),
                    _ => {
                        return fail(
                            "a backslash in a string must escape \\, \" or '",
                            self.pos - 1,
                            self.pos,
                        );
                    }
                },
                Some(c) if c == quote => return Ok(out),
                Some(c) if (c as u32) < 0x20 => {
                    return fail(
                        "control characters are not allowed in keys",
                        self.pos - c.len_utf8(),
                        self.pos,
                    );
                }
                Some(c) => out.push(c),
            }
        }
    }

    fn value(&mut self) -> Result<KeyValue, PathError> {
        let start = self.pos;
        match self.peek() {
            Some(q @ ('"' | '\'')) => {
                self.bump();
                self.quoted(q).map(KeyValue::String)
            }
            Some(c) if c == '-' || c == '+' || c.is_ascii_digit() => {
                self.bump();
                while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                    self.bump();
                }
                let text = &self.text[start..self.pos];
                match text.parse::<i128>() {
                    Ok(n) if n >= i128::from(i64::MIN) && n <= i128::from(u64::MAX) => {
                        Ok(KeyValue::Integer(n))
                    }
                    _ => fail(
                        "numeric keys must be decimal integers in the 64-bit range",
                        start,
                        self.pos,
                    ),
                }
            }
            Some(c) if c.is_alphabetic() => {
                let word = self.ident("a value")?;
                if word.eq_ignore_ascii_case("true") {
                    Ok(KeyValue::Boolean(true))
                } else if word.eq_ignore_ascii_case("false") {
                    Ok(KeyValue::Boolean(false))
                } else {
                    fail("string keys must be quoted", start, self.pos)
                }
            }
            _ => fail(
                "expected a key value",
                start,
                self.pos + self.peek().map_or(0, char::len_utf8),
            ),
        }
    }
}

impl FromStr for ObjectPath {
    type Err = PathError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.len() > MAX_PATH_LEN {
            return fail(format!("longer than {MAX_PATH_LEN} bytes"), 0, text.len());
        }
        if text.is_empty() {
            return fail("empty path", 0, 0);
        }
        let mut c = Cursor { text, pos: 0 };
        let (mut server, mut namespace) = (None, None);
        if text.starts_with(r"\\") || text.starts_with("//") {
            c.pos = 2;
            let start = c.pos;
            while c.peek().is_some_and(|ch| !matches!(ch, '\\' | '/' | ':')) {
                c.bump();
            }
            if c.pos == start {
                return fail("expected a server name after \\\\", start, start);
            }
            server = Some(text[start..c.pos].to_owned());
            if !(c.eat('\\') || c.eat('/')) {
                return fail("expected a namespace after the server", c.pos, c.pos);
            }
            namespace = Some(namespace_until_colon(&mut c)?);
        } else {
            // A namespace prefix is present when a ':' comes before any key syntax.
            let key_syntax = text.find(['.', '=', '"', '\'']).unwrap_or(text.len());
            if text[..key_syntax].contains(':') {
                namespace = Some(namespace_until_colon(&mut c)?);
            }
        }
        let class = Name::new(c.ident("a class name")?);
        let mut path = ObjectPath {
            server,
            namespace,
            class,
            keys: Vec::new(),
            singleton: false,
        };
        if c.eat('=') {
            if c.eat('@') {
                path.singleton = true;
            } else {
                let value = c.value()?;
                path.keys.push(KeyBinding { name: None, value });
            }
        } else if c.eat('.') {
            loop {
                let name_start = c.pos;
                let name = Name::new(c.ident("a key property name")?);
                if path.keys.iter().any(|k| k.name.as_ref() == Some(&name)) {
                    return fail(format!("key {name} given twice"), name_start, c.pos);
                }
                if !c.eat('=') {
                    return fail("expected '=' after the key name", c.pos, c.pos + 1);
                }
                let value = c.value()?;
                path.keys.push(KeyBinding {
                    name: Some(name),
                    value,
                });
                if !c.eat(',') {
                    break;
                }
            }
            path.keys.sort_by(|a, b| a.name.cmp(&b.name));
        }
        if c.pos < text.len() {
            let what = if c.peek().is_some_and(char::is_whitespace) {
                "whitespace is not allowed in object paths"
            } else {
                "unexpected text after the path"
            };
            return fail(what, c.pos, text.len());
        }
        Ok(path)
    }
}

fn namespace_until_colon(c: &mut Cursor<'_>) -> Result<String, PathError> {
    let mut segments = Vec::new();
    loop {
        segments.push(c.ident("a namespace name")?.to_owned());
        if c.eat(':') {
            return Ok(segments.join("/"));
        }
        if !(c.eat('\\') || c.eat('/')) {
            return fail("expected ':' after the namespace", c.pos, c.pos + 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check(text: &str, expect: Result<&str, &str>) {
        let got = text
            .parse::<ObjectPath>()
            .map(|p| p.to_string())
            .map_err(|e| e.message);
        assert_eq!(
            got.as_deref(),
            expect.map_err(str::to_owned).as_deref(),
            "{text}"
        );
    }

    #[test]
    fn forms() {
        check(
            r#"\\HOST\root\cimv2:Win32_ServerSession.UserName="bob",ComputerName="10.0.0.5""#,
            Ok(r#"\\HOST\root\cimv2:Win32_ServerSession.ComputerName="10.0.0.5",UserName="bob""#),
        );
        check(
            r#"//./root/cimv2:Win32_LogonSession.LogonId="999""#,
            Ok(r#"\\.\root\cimv2:Win32_LogonSession.LogonId="999""#),
        );
        check(
            r#"root\cimv2:Win32_LogonSession.LogonId='3'"#,
            Ok(r#"root\cimv2:Win32_LogonSession.LogonId="3""#),
        );
        check(r#"Win32_LogonSession="3""#, Ok(r#"Win32_LogonSession="3""#));
        check("Win32_Process.Handle=42", Ok("Win32_Process.Handle=42"));
        check("X.Flag=true", Ok("X.Flag=TRUE"));
        check("Singleton=@", Ok("Singleton=@"));
        check(
            r"\\S\root\cimv2:Win32_LogonSession",
            Ok(r"\\S\root\cimv2:Win32_LogonSession"),
        );
        check(r#"C.K="a\"b\\c""#, Ok(r#"C.K="a\"b\\c""#));
        check(r#"C.K="has:colon.and=eq""#, Ok(r#"C.K="has:colon.and=eq""#));
    }

    #[test]
    fn errors() {
        check("", Err("empty path"));
        check(
            r#"C.K="v" "#,
            Err("whitespace is not allowed in object paths"),
        );
        check("C.K=v", Err("string keys must be quoted"));
        check(r#"C.K="v"#, Err("unterminated string"));
        check("C.K=1.5", Err("unexpected text after the path"));
        check(r#"C.K="a",k="b""#, Err("key k given twice"));
        check(r"\\\root:C", Err("expected a server name after \\\\"));
        check("C.=1", Err("expected a key property name"));
        check("1C", Err("expected a class name"));
        check(
            r#"C.K="a\nb""#,
            Err("a backslash in a string must escape \\, \" or '"),
        );
        check(
            "C.K=99999999999999999999",
            Err("numeric keys must be decimal integers in the 64-bit range"),
        );
    }

    #[test]
    fn equality_is_case_and_order_insensitive() {
        let a: ObjectPath = r#"win32_serversession.username="BOB",computername="h""#
            .parse()
            .unwrap();
        let b: ObjectPath = r#"Win32_ServerSession.ComputerName="H",UserName="bob""#
            .parse()
            .unwrap();
        assert_eq!(a, b);
        let full = b.clone().with_location("host", r"root\cimv2");
        assert_ne!(a, full);
        assert!(a.same_object(&full));
        assert_eq!(full.relative(), b);
    }

    fn arb_value() -> impl Strategy<Value = KeyValue> {
        prop_oneof![
            "[^\\x00-\\x1f]{0,12}".prop_map(KeyValue::String),
            (i64::MIN as i128..=u64::MAX as i128).prop_map(KeyValue::Integer),
            any::<bool>().prop_map(KeyValue::Boolean),
        ]
    }

    proptest! {
        #[test]
        fn print_parse_round_trip(
            class in "[A-Za-z_][A-Za-z0-9_]{0,10}",
            keys in proptest::collection::btree_map("[A-Za-z_][A-Za-z0-9_]{0,6}", arb_value(), 0..4),
            located in any::<bool>(),
        ) {
            let mut seen = std::collections::HashSet::new();
            let keys: Vec<(Name, KeyValue)> = keys.into_iter()
                .filter(|(k, _)| seen.insert(k.to_ascii_lowercase()))
                .map(|(k, v)| (Name::new(k), v)).collect();
            let mut path = ObjectPath::instance(class, keys);
            if located {
                path = path.with_location("host-1.example", "root/cimv2");
            }
            let printed = path.to_string();
            let back: ObjectPath = printed.parse().unwrap();
            prop_assert_eq!(&back, &path);
            prop_assert_eq!(back.to_string(), printed);
        }

        #[test]
        fn parser_never_panics(s in "\\PC{0,40}") {
            let _ = s.parse::<ObjectPath>();
        }
    }
}
