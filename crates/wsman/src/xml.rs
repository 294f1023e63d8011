//! A namespace-resolved view of the bounded element tree: every element and attribute
//! name becomes (namespace URI, local name), whatever prefixes the client chose (pywinrm
//! writes `env:`/`a:`/`w:`, pypsrp `s:`/`wsa:`/`wsman:`, wsl `s:`/`a:`/`w:`).

use linmgmt_cimxml::Element;

/// An element with resolved names.
#[derive(Debug, Default)]
pub(crate) struct Node {
    /// The namespace URI; empty for none.
    pub ns: String,
    /// The local name.
    pub local: String,
    /// Attributes other than namespace declarations: (namespace URI, local name, value).
    pub attrs: Vec<(String, String, String)>,
    pub children: Vec<Node>,
    pub text: String,
}

impl Node {
    /// Whether this element is `{ns}local`.
    pub fn is(&self, ns: &str, local: &str) -> bool {
        self.ns == ns && self.local == local
    }

    /// The first child `{ns}local`.
    pub fn child(&self, ns: &str, local: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.is(ns, local))
    }

    /// The first child called `local` in any of `namespaces`.
    pub fn child_in(&self, namespaces: &[&str], local: &str) -> Option<&Node> {
        self.children
            .iter()
            .find(|c| c.local == local && namespaces.contains(&c.ns.as_str()))
    }

    /// An unqualified attribute (or one in any namespace) by local name.
    pub fn attr(&self, local: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(ns, l, _)| ns.is_empty() && l == local)
            .or_else(|| self.attrs.iter().find(|(_, l, _)| l == local))
            .map(|(_, _, v)| v.as_str())
    }

    /// The text content, without surrounding white space.
    pub fn trimmed(&self) -> &str {
        self.text.trim()
    }
}

/// Why names could not be resolved.
#[derive(Debug)]
pub(crate) struct UnboundPrefix(pub String);

fn split(name: &str) -> (&str, &str) {
    match name.split_once(':') {
        Some((p, l)) => (p, l),
        None => ("", name),
    }
}

/// Resolves every name in `root` (consumed).
pub(crate) fn resolve(root: Element) -> Result<Node, UnboundPrefix> {
    let mut scope: Vec<(String, String)> = vec![(
        "xml".to_owned(),
        "http://www.w3.org/XML/1998/namespace".to_owned(),
    )];
    resolve_in(root, &mut scope)
}

fn lookup(scope: &[(String, String)], prefix: &str) -> Option<String> {
    scope
        .iter()
        .rev()
        .find(|(p, _)| p == prefix)
        .map(|(_, uri)| uri.clone())
}

fn resolve_in(e: Element, scope: &mut Vec<(String, String)>) -> Result<Node, UnboundPrefix> {
    let mark = scope.len();
    let mut plain = Vec::new();
    for (name, value) in e.attrs {
        if name == "xmlns" {
            scope.push((String::new(), value));
        } else if let Some(prefix) = name.strip_prefix("xmlns:") {
            scope.push((prefix.to_owned(), value));
        } else {
            plain.push((name, value));
        }
    }
    let (prefix, local) = split(&e.name);
    let ns = match lookup(scope, prefix) {
        Some(uri) => uri,
        None if prefix.is_empty() => String::new(),
        None => return Err(UnboundPrefix(prefix.to_owned())),
    };
    let mut attrs = Vec::with_capacity(plain.len());
    for (name, value) in plain {
        let (p, l) = split(&name);
        // Unprefixed attributes are in no namespace (Namespaces in XML §6.2).
        let ans = if p.is_empty() {
            String::new()
        } else {
            lookup(scope, p).ok_or_else(|| UnboundPrefix(p.to_owned()))?
        };
        attrs.push((ans, l.to_owned(), value));
    }
    let local = local.to_owned();
    let mut children = Vec::with_capacity(e.children.len());
    for c in e.children {
        children.push(resolve_in(c, scope)?);
    }
    scope.truncate(mark);
    Ok(Node {
        ns,
        local,
        attrs,
        children,
        text: e.text,
    })
}
