//! Classes, properties and qualifiers as MOF declares them, and [`ClassDef`], a class
//! resolved against its ancestors (inherited properties, propagated qualifiers, overrides).

use crate::{CimType, Name, ScalarType, Value};
use std::sync::Arc;

/// How a qualifier propagates and may be changed (DSP0004 flavors).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Flavor {
    /// `EnableOverride` (true) or `DisableOverride`.
    pub overridable: bool,
    /// `ToSubclass` (true) or `Restricted`.
    pub to_subclass: bool,
    /// `ToInstance`.
    pub to_instance: bool,
    /// `Translatable`.
    pub translatable: bool,
    /// WMI's `Amended`: the value lives in a localized amendment.
    pub amended: bool,
}

impl Default for Flavor {
    /// DSP0004's defaults: `EnableOverride`, `ToSubclass`.
    fn default() -> Self {
        Flavor {
            overridable: true,
            to_subclass: true,
            to_instance: false,
            translatable: false,
            amended: false,
        }
    }
}

/// A qualifier applied to a class, property, method or parameter.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq)]
pub struct Qualifier {
    /// The qualifier's name, e.g. `Key`.
    pub name: Name,
    /// Its value; `None` is NULL.
    pub value: Option<Value>,
    /// Its effective flavor.
    pub flavor: Flavor,
}

impl Qualifier {
    /// A boolean qualifier set to true with the default flavor, e.g. `[Key]`.
    pub fn flag(name: &str) -> Qualifier {
        Qualifier {
            name: Name::new(name),
            value: Some(Value::Boolean(true)),
            flavor: Flavor::default(),
        }
    }

    /// Whether the qualifier is a boolean set to true.
    pub fn is_true(&self) -> bool {
        matches!(self.value, Some(Value::Boolean(true)))
    }
}

/// Where a qualifier may be used.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QualifierScope {
    /// On classes.
    Class,
    /// On association classes.
    Association,
    /// On indication classes.
    Indication,
    /// On properties.
    Property,
    /// On reference properties.
    Reference,
    /// On methods.
    Method,
    /// On method parameters.
    Parameter,
    /// On qualifier types.
    Qualifier,
    /// Anywhere.
    Any,
}

impl QualifierScope {
    /// The MOF keyword for the scope.
    pub fn keyword(self) -> &'static str {
        match self {
            QualifierScope::Class => "class",
            QualifierScope::Association => "association",
            QualifierScope::Indication => "indication",
            QualifierScope::Property => "property",
            QualifierScope::Reference => "reference",
            QualifierScope::Method => "method",
            QualifierScope::Parameter => "parameter",
            QualifierScope::Qualifier => "qualifier",
            QualifierScope::Any => "any",
        }
    }

    /// The scope for a MOF keyword (case-insensitive).
    pub fn from_keyword(word: &str) -> Option<QualifierScope> {
        [
            QualifierScope::Class,
            QualifierScope::Association,
            QualifierScope::Indication,
            QualifierScope::Property,
            QualifierScope::Reference,
            QualifierScope::Method,
            QualifierScope::Parameter,
            QualifierScope::Qualifier,
            QualifierScope::Any,
        ]
        .into_iter()
        .find(|s| s.keyword().eq_ignore_ascii_case(word))
    }
}

/// A qualifier type declaration: `qualifier Key : boolean = false, scope(property, reference), flavor(DisableOverride);`
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq)]
pub struct QualifierDecl {
    /// The qualifier's name.
    pub name: Name,
    /// The type of its values.
    pub ty: CimType,
    /// The default value.
    pub default: Option<Value>,
    /// Where it may be used.
    pub scopes: Vec<QualifierScope>,
    /// Its default flavor.
    pub flavor: Flavor,
}

/// A property as declared in one class.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq)]
pub struct Property {
    /// The property's name.
    pub name: Name,
    /// Its type.
    pub ty: CimType,
    /// Its default value.
    pub default: Option<Value>,
    /// Its qualifiers.
    pub qualifiers: Vec<Qualifier>,
}

