//! The CIM operations over the engine: a decoded [`Request`] in, a CIM-XML response out.
//!
//! Everything here is synchronous (the engine is); the HTTP layer runs it on a blocking
//! thread. Engine errors keep their WMI meaning and map to CIM status codes.

use crate::pull::Enumerations;
use crate::users::Identity;
use linmgmt_cim::{ClassDef, Instance, KeyValue, Name, ObjectPath, ScalarType};
use linmgmt_cimxml::{
    AssociationFilter, AssociationKind, CimStatus, ClassOptions, Failure, InstanceFlags,
    InstanceName, InstanceOptions, KeyText, ObjectName, OpenParams, Operation, PullShape, Request,
};
use linmgmt_engine::{Engine, EngineError, QueryOutput};
use std::fmt::Write;
use std::sync::Arc;

/// What an operation runs against.
pub struct OpContext<'a> {
    /// The engine this client may use.
    pub engine: &'a Engine,
    /// Who asks.
    pub identity: &'a Identity,
    /// Open enumerations (pull operations).
    pub enumerations: &'a Enumerations,
}

/// How an operation went, for the log line.
pub struct Outcome {
    /// The response body.
    pub body: String,
    /// The CIM status (0 for success).
    pub status: u16,
    /// Warnings about partial results.
    pub warnings: usize,
}

fn engine_failure(e: EngineError) -> Failure {
    Failure::new(CimStatus::from_wbem(e.status), e.message)
}

/// Runs one request.
pub fn execute(req: &Request, ctx: &OpContext<'_>) -> Outcome {
    let mut warnings = 0;
    let result = match &req.operation {
        Ok(op) => run(op, &req.namespace, ctx, &mut warnings),
        Err(f) => Err(f.clone()),
    };
    match result {
        Ok(body) => Outcome {
            body: linmgmt_cimxml::response(&req.message_id, &req.method, &body),
            status: 0,
            warnings,
        },
        Err(f) => Outcome {
            body: linmgmt_cimxml::error_response(
                &req.message_id,
                &req.method,
                req.intrinsic,
                f.status,
                &f.message,
            ),
            status: f.status.code(),
            warnings,
        },
    }
}

