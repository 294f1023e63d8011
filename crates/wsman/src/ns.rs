//! The XML namespaces and action URIs of WS-Management, as WinRM writes them.

/// SOAP 1.2 envelope.
pub const SOAP: &str = "http://www.w3.org/2003/05/soap-envelope";
/// WS-Addressing (2004/08, as WinRM uses).
pub const WSA: &str = "http://schemas.xmlsoap.org/ws/2004/08/addressing";
/// WS-Enumeration.
pub const WSEN: &str = "http://schemas.xmlsoap.org/ws/2004/09/enumeration";
/// WS-Eventing.
pub const WSE: &str = "http://schemas.xmlsoap.org/ws/2004/08/eventing";
/// WS-Transfer.
pub const WXF: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer";
/// WS-Management (DMTF).
pub const WSMAN: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd";
/// Microsoft's WS-Management extensions.
pub const WSMV: &str = "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd";
/// The WS-CIM binding (association filters).
pub const WSMB: &str = "http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xsd";
/// WS-Management identification.
pub const WSMID: &str = "http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd";
/// WS-CIM common types (datetimes).
pub const CIM: &str = "http://schemas.dmtf.org/wbem/wscim/1/common";
/// XML Schema instance (`xsi:nil`, `xsi:type`).
pub const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";
/// Microsoft's fault detail (`f:WSManFault`).
pub const WSMANFAULT: &str = "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault";
/// The WMI error instance Windows adds to a fault (its `error_Code` is pywinrm's
/// `wmierror_code`).
pub const WMI_ERROR: &str = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/MSFT_WmiError";

/// The anonymous reply address: answer on this connection.
pub const ANONYMOUS: &str = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous";

/// Filter dialects.
pub mod dialect {
    /// WMI's query language.
    pub const WQL: &str = "http://schemas.microsoft.com/wbem/wsman/1/WQL";
    /// CQL (DSP0202); linmgmt runs its WQL-compatible subset.
    pub const CQL: &str = "http://schemas.dmtf.org/wbem/cql/1/dsp0202.pdf";
    /// Selectors as a filter.
    pub const SELECTOR: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman/SelectorFilter";
    /// Associators and references (DSP0227 §8.2).
    pub const ASSOCIATION: &str =
        "http://schemas.dmtf.org/wbem/wsman/1/cimbinding/associationFilter";
}

/// Action URIs.
pub mod action {
    /// WS-Transfer Get.
    pub const GET: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Get";
    /// Its response.
    pub const GET_RESPONSE: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer/GetResponse";
    /// WS-Enumeration Enumerate.
    pub const ENUMERATE: &str = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Enumerate";
    /// Its response.
    pub const ENUMERATE_RESPONSE: &str =
        "http://schemas.xmlsoap.org/ws/2004/09/enumeration/EnumerateResponse";
    /// WS-Enumeration Pull.
    pub const PULL: &str = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Pull";
    /// Its response.
    pub const PULL_RESPONSE: &str =
        "http://schemas.xmlsoap.org/ws/2004/09/enumeration/PullResponse";
    /// WS-Enumeration Release.
    pub const RELEASE: &str = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Release";
    /// Its response.
    pub const RELEASE_RESPONSE: &str =
        "http://schemas.xmlsoap.org/ws/2004/09/enumeration/ReleaseResponse";
    /// WS-Eventing Subscribe.
    pub const SUBSCRIBE: &str = "http://schemas.xmlsoap.org/ws/2004/08/eventing/Subscribe";
    /// Its response.
    pub const SUBSCRIBE_RESPONSE: &str =
        "http://schemas.xmlsoap.org/ws/2004/08/eventing/SubscribeResponse";
    /// WS-Eventing Renew.
    pub const RENEW: &str = "http://schemas.xmlsoap.org/ws/2004/08/eventing/Renew";
    /// Its response.
    pub const RENEW_RESPONSE: &str = "http://schemas.xmlsoap.org/ws/2004/08/eventing/RenewResponse";
    /// WS-Eventing Unsubscribe.
    pub const UNSUBSCRIBE: &str = "http://schemas.xmlsoap.org/ws/2004/08/eventing/Unsubscribe";
    /// Its response.
    pub const UNSUBSCRIBE_RESPONSE: &str =
        "http://schemas.xmlsoap.org/ws/2004/08/eventing/UnsubscribeResponse";
    /// The action of every fault this server sends.
    pub const FAULT: &str = "http://schemas.xmlsoap.org/ws/2004/08/addressing/fault";
    /// WS-Management's own fault action (for `wsman:` subcodes).
    pub const WSMAN_FAULT: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault";
}

/// The WMI resource URI prefix: `…/wmi/<namespace>/<Class>`.
pub const WMI_RESOURCE: &str = "http://schemas.microsoft.com/wbem/wsman/1/wmi/";
/// The DMTF CIM resource URI prefix: `…/cim-schema/2/<Class>`.
pub const CIM_RESOURCE: &str = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/";
/// All CIM classes (with a filter and the `__cimnamespace` selector).
pub const CIM_ALL: &str = "http://schemas.dmtf.org/wbem/wscim/1/*";
