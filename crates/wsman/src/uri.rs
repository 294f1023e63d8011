//! Resource URIs: which namespace and class a request is about.
//!
//! - `http://schemas.microsoft.com/wbem/wsman/1/wmi/<namespace>/<Class>` — WMI's form; the
//!   namespace is the path (`root/cimv2`), the class the last segment, `*` for "whatever
//!   the filter says".
//! - `http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/<Class>` and
//!   `http://schemas.dmtf.org/wbem/wscim/1/*` — the DMTF form the CIM cmdlets use; the
//!   namespace comes from the `__cimnamespace` selector (default `root/cimv2`).

use crate::ns;

/// Which family of URIs a client used; answers use the same one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UriStyle {
    /// `…/wsman/1/wmi/<namespace>/<Class>`.
    Wmi,
    /// `…/wscim/1/cim-schema/2/<Class>`.
    Cim,
}

/// A parsed resource URI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceUri {
    /// The family.
    pub style: UriStyle,
    /// The namespace named in the URI (WMI form only).
    pub namespace: Option<String>,
    /// The class; `None` for `*`.
    pub class: Option<String>,
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !s.starts_with(|c: char| c.is_ascii_digit())
}

impl ResourceUri {
    /// Parses a resource URI; `None` when it is not one this server serves.
    pub fn parse(uri: &str) -> Option<ResourceUri> {
        // A query part (`?LogonId=999`) is the `winrm` tool's notation for selectors; a
        // client sends them as a SelectorSet, so it is not looked at here.
        let uri = uri.trim().split('?').next().unwrap_or("");
        if let Some(rest) = strip_prefix_ignore_case(uri, ns::WMI_RESOURCE) {
            let (namespace, class) = rest.rsplit_once('/')?;
            let segments_ok = namespace.split('/').all(is_name);
            if !segments_ok {
                return None;
            }
            let class = match class {
                "*" => None,
                c if is_name(c) => Some(c.to_owned()),
                _ => return None,
            };
            return Some(ResourceUri {
                style: UriStyle::Wmi,
                namespace: Some(namespace.to_owned()),
                class,
            });
        }
        if uri.eq_ignore_ascii_case(ns::CIM_ALL) {
            return Some(ResourceUri {
                style: UriStyle::Cim,
                namespace: None,
                class: None,
            });
        }
        let class = strip_prefix_ignore_case(uri, ns::CIM_RESOURCE)?;
        is_name(class).then(|| ResourceUri {
            style: UriStyle::Cim,
            namespace: None,
            class: Some(class.to_owned()),
        })
    }

    /// The URI of `class` in `namespace`, in `style`.
    pub fn for_class(style: UriStyle, namespace: &str, class: &str) -> String {
        match style {
            UriStyle::Wmi => format!("{}{namespace}/{class}", ns::WMI_RESOURCE),
            UriStyle::Cim => format!("{}{class}", ns::CIM_RESOURCE),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(uri: &str, expected: Option<(UriStyle, Option<&str>, Option<&str>)>) {
        let actual =
            ResourceUri::parse(uri).map(|r| (r.style, r.namespace.clone(), r.class.clone()));
        let expected = expected.map(|(s, n, c)| (s, n.map(str::to_owned), c.map(str::to_owned)));
        assert_eq!(actual, expected, "{uri}");
    }

    #[test]
    fn resource_uris() {
        use UriStyle::*;
        let wmi = "http://schemas.microsoft.com/wbem/wsman/1/wmi/";
        check(
            &format!("{wmi}root/cimv2/Win32_LogonSession"),
            Some((Wmi, Some("root/cimv2"), Some("Win32_LogonSession"))),
        );
        check(
            &format!("{wmi}root/cimv2/*"),
            Some((Wmi, Some("root/cimv2"), None)),
        );
        check(
            &format!("{wmi}root/interop/*"),
            Some((Wmi, Some("root/interop"), None)),
        );
        check(
            "HTTP://SCHEMAS.MICROSOFT.COM/wbem/wsman/1/wmi/root/cimv2/Win32_Process?Handle=1",
            Some((Wmi, Some("root/cimv2"), Some("Win32_Process"))),
        );
        check(
            "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/Win32_LogonSession",
            Some((Cim, None, Some("Win32_LogonSession"))),
        );
        check(
            "http://schemas.dmtf.org/wbem/wscim/1/*",
            Some((Cim, None, None)),
        );
        check(&format!("{wmi}Win32_LogonSession"), None);
        check(&format!("{wmi}root/cimv2/"), None);
        check(&format!("{wmi}root/../cimv2/X"), None);
        check(&format!("{wmi}root/cimv2/Win32<x>"), None);
        check(
            "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd",
            None,
        );
        check("", None);
    }
}
