//! JSON for instances: property names as keys, CIM types mapped to JSON types.

use linmgmt_cim::{CimDateTime, Instance, Name, SystemContext, Value};
use serde_json::{Map, Value as Json};

/// A CIM value as JSON: integers and reals as numbers, timestamps as RFC 3339 strings
/// with their offset (DMTF text when starred), intervals as DMTF text, references as
/// path strings, embedded instances as nested objects.
pub fn value_to_json(v: &Value, ctx: &SystemContext) -> Json {
    match v {
        Value::Boolean(b) => Json::Bool(*b),
        Value::Char16(c) => Json::String(c.to_string()),
        Value::String(s) => Json::String(s.clone()),
        Value::Datetime(d) => Json::String(match &**d {
            CimDateTime::Timestamp(t) => t.to_rfc3339().unwrap_or_else(|| t.to_string()),
            d => d.to_string(),
        }),
        Value::Real32(r) => {
            serde_json::Number::from_f64(f64::from(*r)).map_or(Json::Null, Json::Number)
        }
        Value::Real64(r) => serde_json::Number::from_f64(*r).map_or(Json::Null, Json::Number),
        Value::Uint64(n) => Json::from(*n),
        Value::Sint64(n) => Json::from(*n),
        Value::Reference(p) => Json::String(p.to_string()),
        Value::Object(inner) => {
            let names: Vec<&Name> = inner.class().properties.iter().map(|p| &p.name).collect();
            instance_to_json(inner, &names, ctx)
        }
        Value::Array(items) => Json::Array(items.iter().map(|i| value_to_json(i, ctx)).collect()),
        // The remaining integer types all fit in i64.
        other => other
            .as_integer()
            .and_then(|n| i64::try_from(n).ok())
            .map_or(Json::Null, Json::from),
    }
}

/// An instance as a JSON object: `__CLASS`, `__PATH` and `__RELPATH`, then `names`.
pub fn instance_to_json(inst: &Instance, names: &[&Name], ctx: &SystemContext) -> Json {
    let mut obj = Map::new();
    for sys in ["__CLASS", "__PATH", "__RELPATH"] {
        let v = inst
            .system_property(sys, ctx)
            .map_or(Json::Null, |v| value_to_json(&v, ctx));
        obj.insert(sys.to_owned(), v);
    }
    for name in names {
        let v = crate::property_value(inst, name, ctx);
        obj.insert(
            name.to_string(),
            v.map_or(Json::Null, |v| value_to_json(&v, ctx)),
        );
    }
    Json::Object(obj)
}