/// A method parameter.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq)]
pub struct Parameter {
    /// The parameter's name.
    pub name: Name,
    /// Its type.
    pub ty: CimType,
    /// Its qualifiers (`In`, `Out`, ...).
    pub qualifiers: Vec<Qualifier>,
}

/// A method as declared in one class.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq)]
pub struct Method {
    /// The method's name.
    pub name: Name,
    /// Its return type.
    pub return_type: CimType,
    /// Its parameters in order.
    pub parameters: Vec<Parameter>,
    /// Its qualifiers.
    pub qualifiers: Vec<Qualifier>,
}

/// A class exactly as one MOF declaration states it: only its own features.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq)]
pub struct Class {
    /// The class's name.
    pub name: Name,
    /// Its direct superclass.
    pub superclass: Option<Name>,
    /// Its class qualifiers.
    pub qualifiers: Vec<Qualifier>,
    /// The properties it declares or overrides.
    pub properties: Vec<Property>,
    /// The methods it declares or overrides.
    pub methods: Vec<Method>,
}

/// Finds a qualifier by name.
pub(crate) fn find<'a>(qualifiers: &'a [Qualifier], name: &str) -> Option<&'a Qualifier> {
    qualifiers.iter().find(|q| q.name.is(name))
}

impl Class {
    /// A qualifier of the class, by name.
    pub fn qualifier(&self, name: &str) -> Option<&Qualifier> {
        find(&self.qualifiers, name)
    }
}

/// A property of a resolved class: declared here or inherited.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq)]
pub struct PropertyDef {
    /// The property's name.
    pub name: Name,
    /// Its type.
    pub ty: CimType,
    /// Its default value.
    pub default: Option<Value>,
    /// Its effective qualifiers: its own plus those propagated from the overridden property.
    pub qualifiers: Vec<Qualifier>,
    /// The class that last declared or overrode it (CIM-XML `CLASSORIGIN`).
    pub class_origin: Name,
    /// Whether it is inherited unchanged (CIM-XML `PROPAGATED`).
    pub propagated: bool,
}

impl PropertyDef {
    /// A qualifier of the property, by name.
    pub fn qualifier(&self, name: &str) -> Option<&Qualifier> {
        find(&self.qualifiers, name)
    }

    /// Whether the property is a key.
    pub fn is_key(&self) -> bool {
        self.qualifier("Key").is_some_and(Qualifier::is_true)
    }
}

/// A class resolved against its ancestors: what WMI's `GetClass` returns.
///
/// Inherited properties come first, in their ancestors' order, and keep their index in
/// every subclass; so a property index found on a class is valid for instances of all its
/// subclasses. Query evaluation relies on this.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq)]
pub struct ClassDef {
    /// The class's name.
    pub name: Name,
    /// Its direct superclass.
    pub superclass: Option<Name>,
    /// Its ancestors, parent first (WMI's `__DERIVATION`).
    pub derivation: Vec<Name>,
    /// The namespace it lives in, `/`-separated.
    pub namespace: String,
    /// Its own qualifiers plus those propagated from ancestors.
    pub qualifiers: Vec<Qualifier>,
    /// Every property, inherited ones first.
    pub properties: Vec<PropertyDef>,
    /// Every method, inherited ones first.
    pub methods: Vec<Method>,
    /// The declaration it was resolved from.
    pub declared: Arc<Class>,
}

impl ClassDef {
    /// A class qualifier, by name.
    pub fn qualifier(&self, name: &str) -> Option<&Qualifier> {
        find(&self.qualifiers, name)
    }

    /// Whether the class carries a boolean qualifier set to true.
    pub fn has_flag(&self, name: &str) -> bool {
        self.qualifier(name).is_some_and(Qualifier::is_true)
    }

    /// The index of a property, by name (case-insensitive).
    pub fn property_index(&self, name: &str) -> Option<usize> {
        self.properties.iter().position(|p| p.name.is(name))
    }

    /// A property, by name (case-insensitive).
    pub fn property(&self, name: &str) -> Option<&PropertyDef> {
        self.properties.iter().find(|p| p.name.is(name))
    }

