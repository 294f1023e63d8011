//! Samba's configuration (`smb.conf`): the file shares it serves.
//!
//! The format is Samba's ini dialect: `[section]` headers, `key = value` lines, whole-line
//! comments starting with `;` or `#`, and lines continued with a trailing `\`. Parameter names
//! compare without case and whitespace (`max connections` = `MaxConnections`), as Samba
//! compares them; values are taken verbatim (Samba has no trailing comments). Sections with the
//! same name merge, the later value winning. Service parameters in `[global]` are the defaults
//! of every share. Nothing here fails: a line that is neither a header nor `key = value` is
//! skipped, as `testparm` skips it with a complaint.

/// One section: its name as written and its parameters in order (names normalized).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SmbConfSection {
    /// The name between the brackets, trimmed.
    pub name: String,
    /// `(normalized name, value)`, in file order.
    pub params: Vec<(String, String)>,
}

impl SmbConfSection {
    /// The last value of a parameter (any spelling of the name).
    pub fn get(&self, key: &str) -> Option<&str> {
        let key = normalize(key);
        self.params
            .iter()
            .rev()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// A file share of the Samba configuration.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SmbShareConf {
    /// The share's name (`[homes]` is `homes`).
    pub name: String,
    /// `path` (or its synonym `directory`); `None` when unset (`[homes]` defaults to the home).
    pub path: Option<String>,
    /// `comment`.
    pub comment: Option<String>,
    /// `browseable` (`browsable`), default yes: hidden shares are still shares, as WMI lists
    /// `C$`.
    pub browseable: bool,
    /// `max connections`: 0 (the default) is unlimited.
    pub max_connections: u32,
}

/// Lowercase without whitespace: how Samba compares parameter names.
fn normalize(key: &str) -> String {
    key.chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Samba's booleans: yes/no, true/false, 1/0, on/off (any case).
pub fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "yes" | "true" | "1" | "on" => Some(true),
        "no" | "false" | "0" | "off" => Some(false),
        _ => None,
    }
}

/// Splits `text` into sections. Parameters before the first header belong to `[global]`, as
/// Samba treats them. `include = FILE` lines are replaced by what `include` returns for
/// `FILE` (one level: includes inside an included text are ignored; names with `%` macros,
/// which depend on the client, are skipped).
pub fn parse_smb_conf(
    text: &str,
    include: &mut dyn FnMut(&str) -> Option<String>,
) -> Vec<SmbConfSection> {
    let mut sections: Vec<SmbConfSection> = Vec::new();
    let mut current: Option<usize> = None;
    parse_into(text, &mut sections, &mut current, Some(include));
    sections
}

/// Reads an included file's text (`None`: not there).
type Include<'a> = &'a mut dyn FnMut(&str) -> Option<String>;

