//! Namespace names, as WMI accepts and compares them.

use std::fmt;
use std::hash::{Hash, Hasher};

/// A namespace name such as `root/cimv2`. Made from any spelling WMI accepts —
/// `root\cimv2`, `\\.\ROOT\cimv2`, `//./root/cimv2`, `/root/cimv2/` — it keeps the case it was
/// given, separates with `/`, and has no host prefix and no leading or trailing slash.
/// Comparison and hashing ignore ASCII case. The one place where namespace spellings are
/// normalised: every crate goes through it.
#[derive(Clone, Default)]
pub struct NamespaceName(String);

impl NamespaceName {
    /// The normal form of `text`.
    pub fn new(text: &str) -> NamespaceName {
        let text = text.trim().replace('\\', "/");
        let text = match text.strip_prefix("//") {
            // A host (`.` or a name) before the namespace.
            Some(rest) => rest.split_once('/').map_or("", |(_, path)| path).to_owned(),
            None => text,
        };
        NamespaceName(text.trim_matches('/').to_owned())
    }

    /// The name, `/`-separated.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `other`, in any accepted spelling, names the same namespace.
    pub fn is(&self, other: &str) -> bool {
        *self == NamespaceName::new(other)
    }
}

impl From<NamespaceName> for String {
    fn from(ns: NamespaceName) -> String {
        ns.0
    }
}

impl PartialEq for NamespaceName {
    fn eq(&self, other: &Self) -> bool {
        self.0.eq_ignore_ascii_case(&other.0)
    }
}

impl Eq for NamespaceName {}

impl Hash for NamespaceName {
    fn hash<H: Hasher>(&self, state: &mut H) {
        for b in self.0.bytes() {
            state.write_u8(b.to_ascii_lowercase());
        }
    }
}

impl fmt::Display for NamespaceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for NamespaceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_is_one_name() {
        for spelling in [
            "root/cimv2",
            "ROOT/CIMV2",
            "root\\cimv2",
            "\\\\.\\ROOT\\cimv2",
            "//./root/cimv2",
            "//host/root/cimv2/",
            "/root/cimv2/",
            " root/cimv2 ",
        ] {
            assert!(NamespaceName::new("root/cimv2").is(spelling), "{spelling}");
        }
        assert_eq!(
            NamespaceName::new("\\\\.\\ROOT\\cimv2").as_str(),
            "ROOT/cimv2"
        );
        assert!(!NamespaceName::new("root/cimv2").is("root"));
        assert!(!NamespaceName::new("root/cimv2").is("root/cimv2/x"));
        assert_eq!(NamespaceName::new("//").as_str(), "");
    }
}