fn run(
    op: &Operation,
    ns: &str,
    ctx: &OpContext<'_>,
    warnings: &mut usize,
) -> Result<String, Failure> {
    let engine = ctx.engine;
    if !matches!(
        op,
        Operation::NotSupported | Operation::Pull { .. } | Operation::CloseEnumeration { .. }
    ) {
        engine.namespace(ns).map_err(engine_failure)?;
    }
    let host = engine.context().server.as_str();
    match op {
        Operation::GetClass {
            class,
            local_only,
            include_qualifiers,
            include_class_origin,
            property_list,
        } => {
            let def = engine.class(ns, class).map_err(engine_failure)?;
            let options = ClassOptions {
                local_only: *local_only,
                qualifiers: *include_qualifiers,
                class_origin: *include_class_origin,
                properties: property_list.as_deref(),
            };
            Ok(linmgmt_cimxml::ireturnvalue(&linmgmt_cimxml::class_with(
                def, &options,
            )))
        }
        Operation::EnumerateClassNames { class, deep } => {
            let mut out = String::new();
            for c in classes(engine, ns, class.as_deref(), *deep)? {
                out.push_str(&linmgmt_cimxml::class_name(c.name.as_str()));
            }
            Ok(linmgmt_cimxml::ireturnvalue(&out))
        }
        Operation::EnumerateClasses {
            class,
            deep,
            local_only,
            include_qualifiers,
            include_class_origin,
        } => {
            let options = ClassOptions {
                local_only: *local_only,
                qualifiers: *include_qualifiers,
                class_origin: *include_class_origin,
                properties: None,
            };
            let mut out = String::new();
            for c in classes(engine, ns, class.as_deref(), *deep)? {
                out.push_str(&linmgmt_cimxml::class_with(&c, &options));
            }
            Ok(linmgmt_cimxml::ireturnvalue(&out))
        }
        Operation::GetInstance { name, flags, .. } => {
            let path = instance_path(engine, ns, name)?;
            let answer = engine.get(ns, &path.to_string()).map_err(engine_failure)?;
            *warnings += answer.warnings.len();
            let options = InstanceOptions {
                class_origin: flags.include_class_origin,
                properties: flags.property_list.as_deref(),
            };
            Ok(linmgmt_cimxml::ireturnvalue(
                &linmgmt_cimxml::instance_with(&answer.value, &options),
            ))
        }
        Operation::EnumerateInstanceNames { class } => {
            let instances = instances(engine, ns, class, warnings)?;
            let mut out = String::new();
            for i in &instances {
                out.push_str(&linmgmt_cimxml::instance_name(i));
            }
            Ok(linmgmt_cimxml::ireturnvalue(&out))
        }
        Operation::EnumerateInstances {
            class, deep, flags, ..
        } => {
            let def = engine.class(ns, class).map_err(engine_failure)?.clone();
            let list = property_selection(&def, *deep, flags);
            let options = InstanceOptions {
                class_origin: flags.include_class_origin,
                properties: list.as_deref(),
            };
            let mut out = String::new();
            for i in &instances(engine, ns, class, warnings)? {
                let _ = write!(
                    out,
                    "<VALUE.NAMEDINSTANCE>{}{}</VALUE.NAMEDINSTANCE>",
                    linmgmt_cimxml::instance_name(i),
                    linmgmt_cimxml::instance_with(i, &options)
                );
            }
            Ok(linmgmt_cimxml::ireturnvalue(&out))
        }
        Operation::ExecQuery { language, query } => {
            check_language(language)?;
            let items = query_items(engine, ns, query, host, warnings)?;
            Ok(linmgmt_cimxml::ireturnvalue(
                &items
                    .iter()
                    .map(|i| i.with_path.as_str())
                    .collect::<String>(),
            ))
        }
        Operation::Association {
            kind,
            names_only,
            object,
            filter,
            flags,
        } => {
            let wql = association_wql(engine, ns, *kind, object, filter)?;
            let items = association_items(engine, ns, &wql, host, flags, warnings)?;
            let mut out = String::new();
            for item in &items {
                if *names_only {
                    let _ = write!(out, "<OBJECTPATH>{}</OBJECTPATH>", item.path);
                } else {
                    out.push_str(&item.with_path);
                }
            }
            Ok(linmgmt_cimxml::ireturnvalue(&out))
        }
        Operation::GetQualifier { name } => {
            let namespace = engine.namespace(ns).map_err(engine_failure)?;
            let decl = namespace.qualifier_decl(name).ok_or_else(|| {
                Failure::new(
                    CimStatus::NotFound,
                    format!("no qualifier {name} in {}", namespace.name()),
                )
            })?;
            Ok(linmgmt_cimxml::ireturnvalue(
                &linmgmt_cimxml::qualifier_declaration(decl),
            ))
        }
        Operation::EnumerateQualifiers => {
            let namespace = engine.namespace(ns).map_err(engine_failure)?;
            let out: String = namespace
                .qualifier_decls()
                .iter()
                .map(linmgmt_cimxml::qualifier_declaration)
                .collect();
            Ok(linmgmt_cimxml::ireturnvalue(&out))
        }
        Operation::OpenEnumerateInstances {
            class,
            paths_only,
            deep,
            flags,
            open,
        } => {
            check_open(open)?;
            if open.filter.is_some() {
                return Err(Failure::new(
                    CimStatus::FilteredEnumerationNotSupported,
                    "FilterQuery on OpenEnumerateInstances is not supported; use OpenQueryInstances",
                ));
            }
            let def = engine.class(ns, class).map_err(engine_failure)?.clone();
            let list = property_selection(&def, *deep, flags);
            let options = InstanceOptions {
                class_origin: flags.include_class_origin,
                properties: list.as_deref(),
            };
            let items: Vec<String> = instances(engine, ns, class, warnings)?
                .iter()
                .map(|i| {
                    if *paths_only {
                        linmgmt_cimxml::instance_path(i, host)
                    } else {
                        format!(
                            "<VALUE.INSTANCEWITHPATH>{}{}</VALUE.INSTANCEWITHPATH>",
                            linmgmt_cimxml::instance_path(i, host),
                            linmgmt_cimxml::instance_with(i, &options)
                        )
                    }
                })
                .collect();
            let shape = if *paths_only {
                PullShape::Paths
            } else {
                PullShape::InstancesWithPath
            };
            open_enumeration(ctx, ns, shape, items, open)
        }
        Operation::OpenQueryInstances {
            language,
            query,
            return_query_result_class,
            open,
        } => {
            check_open(open)?;
            check_language(language)?;
            if *return_query_result_class {
                return Err(Failure::new(
                    CimStatus::NotSupported,
                    "ReturnQueryResultClass is not supported",
                ));
            }
            let items = query_items(engine, ns, query, host, warnings)?
                .into_iter()
                .map(|i| i.object)
                .collect();
            open_enumeration(ctx, ns, PullShape::Instances, items, open)
        }
        Operation::OpenAssociation {
            kind,
            paths_only,
            object,
            filter,
            flags,
            open,
        } => {
            check_open(open)?;
            if open.filter.is_some() {
                return Err(Failure::new(
                    CimStatus::FilteredEnumerationNotSupported,
                    "FilterQuery on association pulls is not supported",
                ));
            }
            let object = ObjectName::Instance(object.clone());
            let wql = association_wql(engine, ns, *kind, &object, filter)?;
            let items = association_items(engine, ns, &wql, host, flags, warnings)?;
            let (shape, items) = if *paths_only {
                (
                    PullShape::Paths,
                    items.into_iter().map(|i| i.instance_path).collect(),
                )
            } else {
                (
                    PullShape::InstancesWithPath,
                    items.into_iter().map(|i| i.instance_with_path).collect(),
                )
            };
            open_enumeration(ctx, ns, shape, items, open)
        }
        Operation::Pull {
            shape,
            context,
            max_object_count,
        } => {
            let page =
                ctx.enumerations
                    .pull(&ctx.identity.name, context, *shape, *max_object_count)?;
            Ok(page.encode())
        }
        Operation::CloseEnumeration { context } => {
            ctx.enumerations.close(&ctx.identity.name, context)?;
            Ok(String::new())
        }
        Operation::NotSupported => Err(Failure::new(
            CimStatus::NotSupported,
            "this method is not supported: the server is read-only and has no extrinsic methods",
        )),
    }
}