fn parse_into(
    text: &str,
    sections: &mut Vec<SmbConfSection>,
    current: &mut Option<usize>,
    mut include: Option<Include<'_>>,
) {
    for line in logical_lines(text) {
        let line = line.trim();
        if line.is_empty() || line.starts_with(';') || line.starts_with('#') {
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            let Some((name, _)) = rest.split_once(']') else {
                continue;
            };
            let name = name.trim();
            *current = Some(
                match sections
                    .iter()
                    .position(|s| s.name.eq_ignore_ascii_case(name))
                {
                    Some(i) => i,
                    None => {
                        sections.push(SmbConfSection {
                            name: name.to_owned(),
                            params: Vec::new(),
                        });
                        sections.len() - 1
                    }
                },
            );
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let key = normalize(key);
        let value = value.trim();
        if key.is_empty() {
            continue;
        }
        if key == "include" {
            if let Some(f) = include.as_deref_mut()
                && !value.contains('%')
                && let Some(t) = f(value)
            {
                parse_into(&t, sections, current, None);
            }
            continue;
        }
        let i = match *current {
            Some(i) => i,
            None => {
                sections.push(SmbConfSection {
                    name: "global".to_owned(),
                    params: Vec::new(),
                });
                *current = Some(sections.len() - 1);
                sections.len() - 1
            }
        };
        sections[i].params.push((key, value.to_owned()));
    }
}

/// Joins lines continued with a trailing `\`.
fn logical_lines(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut pending = String::new();
    let mut continuing = false;
    for raw in text.lines() {
        let part = if continuing { raw.trim_start() } else { raw };
        match part.trim_end().strip_suffix('\\') {
            Some(head) => {
                pending.push_str(head);
                continuing = true;
            }
            None => {
                pending.push_str(part);
                out.push(std::mem::take(&mut pending));
                continuing = false;
            }
        }
    }
    if !pending.is_empty() {
        out.push(pending);
    }
    out
}

/// The file shares of a parsed configuration, in file order: every section but `[global]`,
/// `[printers]` and printable ones (`printable`/`print ok` = yes, here or in `[global]`).
pub fn file_shares(sections: &[SmbConfSection]) -> Vec<SmbShareConf> {
    let global = sections
        .iter()
        .find(|s| s.name.eq_ignore_ascii_case("global"));
    let lookup = |s: &SmbConfSection, keys: &[&str]| -> Option<String> {
        keys.iter()
            .find_map(|k| s.get(k))
            .or_else(|| global.and_then(|g| keys.iter().find_map(|k| g.get(k))))
            .map(str::to_owned)
    };
    sections
        .iter()
        .filter(|s| {
            !s.name.is_empty()
                && !s.name.eq_ignore_ascii_case("global")
                && !s.name.eq_ignore_ascii_case("printers")
        })
        .filter(|s| {
            lookup(s, &["printable", "print ok"])
                .and_then(|v| parse_bool(&v))
                .is_none_or(|p| !p)
        })
        .map(|s| SmbShareConf {
            name: s.name.clone(),
            path: [s.get("path"), s.get("directory")]
                .into_iter()
                .flatten()
                .next()
                .filter(|p| !p.is_empty())
                .map(str::to_owned),
            comment: s.get("comment").map(str::to_owned),
            browseable: lookup(s, &["browseable", "browsable"])
                .and_then(|v| parse_bool(&v))
                .unwrap_or(true),
            max_connections: lookup(s, &["max connections"])
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shares(text: &str) -> Vec<SmbShareConf> {
        file_shares(&parse_smb_conf(text, &mut |_| None))
    }

    #[test]
    fn a_typical_configuration() {
        let got = shares(
            "# comment\n[global]\n   workgroup = WORKGROUP\n   max connections = 7\n\n[homes]\n   comment = Home Directories\n   browseable = no\n\n[printers]\n   path = /var/spool/samba\n   printable = yes\n\n[print$]\n   path = /var/lib/samba/printers\n\n[Data]\n   Path = /srv/data\n   COMMENT = Team data ; not a comment\n   Max Connections = 0\n;  path = /commented\n[label]\n   path = /srv/label\n   print ok = yes\n",
        );
        assert_eq!(
            got,
            vec![
                SmbShareConf {
                    name: "homes".into(),
                    path: None,
                    comment: Some("Home Directories".into()),
                    browseable: false,
                    max_connections: 7,
                },
                SmbShareConf {
                    name: "print$".into(),
                    path: Some("/var/lib/samba/printers".into()),
                    comment: None,
                    browseable: true,
                    max_connections: 7,
                },
                SmbShareConf {
                    name: "Data".into(),
                    path: Some("/srv/data".into()),
                    comment: Some("Team data ; not a comment".into()),
                    browseable: true,
                    max_connections: 0,
                },
            ]
        );
    }

    #[test]
    fn continuations_merges_and_includes() {
        let mut asked = Vec::new();
        let sections = parse_smb_conf(
            "[a]\n path = /srv/\\\n    a\n comment = one \\\n two\n[A]\n comment = later\ninclude = /etc/samba/more.conf\ninclude = /etc/samba/%m.conf\n",
            &mut |f| {
                asked.push(f.to_owned());
                Some("[b]\npath=/srv/b\ninclude = /deeper.conf\n".to_owned())
            },
        );
        assert_eq!(asked, vec!["/etc/samba/more.conf".to_owned()]);
        let got = file_shares(&sections);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].path.as_deref(), Some("/srv/a"));
        assert_eq!(got[0].comment.as_deref(), Some("later"));
        assert_eq!(got[1].name, "b");
        assert_eq!(got[1].path.as_deref(), Some("/srv/b"));
    }

    #[test]
    fn malformed_lines_never_panic() {
        let got = shares(
            "path = /before/any/section\n[\n[unclosed\n[]\n = value\nnot a parameter\n[ok]\npath\nmax connections = lots\nbrowseable = maybe\n\\\n[tail]\npath = /t \\",
        );
        let names: Vec<&str> = got.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["ok", "tail"]);
        assert_eq!(got[0].max_connections, 0);
        assert!(got[0].browseable);
        assert_eq!(got[1].path.as_deref(), Some("/t"));
        assert!(shares("").is_empty());
        assert!(shares("\u{0}\u{ffff}[\u{1}]").len() <= 1);
    }
}
