//! Instances of resolved classes, and the WMI system properties of classes and instances.

use crate::{ClassDef, KeyValue, Name, ObjectPath, ScalarType, Value};
use std::sync::Arc;

/// The system properties in the order WMI lists them.
pub const SYSTEM_PROPERTIES: &[&str] = &[
    "__GENUS",
    "__CLASS",
    "__SUPERCLASS",
    "__DYNASTY",
    "__RELPATH",
    "__PROPERTY_COUNT",
    "__DERIVATION",
    "__SERVER",
    "__NAMESPACE",
    "__PATH",
];

/// What system properties need beyond the object itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SystemContext {
    /// The server name shown in `__SERVER` and `__PATH` (the host name).
    pub server: String,
}

/// An instance of a class. Its values are stored in the class's property order.
#[derive(Clone, Debug)]
pub struct Instance {
    class: Arc<ClassDef>,
    values: Vec<Option<Value>>,
}

/// Why a value cannot be stored in an instance.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InstanceError {
    /// The class has no such property.
    #[error("class {class} has no property {property}")]
    NoSuchProperty {
        /// The class.
        class: String,
        /// The property asked for.
        property: String,
    },
    /// The value's type is not the property's.
    #[error("property {property} is {expected}, not {found}")]
    TypeMismatch {
        /// The property.
        property: String,
        /// The property's type.
        expected: String,
        /// The value's type.
        found: String,
    },
}

impl PartialEq for Instance {
    fn eq(&self, other: &Self) -> bool {
        self.class.name == other.class.name && self.values == other.values
    }
}

fn fits(ty: &crate::CimType, value: &Value) -> bool {
    let scalar_fits = |v: &Value| match (&ty.scalar, v) {
        (ScalarType::Reference(_), Value::Reference(_)) => true,
        (ScalarType::Object, Value::Object(_)) => true,
        (expected, v) => *expected == v.scalar_type(),
    };
    match value {
        Value::Array(items) => ty.array && items.iter().all(scalar_fits),
        v => !ty.array && scalar_fits(v),
    }
}

impl Instance {
    /// A new instance with every property at its class default.
    pub fn new(class: Arc<ClassDef>) -> Self {
        let values = class.properties.iter().map(|p| p.default.clone()).collect();
        Instance { class, values }
    }

    /// The instance's class.
    pub fn class(&self) -> &Arc<ClassDef> {
        &self.class
    }

    /// The instance's class name.
    pub fn class_name(&self) -> &Name {
        &self.class.name
    }

    /// Sets a property; the value must have the property's exact type.
    pub fn set(&mut self, property: &str, value: Option<Value>) -> Result<(), InstanceError> {
        let index =
            self.class
                .property_index(property)
                .ok_or_else(|| InstanceError::NoSuchProperty {
                    class: self.class.name.to_string(),
                    property: property.to_owned(),
                })?;
        if let Some(v) = &value {
            let ty = &self.class.properties[index].ty;
            if !fits(ty, v) {
                return Err(InstanceError::TypeMismatch {
                    property: property.to_owned(),
                    expected: ty.to_string(),
                    found: v.scalar_type().keyword().to_owned(),
                });
            }
        }
        self.values[index] = value;
        Ok(())
    }

    /// Sets the property at `index` (from [`ClassDef::property_index`]) without a type check;
    /// for providers that build many instances of one class.
    pub fn set_at(&mut self, index: usize, value: Option<Value>) {
        debug_assert!(
            value
                .as_ref()
                .is_none_or(|v| fits(&self.class.properties[index].ty, v)),
            "{} is not a {}",
            self.class.properties[index].name,
            self.class.properties[index].ty
        );
        self.values[index] = value;
    }

    /// A property's value by name; `None` if NULL or not a property.
    pub fn get(&self, property: &str) -> Option<&Value> {
        self.class
            .property_index(property)
            .and_then(|i| self.values[i].as_ref())
    }

    /// A property's value by index.
    pub fn get_at(&self, index: usize) -> Option<&Value> {
        self.values.get(index).and_then(Option::as_ref)
    }

    /// All values, in class property order.
    pub fn values(&self) -> &[Option<Value>] {
        &self.values
    }

    /// The instance's relative path (`__RELPATH`); `None` if a key is NULL, and for events,
    /// which have no paths.
    pub fn path(&self) -> Option<ObjectPath> {
        if self.class.is_a("__Event") {
            return None;
        }
        let mut keys = Vec::new();
        for (prop, value) in self.class.properties.iter().zip(&self.values) {
            if !prop.is_key() {
                continue;
            }
            let key = match value.as_ref()? {
                Value::String(s) => KeyValue::String(s.clone()),
                Value::Boolean(b) => KeyValue::Boolean(*b),
                v @ (Value::Char16(_) | Value::Datetime(_) | Value::Reference(_)) => {
                    KeyValue::String(v.to_string())
                }
                v => KeyValue::Integer(v.as_integer()?),
            };
            keys.push((prop.name.clone(), key));
        }
        if keys.is_empty() {
            return Some(ObjectPath {
                singleton: true,
                ..ObjectPath::class(self.class.name.clone())
            });
        }
        Some(ObjectPath::instance(self.class.name.clone(), keys))
    }

    /// A system property (`__CLASS`, `__PATH`, ...) of this instance; `None` when NULL or unknown.
    pub fn system_property(&self, name: &str, ctx: &SystemContext) -> Option<Value> {
        let relpath = || self.path().map(|p| p.to_string());
        class_system_property(&self.class, name, 2, relpath, ctx)
    }