    /// The key properties in declaration order.
    pub fn keys(&self) -> impl Iterator<Item = &PropertyDef> {
        self.properties.iter().filter(|p| p.is_key())
    }

    /// The top of the class's hierarchy (WMI's `__DYNASTY`).
    pub fn dynasty(&self) -> &Name {
        self.derivation.last().unwrap_or(&self.name)
    }

    /// Whether the class is `other` or derives from it.
    pub fn is_a(&self, other: &str) -> bool {
        self.name.is(other) || self.derivation.iter().any(|c| c.is(other))
    }

    /// Whether the class is an association.
    pub fn is_association(&self) -> bool {
        self.has_flag("Association")
    }

    /// The reference properties (the roles of an association).
    pub fn references(&self) -> impl Iterator<Item = &PropertyDef> {
        self.properties
            .iter()
            .filter(|p| matches!(p.ty.scalar, ScalarType::Reference(_)))
    }
}

/// Why a class cannot be resolved.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResolveError {
    /// The superclass given does not match the parent handed in.
    #[error("class {class}: superclass {superclass} is not defined")]
    MissingSuperclass {
        /// The class.
        class: String,
        /// The missing superclass.
        superclass: String,
    },
    /// An `Override` names a property the parent does not have.
    #[error(
        "class {class}: property {property} overrides {overridden}, which no superclass defines"
    )]
    NothingToOverride {
        /// The class.
        class: String,
        /// The overriding property.
        property: String,
        /// The name in `Override(...)`.
        overridden: String,
    },
    /// An override changes the property's type.
    #[error(
        "class {class}: property {property} is {found} but the inherited property is {expected}"
    )]
    OverrideTypeMismatch {
        /// The class.
        class: String,
        /// The property.
        property: String,
        /// The inherited type.
        expected: String,
        /// The new type.
        found: String,
    },
    /// A subclass changes a qualifier whose flavor is `DisableOverride`.
    #[error("class {class}: qualifier {qualifier} of {element} cannot be overridden")]
    QualifierNotOverridable {
        /// The class.
        class: String,
        /// The property or the class itself.
        element: String,
        /// The qualifier.
        qualifier: String,
    },
    /// The same property declared twice in one class.
    #[error("class {class}: property {property} is declared twice")]
    DuplicateProperty {
        /// The class.
        class: String,
        /// The property.
        property: String,
    },
}

/// Merges inherited qualifiers with a subclass's own, per flavor.
fn merge_qualifiers(
    class: &Name,
    element: &str,
    inherited: &[Qualifier],
    own: &[Qualifier],
) -> Result<Vec<Qualifier>, ResolveError> {
    let mut merged: Vec<Qualifier> = inherited
        .iter()
        .filter(|q| q.flavor.to_subclass)
        .cloned()
        .collect();
    for q in own {
        match merged.iter_mut().find(|m| m.name == q.name) {
            Some(m) => {
                if !m.flavor.overridable && m.value != q.value {
                    return Err(ResolveError::QualifierNotOverridable {
                        class: class.to_string(),
                        element: element.to_owned(),
                        qualifier: q.name.to_string(),
                    });
                }
                *m = q.clone();
            }
            None => merged.push(q.clone()),
        }
    }
    Ok(merged)
}

/// Whether a property of type `new` may override one of type `old`: the same type, or a
/// reference narrowed to a subclass (checked by the repository, which knows the classes).
fn compatible(old: &CimType, new: &CimType) -> bool {
    match (&old.scalar, &new.scalar) {
        (ScalarType::Reference(_), ScalarType::Reference(_)) => old.array == new.array,
        _ => old == new,
    }
}

