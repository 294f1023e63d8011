//! The operations, whatever protocol asks for them: typed requests in, typed results
//! (instances, classes, paths) or a WMI error out. No wire format is known here; the
//! CIM-XML ([`crate::cimxml_ops`]) and WS-Management ([`crate::wsman`]) front ends
//! decode into these calls and encode what they return with their codecs.
//!
//! Everything here is synchronous (the engine is); the HTTP layer runs it on a blocking
//! thread, within the request's deadline.

use linmgmt_cim::{ClassDef, Instance, KeyValue, Name, ObjectPath, ScalarType, WbemStatus};
use linmgmt_engine::{Engine, EngineError, QueryOutput, Wanted};
use std::sync::Arc;

/// A failed operation: the WMI status and what went wrong. Each front end maps the status
/// to its own (a CIM status code, a WS-Management fault).
#[derive(Clone, Debug)]
pub struct OpError {
    /// The WMI status.
    pub status: WbemStatus,
    /// For the client.
    pub message: String,
}

impl OpError {
    pub fn new(status: WbemStatus, message: impl Into<String>) -> OpError {
        OpError {
            status,
            message: message.into(),
        }
    }
}

impl From<EngineError> for OpError {
    fn from(e: EngineError) -> OpError {
        OpError::new(e.status, e.message)
    }
}

pub type OpResult<T> = Result<T, OpError>;

/// An instance name as a client writes it: key values as text, not yet typed.
#[derive(Clone, Debug)]
pub struct LooseName {
    /// The namespace, when the name carries one.
    pub namespace: Option<String>,
    /// The class.
    pub class: String,
    /// Key name (empty for "the only key") and value.
    pub keys: Vec<(String, LooseKey)>,
}

/// A key's value as sent.
#[derive(Clone, Debug)]
pub enum LooseKey {
    /// Text, converted to the key property's type.
    Text(String),
    /// A reference to another instance.
    Reference(LooseName),
}

/// What associations are asked about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AssociationKind {
    /// The instances at the other end.
    Associators,
    /// The association instances.
    References,
}

/// The source of an association operation.
#[derive(Clone, Debug)]
pub enum Source {
    /// A class (schema associations).
    Class(String),
    /// An instance.
    Instance(LooseName),
}

/// The optional parts of an association operation.
#[derive(Clone, Debug, Default)]
pub struct AssociationFilter {
    pub assoc_class: Option<String>,
    pub result_class: Option<String>,
    pub role: Option<String>,
    pub result_role: Option<String>,
    /// Only the objects' names are sent (AssociatorNames, ReferenceNames, path pulls):
    /// the engine then builds only their keys.
    pub names_only: bool,
    /// The properties sent of each object (a `PropertyList`; `None`: all): only those
    /// are built.
    pub properties: Option<Vec<String>>,
}

/// What a query or association operation found.
pub enum Found {
    /// Instances, with the properties a projection names (`None` for all).
    Instances {
        instances: Vec<Instance>,
        columns: Option<Vec<String>>,
    },
    /// Classes (schema queries).
    Classes(Vec<Arc<ClassDef>>),
}

/// Checks that the namespace exists.
pub fn namespace(engine: &Engine, ns: &str) -> OpResult<()> {
    engine.namespace(ns)?;
    Ok(())
}

/// The classes an enumeration of classes returns.
pub fn classes(
    engine: &Engine,
    ns: &str,
    class: Option<&str>,
    deep: bool,
) -> OpResult<Vec<Arc<ClassDef>>> {
    let namespace = engine.namespace(ns)?;
    Ok(match class {
        Some(c) => {
            let base = engine.class(ns, c)?;
            namespace
                .subclasses(base.name.as_str(), deep)
                .into_iter()
                .cloned()
                .collect()
        }
        None if deep => namespace.classes().cloned().collect(),
        None => namespace
            .classes()
            .filter(|c| c.superclass.is_none())
            .cloned()
            .collect(),
    })
}

/// The instances of `class` and its subclasses, of which the caller shows `shown` (and the
/// keys; `None`: everything); warnings are counted into `warnings`.
pub fn instances(
    engine: &Engine,
    ns: &str,
    class: &str,
    shown: Option<&[String]>,
    warnings: &mut usize,
) -> OpResult<Vec<Instance>> {
    let answer = engine.instances_with(ns, class, true, &wanted(shown))?;
    *warnings += answer.warnings.len();
    Ok(answer.value)
}

/// One instance by its typed path.
pub fn get(
    engine: &Engine,
    ns: &str,
    path: &ObjectPath,
    warnings: &mut usize,
) -> OpResult<Instance> {
    let answer = engine.get(ns, &path.to_string())?;
    *warnings += answer.warnings.len();
    Ok(answer.value)
}

/// A WQL query (or CQL in its WQL-compatible subset).
pub fn query(engine: &Engine, ns: &str, text: &str, warnings: &mut usize) -> OpResult<Found> {
    let answer = engine.query(ns, text)?;
    *warnings += answer.warnings.len();
    Ok(found(answer.value))
}

fn found(output: QueryOutput) -> Found {
    match output {
        QueryOutput::Instances(set) => Found::Instances {
            columns: (!set.all_properties)
                .then(|| set.columns.iter().map(Name::to_string).collect()),
            instances: set.instances,
        },
        QueryOutput::Classes(classes) => Found::Classes(classes),
    }
}

