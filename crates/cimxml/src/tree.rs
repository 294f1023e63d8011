//! Bytes to a small owned element tree, with limits: the first stage of request decoding.
//!
//! A DOCTYPE is refused outright (so no entity can ever be declared, let alone expanded),
//! as are references to entities other than XML's five predefined ones. Depth and element
//! count are bounded, so a hostile document costs at most its size in time and a bounded
//! tree in memory.

use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event};
use quick_xml::reader::Reader;

/// Bounds on a request document.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The deepest element nesting accepted (the root is depth 1).
    pub max_depth: usize,
    /// The most elements in one document.
    pub max_elements: usize,
}

impl Default for Limits {
    /// Depth 32 (a real request nests about 12 deep) and 50,000 elements.
    fn default() -> Self {
        Limits {
            max_depth: 32,
            max_elements: 50_000,
        }
    }
}

/// One element: name, attributes in document order, child elements and its text.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Element {
    /// The element name, e.g. `IPARAMVALUE`.
    pub name: String,
    /// The attributes, unescaped.
    pub attrs: Vec<(String, String)>,
    /// The child elements.
    pub children: Vec<Element>,
    /// The concatenated character data directly inside this element (CDATA included).
    pub text: String,
}

impl Element {
    /// An attribute's value.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The children called `name`.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> {
        self.children.iter().filter(move |c| c.name == name)
    }
}

/// Why bytes are not an acceptable document.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TreeError {
    /// Not well-formed XML (or not UTF-8).
    #[error("not well-formed: {0}")]
    NotWellFormed(String),
    /// Well-formed, but using something refused on principle (DOCTYPE, entities).
    #[error("refused: {0}")]
    Refused(String),
    /// Over a limit.
    #[error("too large: {0}")]
    TooLarge(String),
}

fn start_element(e: &BytesStart<'_>) -> Result<Element, TreeError> {
    let name = e.name().0.to_owned();
    let mut attrs = Vec::new();
    for attr in e.attributes() {
        let attr = attr.map_err(|err| TreeError::NotWellFormed(err.to_string()))?;
        let key = attr.key.0.to_owned();
        let value = attr
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(|err| TreeError::Refused(format!("attribute {key}: {err}")))?
            .into_owned();
        attrs.push((key, value));
    }
    Ok(Element {
        name,
        attrs,
        children: Vec::new(),
        text: String::new(),
    })
}

/// The one predefined entity named `name`, if it is one.
fn predefined(name: &str) -> Option<char> {
    Some(match name {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "apos" => '\'',
        "quot" => '"',
        _ => return None,
    })
}

