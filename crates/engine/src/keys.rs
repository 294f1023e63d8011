//! Object paths resolved against their class: the short form `Class=v` named, the keys
//! checked, and each key value converted to its property's type, once, so that every later
//! comparison of keys (GetInstance, the source of ASSOCIATORS OF / REFERENCES OF) is exact.

use crate::{EngineError, example_path, join};
use linmgmt_cim::{
    CimType, ClassDef, KeyValue, Name, ObjectPath, PropertyDef, ScalarType, Value, WbemStatus,
};

/// Resolves an instance path against its class, once, before any comparison: names the
/// key in the short form `Class="v"` (valid for single-key classes only), checks that the
/// keys are the class's, all of them, and converts each value to its key's type as WMI
/// does (and as WHERE does with constants): a number given for a string key is its
/// decimal text (`Win32_LogonSession.LogonId=0` is `LogonId="0"`, `Win32_Process=1` is
/// `Handle="1"`), a string of digits given for an integer key is that number, and
/// `1`/`0`/`"true"`/`"false"` given for a boolean key are TRUE/FALSE. A value that cannot
/// take the key's type is `WBEM_E_INVALID_OBJECT_PATH`. Key names take the class's spelling.
pub(crate) fn resolve_keys(
    mut path: ObjectPath,
    class: &ClassDef,
) -> Result<ObjectPath, EngineError> {
    let keys: Vec<&PropertyDef> = class.keys().collect();
    let names: Vec<&Name> = keys.iter().map(|k| &k.name).collect();
    if let [only] = path.keys.as_mut_slice()
        && only.name.is_none()
    {
        match keys.as_slice() {
            [key] => only.name = Some(key.name.clone()),
            _ => {
                return Err(EngineError::new(
                    WbemStatus::InvalidObjectPath,
                    format!(
                        "{} has {} keys; name them, e.g. {}",
                        class.name,
                        keys.len(),
                        example_path(class)
                    ),
                ));
            }
        }
    }
    for binding in &mut path.keys {
        let name = binding.name.as_ref().map_or("", Name::as_str);
        let Some(key) = keys.iter().find(|k| k.name.is(name)) else {
            return Err(EngineError::new(
                WbemStatus::InvalidObjectPath,
                format!(
                    "{name} is not a key of {}; its keys are {}",
                    class.name,
                    join(&names)
                ),
            ));
        };
        binding.name = Some(key.name.clone());
        binding.value = key_value_as(&binding.value, &key.ty).ok_or_else(|| {
            EngineError::new(
                WbemStatus::InvalidObjectPath,
                format!(
                    "key {} of {} is {}, and {} is not one",
                    key.name, class.name, key.ty, binding.value
                ),
            )
        })?;
    }
    if path.keys.len() != keys.len() {
        return Err(EngineError::new(
            WbemStatus::InvalidObjectPath,
            format!("{} needs all of its keys: {}", class.name, join(&names)),
        ));
    }
    Ok(path)
}

