//! `os-release(5)`: `KEY=value` lines, values optionally quoted in shell style.

/// The `(KEY, value)` pairs of an os-release file, in file order, with quotes and
/// backslash escapes removed. Comments, blank lines and lines without `=` are skipped.
pub fn parse_os_release(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let (key, value) = l.split_once('=')?;
            let key = key.trim();
            (!key.is_empty()).then(|| (key.to_owned(), unquote(value.trim())))
        })
        .collect()
}

/// `"Debian GNU/Linux 12 (bookworm)"` → `Debian GNU/Linux 12 (bookworm)`; `'a'` → `a`;
/// `\"` → `"` inside double quotes.
fn unquote(v: &str) -> String {
    let bytes = v.as_bytes();
    match bytes.first() {
        Some(&q @ (b'"' | b'\'')) if v.len() >= 2 && bytes[v.len() - 1] == q => {
            let inner = &v[1..v.len() - 1];
            if q == b'\'' {
                return inner.to_owned();
            }
            let mut out = String::with_capacity(inner.len());
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => out.extend(chars.next()),
                    c => out.push(c),
                }
            }
            out
        }
        _ => v.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields() {
        let f = parse_os_release(
            "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME='Debian'\n# c\n\nVERSION_ID=12\nX=\"a \\\"b\\\"\"\nbroken\n=x\n",
        );
        assert_eq!(
            f,
            vec![
                (
                    "PRETTY_NAME".into(),
                    "Debian GNU/Linux 12 (bookworm)".into()
                ),
                ("NAME".into(), "Debian".into()),
                ("VERSION_ID".into(), "12".into()),
                ("X".into(), "a \"b\"".into()),
            ]
        );
        assert_eq!(
            parse_os_release("A=\"\nB=\""),
            vec![("A".into(), "\"".into()), ("B".into(), "\"".into())]
        );
    }
}