    /// Keeps only the key properties (for `KeysOnly` and `EnumerateInstanceNames`).
    pub fn keys_only(&self) -> Instance {
        let values = self
            .class
            .properties
            .iter()
            .zip(&self.values)
            .map(|(p, v)| if p.is_key() { v.clone() } else { None })
            .collect();
        Instance {
            class: self.class.clone(),
            values,
        }
    }
}

/// A system property of a class (`__GENUS` 1) or instance (`__GENUS` 2).
pub(crate) fn class_system_property(
    class: &ClassDef,
    name: &str,
    genus: i32,
    relpath: impl FnOnce() -> Option<String>,
    ctx: &SystemContext,
) -> Option<Value> {
    let string = |s: &str| Some(Value::String(s.to_owned()));
    match name.to_ascii_uppercase().as_str() {
        "__GENUS" => Some(Value::Sint32(genus)),
        "__CLASS" => string(class.name.as_str()),
        "__SUPERCLASS" => class.superclass.as_ref().and_then(|s| string(s.as_str())),
        "__DYNASTY" => string(class.dynasty().as_str()),
        "__DERIVATION" => Some(Value::Array(
            class
                .derivation
                .iter()
                .map(|c| Value::String(c.to_string()))
                .collect(),
        )),
        "__PROPERTY_COUNT" => Some(Value::Sint32(class.properties.len() as i32)),
        // Events live nowhere: WMI leaves these NULL on them.
        "__NAMESPACE" | "__SERVER" if genus == 2 && class.is_a("__Event") => None,
        "__NAMESPACE" => Some(Value::String(class.namespace.replace('/', "\\"))),
        "__SERVER" => string(&ctx.server),
        "__RELPATH" => relpath().map(Value::String),
        "__PATH" => relpath().map(|rel| {
            Value::String(format!(
                r"\\{}\{}:{rel}",
                ctx.server,
                class.namespace.replace('/', "\\")
            ))
        }),
        _ => None,
    }
}

impl ClassDef {
    /// A system property of the class itself (`__GENUS` 1), as `meta_class` queries see it.
    pub fn system_property(&self, name: &str, ctx: &SystemContext) -> Option<Value> {
        class_system_property(self, name, 1, || Some(self.name.to_string()), ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CimType, Class, Property, Qualifier, resolve_class};

    fn session_class() -> Arc<ClassDef> {
        let base = resolve_class(
            Arc::new(Class {
                name: "Base".into(),
                superclass: None,
                qualifiers: vec![],
                properties: vec![Property {
                    name: "Caption".into(),
                    ty: CimType::scalar(ScalarType::String),
                    default: None,
                    qualifiers: vec![],
                }],
                methods: vec![],
            }),
            None,
            "root/cimv2",
        )
        .unwrap();
        let class = Class {
            name: "Sess".into(),
            superclass: Some("Base".into()),
            qualifiers: vec![],
            properties: vec![
                Property {
                    name: "Id".into(),
                    ty: CimType::scalar(ScalarType::String),
                    default: None,
                    qualifiers: vec![Qualifier::flag("Key")],
                },
                Property {
                    name: "Kind".into(),
                    ty: CimType::scalar(ScalarType::Uint32),
                    default: Some(Value::Uint32(0)),
                    qualifiers: vec![],
                },
            ],
            methods: vec![],
        };
        Arc::new(resolve_class(Arc::new(class), Some(&base), "root/cimv2").unwrap())
    }

    #[test]
    fn system_properties() {
        let ctx = SystemContext {
            server: "HOST".into(),
        };
        let mut i = Instance::new(session_class());
        assert_eq!(i.get("kind"), Some(&Value::Uint32(0)));
        assert_eq!(i.system_property("__PATH", &ctx), None, "no key yet");
        i.set("ID", Some(Value::String("3".into()))).unwrap();
        let sys = |n| i.system_property(n, &ctx).map(|v| v.to_string());
        assert_eq!(
            sys("__PATH").as_deref(),
            Some(r#"\\HOST\root\cimv2:Sess.Id="3""#)
        );
        assert_eq!(sys("__RELPATH").as_deref(), Some(r#"Sess.Id="3""#));
        assert_eq!(sys("__CLASS").as_deref(), Some("Sess"));
        assert_eq!(sys("__SUPERCLASS").as_deref(), Some("Base"));
        assert_eq!(sys("__DYNASTY").as_deref(), Some("Base"));
        assert_eq!(sys("__DERIVATION").as_deref(), Some("{Base}"));
        assert_eq!(sys("__PROPERTY_COUNT").as_deref(), Some("3"));
        assert_eq!(sys("__GENUS").as_deref(), Some("2"));
        assert_eq!(sys("__NAMESPACE").as_deref(), Some(r"root\cimv2"));
        assert_eq!(sys("__SERVER").as_deref(), Some("HOST"));
        assert_eq!(
            i.class().system_property("__GENUS", &ctx),
            Some(Value::Sint32(1))
        );
    }

    #[test]
    fn type_checked_set() {
        let mut i = Instance::new(session_class());
        assert!(matches!(
            i.set("Kind", Some(Value::String("x".into()))),
            Err(InstanceError::TypeMismatch { .. })
        ));
        assert!(matches!(
            i.set("Nope", None),
            Err(InstanceError::NoSuchProperty { .. })
        ));
        i.set("Kind", Some(Value::Uint32(7))).unwrap();
        i.set("Id", Some(Value::String("k".into()))).unwrap();
        let keys = i.keys_only();
        assert_eq!(keys.get("Kind"), None);
        assert_eq!(keys.get("Id"), Some(&Value::String("k".into())));
    }
}