/// A key value converted to the key property's type; `None` when it cannot be. Values
/// of types a path carries as strings (datetime, char16, references) stay as they are.
fn key_value_as(value: &KeyValue, ty: &CimType) -> Option<KeyValue> {
    if ty.array {
        return Some(value.clone());
    }
    let scalar = &ty.scalar;
    Some(match value {
        KeyValue::Integer(n) if *scalar == ScalarType::String => KeyValue::String(n.to_string()),
        KeyValue::Boolean(b) if *scalar == ScalarType::String => {
            KeyValue::String(if *b { "TRUE" } else { "FALSE" }.to_owned())
        }
        // The text must be a number in the key's range (`Value::parse`'s rules).
        KeyValue::String(s) if scalar.is_integer() => match Value::parse(s.trim(), scalar) {
            Ok(v) => KeyValue::Integer(v.as_integer()?),
            Err(_) => return None,
        },
        KeyValue::Integer(n) if scalar.is_integer() => {
            Value::integer(*n, scalar).ok()?;
            KeyValue::Integer(*n)
        }
        KeyValue::Boolean(_) if scalar.is_integer() => return None,
        KeyValue::Integer(n) if *scalar == ScalarType::Boolean => match n {
            0 => KeyValue::Boolean(false),
            1 | -1 => KeyValue::Boolean(true),
            _ => return None,
        },
        KeyValue::String(s) if *scalar == ScalarType::Boolean => {
            match s.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "-1" => KeyValue::Boolean(true),
                "false" | "0" => KeyValue::Boolean(false),
                _ => return None,
            }
        }
        other => other.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use linmgmt_cim::{Class, Property, Qualifier, resolve_class};
    use std::sync::Arc;

    fn class(keys: &[(&str, ScalarType)]) -> ClassDef {
        let properties = keys
            .iter()
            .map(|(name, scalar)| Property {
                name: (*name).into(),
                ty: CimType::scalar(scalar.clone()),
                default: None,
                qualifiers: vec![Qualifier::flag("Key")],
            })
            .collect();
        let class = Class {
            name: "Test_Keys".into(),
            superclass: None,
            qualifiers: vec![],
            properties,
            methods: vec![],
        };
        resolve_class(Arc::new(class), None, "root/cimv2").unwrap()
    }

    fn resolve(class: &ClassDef, path: &str) -> Result<String, String> {
        resolve_keys(path.parse().unwrap(), class)
            .map(|p| p.to_string())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn a_key_value_takes_its_property_type() {
        let s = class(&[("Id", ScalarType::String)]);
        assert_eq!(
            resolve(&s, "Test_Keys.Id=0").unwrap(),
            r#"Test_Keys.Id="0""#
        );
        assert_eq!(
            resolve(&s, "Test_Keys=-12").unwrap(),
            r#"Test_Keys.Id="-12""#
        );
        assert_eq!(
            resolve(&s, "Test_Keys.id=TRUE").unwrap(),
            r#"Test_Keys.Id="TRUE""#
        );
        assert_eq!(
            resolve(&s, r#"Test_Keys.Id="0""#).unwrap(),
            r#"Test_Keys.Id="0""#
        );

        // Out of the key's range, quoted or not: not a path of this class.
        let small = class(&[("Id", ScalarType::Uint8)]);
        assert!(resolve(&small, r#"Test_Keys.Id="300""#).is_err());
        assert!(resolve(&small, "Test_Keys.Id=300").is_err());
        assert!(resolve(&small, "Test_Keys.Id=-1").is_err());
        assert_eq!(
            resolve(&small, r#"Test_Keys.Id="255""#).unwrap(),
            "Test_Keys.Id=255"
        );

        let n = class(&[("Index", ScalarType::Uint32)]);
        assert_eq!(
            resolve(&n, r#"Test_Keys.Index="7""#).unwrap(),
            "Test_Keys.Index=7"
        );
        assert_eq!(
            resolve(&n, r#"Test_Keys=" +7 ""#).unwrap(),
            "Test_Keys.Index=7"
        );
        assert_eq!(
            resolve(&n, "Test_Keys.Index=7").unwrap(),
            "Test_Keys.Index=7"
        );
        for bad in [
            r#"Test_Keys.Index="seven""#,
            r#"Test_Keys.Index="""#,
            "Test_Keys.Index=TRUE",
        ] {
            let e = resolve(&n, bad).unwrap_err();
            assert!(e.starts_with("WBEM_E_INVALID_OBJECT_PATH"), "{bad}: {e}");
            assert!(e.contains("key Index of Test_Keys is uint32"), "{bad}: {e}");
        }

        let b = class(&[("On", ScalarType::Boolean)]);
        assert_eq!(resolve(&b, "Test_Keys.On=1").unwrap(), "Test_Keys.On=TRUE");
        assert_eq!(
            resolve(&b, r#"Test_Keys.On="false""#).unwrap(),
            "Test_Keys.On=FALSE"
        );
        assert!(resolve(&b, "Test_Keys.On=2").is_err());

        let d = class(&[("When", ScalarType::Datetime)]);
        let when = r#"Test_Keys.When="20260801100000.000000+000""#;
        assert_eq!(resolve(&d, when).unwrap(), when);
    }

    #[test]
    fn keys_are_named_checked_and_complete() {
        let two = class(&[("A", ScalarType::String), ("B", ScalarType::Uint8)]);
        assert_eq!(
            resolve(&two, r#"Test_Keys.b="1",a=2"#).unwrap(),
            r#"Test_Keys.A="2",B=1"#
        );
        assert!(
            resolve(&two, "Test_Keys=1")
                .unwrap_err()
                .contains("has 2 keys")
        );
        assert!(
            resolve(&two, "Test_Keys.A=1")
                .unwrap_err()
                .contains("needs all of its keys")
        );
        assert!(
            resolve(&two, "Test_Keys.C=1")
                .unwrap_err()
                .contains("C is not a key")
        );
    }
}