/// Parses a whole document into its root element.
pub fn parse(bytes: &[u8], limits: &Limits) -> Result<Element, TreeError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| TreeError::NotWellFormed(format!("body is not UTF-8: {e}")))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = Reader::from_str(text);
    let config = reader.config_mut();
    config.check_end_names = true;
    config.check_comments = true;
    config.expand_empty_elements = false;
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut count = 0usize;
    loop {
        let event = reader.read_event().map_err(|e| {
            TreeError::NotWellFormed(format!("{e} at byte {}", reader.error_position()))
        })?;
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let is_empty = matches!(event, Event::Empty(_));
                if root.is_some() {
                    return Err(TreeError::NotWellFormed(
                        "content after the root element".into(),
                    ));
                }
                count += 1;
                if count > limits.max_elements {
                    return Err(TreeError::TooLarge(format!(
                        "more than {} elements",
                        limits.max_elements
                    )));
                }
                if stack.len() + 1 > limits.max_depth {
                    return Err(TreeError::TooLarge(format!(
                        "elements nested deeper than {}",
                        limits.max_depth
                    )));
                }
                let element = start_element(e)?;
                if is_empty {
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(element),
                        None => root = Some(element),
                    }
                } else {
                    stack.push(element);
                }
            }
            Event::End(_) => {
                let Some(done) = stack.pop() else {
                    return Err(TreeError::NotWellFormed("unmatched end tag".into()));
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(done),
                    None => root = Some(done),
                }
            }
            Event::Text(t) => {
                let content = t.xml10_content();
                match stack.last_mut() {
                    Some(current) => current.text.push_str(&content),
                    None if content.trim().is_empty() => {}
                    None => {
                        return Err(TreeError::NotWellFormed(
                            "text outside the root element".into(),
                        ));
                    }
                }
            }
            Event::CData(t) => match stack.last_mut() {
                Some(current) => current.text.push_str(&t.xml10_content()),
                None => {
                    return Err(TreeError::NotWellFormed(
                        "CDATA outside the root element".into(),
                    ));
                }
            },
            Event::GeneralRef(r) => {
                let ch = match r.resolve_char_ref() {
                    Ok(Some(c)) => c,
                    Ok(None) => {
                        let name = r.xml10_content();
                        predefined(&name).ok_or_else(|| {
                            TreeError::Refused(format!(
                                "entity reference &{name}; (no entities are declared)"
                            ))
                        })?
                    }
                    Err(e) => return Err(TreeError::NotWellFormed(e.to_string())),
                };
                match stack.last_mut() {
                    Some(current) => current.text.push(ch),
                    None => {
                        return Err(TreeError::NotWellFormed(
                            "reference outside the root element".into(),
                        ));
                    }
                }
            }
            Event::DocType(_) => {
                return Err(TreeError::Refused(
                    "DOCTYPE declarations are not accepted".into(),
                ));
            }
            Event::Decl(d) => {
                if let Some(Ok(enc)) = d.encoding()
                    && !enc.eq_ignore_ascii_case("utf-8")
                    && !enc.eq_ignore_ascii_case("utf8")
                {
                    return Err(TreeError::Refused(format!(
                        "encoding {enc}: only UTF-8 is accepted"
                    )));
                }
            }
            Event::Comment(_) | Event::PI(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(TreeError::NotWellFormed(format!(
            "document ends inside <{}>",
            stack.last().map_or("", |e| e.name.as_str())
        )));
    }
    root.ok_or_else(|| TreeError::NotWellFormed("no root element".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(s: &str) -> Result<Element, TreeError> {
        parse(s.as_bytes(), &Limits::default())
    }

    #[test]
    fn elements_attributes_and_text() {
        let e = parse_str(
            r#"<?xml version="1.0" encoding="utf-8" ?><A x="1 &amp; 2"><B/><C>a&lt;b&#x41;<![CDATA[<z>]]></C></A>"#,
        )
        .unwrap();
        assert_eq!(e.name, "A");
        assert_eq!(e.attr("x"), Some("1 & 2"));
        assert_eq!(e.children[0].name, "B");
        assert_eq!(e.children[1].text, "a<bA<z>");
    }

    #[test]
    fn refusals() {
        let laughs = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><lolz>&lol2;</lolz>"#;
        assert!(matches!(parse_str(laughs), Err(TreeError::Refused(_))));
        assert!(matches!(
            parse_str("<a>&custom;</a>"),
            Err(TreeError::Refused(_))
        ));
        assert!(matches!(
            parse_str("<a><b></a>"),
            Err(TreeError::NotWellFormed(_))
        ));
        assert!(matches!(parse_str("<a>"), Err(TreeError::NotWellFormed(_))));
        assert!(matches!(parse_str(""), Err(TreeError::NotWellFormed(_))));
        assert!(matches!(
            parse_str("<a/><b/>"),
            Err(TreeError::NotWellFormed(_))
        ));
        assert!(matches!(
            parse(&[0xff, 0xfe], &Limits::default()),
            Err(TreeError::NotWellFormed(_))
        ));
        let deep = "<a>".repeat(10_000) + &"</a>".repeat(10_000);
        assert!(matches!(parse_str(&deep), Err(TreeError::TooLarge(_))));
        let wide = format!("<a>{}</a>", "<b/>".repeat(60_000));
        assert!(matches!(parse_str(&wide), Err(TreeError::TooLarge(_))));
    }
}