/// Resolves a declared class against its already-resolved parent.
pub fn resolve_class(
    class: Arc<Class>,
    parent: Option<&ClassDef>,
    namespace: &str,
) -> Result<ClassDef, ResolveError> {
    let name = &class.name;
    match (&class.superclass, parent) {
        (Some(s), Some(p)) if p.name == *s => {}
        (None, None) => {}
        (Some(s), _) => {
            return Err(ResolveError::MissingSuperclass {
                class: name.to_string(),
                superclass: s.to_string(),
            });
        }
        (None, Some(_)) => {
            return Err(ResolveError::MissingSuperclass {
                class: name.to_string(),
                superclass: "(none)".into(),
            });
        }
    }
    let empty = Vec::new();
    let mut properties: Vec<PropertyDef> = parent.map_or_else(Vec::new, |p| {
        p.properties
            .iter()
            .map(|prop| PropertyDef {
                qualifiers: prop
                    .qualifiers
                    .iter()
                    .filter(|q| q.flavor.to_subclass)
                    .cloned()
                    .collect(),
                propagated: true,
                ..prop.clone()
            })
            .collect()
    });
    let inherited_count = properties.len();
    for (i, prop) in class.properties.iter().enumerate() {
        if class.properties[..i].iter().any(|p| p.name == prop.name) {
            return Err(ResolveError::DuplicateProperty {
                class: name.to_string(),
                property: prop.name.to_string(),
            });
        }
        let overridden = find(&prop.qualifiers, "Override")
            .and_then(|q| q.value.as_ref())
            .and_then(Value::as_str)
            .map(Name::new);
        let target = overridden.clone().unwrap_or_else(|| prop.name.clone());
        let slot = properties[..inherited_count]
            .iter()
            .position(|p| p.name == target);
        match slot {
            Some(slot) => {
                let old = &properties[slot];
                if !compatible(&old.ty, &prop.ty) {
                    return Err(ResolveError::OverrideTypeMismatch {
                        class: name.to_string(),
                        property: prop.name.to_string(),
                        expected: old.ty.to_string(),
                        found: prop.ty.to_string(),
                    });
                }
                let qualifiers =
                    merge_qualifiers(name, prop.name.as_str(), &old.qualifiers, &prop.qualifiers)?;
                properties[slot] = PropertyDef {
                    name: prop.name.clone(),
                    ty: prop.ty.clone(),
                    default: prop.default.clone().or_else(|| old.default.clone()),
                    qualifiers,
                    class_origin: name.clone(),
                    propagated: false,
                };
            }
            None if overridden.is_some() => {
                return Err(ResolveError::NothingToOverride {
                    class: name.to_string(),
                    property: prop.name.to_string(),
                    overridden: target.to_string(),
                });
            }
            None => properties.push(PropertyDef {
                name: prop.name.clone(),
                ty: prop.ty.clone(),
                default: prop.default.clone(),
                qualifiers: prop.qualifiers.clone(),
                class_origin: name.clone(),
                propagated: false,
            }),
        }
    }
    let mut methods = parent.map_or_else(Vec::new, |p| p.methods.clone());
    for m in &class.methods {
        match methods.iter_mut().find(|old| old.name == m.name) {
            Some(old) => *old = m.clone(),
            None => methods.push(m.clone()),
        }
    }
    let qualifiers = merge_qualifiers(
        name,
        name.as_str(),
        parent.map_or(&empty, |p| &p.qualifiers),
        &class.qualifiers,
    )?;
    let mut derivation = Vec::new();
    if let Some(p) = parent {
        derivation.push(p.name.clone());
        derivation.extend(p.derivation.iter().cloned());
    }
    Ok(ClassDef {
        name: name.clone(),
        superclass: class.superclass.clone(),
        derivation,
        namespace: namespace.to_owned(),
        qualifiers,
        properties,
        methods,
        declared: class,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prop(name: &str, ty: ScalarType, qualifiers: Vec<Qualifier>) -> Property {
        Property {
            name: Name::new(name),
            ty: CimType::scalar(ty),
            default: None,
            qualifiers,
        }
    }

    fn class(
        name: &str,
        superclass: Option<&str>,
        qualifiers: Vec<Qualifier>,
        properties: Vec<Property>,
    ) -> Arc<Class> {
        Arc::new(Class {
            name: name.into(),
            superclass: superclass.map(Name::new),
            qualifiers,
            properties,
            methods: vec![],
        })
    }

    fn restricted(name: &str) -> Qualifier {
        Qualifier {
            flavor: Flavor {
                to_subclass: false,
                ..Flavor::default()
            },
            ..Qualifier::flag(name)
        }
    }

    #[test]
    fn inheritance_and_overrides() {
        let base = class(
            "CIM_Dependency",
            None,
            vec![Qualifier::flag("Association"), restricted("Abstract")],
            vec![
                prop(
                    "Antecedent",
                    ScalarType::Reference(Some("CIM_ManagedElement".into())),
                    vec![Qualifier::flag("Key")],
                ),
                prop(
                    "Dependent",
                    ScalarType::Reference(Some("CIM_ManagedElement".into())),
                    vec![Qualifier::flag("Key")],
                ),
            ],
        );
        let base = resolve_class(base, None, "root/cimv2").unwrap();
        assert!(base.has_flag("Abstract"));
        let over = Qualifier {
            value: Some(Value::String("Antecedent".into())),
            ..Qualifier::flag("Override")
        };
        let sub = class(
            "Win32_SessionProcess",
            Some("CIM_Dependency"),
            vec![Qualifier::flag("Dynamic")],
            vec![prop(
                "Antecedent",
                ScalarType::Reference(Some("Win32_LogonSession".into())),
                vec![over],
            )],
        );
        let sub = resolve_class(sub, Some(&base), "root/cimv2").unwrap();
        assert!(!sub.has_flag("Abstract"), "Abstract is restricted");
        assert!(sub.is_association(), "Association propagates");
        assert_eq!(sub.properties.len(), 2);
        assert_eq!(sub.properties[0].class_origin, "Win32_SessionProcess");
        assert!(!sub.properties[0].propagated);
        assert!(sub.properties[0].is_key(), "Key propagates to the override");
        assert!(sub.properties[1].propagated);
        assert_eq!(sub.derivation, vec![Name::new("CIM_Dependency")]);
        assert_eq!(sub.dynasty(), "CIM_Dependency");
        assert!(sub.is_a("cim_dependency"));
    }

    #[test]
    fn resolution_errors() {
        let base = resolve_class(
            class(
                "A",
                None,
                vec![],
                vec![prop(
                    "P",
                    ScalarType::Uint32,
                    vec![Qualifier {
                        flavor: Flavor {
                            overridable: false,
                            ..Flavor::default()
                        },
                        ..Qualifier::flag("Q")
                    }],
                )],
            ),
            None,
            "ns",
        )
        .unwrap();
        let bad_type = class(
            "B",
            Some("A"),
            vec![],
            vec![prop("P", ScalarType::String, vec![])],
        );
        assert!(matches!(
            resolve_class(bad_type, Some(&base), "ns"),
            Err(ResolveError::OverrideTypeMismatch { .. })
        ));
        let not_overridable = class(
            "B",
            Some("A"),
            vec![],
            vec![prop(
                "P",
                ScalarType::Uint32,
                vec![Qualifier {
                    value: Some(Value::Boolean(false)),
                    ..Qualifier::flag("Q")
                }],
            )],
        );
        assert!(matches!(
            resolve_class(not_overridable, Some(&base), "ns"),
            Err(ResolveError::QualifierNotOverridable { .. })
        ));
        let nothing = Qualifier {
            value: Some(Value::String("Nope".into())),
            ..Qualifier::flag("Override")
        };
        let dangling = class(
            "B",
            Some("A"),
            vec![],
            vec![prop("X", ScalarType::Uint32, vec![nothing])],
        );
        assert!(matches!(
            resolve_class(dangling, Some(&base), "ns"),
            Err(ResolveError::NothingToOverride { .. })
        ));
        let orphan = class("B", Some("Z"), vec![], vec![]);
        assert!(matches!(
            resolve_class(orphan, None, "ns"),
            Err(ResolveError::MissingSuperclass { .. })
        ));
        let dup = class(
            "C",
            None,
            vec![],
            vec![
                prop("X", ScalarType::Uint32, vec![]),
                prop("x", ScalarType::Uint32, vec![]),
            ],
        );
        assert!(matches!(
            resolve_class(dup, None, "ns"),
            Err(ResolveError::DuplicateProperty { .. })
        ));
    }
}