fn check_language(language: &str) -> Result<(), Failure> {
    let ok = ["WQL", "DMTF:CQL", "CQL"]
        .iter()
        .any(|l| l.eq_ignore_ascii_case(language.trim()));
    if ok {
        Ok(())
    } else {
        Err(Failure::new(
            CimStatus::QueryLanguageNotSupported,
            format!(
                "query language {language:?}: WQL and DMTF:CQL (its WQL-compatible subset) are supported"
            ),
        ))
    }
}

fn check_open(open: &OpenParams) -> Result<(), Failure> {
    if open.continue_on_error {
        return Err(Failure::new(
            CimStatus::ContinuationOnErrorNotSupported,
            "ContinueOnError is not supported",
        ));
    }
    Ok(())
}

fn open_enumeration(
    ctx: &OpContext<'_>,
    ns: &str,
    shape: PullShape,
    items: Vec<String>,
    open: &OpenParams,
) -> Result<String, Failure> {
    let page = ctx.enumerations.open(
        &ctx.identity.name,
        ns,
        shape,
        items,
        open.operation_timeout,
        open.max_object_count,
    )?;
    Ok(page.encode())
}

/// The classes EnumerateClasses and EnumerateClassNames return.
fn classes(
    engine: &Engine,
    ns: &str,
    class: Option<&str>,
    deep: bool,
) -> Result<Vec<Arc<ClassDef>>, Failure> {
    let namespace = engine.namespace(ns).map_err(engine_failure)?;
    Ok(match class {
        Some(c) => {
            let base = engine.class(ns, c).map_err(engine_failure)?;
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

fn instances(
    engine: &Engine,
    ns: &str,
    class: &str,
    warnings: &mut usize,
) -> Result<Vec<Instance>, Failure> {
    let answer = engine.instances(ns, class, true).map_err(engine_failure)?;
    *warnings += answer.warnings.len();
    Ok(answer.value)
}

/// The property list for an instance enumeration: the client's list, limited to the
/// requested class's own properties when DeepInheritance is false.
fn property_selection(def: &ClassDef, deep: bool, flags: &InstanceFlags) -> Option<Vec<String>> {
    let list = flags.property_list.clone();
    if deep {
        return list;
    }
    let own: Vec<String> = def.properties.iter().map(|p| p.name.to_string()).collect();
    Some(match list {
        Some(l) => l
            .into_iter()
            .filter(|n| own.iter().any(|o| o.eq_ignore_ascii_case(n)))
            .collect(),
        None => own,
    })
}

/// An instance name from the wire, typed by its class: key text is coerced to each key
/// property's type (clients send `VALUETYPE="numeric"` for string keys, or no type).
fn instance_path(engine: &Engine, ns: &str, name: &InstanceName) -> Result<ObjectPath, Failure> {
    let ns = name.namespace.as_deref().unwrap_or(ns);
    let class = engine.class(ns, &name.class).map_err(engine_failure)?;
    let key_props: Vec<_> = class.keys().collect();
    let mut keys = Vec::new();
    for (key, text) in &name.keys {
        let prop = if key.is_empty() {
            match key_props.as_slice() {
                [only] => *only,
                _ => {
                    return Err(Failure::new(
                        CimStatus::InvalidParameter,
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
                    Failure::new(
                        CimStatus::InvalidParameter,
                        format!("{key} is not a key of {}", class.name),
                    )
                })?
        };
        let value = match text {
            KeyText::Reference(inner) => {
                KeyValue::String(instance_path(engine, ns, inner)?.to_string())
            }
            KeyText::Value { text, .. } => coerce_key(&prop.ty.scalar, text).ok_or_else(|| {
                Failure::new(
                    CimStatus::InvalidParameter,
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

/// A query or association result in the encodings the operations need.
struct Item {
    /// `VALUE.OBJECTWITHPATH`.
    with_path: String,
    /// `INSTANCEPATH` or `CLASSPATH` (inside OBJECTPATH for the Names operations).
    path: String,
    /// `INSTANCE` alone (OpenQueryInstances).
    object: String,
    /// `INSTANCEPATH` (association pulls).
    instance_path: String,
    /// `VALUE.INSTANCEWITHPATH` (association pulls).
    instance_with_path: String,
}

fn query_items(
    engine: &Engine,
    ns: &str,
    query: &str,
    host: &str,
    warnings: &mut usize,
) -> Result<Vec<Item>, Failure> {
    let flags = InstanceFlags {
        include_qualifiers: false,
        include_class_origin: false,
        property_list: None,
    };
    output_items(engine, ns, query, host, &flags, warnings, true)
}

fn association_items(
    engine: &Engine,
    ns: &str,
    wql: &str,
    host: &str,
    flags: &InstanceFlags,
    warnings: &mut usize,
) -> Result<Vec<Item>, Failure> {
    output_items(engine, ns, wql, host, flags, warnings, false)
}

fn output_items(
    engine: &Engine,
    ns: &str,
    query: &str,
    host: &str,
    flags: &InstanceFlags,
    warnings: &mut usize,
    projected: bool,
) -> Result<Vec<Item>, Failure> {
    let answer = engine.query(ns, query).map_err(engine_failure)?;
    *warnings += answer.warnings.len();
    let mut items = Vec::new();
    match answer.value {
        QueryOutput::Instances(set) => {
            // A projection (`SELECT a, b`) carries only those properties; `*` all.
            let columns: Option<Vec<String>> = (projected && !set.all_properties)
                .then(|| set.columns.iter().map(Name::to_string).collect());
            let list = match (&columns, &flags.property_list) {
                (Some(c), _) => Some(c.clone()),
                (None, l) => l.clone(),
            };
            let options = InstanceOptions {
                class_origin: flags.include_class_origin,
                properties: list.as_deref(),
            };
            for i in &set.instances {
                let path = linmgmt_cimxml::instance_path(i, host);
                let object = linmgmt_cimxml::instance_with(i, &options);
                items.push(Item {
                    with_path: format!(
                        "<VALUE.OBJECTWITHPATH>{path}{object}</VALUE.OBJECTWITHPATH>"
                    ),
                    instance_with_path: format!(
                        "<VALUE.INSTANCEWITHPATH>{path}{object}</VALUE.INSTANCEWITHPATH>"
                    ),
                    instance_path: path.clone(),
                    path,
                    object,
                });
            }
        }
        QueryOutput::Classes(classes) => {
            let options = ClassOptions {
                local_only: false,
                qualifiers: flags.include_qualifiers,
                class_origin: flags.include_class_origin,
                properties: flags.property_list.as_deref(),
            };
            for c in &classes {
                let path = linmgmt_cimxml::class_path(host, &c.namespace, c.name.as_str());
                let object = linmgmt_cimxml::class_with(c, &options);
                items.push(Item {
                    with_path: format!(
                        "<VALUE.OBJECTWITHPATH>{path}{object}</VALUE.OBJECTWITHPATH>"
                    ),
                    instance_with_path: String::new(),
                    instance_path: String::new(),
                    path,
                    object,
                });
            }
        }
    }
    Ok(items)
}

fn identifier(what: &str, s: &str) -> Result<String, Failure> {
    let ok = !s.is_empty()
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !s.starts_with(|c: char| c.is_ascii_digit());
    if ok {
        Ok(s.to_owned())
    } else {
        Err(Failure::new(
            CimStatus::InvalidParameter,
            format!("{what} {s:?} is not a name"),
        ))
    }
}

/// The WQL for an association operation: `ASSOCIATORS OF {path} WHERE ...` or
/// `REFERENCES OF {path} WHERE ...`, run by the engine like any query. (The engine
/// answers WBEM_E_NOT_SUPPORTED, i.e. CIM_ERR_NOT_SUPPORTED, until it evaluates
/// associations.)
fn association_wql(
    engine: &Engine,
    ns: &str,
    kind: AssociationKind,
    object: &ObjectName,
    filter: &AssociationFilter,
) -> Result<String, Failure> {
    let (path, schema) = match object {
        ObjectName::Class(c) => {
            let def = engine.class(ns, c).map_err(engine_failure)?;
            (def.name.to_string(), true)
        }
        ObjectName::Instance(name) => (
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
    }
    if !clauses.is_empty() {
        wql.push_str(" WHERE ");
        wql.push_str(&clauses.join(" "));
    }
    Ok(wql)
}