/// What providers are asked to fill for a caller that shows `shown` (`None`: everything).
fn wanted(shown: Option<&[String]>) -> Wanted {
    match shown {
        None => Wanted::All,
        Some(list) => Wanted::Only(list.iter().map(|n| Name::from(n.as_str())).collect()),
    }
}

/// Associators or references of a class or instance, run as the WQL
/// `ASSOCIATORS OF {…} WHERE …` / `REFERENCES OF {…} WHERE …`.
pub fn association(
    engine: &Engine,
    ns: &str,
    kind: AssociationKind,
    source: &Source,
    filter: &AssociationFilter,
    warnings: &mut usize,
) -> OpResult<Found> {
    let wql = association_wql(engine, ns, kind, source, filter)?;
    let answer = engine.query_showing(ns, &wql, &wanted(filter.properties.as_deref()))?;
    *warnings += answer.warnings.len();
    let found = found(answer.value);
    // The WQL has no select list, so every property is there.
    Ok(match found {
        Found::Instances { instances, .. } => Found::Instances {
            instances,
            columns: None,
        },
        classes => classes,
    })
}

/// An instance name from the wire, typed by its class: key text is converted to each key
/// property's type (clients send `VALUETYPE="numeric"` for string keys, or no type).
pub fn instance_path(engine: &Engine, ns: &str, name: &LooseName) -> OpResult<ObjectPath> {
    let ns = name.namespace.as_deref().unwrap_or(ns);
    let class = engine.class(ns, &name.class)?;
    let key_props: Vec<_> = class.keys().collect();
    let mut keys = Vec::new();
    for (key, text) in &name.keys {
        let prop = if key.is_empty() {
            match key_props.as_slice() {
                [only] => *only,
                _ => {
                    return Err(OpError::new(
                        WbemStatus::InvalidParameter,
                        format!("{} has {} keys; name them", class.name, key_props.len()),
                    ));
                }
            }
        } else {
            key_props
                .iter()
                .find(|p| p.name.is(key))
                .copied()
                .ok_or_else(|| {
                    OpError::new(
                        WbemStatus::InvalidParameter,
                        format!("{key} is not a key of {}", class.name),
                    )
                })?
        };
        if keys.iter().any(|(n, _): &(Name, KeyValue)| *n == prop.name) {
            return Err(OpError::new(
                WbemStatus::InvalidParameter,
                format!("key {} is given twice", prop.name),
            ));
        }
        let value = match text {
            LooseKey::Reference(inner) => {
                KeyValue::String(instance_path(engine, ns, inner)?.to_string())
            }
            LooseKey::Text(text) => coerce_key(&prop.ty.scalar, text).ok_or_else(|| {
                OpError::new(
                    WbemStatus::InvalidParameter,
                    format!(
                        "key {}: {text:?} is not a {}",
                        prop.name,
                        prop.ty.scalar.keyword()
                    ),
                )
            })?,
        };
        keys.push((prop.name.clone(), value));
    }
    Ok(ObjectPath::instance(class.name.clone(), keys))
}

fn coerce_key(ty: &ScalarType, text: &str) -> Option<KeyValue> {
    match ty {
        ScalarType::Boolean => match text.trim() {
            t if t.eq_ignore_ascii_case("true") => Some(KeyValue::Boolean(true)),
            t if t.eq_ignore_ascii_case("false") => Some(KeyValue::Boolean(false)),
            _ => None,
        },
        t if t.is_integer() => text.trim().parse().ok().map(KeyValue::Integer),
        _ => Some(KeyValue::String(text.to_owned())),
    }
}

fn identifier(what: &str, s: &str) -> OpResult<String> {
    let ok = !s.is_empty()
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !s.starts_with(|c: char| c.is_ascii_digit());
    if ok {
        Ok(s.to_owned())
    } else {
        Err(OpError::new(
            WbemStatus::InvalidParameter,
            format!("{what} {s:?} is not a name"),
        ))
    }
}

fn association_wql(
    engine: &Engine,
    ns: &str,
    kind: AssociationKind,
    source: &Source,
    filter: &AssociationFilter,
) -> OpResult<String> {
    let (path, schema) = match source {
        Source::Class(c) => (engine.class(ns, c)?.name.to_string(), true),
        Source::Instance(name) => (
            instance_path(engine, ns, name)?.relative().to_string(),
            false,
        ),
    };
    let mut wql = match kind {
        AssociationKind::Associators => format!("ASSOCIATORS OF {{{path}}}"),
        AssociationKind::References => format!("REFERENCES OF {{{path}}}"),
    };
    let mut clauses = Vec::new();
    if let Some(c) = &filter.assoc_class {
        clauses.push(format!("AssocClass = {}", identifier("AssocClass", c)?));
    }
    if let Some(c) = &filter.result_class {
        clauses.push(format!("ResultClass = {}", identifier("ResultClass", c)?));
    }
    if let Some(r) = &filter.role {
        clauses.push(format!("Role = {}", identifier("Role", r)?));
    }
    if let Some(r) = &filter.result_role {
        clauses.push(format!("ResultRole = {}", identifier("ResultRole", r)?));
    }
    if schema {
        clauses.push("SchemaOnly".to_owned());
    } else if filter.names_only {
        clauses.push("KeysOnly".to_owned());
    }
    if !clauses.is_empty() {
        wql.push_str(" WHERE ");
        wql.push_str(&clauses.join(" "));
    }
    Ok(wql)
}
